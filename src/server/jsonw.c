/* jsonw: byte buffer + JSON writer (see jsonw.h).
 *
 * The string escaper copies runs of plain ASCII in one memcpy and validates
 * multi-byte UTF-8 sequences by hand (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF); each invalid byte becomes U+FFFD. Buffers grow by
 * doubling. Single-threaded per buffer. */
#include "server/jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonw_init(struct jsonw *w) { memset(w, 0, sizeof *w); }

void jsonw_free(struct jsonw *w) {
    free(w->buf);
    jsonw_init(w);
}

void jsonw_reset(struct jsonw *w) {
    w->len = 0;
    if (w->buf) w->buf[0] = 0;
}

bool jsonw_reserve(struct jsonw *w, size_t n) {
    if (w->oom) return false;
    if (w->len + n + 1 <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            w->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *nb = realloc(w->buf, cap);
    if (!nb) {
        w->oom = true;
        return false;
    }
    w->buf = nb;
    w->cap = cap;
    return true;
}

const char *jsonw_cstr(struct jsonw *w) {
    if (w->oom || !w->buf) return "";
    w->buf[w->len] = 0;
    return w->buf;
}

void jsonw_raw(struct jsonw *w, const char *s, size_t n) {
    if (!n || !jsonw_reserve(w, n)) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

void jsonw_lit(struct jsonw *w, const char *s) { jsonw_raw(w, s, strlen(s)); }

void jsonw_printf(struct jsonw *w, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        jsonw_raw(w, small, (size_t)n);
        return;
    }
    if (!jsonw_reserve(w, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(w->buf + w->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
}

/* Length (2..4) of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

static const char g_hex[] = "0123456789abcdef";

void jsonw_str(struct jsonw *w, const char *str, size_t n) {
    if (!str) {
        jsonw_raw(w, "null", 4);
        return;
    }
    /* Worst case: every byte becomes \u00XX (6) or U+FFFD (3); reserve once. */
    if (n > (SIZE_MAX - 2) / 6 || !jsonw_reserve(w, n * 6 + 2)) {
        w->oom = true;
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    char *o = w->buf + w->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\') j++;
        if (j > i) {
            memcpy(o, s + i, j - i);
            o += j - i;
            i = j;
            if (i == n) break;
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = g_hex[c >> 4];
                *o++ = g_hex[c & 15];
            }
            i++;
            continue;
        }
        size_t len = utf8_seq_len(s + i, n - i);
        if (len) {
            memcpy(o, s + i, len);
            o += len;
            i += len;
        } else {
            *o++ = (char)0xEF;
            *o++ = (char)0xBF;
            *o++ = (char)0xBD;
            i++;
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
    w->buf[w->len] = 0;
}

void jsonw_cstr_str(struct jsonw *w, const char *s) { jsonw_str(w, s, s ? strlen(s) : 0); }

void jsonw_int(struct jsonw *w, int64_t v) {
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    jsonw_raw(w, p, (size_t)(tmp + sizeof tmp - p));
}

void jsonw_num(struct jsonw *w, double v) {
    if (!isfinite(v)) {
        jsonw_raw(w, "null", 4);
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        jsonw_int(w, (int64_t)v);
        return;
    }
    char tmp[32];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) { /* shortest form that reads back exactly */
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    jsonw_raw(w, tmp, (size_t)n);
}

void jsonw_logprob(struct jsonw *w, float v) {
    if (!isfinite(v)) {
        jsonw_raw(w, "-9999.0", 7);
        return;
    }
    char tmp[32];
    int n = 0;
    for (int prec = 6; prec <= 9; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
        if (strtof(tmp, NULL) == v) break;
    }
    jsonw_raw(w, tmp, (size_t)n);
}

void jsonw_bool(struct jsonw *w, bool v) { jsonw_lit(w, v ? "true" : "false"); }

void jsonw_bytes_array(struct jsonw *w, const char *s, size_t n) {
    jsonw_raw(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) jsonw_raw(w, ",", 1);
        jsonw_int(w, (unsigned char)s[i]);
    }
    jsonw_raw(w, "]", 1);
}
