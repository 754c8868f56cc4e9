/* jinja_builtins: what templates reach through `.`, `[]`, calls and
 * operators: the sandbox's getattr/getitem rules, Python's arithmetic and
 * string operators (including printf-style `%` and str.format), the methods
 * of str / dict / list / tuple, the loop and cycler objects, and the globals
 * (range, dict, namespace, cycler, joiner, raise_exception, strftime_now).
 *
 * The environment is jinja2's ImmutableSandboxedEnvironment: attributes
 * starting with "_" and the mutating methods of dicts and of lists (append,
 * extend, insert, remove, reverse, sort) are "unsafe": reading them gives an
 * Undefined whose call raises SecurityError. list.pop and list.clear are not
 * in that set, so they work (and mutate), exactly as in Jinja2.
 *
 * Ints are 64-bit: results that Python would grow into big ints fail with an
 * OverflowError instead. Single-threaded per render. */
#define _GNU_SOURCE /* memmem */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/jinja.h"

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        int rc_ = (x);                                                                                                 \
        if (rc_) return rc_;                                                                                           \
    } while (0)

/* ------------------------------------------------------------ undefined */

static jv undef_new(struct jinja_ctx *c, struct jinja_undef *u) {
    jv v = jv_undef();
    v.u.undef = u;
    return v;
}

jv jinja_undef_attr(struct jinja_ctx *c, jv obj, const char *name, size_t len) {
    struct jinja_undef *u = jinja_alloc(c, sizeof *u);
    if (!u) return jv_undef();
    u->kind = JU_ATTR;
    u->text = name;
    u->text_len = len;
    u->obj_type = jinja_type_name(obj);
    return undef_new(c, u);
}

jv jinja_undef_elem(struct jinja_ctx *c, jv obj, jv key) {
    if (key.type == JV_STR) return jinja_undef_attr(c, obj, key.u.s->data, key.u.s->len);
    struct jinja_undef *u = jinja_alloc(c, sizeof *u);
    if (!u) return jv_undef();
    u->kind = JU_ELEM;
    u->obj_type = jinja_type_name(obj);
    u->key = key;
    return undef_new(c, u);
}

jv jinja_undef_hint(struct jinja_ctx *c, uint8_t kind, const char *hint) {
    struct jinja_undef *u = jinja_alloc(c, sizeof *u);
    if (!u) return jv_undef();
    size_t n = strlen(hint);
    char *t = jinja_alloc(c, n + 1);
    if (!t) return jv_undef();
    memcpy(t, hint, n + 1);
    u->kind = kind;
    u->text = t;
    u->text_len = n;
    return undef_new(c, u);
}

int jinja_undef_error(struct jinja_ctx *c, jv v) {
    const struct jinja_undef *u = v.u.undef;
    if (!u) return jinja_fail(c, "UndefinedError", "value is undefined");
    int n = (int)(u->text_len > 200 ? 200 : u->text_len);
    switch (u->kind) {
    case JU_NAME: return jinja_fail(c, "UndefinedError", "'%.*s' is undefined", n, u->text);
    case JU_ATTR: return jinja_fail(c, "UndefinedError", "'%s object' has no attribute '%.*s'", u->obj_type, n, u->text);
    case JU_ELEM: {
        struct jinja_buf b = {0};
        int rc = jinja_write_repr(c, &b, u->key);
        if (rc) return rc;
        return jinja_fail(c, "UndefinedError", "%s object has no element %.*s", u->obj_type, (int)(b.len > 100 ? 100 : b.len),
                          b.p);
    }
    case JU_UNSAFE: return jinja_fail(c, "SecurityError", "%.*s", n, u->text);
    default: return jinja_fail(c, "UndefinedError", "%.*s", n, u->text);
    }
}

/* ------------------------------------------------------------ arguments */

int jinja_bind(struct jinja_ctx *c, const char *what, const struct jinja_callargs *a, const char *const *names,
               size_t n_names, jv *out) {
    for (size_t i = 0; i < n_names; i++) out[i] = jv_missing();
    if (a->n_pos > n_names)
        return jinja_fail(c, "TypeError", "%s() takes at most %zu arguments (%zu given)", what, n_names, a->n_pos);
    for (size_t i = 0; i < a->n_pos; i++) out[i] = a->pos[i];
    for (size_t k = 0; k < a->n_kw; k++) {
        const struct jinja_str *kn = a->kw_names[k];
        size_t i;
        for (i = 0; i < n_names; i++)
            if (strlen(names[i]) == kn->len && !memcmp(names[i], kn->data, kn->len)) break;
        if (i == n_names)
            return jinja_fail(c, "TypeError", "%s() got an unexpected keyword argument '%s'", what, kn->data);
        if (out[i].type != JV_MISSING)
            return jinja_fail(c, "TypeError", "%s() got multiple values for argument '%s'", what, names[i]);
        out[i] = a->kw_vals[k];
    }
    return 0;
}

static int no_kwargs(struct jinja_ctx *c, const char *what, const struct jinja_callargs *a) {
    if (a->n_kw) return jinja_fail(c, "TypeError", "%s() takes no keyword arguments", what);
    return 0;
}

/* Positional-only arguments: between min and max. */
static int pos_args(struct jinja_ctx *c, const char *what, const struct jinja_callargs *a, size_t min, size_t max,
                    jv *out) {
    TRY(no_kwargs(c, what, a));
    if (a->n_pos < min || a->n_pos > max) {
        if (min == max) return jinja_fail(c, "TypeError", "%s() takes exactly %zu argument(s) (%zu given)", what, min, a->n_pos);
        return jinja_fail(c, "TypeError", "%s() takes from %zu to %zu arguments (%zu given)", what, min, max, a->n_pos);
    }
    for (size_t i = 0; i < max; i++) out[i] = i < a->n_pos ? a->pos[i] : jv_missing();
    return 0;
}

static int want_int(struct jinja_ctx *c, jv v, const char *what, int64_t *out) {
    if (v.type == JV_UNDEF) return jinja_undef_error(c, v);
    if (!jv_is_intlike(v))
        return jinja_fail(c, "TypeError", "%s: '%s' object cannot be interpreted as an integer", what, jinja_type_name(v));
    *out = jv_as_int(v);
    return 0;
}

static int want_str(struct jinja_ctx *c, jv v, const char *what) {
    if (v.type == JV_UNDEF) return jinja_undef_error(c, v);
    if (v.type != JV_STR)
        return jinja_fail(c, "TypeError", "%s: must be str, not %s", what, jinja_type_name(v));
    return 0;
}

/* ------------------------------------------------------------ methods */

enum {
    M_STR_FIRST = JM_N_SHARED,
    MS_CAPITALIZE = M_STR_FIRST,
    MS_CASEFOLD,
    MS_CENTER,
    MS_COUNT,
    MS_ENDSWITH,
    MS_FIND,
    MS_FORMAT,
    MS_INDEX,
    MS_ISALNUM,
    MS_ISALPHA,
    MS_ISASCII,
    MS_ISDECIMAL,
    MS_ISDIGIT,
    MS_ISLOWER,
    MS_ISNUMERIC,
    MS_ISSPACE,
    MS_ISTITLE,
    MS_ISUPPER,
    MS_JOIN,
    MS_LJUST,
    MS_LOWER,
    MS_LSTRIP,
    MS_PARTITION,
    MS_REMOVEPREFIX,
    MS_REMOVESUFFIX,
    MS_REPLACE,
    MS_RFIND,
    MS_RINDEX,
    MS_RJUST,
    MS_RPARTITION,
    MS_RSPLIT,
    MS_RSTRIP,
    MS_SPLIT,
    MS_SPLITLINES,
    MS_STARTSWITH,
    MS_STRIP,
    MS_SWAPCASE,
    MS_TITLE,
    MS_UPPER,
    MS_ZFILL,
    MD_GET,
    MD_ITEMS,
    MD_KEYS,
    MD_VALUES,
    MD_COPY,
    ML_COUNT,
    ML_INDEX,
    ML_COPY,
    ML_POP,
    ML_CLEAR,
    M_UNSUPPORTED, /* a real Python method we do not implement */
};

