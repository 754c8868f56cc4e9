/* avx512_attention: kernels_attention (kernels.h) with AVX-512 f32 FMAs.
 *
 * Keys are taken in blocks of BK = 64 (pointers to the block's K/V rows gathered
 * once from the slot list and shared by all rows of the call). Per block:
 *   scores  each row computes its visible scores 16 keys at a time: 16 lane-wise
 *           accumulators (one q load and 16 key loads per 16 dims), folded into one
 *           vector of 16 dot products by a permute-add tree (reduce16);
 *   softmax the block maximum updates the row's running max m; P = exp(S - m) on
 *           vectors (masked lanes are exactly 0); l = l * c + sum(P), c = e^(m_old - m);
 *   P . V   rows in pairs: the pair's output rows stay in registers for 128 dims at a
 *           time while each V row is loaded once for both.
 * Row state (m, l, unnormalised O) lives in a stack scratch between blocks; the
 * output is O / l. BF16 keys/values are widened in registers (the body is
 * instantiated once per KV dtype). head_dim not a multiple of 16 goes to the reference. Pure
 * function of its arguments; callers run disjoint calls concurrently. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/avx512/avx512.h"

#define AI static inline __attribute__((always_inline))

enum { BK = 64, OCH = 8 /* 16-float vectors per output chunk (128 dims) */ };

AI __m512 fold2(__m512 a, __m512 b, __m512i lo, __m512i hi) {
    return _mm512_add_ps(_mm512_permutex2var_ps(a, lo, b), _mm512_permutex2var_ps(a, hi, b));
}

/* v[i] holds lane-wise partial sums of dot product i; returns lane i = sum of v[i]'s lanes. */
AI __m512 reduce16(const __m512 v[16]) {
    const __m512i l1 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i h1 = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m512i l2 = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    const __m512i h2 = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    const __m512i l3 = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
    const __m512i h3 = _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    const __m512i l4 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i h4 = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 c[8], e[4], f[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) c[i] = fold2(v[2 * i], v[2 * i + 1], l1, h1); /* 8 partials of 2 dots */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) e[i] = fold2(c[2 * i], c[2 * i + 1], l2, h2); /* 4 partials of 4 dots */
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) f[i] = fold2(e[2 * i], e[2 * i + 1], l3, h3); /* 2 partials of 8 dots */
    return fold2(f[0], f[1], l4, h4);
}

/* 16 values at element d of a K/V row (f32, or bf16 widened). */
AI __m512 ld16(const uint8_t *row, int64_t d, bool bf16) {
    if (bf16)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + 2 * d))), 16));
    return _mm512_loadu_ps(row + 4 * d);
}

/* 32 bf16 values at element d of a row, widened as (even elements, odd elements): one
 * shift or mask each instead of a widening shuffle per 16. */
AI __m512 bf16_even(__m512i v) { return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)); }
AI __m512 bf16_odd(__m512i v) { return _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u))); }
AI __m512i ld32_bf16(const uint8_t *row, int64_t d) { return _mm512_loadu_si512(row + 2 * d); }

/* Scores of one row against keys kp[0..n) (n <= 16, lanes >= n set to -inf). With bf16
 * K, q is the row in the even/odd layout (see attention_body) for dims below hd32. */
AI __m512 scores16(const float *q, const uint8_t *const *kp, int64_t n, int64_t hd, int64_t hd32, float scale,
                   bool bf16) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    int64_t d = 0;
    if (bf16) {
        for (; d < hd32; d += 32) {
            __m512 qe = _mm512_loadu_ps(q + d), qo = _mm512_loadu_ps(q + d + 16);
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) {
                __m512i kv = ld32_bf16(kp[i], d);
                acc[i] = _mm512_fmadd_ps(qe, bf16_even(kv), acc[i]);
                acc[i] = _mm512_fmadd_ps(qo, bf16_odd(kv), acc[i]);
            }
        }
    }
    for (; d < hd; d += 16) {
        __m512 qv = _mm512_loadu_ps(q + d);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(qv, ld16(kp[i], d, bf16), acc[i]);
    }
    __m512 s = _mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale));
    __mmask16 valid = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
    return _mm512_mask_blend_ps(valid, _mm512_set1_ps(-INFINITY), s);
}

