/* attention: see attention.h. Each (token, head) item keeps a running max m,
 * normaliser l and accumulator acc[head_dim]; when a new score exceeds m the
 * accumulator is rescaled by exp(m_old - m_new). Items are split evenly across
 * the pool's threads; each thread writes disjoint output rows. */
#include "layers/attention.h"

#include <math.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "mem_cache/kv_pool.h"
#include "model_executor/forward_batch.h"

struct attn_task {
    const struct attention_params *p;
    const struct kv_pool *kv;
    int64_t layer;
    const struct forward_batch *b;
    const int32_t *tok_seq;
    const float *q;
    float *out;
};

static void attn_worker(void *ctx, int ith, int nth) {
    const struct attn_task *t = ctx;
    const struct attention_params *p = t->p;
    int64_t hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    long long lo, hi;
    threadpool_split((long long)t->b->n_tokens * p->n_heads, ith, nth, &lo, &hi);
    for (long long item = lo; item < hi; item++) {
        int64_t i = item / p->n_heads, h = item % p->n_heads, kvh = h / group;
        int32_t s = t->tok_seq[i];
        const int32_t *slots = t->b->kv_slots[s];
        int64_t n_ctx = (int64_t)t->b->positions[i] + 1;
        const float *qv = t->q + (i * p->n_heads + h) * hd;
        float *acc = t->out + (i * p->n_heads + h) * hd;
        memset(acc, 0, (size_t)hd * sizeof(float));
        float m = -INFINITY, l = 0.0f;
        for (int64_t j = 0; j < n_ctx; j++) {
            const float *kj = kv_pool_k(t->kv, t->layer, slots[j]) + kvh * hd;
            const float *vj = kv_pool_v(t->kv, t->layer, slots[j]) + kvh * hd;
            float sc = kernels_dot_f32(qv, kj, hd) * p->scale;
            if (sc > m) {
                float c = expf(m - sc);
                l *= c;
                for (int64_t d = 0; d < hd; d++) acc[d] *= c;
                m = sc;
            }
            float w = expf(sc - m);
            l += w;
            kernels_axpy_f32(acc, w, vj, hd);
        }
        float inv = l > 0 ? 1.0f / l : 0.0f;
        for (int64_t d = 0; d < hd; d++) acc[d] *= inv;
    }
}

void attention_forward(struct threadpool *pool, const struct attention_params *p, const struct kv_pool *kv,
                       int64_t layer, const struct forward_batch *b, const int32_t *tok_seq, const float *q,
                       float *out) {
    struct attn_task t = {p, kv, layer, b, tok_seq, q, out};
    threadpool_run(pool, attn_worker, &t);
}
