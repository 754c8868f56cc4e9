/* tokenizer: loading of HF tokenizer.json + tokenizer_config.json, the encode
 * pipeline and the accessors (see tokenizer.h; GGUF loading is in
 * tokenizer_gguf.c, decoding in detokenize.c).
 *
 * Encode pipeline (HF semantics, as @huggingface/tokenizers and the Rust crate):
 *   raw bytes --(invalid UTF-8 -> U+FFFD)--> text
 *   text --(added tokens with normalized=false, leftmost-longest, lstrip/
 *           rstrip/single_word)--> sections
 *   each text section --normalizer--> --(added tokens with normalized=true)-->
 *       --pre-tokenizer--> words --model (BPE merges / SPM)--> ids
 *   add_special_tokens: post-processor ids before / after (e.g. BOS).
 *
 * Invariants: after load every id in [0, n_ids) has attr/added_idx/piece
 * entries; vocab holds the model's strings only (added tokens live in added[]).
 * Thread-safety: load is single-threaded; a loaded tokenizer is immutable and
 * encode allocates its own scratch, so any number of threads may encode. */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "base/mmap_file.h"
#include "tokenizer/tokenizer_impl.h"

#define MAX_IDS (1 << 24)

/* ---- allocation ---- */

char *tokenizer_strdup(const char *s, bool *fail) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d) {
        *fail = true;
        return NULL;
    }
    memcpy(d, s, n + 1);
    return d;
}

struct tokenizer *tokenizer_alloc(void) {
    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = -1;
    t->model_max_length = -1;
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    return t;
}

int tokenizer_alloc_ids(struct tokenizer *t, int32_t n_ids, struct sgl_err *err) {
    t->n_ids = n_ids;
    if (vocab_init(&t->vocab, n_ids)) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    t->attr = calloc((size_t)n_ids + 1, 1);
    t->added_idx = malloc(((size_t)n_ids + 1) * sizeof *t->added_idx);
    if (!t->attr || !t->added_idx) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    for (int32_t i = 0; i < n_ids; i++) t->added_idx[i] = -1;
    return 0;
}

void tokenizer_init_byte_map(struct tokenizer *t) {
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int32_t cp = ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174)) ? b : 256 + extra++;
        char tmp[4];
        size_t l = unicode_encode(cp, tmp);
        memcpy(t->byte_char[b], tmp, l);
        t->byte_char_len[b] = (uint8_t)l;
    }
}

int tokenizer_add_added(struct tokenizer *t, const struct tokenizer_added *a, struct sgl_err *err) {
    if (a->id < 0 || a->id >= t->n_ids) return err_setf(err, ERR_FORMAT, "added token id %d out of range", a->id);
    struct tokenizer_added *arr = realloc(t->added, (t->n_added + 1) * sizeof *arr);
    if (!arr) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    t->added = arr;
    struct tokenizer_added *d = &arr[t->n_added];
    *d = *a;
    d->content = malloc(a->len + 1);
    if (!d->content) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    memcpy(d->content, a->content, a->len);
    d->content[a->len] = 0;
    t->added_idx[a->id] = (int32_t)t->n_added;
    t->attr[a->id] |= TOKENIZER_ATTR_ADDED | (a->special ? TOKENIZER_ATTR_SPECIAL : 0);
    t->n_added++;
    return 0;
}

static void trie_free(struct tokenizer_trie *tr) {
    free(tr->term);
    free(tr->ekey);
    free(tr->eval);
    memset(tr, 0, sizeof *tr);
}

static int32_t trie_child(const struct tokenizer_trie *tr, int32_t node, uint8_t b) {
    uint64_t key = (((uint64_t)node << 8) | b) + 1;
    for (size_t i = bpe_merges_slot(key, tr->emask);; i = (i + 1) & tr->emask) {
        if (tr->ekey[i] == key) return tr->eval[i];
        if (tr->ekey[i] == 0) return -1;
    }
}

static void trie_set_child(struct tokenizer_trie *tr, int32_t node, uint8_t b, int32_t child) {
    uint64_t key = (((uint64_t)node << 8) | b) + 1;
    size_t i = bpe_merges_slot(key, tr->emask);
    while (tr->ekey[i] != 0) i = (i + 1) & tr->emask;
    tr->ekey[i] = key;
    tr->eval[i] = child;
}

/* Builds a trie over the added tokens selected by `normalized`; the contents of
 * normalized ones are passed through the normalizer first. */
static int trie_build(struct tokenizer *t, struct tokenizer_trie *tr, bool normalized, struct sgl_err *err) {
    /* The (possibly normalized) content of each selected token; NULL if not selected. */
    const char **str = calloc(t->n_added + 1, sizeof *str);
    char **owned = calloc(t->n_added + 1, sizeof *owned);
    size_t *len = calloc(t->n_added + 1, sizeof *len), total = 1;
    int r = 0;
    if (!str || !owned || !len) goto nomem;
    for (size_t i = 0; i < t->n_added; i++) {
        const struct tokenizer_added *a = &t->added[i];
        bool is_norm = a->normalized && t->n_norm > 0;
        if (is_norm != normalized || a->len == 0) continue;
        str[i] = a->content;
        len[i] = a->len;
        if (is_norm) {
            if (tokenizer_normalize(t, a->content, a->len, &owned[i], &len[i])) goto nomem;
            if (owned[i]) str[i] = owned[i];
        }
        total += len[i];
    }
    size_t slots = 16;
    while (slots < 2 * total) slots <<= 1;
    tr->term = malloc(total * sizeof *tr->term);
    tr->ekey = calloc(slots, sizeof *tr->ekey);
    tr->eval = malloc(slots * sizeof *tr->eval);
    tr->emask = slots - 1;
    if (!tr->term || !tr->ekey || !tr->eval) goto nomem;
    tr->n_nodes = 1;
    tr->term[0] = -1;
    for (size_t i = 0; i < t->n_added; i++) {
        if (!str[i] || len[i] == 0) continue;
        const uint8_t *s = (const uint8_t *)str[i];
        int32_t node = 0;
        for (size_t k = 0; k < len[i]; k++) {
            int32_t c = trie_child(tr, node, s[k]);
            if (c < 0) {
                c = (int32_t)tr->n_nodes++;
                tr->term[c] = -1;
                trie_set_child(tr, node, s[k], c);
            }
            node = c;
        }
        tr->first[s[0] >> 3] |= (uint8_t)(1u << (s[0] & 7));
        tr->term[node] = (int32_t)i; /* a later token with the same content wins, as in a JS Map */
    }
    goto done;
nomem:
    r = err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
done:
    for (size_t i = 0; owned && i < t->n_added; i++) free(owned[i]);
    free(owned);
    free(str);
    free(len);
    return r;
}

