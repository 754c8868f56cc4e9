/* detokenize: ids -> text, one-shot (tokenizer_decode) and streaming
 * (detok_stream_*), plus the parsing of HF "decoder" chains into the form
 * both use.
 *
 * Every supported decoder chain reduces to one byte stream:
 *   for each id (special ids dropped when skip_special_tokens):
 *     bytes = piece[id]   (precomputed: GPT-2 byte map for ByteLevel, the
 *                          token with its per-token Replace/Metaspace rewrites
 *                          otherwise, the single byte of a <0xXX> token)
 *   bytes --lossy UTF-8 (WHATWG)--> text
 *   text --whole-text Strip (leading/trailing content chars)--> text
 *   text --clean_up_tokenization_spaces--> output
 * Feeding valid UTF-8 through the lossy decoder is the identity, and a
 * broken sequence followed by a token's first character yields U+FFFD either
 * way, so "flush the byte group at each non-byte token" (ByteFallback, added
 * tokens under ByteLevel) needs no special case.
 *
 * Streaming keeps O(1) state per stage, so the concatenation of all outputs
 * plus the flush equals the one-shot decode:
 *   - UTF-8: at most 3 bytes of an incomplete character are held;
 *   - Strip(start): drops leading content chars until another char appears;
 *     Strip(stop): holds at most `stop` trailing content chars;
 *   - clean-up: the ten replacements of HF's clean_up_tokenization (" ." ->
 *     "." ... " 're" -> "'re", applied in order, each left to right) only
 *     delete spaces and look a few bytes around them. The pending text is
 *     cleaned as a whole; output is released up to a cut p that no match of
 *     any pass straddles and that has CLEAN_HOLD bytes of text after it
 *     (matches span at most ~12 bytes, so later text cannot change anything
 *     before p); the rest stays pending.
 *
 * Thread-safety: a detok_stream belongs to one request (one thread); the
 * tokenizer it reads is immutable. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tokenizer/tokenizer_impl.h"

#define CLEAN_HOLD 32

/* ---- decoder configuration ---- */

