/* kernels_impl: the interface between the kernels dispatcher (kernels.c) and
 * its per-ISA implementations (cpu/ref, cpu/avx2, cpu/avx512). Internal to the
 * kernels module and its unit test; layers use kernels.h only.
 *
 * Each ISA level fills one `struct kernels_isa`, a const table of function
 * pointers (no mutable state anywhere). kernels.c picks a table per call from
 * cpu_features_get(); the test drives every table that the CPU can run and
 * compares it with kernels_isa_ref, the scalar specification.
 *
 * Matmul protocol (kernels.c drives it; an ISA only supplies the pieces):
 *
 *   y[M][N] = x[M][K] . W[N][K]^T + bias
 *
 *   1. mm_prep_x(mm, m0, m1): turn x rows [m0, m1) into the ISA's prepared form
 *      in mm->xp (row r at mm->xp + r * mm->xp_row_bytes): quantized 8-bit
 *      blocks for Q8_0/Q4_0, an even/odd permutation for BF16, bf16 rows for
 *      AMX, ... Skipped when mm_xp_row_bytes() is 0. The buffer holds
 *      round_up(M, KERNELS_XP_ROWS) rows; an ISA that reads the padding rows
 *      fills them in the call whose range ends at M. Rows are independent: any
 *      split over threads.
 *   2. mm_run(mm, m0, m1, n0, n1, ts): computes the output block
 *      y[m0:m1][n0:n1]. `ts` is thread-private scratch of mm_thread_bytes()
 *      bytes (64-byte aligned) for weight panels. Calls on disjoint blocks run
 *      concurrently.
 *
 * The driver splits rows (when it splits M at all) at multiples of KERNELS_XP_ROWS.
 *
 * Numerics of the specification (kernels/cpu/ref): y = sum_k x^_k * w_k + bias in
 * f32 arithmetic (any summation order), w the exactly dequantized weights and
 *   - F32/F16/BF16: x^ = x, or bf16(x) with bf16_act (rounded exactly as
 *     fp16_f32_to_bf16; BF16 weights only);
 *   - quantized weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), as ggml does: each
 *     32-value block of an activation row is quantized as amax = max|x|,
 *     d = amax / 127, id = d ? 1 / d : 0, q = rint(x * id) (round half to
 *     even; IEEE f32 ops, so bit-exact in every variant) and x^ = d * q. SIMD
 *     variants use integer dot products of q with the weight quants where that
 *     is faster: the same sum up to f32 rounding. */
#ifndef SGLC_KERNELS_KERNELS_IMPL_H
#define SGLC_KERNELS_KERNELS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cpu_features.h"
#include "base/dtype.h"
#include "kernels/kernels.h"

/* GGUF (ggml) block layouts; f16 values stored as uint16_t. */
#define KERNELS_QK      32  /* values per Q8_0 / Q4_0 block */
#define KERNELS_QK_K    256 /* values per K-quant super-block */
#define KERNELS_XP_ROWS 32  /* prepared x row count granularity (see mm_prep_x) */

struct kernels_block_q8_0 {
    uint16_t d;
    int8_t qs[32];
};
struct kernels_block_q4_0 {
    uint16_t d;
    uint8_t qs[16]; /* byte j: low nibble = value j, high nibble = value j + 16 */
};
/* Q4_K: 8 sub-blocks of 32; value = d * sc_j * q - dmin * m_j, q in 0..15.
 * scales[12] packs eight 6-bit (sc, m) pairs (kernels_q4k_scale_min). qs: four
 * 32-byte groups; group g holds sub-block 2g in its low nibbles and 2g+1 in its
 * high nibbles. */
struct kernels_block_q4_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[128];
};
/* Q5_K: as Q4_K plus a fifth bit: value j of group g adds 16 if bit 2g (low
 * half) or 2g+1 (high half) of qh[j] is set. */