int tokenizer_build_tries(struct tokenizer *t, struct sgl_err *err) {
    int r = trie_build(t, &t->trie_raw, false, err);
    if (r) return r;
    return trie_build(t, &t->trie_norm, true, err);
}

void tokenizer_destroy(struct tokenizer *t) {
    if (!t) return;
    vocab_free(&t->vocab);
    free(t->attr);
    free(t->added_idx);
    free(t->piece_off);
    free(t->piece_len);
    free(t->piece_byte);
    free(t->piece_arena);
    for (size_t i = 0; i < t->dec.n_ops; i++) {
        free(t->dec.ops[i].from);
        free(t->dec.ops[i].to);
    }
    free(t->dec.ops);
    bpe_merges_free(&t->merges);
    free(t->scores);
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    free(t->norm);
    pretokenize_free(&t->pretok);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    trie_free(&t->trie_raw);
    trie_free(&t->trie_norm);
    free(t->pre_ids);
    free(t->post_ids);
    free(t->bos_token);
    free(t->eos_token);
    free(t->chat_template);
    free(t);
}

/* ---- normalizer ---- */

static int norm_add(struct tokenizer *t, struct tokenizer_norm_op **op, struct sgl_err *err) {
    struct tokenizer_norm_op *a = realloc(t->norm, (t->n_norm + 1) * sizeof *a);
    if (!a) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    t->norm = a;
    *op = &a[t->n_norm++];
    memset(*op, 0, sizeof **op);
    return 0;
}

static int dup_str(const char *s, char **out, size_t *len, struct sgl_err *err) {
    size_t n = strlen(s);
    *out = malloc(n + 1);
    if (!*out) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    memcpy(*out, s, n + 1);
    *len = n;
    return 0;
}

static int parse_normalizer(struct tokenizer *t, const cJSON *c, int depth, struct sgl_err *err) {
    if (!c || cJSON_IsNull(c)) return 0;
    const char *type = json_get_string(c, "type");
    if (!type) return err_setf(err, ERR_FORMAT, "normalizer: missing \"type\"");
    struct tokenizer_norm_op *op;
    int r;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = json_get(c, "normalizers"), *e;
        if (!cJSON_IsArray(arr)) return err_setf(err, ERR_FORMAT, "normalizer Sequence: missing \"normalizers\"");
        if (depth > 8) return err_setf(err, ERR_FORMAT, "normalizer: Sequence nested too deeply");
        cJSON_ArrayForEach(e, arr) {
            if ((r = parse_normalizer(t, e, depth + 1, err))) return r;
        }
        return 0;
    }
    static const struct {
        const char *name;
        enum unicode_form form;
    } forms[] = {{"NFC", UNICODE_NFC}, {"NFD", UNICODE_NFD}, {"NFKC", UNICODE_NFKC}, {"NFKD", UNICODE_NFKD}};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(type, forms[i].name) == 0) {
            if ((r = norm_add(t, &op, err))) return r;
            op->kind = TOKENIZER_NORM_FORM;
            op->form = forms[i].form;
            return 0;
        }
    if (strcmp(type, "Lowercase") == 0) {
        if ((r = norm_add(t, &op, err))) return r;
        op->kind = TOKENIZER_NORM_LOWERCASE;
        return 0;
    }
    if (strcmp(type, "Strip") == 0) {
        if ((r = norm_add(t, &op, err))) return r;
        op->kind = TOKENIZER_NORM_STRIP;
        bool l = true, rr = true;
        json_get_bool(c, "strip_left", &l);
        json_get_bool(c, "strip_right", &rr);
        op->left = l;
        op->right = rr;
        return 0;
    }
    if (strcmp(type, "Prepend") == 0) {
        const char *p = json_get_string(c, "prepend");
        if (!p) return err_setf(err, ERR_FORMAT, "normalizer Prepend: missing \"prepend\"");
        if ((r = norm_add(t, &op, err))) return r;
        op->kind = TOKENIZER_NORM_PREPEND;
        return dup_str(p, &op->a, &op->a_len, err);
    }
    if (strcmp(type, "Replace") == 0) {
        const char *pat = json_get_string(json_get(c, "pattern"), "String"), *content = json_get_string(c, "content");
        if (!pat || !content)
            return err_setf(err, ERR_INVALID, "normalizer Replace: only {\"String\": ...} patterns are supported");
        if ((r = norm_add(t, &op, err))) return r;
        op->kind = TOKENIZER_NORM_REPLACE;
        if ((r = dup_str(pat, &op->a, &op->a_len, err))) return r;
        return dup_str(content, &op->b, &op->b_len, err);
    }
    return err_setf(err, ERR_INVALID, "normalizer type \"%s\" is not supported", type);
}

/* Takes ownership of nb (the new text) and releases the previous owned buffer. */
static void norm_swap(const char **cur, size_t *cur_len, char **owned, char *nb, size_t nl) {
    free(*owned);
    *owned = nb;
    *cur = nb;
    *cur_len = nl;
}

