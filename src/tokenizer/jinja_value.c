/* jinja_value: the interpreter's values with Python semantics.
 *
 * - arena allocation (bounded per render), output buffers, errors;
 * - str / list / dict objects (dicts keep insertion order and use Python key
 *   equality: 1, 1.0 and True are the same key);
 * - ==, <, `in`, hash, truthiness, len and iteration as Python defines them
 *   for the types a template can see (Jinja's Undefined included);
 * - str() and repr() byte-for-byte like CPython (float repr is the shortest
 *   round-trip form, strings are quoted and escaped the same way);
 * - json.dumps for the tojson filter, and values from cJSON or JSON text.
 *
 * Recursion over nested data (repr, ==, json) is bounded by ctx->cdepth.
 * A jinja_ctx belongs to one render on one thread. */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja.h"

#define MAX_DATA_DEPTH 500

/* ------------------------------------------------------------ arena */

struct jinja_arena_chunk {
    struct jinja_arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void jinja_arena_init(struct jinja_arena *a, size_t limit) {
    a->head = NULL;
    a->used = 0;
    a->limit = limit;
}

void jinja_arena_free(struct jinja_arena *a) {
    struct jinja_arena_chunk *ch = a->head;
    while (ch) {
        struct jinja_arena_chunk *next = ch->next;
        free(ch);
        ch = next;
    }
    a->head = NULL;
    a->used = 0;
}

void *jinja_arena_alloc(struct jinja_arena *a, size_t n) {
    void *p = jinja_arena_alloc_raw(a, n);
    if (p) memset(p, 0, (n + 15) & ~(size_t)15);
    return p;
}

void *jinja_arena_alloc_raw(struct jinja_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    struct jinja_arena_chunk *ch = a->head;
    if (!ch || ch->size - ch->used < n) {
        size_t size = n > 48 * 1024 ? n : 64 * 1024 - sizeof *ch;
        if (a->limit && a->used + size + sizeof *ch > a->limit) return NULL;
        ch = malloc(sizeof *ch + size);
        if (!ch) return NULL;
        ch->size = size;
        ch->used = 0;
        a->used += size + sizeof *ch;
        if (n > 48 * 1024 && a->head) { /* keep filling the current small chunk */
            ch->next = a->head->next;
            a->head->next = ch;
            ch->used = n;
            return ch->data;
        }
        ch->next = a->head;
        a->head = ch;
    }
    void *p = ch->data + ch->used;
    ch->used += n;
    return p;
}

/* ------------------------------------------------------------ errors */

int jinja_fail(struct jinja_ctx *c, const char *exc, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (exc) err_setf(c->err, ERR_INVALID, "%s: %s (template line %d)", exc, msg, c->line);
    else err_setf(c->err, ERR_INVALID, "%s", msg);
    return ERR_INVALID;
}

int jinja_oom(struct jinja_ctx *c) {
    if (c->arena.limit && c->arena.used + 65536 > c->arena.limit)
        return c->fatal = true, jinja_fail(c, "MemoryError", "the template used more than %zu bytes of memory", c->arena.limit);
    c->fatal = true;
    err_setf(c->err, ERR_NOMEM, "out of memory while rendering the chat template");
    return ERR_NOMEM;
}

int jinja_gen_raise(struct jinja_ctx *c, const struct jinja_list *l) { return jinja_fail(c, NULL, "%s", l->pending); }

int jinja_step(struct jinja_ctx *c) {
    if (++c->steps > c->max_steps)
        return c->fatal = true, jinja_fail(c, "RuntimeError", "the template ran more than %" PRId64 " steps", c->max_steps);
    return 0;
}

void *jinja_alloc(struct jinja_ctx *c, size_t n) {
    void *p = jinja_arena_alloc(&c->arena, n);
    if (!p) jinja_oom(c);
    return p;
}

/* ------------------------------------------------------------ buffers */

int jinja_buf_put(struct jinja_ctx *c, struct jinja_buf *b, const char *s, size_t n) {
    if (!n) return 0;
    if (b->len + n > c->max_output)
        return c->fatal = true, jinja_fail(c, "RuntimeError", "the rendered text exceeds %zu bytes", c->max_output);
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        while (ncap < b->len + n + 1) ncap *= 2;
        char *np = jinja_arena_alloc_raw(&c->arena, ncap);
        if (!np) return jinja_oom(c);
        if (b->len) memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

int jinja_buf_putc(struct jinja_ctx *c, struct jinja_buf *b, char ch) { return jinja_buf_put(c, b, &ch, 1); }

int jinja_buf_printf(struct jinja_ctx *c, struct jinja_buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    return jinja_buf_put(c, b, tmp, (size_t)n);
}

/* ------------------------------------------------------------ objects */

static bool all_ascii(const char *s, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL) return false;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

struct jinja_str *jinja_str_new_in(struct jinja_arena *a, const char *s, size_t n) {
    struct jinja_str *r = jinja_arena_alloc_raw(a, sizeof *r + n + 1);
    if (!r) return NULL;
    r->len = n;
    if (n) memcpy(r->data, s, n);
    r->data[n] = 0;
    r->ascii = all_ascii(s, n);
    return r;
}

struct jinja_str *jinja_str_new(struct jinja_ctx *c, const char *s, size_t n) {
    struct jinja_str *r = jinja_str_new_in(&c->arena, s, n);
    if (!r) jinja_oom(c);
    return r;
}

int jinja_make_str(struct jinja_ctx *c, const char *s, size_t n, jv *out) {
    struct jinja_str *r = jinja_str_new(c, s, n);
    if (!r) return ERR_NOMEM;
    *out = jv_strv(r);
    return 0;
}

int jinja_str_from_buf(struct jinja_ctx *c, const struct jinja_buf *b, jv *out) {
    return jinja_make_str(c, b->p ? b->p : "", b->len, out);
}

struct jinja_list *jinja_list_new(struct jinja_ctx *c, uint8_t kind, size_t cap) {
    struct jinja_list *l = jinja_alloc(c, sizeof *l);
    if (!l) return NULL;
    l->kind = kind;
    if (cap) {
        l->items = jinja_alloc(c, cap * sizeof(jv));
        if (!l->items) return NULL;
        l->cap = cap;
    }
    return l;
}

int jinja_list_push(struct jinja_ctx *c, struct jinja_list *l, jv v) {
    if (l->len == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        jv *ni = jinja_alloc(c, ncap * sizeof(jv));
        if (!ni) return ERR_NOMEM;
        if (l->len) memcpy(ni, l->items, l->len * sizeof(jv));
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->len++] = v;
    return 0;
}

struct jinja_dict *jinja_dict_new(struct jinja_ctx *c, size_t cap) {
    struct jinja_dict *d = jinja_alloc(c, sizeof *d);
    if (!d) return NULL;
    if (cap) {
        d->keys = jinja_alloc(c, cap * sizeof(jv));
        d->vals = jinja_alloc(c, cap * sizeof(jv));
        if (!d->keys || !d->vals) return NULL;
        d->cap = cap;
    }
    return d;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t str_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return mix64(h);
}

int jinja_hash(struct jinja_ctx *c, jv v, uint64_t *out) {
    switch (v.type) {
    case JV_UNDEF: *out = 0x5eed; return 0;
    case JV_NONE: *out = 0x9e37; return 0;
    case JV_BOOL:
    case JV_INT: *out = mix64((uint64_t)jv_as_int(v)); return 0;
    case JV_FLOAT: {
        double f = v.u.f;
        if (f == floor(f) && fabs(f) < 9.2e18) *out = mix64((uint64_t)(int64_t)f);
        else if (isnan(f)) *out = 0x7ff8;
        else {
            uint64_t bits;
            memcpy(&bits, &f, sizeof bits);
            *out = mix64(bits);
        }
        return 0;
    }
    case JV_STR: *out = str_hash(v.u.s->data, v.u.s->len); return 0;
    case JV_LIST:
        if (v.u.l->kind == JL_TUPLE || v.u.l->kind == JL_GROUP || v.u.l->kind == JL_RANGE) {
            uint64_t h = 0x345678;
            if (++c->cdepth > MAX_DATA_DEPTH) {
                c->cdepth--;
                return jinja_fail(c, "RecursionError", "maximum recursion depth exceeded");
            }
            for (size_t i = 0; i < v.u.l->len; i++) {
                uint64_t e;
                int rc = jinja_hash(c, v.u.l->items[i], &e);
                if (rc) {
                    c->cdepth--;
                    return rc;
                }
                h = mix64(h ^ e) + i;
            }
            c->cdepth--;
            *out = h;
            return 0;
        }
        if (v.u.l->kind == JL_GEN) {
            *out = mix64((uint64_t)(uintptr_t)v.u.l);
            return 0;
        }
        return jinja_fail(c, "TypeError", "unhashable type: '%s'", jinja_type_name(v));
    case JV_DICT:
    case JV_NS:
        if (v.type == JV_DICT) return jinja_fail(c, "TypeError", "unhashable type: 'dict'");
        *out = mix64((uint64_t)(uintptr_t)v.u.d);
        return 0;
    default: *out = mix64((uint64_t)(uintptr_t)v.u.fn); return 0;
    }
}

static int dict_index_build(struct jinja_ctx *c, struct jinja_dict *d, size_t cap) {
    uint32_t *idx = jinja_alloc(c, cap * sizeof *idx);
    if (!idx) return ERR_NOMEM;
    for (size_t k = 0; k < d->len; k++) {
        uint64_t h;
        int rc = jinja_hash(c, d->keys[k], &h);
        if (rc) return rc;
        size_t s = (size_t)h & (cap - 1);
        while (idx[s]) s = (s + 1) & (cap - 1);
        idx[s] = (uint32_t)(k + 1);
    }
    d->index = idx;
    d->index_cap = cap;
    return 0;
}

/* Returns the entry of key or -1; <-1 on error (as -1 - code). */
static int dict_find(struct jinja_ctx *c, const struct jinja_dict *d, jv key, uint64_t h, int64_t *pos) {
    *pos = -1;
    if (d->index) {
        size_t mask = d->index_cap - 1;
        for (size_t s = (size_t)h & mask;; s = (s + 1) & mask) {
            uint32_t e = d->index[s];
            if (!e) return 0;
            bool eq;
            int rc = jinja_eq(c, d->keys[e - 1], key, &eq);
            if (rc) return rc;
            if (eq) {
                *pos = e - 1;
                return 0;
            }
        }
    }
    for (size_t k = 0; k < d->len; k++) {
        bool eq;
        int rc = jinja_eq(c, d->keys[k], key, &eq);
        if (rc) return rc;
        if (eq) {
            *pos = (int64_t)k;
            return 0;
        }
    }
    return 0;
}

int jinja_dict_get(struct jinja_ctx *c, const struct jinja_dict *d, jv key, jv *val) {
    uint64_t h;
    int rc = jinja_hash(c, key, &h);
    if (rc) return rc;
    int64_t pos;
    if ((rc = dict_find(c, d, key, h, &pos))) return rc;
    if (pos < 0) return 0;
    *val = d->vals[pos];
    return 1;
}

bool jinja_dict_get_str(const struct jinja_dict *d, const char *s, size_t n, jv *val) {
    if (d->index) {
        uint64_t h = str_hash(s, n);
        size_t mask = d->index_cap - 1;
        for (size_t k = (size_t)h & mask;; k = (k + 1) & mask) {
            uint32_t e = d->index[k];
            if (!e) return false;
            jv key = d->keys[e - 1];
            if (key.type == JV_STR && key.u.s->len == n && memcmp(key.u.s->data, s, n) == 0) {
                *val = d->vals[e - 1];
                return true;
            }
        }
    }
    for (size_t k = 0; k < d->len; k++) {
        jv key = d->keys[k];
        if (key.type == JV_STR && key.u.s->len == n && memcmp(key.u.s->data, s, n) == 0) {
            *val = d->vals[k];
            return true;
        }
    }
    return false;
}

int jinja_dict_set(struct jinja_ctx *c, struct jinja_dict *d, jv key, jv val) {
    uint64_t h;
    int rc = jinja_hash(c, key, &h);
    if (rc) return rc;
    int64_t pos;
    if ((rc = dict_find(c, d, key, h, &pos))) return rc;
    if (pos >= 0) {
        d->vals[pos] = val;
        return 0;
    }
    if (d->len == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        jv *nk = jinja_alloc(c, ncap * sizeof(jv)), *nv = jinja_alloc(c, ncap * sizeof(jv));
        if (!nk || !nv) return ERR_NOMEM;
        if (d->len) {
            memcpy(nk, d->keys, d->len * sizeof(jv));
            memcpy(nv, d->vals, d->len * sizeof(jv));
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = ncap;
    }
    d->keys[d->len] = key;
    d->vals[d->len] = val;
    d->len++;
    if (d->len > 8) {
        if (!d->index || d->len * 2 > d->index_cap) {
            size_t cap = 32;
            while (cap < d->len * 4) cap *= 2;
            return dict_index_build(c, d, cap);
        }
        size_t mask = d->index_cap - 1, s = (size_t)h & mask;
        while (d->index[s]) s = (s + 1) & mask;
        d->index[s] = (uint32_t)d->len;
    }
    return 0;
}

/* ------------------------------------------------------------ predicates */

bool jinja_truthy(jv v) {
    switch (v.type) {
    case JV_UNDEF:
    case JV_NONE:
    case JV_MISSING: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s->len != 0;
    case JV_LIST: return v.u.l->kind == JL_GEN || v.u.l->len != 0;
    case JV_DICT: return v.u.d->len != 0;
    default: return true;
    }
}

const char *jinja_type_name(jv v) {
    switch (v.type) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return (v.flags & JV_MARKUP) ? "Markup" : "str";
    case JV_LIST:
        switch (v.u.l->kind) {
        case JL_LIST: return "list";
        case JL_TUPLE: return "tuple";
        case JL_GEN: return "generator";
        case JL_ITEMS: return "dict_items";
        case JL_KEYS: return "dict_keys";
        case JL_VALUES: return "dict_values";
        case JL_RANGE: return "range";
        default: return "_GroupTuple";
        }
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_FUNC:
        return v.u.fn->kind == JF_MACRO    ? "Macro"
               : v.u.fn->kind == JF_METHOD ? "builtin_function_or_method"
               : v.u.fn->kind == JF_JOINER ? "Joiner"
                                           : "function";
    case JV_LOOP: return "LoopContext";
    case JV_CYCLER: return "Cycler";
    default: return "object";
    }
}

int jinja_len(struct jinja_ctx *c, jv v, int64_t *out) {
    switch (v.type) {
    case JV_UNDEF: *out = 0; return 0;
    case JV_STR: *out = (int64_t)(v.u.s->ascii ? v.u.s->len : jinja_utf8_count(v.u.s->data, v.u.s->len)); return 0;
    case JV_LIST:
        if (v.u.l->kind == JL_GEN) break;
        *out = (int64_t)v.u.l->len;
        return 0;
    case JV_DICT: *out = (int64_t)v.u.d->len; return 0;
    case JV_LOOP: {
        jv len;
        int rc = jinja_loop_getattr(c, v.u.loop, "length", 6, &len);
        if (!rc) *out = len.u.i;
        return rc;
    }
    default: break;
    }
    return jinja_fail(c, "TypeError", "object of type '%s' has no len()", jinja_type_name(v));
}

int jinja_iterate(struct jinja_ctx *c, jv v, jv **items, size_t *n) {
    switch (v.type) {
    case JV_UNDEF:
        *items = NULL;
        *n = 0;
        return 0;
    case JV_LIST: {
        struct jinja_list *l = v.u.l;
        if (l->kind == JL_GEN) {
            if (l->pending) return jinja_gen_raise(c, l);
            *items = l->items ? l->items + l->pos : NULL;
            *n = l->len - l->pos;
            l->pos = l->len;
            return 0;
        }
        *items = l->items;
        *n = l->len;
        return 0;
    }
    case JV_DICT:
        *items = v.u.d->keys;
        *n = v.u.d->len;
        return 0;
    case JV_STR: {
        const struct jinja_str *s = v.u.s;
        size_t cnt = s->ascii ? s->len : jinja_utf8_count(s->data, s->len);
        jv *out = jinja_alloc(c, (cnt ? cnt : 1) * sizeof(jv));
        if (!out) return ERR_NOMEM;
        size_t i = 0;
        for (size_t k = 0; k < cnt; k++) {
            size_t start = i;
            if (s->ascii) i++;
            else jinja_utf8_next(s->data, s->len, &i);
            struct jinja_str *ch = jinja_str_new(c, s->data + start, i - start);
            if (!ch) return ERR_NOMEM;
            out[k] = jv_strv(ch);
            out[k].flags = v.flags;
        }
        *items = out;
        *n = cnt;
        return 0;
    }
    default: break;
    }
    return jinja_fail(c, "TypeError", "'%s' object is not iterable", jinja_type_name(v));
}

/* ------------------------------------------------------------ comparisons */

/* Exact comparison of an int with a float: -1, 0, 1; 2 if f is NaN. */
static int cmp_int_float(int64_t i, double f) {
    if (isnan(f)) return 2;
    if (f >= 9223372036854775808.0) return -1;
    if (f < -9223372036854775808.0) return 1;
    double fl = floor(f);
    int64_t fi = (int64_t)fl;
    if (i < fi) return -1;
    if (i > fi) return 1;
    return f > fl ? -1 : 0;
}

/* Numeric three-way compare; 2 when unordered (NaN). */
static int num_cmp(jv a, jv b) {
    if (a.type != JV_FLOAT && b.type != JV_FLOAT) {
        int64_t x = jv_as_int(a), y = jv_as_int(b);
        return x < y ? -1 : x > y;
    }
    if (a.type == JV_FLOAT && b.type == JV_FLOAT) {
        if (isnan(a.u.f) || isnan(b.u.f)) return 2;
        return a.u.f < b.u.f ? -1 : a.u.f > b.u.f;
    }
    if (a.type == JV_FLOAT) {
        int r = cmp_int_float(jv_as_int(b), a.u.f);
        return r == 2 ? 2 : -r;
    }
    return cmp_int_float(jv_as_int(a), b.u.f);
}

static bool tuple_like(const struct jinja_list *l) { return l->kind == JL_TUPLE || l->kind == JL_GROUP; }

int jinja_eq(struct jinja_ctx *c, jv a, jv b, bool *out) {
    *out = false;
    if (a.type == JV_UNDEF || b.type == JV_UNDEF) {
        *out = a.type == b.type;
        return 0;
    }
    if (jv_is_num(a) && jv_is_num(b)) {
        *out = num_cmp(a, b) == 0;
        return 0;
    }
    if (a.type != b.type) return 0;
    switch (a.type) {
    case JV_NONE: *out = true; return 0;
    case JV_STR: *out = a.u.s->len == b.u.s->len && memcmp(a.u.s->data, b.u.s->data, a.u.s->len) == 0; return 0;
    case JV_LIST: {
        const struct jinja_list *x = a.u.l, *y = b.u.l;
        if (x == y) {
            *out = true;
            return 0;
        }
        bool same_kind = x->kind == y->kind || (tuple_like(x) && tuple_like(y));
        if (!same_kind || x->kind == JL_GEN || x->kind == JL_ITEMS || x->kind == JL_KEYS || x->kind == JL_VALUES)
            return 0;
        if (x->len != y->len) return 0;
        if (++c->cdepth > MAX_DATA_DEPTH) {
            c->cdepth--;
            return jinja_fail(c, "RecursionError", "maximum recursion depth exceeded in comparison");
        }
        for (size_t i = 0; i < x->len; i++) {
            bool e;
            int rc = jinja_eq(c, x->items[i], y->items[i], &e);
            if (rc) {
                c->cdepth--;
                return rc;
            }
            if (!e) {
                c->cdepth--;
                return 0;
            }
        }
        c->cdepth--;
        *out = true;
        return 0;
    }
    case JV_DICT: {
        const struct jinja_dict *x = a.u.d, *y = b.u.d;
        if (x == y) {
            *out = true;
            return 0;
        }
        if (x->len != y->len) return 0;
        if (++c->cdepth > MAX_DATA_DEPTH) {
            c->cdepth--;
            return jinja_fail(c, "RecursionError", "maximum recursion depth exceeded in comparison");
        }
        for (size_t i = 0; i < x->len; i++) {
            jv other;
            int rc = jinja_dict_get(c, y, x->keys[i], &other);
            bool e = false;
            if (rc == 1) rc = jinja_eq(c, x->vals[i], other, &e);
            if (rc < 0) {
                c->cdepth--;
                return rc;
            }
            if (!e) {
                c->cdepth--;
                return 0;
            }
        }
        c->cdepth--;
        *out = true;
        return 0;
    }
    case JV_FUNC:
        *out = a.u.fn == b.u.fn ||
               (a.u.fn->kind == JF_METHOD && b.u.fn->kind == JF_METHOD && a.u.fn->id == b.u.fn->id &&
                a.u.fn->self.type == b.u.fn->self.type && a.u.fn->self.u.fn == b.u.fn->self.u.fn);
        return 0;
    default: *out = a.u.fn == b.u.fn; return 0;
    }
}

static const char *op_text(int op) {
    switch (op) {
    case JC_LT: return "<";
    case JC_LE: return "<=";
    case JC_GT: return ">";
    default: return ">=";
    }
}

static bool apply_cmp(int r, int op) {
    if (r == 2) return false;
    switch (op) {
    case JC_LT: return r < 0;
    case JC_LE: return r <= 0;
    case JC_GT: return r > 0;
    default: return r >= 0;
    }
}

int jinja_order(struct jinja_ctx *c, jv a, jv b, int op, bool *out) {
    if (a.type == JV_UNDEF) return jinja_undef_error(c, a);
    if (b.type == JV_UNDEF) return jinja_undef_error(c, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        *out = apply_cmp(num_cmp(a, b), op);
        return 0;
    }
    if (a.type == JV_STR && b.type == JV_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int r = memcmp(a.u.s->data, b.u.s->data, n);
        if (r == 0) r = a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
        *out = apply_cmp(r < 0 ? -1 : r > 0, op);
        return 0;
    }
    if (a.type == JV_LIST && b.type == JV_LIST) {
        const struct jinja_list *x = a.u.l, *y = b.u.l;
        bool ok = (x->kind == JL_LIST && y->kind == JL_LIST) || (tuple_like(x) && tuple_like(y));
        if (ok) {
            size_t n = x->len < y->len ? x->len : y->len;
            if (++c->cdepth > MAX_DATA_DEPTH) {
                c->cdepth--;
                return jinja_fail(c, "RecursionError", "maximum recursion depth exceeded in comparison");
            }
            for (size_t i = 0; i < n; i++) {
                bool e;
                int rc = jinja_eq(c, x->items[i], y->items[i], &e);
                if (!rc && !e) rc = jinja_order(c, x->items[i], y->items[i], op, out);
                if (rc || !e) {
                    c->cdepth--;
                    return rc;
                }
            }
            c->cdepth--;
            int r = x->len < y->len ? -1 : x->len > y->len;
            *out = apply_cmp(r, op);
            return 0;
        }
    }
    return jinja_fail(c, "TypeError", "'%s' not supported between instances of '%s' and '%s'", op_text(op),
                      jinja_type_name(a), jinja_type_name(b));
}

int jinja_contains(struct jinja_ctx *c, jv container, jv item, bool *out) {
    *out = false;
    switch (container.type) {
    case JV_UNDEF: return 0;
    case JV_STR:
        if (item.type != JV_STR)
            return jinja_fail(c, "TypeError", "'in <string>' requires string as left operand, not %s",
                              jinja_type_name(item));
        if (item.u.s->len == 0) *out = true;
        else if (item.u.s->len <= container.u.s->len)
            *out = memmem(container.u.s->data, container.u.s->len, item.u.s->data, item.u.s->len) != NULL;
        return 0;
    case JV_DICT: {
        jv tmp;
        int rc = jinja_dict_get(c, container.u.d, item, &tmp);
        if (rc < 0) return rc;
        *out = rc == 1;
        return 0;
    }
    case JV_LIST: {
        struct jinja_list *l = container.u.l;
        size_t start = l->kind == JL_GEN ? l->pos : 0;
        for (size_t i = start; i < l->len; i++) {
            bool e;
            int rc = jinja_eq(c, l->items[i], item, &e);
            if (rc) return rc;
            if (e) {
                if (l->kind == JL_GEN) l->pos = i + 1;
                *out = true;
                return 0;
            }
        }
        if (l->kind == JL_GEN) {
            l->pos = l->len;
            if (l->pending) return jinja_gen_raise(c, l);
        }
        return 0;
    }
    default: break;
    }
    return jinja_fail(c, "TypeError", "argument of type '%s' is not iterable", jinja_type_name(container));
}

/* ------------------------------------------------------------ str / repr */

size_t jinja_format_float(double f, char *buf) {
    if (isnan(f)) return (size_t)sprintf(buf, "nan");
    if (isinf(f)) return (size_t)sprintf(buf, f < 0 ? "-inf" : "inf");
    if (f == 0.0) return (size_t)sprintf(buf, signbit(f) ? "-0.0" : "0.0");
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp: [-]d[.ddd]e[+-]XX */
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[24];
    int nd = 0;
    while (*p && *p != 'e') {
        if (*p != '.') digits[nd++] = *p;
        p++;
    }
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = exp10 + 1;
    size_t o = 0;
    if (neg) buf[o++] = '-';
    if (decpt > 16 || decpt <= -4) {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (int k = 1; k < nd; k++) buf[o++] = digits[k];
        }
        int e = decpt - 1;
        o += (size_t)sprintf(buf + o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (decpt <= 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int k = 0; k < -decpt; k++) buf[o++] = '0';
        for (int k = 0; k < nd; k++) buf[o++] = digits[k];
    } else if (decpt >= nd) {
        for (int k = 0; k < nd; k++) buf[o++] = digits[k];
        for (int k = nd; k < decpt; k++) buf[o++] = '0';
        buf[o++] = '.';
        buf[o++] = '0';
    } else {
        for (int k = 0; k < decpt; k++) buf[o++] = digits[k];
        buf[o++] = '.';
        for (int k = decpt; k < nd; k++) buf[o++] = digits[k];
    }
    buf[o] = 0;
    return o;
}

static int write_str_repr(struct jinja_ctx *c, struct jinja_buf *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    int rc = jinja_buf_putc(c, b, q);
    size_t i = 0, run = 0;
    while (!rc && i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7F && ch != '\\' && ch != (unsigned char)q) {
            i++;
            run++;
            continue;
        }
        if (run) rc = jinja_buf_put(c, b, s + i - run, run);
        run = 0;
        if (rc) break;
        size_t start = i;
        uint32_t cp = jinja_utf8_next(s, n, &i);
        if (cp == '\\') rc = jinja_buf_put(c, b, "\\\\", 2);
        else if (cp == (uint32_t)q) rc = jinja_buf_printf(c, b, "\\%c", q);
        else if (cp == '\t') rc = jinja_buf_put(c, b, "\\t", 2);
        else if (cp == '\n') rc = jinja_buf_put(c, b, "\\n", 2);
        else if (cp == '\r') rc = jinja_buf_put(c, b, "\\r", 2);
        else if (jinja_uni_isprintable(cp)) rc = jinja_buf_put(c, b, s + start, i - start);
        else if (cp < 0x100) rc = jinja_buf_printf(c, b, "\\x%02x", cp);
        else if (cp < 0x10000) rc = jinja_buf_printf(c, b, "\\u%04x", cp);
        else rc = jinja_buf_printf(c, b, "\\U%08x", cp);
    }
    if (!rc && run) rc = jinja_buf_put(c, b, s + n - run, run);
    if (!rc) rc = jinja_buf_putc(c, b, q);
    return rc;
}

static int write_seq(struct jinja_ctx *c, struct jinja_buf *b, const jv *items, size_t n, const char *open,
                     const char *close, bool tuple) {
    int rc = jinja_buf_put(c, b, open, strlen(open));
    for (size_t i = 0; !rc && i < n; i++) {
        if (i) rc = jinja_buf_put(c, b, ", ", 2);
        if (!rc) rc = jinja_write_repr(c, b, items[i]);
    }
    if (!rc && tuple && n == 1) rc = jinja_buf_putc(c, b, ',');
    if (!rc) rc = jinja_buf_put(c, b, close, strlen(close));
    return rc;
}

static int write_dict(struct jinja_ctx *c, struct jinja_buf *b, const struct jinja_dict *d) {
    int rc = jinja_buf_putc(c, b, '{');
    for (size_t i = 0; !rc && i < d->len; i++) {
        if (i) rc = jinja_buf_put(c, b, ", ", 2);
        if (!rc) rc = jinja_write_repr(c, b, d->keys[i]);
        if (!rc) rc = jinja_buf_put(c, b, ": ", 2);
        if (!rc) rc = jinja_write_repr(c, b, d->vals[i]);
    }
    if (!rc) rc = jinja_buf_putc(c, b, '}');
    return rc;
}

static int write_repr_inner(struct jinja_ctx *c, struct jinja_buf *b, jv v) {
    char tmp[64];
    switch (v.type) {
    case JV_UNDEF: return jinja_buf_put(c, b, "Undefined", 9);
    case JV_NONE: return jinja_buf_put(c, b, "None", 4);
    case JV_BOOL: return v.u.b ? jinja_buf_put(c, b, "True", 4) : jinja_buf_put(c, b, "False", 5);
    case JV_INT: return jinja_buf_printf(c, b, "%" PRId64, v.u.i);
    case JV_FLOAT: return jinja_buf_put(c, b, tmp, jinja_format_float(v.u.f, tmp));
    case JV_STR:
        if (v.flags & JV_MARKUP) {
            int rc = jinja_buf_put(c, b, "Markup(", 7);
            if (!rc) rc = write_str_repr(c, b, v.u.s->data, v.u.s->len);
            if (!rc) rc = jinja_buf_putc(c, b, ')');
            return rc;
        }
        return write_str_repr(c, b, v.u.s->data, v.u.s->len);
    case JV_LIST: {
        const struct jinja_list *l = v.u.l;
        switch (l->kind) {
        case JL_LIST: return write_seq(c, b, l->items, l->len, "[", "]", false);
        case JL_TUPLE:
        case JL_GROUP: return write_seq(c, b, l->items, l->len, "(", ")", true);
        case JL_ITEMS: return write_seq(c, b, l->items, l->len, "dict_items([", "])", false);
        case JL_KEYS: return write_seq(c, b, l->items, l->len, "dict_keys([", "])", false);
        case JL_VALUES: return write_seq(c, b, l->items, l->len, "dict_values([", "])", false);
        case JL_RANGE:
            if (l->r_step == 1) return jinja_buf_printf(c, b, "range(%" PRId64 ", %" PRId64 ")", l->r_start, l->r_stop);
            return jinja_buf_printf(c, b, "range(%" PRId64 ", %" PRId64 ", %" PRId64 ")", l->r_start, l->r_stop,
                                    l->r_step);
        default: return jinja_buf_put(c, b, "<generator object>", 18);
        }
    }
    case JV_DICT: return write_dict(c, b, v.u.d);
    case JV_NS: {
        int rc = jinja_buf_put(c, b, "<Namespace ", 11);
        if (!rc) rc = write_dict(c, b, v.u.d);
        if (!rc) rc = jinja_buf_putc(c, b, '>');
        return rc;
    }
    case JV_FUNC:
        if (v.u.fn->kind == JF_MACRO) {
            const struct jinja_str *nm = c->tpl->syms.names[v.u.fn->macro->name_sym];
            int rc = jinja_buf_put(c, b, "<Macro ", 7);
            if (!rc) rc = write_str_repr(c, b, nm->data, nm->len);
            if (!rc) rc = jinja_buf_putc(c, b, '>');
            return rc;
        }
        return jinja_buf_put(c, b, "<function>", 10);
    case JV_LOOP: {
        jv idx, len;
        int rc = jinja_loop_getattr(c, v.u.loop, "index", 5, &idx);
        if (!rc) rc = jinja_loop_getattr(c, v.u.loop, "length", 6, &len);
        if (!rc) rc = jinja_buf_printf(c, b, "<LoopContext %" PRId64 "/%" PRId64 ">", idx.u.i, len.u.i);
        return rc;
    }
    case JV_CYCLER: return jinja_buf_put(c, b, "<Cycler>", 8);
    default: return jinja_buf_put(c, b, "<object>", 8);
    }
}

int jinja_write_repr(struct jinja_ctx *c, struct jinja_buf *b, jv v) {
    if (++c->cdepth > MAX_DATA_DEPTH) {
        c->cdepth--;
        return jinja_fail(c, "RecursionError", "maximum recursion depth exceeded while getting the repr of an object");
    }
    int rc = write_repr_inner(c, b, v);
    c->cdepth--;
    return rc;
}

int jinja_write_str(struct jinja_ctx *c, struct jinja_buf *b, jv v) {
    if (v.type == JV_STR) return jinja_buf_put(c, b, v.u.s->data, v.u.s->len);
    if (v.type == JV_UNDEF) return 0;
    return jinja_write_repr(c, b, v);
}

int jinja_to_str(struct jinja_ctx *c, jv v, jv *out) {
    if (v.type == JV_STR) {
        *out = v;
        return 0;
    }
    struct jinja_buf b = {0};
    int rc = jinja_write_str(c, &b, v);
    if (rc) return rc;
    return jinja_str_from_buf(c, &b, out);
}

/* ------------------------------------------------------------ json out */

static int json_str(struct jinja_ctx *c, struct jinja_buf *b, const char *s, size_t n, bool ascii) {
    int rc = jinja_buf_putc(c, b, '"');
    size_t i = 0, run = 0;
    while (!rc && i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\' && (ch < 0x80 || !ascii)) {
            i++;
            run++;
            continue;
        }
        if (run) rc = jinja_buf_put(c, b, s + i - run, run);
        run = 0;
        if (rc) break;
        if (ch >= 0x80) {
            uint32_t cp = jinja_utf8_next(s, n, &i);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                rc = jinja_buf_printf(c, b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                rc = jinja_buf_printf(c, b, "\\u%04x", cp);
            }
            continue;
        }
        i++;
        switch (ch) {
        case '"': rc = jinja_buf_put(c, b, "\\\"", 2); break;
        case '\\': rc = jinja_buf_put(c, b, "\\\\", 2); break;
        case '\n': rc = jinja_buf_put(c, b, "\\n", 2); break;
        case '\r': rc = jinja_buf_put(c, b, "\\r", 2); break;
        case '\t': rc = jinja_buf_put(c, b, "\\t", 2); break;
        case '\b': rc = jinja_buf_put(c, b, "\\b", 2); break;
        case '\f': rc = jinja_buf_put(c, b, "\\f", 2); break;
        default: rc = jinja_buf_printf(c, b, "\\u%04x", ch); break;
        }
    }
    if (!rc && run) rc = jinja_buf_put(c, b, s + n - run, run);
    if (!rc) rc = jinja_buf_putc(c, b, '"');
    return rc;
}

