/* Tests of mem_cache/radix_cache over a page_allocator: splits, page-granular
 * matching, lock accounting, LRU eviction, reset, and random request
 * sequences (page sizes 1, 2, 4) checked after every operation for
 *   available + evictable + protected + request-owned == total
 * and against a content oracle: every slot remembers the prefix (hash) whose
 * last token's KV it holds, so a match returning a slot of another prefix fails. */
#include "mem_cache/radix_cache.h"

#include <stdint.h>
#include <string.h>

#include "mem_cache/page_allocator.h"
#include "test.h"

struct fixture {
    struct page_allocator *alloc;
    struct radix_cache *cache;
    int32_t P;
    int64_t pages;
};

static void fx_init(struct fixture *f, int64_t pages, int32_t P) {
    f->P = P;
    f->pages = pages;
    CHECK_EQ_INT(page_allocator_create(pages, P, &f->alloc, NULL), 0);
    CHECK_EQ_INT(radix_cache_create(f->alloc, &f->cache, NULL), 0);
}

static void fx_free(struct fixture *f) {
    radix_cache_destroy(f->cache);
    page_allocator_destroy(f->alloc);
}

/* Allocates slots for n tokens (whole pages), evicting when short. Returns 0 or -1. */
static int alloc_tokens(struct fixture *f, int64_t n, int32_t *slots) {
    int64_t pages = (n + f->P - 1) / f->P, freep = page_allocator_free_pages(f->alloc);
    if (freep < pages) radix_cache_evict(f->cache, (pages - freep) * f->P);
    int32_t first[256];
    if (pages > 256 || page_allocator_alloc(f->alloc, pages, first)) return -1;
    for (int64_t i = 0; i < n; i++) slots[i] = first[i / f->P] + (int32_t)(i % f->P);
    return 0;
}

static void check_tree(struct fixture *f, int64_t req_owned_tokens) {
    struct sgl_err err = {{0}};
    int rc = radix_cache_check(f->cache, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(page_allocator_available_tokens(f->alloc) + radix_cache_evictable_tokens(f->cache) +
                     radix_cache_protected_tokens(f->cache) + req_owned_tokens,
                 f->pages * f->P);
}

TEST(split_and_match_page1) {
    struct fixture f;
    fx_init(&f, 64, 1);
    int32_t k1[] = {1, 2, 3, 4}, k2[] = {1, 2, 5, 6, 7}, s1[4], s2[5], out[8];
    CHECK_EQ_INT(alloc_tokens(&f, 4, s1), 0);
    int64_t present = -1;
    CHECK_EQ_INT(radix_cache_insert(f.cache, k1, s1, 4, &present), 0);
    CHECK_EQ_INT(present, 0);
    CHECK_EQ_INT(radix_cache_node_count(f.cache), 1);
    /* a second request computed its own KV for k2; the shared [1 2] is already present */
    CHECK_EQ_INT(alloc_tokens(&f, 5, s2), 0);
    CHECK_EQ_INT(radix_cache_insert(f.cache, k2, s2, 5, &present), 0);
    CHECK_EQ_INT(present, 2);
    CHECK_EQ_INT(page_allocator_free_run(f.alloc, s2, 2), 0); /* the caller frees its duplicates */
    /*   root ── [1 2] ─┬─ [3 4]
     *                  └─ [5 6 7]   */
    CHECK_EQ_INT(radix_cache_node_count(f.cache), 3);
    CHECK_EQ_INT(radix_cache_evictable_tokens(f.cache), 7);
    check_tree(&f, 0);

    struct radix_node *last = NULL;
    int32_t q[] = {1, 2, 5, 6, 9};
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, q, 5, out, &last), 4);
    CHECK_EQ_INT(out[0], s1[0]);
    CHECK_EQ_INT(out[1], s1[1]);
    CHECK_EQ_INT(out[2], s2[2]);
    CHECK_EQ_INT(out[3], s2[3]);
    CHECK_EQ_INT(radix_cache_node_count(f.cache), 4); /* [5 6 7] split into [5 6] [7] */
    radix_cache_inc_lock_ref(f.cache, last);
    CHECK_EQ_INT(radix_cache_protected_tokens(f.cache), 4);
    CHECK_EQ_INT(radix_cache_evictable_tokens(f.cache), 3);
    check_tree(&f, 0);
    /* eviction only takes unlocked leaves: [3 4] and [7] */
    CHECK_EQ_INT(radix_cache_evict(f.cache, 100), 3);
    CHECK_EQ_INT(radix_cache_evictable_tokens(f.cache), 0);
    check_tree(&f, 0);
    struct sgl_err err;
    CHECK_EQ_INT(radix_cache_reset(f.cache, &err), ERR_INVALID);
    radix_cache_dec_lock_ref(f.cache, last);
    CHECK_EQ_INT(radix_cache_protected_tokens(f.cache), 0);
    CHECK_EQ_INT(radix_cache_evictable_tokens(f.cache), 4);
    CHECK_EQ_INT(radix_cache_reset(f.cache, &err), 0);
    CHECK_EQ_INT(page_allocator_free_pages(f.alloc), 64);
    CHECK_EQ_INT(radix_cache_node_count(f.cache), 0);
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, q, 5, out, &last), 0);
    check_tree(&f, 0);
    fx_free(&f);
}

