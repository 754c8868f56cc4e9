/* pretokenize: pre-tokenizer steps and their scanners (see pretokenize.h).
 * This is the only file that includes PCRE2.
 *
 * A run keeps a list of pieces (offset, length) over a base string. Splitting
 * steps only re-cut the list; steps that rewrite text (ByteLevel's prefix
 * space, Metaspace) build a new base in one of two ping-pong buffers.
 *
 * Hand-written scanners. Each returns the end of the match that starts at
 * `i` (these patterns match at every position of valid text). They follow
 * the regex alternatives in order, with the backtracking resolved by hand:
 *
 *   Qwen2 / Llama 3 (N = 1 or 3):
 *     1 (?i:'s|'t|'re|'ve|'m|'ll|'d)      ASCII case-insensitive contraction
 *     2 [^\r\n\p{L}\p{N}]?\p{L}+          optional non-letter, letters
 *     3 \p{N}{1,N}
 *     4 " ?[^\s\p{L}\p{N}]+[\r\n]*"        symbols, then CR/LF
 *     5 \s*[\r\n]+                         whitespace through its last CR/LF
 *     6 \s+(?!\S)                          whitespace but the last char when a
 *                                          non-space follows (all at the end)
 *     7 \s+                                a single space before a non-space
 *   GPT-2 (ByteLevel use_regex):
 *     's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | 6 | 7
 *
 * Thread-safety: struct pretokenize is read-only after parse (PCRE2 code is
 * shareable); struct pretokenize_work is per thread. */
#define _GNU_SOURCE /* memmem */
#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"

enum step_kind { STEP_SPLIT, STEP_BYTE_LEVEL, STEP_METASPACE };
enum behavior { BEH_REMOVED, BEH_ISOLATED, BEH_MERGED_PREV, BEH_MERGED_NEXT, BEH_CONTIGUOUS };
enum prepend { PREPEND_NEVER, PREPEND_FIRST, PREPEND_ALWAYS };

struct pretokenize_step {
    enum step_kind kind;
    /* Split */
    enum pretokenize_scanner scan;
    pcre2_code *re;
    char *lit;
    size_t lit_len;
    enum behavior behavior;
    bool invert;
    /* ByteLevel */
    bool add_prefix_space, use_regex;
    /* Metaspace */
    char repl[8];
    size_t repl_len;
    enum prepend prepend;
    bool split;
};

#define CL_L    UNICODE_LETTER
#define CL_N    UNICODE_NUMBER
#define CL_S    UNICODE_SPACE
#define CL_CRLF UNICODE_CRLF

/* ---- scanners ---- */

static size_t run_end(const uint8_t *s, size_t n, size_t i, unsigned cls) {
    while (i < n) {
        if (s[i] < 0x80) {
            if (!(unicode_ascii_class[s[i]] & cls)) break;
            i++;
            continue;
        }
        size_t l;
        if (!(unicode_class_at(s + i, n - i, &l) & cls)) break;
        i += l;
    }
    return i;
}

/* End of a run of characters that are none of \s \p{L} \p{N}. */
static size_t other_end(const uint8_t *s, size_t n, size_t i) {
    while (i < n) {
        size_t l;
        if (unicode_class_at(s + i, n - i, &l) & (CL_S | CL_L | CL_N)) break;
        i += l;
    }
    return i;
}

/* Alternatives 5-7 (and GPT-2's two): s[i] is whitespace. */
static size_t space_match(const uint8_t *s, size_t n, size_t i, bool crlf_alt) {
    size_t j = i, crlf_end = 0, last = i, count = 0;
    while (j < n) {
        size_t l;
        unsigned c = unicode_class_at(s + j, n - j, &l);
        if (!(c & CL_S)) break;
        if (c & CL_CRLF) crlf_end = j + l;
        last = j;
        count++;
        j += l;
    }
    if (count == 0) { /* not whitespace: cannot happen on the known patterns; advance one char */
        size_t l;
        unicode_class_at(s + i, n - i, &l);
        return i + l;
    }
    if (crlf_alt && crlf_end) return crlf_end;
    if (j == n || count == 1) return j;
    return last;
}