static int json_float(struct jinja_ctx *c, struct jinja_buf *b, double f) {
    if (isnan(f)) return jinja_buf_put(c, b, "NaN", 3);
    if (isinf(f)) return f < 0 ? jinja_buf_put(c, b, "-Infinity", 9) : jinja_buf_put(c, b, "Infinity", 8);
    char tmp[64];
    return jinja_buf_put(c, b, tmp, jinja_format_float(f, tmp));
}

static int json_newline(struct jinja_ctx *c, struct jinja_buf *b, const struct jinja_json_opts *o, int level) {
    int rc = jinja_buf_putc(c, b, '\n');
    for (int k = 0; !rc && k < level; k++) rc = jinja_buf_put(c, b, o->indent, o->indent_len);
    return rc;
}

/* Orders entry indexes (int values) of the dict ud by key. */
static int key_index_less(struct jinja_ctx *c, void *ud, jv a, jv b, bool *out) {
    const struct jinja_dict *d = ud;
    return jinja_order(c, d->keys[a.u.i], d->keys[b.u.i], JC_LT, out);
}

static int json_value(struct jinja_ctx *c, struct jinja_buf *b, jv v, const struct jinja_json_opts *o, int level);

static int json_key(struct jinja_ctx *c, struct jinja_buf *b, jv k, const struct jinja_json_opts *o) {
    char tmp[64];
    switch (k.type) {
    case JV_STR: return json_str(c, b, k.u.s->data, k.u.s->len, o->ensure_ascii);
    case JV_BOOL: return json_str(c, b, k.u.b ? "true" : "false", k.u.b ? 4 : 5, false);
    case JV_NONE: return json_str(c, b, "null", 4, false);
    case JV_INT: {
        int n = snprintf(tmp, sizeof tmp, "%" PRId64, k.u.i);
        return json_str(c, b, tmp, (size_t)n, false);
    }
    case JV_FLOAT: {
        size_t n;
        if (isnan(k.u.f)) n = (size_t)sprintf(tmp, "NaN");
        else if (isinf(k.u.f)) n = (size_t)sprintf(tmp, k.u.f < 0 ? "-Infinity" : "Infinity");
        else n = jinja_format_float(k.u.f, tmp);
        return json_str(c, b, tmp, n, false);
    }
    default:
        return jinja_fail(c, "TypeError", "keys must be str, int, float, bool or None, not %s", jinja_type_name(k));
    }
}

