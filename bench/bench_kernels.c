/* bench_kernels: matmul throughput of the selected kernels at the Qwen3-0.6B
 * projection shapes, decode (M = 1) and prefill (M = 128, 512).
 *
 *   bench_kernels [--dtypes bf16,bf16a,f16,f32,q8_0,q4_0,q4_k,q5_k,q6_k] [--threads 1,2]
 *                 [--m 1,128,512] [--shapes up,down,lmhead] [--runs R] [--lmhead-prefill] [--cputime]
 *
 * Shapes (y[M][N] = x[M][K] W[N][K]^T): up = gate/up projection K 1024 -> N 3072,
 * down = K 3072 -> N 1024, lmhead = K 1024 -> N 151936 (prefill only with
 * --lmhead-prefill: serving computes logits for the last token only). bf16a is
 * BF16 with kernels_matmul_opts.bf16_activations (AMX tiles for M >= 16 where
 * the CPU has them).
 *
 * For each case it prints the median time of R runs (default 5), GFLOP/s
 * (2 M N K / t), weight GB/s (weight bytes / t) and the achieved fraction of the
 * two limits measured in the same process first: streaming read bandwidth
 * (decode is bound by it) and the f32 FMA peak of the thread count (prefill).
 * Decode runs rotate over enough weight copies to exceed 1 GiB, so weights come
 * from DRAM as in a real forward pass, not from the last-level cache. Weights
 * are random (valid blocks); activations random in [-1, 1).
 *
 * --cputime (single thread only) times with the thread's CPU clock instead of
 * the wall clock: on a shared, oversubscribed machine this still measures what
 * the kernels do per second of CPU they get (cache interference from the other
 * processes remains). */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/cpu_features.h"
#include "base/fp16.h"
#include "base/tensor.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"

enum { MAX_RUNS = 50, MAX_LIST = 16 };

static unsigned long long g_rng = 0x9E3779B97F4A7C15ULL;
static float rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static bool g_cputime;

/* Seconds on the wall clock, or on this thread's CPU clock with --cputime. */
static double now_s(void) {
    if (!g_cputime) return clock_now_s();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the two limits ------------------------------------------------------------------------- */

struct read_task {
    const float *buf;
    int64_t n;
    float sums[64];
};

__attribute__((target("avx2"))) static void read_fn(void *ctx, int ith, int nth) {
    struct read_task *t = ctx;
    long long lo, hi;
    threadpool_split(t->n / 32, ith, nth, &lo, &hi);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (long long i = lo * 32; i < hi * 32; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(t->buf + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(t->buf + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(t->buf + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(t->buf + i + 24));
    }
    float o[8];
    _mm256_storeu_ps(o, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    t->sums[ith] = o[0] + o[7];
}

/* Median streaming-read GB/s over a 1 GiB buffer. */
static double measure_bandwidth(struct threadpool *pool) {
    size_t bytes = (size_t)1 << 30;
    float *buf = aligned_alloc(64, bytes);
    if (!buf) return 0.0;
    memset(buf, 0, bytes);
    struct read_task t = {.buf = buf, .n = (int64_t)(bytes / 4)};
    double times[5];
    threadpool_run(pool, read_fn, &t);
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        threadpool_run(pool, read_fn, &t);
        times[r] = now_s() - t0;
    }
    free(buf);
    qsort(times, 5, sizeof times[0], cmp_double);
    return (double)bytes / times[2] / 1e9;
}

struct fma_task {
    double flops[64];
    double sink[64]; /* keeps the loops' results alive */
    bool avx512;
};

__attribute__((target("avx2,fma,avx512f"))) static double fma_loop512(long iters) {
    __m512 a[12];
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
        __asm__ volatile("" : "+v"(m));
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    return s;
}

__attribute__((target("avx2,fma"))) static double fma_loop256(long iters) {
    __m256 a[12];
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
        __asm__ volatile("" : "+x"(m));
    }
    float o[8], s = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(o, a[i]);
        s += o[0];
    }
    return s;
}

static void fma_fn(void *ctx, int ith, int nth) {
    struct fma_task *t = ctx;
    const long iters = 20000000;
    double t0 = now_s();
    t->sink[ith] = t->avx512 ? fma_loop512(iters) : fma_loop256(iters);
    double dt = now_s() - t0;
    t->flops[ith] = (double)iters * 12 * (t->avx512 ? 32 : 16) / dt;
}

/* f32 FMA GFLOP/s of the pool (sum over threads). */
static double measure_fma_peak(struct threadpool *pool) {
    struct fma_task t = {.avx512 = cpu_features_get()->avx512f};
    double best = 0.0;
    for (int r = 0; r < 3; r++) {
        threadpool_run(pool, fma_fn, &t);
        double s = 0.0;
        for (int i = 0; i < threadpool_size(pool); i++) s += t.flops[i];
        best = s > best ? s : best;
    }
    return best / 1e9;
}

/* ---- weights ----------------------------------------------------------------------------------- */

static void *make_weights(enum dtype t, int64_t N, int64_t K) {
    size_t rb = dtype_row_bytes(t, K), bytes = rb * (size_t)N;
    uint8_t *w = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!w) return NULL;
    if (t == DTYPE_Q4_K || t == DTYPE_Q5_K || t == DTYPE_Q6_K) {
        for (size_t i = 0; i < bytes; i++) {
            g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
            w[i] = (uint8_t)(g_rng >> 56);
        }
        size_t bb = dtype_block_bytes(t);
        uint16_t d = fp16_f32_to_f16(0.01f), dm = fp16_f32_to_f16(0.002f);
        for (size_t off = 0; off < bytes; off += bb) {
            memcpy(w + off + (t == DTYPE_Q6_K ? 208 : 0), &d, 2);
            if (t != DTYPE_Q6_K) memcpy(w + off + 2, &dm, 2);
        }
        return w;
    }
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) row[k] = rnd() * 0.05f;
        kernels_quantize_row(t, row, w + rb * (size_t)n, K);
    }
    free(row);
    return w;
}

