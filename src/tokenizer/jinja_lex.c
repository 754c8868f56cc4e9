/* jinja_lex: template source -> tokens, reproducing jinja2.lexer.Lexer with
 * trim_blocks=True, lstrip_blocks=True, default delimiters, no line
 * statements, keep_trailing_newline=False.
 *
 * Rules mirrored from Jinja2 (see lexer.py):
 *  - newlines \r\n and \r become \n; one trailing newline of the source is
 *    dropped;
 *  - data runs up to the first "{{", "{%" or "{#" ("{% raw %}" first);
 *  - "{%-" / "{{-" / "{#-" strip all (Unicode) whitespace before the tag;
 *    otherwise, for block and comment tags without "+", whitespace between the
 *    last newline (or the start of a line) and the tag is removed
 *    (lstrip_blocks);
 *  - "-%}" / "-}}" / "-#}" strip all whitespace after; "%}" and "#}" eat one
 *    following newline (trim_blocks) unless written "+%}" / "+#}";
 *  - inside tags: whitespace, float, integer, name, string, operator, in that
 *    order; a closing delimiter counts only when () [] {} are balanced.
 *  - string literals are unescaped like Python's "unicode-escape" codec.
 *
 * Single-threaded per call; tokens and their text live in the given arena. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja.h"

struct lexer {
    struct jinja_arena *a;
    const char *s; /* normalised source */
    size_t n, pos;
    int line;
    bool line_starting;
    struct jinja_token *toks;
    size_t n_toks, cap;
    char balance[256];
    int n_balance;
    struct sgl_err *err;
};

static int lex_fail(struct lexer *L, const char *msg) {
    return err_setf(L->err, ERR_FORMAT, "line %d: TemplateSyntaxError: %s", L->line, msg);
}

static int push(struct lexer *L, uint8_t type, const char *text, size_t len) {
    if (L->n_toks == L->cap) {
        size_t ncap = L->cap ? L->cap * 2 : 256;
        struct jinja_token *nt = jinja_arena_alloc(L->a, ncap * sizeof *nt);
        if (!nt) return err_setf(L->err, ERR_NOMEM, "out of memory");
        if (L->n_toks) memcpy(nt, L->toks, L->n_toks * sizeof *nt);
        L->toks = nt;
        L->cap = ncap;
    }
    struct jinja_token *t = &L->toks[L->n_toks++];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->line = L->line;
    t->text = text;
    t->len = len;
    return 0;
}

static int count_nl(const char *s, size_t n) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '\n';
    return k;
}

/* Length of the whitespace run (Python \s) starting at i. */
static size_t ws_run(const char *s, size_t n, size_t i) {
    size_t j = i;
    while (j < n) {
        size_t k = j;
        uint32_t cp = jinja_utf8_next(s, n, &k);
        if (!jinja_uni_isspace(cp)) break;
        j = k;
    }
    return j - i;
}

/* Length of text after stripping trailing whitespace (str.rstrip()). */
static size_t rstrip_len(const char *s, size_t n) {
    size_t i = 0, keep = 0;
    while (i < n) {
        uint32_t cp = jinja_utf8_next(s, n, &i);
        if (!jinja_uni_isspace(cp)) keep = i;
    }
    return keep;
}

/* Emits data text ending at a tag opener with the given strip sign. */
static int emit_data(struct lexer *L, const char *text, size_t len, char sign, bool lstrip_ok) {
    if (sign == '-') {
        len = rstrip_len(text, len);
    } else if (sign != '+' && lstrip_ok) {
        size_t l_pos = 0;
        for (size_t i = len; i > 0; i--)
            if (text[i - 1] == '\n') {
                l_pos = i;
                break;
            }
        if ((l_pos > 0 || L->line_starting) && l_pos < len && ws_run(text, len, l_pos) == len - l_pos) len = l_pos;
    }
    int rc = 0;
    if (len) rc = push(L, JT_DATA, text, len);
    return rc;
}