static int json_dict(struct jinja_ctx *c, struct jinja_buf *b, const struct jinja_dict *d,
                     const struct jinja_json_opts *o, int level) {
    if (d->len == 0) return jinja_buf_put(c, b, "{}", 2);
    jv *order = jinja_alloc(c, d->len * sizeof *order);
    if (!order) return ERR_NOMEM;
    for (size_t i = 0; i < d->len; i++) order[i] = jv_int((int64_t)i);
    int rc;
    if (o->sort_keys && (rc = jinja_sort(c, order, d->len, key_index_less, (void *)d))) return rc;
    if ((rc = jinja_buf_putc(c, b, '{'))) return rc;
    for (size_t i = 0; i < d->len; i++) {
        if (i && (rc = jinja_buf_put(c, b, o->item_sep, o->item_sep_len))) return rc;
        if (o->indent && (rc = json_newline(c, b, o, level + 1))) return rc;
        if ((rc = json_key(c, b, d->keys[order[i].u.i], o))) return rc;
        if ((rc = jinja_buf_put(c, b, o->key_sep, o->key_sep_len))) return rc;
        if ((rc = json_value(c, b, d->vals[order[i].u.i], o, level + 1))) return rc;
    }
    if (o->indent && (rc = json_newline(c, b, o, level))) return rc;
    return jinja_buf_putc(c, b, '}');
}

