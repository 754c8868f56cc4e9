/* Fuzz target for the chat-template parser and renderer.
 *
 * Input layout: template source, then optionally a NUL byte followed by the
 * JSON context text. Without a NUL a fixed conversation (system, user,
 * assistant with a tool call, tool result) is used as the context. Any
 * template must compile or fail cleanly, and any render must finish within
 * small limits (steps, output, memory, depth) with a text or a one-line
 * error: never crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/chat_template.h"

static const char k_default_ctx[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": "
    "\"Hi \\u00e9 \\ud83e\\udd17\"}, {\"role\": \"assistant\", \"content\": \"<think>x</think>ok\", "
    "\"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": {\"a\": [1, 2.5, "
    "null, true]}}}]}, {\"role\": \"tool\", \"content\": \"42\"}], \"tools\": [{\"type\": \"function\", "
    "\"function\": {\"name\": \"f\", \"parameters\": {}}}], \"add_generation_prompt\": true, \"bos_token\": "
    "\"<s>\", \"enable_thinking\": false}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    size_t src_len = size;
    const char *ctx = k_default_ctx;
    size_t ctx_len = sizeof k_default_ctx - 1;
    const uint8_t *nul = memchr(data, 0, size);
    if (nul) {
        src_len = (size_t)(nul - data);
        ctx = (const char *)nul + 1;
        ctx_len = size - src_len - 1;
    }
    struct chat_template *tpl = NULL;
    struct sgl_err err;
    if (chat_template_compile(src, src_len, &tpl, &err)) {
        if (!memchr(err.msg, 0, sizeof err.msg) || strchr(err.msg, '\n')) abort();
        return 0;
    }
    struct chat_template_options opts = {0};
    opts.max_steps = 20000;
    opts.max_output_bytes = 1 << 16;
    opts.max_memory_bytes = 16u << 20;
    opts.max_depth = 40;
    opts.now_epoch_set = 1;
    char *out = NULL;
    size_t out_len = 0;
    if (chat_template_render_json(tpl, ctx, ctx_len, &opts, &out, &out_len, &err) == 0) {
        if (!out || out[out_len] != 0 || out_len > opts.max_output_bytes) abort();
    } else if (out || strchr(err.msg, '\n')) {
        abort();
    }
    free(out);
    chat_template_destroy(tpl);
    return 0;
}
