/* ref: the scalar specification of the kernels (kernels_isa_ref). Written for
 * clarity, not speed: every SIMD variant is tested against these functions.
 * The matmul needs no prepared activations and no scratch, which also makes it
 * the fallback when a caller's scratch cannot be allocated. Reductions of the
 * element-wise ops use double so the spec is as exact as it is simple.
 *
 * Pure functions; mm_run calls on disjoint output blocks may run concurrently. */
#include <math.h>

#include "base/fp16.h"
#include "kernels/kernels_impl.h"

enum { REF_CHUNK = 256 };

/* f32 dot of x with the exactly dequantized weight row, REF_CHUNK values at a
 * time. x is first rounded to bf16 (bf16_act) or, for quantized weights,
 * quantized per 32 values and dequantized again (x^ = dx * q). */
static float ref_dot(enum dtype wt, const uint8_t *row, const float *x, int64_t K, bool bf16_act) {
    float w[REF_CHUNK], xh[REF_CHUNK], acc = 0.0f;
    for (int64_t k = 0; k < K; k += REF_CHUNK) {
        int64_t len = K - k < REF_CHUNK ? K - k : REF_CHUNK;
        kernels_ref_dequantize_row(wt, row + dtype_row_bytes(wt, k), w, len);
        if (dtype_is_quantized(wt)) {
            for (int64_t b = 0; b < len; b += KERNELS_QK) {
                int8_t q[KERNELS_QK];
                float d;
                kernels_ref_quantize_x_block(x + k + b, q, &d);
                for (int i = 0; i < KERNELS_QK; i++) xh[b + i] = d * (float)q[i];
            }
        } else {
            for (int64_t j = 0; j < len; j++)
                xh[j] = bf16_act ? fp16_bf16_to_f32(fp16_f32_to_bf16(x[k + j])) : x[k + j];
        }
        for (int64_t j = 0; j < len; j++) acc += xh[j] * w[j];
    }
    return acc;
}

static size_t ref_mm_xp_row_bytes(const struct kernels_mm *mm) { return 0; }
static size_t ref_mm_thread_bytes(const struct kernels_mm *mm) { return 0; }
static void ref_mm_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1) {}

static void ref_mm_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1, uint8_t *ts) {
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *row = mm->w + (size_t)n * mm->w_row_bytes;
        for (int64_t m = m0; m < m1; m++) {
            const float *x = mm->x + m * mm->K;
            float acc = ref_dot(mm->wt, row, x, mm->K, mm->bf16_act);
            mm->y[m * mm->N + n] = acc + (mm->bias ? mm->bias[n] : 0.0f);
        }
    }
}

static void ref_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

static void ref_silu_mul(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

static void ref_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = fmaxf(max, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

static float ref_dot_f32(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

static void ref_axpy_f32(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* One row at a time, one key at a time, in double: the running maximum m, normaliser l
 * and accumulator are rescaled by exp(m_old - m_new) when a larger score arrives. */
void kernels_ref_attention(const struct kernels_attn *a) {
    int64_t hd = a->head_dim;
    double acc[KERNELS_ATTN_MAX_HEAD_DIM];
    for (int64_t r = 0; r < a->n_rows; r++) {
        const float *q = a->q[r];
        double m = -INFINITY, l = 0.0;
        for (int64_t d = 0; d < hd; d++) acc[d] = 0.0;
        for (int64_t j = 0; j < a->n_valid[r]; j++) {
            size_t off = (size_t)a->slots[j] * (size_t)a->kv_stride;
            float k[KERNELS_ATTN_MAX_HEAD_DIM], v[KERNELS_ATTN_MAX_HEAD_DIM];
            for (int64_t d = 0; d < hd; d++) {
                if (a->kv_dtype == DTYPE_BF16) {
                    k[d] = fp16_bf16_to_f32(((const uint16_t *)a->k)[off + (size_t)d]);
                    v[d] = fp16_bf16_to_f32(((const uint16_t *)a->v)[off + (size_t)d]);
                } else {
                    k[d] = ((const float *)a->k)[off + (size_t)d];
                    v[d] = ((const float *)a->v)[off + (size_t)d];
                }
            }
            double sc = 0.0;
            for (int64_t d = 0; d < hd; d++) sc += (double)q[d] * k[d];
            sc *= a->scale;
            if (sc > m) {
                double c = exp(m - sc);
                l *= c;
                for (int64_t d = 0; d < hd; d++) acc[d] *= c;
                m = sc;
            }
            double w = exp(sc - m);
            l += w;
            for (int64_t d = 0; d < hd; d++) acc[d] += w * v[d];
        }
        for (int64_t d = 0; d < hd; d++) a->o[r][d] = (float)(l > 0 ? acc[d] / l : 0.0);
    }
}

static bool ref_available(const struct cpu_features *f) { return true; }
static const char *ref_impl_name(enum dtype t) { return "ref"; }

const struct kernels_isa kernels_isa_ref = {
    .name = "ref",
    .available = ref_available,
    .impl_name = ref_impl_name,
    .mm_xp_row_bytes = ref_mm_xp_row_bytes,
    .mm_thread_bytes = ref_mm_thread_bytes,
    .mm_prep_x = ref_mm_prep_x,
    .mm_run = ref_mm_run,
    .dequantize_row = kernels_ref_dequantize_row,
    .rmsnorm = ref_rmsnorm,
    .silu_mul = ref_silu_mul,
    .softmax = ref_softmax,
    .dot_f32 = ref_dot_f32,
    .axpy_f32 = ref_axpy_f32,
    .attention = kernels_ref_attention,
};
