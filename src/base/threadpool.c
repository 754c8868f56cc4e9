/* threadpool: persistent workers (see threadpool.h).
 *
 * Protocol: the owner publishes (fn, ctx), bumps `generation` and wakes the
 * workers. Each worker runs its share, then decrements `pending`; the owner
 * runs share 0 and spins until `pending` reaches 0. Workers poll `generation`
 * for a while before sleeping on `cond`, which keeps per-kernel overhead in the
 * microseconds during a forward pass. */
#include "base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

struct threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    atomic_uint generation;
    atomic_int pending;
    atomic_int stop;
    threadpool_fn fn;
    void *ctx;
};

struct worker_arg {
    struct threadpool *pool;
    int ith;
};

/* ~100-500 us of polling: covers the gap between back-to-back kernels of a
 * forward pass without burning a core for long when the host is oversubscribed. */
enum { SPIN_ITERS = 4096 };

static void *worker_main(void *p) {
    struct worker_arg *arg = p;
    struct threadpool *pool = arg->pool;
    int ith = arg->ith;
    free(arg);
    unsigned seen = 0; /* the generation at creation: a task published before this thread got here still runs */
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->stop)) {
            if (++spins < SPIN_ITERS) {
                CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&pool->mu);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cond, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->stop)) break;
        seen = gen;
        pool->fn(pool->ctx, ith, pool->n_threads);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
    return NULL;
}

struct threadpool *threadpool_create(int n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    struct threadpool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!pool->threads) {
        free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *arg = malloc(sizeof *arg);
        if (!arg || (arg->pool = pool, arg->ith = i, pthread_create(&pool->threads[i], NULL, worker_main, arg) != 0)) {
            free(arg);
            pool->n_threads = i; /* only the started workers are joined */
            threadpool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void threadpool_destroy(struct threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cond);
    free(pool->threads);
    free(pool);
}

int threadpool_size(const struct threadpool *pool) { return pool ? pool->n_threads : 1; }

void threadpool_run(struct threadpool *pool, threadpool_fn fn, void *ctx) {
    if (!pool || pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store(&pool->pending, pool->n_threads - 1);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->mu);
    fn(ctx, 0, pool->n_threads);
    /* Wait for the workers: poll, then yield so a descheduled worker can run on this core. */
    for (int spins = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) != 0; spins++) {
        if (spins < SPIN_ITERS) CPU_RELAX();
        else sched_yield();
    }
}
