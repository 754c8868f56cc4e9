/* sampler: logits row -> next token id (see sampler.h for the order of operations).
 *
 * Hot path, per call on one row of V logits (V ~ 152k), no allocation:
 *   1. penalties and mask: sparse, touch only biased / seen / masked ids;
 *   2. the row maximum m (read only; NaN loses every comparison below and gets
 *      weight 0 in the exp, so it is never rewritten);
 *   3. greedy: first index equal to m;
 *   4. small top_k (<= SAMPLER_SMALL_K): a k-entry min-heap on the stack selects
 *      the k best logits in one pass (blocks of 16 whose values cannot enter the
 *      heap are skipped with one vectorizable compare); exp, top_p, min_p and the
 *      draw then work on those k sorted candidates only;
 *   5. otherwise: w[i] = exp((x[i] - m) / T) in place (exp_row: a branch-free
 *      16-lane exp, compiled for SSE2 / AVX2 / AVX-512 and picked at run time).
 *      Each filter is a "cut": a threshold t plus the first n_eq ties by id,
 *      found by a radix select on the float bits of w instead of a sort: a
 *      1024-bin histogram of count and mass narrows the key 10 bits per pass,
 *      and once the boundary bin holds <= SAMPLER_GATHER tokens they are
 *      heap-sorted on the stack. Every kept token has w >= a floor: the top_k
 *      cut's value, min_p, and for top_p (1 - top_p) * Z / (2 V), since the
 *      tokens below that weigh less together than the mass top_p leaves out.
 *      The tokens above the floor (usually a few hundred) are listed once; the
 *      top_p cut and the draw then run over that list. If more than
 *      SAMPLER_CANDS pass (flat rows), the cut runs over the row and the draw
 *      zeroes what is cut and walks the row.
 * Sums go through chunk_sum16 (a fixed tree over 16 values, added in double) so
 * the total used for the draw and the draw itself see the same numbers.
 * Invariants: after step 5's exp, 0 <= w <= 1 and the max token has w == 1, so
 * float bit patterns of w order like the values and fit in 30 bits.
 *
 * History for penalties: a bitset over the vocab (prompt and output ids) for the
 * repetition penalty, and an open-addressing hash map id -> count of output tokens
 * for frequency/presence; each exists only if its penalty was on at create.
 *
 * Threading: a sampler_state is used by one thread at a time; everything else is
 * pure. The RNG is xoshiro256** seeded through splitmix64. */
#include "sampling/sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"
#include "base/cpu_features.h"

#define SAMPLER_GREEDY_EPS 1e-6f /* temperatures below this sample greedily (as SGLang) */
#define SAMPLER_SMALL_K    1024  /* top_k up to this uses the stack heap (8 KiB) */
#define SAMPLER_GATHER     512   /* boundary bins up to this size are sorted directly */
#define SAMPLER_BINS       1024  /* radix digit: 10 bits */
#define SAMPLER_LEVELS     3     /* key bits 29..20, 19..10, 9..0 */
#define SAMPLER_CANDS      4096  /* stack list of tokens above the cut floor (16 KiB) */

struct sampler_state {
    uint64_t rng[4];
    int32_t vocab;
    uint64_t *seen;      /* bitset[vocab]: prompt and output ids; NULL unless repetition penalty */
    int32_t *count_ids;  /* hash map keys, -1 = empty slot; NULL unless frequency/presence penalty */
    int32_t *count_vals; /* occurrences of count_ids[slot] among output tokens */
    uint32_t count_cap;  /* power of two; load kept <= 1/2 */
    uint32_t count_n;
};

/* ---------------------------------------------------------------- params */

void sampling_params_init(struct sampling_params *p) {
    memset(p, 0, sizeof *p);
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    p->top_k = -1;
    p->min_p = 0.0f;
    p->repetition_penalty = 1.0f;
}

/* v must lie in [lo, hi], with lo excluded when lo_open; NaN fails. */
static int check_range(struct sgl_err *err, const char *name, float v, float lo, float hi, bool lo_open) {
    bool ok = (lo_open ? v > lo : v >= lo) && v <= hi;
    if (ok) return 0;
    return err_setf(err, ERR_INVALID, "%s must be in %c%g, %g], got %g", name, lo_open ? '(' : '[', (double)lo,
                    (double)hi, (double)v);
}

