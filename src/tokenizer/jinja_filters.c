/* jinja_filters: Jinja2's built-in filters and tests (jinja2/filters.py,
 * jinja2/tests.py, version 3.1) plus transformers' `tojson` override, which
 * is json.dumps(x, ensure_ascii=False, indent=None, separators=None,
 * sort_keys=False) and returns a plain str.
 *
 * Filters that return generators in Jinja2 (map, select, reject, selectattr,
 * rejectattr, unique, items, batch, slice, reverse) return one-shot JL_GEN
 * lists here, so `| length` on them fails and a second iteration is empty,
 * as in Python. Sorting is stable and compares the same keys Python compares
 * (sort/unique/min/max wrap keys the way make_multi_attrgetter does).
 *
 * Known filters we do not implement (random, lipsum-like or HTML helpers:
 * pprint, random, urlize, urlencode, wordwrap) fail at run time with a clear
 * message. Single-threaded per render. */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tokenizer/jinja.h"

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        int rc_ = (x);                                                                                                 \
        if (rc_) return rc_;                                                                                           \
    } while (0)

/* Binds the filter's arguments; names[0] is the filtered value (p[0] = v),
 * the call's arguments go to p[1..]. */
#define BIND(what, ...)                                                                                                \
    static const char *const names_[] = {__VA_ARGS__};                                                                 \
    jv p[sizeof names_ / sizeof names_[0]];                                                                            \
    p[0] = v;                                                                                                          \
    TRY(jinja_bind(c, what, a, names_ + 1, sizeof names_ / sizeof names_[0] - 1, p + 1))

static bool given(jv v) { return v.type != JV_MISSING; }

/* soft_str: strings (and Markup) unchanged, everything else str()'d. */
static int soft_str(struct jinja_ctx *c, jv v, jv *out) { return jinja_to_str(c, v, out); }

static int case_map(struct jinja_ctx *c, jv v, int op, jv *out) {
    jv s;
    TRY(soft_str(c, v, &s));
    struct jinja_buf b = {0};
    TRY(jinja_str_case(c, &b, s.u.s->data, s.u.s->len, op));
    TRY(jinja_str_from_buf(c, &b, out));
    out->flags = s.flags;
    return 0;
}

static int lower_if_str(struct jinja_ctx *c, jv v, jv *out) {
    if (v.type != JV_STR) {
        *out = v;
        return 0;
    }
    return case_map(c, v, JCASE_LOWER, out);
}

/* Attribute path "a.b.0" -> parts (ints for digit parts), like
 * _prepare_attribute_parts. attr may be a str or an int. */
struct attr_path {
    jv *parts;
    size_t n;
};

static int attr_path_make(struct jinja_ctx *c, jv attr, struct attr_path *p) {
    p->n = 0;
    p->parts = NULL;
    if (attr.type == JV_MISSING || attr.type == JV_NONE) return 0;
    if (attr.type != JV_STR) {
        p->parts = jinja_alloc(c, sizeof(jv));
        if (!p->parts) return ERR_NOMEM;
        p->parts[0] = attr;
        p->n = 1;
        return 0;
    }
    const struct jinja_str *s = attr.u.s;
    size_t cnt = 1;
    for (size_t i = 0; i < s->len; i++) cnt += s->data[i] == '.';
    p->parts = jinja_alloc(c, cnt * sizeof(jv));
    if (!p->parts) return ERR_NOMEM;
    size_t start = 0;
    for (size_t i = 0; i <= s->len; i++) {
        if (i < s->len && s->data[i] != '.') continue;
        bool digits = i > start;
        for (size_t k = start; k < i; k++)
            if (s->data[k] < '0' || s->data[k] > '9') digits = false;
        if (digits && i - start < 18) p->parts[p->n++] = jv_int(strtoll(s->data + start, NULL, 10));
        else TRY(jinja_make_str(c, s->data + start, i - start, &p->parts[p->n++]));
        start = i + 1;
    }
    return 0;
}

/* make_attrgetter: getitem along the path; default replaces Undefined. */
static int attr_get(struct jinja_ctx *c, const struct attr_path *p, jv item, jv dflt, jv *out) {
    for (size_t i = 0; i < p->n; i++) {
        TRY(jinja_getitem(c, item, p->parts[i], &item));
        if (dflt.type != JV_MISSING && dflt.type != JV_NONE && item.type == JV_UNDEF) item = dflt;
    }
    *out = item;
    return 0;
}

static int iterate_copy(struct jinja_ctx *c, jv v, jv **items, size_t *n) {
    jv *src;
    TRY(jinja_iterate(c, v, &src, n));
    *items = jinja_alloc(c, (*n + 1) * sizeof(jv));
    if (!*items) return ERR_NOMEM;
    if (*n) memcpy(*items, src, *n * sizeof(jv));
    return 0;
}

/* ------------------------------------------------------------ string filters */

static int f_upper(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("upper", "s");
    (void)p;
    return case_map(c, v, JCASE_UPPER, out);
}
static int f_lower(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("lower", "s");
    (void)p;
    return case_map(c, v, JCASE_LOWER, out);
}
static int f_capitalize(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("capitalize", "s");
    (void)p;
    return case_map(c, v, JCASE_CAPITALIZE, out);
}

static bool title_sep(uint32_t cp) {
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || jinja_uni_isspace(cp);
}

static int f_title(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("title", "s");
    (void)p;
    jv s;
    TRY(soft_str(c, v, &s));
    const char *d = s.u.s->data;
    size_t n = s.u.s->len, i = 0;
    struct jinja_buf b = {0};
    /* pieces alternate: separator runs and words; each piece: first char upper, rest lower */
    while (i < n) {
        size_t k = i;
        bool sep = title_sep(jinja_utf8_next(d, n, &k));
        size_t e = k;
        while (e < n) {
            size_t q = e;
            if (title_sep(jinja_utf8_next(d, n, &q)) != sep) break;
            e = q;
        }
        TRY(jinja_str_case(c, &b, d + i, k - i, JCASE_UPPER));
        TRY(jinja_str_case(c, &b, d + k, e - k, JCASE_LOWER));
        i = e;
    }
    TRY(jinja_str_from_buf(c, &b, out));
    out->flags = s.flags;
    return 0;
}

static int f_trim(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("trim", "value", "chars");
    (void)p;
    jv s, m;
    TRY(soft_str(c, v, &s));
    TRY(jinja_getattr(c, s, "strip", 5, &m));
    struct jinja_callargs ca = {0};
    jv arg = p[1];
    if (given(p[1])) {
        ca.pos = &arg;
        ca.n_pos = 1;
    }
    return jinja_call_value(c, m, &ca, out);
}

static int f_string(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("string", "value");
    (void)p;
    return soft_str(c, v, out);
}

static int f_replace(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("replace", "s", "old", "new", "count");
    if (!given(p[1]) || !given(p[2])) return jinja_fail(c, "TypeError", "replace() missing required arguments");
    jv s, o, nw;
    TRY(jinja_to_str(c, v, &s));
    TRY(jinja_to_str(c, p[1], &o));
    TRY(jinja_to_str(c, p[2], &nw));
    int64_t count = -1;
    if (given(p[3]) && p[3].type != JV_NONE) {
        if (!jv_is_intlike(p[3]))
            return jinja_fail(c, "TypeError", "'%s' object cannot be interpreted as an integer", jinja_type_name(p[3]));
        count = jv_as_int(p[3]);
    }
    s.flags = 0;
    TRY(jinja_str_replace(c, s, o, nw, count, out));
    out->flags = 0;
    return 0;
}

static int f_center(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("center", "value", "width");
    jv s;
    TRY(soft_str(c, v, &s));
    return jinja_str_center(c, s, given(p[1]) ? p[1] : jv_int(80), out);
}

