/* kv_pool: the KV cache storage, a pool of token slots shared by all requests.
 *
 *   k[layer][kv_head][slot][head_dim]   (dtype: F32, or BF16 to halve memory
 *   v[layer][kv_head][slot][head_dim]    and the bytes decode reads per step)
 *
 * Head-major, so one head's keys for a run of consecutive slots are contiguous:
 * attention streams them instead of reading head_dim values every kv_dim.
 * A slot holds one token's keys and values for every layer. Which slots belong
 * to which request is decided outside (the request->token table / page
 * allocator); attention reads a request's context through its list of slots,
 * so slots need not be contiguous (paged KV with page size 1 at this level).
 * Owned by the scheduler thread (or the CLI); the forward pass writes the slots
 * of the batch's new tokens and reads the context slots. */
#ifndef SGLC_MEM_CACHE_KV_POOL_H
#define SGLC_MEM_CACHE_KV_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/err.h"

struct kv_pool {
    int64_t n_layers;
    int64_t n_slots;
    int64_t kv_dim; /* n_heads * head_dim */
    int64_t n_heads, head_dim;
    enum dtype dtype;
    size_t elem; /* bytes per value */
    uint8_t *k;
    uint8_t *v;
};

/* n_heads KV heads of head_dim values; dtype: DTYPE_F32 or DTYPE_BF16. */
int kv_pool_create(int64_t n_layers, int64_t n_slots, int64_t n_heads, int64_t head_dim, enum dtype dtype,
                   struct kv_pool **out, struct sgl_err *err);
void kv_pool_destroy(struct kv_pool *pool);
size_t kv_pool_bytes(int64_t n_layers, int64_t n_slots, int64_t kv_dim, enum dtype dtype);

/* Keys / values of one head of a layer for slot 0, in the pool's dtype; slot s is
 * s * head_dim values further. */
static inline void *kv_pool_k_head(const struct kv_pool *p, int64_t layer, int64_t head) {
    return p->k + ((size_t)layer * (size_t)p->n_heads + (size_t)head) * (size_t)p->n_slots * (size_t)p->head_dim * p->elem;
}
static inline void *kv_pool_v_head(const struct kv_pool *p, int64_t layer, int64_t head) {
    return p->v + ((size_t)layer * (size_t)p->n_heads + (size_t)head) * (size_t)p->n_slots * (size_t)p->head_dim * p->elem;
}

/* Writes one token's kv_dim keys and values, head after head (f32, converted to the
 * pool's dtype; BF16 rounds to nearest even). */
void kv_pool_store(struct kv_pool *p, int64_t layer, int64_t slot, const float *k, const float *v);

#endif
