/* kernels: run-time dispatch and the matmul driver (see kernels.h and
 * kernels_impl.h).
 *
 * Dispatch keeps no state: every call picks the best const ISA table for
 * cpu_features_get() (a few flag tests). SGLC_DISABLE_AVX512=1 in the
 * environment makes cpu_features hide AVX-512, so the AVX2 tables run.
 *
 * Matmul driver: scratch = [prepared x: round_up(M, KERNELS_XP_ROWS) rows]
 * [thread 0 panel]...[thread nth-1 panel], each part 64-byte aligned; from the
 * caller (kernels_matmul_opts), else from a 32 KiB buffer on the calling
 * thread's stack when that suffices (decode: no allocation per token), else
 * malloc'd for the call. Phase 1 prepares x (quantize / round / permute rows;
 * inline when small, otherwise split over the pool by rows). Phase 2 splits the
 * output over the pool: by weight rows (N, in units of 16 rows) normally, by
 * activation rows (units of KERNELS_XP_ROWS) when N is too small to feed every
 * thread. Each thread writes a disjoint block of y; the pool threads read the
 * caller's stack buffer while the caller waits in threadpool_run. */
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/threadpool.h"
#include "kernels/kernels_impl.h"

enum {
    MM_N_UNIT = 16,              /* weight rows per scheduling unit */
    MM_M_UNIT = KERNELS_XP_ROWS, /* activation rows per unit when splitting M */
    MM_PREP_INLINE = 1 << 16,    /* prepare x on the calling thread below this many values */
    MM_STACK_SCRATCH = 32 << 10, /* scratch needs up to this size (decode) use the caller's stack */
};

const struct kernels_isa *kernels_isa_select(void) {
    const struct cpu_features *f = cpu_features_get();
    if (kernels_isa_avx512.available(f)) return &kernels_isa_avx512;
    if (kernels_isa_avx2.available(f)) return &kernels_isa_avx2;
    return &kernels_isa_ref;
}

