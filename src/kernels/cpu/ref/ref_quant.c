/* ref_quant: the scalar specification of every weight format: dequantization of
 * F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q5_K/Q6_K/Q8_K rows (ggml's arithmetic, operation
 * for operation), ggml's reference quantizers for Q8_0/Q4_0 (and F16/BF16/F32
 * conversion), and the activation-block quantizer used by Q8_0/Q4_0 matmuls.
 * Block layouts are documented in kernels_impl.h.
 *
 * Pure functions of their arguments; safe from any thread. */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/kernels_impl.h"

_Static_assert(sizeof(struct kernels_block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(struct kernels_block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(struct kernels_block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(struct kernels_block_q5_K) == 176, "block_q5_K layout");
_Static_assert(sizeof(struct kernels_block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(struct kernels_block_q8_K) == 292, "block_q8_K layout");

static void deq_q8_0(const struct kernels_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_f16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = d * (float)b[i].qs[j];
    }
}

static void deq_q4_0(const struct kernels_block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = d * (float)((b[i].qs[j] & 0xF) - 8);
            y[i * 32 + j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

static void deq_q4_K(const struct kernels_block_q4_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = b[i].qs;
        float d = fp16_f16_to_f32(b[i].d), dmin = fp16_f16_to_f32(b[i].dmin);
        for (int g = 0; g < 4; g++) {
            uint8_t sc, m;
            kernels_q4k_scale_min(2 * g, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            kernels_q4k_scale_min(2 * g + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
            q += 32;
        }
    }
}

static void deq_q5_K(const struct kernels_block_q5_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        float d = fp16_f16_to_f32(b[i].d), dmin = fp16_f16_to_f32(b[i].dmin);
        for (int g = 0; g < 4; g++) {
            uint8_t sc, m;
            kernels_q4k_scale_min(2 * g, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            kernels_q4k_scale_min(2 * g + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            int u1 = 1 << (2 * g), u2 = 2 << (2 * g);
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
        }
    }
}

static void deq_q6_K(const struct kernels_block_q6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * (float)q1;
                y[l + 32] = d * sc[is + 2] * (float)q2;
                y[l + 64] = d * sc[is + 4] * (float)q3;
                y[l + 96] = d * sc[is + 6] * (float)q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

static void deq_q8_K(const struct kernels_block_q8_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++)
        for (int j = 0; j < 256; j++) y[i * 256 + j] = b[i].d * (float)b[i].qs[j];
}

void kernels_ref_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n) {
    int64_t nb = n / dtype_block_size(t);
    switch (t) {
    case DTYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case DTYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = fp16_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = fp16_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case DTYPE_Q8_0:
        deq_q8_0(src, dst, nb);
        break;
    case DTYPE_Q4_0:
        deq_q4_0(src, dst, nb);
        break;
    case DTYPE_Q4_K:
        deq_q4_K(src, dst, nb);
        break;
    case DTYPE_Q5_K:
        deq_q5_K(src, dst, nb);
        break;
    case DTYPE_Q6_K:
        deq_q6_K(src, dst, nb);
        break;
    case DTYPE_Q8_K:
        deq_q8_K(src, dst, nb);
        break;
    default:
        break; /* callers check kernels_supports() */
    }
}

void kernels_ref_quantize_row(enum dtype t, const float *src, void *dst, int64_t n) {
    switch (t) {
    case DTYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case DTYPE_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = fp16_f32_to_f16(src[i]);
        break;
    case DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = fp16_f32_to_bf16(src[i]);
        break;
    case DTYPE_Q8_0: {
        struct kernels_block_q8_0 *b = dst;
        for (int64_t i = 0; i < n / 32; i++) {
            const float *x = src + i * 32;
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            b[i].d = fp16_f32_to_f16(d);
            for (int j = 0; j < 32; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
        }
        break;
    }
    case DTYPE_Q4_0: {
        struct kernels_block_q4_0 *b = dst;
        for (int64_t i = 0; i < n / 32; i++) {
            const float *x = src + i * 32;
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < 32; j++) {
                if (amax < fabsf(x[j])) {
                    amax = fabsf(x[j]);
                    max = x[j];
                }
            }
            float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            b[i].d = fp16_f32_to_f16(d);
            for (int j = 0; j < 16; j++) {
                int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[j + 16] * id + 8.5f);
                q0 = q0 < 15 ? q0 : 15;
                q1 = q1 < 15 ? q1 : 15;
                b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
            }
        }
        break;
    }
    default:
        break; /* callers check kernels_supports() */
    }
}

int kernels_ref_quantize_x_block(const float *x, int8_t *q, float *d) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float dd = amax / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = (int8_t)lrintf(x[j] * id);
        sum += q[j];
    }
    *d = dd;
    return sum;
}
