/* schedule_batch: request lifecycle and request-level KV cache operations
 * (see schedule_batch.h for the slot layout).
 *
 * Invariants kept by the req_cache functions:
 *  - slots[0 .. prefix_len) are tree slots, locked through last_node;
 *  - the pages of slots[prefix_len .. kv_len) belong to the request, each once;
 *  - prefix_len is a multiple of the page size and prefix_len <= kv_len;
 * so after req_cache_release every page the request held is back in the
 * allocator or in the tree (unlocked), which is what the scheduler's idle leak
 * check (free + evictable == total) relies on. Without a tree (radix cache
 * disabled, SGLang's ChunkCache) prefix_len stays 0 and release frees all.
 * Scheduler thread only. */
#include "managers/schedule_batch.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "managers/detokenizer.h"
#include "mem_cache/page_allocator.h"
#include "mem_cache/radix_cache.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

int sched_req_create(struct gen_request *in, uint64_t seq, int32_t max_new, int32_t page_size,
                     const struct tokenizer *tok, int32_t vocab, const int32_t *eos_ids, int n_eos, uint64_t seed,
                     struct sched_req **out, struct sgl_err *err) {
    *out = NULL;
    struct sched_req *r = calloc(1, sizeof *r);
    if (!r) return err_setf(err, ERR_NOMEM, "out of memory for a request");
    int64_t cap = (int64_t)in->n_input + max_new;
    int64_t cap_slots = (cap + page_size - 1) / page_size * page_size;
    r->ids = malloc((size_t)cap * sizeof *r->ids);
    r->slots = malloc((size_t)cap_slots * sizeof *r->slots);
    r->mask_ids = malloc((size_t)(n_eos + in->n_stop_token_ids + 1) * sizeof *r->mask_ids);
    if (!in->sp.has_seed) {
        in->sp.seed = seed;
        in->sp.has_seed = true;
    }
    r->ss = sampler_state_create(&in->sp, vocab);
    r->detok = detokenizer_create(tok, in->skip_special_tokens, in->stop, in->n_stop, in->no_stop_trim);
    if (!r->ids || !r->slots || !r->mask_ids || !r->ss || !r->detok) {
        sched_req_destroy(r); /* in is not owned yet */
        return err_setf(err, ERR_NOMEM, "out of memory for a request");
    }
    memcpy(r->ids, in->input_ids, (size_t)in->n_input * sizeof *r->ids);
    if (tok && tokenizer_has_text(tok, in->input_ids, (size_t)in->n_input)) detokenizer_continue(r->detok);
    sampler_state_add_prompt(r->ss, r->ids, (size_t)in->n_input);
    for (int i = 0; i < n_eos; i++) r->mask_ids[r->n_mask++] = eos_ids[i];
    for (int32_t i = 0; i < in->n_stop_token_ids; i++) r->mask_ids[r->n_mask++] = in->stop_token_ids[i];
    r->in = in;
    r->seq = seq;
    r->n_ids = in->n_input;
    r->n_input = in->n_input;
    r->max_new = max_new;
    r->matched_token = -1;
    r->matched_stop = -1;
    *out = r;
    return 0;
}

void sched_req_destroy(struct sched_req *r) {
    if (!r) return;
    gen_request_destroy(r->in);
    sampler_state_destroy(r->ss);
    detokenizer_destroy(r->detok);
    free(r->ids);
    free(r->slots);
    free(r->mask_ids);
    free(r->ev_ids);
    free(r->ev_lp);
    free(r->ev_top_ids);
    free(r->ev_top_lp);
    free(r);
}

bool sched_req_is_stop_token(const struct sched_req *r, int32_t id) {
    for (int32_t i = 0; i < r->n_mask; i++)
        if (r->mask_ids[i] == id) return true;
    return false;
}

int sched_req_record_output(struct sched_req *r, int32_t id, float logprob, const int32_t *top_ids,
                            const float *top_lp) {
    int32_t top_n = r->in->top_logprobs_num;
    if (r->n_ev == r->cap_ev) {
        int32_t cap = r->cap_ev ? 2 * r->cap_ev : 16;
        int32_t *ni = realloc(r->ev_ids, (size_t)cap * sizeof *ni);
        if (!ni) return ERR_NOMEM;
        r->ev_ids = ni;
        if (r->in->return_logprob) {
            float *nl = realloc(r->ev_lp, (size_t)cap * sizeof *nl);
            if (!nl) return ERR_NOMEM;
            r->ev_lp = nl;
        }
        if (top_n > 0) {
            int32_t *nti = realloc(r->ev_top_ids, (size_t)cap * (size_t)top_n * sizeof *nti);
            if (!nti) return ERR_NOMEM;
            r->ev_top_ids = nti;
            float *ntl = realloc(r->ev_top_lp, (size_t)cap * (size_t)top_n * sizeof *ntl);
            if (!ntl) return ERR_NOMEM;
            r->ev_top_lp = ntl;
        }
        r->cap_ev = cap;
    }
    r->ev_ids[r->n_ev] = id;
    if (r->in->return_logprob) r->ev_lp[r->n_ev] = logprob;
    if (top_n > 0) {
        memcpy(r->ev_top_ids + (size_t)r->n_ev * (size_t)top_n, top_ids, (size_t)top_n * sizeof *top_ids);
        memcpy(r->ev_top_lp + (size_t)r->n_ev * (size_t)top_n, top_lp, (size_t)top_n * sizeof *top_lp);
    }
    r->n_ev++;
    return 0;
}

