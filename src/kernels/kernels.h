/* kernels: the CPU compute primitives the layers are built from.
 *
 * Every op has a scalar reference in kernels/cpu/ref/ (the spec) and, where it
 * pays, AVX2 and AVX-512 variants chosen at run time from cpu_features. Tests
 * compare each variant with the reference on random data.
 *
 * Threading: ops taking a threadpool split their output across its threads with
 * (ith, nth) partitioning; pool may be NULL (single-threaded). All pointers are
 * borrowed for the duration of the call. Activations are f32. */
#ifndef SGLC_KERNELS_KERNELS_H
#define SGLC_KERNELS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/tensor.h"

struct threadpool;

/* y[M][N] = x[M][K] . W[N][K]^T (+ bias[N] if non-NULL).
 * W: 2-D tensor of any supported dtype (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K);
 * K must equal W->shape[1]. x row stride is K, y row stride is N. f32 accumulation.
 * F32/F16/BF16 weights: exact f32 products. Quantized weights: x is quantized per
 * 32 values to int8 with an f32 scale (as ggml does), for every M, so results do
 * not depend on the batch size beyond f32 summation order (spec: kernels_impl.h).
 * A shape or dtype violation logs an error and fills y with NaN. */
void kernels_matmul(struct threadpool *pool, const float *x, int64_t M, int64_t K, const struct tensor *W,
                    const float *bias, float *y);

/* Options of kernels_matmul_ex; zero-initialize (or pass NULL) for the defaults. */
struct kernels_matmul_opts {
    /* Caller scratch, borrowed for the call, any alignment. Without it (NULL or
     * smaller than kernels_matmul_scratch_size()), needs up to 32 KiB (decode
     * shapes) use the calling thread's stack and larger ones (prefill) are
     * malloc'd per call, so prefill hot paths should pass an arena buffer. If
     * that allocation fails, the scalar reference (which needs no scratch)
     * computes the result and a warning is logged. */
    void *scratch;
    size_t scratch_bytes;
    /* For BF16 weights: round the activations to bf16 (round to nearest even)
     * before the product, y = bf16(x) . W^T accumulated in f32. This lets the
     * AMX-BF16 tile units run prefill and batches (M >= 16) several times faster than f32
     * FMAs; the cost is a relative error of at most 2^-9 per product (measured on
     * Gaussian data, K = 1024..3072: RMS error 1.7e-3 of RMS y). Every path
     * honours it (so the result never depends on M or the CPU beyond f32
     * summation order). Ignored for other weight dtypes. */
    bool bf16_activations;
};

/* kernels_matmul with options (opts may be NULL). */
void kernels_matmul_ex(struct threadpool *pool, const float *x, int64_t M, int64_t K, const struct tensor *W,
                       const float *bias, float *y, const struct kernels_matmul_opts *opts);
/* n products of the same x: y[i] = x . W[i]^T (+ bias[i]; bias may be NULL), each exactly
 * as kernels_matmul_ex computes it. When the weights share a dtype (n <= 4), x is
 * prepared once and one parallel pass covers all of them (fewer pool barriers per
 * layer in decode); otherwise they run one after the other. */
void kernels_matmul_multi(struct threadpool *pool, const float *x, int64_t M, int64_t K, int n,
                          const struct tensor *const *W, const float *const *bias, float *const *y,
                          const struct kernels_matmul_opts *opts);
/* Scratch bytes kernels_matmul_ex needs (for any options) with a pool of
 * n_threads threads (threadpool_size(pool); 1 for a NULL pool); may be 0. */
size_t kernels_matmul_scratch_size(int n_threads, int64_t M, int64_t K, enum dtype wt);

/* Whether kernels_matmul accepts weights of dtype t (F32, F16, BF16, Q8_0, Q4_0,
 * Q4_K, Q5_K, Q6_K). K must be a multiple of dtype_block_size(t). */
bool kernels_supports(enum dtype t);

/* Converts n values of a row in dtype t (n a multiple of its block size) to f32.
 * Accepts every kernels_supports() dtype and Q8_K. */
void kernels_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n);

/* Quantizes n f32 values (multiple of the block size) into dtype t (Q8_0, Q4_0, F16, BF16, F32),
 * with ggml's reference rounding (Q8_0: d = amax/127, q = roundf(x/d); Q4_0: d = max/-8 with max
 * the value of largest magnitude, q = min(15, (int)(x/d + 8.5))). Scalar: a load-time tool. */
void kernels_quantize_row(enum dtype t, const float *src, void *dst, int64_t n);

/* y = x / sqrt(mean(x^2) + eps) * w, over n values (y may alias x). */
void kernels_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);

/* out[i] = silu(gate[i]) * up[i]  (out may alias gate). */
void kernels_silu_mul(const float *gate, const float *up, float *out, int64_t n);

/* In-place softmax over n values; returns nothing. */
void kernels_softmax(float *x, int64_t n);

/* dot product of two f32 vectors. */
float kernels_dot_f32(const float *a, const float *b, int64_t n);

/* y[i] += a * x[i]. */
void kernels_axpy_f32(float *y, float a, const float *x, int64_t n);

/* Attention of up to KERNELS_ATTN_MAX_ROWS query rows against the keys/values of one
 * KV head, each row with its own causal limit:
 *   o_r = sum_{j < n_valid[r]} softmax_j(scale * q_r . k_j) * v_j
 * with k_j = k + slots[j] * kv_stride (head_dim values of kv_dtype, F32 or BF16,
 * read as f32; v likewise). n_valid[r] in
 * [1, n_kv]. Rows of one call usually are the query heads of a GQA group for a block
 * of tokens of one sequence, so each key block is read once for all of them.
 * f32 throughout; online (FlashAttention) softmax over key blocks. */
#define KERNELS_ATTN_MAX_ROWS 32
#define KERNELS_ATTN_MAX_HEAD_DIM 512
struct kernels_attn {
    int64_t n_rows, head_dim, n_kv;
    const float *const *q; /* [n_rows] row pointers */
    float *const *o;       /* [n_rows] row pointers (written) */
    const int32_t *n_valid;
    const void *k, *v;
    enum dtype kv_dtype;  /* DTYPE_F32 or DTYPE_BF16 */
    const int32_t *slots; /* [n_kv] */
    int64_t kv_stride;    /* values between consecutive slots */
    float scale;
};
void kernels_attention(const struct kernels_attn *a);

/* Name of the selected implementation for dtype t (e.g. "avx512bf16", "avx2", "ref"). */
const char *kernels_impl_name(enum dtype t);

#endif
