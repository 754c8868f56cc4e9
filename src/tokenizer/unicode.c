/* unicode: UTF-8 helpers, character classes and normalization for the
 * tokenizer (see unicode.h). This is the only file that includes utf8proc.
 *
 * Invariants: all functions are pure; invalid UTF-8 is only accepted by
 * unicode_utf8_valid, unicode_utf8_sanitize and the streaming decoder, which
 * implement the WHATWG "maximal subpart" replacement rule. The Unicode
 * character database is utf8proc's (Unicode 15.0 in Debian 12). */
#include "tokenizer/unicode.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define L_ UNICODE_LETTER
#define N_ UNICODE_NUMBER
#define S_ UNICODE_SPACE
#define C_ (UNICODE_SPACE | UNICODE_CRLF)

/* clang-format off */
const uint8_t unicode_ascii_class[128] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  S_, C_, S_, S_, C_, 0,  0,  /* \t \n \v \f \r */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* */
    S_, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* space !"#$%&'()*+,-./ */
    N_, N_, N_, N_, N_, N_, N_, N_, N_, N_, 0,  0,  0,  0,  0,  0,  /* 0-9 */
    0,  L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,  /* @ A-O */
    L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, 0,  0,  0,  0,  0,   /* P-Z */
    0,  L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_,  /* ` a-o */
    L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, L_, 0,  0,  0,  0,  0,   /* p-z */
};
/* clang-format on */

size_t unicode_encode(int32_t cp, char out[4]) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static bool is_white_space(int32_t cp) {
    switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

unsigned unicode_class(int32_t cp) {
    if (cp < 0x80) return cp >= 0 ? unicode_ascii_class[cp] : 0;
    if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3)) return UNICODE_LETTER; /* CJK, Hangul */
    if (is_white_space(cp)) return UNICODE_SPACE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return UNICODE_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return UNICODE_NUMBER;
    default:
        return 0;
    }
}

/* ---- UTF-8 validation and lossy decoding (WHATWG decoder algorithm) ---- */

void unicode_utf8_stream_init(struct unicode_utf8_stream *st) {
    memset(st, 0, sizeof *st);
    st->lower = 0x80;
    st->upper = 0xBF;
}

static size_t put_fffd(char *out) {
    out[0] = (char)0xEF;
    out[1] = (char)0xBF;
    out[2] = (char)0xBD;
    return 3;
}

size_t unicode_utf8_stream_feed(struct unicode_utf8_stream *st, const uint8_t *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = in[i];
        if (st->need == 0) {
            if (b < 0x80) {
                out[o++] = (char)b;
                continue;
            }
            if (b >= 0xC2 && b <= 0xDF)
                st->need = 1;
            else if (b >= 0xE0 && b <= 0xEF) {
                st->need = 2;
                if (b == 0xE0) st->lower = 0xA0;
                if (b == 0xED) st->upper = 0x9F;
            } else if (b >= 0xF0 && b <= 0xF4) {
                st->need = 3;
                if (b == 0xF0) st->lower = 0x90;
                if (b == 0xF4) st->upper = 0x8F;
            } else {
                o += put_fffd(out + o);
                continue;
            }
            st->pend[0] = b;
            st->n_pend = 1;
            continue;
        }
        if (b < st->lower || b > st->upper) {
            /* The pending prefix is a maximal invalid subpart; b starts over. */
            st->need = 0;
            st->n_pend = 0;
            st->lower = 0x80;
            st->upper = 0xBF;
            o += put_fffd(out + o);
            i--;
            continue;
        }
        st->lower = 0x80;
        st->upper = 0xBF;
        st->pend[st->n_pend++] = b;
        if (st->n_pend == st->need + 1) {
            memcpy(out + o, st->pend, st->n_pend);
            o += st->n_pend;
            st->need = 0;
            st->n_pend = 0;
        }
    }
    return o;
}

size_t unicode_utf8_stream_finish(struct unicode_utf8_stream *st, char *out) {
    size_t o = 0;
    if (st->need) o = put_fffd(out);
    unicode_utf8_stream_init(st);
    return o;
}

bool unicode_utf8_valid(const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF)
            need = 1;
        else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            if (b == 0xE0) lo = 0xA0;
            if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            if (b == 0xF0) lo = 0x90;
            if (b == 0xF4) hi = 0x8F;
        } else
            return false;
        if (n - i <= need) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k <= need; k++)
            if ((p[i + k] & 0xC0) != 0x80) return false;
        i += need + 1;
    }
    return true;
}

int unicode_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_len) {
    /* Each input byte yields at most 3 output bytes (a lone byte -> U+FFFD). */
    char *buf = malloc(3 * n + 4);
    if (!buf) return -1;
    struct unicode_utf8_stream st;
    unicode_utf8_stream_init(&st);
    size_t o = unicode_utf8_stream_feed(&st, (const uint8_t *)s, n, buf);
    o += unicode_utf8_stream_finish(&st, buf + o);
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return 0;
}

/* ---- normalization ---- */

