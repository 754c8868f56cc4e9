/* avx512_vnni_cols: VNNI matmul for Q8_0 / Q4_0 weights with a few activation rows
 * (batched decode), exact to the kernels' spec like the AMX-INT8 engine.
 *
 * With dx[m][b] / qx the spec's 8-bit activation blocks and dw[n][b] / qw the weights,
 *   y[m][n] = sum_b dx[m][b] dw[n][b] S_b,   S_b = sum_{k in b} qx[m][k] qw[n][k].
 * The direct engine puts K in the vector lanes, which costs a convert, a permute and
 * an FMA per VPDPBUSD plus a horizontal sum per output. Here the lanes are 16 output
 * columns instead: each weight row group is transposed once (kernels_avx512_q_pack_cols,
 * quants made unsigned by xor 0x80) into 8 vectors per block, vector r holding bytes
 * 4r .. 4r + 3 of each column; one VPDPBUSD per vector and activation row, with the 4
 * activation bytes broadcast from memory, adds to 16 int32 block sums. The int32 sums
 * start at -128 * sum(qx) (the offset of the unsigned weights), so after the 8 steps
 * they are S_b exactly; then one convert and one FMA with dw x dx per row and block.
 * The transpose is paid once per group and shared by all rows; nothing is reduced
 * horizontally.
 *
 * Layouts. Prepared x row: int8 qx[Kp] | f32 dx[Kp / 32] | int32 -128 * sum(qx) per
 * block [Kp / 32] (Kp = K rounded up to 64, padding zero). Thread scratch: one group of
 * 16 weight rows (tiles and scales, see avx512.h). Loops: group > up to 8 rows > blocks. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/cpu/avx512/avx512.h"

#define AI static inline __attribute__((always_inline))

enum { VC_MR = 8, VC_TILE = 512 };

static int64_t kp64(int64_t K) { return (K + 63) / 64 * 64; }

size_t kernels_avx512_vcols_xp_row_bytes(int64_t K) {
    size_t b = (size_t)kp64(K) + (size_t)kp64(K) / 32 * (sizeof(float) + sizeof(int32_t));
    return (b + 63) / 64 * 64;
}

size_t kernels_avx512_vcols_thread_bytes(int64_t K) {
    return (size_t)(kp64(K) / 32) * (VC_TILE + 16 * sizeof(float));
}

struct vc_row {
    const int8_t *q;
    const float *dx;
    const int32_t *nsx;
};

AI struct vc_row vc_row(const struct kernels_mm *mm, int64_t m) {
    const uint8_t *base = mm->xp + (size_t)m * mm->xp_row_bytes;
    int64_t kp = kp64(mm->K);
    struct vc_row r = {.q = (const int8_t *)base, .dx = (const float *)(base + kp)};
    r.nsx = (const int32_t *)(r.dx + kp / 32);
    return r;
}

void kernels_avx512_vcols_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    kernels_avx512_q8_prep_rows(mm, m0, m1, true);
}

AI __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* Rows m .. m + mr - 1 against one packed group (columns n .. n + cols - 1). */
AI void vc_tile(int mr, const struct kernels_mm *mm, int64_t m, int64_t n, int cols, const uint8_t *tiles,
                const float *dw) {
    const int64_t kblk = mm->K / 32;
    struct vc_row xr[VC_MR];
    __m512 acc[VC_MR];
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
        xr[r] = vc_row(mm, m + r);
        acc[r] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < kblk; b++) {
        const uint8_t *t = tiles + (size_t)b * VC_TILE;
        __m512i s[VC_MR];
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) s[r] = _mm512_set1_epi32(xr[r].nsx[b]);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            __m512i w = _mm512_load_si512((const void *)(t + 64 * k));
#pragma GCC unroll 8
            for (int r = 0; r < mr; r++) s[r] = _mm512_dpbusd_epi32(s[r], w, bcast4(xr[r].q + 32 * b + 4 * k));
        }
        __m512 d = _mm512_load_ps(dw + 16 * b);
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r]), _mm512_mul_ps(d, _mm512_set1_ps(xr[r].dx[b])), acc[r]);
    }
    __mmask16 msk = (__mmask16)((1u << cols) - 1);
    __m512 bias = mm->bias ? _mm512_maskz_loadu_ps(msk, mm->bias + n) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) _mm512_mask_storeu_ps(mm->y + (m + r) * mm->N + n, msk, _mm512_add_ps(acc[r], bias));
}

typedef void (*vc_tile_fn)(const struct kernels_mm *, int64_t, int64_t, int, const uint8_t *, const float *);
#define VT(mr)                                                                                                         \
    static void vc_tile_##mr(const struct kernels_mm *mm, int64_t m, int64_t n, int cols, const uint8_t *t,         \
                             const float *dw) {                                                                        \
        vc_tile(mr, mm, m, n, cols, t, dw);                                                                            \
    }
