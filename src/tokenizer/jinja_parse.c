/* jinja_parse: tokens -> AST, a transcription of jinja2.parser.Parser for the
 * statements chat templates use (for/if/set/macro/call/filter/with/print,
 * break/continue from the loopcontrols extension, transformers'
 * {% generation %}) and the whole expression grammar with Jinja2's
 * precedence (note: `~` binds tighter than `+`, `**` is left-associative,
 * unary minus applies before `**`, filters and `is` tests bind to the
 * operand they follow).
 *
 * After parsing, a check pass reproduces two compile-time errors of Jinja2's
 * code generator: unknown filters/tests outside if-blocks and conditional
 * expressions ("No filter named 'x'."), and break/continue outside a loop.
 * It also records which macros use caller / varargs / kwargs.
 *
 * Names are interned in the template's symbol table so that the interpreter
 * compares integers. The AST lives in the template arena and is read-only
 * after jinja_parse returns. Nesting (statements and expressions) is capped
 * to keep C recursion bounded. Single-threaded. */
#include <stdio.h>
#include <string.h>

#include "tokenizer/jinja.h"

#define MAX_NEST 100

struct parser {
    struct chat_template *tpl;
    const struct jinja_token *t;
    size_t n, pos;
    int nest;
    struct sgl_err *err;
};

/* ------------------------------------------------------------ symbols */

static uint32_t name_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

int64_t jinja_sym_find(const struct jinja_symtab *t, const char *name, size_t len) {
    if (!t->index_cap) return -1;
    uint32_t mask = t->index_cap - 1;
    for (uint32_t h = name_hash(name, len) & mask;; h = (h + 1) & mask) {
        uint32_t e = t->index[h];
        if (!e) return -1;
        const struct jinja_str *s = t->names[e - 1];
        if (s->len == len && memcmp(s->data, name, len) == 0) return e - 1;
    }
}

static int sym_intern(struct jinja_arena *a, struct jinja_symtab *t, const char *name, size_t len, uint32_t *out) {
    int64_t f = jinja_sym_find(t, name, len);
    if (f >= 0) {
        *out = (uint32_t)f;
        return 0;
    }
    if (t->n == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 64;
        const struct jinja_str **nn = jinja_arena_alloc(a, ncap * sizeof *nn);
        if (!nn) return ERR_NOMEM;
        if (t->n) memcpy(nn, t->names, t->n * sizeof *nn);
        t->names = nn;
        t->cap = ncap;
    }
    if ((t->n + 1) * 2 > t->index_cap) {
        uint32_t ncap = t->index_cap ? t->index_cap * 2 : 128;
        uint32_t *ni = jinja_arena_alloc(a, ncap * sizeof *ni);
        if (!ni) return ERR_NOMEM;
        for (uint32_t k = 0; k < t->n; k++) {
            uint32_t h = name_hash(t->names[k]->data, t->names[k]->len) & (ncap - 1);
            while (ni[h]) h = (h + 1) & (ncap - 1);
            ni[h] = k + 1;
        }
        t->index = ni;
        t->index_cap = ncap;
    }
    struct jinja_str *s = jinja_str_new_in(a, name, len);
    if (!s) return ERR_NOMEM;
    uint32_t id = t->n++;
    t->names[id] = s;
    uint32_t h = name_hash(name, len) & (t->index_cap - 1);
    while (t->index[h]) h = (h + 1) & (t->index_cap - 1);
    t->index[h] = id + 1;
    *out = id;
    return 0;
}

/* ------------------------------------------------------------ helpers */

static const struct jinja_token *cur(const struct parser *P) { return &P->t[P->pos]; }
static const struct jinja_token *peek(const struct parser *P) {
    return P->pos + 1 < P->n ? &P->t[P->pos + 1] : &P->t[P->n - 1];
}
static void advance(struct parser *P) {
    if (P->pos + 1 < P->n) P->pos++;
}

static bool tok_is_name(const struct jinja_token *t, const char *name) {
    return t->type == JT_NAME && t->len == strlen(name) && memcmp(t->text, name, t->len) == 0;
}
static bool tok_is_op(const struct jinja_token *t, const char *op) {
    return t->type == JT_OP && t->len == strlen(op) && memcmp(t->text, op, t->len) == 0;
}

static void describe(const struct jinja_token *t, char *buf, size_t cap) {
    switch (t->type) {
    case JT_EOF: snprintf(buf, cap, "end of template"); break;
    case JT_DATA: snprintf(buf, cap, "template data / text"); break;
    case JT_BLOCK_BEGIN: snprintf(buf, cap, "begin of statement block"); break;
    case JT_BLOCK_END: snprintf(buf, cap, "end of statement block"); break;
    case JT_VAR_BEGIN: snprintf(buf, cap, "begin of print statement"); break;
    case JT_VAR_END: snprintf(buf, cap, "end of print statement"); break;
    case JT_STRING: snprintf(buf, cap, "string"); break;
    case JT_INT: snprintf(buf, cap, "integer"); break;
    case JT_FLOAT: snprintf(buf, cap, "float"); break;
    default: snprintf(buf, cap, "%.*s", (int)(t->len > 40 ? 40 : t->len), t->text); break;
    }
}

static int fail_at(struct parser *P, int line, const char *fmt, const char *arg) {
    char msg[300];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    return err_setf(P->err, ERR_FORMAT, "line %d: TemplateSyntaxError: %s", line, msg);
}

static int fail_tok(struct parser *P, const char *what) {
    char d[64];
    describe(cur(P), d, sizeof d);
    char msg[160];
    if (cur(P)->type == JT_EOF) snprintf(msg, sizeof msg, "unexpected end of template, expected '%s'.", what);
    else snprintf(msg, sizeof msg, "expected token '%s', got '%s'", what, d);
    return fail_at(P, cur(P)->line, "%s", msg);
}

static int expect_type(struct parser *P, uint8_t type, const char *what) {
    if (cur(P)->type != type) return fail_tok(P, what);
    advance(P);
    return 0;
}
static int expect_op(struct parser *P, const char *op) {
    if (!tok_is_op(cur(P), op)) return fail_tok(P, op);
    advance(P);
    return 0;
}
static int expect_name(struct parser *P, const char *name) {
    if (!tok_is_name(cur(P), name)) return fail_tok(P, name);
    advance(P);
    return 0;
}

