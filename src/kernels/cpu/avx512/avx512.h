/* avx512: what the files of this folder share (all compiled with the AVX-512
 * flags, see CMakeLists.txt): the element-wise kernels (avx512_ops.c; same
 * contracts as the kernels.h functions of the same names), the AMX-BF16 matmul
 * engine (avx512_amx.c) and small inline helpers. avx512_matmul.c assembles
 * kernels_isa_avx512 from them. */
#ifndef SGLC_KERNELS_CPU_AVX512_AVX512_H
#define SGLC_KERNELS_CPU_AVX512_AVX512_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels_impl.h"

void kernels_avx512_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);
void kernels_avx512_silu_mul(const float *gate, const float *up, float *out, int64_t n);
void kernels_avx512_softmax(float *x, int64_t n);
float kernels_avx512_dot_f32(const float *a, const float *b, int64_t n);
void kernels_avx512_axpy_f32(float *y, float a, const float *x, int64_t n);
/* kernels_attention for head_dim a multiple of 16 (others go to the reference). */
void kernels_avx512_attention(const struct kernels_attn *a);

/* AMX-BF16 engine for BF16 weights with bf16 activations (mm->bf16_act), used
 * for M >= KERNELS_AMX_MIN_M when cpu_features reports amx_bf16. Same protocol
 * as kernels_isa.mm_* (kernels_impl.h). */
#define KERNELS_AMX_MIN_M 16
size_t kernels_avx512_amx_xp_row_bytes(int64_t K);
size_t kernels_avx512_amx_thread_bytes(int64_t M, int64_t K);
void kernels_avx512_amx_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1);
void kernels_avx512_amx_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1, uint8_t *ts);

/* e^x for x in [-104, 88.7] (clamped outside). */
static inline __attribute__((always_inline)) __m512 kernels_avx512_exp(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.7f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 e = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(e, n);
}

/* AMX-INT8 engine for Q8_0 / Q4_0 weights (exact integer block sums, see
 * avx512_amx_int8.c), used from AMXI8_MIN_M (32) rows when cpu_features reports amx_int8.
 * Same protocol as kernels_isa.mm_*. */
size_t kernels_avx512_amxi8_xp_row_bytes(int64_t K);
size_t kernels_avx512_amxi8_thread_bytes(int64_t M, int64_t K);
void kernels_avx512_amxi8_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1);
void kernels_avx512_amxi8_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                              uint8_t *ts);

/* Q8_0 / Q4_0 weight rows [nb, ne) as column groups: for each group of 16 rows (columns of
 * the output) and each 32-value block b (Kp / 32 of them, Kp = K rounded up to 64), a
 * 512-byte tile at panel + (g * Kp / 32 + b) * 512 whose 64-byte row r holds, per column
 * j, the signed int8 quants k = 4r .. 4r + 3 (Q4_0: q - 8) xor `flip`, and the block
 * scales at dw[(g * Kp / 32 + b) * 16 + j]. Columns past ne, and the group count up to
 * a multiple of group_mult, are zeros. Rows below pf_end that follow a group are
 * prefetched while it is packed. (avx512_amx_int8.c) */
void kernels_avx512_q_pack_cols(const struct kernels_mm *mm, int64_t nb, int64_t ne, int64_t pf_end, int group_mult,
                                uint8_t flip, uint8_t *panel, float *dw);

/* The spec's 8-bit activation rows m0 .. m1 of mm->x into mm->xp: int8 q[Kp] | f32 dx[Kp / 32]
 * | (with_nsx) int32 -128 * sum(q) per block [Kp / 32], Kp = K rounded up to 64, padding
 * zero; the call ending at M also zeroes the padding rows. (avx512_amx_int8.c) */
void kernels_avx512_q8_prep_rows(const struct kernels_mm *mm, int64_t m0, int64_t m1, bool with_nsx);

/* VNNI column-tile engine for Q8_0 / Q4_0 weights and a few activation rows
 * (avx512_vnni_cols.c). Same protocol as kernels_isa.mm_*. */
size_t kernels_avx512_vcols_xp_row_bytes(int64_t K);
size_t kernels_avx512_vcols_thread_bytes(int64_t K);
void kernels_avx512_vcols_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1);
void kernels_avx512_vcols_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                              uint8_t *ts);

/* The spec's activation block quantizer (kernels_impl.h) on 32 values: returns the
 * scale d; q = i0 (values 0-15) and i1 (16-31) as int32 lanes. */
static inline __attribute__((always_inline)) float kernels_avx512_quant_block(const float *x, __m512i *i0,
                                                                              __m512i *i1) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    *i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
    *i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
    return d;
}

/* AMX tile configuration (palette 1), as LDTILECFG reads it. */
struct kernels_amx_tilecfg {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

/* Rounds to bf16 (nearest even; NaN stays a quiet NaN), exactly as
 * fp16_f32_to_bf16; the result is the bf16 value in the high half of each lane. */
static inline __attribute__((always_inline)) __m512i kernels_avx512_bf16_bits(__m512 v) {
    __m512i u = _mm512_castps_si512(v);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                     _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    __mmask16 nan =
        _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
    return _mm512_and_si512(r, _mm512_set1_epi32((int)0xffff0000u));
}

/* In place 16 x 16 transpose of 32-bit lanes: r[i] holds row i on entry, column i on exit. */
static inline __attribute__((always_inline)) void kernels_avx512_transpose16(__m512 r[16]) {
    __m512 a[16], b[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* b[4i + c], 128-bit lane l: rows 4i..4i+3 of column 4l + c */
        b[4 * i + 0] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0xEE);
        b[4 * i + 2] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m512 u0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44), u1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xEE);
        __m512 u2 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44);
        __m512 u3 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
}

#endif