/* Is there "{%" sign? \s* "raw" \s* ("-%}" \s* | "%}") at i? Returns the end. */
static bool match_raw_begin(const struct lexer *L, size_t i, char *sign, size_t *end) {
    const char *s = L->s;
    size_t n = L->n;
    if (i + 1 >= n || s[i] != '{' || s[i + 1] != '%') return false;
    size_t j = i + 2;
    *sign = 0;
    if (j < n && (s[j] == '-' || s[j] == '+')) *sign = s[j++];
    j += ws_run(s, n, j);
    if (j + 3 > n || memcmp(s + j, "raw", 3) != 0) return false;
    j += 3;
    j += ws_run(s, n, j);
    if (j + 3 <= n && s[j] == '-' && s[j + 1] == '%' && s[j + 2] == '}') {
        j += 3;
        j += ws_run(s, n, j);
    } else if (j + 2 <= n && s[j] == '%' && s[j + 1] == '}') {
        j += 2;
    } else {
        return false;
    }
    *end = j;
    return true;
}

/* "{%" sign? \s* "endraw" \s* ("+%}" | "-%}" \s* | "%}" "\n"?) at i. */
static bool match_raw_end(const struct lexer *L, size_t i, char *sign, size_t *end) {
    const char *s = L->s;
    size_t n = L->n;
    if (i + 1 >= n || s[i] != '{' || s[i + 1] != '%') return false;
    size_t j = i + 2;
    *sign = 0;
    if (j < n && (s[j] == '-' || s[j] == '+')) *sign = s[j++];
    j += ws_run(s, n, j);
    if (j + 6 > n || memcmp(s + j, "endraw", 6) != 0) return false;
    j += 6;
    j += ws_run(s, n, j);
    if (j + 3 <= n && s[j] == '+' && s[j + 1] == '%' && s[j + 2] == '}') {
        j += 3;
    } else if (j + 3 <= n && s[j] == '-' && s[j + 1] == '%' && s[j + 2] == '}') {
        j += 3;
        j += ws_run(s, n, j);
    } else if (j + 2 <= n && s[j] == '%' && s[j + 1] == '}') {
        j += 2;
        if (j < n && s[j] == '\n') j++;
    } else {
        return false;
    }
    *end = j;
    return true;
}

static int lex_raw(struct lexer *L) {
    const char *s = L->s;
    size_t n = L->n;
    for (size_t i = L->pos; i < n; i++) {
        char sign;
        size_t end;
        if (s[i] == '{' && match_raw_end(L, i, &sign, &end)) {
            int rc = emit_data(L, s + L->pos, i - L->pos, sign, true);
            if (rc) return rc;
            L->line += count_nl(s + L->pos, end - L->pos);
            L->line_starting = end > 0 && s[end - 1] == '\n';
            L->pos = end;
            return 0;
        }
    }
    return lex_fail(L, "Missing end of raw directive");
}

static int lex_comment(struct lexer *L) {
    const char *s = L->s;
    size_t n = L->n;
    for (size_t i = L->pos; i + 1 < n; i++) {
        size_t end = 0;
        if (s[i] == '+' && i + 2 < n && s[i + 1] == '#' && s[i + 2] == '}') {
            end = i + 3;
        } else if (s[i] == '-' && i + 2 < n && s[i + 1] == '#' && s[i + 2] == '}') {
            end = i + 3;
            end += ws_run(s, n, end);
        } else if (s[i] == '#' && s[i + 1] == '}') {
            end = i + 2;
            if (end < n && s[end] == '\n') end++;
        } else {
            continue;
        }
        L->line += count_nl(s + L->pos, end - L->pos);
        L->line_starting = s[end - 1] == '\n';
        L->pos = end;
        return 0;
    }
    return lex_fail(L, "Missing end of comment tag");
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* (\d+_)*\d+ at i; returns the end or i if no match. */
static size_t digits_us(const char *s, size_t n, size_t i) {
    size_t j = i;
    if (j >= n || !is_digit(s[j])) return i;
    while (j < n && is_digit(s[j])) j++;
    while (j + 1 < n && s[j] == '_' && is_digit(s[j + 1])) {
        j++;
        while (j < n && is_digit(s[j])) j++;
    }
    return j;
}

static size_t match_float(const char *s, size_t n, size_t i) {
    if (i > 0 && s[i - 1] == '.') return 0;
    size_t j = digits_us(s, n, i);
    if (j == i) return 0;
    /* fraction */
    size_t k = j;
    bool frac = false;
    if (k < n && s[k] == '.') {
        size_t e = digits_us(s, n, k + 1);
        if (e > k + 1) k = e, frac = true;
    }
    /* exponent */
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        size_t m = k + 1;
        if (m < n && (s[m] == '+' || s[m] == '-')) m++;
        size_t e = digits_us(s, n, m);
        if (e > m) return e - i;
    }
    return frac ? k - i : 0;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Python int(text.replace('_', ''), 0) for the integer_re forms. */
static int parse_int(struct lexer *L, const char *s, size_t len, int64_t *out) {
    int base = 10;
    size_t i = 0;
    if (len > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) base = 2, i = 2;
    else if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) base = 8, i = 2;
    else if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, i = 2;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] == '_') continue;
        int d = hexval(s[i]);
        if (v > (uint64_t)INT64_MAX / (uint64_t)base ||
            v * (uint64_t)base + (uint64_t)d > (uint64_t)INT64_MAX)
            return lex_fail(L, "integer literal too large");
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = (int64_t)v;
    return 0;
}