static struct jinja_node *node_new(struct parser *P, uint8_t kind, int line) {
    struct jinja_node *n = jinja_arena_alloc(&P->tpl->arena, sizeof *n);
    if (!n) {
        err_setf(P->err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->line = line;
    return n;
}

/* Growable node list in the template arena. */
struct nlist {
    struct jinja_node **v;
    uint32_t n, cap;
};
static int nl_push(struct parser *P, struct nlist *l, struct jinja_node *x) {
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : 4;
        struct jinja_node **nv = jinja_arena_alloc(&P->tpl->arena, ncap * sizeof *nv);
        if (!nv) return err_setf(P->err, ERR_NOMEM, "out of memory");
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = x;
    return 0;
}

static int intern_tok(struct parser *P, const struct jinja_token *t, uint32_t *out) {
    if (sym_intern(&P->tpl->arena, &P->tpl->syms, t->text, t->len, out)) return err_setf(P->err, ERR_NOMEM, "out of memory");
    return 0;
}

static int enter(struct parser *P) {
    if (++P->nest > MAX_NEST) return fail_at(P, cur(P)->line, "%s", "template is nested too deeply");
    return 0;
}

/* ------------------------------------------------------------ expressions */

static int parse_expression(struct parser *P, bool with_condexpr, struct jinja_node **out);
static int parse_tuple(struct parser *P, bool simplified, bool with_condexpr, const char *extra_end,
                       bool explicit_parens, struct jinja_node **out);
static int parse_unary(struct parser *P, bool with_filter, struct jinja_node **out);
static int parse_primary(struct parser *P, struct jinja_node **out);
static int parse_postfix(struct parser *P, struct jinja_node **node);
static int parse_filter(struct parser *P, struct jinja_node **node, bool start_inline);
static int parse_statements(struct parser *P, const char *const *ends, bool drop_needle, struct nlist *body);

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        int rc_ = (x);                                                                                                 \
        if (rc_) return rc_;                                                                                           \
    } while (0)
#define NEW(var, kind, line)                                                                                           \
    do {                                                                                                               \
        (var) = node_new(P, (kind), (line));                                                                           \
        if (!(var)) return ERR_NOMEM;                                                                                  \
    } while (0)

static int parse_call_args(struct parser *P, struct jinja_args **out) {
    int line = cur(P)->line;
    TRY(expect_op(P, "("));
    struct jinja_args *a = jinja_arena_alloc(&P->tpl->arena, sizeof *a);
    if (!a) return err_setf(P->err, ERR_NOMEM, "out of memory");
    struct nlist pos = {0}, kwv = {0};
    uint32_t *kws = NULL;
    uint32_t kwcap = 0;
    bool require_comma = false;
    while (!tok_is_op(cur(P), ")")) {
        if (require_comma) {
            TRY(expect_op(P, ","));
            if (tok_is_op(cur(P), ")")) break;
        }
        if (tok_is_op(cur(P), "*")) {
            if (a->dyn_args || a->dyn_kwargs) return fail_at(P, line, "%s", "invalid syntax for function call expression");
            advance(P);
            TRY(parse_expression(P, true, &a->dyn_args));
        } else if (tok_is_op(cur(P), "**")) {
            if (a->dyn_kwargs) return fail_at(P, line, "%s", "invalid syntax for function call expression");
            advance(P);
            TRY(parse_expression(P, true, &a->dyn_kwargs));
        } else if (cur(P)->type == JT_NAME && tok_is_op(peek(P), "=")) {
            if (a->dyn_kwargs) return fail_at(P, line, "%s", "invalid syntax for function call expression");
            uint32_t sym;
            TRY(intern_tok(P, cur(P), &sym));
            advance(P);
            advance(P);
            struct jinja_node *v;
            TRY(parse_expression(P, true, &v));
            for (uint32_t k = 0; k < kwv.n; k++)
                if (kws[k] == sym) return fail_at(P, line, "%s", "keyword argument repeated");
            if (kwv.n == kwcap) {
                uint32_t ncap = kwcap ? kwcap * 2 : 4;
                uint32_t *nk = jinja_arena_alloc(&P->tpl->arena, ncap * sizeof *nk);
                if (!nk) return err_setf(P->err, ERR_NOMEM, "out of memory");
                if (kwv.n) memcpy(nk, kws, kwv.n * sizeof *nk);
                kws = nk;
                kwcap = ncap;
            }
            kws[kwv.n] = sym;
            TRY(nl_push(P, &kwv, v));
        } else {
            if (a->dyn_args || a->dyn_kwargs || kwv.n)
                return fail_at(P, line, "%s", "invalid syntax for function call expression");
            struct jinja_node *v;
            TRY(parse_expression(P, true, &v));
            TRY(nl_push(P, &pos, v));
        }
        require_comma = true;
    }
    TRY(expect_op(P, ")"));
    a->pos = pos.v;
    a->n_pos = pos.n;
    a->kw_syms = kws;
    a->kw_vals = kwv.v;
    a->n_kw = kwv.n;
    *out = a;
    return 0;
}

/* name(.name)* for filters and tests; interned with the dots. */
static int parse_dotted_name(struct parser *P, uint32_t *sym, int *idx, bool filter) {
    if (cur(P)->type != JT_NAME) return fail_tok(P, "name");
    char buf[256];
    size_t len = 0;
    for (;;) {
        const struct jinja_token *t = cur(P);
        if (len + t->len + 1 >= sizeof buf) return fail_at(P, t->line, "%s", "name too long");
        memcpy(buf + len, t->text, t->len);
        len += t->len;
        advance(P);
        if (!tok_is_op(cur(P), ".")) break;
        advance(P);
        if (cur(P)->type != JT_NAME) return fail_tok(P, "name");
        buf[len++] = '.';
    }
    if (sym_intern(&P->tpl->arena, &P->tpl->syms, buf, len, sym)) return err_setf(P->err, ERR_NOMEM, "out of memory");
    *idx = filter ? jinja_filter_find(buf, len) : jinja_test_find(buf, len);
    return 0;
}

static int parse_filter(struct parser *P, struct jinja_node **node, bool start_inline) {
    while (tok_is_op(cur(P), "|") || start_inline) {
        if (!start_inline) advance(P);
        int line = cur(P)->line;
        struct jinja_node *f;
        NEW(f, JN_FILTER, line);
        int idx;
        TRY(parse_dotted_name(P, &f->sym, &idx, true));
        f->op = (int8_t)idx;
        if (tok_is_op(cur(P), "(")) TRY(parse_call_args(P, &f->args));
        f->a = *node;
        *node = f;
        start_inline = false;
    }
    return 0;
}

static int parse_test(struct parser *P, struct jinja_node **node) {
    int line = cur(P)->line;
    advance(P); /* is */
    bool negated = false;
    if (tok_is_name(cur(P), "not")) {
        advance(P);
        negated = true;
    }
    struct jinja_node *t;
    NEW(t, JN_TEST, line);
    int idx;
    TRY(parse_dotted_name(P, &t->sym, &idx, false));
    t->op = (int8_t)idx;
    const struct jinja_token *c = cur(P);
    if (tok_is_op(c, "(")) {
        TRY(parse_call_args(P, &t->args));
    } else if ((c->type == JT_NAME || c->type == JT_STRING || c->type == JT_INT || c->type == JT_FLOAT ||
                tok_is_op(c, "[") || tok_is_op(c, "{")) &&
               !tok_is_name(c, "else") && !tok_is_name(c, "or") && !tok_is_name(c, "and")) {
        if (tok_is_name(c, "is")) return fail_at(P, c->line, "%s", "You cannot chain multiple tests with is");
        struct jinja_node *arg;
        TRY(parse_primary(P, &arg));
        TRY(parse_postfix(P, &arg));
        t->args = jinja_arena_alloc(&P->tpl->arena, sizeof *t->args);
        struct jinja_node **v = jinja_arena_alloc(&P->tpl->arena, sizeof *v);
        if (!t->args || !v) return err_setf(P->err, ERR_NOMEM, "out of memory");
        v[0] = arg;
        t->args->pos = v;
        t->args->n_pos = 1;
    }
    t->a = *node;
    *node = t;
    if (negated) {
        struct jinja_node *n;
        NEW(n, JN_NOT, line);
        n->a = t;
        *node = n;
    }
    return 0;
}

static int parse_subscribed(struct parser *P, struct jinja_node **out) {
    int line = cur(P)->line;
    struct jinja_node *parts[3] = {NULL, NULL, NULL};
    if (tok_is_op(cur(P), ":")) {
        advance(P);
    } else {
        struct jinja_node *e;
        TRY(parse_expression(P, true, &e));
        if (!tok_is_op(cur(P), ":")) {
            *out = e;
            return 0;
        }
        advance(P);
        parts[0] = e;
    }
    if (!tok_is_op(cur(P), ":") && !tok_is_op(cur(P), "]") && !tok_is_op(cur(P), ","))
        TRY(parse_expression(P, true, &parts[1]));
    if (tok_is_op(cur(P), ":")) {
        advance(P);
        if (!tok_is_op(cur(P), "]") && !tok_is_op(cur(P), ",")) TRY(parse_expression(P, true, &parts[2]));
    }
    struct jinja_node *s;
    NEW(s, JN_SLICE, line);
    s->a = parts[0];
    s->b = parts[1];
    s->c = parts[2];
    *out = s;
    return 0;
}

static int parse_subscript(struct parser *P, struct jinja_node **node) {
    const struct jinja_token *tok = cur(P);
    int line = tok->line;
    if (tok_is_op(tok, ".")) {
        advance(P);
        const struct jinja_token *at = cur(P);
        if (at->type == JT_NAME) {
            struct jinja_node *g;
            NEW(g, JN_GETATTR, line);
            TRY(intern_tok(P, at, &g->sym));
            advance(P);
            g->a = *node;
            *node = g;
            return 0;
        }
        if (at->type != JT_INT) return fail_at(P, at->line, "%s", "expected name or number");
        struct jinja_node *k, *g;
        NEW(k, JN_CONST, at->line);
        k->value = jv_int(at->i);
        advance(P);
        NEW(g, JN_GETITEM, line);
        g->a = *node;
        g->b = k;
        *node = g;
        return 0;
    }
    /* [ subscribed, ... ] */
    advance(P);
    struct nlist args = {0};
    while (!tok_is_op(cur(P), "]")) {
        if (args.n) TRY(expect_op(P, ","));
        struct jinja_node *s;
        TRY(parse_subscribed(P, &s));
        TRY(nl_push(P, &args, s));
    }
    TRY(expect_op(P, "]"));
    struct jinja_node *arg = args.n ? args.v[0] : NULL;
    if (args.n != 1) { /* x[a, b] and x[] subscript with a tuple */
        NEW(arg, JN_TUPLE, line);
        arg->items = args.v;
        arg->n_items = args.n;
    }
    struct jinja_node *g;
    NEW(g, JN_GETITEM, line);
    g->a = *node;
    g->b = arg;
    *node = g;
    return 0;
}

static int parse_call(struct parser *P, struct jinja_node **node) {
    struct jinja_node *c;
    NEW(c, JN_CALL, cur(P)->line);
    TRY(parse_call_args(P, &c->args));
    c->a = *node;
    *node = c;
    return 0;
}

static int parse_postfix(struct parser *P, struct jinja_node **node) {
    for (;;) {
        if (tok_is_op(cur(P), ".") || tok_is_op(cur(P), "[")) TRY(parse_subscript(P, node));
        else if (tok_is_op(cur(P), "(")) TRY(parse_call(P, node));
        else return 0;
    }
}

static int parse_filter_expr(struct parser *P, struct jinja_node **node) {
    for (;;) {
        if (tok_is_op(cur(P), "|")) TRY(parse_filter(P, node, false));
        else if (tok_is_name(cur(P), "is")) TRY(parse_test(P, node));
        else if (tok_is_op(cur(P), "(")) TRY(parse_call(P, node));
        else return 0;
    }
}

static int parse_list(struct parser *P, struct jinja_node **out) {
    struct jinja_node *l;
    NEW(l, JN_LIST, cur(P)->line);
    TRY(expect_op(P, "["));
    struct nlist items = {0};
    while (!tok_is_op(cur(P), "]")) {
        if (items.n) TRY(expect_op(P, ","));
        if (tok_is_op(cur(P), "]")) break;
        struct jinja_node *e;
        TRY(parse_expression(P, true, &e));
        TRY(nl_push(P, &items, e));
    }
    TRY(expect_op(P, "]"));
    l->items = items.v;
    l->n_items = items.n;
    *out = l;
    return 0;
}

static int parse_dict(struct parser *P, struct jinja_node **out) {
    struct jinja_node *d;
    NEW(d, JN_DICT, cur(P)->line);
    TRY(expect_op(P, "{"));
    struct nlist keys = {0}, vals = {0};
    while (!tok_is_op(cur(P), "}")) {
        if (keys.n) TRY(expect_op(P, ","));
        if (tok_is_op(cur(P), "}")) break;
        struct jinja_node *k, *v;
        TRY(parse_expression(P, true, &k));
        TRY(expect_op(P, ":"));
        TRY(parse_expression(P, true, &v));
        TRY(nl_push(P, &keys, k));
        TRY(nl_push(P, &vals, v));
    }
    TRY(expect_op(P, "}"));
    d->items = keys.v;
    d->items2 = vals.v;
    d->n_items = keys.n;
    d->n_items2 = vals.n;
    *out = d;
    return 0;
}

static int parse_primary(struct parser *P, struct jinja_node **out) {
    TRY(enter(P));
    const struct jinja_token *t = cur(P);
    struct jinja_node *n;
    if (t->type == JT_NAME) {
        NEW(n, JN_CONST, t->line);
        if (tok_is_name(t, "true") || tok_is_name(t, "True")) n->value = jv_bool(true);
        else if (tok_is_name(t, "false") || tok_is_name(t, "False")) n->value = jv_bool(false);
        else if (tok_is_name(t, "none") || tok_is_name(t, "None")) n->value = jv_none();
        else {
            n->kind = JN_NAME;
            TRY(intern_tok(P, t, &n->sym));
        }
        advance(P);
    } else if (t->type == JT_STRING) {
        NEW(n, JN_CONST, t->line);
        size_t total = 0, k = P->pos;
        while (P->t[k].type == JT_STRING) total += P->t[k++].len;
        struct jinja_str *s = jinja_arena_alloc(&P->tpl->arena, sizeof *s + total + 1);
        if (!s) return err_setf(P->err, ERR_NOMEM, "out of memory");
        s->len = 0;
        while (cur(P)->type == JT_STRING) {
            memcpy(s->data + s->len, cur(P)->text, cur(P)->len);
            s->len += cur(P)->len;
            advance(P);
        }
        s->data[s->len] = 0;
        s->ascii = true;
        for (size_t i = 0; i < s->len; i++)
            if ((unsigned char)s->data[i] >= 0x80) s->ascii = false;
        n->value = jv_strv(s);
    } else if (t->type == JT_INT || t->type == JT_FLOAT) {
        NEW(n, JN_CONST, t->line);
        n->value = t->type == JT_INT ? jv_int(t->i) : jv_float(t->f);
        advance(P);
    } else if (tok_is_op(t, "(")) {
        advance(P);
        TRY(parse_tuple(P, false, true, NULL, true, &n));
        TRY(expect_op(P, ")"));
    } else if (tok_is_op(t, "[")) {
        TRY(parse_list(P, &n));
    } else if (tok_is_op(t, "{")) {
        TRY(parse_dict(P, &n));
    } else {
        char d[64];
        describe(t, d, sizeof d);
        return fail_at(P, t->line, "unexpected '%s'", d);
    }
    P->nest--;
    *out = n;
    return 0;
}

static int parse_unary(struct parser *P, bool with_filter, struct jinja_node **out) {
    TRY(enter(P));
    const struct jinja_token *t = cur(P);
    struct jinja_node *n;
    if (tok_is_op(t, "-") || tok_is_op(t, "+")) {
        NEW(n, tok_is_op(t, "-") ? JN_NEG : JN_POS, t->line);
        advance(P);
        TRY(parse_unary(P, false, &n->a));
    } else {
        TRY(parse_primary(P, &n));
    }
    TRY(parse_postfix(P, &n));
    if (with_filter) TRY(parse_filter_expr(P, &n));
    P->nest--;
    *out = n;
    return 0;
}

static int binop_node(struct parser *P, int op, int line, struct jinja_node *l, struct jinja_node *r,
                      struct jinja_node **out) {
    struct jinja_node *b;
    NEW(b, JN_BINOP, line);
    b->op = (int8_t)op;
    b->a = l;
    b->b = r;
    *out = b;
    return 0;
}

static int parse_pow(struct parser *P, struct jinja_node **out) {
    int line = cur(P)->line;
    struct jinja_node *l;
    TRY(parse_unary(P, true, &l));
    while (tok_is_op(cur(P), "**")) {
        advance(P);
        struct jinja_node *r;
        TRY(parse_unary(P, true, &r));
        TRY(binop_node(P, JB_POW, line, l, r, &l));
        line = cur(P)->line;
    }
    *out = l;
    return 0;
}

static int parse_math2(struct parser *P, struct jinja_node **out) {
    int line = cur(P)->line;
    struct jinja_node *l;
    TRY(parse_pow(P, &l));
    for (;;) {
        int op;
        if (tok_is_op(cur(P), "*")) op = JB_MUL;
        else if (tok_is_op(cur(P), "/")) op = JB_DIV;
        else if (tok_is_op(cur(P), "//")) op = JB_FLOORDIV;
        else if (tok_is_op(cur(P), "%")) op = JB_MOD;
        else break;
        advance(P);
        struct jinja_node *r;
        TRY(parse_pow(P, &r));
        TRY(binop_node(P, op, line, l, r, &l));
        line = cur(P)->line;
    }
    *out = l;
    return 0;
}

static int parse_concat(struct parser *P, struct jinja_node **out) {
    int line = cur(P)->line;
    struct nlist args = {0};
    struct jinja_node *e;
    TRY(parse_math2(P, &e));
    TRY(nl_push(P, &args, e));
    while (tok_is_op(cur(P), "~")) {
        advance(P);
        TRY(parse_math2(P, &e));
        TRY(nl_push(P, &args, e));
    }
    if (args.n == 1) {
        *out = args.v[0];
        return 0;
    }
    struct jinja_node *c;
    NEW(c, JN_CONCAT, line);
    c->items = args.v;
    c->n_items = args.n;
    *out = c;
    return 0;
}

static int parse_math1(struct parser *P, struct jinja_node **out) {
    int line = cur(P)->line;
    struct jinja_node *l;
    TRY(parse_concat(P, &l));
    while (tok_is_op(cur(P), "+") || tok_is_op(cur(P), "-")) {
        int op = tok_is_op(cur(P), "+") ? JB_ADD : JB_SUB;
        advance(P);
        struct jinja_node *r;
        TRY(parse_concat(P, &r));
        TRY(binop_node(P, op, line, l, r, &l));
        line = cur(P)->line;
    }
    *out = l;
    return 0;
}

static int parse_compare(struct parser *P, struct jinja_node **out) {
    int line = cur(P)->line;
    struct jinja_node *e;
    TRY(parse_math1(P, &e));
    struct nlist ops = {0};
    uint8_t opv[64];
    for (;;) {
        const struct jinja_token *t = cur(P);
        int op = -1;
        if (tok_is_op(t, "==")) op = JC_EQ;
        else if (tok_is_op(t, "!=")) op = JC_NE;
        else if (tok_is_op(t, "<")) op = JC_LT;
        else if (tok_is_op(t, "<=")) op = JC_LE;
        else if (tok_is_op(t, ">")) op = JC_GT;
        else if (tok_is_op(t, ">=")) op = JC_GE;
        else if (tok_is_name(t, "in")) op = JC_IN;
        else if (tok_is_name(t, "not") && tok_is_name(peek(P), "in")) op = JC_NOTIN;
        if (op < 0) break;
        advance(P);
        if (op == JC_NOTIN) advance(P);
        if (ops.n == sizeof opv) return fail_at(P, line, "%s", "comparison chain too long");
        struct jinja_node *r;
        TRY(parse_math1(P, &r));
        opv[ops.n] = (uint8_t)op;
        TRY(nl_push(P, &ops, r));
    }
    if (!ops.n) {
        *out = e;
        return 0;
    }
    struct jinja_node *c;
    NEW(c, JN_COMPARE, line);
    c->a = e;
    c->items = ops.v;
    c->n_items = ops.n;
    c->cmp_ops = jinja_arena_alloc(&P->tpl->arena, ops.n);
    if (!c->cmp_ops) return err_setf(P->err, ERR_NOMEM, "out of memory");
    memcpy(c->cmp_ops, opv, ops.n);
    *out = c;
    return 0;
}

static int parse_not(struct parser *P, struct jinja_node **out) {
    if (tok_is_name(cur(P), "not")) {
        TRY(enter(P));
        struct jinja_node *n;
        NEW(n, JN_NOT, cur(P)->line);
        advance(P);
        TRY(parse_not(P, &n->a));
        P->nest--;
        *out = n;
        return 0;
    }
    return parse_compare(P, out);
}

static int parse_and(struct parser *P, struct jinja_node **out) {
    int line = cur(P)->line;
    struct jinja_node *l;
    TRY(parse_not(P, &l));
    while (tok_is_name(cur(P), "and")) {
        advance(P);
        struct jinja_node *n;
        NEW(n, JN_AND, line);
        n->a = l;
        TRY(parse_not(P, &n->b));
        l = n;
        line = cur(P)->line;
    }
    *out = l;
    return 0;
}

static int parse_or(struct parser *P, struct jinja_node **out) {
    int line = cur(P)->line;
    struct jinja_node *l;
    TRY(parse_and(P, &l));
    while (tok_is_name(cur(P), "or")) {
        advance(P);
        struct jinja_node *n;
        NEW(n, JN_OR, line);
        n->a = l;
        TRY(parse_and(P, &n->b));
        l = n;
        line = cur(P)->line;
    }
    *out = l;
    return 0;
}

static int parse_condexpr(struct parser *P, struct jinja_node **out) {
    TRY(enter(P));
    int line = cur(P)->line;
    struct jinja_node *e1;
    TRY(parse_or(P, &e1));
    while (tok_is_name(cur(P), "if")) {
        advance(P);
        struct jinja_node *c;
        NEW(c, JN_COND, line);
        c->b = e1;
        TRY(parse_or(P, &c->a));
        if (tok_is_name(cur(P), "else")) {
            advance(P);
            TRY(parse_condexpr(P, &c->c));
        }
        e1 = c;
        line = cur(P)->line;
    }
    P->nest--;
    *out = e1;
    return 0;
}

static int parse_expression(struct parser *P, bool with_condexpr, struct jinja_node **out) {
    return with_condexpr ? parse_condexpr(P, out) : parse_or(P, out);
}

static bool is_tuple_end(const struct parser *P, const char *extra_end) {
    const struct jinja_token *t = cur(P);
    if (t->type == JT_VAR_END || t->type == JT_BLOCK_END || tok_is_op(t, ")")) return true;
    return extra_end && tok_is_name(t, extra_end);
}

static int parse_tuple(struct parser *P, bool simplified, bool with_condexpr, const char *extra_end,
                       bool explicit_parens, struct jinja_node **out) {
    int line = cur(P)->line;
    struct nlist args = {0};
    bool is_tuple = false;
    for (;;) {
        if (args.n) TRY(expect_op(P, ","));
        if (is_tuple_end(P, extra_end)) break;
        struct jinja_node *e;
        if (simplified) TRY(parse_primary(P, &e));
        else TRY(parse_expression(P, with_condexpr, &e));
        TRY(nl_push(P, &args, e));
        if (tok_is_op(cur(P), ",")) is_tuple = true;
        else break;
        line = cur(P)->line;
    }
    if (!is_tuple) {
        if (args.n) {
            *out = args.v[0];
            return 0;
        }
        if (!explicit_parens) {
            char d[64];
            describe(cur(P), d, sizeof d);
            return fail_at(P, cur(P)->line, "Expected an expression, got '%s'", d);
        }
    }
    struct jinja_node *t;
    NEW(t, JN_TUPLE, line);
    t->items = args.v;
    t->n_items = args.n;
    *out = t;
    return 0;
}

/* ------------------------------------------------------------ statements */

static bool can_assign(const struct jinja_node *n) {
    if (n->kind == JN_NAME || n->kind == JN_NSREF) return true;
    if (n->kind != JN_TUPLE) return false;
    for (uint32_t i = 0; i < n->n_items; i++)
        if (!can_assign(n->items[i])) return false;
    return true;
}

static const char *node_kind_name(const struct jinja_node *n) {
    switch (n->kind) {
    case JN_CONST: return "const";
    case JN_LIST: return "list";
    case JN_DICT: return "dict";
    case JN_GETATTR: return "getattr";
    case JN_GETITEM: return "getitem";
    case JN_CALL: return "call";
    case JN_FILTER: return "filter";
    case JN_TEST: return "test";
    case JN_TUPLE: return "tuple";
    default: return "expression";
    }
}

static int parse_assign_target(struct parser *P, bool name_only, const char *extra_end, bool with_namespace,
                               struct jinja_node **out) {
    struct jinja_node *t;
    if (with_namespace && tok_is_op(peek(P), ".") && cur(P)->type == JT_NAME) {
        NEW(t, JN_NSREF, cur(P)->line);
        TRY(intern_tok(P, cur(P), &t->sym));
        advance(P);
        advance(P);
        if (cur(P)->type != JT_NAME) return fail_tok(P, "name");
        TRY(intern_tok(P, cur(P), &t->sym2));
        advance(P);
    } else if (name_only) {
        if (cur(P)->type != JT_NAME) return fail_tok(P, "name");
        NEW(t, JN_NAME, cur(P)->line);
        TRY(intern_tok(P, cur(P), &t->sym));
        advance(P);
    } else {
        TRY(parse_tuple(P, true, true, extra_end, false, &t));
    }
    if (!can_assign(t)) return fail_at(P, t->line, "can't assign to '%s'", node_kind_name(t));
    if (name_only && t->kind == JN_NAME) {
        const struct jinja_str *nm = P->tpl->syms.names[t->sym];
        static const char *const consts[] = {"true", "false", "none", "True", "False", "None"};
        for (size_t k = 0; k < 6; k++)
            if (nm->len == strlen(consts[k]) && !memcmp(nm->data, consts[k], nm->len))
                return fail_at(P, t->line, "%s", "can't assign to 'const'");
    }
    *out = t;
    return 0;
}

static int parse_signature(struct parser *P, struct jinja_macro *m) {
    TRY(expect_op(P, "("));
    uint32_t cap = 0;
    struct nlist defaults = {0};
    while (!tok_is_op(cur(P), ")")) {
        if (m->n_params) TRY(expect_op(P, ","));
        struct jinja_node *arg;
        TRY(parse_assign_target(P, true, NULL, false, &arg));
        if (tok_is_op(cur(P), "=")) {
            advance(P);
            struct jinja_node *d;
            TRY(parse_expression(P, true, &d));
            TRY(nl_push(P, &defaults, d));
        } else if (defaults.n) {
            return fail_at(P, arg->line, "%s", "non-default argument follows default argument");
        }
        if (m->n_params == cap) {
            uint32_t ncap = cap ? cap * 2 : 4;
            uint32_t *np = jinja_arena_alloc(&P->tpl->arena, ncap * sizeof *np);
            if (!np) return err_setf(P->err, ERR_NOMEM, "out of memory");
            if (m->n_params) memcpy(np, m->params, m->n_params * sizeof *np);
            m->params = np;
            cap = ncap;
        }
        m->params[m->n_params++] = arg->sym;
    }
    TRY(expect_op(P, ")"));
    m->defaults = defaults.v;
    m->n_defaults = defaults.n;
    return 0;
}

static int subparse(struct parser *P, const char *const *ends, struct nlist *body);

static int parse_statement(struct parser *P, struct jinja_node **out) {
    const struct jinja_token *t = cur(P);
    int line = t->line;
    if (t->type != JT_NAME) return fail_at(P, line, "%s", "tag name expected");
    TRY(enter(P));
    struct jinja_node *n = NULL;
    if (tok_is_name(t, "for")) {
        advance(P);
        NEW(n, JN_FOR, line);
        TRY(parse_assign_target(P, false, "in", false, &n->a));
        TRY(expect_name(P, "in"));
        TRY(parse_tuple(P, false, false, "recursive", false, &n->b));
        if (tok_is_name(cur(P), "if")) {
            advance(P);
            TRY(parse_expression(P, true, &n->c));
        }
        if (tok_is_name(cur(P), "recursive")) {
            advance(P);
            n->op = 1;
        }
        static const char *const e1[] = {"endfor", "else", NULL};
        struct nlist body = {0}, els = {0};
        TRY(parse_statements(P, e1, false, &body));
        bool is_end = tok_is_name(cur(P), "endfor");
        advance(P);
        if (!is_end) {
            static const char *const e2[] = {"endfor", NULL};
            TRY(parse_statements(P, e2, true, &els));
        }
        n->body = body.v;
        n->n_body = body.n;
        n->else_body = els.v;
        n->n_else = els.n;
    } else if (tok_is_name(t, "if")) {
        advance(P);
        NEW(n, JN_IF, line);
        struct jinja_node *node = n;
        for (;;) {
            TRY(parse_tuple(P, false, false, NULL, false, &node->a));
            static const char *const e1[] = {"elif", "else", "endif", NULL};
            struct nlist body = {0};
            TRY(parse_statements(P, e1, false, &body));
            node->body = body.v;
            node->n_body = body.n;
            const struct jinja_token *tok = cur(P);
            advance(P);
            if (tok_is_name(tok, "elif")) {
                struct jinja_node *e;
                NEW(e, JN_IF, cur(P)->line);
                e->op = 2;
                node->else_body = jinja_arena_alloc(&P->tpl->arena, sizeof *node->else_body);
                if (!node->else_body) return err_setf(P->err, ERR_NOMEM, "out of memory");
                node->else_body[0] = e;
                node->n_else = 1;
                node = e;
                continue;
            }
            if (tok_is_name(tok, "else")) {
                static const char *const e2[] = {"endif", NULL};
                struct nlist els = {0};
                TRY(parse_statements(P, e2, true, &els));
                node->else_body = els.v;
                node->n_else = els.n;
            }
            break;
        }
    } else if (tok_is_name(t, "set")) {
        advance(P);
        struct jinja_node *target;
        TRY(parse_assign_target(P, false, NULL, true, &target));
        if (tok_is_op(cur(P), "=")) {
            advance(P);
            NEW(n, JN_SET, line);
            n->a = target;
            TRY(parse_tuple(P, false, true, NULL, false, &n->b));
        } else {
            NEW(n, JN_SETBLK, line);
            n->a = target;
            struct jinja_node *f = NULL;
            TRY(parse_filter(P, &f, false));
            n->b = f;
            static const char *const e[] = {"endset", NULL};
            struct nlist body = {0};
            TRY(parse_statements(P, e, true, &body));
            n->body = body.v;
            n->n_body = body.n;
        }
    } else if (tok_is_name(t, "macro") || tok_is_name(t, "call")) {
        bool is_macro = tok_is_name(t, "macro");
        advance(P);
        NEW(n, is_macro ? JN_MACRO : JN_CALLBLK, line);
        struct jinja_macro *m = jinja_arena_alloc(&P->tpl->arena, sizeof *m);
        if (!m) return err_setf(P->err, ERR_NOMEM, "out of memory");
        n->macro = m;
        if (is_macro) {
            struct jinja_node *name;
            TRY(parse_assign_target(P, true, NULL, false, &name));
            m->name_sym = name->sym;
            n->sym = name->sym;
            TRY(parse_signature(P, m));
        } else {
            m->name_sym = JS_CALLER;
            if (tok_is_op(cur(P), "(")) TRY(parse_signature(P, m));
            TRY(parse_expression(P, true, &n->a));
            if (n->a->kind != JN_CALL) return fail_at(P, line, "%s", "expected call");
        }
        static const char *const em[] = {"endmacro", NULL};
        static const char *const ec[] = {"endcall", NULL};
        struct nlist body = {0};
        TRY(parse_statements(P, is_macro ? em : ec, true, &body));
        m->body = body.v;
        m->n_body = body.n;
    } else if (tok_is_name(t, "filter")) {
        advance(P);
        NEW(n, JN_FILTBLK, line);
        struct jinja_node *f = NULL;
        TRY(parse_filter(P, &f, true));
        n->a = f;
        static const char *const e[] = {"endfilter", NULL};
        struct nlist body = {0};
        TRY(parse_statements(P, e, true, &body));
        n->body = body.v;
        n->n_body = body.n;
    } else if (tok_is_name(t, "with")) {
        advance(P);
        NEW(n, JN_WITH, line);
        struct nlist targets = {0}, values = {0};
        while (cur(P)->type != JT_BLOCK_END) {
            if (targets.n) TRY(expect_op(P, ","));
            struct jinja_node *tg, *v;
            TRY(parse_assign_target(P, false, NULL, false, &tg));
            TRY(expect_op(P, "="));
            TRY(parse_expression(P, true, &v));
            TRY(nl_push(P, &targets, tg));
            TRY(nl_push(P, &values, v));
        }
        n->items = targets.v;
        n->n_items = targets.n;
        n->items2 = values.v;
        n->n_items2 = values.n;
        static const char *const e[] = {"endwith", NULL};
        struct nlist body = {0};
        TRY(parse_statements(P, e, true, &body));
        n->body = body.v;
        n->n_body = body.n;
    } else if (tok_is_name(t, "print")) {
        advance(P);
        NEW(n, JN_BLOCK, line);
        struct nlist prints = {0};
        while (cur(P)->type != JT_BLOCK_END) {
            if (prints.n) TRY(expect_op(P, ","));
            struct jinja_node *p;
            NEW(p, JN_PRINT, cur(P)->line);
            TRY(parse_expression(P, true, &p->a));
            TRY(nl_push(P, &prints, p));
        }
        n->body = prints.v;
        n->n_body = prints.n;
    } else if (tok_is_name(t, "break") || tok_is_name(t, "continue")) {
        NEW(n, tok_is_name(t, "break") ? JN_BREAK : JN_CONTINUE, line);
        advance(P);
    } else if (tok_is_name(t, "generation")) {
        advance(P);
        NEW(n, JN_SCOPE, line);
        static const char *const e[] = {"endgeneration", NULL};
        struct nlist body = {0};
        TRY(parse_statements(P, e, true, &body));
        n->body = body.v;
        n->n_body = body.n;
    } else {
        static const char *const unsupported[] = {"block",  "extends", "include", "import",
                                                  "from",   "autoescape", "do", NULL};
        for (size_t k = 0; unsupported[k]; k++)
            if (tok_is_name(t, unsupported[k]))
                return fail_at(P, line, "the '%s' tag is not supported in chat templates", unsupported[k]);
        char name[64];
        describe(t, name, sizeof name);
        return fail_at(P, line, "Encountered unknown tag '%s'.", name);
    }
    P->nest--;
    *out = n;
    return 0;
}

static bool is_end_name(const struct jinja_token *t, const char *const *ends) {
    if (!ends) return false;
    for (size_t k = 0; ends[k]; k++)
        if (tok_is_name(t, ends[k])) return true;
    return false;
}

/* Parses body statements until a {% <end> %}; leaves the end name current. */
static int subparse(struct parser *P, const char *const *ends, struct nlist *body) {
    for (;;) {
        const struct jinja_token *t = cur(P);
        if (t->type == JT_EOF) return 0;
        if (t->type == JT_DATA) {
            struct jinja_node *d;
            NEW(d, JN_DATA, t->line);
            struct jinja_str *s = jinja_str_new_in(&P->tpl->arena, t->text, t->len);
            if (!s) return err_setf(P->err, ERR_NOMEM, "out of memory");
            d->value = jv_strv(s);
            TRY(nl_push(P, body, d));
            advance(P);
        } else if (t->type == JT_VAR_BEGIN) {
            advance(P);
            struct jinja_node *p;
            NEW(p, JN_PRINT, t->line);
            TRY(parse_tuple(P, false, true, NULL, false, &p->a));
            TRY(expect_type(P, JT_VAR_END, "end of print statement"));
            TRY(nl_push(P, body, p));
        } else if (t->type == JT_BLOCK_BEGIN) {
            advance(P);
            if (is_end_name(cur(P), ends)) return 0;
            struct jinja_node *s;
            TRY(parse_statement(P, &s));
            TRY(expect_type(P, JT_BLOCK_END, "end of statement block"));
            TRY(nl_push(P, body, s));
        } else {
            return fail_at(P, t->line, "%s", "internal parsing error");
        }
    }
}

static int parse_statements(struct parser *P, const char *const *ends, bool drop_needle, struct nlist *body) {
    if (tok_is_op(cur(P), ":")) advance(P);
    TRY(expect_type(P, JT_BLOCK_END, "end of statement block"));
    TRY(subparse(P, ends, body));
    if (cur(P)->type == JT_EOF) {
        char want[128] = "";
        size_t o = 0;
        for (size_t k = 0; ends[k] && o < sizeof want - 20; k++)
            o += (size_t)snprintf(want + o, sizeof want - o, "%s'%s'", k ? " or " : "", ends[k]);
        return fail_at(P, cur(P)->line, "Unexpected end of template. Jinja was looking for the following tags: %s.",
                       want);
    }
    if (drop_needle) advance(P);
    return 0;
}

/* ------------------------------------------------------------ check pass */

static int check_expr(struct parser *P, const struct jinja_node *n, bool soft);
static int check_body(struct parser *P, struct jinja_node **v, uint32_t n, bool soft, bool in_loop);

static int check_args(struct parser *P, const struct jinja_args *a, bool soft) {
    if (!a) return 0;
    for (uint32_t i = 0; i < a->n_pos; i++) TRY(check_expr(P, a->pos[i], soft));
    for (uint32_t i = 0; i < a->n_kw; i++) TRY(check_expr(P, a->kw_vals[i], soft));
    if (a->dyn_args) TRY(check_expr(P, a->dyn_args, soft));
    if (a->dyn_kwargs) TRY(check_expr(P, a->dyn_kwargs, soft));
    return 0;
}

/* Marks the expressions holding a slice subscript (see jinja_node.fold);
 * returns whether n holds one. */
static bool mark_fold(struct jinja_node *n) {
    if (!n) return false;
    bool has = n->kind == JN_GETITEM && n->b && n->b->kind == JN_SLICE;
    if (mark_fold(n->a)) has = true;
    if (mark_fold(n->b)) has = true;
    if (mark_fold(n->c)) has = true;
    for (uint32_t i = 0; i < n->n_items; i++)
        if (mark_fold(n->items[i])) has = true;
    for (uint32_t i = 0; i < n->n_items2; i++)
        if (mark_fold(n->items2[i])) has = true;
    if (n->args) {
        for (uint32_t i = 0; i < n->args->n_pos; i++)
            if (mark_fold(n->args->pos[i])) has = true;
        for (uint32_t i = 0; i < n->args->n_kw; i++)
            if (mark_fold(n->args->kw_vals[i])) has = true;
        if (mark_fold(n->args->dyn_args)) has = true;
        if (mark_fold(n->args->dyn_kwargs)) has = true;
    }
    /* any ancestor may fold: CondExpr and and/or fold through the branch they
     * take, so whether it happens is decided while evaluating (jinja_eval.c) */
    if (has && n->kind != JN_CONST && n->kind != JN_SLICE) n->fold = 1;
    return has;
}

static int check_expr(struct parser *P, const struct jinja_node *n, bool soft) {
    if (!n) return 0;
    mark_fold((struct jinja_node *)n);
    switch (n->kind) {
    case JN_FILTER:
    case JN_TEST:
        if (n->op < 0 && !soft) {
            const struct jinja_str *nm = P->tpl->syms.names[n->sym];
            return err_setf(P->err, ERR_FORMAT, "line %d: TemplateAssertionError: No %s named '%.*s'.", n->line,
                            n->kind == JN_FILTER ? "filter" : "test", (int)(nm->len > 64 ? 64 : nm->len), nm->data);
        }
        TRY(check_args(P, n->args, soft));
        return check_expr(P, n->a, soft);
    case JN_COND: soft = true; break;
    case JN_CALL: TRY(check_args(P, n->args, soft)); break;
    default: break;
    }
    TRY(check_expr(P, n->a, soft));
    TRY(check_expr(P, n->b, soft));
    TRY(check_expr(P, n->c, soft));
    for (uint32_t i = 0; i < n->n_items; i++) TRY(check_expr(P, n->items[i], soft));
    for (uint32_t i = 0; i < n->n_items2; i++) TRY(check_expr(P, n->items2[i], soft));
    return 0;
}

static bool names_sym(const struct jinja_node *n, uint32_t sym);

static bool args_use(const struct jinja_args *a, uint32_t sym) {
    if (!a) return false;
    for (uint32_t i = 0; i < a->n_pos; i++)
        if (names_sym(a->pos[i], sym)) return true;
    for (uint32_t i = 0; i < a->n_kw; i++)
        if (names_sym(a->kw_vals[i], sym)) return true;
    return names_sym(a->dyn_args, sym) || names_sym(a->dyn_kwargs, sym);
}

/* Does the subtree load the name `sym`? */
static bool names_sym(const struct jinja_node *n, uint32_t sym) {
    if (!n) return false;
    if (n->kind == JN_NAME && n->sym == sym) return true;
    if (names_sym(n->a, sym) || names_sym(n->b, sym) || names_sym(n->c, sym)) return true;
    for (uint32_t i = 0; i < n->n_items; i++)
        if (names_sym(n->items[i], sym)) return true;
    for (uint32_t i = 0; i < n->n_items2; i++)
        if (names_sym(n->items2[i], sym)) return true;
    for (uint32_t i = 0; i < n->n_body; i++)
        if (names_sym(n->body[i], sym)) return true;
    for (uint32_t i = 0; i < n->n_else; i++)
        if (names_sym(n->else_body[i], sym)) return true;
    if (args_use(n->args, sym)) return true;
    if (n->macro) {
        for (uint32_t i = 0; i < n->macro->n_defaults; i++)
            if (names_sym(n->macro->defaults[i], sym)) return true;
        for (uint32_t i = 0; i < n->macro->n_body; i++)
            if (names_sym(n->macro->body[i], sym)) return true;
    }
    return false;
}

static int check_macro(struct parser *P, struct jinja_macro *m) {
    for (uint32_t i = 0; i < m->n_defaults; i++) TRY(check_expr(P, m->defaults[i], false));
    TRY(check_body(P, m->body, m->n_body, false, false));
    for (uint32_t i = 0; i < m->n_body; i++) {
        if (names_sym(m->body[i], JS_CALLER)) m->uses_caller = true;
        if (names_sym(m->body[i], JS_VARARGS)) m->uses_varargs = true;
        if (names_sym(m->body[i], JS_KWARGS)) m->uses_kwargs = true;
    }
    return 0;
}

static int check_stmt(struct parser *P, struct jinja_node *n, bool soft, bool in_loop) {
    switch (n->kind) {
    case JN_DATA: return 0;
    case JN_PRINT:
        TRY(check_expr(P, n->a, soft));
        if (n->a->fold) n->a->fold = 2; /* a {{ }} child folds whatever its value */
        return 0;
    case JN_IF:
        TRY(check_expr(P, n->a, true));
        TRY(check_body(P, n->body, n->n_body, true, in_loop));
        return check_body(P, n->else_body, n->n_else, true, in_loop);
    case JN_BLOCK: return check_body(P, n->body, n->n_body, soft, in_loop);
    case JN_FOR:
        TRY(check_expr(P, n->b, soft));
        TRY(check_expr(P, n->c, false));
        TRY(check_body(P, n->body, n->n_body, false, true));
        return check_body(P, n->else_body, n->n_else, false, in_loop);
    case JN_SET: return check_expr(P, n->b, soft);
    case JN_SETBLK:
        TRY(check_expr(P, n->b, false));
        return check_body(P, n->body, n->n_body, false, in_loop);
    case JN_FILTBLK:
        TRY(check_expr(P, n->a, false));
        return check_body(P, n->body, n->n_body, false, in_loop);
    case JN_MACRO: return check_macro(P, n->macro);
    case JN_CALLBLK:
        TRY(check_expr(P, n->a, soft));
        return check_macro(P, n->macro);
    case JN_WITH:
        for (uint32_t i = 0; i < n->n_items2; i++) TRY(check_expr(P, n->items2[i], soft));
        return check_body(P, n->body, n->n_body, false, in_loop);
    case JN_BREAK:
    case JN_CONTINUE:
        if (!in_loop)
            return err_setf(P->err, ERR_FORMAT, "line %d: TemplateSyntaxError: '%s' outside loop", n->line,
                            n->kind == JN_BREAK ? "break" : "continue");
        return 0;
    case JN_SCOPE: return check_body(P, n->body, n->n_body, false, false);
    default: return 0;
    }
}

static int check_body(struct parser *P, struct jinja_node **v, uint32_t n, bool soft, bool in_loop) {
    for (uint32_t i = 0; i < n; i++) TRY(check_stmt(P, v[i], soft, in_loop));
    return 0;
}

int jinja_parse(struct chat_template *tpl, const struct jinja_token *toks, size_t n, struct sgl_err *err) {
    struct parser P = {.tpl = tpl, .t = toks, .n = n, .err = err};
    static const char *const builtin[JS_N_BUILTIN] = {
        "loop",  "caller",          "varargs",      "kwargs", "range",  "dict",
        "namespace", "raise_exception", "strftime_now", "lipsum", "cycler", "joiner",
    };
    for (uint32_t k = 0; k < JS_N_BUILTIN; k++) {
        uint32_t id;
        if (sym_intern(&tpl->arena, &tpl->syms, builtin[k], strlen(builtin[k]), &id))
            return err_setf(err, ERR_NOMEM, "out of memory");
    }
    struct nlist body = {0};
    TRY(subparse(&P, NULL, &body));
    tpl->body = body.v;
    tpl->n_body = body.n;
    return check_body(&P, body.v, body.n, false, false);
}
