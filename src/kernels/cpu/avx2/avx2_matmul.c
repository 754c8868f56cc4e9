/* avx2_matmul: AVX2+FMA+F16C matmul, dequantization and the kernels_isa_avx2
 * table: the fallback for CPUs without AVX-512. It has only "direct"
 * dot-product register tiles (accumulators along K, one horizontal sum per
 * output; 8-lane vectors, 16 registers), used for every M; the packed prefill,
 * AMX and software-prefetch refinements of avx512_matmul.c are not ported.
 *
 *   f32 engine (F32, F16, BF16; Q4_K/Q5_K/Q6_K rows dequantized into thread
 *     scratch and dotted with x^, the quantized-dequantized activations of the
 *     spec): tiles of up to 3 activation rows x 3 weight rows (1 x 8 when
 *     M == 1); BF16 uses the shift/mask trick on 16-value loads with x permuted
 *     per 16 values into [8 even | 8 odd]. Tails (K % 8, or K % 16 for BF16)
 *     go through zero-padded stack copies.
 *   int16 engine (Q8_0, Q4_0): without VNNI, and since vpmaddubsw would
 *     saturate on Q8_0's full signed range, both sides are widened to int16 and
 *     multiplied with vpmaddwd: x rows become { int16 q[K]; f32 d[nb] }, weight
 *     panels { int16 w[K] (Q4_0: q - 8); f32 d[nb] }. Per block of 32:
 *     two vpmaddwd + add give 8 exact int32 lanes, converted and scaled by
 *     dw * dx. No offset correction is needed.
 *
 * Thread safety: mm_run touches only its y block and its thread scratch `ts`. */
#include <immintrin.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/cpu/avx2/avx2.h"
#include "kernels/kernels_impl.h"

#define AI static inline __attribute__((always_inline))

enum {
    MR = 3,
    NR = 3,
    NR1 = 8,
    QMR = 2,
    QNR = 4,
    L2_BLOCK_BYTES = 768 * 1024,
};

enum wkind { WK_F32, WK_F16, WK_BF16 };

static bool is_kquant(enum dtype t) { return t == DTYPE_Q4_K || t == DTYPE_Q5_K || t == DTYPE_Q6_K; }
static bool is_q(enum dtype t) { return t == DTYPE_Q8_0 || t == DTYPE_Q4_0; }
static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* ---- dequantization ---------------------------------------------------------------- */

AI __m256 i8x8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }
AI __m256 u8x8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }

/* 16 signed bytes times d -> y[0..16). */
AI void deq16_s8(__m128i q, __m256 d, float *y) {
    _mm256_storeu_ps(y, _mm256_mul_ps(d, i8x8_to_ps(q)));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(d, i8x8_to_ps(_mm_srli_si128(q, 8))));
}

static void deq_q8_0(const struct kernels_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        deq16_s8(_mm_loadu_si128((const __m128i *)b[i].qs), d, y);
        deq16_s8(_mm_loadu_si128((const __m128i *)(b[i].qs + 16)), d, y + 16);
    }
}

static void deq_q4_0(const struct kernels_block_q4_0 *b, float *y, int64_t nb) {
    const __m128i m4 = _mm_set1_epi8(0xF), eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < nb; i++, y += 32) {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        deq16_s8(_mm_sub_epi8(_mm_and_si128(q, m4), eight), d, y);
        deq16_s8(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight), d, y + 16);
    }
}

/* 32 values q (u8) -> y = d1 * q - m1. */
AI void deq32_affine(__m256i q, float d1, float m1, float *y) {
    __m256 d = _mm256_set1_ps(d1), m = _mm256_set1_ps(m1);
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_to_ps(lo)), m));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_to_ps(_mm_srli_si128(lo, 8))), m));
    _mm256_storeu_ps(y + 16, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_to_ps(hi)), m));
    _mm256_storeu_ps(y + 24, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_to_ps(_mm_srli_si128(hi, 8))), m));
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
    __m256i s = _mm256_sub_epi8(q, _mm256_set1_epi8(32));
    __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
    __m256 d0 = _mm256_set1_ps(d * sc[0]), d1 = _mm256_set1_ps(d * sc[1]);
    _mm256_storeu_ps(y, _mm256_mul_ps(d0, i8x8_to_ps(lo)));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(d0, i8x8_to_ps(_mm_srli_si128(lo, 8))));
    _mm256_storeu_ps(y + 16, _mm256_mul_ps(d1, i8x8_to_ps(hi)));
    _mm256_storeu_ps(y + 24, _mm256_mul_ps(d1, i8x8_to_ps(_mm_srli_si128(hi, 8))));
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

