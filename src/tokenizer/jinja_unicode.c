/* jinja_unicode: UTF-8 coding and the Python str predicates / case mappings
 * the chat-template interpreter needs (str.isspace, str.upper, ...).
 *
 * Character properties come from utf8proc (the project's Unicode dependency);
 * jinja_case_table.h (generated from Python) lists the code points whose
 * Python case mapping is not utf8proc's simple mapping, so upper/lower/title
 * follow Python's full mappings ('ß'.upper() == 'SS'), and lower() applies
 * the Final_Sigma rule like CPython.
 *
 * Invalid UTF-8 bytes decode to U+DC80..U+DCFF (surrogateescape) and encode
 * back to the same byte, so no input is ever rejected or altered by a scan.
 * Stateless and thread-safe. */
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/jinja.h"

#include "tokenizer/jinja_case_table.h"

uint32_t jinja_utf8_next(const char *s, size_t n, size_t *i) {
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t left = n - *i;
    unsigned char b0 = p[0];
    if (b0 < 0x80) {
        (*i)++;
        return b0;
    }
    int need;
    uint32_t cp, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) need = 1, cp = b0 & 0x1F, min = 0x80;
    else if (b0 >= 0xE0 && b0 <= 0xEF) need = 2, cp = b0 & 0x0F, min = 0x800;
    else if (b0 >= 0xF0 && b0 <= 0xF4) need = 3, cp = b0 & 0x07, min = 0x10000;
    else goto bad;
    if (left < (size_t)need + 1) goto bad;
    for (int k = 1; k <= need; k++) {
        if ((p[k] & 0xC0) != 0x80) goto bad;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
    *i += (size_t)need + 1;
    return cp;
bad:
    (*i)++;
    return 0xDC00 + b0;
}

size_t jinja_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp >= 0xDC80 && cp <= 0xDCFF) { /* surrogateescape: the original byte */
        o[0] = (unsigned char)(cp - 0xDC00);
        return 1;
    }
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t jinja_utf8_count(const char *s, size_t n) {
    size_t i = 0, k = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) i++;
        else jinja_utf8_next(s, n, &i);
        k++;
    }
    return k;
}

size_t jinja_utf8_offset(const char *s, size_t n, size_t k) {
    size_t i = 0;
    while (k > 0 && i < n) {
        if ((unsigned char)s[i] < 0x80) i++;
        else jinja_utf8_next(s, n, &i);
        k--;
    }
    return i;
}

static int cat(uint32_t cp) {
    if (cp > 0x10FFFF) return UTF8PROC_CATEGORY_CN;
    return (int)utf8proc_category((utf8proc_int32_t)cp);
}

