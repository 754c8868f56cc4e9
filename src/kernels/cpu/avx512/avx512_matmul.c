/* avx512_matmul: AVX-512 matmul, dequantization and the kernels_isa_avx512 table.
 *
 * Engines, chosen per call (avx512_mm_run):
 *
 *   direct f32 (F32/F16/BF16, M < PACK_MIN_M): "dot-product" register tiles of
 *     up to 4 activation rows x 4 weight rows (1 x 8 when M == 1); accumulators
 *     run along K, one horizontal sum per output at the end. Weights converted
 *     in registers (vcvtph2ps; for BF16 a 32-value load gives the even values by
 *     a 16-bit shift and the odd ones by a mask, matched by an even/odd permuted
 *     copy of x made in mm_prep_x). Every weight byte is read once: decode.
 *   direct int8 (quantized weights, few rows: decode): VNNI kernels reading the
 *     GGUF blocks in place, K in the lanes (see the section comment below).
 *   VNNI column tiles (Q8_0 from 3 rows, Q4_0 from 5, below VC_MAX_M): 16
 *     output columns in the lanes, weights transposed per 16-row group and shared
 *     by all rows (batched decode): avx512_vnni_cols.c.
 *   AMX-INT8 (Q8_0 / Q4_0, M >= AMXI8_MIN_M, CPU with AMX): avx512_amx_int8.c.
 *   packed f32 (M >= PACK_MIN_M, quantized M >= QPACK_MIN_M): weights converted to a transposed
 *     f32 panel, outer-product micro-kernel of 6 rows x 64 columns (see the
 *     section comment). Activations are x, or its prepared copy: rounded to bf16
 *     (bf16_act) or quantized-dequantized x^ (quantized weights, the spec).
 *   AMX-BF16 (BF16 weights with bf16_act, M >= KERNELS_AMX_MIN_M, CPU with
 *     AMX): avx512_amx.c.
 *
 * Thread safety: mm_run touches only its y block and its thread scratch `ts`. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/cpu/avx512/avx512.h"
#include "kernels/kernels_impl.h"

#define AI static inline __attribute__((always_inline))
#define PF_HINT _MM_HINT_T1 /* direct int8 engine: into L2 (T0 holds L1 fill buffers: 10-20% slower decode) */

enum {
    MR = 4,          /* direct f32 engine: activation rows per tile */
    NR = 4,          /* direct f32 engine: weight rows per tile */
    NR1 = 8,         /* direct engines: weight rows per tile when M == 1 */
    QMR = 4,         /* direct int8 engine */
    PACK_MIN_M = 16, /* M from which the packed engines run (f32/f16/bf16 weights) */
    QPACK_MIN_M = 64, /* for quantized weights (VNNI tiles beat the packed f32 engine below) */
    VC_MIN_M_Q8_0 = 3, /* VNNI column tiles from this many rows (Q8_0; even with the direct tiles at 2) */
    VC_MIN_M_Q4_0 = 5, /* (Q4_0: its nibble unpacking in the transpose costs more) */
    VC_MAX_M = 64,     /* up to here; the AMX-INT8 engine (or packed f32) above, where they are about even */
    AMXI8_MIN_M = VC_MAX_M, /* Q8_0 / Q4_0 rows from which the AMX-INT8 engine runs */
    PMR = 6,         /* packed f32 engine: activation rows per tile */
    PNRV = 4,        /* packed f32 engine: 16-column vectors per tile (64 weight rows) */
    PKC = 256,       /* packed f32 engine: K block */
    PMC = 48,        /* packed f32 engine: activation rows per block */
    PNC = 64,        /* packed f32 engine: weight rows per panel (one 64-row tile) */
    PF_BYTES = 3072, /* direct int8 engine: prefetch distance (into L2, see run_q_direct) */
};

enum wkind { WK_F32, WK_F16, WK_BF16 };

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* ---- dequantization ---------------------------------------------------------------- */

AI __m512 u8x16_to_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }

static void deq_q8_0(const struct kernels_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
        __m128i q0 = _mm_loadu_si128((const __m128i *)b[i].qs), q1 = _mm_loadu_si128((const __m128i *)(b[i].qs + 16));
        _mm512_storeu_ps(y, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0))));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1))));
    }
}

static void deq_q4_0(const struct kernels_block_q4_0 *b, float *y, int64_t nb) {
    const __m128i m4 = _mm_set1_epi8(0xF), eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < nb; i++, y += 32) {
        __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
        __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight);
        _mm512_storeu_ps(y, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo))));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi))));
    }
}

/* 32 values q (u8, 0..31) -> y = d1 * q - m1. */
AI void deq32_affine(__m256i q, float d1, float m1, float *y) {
    __m512 d = _mm512_set1_ps(d1), m = _mm512_set1_ps(m1);
    _mm512_storeu_ps(y, _mm512_sub_ps(_mm512_mul_ps(d, u8x16_to_ps(_mm256_castsi256_si128(q))), m));
    _mm512_storeu_ps(y + 16, _mm512_sub_ps(_mm512_mul_ps(d, u8x16_to_ps(_mm256_extracti128_si256(q, 1))), m));
}

static void deq_q4_K(const struct kernels_block_q4_K *b, float *y, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int64_t i = 0; i < nb; i++) {
        float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
        for (int g = 0; g < 4; g++, y += 64) {
            uint8_t sc0, m0, sc1, m1;
            kernels_q4k_scale_min(2 * g, b[i].scales, &sc0, &m0);
            kernels_q4k_scale_min(2 * g + 1, b[i].scales, &sc1, &m1);
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * g));
            deq32_affine(_mm256_and_si256(q, m4), d * sc0, dmin * m0, y);
            deq32_affine(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), d * sc1, dmin * m1, y + 32);
        }
    }
}

static void deq_q5_K(const struct kernels_block_q5_K *b, float *y, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < nb; i++) {
        float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
        __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh);
        for (int g = 0; g < 4; g++, y += 64) {
            uint8_t sc0, m0, sc1, m1;
            kernels_q4k_scale_min(2 * g, b[i].scales, &sc0, &m0);
            kernels_q4k_scale_min(2 * g + 1, b[i].scales, &sc1, &m1);
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * g));
            /* bit (2g) / (2g+1) of each qh byte, moved to bit 4 (16-bit shifts never cross bytes after the mask) */
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), one), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g + 1), one), 4);
            deq32_affine(_mm256_or_si256(_mm256_and_si256(q, m4), h0), d * sc0, dmin * m0, y);
            deq32_affine(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1), d * sc1, dmin * m1,
                         y + 32);
        }
    }
}