static int dec_add_op(struct tokenizer_decoder *d, enum tokenizer_dec_op_kind kind, const char *from, const char *to,
                      bool first_drops, struct sgl_err *err) {
    struct tokenizer_dec_op *ops = realloc(d->ops, (d->n_ops + 1) * sizeof *ops);
    if (!ops) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    d->ops = ops;
    struct tokenizer_dec_op *op = &ops[d->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->first_drops = first_drops;
    op->from_len = strlen(from);
    op->to_len = strlen(to);
    op->from = malloc(op->from_len + 1);
    op->to = malloc(op->to_len + 1);
    if (!op->from || !op->to) return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    memcpy(op->from, from, op->from_len + 1);
    memcpy(op->to, to, op->to_len + 1);
    if (first_drops) d->first_special = true;
    return 0;
}

int tokenizer_parse_decoder(struct tokenizer *t, const cJSON *dec, struct sgl_err *err) {
    struct tokenizer_decoder *d = &t->dec;
    d->kind = TOKENIZER_DEC_NONE;
    if (!dec || cJSON_IsNull(dec)) return 0;
    const char *type = json_get_string(dec, "type");
    if (!type) return err_setf(err, ERR_FORMAT, "decoder: missing \"type\"");
    const cJSON *list = dec, *e;
    bool seq = strcmp(type, "Sequence") == 0;
    if (seq) {
        list = json_get(dec, "decoders");
        if (!cJSON_IsArray(list)) return err_setf(err, ERR_FORMAT, "decoder Sequence: missing \"decoders\"");
        if (cJSON_GetArraySize(list) == 0) return 0;
    }
    bool byte_level = false, others = false, fuse = false, strip = false;
    d->kind = TOKENIZER_DEC_PIECES;
    for (e = seq ? list->child : list; e; e = seq ? e->next : NULL) {
        const char *ty = json_get_string(e, "type");
        int r = 0;
        if (!ty) return err_setf(err, ERR_FORMAT, "decoder: missing \"type\"");
        if (strcmp(ty, "ByteLevel") == 0) {
            byte_level = true;
            continue;
        }
        others = true;
        if (strcmp(ty, "Replace") == 0 || strcmp(ty, "Metaspace") == 0) {
            if (d->byte_fallback || fuse)
                return err_setf(err, ERR_INVALID, "decoder: %s after ByteFallback/Fuse is not supported", ty);
            if (ty[0] == 'R') {
                const char *from = json_get_string(json_get(e, "pattern"), "String"),
                           *to = json_get_string(e, "content");
                if (!from || !to)
                    return err_setf(err, ERR_INVALID, "decoder Replace: only {\"String\": ...} patterns are supported");
                r = dec_add_op(d, TOKENIZER_DEC_OP_REPLACE, from, to, false, err);
            } else {
                const char *rep = json_get_string(e, "replacement"), *ps = json_get_string(e, "prepend_scheme");
                bool aps = true;
                json_get_bool(e, "add_prefix_space", &aps);
                bool drops = ps ? strcmp(ps, "never") != 0 : aps;
                r = dec_add_op(d, TOKENIZER_DEC_OP_METASPACE, rep ? rep : "\xE2\x96\x81", " ", drops, err);
            }
        } else if (strcmp(ty, "ByteFallback") == 0) {
            if (fuse) return err_setf(err, ERR_INVALID, "decoder: ByteFallback after Fuse is not supported");
            d->byte_fallback = true;
        } else if (strcmp(ty, "Fuse") == 0) {
            fuse = true;
        } else if (strcmp(ty, "Strip") == 0) {
            const char *content = json_get_string(e, "content");
            int64_t start = 0, stop = 0;
            json_get_int(e, "start", &start);
            json_get_int(e, "stop", &stop);
            if (!fuse || strip) return err_setf(err, ERR_INVALID, "decoder: Strip is only supported once, after Fuse");
            if (!content || strlen(content) == 0 || strlen(content) >= sizeof d->strip_char || start < 0 || stop < 0 ||
                start > 1 << 20 || stop > 1 << 20)
                return err_setf(err, ERR_FORMAT, "decoder Strip: bad content/start/stop");
            d->strip_char_len = strlen(content);
            memcpy(d->strip_char, content, d->strip_char_len);
            d->strip_start = (size_t)start;
            d->strip_stop = (size_t)stop;
            strip = true;
        } else {
            return err_setf(err, ERR_INVALID, "decoder type \"%s\" is not supported", ty);
        }
        if (r) return r;
    }
    if (byte_level && others)
        return err_setf(err, ERR_INVALID, "decoder: ByteLevel combined with others is not supported");
    if (byte_level) d->kind = TOKENIZER_DEC_BYTE_LEVEL;
    return 0;
}

/* ---- pieces ---- */

static bool parse_byte_token(const char *s, size_t n, uint8_t *b) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return false;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0) return false;
        v = v * 16 + d;
    }
    *b = (uint8_t)v;
    return true;
}

/* Applies the per-token ops to s[0..n) into out (room: n * max expansion); returns the length. */
static size_t apply_ops(const struct tokenizer_decoder *d, const char *s, size_t n, bool first, char *out, char *tmp) {
    const char *cur = s;
    size_t cl = n;
    char *bufs[2] = {out, tmp};
    if (d->n_ops == 0) {
        memcpy(out, s, n);
        return n;
    }
    for (size_t i = 0; i < d->n_ops; i++) {
        const struct tokenizer_dec_op *op = &d->ops[i];
        /* Alternate buffers so that the last op writes into `out`. */
        char *o = bufs[(d->n_ops - 1 - i) % 2];
        size_t ol = 0;
        const char *to = op->to;
        size_t to_len = op->to_len;
        if (op->first_drops && first) to_len = 0;
        for (size_t j = 0; j < cl;) {
            if (op->from_len && j + op->from_len <= cl && memcmp(cur + j, op->from, op->from_len) == 0) {
                memcpy(o + ol, to, to_len);
                ol += to_len;
                j += op->from_len;
            } else
                o[ol++] = cur[j++];
        }
        cur = o;
        cl = ol;
    }
    return cl;
}

static size_t ops_growth(const struct tokenizer_decoder *d) {
    size_t g = 1;
    for (size_t i = 0; i < d->n_ops; i++)
        if (d->ops[i].from_len && d->ops[i].to_len > d->ops[i].from_len)
            g *= (d->ops[i].to_len + d->ops[i].from_len - 1) / d->ops[i].from_len;
    return g;
}