static bool is_contraction(const uint8_t *s, size_t n, size_t i, bool fold, size_t *end) {
    if (s[i] != '\'' || i + 1 >= n) return false;
    uint8_t a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
    if (fold) {
        a |= 0x20; /* maps only 'A'-'Z' onto 'a'-'z' among the letters compared below */
        b |= 0x20;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        *end = i + 2;
        return true;
    }
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        *end = i + 3;
        return true;
    }
    return false;
}

static size_t scan_llama3(const uint8_t *s, size_t n, size_t i, int max_digits) {
    size_t end, l0;
    if (is_contraction(s, n, i, true, &end)) return end;
    unsigned c0 = unicode_class_at(s + i, n - i, &l0);
    if (c0 & CL_L) return run_end(s, n, i + l0, CL_L);
    if (!(c0 & (CL_CRLF | CL_N)) && i + l0 < n) {
        size_t l1;
        if (unicode_class_at(s + i + l0, n - i - l0, &l1) & CL_L) return run_end(s, n, i + l0 + l1, CL_L);
    }
    if (c0 & CL_N) {
        size_t j = i + l0;
        for (int k = 1; k < max_digits && j < n; k++) {
            size_t l;
            if (!(unicode_class_at(s + j, n - j, &l) & CL_N)) break;
            j += l;
        }
        return j;
    }
    size_t j = i, lj = l0;
    unsigned cj = c0;
    if (s[i] == ' ' && i + 1 < n) {
        j = i + 1;
        cj = unicode_class_at(s + j, n - j, &lj);
    }
    if (!(cj & (CL_S | CL_L | CL_N))) {
        j = other_end(s, n, j + lj);
        while (j < n && (s[j] == '\r' || s[j] == '\n')) j++;
        return j;
    }
    return space_match(s, n, i, true);
}

static size_t scan_gpt2(const uint8_t *s, size_t n, size_t i) {
    size_t end;
    if (is_contraction(s, n, i, false, &end)) return end;
    size_t j = (s[i] == ' ' && i + 1 < n) ? i + 1 : i, lj;
    unsigned cj = unicode_class_at(s + j, n - j, &lj);
    if (cj & CL_L) return run_end(s, n, j + lj, CL_L);
    if (cj & CL_N) return run_end(s, n, j + lj, CL_N);
    if (!(cj & CL_S)) return other_end(s, n, j + lj);
    return space_match(s, n, i, false);
}

/* ---- matching ---- */

static int ensure_pcre2(struct pretokenize_work *w, struct sgl_err *err) {
    if (w->match_data) return 0;
    w->match_data = pcre2_match_data_create(1, NULL);
    w->match_ctx = pcre2_match_context_create(NULL);
    w->jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!w->match_data || !w->match_ctx || !w->jit_stack)
        return err_setf(err, ERR_NOMEM, "pre-tokenizer: out of memory");
    pcre2_jit_stack_assign(w->match_ctx, NULL, w->jit_stack);
    return 0;
}

