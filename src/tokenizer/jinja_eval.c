/* jinja_eval: the tree-walking interpreter for the chat-template AST.
 *
 * Scoping follows what Jinja2's compiler generates (names are looked up
 * through frames at run time; jinja_scope.c supplies, per frame, the names
 * Jinja2 initialises to `missing`, which read as Undefined until set):
 *  - the root frame holds the render context and top-level {% set %};
 *  - a for loop's body runs in a child frame that is emptied before every
 *    iteration (assignments in the body do not leak out and do not survive
 *    to the next iteration; a name read before it is set in an iteration
 *    sees the outer value);
 *  - if-blocks share their frame; set-blocks, filter-blocks, with-blocks and
 *    {% generation %} bodies get a child frame;
 *  - macros run in a child of the frame they were defined in, looked up at
 *    call time (late binding, like Python closures); call-block callers are
 *    macros defined at the call site;
 *  - names not found in any frame fall back to the globals (range, dict,
 *    namespace, cycler, joiner, lipsum, raise_exception, strftime_now), then
 *    to Undefined.
 * Loops pull items lazily through the optional `if` filter, with one item of
 * lookahead for loop.last / loop.nextitem, exactly like jinja2's LoopContext,
 * so side effects in filters and bodies interleave the same way.
 *
 * Expressions marked `fold` by the parser are first evaluated the way
 * Jinja2's compile-time constant folder would (no variables, no calls) and
 * fall back to normal evaluation when folding would not apply; this only
 * matters for constant slices of unsliceable values.
 *
 * break/continue travel up as positive return codes. Frames, loop objects and
 * all values live in the render arena. One render = one thread. */
#include <stdio.h>
#include <string.h>

#include "tokenizer/jinja.h"

enum { FLOW_BREAK = 1, FLOW_CONTINUE = 2 };

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        int rc_ = (x);                                                                                                 \
        if (rc_) return rc_;                                                                                           \
    } while (0)

struct jinja_frame {
    struct jinja_frame *parent;
    uint32_t n, cap;
    uint32_t *syms;
    jv *vals;
};

struct jinja_loop {
    /* source: a live list (mutations by list.pop() are seen) or a snapshot */
    struct jinja_list *live;
    jv *src;
    size_t src_n, src_pos;
    /* `for ... if test` */
    const struct jinja_node *target, *test;
    struct jinja_frame *outer, *test_frame;
    /* items already pulled through the filter (after loop.length) */
    jv *buf;
    size_t buf_n, buf_pos;
    bool buffered;
    int64_t index0, length;
    jv current, before, after;
    bool has_after, exhausted;
    jv last_changed;
    bool has_changed;
    int depth0;
    const struct jinja_node *node; /* the for statement (recursive loops) */
};

static int exec_body(struct jinja_ctx *c, struct jinja_node *const *v, uint32_t n, struct jinja_frame *f,
                     struct jinja_buf *out);
static int eval(struct jinja_ctx *c, const struct jinja_node *n, struct jinja_frame *f, jv *out);

/* ------------------------------------------------------------ frames */

static struct jinja_frame *frame_new(struct jinja_ctx *c, struct jinja_frame *parent) {
    struct jinja_frame *f = jinja_alloc(c, sizeof *f);
    if (f) f->parent = parent;
    return f;
}

static int frame_set(struct jinja_ctx *c, struct jinja_frame *f, uint32_t sym, jv v) {
    for (uint32_t i = 0; i < f->n; i++)
        if (f->syms[i] == sym) {
            f->vals[i] = v;
            return 0;
        }
    if (f->n == f->cap) {
        uint32_t ncap = f->cap ? f->cap * 2 : 4;
        uint32_t *ns = jinja_alloc(c, ncap * sizeof *ns);
        jv *nv = jinja_alloc(c, ncap * sizeof *nv);
        if (!ns || !nv) return ERR_NOMEM;
        if (f->n) {
            memcpy(ns, f->syms, f->n * sizeof *ns);
            memcpy(nv, f->vals, f->n * sizeof *nv);
        }
        f->syms = ns;
        f->vals = nv;
        f->cap = ncap;
    }
    f->syms[f->n] = sym;
    f->vals[f->n] = v;
    f->n++;
    return 0;
}

static bool frame_get(const struct jinja_frame *f, uint32_t sym, jv *out) {
    for (; f; f = f->parent)
        for (uint32_t i = 0; i < f->n; i++)
            if (f->syms[i] == sym) {
                *out = f->vals[i];
                return true;
            }
    return false;
}

static const struct jinja_str *sym_name(const struct jinja_ctx *c, uint32_t sym) { return c->tpl->syms.names[sym]; }

/* Binds the names Jinja2 initialises to `missing` on entering this frame. */
static int bind_missing(struct jinja_ctx *c, struct jinja_frame *f, const uint32_t *syms, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) TRY(frame_set(c, f, syms[i], jv_missing()));
    return 0;
}