static void avx2_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n) {
    int64_t nb = n / dtype_block_size(t), i = 0;
    const uint16_t *s = src;
    switch (t) {
    case DTYPE_F16:
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
        for (; i < n; i++) dst[i] = fp16_f16_to_f32(s[i]);
        break;
    case DTYPE_BF16:
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_si256(
                (__m256i *)(dst + i),
                _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + i))), 16));
        for (; i < n; i++) dst[i] = fp16_bf16_to_f32(s[i]);
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
    default:
        kernels_ref_dequantize_row(t, src, dst, n);
        break; /* F32 (memcpy), Q8_K */
    }
}

/* ---- reductions and stores ------------------------------------------------------------ */

AI __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

AI void store_row(int nr, const __m256 *acc, float *y, const float *bias) {
    const __m256 z = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int jg = 0; jg < nr; jg += 4) {
        int cnt = nr - jg < 4 ? nr - jg : 4;
        __m128 s = hsum4(acc[jg], cnt > 1 ? acc[jg + 1] : z, cnt > 2 ? acc[jg + 2] : z, cnt > 3 ? acc[jg + 3] : z);
        float out[4];
        _mm_storeu_ps(out, s);
        for (int j = 0; j < cnt; j++) y[jg + j] = out[j] + (bias ? bias[jg + j] : 0.0f);
    }
}

/* ---- f32 engine ----------------------------------------------------------------------- */

struct ftile {
    const float *x;
    size_t ldx; /* floats */
    const uint8_t *w;
    size_t ldw; /* bytes */
    int64_t K;
    float *y;
    size_t ldy;
    const float *bias;
};

AI __m256 load_w8(enum wkind kind, const uint8_t *row, int64_t k) {
    if (kind == WK_F32) return _mm256_loadu_ps((const float *)row + k);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k));
    if (kind == WK_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* Weight values [k, K) of a row (fewer than 16) as zero-padded f32. */
AI void tail_w(enum wkind kind, const uint8_t *row, int64_t k, int64_t K, float *out) {
    for (int64_t t = 0; t < 16; t++) {
        float v = 0.0f;
        if (k + t < K) {
            if (kind == WK_F32)
                v = ((const float *)row)[k + t];
            else if (kind == WK_F16)
                v = fp16_f16_to_f32(((const uint16_t *)row)[k + t]);
            else
                v = fp16_bf16_to_f32(((const uint16_t *)row)[k + t]);
        }
        out[t] = v;
    }
}

AI void ftile(enum wkind kind, int mr, int nr, const struct ftile *a) {
    __m256 acc[MR][NR1];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 8
        for (int j = 0; j < nr; j++) acc[i][j] = _mm256_setzero_ps();
    const int64_t K = a->K;
    const float *x = a->x;
    const uint8_t *w = a->w;
    int64_t k = 0;
    if (kind == WK_BF16) {
        const __m256i hi_mask = _mm256_set1_epi32((int)0xFFFF0000u);
        for (; k + 16 <= K; k += 16) {
            __m256 wv[NR1];
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++)
                wv[j] = _mm256_castsi256_ps(
                    _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(w + j * a->ldw + 2 * k)), 16));
#pragma GCC unroll 8
            for (int i = 0; i < mr; i++) {
                __m256 xv = _mm256_loadu_ps(x + i * a->ldx + k);
#pragma GCC unroll 8
                for (int j = 0; j < nr; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
            }
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++)
                wv[j] = _mm256_castsi256_ps(
                    _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(w + j * a->ldw + 2 * k)), hi_mask));
