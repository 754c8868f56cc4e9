/* avx512_amx_int8: AMX-INT8 tile matmul for Q8_0 / Q4_0 weights with many
 * activation rows (M >= 32, see avx512_matmul.c), exact to the kernels' spec.
 *
 * The spec (kernels_impl.h) quantizes each 32-value block b of an activation row
 * to qx with scale dx; the weights are qw with scale dw per block, so
 *   y[m][n] = sum_b dx[m][b] dw[n][b] S_b,   S_b = sum_{k in b} qx[m][k] qw[n][k]
 * and S_b is an exact integer: TDPBSSD computes it (signed x signed, int32) for a
 * 16 x 16 tile with K = 32 per instruction (A tiles of 16 rows x 32 bytes, B tiles of
 * 8 rows x 64 bytes: row r holds, per output column, the 4 bytes k = 4r .. 4r + 3).
 * After each block the 4 C tiles (a 32 x 32 output block) are stored and added,
 * converted to f32 and scaled by dx * dw, into f32 accumulators that stay in L1.
 * Q4_0 weights are unpacked to signed int8 (q - 8) when packed, so both formats
 * share the loop.
 *
 * Layouts. Prepared x row (mm_prep_x): int8 qx[Kp] | f32 dx[Kp / 32] (Kp = K
 * rounded up to 64; padding zero). Per-thread panel for PANEL_N weight rows:
 * groups of 16 rows x blocks: one 512-byte B tile each, then f32 dw[group][block][16].
 * Loops: panel > 32-column pair of groups > 32-row block > weight blocks.
 *
 * Threading: as the AMX-BF16 engine (tile configuration per thread, released on
 * exit; permission requested by cpu_features). */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/cpu/avx512/avx512.h"

#define AI static inline __attribute__((always_inline))
#define AMX __attribute__((target("amx-tile,amx-int8")))

enum { PANEL_N = 128, BTILE = 512 };

static int64_t kp64(int64_t K) { return (K + 63) / 64 * 64; }

size_t kernels_avx512_amxi8_xp_row_bytes(int64_t K) {
    size_t b = (size_t)kp64(K) + (size_t)kp64(K) / 32 * sizeof(float);
    return (b + 63) / 64 * 64;
}

size_t kernels_avx512_amxi8_thread_bytes(int64_t M, int64_t K) {
    (void)M;
    int64_t nblk = kp64(K) / 32;
    return (size_t)PANEL_N * (size_t)nblk * 32 /* B tiles */ + (size_t)PANEL_N * (size_t)nblk * sizeof(float) /* dw */ +
           4 * 256 * sizeof(int32_t) /* C tiles */ + 32 * 32 * sizeof(float) /* accumulators */;
}

static float *xp_dx(const struct kernels_mm *mm, uint8_t *row) { return (float *)(row + kp64(mm->K)); }

void kernels_avx512_q8_prep_rows(const struct kernels_mm *mm, int64_t m0, int64_t m1, bool with_nsx) {
    const int64_t K = mm->K, nb = K / 32;
    for (int64_t m = m0; m < m1; m++) {
        uint8_t *row = mm->xp + (size_t)m * mm->xp_row_bytes;
        memset(row, 0, mm->xp_row_bytes);
        int8_t *q = (int8_t *)row;
        float *dx = xp_dx(mm, row);
        int32_t *nsx = (int32_t *)(dx + kp64(K) / 32);
        const float *x = mm->x + m * K;
        for (int64_t b = 0; b < nb; b++) {
            __m512i i0, i1;
            dx[b] = kernels_avx512_quant_block(x + 32 * b, &i0, &i1);
            _mm_storeu_si128((__m128i *)(q + 32 * b), _mm512_cvtepi32_epi8(i0));
            _mm_storeu_si128((__m128i *)(q + 32 * b + 16), _mm512_cvtepi32_epi8(i1));
            if (with_nsx) nsx[b] = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
        }
    }
    if (m1 == mm->M) {
        int64_t rows = (mm->M + KERNELS_XP_ROWS - 1) / KERNELS_XP_ROWS * KERNELS_XP_ROWS;
        memset(mm->xp + (size_t)mm->M * mm->xp_row_bytes, 0, (size_t)(rows - mm->M) * mm->xp_row_bytes);
    }
}