/* 32 values q (u8, 0..63) -> y[l] = (d * sc[l / 16]) * (q - 32). */
AI void deq32_q6(__m256i q, float d, const int8_t *sc, float *y) {
    const __m512i off = _mm512_set1_epi32(32);
    __m512 v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(q)), off));
    __m512 v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(q, 1)), off));
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_set1_ps(d * sc[0]), v0));
    _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_set1_ps(d * sc[1]), v1));
}

static void deq_q6_K(const struct kernels_block_q6_K *b, float *y, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < nb; i++) {
        float d = _cvtsh_ss(b[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = b[i].ql + 64 * h, *qhp = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            __m256i qa = _mm256_loadu_si256((const __m256i *)ql), qb = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4);
            __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4);
            __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4);
            deq32_q6(_mm256_or_si256(_mm256_and_si256(qa, m4), h0), d, sc, y);
            deq32_q6(_mm256_or_si256(_mm256_and_si256(qb, m4), h1), d, sc + 2, y + 32);
            deq32_q6(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), h2), d, sc + 4, y + 64);
            deq32_q6(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), h3), d, sc + 6, y + 96);
        }
    }
}

static void avx512_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n) {
    int64_t nb = n / dtype_block_size(t), i = 0;
    switch (t) {
    case DTYPE_F16: {
        const uint16_t *s = src;
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + i))));
        if (i < n) {
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
            _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, s + i)));
        }
        break;
    }
    case DTYPE_BF16: {
        const uint16_t *s = src;
        for (; i < n; i += 16) {
            __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
            __m512i v = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, s + i)), 16);
            _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(v));
        }
        break;
    }
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
    default:
        kernels_ref_dequantize_row(t, src, dst, n);
        break; /* F32 (memcpy), Q8_K */
    }
}

/* ---- horizontal reductions and tile stores ------------------------------------------ */

/* Sums of a, b, c, d as the 4 lanes of an xmm. */
AI __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
    __m512 t = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4E));
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0xB1));
    return _mm512_castps512_ps128(
        _mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), t));
}

/* y[0..nr) = horizontal sums of acc[0..nr) (+ bias[0..nr)). */
AI void store_row(int nr, const __m512 *acc, float *y, const float *bias) {
    const __m512 z = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int jg = 0; jg < nr; jg += 4) {
        int cnt = nr - jg < 4 ? nr - jg : 4;
        __m128 s = hsum4(acc[jg], cnt > 1 ? acc[jg + 1] : z, cnt > 2 ? acc[jg + 2] : z, cnt > 3 ? acc[jg + 3] : z);
        __mmask8 m = (__mmask8)((1u << cnt) - 1);
        if (bias) s = _mm_add_ps(s, _mm_maskz_loadu_ps(m, bias + jg));
        if (cnt == 4)
            _mm_storeu_ps(y + jg, s);
        else
            _mm_mask_storeu_ps(y + jg, m, s);
    }
}

/* ---- f32 engine ----------------------------------------------------------------------- */

struct ftile {
    const float *x; /* first activation row (F32/F16: x; BF16: permuted copy) */
    size_t ldx;     /* floats between activation rows */
    const uint8_t *w;
    size_t ldw; /* bytes between weight rows */
    int64_t K;
    float *y;
    size_t ldy;
    const float *bias; /* bias of the tile's first column, or NULL */
    const uint8_t *pf; /* weight rows to prefetch meanwhile (the next tile's, same ldw), or NULL */
};

AI __m512 load_w16(enum wkind kind, const uint8_t *row, int64_t k) {
    if (kind == WK_F32) return _mm512_loadu_ps((const float *)row + k);
    if (kind == WK_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k)));
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k))), 16));
}

AI __m512 load_w16_mask(enum wkind kind, const uint8_t *row, int64_t k, __mmask16 m) {
    if (kind == WK_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k);
    if (kind == WK_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AI void ftile(enum wkind kind, int mr, int nr, const struct ftile *a) {
    __m512 acc[MR][NR1];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 8
        for (int j = 0; j < nr; j++) acc[i][j] = _mm512_setzero_ps();
    const int64_t K = a->K;
    const float *x = a->x;
    const uint8_t *w = a->w;
    int64_t k = 0;
    if (kind == WK_BF16) {
        const __m512i hi_mask = _mm512_set1_epi32((int)0xFFFF0000u);
        for (; k + 32 <= K; k += 32) {
            __m512 wv[NR1];
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++)
                wv[j] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(w + j * a->ldw + 2 * k), 16));
            if (a->pf) {
#pragma GCC unroll 8
                for (int j = 0; j < nr; j++) _mm_prefetch((const char *)(a->pf + j * a->ldw + 2 * k), _MM_HINT_T0);
            }
#pragma GCC unroll 8
            for (int i = 0; i < mr; i++) {
                __m512 xv = _mm512_loadu_ps(x + i * a->ldx + k);
#pragma GCC unroll 8
                for (int j = 0; j < nr; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
            }
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++)
                wv[j] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_loadu_si512(w + j * a->ldw + 2 * k), hi_mask));
#pragma GCC unroll 8
            for (int i = 0; i < mr; i++) {
                __m512 xv = _mm512_loadu_ps(x + i * a->ldx + k + 16);
#pragma GCC unroll 8
                for (int j = 0; j < nr; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
            }
        }
    } else {
        for (; k + 16 <= K; k += 16) {
            __m512 wv[NR1];
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++) wv[j] = load_w16(kind, w + j * a->ldw, k);
            if (a->pf) {
#pragma GCC unroll 8
                for (int j = 0; j < nr; j++)
                    _mm_prefetch((const char *)(a->pf + j * a->ldw + (kind == WK_F32 ? 4 : 2) * k), _MM_HINT_T0);
            }
#pragma GCC unroll 8
            for (int i = 0; i < mr; i++) {
                __m512 xv = _mm512_loadu_ps(x + i * a->ldx + k);
#pragma GCC unroll 8
                for (int j = 0; j < nr; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
            }
        }
    }
    for (; k < K; k += 16) { /* tail (BF16: unpermuted, < 32 values) */
        __mmask16 m = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[NR1];
#pragma GCC unroll 8
        for (int j = 0; j < nr; j++) wv[j] = load_w16_mask(kind, w + j * a->ldw, k, m);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + i * a->ldx + k);
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) store_row(nr, acc[i], a->y + i * a->ldy, a->bias);
}

