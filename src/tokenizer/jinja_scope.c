/* jinja_scope: Jinja2's compile-time symbol analysis (jinja2/idtracking.py),
 * reduced to the one result the interpreter needs.
 *
 * Jinja2 compiles each frame (the template, a for-loop body or else block, a
 * macro or call-block body, a filter / set / with block) to Python locals. A
 * name whose first reference in a frame's own code is an assignment, and that
 * no enclosing frame references, is initialised to `missing` when the frame is
 * entered; reads of it — including reads from nested frames such as a loop
 * body that runs before the assignment — give Undefined even when the render
 * context has a variable of that name:
 *
 *   {% for m in messages %}{{ x }}{% endfor %}{% set x = 1 %}   -> x is Undefined in the loop
 *
 * The interpreter otherwise scopes dynamically (jinja_eval.c); this pass
 * lists, per frame, the names to pre-bind as "missing" so both agree. It
 * follows RootVisitor / FrameSymbolVisitor: what each frame visits, the order
 * of loads and stores, parameters (loop targets, macro arguments, with
 * targets) and the branch merging of if/elif/else.
 *
 * Runs once at compile time on the template's arena. Single-threaded. */
#include <string.h>

#include "tokenizer/jinja.h"

enum { LD_PARAM, LD_RESOLVE, LD_ALIAS, LD_UNDEF };

struct syms {
    const struct syms *parent;
    uint32_t *names;
    uint8_t *load;
    uint32_t n, cap;
    uint32_t *stores;
    uint32_t n_stores, cap_stores;
};

struct ana {
    struct jinja_arena *a;
    struct sgl_err *err;
    int failed;
};