/* True if cp is unchanged by the normalization form and cannot combine with
 * its neighbours: canonical combining class 0, no decomposition, not the second
 * half of a canonical composition, not a conjoining jamo. Hangul syllables
 * decompose (algorithmically) but are stable under the composing forms: only
 * a following trailing jamo, itself not inert, could change them. */
static bool is_norm_inert(int32_t cp, bool compose) {
    if (cp < 0xA0) return true;
    if (cp >= 0x4E00 && cp <= 0x9FFF) return true;  /* CJK unified ideographs */
    if (cp >= 0x1100 && cp <= 0x11FF) return false; /* conjoining jamo */
    if (cp >= 0xAC00 && cp <= 0xD7A3) return compose;
    const utf8proc_property_t *p = utf8proc_get_property(cp);
    if (p->combining_class != 0) return false;
    if (p->decomp_seqindex != UINT16_MAX) return false;
    if (p->comb_index != UINT16_MAX && (p->comb_index & 0x8000)) return false;
    return true;
}

/* Normalizes the span s[0..n) into buf (decompose, reorder/compose, re-encode).
 * Returns the UTF-8 length, or -1. *buf may be replaced by a larger heap buffer. */
static utf8proc_ssize_t normalize_span(const uint8_t *s, size_t n, utf8proc_option_t opt, utf8proc_int32_t **buf,
                                       utf8proc_ssize_t *cap, utf8proc_int32_t *stack) {
    for (;;) {
        utf8proc_ssize_t r = utf8proc_decompose(s, (utf8proc_ssize_t)n, *buf, *cap, opt);
        if (r < 0) return -1;
        if (r <= *cap) return utf8proc_reencode(*buf, r, opt);
        if (*buf != stack) free(*buf);
        if (!(*buf = malloc((size_t)r * sizeof **buf))) return -1;
        *cap = r;
    }
}

/* Normalization is local: a character that is inert (see is_norm_inert) is
 * left alone by every form and separates what comes before it from what comes
 * after, except that it may compose with the characters that follow. So each
 * run of non-inert characters, together with the inert character just before
 * it, is normalized on its own; the output is only allocated once a span
 * actually changes. */
int unicode_normalize(enum unicode_form form, const char *s, size_t n, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = n;
    const uint8_t *p = (const uint8_t *)s;
    bool compose = form == UNICODE_NFC || form == UNICODE_NFKC;
    utf8proc_option_t opt = UTF8PROC_STABLE;
    switch (form) {
    case UNICODE_NFC:
        opt |= UTF8PROC_COMPOSE;
        break;
    case UNICODE_NFD:
        opt |= UTF8PROC_DECOMPOSE;
        break;
    case UNICODE_NFKC:
        opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
    case UNICODE_NFKD:
        opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    }
    utf8proc_int32_t stack[64], *buf = stack;
    utf8proc_ssize_t cap = 64;
    char *o = NULL;
    size_t ol = 0, ocap = 0, copied = 0, last_inert = 0, i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            last_inert = i++;
            continue;
        }
        size_t l;
        int32_t cp = unicode_decode(p + i, n - i, &l);
        if (is_norm_inert(cp, compose)) {
            last_inert = i;
            i += l;
            continue;
        }
        /* Span: the inert character before the run (if not already emitted) through the run. */
        size_t start = last_inert > copied ? last_inert : copied, j = i + l;
        while (j < n) {
            size_t lj;
            if (is_norm_inert(unicode_decode(p + j, n - j, &lj), compose)) break;
            j += lj;
        }
        utf8proc_ssize_t r = normalize_span(p + start, j - start, opt, &buf, &cap, stack);
        if (r < 0) goto nomem;
        bool same = (size_t)r == j - start && memcmp(buf, p + start, j - start) == 0;
        if (!same || o) {
            size_t need = ol + (start - copied) + (size_t)r + (n - j) + 1;
            if (need > ocap) {
                size_t nc = ocap ? 2 * ocap : n + 64;
                while (nc < need) nc *= 2;
                char *no = realloc(o, nc);
                if (!no) goto nomem;
                o = no;
                ocap = nc;
            }
            memcpy(o + ol, p + copied, start - copied);
            ol += start - copied;
            memcpy(o + ol, buf, (size_t)r);
            ol += (size_t)r;
            copied = j;
        }
        i = j;
        last_inert = j;
    }
    if (buf != stack) free(buf);
    if (o) {
        memcpy(o + ol, p + copied, n - copied);
        ol += n - copied;
        o[ol] = 0;
        *out = o;
        *out_len = ol;
    }
    return 0;
nomem:
    if (buf != stack) free(buf);
    free(o);
    return -1;
}

int unicode_lowercase(const char *s, size_t n, char **out, size_t *out_len) {
    char *buf = malloc(4 * n + 1);
    if (!buf) return -1;
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t l;
        int32_t cp = unicode_decode(p + i, n - i, &l);
        o += unicode_encode(utf8proc_tolower(cp), buf + o);
        i += l;
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return 0;
}