#pragma GCC unroll 8
            for (int i = 0; i < mr; i++) {
                __m256 xv = _mm256_loadu_ps(x + i * a->ldx + k + 8);
#pragma GCC unroll 8
                for (int j = 0; j < nr; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
            }
        }
    } else {
        for (; k + 8 <= K; k += 8) {
            __m256 wv[NR1];
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++) wv[j] = load_w8(kind, w + j * a->ldw, k);
#pragma GCC unroll 8
            for (int i = 0; i < mr; i++) {
                __m256 xv = _mm256_loadu_ps(x + i * a->ldx + k);
#pragma GCC unroll 8
                for (int j = 0; j < nr; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
            }
        }
    }
    if (k < K) { /* tail: fewer than 16 values, unpermuted */
        float wt[NR1][16], xt[16];
        for (int j = 0; j < nr; j++) tail_w(kind, w + j * a->ldw, k, K, wt[j]);
        for (int i = 0; i < mr; i++) {
            for (int64_t t = 0; t < 16; t++) xt[t] = k + t < K ? x[i * a->ldx + k + t] : 0.0f;
            for (int h = 0; h < 16; h += 8) {
                __m256 xv = _mm256_loadu_ps(xt + h);
                for (int j = 0; j < nr; j++) acc[i][j] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wt[j] + h), acc[i][j]);
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) store_row(nr, acc[i], a->y + i * a->ldy, a->bias);
}

typedef void (*ftile_fn)(const struct ftile *a);

#define FT(kind, mr, nr)                                                                                               \
    static void ft_##kind##_##mr##_##nr(const struct ftile *a) { ftile(kind, mr, nr, a); }
#define FT_ROW(kind, mr) FT(kind, mr, 1) FT(kind, mr, 2) FT(kind, mr, 3)
#define FT_KIND(kind)                                                                                                  \
    FT_ROW(kind, 1)                                                                                                    \
    FT_ROW(kind, 2) FT_ROW(kind, 3) FT(kind, 1, 4) FT(kind, 1, 5) FT(kind, 1, 6) FT(kind, 1, 7) FT(kind, 1, 8)
FT_KIND(WK_F32)
FT_KIND(WK_F16)
FT_KIND(WK_BF16)

#define FE(kind, mr, nr) [mr][nr] = ft_##kind##_##mr##_##nr
#define FE_ROW(kind, mr) FE(kind, mr, 1), FE(kind, mr, 2), FE(kind, mr, 3)
#define FE_KIND(kind)                                                                                                  \
    {                                                                                                                  \
        FE_ROW(kind, 1), FE_ROW(kind, 2), FE_ROW(kind, 3), FE(kind, 1, 4), FE(kind, 1, 5), FE(kind, 1, 6),             \
            FE(kind, 1, 7), FE(kind, 1, 8)                                                                             \
    }
static const ftile_fn ftiles[3][MR + 1][NR1 + 1] = {FE_KIND(WK_F32), FE_KIND(WK_F16), FE_KIND(WK_BF16)};

/* x rounded to bf16 (round to nearest even, NaN kept quiet: fp16_f32_to_bf16), as f32. */
AI __m256 round_bf16(__m256 v) {
    __m256i u = _mm256_castps_si256(v);
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff),
                                                     _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1))));
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)), nan);
    return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u)));
}

/* BF16: x row copy with each full 16-value chunk permuted to [8 even | 8 odd];
 * values rounded to bf16 when mm->bf16_act. */
static void prep_bf16(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const bool rnd = mm->bf16_act;
    for (int64_t m = m0; m < m1; m++) {
        const float *x = mm->x + m * mm->K;
        float *o = (float *)(mm->xp + (size_t)m * mm->xp_row_bytes);
        int64_t k = 0;
        for (; k + 16 <= mm->K; k += 16) {
            /* a = x0..x7, b = x8..x15; within each: [e0 e1 e2 e3 o0 o1 o2 o3] after the permute */
            __m256 a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + k), perm);
            __m256 b = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + k + 8), perm);
            if (rnd) {
                a = round_bf16(a);
                b = round_bf16(b);
            }
            _mm256_storeu_ps(o + k, _mm256_permute2f128_ps(a, b, 0x20));     /* evens */
            _mm256_storeu_ps(o + k + 8, _mm256_permute2f128_ps(a, b, 0x31)); /* odds */
        }
        for (; k < mm->K; k++) o[k] = rnd ? fp16_bf16_to_f32(fp16_f32_to_bf16(x[k])) : x[k];
    }
}