static int json_value(struct jinja_ctx *c, struct jinja_buf *b, jv v, const struct jinja_json_opts *o, int level) {
    int rc;
    if (level > MAX_DATA_DEPTH) return jinja_fail(c, "RecursionError", "maximum recursion depth exceeded in json.dumps");
    switch (v.type) {
    case JV_NONE: return jinja_buf_put(c, b, "null", 4);
    case JV_BOOL: return v.u.b ? jinja_buf_put(c, b, "true", 4) : jinja_buf_put(c, b, "false", 5);
    case JV_INT: return jinja_buf_printf(c, b, "%" PRId64, v.u.i);
    case JV_FLOAT: return json_float(c, b, v.u.f);
    case JV_STR: return json_str(c, b, v.u.s->data, v.u.s->len, o->ensure_ascii);
    case JV_DICT: return json_dict(c, b, v.u.d, o, level);
    case JV_LIST: {
        const struct jinja_list *l = v.u.l;
        if (l->kind != JL_LIST && l->kind != JL_TUPLE && l->kind != JL_GROUP) break;
        if (l->len == 0) return jinja_buf_put(c, b, "[]", 2);
        if ((rc = jinja_buf_putc(c, b, '['))) return rc;
        for (size_t i = 0; i < l->len; i++) {
            if (i && (rc = jinja_buf_put(c, b, o->item_sep, o->item_sep_len))) return rc;
            if (o->indent && (rc = json_newline(c, b, o, level + 1))) return rc;
            if ((rc = json_value(c, b, l->items[i], o, level + 1))) return rc;
        }
        if (o->indent && (rc = json_newline(c, b, o, level))) return rc;
        return jinja_buf_putc(c, b, ']');
    }
    default: break;
    }
    return jinja_fail(c, "TypeError", "Object of type %s is not JSON serializable", jinja_type_name(v));
}