#define CHECK_ALLOC(an, p)                                                                                             \
    do {                                                                                                               \
        if (!(p)) {                                                                                                    \
            (an)->failed = err_setf((an)->err, ERR_NOMEM, "out of memory");                                            \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

static int find_local(const struct syms *s, uint32_t name) {
    for (uint32_t i = 0; i < s->n; i++)
        if (s->names[i] == name) return (int)i;
    return -1;
}

static bool find_ref(const struct syms *s, uint32_t name) {
    for (; s; s = s->parent)
        if (find_local(s, name) >= 0) return true;
    return false;
}

static void define_ref(struct ana *an, struct syms *s, uint32_t name, uint8_t load) {
    int i = find_local(s, name);
    if (i >= 0) {
        s->load[i] = load;
        return;
    }
    if (s->n == s->cap) {
        uint32_t ncap = s->cap ? s->cap * 2 : 8;
        uint32_t *nn = jinja_arena_alloc(an->a, ncap * sizeof *nn);
        uint8_t *nl = jinja_arena_alloc(an->a, ncap);
        CHECK_ALLOC(an, nn && nl);
        if (s->n) {
            memcpy(nn, s->names, s->n * sizeof *nn);
            memcpy(nl, s->load, s->n);
        }
        s->names = nn;
        s->load = nl;
        s->cap = ncap;
    }
    s->names[s->n] = name;
    s->load[s->n] = load;
    s->n++;
}

static bool has_store(const struct syms *s, uint32_t name) {
    for (uint32_t i = 0; i < s->n_stores; i++)
        if (s->stores[i] == name) return true;
    return false;
}

static void add_store(struct ana *an, struct syms *s, uint32_t name) {
    if (has_store(s, name)) return;
    if (s->n_stores == s->cap_stores) {
        uint32_t ncap = s->cap_stores ? s->cap_stores * 2 : 8;
        uint32_t *ns = jinja_arena_alloc(an->a, ncap * sizeof *ns);
        CHECK_ALLOC(an, ns);
        if (s->n_stores) memcpy(ns, s->stores, s->n_stores * sizeof *ns);
        s->stores = ns;
        s->cap_stores = ncap;
    }
    s->stores[s->n_stores++] = name;
}

static void sym_store(struct ana *an, struct syms *s, uint32_t name) {
    add_store(an, s, name);
    if (find_local(s, name) >= 0) return;
    if (s->parent && find_ref(s->parent, name)) define_ref(an, s, name, LD_ALIAS);
    else define_ref(an, s, name, LD_UNDEF);
}

static void sym_param(struct ana *an, struct syms *s, uint32_t name) {
    add_store(an, s, name);
    define_ref(an, s, name, LD_PARAM);
}

static void sym_load(struct ana *an, struct syms *s, uint32_t name) {
    if (!find_ref(s, name)) define_ref(an, s, name, LD_RESOLVE);
}

static struct syms *sym_copy(struct ana *an, const struct syms *s) {
    struct syms *c = jinja_arena_alloc(an->a, sizeof *c);
    if (!c) {
        an->failed = err_setf(an->err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    *c = *s;
    c->cap = s->n + 8;
    c->names = jinja_arena_alloc(an->a, c->cap * sizeof *c->names);
    c->load = jinja_arena_alloc(an->a, c->cap);
    c->cap_stores = s->n_stores + 8;
    c->stores = jinja_arena_alloc(an->a, c->cap_stores * sizeof *c->stores);
    if (!c->names || !c->load || !c->stores) {
        an->failed = err_setf(an->err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (s->n) {
        memcpy(c->names, s->names, s->n * sizeof *c->names);
        memcpy(c->load, s->load, s->n);
    }
    if (s->n_stores) memcpy(c->stores, s->stores, s->n_stores * sizeof *c->stores);
    return c;
}

/* Symbols.branch_update */
static void branch_update(struct ana *an, struct syms *s, struct syms *const *br, int nbr) {
    /* names stored in branches but not already stored here, with counts */
    uint32_t names[256];
    int counts[256];
    int nn = 0;
    for (int b = 0; b < nbr; b++) {
        for (uint32_t i = 0; i < br[b]->n_stores; i++) {
            uint32_t t = br[b]->stores[i];
            if (has_store(s, t)) continue;
            int k;
            for (k = 0; k < nn; k++)
                if (names[k] == t) break;
            if (k == nn) {
                if (nn == 256) continue;
                names[nn] = t;
                counts[nn++] = 0;
            }
            counts[k]++;
        }
    }
    for (int b = 0; b < nbr; b++) {
        for (uint32_t i = 0; i < br[b]->n; i++) define_ref(an, s, br[b]->names[i], br[b]->load[i]);
        for (uint32_t i = 0; i < br[b]->n_stores; i++) add_store(an, s, br[b]->stores[i]);
    }
    for (int k = 0; k < nn; k++) {
        if (counts[k] == nbr) continue;
        if (s->parent && find_ref(s->parent, names[k])) define_ref(an, s, names[k], LD_ALIAS);
        else define_ref(an, s, names[k], LD_RESOLVE);
    }
}

/* ------------------------------------------------------------ FrameSymbolVisitor */

static void visit_expr(struct ana *an, struct syms *s, const struct jinja_node *n);

static void visit_args(struct ana *an, struct syms *s, const struct jinja_args *a) {
    if (!a) return;
    for (uint32_t i = 0; i < a->n_pos; i++) visit_expr(an, s, a->pos[i]);
    for (uint32_t i = 0; i < a->n_kw; i++) visit_expr(an, s, a->kw_vals[i]);
    visit_expr(an, s, a->dyn_args);
    visit_expr(an, s, a->dyn_kwargs);
}

static void visit_expr(struct ana *an, struct syms *s, const struct jinja_node *n) {
    if (!n || an->failed) return;
    if (n->kind == JN_NAME) {
        sym_load(an, s, n->sym);
        return;
    }
    visit_expr(an, s, n->a);
    visit_expr(an, s, n->b);
    visit_expr(an, s, n->c);
    for (uint32_t i = 0; i < n->n_items; i++) visit_expr(an, s, n->items[i]);
    for (uint32_t i = 0; i < n->n_items2; i++) visit_expr(an, s, n->items2[i]);
    visit_args(an, s, n->args);
}

static void visit_target(struct ana *an, struct syms *s, const struct jinja_node *t, bool param) {
    if (!t) return;
    if (t->kind == JN_NAME) {
        if (param) sym_param(an, s, t->sym);
        else sym_store(an, s, t->sym);
    } else if (t->kind == JN_NSREF) {
        sym_load(an, s, t->sym);
    } else {
        for (uint32_t i = 0; i < t->n_items; i++) visit_target(an, s, t->items[i], param);
    }
}

static void visit_stmts(struct ana *an, struct syms *s, struct jinja_node *const *v, uint32_t n);

static void visit_if(struct ana *an, struct syms *s, const struct jinja_node *n, bool as_elif) {
    visit_expr(an, s, n->a);
    /* Jinja2's If: body, the list of elif nodes, the final else */
    const struct jinja_node *elifs[64];
    int ne = 0;
    const struct jinja_node *last = n;
    if (!as_elif)
        while (last->n_else == 1 && last->else_body[0]->kind == JN_IF && last->else_body[0]->op == 2 && ne < 64)
            last = elifs[ne++] = last->else_body[0];
    struct syms *br[3];
    br[0] = sym_copy(an, s);
    if (!br[0]) return;
    visit_stmts(an, br[0], n->body, n->n_body);
    br[1] = sym_copy(an, s);
    if (!br[1]) return;
    for (int k = 0; k < ne; k++) visit_if(an, br[1], elifs[k], true);
    br[2] = sym_copy(an, s);
    if (!br[2]) return;
    if (!as_elif) visit_stmts(an, br[2], last->else_body, last->n_else);
    branch_update(an, s, br, 3);
}

static void visit_stmt(struct ana *an, struct syms *s, const struct jinja_node *n) {
    if (an->failed) return;
    switch (n->kind) {
    case JN_PRINT: visit_expr(an, s, n->a); break;
    case JN_IF: visit_if(an, s, n, false); break;
    case JN_FOR: visit_expr(an, s, n->b); break;
    case JN_SET:
        visit_expr(an, s, n->b);
        visit_target(an, s, n->a, false);
        break;
    case JN_SETBLK: visit_target(an, s, n->a, false); break;
    case JN_MACRO: sym_store(an, s, n->sym); break;
    case JN_CALLBLK: visit_expr(an, s, n->a); break;
    case JN_FILTBLK: visit_expr(an, s, n->a); break;
    case JN_WITH:
        for (uint32_t i = 0; i < n->n_items2; i++) visit_expr(an, s, n->items2[i]);
        break;
    case JN_BLOCK: visit_stmts(an, s, n->body, n->n_body); break;
    default: break; /* data, break, continue, generation (a call block with no visible call) */
    }
}

static void visit_stmts(struct ana *an, struct syms *s, struct jinja_node *const *v, uint32_t n) {
    for (uint32_t i = 0; i < n && !an->failed; i++) visit_stmt(an, s, v[i]);
}

/* ------------------------------------------------------------ frames */

static void collect_undef(struct ana *an, const struct syms *s, uint32_t **out, uint32_t *n_out) {
    uint32_t cnt = 0;
    for (uint32_t i = 0; i < s->n; i++) cnt += s->load[i] == LD_UNDEF;
    *out = NULL;
    *n_out = 0;
    if (!cnt) return;
    uint32_t *v = jinja_arena_alloc(an->a, cnt * sizeof *v);
    CHECK_ALLOC(an, v);
    for (uint32_t i = 0; i < s->n; i++)
        if (s->load[i] == LD_UNDEF) v[(*n_out)++] = s->names[i];
    *out = v;
}

static struct syms *new_frame(struct ana *an, const struct syms *parent) {
    struct syms *s = jinja_arena_alloc(an->a, sizeof *s);
    if (!s) an->failed = err_setf(an->err, ERR_NOMEM, "out of memory");
    else s->parent = parent;
    return s;
}

static void nested(struct ana *an, const struct syms *s, struct jinja_node *const *v, uint32_t n);

static void macro_frame(struct ana *an, const struct syms *parent, struct jinja_macro *m) {
    struct syms *f = new_frame(an, parent);
    if (!f) return;
    bool caller_param = false, kwargs_param = false, varargs_param = false;
    for (uint32_t i = 0; i < m->n_params; i++) {
        sym_param(an, f, m->params[i]);
        caller_param |= m->params[i] == JS_CALLER;
        kwargs_param |= m->params[i] == JS_KWARGS;
        varargs_param |= m->params[i] == JS_VARARGS;
    }
    for (uint32_t i = 0; i < m->n_defaults; i++) visit_expr(an, f, m->defaults[i]);
    visit_stmts(an, f, m->body, m->n_body);
    if (m->uses_caller && !caller_param) sym_param(an, f, JS_CALLER);
    if (m->uses_kwargs && !kwargs_param) sym_param(an, f, JS_KWARGS);
    if (m->uses_varargs && !varargs_param) sym_param(an, f, JS_VARARGS);
    collect_undef(an, f, &m->undef, &m->n_undef);
    nested(an, f, m->body, m->n_body);
}

/* Analyzes the frames of the scope statements found among v (descending
 * into if-branches, which share their frame) with parent symbols s. */
static void nested(struct ana *an, const struct syms *s, struct jinja_node *const *v, uint32_t n) {
    for (uint32_t i = 0; i < n && !an->failed; i++) {
        struct jinja_node *x = v[i];
        struct syms *f;
        switch (x->kind) {
        case JN_IF:
            nested(an, s, x->body, x->n_body);
            nested(an, s, x->else_body, x->n_else);
            break;
        case JN_BLOCK: nested(an, s, x->body, x->n_body); break;
        case JN_FOR:
            if (!(f = new_frame(an, s))) return;
            sym_param(an, f, JS_LOOP);
            visit_target(an, f, x->a, true);
            visit_stmts(an, f, x->body, x->n_body);
            collect_undef(an, f, &x->undef, &x->n_undef);
            nested(an, f, x->body, x->n_body);
            if (!(f = new_frame(an, s))) return;
            visit_stmts(an, f, x->else_body, x->n_else);
            collect_undef(an, f, &x->undef_else, &x->n_undef_else);
            nested(an, f, x->else_body, x->n_else);
            break;
        case JN_MACRO: macro_frame(an, s, x->macro); break;
        case JN_CALLBLK: macro_frame(an, s, x->macro); break;
        case JN_FILTBLK:
        case JN_SETBLK:
        case JN_SCOPE:
            if (!(f = new_frame(an, s))) return;
            visit_stmts(an, f, x->body, x->n_body);
            if (x->kind == JN_FILTBLK) visit_expr(an, f, x->a);
            collect_undef(an, f, &x->undef, &x->n_undef);
            nested(an, f, x->body, x->n_body);
            break;
        case JN_WITH:
            if (!(f = new_frame(an, s))) return;
            for (uint32_t k = 0; k < x->n_items; k++) visit_target(an, f, x->items[k], true);
            visit_stmts(an, f, x->body, x->n_body);
            collect_undef(an, f, &x->undef, &x->n_undef);
            nested(an, f, x->body, x->n_body);
            break;
        default: break;
        }
    }
}

int jinja_scope_analyze(struct chat_template *tpl, struct sgl_err *err) {
    struct ana an = {.a = &tpl->arena, .err = err};
    struct syms *root = new_frame(&an, NULL);
    if (root) {
        visit_stmts(&an, root, tpl->body, tpl->n_body);
        collect_undef(&an, root, &tpl->undef, &tpl->n_undef);
        nested(&an, root, tpl->body, tpl->n_body);
    }
    return an.failed;
}