static int f_indent(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("indent", "s", "width", "first", "blank");
    jv width = given(p[1]) ? p[1] : jv_int(4);
    struct jinja_buf ind = {0};
    if (width.type == JV_STR) TRY(jinja_buf_put(c, &ind, width.u.s->data, width.u.s->len));
    else {
        if (!jv_is_intlike(width))
            return jinja_fail(c, "TypeError", "can't multiply sequence by non-int of type '%s'", jinja_type_name(width));
        int64_t w = jv_as_int(width);
        if (w > 10000) return jinja_fail(c, "MemoryError", "indent width too large");
        for (int64_t k = 0; k < w; k++) TRY(jinja_buf_putc(c, &ind, ' '));
    }
    /* s += "\n" */
    jv nl, s;
    TRY(jinja_make_str(c, "\n", 1, &nl));
    TRY(jinja_binop(c, JB_ADD, v, nl, &s));
    jv lines_v;
    TRY(jinja_str_splitlines(c, s, false, &lines_v));
    const struct jinja_list *lines = lines_v.u.l;
    struct jinja_buf b = {0};
    bool blank = given(p[3]) && jinja_truthy(p[3]);
    if (given(p[2]) && jinja_truthy(p[2])) TRY(jinja_buf_put(c, &b, ind.p, ind.len));
    for (size_t i = 0; i < lines->len; i++) {
        const struct jinja_str *ln = lines->items[i].u.s;
        if (i) {
            TRY(jinja_buf_putc(c, &b, '\n'));
            if (blank || ln->len) TRY(jinja_buf_put(c, &b, ind.p, ind.len));
        }
        TRY(jinja_buf_put(c, &b, ln->data, ln->len));
    }
    TRY(jinja_str_from_buf(c, &b, out));
    out->flags = s.flags;
    return 0;
}

static int f_wordcount(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("wordcount", "s");
    (void)p;
    jv s;
    TRY(soft_str(c, v, &s));
    int64_t cnt = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.u.s->len;) {
        bool w = jinja_uni_isword(jinja_utf8_next(s.u.s->data, s.u.s->len, &i));
        if (w && !in_word) cnt++;
        in_word = w;
    }
    *out = jv_int(cnt);
    return 0;
}

static int f_truncate(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("truncate", "s", "length", "killwords", "end", "leeway");
    int64_t length = 255, leeway = 5;
    if (given(p[1]) && !jv_is_intlike(p[1])) return jinja_fail(c, "TypeError", "truncate length must be an int");
    if (given(p[1])) length = jv_as_int(p[1]);
    if (given(p[4]) && p[4].type != JV_NONE) {
        if (!jv_is_intlike(p[4])) return jinja_fail(c, "TypeError", "truncate leeway must be an int");
        leeway = jv_as_int(p[4]);
    }
    jv end;
    if (given(p[3])) end = p[3];
    else TRY(jinja_make_str(c, "...", 3, &end));
    if (end.type != JV_STR) return jinja_fail(c, "TypeError", "truncate end must be a str");
    int64_t end_len = (int64_t)jinja_utf8_count(end.u.s->data, end.u.s->len);
    if (length < end_len) return jinja_fail(c, "AssertionError", "expected length >= %lld, got %lld", (long long)end_len, (long long)length);
    if (leeway < 0) return jinja_fail(c, "AssertionError", "expected leeway >= 0, got %lld", (long long)leeway);
    int64_t n;
    TRY(jinja_len(c, v, &n));
    if (n <= length + leeway) {
        *out = v;
        return 0;
    }
    if (v.type != JV_STR) return jinja_fail(c, "TypeError", "truncate expects a string");
    const struct jinja_str *s = v.u.s;
    size_t cut = jinja_utf8_offset(s->data, s->len, (size_t)(length - end_len));
    size_t keep = cut;
    if (!(given(p[2]) && jinja_truthy(p[2]))) {
        /* .rsplit(' ', 1)[0] */
        for (size_t k = cut; k-- > 0;)
            if (s->data[k] == ' ') {
                keep = k;
                break;
            }
    }
    struct jinja_buf b = {0};
    TRY(jinja_buf_put(c, &b, s->data, keep));
    TRY(jinja_buf_put(c, &b, end.u.s->data, end.u.s->len));
    return jinja_str_from_buf(c, &b, out);
}

static int f_escape(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("escape", "s");
    (void)p;
    return jinja_escape(c, v, out);
}

static int f_forceescape(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("forceescape", "value");
    (void)p;
    jv s;
    TRY(jinja_to_str(c, v, &s));
    s.flags = 0;
    return jinja_escape(c, s, out);
}

static int f_safe(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("safe", "value");
    (void)p;
    TRY(jinja_to_str(c, v, out));
    out->flags = JV_MARKUP;
    return 0;
}

static int f_striptags(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("striptags", "value");
    (void)p;
    jv s;
    TRY(jinja_to_str(c, v, &s));
    const char *d = s.u.s->data;
    size_t n = s.u.s->len;
    struct jinja_buf t = {0}, b = {0};
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '<' && i + 3 < n && !memcmp(d + i, "<!--", 4)) {
            const char *e = memmem(d + i + 4, n - i - 4, "-->", 3);
            if (e) {
                i = (size_t)(e - d) + 2;
                continue;
            }
        }
        if (d[i] == '<') {
            const char *e = memchr(d + i + 1, '>', n - i - 1);
            if (e) {
                i = (size_t)(e - d);
                continue;
            }
        }
        TRY(jinja_buf_putc(c, &t, d[i]));
    }
    /* " ".join(s.split()) then unescape the basic entities */
    jv tv, parts;
    TRY(jinja_str_from_buf(c, &t, &tv));
    jv m;
    TRY(jinja_getattr(c, tv, "split", 5, &m));
    struct jinja_callargs none = {0};
    TRY(jinja_call_value(c, m, &none, &parts));
    for (size_t i = 0; i < parts.u.l->len; i++) {
        const struct jinja_str *w = parts.u.l->items[i].u.s;
        if (i) TRY(jinja_buf_putc(c, &b, ' '));
        for (size_t k = 0; k < w->len; k++) {
            static const struct {
                const char *ent, *ch;
            } ents[] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#34;", "\""}, {"&#39;", "'"}};
            bool hit = false;
            for (size_t q = 0; q < sizeof ents / sizeof ents[0] && !hit; q++) {
                size_t L = strlen(ents[q].ent);
                if (w->len - k >= L && !memcmp(w->data + k, ents[q].ent, L)) {
                    TRY(jinja_buf_put(c, &b, ents[q].ch, 1));
                    k += L - 1;
                    hit = true;
                }
            }
            if (!hit) TRY(jinja_buf_putc(c, &b, w->data[k]));
        }
    }
    return jinja_str_from_buf(c, &b, out);
}

static int f_format(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    if (a->n_pos && a->n_kw)
        return jinja_fail(c, "FilterArgumentError", "can't handle positional and keyword arguments at the same time");
    jv s, args;
    TRY(soft_str(c, v, &s));
    if (a->n_kw) {
        struct jinja_dict *d = jinja_dict_new(c, a->n_kw);
        if (!d) return ERR_NOMEM;
        for (size_t i = 0; i < a->n_kw; i++)
            TRY(jinja_dict_set(c, d, jv_strv((struct jinja_str *)a->kw_names[i]), a->kw_vals[i]));
        args = jv_dictv(d);
    } else {
        struct jinja_list *t = jinja_list_new(c, JL_TUPLE, a->n_pos);
        if (!t) return ERR_NOMEM;
        for (size_t i = 0; i < a->n_pos; i++) t->items[i] = a->pos[i];
        t->len = a->n_pos;
        args = jv_listv(t);
    }
    return jinja_percent_format(c, s, args, out);
}