/* o0/o1 (nsub vectors of 16 dims at d0) = o * c + sum_j p[j] * v_j[d0 ..], for two rows. */
AI void pv_pair(float *o0, float *o1, float c0, float c1, const float *p0, const float *p1,
                const uint8_t *const *vp, int64_t nj, int64_t d0, int nsub, bool bf16) {
    __m512 a0[OCH], a1[OCH];
    __m512 vc0 = _mm512_set1_ps(c0), vc1 = _mm512_set1_ps(c1);
#pragma GCC unroll 8
    for (int s = 0; s < nsub; s++) {
        a0[s] = _mm512_mul_ps(_mm512_loadu_ps(o0 + d0 + 16 * s), vc0);
        a1[s] = _mm512_mul_ps(_mm512_loadu_ps(o1 + d0 + 16 * s), vc1);
    }
    for (int64_t j = 0; j < nj; j++) {
        __m512 w0 = _mm512_set1_ps(p0[j]), w1 = _mm512_set1_ps(p1[j]);
        if (bf16 && nsub % 2 == 0) { /* even/odd layout (see attention_body) */
#pragma GCC unroll 4
            for (int s = 0; s < nsub; s += 2) {
                __m512i vv = ld32_bf16(vp[j], d0 + 16 * s);
                __m512 ve = bf16_even(vv), vo = bf16_odd(vv);
                a0[s] = _mm512_fmadd_ps(w0, ve, a0[s]);
                a1[s] = _mm512_fmadd_ps(w1, ve, a1[s]);
                a0[s + 1] = _mm512_fmadd_ps(w0, vo, a0[s + 1]);
                a1[s + 1] = _mm512_fmadd_ps(w1, vo, a1[s + 1]);
            }
            continue;
        }
#pragma GCC unroll 8
        for (int s = 0; s < nsub; s++) {
            __m512 vv = ld16(vp[j], d0 + 16 * s, bf16);
            a0[s] = _mm512_fmadd_ps(w0, vv, a0[s]);
            a1[s] = _mm512_fmadd_ps(w1, vv, a1[s]);
        }
    }
#pragma GCC unroll 8
    for (int s = 0; s < nsub; s++) {
        _mm512_storeu_ps(o0 + d0 + 16 * s, a0[s]);
        _mm512_storeu_ps(o1 + d0 + 16 * s, a1[s]);
    }
}

AI void pv_one(float *o, float c, const float *p, const uint8_t *const *vp, int64_t nj, int64_t d0, int nsub,
               bool bf16) {
    __m512 a[OCH];
    __m512 vc = _mm512_set1_ps(c);
#pragma GCC unroll 8
    for (int s = 0; s < nsub; s++) a[s] = _mm512_mul_ps(_mm512_loadu_ps(o + d0 + 16 * s), vc);
    for (int64_t j = 0; j < nj; j++) {
        __m512 w = _mm512_set1_ps(p[j]);
        if (bf16 && nsub % 2 == 0) {
#pragma GCC unroll 4
            for (int s = 0; s < nsub; s += 2) {
                __m512i vv = ld32_bf16(vp[j], d0 + 16 * s);
                a[s] = _mm512_fmadd_ps(w, bf16_even(vv), a[s]);
                a[s + 1] = _mm512_fmadd_ps(w, bf16_odd(vv), a[s + 1]);
            }
            continue;
        }
#pragma GCC unroll 8
        for (int s = 0; s < nsub; s++) a[s] = _mm512_fmadd_ps(w, ld16(vp[j], d0 + 16 * s, bf16), a[s]);
    }
#pragma GCC unroll 8
    for (int s = 0; s < nsub; s++) _mm512_storeu_ps(o + d0 + 16 * s, a[s]);
}