static size_t match_int(const char *s, size_t n, size_t i) {
    if (i + 1 < n && s[i] == '0' && s[i + 1] && strchr("bBoOxX", s[i + 1])) {
        char kind = (char)(s[i + 1] | 0x20);
        size_t j = i + 2, last = 0;
        for (;;) {
            size_t k = j;
            if (k < n && s[k] == '_') k++;
            if (k >= n) break;
            int d = hexval(s[k]);
            bool ok = kind == 'b' ? (d == 0 || d == 1) : kind == 'o' ? (d >= 0 && d < 8) : d >= 0;
            if (!ok) break;
            j = k + 1;
            last = j;
        }
        if (last) return last - i;
    }
    if (i < n && s[i] >= '1' && s[i] <= '9') {
        size_t j = i + 1;
        for (;;) {
            size_t k = j;
            if (k < n && s[k] == '_') k++;
            if (k < n && is_digit(s[k])) j = k + 1;
            else break;
        }
        return j - i;
    }
    if (i < n && s[i] == '0') {
        size_t j = i + 1;
        for (;;) {
            size_t k = j;
            if (k < n && s[k] == '_') k++;
            if (k < n && s[k] == '0') j = k + 1;
            else break;
        }
        return j - i;
    }
    return 0;
}

/* Name: a run of \w and combining marks; must then be a Python identifier. */
static size_t match_name(const char *s, size_t n, size_t i, bool *valid) {
    size_t j = i;
    bool first = true;
    *valid = true;
    while (j < n) {
        size_t k = j;
        uint32_t cp = jinja_utf8_next(s, n, &k);
        if (!(jinja_uni_isword(cp) || jinja_uni_is_id_continue(cp))) break;
        if (first && !jinja_uni_is_id_start(cp)) *valid = false;
        if (!first && !jinja_uni_is_id_continue(cp)) *valid = false;
        first = false;
        j = k;
    }
    return j - i;
}

/* Unescapes a string literal body like .encode("ascii", "backslashreplace")
 * .decode("unicode-escape"). */
static int unescape(struct lexer *L, const char *s, size_t n, struct jinja_token *t) {
    char *out = jinja_arena_alloc(L->a, n * 2 + 16);
    if (!out) return err_setf(L->err, ERR_NOMEM, "out of memory");
    size_t o = 0, i = 0;
    while (i < n) {
        char ch = s[i];
        if (ch != '\\') {
            out[o++] = ch;
            i++;
            continue;
        }
        i++;
        if (i >= n) return lex_fail(L, "\\ at end of string");
        char e = s[i];
        uint32_t cp;
        int ndig = 0;
        switch (e) {
        case '\n': i++; continue;
        case '\\': out[o++] = '\\'; i++; continue;
        case '\'': out[o++] = '\''; i++; continue;
        case '"': out[o++] = '"'; i++; continue;
        case 'a': out[o++] = '\a'; i++; continue;
        case 'b': out[o++] = '\b'; i++; continue;
        case 'f': out[o++] = '\f'; i++; continue;
        case 'n': out[o++] = '\n'; i++; continue;
        case 'r': out[o++] = '\r'; i++; continue;
        case 't': out[o++] = '\t'; i++; continue;
        case 'v': out[o++] = '\v'; i++; continue;
        case 'x': ndig = 2; break;
        case 'u': ndig = 4; break;
        case 'U': ndig = 8; break;
        case 'N': return lex_fail(L, "\\N{...} escapes are not supported");
        default: break;
        }
        if (ndig) {
            i++;
            cp = 0;
            for (int k = 0; k < ndig; k++) {
                if (i + (size_t)k >= n || hexval(s[i + (size_t)k]) < 0) {
                    return lex_fail(L, e == 'x' ? "truncated \\xXX escape"
                                                : e == 'u' ? "truncated \\uXXXX escape" : "truncated \\UXXXXXXXX escape");
                }
                cp = cp * 16 + (uint32_t)hexval(s[i + (size_t)k]);
            }
            i += (size_t)ndig;
            if (cp > 0x10FFFF) return lex_fail(L, "illegal Unicode character");
            if (cp >= 0xD800 && cp <= 0xDFFF) return lex_fail(L, "surrogate code points are not supported");
            o += jinja_utf8_put(cp, out + o);
            continue;
        }
        if (e >= '0' && e <= '7') {
            cp = 0;
            int k = 0;
            while (k < 3 && i < n && s[i] >= '0' && s[i] <= '7') cp = cp * 8 + (uint32_t)(s[i] - '0'), i++, k++;
            o += jinja_utf8_put(cp, out + o);
            continue;
        }
        /* unknown escape: backslash kept; a non-ASCII character after it was
         * turned into its \xNN / \uNNNN / \UNNNNNNNN spelling first */
        out[o++] = '\\';
        if ((unsigned char)e >= 0x80) {
            size_t k = i;
            cp = jinja_utf8_next(s, n, &k);
            i = k;
            char tmp[16];
            int w = cp < 0x100 ? snprintf(tmp, sizeof tmp, "x%02x", cp)
                    : cp < 0x10000 ? snprintf(tmp, sizeof tmp, "u%04x", cp) : snprintf(tmp, sizeof tmp, "U%08x", cp);
            /* the spelled escape is itself decoded: \\ + xNN -> literal text */
            memcpy(out + o, tmp, (size_t)w);
            o += (size_t)w;
        }
    }
    t->text = out;
    t->len = o;
    return 0;
}