typedef void (*ftile_fn)(const struct ftile *a);

#define FT(kind, mr, nr)                                                                                               \
    static void ft_##kind##_##mr##_##nr(const struct ftile *a) { ftile(kind, mr, nr, a); }
#define FT_ROW(kind, mr) FT(kind, mr, 1) FT(kind, mr, 2) FT(kind, mr, 3) FT(kind, mr, 4)
#define FT_KIND(kind)                                                                                                  \
    FT_ROW(kind, 1)                                                                                                    \
    FT_ROW(kind, 2) FT_ROW(kind, 3) FT_ROW(kind, 4) FT(kind, 1, 5) FT(kind, 1, 6) FT(kind, 1, 7) FT(kind, 1, 8)
FT_KIND(WK_F32)
FT_KIND(WK_F16)
FT_KIND(WK_BF16)

#define FE(kind, mr, nr) [mr][nr] = ft_##kind##_##mr##_##nr
#define FE_ROW(kind, mr) FE(kind, mr, 1), FE(kind, mr, 2), FE(kind, mr, 3), FE(kind, mr, 4)
#define FE_KIND(kind)                                                                                                  \
    {                                                                                                                  \
        FE_ROW(kind, 1), FE_ROW(kind, 2), FE_ROW(kind, 3), FE_ROW(kind, 4), FE(kind, 1, 5), FE(kind, 1, 6),            \
            FE(kind, 1, 7), FE(kind, 1, 8)                                                                             \
    }
static const ftile_fn ftiles[3][MR + 1][NR1 + 1] = {FE_KIND(WK_F32), FE_KIND(WK_F16), FE_KIND(WK_BF16)};

AI __m512 round_bf16(__m512 v) { return _mm512_castsi512_ps(kernels_avx512_bf16_bits(v)); }

/* BF16, direct engine: x row copy with each full 32-value chunk permuted to
 * [16 even | 16 odd]; values rounded to bf16 when mm->bf16_act. */
static void prep_bf16(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const bool rnd = mm->bf16_act;
    for (int64_t m = m0; m < m1; m++) {
        const float *x = mm->x + m * mm->K;
        float *o = (float *)(mm->xp + (size_t)m * mm->xp_row_bytes);
        int64_t k = 0;
        for (; k + 32 <= mm->K; k += 32) {
            __m512 a = _mm512_loadu_ps(x + k), b = _mm512_loadu_ps(x + k + 16);
            if (rnd) {
                a = round_bf16(a);
                b = round_bf16(b);
            }
            _mm512_storeu_ps(o + k, _mm512_permutex2var_ps(a, ie, b));
            _mm512_storeu_ps(o + k + 16, _mm512_permutex2var_ps(a, io, b));
        }
        for (; k < mm->K; k++) o[k] = rnd ? fp16_bf16_to_f32(fp16_f32_to_bf16(x[k])) : x[k];
    }
}

/* BF16 with bf16_act, packed engine: x rows rounded to bf16 (kept as f32). */
static void prep_round(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++) {
        const float *x = mm->x + m * mm->K;
        float *o = (float *)(mm->xp + (size_t)m * mm->xp_row_bytes);
        for (int64_t k = 0; k < mm->K; k += 16) {
            __mmask16 msk = mm->K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (mm->K - k)) - 1);
            _mm512_mask_storeu_ps(o + k, msk, round_bf16(_mm512_maskz_loadu_ps(msk, x + k)));
        }
    }
}

/* F32/F16/BF16 weights, M < PACK_MIN_M: every weight row is read once per call;
 * the first row tile of each weight tile prefetches the next weight tile. */
static void run_f32_direct(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const enum wkind kind = mm->wt == DTYPE_F16 ? WK_F16 : mm->wt == DTYPE_BF16 ? WK_BF16 : WK_F32;
    const float *x = mm->x;
    size_t ldx = (size_t)mm->K;
    if (kind == WK_BF16) {
        x = (const float *)mm->xp;
        ldx = mm->xp_row_bytes / sizeof(float);
    }
    const int nrmax = m1 - m0 == 1 ? NR1 : NR;
    for (int64_t n = n0; n < n1; n += nrmax) {
        int nr = n1 - n < nrmax ? (int)(n1 - n) : nrmax;
        for (int64_t m = m0; m < m1; m += MR) {
            int mr = m1 - m < MR ? (int)(m1 - m) : MR;
            struct ftile a = {.x = x + (size_t)m * ldx,
                              .ldx = ldx,
                              .w = mm->w + (size_t)n * mm->w_row_bytes,
                              .ldw = mm->w_row_bytes,
                              .K = mm->K,
                              .y = mm->y + m * mm->N + n,
                              .ldy = (size_t)mm->N,
                              .bias = mm->bias ? mm->bias + n : NULL,
                              .pf = m == m0 && n + nr < n1 ? mm->w + (size_t)(n + nr) * mm->w_row_bytes : NULL};
            ftiles[kind][mr][nr](&a);
        }
    }
}

/* ---- packed f32 engine ---------------------------------------------------------------------
 * For M >= PACK_MIN_M. Each thread converts PNC weight rows at a time (any
 * dtype; quantized ones through avx512_dequantize_row) into an f32 panel, transposed so that 64 consecutive
 * weight rows form the 64 lanes of 4 vectors: panel[tile][k][64]. The micro-
 * kernel is an outer product: for each k, 4 panel vectors times 6 broadcast
 * activations, 24 FMAs into 24 accumulators that map straight onto y (no
 * horizontal sums). Loops: panel (PNC rows) > row block (PMC rows; its y block
 * stays in L2) > K block (PKC) > 64-row tile (its PKC x 64 slice is reused by
 * every row tile of the block) > 6-row tile. Partial K blocks accumulate in y. */

