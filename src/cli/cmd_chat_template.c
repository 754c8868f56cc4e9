/* cmd_chat_template: `sglc chat-template` — renders a chat template with a
 * JSON context and prints exactly the rendering (no newline added), for
 * debugging templates and for the reference tests against Python Jinja2.
 *
 * The context file is the object transformers passes to the template
 * (messages, tools, add_generation_prompt, bos_token, ...); it is read as
 * JSON text so ints and floats keep their Python types. strftime_now() uses
 * the current local time, or the instant SGLC_STRFTIME_NOW_EPOCH (seconds,
 * UTC) when that environment variable is set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mmap_file.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "tokenizer/chat_template.h"

#define CMD "chat-template"

static void usage(FILE *f) {
    fprintf(f, "usage: sglc chat-template --template FILE [--context FILE.json] [--add-generation-prompt]\n"
               "Renders a Jinja chat template like transformers' apply_chat_template and prints the text.\n\n"
               "  --template FILE          the template (e.g. a model's chat_template as a .jinja file)\n"
               "  --context FILE.json      the context object: messages, tools, bos_token, eos_token,\n"
               "                           add_generation_prompt and any extra kwargs (default: {})\n"
               "  --add-generation-prompt  set add_generation_prompt to true\n\n"
               "Environment: SGLC_STRFTIME_NOW_EPOCH=SECONDS fixes strftime_now() to that instant (UTC).\n");
}

/* Returns a malloc'd copy of the JSON object text with add_generation_prompt
 * set to true (a later duplicate key wins, as in Python's json.loads). */
static char *with_generation_prompt(const char *ctx, size_t len, size_t *out_len) {
    size_t end = len;
    while (end > 0 && ctx[end - 1] != '}') end--;
    if (end == 0) return NULL;
    size_t open = 0;
    while (open < len && ctx[open] != '{') open++;
    bool empty = true;
    for (size_t i = open + 1; i + 1 < end; i++)
        if (!strchr(" \t\r\n", ctx[i])) empty = false;
    static const char add[] = "\"add_generation_prompt\": true}";
    char *out = malloc(len + sizeof add + 4);
    if (!out) return NULL;
    size_t o = end - 1;
    memcpy(out, ctx, o);
    if (!empty) out[o++] = ',';
    memcpy(out + o, add, sizeof add - 1);
    o += sizeof add - 1;
    memcpy(out + o, ctx + end, len - end);
    o += len - end;
    out[o] = 0;
    *out_len = o;
    return out;
}

int cli_chat_template_main(int argc, char **argv) {
    const char *tpl_path = NULL, *ctx_path = NULL;
    bool add_gen = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--template")) {
            if (!(tpl_path = cli_opt_value(argc, argv, &i))) return cli_fail(CMD, "--template needs a file");
        } else if (!strcmp(a, "--context")) {
            if (!(ctx_path = cli_opt_value(argc, argv, &i))) return cli_fail(CMD, "--context needs a file");
        } else if (!strcmp(a, "--add-generation-prompt")) {
            add_gen = true;
        } else {
            return cli_fail(CMD, "unknown option '%s' (see 'sglc chat-template --help')", a);
        }
    }
    if (!tpl_path) return cli_fail(CMD, "--template is required (see 'sglc chat-template --help')");

    struct chat_template_options opts = {0};
    const char *epoch = getenv("SGLC_STRFTIME_NOW_EPOCH");
    if (epoch && *epoch) {
        long long v;
        if (!cli_parse_int(epoch, -(1LL << 40), 1LL << 40, &v))
            return cli_fail(CMD, "SGLC_STRFTIME_NOW_EPOCH must be an integer number of seconds");
        opts.now_epoch_set = 1;
        opts.now_epoch = v;
    }

    int ret = 1;
    char *src = NULL, *ctx = NULL, *ctx2 = NULL, *out = NULL;
    size_t src_len = 0, ctx_len = 2, out_len = 0;
    struct chat_template *tpl = NULL;
    struct sgl_err err;
    if (file_read_all(tpl_path, &src, &src_len, &err)) {
        cli_fail(CMD, "%s", err.msg);
        goto done;
    }
    if (ctx_path) {
        if (file_read_all(ctx_path, &ctx, &ctx_len, &err)) {
            cli_fail(CMD, "%s", err.msg);
            goto done;
        }
    }
    const char *ctx_text = ctx ? ctx : "{}";
    if (add_gen) {
        ctx2 = with_generation_prompt(ctx_text, ctx_len, &ctx_len);
        if (!ctx2) {
            cli_fail(CMD, "%s: the context must be a JSON object", ctx_path ? ctx_path : "context");
            goto done;
        }
        ctx_text = ctx2;
    }
    if (chat_template_compile(src, src_len, &tpl, &err)) {
        cli_fail(CMD, "%s: %s", tpl_path, err.msg);
        goto done;
    }
    if (chat_template_render_json(tpl, ctx_text, ctx_len, &opts, &out, &out_len, &err)) {
        cli_fail(CMD, "%s", err.msg);
        goto done;
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        cli_fail(CMD, "cannot write the output");
        goto done;
    }
    ret = 0;
done:
    free(out);
    chat_template_destroy(tpl);
    free(ctx2);
    free(ctx);
    free(src);
    return ret;
}