struct method_def {
    const char *name;
    uint8_t len;
    int id;
    bool unsafe; /* modifies a known mutable: the sandbox refuses it */
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct method_def g_str_methods[] = {
    {"capitalize", 10, MS_CAPITALIZE, false},
    {"casefold", 8, MS_CASEFOLD, false},
    {"center", 6, MS_CENTER, false},
    {"count", 5, MS_COUNT, false},
    {"encode", 6, M_UNSUPPORTED, false},
    {"endswith", 8, MS_ENDSWITH, false},
    {"expandtabs", 10, M_UNSUPPORTED, false},
    {"find", 4, MS_FIND, false},
    {"format", 6, MS_FORMAT, false},
    {"format_map", 10, M_UNSUPPORTED, false},
    {"index", 5, MS_INDEX, false},
    {"isalnum", 7, MS_ISALNUM, false},
    {"isalpha", 7, MS_ISALPHA, false},
    {"isascii", 7, MS_ISASCII, false},
    {"isdecimal", 9, MS_ISDECIMAL, false},
    {"isdigit", 7, MS_ISDIGIT, false},
    {"isidentifier", 12, M_UNSUPPORTED, false},
    {"islower", 7, MS_ISLOWER, false},
    {"isnumeric", 9, MS_ISNUMERIC, false},
    {"isprintable", 11, M_UNSUPPORTED, false},
    {"isspace", 7, MS_ISSPACE, false},
    {"istitle", 7, MS_ISTITLE, false},
    {"isupper", 7, MS_ISUPPER, false},
    {"join", 4, MS_JOIN, false},
    {"ljust", 5, MS_LJUST, false},
    {"lower", 5, MS_LOWER, false},
    {"lstrip", 6, MS_LSTRIP, false},
    {"maketrans", 9, M_UNSUPPORTED, false},
    {"partition", 9, MS_PARTITION, false},
    {"removeprefix", 12, MS_REMOVEPREFIX, false},
    {"removesuffix", 12, MS_REMOVESUFFIX, false},
    {"replace", 7, MS_REPLACE, false},
    {"rfind", 5, MS_RFIND, false},
    {"rindex", 6, MS_RINDEX, false},
    {"rjust", 5, MS_RJUST, false},
    {"rpartition", 10, MS_RPARTITION, false},
    {"rsplit", 6, MS_RSPLIT, false},
    {"rstrip", 6, MS_RSTRIP, false},
    {"split", 5, MS_SPLIT, false},
    {"splitlines", 10, MS_SPLITLINES, false},
    {"startswith", 10, MS_STARTSWITH, false},
    {"strip", 5, MS_STRIP, false},
    {"swapcase", 8, MS_SWAPCASE, false},
    {"title", 5, MS_TITLE, false},
    {"translate", 9, M_UNSUPPORTED, false},
    {"upper", 5, MS_UPPER, false},
    {"zfill", 5, MS_ZFILL, false},
};
static const struct method_def g_dict_methods[] = {
    {"clear", 5, 0, true},
    {"copy", 4, MD_COPY, false},
    {"fromkeys", 8, M_UNSUPPORTED, false},
    {"get", 3, MD_GET, false},
    {"items", 5, MD_ITEMS, false},
    {"keys", 4, MD_KEYS, false},
    {"pop", 3, 0, true},
    {"popitem", 7, 0, true},
    {"setdefault", 10, 0, true},
    {"update", 6, 0, true},
    {"values", 6, MD_VALUES, false},
};
static const struct method_def g_list_methods[] = {
    {"append", 6, 0, true},
    {"clear", 5, ML_CLEAR, false},
    {"copy", 4, ML_COPY, false},
    {"count", 5, ML_COUNT, false},
    {"extend", 6, 0, true},
    {"index", 5, ML_INDEX, false},
    {"insert", 6, 0, true},
    {"pop", 3, ML_POP, false},
    {"remove", 6, 0, true},
    {"reverse", 7, 0, true},
    {"sort", 4, 0, true},
};
static const struct method_def g_tuple_methods[] = {
    {"count", 5, ML_COUNT, false},
    {"index", 5, ML_INDEX, false},
};

static const char *method_name(int id) {
    const struct method_def *tabs[] = {g_str_methods, g_dict_methods, g_list_methods, g_tuple_methods};
    const size_t lens[] = {N_OF(g_str_methods), N_OF(g_dict_methods), N_OF(g_list_methods), N_OF(g_tuple_methods)};
    for (size_t t = 0; t < 4; t++)
        for (size_t i = 0; i < lens[t]; i++)
            if (tabs[t][i].id == id) return tabs[t][i].name;
    return "method";
}

int jinja_make_method(struct jinja_ctx *c, jv self, int id, jv *out) {
    struct jinja_func *fn = jinja_alloc(c, sizeof *fn);
    if (!fn) return ERR_NOMEM;
    fn->kind = JF_METHOD;
    fn->id = id;
    fn->self = self;
    *out = (jv){0};
    out->type = JV_FUNC;
    out->u.fn = fn;
    return 0;
}

static int unsafe_attr(struct jinja_ctx *c, jv obj, const char *name, size_t len, jv *out) {
    char hint[200];
    snprintf(hint, sizeof hint, "access to attribute '%.*s' of '%s' object is unsafe.", (int)(len > 80 ? 80 : len),
             name, jinja_type_name(obj));
    *out = jinja_undef_hint(c, JU_UNSAFE, hint);
    return 0;
}

/* Python attribute lookup only (no items). Returns 1 if found, 0 if not. */
static int attr_lookup(struct jinja_ctx *c, jv obj, const char *name, size_t len, jv *out) {
    if (len >= 1 && name[0] == '_') {
        /* private / dunder attributes: never exposed by the sandbox */
        if (len >= 2 && name[1] == '_') return unsafe_attr(c, obj, name, len, out) ? -1 : 1;
        if (obj.type == JV_NS) {
            if (jinja_dict_get_str(obj.u.d, name, len, out)) return unsafe_attr(c, obj, name, len, out) ? -1 : 1;
        }
        return 0;
    }
    uint8_t on = 0;
    switch (obj.type) {
    case JV_STR: on = 's'; break;
    case JV_DICT: on = 'd'; break;
    case JV_LIST:
        if (obj.u.l->kind == JL_LIST) on = 'l';
        else if (obj.u.l->kind == JL_TUPLE || obj.u.l->kind == JL_GROUP || obj.u.l->kind == JL_RANGE) on = 't';
        if (obj.u.l->kind == JL_GROUP) {
            if (len == 7 && !memcmp(name, "grouper", 7)) {
                *out = obj.u.l->items[0];
                return 1;
            }
            if (len == 4 && !memcmp(name, "list", 4)) {
                *out = obj.u.l->items[1];
                return 1;
            }
        }
        if (obj.u.l->kind == JL_RANGE) {
            int64_t v = 0;
            bool hit = true;
            if (len == 5 && !memcmp(name, "start", 5)) v = obj.u.l->r_start;
            else if (len == 4 && !memcmp(name, "stop", 4)) v = obj.u.l->r_stop;
            else if (len == 4 && !memcmp(name, "step", 4)) v = obj.u.l->r_step;
            else hit = false;
            if (hit) {
                *out = jv_int(v);
                return 1;
            }
        }
        break;
    case JV_NS: return jinja_dict_get_str(obj.u.d, name, len, out) ? 1 : 0;
    case JV_LOOP: {
        int rc = jinja_loop_getattr(c, obj.u.loop, name, len, out);
        if (rc) return rc;
        return out->type == JV_UNDEF && out->u.undef && out->u.undef->kind == JU_ATTR ? 0 : 1;
    }
    case JV_CYCLER: {
        const struct jinja_cycler *cy = obj.u.cyc;
        if (len == 4 && !memcmp(name, "next", 4)) return jinja_make_method(c, obj, JM_CYCLER_NEXT, out) ? -1 : 1;
        if (len == 5 && !memcmp(name, "reset", 5)) return jinja_make_method(c, obj, JM_CYCLER_RESET, out) ? -1 : 1;
        if (len == 7 && !memcmp(name, "current", 7)) {
            *out = cy->items[cy->pos];
            return 1;
        }
        if (len == 3 && !memcmp(name, "pos", 3)) {
            *out = jv_int((int64_t)cy->pos);
            return 1;
        }
        if (len == 5 && !memcmp(name, "items", 5)) {
            struct jinja_list *t = jinja_list_new(c, JL_TUPLE, cy->n);
            if (!t) return ERR_NOMEM;
            for (size_t i = 0; i < cy->n; i++) t->items[i] = cy->items[i];
            t->len = cy->n;
            *out = jv_listv(t);
            return 1;
        }
        return 0;
    }
    default: return 0;
    }
    if (!on) return 0;
    const struct method_def *tab = on == 's' ? g_str_methods : on == 'd' ? g_dict_methods : on == 'l' ? g_list_methods
                                                                                                      : g_tuple_methods;
    size_t n_tab = on == 's'   ? N_OF(g_str_methods)
                   : on == 'd' ? N_OF(g_dict_methods)
                   : on == 'l' ? N_OF(g_list_methods)
                               : N_OF(g_tuple_methods);
    for (size_t i = 0; i < n_tab; i++) {
        const struct method_def *m = &tab[i];
        if (m->len != len || memcmp(m->name, name, len)) continue;
        if (m->unsafe) return unsafe_attr(c, obj, name, len, out) ? -1 : 1;
        return jinja_make_method(c, obj, m->id, out) ? -1 : 1;
    }
    return 0;
}

int jinja_getattr(struct jinja_ctx *c, jv obj, const char *name, size_t len, jv *out) {
    if (obj.type == JV_UNDEF) return jinja_undef_error(c, obj);
    int r = attr_lookup(c, obj, name, len, out);
    if (r < 0) return r;
    if (r == 1) return 0;
    /* then obj[name] */
    if (obj.type == JV_DICT && jinja_dict_get_str(obj.u.d, name, len, out)) return 0;
    *out = jinja_undef_attr(c, obj, name, len);
    return 0;
}

static bool hashable(jv v) {
    if (v.type == JV_DICT) return false;
    if (v.type != JV_LIST) return true;
    uint8_t k = v.u.l->kind;
    if (k == JL_GEN) return true;
    if (k != JL_TUPLE && k != JL_GROUP && k != JL_RANGE) return false;
    for (size_t i = 0; i < v.u.l->len; i++)
        if (!hashable(v.u.l->items[i])) return false;
    return true;
}

/* A Python index (int or bool, negative from the end) into n items. */
static bool seq_index(jv key, size_t n, int64_t *idx) {
    if (!jv_is_intlike(key)) return false;
    int64_t i = jv_as_int(key);
    if (i < 0) i += (int64_t)n;
    if (i < 0 || i >= (int64_t)n) return false;
    *idx = i;
    return true;
}

int jinja_getitem(struct jinja_ctx *c, jv obj, jv key, jv *out) {
    if (obj.type == JV_UNDEF) return jinja_undef_error(c, obj);
    int64_t i;
    switch (obj.type) {
    case JV_DICT: {
        /* an unhashable key is a TypeError, which the sandbox's getitem swallows */
        if (!hashable(key)) break;
        int r = jinja_dict_get(c, obj.u.d, key, out);
        if (r < 0) return r;
        if (r == 1) return 0;
        break;
    }
    case JV_LIST: {
        const struct jinja_list *l = obj.u.l;
        if (l->kind == JL_GEN || l->kind == JL_ITEMS || l->kind == JL_KEYS || l->kind == JL_VALUES) break;
        if (seq_index(key, l->len, &i)) {
            *out = l->items[i];
            return 0;
        }
        break;
    }
    case JV_STR: {
        const struct jinja_str *s = obj.u.s;
        size_t n = s->ascii ? s->len : jinja_utf8_count(s->data, s->len);
        if (seq_index(key, n, &i)) {
            size_t a = s->ascii ? (size_t)i : jinja_utf8_offset(s->data, s->len, (size_t)i);
            size_t b = a;
            if (s->ascii) b++;
            else jinja_utf8_next(s->data, s->len, &b);
            TRY(jinja_make_str(c, s->data + a, b - a, out));
            out->flags = obj.flags;
            return 0;
        }
        break;
    }
    default: break;
    }
    if (key.type == JV_STR) {
        int r = attr_lookup(c, obj, key.u.s->data, key.u.s->len, out);
        if (r < 0) return r;
        if (r == 1) return 0;
    }
    *out = jinja_undef_elem(c, obj, key);
    return 0;
}

/* Python's PySlice_AdjustIndices. */
static size_t slice_indices(int64_t len, jv start, jv stop, int64_t step, int64_t *o_start, int64_t *o_stop) {
    int64_t s, e;
    if (start.type == JV_NONE) s = step < 0 ? len - 1 : 0;
    else {
        s = jv_as_int(start);
        if (s < 0) {
            s += len;
            if (s < 0) s = step < 0 ? -1 : 0;
        } else if (s >= len) {
            s = step < 0 ? len - 1 : len;
        }
    }
    if (stop.type == JV_NONE) e = step < 0 ? -1 : len;
    else {
        e = jv_as_int(stop);
        if (e < 0) {
            e += len;
            if (e < 0) e = step < 0 ? -1 : 0;
        } else if (e >= len) {
            e = step < 0 ? len - 1 : len;
        }
    }
    *o_start = s;
    *o_stop = e;
    if (step > 0) return s < e ? (size_t)((e - s - 1) / step + 1) : 0;
    return e < s ? (size_t)((s - e - 1) / (-step) + 1) : 0;
}

int jinja_slice(struct jinja_ctx *c, jv obj, jv start, jv stop, jv step, jv *out) {
    /* Jinja2 compiles obj[a:b:c] to a plain Python subscription (not the
     * sandbox's getitem), so every failure is an error */
    if (obj.type == JV_UNDEF) return jinja_undef_error(c, obj);
    bool sliceable = obj.type == JV_STR || (obj.type == JV_LIST && (obj.u.l->kind == JL_LIST || obj.u.l->kind == JL_TUPLE ||
                                                                    obj.u.l->kind == JL_GROUP || obj.u.l->kind == JL_RANGE));
    if (obj.type == JV_DICT) return jinja_fail(c, "TypeError", "unhashable type: 'slice'");
    if (!sliceable) return jinja_fail(c, "TypeError", "'%s' object is not subscriptable", jinja_type_name(obj));
    jv parts[3] = {start, stop, step};
    for (int k = 0; k < 3; k++) {
        if (parts[k].type == JV_UNDEF) return jinja_undef_error(c, parts[k]);
        if (parts[k].type != JV_NONE && !jv_is_intlike(parts[k]))
            return jinja_fail(c, "TypeError", "slice indices must be integers or None or have an __index__ method");
    }
    int64_t st = step.type == JV_NONE ? 1 : jv_as_int(step);
    if (st == 0) return jinja_fail(c, "ValueError", "slice step cannot be zero");
    if (obj.type == JV_STR) {
        const struct jinja_str *s = obj.u.s;
        size_t n;
        size_t *offs = NULL;
        if (s->ascii) n = s->len;
        else {
            n = jinja_utf8_count(s->data, s->len);
            offs = jinja_alloc(c, (n + 1) * sizeof *offs);
            if (!offs) return ERR_NOMEM;
            size_t i = 0;
            for (size_t k = 0; k < n; k++) {
                offs[k] = i;
                jinja_utf8_next(s->data, s->len, &i);
            }
            offs[n] = s->len;
        }
        int64_t first, last;
        size_t cnt = slice_indices((int64_t)n, start, stop, st, &first, &last);
        if (st == 1) {
            size_t a = offs ? offs[first] : (size_t)first, b = offs ? offs[first + (int64_t)cnt] : (size_t)first + cnt;
            TRY(jinja_make_str(c, s->data + (cnt ? a : 0), cnt ? b - a : 0, out));
        } else {
            struct jinja_buf b = {0};
            for (size_t k = 0; k < cnt; k++) {
                int64_t idx = first + (int64_t)k * st;
                size_t a = offs ? offs[idx] : (size_t)idx, e = offs ? offs[idx + 1] : (size_t)idx + 1;
                TRY(jinja_buf_put(c, &b, s->data + a, e - a));
            }
            TRY(jinja_str_from_buf(c, &b, out));
        }
        out->flags = obj.flags;
        return 0;
    }
    const struct jinja_list *l = obj.u.l;
    int64_t first, last;
    size_t cnt = slice_indices((int64_t)l->len, start, stop, st, &first, &last);
    uint8_t kind = l->kind == JL_GROUP ? JL_TUPLE : l->kind;
    struct jinja_list *r = jinja_list_new(c, kind, cnt);
    if (!r) return ERR_NOMEM;
    for (size_t k = 0; k < cnt; k++) r->items[k] = l->items[first + (int64_t)k * st];
    r->len = cnt;
    if (kind == JL_RANGE) {
        /* CPython's compute_slice: the range of the adjusted slice bounds */
        r->r_start = l->r_start + first * l->r_step;
        r->r_stop = l->r_start + last * l->r_step;
        r->r_step = l->r_step * st;
    }
    *out = jv_listv(r);
    return 0;
}

/* ------------------------------------------------------------ arithmetic */

static int overflow(struct jinja_ctx *c) {
    return jinja_fail(c, "OverflowError", "integer result does not fit in 64 bits");
}

static int html_escape(struct jinja_ctx *c, struct jinja_buf *b, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&#34;"; break;
        case '\'': rep = "&#39;"; break;
        default: run++; continue;
        }
        if (run) TRY(jinja_buf_put(c, b, s + i - run, run));
        run = 0;
        TRY(jinja_buf_put(c, b, rep, strlen(rep)));
    }
    if (run) TRY(jinja_buf_put(c, b, s + n - run, run));
    return 0;
}

