/* Tests of managers/detokenizer's text side: stop strings across push
 * boundaries, trimming vs no_stop_trim, hold-back of possible stop prefixes
 * (a trimmed stop never reaches the stream), and random push sequences
 * checked against properties of the final text. */
#define _GNU_SOURCE /* memmem */
#include "managers/detokenizer.h"

#include <string.h>

#include "test.h"

struct sink {
    char buf[4096];
    size_t len;
};

static void take(struct detokenizer *d, struct sink *s) {
    const char *t;
    size_t n;
    detokenizer_take(d, &t, &n);
    memcpy(s->buf + s->len, t, n);
    s->len += n;
    s->buf[s->len] = 0;
}

TEST(trim_across_pushes) {
    char *stops[] = {"abc", "", "xy"};
    struct detokenizer *d = detokenizer_create(NULL, true, stops, 3, false);
    struct sink s = {.len = 0};
    CHECK_EQ_INT(detokenizer_push_text(d, "zza", 3), 0);
    take(d, &s);
    CHECK_STR(s.buf, "zz"); /* "a" may start "abc": held back */
    detokenizer_push_text(d, "b", 1);
    take(d, &s);
    CHECK_STR(s.buf, "zz");
    CHECK_EQ_INT(detokenizer_matched_stop(d), -1);
    detokenizer_push_text(d, "cde", 3);
    CHECK_EQ_INT(detokenizer_matched_stop(d), 0);
    take(d, &s);
    CHECK_STR(s.buf, "zz");
    CHECK_STR(detokenizer_text(d, NULL), "zz");
    detokenizer_push_text(d, "more", 4); /* ignored after the stop */
    CHECK_STR(detokenizer_text(d, NULL), "zz");
    detokenizer_destroy(d);

    /* the index reported is the caller's (the empty string is skipped, not renumbered) */
    d = detokenizer_create(NULL, true, stops, 3, false);
    detokenizer_push_text(d, "qx", 2);
    detokenizer_push_text(d, "y", 1);
    CHECK_EQ_INT(detokenizer_matched_stop(d), 2);
    CHECK_STR(detokenizer_text(d, NULL), "q");
    detokenizer_destroy(d);
}

TEST(no_stop_trim_keeps_text) {
    char *stops[] = {"abc"};
    struct detokenizer *d = detokenizer_create(NULL, true, stops, 1, true);
    struct sink s = {.len = 0};
    detokenizer_push_text(d, "zza", 3);
    take(d, &s);
    CHECK_STR(s.buf, "zza"); /* nothing to hide: the stop string is kept */
    detokenizer_push_text(d, "bcde", 4);
    CHECK_EQ_INT(detokenizer_matched_stop(d), 0);
    take(d, &s);
    CHECK_STR(s.buf, "zzabcde");
    detokenizer_destroy(d);
}

TEST(earliest_match_and_release) {
    char *stops[] = {"cd", "bc"};
    struct detokenizer *d = detokenizer_create(NULL, true, stops, 2, false);
    detokenizer_push_text(d, "abcd", 4);
    CHECK_EQ_INT(detokenizer_matched_stop(d), 1);
    CHECK_STR(detokenizer_text(d, NULL), "a");
    detokenizer_destroy(d);

    char *stop2[] = {"abc"};
    struct sink s = {.len = 0};
    d = detokenizer_create(NULL, true, stop2, 1, false);
    detokenizer_push_text(d, "ab", 2);
    take(d, &s);
    CHECK_STR(s.buf, "");
    detokenizer_push_text(d, "x", 1); /* "abx" can no longer become "abc" */
    take(d, &s);
    CHECK_STR(s.buf, "abx");
    detokenizer_push_text(d, "ab", 2);
    take(d, &s);
    CHECK_STR(s.buf, "abx");
    CHECK_EQ_INT(detokenizer_finish(d, true, NULL), 0); /* end of generation releases the held tail */
    take(d, &s);
    CHECK_STR(s.buf, "abxab");
    detokenizer_destroy(d);

    /* no stop strings: everything is emitted at once */
    d = detokenizer_create(NULL, true, NULL, 0, false);
    s.len = 0;
    detokenizer_push_text(d, "hello", 5);
    take(d, &s);
    CHECK_STR(s.buf, "hello");
    detokenizer_destroy(d);
}

static bool contains_any(const char *t, size_t n, char **stops, int n_stop) {
    for (int i = 0; i < n_stop; i++)
        if (stops[i][0] && memmem(t, n, stops[i], strlen(stops[i]))) return true;
    return false;
}

TEST(random_pushes) {
    unsigned long long rng = 777;
    int matched_total = 0;
    for (int iter = 0; iter < 3000 && !test_cur_failed; iter++) {
        char sbuf[4][8];
        char *stops[4];
        int n_stop = 1 + (int)((test_randf(&rng) + 1) * 1.5f);
        for (int i = 0; i < n_stop; i++) {
            int l = 1 + (int)((test_randf(&rng) + 1) * 2);
            for (int j = 0; j < l; j++) sbuf[i][j] = (char)('a' + (int)((test_randf(&rng) + 1) * 1.5f));
            sbuf[i][l] = 0;
            stops[i] = sbuf[i];
        }
        struct detokenizer *d = detokenizer_create(NULL, true, stops, n_stop, false);
        char full[256];
        size_t full_len = 0;
        struct sink s = {.len = 0};
        int n_push = 1 + (int)((test_randf(&rng) + 1) * 10);
        for (int p = 0; p < n_push; p++) {
            char piece[8];
            int l = (int)((test_randf(&rng) + 1) * 2);
            for (int j = 0; j < l; j++) piece[j] = (char)('a' + (int)((test_randf(&rng) + 1) * 1.5f));
            memcpy(full + full_len, piece, (size_t)l);
            full_len += (size_t)l;
            detokenizer_push_text(d, piece, (size_t)l);
            take(d, &s);
            /* what was streamed never contains a stop string and never disagrees with the input */
            CHECK(!contains_any(s.buf, s.len, stops, n_stop));
            CHECK(s.len <= full_len && !memcmp(s.buf, full, s.len));
        }
        detokenizer_finish(d, false, NULL);
        take(d, &s);
        size_t tl;
        const char *t = detokenizer_text(d, &tl);
        CHECK(s.len == tl && !memcmp(s.buf, t, tl)); /* the stream adds up to the text */
        CHECK(tl <= full_len && !memcmp(t, full, tl));
        int m = detokenizer_matched_stop(d);
        if (m >= 0) {
            matched_total++;
            CHECK(!contains_any(t, tl, stops, n_stop));
            CHECK(!memcmp(full + tl, stops[m], strlen(stops[m])));
        } else {
            CHECK(tl == full_len);
            CHECK(!contains_any(full, full_len, stops, n_stop));
        }
        detokenizer_destroy(d);
    }
    CHECK(matched_total > 500);
}

int main(void) {
    RUN(trim_across_pushes);
    RUN(no_stop_trim_keeps_text);
    RUN(earliest_match_and_release);
    RUN(random_pushes);
    return test_summary();
}