static int lookup(struct jinja_ctx *c, struct jinja_frame *f, uint32_t sym, jv *out) {
    bool found = frame_get(f, sym, out);
    if (found && out->type != JV_MISSING) return 0;
    if (!found && sym >= JS_RANGE && sym < JS_N_BUILTIN) {
        struct jinja_func *fn = jinja_alloc(c, sizeof *fn);
        if (!fn) return ERR_NOMEM;
        fn->kind = JF_GLOBAL;
        fn->id = (int)sym;
        out->type = JV_FUNC;
        out->flags = 0;
        out->u.fn = fn;
        return 0;
    }
    struct jinja_undef *u = jinja_alloc(c, sizeof *u);
    if (!u) return ERR_NOMEM;
    u->kind = JU_NAME;
    u->text = sym_name(c, sym)->data;
    u->text_len = sym_name(c, sym)->len;
    *out = jv_undef();
    out->u.undef = u;
    return 0;
}

/* ------------------------------------------------------------ assignment */

static int unpack(struct jinja_ctx *c, jv v, uint32_t want, jv **items) {
    size_t n;
    if (v.type != JV_LIST && v.type != JV_DICT && v.type != JV_STR && v.type != JV_UNDEF)
        return jinja_fail(c, "TypeError", "cannot unpack non-iterable %s object", jinja_type_name(v));
    TRY(jinja_iterate(c, v, items, &n));
    if (n > want) return jinja_fail(c, "ValueError", "too many values to unpack (expected %u)", want);
    if (n < want) return jinja_fail(c, "ValueError", "not enough values to unpack (expected %u, got %zu)", want, n);
    return 0;
}

static int assign(struct jinja_ctx *c, const struct jinja_node *t, jv v, struct jinja_frame *f) {
    if (t->kind == JN_NAME) return frame_set(c, f, t->sym, v);
    if (t->kind == JN_NSREF) {
        jv ns;
        TRY(lookup(c, f, t->sym, &ns));
        if (ns.type != JV_NS)
            return jinja_fail(c, "TemplateRuntimeError", "cannot assign attribute on non-namespace object");
        jv key;
        const struct jinja_str *nm = sym_name(c, t->sym2);
        key = jv_strv((struct jinja_str *)nm);
        return jinja_dict_set(c, ns.u.d, key, v);
    }
    /* tuple */
    jv *items;
    TRY(unpack(c, v, t->n_items, &items));
    /* copy: the iteration array may alias a live list */
    jv tmp[64];
    if (t->n_items > 64) return jinja_fail(c, "ValueError", "too many assignment targets");
    memcpy(tmp, items, t->n_items * sizeof(jv));
    for (uint32_t i = 0; i < t->n_items; i++) TRY(assign(c, t->items[i], tmp[i], f));
    return 0;
}

/* ------------------------------------------------------------ calls */

static int eval_args(struct jinja_ctx *c, const struct jinja_args *a, struct jinja_frame *f, size_t extra_kw,
                     struct jinja_callargs *out) {
    memset(out, 0, sizeof *out);
    size_t n_pos = a ? a->n_pos : 0, n_kw = a ? a->n_kw : 0;
    jv *dyn = NULL;
    size_t n_dyn = 0;
    jv dynk = jv_none();
    if (a && a->dyn_args) {
        jv d;
        TRY(eval(c, a->dyn_args, f, &d));
        TRY(jinja_iterate(c, d, &dyn, &n_dyn));
    }
    if (a && a->dyn_kwargs) {
        TRY(eval(c, a->dyn_kwargs, f, &dynk));
        if (dynk.type != JV_DICT)
            return jinja_fail(c, "TypeError", "argument after ** must be a mapping, not %s", jinja_type_name(dynk));
        n_kw += dynk.u.d->len;
    }
    out->pos = jinja_alloc(c, (n_pos + n_dyn + 1) * sizeof(jv));
    out->kw_names = jinja_alloc(c, (n_kw + extra_kw + 1) * sizeof *out->kw_names);
    out->kw_vals = jinja_alloc(c, (n_kw + extra_kw + 1) * sizeof(jv));
    if (!out->pos || !out->kw_names || !out->kw_vals) return ERR_NOMEM;
    for (size_t i = 0; i < n_pos; i++) TRY(eval(c, a->pos[i], f, &out->pos[i]));
    if (n_dyn) memcpy(out->pos + n_pos, dyn, n_dyn * sizeof(jv));
    out->n_pos = n_pos + n_dyn;
    for (size_t i = 0; a && i < a->n_kw; i++) {
        out->kw_names[out->n_kw] = sym_name(c, a->kw_syms[i]);
        TRY(eval(c, a->kw_vals[i], f, &out->kw_vals[out->n_kw]));
        out->n_kw++;
    }
    if (dynk.type == JV_DICT) {
        for (size_t i = 0; i < dynk.u.d->len; i++) {
            jv k = dynk.u.d->keys[i];
            if (k.type != JV_STR) return jinja_fail(c, "TypeError", "keywords must be strings");
            for (size_t j = 0; j < out->n_kw; j++)
                if (out->kw_names[j]->len == k.u.s->len && !memcmp(out->kw_names[j]->data, k.u.s->data, k.u.s->len))
                    return jinja_fail(c, "TypeError", "got multiple values for keyword argument '%s'", k.u.s->data);
            out->kw_names[out->n_kw] = k.u.s;
            out->kw_vals[out->n_kw] = dynk.u.d->vals[i];
            out->n_kw++;
        }
    }
    return 0;
}