/* markupsafe.escape(v): Markup stays, anything else is str()'d and escaped. */
int jinja_escape(struct jinja_ctx *c, jv v, jv *out) {
    if (v.type == JV_STR && (v.flags & JV_MARKUP)) {
        *out = v;
        return 0;
    }
    struct jinja_buf sb = {0}, b = {0};
    TRY(jinja_write_str(c, &sb, v));
    TRY(html_escape(c, &b, sb.p ? sb.p : "", sb.len));
    TRY(jinja_str_from_buf(c, &b, out));
    out->flags = JV_MARKUP;
    return 0;
}

static int repeat(struct jinja_ctx *c, jv seq, int64_t times, jv *out) {
    if (times < 0) times = 0;
    if (seq.type == JV_STR) {
        size_t n = seq.u.s->len;
        if (n && (uint64_t)times > (c->max_output / n) + 1)
            return jinja_fail(c, "MemoryError", "string repetition too large");
        struct jinja_buf b = {0};
        for (int64_t k = 0; k < times; k++) TRY(jinja_buf_put(c, &b, seq.u.s->data, n));
        TRY(jinja_str_from_buf(c, &b, out));
        out->flags = seq.flags;
        return 0;
    }
    const struct jinja_list *l = seq.u.l;
    if (l->len && (uint64_t)times > (uint64_t)(c->max_steps / (int64_t)l->len) + 1)
        return jinja_fail(c, "MemoryError", "list repetition too large");
    struct jinja_list *r = jinja_list_new(c, l->kind == JL_GROUP ? JL_TUPLE : l->kind, l->len * (size_t)times);
    if (!r) return ERR_NOMEM;
    for (int64_t k = 0; k < times; k++)
        for (size_t i = 0; i < l->len; i++) r->items[r->len++] = l->items[i];
    *out = jv_listv(r);
    return 0;
}

static double py_fmod(double a, double b) {
    double m = fmod(a, b);
    if (m) {
        if ((b < 0) != (m < 0)) m += b;
    } else {
        m = copysign(0.0, b);
    }
    return m;
}

static double py_floordiv(double a, double b) {
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod && ((b < 0) != (mod < 0))) div -= 1.0;
    double fl;
    if (div) {
        fl = floor(div);
        if (div - fl > 0.5) fl += 1.0;
    } else {
        fl = copysign(0.0, a / b);
    }
    return fl;
}

static int type_error_binop(struct jinja_ctx *c, const char *op, jv a, jv b) {
    if (a.type == JV_STR && op[0] == '+' && !op[1])
        return jinja_fail(c, "TypeError", "can only concatenate str (not \"%s\") to str", jinja_type_name(b));
    if (a.type == JV_LIST && (a.u.l->kind == JL_LIST || a.u.l->kind == JL_TUPLE) && op[0] == '+' && !op[1])
        return jinja_fail(c, "TypeError", "can only concatenate %s (not \"%s\") to %s", jinja_type_name(a),
                          jinja_type_name(b), jinja_type_name(a));
    return jinja_fail(c, "TypeError", "unsupported operand type(s) for %s: '%s' and '%s'", op, jinja_type_name(a),
                      jinja_type_name(b));
}

static int int_pow(struct jinja_ctx *c, int64_t base, int64_t e, int64_t *out) {
    int64_t r = 1;
    while (e > 0) {
        if (e & 1) {
            if (__builtin_mul_overflow(r, base, &r)) return overflow(c);
        }
        e >>= 1;
        if (e && __builtin_mul_overflow(base, base, &base)) return overflow(c);
    }
    *out = r;
    return 0;
}

int jinja_binop(struct jinja_ctx *c, int op, jv a, jv b, jv *out) {
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "** or pow()"};
    if (a.type == JV_UNDEF && !(op == JB_MOD && b.type == JV_STR)) return jinja_undef_error(c, a);
    if (b.type == JV_UNDEF && !(op == JB_MOD && a.type == JV_STR)) return jinja_undef_error(c, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        bool fl = a.type == JV_FLOAT || b.type == JV_FLOAT;
        int64_t x = jv_as_int(a), y = jv_as_int(b), r;
        double fx = jv_as_double(a), fy = jv_as_double(b);
        switch (op) {
        case JB_ADD:
            if (fl) *out = jv_float(fx + fy);
            else if (__builtin_add_overflow(x, y, &r)) return overflow(c);
            else *out = jv_int(r);
            return 0;
        case JB_SUB:
            if (fl) *out = jv_float(fx - fy);
            else if (__builtin_sub_overflow(x, y, &r)) return overflow(c);
            else *out = jv_int(r);
            return 0;
        case JB_MUL:
            if (fl) *out = jv_float(fx * fy);
            else if (__builtin_mul_overflow(x, y, &r)) return overflow(c);
            else *out = jv_int(r);
            return 0;
        case JB_DIV:
            if ((fl ? fy : (double)y) == 0) return jinja_fail(c, "ZeroDivisionError", fl ? "float division by zero" : "division by zero");
            *out = jv_float(fl ? fx / fy : (double)x / (double)y);
            return 0;
        case JB_FLOORDIV:
        case JB_MOD:
            if (fl) {
                if (fy == 0)
                    return jinja_fail(c, "ZeroDivisionError", op == JB_MOD ? "float modulo" : "float floor division by zero");
                *out = jv_float(op == JB_MOD ? py_fmod(fx, fy) : py_floordiv(fx, fy));
                return 0;
            }
            if (y == 0) return jinja_fail(c, "ZeroDivisionError", "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                if (op == JB_MOD) *out = jv_int(0);
                else return overflow(c);
                return 0;
            }
            {
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) q--, m += y;
                *out = jv_int(op == JB_MOD ? m : q);
            }
            return 0;
        default: /* POW */
            if (!fl && y >= 0) {
                int64_t pr = 0;
                TRY(int_pow(c, x, y, &pr));
                *out = jv_int(pr);
                return 0;
            }
            if (fx == 0.0 && fy < 0) return jinja_fail(c, "ZeroDivisionError", "0.0 cannot be raised to a negative power");
            if (fx < 0 && fy != floor(fy)) return jinja_fail(c, "ValueError", "complex results are not supported");
            {
                double p = pow(fx, fy);
                if (isinf(p) && !isinf(fx) && !isinf(fy))
                    return jinja_fail(c, "OverflowError", "(34, 'Numerical result out of range')");
                *out = jv_float(p);
            }
            return 0;
        }
    }
    switch (op) {
    case JB_ADD:
        if (a.type == JV_STR && b.type == JV_STR) {
            struct jinja_buf buf = {0};
            bool markup = (a.flags | b.flags) & JV_MARKUP;
            if (markup && !(a.flags & JV_MARKUP)) TRY(html_escape(c, &buf, a.u.s->data, a.u.s->len));
            else TRY(jinja_buf_put(c, &buf, a.u.s->data, a.u.s->len));
            if (markup && !(b.flags & JV_MARKUP)) TRY(html_escape(c, &buf, b.u.s->data, b.u.s->len));
            else TRY(jinja_buf_put(c, &buf, b.u.s->data, b.u.s->len));
            TRY(jinja_str_from_buf(c, &buf, out));
            out->flags = markup ? JV_MARKUP : 0;
            return 0;
        }
        if (a.type == JV_LIST && b.type == JV_LIST) {
            const struct jinja_list *x = a.u.l, *y = b.u.l;
            bool xt = x->kind == JL_TUPLE || x->kind == JL_GROUP, yt = y->kind == JL_TUPLE || y->kind == JL_GROUP;
            if ((x->kind == JL_LIST && y->kind == JL_LIST) || (xt && yt)) {
                struct jinja_list *r = jinja_list_new(c, x->kind == JL_LIST ? JL_LIST : JL_TUPLE, x->len + y->len);
                if (!r) return ERR_NOMEM;
                if (x->len) memcpy(r->items, x->items, x->len * sizeof(jv));
                if (y->len) memcpy(r->items + x->len, y->items, y->len * sizeof(jv));
                r->len = x->len + y->len;
                *out = jv_listv(r);
                return 0;
            }
        }
        break;
    case JB_MUL: {
        jv seq = a, n = b;
        if (jv_is_intlike(a)) seq = b, n = a;
        if (jv_is_intlike(n) &&
            (seq.type == JV_STR || (seq.type == JV_LIST && (seq.u.l->kind == JL_LIST || seq.u.l->kind == JL_TUPLE ||
                                                            seq.u.l->kind == JL_GROUP))))
            return repeat(c, seq, jv_as_int(n), out);
        break;
    }
    case JB_MOD:
        if (a.type == JV_STR) return jinja_percent_format(c, a, b, out);
        break;
    default: break;
    }
    return type_error_binop(c, names[op], a, b);
}

int jinja_neg(struct jinja_ctx *c, jv a, bool neg, jv *out) {
    if (a.type == JV_UNDEF) return jinja_undef_error(c, a);
    if (a.type == JV_FLOAT) {
        *out = jv_float(neg ? -a.u.f : a.u.f);
        return 0;
    }
    if (jv_is_intlike(a)) {
        int64_t x = jv_as_int(a);
        if (neg && x == INT64_MIN) return overflow(c);
        *out = jv_int(neg ? -x : x);
        return 0;
    }
    return jinja_fail(c, "TypeError", "bad operand type for unary %c: '%s'", neg ? '-' : '+', jinja_type_name(a));
}

/* ------------------------------------------------------------ formatting */

