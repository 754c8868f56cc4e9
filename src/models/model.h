/* model: a loaded decoder-only transformer of the Llama family (Llama, Qwen2,
 * Qwen3) — config, weights and tokenizer — and its forward pass.
 *
 * Weights borrow the mmap'd checkpoint (safetensors or GGUF); small vectors
 * (norm weights, biases) are converted to f32 copies owned by the model.
 * A model is immutable after model_load and may be shared by threads; a
 * forward pass needs a model_workspace (scratch, owned by one thread) and a
 * kv_pool. */
#ifndef SGLC_MODELS_MODEL_H
#define SGLC_MODELS_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "base/tensor.h"
#include "layers/rotary.h"
#include "model_loader/model_config.h"

struct tokenizer;
struct safetensors;
struct gguf;
struct threadpool;
struct kv_pool;
struct forward_batch;

struct model_layer {
    struct tensor wq, wk, wv, wo;       /* [n_heads*hd, H], [kv*hd, H], [kv*hd, H], [H, n_heads*hd] */
    struct tensor w_gate, w_up, w_down; /* [I, H], [I, H], [H, I] */
    const float *attn_norm, *ffn_norm;  /* [H] */
    const float *bq, *bk, *bv;          /* biases or NULL */
    const float *q_norm, *k_norm;       /* [hd] (Qwen3) or NULL */
};

struct model {
    struct model_config cfg;
    struct tokenizer *tok;
    struct tensor embed;   /* [vocab, H] */
    struct tensor lm_head; /* [vocab, H] (the embedding when tied) */
    const float *final_norm;
    struct model_layer *layers;
    struct rotary rope;
    /* owners */
    struct safetensors *st;
    struct gguf *gguf;
    float *f32_arena; /* converted small vectors */
    /* Numerics and weight format chosen at load (model_load_opts). */
    bool bf16_act;          /* BF16 weights: matmul inputs rounded to bf16 (kernels_matmul_opts) */
    enum dtype kv_dtype;    /* KV cache storage: DTYPE_F32 or DTYPE_BF16 (model_load_opts) */
    uint8_t *quant_buf;     /* weights converted by --quantization, or NULL */
    size_t quant_bytes;
    const char *quantization; /* "int8", "q4" or NULL */
};

struct model_load_opts {
    const char *tokenizer_path; /* directory with tokenizer.json, or NULL to use the model's */
    /* Activation precision, SGLang's --dtype: NULL/"auto"/"bfloat16" round the inputs of
     * matmuls with BF16 weights to bf16 (as HF BF16 inference and llama.cpp do; the AMX
     * prefill path needs it); "float32"/"float" keeps them exact f32. Other weight
     * dtypes always take f32 inputs (quantized: 8-bit blocks, kernels.h). */
    const char *dtype;
    /* Load-time weight conversion of F32/F16/BF16 projection matrices: NULL (none),
     * "int8" (Q8_0 blocks) or "q4" (Q4_0 blocks; the LM head is kept at Q8_0, as
     * llama-quantize keeps it at 6 bits). Already-quantized GGUF tensors are kept. */
    const char *quantization;
    /* KV cache storage, SGLang's --kv-cache-dtype: NULL/"auto" stores K and V as bf16
     * unless the projection weights are F32 or --dtype is float32 (then f32);
     * "bfloat16" / "float32" force it. */
    const char *kv_cache_dtype;
};

/* Validates a --dtype / --quantization value; 0 or ERR_INVALID with a one-line message. */
int model_check_load_opts(const struct model_load_opts *opts, struct sgl_err *err);

/* path: an HF model directory (config.json + safetensors + tokenizer.json) or a .gguf file. */
int model_load(const char *path, const struct model_load_opts *opts, struct model **out, struct sgl_err *err);
/* Loads the embedded default model (stories260K; context length 512); opts may be NULL
 * (its tokenizer_path is ignored). */
int model_load_default(const struct model_load_opts *opts, struct model **out, struct sgl_err *err);
void model_destroy(struct model *m);

/* Scratch for forward passes of up to max_tokens tokens and max_logits logits rows;
 * grows on demand. Owned by one thread. */
struct model_workspace;
struct model_workspace *model_workspace_create(void);
void model_workspace_destroy(struct model_workspace *ws);

/* A KV pool of n_slots token slots in the model's layout and kv_dtype. */
int model_kv_pool_create(const struct model *m, int64_t n_slots, struct kv_pool **out, struct sgl_err *err);
/* KV bytes one token takes over all layers. */
size_t model_kv_bytes_per_token(const struct model *m);

/* Runs the batch (see forward_batch.h), writing logits [batch->n_logits][vocab].
 * KV for the new tokens is written into kv. */
int model_forward(const struct model *m, struct threadpool *pool, struct model_workspace *ws, struct kv_pool *kv,
                  const struct forward_batch *batch, float *logits, struct sgl_err *err);

#endif