static int take_kw(struct jinja_callargs *a, const char *name, size_t len, jv *out) {
    for (size_t i = 0; i < a->n_kw; i++)
        if (a->kw_names[i] && a->kw_names[i]->len == len && !memcmp(a->kw_names[i]->data, name, len)) {
            *out = a->kw_vals[i];
            a->kw_names[i] = NULL; /* consumed */
            return 1;
        }
    return 0;
}

int jinja_call_macro(struct jinja_ctx *c, struct jinja_func *fn, const struct jinja_callargs *args_in, jv *out) {
    const struct jinja_macro *m = fn->macro;
    const struct jinja_str *mname = sym_name(c, m->name_sym);
    if (c->depth >= c->max_depth)
        return jinja_fail(c, "RecursionError", "maximum recursion depth exceeded (%d nested calls)", c->max_depth);
    TRY(jinja_step(c));
    struct jinja_callargs a = *args_in;
    /* kw names are consumed as we bind: work on a copy */
    const struct jinja_str **kwn = jinja_alloc(c, (a.n_kw + 1) * sizeof *kwn);
    if (!kwn) return ERR_NOMEM;
    if (a.n_kw) memcpy(kwn, a.kw_names, a.n_kw * sizeof *kwn);
    a.kw_names = kwn;
    struct jinja_frame *f = frame_new(c, fn->closure);
    if (!f) return ERR_NOMEM;
    TRY(bind_missing(c, f, m->undef, m->n_undef));
    uint32_t np = m->n_params;
    bool caller_param = false;
    for (uint32_t i = 0; i < np; i++) caller_param |= m->params[i] == JS_CALLER;
    size_t n_given = a.n_pos < np ? a.n_pos : np;
    for (size_t i = 0; i < n_given; i++) TRY(frame_set(c, f, m->params[i], a.pos[i]));
    for (uint32_t i = (uint32_t)n_given; i < np; i++) {
        const struct jinja_str *pn = sym_name(c, m->params[i]);
        jv v;
        if (take_kw(&a, pn->data, pn->len, &v)) {
            TRY(frame_set(c, f, m->params[i], v));
        } else if (i >= np - m->n_defaults) {
            int line = c->line;
            TRY(eval(c, m->defaults[i - (np - m->n_defaults)], f, &v));
            c->line = line;
            TRY(frame_set(c, f, m->params[i], v));
        } else {
            char hint[200];
            snprintf(hint, sizeof hint, "parameter '%.*s' was not provided", (int)(pn->len > 100 ? 100 : pn->len),
                     pn->data);
            TRY(frame_set(c, f, m->params[i], jinja_undef_hint(c, JU_HINT, hint)));
        }
    }
    if (m->uses_caller && !caller_param) {
        jv v;
        if (!take_kw(&a, "caller", 6, &v)) v = jinja_undef_hint(c, JU_HINT, "No caller defined");
        TRY(frame_set(c, f, JS_CALLER, v));
    }
    if (m->uses_kwargs) {
        struct jinja_dict *d = jinja_dict_new(c, 0);
        if (!d) return ERR_NOMEM;
        for (size_t i = 0; i < a.n_kw; i++)
            if (a.kw_names[i]) TRY(jinja_dict_set(c, d, jv_strv((struct jinja_str *)a.kw_names[i]), a.kw_vals[i]));
        TRY(frame_set(c, f, JS_KWARGS, jv_dictv(d)));
    } else {
        for (size_t i = 0; i < a.n_kw; i++) {
            if (!a.kw_names[i]) continue;
            if (a.kw_names[i]->len == 6 && !memcmp(a.kw_names[i]->data, "caller", 6))
                return jinja_fail(c, "TypeError",
                                  "macro '%s' was invoked with two values for the special caller argument. This is "
                                  "most likely a bug.",
                                  mname->data);
            return jinja_fail(c, "TypeError", "macro '%s' takes no keyword argument '%s'", mname->data,
                              a.kw_names[i]->data);
        }
    }
    if (m->uses_varargs) {
        struct jinja_list *t = jinja_list_new(c, JL_TUPLE, 0);
        if (!t) return ERR_NOMEM;
        for (size_t i = np; i < a.n_pos; i++) TRY(jinja_list_push(c, t, a.pos[i]));
        TRY(frame_set(c, f, JS_VARARGS, jv_listv(t)));
    } else if (a.n_pos > np) {
        return jinja_fail(c, "TypeError", "macro '%s' takes not more than %u argument(s)", mname->data, np);
    }
    struct jinja_buf b = {0};
    int line = c->line;
    c->depth++;
    int rc = exec_body(c, m->body, m->n_body, f, &b);
    c->depth--;
    c->line = line;
    if (rc) return rc;
    return jinja_str_from_buf(c, &b, out);
}

