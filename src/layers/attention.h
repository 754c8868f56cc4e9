/* attention: causal multi-head attention with grouped KV heads over the slot
 * pool: FlashAttention's online softmax over key blocks (kernels_attention), one
 * work item per (sequence, KV head, block of new tokens), items scheduled
 * dynamically over the pool.
 *
 *   q   [n_tokens][n_heads * head_dim]      (RoPE applied)
 *   out [n_tokens][n_heads * head_dim]
 *   token i of sequence s attends to kv_slots[s][0 .. positions[i]] of `layer`. */
#ifndef SGLC_LAYERS_ATTENTION_H
#define SGLC_LAYERS_ATTENTION_H

#include <stdint.h>

struct threadpool;
struct kv_pool;
struct forward_batch;

struct attention_params {
    int64_t n_heads, n_kv_heads, head_dim;
    float scale; /* usually 1/sqrt(head_dim) */
};

/* Returns 0, or -1 when a large batch's item list cannot be allocated (out is then
 * unspecified). Allocates nothing for batches of up to 1024 items. */
int attention_forward(struct threadpool *pool, const struct attention_params *p, const struct kv_pool *kv,
                      int64_t layer, const struct forward_batch *b, const float *q, float *out);

#endif