struct kernels_block_q5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
};
/* Q6_K: 16 sub-blocks of 16 with int8 scales; value = d * sc * (q - 32), q 6-bit.
 * Per 128-value half h (ql += 64h, qh += 32h, sc += 8h), l = 0..31:
 *   v[l]    = ql[l] & 15      | (qh[l] >> 0 & 3) << 4     scale sc[l/16]
 *   v[l+32] = ql[l+32] & 15   | (qh[l] >> 2 & 3) << 4     scale sc[l/16 + 2]
 *   v[l+64] = ql[l] >> 4      | (qh[l] >> 4 & 3) << 4     scale sc[l/16 + 4]
 *   v[l+96] = ql[l+32] >> 4   | (qh[l] >> 6 & 3) << 4     scale sc[l/16 + 6] */
struct kernels_block_q6_K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
};
struct kernels_block_q8_K {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
};

/* 6-bit scale and min j (0..7) of a Q4_K / Q5_K super-block (ggml's get_scale_min_k4). */
static inline void kernels_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* One matmul call as seen by the ISA pieces. Read-only during the parallel phases. */
struct kernels_mm {
    const float *x; /* [M][K] */
    int64_t M, K, N;
    enum dtype wt;
    const uint8_t *w; /* [N] rows of w_row_bytes */
    size_t w_row_bytes;
    const float *bias; /* [N] or NULL */
    float *y;          /* [M][N] */
    bool bf16_act;     /* BF16 weights: x rounded to bf16 first (kernels_matmul_opts) */
    uint8_t *xp;       /* prepared x rows (NULL when xp_row_bytes is 0); 64-byte aligned */
    size_t xp_row_bytes;
};

struct kernels_isa {
    const char *name; /* "ref", "avx2", "avx512" */
    /* Whether this CPU can run the table. */
    bool (*available)(const struct cpu_features *f);
    /* Name of the code path used for weights of dtype t (e.g. "avx512vnni"). */
    const char *(*impl_name)(enum dtype t);

    /* Sizes for a call described by mm's wt, M, K and bf16_act. */
    size_t (*mm_xp_row_bytes)(const struct kernels_mm *mm); /* multiple of 64 */
    size_t (*mm_thread_bytes)(const struct kernels_mm *mm);
    void (*mm_prep_x)(const struct kernels_mm *mm, int64_t m0, int64_t m1);
    void (*mm_run)(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1, uint8_t *ts);

    void (*dequantize_row)(enum dtype t, const void *src, float *dst, int64_t n);
    void (*rmsnorm)(const float *x, const float *w, float *y, int64_t n, float eps);
    void (*silu_mul)(const float *gate, const float *up, float *out, int64_t n);
    void (*softmax)(float *x, int64_t n);
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    void (*axpy_f32)(float *y, float a, const float *x, int64_t n);
    void (*attention)(const struct kernels_attn *a);
};

extern const struct kernels_isa kernels_isa_ref;
extern const struct kernels_isa kernels_isa_avx2;
extern const struct kernels_isa kernels_isa_avx512;

/* The best table this CPU runs (avx512 > avx2 > ref). */
const struct kernels_isa *kernels_isa_select(void);

/* kernels_matmul_ex on an explicit table (the test uses it to reach each variant). */
struct threadpool;
struct tensor;
struct kernels_matmul_opts;
void kernels_matmul_isa(const struct kernels_isa *isa, struct threadpool *pool, const float *x, int64_t M, int64_t K,
                        const struct tensor *W, const float *bias, float *y, const struct kernels_matmul_opts *opts);
size_t kernels_matmul_isa_scratch_size(const struct kernels_isa *isa, int n_threads, int64_t M, int64_t K,
                                       enum dtype wt, bool bf16_act);

/* The activation-block quantizer of the spec (see above): 32 values -> q[32], d;
 * returns the sum of q. */
int kernels_ref_quantize_x_block(const float *x, int8_t *q, float *d);
/* Scalar dequantization of any supported format (the table's dequantize_row for ref). */
void kernels_ref_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n);
/* The attention specification (one key at a time, running max / normaliser). */
void kernels_ref_attention(const struct kernels_attn *a);
/* Weight quantization (ggml's reference rounding; not a hot path): see kernels_quantize_row. */
void kernels_ref_quantize_row(enum dtype t, const float *src, void *dst, int64_t n);

#endif
