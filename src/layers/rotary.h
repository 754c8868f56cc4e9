/* rotary: rotary position embeddings (RoPE) with HF's scaling variants.
 *
 * rotary_init computes inv_freq[head_dim/2] once from the model config
 * (default, linear, llama3, yarn) and the yarn attention factor that scales cos/sin.
 * rotary_apply rotates one head vector in place at a position:
 *   half layout (HF rotate_half, "NEOX"):  pairs (i, i + d/2)
 *   interleaved layout (GGUF llama):       pairs (2i, 2i + 1)
 * Immutable after init; safe to use from many threads. */
#ifndef SGLC_LAYERS_ROTARY_H
#define SGLC_LAYERS_ROTARY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "model_loader/model_config.h"

struct rotary {
    int64_t head_dim;
    bool interleaved;
    float attention_factor; /* multiplies cos and sin (yarn); 1 otherwise */
    double *inv_freq;       /* [head_dim / 2] */
};

int rotary_init(struct rotary *r, const struct model_config *cfg, struct sgl_err *err);
void rotary_free(struct rotary *r);
/* Fills cos/sin [head_dim/2] for a position. */
void rotary_cos_sin(const struct rotary *r, int64_t pos, float *cos_out, float *sin_out);
/* Rotates n_heads consecutive head vectors of x (each head_dim long) using precomputed cos/sin. */
void rotary_apply(const struct rotary *r, float *x, int64_t n_heads, const float *cos_v, const float *sin_v);

#endif