/* Finds the next non-empty match in s[from..n): 1 found, 0 none, < 0 error. */
static int next_match(const struct pretokenize_step *st, const uint8_t *s, size_t n, size_t from, size_t *ms,
                      size_t *me, struct pretokenize_work *w, struct sgl_err *err) {
    if (from >= n) return 0;
    switch (st->scan) {
    case PRETOKENIZE_SCAN_QWEN2:
        *ms = from;
        *me = scan_llama3(s, n, from, 1);
        return 1;
    case PRETOKENIZE_SCAN_LLAMA3:
        *ms = from;
        *me = scan_llama3(s, n, from, 3);
        return 1;
    case PRETOKENIZE_SCAN_GPT2:
        *ms = from;
        *me = scan_gpt2(s, n, from);
        return 1;
    case PRETOKENIZE_SCAN_DIGIT:
        for (size_t i = from; i < n; i++)
            if (s[i] >= '0' && s[i] <= '9') {
                *ms = i;
                *me = i + 1;
                return 1;
            }
        return 0;
    case PRETOKENIZE_SCAN_SPACE:
        for (size_t i = from; i < n;) {
            size_t l;
            if (unicode_class_at(s + i, n - i, &l) & CL_S) {
                *ms = i;
                *me = run_end(s, n, i, CL_S);
                return 1;
            }
            i += l;
        }
        return 0;
    case PRETOKENIZE_SCAN_NONE:
        break;
    }
    if (st->lit) {
        if (st->lit_len == 0 || st->lit_len > n - from) return 0;
        const uint8_t *p = memmem(s + from, n - from, st->lit, st->lit_len);
        if (!p) return 0;
        *ms = (size_t)(p - s);
        *me = *ms + st->lit_len;
        return 1;
    }
    int rc = ensure_pcre2(w, err);
    if (rc) return rc;
    for (;;) {
        int r = pcre2_match(st->re, s, n, from, PCRE2_NO_UTF_CHECK, w->match_data, w->match_ctx);
        if (r == PCRE2_ERROR_NOMATCH) return 0;
        if (r < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(r, msg, sizeof msg);
            return err_setf(err, ERR_FAIL, "pre-tokenizer regex match failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->match_data);
        if (ov[1] > ov[0]) {
            *ms = ov[0];
            *me = ov[1];
            return 1;
        }
        /* Empty match: HF drops empty splits; search again one character later. */
        if (ov[0] >= n) return 0;
        size_t l;
        unicode_decode(s + ov[0], n - ov[0], &l);
        from = ov[0] + l;
    }
}

/* ---- piece lists ---- */

static int pc_push(struct pretokenize_work *w, int k, size_t *cnt, size_t off, size_t len) {
    if (len == 0) return 0;
    if (*cnt == w->pc_cap[k]) {
        size_t cap = w->pc_cap[k] ? 2 * w->pc_cap[k] : 256;
        struct pretokenize_piece *p = realloc(w->pc[k], cap * sizeof *p);
        if (!p) return -1;
        w->pc[k] = p;
        w->pc_cap[k] = cap;
    }
    w->pc[k][(*cnt)++] = (struct pretokenize_piece){(uint32_t)off, (uint32_t)len};
    return 0;
}

static int buf_reserve(struct pretokenize_work *w, int k, size_t need) {
    if (need <= w->buf_cap[k]) return 0;
    size_t cap = w->buf_cap[k] ? w->buf_cap[k] : 4096;
    while (cap < need) cap *= 2;
    char *b = realloc(w->buf[k], cap);
    if (!b) return -1;
    w->buf[k] = b;
    w->buf_cap[k] = cap;
    return 0;
}

/* Splits piece [off, off + len) of base into list k, per the step's behavior. */
static int split_piece(const struct pretokenize_step *st, const char *base, size_t off, size_t len,
                       struct pretokenize_work *w, int k, size_t *cnt, struct sgl_err *err) {
    const uint8_t *s = (const uint8_t *)base + off;
    size_t pos = 0, ms, me;
    int r;
    if (st->scan != PRETOKENIZE_SCAN_NONE && st->behavior == BEH_ISOLATED && !st->invert) {
        while ((r = next_match(st, s, len, pos, &ms, &me, w, err)) == 1) {
            if (ms > pos && pc_push(w, k, cnt, off + pos, ms - pos)) goto nomem;
            if (pc_push(w, k, cnt, off + ms, me - ms)) goto nomem;
            pos = me;
        }
        if (r < 0) return r;
        if (pos < len && pc_push(w, k, cnt, off + pos, len - pos)) goto nomem;
        return 0;
    }
    /* General path: segments alternate gap / match; `flag` is "is a delimiter". */
    bool have_prev = false, prev_flag = false, pending = false, have_m = false;
    size_t pend_start = 0, pend_end = 0;
    for (;;) {
        size_t seg_s, seg_e;
        bool flag;
        if (!have_m) {
            r = next_match(st, s, len, pos, &ms, &me, w, err);
            if (r < 0) return r;
            have_m = r == 1;
        }
        if (have_m && ms > pos) { /* the gap before the match; the match stays pending */
            seg_s = pos, seg_e = ms, flag = false;
            pos = ms;
        } else if (have_m) {
            seg_s = ms, seg_e = me, flag = true;
            pos = me;
            have_m = false;
        } else if (pos < len) {
            seg_s = pos, seg_e = len, flag = false;
            pos = len;
        } else
            break;
        if (st->invert) flag = !flag;
        switch (st->behavior) {
        case BEH_REMOVED:
            if (!flag && pc_push(w, k, cnt, off + seg_s, seg_e - seg_s)) goto nomem;
            break;
        case BEH_ISOLATED:
            if (pc_push(w, k, cnt, off + seg_s, seg_e - seg_s)) goto nomem;
            break;
        case BEH_MERGED_PREV:
            if (flag && have_prev && !prev_flag && *cnt > 0)
                w->pc[k][*cnt - 1].len += (uint32_t)(seg_e - seg_s);
            else if (pc_push(w, k, cnt, off + seg_s, seg_e - seg_s))
                goto nomem;
            break;
        case BEH_CONTIGUOUS:
            if (have_prev && flag == prev_flag && *cnt > 0)
                w->pc[k][*cnt - 1].len += (uint32_t)(seg_e - seg_s);
            else if (pc_push(w, k, cnt, off + seg_s, seg_e - seg_s))
                goto nomem;
            break;
        case BEH_MERGED_NEXT:
            if (pending) {
                if (!flag) {
                    if (pc_push(w, k, cnt, off + pend_start, seg_e - pend_start)) goto nomem;
                    pending = false;
                    break;
                }
                if (pc_push(w, k, cnt, off + pend_start, pend_end - pend_start)) goto nomem;
                pending = false;
            }
            if (flag) {
                pending = true;
                pend_start = seg_s;
                pend_end = seg_e;
            } else if (pc_push(w, k, cnt, off + seg_s, seg_e - seg_s))
                goto nomem;
            break;
        }
        have_prev = true;
        prev_flag = flag;
    }
    if (pending && pc_push(w, k, cnt, off + pend_start, pend_end - pend_start)) goto nomem;
    return 0;
nomem:
    return err_setf(err, ERR_NOMEM, "pre-tokenizer: out of memory");
}

int pretokenize_run(const struct pretokenize *p, const char *text, size_t n, bool first_section,
                    struct pretokenize_work *w, struct sgl_err *err) {
    if (n >= UINT32_MAX / 4) return err_setf(err, ERR_INVALID, "text too long to tokenize (%zu bytes)", n);
    int cur = 0, base_buf = -1;
    size_t cnt = 0;
    const char *base = text;
    if (pc_push(w, cur, &cnt, 0, n)) return err_setf(err, ERR_NOMEM, "pre-tokenizer: out of memory");
    for (size_t si = 0; si < p->n_steps; si++) {
        const struct pretokenize_step *st = &p->steps[si];
        int nxt = 1 - cur;
        size_t ncnt = 0;
        const struct pretokenize_piece *in = w->pc[cur];
        int r;
        if (st->kind == STEP_SPLIT || (st->kind == STEP_BYTE_LEVEL && !st->add_prefix_space)) {
            struct pretokenize_step gpt2 = {
                .kind = STEP_SPLIT, .scan = PRETOKENIZE_SCAN_GPT2, .behavior = BEH_ISOLATED};
            if (st->kind == STEP_BYTE_LEVEL && !st->use_regex) continue; /* nothing to do on the bytes */
            const struct pretokenize_step *sp = st->kind == STEP_SPLIT ? st : &gpt2;
            for (size_t i = 0; i < cnt; i++)
                if ((r = split_piece(sp, base, in[i].off, in[i].len, w, nxt, &ncnt, err))) return r;
        } else {
            /* Rewriting steps: build a new base in the buffer not holding the current one. */
            int b = base_buf == 0 ? 1 : 0;
            size_t bytes = 0;
            for (size_t i = 0; i < cnt; i++) bytes += in[i].len;
            size_t per = st->kind == STEP_METASPACE ? st->repl_len : 1;
            if (buf_reserve(w, b, bytes * per + cnt * (st->repl_len + 1) + 1)) goto nomem;
            char *o = w->buf[b];
            size_t ol = 0;
            for (size_t i = 0; i < cnt; i++) {
                const char *src = base + in[i].off;
                size_t len = in[i].len, start = ol;
                if (st->kind == STEP_BYTE_LEVEL) {
                    if (st->add_prefix_space && src[0] != ' ') o[ol++] = ' ';
                    memcpy(o + ol, src, len);
                    ol += len;
                } else {
                    bool pre = st->prepend == PREPEND_ALWAYS ||
                               (st->prepend == PREPEND_FIRST && first_section && i == 0 && in[i].off == 0);
                    bool starts = (len >= st->repl_len && memcmp(src, st->repl, st->repl_len) == 0) || (src[0] == ' ');
                    if (pre && !starts) {
                        memcpy(o + ol, st->repl, st->repl_len);
                        ol += st->repl_len;
                    }
                    for (size_t j = 0; j < len; j++) {
                        if (src[j] == ' ') {
                            memcpy(o + ol, st->repl, st->repl_len);
                            ol += st->repl_len;
                        } else
                            o[ol++] = src[j];
                    }
                }
                if (pc_push(w, nxt, &ncnt, start, ol - start)) goto nomem;
            }
            base = o;
            base_buf = b;
            bool resplit = st->kind == STEP_BYTE_LEVEL ? st->use_regex : st->split;
            if (resplit) {
                struct pretokenize_step sp = {0};
                sp.kind = STEP_SPLIT;
                if (st->kind == STEP_BYTE_LEVEL) {
                    sp.scan = PRETOKENIZE_SCAN_GPT2;
                    sp.behavior = BEH_ISOLATED;
                } else {
                    sp.lit = (char *)st->repl;
                    sp.lit_len = st->repl_len;
                    sp.behavior = BEH_MERGED_NEXT;
                }
                cur = nxt;
                nxt = 1 - cur;
                cnt = ncnt;
                ncnt = 0;
                in = w->pc[cur];
                for (size_t i = 0; i < cnt; i++)
                    if ((r = split_piece(&sp, base, in[i].off, in[i].len, w, nxt, &ncnt, err))) return r;
            }
        }
        cur = nxt;
        cnt = ncnt;
    }
    w->base = base;
    w->pieces = w->pc[cur];
    w->n_pieces = cnt;
    return 0;
nomem:
    return err_setf(err, ERR_NOMEM, "pre-tokenizer: out of memory");
}

void pretokenize_work_free(struct pretokenize_work *w) {
    if (!w) return;
    for (int k = 0; k < 2; k++) {
        free(w->buf[k]);
        free(w->pc[k]);
    }
    pcre2_match_data_free(w->match_data);
    pcre2_match_context_free(w->match_ctx);
    pcre2_jit_stack_free(w->jit_stack);
    memset(w, 0, sizeof *w);
}

/* ---- configuration ---- */

static int add_step(struct pretokenize *p, struct pretokenize_step **out, struct sgl_err *err) {
    struct pretokenize_step *s = realloc(p->steps, (p->n_steps + 1) * sizeof *s);
    if (!s) return err_setf(err, ERR_NOMEM, "pre-tokenizer: out of memory");
    p->steps = s;
    *out = &s[p->n_steps++];
    memset(*out, 0, sizeof **out);
    return 0;
}

/* The White_Space property as PCRE2 class ranges (Oniguruma's \s; PCRE2's UCP \s lacks U+0085). */
#define WHITE_SPACE_RANGES                                                                                             \
    "\\t-\\r\\x20\\x85\\xA0\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Copies an Oniguruma-style pattern for PCRE2, spelling \s as White_Space:
 * outside a class \s -> [ranges] and \S -> [^ranges]; inside a class \s ->
 * ranges (\S stays). Returns a malloc'd string or NULL. */
static char *rewrite_spaces(const char *pat) {
    size_t n = strlen(pat), rl = strlen(WHITE_SPACE_RANGES);
    char *o = malloc(n * (rl + 3) + 1);
    if (!o) return NULL;
    size_t k = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char d = pat[++i];
            if (d == 's' || (d == 'S' && !in_class)) {
                if (!in_class) o[k++] = '[';
                if (d == 'S') o[k++] = '^';
                memcpy(o + k, WHITE_SPACE_RANGES, rl);
                k += rl;
                if (!in_class) o[k++] = ']';
            } else {
                o[k++] = c;
                o[k++] = d;
            }
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            o[k++] = c;
            if (i + 1 < n && pat[i + 1] == '^') o[k++] = pat[++i];
            if (i + 1 < n && pat[i + 1] == ']') o[k++] = pat[++i]; /* a leading ] is literal */
            continue;
        }
        if (c == '[' && in_class && i + 1 < n && pat[i + 1] == ':') { /* POSIX [:name:] */
            const char *e = strstr(pat + i + 2, ":]");
            if (e) {
                size_t l = (size_t)(e + 2 - (pat + i));
                memcpy(o + k, pat + i, l);
                k += l;
                i += l - 1;
                continue;
            }
        }
        if (c == ']' && in_class) in_class = false;
        o[k++] = c;
    }
    o[k] = 0;
    return o;
}