int tokenizer_normalize(const struct tokenizer *t, const char *s, size_t n, char **out, size_t *out_len) {
    const char *cur = s;
    size_t cl = n;
    char *owned = NULL;
    *out = NULL;
    *out_len = n;
    for (size_t i = 0; i < t->n_norm; i++) {
        const struct tokenizer_norm_op *op = &t->norm[i];
        char *nb = NULL;
        size_t nl = 0;
        switch (op->kind) {
        case TOKENIZER_NORM_FORM:
            if (unicode_normalize(op->form, cur, cl, &nb, &nl)) goto nomem;
            if (nb) norm_swap(&cur, &cl, &owned, nb, nl);
            break;
        case TOKENIZER_NORM_LOWERCASE:
            if (unicode_lowercase(cur, cl, &nb, &nl)) goto nomem;
            norm_swap(&cur, &cl, &owned, nb, nl);
            break;
        case TOKENIZER_NORM_PREPEND:
            if (cl == 0) break;
            if (!(nb = malloc(op->a_len + cl + 1))) goto nomem;
            memcpy(nb, op->a, op->a_len);
            memcpy(nb + op->a_len, cur, cl);
            nb[op->a_len + cl] = 0;
            norm_swap(&cur, &cl, &owned, nb, op->a_len + cl);
            break;
        case TOKENIZER_NORM_REPLACE: {
            if (op->a_len == 0 || cl < op->a_len || !memmem(cur, cl, op->a, op->a_len)) break;
            size_t cap = cl + 1;
            if (op->b_len > op->a_len) cap += (cl / op->a_len + 1) * (op->b_len - op->a_len);
            if (!(nb = malloc(cap))) goto nomem;
            for (size_t k = 0; k < cl;) {
                if (k + op->a_len <= cl && memcmp(cur + k, op->a, op->a_len) == 0) {
                    memcpy(nb + nl, op->b, op->b_len);
                    nl += op->b_len;
                    k += op->a_len;
                } else
                    nb[nl++] = cur[k++];
            }
            nb[nl] = 0;
            norm_swap(&cur, &cl, &owned, nb, nl);
            break;
        }
        case TOKENIZER_NORM_STRIP: {
            const uint8_t *p = (const uint8_t *)cur;
            size_t a = 0, b = cl, l;
            while (op->left && a < b && (unicode_class_at(p + a, b - a, &l) & UNICODE_SPACE)) a += l;
            while (op->right && b > a) {
                size_t k = b - 1;
                while (k > a && (p[k] & 0xC0) == 0x80) k--;
                if (!(unicode_class_at(p + k, b - k, &l) & UNICODE_SPACE)) break;
                b = k;
            }
            if (a == 0 && b == cl) break;
            if (!(nb = malloc(b - a + 1))) goto nomem;
            memcpy(nb, cur + a, b - a);
            nb[b - a] = 0;
            norm_swap(&cur, &cl, &owned, nb, b - a);
            break;
        }
        }
    }
    *out = owned;
    *out_len = cl;
    return 0;
nomem:
    free(owned);
    return -1;
}

/* ---- tokenizer.json ---- */

static bool json_id(const cJSON *v, int32_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d < MAX_IDS) || d != floor(d)) return false;
    *out = (int32_t)d;
    return true;
}

/* Content string of an added-token-like value: "x" or {"content": "x"}. */
static const char *token_content(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    return json_get_string(v, "content");
}

static int parse_added_tokens(struct tokenizer *t, const cJSON *arr, struct sgl_err *err) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        struct tokenizer_added a = {0};
        const char *content = json_get_string(e, "content");
        if (!json_id(json_get(e, "id"), &a.id) || !content)
            return err_setf(err, ERR_FORMAT, "added_tokens: entry without integer \"id\" and string \"content\"");
        a.content = (char *)content;
        a.len = strlen(content);
        json_get_bool(e, "special", &a.special);
        json_get_bool(e, "lstrip", &a.lstrip);
        json_get_bool(e, "rstrip", &a.rstrip);
        json_get_bool(e, "single_word", &a.single_word);
        a.normalized = !a.special;
        json_get_bool(e, "normalized", &a.normalized);
        int r = tokenizer_add_added(t, &a, err);
        if (r) return r;
    }
    return 0;
}

static int parse_merges(struct tokenizer *t, const cJSON *merges, struct sgl_err *err) {
    size_t n = (size_t)cJSON_GetArraySize(merges);
    if (bpe_merges_init(&t->merges, n)) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    char *buf = NULL;
    size_t cap = 0, rank = 0;
    const cJSON *e;
    int r = 0;
    cJSON_ArrayForEach(e, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(e)) {
            a = e->valuestring;
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                r = err_setf(err, ERR_FORMAT, "merges[%zu]: \"%.60s\" is not two tokens separated by one space", rank,
                             a);
                break;
            }
            la = (size_t)(sp - a);
            b = sp + 1;
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            a = e->child->valuestring;
            la = strlen(a);
            b = e->child->next->valuestring;
        } else {
            r = err_setf(err, ERR_FORMAT, "merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", rank);
            break;
        }
        lb = strlen(b);
        if (la + lb + 1 > cap) {
            cap = 2 * (la + lb + 1);
            char *nb = realloc(buf, cap);
            if (!nb) {
                r = err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
                break;
            }
            buf = nb;
        }
        memcpy(buf, a, la);
        memcpy(buf + la, b, lb);
        int32_t ia = vocab_find(&t->vocab, a, la), ib = vocab_find(&t->vocab, b, lb),
                im = vocab_find(&t->vocab, buf, la + lb);
        if (ia < 0 || ib < 0 || im < 0) {
            r = err_setf(err, ERR_FORMAT, "merges[%zu]: \"%.*s\" + \"%.*s\" uses a token that is not in the vocab",
                         rank, (int)(la > 40 ? 40 : la), a, (int)(lb > 40 ? 40 : lb), b);
            break;
        }
        bpe_merges_add(&t->merges, ia, ib, (uint32_t)rank, im);
        rank++;
    }
    free(buf);
    return r;
}

/* Post-processor ids around the sequence: TemplateProcessing (single), Bert/Roberta, ByteLevel, Sequence. */
static int set_ids(int32_t **dst, size_t *n, const int32_t *src, size_t ns, struct sgl_err *err) {
    free(*dst);
    *dst = NULL;
    *n = 0;
    if (!ns) return 0;
    *dst = malloc(ns * sizeof **dst);
    if (!*dst) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    memcpy(*dst, src, ns * sizeof **dst);
    *n = ns;
    return 0;
}

