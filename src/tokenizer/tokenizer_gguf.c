/* tokenizer_gguf: tokenizers from a GGUF file's tokenizer.ggml.* metadata.
 *
 *  - "llama": SentencePiece BPE by scores (llama.cpp's llm_tokenizer_spm):
 *    spaces become U+2581, a U+2581 prefix starts the text and follows every
 *    special token (add_space_prefix, default true), unknown characters fall
 *    back to <0xXX> byte tokens. Decoding maps U+2581 back to spaces, byte
 *    tokens to bytes, and strips one leading space of the whole text.
 *  - "gpt2": byte-level BPE with tokenizer.ggml.merges; tokenizer.ggml.pre
 *    names the pre-tokenizer regex (qwen2, llama-bpe / llama3, default / gpt2).
 * token_type: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
 * Control, user-defined and unknown tokens are matched in the text as added
 * tokens; control and unknown ones are special (skip_special_tokens).
 *
 * Thread-safety: load only reads the (read-only) gguf; see tokenizer.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_loader/gguf.h"
#include "tokenizer/tokenizer_impl.h"

#define MAX_IDS (1 << 24)

/* Byte tokens (type 6) are recognised by their <0xXX> text when the pieces are built. */
enum { TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER = 4 };

static int32_t key_id(const struct gguf *g, const char *key, int32_t dflt, int32_t n) {
    int64_t v;
    if (!gguf_get_int(g, key, &v)) return dflt;
    return v >= 0 && v < n ? (int32_t)v : -1;
}

static bool key_bool(const struct gguf *g, const char *key, bool dflt) {
    bool v;
    return gguf_get_bool(g, key, &v) ? v : dflt;
}

/* Reads element i of a numeric array of element type et as a double. */
static bool arr_num(const void *data, enum gguf_type et, int64_t i, double *out) {
    const uint8_t *p = data;
    switch (et) {
    case GGUF_TYPE_FLOAT32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        *out = f;
        return true;
    }
    case GGUF_TYPE_INT32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p + 4 * i, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_FLOAT64: {
        double v;
        memcpy(&v, p + 8 * i, 8);
        *out = v;
        return true;
    }
    default:
        return false;
    }
}

static int load_merges(struct tokenizer *t, const struct gguf *g, struct sgl_err *err) {
    const char *key = "tokenizer.ggml.merges";
    enum gguf_type et;
    int64_t n = gguf_get_arr_n(g, key, &et);
    if (n < 0 || et != GGUF_TYPE_STRING) return err_setf(err, ERR_FORMAT, "GGUF gpt2 vocabulary without %s", key);
    if (bpe_merges_init(&t->merges, (size_t)n)) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    char *buf = NULL;
    size_t cap = 0;
    uint32_t rank = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *m = gguf_get_arr_str(g, key, i, &len);
        const char *sp = m && len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
        if (!sp) continue; /* malformed merge: llama.cpp would not load it either */
        size_t la = (size_t)(sp - m), lb = len - la - 1;
        if (la + lb > cap) {
            cap = 2 * (la + lb) + 16;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
            }
            buf = nb;
        }
        memcpy(buf, m, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t a = vocab_find(&t->vocab, m, la), b = vocab_find(&t->vocab, sp + 1, lb),
                r = vocab_find(&t->vocab, buf, la + lb);
        if (a >= 0 && b >= 0 && r >= 0) bpe_merges_add(&t->merges, a, b, rank, r);
        rank++;
    }
    free(buf);
    return 0;
}