static int64_t rows_per_block(size_t row_bytes, int mr) {
    int64_t mc = (int64_t)(L2_BLOCK_BYTES / (row_bytes ? row_bytes : 1));
    mc = mc / mr * mr;
    return mc < mr ? mr : mc;
}

static void run_f32(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1, uint8_t *ts) {
    const int64_t K = mm->K;
    const bool kq = is_kquant(mm->wt);
    const enum wkind kind = mm->wt == DTYPE_F16 ? WK_F16 : mm->wt == DTYPE_BF16 ? WK_BF16 : WK_F32;
    const float *x = mm->x; /* or its prepared copy: even/odd permuted (BF16), x^ (K-quants) */
    size_t ldx = (size_t)K;
    if (mm->xp) {
        x = (const float *)mm->xp;
        ldx = mm->xp_row_bytes / sizeof(float);
    }
    const int nrmax = m1 - m0 == 1 ? NR1 : NR;
    const int64_t mc = rows_per_block(ldx * sizeof(float), MR);
    for (int64_t mb = m0; mb < m1; mb += mc) {
        int64_t me = mb + mc < m1 ? mb + mc : m1;
        for (int64_t n = n0; n < n1; n += nrmax) {
            int nr = n1 - n < nrmax ? (int)(n1 - n) : nrmax;
            const uint8_t *w = mm->w + (size_t)n * mm->w_row_bytes;
            size_t ldw = mm->w_row_bytes;
            if (kq) {
                for (int r = 0; r < nr; r++)
                    avx2_dequantize_row(mm->wt, w + (size_t)r * mm->w_row_bytes, (float *)ts + (size_t)r * K, K);
                w = ts;
                ldw = (size_t)K * sizeof(float);
            }
            for (int64_t m = mb; m < me; m += MR) {
                int mr = me - m < MR ? (int)(me - m) : MR;
                struct ftile a = {.x = x + (size_t)m * ldx,
                                  .ldx = ldx,
                                  .w = w,
                                  .ldw = ldw,
                                  .K = K,
                                  .y = mm->y + m * mm->N + n,
                                  .ldy = (size_t)mm->N,
                                  .bias = mm->bias ? mm->bias + n : NULL};
                ftiles[kind][mr][nr](&a);
            }
        }
    }
}

/* ---- int16 engine ----------------------------------------------------------------------- */

/* Row layout of prepared x and of panels: int16 v[K], then f32 d[nb] (nb rounded up to 16). */
static size_t q16_bytes(int64_t K) { return (size_t)round_up(2 * K + 4 * round_up(K / KERNELS_QK, 16), 64); }