/* snprintf for one conversion with flags/width/precision. */
static int put_fmt_num(struct jinja_ctx *c, struct jinja_buf *b, const char *flags, int width, int prec, char conv,
                       jv v) {
    char spec[32], tmp[512];
    int n;
    if (conv == 'd' || conv == 'i' || conv == 'u' || conv == 'x' || conv == 'X' || conv == 'o') {
        int64_t x;
        if (v.type == JV_FLOAT) {
            if (isnan(v.u.f) || isinf(v.u.f))
                return jinja_fail(c, isnan(v.u.f) ? "ValueError" : "OverflowError", "cannot convert float %s to integer",
                                  isnan(v.u.f) ? "NaN" : "infinity");
            if (conv == 'x' || conv == 'X' || conv == 'o')
                return jinja_fail(c, "TypeError", "%%%c format: an integer is required, not float", conv);
            x = (int64_t)v.u.f;
        } else {
            x = jv_as_int(v);
        }
        bool alt = strchr(flags, '#') != NULL;
        char cc = conv == 'i' || conv == 'u' ? 'd' : conv;
        /* Python prints negative hex as -0x..; build by hand */
        uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
        char digits[80];
        if (cc == 'd') snprintf(digits, sizeof digits, "%" PRIu64, mag);
        else if (cc == 'o') snprintf(digits, sizeof digits, "%" PRIo64, mag);
        else snprintf(digits, sizeof digits, cc == 'x' ? "%" PRIx64 : "%" PRIX64, mag);
        char body[160];
        size_t dl = strlen(digits);
        int p = prec < 0 ? 1 : prec;
        if (p > 100) p = 100;
        size_t o = 0;
        if (x < 0) body[o++] = '-';
        else if (strchr(flags, '+')) body[o++] = '+';
        else if (strchr(flags, ' ')) body[o++] = ' ';
        if (alt && cc != 'd') {
            body[o++] = '0';
            body[o++] = cc == 'o' ? 'o' : cc;
        }
        size_t prefix = o;
        for (int k = (int)dl; k < p; k++) body[o++] = '0';
        memcpy(body + o, digits, dl);
        o += dl;
        body[o] = 0;
        size_t len = o;
        if (width > 0 && (size_t)width > len) {
            size_t pad = (size_t)width - len;
            if (strchr(flags, '-')) {
                TRY(jinja_buf_put(c, b, body, len));
                for (size_t k = 0; k < pad; k++) TRY(jinja_buf_putc(c, b, ' '));
                return 0;
            }
            if (strchr(flags, '0')) {
                TRY(jinja_buf_put(c, b, body, prefix));
                for (size_t k = 0; k < pad; k++) TRY(jinja_buf_putc(c, b, '0'));
                return jinja_buf_put(c, b, body + prefix, len - prefix);
            }
            for (size_t k = 0; k < pad; k++) TRY(jinja_buf_putc(c, b, ' '));
        }
        return jinja_buf_put(c, b, body, len);
    }
    double f = jv_as_double(v);
    if (width > 400) width = 400;
    if (prec > 200) prec = 200;
    if (isnan(f) || isinf(f)) {
        const char *t = isnan(f) ? "nan" : (f < 0 ? "-inf" : (strchr(flags, '+') ? "+inf" : "inf"));
        if (conv == 'E' || conv == 'F' || conv == 'G') t = isnan(f) ? "NAN" : (f < 0 ? "-INF" : "INF");
        snprintf(spec, sizeof spec, "%%%s%ds", strchr(flags, '-') ? "-" : "", width > 0 ? width : 0);
        n = snprintf(tmp, sizeof tmp, spec, t);
        return jinja_buf_put(c, b, tmp, (size_t)n);
    }
    if (prec >= 0) snprintf(spec, sizeof spec, "%%%s%d.%d%c", flags, width > 0 ? width : 0, prec, conv);
    else snprintf(spec, sizeof spec, "%%%s%d%c", flags, width > 0 ? width : 0, conv);
    n = snprintf(tmp, sizeof tmp, spec, f);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    return jinja_buf_put(c, b, tmp, (size_t)n);
}

static int pad_str(struct jinja_ctx *c, struct jinja_buf *b, const char *s, size_t n, int width, bool left) {
    size_t cps = jinja_utf8_count(s, n);
    size_t pad = width > 0 && (size_t)width > cps ? (size_t)width - cps : 0;
    if (!left)
        for (size_t k = 0; k < pad; k++) TRY(jinja_buf_putc(c, b, ' '));
    TRY(jinja_buf_put(c, b, s, n));
    if (left)
        for (size_t k = 0; k < pad; k++) TRY(jinja_buf_putc(c, b, ' '));
    return 0;
}

int jinja_percent_format(struct jinja_ctx *c, jv fmt, jv args, jv *out) {
    const char *s = fmt.u.s->data;
    size_t n = fmt.u.s->len;
    jv *argv = &args;
    size_t argc = 1, ai = 0;
    bool is_tuple = args.type == JV_LIST && (args.u.l->kind == JL_TUPLE || args.u.l->kind == JL_GROUP);
    /* PyMapping_Check: anything subscriptable that is not a tuple or a str
     * (dict, list, range, Undefined) switches off "not all arguments
     * converted"; only dicts can serve %(key)s */
    bool is_map = args.type == JV_DICT || args.type == JV_UNDEF ||
                  (args.type == JV_LIST && (args.u.l->kind == JL_LIST || args.u.l->kind == JL_RANGE));
    if (is_tuple) {
        argv = args.u.l->items;
        argc = args.u.l->len;
    }
    struct jinja_buf b = {0};
    bool used_map = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            size_t j = i;
            while (j < n && s[j] != '%') j++;
            TRY(jinja_buf_put(c, &b, s + i, j - i));
            i = j - 1;
            continue;
        }
        i++;
        if (i >= n) return jinja_fail(c, "ValueError", "incomplete format");
        jv val = jv_missing();
        if (s[i] == '(') {
            size_t j = i + 1;
            int depth = 1;
            while (j < n && depth) {
                if (s[j] == '(') depth++;
                else if (s[j] == ')') depth--;
                if (depth) j++;
            }
            if (j >= n) return jinja_fail(c, "ValueError", "incomplete format key");
            if (!is_map) return jinja_fail(c, "TypeError", "format requires a mapping");
            if (args.type != JV_DICT) return jinja_fail(c, "TypeError", "%s indices must be integers", jinja_type_name(args));
            if (!jinja_dict_get_str(args.u.d, s + i + 1, j - i - 1, &val))
                return jinja_fail(c, "KeyError", "'%.*s'", (int)(j - i - 1 > 60 ? 60 : j - i - 1), s + i + 1);
            used_map = true;
            i = j + 1;
        }
        char flags[8];
        size_t nf = 0;
        while (i < n && strchr("-+ #0", s[i]) && nf < sizeof flags - 1) flags[nf++] = s[i++];
        flags[nf] = 0;
        int width = -1, prec = -1;
        if (i < n && s[i] == '*') {
            if (ai >= argc) return jinja_fail(c, "TypeError", "not enough arguments for format string");
            int64_t w;
            TRY(want_int(c, argv[ai++], "* wants int", &w));
            width = (int)w;
            i++;
        } else {
            while (i < n && s[i] >= '0' && s[i] <= '9') width = (width < 0 ? 0 : width) * 10 + (s[i++] - '0');
        }
        if (i < n && s[i] == '.') {
            i++;
            prec = 0;
            if (i < n && s[i] == '*') {
                if (ai >= argc) return jinja_fail(c, "TypeError", "not enough arguments for format string");
                int64_t p;
                TRY(want_int(c, argv[ai++], "* wants int", &p));
                prec = (int)p;
                i++;
            } else {
                while (i < n && s[i] >= '0' && s[i] <= '9') prec = prec * 10 + (s[i++] - '0');
            }
        }
        while (i < n && (s[i] == 'h' || s[i] == 'l' || s[i] == 'L')) i++;
        if (i >= n) return jinja_fail(c, "ValueError", "incomplete format");
        char conv = s[i];
        if (conv == '%') {
            TRY(jinja_buf_putc(c, &b, '%'));
            continue;
        }
        if (val.type == JV_MISSING) {
            if (ai >= argc) return jinja_fail(c, "TypeError", "not enough arguments for format string");
            val = argv[ai++];
        }
        switch (conv) {
        case 's':
        case 'r':
        case 'a': {
            struct jinja_buf t = {0};
            if (conv == 's') TRY(jinja_write_str(c, &t, val));
            else TRY(jinja_write_repr(c, &t, val));
            size_t len = t.len;
            if (prec >= 0) len = jinja_utf8_offset(t.p ? t.p : "", t.len, (size_t)prec);
            TRY(pad_str(c, &b, t.p ? t.p : "", len, width, strchr(flags, '-') != NULL));
            break;
        }
        case 'c': {
            char tmp[8];
            size_t k;
            if (val.type == JV_STR && jinja_utf8_count(val.u.s->data, val.u.s->len) == 1) {
                TRY(pad_str(c, &b, val.u.s->data, val.u.s->len, width, strchr(flags, '-') != NULL));
                break;
            }
            if (!jv_is_intlike(val)) return jinja_fail(c, "TypeError", "%%c requires int or char");
            int64_t cp = jv_as_int(val);
            if (cp < 0 || cp > 0x10FFFF) return jinja_fail(c, "OverflowError", "%%c arg not in range(0x110000)");
            k = jinja_utf8_put((uint32_t)cp, tmp);
            TRY(pad_str(c, &b, tmp, k, width, strchr(flags, '-') != NULL));
            break;
        }
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o':
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
            if (val.type == JV_UNDEF) return jinja_undef_error(c, val);
            if (!jv_is_num(val))
                return jinja_fail(c, "TypeError", "%%%c format: a real number is required, not %s", conv,
                                  jinja_type_name(val));
            TRY(put_fmt_num(c, &b, flags, width, prec, conv, val));
            break;
        default:
            return jinja_fail(c, "ValueError", "unsupported format character '%c' (0x%x) at index %zu", conv,
                              (unsigned char)conv, i);
        }
    }
    if (!used_map && !is_map && ai < argc)
        return jinja_fail(c, "TypeError", "not all arguments converted during string formatting");
    TRY(jinja_str_from_buf(c, &b, out));
    out->flags = fmt.flags;
    return 0;
}

