/* cli/common: see common.h. */
#include "cli/common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_loader/gguf.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

int cli_fail(const char *cmd, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sglc %s: error: %s\n", cmd, msg);
    return 1;
}

bool cli_parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int cli_parse_ids(const char *s, int32_t **ids, size_t *n, struct sgl_err *err) {
    *ids = NULL;
    *n = 0;
    size_t cap = 16, cnt = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return err_setf(err, ERR_NOMEM, "out of memory");
    const char *p = s;
    while (*p == ' ' || *p == '[') p++;
    while (*p && *p != ']') {
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX) {
            free(v);
            return err_setf(err, ERR_INVALID, "invalid token id list '%s'", s);
        }
        if (cnt == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return err_setf(err, ERR_NOMEM, "out of memory");
            }
            v = nv;
        }
        v[cnt++] = (int32_t)x;
        p = end;
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t') p++;
    }
    if (*p == ']') p++;
    while (*p == ' ' || *p == '\n') p++;
    if (*p) {
        free(v);
        return err_setf(err, ERR_INVALID, "invalid token id list '%s'", s);
    }
    *ids = v;
    *n = cnt;
    return 0;
}

const char *cli_opt_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
}

int cli_load_model(const char *model_path, const char *tokenizer_path, const char *dtype, const char *quantization,
                   const char *kv_cache_dtype, struct model **out, struct sgl_err *err) {
    struct model_load_opts opts = {
        .tokenizer_path = tokenizer_path, .dtype = dtype, .quantization = quantization, .kv_cache_dtype = kv_cache_dtype};
    if (!model_path) return model_load_default(&opts, out, err);
    return model_load(model_path, &opts, out, err);
}

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int cli_load_tokenizer(const char *model_path, const char *tokenizer_path, struct tokenizer **tok,
                       struct model **owner_model, struct sgl_err *err) {
    *tok = NULL;
    *owner_model = NULL;
    const char *p = tokenizer_path ? tokenizer_path : model_path;
    if (!p) {
        int rc = model_load_default(NULL, owner_model, err);
        if (rc) return rc;
        *tok = (*owner_model)->tok;
        return 0;
    }
    struct stat st;
    if (stat(p, &st) != 0) return err_setf(err, ERR_NOTFOUND, "%s: no such file or directory", p);
    if (S_ISDIR(st.st_mode)) return tokenizer_load_hf_dir(p, tok, err);
    if (has_suffix(p, ".json")) return tokenizer_load_hf(p, NULL, tok, err);
    struct gguf *g;
    int rc = gguf_open(p, &g, err);
    if (rc) return rc;
    rc = tokenizer_load_gguf(g, tok, err);
    gguf_close(g);
    return rc;
}