static int call(struct jinja_ctx *c, jv callee, const struct jinja_callargs *a, jv *out) {
    if (callee.type == JV_FUNC && callee.u.fn->kind == JF_MACRO) return jinja_call_macro(c, callee.u.fn, a, out);
    if (callee.type == JV_LOOP) {
        jv it;
        static const char *const names[] = {"iterable"};
        TRY(jinja_bind(c, "loop", a, names, 1, &it));
        if (it.type == JV_MISSING) return jinja_fail(c, "TypeError", "loop() missing 1 required positional argument");
        return jinja_loop_call(c, callee.u.loop, it, out);
    }
    return jinja_call_value(c, callee, a, out);
}

/* ------------------------------------------------------------ loops */

static int loop_src_next(struct jinja_loop *lp, jv *item) {
    if (lp->live) {
        if (lp->src_pos >= lp->live->len) return 0;
        *item = lp->live->items[lp->src_pos++];
        return 1;
    }
    if (lp->src_pos >= lp->src_n) return 0;
    *item = lp->src[lp->src_pos++];
    return 1;
}

/* Next item through the filter: 1 = got one, 0 = end, <0 = error. */
static int loop_pull(struct jinja_ctx *c, struct jinja_loop *lp, jv *item) {
    if (lp->buffered) {
        if (lp->buf_pos >= lp->buf_n) return 0;
        *item = lp->buf[lp->buf_pos++];
        return 1;
    }
    for (;;) {
        if (!loop_src_next(lp, item)) return 0;
        if (!lp->test) return 1;
        TRY(jinja_step(c));
        if (!lp->test_frame && !(lp->test_frame = frame_new(c, lp->outer))) return ERR_NOMEM;
        struct jinja_frame *tf = lp->test_frame;
        tf->n = 0;
        TRY(assign(c, lp->target, *item, tf));
        jv t;
        int line = c->line;
        TRY(eval(c, lp->test, tf, &t));
        c->line = line;
        if (jinja_truthy(t)) return 1;
    }
}

static int loop_peek(struct jinja_ctx *c, struct jinja_loop *lp, bool *has) {
    if (lp->has_after) {
        *has = true;
        return 0;
    }
    if (lp->exhausted) {
        *has = false;
        return 0;
    }
    int r = loop_pull(c, lp, &lp->after);
    if (r < 0) return r;
    lp->has_after = r == 1;
    lp->exhausted = r == 0;
    *has = lp->has_after;
    return 0;
}

static int loop_length(struct jinja_ctx *c, struct jinja_loop *lp, int64_t *out) {
    if (lp->length >= 0) {
        *out = lp->length;
        return 0;
    }
    if (!lp->test) {
        if (lp->live) {
            *out = (int64_t)lp->live->len;
            return 0;
        }
        lp->length = (int64_t)lp->src_n;
        *out = lp->length;
        return 0;
    }
    /* drain the filter into a buffer, like list(self._iterator) */
    struct jinja_list *rest = jinja_list_new(c, JL_LIST, 0);
    if (!rest) return ERR_NOMEM;
    for (;;) {
        jv item;
        int r = loop_pull(c, lp, &item);
        if (r < 0) return r;
        if (r == 0) break;
        TRY(jinja_list_push(c, rest, item));
    }
    lp->buf = rest->items;
    lp->buf_n = rest->len;
    lp->buf_pos = 0;
    lp->buffered = true;
    lp->length = (int64_t)rest->len + lp->index0 + 1 + (lp->has_after ? 1 : 0);
    *out = lp->length;
    return 0;
}

int64_t jinja_loop_index0(const struct jinja_loop *lp) { return lp->index0; }

int jinja_loop_getattr(struct jinja_ctx *c, struct jinja_loop *lp, const char *name, size_t len, jv *out) {
#define IS(s) (len == sizeof(s) - 1 && !memcmp(name, s, len))
    int64_t L;
    bool has;
    if (IS("index")) *out = jv_int(lp->index0 + 1);
    else if (IS("index0")) *out = jv_int(lp->index0);
    else if (IS("first")) *out = jv_bool(lp->index0 == 0);
    else if (IS("depth")) *out = jv_int(lp->depth0 + 1);
    else if (IS("depth0")) *out = jv_int(lp->depth0);
    else if (IS("length")) {
        TRY(loop_length(c, lp, &L));
        *out = jv_int(L);
    } else if (IS("revindex")) {
        TRY(loop_length(c, lp, &L));
        *out = jv_int(L - lp->index0);
    } else if (IS("revindex0")) {
        TRY(loop_length(c, lp, &L));
        *out = jv_int(L - lp->index0 - 1);
    } else if (IS("last")) {
        TRY(loop_peek(c, lp, &has));
        *out = jv_bool(!has);
    } else if (IS("nextitem")) {
        TRY(loop_peek(c, lp, &has));
        *out = has ? lp->after : jinja_undef_hint(c, JU_HINT, "there is no next item");
    } else if (IS("previtem")) {
        *out = lp->index0 == 0 ? jinja_undef_hint(c, JU_HINT, "there is no previous item") : lp->before;
    } else if (IS("cycle") || IS("changed")) {
        jv self = {0};
        self.type = JV_LOOP;
        self.u.loop = lp;
        return jinja_make_method(c, self, IS("cycle") ? JM_LOOP_CYCLE : JM_LOOP_CHANGED, out);
    } else {
        jv self = {0};
        self.type = JV_LOOP;
        self.u.loop = lp;
        if (len && name[0] == '_') {
            char hint[160];
            snprintf(hint, sizeof hint, "access to attribute '%.*s' of 'LoopContext' object is unsafe.",
                     (int)(len > 60 ? 60 : len), name);
            *out = jinja_undef_hint(c, JU_UNSAFE, hint);
        } else {
            *out = jinja_undef_attr(c, self, name, len);
        }
    }
    return 0;
#undef IS
}