static bool at(const struct lexer *L, size_t i, const char *lit) {
    size_t k = strlen(lit);
    return i + k <= L->n && memcmp(L->s + i, lit, k) == 0;
}

/* Tokens inside {% %} (block) or {{ }} (variable) until the closing tag. */
static int lex_tag(struct lexer *L, bool block) {
    const char *s = L->s;
    size_t n = L->n;
    int rc;
    for (;;) {
        size_t i = L->pos;
        if (i >= n) return 0; /* unterminated: the parser reports the missing end */
        if (L->n_balance == 0) {
            size_t end = 0;
            if (block) {
                if (at(L, i, "+%}")) end = i + 3;
                else if (at(L, i, "-%}")) end = i + 3, end += ws_run(s, n, end);
                else if (at(L, i, "%}")) {
                    end = i + 2;
                    if (end < n && s[end] == '\n') end++;
                }
            } else {
                if (at(L, i, "-}}")) end = i + 3, end += ws_run(s, n, end);
                else if (at(L, i, "}}")) end = i + 2;
            }
            if (end) {
                if ((rc = push(L, block ? JT_BLOCK_END : JT_VAR_END, NULL, 0))) return rc;
                L->line += count_nl(s + i, end - i);
                L->line_starting = s[end - 1] == '\n';
                L->pos = end;
                return 0;
            }
        }
        size_t w = ws_run(s, n, i);
        if (w) {
            L->line += count_nl(s + i, w);
            L->line_starting = s[i + w - 1] == '\n';
            L->pos += w;
            continue;
        }
        L->line_starting = false;
        size_t m;
        if ((m = match_float(s, n, i)) > 0) {
            char buf[128];
            size_t o = 0;
            for (size_t k = i; k < i + m && o < sizeof buf - 1; k++)
                if (s[k] != '_') buf[o++] = s[k];
            buf[o] = 0;
            if ((rc = push(L, JT_FLOAT, s + i, m))) return rc;
            L->toks[L->n_toks - 1].f = strtod(buf, NULL);
            L->pos += m;
            continue;
        }
        if ((m = match_int(s, n, i)) > 0) {
            int64_t v = 0;
            if ((rc = parse_int(L, s + i, m, &v))) return rc;
            if ((rc = push(L, JT_INT, s + i, m))) return rc;
            L->toks[L->n_toks - 1].i = v;
            L->pos += m;
            continue;
        }
        bool valid;
        if ((m = match_name(s, n, i, &valid)) > 0) {
            if (!valid) return lex_fail(L, "Invalid character in identifier");
            if ((rc = push(L, JT_NAME, s + i, m))) return rc;
            L->pos += m;
            continue;
        }
        if (s[i] == '\'' || s[i] == '"') {
            char q = s[i];
            size_t j = i + 1;
            while (j < n && s[j] != q) j += (s[j] == '\\' && j + 1 < n) ? 2 : 1;
            if (j < n && s[j] == q) {
                if ((rc = push(L, JT_STRING, NULL, 0))) return rc;
                if ((rc = unescape(L, s + i + 1, j - i - 1, &L->toks[L->n_toks - 1]))) return rc;
                L->line += count_nl(s + i, j + 1 - i);
                L->pos = j + 1;
                continue;
            }
        }
        static const char *const ops2[] = {"//", "**", "==", "!=", ">=", "<="};
        size_t oplen = 0;
        for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
            if (at(L, i, ops2[k])) oplen = 2;
        if (!oplen && strchr("+-/*%~[](){}=<>.:|,;", s[i]) && s[i]) oplen = 1;
        if (!oplen) {
            char msg[64];
            size_t k = i;
            uint32_t cp = jinja_utf8_next(s, n, &k);
            snprintf(msg, sizeof msg, "unexpected char U+%04X at %zu", cp, i);
            return lex_fail(L, msg);
        }
        char ch = s[i];
        if (oplen == 1 && (ch == '(' || ch == '[' || ch == '{')) {
            if (L->n_balance == (int)sizeof L->balance) return lex_fail(L, "brackets nested too deeply");
            L->balance[L->n_balance++] = ch == '(' ? ')' : ch == '[' ? ']' : '}';
        } else if (oplen == 1 && (ch == ')' || ch == ']' || ch == '}')) {
            if (!L->n_balance) {
                char msg[32];
                snprintf(msg, sizeof msg, "unexpected '%c'", ch);
                return lex_fail(L, msg);
            }
            char want = L->balance[--L->n_balance];
            if (want != ch) {
                char msg[48];
                snprintf(msg, sizeof msg, "unexpected '%c', expected '%c'", ch, want);
                return lex_fail(L, msg);
            }
        }
        if ((rc = push(L, JT_OP, s + i, oplen))) return rc;
        L->pos += oplen;
    }
}