/* format(value, spec) for str.format: [[fill]align][sign][#][0][width][,_][.prec][type] */
static int format_spec(struct jinja_ctx *c, struct jinja_buf *b, jv v, const char *spec, size_t n) {
    if (n == 0) return jinja_write_str(c, b, v);
    size_t i = 0;
    uint32_t fill = ' ';
    char align = 0, sign = 0, type = 0, group = 0;
    bool alt = false, zero = false;
    int width = -1, prec = -1;
    /* fill + align */
    {
        size_t k = 0;
        uint32_t cp = jinja_utf8_next(spec, n, &k);
        if (k < n && strchr("<>=^", spec[k])) {
            fill = cp;
            align = spec[k];
            i = k + 1;
        } else if (strchr("<>=^", spec[0])) {
            align = spec[0];
            i = 1;
        }
    }
    if (i < n && strchr("+- ", spec[i])) sign = spec[i++];
    if (i < n && spec[i] == '#') alt = true, i++;
    if (i < n && spec[i] == '0') zero = true, i++;
    while (i < n && spec[i] >= '0' && spec[i] <= '9') width = (width < 0 ? 0 : width) * 10 + (spec[i++] - '0');
    if (i < n && (spec[i] == ',' || spec[i] == '_')) group = spec[i++];
    if (i < n && spec[i] == '.') {
        i++;
        prec = 0;
        while (i < n && spec[i] >= '0' && spec[i] <= '9') prec = prec * 10 + (spec[i++] - '0');
    }
    if (i < n) type = spec[i++];
    if (i != n) return jinja_fail(c, "ValueError", "Invalid format specifier");
    if (width > 10000) width = 10000;
    struct jinja_buf body = {0};
    bool numeric = false;
    if (v.type != JV_STR && !jv_is_num(v)) /* object.__format__ takes no spec */
        return jinja_fail(c, "TypeError", "unsupported format string passed to %s.__format__", jinja_type_name(v));
    if (v.type == JV_STR) {
        if (type && type != 's') return jinja_fail(c, "ValueError", "Unknown format code '%c' for object of type '%s'", type, jinja_type_name(v));
        if (sign || alt || group) return jinja_fail(c, "ValueError", "Sign not allowed in string format specifier");
        struct jinja_buf t = {0};
        TRY(jinja_write_str(c, &t, v));
        size_t len = t.len;
        if (prec >= 0) len = jinja_utf8_offset(t.p ? t.p : "", t.len, (size_t)prec);
        TRY(jinja_buf_put(c, &body, t.p ? t.p : "", len));
        if (!align) align = '<';
    } else {
        numeric = true;
        if (!align) align = zero ? '=' : '>';
        if (zero && fill == ' ') fill = '0';
        bool is_int = jv_is_intlike(v);
        if (!type && v.type == JV_BOOL && !sign && !alt && !zero && !group && width < 0) {
            TRY(jinja_write_str(c, &body, v));
        } else if (is_int && (!type || strchr("dbnoxXc", type))) {
            int64_t x = jv_as_int(v);
            uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
            char digits[80];
            char t = type ? type : 'd';
            if (t == 'c') {
                char tmp[8];
                size_t k = jinja_utf8_put((uint32_t)x, tmp);
                TRY(jinja_buf_put(c, &body, tmp, k));
            } else {
                if (t == 'b') {
                    size_t o = 0;
                    char rev[70];
                    do rev[o++] = (char)('0' + (mag & 1)), mag >>= 1;
                    while (mag);
                    for (size_t k = 0; k < o; k++) digits[k] = rev[o - 1 - k];
                    digits[o] = 0;
                } else if (t == 'o') snprintf(digits, sizeof digits, "%" PRIo64, mag);
                else if (t == 'x') snprintf(digits, sizeof digits, "%" PRIx64, mag);
                else if (t == 'X') snprintf(digits, sizeof digits, "%" PRIX64, mag);
                else snprintf(digits, sizeof digits, "%" PRIu64, mag);
                if (x < 0) TRY(jinja_buf_putc(c, &body, '-'));
                else if (sign == '+') TRY(jinja_buf_putc(c, &body, '+'));
                else if (sign == ' ') TRY(jinja_buf_putc(c, &body, ' '));
                if (alt && t != 'd' && t != 'n') TRY(jinja_buf_printf(c, &body, "0%c", t == 'X' ? 'X' : t));
                size_t dl = strlen(digits);
                if (group && (t == 'd' || t == 'n')) {
                    for (size_t k = 0; k < dl; k++) {
                        TRY(jinja_buf_putc(c, &body, digits[k]));
                        if ((dl - k - 1) % 3 == 0 && k + 1 < dl) TRY(jinja_buf_putc(c, &body, group));
                    }
                } else {
                    TRY(jinja_buf_put(c, &body, digits, dl));
                }
            }
        } else {
            double f = jv_as_double(v);
            char t = type ? type : 'g';
            if (!strchr("eEfFgG%", t))
                return jinja_fail(c, "ValueError", "Unknown format code '%c' for object of type '%s'", t, jinja_type_name(v));
            if (!type && prec < 0) {
                char tmp[64];
                size_t k = jinja_format_float(f, tmp);
                if (sign == '+' && f >= 0) TRY(jinja_buf_putc(c, &body, '+'));
                else if (sign == ' ' && f >= 0) TRY(jinja_buf_putc(c, &body, ' '));
                TRY(jinja_buf_put(c, &body, tmp, k));
            } else {
                char fl[4] = {0};
                if (sign == '+' || sign == ' ') fl[0] = sign;
                if (alt) fl[strlen(fl)] = '#';
                if (t == '%') {
                    TRY(put_fmt_num(c, &body, fl, -1, prec < 0 ? 6 : prec, 'f', jv_float(f * 100)));
                    TRY(jinja_buf_putc(c, &body, '%'));
                } else {
                    TRY(put_fmt_num(c, &body, fl, -1, prec < 0 ? 6 : prec, t, v));
                }
            }
        }
    }
    /* padding */
    const char *s = body.p ? body.p : "";
    size_t cps = jinja_utf8_count(s, body.len);
    size_t pad = width > 0 && (size_t)width > cps ? (size_t)width - cps : 0;
    char fb[4];
    size_t fl = jinja_utf8_put(fill, fb);
    size_t left = align == '<' ? 0 : align == '^' ? pad / 2 : pad, right = pad - left;
    if (align == '=' && numeric) {
        size_t sp = (body.len && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) ? 1 : 0;
        TRY(jinja_buf_put(c, b, s, sp));
        for (size_t k = 0; k < pad; k++) TRY(jinja_buf_put(c, b, fb, fl));
        return jinja_buf_put(c, b, s + sp, body.len - sp);
    }
    for (size_t k = 0; k < left; k++) TRY(jinja_buf_put(c, b, fb, fl));
    TRY(jinja_buf_put(c, b, s, body.len));
    for (size_t k = 0; k < right; k++) TRY(jinja_buf_put(c, b, fb, fl));
    return 0;
}

static int str_format(struct jinja_ctx *c, jv self, const struct jinja_callargs *a, jv *out) {
    const char *s = self.u.s->data;
    size_t n = self.u.s->len, auto_idx = 0;
    struct jinja_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '}') {
            if (i + 1 < n && s[i + 1] == '}') {
                TRY(jinja_buf_putc(c, &b, '}'));
                i++;
                continue;
            }
            return jinja_fail(c, "ValueError", "Single '}' encountered in format string");
        }
        if (ch != '{') {
            TRY(jinja_buf_putc(c, &b, ch));
            continue;
        }
        if (i + 1 < n && s[i + 1] == '{') {
            TRY(jinja_buf_putc(c, &b, '{'));
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && s[j] != '}' && s[j] != '{') j++;
        if (j >= n || s[j] != '}') return jinja_fail(c, "ValueError", "unsupported or unmatched '{' in format string");
        const char *field = s + i + 1;
        size_t flen = j - i - 1;
        const char *spec = NULL, *conv = NULL;
        size_t spec_len = 0;
        for (size_t k = 0; k < flen; k++) {
            if (field[k] == ':') {
                spec = field + k + 1;
                spec_len = flen - k - 1;
                flen = k;
                break;
            }
        }
        for (size_t k = 0; k < flen; k++)
            if (field[k] == '!') {
                conv = field + k + 1;
                if (flen - k - 1 != 1) return jinja_fail(c, "ValueError", "expected ':' after conversion specifier");
                flen = k;
                break;
            }
        /* first part: index or name */
        size_t k = 0;
        while (k < flen && field[k] != '.' && field[k] != '[') k++;
        jv v;
        if (k == 0) {
            if (auto_idx >= a->n_pos) return jinja_fail(c, "IndexError", "Replacement index %zu out of range for positional args tuple", auto_idx);
            v = a->pos[auto_idx++];
        } else if (field[0] >= '0' && field[0] <= '9') {
            size_t idx = 0;
            for (size_t q = 0; q < k; q++) idx = idx * 10 + (size_t)(field[q] - '0');
            if (idx >= a->n_pos) return jinja_fail(c, "IndexError", "Replacement index %zu out of range for positional args tuple", idx);
            v = a->pos[idx];
        } else {
            size_t q;
            for (q = 0; q < a->n_kw; q++)
                if (a->kw_names[q]->len == k && !memcmp(a->kw_names[q]->data, field, k)) break;
            if (q == a->n_kw) return jinja_fail(c, "KeyError", "'%.*s'", (int)(k > 60 ? 60 : k), field);
            v = a->kw_vals[q];
        }
        while (k < flen) {
            if (field[k] == '.') {
                size_t e = k + 1;
                while (e < flen && field[e] != '.' && field[e] != '[') e++;
                TRY(jinja_getattr(c, v, field + k + 1, e - k - 1, &v));
                k = e;
            } else {
                size_t e = k + 1;
                while (e < flen && field[e] != ']') e++;
                if (e >= flen) return jinja_fail(c, "ValueError", "Missing ']' in format string");
                jv key;
                bool digits = e > k + 1;
                for (size_t q = k + 1; q < e; q++)
                    if (field[q] < '0' || field[q] > '9') digits = false;
                if (digits) key = jv_int(strtoll(field + k + 1, NULL, 10));
                else TRY(jinja_make_str(c, field + k + 1, e - k - 1, &key));
                TRY(jinja_getitem(c, v, key, &v));
                k = e + 1;
            }
        }
        if (conv) {
            struct jinja_buf t = {0};
            if (*conv == 's') TRY(jinja_write_str(c, &t, v));
            else if (*conv == 'r' || *conv == 'a') TRY(jinja_write_repr(c, &t, v));
            else return jinja_fail(c, "ValueError", "Unknown conversion specifier %c", *conv);
            TRY(jinja_str_from_buf(c, &t, &v));
        }
        for (size_t q = 0; q < spec_len; q++)
            if (spec[q] == '{') return jinja_fail(c, "ValueError", "nested format fields are not supported");
        TRY(format_spec(c, &b, v, spec ? spec : "", spec_len));
        i = j;
    }
    TRY(jinja_str_from_buf(c, &b, out));
    out->flags = self.flags;
    return 0;
}

/* ------------------------------------------------------------ str methods */

static size_t cp_len(const struct jinja_str *s) { return s->ascii ? s->len : jinja_utf8_count(s->data, s->len); }
static size_t cp_off(const struct jinja_str *s, size_t k) {
    return s->ascii ? (k < s->len ? k : s->len) : jinja_utf8_offset(s->data, s->len, k);
}
static size_t byte_to_cp(const struct jinja_str *s, size_t off) {
    return s->ascii ? off : jinja_utf8_count(s->data, off);
}

/* Resolves optional start/end (code points, Python slice rules) to bytes. */
static int range_args(struct jinja_ctx *c, const struct jinja_str *s, jv start, jv end, size_t *b0, size_t *b1) {
    int64_t n = (int64_t)cp_len(s), st = 0, en = n;
    if (start.type != JV_MISSING && start.type != JV_NONE) TRY(want_int(c, start, "slice index", &st));
    if (end.type != JV_MISSING && end.type != JV_NONE) TRY(want_int(c, end, "slice index", &en));
    if (st < 0) st = st + n < 0 ? 0 : st + n;
    if (en < 0) en = en + n < 0 ? 0 : en + n;
    if (en > n) en = n;
    if (st > n) {
        *b0 = s->len + 1; /* marks an empty range past the end */
        *b1 = s->len;
        return 0;
    }
    *b0 = cp_off(s, (size_t)st);
    *b1 = en < st ? *b0 : cp_off(s, (size_t)en);
    return 0;
}

static bool char_in(uint32_t cp, const struct jinja_str *set) {
    for (size_t i = 0; i < set->len;) {
        if (jinja_utf8_next(set->data, set->len, &i) == cp) return true;
    }
    return false;
}

/* strip: which 1 = left, 2 = right, 3 = both; chars NULL = whitespace. */
static int str_strip(struct jinja_ctx *c, jv self, const struct jinja_str *chars, int which, jv *out) {
    const struct jinja_str *s = self.u.s;
    size_t a = 0, b = s->len;
    if (which & 1) {
        while (a < b) {
            size_t k = a;
            uint32_t cp = jinja_utf8_next(s->data, s->len, &k);
            if (chars ? !char_in(cp, chars) : !jinja_uni_isspace(cp)) break;
            a = k;
        }
    }
    if (which & 2) {
        while (b > a) {
            size_t k = b - 1;
            while (k > a && ((unsigned char)s->data[k] & 0xC0) == 0x80) k--;
            size_t e = k;
            uint32_t cp = jinja_utf8_next(s->data, s->len, &e);
            if (e != b) { /* invalid sequence: treat the last byte alone */
                k = b - 1;
                e = k;
                cp = jinja_utf8_next(s->data, s->len, &e);
            }
            if (chars ? !char_in(cp, chars) : !jinja_uni_isspace(cp)) break;
            b = k;
        }
    }
    if (a == 0 && b == s->len) {
        *out = self;
        return 0;
    }
    TRY(jinja_make_str(c, s->data + a, b - a, out));
    out->flags = self.flags;
    return 0;
}

