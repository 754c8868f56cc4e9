/* chat_template: public API over the jinja_* interpreter (see
 * chat_template.h). Compile = lex + parse into the template's own arena;
 * render = a fresh jinja_ctx with its own bounded arena, the context
 * converted to interpreter values, the output copied into a malloc'd buffer.
 *
 * A compiled template is never written after chat_template_compile returns,
 * so renders on different threads share it safely. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/chat_template.h"
#include "tokenizer/jinja.h"

#define DEFAULT_MAX_OUTPUT (16u << 20)
#define DEFAULT_MAX_MEMORY (256u << 20)
#define DEFAULT_MAX_STEPS 10000000
#define DEFAULT_MAX_DEPTH 200

/* Messages are one line: control characters become spaces. */
static void one_line(struct sgl_err *err) {
    if (!err) return;
    for (char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

int chat_template_compile(const char *source, size_t len, struct chat_template **out, struct sgl_err *err) {
    *out = NULL;
    struct sgl_err local;
    if (!err) err = &local;
    struct chat_template *tpl = calloc(1, sizeof *tpl);
    if (!tpl) return err_setf(err, ERR_NOMEM, "out of memory");
    jinja_arena_init(&tpl->arena, 0);
    struct jinja_token *toks;
    size_t n;
    int rc = jinja_lex(&tpl->arena, source ? source : "", source ? len : 0, &toks, &n, err);
    if (!rc) rc = jinja_parse(tpl, toks, n, err);
    if (!rc) rc = jinja_scope_analyze(tpl, err);
    if (rc) {
        err_prefix(err, "chat template");
        one_line(err);
        chat_template_destroy(tpl);
        return rc;
    }
    *out = tpl;
    return 0;
}

void chat_template_destroy(struct chat_template *tpl) {
    if (!tpl) return;
    jinja_arena_free(&tpl->arena);
    free(tpl);
}

enum ctx_kind { CTX_CJSON, CTX_TEXT };

static int render(const struct chat_template *tpl, enum ctx_kind kind, const cJSON *cj, const char *text,
                  size_t text_len, const struct chat_template_options *opts, char **out, size_t *out_len,
                  struct sgl_err *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    struct sgl_err local;
    if (!err) err = &local;
    err->msg[0] = 0;
    struct chat_template_options o = {0};
    if (opts) o = *opts;
    struct jinja_ctx c = {0};
    c.tpl = tpl;
    c.err = err;
    c.max_output = o.max_output_bytes ? o.max_output_bytes : DEFAULT_MAX_OUTPUT;
    c.max_steps = o.max_steps > 0 ? o.max_steps : DEFAULT_MAX_STEPS;
    c.max_depth = o.max_depth > 0 ? o.max_depth : DEFAULT_MAX_DEPTH;
    c.now_set = o.now_epoch_set != 0;
    c.now_epoch = o.now_epoch;
    jinja_arena_init(&c.arena, o.max_memory_bytes ? o.max_memory_bytes : DEFAULT_MAX_MEMORY);
    jv vars = jv_none();
    int rc = 0;
    if (kind == CTX_TEXT) rc = jinja_from_json_text(&c, text, text_len, &vars);
    else if (cj) rc = jinja_from_cjson(&c, cj, &vars);
    if (!rc && vars.type != JV_DICT && vars.type != JV_NONE)
        rc = err_setf(err, ERR_FORMAT, "the context must be a JSON object");
    struct jinja_buf b = {0};
    if (!rc) rc = jinja_render(&c, vars, &b);
    if (rc > 0) rc = ERR_INVALID; /* stray break/continue cannot happen after the parser's check */
    if (!rc) {
        char *text_out = malloc(b.len + 1);
        if (!text_out) {
            rc = err_setf(err, ERR_NOMEM, "out of memory");
        } else {
            if (b.len) memcpy(text_out, b.p, b.len);
            text_out[b.len] = 0;
            *out = text_out;
            if (out_len) *out_len = b.len;
        }
    }
    jinja_arena_free(&c.arena);
    if (rc) {
        if (!err->msg[0]) err_setf(err, rc, "rendering failed");
        err_prefix(err, "chat template");
        one_line(err);
    }
    return rc;
}

int chat_template_render_opts(const struct chat_template *tpl, const cJSON *context,
                              const struct chat_template_options *opts, char **out, size_t *out_len,
                              struct sgl_err *err) {
    return render(tpl, CTX_CJSON, context, NULL, 0, opts, out, out_len, err);
}

int chat_template_render(const struct chat_template *tpl, const cJSON *context, char **out, size_t *out_len,
                         struct sgl_err *err) {
    return render(tpl, CTX_CJSON, context, NULL, 0, NULL, out, out_len, err);
}

int chat_template_render_json(const struct chat_template *tpl, const char *context_json, size_t len,
                              const struct chat_template_options *opts, char **out, size_t *out_len,
                              struct sgl_err *err) {
    return render(tpl, CTX_TEXT, NULL, context_json ? context_json : "{}", context_json ? len : 2, opts, out, out_len,
                  err);
}
