/* detokenizer: per-request output text with stop-string handling (see
 * detokenizer.h for the text layout).
 *
 * Invariants: sent <= limit <= len; text[len] == 0; once a stop string is
 * matched the text no longer grows. A stop string can only complete inside
 * the newly appended bytes, so each push searches from
 * max(0, old_len - (max_stop_len - 1)): O(new bytes + longest stop) per token.
 * The held-back tail never covers bytes already sent: if a tail is a prefix of
 * a stop string, so was its shorter version at the previous push, which was
 * held back then. Scheduler thread only. */
#define _GNU_SOURCE /* memmem */
#include "managers/detokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

struct detokenizer {
    struct detok_stream *ds;
    char **stop;
    size_t *stop_len;
    int32_t *stop_idx; /* index in the caller's list (empty strings are dropped) */
    int32_t n_stop;
    size_t max_stop_len;
    bool no_stop_trim;
    char *text;
    size_t len, cap;
    size_t sent, limit;
    int matched;
    bool finished;
};

struct detokenizer *detokenizer_create(const struct tokenizer *tok, bool skip_special_tokens, char *const *stop,
                                       int32_t n_stop, bool no_stop_trim) {
    struct detokenizer *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->matched = -1;
    d->no_stop_trim = no_stop_trim;
    d->cap = 64;
    d->text = malloc(d->cap + 1);
    if (!d->text) goto fail;
    d->text[0] = 0;
    if (tok && !(d->ds = detok_stream_create(tok, skip_special_tokens))) goto fail;
    if (n_stop > 0) {
        d->stop = calloc((size_t)n_stop, sizeof *d->stop);
        d->stop_len = calloc((size_t)n_stop, sizeof *d->stop_len);
        d->stop_idx = calloc((size_t)n_stop, sizeof *d->stop_idx);
        if (!d->stop || !d->stop_len || !d->stop_idx) goto fail;
        for (int32_t i = 0; i < n_stop; i++) {
            size_t l = stop[i] ? strlen(stop[i]) : 0;
            if (l == 0) continue;
            if (!(d->stop[d->n_stop] = strdup(stop[i]))) goto fail;
            d->stop_idx[d->n_stop] = i;
            d->stop_len[d->n_stop++] = l;
            if (l > d->max_stop_len) d->max_stop_len = l;
        }
    }
    return d;
fail:
    detokenizer_destroy(d);
    return NULL;
}

void detokenizer_destroy(struct detokenizer *d) {
    if (!d) return;
    detok_stream_destroy(d->ds);
    for (int32_t i = 0; i < d->n_stop; i++) free(d->stop[i]);
    free(d->stop);
    free(d->stop_len);
    free(d->stop_idx);
    free(d->text);
    free(d);
}

/* Length of the longest tail of the text that is a proper prefix of a stop string. */
static size_t holdback(const struct detokenizer *d) {
    if (d->no_stop_trim || d->n_stop == 0) return 0;
    size_t kmax = d->max_stop_len - 1 < d->len ? d->max_stop_len - 1 : d->len;
    for (size_t k = kmax; k > 0; k--) {
        const char *tail = d->text + d->len - k;
        for (int32_t i = 0; i < d->n_stop; i++)
            if (d->stop_len[i] > k && !memcmp(d->stop[i], tail, k)) return k;
    }
    return 0;
}

/* Finds the earliest stop string ending in the new bytes; trims the text at it. */
static void find_stop(struct detokenizer *d, size_t old_len) {
    if (d->n_stop == 0) return;
    size_t from = old_len > d->max_stop_len - 1 ? old_len - (d->max_stop_len - 1) : 0;
    const char *best = NULL;
    int best_i = -1;
    for (int32_t i = 0; i < d->n_stop; i++) {
        const char *p = memmem(d->text + from, d->len - from, d->stop[i], d->stop_len[i]);
        if (p && (!best || p < best)) best = p, best_i = i;
    }
    if (!best) return;
    d->matched = d->stop_idx[best_i];
    if (!d->no_stop_trim) {
        d->len = (size_t)(best - d->text);
        d->text[d->len] = 0;
    }
}

static int append(struct detokenizer *d, const char *s, size_t n, bool check_stop) {
    if (d->matched >= 0 || n == 0) return 0;
    if (d->len + n > d->cap) {
        size_t cap = d->cap * 2;
        while (cap < d->len + n) cap *= 2;
        char *nt = realloc(d->text, cap + 1);
        if (!nt) return ERR_NOMEM;
        d->text = nt;
        d->cap = cap;
    }
    size_t old = d->len;
    memcpy(d->text + d->len, s, n);
    d->len += n;
    d->text[d->len] = 0;
    if (check_stop) find_stop(d, old);
    return 0;
}

static void update_limit(struct detokenizer *d) {
    size_t lim = d->matched >= 0 || d->finished ? d->len : d->len - holdback(d);
    d->limit = lim > d->sent ? lim : d->sent;
    if (d->limit > d->len) d->limit = d->len; /* never past the (possibly trimmed) end */
}

int detokenizer_push_text(struct detokenizer *d, const char *text, size_t len) {
    int rc = append(d, text, len, true);
    update_limit(d);
    return rc;
}

void detokenizer_continue(struct detokenizer *d) {
    if (d->ds) detok_stream_continue(d->ds);
}

int detokenizer_push(struct detokenizer *d, int32_t id, struct sgl_err *err) {
    if (d->matched >= 0) return 0;
    if (!d->ds) return err_setf(err, ERR_INVALID, "detokenizer: no tokenizer");
    char *piece = NULL;
    size_t n = 0;
    int rc = detok_stream_push(d->ds, id, &piece, &n, err);
    if (rc) return rc;
    rc = detokenizer_push_text(d, piece, n);
    free(piece);
    if (rc) return err_setf(err, rc, "detokenizer: out of memory");
    return 0;
}

int detokenizer_finish(struct detokenizer *d, bool skip_stop_check, struct sgl_err *err) {
    int rc = 0;
    if (d->ds && d->matched < 0) {
        char *rest = NULL;
        size_t n = 0;
        rc = detok_stream_flush(d->ds, &rest, &n, err);
        if (!rc && append(d, rest, n, !skip_stop_check)) rc = err_setf(err, ERR_NOMEM, "detokenizer: out of memory");
        free(rest);
    }
    d->finished = true;
    update_limit(d);
    return rc;
}

int detokenizer_matched_stop(const struct detokenizer *d) { return d->matched; }

void detokenizer_take(struct detokenizer *d, const char **text, size_t *len) {
    if (d->sent > d->limit) d->sent = d->limit; /* a trim may not cut sent text: see update_limit */
    *text = d->text + d->sent;
    *len = d->limit - d->sent;
    d->sent = d->limit;
}

const char *detokenizer_text(const struct detokenizer *d, size_t *len) {
    if (len) *len = d->len;
    return d->text;
}
