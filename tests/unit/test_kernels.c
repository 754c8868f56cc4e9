/* Unit tests of kernels: hand-computed dequantization of every block format,
 * ggml-style quantization, and every ISA variant (ref, avx2, avx512) of every op
 * and weight dtype against the scalar reference on random data (never zeros),
 * for odd shapes and 1..3 threads. Variants the CPU cannot run are skipped with
 * the reason printed.
 *
 * Tolerances (S = sum_k |x_k| |w_k| of the output in question):
 *   variant vs ref matmul:        |dy| <= 1e-5 * S + 1e-6
 *   ref vs double-precision exact: F32/F16/BF16 |dy| <= 1e-5 * S + 1e-6 (x rounded
 *     to bf16 first in the "exact" sum with bf16 activations); quantized weights
 *     (x quantized per 32) add sum_b (amax_b / 254) * sum_{i in b} |w_i|
 *   dequantization variant vs ref: 1e-6 relative (fused vs separate multiply-add)
 *   element-wise ops: 2e-6 relative (dot: 1e-6 * sum |a b|)
 *   attention: |do| <= 2e-5 against a double-precision two-pass softmax (|v| <= 1). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu_features.h"
#include "base/fp16.h"
#include "base/tensor.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "test.h"

static const struct kernels_isa *const g_isas[] = {&kernels_isa_ref, &kernels_isa_avx2, &kernels_isa_avx512};
enum { N_ISAS = 3 };

static bool isa_ok(const struct kernels_isa *isa) {
    if (isa->available(cpu_features_get())) return true;
    printf("  skip variant %s: CPU lacks it (features: %s)\n", isa->name, cpu_features_string());
    return false;
}

/* Random value in [-1, 1) that is never (close to) zero. */
static float rnd_nz(unsigned long long *s) {
    float v = test_randf(s);
    return v >= 0 ? v + 0.01f : v - 0.01f;
}

/* ---- hand-computed dequantization ---------------------------------------------------------- */

TEST(dequant_q8_0_hand) {
    struct kernels_block_q8_0 b;
    memset(&b, 0, sizeof b);
    b.d = 0x3800; /* 0.5 */
    int8_t qs[5] = {-128, -1, 0, 1, 127};
    memcpy(b.qs, qs, 5);
    float expect[5] = {-64.0f, -0.5f, 0.0f, 0.5f, 63.5f};
    for (int v = 0; v < N_ISAS; v++) {
        if (!g_isas[v]->available(cpu_features_get())) continue;
        float y[32];
        g_isas[v]->dequantize_row(DTYPE_Q8_0, &b, y, 32);
        for (int i = 0; i < 5; i++) CHECK_NEAR(y[i], expect[i], 0);
        CHECK_NEAR(y[31], 0.0f, 0);
    }
}

TEST(dequant_q4_0_hand) {
    struct kernels_block_q4_0 b;
    memset(&b, 0x88, sizeof b); /* every nibble 8 -> 0 */
    b.d = 0x4000;               /* 2.0 */
    b.qs[0] = 0x1F;             /* v0 = 2*(15-8) = 14, v16 = 2*(1-8) = -14 */
    b.qs[1] = 0x80;             /* v1 = 2*(0-8) = -16, v17 = 0 */
    for (int v = 0; v < N_ISAS; v++) {
        if (!g_isas[v]->available(cpu_features_get())) continue;
        float y[32];
        g_isas[v]->dequantize_row(DTYPE_Q4_0, &b, y, 32);
        CHECK_NEAR(y[0], 14.0f, 0);
        CHECK_NEAR(y[16], -14.0f, 0);
        CHECK_NEAR(y[1], -16.0f, 0);
        CHECK_NEAR(y[17], 0.0f, 0);
        CHECK_NEAR(y[5], 0.0f, 0);
    }
}

/* Q4_K / Q5_K scales used below (d = 1, dmin = 0.5):
 *   sub-block 0: sc = scales[0] & 63 = 1, m = scales[4] & 63 = 2
 *   sub-block 1: sc = 3, m = 4
 *   sub-block 4: sc = (scales[8] & 15) | (scales[0] >> 6) << 4 = 3 | 16 = 19,
 *                m  = (scales[8] >> 4) | (scales[4] >> 6) << 4 = 5 | 32 = 37 */
static void k4_scales(uint8_t *scales) {
    memset(scales, 0, 12);
    scales[0] = 0x41;
    scales[4] = 0x82;
    scales[1] = 3;
    scales[5] = 4;
    scales[8] = 0x53;
}

TEST(dequant_q4_K_hand) {
    struct kernels_block_q4_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3C00;    /* 1.0 */
    b.dmin = 0x3800; /* 0.5 */
    k4_scales(b.scales);
    b.qs[0] = 0x97;  /* v0 = 1*7 - 0.5*2 = 6; v32 (sub-block 1) = 3*9 - 0.5*4 = 25 */
    b.qs[64] = 0x0A; /* v128 (group 2 low = sub-block 4) = 19*10 - 0.5*37 = 171.5 */
    for (int v = 0; v < N_ISAS; v++) {
        if (!g_isas[v]->available(cpu_features_get())) continue;
        float y[256];
        g_isas[v]->dequantize_row(DTYPE_Q4_K, &b, y, 256);
        CHECK_NEAR(y[0], 6.0f, 0);
        CHECK_NEAR(y[32], 25.0f, 0);
        CHECK_NEAR(y[128], 171.5f, 0);
        CHECK_NEAR(y[1], -1.0f, 0);    /* q = 0: -dmin*m0 */
        CHECK_NEAR(y[129], -18.5f, 0); /* q = 0 in sub-block 4 */
    }
}

