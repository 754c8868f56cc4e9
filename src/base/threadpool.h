/* threadpool: a persistent pool of compute threads running one data-parallel
 * task at a time with (ith, nth) partitioning.
 *
 *   threadpool_run(pool, fn, ctx) calls fn(ctx, ith, nth) for ith = 0..nth-1,
 *   the caller's thread taking ith = 0, and returns when all calls are done.
 *
 * One thread (the owner, e.g. the scheduler or the CLI) submits tasks; calls to
 * threadpool_run must not overlap. Workers spin briefly after a task, then sleep
 * on a condition variable, so back-to-back kernels avoid futex round trips. */
#ifndef SGLC_BASE_THREADPOOL_H
#define SGLC_BASE_THREADPOOL_H

typedef void (*threadpool_fn)(void *ctx, int ith, int nth);

struct threadpool;

/* n_threads <= 0 means the number of online CPUs. Returns NULL on failure. */
struct threadpool *threadpool_create(int n_threads);
void threadpool_destroy(struct threadpool *pool);
int threadpool_size(const struct threadpool *pool);
/* pool may be NULL: then fn(ctx, 0, 1) runs inline. */
void threadpool_run(struct threadpool *pool, threadpool_fn fn, void *ctx);

/* Splits [0, n) into nth near-equal chunks; chunk ith is [*lo, *hi). */
static inline void threadpool_split(long long n, int ith, int nth, long long *lo, long long *hi) {
    long long base = n / nth, rem = n % nth;
    *lo = ith * base + (ith < rem ? ith : rem);
    *hi = *lo + base + (ith < rem ? 1 : 0);
}

#endif
