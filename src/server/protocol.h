/* protocol: parsing and validation of request bodies for the OpenAI API
 * (/v1/completions, /v1/chat/completions) and SGLang's native /generate,
 * into one plain struct the serving code turns into engine requests.
 *
 * Pure functions with no I/O and no model: the limits that validation needs
 * (vocabulary size, caps) come in a protocol_limits. Every malformed, mistyped
 * or out-of-range field yields a protocol_error carrying an HTTP status, an
 * OpenAI error type, the offending parameter and a one-line message; nothing
 * a client sends can make the parser crash (fuzzed by
 * tests/fuzz/fuzz_openai_request.c). JSON null counts as "absent" and unknown
 * fields are ignored, as OpenAI's and SGLang's servers do.
 *
 * Thread-safe (no shared state). A protocol_request owns all its memory. */
#ifndef SGLC_SERVER_PROTOCOL_H
#define SGLC_SERVER_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/json.h"
#include "sampling/sampler.h"
#include "server/jsonw.h"

enum protocol_kind { PROTOCOL_COMPLETIONS, PROTOCOL_CHAT, PROTOCOL_GENERATE };

struct protocol_limits {
    int32_t vocab_size;       /* token ids must be in [0, vocab_size) */
    int32_t max_n;            /* n (choices) cap */
    int32_t max_stop;         /* stop strings per request */
    int32_t max_top_logprobs; /* top_logprobs / logprobs N / top_logprobs_num cap */
    int32_t max_batch;        /* prompts per request */
};

/* Fills the default caps (n <= 128, <= 16 stop strings, <= 20 top logprobs, <= 4096 prompts). */
void protocol_limits_init(struct protocol_limits *lim, int32_t vocab_size);

struct protocol_error {
    int status;       /* HTTP status: 400, 401, 404, 405, 413, 500, 503 */
    char param[64];   /* offending field, "" for none */
    char message[512];
};

/* Sets err and returns ERR_INVALID (for `return protocol_fail(...)`). */
int protocol_fail(struct protocol_error *err, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* OpenAI error type name for a status ("BadRequestError", "NotFoundError", ...). */
const char *protocol_error_type(int status);
/* SGLang's flat error object plus the same fields nested under "error" (the
 * shape OpenAI's API returns and its SDKs read):
 * {"object":"error","message":..,"type":..,"param":..,"code":N,"error":{"message":..,"type":..,"param":..,"code":N}} */
void protocol_error_json(const struct protocol_error *err, struct jsonw *out);
/* Only {"message":..,"type":..,"param":..,"code":N} (the payload of an in-stream {"error":...} event). */
void protocol_error_json_inner(const struct protocol_error *err, struct jsonw *out);

/* Generation options shared by every API (OpenAI top-level fields or native sampling_params). */
struct protocol_gen_params {
    struct sampling_params sp;       /* sp.logit_bias points into logit_bias */
    struct logit_bias_entry *logit_bias;
    int32_t n_logit_bias;
    bool temperature_set, top_p_set, top_k_set, min_p_set, repetition_penalty_set;
    int64_t max_new_tokens;          /* -1: not given (the API's default applies) */
    int32_t min_new_tokens;
    bool ignore_eos;
    bool skip_special_tokens;        /* default true */
    bool no_stop_trim;
    char **stop;                     /* non-empty strings */
    int32_t n_stop;
    int32_t *stop_token_ids;
    int32_t n_stop_token_ids;
    int32_t n;                       /* choices per prompt (>= 1) */
};

/* One prompt: text (UTF-8 as sent) or token ids. */
struct protocol_prompt {
    char *text; /* NULL when ids are given */
    size_t text_len;
    int32_t *ids;
    int32_t n_ids;
};

struct protocol_request {
    enum protocol_kind kind;
    char *model;                   /* OpenAI: required "model"; NULL for native */
    struct protocol_prompt *prompts; /* completions / generate (chat: none; the template makes it) */
    int32_t n_prompts;
    bool batch;                    /* native: text/input_ids was a list (the answer is a list) */
    cJSON *messages;               /* chat: normalized copy (string contents; tool_call arguments as objects) */
    cJSON *tools;                  /* chat: copy of "tools" or NULL */
    cJSON *chat_template_kwargs;   /* chat: copy or NULL */
    bool add_generation_prompt;    /* chat: default true */
    bool add_special_tokens;       /* /tokenize: default true for a prompt, false for messages */
    struct protocol_gen_params *params; /* 1 set, or one per prompt (native list of sampling_params) */
    int32_t n_params;
    bool stream;
    bool include_usage;            /* stream_options.include_usage */
    bool continuous_usage_stats;   /* stream_options.continuous_usage_stats: usage on every chunk */
    bool echo;                     /* completions */
    bool logprobs;                 /* chat logprobs / completions logprobs != null / native return_logprob */
    int32_t top_logprobs;          /* alternatives per token */
    char **rids;                   /* native "rid": one per prompt, or NULL */
    int32_t n_rids;
};

/* Parses and validates body[0..len) as a request of `kind`. On success fills
 * *out (free with protocol_request_free) and returns 0; on failure fills err,
 * leaves *out empty and returns ERR_INVALID (or ERR_NOMEM, also in err). */
int protocol_parse(enum protocol_kind kind, const char *body, size_t len, const struct protocol_limits *lim,
                   struct protocol_request *out, struct protocol_error *err);
void protocol_request_free(struct protocol_request *r); /* NULL-safe; re-zeroes */

/* Parses a native /tokenize body: {"prompt": str | "messages": [...], "add_special_tokens"?}.
 * Fills out->prompts (one text) or out->messages (+ add_generation_prompt). */
int protocol_parse_tokenize(const char *body, size_t len, struct protocol_request *out, struct protocol_error *err);
/* Parses {"tokens": [ids]} (ids checked against lim->vocab_size) into out->prompts[0].ids. */
int protocol_parse_detokenize(const char *body, size_t len, const struct protocol_limits *lim,
                              struct protocol_request *out, struct protocol_error *err);

#endif