int tokenizer_build_pieces(struct tokenizer *t, struct sgl_err *err) {
    size_t n = (size_t)t->n_ids;
    t->piece_off = malloc((n + 1) * sizeof *t->piece_off);
    t->piece_len = calloc(n + 1, sizeof *t->piece_len);
    t->piece_byte = calloc(n + 1, 1);
    size_t cap = t->vocab.arena_len + 1024, len = 0;
    for (size_t i = 0; i < t->n_added; i++) cap += t->added[i].len;
    size_t growth = ops_growth(&t->dec);
    if (growth > 8) return err_setf(err, ERR_INVALID, "decoder: Replace expands text too much");
    cap *= growth;
    t->piece_arena = malloc(cap);
    char *tmp = malloc(cap);
    if (!t->piece_off || !t->piece_len || !t->piece_byte || !t->piece_arena || !tmp) {
        free(tmp);
        return err_setf(err, ERR_NOMEM, "tokenizer: out of memory");
    }
    int16_t rev[512];
    for (int i = 0; i < 512; i++) rev[i] = -1;
    if (t->dec.kind == TOKENIZER_DEC_BYTE_LEVEL) {
        for (int b = 0; b < 256; b++) {
            size_t l;
            rev[unicode_decode((const uint8_t *)t->byte_char[b], t->byte_char_len[b], &l)] = (int16_t)b;
        }
    }
    for (size_t id = 0; id < n; id++) {
        t->piece_off[id] = (uint32_t)len;
        const char *s = tokenizer_id_to_token(t, (int32_t)id);
        size_t sl = s ? strlen(s) : 0;
        bool added = t->added_idx[id] >= 0;
        if (s && !added) vocab_str(&t->vocab, (int32_t)id, &sl);
        if (!s) continue;
        uint8_t byte;
        switch (t->dec.kind) {
        case TOKENIZER_DEC_NONE:
            memcpy(t->piece_arena + len, s, sl);
            len += sl;
            break;
        case TOKENIZER_DEC_BYTE_LEVEL: {
            if (added) {
                memcpy(t->piece_arena + len, s, sl);
                len += sl;
                break;
            }
            /* Characters outside the byte map make the whole token count as raw UTF-8. */
            size_t o = len;
            bool ok = true;
            for (size_t i = 0; i < sl && ok;) {
                size_t l;
                int32_t cp = unicode_decode((const uint8_t *)s + i, sl - i, &l);
                if (cp < 0 || cp >= 512 || rev[cp] < 0)
                    ok = false;
                else
                    t->piece_arena[o++] = (char)rev[cp];
                i += l;
            }
            if (ok)
                len = o;
            else {
                memcpy(t->piece_arena + len, s, sl);
                len += sl;
            }
            break;
        }
        case TOKENIZER_DEC_PIECES:
            if (t->dec.byte_fallback && parse_byte_token(s, sl, &byte)) {
                t->piece_byte[id] = byte;
                t->attr[id] |= TOKENIZER_ATTR_BYTE;
                break;
            }
            len += apply_ops(&t->dec, s, sl, false, t->piece_arena + len, tmp);
            break;
        }
        t->piece_len[id] = (uint32_t)(len - t->piece_off[id]);
    }
    free(tmp);
    return 0;
}

/* ---- streaming ---- */

struct detok_stream {
    const struct tokenizer *tok;
    bool skip_special;
    bool batch; /* one-shot decode: clean up everything at the end */
    struct unicode_utf8_stream u8;
    size_t n_tok;      /* tokens decoded so far (after skipping) */
    size_t strip_left; /* leading Strip chars still to drop */
    bool lead_done;
    size_t held_stop; /* trailing Strip chars held back */
    char *pend;       /* clean-up: text not yet final */
    size_t pend_len, pend_cap;
    char *out; /* output of the current call */
    size_t out_len, out_cap;
    char *tmp;
    size_t tmp_cap;
    uint32_t *pos[2]; /* clean-up position lists */
    uint8_t *nocut;
    size_t pos_cap;
};

static int grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *b = realloc(*buf, c);
    if (!b) return -1;
    *buf = b;
    *cap = c;
    return 0;
}