int jinja_json_dump(struct jinja_ctx *c, struct jinja_buf *b, jv v, const struct jinja_json_opts *o) {
    return json_value(c, b, v, o, 0);
}

/* ------------------------------------------------------------ sorting */

/* Stable merge sort with a fallible comparator (Python's sorted is stable). */
int jinja_sort(struct jinja_ctx *c, jv *items, size_t n, jinja_less_fn less, void *ud) {
    if (n < 2) return 0;
    jv *tmp = jinja_alloc(c, n * sizeof(jv));
    if (!tmp) return ERR_NOMEM;
    /* insertion sort runs of 8, then bottom-up merges */
    const size_t run = 8;
    for (size_t lo = 0; lo < n; lo += run) {
        size_t hi = lo + run < n ? lo + run : n;
        for (size_t i = lo + 1; i < hi; i++) {
            jv x = items[i];
            size_t j = i;
            while (j > lo) {
                bool lt;
                int rc = less(c, ud, x, items[j - 1], &lt);
                if (rc) return rc;
                if (!lt) break;
                items[j] = items[j - 1];
                j--;
            }
            items[j] = x;
        }
    }
    for (size_t width = run; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                bool lt;
                int rc = less(c, ud, items[j], items[i], &lt);
                if (rc) return rc;
                tmp[k++] = lt ? items[j++] : items[i++];
            }
            while (i < mid) tmp[k++] = items[i++];
            while (j < hi) tmp[k++] = items[j++];
        }
        memcpy(items, tmp, n * sizeof(jv));
    }
    return 0;
}