/* ---- driver --------------------------------------------------------------------------------------- */

struct shape {
    const char *name;
    int64_t K, N;
};

static const struct shape g_shapes[] = {{"up", 1024, 3072}, {"down", 3072, 1024}, {"lmhead", 1024, 151936}};

static int parse_ints(const char *s, int *out, int max) {
    int n = 0;
    while (*s && n < max) {
        out[n++] = atoi(s);
        const char *c = strchr(s, ',');
        if (!c) break;
        s = c + 1;
    }
    return n;
}

static bool list_has(const char *list, const char *name) {
    if (!list) return true;
    size_t len = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += len)
        if ((p == list || p[-1] == ',') && (p[len] == ',' || p[len] == '\0')) return true;
    return false;
}

static void lower(char *dst, const char *src) {
    for (; *src; src++) *dst++ = (char)(*src >= 'A' && *src <= 'Z' ? *src + 32 : *src);
    *dst = '\0';
}

int main(int argc, char **argv) {
    const char *dtypes = NULL, *shapes = NULL;
    int threads[MAX_LIST] = {1, 2}, n_threads = 2, ms[MAX_LIST] = {1, 128, 512}, n_ms = 3, runs = 5;
    bool lm_prefill = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dtypes") && i + 1 < argc)
            dtypes = argv[++i];
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc)
            shapes = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            n_threads = parse_ints(argv[++i], threads, MAX_LIST);
        else if (!strcmp(argv[i], "--m") && i + 1 < argc)
            n_ms = parse_ints(argv[++i], ms, MAX_LIST);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lmhead-prefill"))
            lm_prefill = true;
        else if (!strcmp(argv[i], "--cputime"))
            g_cputime = true;
        else {
            fprintf(stderr,
                    "usage: %s [--dtypes bf16,bf16a,f16,f32,q8_0,q4_0,q4_k,q5_k,q6_k] [--threads 1,2] [--m 1,128,512]\n"
                    "          [--shapes up,down,lmhead] [--runs R] [--lmhead-prefill] [--cputime]\n",
                    argv[0]);
            return 2;
        }
    }
    if (g_cputime) {
        n_threads = 1;
        threads[0] = 1;
    }
    if (runs < 3) runs = 3;
    if (runs > MAX_RUNS) runs = MAX_RUNS;
    if (!cpu_features_get()->avx2) {
        fprintf(stderr, "bench_kernels needs AVX2 for its baselines\n");
        return 1;
    }
    printf("bench_kernels: cpu %s; %d runs per case (median)%s\n", cpu_features_string(), runs,
           g_cputime ? "; CPU-time clock, 1 thread" : "");

    /* BF16 twice: exact, then with bf16 activations ("bf16a") */
    static const enum dtype all_types[] = {DTYPE_BF16, DTYPE_BF16, DTYPE_F16,  DTYPE_F32, DTYPE_Q8_0,
                                           DTYPE_Q4_0, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    for (int it = 0; it < n_threads; it++) {
        int nth = threads[it];
        struct threadpool *pool = threadpool_create(nth);
        if (!pool) return 1;
        double bw = measure_bandwidth(pool), peak = measure_fma_peak(pool);
        printf("\nthreads %d: baseline read bandwidth %.1f GB/s, f32 FMA peak %.0f GFLOP/s\n", nth, bw, peak);
        printf("%-6s %-7s %5s %10s %9s %8s %7s %7s  %s\n", "dtype", "shape", "M", "ms", "GFLOP/s", "GB/s", "%bw",
               "%peak", "impl");
        for (size_t ti = 0; ti < sizeof all_types / sizeof all_types[0]; ti++) {
            enum dtype t = all_types[ti];
            bool bf16a = ti == 1;
            char lname[16];
            lower(lname, dtype_name(t));
            if (bf16a) strcat(lname, "a");
            if (!list_has(dtypes, lname)) continue;
            for (size_t si = 0; si < sizeof g_shapes / sizeof g_shapes[0]; si++) {
                const struct shape *sh = &g_shapes[si];
                if (!list_has(shapes, sh->name)) continue;
                size_t wbytes = dtype_row_bytes(t, sh->K) * (size_t)sh->N;
                int copies = (int)(((size_t)1 << 30) / wbytes + 1);
                void *wc[64] = {0};
                wc[0] = make_weights(t, sh->N, sh->K);
                if (!wc[0]) return 1;
                for (int im = 0; im < n_ms; im++) {
                    int64_t M = ms[im];
                    if (M > 1 && !strcmp(sh->name, "lmhead") && !lm_prefill) continue;
                    int nc = M == 1 ? (copies < 64 ? copies : 64) : 1;
                    for (int c = 1; c < nc; c++) {
                        if (!wc[c]) {
                            wc[c] = aligned_alloc(64, (wbytes + 63) / 64 * 64);
                            if (!wc[c]) return 1;
                            memcpy(wc[c], wc[0], wbytes);
                        }
                    }
                    float *x = malloc(sizeof(float) * (size_t)(M * sh->K));
                    float *y = malloc(sizeof(float) * (size_t)(M * sh->N));
                    for (int64_t i = 0; i < M * sh->K; i++) x[i] = rnd();
                    size_t sbytes = kernels_matmul_scratch_size(nth, M, sh->K, t);
                    void *scratch = sbytes ? malloc(sbytes) : NULL;
                    struct tensor W = {.dtype = t, .n_dims = 2, .shape = {sh->N, sh->K}, .nbytes = wbytes};
                    struct kernels_matmul_opts opts = {
                        .scratch = scratch, .scratch_bytes = sbytes, .bf16_activations = bf16a};
                    double times[MAX_RUNS];
                    W.data = wc[0];
                    kernels_matmul_ex(pool, x, M, sh->K, &W, NULL, y, &opts); /* warm-up */
                    for (int r = 0; r < runs; r++) {
                        double t0 = now_s();
                        for (int c = 0; c < nc; c++) {
                            W.data = wc[c];
                            kernels_matmul_ex(pool, x, M, sh->K, &W, NULL, y, &opts);
                        }
                        times[r] = (now_s() - t0) / nc;
                    }
                    qsort(times, (size_t)runs, sizeof times[0], cmp_double);
                    double tm = times[runs / 2];
                    double gflops = 2.0 * (double)M * (double)sh->N * (double)sh->K / tm / 1e9;
                    double gbs = (double)wbytes / tm / 1e9;
                    printf("%-6s %-7s %5lld %10.3f %9.1f %8.1f %6.0f%% %6.0f%%  %s\n", bf16a ? "BF16a" : dtype_name(t),
                           sh->name, (long long)M, tm * 1e3, gflops, gbs, 100.0 * gbs / bw, 100.0 * gflops / peak,
                           bf16a && M >= 32 && cpu_features_get()->amx_bf16 ? "amx-bf16" : kernels_impl_name(t));
                    fflush(stdout);
                    free(scratch);
                    free(x);
                    free(y);
                }
                for (int c = 0; c < 64; c++) free(wc[c]);
            }
        }
        threadpool_destroy(pool);
    }
    return 0;
}