int jinja_loop_changed(struct jinja_ctx *c, struct jinja_loop *lp, const struct jinja_callargs *a, jv *out) {
    struct jinja_list *t = jinja_list_new(c, JL_TUPLE, a->n_pos);
    if (!t) return ERR_NOMEM;
    for (size_t i = 0; i < a->n_pos; i++) TRY(jinja_list_push(c, t, a->pos[i]));
    jv v = jv_listv(t);
    bool same = false;
    if (lp->has_changed) TRY(jinja_eq(c, lp->last_changed, v, &same));
    if (!same) {
        lp->last_changed = v;
        lp->has_changed = true;
    }
    *out = jv_bool(!same);
    return 0;
}

/* Runs a for loop over `iterable` (already evaluated) in frame f. */
static int render_loop(struct jinja_ctx *c, const struct jinja_node *n, struct jinja_frame *f, jv iterable,
                       int depth0, struct jinja_buf *out) {
    struct jinja_loop *lp = jinja_alloc(c, sizeof *lp);
    if (!lp) return ERR_NOMEM;
    lp->target = n->a;
    lp->test = n->c;
    lp->outer = f;
    lp->index0 = -1;
    lp->length = -1;
    lp->depth0 = depth0;
    lp->node = n;
    if (iterable.type == JV_LIST && iterable.u.l->kind == JL_LIST) {
        lp->live = iterable.u.l;
    } else {
        TRY(jinja_iterate(c, iterable, &lp->src, &lp->src_n));
    }
    bool iterated = false;
    /* one frame for all iterations, emptied before each: the body starts from
     * the outer scope every time (as in Jinja2) without allocating per item */
    struct jinja_frame *it = frame_new(c, f);
    if (!it) return ERR_NOMEM;
    for (;;) {
        jv item;
        if (lp->has_after) {
            item = lp->after;
            lp->has_after = false;
        } else {
            if (lp->exhausted) break;
            int r = loop_pull(c, lp, &item);
            if (r < 0) return r;
            if (r == 0) break;
        }
        TRY(jinja_step(c));
        iterated = true;
        lp->index0++;
        lp->before = lp->current;
        lp->current = item;
        it->n = 0;
        TRY(bind_missing(c, it, n->undef, n->n_undef));
        TRY(assign(c, n->a, item, it));
        jv lv = {0};
        lv.type = JV_LOOP;
        lv.u.loop = lp;
        TRY(frame_set(c, it, JS_LOOP, lv));
        int rc = exec_body(c, n->body, n->n_body, it, out);
        if (rc == FLOW_BREAK) break;
        if (rc == FLOW_CONTINUE) continue;
        if (rc) return rc;
    }
    if (!iterated && n->n_else) {
        struct jinja_frame *ef = frame_new(c, f);
        if (!ef) return ERR_NOMEM;
        TRY(bind_missing(c, ef, n->undef_else, n->n_undef_else));
        return exec_body(c, n->else_body, n->n_else, ef, out);
    }
    return 0;
}

int jinja_loop_call(struct jinja_ctx *c, struct jinja_loop *lp, jv iterable, jv *out) {
    if (!lp->node->op)
        return jinja_fail(c, "TypeError", "The loop must have the 'recursive' marker to be called recursively.");
    if (c->depth >= c->max_depth)
        return jinja_fail(c, "RecursionError", "maximum recursion depth exceeded (%d nested calls)", c->max_depth);
    struct jinja_buf b = {0};
    int line = c->line;
    c->depth++;
    int rc = render_loop(c, lp->node, lp->outer, iterable, lp->depth0 + 1, &b);
    c->depth--;
    c->line = line;
    if (rc) return rc;
    return jinja_str_from_buf(c, &b, out);
}

/* ------------------------------------------------------------ expressions */

static int apply_filter(struct jinja_ctx *c, const struct jinja_node *n, jv input, struct jinja_frame *f, jv *out) {
    struct jinja_callargs a;
    TRY(eval_args(c, n->args, f, 0, &a));
    c->line = n->line;
    if (n->op < 0) {
        const struct jinja_str *nm = sym_name(c, n->sym);
        return jinja_fail(c, "TemplateRuntimeError", "No filter named '%s' found.", nm->data);
    }
    return jinja_call_filter(c, n->op, input, &a, out);
}