/* The spec's block quantizer on 32 values: q in i[0..3] (8 values each); returns d. */
AI float quant_block(const float *x, __m256i i[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 am = _mm256_setzero_ps();
    for (int t = 0; t < 4; t++) {
        v[t] = _mm256_loadu_ps(x + 8 * t);
        am = _mm256_max_ps(am, _mm256_andnot_ps(sign, v[t]));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(am), _mm256_extractf128_ps(am, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float amax = _mm_cvtss_f32(h);
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256 vid = _mm256_set1_ps(id);
    for (int t = 0; t < 4; t++) i[t] = _mm256_cvtps_epi32(_mm256_mul_ps(v[t], vid));
    return d;
}

/* Q8_0 / Q4_0: rows of int16 q[K] | f32 d[nb]. */
static void prep_q(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    const int64_t nb = mm->K / KERNELS_QK;
    for (int64_t m = m0; m < m1; m++) {
        const float *x = mm->x + m * mm->K;
        uint8_t *row = mm->xp + (size_t)m * mm->xp_row_bytes;
        int16_t *q = (int16_t *)row;
        float *ds = (float *)(row + 2 * mm->K);
        for (int64_t b = 0; b < nb; b++) {
            __m256i i[4];
            ds[b] = quant_block(x + 32 * b, i);
            _mm256_storeu_si256((__m256i *)(q + 32 * b),
                                _mm256_permute4x64_epi64(_mm256_packs_epi32(i[0], i[1]), 0xD8));
            _mm256_storeu_si256((__m256i *)(q + 32 * b + 16),
                                _mm256_permute4x64_epi64(_mm256_packs_epi32(i[2], i[3]), 0xD8));
        }
    }
}

/* K-quants: quantized then dequantized rows x^ = d * q (f32) for the f32 engine. */
static void prep_xhat(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    const int64_t nb = mm->K / KERNELS_QK;
    for (int64_t m = m0; m < m1; m++) {
        const float *x = mm->x + m * mm->K;
        float *o = (float *)(mm->xp + (size_t)m * mm->xp_row_bytes);
        for (int64_t b = 0; b < nb; b++) {
            __m256i i[4];
            __m256 d = _mm256_set1_ps(quant_block(x + 32 * b, i));
            for (int t = 0; t < 4; t++)
                _mm256_storeu_ps(o + 32 * b + 8 * t, _mm256_mul_ps(d, _mm256_cvtepi32_ps(i[t])));
        }
    }
}

static void pack_q(enum dtype wt, const uint8_t *src, int64_t K, uint8_t *row) {
    const int64_t nb = K / KERNELS_QK;
    int16_t *q = (int16_t *)row;
    float *ds = (float *)(row + 2 * K);
    if (wt == DTYPE_Q8_0) {
        const struct kernels_block_q8_0 *b = (const struct kernels_block_q8_0 *)src;
        for (int64_t i = 0; i < nb; i++) {
            _mm256_storeu_si256((__m256i *)(q + 32 * i),
                                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[i].qs)));
            _mm256_storeu_si256((__m256i *)(q + 32 * i + 16),
                                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b[i].qs + 16))));
            ds[i] = _cvtsh_ss(b[i].d);
        }
    } else {
        const struct kernels_block_q4_0 *b = (const struct kernels_block_q4_0 *)src;
        const __m128i m4 = _mm_set1_epi8(0xF), eight = _mm_set1_epi8(8);
        for (int64_t i = 0; i < nb; i++) {
            __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
            __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m4), eight);
            __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), eight);
            _mm256_storeu_si256((__m256i *)(q + 32 * i), _mm256_cvtepi8_epi16(lo));
            _mm256_storeu_si256((__m256i *)(q + 32 * i + 16), _mm256_cvtepi8_epi16(hi));
            ds[i] = _cvtsh_ss(b[i].d);
        }
    }
}

struct qtile {
    const uint8_t *x;
    size_t ldx;
    const uint8_t *p;
    size_t ldp;
    int64_t K;
    float *y;
    size_t ldy;
    const float *bias;
};

AI void qtile(int mr, int nr, const struct qtile *a) {
    __m256 acc[QMR][QNR];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 8
        for (int j = 0; j < nr; j++) acc[i][j] = _mm256_setzero_ps();
    const int64_t nb = a->K / KERNELS_QK;
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            const uint8_t *xr = a->x + i * a->ldx;
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(xr + 64 * b));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(xr + 64 * b + 32));
            __m256 xd = _mm256_broadcast_ss((const float *)(xr + 2 * a->K) + b);
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++) {
                const uint8_t *pr = a->p + j * a->ldp;
                __m256i t =
                    _mm256_add_epi32(_mm256_madd_epi16(x0, _mm256_loadu_si256((const __m256i *)(pr + 64 * b))),
                                     _mm256_madd_epi16(x1, _mm256_loadu_si256((const __m256i *)(pr + 64 * b + 32))));
                __m256 s = _mm256_mul_ps(_mm256_broadcast_ss((const float *)(pr + 2 * a->K) + b), xd);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), s, acc[i][j]);
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) store_row(nr, acc[i], a->y + i * a->ldy, a->bias);
}

typedef void (*qtile_fn)(const struct qtile *a);
#define QT(mr, nr)                                                                                                     \
    static void qt_##mr##_##nr(const struct qtile *a) { qtile(mr, nr, a); }