void kernels_avx512_amxi8_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    kernels_avx512_q8_prep_rows(mm, m0, m1, false);
}

/* The 32 signed quants of weight row n, block b, and its scale. */
static inline __attribute__((always_inline)) __m256i wblock(const struct kernels_mm *mm, int64_t n, int64_t b,
                                                          float *d) {
    const uint8_t *row = mm->w + (size_t)n * mm->w_row_bytes;
    if (mm->wt == DTYPE_Q8_0) {
        const struct kernels_block_q8_0 *blk = (const struct kernels_block_q8_0 *)row + b;
        *d = fp16_f16_to_f32(blk->d);
        return _mm256_loadu_si256((const __m256i *)blk->qs);
    }
    const struct kernels_block_q4_0 *blk = (const struct kernels_block_q4_0 *)row + b;
    *d = fp16_f16_to_f32(blk->d);
    __m128i v = _mm_loadu_si128((const __m128i *)blk->qs), m4 = _mm_set1_epi8(0xF), e8 = _mm_set1_epi8(8);
    __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m4), e8), hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), e8);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* The 64 bytes of blocks b, b + 1 of weight row `row` as signed quants (Q4_0: q - 8)
 * xor fl, in the byte order of a packed tile row (the fast path of the packer). */
AI __m512i pair_q8_0(const uint8_t *row, int64_t b, __m512i fl) {
    const uint8_t *p = row + (size_t)b * sizeof(struct kernels_block_q8_0);
    __m256i lo = _mm256_loadu_si256((const __m256i *)(p + 2));
    __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 2 + sizeof(struct kernels_block_q8_0)));
    return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), fl);
}

AI __m512i pair_q4_0(const uint8_t *row, int64_t b, __m512i fl) {
    const uint8_t *p = row + (size_t)b * sizeof(struct kernels_block_q4_0);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + 2))),
                                        _mm_loadu_si128((const __m128i *)(p + 2 + sizeof(struct kernels_block_q4_0))),
                                        1);
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m4)),
                                   _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), 1); /* lo b, lo b+1, hi b, hi b+1 */
    z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
    return _mm512_xor_si512(_mm512_sub_epi8(z, _mm512_set1_epi8(8)), fl);
}

/* Block scales (f16 at the start of each block) of 16 rows rb bytes apart, as f32. */
AI __m512 scales16(const uint8_t *p, __m512i idx) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(idx, (const void *)p, 1)));
}

/* One group of 16 whole rows from row n, K / 32 even: straight loads, gathered scales; the
 * 16 rows at pf (or NULL) are prefetched at the same offsets meanwhile. */
AI void pack_group_fast(bool q4, const struct kernels_mm *mm, int64_t n, const uint8_t *pf, __m512i fl,
                        uint8_t *tiles, float *dw) {
    const size_t rb = mm->w_row_bytes, bs = q4 ? sizeof(struct kernels_block_q4_0) : sizeof(struct kernels_block_q8_0);
    const int64_t kblk = mm->K / 32;
    const uint8_t *base = mm->w + (size_t)n * rb;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)rb));
    for (int64_t b = 0; b < kblk; b += 2) {
        if (pf) {
            for (int j = 0; j < 16; j++) {
                _mm_prefetch((const char *)(pf + j * rb + b * bs), _MM_HINT_T0);
                _mm_prefetch((const char *)(pf + j * rb + b * bs + 64), _MM_HINT_T0);
            }
        }
        __m512 r[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            r[j] = _mm512_castsi512_ps(q4 ? pair_q4_0(base + j * rb, b, fl) : pair_q8_0(base + j * rb, b, fl));
        _mm512_store_ps(dw + 16 * b, scales16(base + b * bs, idx));
        _mm512_store_ps(dw + 16 * (b + 1), scales16(base + (b + 1) * bs, idx));
        kernels_avx512_transpose16(r);
        uint8_t *t0 = tiles + (size_t)b * BTILE, *t1 = t0 + BTILE;
#pragma GCC unroll 8
        for (int p = 0; p < 8; p++) {
            _mm512_store_ps((float *)(t0 + 64 * p), r[p]);
            _mm512_store_ps((float *)(t1 + 64 * p), r[8 + p]);
        }
    }
}