/* ------------------------------------------------------------ json in */

static jv num_value(double d) {
    if (d == floor(d) && fabs(d) <= 9007199254740992.0) return jv_int((int64_t)d);
    return jv_float(d);
}

static int from_cjson(struct jinja_ctx *c, const cJSON *j, jv *out, int depth) {
    if (depth > MAX_DATA_DEPTH) return jinja_fail(c, "ValueError", "context JSON nested too deeply");
    if (!j || cJSON_IsNull(j)) {
        *out = jv_none();
        return 0;
    }
    if (cJSON_IsBool(j)) {
        *out = jv_bool(cJSON_IsTrue(j));
        return 0;
    }
    if (cJSON_IsNumber(j)) {
        *out = num_value(j->valuedouble);
        return 0;
    }
    if (cJSON_IsString(j)) {
        const char *s = j->valuestring ? j->valuestring : "";
        return jinja_make_str(c, s, strlen(s), out);
    }
    if (cJSON_IsArray(j)) {
        struct jinja_list *l = jinja_list_new(c, JL_LIST, (size_t)cJSON_GetArraySize(j));
        if (!l) return ERR_NOMEM;
        for (const cJSON *e = j->child; e; e = e->next) {
            jv v;
            int rc = from_cjson(c, e, &v, depth + 1);
            if (!rc) rc = jinja_list_push(c, l, v);
            if (rc) return rc;
        }
        *out = jv_listv(l);
        return 0;
    }
    if (cJSON_IsObject(j)) {
        struct jinja_dict *d = jinja_dict_new(c, (size_t)cJSON_GetArraySize(j));
        if (!d) return ERR_NOMEM;
        for (const cJSON *e = j->child; e; e = e->next) {
            jv k, v;
            const char *name = e->string ? e->string : "";
            int rc = jinja_make_str(c, name, strlen(name), &k);
            if (!rc) rc = from_cjson(c, e, &v, depth + 1);
            if (!rc) rc = jinja_dict_set(c, d, k, v);
            if (rc) return rc;
        }
        *out = jv_dictv(d);
        return 0;
    }
    return jinja_fail(c, "ValueError", "unsupported JSON value in the context");
}