TEST(dequant_q5_K_hand) {
    struct kernels_block_q5_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3C00;
    b.dmin = 0x3800;
    k4_scales(b.scales);
    b.qs[0] = 0x97;
    b.qs[64] = 0x0A;
    b.qh[0] = 0x13; /* bit 0: v0 += 16; bit 1: v32 += 16; bit 4: v128 += 16 */
    for (int v = 0; v < N_ISAS; v++) {
        if (!g_isas[v]->available(cpu_features_get())) continue;
        float y[256];
        g_isas[v]->dequantize_row(DTYPE_Q5_K, &b, y, 256);
        CHECK_NEAR(y[0], 1.0f * 23 - 1.0f, 0);     /* 22 */
        CHECK_NEAR(y[32], 3.0f * 25 - 2.0f, 0);    /* 73 */
        CHECK_NEAR(y[128], 19.0f * 26 - 18.5f, 0); /* 475.5 */
        CHECK_NEAR(y[160], 0.0f, 0);               /* sub-block 5: sc = m = 0 */
    }
}

TEST(dequant_q6_K_hand) {
    struct kernels_block_q6_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3800; /* 0.5 */
    int8_t sc[16] = {2, -3, 4, 0, 5, 0, -1, 0, 7, 0, 0, 0, 0, 0, 0, 0};
    memcpy(b.scales, sc, 16);
    b.ql[0] = 0x5A;  /* low 10, high 5 */
    b.qh[0] = 0xE4;  /* 11 10 01 00 */
    b.ql[32] = 0x3C; /* low 12, high 3 */
    b.ql[64] = 0x01; /* second half */
    b.qh[32] = 0x01;
    for (int v = 0; v < N_ISAS; v++) {
        if (!g_isas[v]->available(cpu_features_get())) continue;
        float y[256];
        g_isas[v]->dequantize_row(DTYPE_Q6_K, &b, y, 256);
        CHECK_NEAR(y[0], 0.5f * 2 * (10 - 32), 0);         /* -22 */
        CHECK_NEAR(y[32], 0.5f * 4 * ((12 | 16) - 32), 0); /* -8 */
        CHECK_NEAR(y[64], 0.5f * 5 * ((5 | 32) - 32), 0);  /* 12.5 */
        CHECK_NEAR(y[96], 0.5f * -1 * ((3 | 48) - 32), 0); /* -9.5 */
        CHECK_NEAR(y[16], 0.5f * -3 * (0 - 32), 0);        /* 48 */
        CHECK_NEAR(y[128], 0.5f * 7 * ((1 | 16) - 32), 0); /* -52.5 */
    }
}

TEST(dequant_f16_bf16_hand) {
    uint16_t h[3] = {0x3C00, 0xC000, 0x3555}, bf[3] = {0x3F80, 0xC040, 0x4049};
    for (int v = 0; v < N_ISAS; v++) {
        if (!g_isas[v]->available(cpu_features_get())) continue;
        float y[3];
        g_isas[v]->dequantize_row(DTYPE_F16, h, y, 3);
        CHECK_NEAR(y[0], 1.0f, 0);
        CHECK_NEAR(y[1], -2.0f, 0);
        CHECK_NEAR(y[2], 0.333251953125f, 0);
        g_isas[v]->dequantize_row(DTYPE_BF16, bf, y, 3);
        CHECK_NEAR(y[0], 1.0f, 0);
        CHECK_NEAR(y[1], -3.0f, 0);
        CHECK_NEAR(y[2], 3.140625f, 0);
    }
}

/* ---- quantization ---------------------------------------------------------------------------- */

TEST(quantize_q8_0) {
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) * 0.25f; /* amax = 4 -> d = 4/127 */
    struct kernels_block_q8_0 b;
    kernels_quantize_row(DTYPE_Q8_0, x, &b, 32);
    CHECK_EQ_INT(b.d, fp16_f32_to_f16(4.0f / 127.0f));
    CHECK_EQ_INT(b.qs[0], -127);
    CHECK_EQ_INT(b.qs[16], 0);
    CHECK_EQ_INT(b.qs[18], 16);  /* 0.5 * 127/4 = 15.875 -> 16 */
    CHECK_EQ_INT(b.qs[31], 119); /* 3.75 * 31.75 = 119.06 */
    float y[32];
    kernels_dequantize_row(DTYPE_Q8_0, &b, y, 32);
    for (int i = 0; i < 32; i++) CHECK_NEAR(y[i], x[i], 4.0f / 127.0f * 0.51f + 4e-3f);
}