/* Weight rows [nb, ne) -> panel[(r - nb) / 64][K][64], rows past ne zero. tmp: 16 * K floats. */
static void pack_panel_f32(const struct kernels_mm *mm, int64_t nb, int64_t ne, float *panel, float *tmp) {
    const int64_t K = mm->K;
    for (int64_t g0 = nb; g0 < ne; g0 += 16) {
        int rows = ne - g0 < 16 ? (int)(ne - g0) : 16;
        const float *src[16];
        for (int r = 0; r < 16; r++) {
            src[r] = NULL;
            if (r >= rows) continue;
            const uint8_t *row = mm->w + (size_t)(g0 + r) * mm->w_row_bytes;
            if (mm->wt == DTYPE_F32) {
                src[r] = (const float *)row;
            } else {
                avx512_dequantize_row(mm->wt, row, tmp + (size_t)r * K, K);
                src[r] = tmp + (size_t)r * K;
            }
        }
        int64_t gi = (g0 - nb) / 16;
        float *dst = panel + (size_t)(gi / 4) * (size_t)K * 64 + (gi % 4) * 16;
        for (int64_t k = 0; k < K; k += 16) {
            int kk = K - k < 16 ? (int)(K - k) : 16;
            __mmask16 m = (__mmask16)((1u << kk) - 1);
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = src[i] ? _mm512_maskz_loadu_ps(m, src[i] + k) : _mm512_setzero_ps();
            kernels_avx512_transpose16(r);
            for (int c = 0; c < kk; c++) _mm512_store_ps(dst + (size_t)(k + c) * 64, r[c]);
        }
    }
}

struct otile {
    const float *x; /* first activation row, at the K block */
    size_t ldx;
    const float *w; /* panel tile at the K block: [kc][64] */
    int64_t kc;
    float *y;
    size_t ldy;
    __mmask16 mlast;   /* valid lanes of the last vector */
    bool first;        /* first K block: start from bias (or 0) instead of y */
    const float *bias; /* bias of the tile's first column, or NULL */
};

AI void otile(int mr, int nrv, const struct otile *a) {
    __m512 acc[PMR][PNRV];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nrv; v++) {
            __mmask16 m = v == nrv - 1 ? a->mlast : 0xFFFF;
            if (!a->first)
                acc[i][v] = _mm512_maskz_loadu_ps(m, a->y + i * a->ldy + 16 * v);
            else if (a->bias)
                acc[i][v] = _mm512_maskz_loadu_ps(m, a->bias + 16 * v);
            else
                acc[i][v] = _mm512_setzero_ps();
        }
    const float *x = a->x, *w = a->w;
    for (int64_t k = 0; k < a->kc; k++, w += 64) {
        __m512 wv[PNRV];
#pragma GCC unroll 4
        for (int v = 0; v < nrv; v++) wv[v] = _mm512_load_ps(w + 16 * v);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            __m512 xb = _mm512_set1_ps(x[i * a->ldx + k]);
#pragma GCC unroll 4
            for (int v = 0; v < nrv; v++) acc[i][v] = _mm512_fmadd_ps(xb, wv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nrv; v++)
            _mm512_mask_storeu_ps(a->y + i * a->ldy + 16 * v, v == nrv - 1 ? a->mlast : 0xFFFF, acc[i][v]);
}

typedef void (*otile_fn)(const struct otile *a);
#define OT(mr, nrv)                                                                                                    \
    static void ot_##mr##_##nrv(const struct otile *a) { otile(mr, nrv, a); }
#define OT_ROW(mr) OT(mr, 1) OT(mr, 2) OT(mr, 3) OT(mr, 4)
OT_ROW(1)
OT_ROW(2) OT_ROW(3) OT_ROW(4) OT_ROW(5) OT_ROW(6)
#define OE(mr, nrv) [mr][nrv] = ot_##mr##_##nrv
#define OE_ROW(mr)  OE(mr, 1), OE(mr, 2), OE(mr, 3), OE(mr, 4)
    static const otile_fn otiles[PMR + 1][PNRV + 1] = {OE_ROW(1), OE_ROW(2), OE_ROW(3),
                                                       OE_ROW(4), OE_ROW(5), OE_ROW(6)};

static void run_f32_packed(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1, uint8_t *ts) {
    const int64_t K = mm->K;
    float *panel = (float *)ts, *tmp = panel + (size_t)PNC * (size_t)K;
    const float *x = mm->x; /* or its prepared copy: rounded to bf16 (bf16_act), x^ (quantized weights) */
    size_t ldx = (size_t)K;
    if (mm->xp) {
        x = (const float *)mm->xp;
        ldx = mm->xp_row_bytes / sizeof(float);
    }
    for (int64_t nb = n0; nb < n1; nb += PNC) {
        int64_t ne = nb + PNC < n1 ? nb + PNC : n1;
        pack_panel_f32(mm, nb, ne, panel, tmp);
        for (int64_t mb = m0; mb < m1; mb += PMC) {
            int64_t me = mb + PMC < m1 ? mb + PMC : m1;
            for (int64_t kb = 0; kb < K; kb += PKC) {
                int64_t kc = K - kb < PKC ? K - kb : PKC;
                for (int64_t n = nb; n < ne; n += 64) {
                    int cols = ne - n < 64 ? (int)(ne - n) : 64;
                    int nrv = (cols + 15) / 16;
                    struct otile a = {.ldx = ldx,
                                      .w = panel + (size_t)((n - nb) / 64) * (size_t)K * 64 + (size_t)kb * 64,
                                      .kc = kc,
                                      .ldy = (size_t)mm->N,
                                      .mlast = (__mmask16)((1u << (cols - 16 * (nrv - 1))) - 1),
                                      .first = kb == 0,
                                      .bias = mm->bias ? mm->bias + n : NULL};
                    for (int64_t m = mb; m < me; m += PMR) {
                        int mr = me - m < PMR ? (int)(me - m) : PMR;
                        a.x = x + (size_t)m * ldx + (size_t)kb;
                        a.y = mm->y + m * mm->N + n;
                        otiles[mr][nrv](&a);
                    }
                }
            }
        }
    }
}