int jinja_lex(struct jinja_arena *a, const char *src, size_t len, struct jinja_token **out, size_t *n_out,
              struct sgl_err *err) {
    struct lexer L = {.a = a, .line = 1, .line_starting = true, .err = err};
    /* newline normalisation and the dropped trailing newline */
    char *s = jinja_arena_alloc(a, len + 1);
    if (!s) return err_setf(err, ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n > 0 && s[n - 1] == '\n') n--;
    s[n] = 0;
    L.s = s;
    L.n = n;
    int rc;
    while (L.pos < n) {
        /* find the earliest tag opener */
        size_t i = L.pos;
        const char *p = s + i;
        size_t tag = n;
        while ((p = memchr(p, '{', (size_t)(s + n - p))) != NULL) {
            size_t k = (size_t)(p - s);
            if (k + 1 < n && (s[k + 1] == '{' || s[k + 1] == '%' || s[k + 1] == '#')) {
                tag = k;
                break;
            }
            p++;
        }
        if (tag == n) {
            if ((rc = emit_data(&L, s + i, n - i, 0, false))) return rc;
            L.line += count_nl(s + i, n - i);
            L.pos = n;
            break;
        }
        char sign;
        size_t end;
        if (match_raw_begin(&L, tag, &sign, &end)) {
            if ((rc = emit_data(&L, s + i, tag - i, sign, true))) return rc;
            L.line += count_nl(s + i, end - i);
            L.line_starting = s[end - 1] == '\n';
            L.pos = end;
            if ((rc = lex_raw(&L))) return rc;
            continue;
        }
        char kind = s[tag + 1];
        size_t after = tag + 2;
        sign = 0;
        if (after < n && (s[after] == '-' || s[after] == '+')) sign = s[after++];
        if ((rc = emit_data(&L, s + i, tag - i, sign, kind != '{'))) return rc;
        L.line += count_nl(s + i, tag - i);
        L.line_starting = false;
        L.pos = after;
        if (kind == '#') {
            if ((rc = lex_comment(&L))) return rc;
        } else {
            if ((rc = push(&L, kind == '%' ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, NULL, 0))) return rc;
            L.n_balance = 0;
            if ((rc = lex_tag(&L, kind == '%'))) return rc;
        }
    }
    if ((rc = push(&L, JT_EOF, NULL, 0))) return rc;
    *out = L.toks;
    *n_out = L.n_toks;
    return 0;
}