TEST(quantize_q4_0) {
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 10); /* max |.| = 21 at i = 31 (positive) */
    struct kernels_block_q4_0 b;
    kernels_quantize_row(DTYPE_Q4_0, x, &b, 32);
    /* d = 21 / -8 = -2.625; q = min(15, (int)(x / d + 8.5)) */
    CHECK_EQ_INT(b.d, fp16_f32_to_f16(-2.625f));
    CHECK_EQ_INT(b.qs[15] >> 4, 0);  /* x = 21: 21/-2.625 + 8.5 = 0.5 -> 0 */
    CHECK_EQ_INT(b.qs[10] & 0xF, 8); /* x = 0 -> 8 */
    CHECK_EQ_INT(b.qs[0] & 0xF, 12); /* x = -10: 3.81 + 8.5 = 12.3 -> 12 */
    float y[32];
    kernels_dequantize_row(DTYPE_Q4_0, &b, y, 32);
    for (int i = 0; i < 32; i++) CHECK_NEAR(y[i], x[i], 2.625f * 0.5f + 1e-2f);
}

TEST(quantize_f16_bf16) {
    float x[4] = {1.0f, -2.5f, 65504.0f, 1e-3f};
    uint16_t h[4], bf[4];
    kernels_quantize_row(DTYPE_F16, x, h, 4);
    kernels_quantize_row(DTYPE_BF16, x, bf, 4);
    CHECK_EQ_INT(h[0], 0x3C00);
    CHECK_EQ_INT(h[1], 0xC100);
    CHECK_EQ_INT(h[2], 0x7BFF);
    CHECK_EQ_INT(bf[0], 0x3F80);
    CHECK_EQ_INT(bf[1], 0xC020);
    float y[4];
    kernels_dequantize_row(DTYPE_F16, h, y, 4);
    CHECK_NEAR(y[3], 1e-3f, 1e-3f * 1e-3f);
}

/* ---- random weights --------------------------------------------------------------------------- */

/* Fills `rows` rows of K values of dtype t with random, never all-zero content. */
static void *make_weights(enum dtype t, int64_t rows, int64_t K, unsigned long long *s) {
    size_t rb = dtype_row_bytes(t, K);
    uint8_t *w = malloc(rb * (size_t)rows + 64);
    if (t == DTYPE_F32 || t == DTYPE_F16 || t == DTYPE_BF16 || t == DTYPE_Q8_0 || t == DTYPE_Q4_0) {
        float *tmp = malloc(sizeof(float) * (size_t)K);
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t k = 0; k < K; k++) tmp[k] = rnd_nz(s) * (1.0f + (float)(k % 7));
            kernels_quantize_row(t, tmp, w + rb * (size_t)r, K);
        }
        free(tmp);
        return w;
    }
    for (size_t i = 0; i < rb * (size_t)rows; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        w[i] = (uint8_t)(*s >> 56);
    }
    size_t bb = dtype_block_bytes(t);
    for (size_t off = 0; off < rb * (size_t)rows; off += bb) {
        uint16_t d = fp16_f32_to_f16(0.002f + 0.01f * fabsf(test_randf(s)));
        uint16_t dm = fp16_f32_to_f16(0.001f + 0.005f * fabsf(test_randf(s)));
        if (t == DTYPE_Q6_K) {
            memcpy(w + off + 208, &d, 2);
        } else {
            memcpy(w + off, &d, 2);
            memcpy(w + off + 2, &dm, 2);
        }
    }
    return w;
}

/* Exact (double) y[m][n] and S = sum |x||w| from the dequantized weights. */
static void exact_ref(enum dtype t, const void *w, const float *x, int64_t M, int64_t N, int64_t K, const float *bias,
                      double *y, double *S, double *xq_err) {
    float *row = malloc(sizeof(float) * (size_t)K);
    size_t rb = dtype_row_bytes(t, K);
    for (int64_t n = 0; n < N; n++) {
        kernels_ref_dequantize_row(t, (const uint8_t *)w + rb * (size_t)n, row, K);
        for (int64_t m = 0; m < M; m++) {
            double acc = bias ? bias[n] : 0.0, sabs = 0.0, qe = 0.0;
            for (int64_t k = 0; k < K; k++) {
                acc += (double)x[m * K + k] * row[k];
                sabs += fabs((double)x[m * K + k] * row[k]);
            }
            if (dtype_is_quantized(t)) {
                for (int64_t b = 0; b < K / 32; b++) {
                    double amax = 0.0, wsum = 0.0;
                    for (int i = 0; i < 32; i++) {
                        amax = fmax(amax, fabs(x[m * K + b * 32 + i]));
                        wsum += fabs(row[b * 32 + i]);
                    }
                    qe += amax / 254.0 * 1.0001 * wsum;
                }
            }
            y[m * N + n] = acc;
            S[m * N + n] = sabs;
            xq_err[m * N + n] = qe;
        }
    }
    free(row);
}

struct mm_case {
    enum dtype t;
    int64_t M, N, K;
    int threads;
    bool bias;
    bool bf16_act; /* kernels_matmul_opts.bf16_activations */
};