/* ---- direct int8 engine (quantized weights, M < QPACK_MIN_M) ------------------------------
 * No packing: each weight row is read once per group of up to QMR activation
 * rows, straight from its GGUF blocks. Activation rows are prepared (prep_xq) as
 *   int8 q[Kp] | f32 dx[Kp/32] | f32 cx32[Kp/32] | f32 cx16[Kp/16]
 * with Kp = K rounded up to 256 (zero padded), dx the block scales, cx32 / cx16
 * = dx * (sum of q) per 32 / 16 values. Q4_0 stores each 4-block group of q as
 * [values 0-15 of its 4 blocks | values 16-31 of its 4 blocks], matching one
 * 64-byte load of 4 blocks' nibbles. vpdpbusd multiplies unsigned weight quants
 * (Q8_0 made unsigned by xor 0x80) with the signed activations into 16 int32
 * lanes (4 consecutive values each), converted and scaled per lane by
 * weight scale x dx (fetched with gathers / permutes per group). Offsets
 * (Q8_0: 128, Q4_0: 8, Q6_K: 32) and the K-quant mins are applied once at the
 * end through the cx sums: y = sum - sum_blocks (offset or min) * dw * cx. */

struct xq_row {
    const int8_t *q;
    const float *dx, *cx32, *cx16;
};

static int64_t kp256(int64_t K) { return round_up(K, 256); }
static size_t xq_row_bytes(int64_t K) { return (size_t)kp256(K) * 3 / 2; }

static struct xq_row xq_row(const struct kernels_mm *mm, int64_t m) {
    const uint8_t *base = mm->xp + (size_t)m * mm->xp_row_bytes;
    int64_t kp = kp256(mm->K);
    struct xq_row r = {.q = (const int8_t *)base, .dx = (const float *)(base + kp)};
    r.cx32 = r.dx + kp / 32;
    r.cx16 = r.cx32 + kp / 32;
    return r;
}

static void prep_xq(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    const int64_t nb = mm->K / KERNELS_QK;
    const bool q4 = mm->wt == DTYPE_Q4_0;
    for (int64_t m = m0; m < m1; m++) {
        const float *x = mm->x + m * mm->K;
        uint8_t *base = mm->xp + (size_t)m * mm->xp_row_bytes;
        memset(base, 0, mm->xp_row_bytes);
        struct xq_row r = xq_row(mm, m);
        int8_t *q = (int8_t *)base;
        float *dx = (float *)r.dx, *cx32 = (float *)r.cx32, *cx16 = (float *)r.cx16;
        for (int64_t b = 0; b < nb; b++) {
            __m512i i0, i1;
            float d = kernels_avx512_quant_block(x + 32 * b, &i0, &i1);
            int64_t o0 = 32 * b, o1 = 32 * b + 16;
            if (q4) { /* 4-block group layout */
                o0 = 128 * (b / 4) + 16 * (b % 4);
                o1 = o0 + 64;
            }
            _mm_storeu_si128((__m128i *)(q + o0), _mm512_cvtepi32_epi8(i0));
            _mm_storeu_si128((__m128i *)(q + o1), _mm512_cvtepi32_epi8(i1));
            float s0 = (float)_mm512_reduce_add_epi32(i0), s1 = (float)_mm512_reduce_add_epi32(i1);
            dx[b] = d;
            cx16[2 * b] = d * s0;
            cx16[2 * b + 1] = d * s1;
            cx32[b] = d * (s0 + s1);
        }
    }
}

/* Quantized then dequantized rows x^ = dx * q (f32) for the packed engine. */
static void prep_xhat(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    const int64_t nb = mm->K / KERNELS_QK;
    for (int64_t m = m0; m < m1; m++) {
        const float *x = mm->x + m * mm->K;
        float *o = (float *)(mm->xp + (size_t)m * mm->xp_row_bytes);
        for (int64_t b = 0; b < nb; b++) {
            __m512i i0, i1;
            __m512 d = _mm512_set1_ps(kernels_avx512_quant_block(x + 32 * b, &i0, &i1));
            _mm512_storeu_ps(o + 32 * b, _mm512_mul_ps(d, _mm512_cvtepi32_ps(i0)));
            _mm512_storeu_ps(o + 32 * b + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(i1)));
        }
    }
}

/* Lane index vectors: lanes of 8 from 2 entries, lanes of 4 from 4 entries. */
AI __m512i idx_pairs(int j) { /* [2j x8, 2j+1 x8] */
    return _mm512_add_epi32(_mm512_set1_epi32(2 * j), _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0));
}
AI __m512i idx_quads(int j) { /* [4j x4, 4j+1 x4, 4j+2 x4, 4j+3 x4] */
    return _mm512_add_epi32(_mm512_set1_epi32(4 * j), _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0));
}

/* 16 f16 scales at base + 0, stride, 2 * stride, ... (the first nblk; 0 past them) as f32.
 * (A 16-lane gather costs about what an 8-lane one does here, so groups are 16 blocks.) */
AI __m512 gather_f16x16(const void *base, int stride, int nblk) {
    __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                     _mm512_set1_epi32(stride));
    __mmask16 k = (__mmask16)((1u << nblk) - 1);
    __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, idx, base, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

/* Per-row state of a direct tile: 2 accumulators (alternating, for latency) and the correction sums. */
struct dacc {
    __m512 acc[QMR][2];
    __m512 corr[QMR]; /* sum of (offset or min) * scale * cx, subtracted at the end */
};

AI void dacc_zero(int mr, struct dacc *a) {
#pragma GCC unroll 4
    for (int m = 0; m < mr; m++) a->acc[m][0] = a->acc[m][1] = a->corr[m] = _mm512_setzero_ps();
}

AI void dacc_store(int mr, const struct dacc *a, float *y, size_t ldy, const float *bias) {
#pragma GCC unroll 4
    for (int m = 0; m < mr; m++) {
        float v = _mm512_reduce_add_ps(_mm512_sub_ps(_mm512_add_ps(a->acc[m][0], a->acc[m][1]), a->corr[m]));
        y[m * ldy] = v + (bias ? bias[0] : 0.0f);
    }
}