static int out_put(struct detok_stream *s, const char *p, size_t n) {
    if (grow(&s->out, &s->out_cap, s->out_len + n + 1)) return -1;
    memcpy(s->out + s->out_len, p, n);
    s->out_len += n;
    return 0;
}

/* HF clean_up_tokenization: (pattern, bytes to keep as a bit mask). */
static const struct {
    const char *pat;
    uint8_t len, keep;
} CLEAN[10] = {
    {" .", 2, 2},    {" ?", 2, 2},  {" !", 2, 2},  {" ,", 2, 2},    {" ' ", 3, 2},
    {" n't", 4, 14}, {" 'm", 3, 6}, {" 's", 3, 6}, {" 've", 4, 14}, {" 're", 4, 14},
};

static int clean_reserve(struct detok_stream *st, size_t n) {
    if (n + 1 <= st->pos_cap) return 0;
    size_t c = 2 * n + 64;
    uint32_t *a = realloc(st->pos[0], c * sizeof *a);
    if (!a) return -1;
    st->pos[0] = a;
    uint32_t *b = realloc(st->pos[1], c * sizeof *b);
    if (!b) return -1;
    st->pos[1] = b;
    uint8_t *nc = realloc(st->nocut, c);
    if (!nc) return -1;
    st->nocut = nc;
    st->pos_cap = c;
    return 0;
}

/* Runs the clean-up passes over s[0..n). Returns 0 (-1: no memory); the
 * positions of the surviving bytes end in *res (ascending), and nocut[p] is
 * set for every p in (match start, match end - 1] of every pass. */
static int clean_run(struct detok_stream *st, const char *s, size_t n, uint8_t *nocut, const uint32_t **res,
                     size_t *n_res) {
    if (clean_reserve(st, n)) return -1;
    uint32_t *cur = st->pos[0], *nxt = st->pos[1];
    for (size_t i = 0; i < n; i++) cur[i] = (uint32_t)i;
    size_t cnt = n;
    for (int k = 0; k < 10; k++) {
        const char *pat = CLEAN[k].pat;
        size_t pl = CLEAN[k].len, o = 0;
        for (size_t i = 0; i < cnt;) {
            bool m = s[cur[i]] == ' ' && i + pl <= cnt;
            for (size_t j = 1; m && j < pl; j++) m = s[cur[i + j]] == pat[j];
            if (!m) {
                nxt[o++] = cur[i++];
                continue;
            }
            for (uint32_t p = cur[i] + 1; p <= cur[i + pl - 1]; p++) nocut[p] = 1;
            for (size_t j = 0; j < pl; j++)
                if (CLEAN[k].keep & (1u << j)) nxt[o++] = cur[i + j];
            i += pl;
        }
        uint32_t *sw = cur;
        cur = nxt;
        nxt = sw;
        cnt = o;
    }
    *res = cur;
    *n_res = cnt;
    return 0;
}

/* The clean-up passes in place (no cut positions needed); returns the new length. */
static size_t clean_inplace(char *s, size_t n) {
    for (int k = 0; k < 10; k++) {
        const char *pat = CLEAN[k].pat;
        size_t pl = CLEAN[k].len, o = 0;
        if (!memmem(s, n, pat, pl)) continue;
        for (size_t i = 0; i < n;) {
            if (s[i] == ' ' && i + pl <= n && memcmp(s + i, pat, pl) == 0) {
                for (size_t j = 0; j < pl; j++)
                    if (CLEAN[k].keep & (1u << j)) s[o++] = s[i + j];
                i += pl;
            } else
                s[o++] = s[i++];
        }
        n = o;
    }
    return n;
}