void req_cache_match_and_lock(struct req_cache *c, struct sched_req *r) {
    r->prefix_len = 0;
    r->last_node = NULL;
    if (c->tree) {
        r->prefix_len = radix_cache_match_prefix(c->tree, r->ids, r->n_ids - 1, r->slots, &r->last_node);
        radix_cache_inc_lock_ref(c->tree, r->last_node);
    }
    r->kv_len = r->prefix_len;
}

int64_t req_cache_pages_needed(const struct req_cache *c, const struct sched_req *r, int64_t n) {
    int64_t P = c->page_size, room = r->kv_len % P ? P - r->kv_len % P : 0;
    return n <= room ? 0 : (n - room + P - 1) / P;
}

int req_cache_alloc(struct req_cache *c, struct sched_req *r, int64_t n) {
    int64_t pages = req_cache_pages_needed(c, r, n), free_pages = page_allocator_free_pages(c->alloc);
    if (pages > free_pages && c->tree) radix_cache_evict(c->tree, (pages - free_pages) * c->page_size);
    if (pages > page_allocator_free_pages(c->alloc)) return ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        int64_t pos = r->kv_len + i;
        if (pos % c->page_size == 0) {
            int32_t first;
            page_allocator_alloc(c->alloc, 1, &first); /* cannot fail: counted above */
            r->slots[pos] = first;
        } else {
            r->slots[pos] = r->slots[pos - 1] + 1;
        }
    }
    r->kv_len += n;
    return 0;
}

void req_cache_unfinished(struct req_cache *c, struct sched_req *r) {
    if (!c->tree) return;
    int64_t aligned = r->kv_len / c->page_size * c->page_size, present = 0;
    if (aligned <= r->prefix_len) return;
    if (radix_cache_insert(c->tree, r->ids, r->slots, aligned, &present)) return; /* keep owning them */
    if (present > r->prefix_len) page_allocator_free_run(c->alloc, r->slots + r->prefix_len, present - r->prefix_len);
    /* the path to `aligned` now exists with a node boundary there, so this match splits nothing */
    struct radix_node *last = NULL;
    int64_t m = radix_cache_match_prefix(c->tree, r->ids, aligned, r->slots, &last);
    if (m != aligned) LOG_ERROR("radix re-match returned %lld of %lld tokens", (long long)m, (long long)aligned);
    radix_cache_inc_lock_ref(c->tree, last);
    radix_cache_dec_lock_ref(c->tree, r->last_node);
    r->last_node = last;
    r->prefix_len = m;
}

void req_cache_release(struct req_cache *c, struct sched_req *r, bool kv_written) {
    if (c->tree) {
        int64_t aligned = r->kv_len / c->page_size * c->page_size, present = 0;
        if (!kv_written) aligned = r->prefix_len; /* free everything the request owns */
        if (aligned > r->prefix_len) {
            if (radix_cache_insert(c->tree, r->ids, r->slots, aligned, &present) == 0) {
                if (present > r->prefix_len)
                    page_allocator_free_run(c->alloc, r->slots + r->prefix_len, present - r->prefix_len);
            } else {
                page_allocator_free_run(c->alloc, r->slots + r->prefix_len, aligned - r->prefix_len);
            }
        }
        if (r->kv_len > aligned) page_allocator_free_run(c->alloc, r->slots + aligned, r->kv_len - aligned);
        radix_cache_dec_lock_ref(c->tree, r->last_node);
    } else if (r->kv_len > 0) {
        page_allocator_free_run(c->alloc, r->slots, r->kv_len);
    }
    r->kv_len = 0;
    r->prefix_len = 0;
    r->last_node = NULL;
}

int64_t req_cache_reclaimable_tokens(const struct req_cache *c) {
    return page_allocator_available_tokens(c->alloc) + (c->tree ? radix_cache_evictable_tokens(c->tree) : 0);
}

int batch_init(struct batch *b, int32_t cap) {
    b->e = malloc((size_t)cap * sizeof *b->e);
    b->n = 0;
    b->cap = b->e ? cap : 0;
    return b->e ? 0 : ERR_NOMEM;
}

void batch_free(struct batch *b) {
    free(b->e);
    b->e = NULL;
    b->n = b->cap = 0;
}
