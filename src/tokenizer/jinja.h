/* jinja: internals of the chat-template interpreter (see chat_template.h).
 *
 * Pipeline: jinja_lex (source -> tokens, with Jinja2's exact whitespace
 * control: -, +, trim_blocks, lstrip_blocks) -> jinja_parse (tokens -> AST,
 * Jinja2's grammar and precedence, compile-time checks) -> jinja_scope
 * (Jinja2's static symbol analysis, for its few observable effects) ->
 * jinja_eval (tree-walking interpreter with Python value semantics) using
 * jinja_value (values, Python str/repr, ==, <, hashing, JSON in and out),
 * jinja_builtins (attribute/item access, operators, str/list/dict methods,
 * globals), jinja_filters (filters and tests) and jinja_unicode (UTF-8 and
 * Python's Unicode predicates and case mappings).
 *
 * Memory: everything is bump-allocated from a struct jinja_arena. The AST and
 * its constants live in the template's arena (read-only after compile); each
 * render has its own arena (counted against max_memory_bytes) that is freed in
 * one go at the end. Values are small tagged structs passed by value; strings,
 * lists and dicts are arena objects referenced by pointer and never freed
 * individually. Strings carry their byte length (they may contain NUL) and are
 * also NUL-terminated.
 *
 * Errors: functions return 0 or a negative ERR_* code; the message is written
 * once, at the failure site, into the render's struct sgl_err. */
#ifndef SGLC_TOKENIZER_JINJA_H
#define SGLC_TOKENIZER_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "tokenizer/chat_template.h"

/* ---------------------------------------------------------------- arena */

struct jinja_arena_chunk;
struct jinja_arena {
    struct jinja_arena_chunk *head;
    size_t used;  /* bytes handed out plus chunk overhead */
    size_t limit; /* 0 = unlimited */
};

void jinja_arena_init(struct jinja_arena *a, size_t limit);
void jinja_arena_free(struct jinja_arena *a);
/* 16-byte aligned, zeroed. NULL when the limit is hit or malloc fails. */
void *jinja_arena_alloc(struct jinja_arena *a, size_t n);
/* The same without zeroing (string bytes, buffers). */
void *jinja_arena_alloc_raw(struct jinja_arena *a, size_t n);

/* ---------------------------------------------------------------- values */

enum jinja_type {
    JV_UNDEF = 0, /* jinja2.Undefined (u.undef may hold the reason) */
    JV_NONE,
    JV_BOOL,
    JV_INT, /* Python int restricted to int64; overflow is an error */
    JV_FLOAT,
    JV_STR,  /* flags & JV_MARKUP: markupsafe.Markup */
    JV_LIST, /* list, tuple, generator, dict view, range: see enum jinja_list_kind */
    JV_DICT,
    JV_NS,   /* jinja2 namespace(); u.d holds its attributes (mutable) */
    JV_FUNC, /* anything callable: globals, bound methods, macros */
    JV_LOOP, /* the `loop` object of a for loop */
    JV_CYCLER,
    JV_MISSING, /* internal: argument not passed; never visible to templates */
};

#define JV_MARKUP 1u

struct jinja_str;
struct jinja_list;
struct jinja_dict;
struct jinja_func;
struct jinja_loop;
struct jinja_undef;
struct jinja_cycler;

typedef struct jinja_value {
    uint8_t type;
    uint8_t flags;
    union {
        bool b;
        int64_t i;
        double f;
        struct jinja_str *s;
        struct jinja_list *l;
        struct jinja_dict *d;
        struct jinja_func *fn;
        struct jinja_loop *loop;
        struct jinja_undef *undef;
        struct jinja_cycler *cyc;
    } u;
} jv;

struct jinja_str {
    size_t len;
    bool ascii; /* all bytes < 0x80: code point index == byte index */
    char data[];
};