/* Stage C: clean-up (or straight to the output). */
static int stage_clean(struct detok_stream *s, const char *p, size_t n, bool final) {
    const struct tokenizer *t = s->tok;
    if (!t->dec.clean_up) return out_put(s, p, n);
    if (grow(&s->pend, &s->pend_cap, s->pend_len + n + 1)) return -1;
    memcpy(s->pend + s->pend_len, p, n);
    s->pend_len += n;
    if (!final && (s->batch || s->pend_len <= CLEAN_HOLD)) return 0;
    if (final) {
        size_t m = clean_inplace(s->pend, s->pend_len);
        s->pend_len = 0;
        return out_put(s, s->pend, m);
    }
    const uint32_t *res;
    size_t nres;
    if (clean_reserve(s, s->pend_len)) return -1;
    uint8_t *nocut = s->nocut;
    memset(nocut, 0, s->pend_len + 1);
    if (clean_run(s, s->pend, s->pend_len, nocut, &res, &nres)) return -1;
    size_t cut = 0;
    for (size_t q = s->pend_len - CLEAN_HOLD; q > 0; q--)
        if (!nocut[q] && ((uint8_t)s->pend[q] & 0xC0) != 0x80) {
            cut = q;
            break;
        }
    if (cut == 0) return 0;
    if (grow(&s->out, &s->out_cap, s->out_len + cut + 1)) return -1;
    for (size_t i = 0; i < nres && res[i] < cut; i++) s->out[s->out_len++] = s->pend[res[i]];
    memmove(s->pend, s->pend + cut, s->pend_len - cut);
    s->pend_len -= cut;
    return 0;
}

/* Stages A and B: whole-text Strip of leading / trailing content chars. */
static int stage_text(struct detok_stream *s, const char *p, size_t n) {
    const struct tokenizer_decoder *d = &s->tok->dec;
    size_t cl = d->strip_char_len;
    if (cl && !s->lead_done) {
        while (s->strip_left > 0 && n >= cl && memcmp(p, d->strip_char, cl) == 0) {
            p += cl;
            n -= cl;
            s->strip_left--;
        }
        if (n > 0 || s->strip_left == 0) s->lead_done = true;
    }
    if (n == 0) return 0;
    if (!cl || d->strip_stop == 0) return stage_clean(s, p, n, false);
    /* Trailing content chars of p (and whether p is nothing but them). */
    size_t tail = 0, e = n;
    while (e >= cl && memcmp(p + e - cl, d->strip_char, cl) == 0) {
        e -= cl;
        tail++;
    }
    size_t total = tail + (e == 0 ? s->held_stop : 0);
    size_t keep = total < d->strip_stop ? total : d->strip_stop;
    if (e > 0) {
        for (; s->held_stop > 0; s->held_stop--)
            if (stage_clean(s, d->strip_char, cl, false)) return -1;
        if (stage_clean(s, p, e, false)) return -1;
    } else {
        /* Only content chars: release those beyond the hold. */
        for (size_t k = keep; k < total; k++)
            if (stage_clean(s, d->strip_char, cl, false)) return -1;
        s->held_stop = keep;
        return 0;
    }
    for (size_t k = keep; k < tail; k++)
        if (stage_clean(s, d->strip_char, cl, false)) return -1;
    s->held_stop = keep;
    return 0;
}

static int feed_bytes(struct detok_stream *s, const char *p, size_t n) {
    if (grow(&s->tmp, &s->tmp_cap, 3 * n + 8)) return -1;
    size_t k = unicode_utf8_stream_feed(&s->u8, (const uint8_t *)p, n, s->tmp);
    return k ? stage_text(s, s->tmp, k) : 0;
}

static int feed_id(struct detok_stream *s, int32_t id, struct sgl_err *err) {
    const struct tokenizer *t = s->tok;
    if (id < 0 || id >= t->n_ids) return err_setf(err, ERR_INVALID, "token id %d out of range [0, %d)", id, t->n_ids);
    if (s->skip_special && (t->attr[id] & TOKENIZER_ATTR_SPECIAL)) return 0;
    int r = 0;
    bool first = s->n_tok == 0;
    s->n_tok++;
    if (t->dec.kind == TOKENIZER_DEC_NONE && !first) r = feed_bytes(s, " ", 1);
    if (r) goto nomem;
    if (t->attr[id] & TOKENIZER_ATTR_BYTE) {
        r = feed_bytes(s, (const char *)&t->piece_byte[id], 1);
    } else if (first && t->dec.first_special) {
        const char *tokstr = tokenizer_id_to_token(t, id);
        size_t sl = tokstr ? strlen(tokstr) : 0;
        if (t->added_idx[id] < 0 && tokstr) vocab_str(&t->vocab, id, &sl);
        size_t need = (sl + 1) * ops_growth(&t->dec) + 8;
        char *a = malloc(need), *b = malloc(need);
        if (!a || !b)
            r = -1;
        else
            r = feed_bytes(s, a, apply_ops(&t->dec, tokstr ? tokstr : "", sl, true, a, b));
        free(a);
        free(b);
    } else {
        r = feed_bytes(s, t->piece_arena + t->piece_off[id], t->piece_len[id]);
    }
    if (!r) return 0;
nomem:
    return err_setf(err, ERR_NOMEM, "detokenize: out of memory");
}