static int parse_post(struct tokenizer *t, const cJSON *c, int depth, struct sgl_err *err) {
    if (!c || cJSON_IsNull(c)) return 0;
    const char *type = json_get_string(c, "type");
    if (!type) return err_setf(err, ERR_FORMAT, "post_processor: missing \"type\"");
    if (strcmp(type, "ByteLevel") == 0) return 0; /* only adjusts offsets */
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = json_get(c, "processors"), *e;
        if (!cJSON_IsArray(arr)) return err_setf(err, ERR_FORMAT, "post_processor Sequence: missing \"processors\"");
        if (depth > 8) return err_setf(err, ERR_FORMAT, "post_processor: Sequence nested too deeply");
        cJSON_ArrayForEach(e, arr) {
            int r = parse_post(t, e, depth + 1, err);
            if (r) return r;
        }
        return 0;
    }
    int32_t pre[64], post[64];
    size_t np = 0, nq = 0;
    if (strcmp(type, "TemplateProcessing") == 0) {
        const cJSON *single = json_get(c, "single"), *specials = json_get(c, "special_tokens"), *e;
        if (!cJSON_IsArray(single)) return err_setf(err, ERR_FORMAT, "TemplateProcessing: missing \"single\"");
        bool seen_a = false;
        cJSON_ArrayForEach(e, single) {
            const cJSON *st = json_get(e, "SpecialToken"), *sq = json_get(e, "Sequence");
            if (sq) {
                const char *sid = json_get_string(sq, "id");
                if (!sid || strcmp(sid, "A") != 0 || seen_a)
                    return err_setf(err, ERR_FORMAT, "TemplateProcessing: \"single\" must hold sequence A once");
                seen_a = true;
                continue;
            }
            const char *name = json_get_string(st, "id");
            const cJSON *ids = json_get(json_get(specials, name ? name : ""), "ids"), *x;
            if (!name || !cJSON_IsArray(ids))
                return err_setf(err, ERR_FORMAT, "TemplateProcessing: special token \"%s\" has no ids",
                                name ? name : "(none)");
            cJSON_ArrayForEach(x, ids) {
                int32_t id;
                if (!json_id(x, &id) || id >= t->n_ids || (seen_a ? nq : np) >= 64)
                    return err_setf(err, ERR_FORMAT, "TemplateProcessing: bad id for \"%s\"", name);
                if (seen_a)
                    post[nq++] = id;
                else
                    pre[np++] = id;
            }
        }
        if (!seen_a) return err_setf(err, ERR_FORMAT, "TemplateProcessing: \"single\" lacks sequence A");
    } else if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        const cJSON *cls = json_get(c, "cls"), *sep = json_get(c, "sep");
        int32_t ic, is;
        if (!cJSON_IsArray(cls) || !cJSON_IsArray(sep) || !json_id(cJSON_GetArrayItem(cls, 1), &ic) ||
            !json_id(cJSON_GetArrayItem(sep, 1), &is) || ic >= t->n_ids || is >= t->n_ids)
            return err_setf(err, ERR_FORMAT, "%s: bad \"cls\"/\"sep\"", type);
        pre[np++] = ic;
        post[nq++] = is;
    } else {
        return err_setf(err, ERR_INVALID, "post_processor type \"%s\" is not supported", type);
    }
    int r = set_ids(&t->pre_ids, &t->n_pre, pre, np, err);
    if (r) return r;
    return set_ids(&t->post_ids, &t->n_post, post, nq, err);
}

static int parse_config(struct tokenizer *t, const cJSON *cfg, struct sgl_err *err) {
    /* clean_up_tokenization_spaces: without a config file, none (the tokenizers
     * library alone has no clean-up); a config without the key means true (the
     * reference's and transformers' long-standing default). */
    if (!cfg) return 0;
    if (!cJSON_IsObject(cfg)) return err_setf(err, ERR_FORMAT, "tokenizer_config.json: not a JSON object");
    bool fail = false;
    const char *bos = token_content(json_get(cfg, "bos_token")), *eos = token_content(json_get(cfg, "eos_token")),
               *pad = token_content(json_get(cfg, "pad_token"));
    t->bos_token = tokenizer_strdup(bos, &fail);
    t->eos_token = tokenizer_strdup(eos, &fail);
    if (bos) t->bos_id = tokenizer_token_to_id(t, bos);
    if (eos) t->eos_id = tokenizer_token_to_id(t, eos);
    if (pad) t->pad_id = tokenizer_token_to_id(t, pad);
    bool cu = true;
    json_get_bool(cfg, "clean_up_tokenization_spaces", &cu);
    t->dec.clean_up = cu;
    const cJSON *ct = json_get(cfg, "chat_template");
    if (cJSON_IsString(ct))
        t->chat_template = tokenizer_strdup(ct->valuestring, &fail);
    else if (cJSON_IsArray(ct)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, ct) {
            const char *name = json_get_string(e, "name"), *tpl = json_get_string(e, "template");
            if (name && tpl && strcmp(name, "default") == 0) t->chat_template = tokenizer_strdup(tpl, &fail);
        }
    }
    double mml;
    if (json_get_double(cfg, "model_max_length", &mml) && isfinite(mml) && mml >= 1 && mml < 1e15)
        t->model_max_length = (int64_t)mml;
    const cJSON *extra = json_get(cfg, "additional_special_tokens"), *e;
    if (cJSON_IsArray(extra)) {
        cJSON_ArrayForEach(e, extra) {
            const char *s = token_content(e);
            int32_t id = s ? tokenizer_token_to_id(t, s) : -1;
            if (id >= 0) t->attr[id] |= TOKENIZER_ATTR_SPECIAL;
        }
    }
    if (fail) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    /* add_bos_token / add_eos_token: make sure the post-processor adds them. */
    bool add_bos = false, add_eos = false;
    json_get_bool(cfg, "add_bos_token", &add_bos);
    json_get_bool(cfg, "add_eos_token", &add_eos);
    if (add_bos && t->bos_id >= 0 && !(t->n_pre > 0 && t->pre_ids[0] == t->bos_id)) {
        int32_t *p = realloc(t->pre_ids, (t->n_pre + 1) * sizeof *p);
        if (!p) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
        memmove(p + 1, p, t->n_pre * sizeof *p);
        p[0] = t->bos_id;
        t->pre_ids = p;
        t->n_pre++;
    }
    if (add_eos && t->eos_id >= 0 && !(t->n_post > 0 && t->post_ids[t->n_post - 1] == t->eos_id)) {
        int32_t *p = realloc(t->post_ids, (t->n_post + 1) * sizeof *p);
        if (!p) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
        p[t->n_post++] = t->eos_id;
        t->post_ids = p;
    }
    return 0;
}