TEST(page_granularity) {
    struct fixture f;
    fx_init(&f, 32, 4);
    int32_t k[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, s[10], out[10];
    CHECK_EQ_INT(alloc_tokens(&f, 10, s), 0);
    int64_t present;
    /* only whole pages are inserted: 8 tokens; the caller frees the partial tail page */
    CHECK_EQ_INT(radix_cache_insert(f.cache, k, s, 10, &present), 0);
    CHECK_EQ_INT(present, 0);
    CHECK_EQ_INT(page_allocator_free_run(f.alloc, s + 8, 2), 0);
    CHECK_EQ_INT(radix_cache_evictable_tokens(f.cache), 8);
    check_tree(&f, 0);
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, k, 7, out, NULL), 4); /* 7 tokens -> one whole page */
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, k, 10, out, NULL), 8);
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(out[i], s[i]);
    int32_t q[8] = {9, 8, 7, 6, 5, 4, 3, 99}; /* differs in the last token of page 2 */
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, q, 8, out, NULL), 4);
    int32_t q2[8] = {9, 8, 7, 99, 5, 4, 3, 2}; /* differs inside page 1: no whole page matches */
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, q2, 8, out, NULL), 0);
    /* a key differing only in page 2 becomes a sibling of the page-2 remainder */
    int32_t s2[8];
    CHECK_EQ_INT(alloc_tokens(&f, 8, s2), 0);
    CHECK_EQ_INT(radix_cache_insert(f.cache, q, s2, 8, &present), 0);
    CHECK_EQ_INT(present, 4);
    CHECK_EQ_INT(page_allocator_free_run(f.alloc, s2, 4), 0);
    CHECK_EQ_INT(radix_cache_node_count(f.cache), 3);
    check_tree(&f, 0);
    fx_free(&f);
}