static void pack_group_q8_0(const struct kernels_mm *mm, int64_t n, const uint8_t *pf, __m512i fl, uint8_t *t,
                            float *dw) {
    pack_group_fast(false, mm, n, pf, fl, t, dw);
}
static void pack_group_q4_0(const struct kernels_mm *mm, int64_t n, const uint8_t *pf, __m512i fl, uint8_t *t,
                            float *dw) {
    pack_group_fast(true, mm, n, pf, fl, t, dw);
}

/* Weight rows [nb, ne) as column groups (see avx512.h). Whole groups with an even block
 * count take the fast path; tails and padding go through wblock. */
void kernels_avx512_q_pack_cols(const struct kernels_mm *mm, int64_t nb, int64_t ne, int64_t pf_end, int group_mult,
                                uint8_t flip, uint8_t *panel, float *dw) {
    const int64_t nblk = kp64(mm->K) / 32, kblk = mm->K / 32;
    const int64_t groups = ((ne - nb + 15) / 16 + group_mult - 1) / group_mult * group_mult;
    const __m512i fl = _mm512_set1_epi8((char)flip);
    for (int64_t g = 0; g < groups; g++) {
        int64_t n0 = nb + 16 * g;
        if (kblk % 2 == 0 && n0 + 16 <= ne) {
            const uint8_t *pf = n0 + 32 <= pf_end ? mm->w + (size_t)(n0 + 16) * mm->w_row_bytes : NULL;
            (mm->wt == DTYPE_Q4_0 ? pack_group_q4_0 : pack_group_q8_0)(mm, n0, pf, fl, panel + (size_t)g * nblk * BTILE,
                                                                      dw + (size_t)g * nblk * 16);
            continue;
        }
        for (int64_t b = 0; b < nblk; b += 2) {
            __m512 r[16];
            for (int j = 0; j < 16; j++) {
                int64_t n = n0 + j;
                float d0 = 0, d1 = 0;
                __m256i q0 = _mm256_setzero_si256(), q1 = _mm256_setzero_si256();
                if (n < ne && b < kblk) q0 = wblock(mm, n, b, &d0);
                if (n < ne && b + 1 < kblk) q1 = wblock(mm, n, b + 1, &d1);
                r[j] = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1), fl));
                dw[(g * nblk + b) * 16 + j] = d0;
                dw[(g * nblk + b + 1) * 16 + j] = d1;
            }
            kernels_avx512_transpose16(r); /* r[p]: dword p of the 16 rows; p < 8 block b, else b + 1 */
            uint8_t *t0 = panel + (size_t)(g * nblk + b) * BTILE, *t1 = t0 + BTILE;
            for (int p = 0; p < 8; p++) {
                _mm512_store_ps((float *)(t0 + 64 * p), r[p]);
                _mm512_store_ps((float *)(t1 + 64 * p), r[8 + p]);
            }
        }
    }
}