/* Runs one case on every available variant; returns the number of mismatches. */
static void check_mm_case(const struct mm_case *c, unsigned long long seed, struct threadpool **pools) {
    unsigned long long s = seed;
    int64_t M = c->M, N = c->N, K = c->K;
    void *w = make_weights(c->t, N, K, &s);
    struct tensor W = {.dtype = c->t, .n_dims = 2, .shape = {N, K}, .data = w, .nbytes = dtype_row_bytes(c->t, K) * N};
    float *x = malloc(sizeof(float) * (size_t)(M * K));
    float *bias = malloc(sizeof(float) * (size_t)N);
    for (int64_t i = 0; i < M * K; i++) x[i] = rnd_nz(&s) * (i % 13 == 0 ? 4.0f : 1.0f);
    for (int64_t i = 0; i < N; i++) bias[i] = rnd_nz(&s);
    const float *b = c->bias ? bias : NULL;
    double *ye = malloc(sizeof(double) * (size_t)(M * N)), *S = malloc(sizeof(double) * (size_t)(M * N));
    double *qe = malloc(sizeof(double) * (size_t)(M * N));
    float *xr = malloc(sizeof(float) * (size_t)(M * K)); /* x as the spec sees it */
    for (int64_t i = 0; i < M * K; i++) xr[i] = c->bf16_act ? fp16_bf16_to_f32(fp16_f32_to_bf16(x[i])) : x[i];
    exact_ref(c->t, w, xr, M, N, K, b, ye, S, qe);
    float *yref = malloc(sizeof(float) * (size_t)(M * N)), *y = malloc(sizeof(float) * (size_t)(M * N));
    struct threadpool *pool = pools[c->threads];
    struct kernels_matmul_opts opts = {.bf16_activations = c->bf16_act};
    kernels_matmul_isa(&kernels_isa_ref, pool, x, M, K, &W, b, yref, &opts);
    int bad = 0;
    for (int64_t i = 0; i < M * N && bad < 3; i++) {
        double tol = 1e-5 * S[i] + 1e-6 + qe[i];
        if (!(fabs(yref[i] - ye[i]) <= tol)) {
            printf("  ref vs exact %s M%lld N%lld K%lld [%lld]: %.9g vs %.9g (tol %.3g)\n", dtype_name(c->t),
                   (long long)M, (long long)N, (long long)K, (long long)i, yref[i], ye[i], tol);
            bad++;
        }
    }
    for (int v = 1; v < N_ISAS; v++) {
        const struct kernels_isa *isa = g_isas[v];
        if (!isa->available(cpu_features_get())) continue;
        for (int64_t i = 0; i < M * N; i++) y[i] = NAN;
        kernels_matmul_isa(isa, pool, x, M, K, &W, b, y, &opts);
        for (int64_t i = 0; i < M * N && bad < 6; i++) {
            double tol = 1e-5 * S[i] + 1e-6;
            if (!(fabs(y[i] - yref[i]) <= tol)) {
                printf("  %s vs ref %s%s M%lld N%lld K%lld thr%d [m%lld n%lld]: %.9g vs %.9g (tol %.3g)\n", isa->name,
                       dtype_name(c->t), c->bf16_act ? "(bf16 act)" : "", (long long)M, (long long)N, (long long)K,
                       c->threads, (long long)(i / N), (long long)(i % N), y[i], yref[i], tol);
                bad++;
            }
        }
    }
    if (bad) test_cur_failed = 1;
    free(w);
    free(x);
    free(xr);
    free(bias);
    free(ye);
    free(S);
    free(qe);
    free(yref);
    free(y);
}

static void run_mm_cases(enum dtype t, const int64_t *Ks, int nK, bool bf16_act) {
    struct threadpool *pools[4] = {NULL, NULL, threadpool_create(2), threadpool_create(3)};
    CHECK(pools[2] && pools[3]);
    /* direct engines (1; Q4_0 4), VNNI column tiles (Q8_0 / Q4_0 3 .. 63), packed engines and AMX-BF16 (>= 16;
     * 40: a 16-row tail), AMX-INT8 (>= 64; 80: a 16-row tail) */
    static const int64_t Ms[] = {1, 4, 7, 20, 40, 80};
    static const int64_t Ns[] = {1, 5, 37, 70};
    unsigned long long seed = 1000 + (unsigned long long)t * 77;
    int ci = 0;
    for (int ik = 0; ik < nK; ik++)
        for (int im = 0; im < 6; im++)
            for (int in = 0; in < 4; in++) {
                int64_t K = Ks[ik];
                if (Ms[im] >= 20 && K > 1024 && Ns[in] > 5) continue; /* keep the scalar ref affordable */
                struct mm_case c = {t, Ms[im], Ns[in], K, 1 + (ci % 3), (ci % 2) == 0, bf16_act};
                check_mm_case(&c, seed + (unsigned long long)ci, pools);
                ci++;
            }
    /* a case where N is too small to split, so the driver splits over M */
    struct mm_case c = {t, 96, 3, Ks[0], 2, true, bf16_act};
    check_mm_case(&c, seed + 999, pools);
    /* more rows than one AMX row chunk (128) and K blocks plus a K tail */
    struct mm_case big = {t, 150, 37, 300 / dtype_block_size(t) * dtype_block_size(t), 3, true, bf16_act};
    if (big.K > 0 && dtype_block_size(t) == 1) check_mm_case(&big, seed + 998, pools);
    threadpool_destroy(pools[2]);
    threadpool_destroy(pools[3]);
}