TEST(lru_eviction_order) {
    struct fixture f;
    fx_init(&f, 16, 2);
    int32_t a[4] = {1, 1, 1, 1}, b[4] = {2, 2, 2, 2}, c[4] = {3, 3, 3, 3}, s[4], out[4];
    int64_t present;
    CHECK_EQ_INT(alloc_tokens(&f, 4, s), 0);
    CHECK_EQ_INT(radix_cache_insert(f.cache, a, s, 4, &present), 0);
    CHECK_EQ_INT(alloc_tokens(&f, 4, s), 0);
    CHECK_EQ_INT(radix_cache_insert(f.cache, b, s, 4, &present), 0);
    CHECK_EQ_INT(alloc_tokens(&f, 4, s), 0);
    CHECK_EQ_INT(radix_cache_insert(f.cache, c, s, 4, &present), 0);
    /* touch a: b is now the least recently used */
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, a, 4, out, NULL), 4);
    CHECK_EQ_INT(radix_cache_evict(f.cache, 1), 4);
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, b, 4, out, NULL), 0);
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, a, 4, out, NULL), 4);
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, c, 4, out, NULL), 4);
    /* now a is older than c: evicting 4 takes a */
    CHECK_EQ_INT(radix_cache_evict(f.cache, 4), 4);
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, a, 4, out, NULL), 0);
    CHECK_EQ_INT(radix_cache_match_prefix(f.cache, c, 4, out, NULL), 4);
    check_tree(&f, 0);
    /* a parent left childless after its leaf goes becomes evictable too */
    int32_t d[6] = {3, 3, 3, 3, 7, 7};
    {
        int32_t s6[6];
        memcpy(s6, out, 4 * sizeof *s6); /* the tree's own slots for the shared part */
        CHECK_EQ_INT(alloc_tokens(&f, 2, s6 + 4), 0);
        CHECK_EQ_INT(radix_cache_insert(f.cache, d, s6, 6, &present), 0);
        CHECK_EQ_INT(present, 4);
    }
    check_tree(&f, 0);
    CHECK_EQ_INT(radix_cache_evict(f.cache, 6), 6);
    CHECK_EQ_INT(radix_cache_node_count(f.cache), 0);
    CHECK_EQ_INT(page_allocator_free_pages(f.alloc), 16);
    fx_free(&f);
}

/* ---- random request sequences ---- */

#define MAX_LEN 48
#define MAX_REQS 6

struct sim_req {
    int32_t key[MAX_LEN];
    int32_t slots[MAX_LEN];
    int64_t len, prefix_len;
    struct radix_node *last;
};

static uint64_t prefix_hash(const int32_t *key, int64_t i) {
    uint64_t h = 1469598103934665603ULL;
    for (int64_t j = 0; j <= i; j++) h = (h ^ (uint64_t)(key[j] + 1)) * 1099511628211ULL;
    return h;
}

static int64_t owned_tokens(const struct fixture *f, const struct sim_req *r, int n) {
    int64_t t = 0;
    for (int i = 0; i < n; i++) t += ((r[i].len + f->P - 1) / f->P - r[i].prefix_len / f->P) * f->P;
    return t;
}

static unsigned rnd(unsigned long long *s, unsigned n) { return (unsigned)((test_randf(s) + 1.0f) * 0.5f * (float)n) % n; }

/* Inserts the request's whole pages; frees its duplicates; moves it onto the tree's slots and node. */
static void sim_cache(struct fixture *f, struct sim_req *r, bool finished) {
    int64_t aligned = r->len / f->P * f->P, present = 0;
    if (radix_cache_insert(f->cache, r->key, r->slots, aligned, &present) != 0) {
        CHECK(!"insert failed");
        return;
    }
    CHECK(present >= r->prefix_len);
    if (present > r->prefix_len)
        CHECK_EQ_INT(page_allocator_free_run(f->alloc, r->slots + r->prefix_len, present - r->prefix_len), 0);
    if (finished) {
        if (r->len > aligned) CHECK_EQ_INT(page_allocator_free_run(f->alloc, r->slots + aligned, r->len - aligned), 0);
        radix_cache_dec_lock_ref(f->cache, r->last);
        return;
    }
    int32_t tmp[MAX_LEN];
    struct radix_node *last = NULL;
    CHECK_EQ_INT(radix_cache_match_prefix(f->cache, r->key, aligned, tmp, &last), aligned);
    memcpy(r->slots + r->prefix_len, tmp + r->prefix_len, (size_t)(aligned - r->prefix_len) * sizeof *tmp);
    radix_cache_inc_lock_ref(f->cache, last);
    radix_cache_dec_lock_ref(f->cache, r->last);
    r->last = last;
    r->prefix_len = aligned;
}