/* Applies a filter chain whose innermost input is NULL to `input`. */
static int apply_chain(struct jinja_ctx *c, const struct jinja_node *n, jv input, struct jinja_frame *f, jv *out) {
    if (!n) {
        *out = input;
        return 0;
    }
    jv inner;
    if (n->a) TRY(apply_chain(c, n->a, input, f, &inner));
    else inner = input;
    return apply_filter(c, n, inner, f, out);
}

static int eval_compare(struct jinja_ctx *c, const struct jinja_node *n, struct jinja_frame *f, jv *out) {
    jv left;
    TRY(eval(c, n->a, f, &left));
    for (uint32_t i = 0; i < n->n_items; i++) {
        jv right;
        TRY(eval(c, n->items[i], f, &right));
        c->line = n->line;
        bool r;
        switch (n->cmp_ops[i]) {
        case JC_EQ: TRY(jinja_eq(c, left, right, &r)); break;
        case JC_NE:
            TRY(jinja_eq(c, left, right, &r));
            r = !r;
            break;
        case JC_IN: TRY(jinja_contains(c, right, left, &r)); break;
        case JC_NOTIN:
            TRY(jinja_contains(c, right, left, &r));
            r = !r;
            break;
        default: TRY(jinja_order(c, left, right, n->cmp_ops[i], &r)); break;
        }
        if (!r) {
            *out = jv_bool(false);
            return 0;
        }
        left = right;
    }
    *out = jv_bool(true);
    return 0;
}

/* In constant-folding mode: Jinja2's as_const() cannot see variables, calls,
 * or filters that take the context. */
static int impossible(struct jinja_ctx *c) { return jinja_fail(c, "Impossible", "not a constant"); }

static bool context_filter(int idx) {
    static const char *const names[] = {"map", "select", "reject", "selectattr", "rejectattr", "random"};
    const char *name = jinja_filter_name(idx);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(name, names[k])) return true;
    return false;
}