static const int64_t Ks_plain[] = {1, 7, 33, 100, 256, 1024};
static const int64_t Ks_q[] = {32, 96, 256, 4096};
static const int64_t Ks_k[] = {256, 768, 4096};

TEST(matmul_f32) { run_mm_cases(DTYPE_F32, Ks_plain, 6, false); }
TEST(matmul_f16) { run_mm_cases(DTYPE_F16, Ks_plain, 6, false); }
TEST(matmul_bf16) { run_mm_cases(DTYPE_BF16, Ks_plain, 6, false); }
TEST(matmul_bf16_act) {
    const struct cpu_features *f = cpu_features_get();
    printf("  AMX-BF16 %s\n", f->amx_bf16 ? "available: M >= 16 runs on tiles" : "not available: FMA paths only");
    run_mm_cases(DTYPE_BF16, Ks_plain, 6, true);
}
TEST(matmul_q8_0) { run_mm_cases(DTYPE_Q8_0, Ks_q, 4, false); }
TEST(matmul_q4_0) { run_mm_cases(DTYPE_Q4_0, Ks_q, 4, false); }
TEST(matmul_q4_K) { run_mm_cases(DTYPE_Q4_K, Ks_k, 3, false); }
TEST(matmul_q5_K) { run_mm_cases(DTYPE_Q5_K, Ks_k, 3, false); }
TEST(matmul_q6_K) { run_mm_cases(DTYPE_Q6_K, Ks_k, 3, false); }

/* bf16 activations change the result by about 2^-9 relative: the option really does something
 * (and is ignored for non-BF16 weights). */
TEST(matmul_bf16_act_effect) {
    unsigned long long s = 5;
    enum { M = 40, N = 20, K = 256 };
    static float x[M * K], y0[M * N], y1[M * N];
    for (int i = 0; i < M * K; i++) x[i] = rnd_nz(&s);
    for (int it = 0; it < 2; it++) {
        enum dtype t = it == 0 ? DTYPE_BF16 : DTYPE_F16;
        void *w = make_weights(t, N, K, &s);
        struct tensor W = {.dtype = t, .n_dims = 2, .shape = {N, K}, .data = w};
        struct kernels_matmul_opts on = {.bf16_activations = true};
        kernels_matmul_ex(NULL, x, M, K, &W, NULL, y0, NULL);
        kernels_matmul_ex(NULL, x, M, K, &W, NULL, y1, &on);
        double maxd = 0.0, maxy = 0.0;
        for (int i = 0; i < M * N; i++) {
            maxd = fmax(maxd, fabs(y1[i] - y0[i]));
            maxy = fmax(maxy, fabs(y0[i]));
        }
        if (t == DTYPE_BF16)
            CHECK(maxd > 1e-6 * maxy && maxd < 1e-2 * maxy);
        else
            CHECK_NEAR(maxd, 0.0, 0.0);
        free(w);
    }
}

/* The public entry points, caller scratch (big enough, too small, none). */
TEST(matmul_public_scratch) {
    unsigned long long s = 42;
    enum { M = 5, N = 40, K = 512 };
    struct threadpool *pool = threadpool_create(2);
    CHECK(pool != NULL);
    enum dtype ts[] = {DTYPE_BF16, DTYPE_Q8_0, DTYPE_Q4_K};
    for (int it = 0; it < 3; it++) {
        void *w = make_weights(ts[it], N, K, &s);
        struct tensor W = {.dtype = ts[it], .n_dims = 2, .shape = {N, K}, .data = w};
        static float x[M * K], y0[M * N], y1[M * N], y2[M * N];
        for (int64_t i = 0; i < M * K; i++) x[i] = rnd_nz(&s);
        kernels_matmul(pool, x, M, K, &W, NULL, y0);
        size_t need = kernels_matmul_scratch_size(threadpool_size(pool), M, K, ts[it]);
        uint8_t *scr = malloc(need + 1);
        struct kernels_matmul_opts o1 = {.scratch = scr + 1, .scratch_bytes = need}; /* misaligned on purpose */
        struct kernels_matmul_opts o2 = {.scratch = scr, .scratch_bytes = need / 2};
        kernels_matmul_ex(pool, x, M, K, &W, NULL, y1, &o1);
        kernels_matmul_ex(pool, x, M, K, &W, NULL, y2, &o2);
        for (int64_t i = 0; i < M * N; i++) {
            CHECK_NEAR(y1[i], y0[i], 0);
            CHECK_NEAR(y2[i], y0[i], 0);
        }
        free(scr);
        free(w);
    }
    threadpool_destroy(pool);
}

/* kernels_matmul_multi equals one kernels_matmul_ex per weight (same dtype: one fused pass;
 * mixed dtypes: separate calls), for decode, batch and prefill row counts and 1-2 threads. */