static int f_filesizeformat(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("filesizeformat", "value", "binary");
    double bytes;
    if (jv_is_num(v)) bytes = jv_as_double(v);
    else if (v.type == JV_STR) {
        char *end;
        bytes = strtod(v.u.s->data, &end);
        if (end == v.u.s->data) return jinja_fail(c, "ValueError", "could not convert string to float");
    } else {
        return jinja_fail(c, "TypeError", "float() argument must be a string or a real number");
    }
    bool binary = given(p[1]) && jinja_truthy(p[1]);
    double base = binary ? 1024 : 1000;
    static const char *const bin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
    static const char *const dec[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
    struct jinja_buf b = {0};
    if (bytes == 1) TRY(jinja_buf_put(c, &b, "1 Byte", 6));
    else if (bytes < base) TRY(jinja_buf_printf(c, &b, "%lld Bytes", (long long)bytes));
    else {
        int i;
        double unit = base;
        for (i = 0; i < 8; i++) {
            unit = pow(base, i + 2);
            if (bytes < unit) break;
        }
        if (i == 8) i = 7;
        TRY(jinja_buf_printf(c, &b, "%.1f %s", base * bytes / unit, binary ? bin[i] : dec[i]));
    }
    return jinja_str_from_buf(c, &b, out);
}

static int f_xmlattr(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("xmlattr", "d", "autospace");
    if (v.type != JV_DICT) return jinja_fail(c, "AttributeError", "'%s' object has no attribute 'items'", jinja_type_name(v));
    struct jinja_buf b = {0};
    bool first = true;
    for (size_t i = 0; i < v.u.d->len; i++) {
        jv k = v.u.d->keys[i], val = v.u.d->vals[i];
        if (val.type == JV_NONE || val.type == JV_UNDEF) continue;
        if (k.type != JV_STR) return jinja_fail(c, "TypeError", "expected string or bytes-like object");
        for (size_t q = 0; q < k.u.s->len; q++)
            if (strchr(" \t\n\r\f\v/>=", k.u.s->data[q]))
                return jinja_fail(c, "ValueError", "Invalid character in attribute name: '%s'", k.u.s->data);
        jv ek, ev;
        TRY(jinja_escape(c, k, &ek));
        TRY(jinja_escape(c, val, &ev));
        if (!first) TRY(jinja_buf_putc(c, &b, ' '));
        first = false;
        TRY(jinja_buf_put(c, &b, ek.u.s->data, ek.u.s->len));
        TRY(jinja_buf_put(c, &b, "=\"", 2));
        TRY(jinja_buf_put(c, &b, ev.u.s->data, ev.u.s->len));
        TRY(jinja_buf_putc(c, &b, '"'));
    }
    struct jinja_buf r = {0};
    if ((!given(p[1]) || jinja_truthy(p[1])) && b.len) TRY(jinja_buf_putc(c, &r, ' '));
    TRY(jinja_buf_put(c, &r, b.p, b.len));
    return jinja_str_from_buf(c, &r, out);
}

/* ------------------------------------------------------------ tojson */

static int f_tojson(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("tojson", "x", "ensure_ascii", "indent", "separators", "sort_keys");
    struct jinja_json_opts o = {0};
    o.ensure_ascii = given(p[1]) && jinja_truthy(p[1]);
    o.sort_keys = given(p[4]) && jinja_truthy(p[4]);
    struct jinja_buf ind = {0};
    if (given(p[2]) && p[2].type != JV_NONE) {
        if (p[2].type == JV_STR) TRY(jinja_buf_put(c, &ind, p[2].u.s->data, p[2].u.s->len));
        else if (jv_is_intlike(p[2])) {
            int64_t w = jv_as_int(p[2]);
            if (w > 10000) return jinja_fail(c, "MemoryError", "indent too large");
            for (int64_t k = 0; k < w; k++) TRY(jinja_buf_putc(c, &ind, ' '));
        } else {
            return jinja_fail(c, "TypeError", "can't multiply sequence by non-int of type '%s'", jinja_type_name(p[2]));
        }
        o.indent = ind.p ? ind.p : "";
        o.indent_len = ind.len;
    }
    if (given(p[3]) && p[3].type != JV_NONE) {
        jv *sep;
        size_t n;
        if (p[3].type != JV_LIST && p[3].type != JV_STR)
            return jinja_fail(c, "TypeError", "cannot unpack non-iterable %s object", jinja_type_name(p[3]));
        TRY(jinja_iterate(c, p[3], &sep, &n));
        if (n != 2) return jinja_fail(c, "ValueError", "separators must be a pair (item_separator, key_separator)");
        if (sep[0].type != JV_STR || sep[1].type != JV_STR)
            return jinja_fail(c, "TypeError", "make_encoder() argument must be str");
        o.item_sep = sep[0].u.s->data;
        o.item_sep_len = sep[0].u.s->len;
        o.key_sep = sep[1].u.s->data;
        o.key_sep_len = sep[1].u.s->len;
    } else {
        o.item_sep = o.indent ? "," : ", ";
        o.item_sep_len = o.indent ? 1 : 2;
        o.key_sep = ": ";
        o.key_sep_len = 2;
    }
    struct jinja_buf b = {0};
    TRY(jinja_json_dump(c, &b, v, &o));
    return jinja_str_from_buf(c, &b, out);
}

/* ------------------------------------------------------------ numbers */

static int f_abs(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("abs", "x");
    (void)p;
    if (v.type == JV_FLOAT) {
        *out = jv_float(fabs(v.u.f));
        return 0;
    }
    if (jv_is_intlike(v)) {
        int64_t x = jv_as_int(v);
        if (x == INT64_MIN) return jinja_fail(c, "OverflowError", "integer result does not fit in 64 bits");
        *out = jv_int(x < 0 ? -x : x);
        return 0;
    }
    if (v.type == JV_UNDEF) return jinja_fail(c, "TypeError", "bad operand type for abs(): 'Undefined'");
    return jinja_fail(c, "TypeError", "bad operand type for abs(): '%s'", jinja_type_name(v));
}

/* Python float(str): strips whitespace, accepts underscores between digits,
 * inf/nan spellings. Returns false if not a float literal. */
static bool parse_py_float(const char *s, size_t n, double *out) {
    size_t a = 0, b = n;
    while (a < b) {
        size_t k = a;
        if (!jinja_uni_isspace(jinja_utf8_next(s, n, &k))) break;
        a = k;
    }
    while (b > a && (s[b - 1] == ' ' || (s[b - 1] >= 0x09 && s[b - 1] <= 0x0d))) b--;
    if (a == b || b - a > 300) return false;
    char buf[320];
    size_t o = 0;
    for (size_t i = a; i < b; i++) {
        char ch = s[i];
        if (ch == '_') {
            if (i == a || i + 1 >= b || !(s[i - 1] >= '0' && s[i - 1] <= '9') || !(s[i + 1] >= '0' && s[i + 1] <= '9'))
                return false;
            continue;
        }
        buf[o++] = ch;
    }
    buf[o] = 0;
    const char *t = buf;
    if (*t == '+' || *t == '-') t++;
    if (!strcasecmp(t, "inf") || !strcasecmp(t, "infinity") || !strcasecmp(t, "nan")) {
        double v = (t[0] == 'n' || t[0] == 'N') ? NAN : INFINITY;
        *out = buf[0] == '-' ? -v : v;
        return true;
    }
    /* digits [. digits] [e [+-] digits], at least one digit */
    const char *q = t;
    bool digit = false;
    while (*q >= '0' && *q <= '9') q++, digit = true;
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9') q++, digit = true;
    }
    if (!digit) return false;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-') q++;
        if (!(*q >= '0' && *q <= '9')) return false;
        while (*q >= '0' && *q <= '9') q++;
    }
    if (*q) return false;
    *out = strtod(buf, NULL);
    return true;
}