static int load_hf(struct tokenizer *t, const cJSON *root, const cJSON *cfg, struct sgl_err *err) {
    if (!cJSON_IsObject(root)) return err_setf(err, ERR_FORMAT, "tokenizer.json: not a JSON object");
    const cJSON *model = json_get(root, "model");
    if (!cJSON_IsObject(model)) return err_setf(err, ERR_FORMAT, "tokenizer.json: missing \"model\" object");
    const char *mtype = json_get_string(model, "type");
    const cJSON *vocab = json_get(model, "vocab"), *merges = json_get(model, "merges");
    if (mtype ? strcmp(mtype, "BPE") != 0 : !cJSON_IsArray(merges))
        return err_setf(err, ERR_INVALID, "tokenizer.json: model type \"%s\" is not supported (only BPE)",
                        mtype ? mtype : "(none)");
    if (!cJSON_IsObject(vocab)) return err_setf(err, ERR_FORMAT, "tokenizer.json: model.vocab is not an object");
    if (merges && !cJSON_IsArray(merges))
        return err_setf(err, ERR_FORMAT, "tokenizer.json: model.merges is not an array");
    const char *cp = json_get_string(model, "continuing_subword_prefix"),
               *ews = json_get_string(model, "end_of_word_suffix");
    if ((cp && *cp) || (ews && *ews))
        return err_setf(err, ERR_INVALID,
                        "tokenizer.json: continuing_subword_prefix/end_of_word_suffix are not supported");

    /* Ids: 1 + the largest of the vocab and the added tokens. */
    const cJSON *added = json_get(root, "added_tokens"), *e;
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        return err_setf(err, ERR_FORMAT, "tokenizer.json: added_tokens is not an array");
    int32_t max_id = -1, id = 0;
    size_t n_entries = 0;
    cJSON_ArrayForEach(e, vocab) {
        if (!json_id(e, &id)) return err_setf(err, ERR_FORMAT, "tokenizer.json: vocab entry with a bad id");
        if (id > max_id) max_id = id;
        n_entries++;
    }
    if (cJSON_IsArray(added)) {
        cJSON_ArrayForEach(e, added) {
            if (json_id(json_get(e, "id"), &id) && id > max_id) max_id = id;
            n_entries++;
        }
    }
    if ((size_t)max_id + 1 > 8 * n_entries + 65536)
        return err_setf(err, ERR_FORMAT, "tokenizer.json: ids up to %d for only %zu tokens", max_id, n_entries);
    int r = tokenizer_alloc_ids(t, max_id + 1, err);
    if (r) return r;
    cJSON_ArrayForEach(e, vocab) {
        json_id(e, &id);
        if (vocab_set(&t->vocab, id, e->string, strlen(e->string)))
            return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    }
    if (merges && (r = parse_merges(t, merges, err))) return r;
    if (cJSON_IsArray(added) && (r = parse_added_tokens(t, added, err))) return r;

    bool bf = false, im = false, fu = false;
    json_get_bool(model, "byte_fallback", &bf);
    json_get_bool(model, "ignore_merges", &im);
    json_get_bool(model, "fuse_unk", &fu);
    t->byte_fallback = bf;
    t->ignore_merges = im;
    t->fuse_unk = fu;
    const char *unk = json_get_string(model, "unk_token");
    if (unk) t->unk_id = tokenizer_token_to_id(t, unk);

    if ((r = parse_normalizer(t, json_get(root, "normalizer"), 0, err))) return r;
    if ((r = pretokenize_parse(json_get(root, "pre_tokenizer"), &t->pretok, err))) return r;
    tokenizer_init_byte_map(t);
    for (int b = 0; b < 256; b++) {
        if (t->pretok.byte_level) {
            t->byte_ids[b] = vocab_find(&t->vocab, t->byte_char[b], t->byte_char_len[b]);
        } else {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_ids[b] = vocab_find(&t->vocab, name, 6);
        }
    }
    if ((r = parse_post(t, json_get(root, "post_processor"), 0, err))) return r;
    if ((r = tokenizer_parse_decoder(t, json_get(root, "decoder"), err))) return r;
    if ((r = parse_config(t, cfg, err))) return r;
    if (t->bos_id < 0 && t->n_pre > 0) t->bos_id = t->pre_ids[0];
    if ((r = tokenizer_build_tries(t, err))) return r;
    return tokenizer_build_pieces(t, err);
}

int tokenizer_load_hf_memory(const char *tokenizer_json, size_t len, const char *config_json, struct tokenizer **out,
                             struct sgl_err *err) {
    *out = NULL;
    if (!tokenizer_json) return err_setf(err, ERR_INVALID, "tokenizer.json: no data");
    /* JSON is UTF-8; checking it here means every string from the file (and
     * hence every text the normalizers produce) is valid UTF-8 downstream. */
    if (!unicode_utf8_valid(tokenizer_json, len)) return err_setf(err, ERR_FORMAT, "tokenizer.json: not valid UTF-8");
    if (config_json && !unicode_utf8_valid(config_json, strlen(config_json)))
        return err_setf(err, ERR_FORMAT, "tokenizer_config.json: not valid UTF-8");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(tokenizer_json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= tokenizer_json ? (size_t)(end - tokenizer_json) : 0;
        return err_setf(err, ERR_FORMAT, "tokenizer.json: invalid JSON near byte %zu", at);
    }
    cJSON *cfg = NULL;
    if (config_json) {
        cfg = cJSON_ParseWithOpts(config_json, &end, 0);
        if (!cfg) {
            cJSON_Delete(root);
            return err_setf(err, ERR_FORMAT, "tokenizer_config.json: invalid JSON near byte %zu",
                            end && end >= config_json ? (size_t)(end - config_json) : 0);
        }
    }
    struct tokenizer *t = tokenizer_alloc();
    int r = t ? load_hf(t, root, cfg, err) : err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    if (r) {
        tokenizer_destroy(t);
        return r;
    }
    t->model = TOKENIZER_MODEL_BPE;
    *out = t;
    return 0;
}