TEST(matmul_multi_equals_single) {
    unsigned long long s = 7;
    enum { K = 256, MAXM = 40 };
    static const int64_t Ns[3] = {48, 20, 37};
    static const int64_t Ms[] = {1, 5, 20, 40};
    struct { enum dtype a, b; bool bf16; } cases[] = {{DTYPE_BF16, DTYPE_BF16, true}, {DTYPE_BF16, DTYPE_BF16, false},
                                                      {DTYPE_Q8_0, DTYPE_Q8_0, false}, {DTYPE_Q4_0, DTYPE_Q4_0, false},
                                                      {DTYPE_F32, DTYPE_F32, false},   {DTYPE_Q4_0, DTYPE_Q8_0, false}};
    static float x[MAXM * K], bias[3][48], ys[3][MAXM * 48], ym[3][MAXM * 48];
    for (int64_t i = 0; i < MAXM * K; i++) x[i] = rnd_nz(&s);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 48; j++) bias[i][j] = rnd_nz(&s);
    for (int nt = 1; nt <= 2; nt++) {
        struct threadpool *pool = threadpool_create(nt);
        CHECK(pool != NULL);
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            void *w[3];
            struct tensor W[3];
            const struct tensor *Wp[3];
            const float *bp[3] = {bias[0], NULL, bias[2]};
            float *yp[3] = {ym[0], ym[1], ym[2]};
            for (int i = 0; i < 3; i++) {
                enum dtype t = i == 2 ? cases[c].b : cases[c].a;
                w[i] = make_weights(t, Ns[i], K, &s);
                W[i] = (struct tensor){.dtype = t, .n_dims = 2, .shape = {Ns[i], K}, .data = w[i]};
                Wp[i] = &W[i];
            }
            struct kernels_matmul_opts o = {.bf16_activations = cases[c].bf16};
            for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
                int64_t M = Ms[mi];
                for (int i = 0; i < 3; i++) kernels_matmul_ex(pool, x, M, K, &W[i], bp[i], ys[i], &o);
                kernels_matmul_multi(pool, x, M, K, 3, Wp, bp, yp, &o);
                int bad = 0;
                for (int i = 0; i < 3; i++)
                    for (int64_t j = 0; j < M * Ns[i]; j++) bad += ym[i][j] != ys[i][j];
                if (bad) printf("  multi %s/%s M %lld threads %d: %d outputs differ\n", dtype_name(cases[c].a),
                                dtype_name(cases[c].b), (long long)M, nt, bad);
                CHECK(bad == 0);
            }
            for (int i = 0; i < 3; i++) free(w[i]);
        }
        threadpool_destroy(pool);
    }
}

TEST(matmul_rejects_bad_shape) {
    float w[64] = {1}, x[32] = {1}, y[2] = {0, 0};
    struct tensor W = {.dtype = DTYPE_Q8_0, .n_dims = 2, .shape = {2, 30}, .data = w};
    kernels_matmul(NULL, x, 1, 30, &W, NULL, y); /* K not a multiple of 32 */
    CHECK(isnan(y[0]) && isnan(y[1]));
    CHECK(!kernels_supports(DTYPE_Q8_K));
    CHECK(kernels_supports(DTYPE_Q6_K));
}

/* ---- dequantization variants vs ref on random blocks ------------------------------------------ */

TEST(dequant_variants) {
    unsigned long long s = 7;
    enum dtype ts[] = {DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    for (int it = 0; it < 7; it++) {
        int64_t n = dtype_block_size(ts[it]) == 1 ? 1000 + 7 : 512;
        void *w = make_weights(ts[it], 1, n, &s);
        float *ref = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        kernels_ref_dequantize_row(ts[it], w, ref, n);
        int nz = 0;
        for (int64_t i = 0; i < n; i++) nz += ref[i] != 0.0f;
        CHECK(nz > n / 2);
        for (int v = 1; v < N_ISAS; v++) {
            if (!g_isas[v]->available(cpu_features_get())) continue;
            g_isas[v]->dequantize_row(ts[it], w, y, n);
            int bad = 0;
            for (int64_t i = 0; i < n && bad < 3; i++)
                if (!(fabsf(y[i] - ref[i]) <= 1e-6f * fabsf(ref[i]) + 1e-30f)) {
                    printf("  %s %s [%lld]: %.9g vs %.9g\n", g_isas[v]->name, dtype_name(ts[it]), (long long)i, y[i],
                           ref[i]);
                    bad++;
                }
            if (bad) test_cur_failed = 1;
        }
        free(w);
        free(ref);
        free(y);
    }
}

/* ---- element-wise ops ------------------------------------------------------------------------- */

static const int64_t g_lens[] = {1, 7, 16, 33, 1000, 4099};

static void check_close(const char *what, const char *isa, const float *a, const float *b, int64_t n, double rel,
                        double abs_tol) {
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 3; i++)
        if (!(fabs((double)a[i] - b[i]) <= rel * fabs((double)b[i]) + abs_tol)) {
            printf("  %s %s n=%lld [%lld]: %.9g vs %.9g\n", isa, what, (long long)n, (long long)i, a[i], b[i]);
            bad++;
        }
    if (bad) test_cur_failed = 1;
}