/* Python int(str, base). */
static bool parse_py_int(const char *s, size_t n, int64_t base, int64_t *out, bool *overflow) {
    *overflow = false;
    size_t a = 0, b = n;
    while (a < b && (s[a] == ' ' || (s[a] >= 0x09 && s[a] <= 0x0d))) a++;
    while (b > a && (s[b - 1] == ' ' || (s[b - 1] >= 0x09 && s[b - 1] <= 0x0d))) b--;
    if (a == b) return false;
    bool neg = false;
    if (s[a] == '+' || s[a] == '-') neg = s[a++] == '-';
    if (b - a >= 2 && s[a] == '0') {
        char k = (char)(s[a + 1] | 0x20);
        if ((k == 'x' && (base == 16 || base == 0)) || (k == 'o' && (base == 8 || base == 0)) ||
            (k == 'b' && (base == 2 || base == 0))) {
            base = k == 'x' ? 16 : k == 'o' ? 8 : 2;
            a += 2;
            if (a < b && s[a] == '_') a++;
        }
    }
    if (base == 0) base = 10;
    if (a == b) return false;
    uint64_t v = 0;
    bool prev_digit = false;
    for (size_t i = a; i < b; i++) {
        char ch = s[i];
        if (ch == '_') {
            if (!prev_digit || i + 1 >= b) return false;
            prev_digit = false;
            continue;
        }
        int d = (ch >= '0' && ch <= '9') ? ch - '0' : (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z' ? (ch | 0x20) - 'a' + 10 : 99;
        if (d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) *overflow = true;
        else v = v * (uint64_t)base + (uint64_t)d;
        prev_digit = true;
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) *overflow = true;
    if (*overflow) return true;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static int f_int(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("int", "value", "default", "base");
    jv dflt = given(p[1]) ? p[1] : jv_int(0);
    int64_t base = 10;
    if (given(p[2])) {
        if (!jv_is_intlike(p[2])) return jinja_fail(c, "TypeError", "int() base must be an int");
        base = jv_as_int(p[2]);
    }
    if (v.type == JV_UNDEF) return jinja_undef_error(c, v);
    if (v.type == JV_STR) {
        if (base != 0 && (base < 2 || base > 36)) return jinja_fail(c, "ValueError", "int() base must be >= 2 and <= 36, or 0");
        int64_t x;
        bool ovf;
        if (parse_py_int(v.u.s->data, v.u.s->len, base, &x, &ovf)) {
            if (ovf) return jinja_fail(c, "OverflowError", "integer does not fit in 64 bits");
            *out = jv_int(x);
            return 0;
        }
        double f;
        if (!parse_py_float(v.u.s->data, v.u.s->len, &f) || isnan(f)) {
            *out = dflt;
            return 0;
        }
        if (isinf(f)) return jinja_fail(c, "OverflowError", "cannot convert float infinity to integer");
        if (fabs(f) >= 9.2233720368547758e18) return jinja_fail(c, "OverflowError", "integer does not fit in 64 bits");
        *out = jv_int((int64_t)f);
        return 0;
    }
    if (given(p[2])) { /* int(non-str, base) is a TypeError -> int(float(x)) */
        if (jv_is_num(v)) *out = jv_int((int64_t)jv_as_double(v));
        else *out = dflt;
        return 0;
    }
    if (jv_is_intlike(v)) {
        *out = jv_int(jv_as_int(v));
        return 0;
    }
    if (v.type == JV_FLOAT) {
        if (isnan(v.u.f)) {
            *out = dflt;
            return 0;
        }
        if (isinf(v.u.f)) return jinja_fail(c, "OverflowError", "cannot convert float infinity to integer");
        if (fabs(v.u.f) >= 9.2233720368547758e18) return jinja_fail(c, "OverflowError", "integer does not fit in 64 bits");
        *out = jv_int((int64_t)v.u.f);
        return 0;
    }
    *out = dflt;
    return 0;
}

static int f_float(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("float", "value", "default");
    jv dflt = given(p[1]) ? p[1] : jv_float(0.0);
    if (v.type == JV_UNDEF) return jinja_undef_error(c, v);
    if (jv_is_num(v)) {
        *out = jv_float(jv_as_double(v));
        return 0;
    }
    double f;
    if (v.type == JV_STR && parse_py_float(v.u.s->data, v.u.s->len, &f)) {
        *out = jv_float(f);
        return 0;
    }
    *out = dflt;
    return 0;
}

/* round(x, ndigits) with Python's correctly rounded semantics. */
static double py_round(double x, int64_t nd) {
    if (!isfinite(x) || x == 0) return x;
    if (nd > 320) return x;
    if (nd >= 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)nd, x);
        return strtod(buf, NULL);
    }
    if (nd < -320) return copysign(0.0, x);
    double p = pow(10.0, (double)-nd);
    double y = x / p, z = round(y);
    if (fabs(y - z) == 0.5) z = 2.0 * round(y / 2.0);
    return z * p;
}

static int f_round(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("round", "value", "precision", "method");
    int64_t prec = 0;
    if (given(p[1])) {
        if (!jv_is_intlike(p[1]))
            return jinja_fail(c, "TypeError", "'%s' object cannot be interpreted as an integer", jinja_type_name(p[1]));
        prec = jv_as_int(p[1]);
    }
    const char *method = "common";
    if (given(p[2])) {
        if (p[2].type != JV_STR) return jinja_fail(c, "FilterArgumentError", "method must be common, ceil or floor");
        method = p[2].u.s->data;
    }
    bool common = !strcmp(method, "common"), ceil_m = !strcmp(method, "ceil"), floor_m = !strcmp(method, "floor");
    if (!common && !ceil_m && !floor_m) return jinja_fail(c, "FilterArgumentError", "method must be common, ceil or floor");
    if (v.type == JV_UNDEF) return jinja_fail(c, "TypeError", "type Undefined doesn't define __round__ method");
    if (!jv_is_num(v)) return jinja_fail(c, "TypeError", "type %s doesn't define __round__ method", jinja_type_name(v));
    if (common) {
        if (jv_is_intlike(v)) {
            int64_t x = jv_as_int(v);
            if (prec >= 0) {
                *out = jv_int(x);
                return 0;
            }
            /* round half to even at 10**-prec */
            if (prec < -18) {
                *out = jv_int(0);
                return 0;
            }
            int64_t m = 1;
            for (int64_t k = 0; k < -prec; k++) m *= 10;
            int64_t q = x / m, r = x % m;
            if (r < 0) q--, r += m;
            if (2 * r > m || (2 * r == m && (q & 1))) q++;
            *out = jv_int(q * m);
            return 0;
        }
        *out = jv_float(py_round(v.u.f, prec));
        return 0;
    }
    double x = jv_as_double(v);
    double p10 = pow(10.0, (double)prec);
    double r = (ceil_m ? ceil(x * p10) : floor(x * p10));
    *out = jv_float(r / p10);
    return 0;
}

/* ------------------------------------------------------------ sequences */

static int f_length(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("length", "obj");
    (void)p;
    int64_t n;
    TRY(jinja_len(c, v, &n));
    *out = jv_int(n);
    return 0;
}

static int f_list(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("list", "value");
    (void)p;
    jv *items;
    size_t n;
    TRY(iterate_copy(c, v, &items, &n));
    struct jinja_list *l = jinja_list_new(c, JL_LIST, 0);
    if (!l) return ERR_NOMEM;
    l->items = items;
    l->len = l->cap = n;
    *out = jv_listv(l);
    return 0;
}

static int f_first(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("first", "seq");
    (void)p;
    if (v.type == JV_LIST && v.u.l->kind == JL_GEN) {
        struct jinja_list *l = v.u.l;
        if (l->pos < l->len) *out = l->items[l->pos++];
        else if (l->pending) return jinja_gen_raise(c, l);
        else *out = jinja_undef_hint(c, JU_HINT, "No first item, sequence was empty.");
        return 0;
    }
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    *out = n ? items[0] : jinja_undef_hint(c, JU_HINT, "No first item, sequence was empty.");
    return 0;
}

static int f_last(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("last", "seq");
    (void)p;
    if (v.type == JV_LIST && v.u.l->kind == JL_GEN)
        return jinja_fail(c, "TypeError", "'generator' object is not reversible");
    if (v.type != JV_LIST && v.type != JV_DICT && v.type != JV_STR && v.type != JV_UNDEF)
        return jinja_fail(c, "TypeError", "'%s' object is not reversible", jinja_type_name(v));
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    *out = n ? items[n - 1] : jinja_undef_hint(c, JU_HINT, "No last item, sequence was empty.");
    return 0;
}

static int f_reverse(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("reverse", "value");
    (void)p;
    if (v.type == JV_STR) return jinja_slice(c, v, jv_none(), jv_none(), jv_int(-1), out);
    bool to_list = v.type == JV_LIST && v.u.l->kind == JL_GEN; /* list(value); rv.reverse() */
    if (v.type != JV_LIST && v.type != JV_DICT && v.type != JV_UNDEF)
        return jinja_fail(c, "FilterArgumentError", "argument must be iterable");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    struct jinja_list *l = jinja_list_new(c, to_list ? JL_LIST : JL_GEN, n);
    if (!l) return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) l->items[i] = items[n - 1 - i];
    l->len = n;
    *out = jv_listv(l);
    return 0;
}