int jinja_from_cjson(struct jinja_ctx *c, const cJSON *j, jv *out) { return from_cjson(c, j, out, 0); }

struct jparse {
    struct jinja_ctx *c;
    const char *s;
    size_t n, i;
};

static int jp_fail(struct jparse *p, const char *what) {
    err_setf(p->c->err, ERR_FORMAT, "context JSON: %s at offset %zu", what, p->i);
    return ERR_FORMAT;
}

static void jp_ws(struct jparse *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int jp_hex4(struct jparse *p, uint32_t *out) {
    if (p->i + 4 > p->n) return jp_fail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char ch = p->s[p->i + (size_t)k];
        int d = (ch >= '0' && ch <= '9') ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10 : -1;
        if (d < 0) return jp_fail(p, "bad \\u escape");
        v = v * 16 + (uint32_t)d;
    }
    p->i += 4;
    *out = v;
    return 0;
}

static int jp_string(struct jparse *p, jv *out) {
    p->i++; /* opening quote */
    struct jinja_buf b = {0};
    int rc;
    for (;;) {
        if (p->i >= p->n) return jp_fail(p, "unterminated string");
        size_t start = p->i;
        while (p->i < p->n && p->s[p->i] != '"' && p->s[p->i] != '\\' && (unsigned char)p->s[p->i] >= 0x20) p->i++;
        if (p->i > start && (rc = jinja_buf_put(p->c, &b, p->s + start, p->i - start))) return rc;
        if (p->i >= p->n) return jp_fail(p, "unterminated string");
        char ch = p->s[p->i];
        if (ch == '"') {
            p->i++;
            break;
        }
        if ((unsigned char)ch < 0x20) return jp_fail(p, "invalid control character in string");
        p->i++;
        if (p->i >= p->n) return jp_fail(p, "unterminated string");
        char e = p->s[p->i++];
        char lit = 0;
        switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            uint32_t cp;
            if ((rc = jp_hex4(p, &cp))) return rc;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (p->i + 2 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                    return jp_fail(p, "unpaired surrogate");
                p->i += 2;
                if ((rc = jp_hex4(p, &lo))) return rc;
                if (lo < 0xDC00 || lo > 0xDFFF) return jp_fail(p, "unpaired surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return jp_fail(p, "unpaired surrogate");
            }
            char tmp[4];
            size_t k = jinja_utf8_put(cp, tmp);
            if ((rc = jinja_buf_put(p->c, &b, tmp, k))) return rc;
            continue;
        }
        default: return jp_fail(p, "invalid escape");
        }
        if ((rc = jinja_buf_putc(p->c, &b, lit))) return rc;
    }
    /* validate UTF-8 */
    for (size_t i = 0; i < b.len;) {
        uint32_t cp = jinja_utf8_next(b.p, b.len, &i);
        if (cp >= 0xDC80 && cp <= 0xDCFF) return jp_fail(p, "invalid UTF-8 in string");
    }
    return jinja_str_from_buf(p->c, &b, out);
}

