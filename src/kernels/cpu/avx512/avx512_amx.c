/* avx512_amx: AMX-BF16 tile matmul for BF16 weights with bf16 activations
 * (kernels_matmul_opts.bf16_activations), M >= KERNELS_AMX_MIN_M.
 *
 * TDPBF16PS C[16][16] += A[16][32] . B[32][16] with A rows of 32 bf16 (64 bytes)
 * and B in "pair" layout: B row r holds, for each of the 16 output columns, the
 * bf16 pair (k = 2r, 2r + 1). For y = x . W^T:
 *   A: x rounded to bf16, row-major [round_up(M, 32)][Kp] (Kp = K rounded up to
 *      32, zero padded), prepared once per call (mm_prep_x) and shared.
 *   B: 16 weight rows x 32 k form one tile; since a weight row's consecutive
 *      bf16 pairs are dwords, the tile is the 16 x 16 dword transpose of those
 *      rows. Each thread packs PANEL_N weight rows at a time into
 *      panel[group of 16 rows][k step of 32][16][16 dwords] (1 KiB per tile).
 * Register blocking: tiles 0-3 accumulate a 32 x 32 block of y (2 A tiles x 2
 * B tiles, tiles 4-7), so each k step loads 4 KiB for 4 tile products (32768
 * MACs). Loops: panel (PANEL_N weight rows) > chunk of MCHUNK activation rows >
 * pair of 16-row weight groups > K block of KSTEPS k steps (its 16 KiB slice of
 * B stays in L1 for every row block of the chunk) > 32-row block > k steps.
 * Between K blocks the C tiles park in a per-thread buffer (MCHUNK x 32 f32);
 * after the last one they go to y with the bias and the edge masks.
 *
 * Products of bf16 values are exact in f32; the unit accumulates in f32 (with
 * denormals flushed), so the result matches the spec (kernels_impl.h, bf16_act)
 * up to summation order.
 *
 * Threading: the tile configuration is per thread; kernels_avx512_amx_run loads
 * it on entry and releases the tile state on exit, so nothing is left behind
 * on pool threads. AMX permission is process-wide and was requested by
 * cpu_features_get() when it reported amx_bf16. */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/avx512/avx512.h"

#define AMX __attribute__((target("amx-tile,amx-bf16")))

enum { PANEL_N = 128, TILE_BYTES = 1024, KSTEPS = 8 /* k steps (of 32) per K block */, MCHUNK = 128 /* rows */ };

static int64_t kpad(int64_t K) { return (K + 31) / 32 * 32; }

size_t kernels_avx512_amx_xp_row_bytes(int64_t K) { return (size_t)kpad(K) * 2; }

size_t kernels_avx512_amx_thread_bytes(int64_t M, int64_t K) {
    return (size_t)PANEL_N * (size_t)kpad(K) * 2 + (size_t)MCHUNK * 32 * sizeof(float);
}

void kernels_avx512_amx_prep_x(const struct kernels_mm *mm, int64_t m0, int64_t m1) {
    const int64_t K = mm->K;
    for (int64_t m = m0; m < m1; m++) {
        const float *x = mm->x + m * K;
        uint16_t *o = (uint16_t *)(mm->xp + (size_t)m * mm->xp_row_bytes);
        for (int64_t k = 0; k < K; k += 16) {
            __mmask16 msk = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1);
            __m512i b = _mm512_srli_epi32(kernels_avx512_bf16_bits(_mm512_maskz_loadu_ps(msk, x + k)), 16);
            _mm256_mask_storeu_epi16(o + k, msk, _mm512_cvtepi32_epi16(b));
        }
        memset(o + K, 0, (size_t)(kpad(K) - K) * 2);
    }
    if (m1 == mm->M) {
        int64_t rows = (mm->M + KERNELS_XP_ROWS - 1) / KERNELS_XP_ROWS * KERNELS_XP_ROWS;
        memset(mm->xp + (size_t)mm->M * mm->xp_row_bytes, 0, (size_t)(rows - mm->M) * mm->xp_row_bytes);
    }
}

