/* bench_tokenizer: single-threaded encode / decode throughput of the real
 * Qwen3 and Llama 3 tokenizers on mixed text.
 *
 *   bench_tokenizer [TOKENIZERS_DIR [MB]]    (default tests/data/tokenizers, 4 MB)
 *
 * The text is the test corpus (tests/data/tokenizers/corpus.jsonl: prose, CJK,
 * emoji, code, digits, whitespace runs, special tokens ...) joined by newlines
 * and repeated to MB megabytes. Reported: load time, and the median of 5 runs
 * of encode (one call over the whole text, and one call per corpus line) and
 * of decode, in MB/s of text and M tokens/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/mmap_file.h"
#include "tokenizer/tokenizer.h"

#define RUNS 5

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v) {
    qsort(v, RUNS, sizeof *v, cmp_double);
    return v[RUNS / 2];
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/data/tokenizers";
    double mb = argc > 2 ? atof(argv[2]) : 4.0;
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
    struct sgl_err err = {{0}};
    char *corpus;
    size_t csize;
    if (file_read_all(path, &corpus, &csize, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    /* Decode the JSONL corpus into lines (offsets into one buffer). */
    size_t cap = csize + 16, len = 0, n_lines = 0, lines_cap = 4096;
    char *text = malloc(cap);
    size_t *line_off = malloc(lines_cap * sizeof *line_off), *line_len = malloc(lines_cap * sizeof *line_len);
    if (!text || !line_off || !line_len) return 1;
    char *save = NULL;
    for (char *l = strtok_r(corpus, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(l);
        if (cJSON_IsString(j)) {
            size_t n = strlen(j->valuestring);
            if (n_lines == lines_cap) {
                lines_cap *= 2;
                line_off = realloc(line_off, lines_cap * sizeof *line_off);
                line_len = realloc(line_len, lines_cap * sizeof *line_len);
                if (!line_off || !line_len) return 1;
            }
            line_off[n_lines] = len;
            line_len[n_lines++] = n;
            memcpy(text + len, j->valuestring, n);
            len += n;
            text[len++] = '\n';
        }
        cJSON_Delete(j);
    }
    free(corpus);
    size_t target = (size_t)(mb * 1e6), one = len;
    if (target > len) {
        text = realloc(text, target + one);
        if (!text) return 1;
        while (len < target) {
            memcpy(text + len, text, one);
            len += one;
        }
    }
    printf("text: %.2f MB (%zu corpus lines of %zu bytes, repeated), 1 thread\n", (double)len / 1e6, n_lines, one);

    const char *names[] = {"qwen3", "llama3"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        struct tokenizer *tok;
        double t0 = now();
        if (tokenizer_load_hf_dir(path, &tok, &err)) {
            fprintf(stderr, "error: %s\n", err.msg);
            return 1;
        }
        double t_load = now() - t0;
        double whole[RUNS], per_line[RUNS], dec[RUNS];
        size_t n_tok = 0;
        for (int r = 0; r < RUNS; r++) {
            int32_t *ids;
            size_t n;
            t0 = now();
            if (tokenizer_encode(tok, text, len, false, &ids, &n, &err)) {
                fprintf(stderr, "error: %s\n", err.msg);
                return 1;
            }
            whole[r] = now() - t0;
            n_tok = n;
            char *out;
            size_t ol;
            t0 = now();
            if (tokenizer_decode(tok, ids, n, false, &out, &ol, &err)) {
                fprintf(stderr, "error: %s\n", err.msg);
                return 1;
            }
            dec[r] = now() - t0;
            free(out);
            free(ids);
            t0 = now();
            for (size_t i = 0; i < n_lines; i++) {
                if (tokenizer_encode(tok, text + line_off[i], line_len[i], false, &ids, &n, &err)) {
                    fprintf(stderr, "error: %s\n", err.msg);
                    return 1;
                }
                free(ids);
            }
            per_line[r] = now() - t0;
        }
        double tw = median(whole), tl = median(per_line), td = median(dec);
        printf("%-7s load %.3f s | encode %.1f MB/s (%.2f M tok/s, %zu tokens) | per-line encode %.1f MB/s | "
               "decode %.1f MB/s\n",
               names[k], t_load, (double)len / tw / 1e6, (double)n_tok / tw / 1e6, n_tok, (double)one / tl / 1e6,
               (double)len / td / 1e6);
        tokenizer_destroy(tok);
    }
    free(text);
    free(line_off);
    free(line_len);
    return 0;
}