static int f_join(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("join", "value", "d", "attribute");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    struct attr_path path;
    TRY(attr_path_make(c, given(p[2]) ? p[2] : jv_none(), &path));
    struct jinja_buf sep = {0}, b = {0};
    if (given(p[1])) TRY(jinja_write_str(c, &sep, p[1]));
    for (size_t i = 0; i < n; i++) {
        jv it = items[i];
        if (path.n) TRY(attr_get(c, &path, it, jv_missing(), &it));
        if (i) TRY(jinja_buf_put(c, &b, sep.p, sep.len));
        TRY(jinja_write_str(c, &b, it));
    }
    return jinja_str_from_buf(c, &b, out);
}

static int f_default(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("default", "value", "default_value", "boolean");
    jv dflt;
    if (given(p[1])) dflt = p[1];
    else TRY(jinja_make_str(c, "", 0, &dflt));
    bool boolean = given(p[2]) && jinja_truthy(p[2]);
    *out = (v.type == JV_UNDEF || (boolean && !jinja_truthy(v))) ? dflt : v;
    return 0;
}

/* Python generator filters compute lazily: an error surfaces only when the
 * result is consumed. gen_run computes eagerly into a JL_GEN and, on an
 * ordinary error, keeps the items made so far plus the error as pending. */
typedef int (*gen_body_fn)(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res);

static int gen_run(struct jinja_ctx *c, gen_body_fn body, jv v, const struct jinja_callargs *a, jv *out) {
    struct jinja_list *res = jinja_list_new(c, JL_GEN, 0);
    if (!res) return ERR_NOMEM;
    int rc = body(c, v, a, res);
    if (rc) {
        if (rc != ERR_INVALID || c->fatal) return rc;
        size_t n = strlen(c->err->msg);
        char *msg = jinja_alloc(c, n + 1);
        if (!msg) return ERR_NOMEM;
        memcpy(msg, c->err->msg, n + 1);
        res->pending = msg;
        c->err->msg[0] = 0;
    }
    res->kind = JL_GEN;
    *out = jv_listv(res);
    return 0;
}

static int items_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    BIND("items", "value");
    (void)p;
    if (v.type == JV_UNDEF) return 0;
    if (v.type != JV_DICT) return jinja_fail(c, "TypeError", "Can only get item pairs from a mapping.");
    jv view;
    TRY(jinja_dict_items(c, v.u.d, JL_ITEMS, &view));
    for (size_t i = 0; i < view.u.l->len; i++) TRY(jinja_list_push(c, res, view.u.l->items[i]));
    return 0;
}

static int f_items(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, items_body, v, a, out);
}

struct sort_key {
    jv item;
    jv *keys; /* one per attribute part list */
};

struct key_cmp {
    size_t nkeys;
    bool reverse;
    bool wrapped; /* keys are compared as lists (sort / unique), not bare (dictsort) */
};

static int keys_less(struct jinja_ctx *c, const jv *ka, const jv *kb, size_t n, bool *out) {
    for (size_t i = 0; i < n; i++) {
        bool e;
        TRY(jinja_eq(c, ka[i], kb[i], &e));
        if (!e) return jinja_order(c, ka[i], kb[i], JC_LT, out);
    }
    *out = false;
    return 0;
}

/* Items are int indexes into a struct sort_key array passed via ud. */
struct sort_ud {
    const struct sort_key *sk;
    struct key_cmp kc;
};

static int sk_less(struct jinja_ctx *c, void *ud, jv a, jv b, bool *out) {
    const struct sort_ud *u = ud;
    const struct sort_key *x = &u->sk[a.u.i], *y = &u->sk[b.u.i];
    if (u->kc.reverse) {
        const struct sort_key *t = x;
        x = y;
        y = t;
    }
    if (!u->kc.wrapped) return jinja_order(c, x->keys[0], y->keys[0], JC_LT, out);
    return keys_less(c, x->keys, y->keys, u->kc.nkeys, out);
}

/* attribute spec "a,b.c" -> several paths (make_multi_attrgetter). */
static int multi_paths(struct jinja_ctx *c, jv attr, struct attr_path **paths, size_t *n) {
    if (attr.type == JV_STR) {
        size_t cnt = 1;
        for (size_t i = 0; i < attr.u.s->len; i++) cnt += attr.u.s->data[i] == ',';
        *paths = jinja_alloc(c, cnt * sizeof **paths);
        if (!*paths) return ERR_NOMEM;
        size_t start = 0, k = 0;
        for (size_t i = 0; i <= attr.u.s->len; i++) {
            if (i < attr.u.s->len && attr.u.s->data[i] != ',') continue;
            jv part;
            TRY(jinja_make_str(c, attr.u.s->data + start, i - start, &part));
            TRY(attr_path_make(c, part, &(*paths)[k++]));
            start = i + 1;
        }
        *n = cnt;
        return 0;
    }
    *paths = jinja_alloc(c, sizeof **paths);
    if (!*paths) return ERR_NOMEM;
    TRY(attr_path_make(c, attr, &(*paths)[0]));
    *n = 1;
    return 0;
}

static int build_keys(struct jinja_ctx *c, jv *items, size_t n, const struct attr_path *paths, size_t np,
                      bool lower, struct sort_key **out) {
    struct sort_key *sk = jinja_alloc(c, (n + 1) * sizeof *sk);
    if (!sk) return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        sk[i].item = items[i];
        sk[i].keys = jinja_alloc(c, np * sizeof(jv));
        if (!sk[i].keys) return ERR_NOMEM;
        for (size_t k = 0; k < np; k++) {
            jv key;
            TRY(attr_get(c, &paths[k], items[i], jv_missing(), &key));
            if (lower) TRY(lower_if_str(c, key, &key));
            sk[i].keys[k] = key;
        }
    }
    *out = sk;
    return 0;
}

static int sort_items(struct jinja_ctx *c, struct sort_key *sk, size_t n, struct key_cmp kc, jv *order) {
    for (size_t i = 0; i < n; i++) order[i] = jv_int((int64_t)i);
    struct sort_ud ud = {sk, kc};
    return jinja_sort(c, order, n, sk_less, &ud);
}

static int f_sort(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("sort", "value", "reverse", "case_sensitive", "attribute");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    struct attr_path *paths;
    size_t np;
    TRY(multi_paths(c, given(p[3]) ? p[3] : jv_none(), &paths, &np));
    struct sort_key *sk;
    TRY(build_keys(c, items, n, paths, np, !(given(p[2]) && jinja_truthy(p[2])), &sk));
    jv *order = jinja_alloc(c, (n + 1) * sizeof(jv));
    if (!order) return ERR_NOMEM;
    struct key_cmp kc = {np, given(p[1]) && jinja_truthy(p[1]), true};
    TRY(sort_items(c, sk, n, kc, order));
    struct jinja_list *l = jinja_list_new(c, JL_LIST, n);
    if (!l) return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) l->items[i] = sk[order[i].u.i].item;
    l->len = n;
    *out = jv_listv(l);
    return 0;
}

static int f_dictsort(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("dictsort", "value", "case_sensitive", "by", "reverse");
    if (v.type == JV_UNDEF) return jinja_undef_error(c, v);
    if (v.type != JV_DICT) return jinja_fail(c, "AttributeError", "'%s' object has no attribute 'items'", jinja_type_name(v));
    int pos = 0;
    if (given(p[2])) {
        if (p[2].type == JV_STR && !strcmp(p[2].u.s->data, "value")) pos = 1;
        else if (!(p[2].type == JV_STR && !strcmp(p[2].u.s->data, "key")))
            return jinja_fail(c, "FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
    }
    const struct jinja_dict *d = v.u.d;
    size_t n = d->len;
    struct sort_key *sk = jinja_alloc(c, (n + 1) * sizeof *sk);
    jv *order = jinja_alloc(c, (n + 1) * sizeof(jv));
    if (!sk || !order) return ERR_NOMEM;
    bool lower = !(given(p[1]) && jinja_truthy(p[1]));
    for (size_t i = 0; i < n; i++) {
        struct jinja_list *t = jinja_list_new(c, JL_TUPLE, 2);
        sk[i].keys = jinja_alloc(c, sizeof(jv));
        if (!t || !sk[i].keys) return ERR_NOMEM;
        t->items[0] = d->keys[i];
        t->items[1] = d->vals[i];
        t->len = 2;
        sk[i].item = jv_listv(t);
        jv key = pos ? d->vals[i] : d->keys[i];
        if (lower) TRY(lower_if_str(c, key, &key));
        sk[i].keys[0] = key;
    }
    struct key_cmp kc = {1, given(p[3]) && jinja_truthy(p[3]), false};
    TRY(sort_items(c, sk, n, kc, order));
    struct jinja_list *l = jinja_list_new(c, JL_LIST, n);
    if (!l) return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) l->items[i] = sk[order[i].u.i].item;
    l->len = n;
    *out = jv_listv(l);
    return 0;
}

