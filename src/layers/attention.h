/* attention: causal multi-head attention with grouped KV heads over the slot
 * pool, one online-softmax pass per (token, head) (FlashAttention's
 * recurrence without tiling). Parallel over (token, head) pairs.
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

/* tok_seq[i]: the sequence index of token i (precomputed by the caller). */
void attention_forward(struct threadpool *pool, const struct attention_params *p, const struct kv_pool *kv,
                       int64_t layer, const struct forward_batch *b, const int32_t *tok_seq, const float *q,
                       float *out);

#endif