/* P . V for rows r (and r + 1 when pair) over the whole head_dim. */
AI void pv_rows(float *obuf, int64_t hd, int64_t r, bool pair, const float *c, const float (*p)[BK],
               const int64_t *nv, const uint8_t *const *vp, bool bf16) {
    float *o0 = obuf + r * hd;
    if (pair) {
        float *o1 = o0 + hd;
        int64_t nj = nv[r] > nv[r + 1] ? nv[r] : nv[r + 1];
        int64_t d0 = 0;
        for (; d0 + 16 * OCH <= hd; d0 += 16 * OCH)
            pv_pair(o0, o1, c[r], c[r + 1], p[r], p[r + 1], vp, nj, d0, OCH, bf16);
        for (; d0 + 32 <= hd; d0 += 32) pv_pair(o0, o1, c[r], c[r + 1], p[r], p[r + 1], vp, nj, d0, 2, bf16);
        for (; d0 < hd; d0 += 16) pv_pair(o0, o1, c[r], c[r + 1], p[r], p[r + 1], vp, nj, d0, 1, bf16);
    } else {
        int64_t d0 = 0;
        for (; d0 + 16 * OCH <= hd; d0 += 16 * OCH) pv_one(o0, c[r], p[r], vp, nv[r], d0, OCH, bf16);
        for (; d0 + 32 <= hd; d0 += 32) pv_one(o0, c[r], p[r], vp, nv[r], d0, 2, bf16);
        for (; d0 < hd; d0 += 16) pv_one(o0, c[r], p[r], vp, nv[r], d0, 1, bf16);
    }
}