enum jinja_list_kind {
    JL_LIST,
    JL_TUPLE,
    JL_GEN,    /* generator/iterator: one-shot, no len, not subscriptable */
    JL_ITEMS,  /* dict_items view (elements are 2-tuples) */
    JL_KEYS,   /* dict_keys view */
    JL_VALUES, /* dict_values view */
    JL_RANGE,  /* range(start, stop, step); items materialised */
    JL_GROUP,  /* groupby's _GroupTuple(grouper, list): a 2-tuple */
};

struct jinja_list {
    uint8_t kind;
    size_t len, cap;
    size_t pos; /* JL_GEN: items before pos are consumed */
    jv *items;
    /* JL_GEN: the error Python's lazy generator raises after the items
     * (e.g. `5 | unique` fails only when iterated), or NULL */
    const char *pending;
    int64_t r_start, r_stop, r_step; /* JL_RANGE, for repr */
};

/* Insertion-ordered dict with Python key equality (1 == 1.0 == True). */
struct jinja_dict {
    size_t len, cap;
    jv *keys, *vals;
    uint32_t *index; /* open addressing over hashes, slot = entry + 1; NULL while small */
    size_t index_cap;
};

enum jinja_undef_kind {
    JU_NAME,   /* 'x' is undefined */
    JU_ATTR,   /* 'dict object' has no attribute 'x' */
    JU_ELEM,   /* list object has no element 5 */
    JU_HINT,   /* free text */
    JU_UNSAFE, /* sandbox: calling it is a SecurityError */
};

struct jinja_undef {
    uint8_t kind;
    const char *text; /* name (JU_NAME, JU_ATTR), hint (JU_HINT, JU_UNSAFE) */
    size_t text_len;
    const char *obj_type; /* JU_ATTR, JU_ELEM: Python type name of the object */
    jv key;               /* JU_ELEM */
};

struct jinja_cycler {
    jv *items;
    size_t n, pos;
};

/* ---------------------------------------------------------------- AST */

enum jinja_node_kind {
    /* statements */
    JN_DATA,   /* value: template text */
    JN_PRINT,  /* {{ a }} */
    JN_IF,     /* a: test, body, else_body (elif is a nested JN_IF in else_body) */
    JN_FOR,    /* a: target, b: iterable, c: filter test or NULL, body, else_body, op: recursive */
    JN_SET,    /* a: target (JN_NAME, JN_TUPLE, JN_NSREF), b: value */
    JN_SETBLK, /* a: target, b: filter chain applied to the body (input NULL) or NULL, body */
    JN_MACRO,  /* sym: name, macro */
    JN_CALLBLK,/* a: the call (JN_CALL), macro: the caller */
    JN_FILTBLK,/* a: filter chain (innermost input NULL), body */
    JN_WITH,   /* items: targets, items2: values, body */
    JN_BREAK,
    JN_CONTINUE,
    JN_SCOPE,  /* body in a child frame ({% generation %}) */
    JN_BLOCK,  /* body in the current frame ({% print a, b %}) */
    /* expressions */
    JN_CONST,  /* value */
    JN_NAME,   /* sym */
    JN_LIST,   /* items */
    JN_TUPLE,  /* items */
    JN_DICT,   /* items: keys, items2: values */
    JN_GETATTR,/* a . sym */
    JN_GETITEM,/* a [ b ] */
    JN_SLICE,  /* a : b : c (each may be NULL) */
    JN_CALL,   /* a ( args ) */
    JN_FILTER, /* a | sym ( args ); a NULL inside filter blocks; op: builtin index or -1 */
    JN_TEST,   /* a is sym ( args ); op: builtin index or -1 */
    JN_NOT,
    JN_NEG,
    JN_POS,
    JN_AND,
    JN_OR,
    JN_BINOP,  /* op: enum jinja_binop */
    JN_CONCAT, /* items */
    JN_COMPARE,/* a, then items[i] with cmp_ops[i] */
    JN_COND,   /* b if a else c (c may be NULL) */
    JN_NSREF,  /* sym . sym2 (assignment target) */
};