int sampling_params_validate(const struct sampling_params *p, int32_t vocab_size, struct sgl_err *err) {
    if (!(p->temperature >= 0.0f))
        return err_setf(err, ERR_INVALID, "temperature must be >= 0, got %g", (double)p->temperature);
    if (isinf(p->temperature)) return err_setf(err, ERR_INVALID, "temperature must be finite, got inf");
    if (check_range(err, "top_p", p->top_p, 0.0f, 1.0f, true)) return ERR_INVALID;
    if (p->top_k < -1)
        return err_setf(err, ERR_INVALID, "top_k must be -1 (disabled) or at least 1, got %d", (int)p->top_k);
    if (check_range(err, "min_p", p->min_p, 0.0f, 1.0f, false)) return ERR_INVALID;
    if (check_range(err, "repetition_penalty", p->repetition_penalty, 0.0f, 2.0f, true)) return ERR_INVALID;
    if (check_range(err, "frequency_penalty", p->frequency_penalty, -2.0f, 2.0f, false)) return ERR_INVALID;
    if (check_range(err, "presence_penalty", p->presence_penalty, -2.0f, 2.0f, false)) return ERR_INVALID;
    if (p->n_logit_bias < 0 || (p->n_logit_bias > 0 && !p->logit_bias))
        return err_setf(err, ERR_INVALID, "logit_bias: invalid entry count %d", (int)p->n_logit_bias);
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        const struct logit_bias_entry *e = &p->logit_bias[i];
        if (e->token < 0 || (vocab_size > 0 && e->token >= vocab_size))
            return err_setf(err, ERR_INVALID, "logit_bias: token id %d is out of range [0, %d)", (int)e->token,
                            (int)vocab_size);
        if (!(e->bias >= -100.0f && e->bias <= 100.0f))
            return err_setf(err, ERR_INVALID, "logit_bias: bias for token %d must be in [-100, 100], got %g",
                            (int)e->token, (double)e->bias);
    }
    return 0;
}

/* ---------------------------------------------------------------- RNG */

static uint64_t splitmix64_next(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t r = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

/* ---------------------------------------------------------------- state */

struct sampler_state *sampler_state_create(const struct sampling_params *p, int32_t vocab_size) {
    if (vocab_size <= 0) return NULL;
    struct sampler_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->vocab = vocab_size;
    uint64_t seed = p->seed;
    if (!p->has_seed && getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)clock_now_ns() ^ ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)(uintptr_t)s;
    }
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64_next(&seed);
    if (p->repetition_penalty != 1.0f) {
        s->seen = calloc(((size_t)vocab_size + 63) / 64, sizeof *s->seen);
        if (!s->seen) goto fail;
    }
    if (p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f) {
        s->count_cap = 64;
        s->count_ids = malloc(s->count_cap * sizeof *s->count_ids);
        s->count_vals = malloc(s->count_cap * sizeof *s->count_vals);
        if (!s->count_ids || !s->count_vals) goto fail;
        memset(s->count_ids, 0xff, s->count_cap * sizeof *s->count_ids);
    }
    return s;
fail:
    sampler_state_destroy(s);
    return NULL;
}

void sampler_state_destroy(struct sampler_state *s) {
    if (!s) return;
    free(s->seen);
    free(s->count_ids);
    free(s->count_vals);
    free(s);
}

void sampler_state_add_prompt(struct sampler_state *s, const int32_t *ids, size_t n) {
    if (!s->seen) return;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < s->vocab) s->seen[ids[i] >> 6] |= 1ull << (ids[i] & 63);
}

static uint32_t count_slot(int32_t id, uint32_t cap) {
    uint32_t h = (uint32_t)id * 0x9E3779B1u;
    return (h ^ (h >> 15)) & (cap - 1);
}

/* Returns the slot holding id, or the empty slot where it would go. */
static uint32_t count_find(const int32_t *keys, uint32_t cap, int32_t id) {
    uint32_t i = count_slot(id, cap);
    while (keys[i] >= 0 && keys[i] != id) i = (i + 1) & (cap - 1);
    return i;
}

static int count_grow(struct sampler_state *s) {
    uint32_t cap = s->count_cap * 2;
    int32_t *keys = malloc(cap * sizeof *keys), *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return ERR_NOMEM;
    }
    memset(keys, 0xff, cap * sizeof *keys);
    for (uint32_t i = 0; i < s->count_cap; i++) {
        if (s->count_ids[i] < 0) continue;
        uint32_t j = count_find(keys, cap, s->count_ids[i]);
        keys[j] = s->count_ids[i];
        vals[j] = s->count_vals[i];
    }
    free(s->count_ids);
    free(s->count_vals);
    s->count_ids = keys;
    s->count_vals = vals;
    s->count_cap = cap;
    return 0;
}