static int set_regex(struct pretokenize_step *st, const char *pat, struct sgl_err *err) {
    if (strcmp(pat, PRETOKENIZE_PATTERN_QWEN2) == 0)
        st->scan = PRETOKENIZE_SCAN_QWEN2;
    else if (strcmp(pat, PRETOKENIZE_PATTERN_LLAMA3) == 0)
        st->scan = PRETOKENIZE_SCAN_LLAMA3;
    else if (strcmp(pat, PRETOKENIZE_PATTERN_GPT2) == 0)
        st->scan = PRETOKENIZE_SCAN_GPT2;
    if (st->scan != PRETOKENIZE_SCAN_NONE) return 0;
    int ec;
    PCRE2_SIZE eo;
    char *rw = rewrite_spaces(pat);
    if (!rw) return err_setf(err, ERR_NOMEM, "pre-tokenizer: out of memory");
    st->re = pcre2_compile((PCRE2_SPTR)rw, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    free(rw);
    if (!st->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return err_setf(err, ERR_FORMAT, "pre-tokenizer Split regex does not compile at offset %zu: %s", (size_t)eo,
                        (const char *)msg);
    }
    pcre2_jit_compile(st->re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter is used */
    return 0;
}

static int parse_behavior(const char *b, enum behavior *out) {
    static const struct {
        const char *name;
        enum behavior b;
    } names[] = {{"Removed", BEH_REMOVED},
                 {"Isolated", BEH_ISOLATED},
                 {"MergedWithPrevious", BEH_MERGED_PREV},
                 {"MergedWithNext", BEH_MERGED_NEXT},
                 {"Contiguous", BEH_CONTIGUOUS}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(b, names[i].name) == 0) {
            *out = names[i].b;
            return 0;
        }
    return -1;
}

static int parse_one(const cJSON *c, struct pretokenize *p, int depth, struct sgl_err *err) {
    if (!c || cJSON_IsNull(c)) return 0;
    const char *type = json_get_string(c, "type");
    if (!type) return err_setf(err, ERR_FORMAT, "pre_tokenizer: missing \"type\"");
    if (p->byte_level) return err_setf(err, ERR_INVALID, "pre_tokenizer: %s after ByteLevel is not supported", type);
    struct pretokenize_step *st;
    int r;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = json_get(c, "pretokenizers");
        if (!cJSON_IsArray(arr)) return err_setf(err, ERR_FORMAT, "pre_tokenizer Sequence: missing \"pretokenizers\"");
        if (depth > 8) return err_setf(err, ERR_FORMAT, "pre_tokenizer: Sequence nested too deeply");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            if ((r = parse_one(e, p, depth + 1, err))) return r;
        }
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        if ((r = add_step(p, &st, err))) return r;
        st->kind = STEP_SPLIT;
        const cJSON *pat = json_get(c, "pattern");
        const char *re = json_get_string(pat, "Regex"), *lit = json_get_string(pat, "String");
        const char *beh = json_get_string(c, "behavior");
        bool inv = false;
        json_get_bool(c, "invert", &inv);
        st->invert = inv;
        if (!beh || parse_behavior(beh, &st->behavior))
            return err_setf(err, ERR_FORMAT, "pre_tokenizer Split: unknown behavior \"%s\"", beh ? beh : "(none)");
        if (re) return set_regex(st, re, err);
        if (lit) {
            const cJSON *ls = json_get(pat, "String");
            size_t ll = strlen(ls->valuestring);
            st->lit = malloc(ll + 1);
            if (!st->lit) return err_setf(err, ERR_NOMEM, "pre-tokenizer: out of memory");
            memcpy(st->lit, lit, ll + 1);
            st->lit_len = ll;
            return 0;
        }
        return err_setf(err, ERR_FORMAT, "pre_tokenizer Split: pattern needs \"Regex\" or \"String\"");
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if ((r = add_step(p, &st, err))) return r;
        st->kind = STEP_BYTE_LEVEL;
        bool aps = false, ur = true;
        json_get_bool(c, "add_prefix_space", &aps);
        json_get_bool(c, "use_regex", &ur);
        st->add_prefix_space = aps;
        st->use_regex = ur;
        p->byte_level = true;
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        if ((r = add_step(p, &st, err))) return r;
        st->kind = STEP_METASPACE;
        const char *rep = json_get_string(c, "replacement");
        if (!rep) rep = "\xE2\x96\x81";
        size_t rl = strlen(rep);
        if (rl == 0 || rl >= sizeof st->repl)
            return err_setf(err, ERR_FORMAT, "pre_tokenizer Metaspace: bad replacement \"%s\"", rep);
        memcpy(st->repl, rep, rl);
        st->repl_len = rl;
        const char *ps = json_get_string(c, "prepend_scheme");
        bool aps = true, split = true;
        json_get_bool(c, "add_prefix_space", &aps);
        json_get_bool(c, "split", &split);
        st->split = split;
        if (!ps)
            st->prepend = aps ? PREPEND_ALWAYS : PREPEND_NEVER;
        else if (strcmp(ps, "always") == 0)
            st->prepend = PREPEND_ALWAYS;
        else if (strcmp(ps, "first") == 0)
            st->prepend = PREPEND_FIRST;
        else if (strcmp(ps, "never") == 0)
            st->prepend = PREPEND_NEVER;
        else
            return err_setf(err, ERR_FORMAT, "pre_tokenizer Metaspace: unknown prepend_scheme \"%s\"", ps);
        return 0;
    }
    if (strcmp(type, "Digits") == 0) {
        if ((r = add_step(p, &st, err))) return r;
        st->kind = STEP_SPLIT;
        st->scan = PRETOKENIZE_SCAN_DIGIT;
        bool ind = false;
        json_get_bool(c, "individual_digits", &ind);
        st->behavior = ind ? BEH_ISOLATED : BEH_CONTIGUOUS;
        return 0;
    }
    if (strcmp(type, "WhitespaceSplit") == 0) {
        if ((r = add_step(p, &st, err))) return r;
        st->kind = STEP_SPLIT;
        st->scan = PRETOKENIZE_SCAN_SPACE;
        st->behavior = BEH_REMOVED;
        return 0;
    }
    return err_setf(err, ERR_INVALID, "pre_tokenizer type \"%s\" is not supported", type);
}

int pretokenize_parse(const cJSON *cfg, struct pretokenize *out, struct sgl_err *err) {
    memset(out, 0, sizeof *out);
    int r = parse_one(cfg, out, 0, err);
    if (r) pretokenize_free(out);
    return r;
}

int pretokenize_init_byte_level(struct pretokenize *out, const char *regex, struct sgl_err *err) {
    memset(out, 0, sizeof *out);
    struct pretokenize_step *st;
    int r;
    if (regex) {
        if ((r = add_step(out, &st, err))) goto fail;
        st->kind = STEP_SPLIT;
        st->behavior = BEH_ISOLATED;
        if ((r = set_regex(st, regex, err))) goto fail;
    }
    if ((r = add_step(out, &st, err))) goto fail;
    st->kind = STEP_BYTE_LEVEL;
    st->use_regex = regex == NULL;
    out->byte_level = true;
    return 0;
fail:
    pretokenize_free(out);
    return r;
}

void pretokenize_free(struct pretokenize *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_steps; i++) {
        pcre2_code_free(p->steps[i].re);
        free(p->steps[i].lit);
    }
    free(p->steps);
    memset(p, 0, sizeof *p);
}