static int load(struct tokenizer *t, const struct gguf *g, struct sgl_err *err) {
    const char *model = gguf_get_str(g, "tokenizer.ggml.model", NULL);
    if (!model) return err_setf(err, ERR_NOTFOUND, "GGUF has no tokenizer.ggml.model");
    bool spm = strcmp(model, "llama") == 0;
    if (!spm && strcmp(model, "gpt2") != 0)
        return err_setf(err, ERR_INVALID, "GGUF tokenizer model \"%s\" is not supported (llama, gpt2)", model);
    enum gguf_type et;
    int64_t n = gguf_get_arr_n(g, "tokenizer.ggml.tokens", &et);
    if (n <= 0 || n > MAX_IDS || et != GGUF_TYPE_STRING)
        return err_setf(err, ERR_FORMAT, "GGUF tokenizer.ggml.tokens missing or not a string array");
    int r = tokenizer_alloc_ids(t, (int32_t)n, err);
    if (r) return r;
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &len);
        if (!s) return err_setf(err, ERR_FORMAT, "GGUF tokenizer.ggml.tokens[%lld] unreadable", (long long)i);
        if (vocab_set(&t->vocab, (int32_t)i, s, len)) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    }
    enum gguf_type tt, st;
    int64_t ntt = gguf_get_arr_n(g, "tokenizer.ggml.token_type", &tt);
    const void *types = ntt == n ? gguf_get_arr_data(g, "tokenizer.ggml.token_type") : NULL;
    int64_t nsc = gguf_get_arr_n(g, "tokenizer.ggml.scores", &st);
    const void *scores = nsc == n ? gguf_get_arr_data(g, "tokenizer.ggml.scores") : NULL;

    t->model = spm ? TOKENIZER_MODEL_SPM : TOKENIZER_MODEL_BPE;
    tokenizer_init_byte_map(t);
    if (spm) {
        t->scores = calloc((size_t)n, sizeof *t->scores);
        if (!t->scores) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
        double v;
        for (int64_t i = 0; scores && i < n; i++)
            if (arr_num(scores, st, i, &v)) t->scores[i] = (float)v;
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_ids[b] = vocab_find(&t->vocab, name, 6);
        }
        t->spm_add_space_prefix = key_bool(g, "tokenizer.ggml.add_space_prefix", true);
        t->unk_id = key_id(g, "tokenizer.ggml.unknown_token_id", n > 0 ? 0 : -1, (int32_t)n);
    } else {
        const char *pre = gguf_get_str(g, "tokenizer.ggml.pre", NULL);
        const char *regex;
        if (!pre || strcmp(pre, "default") == 0 || strcmp(pre, "gpt2") == 0 || strcmp(pre, "gpt-2") == 0)
            regex = NULL;
        else if (strcmp(pre, "qwen2") == 0)
            regex = PRETOKENIZE_PATTERN_QWEN2;
        else if (strcmp(pre, "llama3") == 0 || strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama-v3") == 0) {
            regex = PRETOKENIZE_PATTERN_LLAMA3;
            t->ignore_merges = true;
        } else
            return err_setf(err, ERR_INVALID, "GGUF tokenizer.ggml.pre \"%s\" is not supported", pre);
        if ((r = pretokenize_init_byte_level(&t->pretok, regex, err))) return r;
        if (pre && strcmp(pre, "qwen2") == 0) { /* Qwen2's tokenizer.json normalizes to NFC */
            t->norm = calloc(1, sizeof *t->norm);
            if (!t->norm) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
            t->norm->kind = TOKENIZER_NORM_FORM;
            t->norm->form = UNICODE_NFC;
            t->n_norm = 1;
        }
        for (int b = 0; b < 256; b++) t->byte_ids[b] = vocab_find(&t->vocab, t->byte_char[b], t->byte_char_len[b]);
        if ((r = load_merges(t, g, err))) return r;
        t->unk_id = key_id(g, "tokenizer.ggml.unknown_token_id", -1, (int32_t)n);
    }
    for (int64_t i = 0; types && i < n; i++) {
        double v;
        if (!arr_num(types, tt, i, &v)) break;
        int type = (int)v;
        size_t len = 0;
        const char *s = vocab_str(&t->vocab, (int32_t)i, &len);
        if (type == TYPE_UNKNOWN || type == TYPE_CONTROL || type == TYPE_USER) {
            struct tokenizer_added a = {
                .content = (char *)s, .len = len, .id = (int32_t)i, .special = type != TYPE_USER};
            if ((r = tokenizer_add_added(t, &a, err))) return r;
        }
    }
    t->bos_id = key_id(g, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, (int32_t)n);
    t->eos_id = key_id(g, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, (int32_t)n);
    t->pad_id = key_id(g, "tokenizer.ggml.padding_token_id", -1, (int32_t)n);
    bool fail = false;
    if (t->bos_id >= 0) t->bos_token = tokenizer_strdup(tokenizer_id_to_token(t, t->bos_id), &fail);
    if (t->eos_id >= 0) t->eos_token = tokenizer_strdup(tokenizer_id_to_token(t, t->eos_id), &fail);
    t->chat_template = tokenizer_strdup(gguf_get_str(g, "tokenizer.chat_template", NULL), &fail);
    if (fail) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    if (key_bool(g, "tokenizer.ggml.add_bos_token", spm) && t->bos_id >= 0) {
        if (!(t->pre_ids = malloc(sizeof *t->pre_ids))) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
        t->pre_ids[t->n_pre++] = t->bos_id;
    }
    if (key_bool(g, "tokenizer.ggml.add_eos_token", false) && t->eos_id >= 0) {
        if (!(t->post_ids = malloc(sizeof *t->post_ids))) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
        t->post_ids[t->n_post++] = t->eos_id;
    }
    /* Decoder. */
    if (spm) {
        t->dec.kind = TOKENIZER_DEC_PIECES;
        t->dec.byte_fallback = true;
        t->dec.ops = calloc(1, sizeof *t->dec.ops);
        if (!t->dec.ops) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
        t->dec.n_ops = 1;
        t->dec.ops[0].kind = TOKENIZER_DEC_OP_REPLACE;
        bool f2 = false;
        t->dec.ops[0].from = tokenizer_strdup("\xE2\x96\x81", &f2);
        t->dec.ops[0].to = tokenizer_strdup(" ", &f2);
        if (f2) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
        t->dec.ops[0].from_len = 3;
        t->dec.ops[0].to_len = 1;
        if (t->spm_add_space_prefix) {
            t->dec.strip_char[0] = ' ';
            t->dec.strip_char_len = 1;
            t->dec.strip_start = 1;
        }
    } else {
        t->dec.kind = TOKENIZER_DEC_BYTE_LEVEL;
    }
    if ((r = tokenizer_build_tries(t, err))) return r;
    return tokenizer_build_pieces(t, err);
}

int tokenizer_load_gguf(const struct gguf *g, struct tokenizer **out, struct sgl_err *err) {
    *out = NULL;
    struct tokenizer *t = tokenizer_alloc();
    if (!t) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    int r = load(t, g, err);
    if (r) {
        tokenizer_destroy(t);
        if (gguf_path(g)) err_prefix(err, gguf_path(g));
        return r;
    }
    *out = t;
    return 0;
}