int sampler_state_add_output(struct sampler_state *s, int32_t id) {
    if (id < 0 || id >= s->vocab) return 0;
    if (s->seen) s->seen[id >> 6] |= 1ull << (id & 63);
    if (!s->count_ids) return 0;
    uint32_t i = count_find(s->count_ids, s->count_cap, id);
    if (s->count_ids[i] == id) {
        s->count_vals[i]++;
        return 0;
    }
    if ((s->count_n + 1) * 2 > s->count_cap) {
        if (count_grow(s)) return ERR_NOMEM;
        i = count_find(s->count_ids, s->count_cap, id);
    }
    s->count_ids[i] = id;
    s->count_vals[i] = 1;
    s->count_n++;
    return 0;
}

void sampler_apply_penalties(const struct sampler_state *s, const struct sampling_params *p, float *logits,
                             int32_t vocab, const int32_t *mask_ids, int n_mask) {
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        int32_t t = p->logit_bias[i].token;
        if (t >= 0 && t < vocab) logits[t] += p->logit_bias[i].bias;
    }
    if (s && s->seen && p->repetition_penalty != 1.0f) {
        float rp = p->repetition_penalty;
        int32_t nw = (s->vocab + 63) / 64;
        for (int32_t w = 0; w < nw; w++) {
            for (uint64_t bits = s->seen[w]; bits; bits &= bits - 1) {
                int32_t id = w * 64 + __builtin_ctzll(bits);
                if (id >= vocab) break;
                float v = logits[id];
                logits[id] = v > 0.0f ? v / rp : v * rp;
            }
        }
    }
    if (s && s->count_ids && (p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f)) {
        for (uint32_t i = 0; i < s->count_cap; i++) {
            int32_t id = s->count_ids[i];
            if (id >= 0 && id < vocab)
                logits[id] -= p->frequency_penalty * (float)s->count_vals[i] + p->presence_penalty;
        }
    }
    for (int i = 0; mask_ids && i < n_mask; i++)
        if (mask_ids[i] >= 0 && mask_ids[i] < vocab) logits[mask_ids[i]] = -INFINITY;
}

/* ---------------------------------------------------------------- row kernels */

/* e^x for x <= 0 on 16 lanes: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2,
 * degree-6 Taylor polynomial (truncation < 1.3e-7), scaled by 2^n built from
 * bits. Relative error < 3e-7; exactly 1 at 0; 0 below -87 and for -inf/NaN.
 * Written with GNU vector extensions (gcc and clang) and no float compares or
 * float->int conversions, which gcc would split into scalar code when a vector
 * is wider than the ISA: the clamp to -87 and the zero mask work on the
 * magnitude bits (NaN and -inf have the largest magnitudes), and n is read from
 * the mantissa of x*log2(e) + 1.5*2^23. So the 64-byte vectors become 4 SSE,
 * 2 AVX2 or 1 AVX-512 register(s), per the target of the caller. */
#define SAMPLER_EXP_LO_BITS 0x42ae0000 /* 87.0f */
#define SAMPLER_INLINE      static inline __attribute__((always_inline))

typedef float sampler_v16f __attribute__((vector_size(64)));
typedef int32_t sampler_v16i __attribute__((vector_size(64)));

/* out[j] = e^((in[j] - m) * inv_t), j < 16, for in[j] <= m or NaN (out may be in). */
SAMPLER_INLINE void exp16(const float *in, float *out, float m, float inv_t) {
    sampler_v16f x;
    memcpy(&x, in, sizeof x);
    x = (x - m) * inv_t;
    sampler_v16i mag = (sampler_v16i)x & 0x7fffffff; /* |x|; x <= 0 */
    sampler_v16i d = SAMPLER_EXP_LO_BITS - mag;      /* < 0 iff |x| > 87, -inf, NaN */
    sampler_v16i keep = ~(d >> 31);
    sampler_v16f xc = (sampler_v16f)((mag + (d & ~keep)) | INT32_MIN); /* -min(|x|, 87) */
    sampler_v16f v = xc * 1.44269504088896341f + 12582912.0f;          /* round(x log2 e) in the low bits */
    sampler_v16f n = v - 12582912.0f;
    sampler_v16f r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    sampler_v16f q = r * 1.38888889e-3f + 8.33333333e-3f;
    q = q * r + 4.16666667e-2f;
    q = q * r + 1.66666667e-1f;
    q = q * r + 0.5f;
    q = q * r + 1.0f;
    q = q * r + 1.0f;
    sampler_v16i e = ((sampler_v16i)v - 0x4b400000 + 127) << 23; /* 2^n, n in [-126, 0] */
    sampler_v16f y = q * (sampler_v16f)e;
    y = (sampler_v16f)((sampler_v16i)y & keep);
    memcpy(out, &y, sizeof y);
}