static void random_sequence(int32_t P, unsigned long long seed) {
    struct fixture f;
    fx_init(&f, 96 / P, P);
    uint64_t *content = calloc((size_t)(96), sizeof *content);
    int32_t bases[4][MAX_LEN];
    unsigned long long rng = seed;
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < MAX_LEN; i++) bases[b][i] = (int32_t)rnd(&rng, 4);
    struct sim_req reqs[MAX_REQS];
    int n_reqs = 0, matched_any = 0;
    for (int step = 0; step < 4000 && !test_cur_failed; step++) {
        unsigned op = rnd(&rng, 10);
        if (op < 4 && n_reqs < MAX_REQS) {
            struct sim_req *r = &reqs[n_reqs];
            r->len = 1 + rnd(&rng, MAX_LEN);
            int64_t shared = rnd(&rng, (unsigned)r->len + 1);
            const int32_t *base = bases[rnd(&rng, 4)];
            for (int64_t i = 0; i < r->len; i++) r->key[i] = i < shared ? base[i] : (int32_t)rnd(&rng, 4);
            /* match at most len-1 tokens, as the scheduler does (one token must be computed) */
            r->prefix_len = radix_cache_match_prefix(f.cache, r->key, r->len - 1, r->slots, &r->last);
            CHECK(r->prefix_len % P == 0);
            for (int64_t i = 0; i < r->prefix_len; i++) CHECK(content[r->slots[i]] == prefix_hash(r->key, i));
            matched_any += r->prefix_len > 0;
            radix_cache_inc_lock_ref(f.cache, r->last);
            if (alloc_tokens(&f, r->len - r->prefix_len, r->slots + r->prefix_len)) {
                radix_cache_dec_lock_ref(f.cache, r->last);
            } else {
                for (int64_t i = r->prefix_len; i < r->len; i++) content[r->slots[i]] = prefix_hash(r->key, i);
                n_reqs++;
            }
        } else if (op < 6 && n_reqs > 0) {
            int i = (int)rnd(&rng, (unsigned)n_reqs);
            sim_cache(&f, &reqs[i], true);
            reqs[i] = reqs[--n_reqs];
        } else if (op < 8 && n_reqs > 0) {
            sim_cache(&f, &reqs[rnd(&rng, (unsigned)n_reqs)], false);
        } else if (op == 8) {
            radix_cache_evict(f.cache, (int64_t)rnd(&rng, 40));
        } else if (op == 9 && n_reqs == 0 && rnd(&rng, 8) == 0) {
            CHECK_EQ_INT(radix_cache_reset(f.cache, NULL), 0);
            CHECK_EQ_INT(page_allocator_free_pages(f.alloc), f.pages);
        }
        check_tree(&f, owned_tokens(&f, reqs, n_reqs));
    }
    CHECK(matched_any > 50); /* the sequence really exercised sharing */
    while (n_reqs > 0) sim_cache(&f, &reqs[--n_reqs], true);
    check_tree(&f, 0);
    CHECK_EQ_INT(radix_cache_protected_tokens(f.cache), 0);
    int64_t cached = f.pages * P - page_allocator_available_tokens(f.alloc);
    CHECK_EQ_INT(radix_cache_evictable_tokens(f.cache), cached);
    CHECK_EQ_INT(radix_cache_evict(f.cache, INT64_MAX), cached);
    CHECK_EQ_INT(page_allocator_free_pages(f.alloc), f.pages);
    free(content);
    fx_free(&f);
}

TEST(random_page1) { random_sequence(1, 1); }
TEST(random_page2) { random_sequence(2, 2); }
TEST(random_page4) { random_sequence(4, 3); }

int main(void) {
    RUN(split_and_match_page1);
    RUN(page_granularity);
    RUN(lru_eviction_order);
    RUN(random_page1);
    RUN(random_page2);
    RUN(random_page4);
    return test_summary();
}