QT(1, 1)
QT(1, 2) QT(1, 3) QT(1, 4) QT(2, 1) QT(2, 2) QT(2, 3) QT(2, 4)
#define QE(mr, nr) [mr][nr] = qt_##mr##_##nr
    static const qtile_fn qtiles[QMR + 1][QNR + 1] = {QE(1, 1), QE(1, 2), QE(1, 3), QE(1, 4),
                                                      QE(2, 1), QE(2, 2), QE(2, 3), QE(2, 4)};

static void run_q(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1, uint8_t *ts) {
    const size_t pb = q16_bytes(mm->K);
    const int64_t mc = rows_per_block(pb, QMR);
    for (int64_t mb = m0; mb < m1; mb += mc) {
        int64_t me = mb + mc < m1 ? mb + mc : m1;
        for (int64_t n = n0; n < n1; n += QNR) {
            int nr = n1 - n < QNR ? (int)(n1 - n) : QNR;
            for (int r = 0; r < nr; r++) pack_q(mm->wt, mm->w + (size_t)(n + r) * mm->w_row_bytes, mm->K, ts + r * pb);
            for (int64_t m = mb; m < me; m += QMR) {
                int mr = me - m < QMR ? (int)(me - m) : QMR;
                struct qtile a = {.x = mm->xp + (size_t)m * mm->xp_row_bytes,
                                  .ldx = mm->xp_row_bytes,
                                  .p = ts,
                                  .ldp = pb,
                                  .K = mm->K,
                                  .y = mm->y + m * mm->N + n,
                                  .ldy = (size_t)mm->N,
                                  .bias = mm->bias ? mm->bias + n : NULL};
                qtiles[mr][nr](&a);
            }
        }
    }
}

/* ---- table ---------------------------------------------------------------------------------- */

static size_t avx2_mm_xp_row_bytes(const struct kernels_mm *mm) {
    if (is_q(mm->wt)) return q16_bytes(mm->K);
    if (mm->wt == DTYPE_BF16 || is_kquant(mm->wt)) return (size_t)round_up(mm->K * (int64_t)sizeof(float), 64);
    return 0;
}

static size_t avx2_mm_thread_bytes(const struct kernels_mm *mm) {
    if (is_q(mm->wt)) return (size_t)QNR * q16_bytes(mm->K);
    if (is_kquant(mm->wt)) return (size_t)NR1 * (size_t)mm->K * sizeof(float);
    return 0;
}

static void avx2_mm_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    if (is_q(mm->wt))
        prep_q(mm, m0, m1);
    else if (is_kquant(mm->wt))
        prep_xhat(mm, m0, m1);
    else if (mm->wt == DTYPE_BF16)
        prep_bf16(mm, m0, m1);
}

static void avx2_mm_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1, uint8_t *ts) {
    if (is_q(mm->wt))
        run_q(mm, m0, m1, n0, n1, ts);
    else
        run_f32(mm, m0, m1, n0, n1, ts);
}

static bool avx2_available(const struct cpu_features *f) { return f->avx2 && f->fma && f->f16c; }

static const char *avx2_impl_name(enum dtype t) {
    if (is_q(t)) return "avx2-int16";
    if (is_kquant(t)) return "avx2-dequant";
    return "avx2";
}

const struct kernels_isa kernels_isa_avx2 = {
    .name = "avx2",
    .available = avx2_available,
    .impl_name = avx2_impl_name,
    .mm_xp_row_bytes = avx2_mm_xp_row_bytes,
    .mm_thread_bytes = avx2_mm_thread_bytes,
    .mm_prep_x = avx2_mm_prep_x,
    .mm_run = avx2_mm_run,
    .dequantize_row = avx2_dequantize_row,
    .rmsnorm = kernels_avx2_rmsnorm,
    .silu_mul = kernels_avx2_silu_mul,
    .softmax = kernels_avx2_softmax,
    .dot_f32 = kernels_avx2_dot_f32,
    .axpy_f32 = kernels_avx2_axpy_f32,
    .attention = kernels_ref_attention, /* AVX2 machines run the scalar attention (not tuned) */
};