static int jp_value(struct jparse *p, jv *out, int depth);

static int jp_number(struct jparse *p, jv *out) {
    size_t start = p->i;
    bool is_float = false;
    if (p->s[p->i] == '-') p->i++;
    if (p->i < p->n && p->s[p->i] == '0') p->i++;
    else if (p->i < p->n && p->s[p->i] >= '1' && p->s[p->i] <= '9')
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    else return jp_fail(p, "bad number");
    if (p->i < p->n && p->s[p->i] == '.' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9') {
        is_float = true;
        p->i++;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        size_t save = p->i;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
            is_float = true;
            while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
        } else {
            p->i = save;
        }
    }
    char tmp[400];
    size_t len = p->i - start;
    if (len >= sizeof tmp) return jp_fail(p, "number too long");
    memcpy(tmp, p->s + start, len);
    tmp[len] = 0;
    if (is_float) {
        *out = jv_float(strtod(tmp, NULL));
        return 0;
    }
    errno = 0;
    char *end;
    long long v = strtoll(tmp, &end, 10);
    if (errno) return jp_fail(p, "integer out of the supported range");
    *out = jv_int((int64_t)v);
    return 0;
}

static int jp_value(struct jparse *p, jv *out, int depth) {
    if (depth > MAX_DATA_DEPTH) return jp_fail(p, "nested too deeply");
    jp_ws(p);
    if (p->i >= p->n) return jp_fail(p, "unexpected end");
    char ch = p->s[p->i];
    int rc;
    if (ch == '{') {
        p->i++;
        struct jinja_dict *d = jinja_dict_new(p->c, 0);
        if (!d) return ERR_NOMEM;
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            *out = jv_dictv(d);
            return 0;
        }
        for (;;) {
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') return jp_fail(p, "expected a string key");
            jv k, v;
            if ((rc = jp_string(p, &k))) return rc;
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return jp_fail(p, "expected ':'");
            p->i++;
            if ((rc = jp_value(p, &v, depth + 1))) return rc;
            if ((rc = jinja_dict_set(p->c, d, k, v))) return rc;
            jp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == '}') {
                p->i++;
                break;
            }
            return jp_fail(p, "expected ',' or '}'");
        }
        *out = jv_dictv(d);
        return 0;
    }
    if (ch == '[') {
        p->i++;
        struct jinja_list *l = jinja_list_new(p->c, JL_LIST, 0);
        if (!l) return ERR_NOMEM;
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            *out = jv_listv(l);
            return 0;
        }
        for (;;) {
            jv v;
            if ((rc = jp_value(p, &v, depth + 1))) return rc;
            if ((rc = jinja_list_push(p->c, l, v))) return rc;
            jp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == ']') {
                p->i++;
                break;
            }
            return jp_fail(p, "expected ',' or ']'");
        }
        *out = jv_listv(l);
        return 0;
    }
    if (ch == '"') return jp_string(p, out);
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        if (p->i + 9 <= p->n && !memcmp(p->s + p->i, "-Infinity", 9)) {
            p->i += 9;
            *out = jv_float(-INFINITY);
            return 0;
        }
        return jp_number(p, out);
    }
    static const struct {
        const char *lit;
        int kind;
    } lits[] = {{"true", 1}, {"false", 2}, {"null", 3}, {"NaN", 4}, {"Infinity", 5}};
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t L = strlen(lits[k].lit);
        if (p->i + L <= p->n && !memcmp(p->s + p->i, lits[k].lit, L)) {
            p->i += L;
            switch (lits[k].kind) {
            case 1: *out = jv_bool(true); break;
            case 2: *out = jv_bool(false); break;
            case 3: *out = jv_none(); break;
            case 4: *out = jv_float(NAN); break;
            default: *out = jv_float(INFINITY); break;
            }
            return 0;
        }
    }
    return jp_fail(p, "unexpected character");
}

int jinja_from_json_text(struct jinja_ctx *c, const char *s, size_t n, jv *out) {
    struct jparse p = {.c = c, .s = s, .n = n};
    int rc = jp_value(&p, out, 0);
    if (rc) return rc;
    jp_ws(&p);
    if (p.i != n) return jp_fail(&p, "extra data after the value");
    return 0;
}
