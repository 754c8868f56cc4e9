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

void kernels_avx512_vcols_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                              uint8_t *ts) {
    const int64_t nblk = kp64(mm->K) / 32;
    uint8_t *tiles = ts;
    float *dw = (float *)(ts + (size_t)nblk * VC_TILE);
    for (int64_t n = n0; n < n1; n += 16) {
        int64_t ne = n + 16 < n1 ? n + 16 : n1;
        kernels_avx512_q_pack_cols(mm, n, ne, n1, 1, 0x80, tiles, dw); /* prefetches the next group */
        for (int64_t m = m0; m < m1; m += VC_MR) {
            int64_t mr = m1 - m < VC_MR ? m1 - m : VC_MR;
            vc_tiles[mr](mm, m, n, (int)(ne - n), tiles, dw);
        }
    }
}