static int unique_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    BIND("unique", "value", "case_sensitive", "attribute");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    struct attr_path path;
    TRY(attr_path_make(c, given(p[2]) ? p[2] : jv_none(), &path));
    bool lower = !(given(p[1]) && jinja_truthy(p[1]));
    struct jinja_dict *seen = jinja_dict_new(c, 0);
    if (!seen) return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        jv key;
        TRY(attr_get(c, &path, items[i], jv_missing(), &key));
        if (lower) TRY(lower_if_str(c, key, &key));
        jv tmp;
        int r = jinja_dict_get(c, seen, key, &tmp);
        if (r < 0) return r;
        if (r == 0) {
            TRY(jinja_dict_set(c, seen, key, jv_none()));
            TRY(jinja_list_push(c, res, items[i]));
        }
    }
    return 0;
}

static int f_unique(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, unique_body, v, a, out);
}

static int min_max(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, bool is_max, jv *out) {
    BIND(is_max ? "max" : "min", "value", "case_sensitive", "attribute");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    if (!n) {
        *out = jinja_undef_hint(c, JU_HINT, "No aggregated item, sequence was empty.");
        return 0;
    }
    struct attr_path path;
    TRY(attr_path_make(c, given(p[2]) ? p[2] : jv_none(), &path));
    bool lower = !(given(p[1]) && jinja_truthy(p[1]));
    jv best = items[0], bkey;
    TRY(attr_get(c, &path, best, jv_missing(), &bkey));
    if (lower) TRY(lower_if_str(c, bkey, &bkey));
    for (size_t i = 1; i < n; i++) {
        jv key;
        TRY(attr_get(c, &path, items[i], jv_missing(), &key));
        if (lower) TRY(lower_if_str(c, key, &key));
        bool better;
        TRY(jinja_order(c, key, bkey, is_max ? JC_GT : JC_LT, &better));
        if (better) best = items[i], bkey = key;
    }
    *out = best;
    return 0;
}

static int f_min(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) { return min_max(c, v, a, false, out); }
static int f_max(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) { return min_max(c, v, a, true, out); }

static int f_sum(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("sum", "iterable", "attribute", "start");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    struct attr_path path;
    TRY(attr_path_make(c, given(p[1]) ? p[1] : jv_none(), &path));
    jv acc = given(p[2]) ? p[2] : jv_int(0);
    if (acc.type == JV_STR) return jinja_fail(c, "TypeError", "sum() can't sum strings [use ''.join(seq) instead]");
    for (size_t i = 0; i < n; i++) {
        jv it;
        TRY(attr_get(c, &path, items[i], jv_missing(), &it));
        TRY(jinja_binop(c, JB_ADD, acc, it, &acc));
    }
    *out = acc;
    return 0;
}

static int batch_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    BIND("batch", "value", "linecount", "fill_with");
    if (!given(p[1])) return jinja_fail(c, "TypeError", "do_batch() missing 1 required positional argument: 'linecount'");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    struct jinja_list *tmp = jinja_list_new(c, JL_LIST, 0);
    if (!tmp) return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        bool full;
        TRY(jinja_eq(c, jv_int((int64_t)tmp->len), p[1], &full));
        if (full) {
            TRY(jinja_list_push(c, res, jv_listv(tmp)));
            tmp = jinja_list_new(c, JL_LIST, 0);
            if (!tmp) return ERR_NOMEM;
        }
        TRY(jinja_list_push(c, tmp, items[i]));
    }
    if (tmp->len) {
        if (given(p[2]) && p[2].type != JV_NONE) {
            if (!jv_is_intlike(p[1])) return jinja_fail(c, "TypeError", "'<' not supported");
            while ((int64_t)tmp->len < jv_as_int(p[1])) TRY(jinja_list_push(c, tmp, p[2]));
        }
        TRY(jinja_list_push(c, res, jv_listv(tmp)));
    }
    return 0;
}

static int f_batch(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, batch_body, v, a, out);
}

static int slice_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    BIND("slice", "value", "slices", "fill_with");
    if (!given(p[1]) || !jv_is_intlike(p[1])) return jinja_fail(c, "TypeError", "slice needs an int 'slices'");
    int64_t slices = jv_as_int(p[1]);
    if (slices == 0) return jinja_fail(c, "ZeroDivisionError", "integer division or modulo by zero");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    int64_t len = (int64_t)n, per = len / slices, extra = len % slices;
    if (per < 0 || extra < 0) { /* Python floor semantics for negative slices */
        per = (int64_t)floor((double)len / (double)slices);
        extra = len - per * slices;
    }
    int64_t offset = 0;
    for (int64_t s = 0; s < slices; s++) {
        TRY(jinja_step(c));
        int64_t start = offset + s * per;
        if (s < extra) offset++;
        int64_t end = offset + (s + 1) * per;
        struct jinja_list *t = jinja_list_new(c, JL_LIST, 0);
        if (!t) return ERR_NOMEM;
        for (int64_t i = start < 0 ? 0 : start; i < end && i < len; i++) TRY(jinja_list_push(c, t, items[i]));
        if (given(p[2]) && p[2].type != JV_NONE && s >= extra) TRY(jinja_list_push(c, t, p[2]));
        TRY(jinja_list_push(c, res, jv_listv(t)));
    }
    return 0;
}

static int f_slice(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, slice_body, v, a, out);
}

static int f_groupby(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("groupby", "value", "attribute", "default", "case_sensitive");
    if (!given(p[1])) return jinja_fail(c, "TypeError", "groupby() missing 1 required positional argument: 'attribute'");
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    struct attr_path path;
    TRY(attr_path_make(c, p[1], &path));
    jv dflt = given(p[2]) ? p[2] : jv_none();
    bool lower = !(given(p[3]) && jinja_truthy(p[3]));
    struct sort_key *sk = jinja_alloc(c, (n + 1) * sizeof *sk);
    jv *order = jinja_alloc(c, (n + 1) * sizeof(jv));
    if (!sk || !order) return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        sk[i].item = items[i];
        sk[i].keys = jinja_alloc(c, sizeof(jv));
        if (!sk[i].keys) return ERR_NOMEM;
        jv key;
        TRY(attr_get(c, &path, items[i], dflt, &key));
        if (lower) TRY(lower_if_str(c, key, &key));
        sk[i].keys[0] = key;
    }
    struct key_cmp kc = {1, false, false};
    TRY(sort_items(c, sk, n, kc, order));
    struct jinja_list *res = jinja_list_new(c, JL_LIST, 0);
    if (!res) return ERR_NOMEM;
    for (size_t i = 0; i < n;) {
        const struct sort_key *first = &sk[order[i].u.i];
        struct jinja_list *grp = jinja_list_new(c, JL_LIST, 0);
        if (!grp) return ERR_NOMEM;
        size_t j = i;
        while (j < n) {
            bool e;
            TRY(jinja_eq(c, sk[order[j].u.i].keys[0], first->keys[0], &e));
            if (!e) break;
            TRY(jinja_list_push(c, grp, sk[order[j].u.i].item));
            j++;
        }
        jv grouper = first->keys[0];
        if (lower) TRY(attr_get(c, &path, grp->items[0], dflt, &grouper));
        struct jinja_list *t = jinja_list_new(c, JL_GROUP, 2);
        if (!t) return ERR_NOMEM;
        t->items[0] = grouper;
        t->items[1] = jv_listv(grp);
        t->len = 2;
        TRY(jinja_list_push(c, res, jv_listv(t)));
        i = j;
    }
    *out = jv_listv(res);
    return 0;
}