static int push_str(struct jinja_ctx *c, struct jinja_list *l, const char *s, size_t n, uint8_t flags) {
    jv v;
    TRY(jinja_make_str(c, s, n, &v));
    v.flags = flags;
    return jinja_list_push(c, l, v);
}

static int str_split(struct jinja_ctx *c, jv self, jv sepv, jv maxv, bool right, jv *out) {
    const struct jinja_str *s = self.u.s;
    int64_t maxsplit = -1;
    if (maxv.type != JV_MISSING) TRY(want_int(c, maxv, "maxsplit", &maxsplit));
    struct jinja_list *l = jinja_list_new(c, JL_LIST, 0);
    if (!l) return ERR_NOMEM;
    const char *d = s->data;
    size_t n = s->len;
    if (sepv.type == JV_MISSING || sepv.type == JV_NONE) {
        /* whitespace runs */
        if (!right) {
            size_t i = 0;
            int64_t splits = 0;
            for (;;) {
                while (i < n) {
                    size_t k = i;
                    if (!jinja_uni_isspace(jinja_utf8_next(d, n, &k))) break;
                    i = k;
                }
                if (i >= n) break;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    TRY(push_str(c, l, d + i, n - i, self.flags));
                    break;
                }
                size_t j = i;
                while (j < n) {
                    size_t k = j;
                    if (jinja_uni_isspace(jinja_utf8_next(d, n, &k))) break;
                    j = k;
                }
                TRY(push_str(c, l, d + i, j - i, self.flags));
                splits++;
                i = j;
            }
        } else {
            /* collect from the right, then reverse */
            size_t e = n;
            int64_t splits = 0;
            for (;;) {
                while (e > 0) {
                    size_t k = e - 1;
                    while (k > 0 && ((unsigned char)d[k] & 0xC0) == 0x80) k--;
                    size_t q = k;
                    if (!jinja_uni_isspace(jinja_utf8_next(d, n, &q))) break;
                    e = k;
                }
                if (e == 0) break;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    TRY(push_str(c, l, d, e, self.flags));
                    break;
                }
                size_t b = e;
                while (b > 0) {
                    size_t k = b - 1;
                    while (k > 0 && ((unsigned char)d[k] & 0xC0) == 0x80) k--;
                    size_t q = k;
                    if (jinja_uni_isspace(jinja_utf8_next(d, n, &q))) break;
                    b = k;
                }
                TRY(push_str(c, l, d + b, e - b, self.flags));
                splits++;
                e = b;
            }
            for (size_t i = 0, j = l->len ? l->len - 1 : 0; i < j; i++, j--) {
                jv t = l->items[i];
                l->items[i] = l->items[j];
                l->items[j] = t;
            }
        }
        *out = jv_listv(l);
        return 0;
    }
    TRY(want_str(c, sepv, "split() separator"));
    const struct jinja_str *sep = sepv.u.s;
    if (sep->len == 0) return jinja_fail(c, "ValueError", "empty separator");
    if (!right) {
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || splits < maxsplit) && n - i >= sep->len
                                  ? memmem(d + i, n - i, sep->data, sep->len)
                                  : NULL;
            if (!hit) {
                TRY(push_str(c, l, d + i, n - i, self.flags));
                break;
            }
            TRY(push_str(c, l, d + i, (size_t)(hit - (d + i)), self.flags));
            i = (size_t)(hit - d) + sep->len;
            splits++;
        }
    } else {
        size_t e = n;
        int64_t splits = 0;
        for (;;) {
            const char *hit = NULL;
            if ((maxsplit < 0 || splits < maxsplit) && e >= sep->len) {
                for (size_t p = e - sep->len + 1; p-- > 0;)
                    if (!memcmp(d + p, sep->data, sep->len)) {
                        hit = d + p;
                        break;
                    }
            }
            if (!hit) {
                TRY(push_str(c, l, d, e, self.flags));
                break;
            }
            size_t p = (size_t)(hit - d);
            TRY(push_str(c, l, d + p + sep->len, e - p - sep->len, self.flags));
            e = p;
            splits++;
        }
        for (size_t i = 0, j = l->len - 1; i < j; i++, j--) {
            jv t = l->items[i];
            l->items[i] = l->items[j];
            l->items[j] = t;
        }
    }
    *out = jv_listv(l);
    return 0;
}

int jinja_str_replace(struct jinja_ctx *c, jv self, jv oldv, jv newv, int64_t count, jv *out) {
    const struct jinja_str *s = self.u.s, *o = oldv.u.s, *nw = newv.u.s;
    struct jinja_buf b = {0};
    if (count < 0) count = INT64_MAX;
    if (o->len == 0) {
        size_t i = 0;
        int64_t done = 0;
        while (done < count) {
            TRY(jinja_buf_put(c, &b, nw->data, nw->len));
            done++;
            if (i >= s->len) break;
            size_t k = i;
            jinja_utf8_next(s->data, s->len, &k);
            TRY(jinja_buf_put(c, &b, s->data + i, k - i));
            i = k;
        }
        TRY(jinja_buf_put(c, &b, s->data + i, s->len - i));
    } else {
        size_t i = 0;
        int64_t done = 0;
        while (done < count && s->len - i >= o->len) {
            const char *hit = memmem(s->data + i, s->len - i, o->data, o->len);
            if (!hit) break;
            size_t p = (size_t)(hit - s->data);
            TRY(jinja_buf_put(c, &b, s->data + i, p - i));
            TRY(jinja_buf_put(c, &b, nw->data, nw->len));
            i = p + o->len;
            done++;
        }
        TRY(jinja_buf_put(c, &b, s->data + i, s->len - i));
    }
    TRY(jinja_str_from_buf(c, &b, out));
    out->flags = self.flags;
    return 0;
}

/* find / rfind / count over [b0, b1) bytes. Returns the cp index or -1. */
static int64_t str_find(const struct jinja_str *s, const struct jinja_str *sub, size_t b0, size_t b1, bool right) {
    if (b0 > s->len) return -1;
    if (b1 < b0 || b1 - b0 < sub->len) return -1;
    if (!right) {
        if (sub->len == 0) return (int64_t)byte_to_cp(s, b0);
        const char *hit = memmem(s->data + b0, b1 - b0, sub->data, sub->len);
        return hit ? (int64_t)byte_to_cp(s, (size_t)(hit - s->data)) : -1;
    }
    for (size_t p = b1 - sub->len + 1; p-- > b0;) {
        if (!memcmp(s->data + p, sub->data, sub->len)) {
            if (!s->ascii && p < s->len && ((unsigned char)s->data[p] & 0xC0) == 0x80) continue;
            return (int64_t)byte_to_cp(s, p);
        }
    }
    return -1;
}

static int str_affix(struct jinja_ctx *c, jv self, const struct jinja_callargs *a, bool end, jv *out) {
    jv args[3];
    TRY(pos_args(c, end ? "endswith" : "startswith", a, 1, 3, args));
    size_t b0, b1;
    TRY(range_args(c, self.u.s, args[1], args[2], &b0, &b1));
    jv *cands = &args[0];
    size_t nc = 1;
    if (args[0].type == JV_LIST && args[0].u.l->kind == JL_TUPLE) {
        cands = args[0].u.l->items;
        nc = args[0].u.l->len;
    }
    bool r = false;
    for (size_t i = 0; i < nc && !r; i++) {
        if (cands[i].type != JV_STR)
            return jinja_fail(c, "TypeError", "%s first arg must be str or a tuple of str, not %s",
                              end ? "endswith" : "startswith", jinja_type_name(cands[i]));
        const struct jinja_str *p = cands[i].u.s;
        if (b0 > self.u.s->len || b1 < b0 || b1 - b0 < p->len) continue;
        r = end ? !memcmp(self.u.s->data + b1 - p->len, p->data, p->len) : !memcmp(self.u.s->data + b0, p->data, p->len);
    }
    *out = jv_bool(r);
    return 0;
}

static int str_pad(struct jinja_ctx *c, jv self, jv widthv, jv fillv, char how, jv *out) {
    int64_t width;
    TRY(want_int(c, widthv, "width", &width));
    const char *fill = " ";
    size_t fill_len = 1;
    if (fillv.type != JV_MISSING) {
        if (fillv.type != JV_STR || jinja_utf8_count(fillv.u.s->data, fillv.u.s->len) != 1)
            return jinja_fail(c, "TypeError", "The fill character must be exactly one character long");
        fill = fillv.u.s->data;
        fill_len = fillv.u.s->len;
    }
    const struct jinja_str *s = self.u.s;
    int64_t n = (int64_t)cp_len(s);
    if (width <= n) {
        *out = self;
        return 0;
    }
    if (width - n > (int64_t)c->max_output) return jinja_fail(c, "MemoryError", "padding too large");
    int64_t marg = width - n, left;
    if (how == 'l') left = 0;
    else if (how == 'r') left = marg;
    else left = marg / 2 + (marg & width & 1);
    struct jinja_buf b = {0};
    for (int64_t k = 0; k < left; k++) TRY(jinja_buf_put(c, &b, fill, fill_len));
    TRY(jinja_buf_put(c, &b, s->data, s->len));
    for (int64_t k = left; k < marg; k++) TRY(jinja_buf_put(c, &b, fill, fill_len));
    TRY(jinja_str_from_buf(c, &b, out));
    out->flags = self.flags;
    return 0;
}

int jinja_str_center(struct jinja_ctx *c, jv self, jv width, jv *out) {
    return str_pad(c, self, width, jv_missing(), 'c', out);
}

static int str_pred(jv self, int id) {
    const struct jinja_str *s = self.u.s;
    if (s->len == 0) return 0;
    bool any_cased = false, ok = true;
    bool prev_cased = false;
    for (size_t i = 0; i < s->len && ok;) {
        uint32_t cp = jinja_utf8_next(s->data, s->len, &i);
        switch (id) {
        case MS_ISALNUM: ok = jinja_uni_isalnum(cp); break;
        case MS_ISALPHA: ok = jinja_uni_isalpha(cp); break;
        case MS_ISASCII: ok = cp < 0x80; break;
        case MS_ISDECIMAL: ok = jinja_uni_isdecimal(cp); break;
        case MS_ISDIGIT: ok = jinja_uni_isdigit(cp); break;
        case MS_ISNUMERIC: ok = jinja_uni_isnumeric(cp); break;
        case MS_ISSPACE: ok = jinja_uni_isspace(cp); break;
        case MS_ISLOWER:
            if (jinja_uni_isupper(cp) || jinja_uni_istitle(cp)) ok = false;
            else if (jinja_uni_islower(cp)) any_cased = true;
            break;
        case MS_ISUPPER:
            if (jinja_uni_islower(cp) || jinja_uni_istitle(cp)) ok = false;
            else if (jinja_uni_isupper(cp)) any_cased = true;
            break;
        default: /* ISTITLE */
            if (jinja_uni_isupper(cp) || jinja_uni_istitle(cp)) {
                if (prev_cased) ok = false;
                prev_cased = true;
                any_cased = true;
            } else if (jinja_uni_islower(cp)) {
                if (!prev_cased) ok = false;
                prev_cased = true;
                any_cased = true;
            } else {
                prev_cased = false;
            }
            break;
        }
    }
    if (id == MS_ISASCII && s->len == 0) return 1;
    if (id == MS_ISLOWER || id == MS_ISUPPER || id == MS_ISTITLE) return ok && any_cased;
    return ok;
}