int tokenizer_load_hf(const char *tokenizer_json, const char *tokenizer_config, struct tokenizer **out,
                      struct sgl_err *err) {
    *out = NULL;
    char *data = NULL, *cfg = NULL;
    size_t n = 0;
    int r = file_read_all(tokenizer_json, &data, &n, err);
    if (r) return r;
    if (tokenizer_config && (r = file_read_all(tokenizer_config, &cfg, NULL, err))) {
        free(data);
        return r;
    }
    r = tokenizer_load_hf_memory(data, n, cfg, out, err);
    free(data);
    free(cfg);
    if (r) err_prefix(err, tokenizer_json);
    return r;
}

int tokenizer_load_hf_dir(const char *dir, struct tokenizer **out, struct sgl_err *err) {
    *out = NULL;
    size_t dl = strlen(dir);
    char *tj = malloc(dl + 32), *tc = malloc(dl + 32);
    if (!tj || !tc) {
        free(tj);
        free(tc);
        return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    }
    snprintf(tj, dl + 32, "%s/tokenizer.json", dir);
    snprintf(tc, dl + 32, "%s/tokenizer_config.json", dir);
    int r;
    if (access(tj, R_OK) != 0)
        r = err_setf(err, ERR_NOTFOUND, "%s: no tokenizer.json in this directory", dir);
    else
        r = tokenizer_load_hf(tj, access(tc, R_OK) == 0 ? tc : NULL, out, err);
    free(tj);
    free(tc);
    return r;
}

/* ---- encode ---- */

/* Per-call cache pre-token -> ids: in a long text most words repeat, and a hit
 * replaces the merge loop (a dozen random probes of the merge table) by one
 * hash lookup. Per call, so the shared tokenizer stays immutable. */
#define WC_MAX_WORD    256
#define WC_MAX_ENTRIES (1 << 16)
#define WC_MIN_WORDS   64
struct word_cache {
    uint64_t *slot; /* (hash >> 32 << 32) | (entry + 1); 0 = empty */
    size_t mask;
    struct wc_ent {
        uint32_t key_off, key_len, ids_off, ids_len;
    } * ent;
    size_t n_ent, ent_cap;
    char *keys;
    size_t keys_len, keys_cap;
    struct bpe_ids ids;
};

static void wc_free(struct word_cache *c) {
    free(c->slot);
    free(c->ent);
    free(c->keys);
    free(c->ids.v);
}

static const struct wc_ent *wc_find(const struct word_cache *c, const uint8_t *w, size_t n, uint64_t h) {
    if (!c->slot) return NULL;
    for (size_t i = (size_t)h & c->mask;; i = (i + 1) & c->mask) {
        uint64_t sl = c->slot[i];
        if (sl == 0) return NULL;
        if ((sl >> 32) != (h >> 32)) continue;
        const struct wc_ent *e = &c->ent[(uint32_t)sl - 1];
        if (e->key_len == n && memcmp(c->keys + e->key_off, w, n) == 0) return e;
    }
}

static void wc_put_slot(struct word_cache *c, uint64_t h, size_t ent) {
    size_t i = (size_t)h & c->mask;
    while (c->slot[i]) i = (i + 1) & c->mask;
    c->slot[i] = (h >> 32 << 32) | (ent + 1);
}

/* Remembers w -> ids; a full cache or an allocation failure just stops caching. */
static void wc_insert(struct word_cache *c, const uint8_t *w, size_t n, uint64_t h, const int32_t *ids, size_t m) {
    if (c->n_ent >= WC_MAX_ENTRIES) return;
    if (2 * (c->n_ent + 1) > c->mask + 1 || !c->slot) {
        size_t slots = c->slot ? 2 * (c->mask + 1) : 512;
        uint64_t *ns = calloc(slots, sizeof *ns);
        if (!ns) return;
        free(c->slot);
        c->slot = ns;
        c->mask = slots - 1;
        for (size_t k = 0; k < c->n_ent; k++) {
            const struct wc_ent *e = &c->ent[k];
            wc_put_slot(c, vocab_hash(c->keys + e->key_off, e->key_len), k);
        }
    }
    if (c->n_ent == c->ent_cap) {
        size_t cap = c->ent_cap ? 2 * c->ent_cap : 256;
        struct wc_ent *ne = realloc(c->ent, cap * sizeof *ne);
        if (!ne) return;
        c->ent = ne;
        c->ent_cap = cap;
    }
    if (c->keys_len + n > c->keys_cap) {
        size_t cap = c->keys_cap ? 2 * c->keys_cap : 4096;
        while (cap < c->keys_len + n) cap *= 2;
        char *nk = realloc(c->keys, cap);
        if (!nk) return;
        c->keys = nk;
        c->keys_cap = cap;
    }
    if (bpe_ids_reserve(&c->ids, m)) return;
    c->ent[c->n_ent] = (struct wc_ent){(uint32_t)c->keys_len, (uint32_t)n, (uint32_t)c->ids.n, (uint32_t)m};
    memcpy(c->keys + c->keys_len, w, n);
    c->keys_len += n;
    if (m) memcpy(c->ids.v + c->ids.n, ids, m * sizeof *ids);
    c->ids.n += m;
    wc_put_slot(c, h, c->n_ent);
    c->n_ent++;
}

struct enc {
    const struct tokenizer *t;
    struct bpe_ids *out;
    struct pretokenize_work pw;
    struct bpe_scratch scr;
    struct bpe_ids sym;
    struct word_cache cache;
    size_t n_words;
    char *map;
    size_t map_cap;
    struct sgl_err *err;
};

static int enc_nomem(struct enc *e) { return err_setf(e->err, ERR_NOMEM, "tokenize: out of memory"); }

static int push_unk(struct enc *e, bool *last_unk) {
    const struct tokenizer *t = e->t;
    if (t->unk_id < 0 || (t->fuse_unk && *last_unk)) return 0;
    *last_unk = true;
    return bpe_ids_push(&e->sym, t->unk_id);
}

