/* tokenizer_driver: runs our tokenizer over a JSONL corpus for the reference
 * comparison in tests/js/tokenizer_reference.mjs.
 *
 *   tokenizer_driver TOKENIZER_DIR CORPUS.jsonl
 *
 * Each corpus line is one JSON string. For each, one JSON line is written to
 * stdout: {"a": ids with add_special_tokens, "b": ids without,
 *          "d": decode(a), "s": decode(a, skip_special_tokens),
 *          "stream": concatenated detok_stream output of a == d}
 * Errors are printed as one line on stderr with exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/mmap_file.h"
#include "tokenizer/tokenizer.h"

static void put_json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void put_ids(FILE *f, const int32_t *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, i ? ",%d" : "%d", ids[i]);
    fputc(']', f);
}

/* Streams ids one by one; returns 1 if the concatenation equals want. */
static int stream_matches(const struct tokenizer *tok, const int32_t *ids, size_t n, const char *want, size_t want_len,
                          struct sgl_err *err) {
    struct detok_stream *ds = detok_stream_create(tok, false);
    if (!ds) return -1;
    size_t cap = want_len + 64, len = 0;
    char *acc = malloc(cap);
    int ok = acc != NULL;
    for (size_t i = 0; ok && i <= n; i++) {
        char *piece;
        size_t pl;
        int r = i < n ? detok_stream_push(ds, ids[i], &piece, &pl, err) : detok_stream_flush(ds, &piece, &pl, err);
        if (r) {
            ok = -1;
            break;
        }
        if (len + pl > cap) {
            cap = 2 * (len + pl);
            char *a = realloc(acc, cap);
            if (!a)
                ok = -1;
            else
                acc = a;
        }
        if (ok > 0) memcpy(acc + len, piece, pl);
        len += pl;
        free(piece);
    }
    if (ok > 0) ok = len == want_len && memcmp(acc, want, len) == 0;
    free(acc);
    detok_stream_destroy(ds);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s TOKENIZER_DIR CORPUS.jsonl\n", argv[0]);
        return 2;
    }
    struct sgl_err err = {{0}};
    struct tokenizer *tok;
    if (tokenizer_load_hf_dir(argv[1], &tok, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    char *data;
    size_t size;
    if (file_read_all(argv[2], &data, &size, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        tokenizer_destroy(tok);
        return 1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsString(j)) {
            fprintf(stderr, "error: corpus line is not a JSON string: %.60s\n", line);
            cJSON_Delete(j);
            rc = 1;
            break;
        }
        /* cJSON strings are NUL-terminated: corpus strings hold no U+0000. */
        const char *s = j->valuestring;
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0, dl = 0, sl = 0;
        char *d = NULL, *sk = NULL;
        if (tokenizer_encode(tok, s, strlen(s), true, &a, &na, &err) ||
            tokenizer_encode(tok, s, strlen(s), false, &b, &nb, &err) ||
            tokenizer_decode(tok, a, na, false, &d, &dl, &err) || tokenizer_decode(tok, a, na, true, &sk, &sl, &err)) {
            fprintf(stderr, "error: %s\n", err.msg);
            rc = 1;
        } else {
            int st = stream_matches(tok, a, na, d, dl, &err);
            fputs("{\"a\":", stdout);
            put_ids(stdout, a, na);
            fputs(",\"b\":", stdout);
            put_ids(stdout, b, nb);
            fputs(",\"d\":", stdout);
            put_json_str(stdout, d, dl);
            fputs(",\"s\":", stdout);
            put_json_str(stdout, sk, sl);
            fprintf(stdout, ",\"stream\":%s}\n", st == 1 ? "true" : "false");
        }
        free(a);
        free(b);
        free(d);
        free(sk);
        cJSON_Delete(j);
        if (rc) break;
    }
    free(data);
    tokenizer_destroy(tok);
    return rc;
}