TEST(elementwise_variants) {
    unsigned long long s = 99;
    for (int v = 0; v < N_ISAS; v++) {
        const struct kernels_isa *isa = g_isas[v];
        if (!isa_ok(isa)) continue;
        for (int il = 0; il < 6; il++) {
            int64_t n = g_lens[il];
            float *x = malloc(sizeof(float) * (size_t)n), *w = malloc(sizeof(float) * (size_t)n);
            float *u = malloc(sizeof(float) * (size_t)n), *r = malloc(sizeof(float) * (size_t)n);
            float *o = malloc(sizeof(float) * (size_t)n);
            for (int64_t i = 0; i < n; i++) {
                x[i] = rnd_nz(&s) * 3.0f;
                w[i] = rnd_nz(&s);
                u[i] = rnd_nz(&s) * 2.0f;
            }
            kernels_isa_ref.rmsnorm(x, w, r, n, 1e-6f);
            isa->rmsnorm(x, w, o, n, 1e-6f);
            check_close("rmsnorm", isa->name, o, r, n, 2e-6, 1e-30);
            memcpy(o, x, sizeof(float) * (size_t)n); /* in place */
            isa->rmsnorm(o, w, o, n, 1e-6f);
            check_close("rmsnorm-inplace", isa->name, o, r, n, 2e-6, 1e-30);

            for (int64_t i = 0; i < n; i++) x[i] *= (i % 5 == 0) ? 30.0f : 1.0f; /* silu far tails too */
            kernels_isa_ref.silu_mul(x, u, r, n);
            isa->silu_mul(x, u, o, n);
            check_close("silu_mul", isa->name, o, r, n, 2e-6, 1e-30);

            for (int64_t i = 0; i < n; i++) r[i] = o[i] = x[i] * 4.0f; /* spreads of ~ +-360 */
            kernels_isa_ref.softmax(r, n);
            isa->softmax(o, n);
            check_close("softmax", isa->name, o, r, n, 2e-6, 1e-37);
            double tot = 0.0;
            for (int64_t i = 0; i < n; i++) tot += o[i];
            CHECK_NEAR(tot, 1.0, 1e-5);

            double sab = 0.0;
            for (int64_t i = 0; i < n; i++) sab += fabs((double)x[i] * w[i]);
            CHECK_NEAR(isa->dot_f32(x, w, n), kernels_isa_ref.dot_f32(x, w, n), 1e-6 * sab + 1e-30);

            memcpy(r, u, sizeof(float) * (size_t)n);
            memcpy(o, u, sizeof(float) * (size_t)n);
            kernels_isa_ref.axpy_f32(r, 0.75f, x, n);
            isa->axpy_f32(o, 0.75f, x, n);
            check_close("axpy", isa->name, o, r, n, 1e-6, 1e-6);
            free(x);
            free(w);
            free(u);
            free(r);
            free(o);
        }
    }
}

TEST(softmax_hand) {
    float x[3] = {1.0f, 2.0f, 3.0f};
    kernels_softmax(x, 3);
    double e1 = exp(-2.0), e2 = exp(-1.0), z = e1 + e2 + 1.0;
    CHECK_NEAR(x[0], e1 / z, 1e-6);
    CHECK_NEAR(x[1], e2 / z, 1e-6);
    CHECK_NEAR(x[2], 1.0 / z, 1e-6);
}

/* ---- attention ---------------------------------------------------------------------------- */

/* Every variant against a direct double-precision softmax (two passes, no online
 * recurrence), on scattered slots, per-row causal limits and head sizes that take
 * the SIMD path (multiples of 16) and the fallback (others). Scores are scaled up
 * (|s| up to ~40) so the running-max rescaling matters. Bound: |do| <= 2e-5 max|v|. */
