/* model_config: the architecture hyper-parameters of a decoder-only model, filled
 * from an HF config.json (+ generation_config.json) or from GGUF metadata.
 * Plain data, copied freely. */
#ifndef SGLC_MODEL_LOADER_MODEL_CONFIG_H
#define SGLC_MODEL_LOADER_MODEL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/err.h"

enum model_arch { MODEL_ARCH_UNKNOWN = 0, MODEL_ARCH_LLAMA, MODEL_ARCH_QWEN2, MODEL_ARCH_QWEN3 };

enum rope_scaling_type { ROPE_SCALING_NONE = 0, ROPE_SCALING_LINEAR, ROPE_SCALING_LLAMA3, ROPE_SCALING_YARN };

struct rope_scaling {
    enum rope_scaling_type type;
    double factor;                          /* linear / llama3 / yarn */
    double low_freq_factor;                 /* llama3 (default 1) */
    double high_freq_factor;                /* llama3 (default 4) */
    int64_t original_max_position_embeddings; /* llama3 / yarn */
    double beta_fast, beta_slow;            /* yarn (defaults 32, 1) */
    double mscale, mscale_all_dim;          /* yarn (defaults 1, 0) */
    double attention_factor;                /* yarn; <= 0 means "derive from factor" */
};

#define MODEL_CONFIG_MAX_EOS 8

struct generation_defaults {
    bool has_temperature, has_top_p, has_top_k, has_repetition_penalty;
    double temperature, top_p, repetition_penalty;
    int64_t top_k;
};

struct model_config {
    enum model_arch arch;
    char arch_name[64];        /* "LlamaForCausalLM", or the GGUF general.architecture */
    int64_t hidden_size;
    int64_t n_layers;          /* num_hidden_layers */
    int64_t n_heads;           /* num_attention_heads */
    int64_t n_kv_heads;        /* num_key_value_heads (defaults to n_heads) */
    int64_t head_dim;          /* defaults to hidden_size / n_heads (HF Qwen3: 128, as Qwen3Config) */
    int64_t intermediate_size;
    int64_t vocab_size;
    int64_t max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    struct rope_scaling rope_scaling;
    bool rope_interleaved;     /* rotate adjacent pairs (2i,2i+1) instead of halves (GGUF llama layout) */
    bool tie_word_embeddings;
    bool attention_bias;       /* q/k/v projections have biases (Qwen2) */
    bool qk_norm;              /* per-head RMSNorm on q and k (Qwen3) */
    enum dtype torch_dtype;    /* declared dtype of the checkpoint (F32 if config.json names none);
                                  GGUF: token_embd.weight's dtype, possibly a quantized one */
    int32_t bos_token_id;      /* -1 if none */
    int32_t eos_token_ids[MODEL_CONFIG_MAX_EOS]; /* generation_config.json's ids first, then config.json's;
                                                    GGUF: eos, then eot / eom ids */
    int n_eos;
    int32_t pad_token_id;      /* -1 if none */
    struct generation_defaults gen;
};

/* Maps an HF architectures[0] name or a GGUF architecture name to the enum. */
enum model_arch model_config_arch_from_name(const char *name);

/* Parses <dir>/config.json and, when present, <dir>/generation_config.json
 * (whose bos/pad override config.json's and whose sampling fields fill cfg->gen).
 * Errors (missing file, unsupported architecture named in the message, missing
 * or absurd fields) are one-liners naming the file. */
int model_config_load_hf_dir(const char *dir, struct model_config *cfg, struct sgl_err *err);
/* Same, from config.json text already in memory (for tests and fuzzing). */
int model_config_parse_hf_json(const char *json, const char *gen_json, struct model_config *cfg,
                               struct sgl_err *err);

struct gguf;
/* Fills cfg from GGUF metadata (general.architecture, <arch>.*, tokenizer.ggml.*,
 * general.sampling.*). tie_word_embeddings = no output.weight tensor;
 * rope_interleaved for llama (its Q/K rows are stored permuted for pair RoPE). */
int model_config_from_gguf(const struct gguf *g, struct model_config *cfg, struct sgl_err *err);

#endif