VT(1) VT(2) VT(3) VT(4) VT(5) VT(6) VT(7) VT(8)
static const vc_tile_fn vc_tiles[VC_MR + 1] = {NULL,        vc_tile_1, vc_tile_2, vc_tile_3, vc_tile_4,
                                               vc_tile_5,   vc_tile_6, vc_tile_7, vc_tile_8};

/* The 64 bytes of blocks b, b + 1 of a weight row as unsigned quants (xor 0x80 of the
 * signed value; Q4_0: q - 8 + 128), in the order of kernels_avx512_q_pack_cols. */
AI __m512i pair_q8_0(const uint8_t *row, int64_t b) {
    const uint8_t *p = row + (size_t)b * sizeof(struct kernels_block_q8_0);
    __m256i lo = _mm256_loadu_si256((const __m256i *)(p + 2));
    __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 2 + sizeof(struct kernels_block_q8_0)));
    return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8((char)0x80));
}

AI __m512i pair_q4_0(const uint8_t *row, int64_t b) {
    const uint8_t *p = row + (size_t)b * sizeof(struct kernels_block_q4_0);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + 2))),
                                        _mm_loadu_si128((const __m128i *)(p + 2 + sizeof(struct kernels_block_q4_0))),
                                        1);
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m4)),
                                   _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), 1); /* lo b, lo b+1, hi b, hi b+1 */
    z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
    return _mm512_add_epi8(z, _mm512_set1_epi8(120));
}

/* Block scales (f16 at the start of each block) of 16 rows rb bytes apart, as f32. */
AI __m512 scales16(const uint8_t *p, __m512i idx) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(idx, (const void *)p, 1)));
}

/* kernels_avx512_q_pack_cols (flip 0x80) for 16 whole rows and an even block count,
 * prefetching the 16 rows after them (pf, or NULL) at the same offsets. */
AI void pack_group(bool q4, const struct kernels_mm *mm, int64_t n, const uint8_t *pf, uint8_t *tiles, float *dw) {
    const size_t rb = mm->w_row_bytes, bs = q4 ? sizeof(struct kernels_block_q4_0) : sizeof(struct kernels_block_q8_0);
    const int64_t kblk = mm->K / 32;
    const uint8_t *base = mm->w + (size_t)n * rb;
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)rb));
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
            r[j] = _mm512_castsi512_ps(q4 ? pair_q4_0(base + j * rb, b) : pair_q8_0(base + j * rb, b));
        _mm512_store_ps(dw + 16 * b, scales16(base + b * bs, idx));
        _mm512_store_ps(dw + 16 * (b + 1), scales16(base + (b + 1) * bs, idx));
        kernels_avx512_transpose16(r);
        uint8_t *t0 = tiles + (size_t)b * VC_TILE, *t1 = t0 + VC_TILE;
#pragma GCC unroll 8
        for (int p = 0; p < 8; p++) {
            _mm512_store_ps((float *)(t0 + 64 * p), r[p]);
            _mm512_store_ps((float *)(t1 + 64 * p), r[8 + p]);
        }
    }
}

static void pack_group_q8_0(const struct kernels_mm *mm, int64_t n, const uint8_t *pf, uint8_t *t, float *dw) {
    pack_group(false, mm, n, pf, t, dw);
}
static void pack_group_q4_0(const struct kernels_mm *mm, int64_t n, const uint8_t *pf, uint8_t *t, float *dw) {
    pack_group(true, mm, n, pf, t, dw);
}

void kernels_avx512_vcols_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                              uint8_t *ts) {
    const int64_t nblk = kp64(mm->K) / 32;
    const bool fast = (mm->K / 32) % 2 == 0;
    uint8_t *tiles = ts;
    float *dw = (float *)(ts + (size_t)nblk * VC_TILE);
    for (int64_t n = n0; n < n1; n += 16) {
        int64_t ne = n + 16 < n1 ? n + 16 : n1;
        if (fast && ne - n == 16) {
            const uint8_t *pf = n1 - ne >= 16 ? mm->w + (size_t)ne * mm->w_row_bytes : NULL;
            (mm->wt == DTYPE_Q4_0 ? pack_group_q4_0 : pack_group_q8_0)(mm, n, pf, tiles, dw);
        } else {
            kernels_avx512_q_pack_cols(mm, n, ne, 1, 0x80, tiles, dw);
        }
        for (int64_t m = m0; m < m1; m += VC_MR) {
            int64_t mr = m1 - m < VC_MR ? m1 - m : VC_MR;
            vc_tiles[mr](mm, m, n, (int)(ne - n), tiles, dw);
        }
    }
}