static int emit_ids(struct enc *e, const int32_t *ids, size_t m) {
    if (m == 0) return 0;
    if (bpe_ids_reserve(e->out, m)) return enc_nomem(e);
    memcpy(e->out->v + e->out->n, ids, m * sizeof *ids);
    e->out->n += m;
    return 0;
}

/* One pre-token through the BPE model (merges not cached). */
static int encode_word_uncached(struct enc *e, const uint8_t *w, size_t n) {
    const struct tokenizer *t = e->t;
    e->sym.n = 0;
    bool last_unk = false;
    if (t->pretok.byte_level) {
        if (t->ignore_merges) {
            if (2 * n > e->map_cap) {
                size_t cap = 4 * n + 64;
                char *m = realloc(e->map, cap);
                if (!m) return enc_nomem(e);
                e->map = m;
                e->map_cap = cap;
            }
            size_t ml = 0;
            for (size_t i = 0; i < n; i++) {
                e->map[ml++] = t->byte_char[w[i]][0];
                if (t->byte_char_len[w[i]] == 2) e->map[ml++] = t->byte_char[w[i]][1];
            }
            int32_t id = vocab_find(&t->vocab, e->map, ml);
            if (id >= 0) return bpe_ids_push(e->out, id) ? enc_nomem(e) : 0;
        }
        if (bpe_ids_reserve(&e->sym, n)) return enc_nomem(e);
        for (size_t i = 0; i < n; i++) {
            int32_t id = t->byte_ids[w[i]];
            if (id >= 0) {
                e->sym.v[e->sym.n++] = id;
                last_unk = false;
            } else if (push_unk(e, &last_unk))
                return enc_nomem(e);
        }
    } else {
        if (t->ignore_merges) {
            int32_t id = vocab_find(&t->vocab, (const char *)w, n);
            if (id >= 0) return bpe_ids_push(e->out, id) ? enc_nomem(e) : 0;
        }
        for (size_t i = 0; i < n;) {
            size_t l;
            unicode_decode(w + i, n - i, &l);
            int32_t id = vocab_find(&t->vocab, (const char *)w + i, l);
            if (id >= 0) {
                if (bpe_ids_push(&e->sym, id)) return enc_nomem(e);
                last_unk = false;
            } else {
                bool all = t->byte_fallback;
                for (size_t k = 0; all && k < l; k++) all = t->byte_ids[w[i + k]] >= 0;
                if (all) {
                    for (size_t k = 0; k < l; k++)
                        if (bpe_ids_push(&e->sym, t->byte_ids[w[i + k]])) return enc_nomem(e);
                    last_unk = false;
                } else if (push_unk(e, &last_unk))
                    return enc_nomem(e);
            }
            i += l;
        }
    }
    size_t m = bpe_merge(&t->merges, e->sym.v, e->sym.n, &e->scr);
    if (m == (size_t)-1) return enc_nomem(e);
    e->sym.n = m;
    return emit_ids(e, e->sym.v, m);
}

static int encode_word(struct enc *e, const uint8_t *w, size_t n) {
    if (n == 0) return 0;
    /* Short texts do not repeat enough words to pay for the cache. */
    if (n > WC_MAX_WORD || ++e->n_words <= WC_MIN_WORDS) return encode_word_uncached(e, w, n);
    uint64_t h = vocab_hash((const char *)w, n);
    const struct wc_ent *c = wc_find(&e->cache, w, n, h);
    if (c) return c->ids_len ? emit_ids(e, e->cache.ids.v + c->ids_off, c->ids_len) : 0;
    size_t before = e->out->n;
    int r = encode_word_uncached(e, w, n);
    if (!r) wc_insert(&e->cache, w, n, h, e->out->v + before, e->out->n - before);
    return r;
}

static int encode_pretok(struct enc *e, const char *s, size_t n, bool first_section) {
    if (n == 0) return 0;
    int r = pretokenize_run(&e->t->pretok, s, n, first_section, &e->pw, e->err);
    if (r) return r;
    const uint8_t *base = (const uint8_t *)e->pw.base;
    for (size_t i = 0; i < e->pw.n_pieces; i++)
        if ((r = encode_word(e, base + e->pw.pieces[i].off, e->pw.pieces[i].len))) return r;
    return 0;
}

struct added_match {
    size_t start, end;
    int32_t idx;
};

static bool is_word_char(const uint8_t *s, size_t n) {
    size_t l;
    return s[0] == '_' || (unicode_class_at(s, n, &l) & (UNICODE_LETTER | UNICODE_NUMBER));
}

/* The next accepted added-token match in s[from..n) (leftmost-longest). */
static bool next_added(const struct tokenizer *t, const struct tokenizer_trie *tr, const uint8_t *s, size_t n,
                       size_t from, struct added_match *m) {
    if (tr->n_nodes <= 1) return false;
    for (size_t i = from; i < n; i++) {
        if (!(tr->first[s[i] >> 3] & (1u << (s[i] & 7)))) continue;
        int32_t node = 0, best = -1;
        size_t best_end = 0;
        for (size_t j = i; j < n; j++) {
            node = trie_child(tr, node, s[j]);
            if (node < 0) break;
            if (tr->term[node] >= 0) {
                best = tr->term[node];
                best_end = j + 1;
            }
        }
        if (best < 0) continue;
        const struct tokenizer_added *a = &t->added[best];
        size_t start = i, end = best_end;
        if (a->single_word) {
            bool before = false;
            if (start > 0) {
                size_t p = start - 1;
                while (p > 0 && (s[p] & 0xC0) == 0x80) p--;
                before = is_word_char(s + p, n - p);
            }
            bool after = end < n && is_word_char(s + end, n - end);
            if (before || after) {
                i = end - 1; /* a rejected match is skipped whole */
                continue;
            }
        }
        size_t l;
        if (a->lstrip) {
            while (start > from) {
                size_t p = start - 1;
                while (p > from && (s[p] & 0xC0) == 0x80) p--;
                if (!(unicode_class_at(s + p, n - p, &l) & UNICODE_SPACE)) break;
                start = p;
            }
        }
        if (a->rstrip)
            while (end < n && (unicode_class_at(s + end, n - end, &l) & UNICODE_SPACE)) end += l;
        m->start = start;
        m->end = end;
        m->idx = best;
        return true;
    }
    return false;
}