bool jinja_uni_isspace(uint32_t cp) {
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool jinja_uni_isalpha(uint32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    int k = cat(cp);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

bool jinja_uni_isdecimal(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return cat(cp) == UTF8PROC_CATEGORY_ND;
}

bool jinja_uni_isdigit(uint32_t cp) {
    if (jinja_uni_isdecimal(cp)) return true;
    /* Numeric_Type=Digit: superscripts, subscripts, circled and similar digits. */
    return cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0x2070 && cp <= 0x2079 && cp != 0x2071 && cp != 0x2072 &&
                                                      cp != 0x2073) ||
           (cp >= 0x2080 && cp <= 0x2089) || (cp >= 0x2460 && cp <= 0x2468) || (cp >= 0x2474 && cp <= 0x247C) ||
           (cp >= 0x2488 && cp <= 0x2490) || cp == 0x24EA || (cp >= 0x24F5 && cp <= 0x24FD) || cp == 0x24FF ||
           (cp >= 0x2776 && cp <= 0x277E) || (cp >= 0x2780 && cp <= 0x2788) || (cp >= 0x278A && cp <= 0x2792);
}

bool jinja_uni_isnumeric(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    int k = cat(cp);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool jinja_uni_isalnum(uint32_t cp) {
    return jinja_uni_isalpha(cp) || jinja_uni_isdecimal(cp) || jinja_uni_isdigit(cp) || jinja_uni_isnumeric(cp);
}

bool jinja_uni_isword(uint32_t cp) { return cp == '_' || jinja_uni_isalnum(cp); }

bool jinja_uni_isprintable(uint32_t cp) {
    if (cp < 0x80) return cp >= 0x20 && cp < 0x7F;
    if (cp >= 0xDC80 && cp <= 0xDCFF) return false;
    int k = cat(cp);
    return !(k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
             k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CN || k == UTF8PROC_CATEGORY_ZL ||
             k == UTF8PROC_CATEGORY_ZP || k == UTF8PROC_CATEGORY_ZS);
}

bool jinja_uni_islower(uint32_t cp) {
    if (cp < 0x80) return cp >= 'a' && cp <= 'z';
    return utf8proc_islower((utf8proc_int32_t)cp) != 0;
}

bool jinja_uni_isupper(uint32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
    return utf8proc_isupper((utf8proc_int32_t)cp) != 0;
}

bool jinja_uni_istitle(uint32_t cp) { return cp >= 0x80 && cat(cp) == UTF8PROC_CATEGORY_LT; }

bool jinja_uni_iscased(uint32_t cp) {
    return jinja_uni_islower(cp) || jinja_uni_isupper(cp) || jinja_uni_istitle(cp);
}

bool jinja_uni_iscase_ignorable(uint32_t cp) {
    if (cp == '\'' || cp == '.' || cp == ':' || cp == '^' || cp == '`' || cp == 0xAD || cp == 0xB7 || cp == 0x2019)
        return true;
    int k = cat(cp);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

bool jinja_uni_is_id_start(uint32_t cp) {
    if (cp < 0x80) return cp == '_' || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    int k = cat(cp);
    return jinja_uni_isalpha(cp) || k == UTF8PROC_CATEGORY_NL;
}

bool jinja_uni_is_id_continue(uint32_t cp) {
    if (cp < 0x80) return cp == '_' || (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    int k = cat(cp);
    return jinja_uni_is_id_start(cp) || k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC ||
           k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_PC || cp == 0xB7;
}

bool jinja_uni_is_linebreak(uint32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
           cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

static const struct jinja_case_row *case_row(uint32_t cp) {
    size_t lo = 0, hi = sizeof jinja_case_rows / sizeof jinja_case_rows[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (jinja_case_rows[mid].cp == cp) return &jinja_case_rows[mid];
        if (jinja_case_rows[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int map_case(uint32_t cp, int col, uint32_t out[3]) {
    if (cp < 0x80) {
        if (col == 1) out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        else out[0] = (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
        return 1;
    }
    if (cp >= 0xDC80 && cp <= 0xDCFF) {
        out[0] = cp;
        return 1;
    }
    const struct jinja_case_row *r = case_row(cp);
    if (r) {
        int k = 0;
        while (k < 3 && r->map[col][k]) out[k] = r->map[col][k], k++;
        return k;
    }
    utf8proc_int32_t m = col == 0   ? utf8proc_toupper((utf8proc_int32_t)cp)
                         : col == 1 ? utf8proc_tolower((utf8proc_int32_t)cp)
                                    : utf8proc_totitle((utf8proc_int32_t)cp);
    out[0] = (uint32_t)m;
    return 1;
}

int jinja_uni_upper(uint32_t cp, uint32_t out[3]) { return map_case(cp, 0, out); }
int jinja_uni_lower(uint32_t cp, uint32_t out[3]) { return map_case(cp, 1, out); }
int jinja_uni_title(uint32_t cp, uint32_t out[3]) { return map_case(cp, 2, out); }

/* CPython's Final_Sigma test for s[i] == U+03A3 (code point positions). */
static bool final_sigma(const uint32_t *cps, size_t n, size_t i) {
    size_t j = i;
    bool before = false;
    while (j > 0) {
        uint32_t c = cps[--j];
        if (jinja_uni_iscase_ignorable(c)) continue;
        before = jinja_uni_iscased(c);
        break;
    }
    if (!before) return false;
    for (j = i + 1; j < n; j++) {
        uint32_t c = cps[j];
        if (jinja_uni_iscase_ignorable(c)) continue;
        return !jinja_uni_iscased(c);
    }
    return true;
}

static int put_cps(struct jinja_ctx *c, struct jinja_buf *b, const uint32_t *m, int k) {
    char tmp[12];
    size_t o = 0;
    for (int q = 0; q < k; q++) o += jinja_utf8_put(m[q], tmp + o);
    return jinja_buf_put(c, b, tmp, o);
}

int jinja_str_case(struct jinja_ctx *c, struct jinja_buf *b, const char *s, size_t n, int op) {
    /* decode once: Final_Sigma and title need neighbours */
    size_t ncp = jinja_utf8_count(s, n);
    uint32_t *cps = jinja_alloc(c, (ncp + 1) * sizeof *cps);
    if (!cps) return ERR_NOMEM;
    size_t i = 0, k = 0;
    while (i < n) cps[k++] = jinja_utf8_next(s, n, &i);
    bool prev_cased = false;
    for (k = 0; k < ncp; k++) {
        uint32_t cp = cps[k], m[3];
        int nm;
        switch (op) {
        case JCASE_UPPER: nm = jinja_uni_upper(cp, m); break;
        case JCASE_CASEFOLD:
        case JCASE_LOWER:
            if (cp == 0x3A3) {
                m[0] = final_sigma(cps, ncp, k) ? 0x3C2 : 0x3C3;
                nm = 1;
            } else {
                nm = jinja_uni_lower(cp, m);
            }
            break;
        case JCASE_CAPITALIZE:
            if (k == 0) nm = jinja_uni_title(cp, m);
            else if (cp == 0x3A3) m[0] = final_sigma(cps, ncp, k) ? 0x3C2 : 0x3C3, nm = 1;
            else nm = jinja_uni_lower(cp, m);
            break;
        case JCASE_TITLE:
            if (prev_cased) {
                if (cp == 0x3A3) m[0] = final_sigma(cps, ncp, k) ? 0x3C2 : 0x3C3, nm = 1;
                else nm = jinja_uni_lower(cp, m);
            } else {
                nm = jinja_uni_title(cp, m);
            }
            prev_cased = jinja_uni_iscased(cp);
            break;
        default: /* JCASE_SWAPCASE */
            if (jinja_uni_isupper(cp)) {
                if (cp == 0x3A3) m[0] = final_sigma(cps, ncp, k) ? 0x3C2 : 0x3C3, nm = 1;
                else nm = jinja_uni_lower(cp, m);
            } else if (jinja_uni_islower(cp)) {
                nm = jinja_uni_upper(cp, m);
            } else {
                m[0] = cp, nm = 1;
            }
            break;
        }
        int rc = put_cps(c, b, m, nm);
        if (rc) return rc;
    }
    return 0;
}