bool kernels_supports(enum dtype t) {
    switch (t) {
    case DTYPE_F32:
    case DTYPE_F16:
    case DTYPE_BF16:
    case DTYPE_Q8_0:
    case DTYPE_Q4_0:
    case DTYPE_Q4_K:
    case DTYPE_Q5_K:
    case DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static int64_t xp_rows(int64_t M) { return (M + KERNELS_XP_ROWS - 1) / KERNELS_XP_ROWS * KERNELS_XP_ROWS; }

size_t kernels_matmul_isa_scratch_size(const struct kernels_isa *isa, int n_threads, int64_t M, int64_t K,
                                       enum dtype wt, bool bf16_act) {
    if (n_threads < 1) n_threads = 1;
    struct kernels_mm mm = {.M = M, .K = K, .wt = wt, .bf16_act = bf16_act && wt == DTYPE_BF16};
    size_t xp = (size_t)xp_rows(M) * isa->mm_xp_row_bytes(&mm);
    size_t ts = align64(isa->mm_thread_bytes(&mm));
    size_t total = align64(xp) + (size_t)n_threads * ts;
    return total ? total + 64 : 0; /* + 64: room to align an arbitrary buffer */
}

size_t kernels_matmul_scratch_size(int n_threads, int64_t M, int64_t K, enum dtype wt) {
    const struct kernels_isa *isa = kernels_isa_select();
    size_t a = kernels_matmul_isa_scratch_size(isa, n_threads, M, K, wt, false);
    size_t b = kernels_matmul_isa_scratch_size(isa, n_threads, M, K, wt, true);
    return a > b ? a : b;
}

enum { MM_MAX_MULTI = 4 };

/* One driver call: up to MM_MAX_MULTI products sharing x (and its prepared copy). */
struct mm_task {
    const struct kernels_isa *isa;
    struct kernels_mm mm[MM_MAX_MULTI];
    int n_mm;
    int64_t units[MM_MAX_MULTI + 1]; /* prefix sums of each product's N units */
    uint8_t *ts;                     /* thread scratch base */
    size_t ts_bytes;
    bool split_m;
};

static void mm_prep_task(void *ctx, int ith, int nth) {
    const struct mm_task *t = ctx;
    long long lo, hi;
    threadpool_split(t->mm[0].M, ith, nth, &lo, &hi);
    if (lo < hi) t->isa->mm_prep_x(&t->mm[0], lo, hi);
}

static void mm_run_task(void *ctx, int ith, int nth) {
    const struct mm_task *t = ctx;
    long long lo, hi;
    uint8_t *ts = t->ts ? t->ts + (size_t)ith * t->ts_bytes : NULL;
    if (t->split_m) { /* one product, N too small to feed every thread */
        const struct kernels_mm *mm = &t->mm[0];
        threadpool_split((mm->M + MM_M_UNIT - 1) / MM_M_UNIT, ith, nth, &lo, &hi);
        int64_t m0 = lo * MM_M_UNIT, m1 = hi * MM_M_UNIT < mm->M ? hi * MM_M_UNIT : mm->M;
        if (m0 < m1) t->isa->mm_run(mm, m0, m1, 0, mm->N, ts);
        return;
    }
    /* the products' weight rows, concatenated, in units of MM_N_UNIT rows */
    threadpool_split(t->units[t->n_mm], ith, nth, &lo, &hi);
    for (int i = 0; i < t->n_mm; i++) {
        int64_t u0 = lo > t->units[i] ? lo : t->units[i], u1 = hi < t->units[i + 1] ? hi : t->units[i + 1];
        if (u0 >= u1) continue;
        const struct kernels_mm *mm = &t->mm[i];
        int64_t n0 = (u0 - t->units[i]) * MM_N_UNIT, n1 = (u1 - t->units[i]) * MM_N_UNIT;
        t->isa->mm_run(mm, 0, mm->M, n0, n1 < mm->N ? n1 : mm->N, ts);
    }
}

static bool mm_shape_ok(const struct tensor *W, int64_t K) {
    enum dtype wt = W->dtype;
    return kernels_supports(wt) && W->n_dims == 2 && W->shape[1] == K && K % dtype_block_size(wt) == 0;
}

/* Runs the n (<= MM_MAX_MULTI) products of x with weights of one dtype and valid shapes. */
static void mm_drive(const struct kernels_isa *isa, struct threadpool *pool, const float *x, int64_t M, int64_t K,
                     int n, const struct tensor *const *W, const float *const *bias, float *const *y,
                     const struct kernels_matmul_opts *opts) {
    enum dtype wt = W[0]->dtype;
    bool bf16_act = opts && opts->bf16_activations && wt == DTYPE_BF16;
    void *scratch = opts ? opts->scratch : NULL;
    int nth = pool ? threadpool_size(pool) : 1;
    size_t need = kernels_matmul_isa_scratch_size(isa, nth, M, K, wt, bf16_act);
    void *owned = NULL;
    _Alignas(64) uint8_t stack_scratch[MM_STACK_SCRATCH];
    if (need && (!scratch || opts->scratch_bytes < need) && need <= sizeof stack_scratch) {
        scratch = stack_scratch;
    } else if (need && (!scratch || opts->scratch_bytes < need)) {
        owned = malloc(need);
        if (!owned) {
            LOG_WARN("no memory for %zu bytes of matmul scratch; using the scalar reference", need);
            isa = &kernels_isa_ref;
            need = 0;
        }
        scratch = owned;
    }
    uint8_t *base = need ? (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63) : NULL;

    struct mm_task t = {.isa = isa, .n_mm = n};
    for (int i = 0; i < n; i++) {
        int64_t N = W[i]->shape[0];
        t.mm[i] = (struct kernels_mm){.x = x,
                                      .M = M,
                                      .K = K,
                                      .N = N,
                                      .wt = wt,
                                      .w = W[i]->data,
                                      .w_row_bytes = dtype_row_bytes(wt, K),
                                      .bias = bias ? bias[i] : NULL,
                                      .y = y[i],
                                      .bf16_act = bf16_act};
        t.units[i + 1] = t.units[i] + (N + MM_N_UNIT - 1) / MM_N_UNIT;
    }
    size_t xp_row_bytes = isa->mm_xp_row_bytes(&t.mm[0]);
    t.ts_bytes = align64(isa->mm_thread_bytes(&t.mm[0]));
    for (int i = 0; i < n; i++) {
        t.mm[i].xp_row_bytes = xp_row_bytes;
        if (xp_row_bytes) t.mm[i].xp = base;
    }
    t.ts = base ? base + align64((size_t)xp_rows(M) * xp_row_bytes) : NULL;
    t.split_m = n == 1 && t.units[1] < 2 * nth && M >= 2 * MM_M_UNIT * nth;

    if (xp_row_bytes) {
        if (!pool || M * K < MM_PREP_INLINE || M < nth)
            isa->mm_prep_x(&t.mm[0], 0, M);
        else
            threadpool_run(pool, mm_prep_task, &t);
    }
    threadpool_run(pool, mm_run_task, &t);
    free(owned);
}

static void mm_fill_nan(const struct tensor *W, int64_t M, int64_t K, float *y) {
    int64_t N = W->n_dims == 2 ? W->shape[0] : 0;
    LOG_ERROR("unsupported matmul: W %s n_dims %d, K %lld", dtype_name(W->dtype), W->n_dims, (long long)K);
    for (int64_t i = 0; i < M * N; i++) y[i] = NAN;
}

void kernels_matmul_isa(const struct kernels_isa *isa, struct threadpool *pool, const float *x, int64_t M, int64_t K,
                        const struct tensor *W, const float *bias, float *y, const struct kernels_matmul_opts *opts) {
    if (!mm_shape_ok(W, K)) {
        mm_fill_nan(W, M, K, y);
        return;
    }
    if (M <= 0 || W->shape[0] <= 0) return;
    mm_drive(isa, pool, x, M, K, 1, &W, &bias, &y, opts);
}

void kernels_matmul_multi(struct threadpool *pool, const float *x, int64_t M, int64_t K, int n,
                          const struct tensor *const *W, const float *const *bias, float *const *y,
                          const struct kernels_matmul_opts *opts) {
    const struct kernels_isa *isa = kernels_isa_select();
    bool together = n >= 1 && n <= MM_MAX_MULTI && M > 0;
    for (int i = 0; i < n && together; i++)
        together = mm_shape_ok(W[i], K) && W[i]->dtype == W[0]->dtype && W[i]->shape[0] > 0;
    if (!together) {
        for (int i = 0; i < n; i++) kernels_matmul_isa(isa, pool, x, M, K, W[i], bias ? bias[i] : NULL, y[i], opts);
        return;
    }
    mm_drive(isa, pool, x, M, K, n, W, bias, y, opts);
}

void kernels_matmul_ex(struct threadpool *pool, const float *x, int64_t M, int64_t K, const struct tensor *W,
                       const float *bias, float *y, const struct kernels_matmul_opts *opts) {
    kernels_matmul_isa(kernels_isa_select(), pool, x, M, K, W, bias, y, opts);
}

void kernels_matmul(struct threadpool *pool, const float *x, int64_t M, int64_t K, const struct tensor *W,
                    const float *bias, float *y) {
    kernels_matmul_isa(kernels_isa_select(), pool, x, M, K, W, bias, y, NULL);
}

void kernels_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n) {
    kernels_isa_select()->dequantize_row(t, src, dst, n);
}

void kernels_quantize_row(enum dtype t, const float *src, void *dst, int64_t n) {
    kernels_ref_quantize_row(t, src, dst, n);
}

void kernels_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    kernels_isa_select()->rmsnorm(x, w, y, n, eps);
}

void kernels_silu_mul(const float *gate, const float *up, float *out, int64_t n) {
    kernels_isa_select()->silu_mul(gate, up, out, n);
}

void kernels_softmax(float *x, int64_t n) { kernels_isa_select()->softmax(x, n); }

float kernels_dot_f32(const float *a, const float *b, int64_t n) { return kernels_isa_select()->dot_f32(a, b, n); }

void kernels_axpy_f32(float *y, float a, const float *x, int64_t n) { kernels_isa_select()->axpy_f32(y, a, x, n); }

void kernels_attention(const struct kernels_attn *a) { kernels_isa_select()->attention(a); }

const char *kernels_impl_name(enum dtype t) { return kernels_isa_select()->impl_name(t); }