/* A section of text between added tokens: normalize, normalized added tokens, pre-tokenize, BPE. */
static int encode_section(struct enc *e, const char *s, size_t n, bool first_section) {
    const struct tokenizer *t = e->t;
    char *norm = NULL;
    size_t nl;
    if (tokenizer_normalize(t, s, n, &norm, &nl)) return enc_nomem(e);
    const char *ns = norm ? norm : s;
    int r = 0;
    size_t pos = 0;
    struct added_match m;
    while (next_added(t, &t->trie_norm, (const uint8_t *)ns, nl, pos, &m)) {
        if (m.start > pos && (r = encode_pretok(e, ns + pos, m.start - pos, first_section && pos == 0))) goto done;
        if (bpe_ids_push(e->out, t->added[m.idx].id)) {
            r = enc_nomem(e);
            goto done;
        }
        pos = m.end;
    }
    if (pos < nl) r = encode_pretok(e, ns + pos, nl - pos, first_section && pos == 0);
done:
    free(norm);
    return r;
}

/* SentencePiece (GGUF llama) text section: escape spaces, maybe prefix U+2581, score merges. */
static int encode_spm_section(struct enc *e, const char *s, size_t n, bool prefix) {
    size_t cap = 3 * n + 4;
    if (cap > e->map_cap) {
        char *m = realloc(e->map, cap);
        if (!m) return enc_nomem(e);
        e->map = m;
        e->map_cap = cap;
    }
    size_t o = 0;
    if (prefix) {
        memcpy(e->map, "\xE2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(e->map + o, "\xE2\x96\x81", 3);
            o += 3;
        } else
            e->map[o++] = s[i];
    }
    const struct tokenizer *t = e->t;
    if (bpe_spm_encode(&t->vocab, t->scores, t->byte_ids, t->unk_id, e->map, o, e->out, &e->scr)) return enc_nomem(e);
    return 0;
}

int tokenizer_encode(const struct tokenizer *tok, const char *text, size_t len, bool add_special_tokens, int32_t **ids,
                     size_t *n_ids, struct sgl_err *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!text && len) return err_setf(err, ERR_INVALID, "tokenize: NULL text");
    char *clean = NULL;
    const char *s = text ? text : "";
    if (!unicode_utf8_valid(s, len)) {
        if (unicode_utf8_sanitize(s, len, &clean, &len)) return err_setf(err, ERR_NOMEM, "tokenize: out of memory");
        s = clean;
    }
    struct bpe_ids out = {0};
    struct enc e = {.t = tok, .out = &out, .err = err};
    int r = 0;
    if (bpe_ids_reserve(&out, len / 3 + tok->n_pre + tok->n_post + 8)) {
        r = enc_nomem(&e);
        goto done;
    }
    if (add_special_tokens && tok->n_pre) {
        memcpy(out.v, tok->pre_ids, tok->n_pre * sizeof *out.v);
        out.n = tok->n_pre;
    }
    size_t pos = 0;
    bool prev_special = true; /* SPM: a space prefix on the first section and after added tokens */
    struct added_match m;
    for (;;) {
        bool found = next_added(tok, &tok->trie_raw, (const uint8_t *)s, len, pos, &m);
        size_t stop = found ? m.start : len;
        if (stop > pos) {
            if (tok->model == TOKENIZER_MODEL_SPM)
                r = encode_spm_section(&e, s + pos, stop - pos, tok->spm_add_space_prefix && prev_special);
            else
                r = encode_section(&e, s + pos, stop - pos, pos == 0);
            if (r) goto done;
            prev_special = false;
        }
        if (!found) break;
        if (bpe_ids_push(&out, tok->added[m.idx].id)) {
            r = enc_nomem(&e);
            goto done;
        }
        prev_special = true;
        pos = m.end;
    }
    if (add_special_tokens && tok->n_post) {
        if (bpe_ids_reserve(&out, tok->n_post)) {
            r = enc_nomem(&e);
            goto done;
        }
        memcpy(out.v + out.n, tok->post_ids, tok->n_post * sizeof *out.v);
        out.n += tok->n_post;
    }
done:
    pretokenize_work_free(&e.pw);
    bpe_scratch_free(&e.scr);
    wc_free(&e.cache);
    free(e.sym.v);
    free(e.map);
    free(clean);
    if (r) {
        free(out.v);
        return r;
    }
    *ids = out.v;
    *n_ids = out.n;
    return 0;
}

/* ---- accessors ---- */

int32_t tokenizer_vocab_size(const struct tokenizer *tok) { return tok->n_ids; }
int32_t tokenizer_bos_id(const struct tokenizer *tok) { return tok->bos_id; }
int32_t tokenizer_eos_id(const struct tokenizer *tok) { return tok->eos_id; }
int32_t tokenizer_pad_id(const struct tokenizer *tok) { return tok->pad_id; }
bool tokenizer_add_bos(const struct tokenizer *tok) {
    return tok->n_pre > 0 && tok->bos_id >= 0 && tok->pre_ids[0] == tok->bos_id;
}
bool tokenizer_is_special(const struct tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_ids && (tok->attr[id] & TOKENIZER_ATTR_SPECIAL);
}

int32_t tokenizer_token_to_id(const struct tokenizer *tok, const char *token) {
    size_t n = strlen(token);
    for (size_t i = tok->n_added; i-- > 0;)
        if (tok->added[i].len == n && memcmp(tok->added[i].content, token, n) == 0) return tok->added[i].id;
    return vocab_find(&tok->vocab, token, n);
}

const char *tokenizer_id_to_token(const struct tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->n_ids) return NULL;
    if (tok->added_idx[id] >= 0) return tok->added[tok->added_idx[id]].content;
    return vocab_str(&tok->vocab, id, NULL);
}

const char *tokenizer_chat_template(const struct tokenizer *tok) { return tok->chat_template; }
const char *tokenizer_bos_token(const struct tokenizer *tok) { return tok->bos_token; }
const char *tokenizer_eos_token(const struct tokenizer *tok) { return tok->eos_token; }
int64_t tokenizer_model_max_length(const struct tokenizer *tok) { return tok->model_max_length; }