int jinja_str_splitlines(struct jinja_ctx *c, jv self, bool keepends, jv *out) {
    const struct jinja_str *s = self.u.s;
    struct jinja_list *l = jinja_list_new(c, JL_LIST, 0);
    if (!l) return ERR_NOMEM;
    size_t i = 0, start = 0;
    while (i < s->len) {
        size_t k = i;
        uint32_t cp = jinja_utf8_next(s->data, s->len, &k);
        if (jinja_uni_is_linebreak(cp)) {
            size_t eol = k;
            if (cp == '\r' && k < s->len && s->data[k] == '\n') eol = k + 1;
            TRY(push_str(c, l, s->data + start, (keepends ? eol : i) - start, self.flags));
            start = i = eol;
        } else {
            i = k;
        }
    }
    if (start < s->len) TRY(push_str(c, l, s->data + start, s->len - start, self.flags));
    *out = jv_listv(l);
    return 0;
}

static int str_partition(struct jinja_ctx *c, jv self, jv sepv, bool right, jv *out) {
    TRY(want_str(c, sepv, "partition() separator"));
    const struct jinja_str *s = self.u.s, *sep = sepv.u.s;
    if (!sep->len) return jinja_fail(c, "ValueError", "empty separator");
    int64_t at = str_find(s, sep, 0, s->len, right);
    struct jinja_list *t = jinja_list_new(c, JL_TUPLE, 3);
    if (!t) return ERR_NOMEM;
    if (at < 0) {
        if (right) {
            TRY(push_str(c, t, "", 0, self.flags));
            TRY(push_str(c, t, "", 0, self.flags));
            TRY(jinja_list_push(c, t, self));
        } else {
            TRY(jinja_list_push(c, t, self));
            TRY(push_str(c, t, "", 0, self.flags));
            TRY(push_str(c, t, "", 0, self.flags));
        }
    } else {
        size_t p = cp_off(s, (size_t)at);
        TRY(push_str(c, t, s->data, p, self.flags));
        TRY(jinja_list_push(c, t, sepv));
        TRY(push_str(c, t, s->data + p + sep->len, s->len - p - sep->len, self.flags));
    }
    *out = jv_listv(t);
    return 0;
}

static int call_str_method(struct jinja_ctx *c, int id, jv self, const struct jinja_callargs *a, jv *out) {
    const struct jinja_str *s = self.u.s;
    jv args[4];
    const char *nm = method_name(id);
    switch (id) {
    case MS_CAPITALIZE:
    case MS_CASEFOLD:
    case MS_LOWER:
    case MS_UPPER:
    case MS_TITLE:
    case MS_SWAPCASE: {
        TRY(pos_args(c, nm, a, 0, 0, args));
        int op = id == MS_CAPITALIZE ? JCASE_CAPITALIZE
                 : id == MS_CASEFOLD ? JCASE_CASEFOLD
                 : id == MS_LOWER    ? JCASE_LOWER
                 : id == MS_UPPER    ? JCASE_UPPER
                 : id == MS_TITLE    ? JCASE_TITLE
                                     : JCASE_SWAPCASE;
        struct jinja_buf b = {0};
        TRY(jinja_str_case(c, &b, s->data, s->len, op));
        TRY(jinja_str_from_buf(c, &b, out));
        out->flags = self.flags;
        return 0;
    }
    case MS_CENTER:
    case MS_LJUST:
    case MS_RJUST:
        TRY(pos_args(c, nm, a, 1, 2, args));
        return str_pad(c, self, args[0], args[1], id == MS_CENTER ? 'c' : id == MS_LJUST ? 'l' : 'r', out);
    case MS_ZFILL: {
        TRY(pos_args(c, nm, a, 1, 1, args));
        int64_t width;
        TRY(want_int(c, args[0], "zfill", &width));
        int64_t n = (int64_t)cp_len(s);
        if (width <= n) {
            *out = self;
            return 0;
        }
        if (width > (int64_t)c->max_output) return jinja_fail(c, "MemoryError", "zfill width too large");
        struct jinja_buf b = {0};
        size_t sign = s->len && (s->data[0] == '+' || s->data[0] == '-') ? 1 : 0;
        TRY(jinja_buf_put(c, &b, s->data, sign));
        for (int64_t k = n; k < width; k++) TRY(jinja_buf_putc(c, &b, '0'));
        TRY(jinja_buf_put(c, &b, s->data + sign, s->len - sign));
        return jinja_str_from_buf(c, &b, out);
    }
    case MS_COUNT:
    case MS_FIND:
    case MS_RFIND:
    case MS_INDEX:
    case MS_RINDEX: {
        TRY(pos_args(c, nm, a, 1, 3, args));
        TRY(want_str(c, args[0], nm));
        size_t b0, b1;
        TRY(range_args(c, s, args[1], args[2], &b0, &b1));
        const struct jinja_str *sub = args[0].u.s;
        if (id == MS_COUNT) {
            int64_t cnt = 0;
            if (b0 <= s->len && b1 >= b0) {
                if (sub->len == 0) cnt = (int64_t)(byte_to_cp(s, b1) - byte_to_cp(s, b0)) + 1;
                else
                    for (size_t i = b0; b1 - i >= sub->len;) {
                        const char *hit = memmem(s->data + i, b1 - i, sub->data, sub->len);
                        if (!hit) break;
                        cnt++;
                        i = (size_t)(hit - s->data) + sub->len;
                    }
            }
            *out = jv_int(cnt);
            return 0;
        }
        int64_t at = str_find(s, sub, b0, b1, id == MS_RFIND || id == MS_RINDEX);
        if (at < 0 && (id == MS_INDEX || id == MS_RINDEX)) return jinja_fail(c, "ValueError", "substring not found");
        *out = jv_int(at);
        return 0;
    }
    case MS_STARTSWITH:
    case MS_ENDSWITH: return str_affix(c, self, a, id == MS_ENDSWITH, out);
    case MS_FORMAT: return str_format(c, self, a, out);
    case MS_ISALNUM:
    case MS_ISALPHA:
    case MS_ISASCII:
    case MS_ISDECIMAL:
    case MS_ISDIGIT:
    case MS_ISLOWER:
    case MS_ISNUMERIC:
    case MS_ISSPACE:
    case MS_ISTITLE:
    case MS_ISUPPER:
        TRY(pos_args(c, nm, a, 0, 0, args));
        *out = jv_bool(id == MS_ISASCII && s->len == 0 ? true : str_pred(self, id) != 0);
        return 0;
    case MS_JOIN: {
        TRY(pos_args(c, nm, a, 1, 1, args));
        jv *items;
        size_t n;
        TRY(jinja_iterate(c, args[0], &items, &n));
        struct jinja_buf b = {0};
        for (size_t i = 0; i < n; i++) {
            if (items[i].type != JV_STR)
                return jinja_fail(c, "TypeError", "sequence item %zu: expected str instance, %s found", i,
                                  jinja_type_name(items[i]));
            if (i) TRY(jinja_buf_put(c, &b, s->data, s->len));
            TRY(jinja_buf_put(c, &b, items[i].u.s->data, items[i].u.s->len));
        }
        TRY(jinja_str_from_buf(c, &b, out));
        out->flags = self.flags;
        return 0;
    }
    case MS_STRIP:
    case MS_LSTRIP:
    case MS_RSTRIP:
        TRY(pos_args(c, nm, a, 0, 1, args));
        if (args[0].type != JV_MISSING && args[0].type != JV_NONE) TRY(want_str(c, args[0], nm));
        return str_strip(c, self, args[0].type == JV_STR ? args[0].u.s : NULL,
                         id == MS_STRIP ? 3 : id == MS_LSTRIP ? 1 : 2, out);
    case MS_PARTITION:
    case MS_RPARTITION:
        TRY(pos_args(c, nm, a, 1, 1, args));
        return str_partition(c, self, args[0], id == MS_RPARTITION, out);
    case MS_REMOVEPREFIX:
    case MS_REMOVESUFFIX: {
        TRY(pos_args(c, nm, a, 1, 1, args));
        TRY(want_str(c, args[0], nm));
        const struct jinja_str *p = args[0].u.s;
        *out = self;
        if (p->len && p->len <= s->len) {
            if (id == MS_REMOVEPREFIX && !memcmp(s->data, p->data, p->len))
                TRY(jinja_make_str(c, s->data + p->len, s->len - p->len, out));
            else if (id == MS_REMOVESUFFIX && !memcmp(s->data + s->len - p->len, p->data, p->len))
                TRY(jinja_make_str(c, s->data, s->len - p->len, out));
            out->flags = self.flags;
        }
        return 0;
    }
    case MS_REPLACE: {
        TRY(pos_args(c, nm, a, 2, 3, args));
        TRY(want_str(c, args[0], "replace() argument 1"));
        TRY(want_str(c, args[1], "replace() argument 2"));
        int64_t count = -1;
        if (args[2].type != JV_MISSING) TRY(want_int(c, args[2], "replace() count", &count));
        return jinja_str_replace(c, self, args[0], args[1], count, out);
    }
    case MS_SPLIT:
    case MS_RSPLIT: {
        static const char *const names[] = {"sep", "maxsplit"};
        TRY(jinja_bind(c, nm, a, names, 2, args));
        return str_split(c, self, args[0], args[1], id == MS_RSPLIT, out);
    }
    case MS_SPLITLINES: {
        static const char *const names[] = {"keepends"};
        TRY(jinja_bind(c, nm, a, names, 1, args));
        return jinja_str_splitlines(c, self, args[0].type != JV_MISSING && jinja_truthy(args[0]), out);
    }
    default: return jinja_fail(c, "NotImplementedError", "str.%s() is not supported", nm);
    }
}

/* ------------------------------------------------------------ dict / list methods */

int jinja_dict_items(struct jinja_ctx *c, const struct jinja_dict *d, uint8_t kind, jv *out) {
    struct jinja_list *l = jinja_list_new(c, kind, d->len);
    if (!l) return ERR_NOMEM;
    for (size_t i = 0; i < d->len; i++) {
        if (kind == JL_KEYS) l->items[i] = d->keys[i];
        else if (kind == JL_VALUES) l->items[i] = d->vals[i];
        else {
            struct jinja_list *t = jinja_list_new(c, JL_TUPLE, 2);
            if (!t) return ERR_NOMEM;
            t->items[0] = d->keys[i];
            t->items[1] = d->vals[i];
            t->len = 2;
            l->items[i] = jv_listv(t);
        }
    }
    l->len = d->len;
    *out = jv_listv(l);
    return 0;
}