AMX void kernels_avx512_amxi8_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                                  uint8_t *ts) {
    struct kernels_amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 4; t++) { /* C: 16 x 16 int32 */
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    for (int t = 4; t < 6; t++) { /* A: 16 rows x 32 int8 */
        cfg.rows[t] = 16;
        cfg.colsb[t] = 32;
    }
    for (int t = 6; t < 8; t++) { /* B: 8 rows x 64 int8 */
        cfg.rows[t] = 8;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
    const int64_t nblk = kp64(mm->K) / 32, kblk = mm->K / 32;
    const size_t rb = mm->xp_row_bytes;
    uint8_t *panel = ts;
    float *dw = (float *)(ts + (size_t)PANEL_N * (size_t)nblk * 32);
    int32_t *ct = (int32_t *)(dw + (size_t)PANEL_N * (size_t)nblk); /* [4][16][16] */
    float *acc = (float *)(ct + 4 * 256);                            /* [32 rows][32 cols] */
    for (int64_t nb = n0; nb < n1; nb += PANEL_N) {
        int64_t ne = nb + PANEL_N < n1 ? nb + PANEL_N : n1;
        kernels_avx512_q_pack_cols(mm, nb, ne, ne, 2, 0, panel, dw);
        for (int64_t n = nb; n < ne; n += 32) {
            int64_t g0 = (n - nb) / 16;
            for (int64_t mb = m0; mb < m1; mb += 32) {
                const uint8_t *a0 = mm->xp + (size_t)mb * rb, *a1 = a0 + 16 * rb;
                memset(acc, 0, 32 * 32 * sizeof(float));
                const bool two = m1 - mb > 16; /* a second 16-row A tile holds real rows */
                for (int64_t b = 0; b < kblk; b++) {
                    _tile_zero(0);
                    _tile_zero(1);
                    _tile_loadd(4, a0 + 32 * b, rb);
                    _tile_loadd(6, panel + (size_t)(g0 * nblk + b) * BTILE, 64);
                    _tile_loadd(7, panel + (size_t)((g0 + 1) * nblk + b) * BTILE, 64);
                    _tile_dpbssd(0, 4, 6);
                    _tile_dpbssd(1, 4, 7);
                    _tile_stored(0, ct, 64);
                    _tile_stored(1, ct + 256, 64);
                    if (two) {
                        _tile_zero(2);
                        _tile_zero(3);
                        _tile_loadd(5, a1 + 32 * b, rb);
                        _tile_dpbssd(2, 5, 6);
                        _tile_dpbssd(3, 5, 7);
                        _tile_stored(2, ct + 512, 64);
                        _tile_stored(3, ct + 768, 64);
                    }
                    __m512 w0 = _mm512_loadu_ps(dw + (g0 * nblk + b) * 16);
                    __m512 w1 = _mm512_loadu_ps(dw + ((g0 + 1) * nblk + b) * 16);
                    for (int r = 0; r < 32 && mb + r < m1; r++) {
                        const int32_t *c = ct + (size_t)((r / 16) * 2) * 256 + (size_t)(r % 16) * 16;
                        __m512 dx = _mm512_set1_ps(xp_dx(mm, mm->xp + (size_t)(mb + r) * rb)[b]);
                        float *ar = acc + 32 * r;
                        _mm512_storeu_ps(ar, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(c)),
                                                             _mm512_mul_ps(w0, dx), _mm512_loadu_ps(ar)));
                        _mm512_storeu_ps(ar + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(c + 256)),
                                                                  _mm512_mul_ps(w1, dx), _mm512_loadu_ps(ar + 16)));
                    }
                }
                for (int h = 0; h < 2; h++) {
                    int64_t nn = n + 16 * h;
                    if (nn >= ne) break;
                    int cols = ne - nn < 16 ? (int)(ne - nn) : 16;
                    __mmask16 msk = (__mmask16)((1u << cols) - 1);
                    __m512 bias = mm->bias ? _mm512_maskz_loadu_ps(msk, mm->bias + nn) : _mm512_setzero_ps();
                    for (int r = 0; r < 32 && mb + r < m1; r++)
                        _mm512_mask_storeu_ps(mm->y + (mb + r) * mm->N + nn, msk,
                                              _mm512_add_ps(_mm512_loadu_ps(acc + 32 * r + 16 * h), bias));
                }
            }
        }
    }
    _tile_release();
}
