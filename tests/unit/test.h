/* test.h: a minimal unit-test harness. Each test file defines TEST(name)
 * functions and lists them in main() via RUN(name); the summary line is
 * "N passed, N failed" and the exit code is non-zero on any failure.
 *
 *   TEST(foo) { CHECK(x == 1); CHECK_EQ_INT(a, b); CHECK_NEAR(f, 1.0, 1e-6); }
 *   int main(void) { RUN(foo); return test_summary(); }
 *
 * A test that cannot run (missing optional data) calls SKIP("reason"). */
#ifndef SGLC_TESTS_TEST_H
#define SGLC_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_n_pass, test_n_fail, test_n_skip, test_cur_failed, test_cur_skipped;
static const char *test_cur_name;

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                                   \
    do {                                                                            \
        test_cur_name = #name;                                                      \
        test_cur_failed = 0;                                                        \
        test_cur_skipped = 0;                                                       \
        test_##name();                                                              \
        if (test_cur_skipped) test_n_skip++;                                        \
        else if (test_cur_failed) test_n_fail++, printf("FAIL %s\n", #name);        \
        else test_n_pass++, printf("ok   %s\n", #name);                             \
        fflush(stdout);                                                             \
    } while (0)

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            printf("  %s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, test_cur_name, #cond); \
            test_cur_failed = 1;                                                             \
        }                                                                                    \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                        \
    do {                                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                                       \
        if (a_ != b_) {                                                                           \
            printf("  %s:%d: %s: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, test_cur_name, \
                   #a, #b, a_, b_);                                                               \
            test_cur_failed = 1;                                                                  \
        }                                                                                         \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                     \
    do {                                                                                          \
        double a_ = (double)(a), b_ = (double)(b);                                                \
        if (!(fabs(a_ - b_) <= (tol))) {                                                          \
            printf("  %s:%d: %s: |%s - %s| <= %g failed: %.9g vs %.9g\n", __FILE__, __LINE__,     \
                   test_cur_name, #a, #b, (double)(tol), a_, b_);                                 \
            test_cur_failed = 1;                                                                  \
        }                                                                                         \
    } while (0)
#define CHECK_STR(a, b)                                                                              \
    do {                                                                                             \
        const char *a_ = (a), *b_ = (b);                                                             \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                     \
            printf("  %s:%d: %s: %s == %s failed: \"%s\" vs \"%s\"\n", __FILE__, __LINE__, test_cur_name, \
                   #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                  \
            test_cur_failed = 1;                                                                     \
        }                                                                                            \
    } while (0)
#define SKIP(reason)                                                        \
    do {                                                                    \
        printf("skip %s: %s\n", test_cur_name, reason);                    \
        test_cur_skipped = 1;                                               \
        return;                                                             \
    } while (0)

static inline int test_summary(void) {
    printf("%d passed, %d failed, %d skipped\n", test_n_pass, test_n_fail, test_n_skip);
    return test_n_fail ? 1 : 0;
}

/* Deterministic xorshift RNG for test data: uniform in [-1, 1). */
static inline float test_randf(unsigned long long *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((*s >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

#endif