AI void attention_body(const struct kernels_attn *a, bool bf16) {
    int64_t R = a->n_rows, hd = a->head_dim, hd32 = bf16 ? hd / 32 * 32 : 0;
    size_t esz = bf16 ? 2 : 4;
    /* bf16 K/V: below hd32, each 32-dim chunk of q and of the output accumulators is kept as
     * (its 16 even dims, its 16 odd dims), the order in which bf16_even / bf16_odd widen a
     * 32-value load; the output is put back in order at the end. */
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    _Alignas(64) float qbuf[bf16 ? KERNELS_ATTN_MAX_ROWS * KERNELS_ATTN_MAX_HEAD_DIM : 1];
    const float *qrow[KERNELS_ATTN_MAX_ROWS];
    for (int64_t r = 0; r < R; r++) {
        qrow[r] = a->q[r];
        if (!bf16) continue;
        float *qp = qbuf + r * hd;
        int64_t d = 0;
        for (; d < hd32; d += 32) {
            __m512 lo = _mm512_loadu_ps(a->q[r] + d), hi = _mm512_loadu_ps(a->q[r] + d + 16);
            _mm512_storeu_ps(qp + d, _mm512_permutex2var_ps(lo, ev, hi));
            _mm512_storeu_ps(qp + d + 16, _mm512_permutex2var_ps(lo, od, hi));
        }
        for (; d < hd; d += 16) _mm512_storeu_ps(qp + d, _mm512_loadu_ps(a->q[r] + d));
        qrow[r] = qp;
    }
    _Alignas(64) float obuf[KERNELS_ATTN_MAX_ROWS * KERNELS_ATTN_MAX_HEAD_DIM];
    _Alignas(64) float p[KERNELS_ATTN_MAX_ROWS][BK];
    float m[KERNELS_ATTN_MAX_ROWS], l[KERNELS_ATTN_MAX_ROWS], c[KERNELS_ATTN_MAX_ROWS];
    int64_t nv[KERNELS_ATTN_MAX_ROWS];
    const uint8_t *kp[BK + 16], *vp[BK];
    memset(obuf, 0, (size_t)(R * hd) * sizeof(float));
    int64_t n_max = 0;
    for (int64_t r = 0; r < R; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
        if (a->n_valid[r] > n_max) n_max = a->n_valid[r];
    }
    if (n_max > a->n_kv) n_max = a->n_kv;
    for (int64_t j0 = 0; j0 < n_max; j0 += BK) {
        int64_t nb = n_max - j0 < BK ? n_max - j0 : BK;
        for (int64_t j = 0; j < nb; j++) {
            size_t off = (size_t)a->slots[j0 + j] * (size_t)a->kv_stride * esz;
            kp[j] = (const uint8_t *)a->k + off;
            vp[j] = (const uint8_t *)a->v + off;
        }
        for (int64_t j = nb; j < BK + 16; j++) kp[j] = kp[0]; /* read, then masked out */
        for (int64_t r = 0; r < R; r++) {
            int64_t n = a->n_valid[r] - j0;
            n = n < 0 ? 0 : n > nb ? nb : n;
            nv[r] = n;
            c[r] = 1.0f;
            if (n == 0) continue;
            __m512 s[BK / 16];
            __m512 mx = _mm512_set1_ps(-INFINITY);
            int ng = (int)((n + 15) / 16);
            for (int g = 0; g < ng; g++) {
                s[g] = scores16(qrow[r], kp + 16 * g, n - 16 * g, hd, hd32, a->scale, bf16);
                mx = _mm512_max_ps(mx, s[g]);
            }
            float bm = _mm512_reduce_max_ps(mx);
            float mn = bm > m[r] ? bm : m[r];
            c[r] = m[r] == -INFINITY ? 0.0f : expf(m[r] - mn);
            m[r] = mn;
            __m512 vm = _mm512_set1_ps(mn), sum = _mm512_setzero_ps();
            for (int g = 0; g < ng; g++) {
                __mmask16 valid = _mm512_cmp_ps_mask(s[g], _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
                __m512 e = _mm512_maskz_mov_ps(valid, kernels_avx512_exp(_mm512_sub_ps(s[g], vm)));
                sum = _mm512_add_ps(sum, e);
                _mm512_store_ps(p[r] + 16 * g, e);
            }
            l[r] = l[r] * c[r] + _mm512_reduce_add_ps(sum);
        }
        for (int64_t r = 0; r < R; r += 2) {
            bool pair = r + 1 < R;
            if (nv[r] == 0 && (!pair || nv[r + 1] == 0)) continue;
            if (pair) { /* the shorter row of the pair takes weight 0 for the other's extra keys */
                int64_t nj = nv[r] > nv[r + 1] ? nv[r] : nv[r + 1];
                for (int64_t q = r; q < r + 2; q++)
                    for (int64_t j = nv[q]; j < nj; j++) p[q][j] = 0.0f;
            }
            pv_rows(obuf, hd, r, pair, c, (const float(*)[BK])p, nv, vp, bf16);
        }
    }
    const __m512i lo_i = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_i = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int64_t r = 0; r < R; r++) {
        __m512 inv = _mm512_set1_ps(l[r] > 0 ? 1.0f / l[r] : 0.0f);
        const float *ob = obuf + r * hd;
        int64_t d = 0;
        for (; d < hd32; d += 32) { /* back from the even/odd layout */
            __m512 e = _mm512_mul_ps(_mm512_load_ps(ob + d), inv), o = _mm512_mul_ps(_mm512_load_ps(ob + d + 16), inv);
            _mm512_storeu_ps(a->o[r] + d, _mm512_permutex2var_ps(e, lo_i, o));
            _mm512_storeu_ps(a->o[r] + d + 16, _mm512_permutex2var_ps(e, hi_i, o));
        }
        for (; d < hd; d += 16) _mm512_storeu_ps(a->o[r] + d, _mm512_mul_ps(_mm512_load_ps(ob + d), inv));
    }
}

void kernels_avx512_attention(const struct kernels_attn *a) {
    if (a->head_dim % 16 != 0 || a->n_rows > KERNELS_ATTN_MAX_ROWS || a->head_dim > KERNELS_ATTN_MAX_HEAD_DIM)
        kernels_ref_attention(a);
    else if (a->kv_dtype == DTYPE_BF16)
        attention_body(a, true);
    else
        attention_body(a, false);
}