/* Sum of 16 floats as a fixed tree (vectorizable, same result every time). */
SAMPLER_INLINE float chunk_sum16(const float *x) {
    float s[8];
    for (int j = 0; j < 8; j++) s[j] = x[j] + x[j + 8];
    for (int j = 0; j < 4; j++) s[j] += s[j + 4];
    return (s[0] + s[2]) + (s[1] + s[3]);
}

/* out[i] = e^((in[i] - m) * inv_t) for i < n, every in[i] - m <= 0 (out may be
 * in, or NULL to only sum). Returns the sum of the results the way sum_weights
 * adds them. */
SAMPLER_INLINE double exp_row_impl(const float *in, float *out, int32_t n, float m, float inv_t) {
    double z = 0.0;
    float y[16];
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        exp16(in + i, y, m, inv_t);
        if (out) memcpy(out + i, y, sizeof y);
        z += chunk_sum16(y);
    }
    if (i < n) {
        float t[16];
        for (int j = 0; j < 16; j++) t[j] = i + j < n ? in[i + j] : -INFINITY;
        exp16(t, y, m, inv_t);
        for (int j = 0; i + j < n; j++) {
            if (out) out[i + j] = y[j];
            z += y[j];
        }
    }
    return z;
}

/* Defines `name`, which runs name##_impl (always_inline) compiled for the widest
 * ISA this CPU has: AVX-512F, AVX2+FMA, or the baseline. Results may differ in
 * the last bit between ISAs (FMA), never between runs on one machine. */
#if defined(__x86_64__)
#define SAMPLER_MULTI_ISA(ret, name, params, args)                                                                     \
    __attribute__((target("avx512f"))) static ret name##_avx512 params { return name##_impl args; }                    \
    __attribute__((target("avx2,fma"))) static ret name##_avx2 params { return name##_impl args; }                     \
    static ret name params {                                                                                           \
        const struct cpu_features *f = cpu_features_get();                                                             \
        if (f->avx512f) return name##_avx512 args;                                                                     \
        if (f->avx2 && f->fma) return name##_avx2 args;                                                                \
        return name##_impl args;                                                                                       \
    }
#else
#define SAMPLER_MULTI_ISA(ret, name, params, args)                                                                     \
    static ret name params { return name##_impl args; }
#endif

SAMPLER_MULTI_ISA(double, exp_row, (const float *in, float *out, int32_t n, float m, float inv_t),
                  (in, out, n, m, inv_t))

/* Whether any of x[0..16) is > t or == t (NaN: no). */
SAMPLER_INLINE bool any_gt16(const float *x, float t) {
    int any = 0;
    for (int j = 0; j < 16; j++) any |= x[j] > t;
    return any;
}
SAMPLER_INLINE bool any_eq16(const float *x, float t) {
    int any = 0;
    for (int j = 0; j < 16; j++) any |= x[j] == t;
    return any;
}

/* Sum of w[0..n) in the order the draw walks it. */
static double sum_weights(const float *w, int32_t n) {
    double z = 0.0;
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) z += chunk_sum16(w + i);
    for (; i < n; i++) z += w[i];
    return z;
}

/* Maximum of x, NaN ignored (-inf if none). */
SAMPLER_INLINE float row_max_impl(const float *x, int32_t n) {
    float lane[16];
    for (int j = 0; j < 16; j++) lane[j] = -INFINITY;
    int32_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    float m = -INFINITY;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int j = 0; j < 16; j++) m = lane[j] > m ? lane[j] : m;
    return m;
}
SAMPLER_MULTI_ISA(float, row_max, (const float *x, int32_t n), (x, n))

/* Index of the first token whose cumulative weight (in id order) exceeds u * z;
 * z must be sum_weights(w, n) > 0. Tokens of weight 0 are never returned. */
