/* chat_template: Hugging Face chat templates (Jinja2) rendered in C.
 *
 * The output is meant to be byte-identical to what transformers produces with
 * Python Jinja2: an ImmutableSandboxedEnvironment with trim_blocks and
 * lstrip_blocks, the loopcontrols extension ({% break %}/{% continue %}) and
 * the `{% generation %}` tag, a `tojson` filter that is
 * json.dumps(x, ensure_ascii=False, indent=, separators=, sort_keys=), and the
 * globals raise_exception(msg) and strftime_now(fmt). Undefined variables are
 * Jinja's default Undefined (print as empty, falsy, errors on arithmetic).
 * Values print with Python semantics (True, None, 1.0, ['a', 1], {'k': 'v'}).
 *
 * Usage: compile once, render many times.
 *
 *   struct chat_template *tpl;
 *   if (chat_template_compile(src, strlen(src), &tpl, &err)) ...
 *   chat_template_render(tpl, context, &text, &len, &err);   // context: cJSON object
 *   free(text);
 *   chat_template_destroy(tpl);
 *
 * The context is the object transformers passes as keyword arguments:
 * messages, tools, documents, add_generation_prompt, bos_token, eos_token and
 * any chat_template_kwargs (e.g. enable_thinking), all at the top level.
 *
 * Errors (syntax errors at compile; raise_exception, type errors, unknown
 * filters or tests, exceeded limits at render) return a negative code with a
 * one-line message in err; a bad template or request never crashes or hangs:
 * recursion depth, loop iterations, memory and output size are bounded.
 *
 * Threading: a compiled template is immutable; any number of threads may
 * render it at the same time. Each render uses only its own memory.
 * Ownership: *out text is malloc'd (NUL-terminated) and owned by the caller;
 * the template does not keep the source or the context. */
#ifndef SGLC_TOKENIZER_CHAT_TEMPLATE_H
#define SGLC_TOKENIZER_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/json.h"

struct chat_template;

/* Limits and clock for one render. Zero fields take the defaults below. */
struct chat_template_options {
    size_t max_output_bytes;  /* rendered text (and each captured block); default 16 MiB */
    size_t max_memory_bytes;  /* all values built during the render; default 256 MiB */
    int64_t max_steps;        /* loop iterations + calls + filter items; default 10,000,000 */
    int max_depth;            /* nested macro / recursive-loop calls; default 200 */
    /* strftime_now(): if now_epoch_set, format this instant (seconds since the
     * epoch) in UTC; otherwise the current local time, like datetime.now(). */
    int now_epoch_set;
    int64_t now_epoch;
};

/* Parses a template. source need not be NUL-terminated (len bytes; UTF-8).
 * ERR_FORMAT with "line N: ..." on syntax errors (also unknown filters and
 * tests outside if-blocks, which Jinja2 rejects at compile time). */
int chat_template_compile(const char *source, size_t len, struct chat_template **out, struct sgl_err *err);
void chat_template_destroy(struct chat_template *tpl);

/* Renders with default options. context: a cJSON object (borrowed; NULL means
 * no variables). JSON numbers that are integral and within +-2^53 become
 * Python ints, others floats (cJSON keeps no int/float distinction; use
 * chat_template_render_json for exact typing). Errors: ERR_INVALID (template
 * raised or failed at run time, or a limit was hit), ERR_NOMEM. */
int chat_template_render(const struct chat_template *tpl, const cJSON *context, char **out, size_t *out_len,
                         struct sgl_err *err);

/* As above with explicit options (NULL = defaults). */
int chat_template_render_opts(const struct chat_template *tpl, const cJSON *context,
                              const struct chat_template_options *opts, char **out, size_t *out_len,
                              struct sgl_err *err);

/* Renders with the context given as JSON text (len bytes, an object), parsed
 * like Python's json.loads: 1 is an int, 1.0 a float, strings may hold NUL.
 * ERR_FORMAT if the JSON is malformed. */
int chat_template_render_json(const struct chat_template *tpl, const char *context_json, size_t len,
                              const struct chat_template_options *opts, char **out, size_t *out_len,
                              struct sgl_err *err);

#endif