/* One group of up to 16 Q8_0 blocks (nblk is a constant 16 except in the tail). */
AI void grp_q8_0(int mr, int nblk, const struct kernels_block_q8_0 *blk, int64_t g, const struct xq_row *xr,
                 struct dacc *a) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 dw = gather_f16x16(&blk[g].d, (int)sizeof *blk, nblk);
    __m512 dwo = _mm512_mul_ps(dw, _mm512_set1_ps(128.0f));
    __m512 s[QMR];
#pragma GCC unroll 4
    for (int m = 0; m < mr; m++) {
        s[m] = _mm512_mul_ps(dw, _mm512_loadu_ps(xr[m].dx + g));
        a->corr[m] = _mm512_fmadd_ps(dwo, _mm512_loadu_ps(xr[m].cx32 + g), a->corr[m]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        if (2 * j >= nblk) break;
        __m256i lo = _mm256_loadu_si256((const __m256i *)blk[g + 2 * j].qs);
        __m256i hi =
            2 * j + 1 < nblk ? _mm256_loadu_si256((const __m256i *)blk[g + 2 * j + 1].qs) : _mm256_setzero_si256();
        __m512i w = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), flip);
        __m512i ix = idx_pairs(j);
#pragma GCC unroll 4
        for (int m = 0; m < mr; m++) {
            __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512(xr[m].q + 32 * (g + 2 * j)));
            a->acc[m][j & 1] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(ix, s[m]), a->acc[m][j & 1]);
        }
    }
}

/* Prefetch of the lines of pf + [off, off + len) (pf: a later weight row, read while this
 * one is computed, in step with it, so the requests stay spread out). */
AI void pf_range(const uint8_t *pf, size_t off, size_t len) {
    if (!pf) return;
    for (size_t o = off & ~(size_t)63; o < off + len; o += 64) _mm_prefetch((const char *)(pf + o), PF_HINT);
}

AI void dq_q8_0(int mr, const uint8_t *row, const uint8_t *pf, const struct xq_row *xr, int64_t K, struct dacc *a) {
    const struct kernels_block_q8_0 *blk = (const struct kernels_block_q8_0 *)row;
    const int64_t nb = K / KERNELS_QK;
    int64_t g = 0;
    for (; g + 16 <= nb; g += 16) {
        pf_range(pf, (size_t)g * sizeof *blk, 16 * sizeof *blk);
        grp_q8_0(mr, 16, blk, g, xr, a);
    }
    if (g < nb) {
        pf_range(pf, (size_t)g * sizeof *blk, (size_t)(nb - g) * sizeof *blk);
        grp_q8_0(mr, (int)(nb - g), blk, g, xr, a);
    }
}

/* One group of up to 16 Q4_0 blocks, as four 4-block quarters (nblk constant 16 except in the tail). */
AI void grp_q4_0(int mr, int nblk, const struct kernels_block_q4_0 *blk, int64_t g, const struct xq_row *xr,
                 struct dacc *a) {
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 dw = gather_f16x16(&blk[g].d, (int)sizeof *blk, nblk);
    __m512 dwo = _mm512_mul_ps(dw, _mm512_set1_ps(8.0f));
    __m512 s[QMR];
#pragma GCC unroll 4
    for (int m = 0; m < mr; m++) {
        s[m] = _mm512_mul_ps(dw, _mm512_loadu_ps(xr[m].dx + g));
        a->corr[m] = _mm512_fmadd_ps(dwo, _mm512_loadu_ps(xr[m].cx32 + g), a->corr[m]);
    }
#pragma GCC unroll 4
    for (int h = 0; h < 4; h++) {
        if (4 * h >= nblk) break;
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)blk[g + 4 * h].qs));
        v = _mm512_inserti32x4(
            v, 4 * h + 1 < nblk ? _mm_loadu_si128((const __m128i *)blk[g + 4 * h + 1].qs) : _mm_setzero_si128(), 1);
        v = _mm512_inserti32x4(
            v, 4 * h + 2 < nblk ? _mm_loadu_si128((const __m128i *)blk[g + 4 * h + 2].qs) : _mm_setzero_si128(), 2);
        v = _mm512_inserti32x4(
            v, 4 * h + 3 < nblk ? _mm_loadu_si128((const __m128i *)blk[g + 4 * h + 3].qs) : _mm_setzero_si128(), 3);
        __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        __m512i ix = idx_quads(h);
#pragma GCC unroll 4
        for (int m = 0; m < mr; m++) {
            const int8_t *xq = xr[m].q + 32 * (g + 4 * h);
            __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(xq));
            d = _mm512_dpbusd_epi32(d, hi, _mm512_loadu_si512(xq + 64));
            a->acc[m][h & 1] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(ix, s[m]), a->acc[m][h & 1]);
        }
    }
}

AI void dq_q4_0(int mr, const uint8_t *row, const uint8_t *pf, const struct xq_row *xr, int64_t K, struct dacc *a) {
    const struct kernels_block_q4_0 *blk = (const struct kernels_block_q4_0 *)row;
    const int64_t nb = K / KERNELS_QK;
    int64_t g = 0;
    for (; g + 16 <= nb; g += 16) {
        pf_range(pf, (size_t)g * sizeof *blk, 16 * sizeof *blk);
        grp_q4_0(mr, 16, blk, g, xr, a);
    }
    if (g < nb) {
        pf_range(pf, (size_t)g * sizeof *blk, (size_t)(nb - g) * sizeof *blk);
        grp_q4_0(mr, (int)(nb - g), blk, g, xr, a);
    }
}