enum jinja_binop { JB_ADD, JB_SUB, JB_MUL, JB_DIV, JB_FLOORDIV, JB_MOD, JB_POW };
enum jinja_cmpop { JC_EQ, JC_NE, JC_LT, JC_LE, JC_GT, JC_GE, JC_IN, JC_NOTIN };

struct jinja_node;

struct jinja_args {
    struct jinja_node **pos;
    uint32_t n_pos;
    uint32_t *kw_syms;
    struct jinja_node **kw_vals;
    uint32_t n_kw;
    struct jinja_node *dyn_args, *dyn_kwargs;
};

struct jinja_macro {
    uint32_t *undef; /* names initialised to `missing` in the macro's frame */
    uint32_t n_undef;
    uint32_t name_sym;
    uint32_t *params; /* symbols */
    uint32_t n_params;
    struct jinja_node **defaults; /* n_defaults, for the last params */
    uint32_t n_defaults;
    struct jinja_node **body;
    uint32_t n_body;
    bool uses_caller, uses_varargs, uses_kwargs;
};

struct jinja_node {
    uint8_t kind;
    int8_t op;   /* see the node kinds; JN_IF: 2 when made from {% elif %} */
    /* Constant subexpressions that Jinja2's optimizer folds at compile time,
     * where that changes the outcome (a constant slice of an unsliceable
     * value is Undefined when folded, a TypeError at run time): 1 = folded
     * when the value has a "safe repr", 2 = folded whatever the value (the
     * expression of a {{ }}). See jinja_eval.c. */
    uint8_t fold;
    int line;
    uint32_t sym, sym2;
    struct jinja_node *a, *b, *c;
    struct jinja_node **items, **items2, **body, **else_body;
    uint32_t n_items, n_items2, n_body, n_else;
    uint8_t *cmp_ops;
    struct jinja_args *args;
    struct jinja_macro *macro;
    jv value;
    /* Scope nodes (for body / else, set and filter blocks, with, generation):
     * names that Jinja2's compiler initialises to `missing` when the frame is
     * entered (see jinja_scope.c); reads see Undefined until they are set. */
    uint32_t *undef, *undef_else;
    uint32_t n_undef, n_undef_else;
};

/* Symbols (identifiers) are interned at compile time; these come first. */
enum jinja_sym {
    JS_LOOP,
    JS_CALLER,
    JS_VARARGS,
    JS_KWARGS,
    JS_RANGE,
    JS_DICT,
    JS_NAMESPACE,
    JS_RAISE_EXCEPTION,
    JS_STRFTIME_NOW,
    JS_LIPSUM,
    JS_CYCLER,
    JS_JOINER,
    JS_N_BUILTIN,
};

struct jinja_symtab {
    const struct jinja_str **names; /* by symbol id */
    uint32_t n, cap;
    uint32_t *index; /* hash of name -> id + 1 */
    uint32_t index_cap;
};

/* Returns the id of name, -1 if absent (lookup only). */
int64_t jinja_sym_find(const struct jinja_symtab *t, const char *name, size_t len);

struct chat_template {
    struct jinja_arena arena;
    struct jinja_symtab syms;
    struct jinja_node **body;
    uint32_t n_body;
    uint32_t *undef; /* root frame names initialised to `missing` */
    uint32_t n_undef;
};

/* ---------------------------------------------------------------- lexer */

enum jinja_tok_type {
    JT_EOF,
    JT_DATA,
    JT_BLOCK_BEGIN,
    JT_BLOCK_END,
    JT_VAR_BEGIN,
    JT_VAR_END,
    JT_NAME,
    JT_STRING,
    JT_INT,
    JT_FLOAT,
    JT_OP, /* op: the operator's text (1 or 2 chars) in `text` */
};

struct jinja_token {
    uint8_t type;
    int line;
    const char *text; /* names, operators, strings (unescaped), data; in the arena */
    size_t len;
    int64_t i;
    double f;
};

/* Tokenizes source (after newline normalisation) into an arena array ending
 * with JT_EOF. ERR_FORMAT with a message on lexical errors. */