static int eval_inner(struct jinja_ctx *c, const struct jinja_node *n, struct jinja_frame *f, jv *out) {
    jv a, b;
    if (c->const_mode) {
        if (n->kind == JN_NAME || n->kind == JN_CALL) return impossible(c);
        if ((n->kind == JN_FILTER || n->kind == JN_TEST) &&
            (n->op < 0 || (n->kind == JN_FILTER && (context_filter(n->op) || !n->a))))
            return impossible(c);
        if (n->args && (n->args->dyn_args || n->args->dyn_kwargs)) return impossible(c);
    }
    switch (n->kind) {
    case JN_CONST: *out = n->value; return 0;
    case JN_NAME: return lookup(c, f, n->sym, out);
    case JN_LIST:
    case JN_TUPLE: {
        struct jinja_list *l = jinja_list_new(c, n->kind == JN_LIST ? JL_LIST : JL_TUPLE, n->n_items);
        if (!l) return ERR_NOMEM;
        for (uint32_t i = 0; i < n->n_items; i++) {
            TRY(eval(c, n->items[i], f, &a));
            TRY(jinja_list_push(c, l, a));
        }
        *out = jv_listv(l);
        return 0;
    }
    case JN_DICT: {
        struct jinja_dict *d = jinja_dict_new(c, n->n_items);
        if (!d) return ERR_NOMEM;
        for (uint32_t i = 0; i < n->n_items; i++) {
            TRY(eval(c, n->items[i], f, &a));
            TRY(eval(c, n->items2[i], f, &b));
            c->line = n->line;
            TRY(jinja_dict_set(c, d, a, b));
        }
        *out = jv_dictv(d);
        return 0;
    }
    case JN_GETATTR: {
        TRY(eval(c, n->a, f, &a));
        c->line = n->line;
        const struct jinja_str *nm = sym_name(c, n->sym);
        return jinja_getattr(c, a, nm->data, nm->len, out);
    }
    case JN_GETITEM: {
        TRY(eval(c, n->a, f, &a));
        const struct jinja_node *k = n->b;
        if (k->kind == JN_SLICE) {
            jv s0 = jv_none(), s1 = jv_none(), s2 = jv_none();
            if (k->a) TRY(eval(c, k->a, f, &s0));
            if (k->b) TRY(eval(c, k->b, f, &s1));
            if (k->c) TRY(eval(c, k->c, f, &s2));
            c->line = n->line;
            int rc = jinja_slice(c, a, s0, s1, s2, out);
            bool zero_step = jv_is_intlike(s2) && jv_as_int(s2) == 0; /* a ValueError */
            if (rc == ERR_INVALID && c->const_mode && !c->fatal && !zero_step) {
                /* the folder goes through the sandbox's getitem, which turns
                 * the TypeError into Undefined */
                *out = jinja_undef_hint(c, JU_HINT, "unsliceable constant");
                return 0;
            }
            return rc;
        }
        TRY(eval(c, k, f, &b));
        c->line = n->line;
        return jinja_getitem(c, a, b, out);
    }
    case JN_CALL: {
        TRY(eval(c, n->a, f, &a));
        struct jinja_callargs args;
        TRY(eval_args(c, n->args, f, 0, &args));
        c->line = n->line;
        return call(c, a, &args, out);
    }
    case JN_FILTER:
        if (n->a) TRY(eval(c, n->a, f, &a));
        else a = jv_undef();
        return apply_filter(c, n, a, f, out);
    case JN_TEST: {
        TRY(eval(c, n->a, f, &a));
        struct jinja_callargs args;
        TRY(eval_args(c, n->args, f, 0, &args));
        c->line = n->line;
        if (n->op < 0) {
            const struct jinja_str *nm = sym_name(c, n->sym);
            return jinja_fail(c, "TemplateRuntimeError", "No test named '%s' found.", nm->data);
        }
        bool r;
        TRY(jinja_call_test(c, n->op, a, &args, &r));
        *out = jv_bool(r);
        return 0;
    }
    case JN_NOT:
        TRY(eval(c, n->a, f, &a));
        *out = jv_bool(!jinja_truthy(a));
        return 0;
    case JN_NEG:
    case JN_POS:
        TRY(eval(c, n->a, f, &a));
        c->line = n->line;
        return jinja_neg(c, a, n->kind == JN_NEG, out);
    case JN_AND:
        TRY(eval(c, n->a, f, &a));
        if (!jinja_truthy(a)) {
            *out = a;
            return 0;
        }
        return eval(c, n->b, f, out);
    case JN_OR:
        TRY(eval(c, n->a, f, &a));
        if (jinja_truthy(a)) {
            *out = a;
            return 0;
        }
        return eval(c, n->b, f, out);
    case JN_BINOP:
        TRY(eval(c, n->a, f, &a));
        TRY(eval(c, n->b, f, &b));
        c->line = n->line;
        return jinja_binop(c, n->op, a, b, out);
    case JN_CONCAT: {
        struct jinja_buf buf = {0};
        for (uint32_t i = 0; i < n->n_items; i++) {
            TRY(eval(c, n->items[i], f, &a));
            TRY(jinja_write_str(c, &buf, a));
        }
        return jinja_str_from_buf(c, &buf, out);
    }
    case JN_COMPARE: return eval_compare(c, n, f, out);
    case JN_COND:
        TRY(eval(c, n->a, f, &a));
        if (jinja_truthy(a)) return eval(c, n->b, f, out);
        if (n->c) return eval(c, n->c, f, out);
        if (c->const_mode) return impossible(c);
        {
            char hint[160];
            snprintf(hint, sizeof hint,
                     "the inline if-expression on line %d evaluated to false and no else section was defined.",
                     n->line);
            *out = jinja_undef_hint(c, JU_HINT, hint);
        }
        return 0;
    case JN_SLICE: return jinja_fail(c, "TemplateSyntaxError", "slice outside of a subscript");
    default: return jinja_fail(c, "RuntimeError", "cannot evaluate node kind %d", n->kind);
    }
}

/* Python's has_safe_repr: the values the optimizer may turn into constants. */
static bool safe_repr(jv v) {
    switch (v.type) {
    case JV_NONE:
    case JV_BOOL:
    case JV_INT:
    case JV_FLOAT:
    case JV_STR: return true;
    case JV_LIST:
        if (v.u.l->kind == JL_RANGE) return true;
        if (v.u.l->kind != JL_LIST && v.u.l->kind != JL_TUPLE) return false;
        for (size_t i = 0; i < v.u.l->len; i++)
            if (!safe_repr(v.u.l->items[i])) return false;
        return true;
    case JV_DICT:
        for (size_t i = 0; i < v.u.d->len; i++)
            if (!safe_repr(v.u.d->keys[i]) || !safe_repr(v.u.d->vals[i])) return false;
        return true;
    default: return false;
    }
}

static int eval(struct jinja_ctx *c, const struct jinja_node *n, struct jinja_frame *f, jv *out) {
    c->line = n->line;
    if (n->fold && !c->const_mode) {
        /* what Jinja2's compile-time folding would produce; when it would not
         * fold (an error, or a value it cannot embed) evaluate at run time */
        c->const_mode = true;
        int rc = eval_inner(c, n, f, out);
        c->const_mode = false;
        if (!rc && (n->fold == 2 || safe_repr(*out))) return 0;
        if (rc && (rc != ERR_INVALID || c->fatal)) return rc;
        c->line = n->line;
    }
    return eval_inner(c, n, f, out);
}

/* ------------------------------------------------------------ statements */