static void attn_case(int64_t hd, int64_t R, int64_t n_kv, bool bf16, unsigned long long seed) {
    int64_t stride = hd + 16, n_slots = n_kv * 2 + 3;
    float *k = malloc((size_t)(n_slots * stride) * sizeof(float)), *v = malloc((size_t)(n_slots * stride) * sizeof(float));
    float *q = malloc((size_t)(R * hd) * sizeof(float)), *o = malloc((size_t)(R * hd) * sizeof(float));
    int32_t *slots = malloc((size_t)n_kv * sizeof(int32_t)), nvalid[KERNELS_ATTN_MAX_ROWS];
    double *sc = malloc((size_t)n_kv * sizeof(double));
    const float *qr[KERNELS_ATTN_MAX_ROWS];
    float *orow[KERNELS_ATTN_MAX_ROWS];
    unsigned long long s = seed;
    uint16_t *kb = malloc((size_t)(n_slots * stride) * sizeof(uint16_t)),
             *vb = malloc((size_t)(n_slots * stride) * sizeof(uint16_t));
    for (int64_t i = 0; i < n_slots * stride; i++) {
        k[i] = rnd_nz(&s);
        v[i] = rnd_nz(&s);
        if (bf16) { /* the kernel reads bf16; the expected values use the same rounded numbers */
            kb[i] = fp16_f32_to_bf16(k[i]);
            vb[i] = fp16_f32_to_bf16(v[i]);
            k[i] = fp16_bf16_to_f32(kb[i]);
            v[i] = fp16_bf16_to_f32(vb[i]);
        }
    }
    for (int64_t i = 0; i < R * hd; i++) q[i] = rnd_nz(&s) * 3.0f;
    for (int64_t j = 0; j < n_kv; j++) slots[j] = (int32_t)((j * 7 + 3) % n_slots); /* scattered, distinct */
    for (int64_t r = 0; r < R; r++) {
        qr[r] = q + r * hd;
        orow[r] = o + r * hd;
        /* causal-like limits (the last rows see everything), and a few random ones */
        int64_t lim = n_kv - (R - 1 - r) / 2;
        if (r % 5 == 3) lim = 1 + (int64_t)(test_randf(&s) * 0.5f + 0.5f) * (n_kv - 1);
        nvalid[r] = (int32_t)(lim < 1 ? 1 : lim);
    }
    struct kernels_attn a = {.n_rows = R, .head_dim = hd, .n_kv = n_kv, .q = qr, .o = orow, .n_valid = nvalid,
                             .k = bf16 ? (const void *)kb : k, .v = bf16 ? (const void *)vb : v,
                             .kv_dtype = bf16 ? DTYPE_BF16 : DTYPE_F32, .slots = slots, .kv_stride = stride,
                             .scale = 1.0f / sqrtf((float)hd) * 4.0f};
    for (int vi = 0; vi < N_ISAS; vi++) {
        const struct kernels_isa *isa = g_isas[vi];
        if (!isa->available(cpu_features_get())) continue;
        memset(o, 0xff, (size_t)(R * hd) * sizeof(float)); /* NaN: every output must be written */
        isa->attention(&a);
        double worst = 0;
        for (int64_t r = 0; r < R; r++) {
            double mx = -INFINITY, z = 0;
            for (int64_t j = 0; j < nvalid[r]; j++) {
                const float *kj = k + (int64_t)slots[j] * stride;
                double d = 0;
                for (int64_t e = 0; e < hd; e++) d += (double)qr[r][e] * kj[e];
                sc[j] = d * a.scale;
                if (sc[j] > mx) mx = sc[j];
            }
            for (int64_t j = 0; j < nvalid[r]; j++) z += exp(sc[j] - mx);
            for (int64_t e = 0; e < hd; e++) {
                double want = 0;
                for (int64_t j = 0; j < nvalid[r]; j++) want += exp(sc[j] - mx) / z * v[(int64_t)slots[j] * stride + e];
                double err = fabs((double)orow[r][e] - want);
                if (!(err <= worst)) worst = isnan(err) ? INFINITY : err;
            }
        }
        if (!(worst <= 2e-5)) {
            printf("  attention %s %s hd %lld R %lld n_kv %lld: max error %g\n", isa->name, bf16 ? "bf16" : "f32",
                   (long long)hd, (long long)R, (long long)n_kv, worst);
            CHECK(worst <= 2e-5);
        }
    }
    free(k);
    free(v);
    free(q);
    free(o);
    free(slots);
    free(sc);
    free(kb);
    free(vb);
}

TEST(attention_variants) {
    static const int64_t hds[] = {8, 16, 64, 80, 128, 256};
    static const int64_t Rs[] = {1, 2, 3, 16, 32};
    static const int64_t nkvs[] = {1, 5, 63, 64, 65, 200};
    unsigned long long seed = 1;
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (size_t r = 0; r < sizeof Rs / sizeof *Rs; r++)
            for (size_t n = 0; n < sizeof nkvs / sizeof *nkvs; n++)
                for (int b = 0; b < 2; b++) attn_case(hds[h], Rs[r], nkvs[n], b == 1, seed++);
}

TEST(impl_names) {
    for (int t = 0; t < DTYPE_COUNT; t++) {
        if (!kernels_supports((enum dtype)t)) continue;
        const char *name = kernels_impl_name((enum dtype)t);
        CHECK(name != NULL && name[0] != '\0');
    }
    const struct cpu_features *f = cpu_features_get();
    if (f->avx512f && f->avx512_vnni) CHECK_STR(kernels_impl_name(DTYPE_Q8_0), "avx512vnni");
    printf("  selected: %s (F32 %s, Q4_K %s)\n", kernels_isa_select()->name, kernels_impl_name(DTYPE_F32),
           kernels_impl_name(DTYPE_Q4_K));
}

int main(void) {
    RUN(dequant_q8_0_hand);
    RUN(dequant_q4_0_hand);
    RUN(dequant_q4_K_hand);
    RUN(dequant_q5_K_hand);
    RUN(dequant_q6_K_hand);
    RUN(dequant_f16_bf16_hand);
    RUN(quantize_q8_0);
    RUN(quantize_q4_0);
    RUN(quantize_f16_bf16);
    RUN(dequant_variants);
    RUN(elementwise_variants);
    RUN(softmax_hand);
    RUN(attention_variants);
    RUN(impl_names);
    RUN(matmul_rejects_bad_shape);
    RUN(matmul_public_scratch);
    RUN(matmul_multi_equals_single);
    RUN(matmul_f32);
    RUN(matmul_f16);
    RUN(matmul_bf16);
    RUN(matmul_bf16_act);
    RUN(matmul_bf16_act_effect);
    RUN(matmul_q8_0);
    RUN(matmul_q4_0);
    RUN(matmul_q4_K);
    RUN(matmul_q5_K);
    RUN(matmul_q6_K);
    return test_summary();
}