static int32_t draw_weights(const float *w, int32_t n, double z, double u) {
    double target = u * z, acc = 0.0;
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        double cs = chunk_sum16(w + i);
        if (acc + cs <= target) {
            acc += cs;
            continue;
        }
        double a = acc;
        for (int j = 0; j < 16; j++) {
            a += w[i + j];
            if (a > target && w[i + j] > 0.0f) return i + j;
        }
        acc += cs; /* rounding left the target just past this chunk */
    }
    for (; i < n; i++) {
        acc += w[i];
        if (acc > target && w[i] > 0.0f) return i;
    }
    i = n - 1;
    while (i > 0 && !(w[i] > 0.0f)) i--;
    return i;
}

/* ---------------------------------------------------------------- top-n selection */

/* Candidate order: larger value first, then lower id. */
static inline bool cand_worse(float va, int32_t ia, float vb, int32_t ib) { return va < vb || (va == vb && ia > ib); }

/* Restores the heap below i; the root of the heap is the worst candidate. */
static void heap_sift_down(float *hv, int32_t *hid, int32_t m, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < m && cand_worse(hv[l], hid[l], hv[w], hid[w])) w = l;
        if (r < m && cand_worse(hv[r], hid[r], hv[w], hid[w])) w = r;
        if (w == i) return;
        float tv = hv[i];
        hv[i] = hv[w];
        hv[w] = tv;
        int32_t ti = hid[i];
        hid[i] = hid[w];
        hid[w] = ti;
        i = w;
    }
}

static void heap_build(float *hv, int32_t *hid, int32_t m) {
    for (int32_t i = m / 2 - 1; i >= 0; i--) heap_sift_down(hv, hid, m, i);
}

/* Heap sort of a built heap: the worst goes to the back, so the result is best first. */
static void heap_sort_built(float *hv, int32_t *hid, int32_t m) {
    for (int32_t e = m - 1; e > 0; e--) {
        float tv = hv[0];
        hv[0] = hv[e];
        hv[e] = tv;
        int32_t ti = hid[0];
        hid[0] = hid[e];
        hid[e] = ti;
        heap_sift_down(hv, hid, e, 0);
    }
}

/* Writes the best min(k, n) entries of x (NaN = -inf) to hv/hid, best first.
 * Ids are scanned in increasing order, so a new value enters the heap only if it
 * beats the root's value strictly; whole blocks of 16 below it are skipped. */
static int32_t top_select(const float *x, int32_t n, int32_t k, float *hv, int32_t *hid) {
    int32_t m = k < n ? k : n;
    if (m <= 0) return 0;
    for (int32_t i = 0; i < m; i++) {
        hv[i] = x[i] == x[i] ? x[i] : -INFINITY;
        hid[i] = i;
    }
    heap_build(hv, hid, m);
    int32_t i = m;
    for (; i + 16 <= n; i += 16) {
        if (!any_gt16(x + i, hv[0])) continue;
        for (int j = 0; j < 16; j++) {
            if (x[i + j] > hv[0]) {
                hv[0] = x[i + j];
                hid[0] = i + j;
                heap_sift_down(hv, hid, m, 0);
            }
        }
    }
    for (; i < n; i++) {
        if (x[i] > hv[0]) {
            hv[0] = x[i];
            hid[0] = i;
            heap_sift_down(hv, hid, m, 0);
        }
    }
    heap_sort_built(hv, hid, m);
    return m;
}

/* ---------------------------------------------------------------- cuts (radix select) */

/* Kept tokens: w > t, plus the first n_eq tokens (by id) with w == t. */
struct cut {
    float t;
    int32_t n_eq;
    bool all_eq; /* every token with w == t is kept */
    double mass; /* kept mass as the selection summed it (top_p's base after top_k) */
};

/* The tokens a cut looks at: the whole row (ids == NULL) or a list of ids in
 * increasing order. */
struct token_set {
    const float *w;
    const int32_t *ids;
    int32_t n;
};

SAMPLER_INLINE int32_t token_set_id(const struct token_set *ts, int32_t c) { return ts->ids ? ts->ids[c] : c; }

static uint32_t float_key(float v) {
    uint32_t k;
    memcpy(&k, &v, sizeof k);
    return k;
}

/* Shortest prefix of the ranking of ts (weights in [0,1]) whose count
 * (by_mass false) or mass (by_mass true) reaches target; tokens below floor_w
 * (> 0) are known to lie past it and are not looked at. If all of them together
 * fall short of target, every token >= floor_w is kept. */