/* Weight rows [nb, ne) -> B tiles; the group count is padded to even with zero groups. */
static void pack_b(const struct kernels_mm *mm, int64_t nb, int64_t ne, uint8_t *panel) {
    const int64_t K = mm->K, nks = kpad(K) / 32;
    const int64_t groups = ((ne - nb + 15) / 16 + 1) / 2 * 2;
    for (int64_t g = 0; g < groups; g++) {
        const uint16_t *rows[16];
        for (int j = 0; j < 16; j++) {
            int64_t n = nb + 16 * g + j;
            rows[j] = n < ne ? (const uint16_t *)(mm->w + (size_t)n * mm->w_row_bytes) : NULL;
        }
        for (int64_t ks = 0; ks < nks; ks++) {
            int64_t k = 32 * ks;
            __mmask32 msk = K - k >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (K - k)) - 1);
            __m512 r[16];
            for (int j = 0; j < 16; j++)
                r[j] = rows[j] ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(msk, rows[j] + k)) : _mm512_setzero_ps();
            kernels_avx512_transpose16(r);
            uint8_t *dst = panel + (size_t)(g * nks + ks) * TILE_BYTES;
            for (int p = 0; p < 16; p++) _mm512_store_ps((float *)(dst + 64 * p), r[p]);
        }
    }
}

/* y[m][n .. n + cols) = c[0 .. cols) + bias for the rows m of a stored C tile pair. */
static void store_block(const struct kernels_mm *mm, const float *ct, int64_t mb, int64_t m1, int64_t n, int64_t ne) {
    for (int h = 0; h < 2; h++) {
        int64_t nn = n + 16 * h;
        if (nn >= ne) break;
        int cols = ne - nn < 16 ? (int)(ne - nn) : 16;
        __mmask16 msk = (__mmask16)((1u << cols) - 1);
        __m512 b = mm->bias ? _mm512_maskz_loadu_ps(msk, mm->bias + nn) : _mm512_setzero_ps();
        for (int r = 0; r < 32 && mb + r < m1; r++) {
            const float *c = ct + (size_t)((r / 16) * 2 + h) * 256 + (size_t)(r % 16) * 16;
            _mm512_mask_storeu_ps(mm->y + (mb + r) * mm->N + nn, msk, _mm512_add_ps(_mm512_load_ps(c), b));
        }
    }
}

AMX void kernels_avx512_amx_run(const struct kernels_mm *mm, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                                uint8_t *ts) {
    struct kernels_amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
    const int64_t nks = kpad(mm->K) / 32;
    const size_t rb = mm->xp_row_bytes;
    uint8_t *panel = ts;
    float *cbuf = (float *)(ts + (size_t)PANEL_N * (size_t)kpad(mm->K) * 2); /* [row block][4 tiles][16][16] */
    for (int64_t nb = n0; nb < n1; nb += PANEL_N) {
        int64_t ne = nb + PANEL_N < n1 ? nb + PANEL_N : n1;
        pack_b(mm, nb, ne, panel);
        for (int64_t mc = m0; mc < m1; mc += MCHUNK) {
            int64_t mce = mc + MCHUNK < m1 ? mc + MCHUNK : m1;
            for (int64_t n = nb; n < ne; n += 32) {
                const uint8_t *b0 = panel + (size_t)((n - nb) / 16) * (size_t)nks * TILE_BYTES;
                const uint8_t *b1 = b0 + (size_t)nks * TILE_BYTES;
                for (int64_t kb = 0; kb < nks; kb += KSTEPS) {
                    int64_t ke = kb + KSTEPS < nks ? kb + KSTEPS : nks;
                    for (int64_t mb = mc; mb < mce; mb += 32) {
                        const uint8_t *a0 = mm->xp + (size_t)mb * rb, *a1 = a0 + 16 * rb;
                        float *ct = cbuf + (size_t)(mb - mc) * 32;
                        if (kb == 0) {
                            _tile_zero(0);
                            _tile_zero(1);
                            _tile_zero(2);
                            _tile_zero(3);
                        } else {
                            _tile_loadd(0, ct, 64);
                            _tile_loadd(1, ct + 256, 64);
                            _tile_loadd(2, ct + 512, 64);
                            _tile_loadd(3, ct + 768, 64);
                        }
                        for (int64_t ks = kb; ks < ke; ks++) {
                            _tile_loadd(4, a0 + 64 * ks, rb);
                            _tile_loadd(5, a1 + 64 * ks, rb);
                            _tile_loadd(6, b0 + (size_t)ks * TILE_BYTES, 64);
                            _tile_loadd(7, b1 + (size_t)ks * TILE_BYTES, 64);
                            _tile_dpbf16ps(0, 4, 6);
                            _tile_dpbf16ps(1, 4, 7);
                            _tile_dpbf16ps(2, 5, 6);
                            _tile_dpbf16ps(3, 5, 7);
                        }
                        _tile_stored(0, ct, 64);
                        _tile_stored(1, ct + 256, 64);
                        _tile_stored(2, ct + 512, 64);
                        _tile_stored(3, ct + 768, 64);
                        if (ke == nks) store_block(mm, ct, mb, m1, n, ne);
                    }
                }
            }
        }
    }
    _tile_release();
}