static int call_container_method(struct jinja_ctx *c, int id, jv self, const struct jinja_callargs *a, jv *out) {
    jv args[3];
    const char *nm = method_name(id);
    switch (id) {
    case MD_GET: {
        TRY(pos_args(c, "get", a, 1, 2, args));
        int r = jinja_dict_get(c, self.u.d, args[0], out);
        if (r < 0) return r;
        if (r == 0) *out = args[1].type == JV_MISSING ? jv_none() : args[1];
        return 0;
    }
    case MD_ITEMS:
    case MD_KEYS:
    case MD_VALUES:
        TRY(pos_args(c, nm, a, 0, 0, args));
        return jinja_dict_items(c, self.u.d, id == MD_ITEMS ? JL_ITEMS : id == MD_KEYS ? JL_KEYS : JL_VALUES, out);
    case MD_COPY: {
        TRY(pos_args(c, nm, a, 0, 0, args));
        struct jinja_dict *d = jinja_dict_new(c, self.u.d->len);
        if (!d) return ERR_NOMEM;
        for (size_t i = 0; i < self.u.d->len; i++) TRY(jinja_dict_set(c, d, self.u.d->keys[i], self.u.d->vals[i]));
        *out = jv_dictv(d);
        return 0;
    }
    case ML_COPY: {
        TRY(pos_args(c, nm, a, 0, 0, args));
        struct jinja_list *l = jinja_list_new(c, JL_LIST, self.u.l->len);
        if (!l) return ERR_NOMEM;
        if (self.u.l->len) memcpy(l->items, self.u.l->items, self.u.l->len * sizeof(jv));
        l->len = self.u.l->len;
        *out = jv_listv(l);
        return 0;
    }
    case ML_COUNT:
    case ML_INDEX: {
        TRY(pos_args(c, nm, a, 1, id == ML_INDEX ? 3 : 1, args));
        const struct jinja_list *l = self.u.l;
        int64_t n = (int64_t)l->len, st = 0, en = n, cnt = 0;
        if (id == ML_INDEX) {
            if (args[1].type != JV_MISSING) TRY(want_int(c, args[1], "index", &st));
            if (args[2].type != JV_MISSING) TRY(want_int(c, args[2], "index", &en));
            if (st < 0) st = st + n < 0 ? 0 : st + n;
            if (en < 0) en = en + n < 0 ? 0 : en + n;
            if (en > n) en = n;
        }
        for (int64_t i = st; i < en; i++) {
            bool e;
            TRY(jinja_eq(c, l->items[i], args[0], &e));
            if (e && id == ML_INDEX) {
                *out = jv_int(i);
                return 0;
            }
            cnt += e;
        }
        if (id == ML_INDEX) return jinja_fail(c, "ValueError", "value is not in list");
        *out = jv_int(cnt);
        return 0;
    }
    case ML_POP: {
        TRY(pos_args(c, nm, a, 0, 1, args));
        struct jinja_list *l = self.u.l;
        int64_t i = (int64_t)l->len - 1;
        if (args[0].type != JV_MISSING) {
            TRY(want_int(c, args[0], "pop", &i));
            if (i < 0) i += (int64_t)l->len;
        }
        if (l->len == 0) return jinja_fail(c, "IndexError", "pop from empty list");
        if (i < 0 || i >= (int64_t)l->len) return jinja_fail(c, "IndexError", "pop index out of range");
        *out = l->items[i];
        memmove(l->items + i, l->items + i + 1, (l->len - (size_t)i - 1) * sizeof(jv));
        l->len--;
        return 0;
    }
    case ML_CLEAR:
        TRY(pos_args(c, nm, a, 0, 0, args));
        self.u.l->len = 0;
        *out = jv_none();
        return 0;
    default: return jinja_fail(c, "NotImplementedError", "%s.%s() is not supported", jinja_type_name(self), nm);
    }
}

/* ------------------------------------------------------------ globals */

static int g_range(struct jinja_ctx *c, const struct jinja_callargs *a, jv *out) {
    TRY(no_kwargs(c, "range", a));
    if (a->n_pos < 1 || a->n_pos > 3)
        return jinja_fail(c, "TypeError", "range expected at most 3 arguments, got %zu", a->n_pos);
    int64_t v[3];
    for (size_t i = 0; i < a->n_pos; i++) TRY(want_int(c, a->pos[i], "range", &v[i]));
    int64_t start = 0, stop, step = 1;
    if (a->n_pos == 1) stop = v[0];
    else {
        start = v[0];
        stop = v[1];
        if (a->n_pos == 3) step = v[2];
    }
    if (step == 0) return jinja_fail(c, "ValueError", "range() arg 3 must not be zero");
    int64_t n = 0;
    if (step > 0 && start < stop) n = (int64_t)(((__int128)stop - start - 1) / step + 1);
    else if (step < 0 && start > stop) n = (int64_t)(((__int128)start - stop - 1) / (-(__int128)step) + 1);
    if (n > 100000)
        return jinja_fail(c, "OverflowError",
                          "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    struct jinja_list *l = jinja_list_new(c, JL_RANGE, (size_t)n);
    if (!l) return ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) l->items[i] = jv_int(start + i * step);
    l->len = (size_t)n;
    l->r_start = start;
    l->r_stop = stop;
    l->r_step = step;
    *out = jv_listv(l);
    return 0;
}

/* dict(*args, **kwargs) semantics into d. */
static int dict_update(struct jinja_ctx *c, struct jinja_dict *d, const struct jinja_callargs *a, const char *what) {
    if (a->n_pos > 1) return jinja_fail(c, "TypeError", "%s expected at most 1 argument, got %zu", what, a->n_pos);
    if (a->n_pos == 1) {
        jv src = a->pos[0];
        if (src.type == JV_DICT || src.type == JV_NS) {
            for (size_t i = 0; i < src.u.d->len; i++) TRY(jinja_dict_set(c, d, src.u.d->keys[i], src.u.d->vals[i]));
        } else {
            jv *items;
            size_t n;
            TRY(jinja_iterate(c, src, &items, &n));
            for (size_t i = 0; i < n; i++) {
                jv *kv;
                size_t m;
                if (items[i].type != JV_LIST && items[i].type != JV_STR)
                    return jinja_fail(c, "TypeError", "cannot convert dictionary update sequence element #%zu to a sequence", i);
                TRY(jinja_iterate(c, items[i], &kv, &m));
                if (m != 2)
                    return jinja_fail(c, "ValueError", "dictionary update sequence element #%zu has length %zu; 2 is required", i, m);
                TRY(jinja_dict_set(c, d, kv[0], kv[1]));
            }
        }
    }
    for (size_t i = 0; i < a->n_kw; i++)
        TRY(jinja_dict_set(c, d, jv_strv((struct jinja_str *)a->kw_names[i]), a->kw_vals[i]));
    return 0;
}

static int g_strftime(struct jinja_ctx *c, const struct jinja_callargs *a, jv *out) {
    jv fmtv;
    static const char *const names[] = {"format"};
    TRY(jinja_bind(c, "strftime_now", a, names, 1, &fmtv));
    if (fmtv.type == JV_MISSING) return jinja_fail(c, "TypeError", "strftime_now() missing 1 required positional argument: 'format'");
    TRY(want_str(c, fmtv, "strftime_now"));
    time_t t = c->now_set ? (time_t)c->now_epoch : time(NULL);
    struct tm tm;
    if (c->now_set) gmtime_r(&t, &tm);
    else localtime_r(&t, &tm);
    /* handle %f, %z, %Z like Python's datetime (aware UTC for a fixed clock, naive local otherwise) */
    const struct jinja_str *f = fmtv.u.s;
    struct jinja_buf pre = {0};
    for (size_t i = 0; i < f->len; i++) {
        if (f->data[i] == '%' && i + 1 < f->len) {
            char k = f->data[i + 1];
            if (k == 'f') {
                TRY(jinja_buf_put(c, &pre, "000000", 6));
                i++;
                continue;
            }
            if (k == 'z' || k == 'Z') {
                if (c->now_set) TRY(jinja_buf_put(c, &pre, k == 'z' ? "+0000" : "UTC", k == 'z' ? 5 : 3));
                i++;
                continue;
            }
            TRY(jinja_buf_put(c, &pre, f->data + i, 2));
            i++;
            continue;
        }
        if (f->data[i] == '%') TRY(jinja_buf_put(c, &pre, "%%", 2));
        else TRY(jinja_buf_putc(c, &pre, f->data[i]));
    }
    if (pre.len == 0) return jinja_make_str(c, "", 0, out);
    size_t cap = pre.len * 8 + 64;
    if (cap > 65536) return jinja_fail(c, "ValueError", "strftime format too long");
    char *buf = jinja_alloc(c, cap);
    if (!buf) return ERR_NOMEM;
    size_t n = strftime(buf, cap, pre.p, &tm);
    return jinja_make_str(c, buf, n, out);
}

static int call_global(struct jinja_ctx *c, int id, const struct jinja_callargs *a, jv *out) {
    switch (id) {
    case JS_RANGE: return g_range(c, a, out);
    case JS_DICT:
    case JS_NAMESPACE: {
        struct jinja_dict *d = jinja_dict_new(c, 0);
        if (!d) return ERR_NOMEM;
        TRY(dict_update(c, d, a, id == JS_DICT ? "dict" : "namespace"));
        *out = jv_dictv(d);
        if (id == JS_NAMESPACE) out->type = JV_NS;
        return 0;
    }
    case JS_RAISE_EXCEPTION: {
        jv msg;
        static const char *const names[] = {"message"};
        TRY(jinja_bind(c, "raise_exception", a, names, 1, &msg));
        if (msg.type == JV_MISSING)
            return jinja_fail(c, "TypeError", "raise_exception() missing 1 required positional argument: 'message'");
        struct jinja_buf b = {0};
        TRY(jinja_write_str(c, &b, msg));
        return jinja_fail(c, NULL, "%.*s", (int)(b.len > 400 ? 400 : b.len), b.p ? b.p : "");
    }
    case JS_STRFTIME_NOW: return g_strftime(c, a, out);
    case JS_CYCLER: {
        TRY(no_kwargs(c, "cycler", a));
        if (!a->n_pos) return jinja_fail(c, "RuntimeError", "at least one item has to be provided");
        struct jinja_cycler *cy = jinja_alloc(c, sizeof *cy);
        jv *items = jinja_alloc(c, a->n_pos * sizeof(jv));
        if (!cy || !items) return ERR_NOMEM;
        memcpy(items, a->pos, a->n_pos * sizeof(jv));
        cy->items = items;
        cy->n = a->n_pos;
        *out = (jv){0};
        out->type = JV_CYCLER;
        out->u.cyc = cy;
        return 0;
    }
    case JS_JOINER: {
        jv sep;
        static const char *const names[] = {"sep"};
        TRY(jinja_bind(c, "joiner", a, names, 1, &sep));
        struct jinja_func *fn = jinja_alloc(c, sizeof *fn);
        if (!fn) return ERR_NOMEM;
        fn->kind = JF_JOINER;
        if (sep.type == JV_MISSING) TRY(jinja_make_str(c, ", ", 2, &sep));
        fn->sep = sep;
        *out = (jv){0};
        out->type = JV_FUNC;
        out->u.fn = fn;
        return 0;
    }
    default: return jinja_fail(c, "NotImplementedError", "lipsum() is not supported (it is random)");
    }
}

int jinja_call_value(struct jinja_ctx *c, jv fn, const struct jinja_callargs *a, jv *out) {
    if (fn.type == JV_UNDEF) return jinja_undef_error(c, fn);
    if (fn.type != JV_FUNC) return jinja_fail(c, "TypeError", "'%s' object is not callable", jinja_type_name(fn));
    struct jinja_func *f = fn.u.fn;
    switch (f->kind) {
    case JF_GLOBAL: return call_global(c, f->id, a, out);
    case JF_MACRO: return jinja_call_macro(c, f, a, out);
    case JF_JOINER: {
        jv none[1];
        TRY(pos_args(c, "joiner", a, 0, 0, none));
        if (!f->used) {
            f->used = true;
            return jinja_make_str(c, "", 0, out);
        }
        *out = f->sep;
        return 0;
    }
    default: break;
    }
    jv self = f->self;
    switch (f->id) {
    case JM_LOOP_CYCLE: {
        TRY(no_kwargs(c, "cycle", a));
        if (!a->n_pos) return jinja_fail(c, "TypeError", "no items for cycling given");
        *out = a->pos[jinja_loop_index0(self.u.loop) % (int64_t)a->n_pos];
        return 0;
    }
    case JM_LOOP_CHANGED: TRY(no_kwargs(c, "changed", a)); return jinja_loop_changed(c, self.u.loop, a, out);
    case JM_CYCLER_NEXT: {
        jv none[1];
        TRY(pos_args(c, "next", a, 0, 0, none));
        struct jinja_cycler *cy = self.u.cyc;
        *out = cy->items[cy->pos];
        cy->pos = (cy->pos + 1) % cy->n;
        return 0;
    }
    case JM_CYCLER_RESET: {
        jv none[1];
        TRY(pos_args(c, "reset", a, 0, 0, none));
        self.u.cyc->pos = 0;
        *out = jv_none();
        return 0;
    }
    default: break;
    }
    TRY(jinja_step(c));
    if (self.type == JV_STR) return call_str_method(c, f->id, self, a, out);
    return call_container_method(c, f->id, self, a, out);
}