static void find_cut(const struct token_set *ts, bool by_mass, double target, float floor_w, struct cut *out) {
    uint32_t cnt[SAMPLER_BINS];
    double mass[SAMPLER_BINS];
    uint32_t prefix = 0;                 /* key bits above this level's digit */
    double above_n = 0.0, above_m = 0.0; /* ranked above the current bin */
    for (int lv = 0; lv < SAMPLER_LEVELS; lv++) {
        int sh = 20 - 10 * lv;
        memset(cnt, 0, sizeof cnt);
        memset(mass, 0, sizeof mass);
        for (int32_t c = 0; c < ts->n; c++) {
            float v = ts->w[token_set_id(ts, c)];
            if (!(v >= floor_w)) continue;
            uint32_t key = float_key(v);
            if ((key >> (sh + 10)) != prefix) continue;
            uint32_t b = (key >> sh) & (SAMPLER_BINS - 1);
            cnt[b]++;
            mass[b] += v;
        }
        int cross = -1, last = -1;
        for (int b = SAMPLER_BINS - 1; b >= 0; b--) {
            if (!cnt[b]) continue;
            last = b;
            if ((by_mass ? above_m + mass[b] : above_n + cnt[b]) >= target) {
                cross = b;
                break;
            }
            above_n += cnt[b];
            above_m += mass[b];
        }
        if (last < 0) { /* nothing >= floor_w: keep everything >= floor_w */
            *out = (struct cut){floor_w, 0, true, above_m};
            return;
        }
        if (cross < 0) { /* short of target: the lowest bin closes the cut */
            cross = last;
            above_n -= cnt[cross];
            above_m -= mass[cross];
        }
        prefix = (prefix << 10) | (uint32_t)cross;
        if (cnt[cross] <= SAMPLER_GATHER) {
            float gv[SAMPLER_GATHER];
            int32_t gid[SAMPLER_GATHER], ng = 0;
            for (int32_t c = 0; c < ts->n && ng < (int32_t)cnt[cross]; c++) {
                int32_t i = token_set_id(ts, c);
                float v = ts->w[i];
                if (v >= floor_w && (float_key(v) >> sh) == prefix) {
                    gv[ng] = v;
                    gid[ng++] = i;
                }
            }
            heap_build(gv, gid, ng);
            heap_sort_built(gv, gid, ng);
            int32_t j = 0;
            double an = above_n, am = above_m;
            for (; j < ng; j++) {
                an += 1.0;
                am += gv[j];
                if ((by_mass ? am : an) >= target) break;
            }
            if (j == ng) j = ng - 1;
            int32_t n_eq = 0, tot_eq = 0;
            for (int32_t q = 0; q < ng; q++) {
                if (gv[q] != gv[j]) continue;
                tot_eq++;
                if (q <= j) n_eq++;
            }
            *out = (struct cut){gv[j], n_eq, n_eq == tot_eq, am};
            return;
        }
    }
    /* prefix is now the full key of the boundary value; > SAMPLER_GATHER tokens share it */
    float t;
    memcpy(&t, &prefix, sizeof t);
    int32_t tot_eq = (int32_t)cnt[prefix & (SAMPLER_BINS - 1)];
    double need = by_mass ? ceil((target - above_m) / t) : ceil(target - above_n);
    int32_t n_eq = need < 1.0 ? 1 : need > tot_eq ? tot_eq : (int32_t)need;
    *out = (struct cut){t, n_eq, n_eq == tot_eq, above_m + (double)n_eq * t};
}

/* a = the stricter of the two cuts (both are prefixes of the same ranking). */
static void cut_intersect(struct cut *a, const struct cut *b) {
    if (b->t > a->t) {
        *a = *b;
    } else if (b->t == a->t && !b->all_eq && (a->all_eq || b->n_eq < a->n_eq)) {
        a->n_eq = b->n_eq;
        a->all_eq = false;
    }
}

/* Zeroes the weights outside the cut; returns sum_weights of what is left. */
static double apply_cut(float *w, int32_t n, const struct cut *c) {
    float t = c->t;
    if (c->all_eq) {
        double z = 0.0;
        int32_t i = 0;
        for (; i + 16 <= n; i += 16) {
            for (int j = 0; j < 16; j++) w[i + j] = w[i + j] >= t ? w[i + j] : 0.0f;
            z += chunk_sum16(w + i);
        }
        for (; i < n; i++) {
            w[i] = w[i] >= t ? w[i] : 0.0f;
            z += w[i];
        }
        return z;
    }
    int32_t eq = 0;
    for (int32_t i = 0; i < n; i++) {
        if (w[i] > t) continue;
        if (w[i] == t && eq < c->n_eq)
            eq++;
        else
            w[i] = 0.0f;
    }
    return sum_weights(w, n);
}

