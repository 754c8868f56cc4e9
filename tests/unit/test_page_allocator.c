/* Tests of mem_cache/page_allocator: page arithmetic, all-or-nothing allocation,
 * double-free detection, and a random alloc/free sequence checked against a
 * shadow ownership table. */
#include "mem_cache/page_allocator.h"

#include <stdint.h>

#include "test.h"

TEST(basic) {
    struct page_allocator *a = NULL;
    struct sgl_err err;
    CHECK_EQ_INT(page_allocator_create(0, 4, &a, &err), ERR_INVALID);
    CHECK_EQ_INT(page_allocator_create(8, 4, &a, &err), 0);
    CHECK_EQ_INT(page_allocator_total_pages(a), 8);
    CHECK_EQ_INT(page_allocator_available_tokens(a), 32);
    int32_t s[8];
    CHECK_EQ_INT(page_allocator_alloc(a, 3, s), 0);
    /* fresh allocator hands out pages in ascending order */
    CHECK_EQ_INT(s[0], 0);
    CHECK_EQ_INT(s[1], 4);
    CHECK_EQ_INT(s[2], 8);
    CHECK(page_allocator_is_used(a, 9));
    CHECK(!page_allocator_is_used(a, 12));
    CHECK_EQ_INT(page_allocator_free_pages(a), 5);
    CHECK_EQ_INT(page_allocator_alloc(a, 6, s + 3), ERR_NOMEM); /* all or nothing */
    CHECK_EQ_INT(page_allocator_free_pages(a), 5);
    /* free a run of 6 slots covering pages 0 and 1 (the run is slot-level: 0,1,2,3,4,5) */
    int32_t run[6] = {0, 1, 2, 3, 4, 5};
    CHECK_EQ_INT(page_allocator_free_run(a, run, 6), 0);
    CHECK_EQ_INT(page_allocator_free_pages(a), 7);
    CHECK(!page_allocator_is_used(a, 5));
    /* double free is reported and changes nothing */
    CHECK_EQ_INT(page_allocator_free_run(a, run, 1), ERR_INVALID);
    CHECK_EQ_INT(page_allocator_free_pages(a), 7);
    int32_t bad = 1000;
    CHECK_EQ_INT(page_allocator_free_run(a, &bad, 1), ERR_INVALID);
    page_allocator_reset(a);
    CHECK_EQ_INT(page_allocator_free_pages(a), 8);
    page_allocator_destroy(a);
    page_allocator_destroy(NULL);
}

TEST(random_sequence) {
    enum { PAGES = 64, P = 3 };
    struct page_allocator *a = NULL;
    CHECK_EQ_INT(page_allocator_create(PAGES, P, &a, NULL), 0);
    int owner[PAGES]; /* 0 = free, else holder id */
    for (int i = 0; i < PAGES; i++) owner[i] = 0;
    int32_t held[16][PAGES];
    int n_held[16] = {0};
    unsigned long long rng = 12345;
    for (int step = 0; step < 20000; step++) {
        int h = (int)((test_randf(&rng) + 1) * 8) & 15;
        if (test_randf(&rng) < 0.1f) {
            int64_t want = (int64_t)((test_randf(&rng) + 1) * 6);
            int32_t got[16];
            int64_t before = page_allocator_free_pages(a);
            int rc = page_allocator_alloc(a, want, got);
            if (want > before) {
                CHECK_EQ_INT(rc, ERR_NOMEM);
            } else {
                CHECK_EQ_INT(rc, 0);
                for (int64_t i = 0; i < want; i++) {
                    CHECK_EQ_INT(got[i] % P, 0);
                    int p = got[i] / P;
                    CHECK_EQ_INT(owner[p], 0);
                    owner[p] = h + 1;
                    held[h][n_held[h]++] = got[i];
                }
            }
        } else if (n_held[h] > 0) {
            /* free the holder's last page, as a slot run of 1..P slots */
            int32_t first = held[h][--n_held[h]];
            int32_t run[P];
            int len = 1 + (int)((test_randf(&rng) + 1) * P / 2) % P;
            for (int j = 0; j < len; j++) run[j] = first + j;
            CHECK_EQ_INT(page_allocator_free_run(a, run, len), 0);
            CHECK_EQ_INT(owner[first / P], h + 1);
            owner[first / P] = 0;
        }
        int used = 0;
        for (int i = 0; i < PAGES; i++) {
            used += owner[i] != 0;
            if ((owner[i] != 0) != page_allocator_is_used(a, i * P)) {
                CHECK(!"allocator disagrees with the shadow table");
                break;
            }
        }
        CHECK_EQ_INT(used + page_allocator_free_pages(a), PAGES);
        if (test_cur_failed) break;
    }
    page_allocator_destroy(a);
}

int main(void) {
    RUN(basic);
    RUN(random_sequence);
    return test_summary();
}
