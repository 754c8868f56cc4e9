/* attention: see attention.h. The batch is cut into work items — (sequence, KV
 * head, block of that sequence's new tokens) — whose rows are the block's tokens
 * times the query heads of the KV head's group (at most KERNELS_ATTN_MAX_ROWS), so
 * each item reads its keys and values once for all of them (kernels_attention).
 * Causal work grows with the position, so items go to threads dynamically (an
 * atomic counter), largest first when the batch holds a prefill. Each item writes
 * disjoint output rows. Item lists of up to STACK_ITEMS live on the stack (every
 * decode batch); larger prefills allocate theirs. */
#include "layers/attention.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "mem_cache/kv_pool.h"
#include "model_executor/forward_batch.h"

enum { STACK_ITEMS = 1024 };

struct attn_item {
    int32_t seq, kv_head;
    int32_t t0, t1; /* token rows [t0, t1) of the batch */
    int32_t h0, h1; /* query heads [h0, h1) of the group */
    int64_t cost;
};

struct attn_task {
    const struct attention_params *p;
    const struct kv_pool *kv;
    int64_t layer;
    const struct forward_batch *b;
    const float *q;
    float *out;
    const struct attn_item *items;
    int64_t n_items;
    atomic_llong next;
};

static void run_item(const struct attn_task *t, const struct attn_item *it) {
    const struct attention_params *p = t->p;
    int64_t hd = p->head_dim, nh = p->n_heads;
    const float *qrow[KERNELS_ATTN_MAX_ROWS];
    float *orow[KERNELS_ATTN_MAX_ROWS];
    int32_t nvalid[KERNELS_ATTN_MAX_ROWS];
    int64_t R = 0, n_kv = 0;
    for (int32_t i = it->t0; i < it->t1; i++) {
        int32_t nv = t->b->positions[i] + 1;
        if (nv > n_kv) n_kv = nv;
        for (int32_t h = it->h0; h < it->h1; h++) {
            qrow[R] = t->q + ((int64_t)i * nh + h) * hd;
            orow[R] = t->out + ((int64_t)i * nh + h) * hd;
            nvalid[R] = nv;
            R++;
        }
    }
    struct kernels_attn a = {
        .n_rows = R,
        .head_dim = hd,
        .n_kv = n_kv,
        .q = qrow,
        .o = orow,
        .n_valid = nvalid,
        .k = kv_pool_k_head(t->kv, t->layer, it->kv_head),
        .v = kv_pool_v_head(t->kv, t->layer, it->kv_head),
        .kv_dtype = t->kv->dtype,
        .slots = t->b->kv_slots[it->seq],
        .kv_stride = hd,
        .scale = p->scale,
    };
    kernels_attention(&a);
}

static void attn_worker(void *ctx, int ith, int nth) {
    (void)ith;
    (void)nth;
    struct attn_task *t = ctx;
    for (;;) {
        long long i = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (i >= t->n_items) break;
        run_item(t, &t->items[i]);
    }
}

static int by_cost_desc(const void *a, const void *b) {
    int64_t x = ((const struct attn_item *)a)->cost, y = ((const struct attn_item *)b)->cost;
    return (x < y) - (x > y);
}

/* Writes the items of the batch into items (NULL: only counts them); returns the count. */
static int64_t make_items(const struct attention_params *p, const struct forward_batch *b, struct attn_item *items,
                          bool *has_prefill) {
    int64_t group = p->n_heads / p->n_kv_heads;
    int64_t heads_per = group < KERNELS_ATTN_MAX_ROWS ? group : KERNELS_ATTN_MAX_ROWS;
    int64_t tok_per = KERNELS_ATTN_MAX_ROWS / heads_per;
    int64_t n = 0;
    *has_prefill = false;
    for (int32_t s = 0; s < b->n_seqs; s++) {
        int32_t a0 = b->seq_start[s], a1 = b->seq_start[s + 1];
        if (a1 - a0 > 1) *has_prefill = true;
        for (int32_t g = 0; g < p->n_kv_heads; g++)
            for (int32_t t0 = a0; t0 < a1; t0 += (int32_t)tok_per)
                for (int64_t h0 = 0; h0 < group; h0 += heads_per) {
                    if (items) {
                        struct attn_item *it = &items[n];
                        it->seq = s;
                        it->kv_head = g;
                        it->t0 = t0;
                        it->t1 = t0 + (int32_t)tok_per < a1 ? t0 + (int32_t)tok_per : a1;
                        it->h0 = (int32_t)(g * group + h0);
                        it->h1 = (int32_t)(g * group + (h0 + heads_per < group ? h0 + heads_per : group));
                        it->cost = 0;
                        for (int32_t i = it->t0; i < it->t1; i++)
                            it->cost += (int64_t)(b->positions[i] + 1) * (it->h1 - it->h0);
                    }
                    n++;
                }
    }
    return n;
}

int attention_forward(struct threadpool *pool, const struct attention_params *p, const struct kv_pool *kv,
                      int64_t layer, const struct forward_batch *b, const float *q, float *out) {
    bool has_prefill;
    int64_t n = make_items(p, b, NULL, &has_prefill);
    struct attn_item stack_items[STACK_ITEMS];
    struct attn_item *items = n <= STACK_ITEMS ? stack_items : malloc((size_t)n * sizeof *items);
    if (!items) return -1;
    make_items(p, b, items, &has_prefill);
    if (has_prefill) qsort(items, (size_t)n, sizeof *items, by_cost_desc);
    struct attn_task t = {.p = p, .kv = kv, .layer = layer, .b = b, .q = q, .out = out, .items = items, .n_items = n};
    atomic_init(&t.next, 0);
    threadpool_run(pool, attn_worker, &t);
    if (items != stack_items) free(items);
    return 0;
}