/* Ids (increasing) of the tokens with w >= floor_w; -1 if more than cap. */
SAMPLER_INLINE int32_t collect_candidates_impl(const float *w, int32_t n, float floor_w, int32_t *ids, int32_t cap) {
    int32_t nc = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        uint32_t bits = 0; /* becomes a vector compare and a mask */
        for (int j = 0; j < 16; j++) bits |= (uint32_t)(w[i + j] >= floor_w) << j;
        for (; bits; bits &= bits - 1) {
            if (nc == cap) return -1;
            ids[nc++] = i + __builtin_ctz(bits);
        }
    }
    for (; i < n; i++) {
        if (!(w[i] >= floor_w)) continue;
        if (nc == cap) return -1;
        ids[nc++] = i;
    }
    return nc;
}
SAMPLER_MULTI_ISA(int32_t, collect_candidates, (const float *w, int32_t n, float floor_w, int32_t *ids, int32_t cap),
                  (w, n, floor_w, ids, cap))

/* Draws among the candidates kept by the cut (all kept tokens are candidates). */
static int32_t draw_candidates(const float *w, const int32_t *ids, int32_t nc, const struct cut *c, double u) {
    double z = 0.0;
    int32_t eq = 0, last = ids[0];
    for (int32_t k = 0; k < nc; k++) {
        float v = w[ids[k]];
        if (v > c->t || (v == c->t && (c->all_eq || eq++ < c->n_eq))) z += v;
    }
    double target = u * z, acc = 0.0;
    eq = 0;
    for (int32_t k = 0; k < nc; k++) {
        float v = w[ids[k]];
        if (!(v > c->t || (v == c->t && (c->all_eq || eq++ < c->n_eq))) || !(v > 0.0f)) continue;
        acc += v;
        last = ids[k];
        if (acc > target) return ids[k];
    }
    return last;
}

/* ---------------------------------------------------------------- sampling */

/* Every token is -inf: the lowest id not in mask (0 if all are). x is scratch. */
static int32_t fallback_token(float *x, int32_t vocab, const int32_t *mask_ids, int n_mask) {
    for (int i = 0; mask_ids && i < n_mask; i++)
        if (mask_ids[i] >= 0 && mask_ids[i] < vocab) x[mask_ids[i]] = 1.0f;
    for (int32_t i = 0; i < vocab; i++)
        if (x[i] != 1.0f) return i;
    return 0;
}

/* First index holding m (which occurs in x). */
static int32_t find_first(const float *x, int32_t n, float m) {
    int32_t i = 0;
    while (i + 16 <= n && !any_eq16(x + i, m)) i += 16;
    while (x[i] != m) i++;
    return i;
}

/* top_k <= SAMPLER_SMALL_K: everything after selection works on k candidates. */
static int32_t sample_small_k(const struct sampling_params *p, const float *x, int32_t vocab, float inv_t, double u) {
    float hv[SAMPLER_SMALL_K];
    int32_t hid[SAMPLER_SMALL_K];
    int32_t c = top_select(x, vocab, p->top_k, hv, hid);
    double z = exp_row(hv, hv, c, hv[0], inv_t);
    int32_t keep = c;
    if (p->top_p < 1.0f) {
        double target = (double)p->top_p * z, acc = hv[0];
        for (keep = 1; keep < c && acc < target; keep++) acc += hv[keep];
    }
    if (p->min_p > 0.0f)
        while (keep > 1 && hv[keep - 1] < p->min_p) keep--;
    double zk = 0.0;
    for (int32_t j = 0; j < keep; j++) zk += hv[j];
    double target = u * zk, acc = 0.0;
    for (int32_t j = 0; j < keep; j++) {
        acc += hv[j];
        if (acc > target && hv[j] > 0.0f) return hid[j];
    }
    int32_t j = keep - 1;
    while (j > 0 && !(hv[j] > 0.0f)) j--;
    return hid[j];
}

/* Large or no top_k: weights over the whole row, filters as cuts. The kept
 * tokens all have w >= floor_w (the top_k cut's value, min_p, and for top_p the
 * bound in the file comment); when few tokens pass it, the top_p cut and the draw
 * run over their list instead of the row. */