static int finish(struct detok_stream *s) {
    char tail[4];
    size_t k = unicode_utf8_stream_finish(&s->u8, tail);
    if (k && stage_text(s, tail, k)) return -1;
    s->held_stop = 0; /* trailing Strip chars are stripped */
    if (s->tok->dec.clean_up) return stage_clean(s, "", 0, true);
    return 0;
}

static void stream_init(struct detok_stream *s, const struct tokenizer *tok, bool skip_special) {
    memset(s, 0, sizeof *s);
    s->tok = tok;
    s->skip_special = skip_special;
    unicode_utf8_stream_init(&s->u8);
    s->strip_left = tok->dec.strip_start;
}

static void stream_release(struct detok_stream *s) {
    free(s->pend);
    free(s->out);
    free(s->tmp);
    free(s->pos[0]);
    free(s->pos[1]);
    free(s->nocut);
}

struct detok_stream *detok_stream_create(const struct tokenizer *tok, bool skip_special_tokens) {
    if (!tok) return NULL;
    struct detok_stream *s = malloc(sizeof *s);
    if (s) stream_init(s, tok, skip_special_tokens);
    return s;
}

void detok_stream_continue(struct detok_stream *s) {
    s->strip_left = 0;
    s->lead_done = true;
}

bool tokenizer_has_text(const struct tokenizer *tok, const int32_t *ids, size_t n_ids) {
    size_t from = n_ids > 8 ? n_ids - 8 : 0; /* the tail is enough to see visible text */
    char *text = NULL;
    size_t len = 0;
    bool has = tokenizer_decode(tok, ids + from, n_ids - from, true, &text, &len, NULL) == 0 && len > 0;
    free(text);
    return has;
}

void detok_stream_destroy(struct detok_stream *s) {
    if (!s) return;
    stream_release(s);
    free(s);
}

/* Hands the current output to the caller as a fresh malloc'd string. */
static int take_out(struct detok_stream *s, char **text, size_t *len, struct sgl_err *err) {
    char *r = malloc(s->out_len + 1);
    if (!r) return err_setf(err, ERR_NOMEM, "detokenize: out of memory");
    if (s->out_len) memcpy(r, s->out, s->out_len);
    r[s->out_len] = 0;
    *text = r;
    if (len) *len = s->out_len;
    s->out_len = 0;
    return 0;
}

int detok_stream_push(struct detok_stream *s, int32_t id, char **text, size_t *len, struct sgl_err *err) {
    *text = NULL;
    if (len) *len = 0;
    s->out_len = 0;
    int r = feed_id(s, id, err);
    if (r) return r;
    return take_out(s, text, len, err);
}

int detok_stream_flush(struct detok_stream *s, char **text, size_t *len, struct sgl_err *err) {
    *text = NULL;
    if (len) *len = 0;
    s->out_len = 0;
    if (finish(s)) return err_setf(err, ERR_NOMEM, "detokenize: out of memory");
    return take_out(s, text, len, err);
}

int tokenizer_decode(const struct tokenizer *tok, const int32_t *ids, size_t n_ids, bool skip_special_tokens,
                     char **text, size_t *len, struct sgl_err *err) {
    *text = NULL;
    if (len) *len = 0;
    if (!ids && n_ids) return err_setf(err, ERR_INVALID, "detokenize: NULL ids");
    struct detok_stream s;
    stream_init(&s, tok, skip_special_tokens);
    s.batch = true;
    int r = 0;
    for (size_t i = 0; i < n_ids && !r; i++) r = feed_id(&s, ids[i], err);
    if (!r && finish(&s)) r = err_setf(err, ERR_NOMEM, "detokenize: out of memory");
    if (!r) r = take_out(&s, text, len, err);
    stream_release(&s);
    return r;
}