static int f_attr(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    BIND("attr", "obj", "name");
    if (!given(p[1]) || p[1].type != JV_STR) return jinja_fail(c, "TypeError", "attribute name must be string");
    if (v.type == JV_UNDEF) return jinja_undef_error(c, v);
    if (v.type == JV_DICT) {
        /* only real attributes (methods), never items */
        jv probe = jv_dictv(jinja_dict_new(c, 0));
        if (!probe.u.d) return ERR_NOMEM;
        TRY(jinja_getattr(c, probe, p[1].u.s->data, p[1].u.s->len, out));
        if (out->type == JV_FUNC) out->u.fn->self = v;
        return 0;
    }
    return jinja_getattr(c, v, p[1].u.s->data, p[1].u.s->len, out);
}

/* map / select / reject / selectattr / rejectattr */
static int map_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    if (!jinja_truthy(v)) return 0;
    jv *items;
    size_t n;
    jv attr = jv_missing(), dflt = jv_none();
    bool by_attr = false;
    if (a->n_pos == 0) {
        for (size_t k = 0; k < a->n_kw; k++) {
            const struct jinja_str *kn = a->kw_names[k];
            if (kn->len == 9 && !memcmp(kn->data, "attribute", 9)) attr = a->kw_vals[k], by_attr = true;
            else if (kn->len == 7 && !memcmp(kn->data, "default", 7)) dflt = a->kw_vals[k];
        }
        if (by_attr)
            for (size_t k = 0; k < a->n_kw; k++) {
                const struct jinja_str *kn = a->kw_names[k];
                if (!(kn->len == 9 && !memcmp(kn->data, "attribute", 9)) && !(kn->len == 7 && !memcmp(kn->data, "default", 7)))
                    return jinja_fail(c, "FilterArgumentError", "Unexpected keyword argument '%s'", kn->data);
            }
    }
    if (!by_attr && a->n_pos == 0) return jinja_fail(c, "FilterArgumentError", "map requires a filter argument");
    TRY(jinja_iterate(c, v, &items, &n));
    struct attr_path path;
    if (by_attr) TRY(attr_path_make(c, attr, &path));
    struct jinja_callargs rest = *a;
    if (!by_attr) {
        rest.pos = a->pos + 1;
        rest.n_pos = a->n_pos - 1;
    }
    for (size_t i = 0; i < n; i++) {
        TRY(jinja_step(c));
        jv r;
        if (by_attr) TRY(attr_get(c, &path, items[i], dflt, &r));
        else TRY(jinja_call_filter_named(c, a->pos[0], items[i], &rest, &r));
        TRY(jinja_list_push(c, res, r));
    }
    return 0;
}

static int f_map(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, map_body, v, a, out);
}

static int select_reject(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, bool want, bool by_attr,
                         struct jinja_list *res) {
    if (!jinja_truthy(v)) return 0;
    size_t off = by_attr ? 1 : 0;
    struct attr_path path = {0};
    if (by_attr) {
        if (a->n_pos < 1) return jinja_fail(c, "FilterArgumentError", "Missing parameter for attribute name");
        TRY(attr_path_make(c, a->pos[0], &path));
    }
    bool has_test = a->n_pos > off;
    struct jinja_callargs rest = *a;
    if (has_test) {
        rest.pos = a->pos + off + 1;
        rest.n_pos = a->n_pos - off - 1;
    }
    jv *items;
    size_t n;
    TRY(jinja_iterate(c, v, &items, &n));
    for (size_t i = 0; i < n; i++) {
        TRY(jinja_step(c));
        jv x = items[i];
        if (by_attr) TRY(attr_get(c, &path, x, jv_missing(), &x));
        bool t;
        if (has_test) TRY(jinja_call_test_named(c, a->pos[off], x, &rest, &t));
        else t = jinja_truthy(x);
        if (t == want) TRY(jinja_list_push(c, res, items[i]));
    }
    return 0;
}

static int select_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    return select_reject(c, v, a, true, false, res);
}
static int f_select(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, select_body, v, a, out);
}
static int reject_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    return select_reject(c, v, a, false, false, res);
}
static int f_reject(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, reject_body, v, a, out);
}
static int selectattr_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    return select_reject(c, v, a, true, true, res);
}
static int f_selectattr(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, selectattr_body, v, a, out);
}
static int rejectattr_body(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, struct jinja_list *res) {
    return select_reject(c, v, a, false, true, res);
}
static int f_rejectattr(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    return gen_run(c, rejectattr_body, v, a, out);
}

static int f_unsupported(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out) {
    (void)v;
    (void)a;
    (void)out;
    return jinja_fail(c, "NotImplementedError", "this filter is not supported by sgl-c's chat templates");
}

struct filter_def {
    const char *name;
    jinja_filter_fn fn;
};

static const struct filter_def g_filters[] = {
    {"abs", f_abs},           {"attr", f_attr},
    {"batch", f_batch},       {"capitalize", f_capitalize},
    {"center", f_center},     {"count", f_length},
    {"d", f_default},         {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape},
    {"escape", f_escape},     {"filesizeformat", f_filesizeformat},
    {"first", f_first},       {"float", f_float},
    {"forceescape", f_forceescape}, {"format", f_format},
    {"groupby", f_groupby},   {"indent", f_indent},
    {"int", f_int},           {"items", f_items},
    {"join", f_join},         {"last", f_last},
    {"length", f_length},     {"list", f_list},
    {"lower", f_lower},       {"map", f_map},
    {"max", f_max},           {"min", f_min},
    {"pprint", f_unsupported}, {"random", f_unsupported},
    {"reject", f_reject},     {"rejectattr", f_rejectattr},
    {"replace", f_replace},   {"reverse", f_reverse},
    {"round", f_round},       {"safe", f_safe},
    {"select", f_select},     {"selectattr", f_selectattr},
    {"slice", f_slice},       {"sort", f_sort},
    {"string", f_string},     {"striptags", f_striptags},
    {"sum", f_sum},           {"title", f_title},
    {"tojson", f_tojson},     {"trim", f_trim},
    {"truncate", f_truncate}, {"unique", f_unique},
    {"upper", f_upper},       {"urlencode", f_unsupported},
    {"urlize", f_unsupported}, {"wordcount", f_wordcount},
    {"wordwrap", f_unsupported}, {"xmlattr", f_xmlattr},
};

int jinja_filter_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof g_filters / sizeof g_filters[0]; i++)
        if (strlen(g_filters[i].name) == len && !memcmp(g_filters[i].name, name, len)) return (int)i;
    return -1;
}

const char *jinja_filter_name(int idx) { return g_filters[idx].name; }

int jinja_call_filter(struct jinja_ctx *c, int idx, jv v, const struct jinja_callargs *a, jv *out) {
    TRY(jinja_step(c));
    return g_filters[idx].fn(c, v, a, out);
}

int jinja_call_filter_named(struct jinja_ctx *c, jv name, jv v, const struct jinja_callargs *a, jv *out) {
    if (name.type != JV_STR) return jinja_fail(c, "TemplateRuntimeError", "filter name must be a string");
    int idx = jinja_filter_find(name.u.s->data, name.u.s->len);
    if (idx < 0) return jinja_fail(c, "TemplateRuntimeError", "No filter named '%s' found.", name.u.s->data);
    return jinja_call_filter(c, idx, v, a, out);
}

/* ------------------------------------------------------------ tests */

static int t_one_arg(struct jinja_ctx *c, const char *what, const struct jinja_callargs *a, jv *arg) {
    static const char *const names[] = {"other"};
    TRY(jinja_bind(c, what, a, names, 1, arg));
    if (!given(*arg)) return jinja_fail(c, "TypeError", "%s() missing 1 required positional argument", what);
    return 0;
}

static int t_no_arg(struct jinja_ctx *c, const char *what, const struct jinja_callargs *a) {
    if (a->n_pos || a->n_kw) return jinja_fail(c, "TypeError", "%s() takes 1 positional argument", what);
    return 0;
}