int jinja_lex(struct jinja_arena *a, const char *src, size_t len, struct jinja_token **out, size_t *n_out,
              struct sgl_err *err);

/* Parses into tpl (arena, syms, body). */
int jinja_parse(struct chat_template *tpl, const struct jinja_token *toks, size_t n, struct sgl_err *err);
/* Fills the `undef` lists of the root and of every scope node. */
int jinja_scope_analyze(struct chat_template *tpl, struct sgl_err *err);

/* ---------------------------------------------------------------- render */

/* Growable output buffer in the render arena, bounded by max_output. */
struct jinja_buf {
    char *p;
    size_t len, cap;
};

struct jinja_frame;

struct jinja_ctx {
    const struct chat_template *tpl;
    struct jinja_arena arena;
    struct sgl_err *err;
    int line; /* line of the node being evaluated, for messages */
    int64_t steps, max_steps;
    int depth, max_depth;
    int cdepth; /* C recursion guard for expressions and data */
    size_t max_output;
    bool now_set;
    bool fatal; /* a limit was hit: the error must not be deferred or swallowed */
    bool const_mode; /* evaluating as Jinja2's constant folder would */
    int64_t now_epoch;
    struct jinja_frame *root;
};

/* Fails with the pending error of a generator (see struct jinja_list). */
int jinja_gen_raise(struct jinja_ctx *c, const struct jinja_list *l);
/* Fails with ERR_INVALID and "<exc>: <message> (line N)". Returns the code. */
int jinja_fail(struct jinja_ctx *c, const char *exc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int jinja_oom(struct jinja_ctx *c);
/* Counts one unit of work against max_steps. */
int jinja_step(struct jinja_ctx *c);

void *jinja_alloc(struct jinja_ctx *c, size_t n); /* NULL => error already set */

/* Buffers */
int jinja_buf_put(struct jinja_ctx *c, struct jinja_buf *b, const char *s, size_t n);
int jinja_buf_putc(struct jinja_ctx *c, struct jinja_buf *b, char ch);
int jinja_buf_printf(struct jinja_ctx *c, struct jinja_buf *b, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Value constructors */
static inline jv jv_undef(void) { jv v = {0}; return v; }
static inline jv jv_none(void) { jv v = {0}; v.type = JV_NONE; return v; }
static inline jv jv_missing(void) { jv v = {0}; v.type = JV_MISSING; return v; }
static inline jv jv_bool(bool b) { jv v = {0}; v.type = JV_BOOL; v.u.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {0}; v.type = JV_INT; v.u.i = i; return v; }
static inline jv jv_float(double f) { jv v = {0}; v.type = JV_FLOAT; v.u.f = f; return v; }
static inline jv jv_strv(struct jinja_str *s) { jv v = {0}; v.type = JV_STR; v.u.s = s; return v; }
static inline jv jv_listv(struct jinja_list *l) { jv v = {0}; v.type = JV_LIST; v.u.l = l; return v; }
static inline jv jv_dictv(struct jinja_dict *d) { jv v = {0}; v.type = JV_DICT; v.u.d = d; return v; }
static inline bool jv_is_num(jv v) { return v.type == JV_BOOL || v.type == JV_INT || v.type == JV_FLOAT; }
static inline bool jv_is_intlike(jv v) { return v.type == JV_BOOL || v.type == JV_INT; }
static inline int64_t jv_as_int(jv v) { return v.type == JV_BOOL ? (int64_t)v.u.b : v.u.i; }
static inline double jv_as_double(jv v) {
    return v.type == JV_FLOAT ? v.u.f : v.type == JV_BOOL ? (double)v.u.b : (double)v.u.i;
}
static inline bool jv_is_seq(jv v, uint8_t kind) { return v.type == JV_LIST && v.u.l->kind == kind; }

/* Allocating constructors on an arena (compile or render); NULL on failure. */
struct jinja_str *jinja_str_new_in(struct jinja_arena *a, const char *s, size_t n);
struct jinja_str *jinja_str_new(struct jinja_ctx *c, const char *s, size_t n);
/* Wraps a buffer's bytes as a string (copies). */
int jinja_str_from_buf(struct jinja_ctx *c, const struct jinja_buf *b, jv *out);
int jinja_make_str(struct jinja_ctx *c, const char *s, size_t n, jv *out);
struct jinja_list *jinja_list_new(struct jinja_ctx *c, uint8_t kind, size_t cap);
int jinja_list_push(struct jinja_ctx *c, struct jinja_list *l, jv v);
struct jinja_dict *jinja_dict_new(struct jinja_ctx *c, size_t cap);
/* Inserts or replaces (keeps the first key's position, like Python). */
int jinja_dict_set(struct jinja_ctx *c, struct jinja_dict *d, jv key, jv val);
/* Finds key; returns 1 and *val if present, 0 if absent, <0 on error (unhashable). */
int jinja_dict_get(struct jinja_ctx *c, const struct jinja_dict *d, jv key, jv *val);
/* Lookup by a UTF-8 string key without building a value. */
bool jinja_dict_get_str(const struct jinja_dict *d, const char *s, size_t n, jv *val);

/* Python semantics */
bool jinja_truthy(jv v);
const char *jinja_type_name(jv v); /* Python's type(x).__name__ */
/* str(v) appended to b (Undefined prints as ""). */
int jinja_write_str(struct jinja_ctx *c, struct jinja_buf *b, jv v);
/* repr(v) appended to b. */
int jinja_write_repr(struct jinja_ctx *c, struct jinja_buf *b, jv v);
/* str(v) as a string value (returns v itself for strings). */
int jinja_to_str(struct jinja_ctx *c, jv v, jv *out);
/* Python float repr into buf (at least 32 bytes); returns length. */
size_t jinja_format_float(double f, char *buf);
/* a == b */
int jinja_eq(struct jinja_ctx *c, jv a, jv b, bool *out);
/* a <op> b for JC_LT, JC_LE, JC_GT, JC_GE (TypeError on unorderable types). */
int jinja_order(struct jinja_ctx *c, jv a, jv b, int op, bool *out);
/* Python `a in b`. */
int jinja_contains(struct jinja_ctx *c, jv container, jv item, bool *out);
/* hash(v) consistent with jinja_eq; TypeError for unhashable types. */
int jinja_hash(struct jinja_ctx *c, jv v, uint64_t *out);

/* Stable sort (Python's sorted is stable) with a fallible "a < b". */
typedef int (*jinja_less_fn)(struct jinja_ctx *c, void *ud, jv a, jv b, bool *out);
int jinja_sort(struct jinja_ctx *c, jv *items, size_t n, jinja_less_fn less, void *ud);

/* Materialises the elements of an iterable (list, tuple, dict keys, string
 * characters, generators: consumes them; Undefined: empty). TypeError if not
 * iterable. The returned array may alias the value's storage: do not modify. */
int jinja_iterate(struct jinja_ctx *c, jv v, jv **items, size_t *n);
/* Python len(); TypeError if the value has none. */
int jinja_len(struct jinja_ctx *c, jv v, int64_t *out);

/* json.dumps(v, ensure_ascii, indent, separators, sort_keys): indent is NULL
 * for none, else the per-level indent string. */
struct jinja_json_opts {
    bool ensure_ascii;
    bool sort_keys;
    const char *indent; /* NULL: single line */
    size_t indent_len;
    const char *item_sep, *key_sep;
    size_t item_sep_len, key_sep_len;
};
int jinja_json_dump(struct jinja_ctx *c, struct jinja_buf *b, jv v, const struct jinja_json_opts *o);
/* cJSON -> value */
int jinja_from_cjson(struct jinja_ctx *c, const cJSON *j, jv *out);
/* JSON text -> value (Python json.loads typing); ERR_FORMAT on bad JSON. */
int jinja_from_json_text(struct jinja_ctx *c, const char *s, size_t n, jv *out);

/* ---------------------------------------------------------------- unicode */

/* Decodes one code point at s[*i] (advancing *i); invalid bytes decode as
 * themselves (U+0080..U+00FF range is never produced for them: returns
 * 0xDC00 + byte, like Python's surrogateescape). */
uint32_t jinja_utf8_next(const char *s, size_t n, size_t *i);
size_t jinja_utf8_put(uint32_t cp, char *out); /* 1..4 bytes */
size_t jinja_utf8_count(const char *s, size_t n);
/* Byte offset of code point index k (k <= count). */
size_t jinja_utf8_offset(const char *s, size_t n, size_t k);
bool jinja_uni_isspace(uint32_t cp);   /* str.isspace / \s */
bool jinja_uni_isalnum(uint32_t cp);   /* str.isalnum */
bool jinja_uni_isalpha(uint32_t cp);
bool jinja_uni_isdigit(uint32_t cp);   /* str.isdigit */
bool jinja_uni_isdecimal(uint32_t cp);
bool jinja_uni_isnumeric(uint32_t cp);
bool jinja_uni_isword(uint32_t cp);    /* regex \w */
bool jinja_uni_isprintable(uint32_t cp);
bool jinja_uni_islower(uint32_t cp);
bool jinja_uni_isupper(uint32_t cp);
bool jinja_uni_istitle(uint32_t cp);
bool jinja_uni_iscased(uint32_t cp);
bool jinja_uni_iscase_ignorable(uint32_t cp);
bool jinja_uni_is_id_start(uint32_t cp);
bool jinja_uni_is_id_continue(uint32_t cp);
bool jinja_uni_is_linebreak(uint32_t cp); /* str.splitlines boundaries */
/* Full (multi-character) case mappings as Python's str.upper/lower/title use;
 * write up to 3 code points to out, return the count. */
int jinja_uni_upper(uint32_t cp, uint32_t out[3]);
int jinja_uni_lower(uint32_t cp, uint32_t out[3]);
int jinja_uni_title(uint32_t cp, uint32_t out[3]);

/* Python str methods on (s, n) into b. */
enum jinja_case_op { JCASE_UPPER, JCASE_LOWER, JCASE_TITLE, JCASE_CAPITALIZE, JCASE_SWAPCASE, JCASE_CASEFOLD };
int jinja_str_case(struct jinja_ctx *c, struct jinja_buf *b, const char *s, size_t n, int op);

/* ---------------------------------------------------------------- builtins */

/* Evaluated call arguments. kw names point at interned strings. */
struct jinja_callargs {
    jv *pos;
    size_t n_pos;
    const struct jinja_str **kw_names;
    jv *kw_vals;
    size_t n_kw;
};

/* Binds args to the parameter names (Python rules: positional first, then by
 * name; unknown or repeated names and too many positionals are TypeErrors).
 * Unbound parameters are JV_MISSING. `what` names the callee in messages. */
int jinja_bind(struct jinja_ctx *c, const char *what, const struct jinja_callargs *a, const char *const *names,
               size_t n_names, jv *out);

typedef int (*jinja_filter_fn)(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, jv *out);
typedef int (*jinja_test_fn)(struct jinja_ctx *c, jv v, const struct jinja_callargs *a, bool *out);

/* Index of a built-in filter / test by name, -1 if Jinja2 has none. */
int jinja_filter_find(const char *name, size_t len);
int jinja_test_find(const char *name, size_t len);
const char *jinja_filter_name(int idx);
int jinja_call_filter(struct jinja_ctx *c, int idx, jv v, const struct jinja_callargs *a, jv *out);
int jinja_call_test(struct jinja_ctx *c, int idx, jv v, const struct jinja_callargs *a, bool *out);
/* By name at run time (map/select/reject); unknown names are errors. */
int jinja_call_filter_named(struct jinja_ctx *c, jv name, jv v, const struct jinja_callargs *a, jv *out);
int jinja_call_test_named(struct jinja_ctx *c, jv name, jv v, const struct jinja_callargs *a, bool *out);

/* Attribute / item access with the sandbox's rules (environment.getattr and
 * environment.getitem): obj.name tries Python attributes (methods) first, then
 * items; obj[key] the other way round. Missing -> Undefined. */
int jinja_getattr(struct jinja_ctx *c, jv obj, const char *name, size_t len, jv *out);
int jinja_getitem(struct jinja_ctx *c, jv obj, jv key, jv *out);
/* obj[start:stop:step] (each may be JV_NONE). */
int jinja_slice(struct jinja_ctx *c, jv obj, jv start, jv stop, jv step, jv *out);

/* Calls a JV_FUNC (or errors for non-callables). Macro calls go through
 * jinja_eval's jinja_call_macro. */
int jinja_call_value(struct jinja_ctx *c, jv fn, const struct jinja_callargs *a, jv *out);

/* Binary and unary operators with Python semantics. */
int jinja_binop(struct jinja_ctx *c, int op, jv a, jv b, jv *out);
int jinja_neg(struct jinja_ctx *c, jv a, bool neg, jv *out);
/* Fails with the UndefinedError of an Undefined value. */
int jinja_undef_error(struct jinja_ctx *c, jv u);
/* Makes an Undefined for a missing attribute / element / with a hint. */
jv jinja_undef_attr(struct jinja_ctx *c, jv obj, const char *name, size_t len);
jv jinja_undef_elem(struct jinja_ctx *c, jv obj, jv key);
jv jinja_undef_hint(struct jinja_ctx *c, uint8_t kind, const char *hint);
/* Python printf-style `fmt % args`. */
int jinja_percent_format(struct jinja_ctx *c, jv fmt, jv args, jv *out);

/* Shared string helpers (jinja_builtins.c) used by the filters. */
int jinja_escape(struct jinja_ctx *c, jv v, jv *out); /* markupsafe.escape */
int jinja_str_replace(struct jinja_ctx *c, jv self, jv oldv, jv newv, int64_t count, jv *out);
int jinja_str_center(struct jinja_ctx *c, jv self, jv width, jv *out);
int jinja_str_splitlines(struct jinja_ctx *c, jv self, bool keepends, jv *out);
int jinja_dict_items(struct jinja_ctx *c, const struct jinja_dict *d, uint8_t kind, jv *out); /* views */

/* Provided by jinja_eval.c for the builtins that call back into templates. */
int jinja_call_macro(struct jinja_ctx *c, struct jinja_func *fn, const struct jinja_callargs *a, jv *out);
int jinja_loop_call(struct jinja_ctx *c, struct jinja_loop *lp, jv iterable, jv *out);
int jinja_loop_getattr(struct jinja_ctx *c, struct jinja_loop *lp, const char *name, size_t len, jv *out);
int jinja_loop_changed(struct jinja_ctx *c, struct jinja_loop *lp, const struct jinja_callargs *a, jv *out);
int64_t jinja_loop_index0(const struct jinja_loop *lp);

/* Method ids shared with jinja_eval.c (the rest are private to jinja_builtins.c). */
enum jinja_method_shared {
    JM_LOOP_CYCLE = 1,
    JM_LOOP_CHANGED,
    JM_CYCLER_NEXT,
    JM_CYCLER_RESET,
    JM_N_SHARED,
};
/* A bound method value (self.method). */
int jinja_make_method(struct jinja_ctx *c, jv self, int id, jv *out);

enum jinja_func_kind {
    JF_GLOBAL, /* id: enum jinja_sym of the global */
    JF_METHOD, /* self . method id (enum in jinja_builtins.c) */
    JF_MACRO,
    JF_JOINER,
};

struct jinja_frame;

struct jinja_func {
    uint8_t kind;
    int id;
    jv self;
    /* JF_MACRO */
    const struct jinja_macro *macro;
    struct jinja_frame *closure;
    /* JF_JOINER */
    jv sep;
    bool used;
};

/* The render entry point (jinja_eval.c). vars: a dict of the context. */
int jinja_render(struct jinja_ctx *c, jv vars, struct jinja_buf *out);

#endif