static int exec_stmt(struct jinja_ctx *c, const struct jinja_node *n, struct jinja_frame *f, struct jinja_buf *out) {
    jv v;
    c->line = n->line;
    switch (n->kind) {
    case JN_DATA: return jinja_buf_put(c, out, n->value.u.s->data, n->value.u.s->len);
    case JN_PRINT:
        TRY(eval(c, n->a, f, &v));
        return jinja_write_str(c, out, v);
    case JN_IF:
        TRY(eval(c, n->a, f, &v));
        if (jinja_truthy(v)) return exec_body(c, n->body, n->n_body, f, out);
        return exec_body(c, n->else_body, n->n_else, f, out);
    case JN_FOR:
        TRY(eval(c, n->b, f, &v));
        c->line = n->line;
        return render_loop(c, n, f, v, 0, out);
    case JN_SET:
        TRY(eval(c, n->b, f, &v));
        c->line = n->line;
        return assign(c, n->a, v, f);
    case JN_SETBLK: {
        struct jinja_frame *bf = frame_new(c, f);
        if (!bf) return ERR_NOMEM;
        TRY(bind_missing(c, bf, n->undef, n->n_undef));
        struct jinja_buf b = {0};
        TRY(exec_body(c, n->body, n->n_body, bf, &b));
        TRY(jinja_str_from_buf(c, &b, &v));
        c->line = n->line;
        if (n->b) TRY(apply_chain(c, n->b, v, bf, &v));
        return assign(c, n->a, v, f);
    }
    case JN_FILTBLK: {
        struct jinja_frame *bf = frame_new(c, f);
        if (!bf) return ERR_NOMEM;
        TRY(bind_missing(c, bf, n->undef, n->n_undef));
        struct jinja_buf b = {0};
        TRY(exec_body(c, n->body, n->n_body, bf, &b));
        TRY(jinja_str_from_buf(c, &b, &v));
        c->line = n->line;
        TRY(apply_chain(c, n->a, v, bf, &v));
        /* Jinja2 writes a filter block's result without str(): the final
         * join of the output fails on anything but a string */
        if (v.type != JV_STR)
            return jinja_fail(c, "TypeError", "sequence item: expected str instance, %s found", jinja_type_name(v));
        return jinja_write_str(c, out, v);
    }
    case JN_MACRO:
    case JN_CALLBLK: {
        struct jinja_func *fn = jinja_alloc(c, sizeof *fn);
        if (!fn) return ERR_NOMEM;
        fn->kind = JF_MACRO;
        fn->macro = n->macro;
        fn->closure = f;
        jv mv = {0};
        mv.type = JV_FUNC;
        mv.u.fn = fn;
        if (n->kind == JN_MACRO) return frame_set(c, f, n->sym, mv);
        /* {% call %}: the call with caller=<macro> */
        const struct jinja_node *cn = n->a;
        jv callee;
        TRY(eval(c, cn->a, f, &callee));
        struct jinja_callargs args;
        TRY(eval_args(c, cn->args, f, 1, &args));
        args.kw_names[args.n_kw] = sym_name(c, JS_CALLER);
        args.kw_vals[args.n_kw] = mv;
        args.n_kw++;
        c->line = n->line;
        TRY(call(c, callee, &args, &v));
        return jinja_write_str(c, out, v);
    }
    case JN_WITH: {
        struct jinja_frame *wf = frame_new(c, f);
        if (!wf) return ERR_NOMEM;
        TRY(bind_missing(c, wf, n->undef, n->n_undef));
        for (uint32_t i = 0; i < n->n_items; i++) {
            TRY(eval(c, n->items2[i], f, &v));
            TRY(assign(c, n->items[i], v, wf));
        }
        return exec_body(c, n->body, n->n_body, wf, out);
    }
    case JN_SCOPE: {
        struct jinja_frame *sf = frame_new(c, f);
        if (!sf) return ERR_NOMEM;
        TRY(bind_missing(c, sf, n->undef, n->n_undef));
        return exec_body(c, n->body, n->n_body, sf, out);
    }
    case JN_BLOCK: return exec_body(c, n->body, n->n_body, f, out);
    case JN_BREAK: return FLOW_BREAK;
    case JN_CONTINUE: return FLOW_CONTINUE;
    default: return jinja_fail(c, "RuntimeError", "cannot execute node kind %d", n->kind);
    }
}

static int exec_body(struct jinja_ctx *c, struct jinja_node *const *v, uint32_t n, struct jinja_frame *f,
                     struct jinja_buf *out) {
    for (uint32_t i = 0; i < n; i++) {
        int rc = exec_stmt(c, v[i], f, out);
        if (rc) return rc;
    }
    return 0;
}

int jinja_render(struct jinja_ctx *c, jv vars, struct jinja_buf *out) {
    struct jinja_frame *root = frame_new(c, NULL);
    if (!root) return ERR_NOMEM;
    c->root = root;
    if (vars.type == JV_DICT) {
        const struct jinja_dict *d = vars.u.d;
        for (size_t i = 0; i < d->len; i++) {
            if (d->keys[i].type != JV_STR) continue;
            int64_t sym = jinja_sym_find(&c->tpl->syms, d->keys[i].u.s->data, d->keys[i].u.s->len);
            if (sym >= 0) TRY(frame_set(c, root, (uint32_t)sym, d->vals[i]));
        }
    }
    TRY(bind_missing(c, root, c->tpl->undef, c->tpl->n_undef));
    return exec_body(c, c->tpl->body, c->tpl->n_body, root, out);
}