enum {
    T_BOOLEAN, T_CALLABLE, T_DEFINED, T_DIVISIBLEBY, T_EQ, T_ESCAPED, T_EVEN, T_FALSE, T_FILTER, T_FLOAT, T_GE, T_GT,
    T_IN, T_INTEGER, T_ITERABLE, T_LE, T_LOWER, T_LT, T_MAPPING, T_NE, T_NONE, T_NUMBER, T_ODD, T_SAMEAS,
    T_SEQUENCE, T_STRING, T_TEST, T_TRUE, T_UNDEFINED, T_UPPER,
};

static const struct {
    const char *name;
    int id;
} g_tests[] = {
    {"boolean", T_BOOLEAN}, {"callable", T_CALLABLE}, {"defined", T_DEFINED}, {"divisibleby", T_DIVISIBLEBY},
    {"eq", T_EQ},           {"equalto", T_EQ},       {"==", T_EQ},          {"escaped", T_ESCAPED},
    {"even", T_EVEN},       {"false", T_FALSE},      {"filter", T_FILTER},  {"float", T_FLOAT},
    {"ge", T_GE},           {">=", T_GE},            {"gt", T_GT},          {"greaterthan", T_GT},
    {">", T_GT},            {"in", T_IN},            {"integer", T_INTEGER}, {"iterable", T_ITERABLE},
    {"le", T_LE},           {"<=", T_LE},            {"lower", T_LOWER},    {"lt", T_LT},
    {"lessthan", T_LT},     {"<", T_LT},             {"mapping", T_MAPPING}, {"ne", T_NE},
    {"!=", T_NE},           {"none", T_NONE},        {"number", T_NUMBER},  {"odd", T_ODD},
    {"sameas", T_SAMEAS},   {"sequence", T_SEQUENCE}, {"string", T_STRING}, {"test", T_TEST},
    {"true", T_TRUE},       {"undefined", T_UNDEFINED}, {"upper", T_UPPER},
};

int jinja_test_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof g_tests / sizeof g_tests[0]; i++)
        if (strlen(g_tests[i].name) == len && !memcmp(g_tests[i].name, name, len)) return (int)i;
    return -1;
}

static int mod_eq(struct jinja_ctx *c, jv v, jv m, int64_t want, bool *out) {
    jv r;
    TRY(jinja_binop(c, JB_MOD, v, m, &r));
    return jinja_eq(c, r, jv_int(want), out);
}

static int str_case_test(struct jinja_ctx *c, jv v, bool upper, bool *out) {
    jv s, m, r;
    TRY(jinja_to_str(c, v, &s));
    TRY(jinja_getattr(c, s, upper ? "isupper" : "islower", 7, &m));
    struct jinja_callargs none = {0};
    TRY(jinja_call_value(c, m, &none, &r));
    *out = r.u.b;
    return 0;
}

int jinja_call_test(struct jinja_ctx *c, int idx, jv v, const struct jinja_callargs *a, bool *out) {
    TRY(jinja_step(c));
    const char *nm = g_tests[idx].name;
    jv arg;
    switch (g_tests[idx].id) {
    case T_BOOLEAN: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_BOOL; return 0;
    case T_CALLABLE:
        TRY(t_no_arg(c, nm, a));
        *out = v.type == JV_FUNC || v.type == JV_LOOP || v.type == JV_UNDEF;
        return 0;
    case T_DEFINED: TRY(t_no_arg(c, nm, a)); *out = v.type != JV_UNDEF; return 0;
    case T_UNDEFINED: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_UNDEF; return 0;
    case T_DIVISIBLEBY: {
        static const char *const names[] = {"num"};
        TRY(jinja_bind(c, nm, a, names, 1, &arg));
        if (!given(arg)) return jinja_fail(c, "TypeError", "divisibleby() missing 1 required positional argument: 'num'");
        return mod_eq(c, v, arg, 0, out);
    }
    case T_EVEN: TRY(t_no_arg(c, nm, a)); return mod_eq(c, v, jv_int(2), 0, out);
    case T_ODD: TRY(t_no_arg(c, nm, a)); return mod_eq(c, v, jv_int(2), 1, out);
    case T_EQ: TRY(t_one_arg(c, nm, a, &arg)); return jinja_eq(c, v, arg, out);
    case T_NE:
        TRY(t_one_arg(c, nm, a, &arg));
        TRY(jinja_eq(c, v, arg, out));
        *out = !*out;
        return 0;
    case T_GE: TRY(t_one_arg(c, nm, a, &arg)); return jinja_order(c, v, arg, JC_GE, out);
    case T_GT: TRY(t_one_arg(c, nm, a, &arg)); return jinja_order(c, v, arg, JC_GT, out);
    case T_LE: TRY(t_one_arg(c, nm, a, &arg)); return jinja_order(c, v, arg, JC_LE, out);
    case T_LT: TRY(t_one_arg(c, nm, a, &arg)); return jinja_order(c, v, arg, JC_LT, out);
    case T_IN: TRY(t_one_arg(c, nm, a, &arg)); return jinja_contains(c, arg, v, out);
    case T_ESCAPED: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_STR && (v.flags & JV_MARKUP); return 0;
    case T_FALSE: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_BOOL && !v.u.b; return 0;
    case T_TRUE: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_BOOL && v.u.b; return 0;
    case T_NONE: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_NONE; return 0;
    case T_FLOAT: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_FLOAT; return 0;
    case T_INTEGER: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_INT; return 0;
    case T_NUMBER: TRY(t_no_arg(c, nm, a)); *out = jv_is_num(v); return 0;
    case T_STRING: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_STR; return 0;
    case T_MAPPING: TRY(t_no_arg(c, nm, a)); *out = v.type == JV_DICT; return 0;
    case T_ITERABLE:
        TRY(t_no_arg(c, nm, a));
        *out = v.type == JV_STR || v.type == JV_LIST || v.type == JV_DICT || v.type == JV_UNDEF || v.type == JV_LOOP;
        return 0;
    case T_SEQUENCE:
        TRY(t_no_arg(c, nm, a));
        *out = v.type == JV_STR || v.type == JV_DICT || v.type == JV_UNDEF ||
               (v.type == JV_LIST && (v.u.l->kind == JL_LIST || v.u.l->kind == JL_TUPLE || v.u.l->kind == JL_RANGE ||
                                      v.u.l->kind == JL_GROUP));
        return 0;
    case T_LOWER: TRY(t_no_arg(c, nm, a)); return str_case_test(c, v, false, out);
    case T_UPPER: TRY(t_no_arg(c, nm, a)); return str_case_test(c, v, true, out);
    case T_SAMEAS:
        TRY(t_one_arg(c, nm, a, &arg));
        if (v.type != arg.type) *out = false;
        else if (v.type == JV_NONE || v.type == JV_UNDEF) *out = v.type == JV_NONE || v.u.undef == arg.u.undef;
        else if (v.type == JV_BOOL) *out = v.u.b == arg.u.b;
        else if (v.type == JV_INT) *out = v.u.i == arg.u.i && v.u.i >= -5 && v.u.i <= 256;
        else if (v.type == JV_FLOAT) *out = false;
        else *out = v.u.s == arg.u.s;
        return 0;
    case T_FILTER:
    case T_TEST:
        TRY(t_no_arg(c, nm, a));
        *out = v.type == JV_STR && (g_tests[idx].id == T_FILTER ? jinja_filter_find(v.u.s->data, v.u.s->len)
                                                                 : jinja_test_find(v.u.s->data, v.u.s->len)) >= 0;
        return 0;
    default: return jinja_fail(c, "RuntimeError", "unknown test");
    }
}

int jinja_call_test_named(struct jinja_ctx *c, jv name, jv v, const struct jinja_callargs *a, bool *out) {
    if (name.type != JV_STR) return jinja_fail(c, "TemplateRuntimeError", "test name must be a string");
    int idx = jinja_test_find(name.u.s->data, name.u.s->len);
    if (idx < 0) return jinja_fail(c, "TemplateRuntimeError", "No test named '%s' found.", name.u.s->data);
    return jinja_call_test(c, idx, v, a, out);
}