/* Q4_K / Q5_K 6-bit scales and mins of a super-block, as 8 + 8 bytes (ggml's bit trick). */
AI __m128i k4_scales_mins(const uint8_t *scales) {
    uint32_t u[4];
    memcpy(u, scales, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    uint32_t t = u[1] & 0x3f3f3f3fu;
    u[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    u[2] = t;
    u[0] &= 0x3f3f3f3fu;
    return _mm_loadu_si128((const __m128i *)u); /* bytes 0-7: scales, 8-15: mins */
}

/* Common K-quant step: 64 values z (u8) of chunk c (0..3) of super-block sb. */
AI void dq_k_chunk(int mr, __m512i z, int c, int64_t sb, const struct xq_row *xr, const __m512 *s, struct dacc *a) {
    __m512i ix = idx_pairs(c);
#pragma GCC unroll 4
    for (int m = 0; m < mr; m++) {
        __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z, _mm512_loadu_si512(xr[m].q + 256 * sb + 64 * c));
        a->acc[m][c & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(ix, s[m]), a->acc[m][c & 1]);
    }
}

AI void dq_q45_K(int mr, bool q5, const uint8_t *row, const uint8_t *pf, const struct xq_row *xr, int64_t K,
                 struct dacc *a) {
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    const size_t bs = q5 ? sizeof(struct kernels_block_q5_K) : sizeof(struct kernels_block_q4_K);
    for (int64_t sb = 0; sb < K / KERNELS_QK_K; sb++) {
        pf_range(pf, (size_t)sb * bs, bs);
        const uint8_t *b = row + (size_t)sb * bs;
        const uint16_t *dd = (const uint16_t *)b; /* d, dmin */
        const uint8_t *scales = b + 4, *qh = b + 16, *qs = q5 ? b + 48 : b + 16;
        __m128i sm = k4_scales_mins(scales);
        __m256 sc = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dd[0])), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm)));
        __m256 mn = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(dd[1])),
                                  _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
        __m512 s[QMR];
#pragma GCC unroll 4
        for (int m = 0; m < mr; m++) {
            s[m] = _mm512_castps256_ps512(_mm256_mul_ps(sc, _mm256_loadu_ps(xr[m].dx + 8 * sb)));
            a->corr[m] = _mm512_add_ps(a->corr[m],
                                       _mm512_castps256_ps512(_mm256_mul_ps(mn, _mm256_loadu_ps(xr[m].cx32 + 8 * sb))));
        }
        __m256i hb = q5 ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (q5) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one), 4));
            }
            dq_k_chunk(mr, _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), c, sb, xr, s, a);
        }
    }
}

AI void dq_q6_K(int mr, const uint8_t *row, const uint8_t *pf, const struct xq_row *xr, int64_t K, struct dacc *a) {
    const __m512i m4 = _mm512_set1_epi8(0xF), m3 = _mm512_set1_epi8(3);
    const __m512i dup2 = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    for (int64_t sb = 0; sb < K / KERNELS_QK_K; sb++) {
        pf_range(pf, (size_t)sb * sizeof(struct kernels_block_q6_K), sizeof(struct kernels_block_q6_K));
        const struct kernels_block_q6_K *b = (const struct kernels_block_q6_K *)row + sb;
        __m512 sc =
            _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b->d)),
                          _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->scales))));
        __m512 s[QMR];
#pragma GCC unroll 4
        for (int m = 0; m < mr; m++) { /* per 16 values: scale * dx of its block */
            __m512 dx16 = _mm512_permutexvar_ps(dup2, _mm512_castps256_ps512(_mm256_loadu_ps(xr[m].dx + 8 * sb)));
            s[m] = _mm512_mul_ps(sc, dx16);
            a->corr[m] = _mm512_fmadd_ps(_mm512_mul_ps(sc, _mm512_set1_ps(32.0f)),
                                         _mm512_loadu_ps(xr[m].cx16 + 16 * sb), a->corr[m]);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i ql = _mm512_loadu_si512(b->ql + 64 * h);
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            __m512i z0 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(qh2, m3), 4));
            __m512i z1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                         _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh2, 4), m3), 4));
#pragma GCC unroll 2
            for (int c = 0; c < 2; c++) {
                int q = 2 * h + c; /* 64-value chunk of the super-block: sub-blocks 4q..4q+3 */
                __m512i ix = idx_quads(q);
#pragma GCC unroll 4
                for (int m = 0; m < mr; m++) {
                    __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c ? z1 : z0,
                                                    _mm512_loadu_si512(xr[m].q + 256 * sb + 64 * q));
                    a->acc[m][q & 1] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(ix, s[m]), a->acc[m][q & 1]);
                }
            }
        }
    }
}

AI void dtile(enum dtype wt, int mr, const struct kernels_mm *mm, int64_t m, int64_t n, const uint8_t *pf) {
    struct xq_row xr[QMR];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) xr[i] = xq_row(mm, m + i);
    const uint8_t *row = mm->w + (size_t)n * mm->w_row_bytes;
    struct dacc a;
    dacc_zero(mr, &a);
    if (wt == DTYPE_Q8_0)
        dq_q8_0(mr, row, pf, xr, mm->K, &a);
    else if (wt == DTYPE_Q4_0)
        dq_q4_0(mr, row, pf, xr, mm->K, &a);
    else if (wt == DTYPE_Q4_K)
        dq_q45_K(mr, false, row, pf, xr, mm->K, &a);
    else if (wt == DTYPE_Q5_K)
        dq_q45_K(mr, true, row, pf, xr, mm->K, &a);
    else
        dq_q6_K(mr, row, pf, xr, mm->K, &a);
    dacc_store(mr, &a, mm->y + m * mm->N + n, (size_t)mm->N, mm->bias ? mm->bias + n : NULL);
}

typedef void (*dtile_fn)(const struct kernels_mm *mm, int64_t m, int64_t n, const uint8_t *pf);
#define DT(name, wt, mr)                                                                                               \
    static void dt_##name##_##mr(const struct kernels_mm *mm, int64_t m, int64_t n, const uint8_t *pf) {            \
        dtile(wt, mr, mm, m, n, pf);                                                                                   \
    }
