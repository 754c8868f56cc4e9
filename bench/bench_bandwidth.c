/* bench_bandwidth: streaming-read memory bandwidth, the ceiling of decode
 * (every weight byte is read once per token).
 *
 *   bench_bandwidth [--mib N] [--runs R] [--threads T]
 *
 * Reads a buffer much larger than the last-level cache (default 1 GiB, filled
 * first so every page is backed) with 1..T threads of the kernels' thread pool
 * (each thread sums its contiguous share with 4 independent AVX2 accumulators,
 * or a scalar loop if the CPU lacks AVX2) and prints the median and best GB/s
 * (1 GB = 1e9 bytes) of R runs per thread count. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/cpu_features.h"
#include "base/threadpool.h"

struct bw_task {
    const float *buf;
    int64_t n;
    bool avx2;
    float sums[64];
};

__attribute__((target("avx2"))) static float sum_avx2(const float *p, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

static float sum_scalar(const float *p, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += p[i];
    return s;
}

static void bw_fn(void *ctx, int ith, int nth) {
    struct bw_task *t = ctx;
    long long lo, hi;
    threadpool_split(t->n / 32, ith, nth, &lo, &hi);
    const float *p = t->buf + lo * 32;
    int64_t n = (hi - lo) * 32;
    t->sums[ith] = t->avx2 ? sum_avx2(p, n) : sum_scalar(p, n);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long mib = 1024;
    int runs = 7, max_threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            max_threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--mib N] [--runs R] [--threads T]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > 100 || max_threads < 1 || max_threads > 64 || mib < 1) return 2;
    size_t bytes = (size_t)mib << 20;
    float *buf = aligned_alloc(64, bytes);
    if (!buf) {
        fprintf(stderr, "cannot allocate %ld MiB\n", mib);
        return 1;
    }
    memset(buf, 0, bytes);
    for (size_t i = 0; i < bytes / sizeof(float); i += 1024) buf[i] = 1.0f;
    struct bw_task task = {.buf = buf, .n = (int64_t)(bytes / sizeof(float)), .avx2 = cpu_features_get()->avx2};
    printf("bench_bandwidth: %ld MiB buffer, %d runs, read kernel %s, cpu: %s\n", mib, runs,
           task.avx2 ? "avx2" : "scalar", cpu_features_string());
    double times[100];
    for (int nth = 1; nth <= max_threads; nth++) {
        struct threadpool *pool = threadpool_create(nth);
        if (!pool) return 1;
        threadpool_run(pool, bw_fn, &task); /* warm-up: page tables, worker start */
        for (int r = 0; r < runs; r++) {
            double t0 = clock_now_s();
            threadpool_run(pool, bw_fn, &task);
            times[r] = clock_now_s() - t0;
        }
        qsort(times, (size_t)runs, sizeof times[0], cmp_double);
        float chk = 0.0f;
        for (int i = 0; i < nth; i++) chk += task.sums[i];
        printf("threads %d: median %.1f GB/s, best %.1f GB/s (checksum %.0f)\n", nth,
               (double)bytes / times[runs / 2] / 1e9, (double)bytes / times[0] / 1e9, (double)chk);
        threadpool_destroy(pool);
    }
    free(buf);
    return 0;
}