static int32_t sample_full(const struct sampling_params *p, float *w, int32_t vocab, float m, float inv_t, double u) {
    double z = exp_row(w, w, vocab, m, inv_t);
    bool use_k = p->top_k > 1 && p->top_k < vocab, use_p = p->top_p<1.0f, use_min = p->min_p> 0.0f;
    if (!use_k && !use_p && !use_min) return draw_weights(w, vocab, z, u);
    struct token_set row = {w, NULL, vocab};
    struct cut c = {0.0f, 0, true, z};
    if (use_k) find_cut(&row, false, (double)p->top_k, FLT_MIN, &c);
    double floor_d = FLT_MIN;
    if (use_k && c.t > floor_d) floor_d = c.t;
    if (use_p && 0.5 * (1.0 - (double)p->top_p) * c.mass / vocab > floor_d)
        floor_d = 0.5 * (1.0 - (double)p->top_p) * c.mass / vocab;
    if (use_min && p->min_p > floor_d) floor_d = p->min_p;
    float floor_w = (float)floor_d;
    int32_t ids[SAMPLER_CANDS];
    int32_t nc = collect_candidates(w, vocab, floor_w, ids, SAMPLER_CANDS);
    if (use_p) {
        struct token_set cands = {w, ids, nc};
        struct cut cp;
        find_cut(nc >= 0 ? &cands : &row, true, (double)p->top_p * c.mass, floor_w, &cp);
        cut_intersect(&c, &cp);
    }
    if (use_min) {
        struct cut cm = {p->min_p, 0, true, 0.0};
        cut_intersect(&c, &cm);
    }
    if (nc > 0) return draw_candidates(w, ids, nc, &c, u);
    z = apply_cut(w, vocab, &c);
    return draw_weights(w, vocab, z, u);
}

int32_t sampler_sample(struct sampler_state *s, const struct sampling_params *p, float *logits, int32_t vocab,
                       const int32_t *mask_ids, int n_mask) {
    if (vocab <= 0) return 0;
    sampler_apply_penalties(s, p, logits, vocab, mask_ids, n_mask);
    float m = row_max(logits, vocab);
    if (m == -INFINITY) return fallback_token(logits, vocab, mask_ids, n_mask);
    if (!(p->temperature >= SAMPLER_GREEDY_EPS) || p->top_k == 1) return find_first(logits, vocab, m);
    if (m == INFINITY) { /* uniform over the +inf tokens */
        for (int32_t i = 0; i < vocab; i++) logits[i] = logits[i] == INFINITY ? 0.0f : -INFINITY;
        m = 0.0f;
    }
    float inv_t = 1.0f / p->temperature;
    double u = rng_uniform(s->rng);
    if (p->top_k > 1 && p->top_k < vocab && p->top_k <= SAMPLER_SMALL_K)
        return sample_small_k(p, logits, vocab, inv_t, u);
    return sample_full(p, logits, vocab, m, inv_t, u);
}

/* ---------------------------------------------------------------- logprobs */

struct log_norm {
    float m;       /* max logit */
    double log_z;  /* log(sum exp(x - m)) when m is finite */
    int32_t n_inf; /* number of +inf logits when m == +inf */
};

static void log_norm_compute(const float *x, int32_t n, struct log_norm *ln) {
    ln->m = row_max(x, n);
    ln->log_z = 0.0;
    ln->n_inf = 0;
    if (ln->m == INFINITY) {
        for (int32_t i = 0; i < n; i++) ln->n_inf += x[i] == INFINITY;
        return;
    }
    if (ln->m == -INFINITY) return;
    ln->log_z = log(exp_row(x, NULL, n, ln->m, 1.0f));
}

static float log_norm_apply(const struct log_norm *ln, float v) {
    if (ln->m == INFINITY) return v == INFINITY ? (float)-log((double)ln->n_inf) : -INFINITY;
    if (!(v > -INFINITY) || ln->m == -INFINITY) return -INFINITY;
    return (float)((double)v - (double)ln->m - ln->log_z);
}

float sampler_logprob(const float *logits, int32_t vocab, int32_t id) {
    if (id < 0 || id >= vocab) return -INFINITY;
    struct log_norm ln;
    log_norm_compute(logits, vocab, &ln);
    return log_norm_apply(&ln, logits[id]);
}

void sampler_top_logprobs(const float *logits, int32_t vocab, int n, int32_t *ids, float *logprobs) {
    if (n <= 0) return;
    int32_t m = top_select(logits, vocab, n, logprobs, ids);
    struct log_norm ln;
    log_norm_compute(logits, vocab, &ln);
    for (int32_t j = 0; j < m; j++) logprobs[j] = log_norm_apply(&ln, logprobs[j]);
    for (int32_t j = m; j < n; j++) {
        ids[j] = -1;
        logprobs[j] = -INFINITY;
    }
}