#define DT_TYPE(name, wt) DT(name, wt, 1) DT(name, wt, 2) DT(name, wt, 3) DT(name, wt, 4)
DT_TYPE(q8_0, DTYPE_Q8_0)
DT_TYPE(q4_0, DTYPE_Q4_0)
DT_TYPE(q4_K, DTYPE_Q4_K)
DT_TYPE(q5_K, DTYPE_Q5_K)
DT_TYPE(q6_K, DTYPE_Q6_K)
#define DE(name)                                                                                                       \
    { NULL, dt_##name##_1, dt_##name##_2, dt_##name##_3, dt_##name##_4 }
static const dtile_fn dtiles[5][QMR + 1] = {DE(q8_0), DE(q4_0), DE(q4_K), DE(q5_K), DE(q6_K)};

static int qtype_index(enum dtype t) {
    switch (t) {
    case DTYPE_Q8_0:
        return 0;
    case DTYPE_Q4_0:
        return 1;
    case DTYPE_Q4_K:
        return 2;
    case DTYPE_Q5_K:
        return 3;
    default:
        return 4; /* Q6_K */
    }
}

/* Weight rows are read in order; the row about PF_BYTES ahead is prefetched
 * into L2 while this one is computed, a slice per block group in step with it
 * (hardware prefetchers alone leave DRAM bandwidth unused here, and a whole row
 * of prefetches at once stalls on the fill buffers). */
static void run_q_direct(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const dtile_fn *fns = dtiles[qtype_index(mm->wt)];
    const int64_t ahead = 1 + (int64_t)(PF_BYTES / mm->w_row_bytes);
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *pf = n + ahead < n1 ? mm->w + (size_t)(n + ahead) * mm->w_row_bytes : NULL;
        for (int64_t m = m0; m < m1; m += QMR) fns[m1 - m < QMR ? m1 - m : QMR](mm, m, n, m == m0 ? pf : NULL);
    }
}

/* ---- table ---------------------------------------------------------------------------------- */

static bool use_amx(const struct kernels_mm *mm) {
    return mm->bf16_act && mm->M >= KERNELS_AMX_MIN_M && cpu_features_get()->amx_bf16;
}

static bool use_amxi8(const struct kernels_mm *mm) {
    return (mm->wt == DTYPE_Q8_0 || mm->wt == DTYPE_Q4_0) && mm->M >= AMXI8_MIN_M && cpu_features_get()->amx_int8;
}

static bool use_packed(const struct kernels_mm *mm) {
    return mm->M >= (dtype_is_quantized(mm->wt) ? QPACK_MIN_M : PACK_MIN_M);
}

/* Q8_0 / Q4_0 with a few rows: the VNNI column tiles (avx512_vnni_cols.c). Below
 * VC_MIN_M the direct tiles read the weights with less work per byte (decode). */
static bool use_vcols(const struct kernels_mm *mm) {
    int64_t lo = mm->wt == DTYPE_Q8_0 ? VC_MIN_M_Q8_0 : mm->wt == DTYPE_Q4_0 ? VC_MIN_M_Q4_0 : INT64_MAX;
    return mm->M >= lo && mm->M < VC_MAX_M;
}

static size_t avx512_mm_xp_row_bytes(const struct kernels_mm *mm) {
    bool q = dtype_is_quantized(mm->wt), packed = use_packed(mm);
    if (use_vcols(mm)) return kernels_avx512_vcols_xp_row_bytes(mm->K);
    if (use_amxi8(mm)) return kernels_avx512_amxi8_xp_row_bytes(mm->K);
    if (q && !packed) return xq_row_bytes(mm->K);
    if (use_amx(mm)) return kernels_avx512_amx_xp_row_bytes(mm->K);
    if ((mm->wt == DTYPE_BF16 && !packed) || mm->bf16_act || q)
        return (size_t)round_up(mm->K * (int64_t)sizeof(float), 64);
    return 0;
}

static size_t avx512_mm_thread_bytes(const struct kernels_mm *mm) {
    if (use_amx(mm)) return kernels_avx512_amx_thread_bytes(mm->M, mm->K);
    if (use_vcols(mm)) return kernels_avx512_vcols_thread_bytes(mm->K);
    if (use_amxi8(mm)) return kernels_avx512_amxi8_thread_bytes(mm->M, mm->K);
    if (use_packed(mm)) return (size_t)(PNC + 16) * (size_t)mm->K * sizeof(float);
    return 0;
}

static void avx512_mm_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    bool q = dtype_is_quantized(mm->wt), packed = use_packed(mm);
    if (use_vcols(mm))
        kernels_avx512_vcols_prep_x(mm, m0, m1);
    else if (use_amxi8(mm))
        kernels_avx512_amxi8_prep_x(mm, m0, m1);
    else if (q)
        packed ? prep_xhat(mm, m0, m1) : prep_xq(mm, m0, m1);
    else if (use_amx(mm))
        kernels_avx512_amx_prep_x(mm, m0, m1);
    else if (mm->wt == DTYPE_BF16 && !packed)
        prep_bf16(mm, m0, m1);
    else if (mm->bf16_act)
        prep_round(mm, m0, m1);
}

static void avx512_mm_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1, uint8_t *ts) {
    if (use_amx(mm))
        kernels_avx512_amx_run(mm, m0, m1, n0, n1, ts);
    else if (use_vcols(mm))
        kernels_avx512_vcols_run(mm, m0, m1, n0, n1, ts);
    else if (use_amxi8(mm))
        kernels_avx512_amxi8_run(mm, m0, m1, n0, n1, ts);
    else if (use_packed(mm))
        run_f32_packed(mm, m0, m1, n0, n1, ts);
    else if (dtype_is_quantized(mm->wt))
        run_q_direct(mm, m0, m1, n0, n1);
    else
        run_f32_direct(mm, m0, m1, n0, n1);
}

static bool avx512_available(const struct cpu_features *f) {
    return f->avx2 && f->fma && f->f16c && f->avx512f && f->avx512bw && f->avx512vl && f->avx512_vnni;
}

static const char *avx512_impl_name(enum dtype t) { return dtype_is_quantized(t) ? "avx512vnni" : "avx512"; }

const struct kernels_isa kernels_isa_avx512 = {
    .name = "avx512",
    .available = avx512_available,
    .impl_name = avx512_impl_name,
    .mm_xp_row_bytes = avx512_mm_xp_row_bytes,
    .mm_thread_bytes = avx512_mm_thread_bytes,
    .mm_prep_x = avx512_mm_prep_x,
    .mm_run = avx512_mm_run,
    .dequantize_row = avx512_dequantize_row,
    .rmsnorm = kernels_avx512_rmsnorm,
    .silu_mul = kernels_avx512_silu_mul,
    .softmax = kernels_avx512_softmax,
    .dot_f32 = kernels_avx512_dot_f32,
    .axpy_f32 = kernels_avx512_axpy_f32,
    .attention = kernels_avx512_attention,
};
