/* server_args: every flag of `sglc serve` in one struct, with SGLang's flag
 * names (--model-path, --max-total-tokens, ...) and defaults.
 *
 * Strings point into the argv given to server_args_parse (they live as long
 * as the process arguments). Plain data, filled once on the main thread and
 * read-only afterwards. */
#ifndef SGLC_SERVER_ARGS_H
#define SGLC_SERVER_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "base/json.h"
#include "managers/engine.h"

struct server_args {
    /* model / tokenizer */
    const char *model_path;        /* NULL: the embedded default model */
    const char *tokenizer_path;    /* NULL: the model's tokenizer */
    const char *served_model_name; /* NULL: model_path, or "stories260K" for the default model */
    const char *chat_template;     /* Jinja file overriding the tokenizer's template, or NULL */
    int64_t context_length;        /* 0: from the model */
    const char *dtype;             /* NULL/"auto", "bfloat16", "float32" (model_load_opts) */
    const char *quantization;      /* NULL, "int8", "q4" (model_load_opts) */
    const char *kv_cache_dtype;    /* NULL/"auto", "bfloat16", "float32" (model_load_opts) */
    /* HTTP / API */
    const char *host;              /* default 127.0.0.1 */
    int32_t port;                  /* default 30000; 0 picks a free port (printed at start-up) */
    const char *api_key;           /* NULL: no authentication */
    bool enable_metrics;
    bool enable_cache_report;      /* usage.prompt_tokens_details.cached_tokens */
    bool log_requests;
    int log_level;                 /* enum log_level */
    /* memory and scheduling (0 / defaults from engine_config_init mean "engine decides") */
    int64_t max_total_tokens;
    double mem_fraction_static;    /* 0: unset; else share of RAM for the KV cache when max_total_tokens is 0 */
    int32_t max_running_requests;
    int32_t max_prefill_tokens;
    int32_t chunked_prefill_size;  /* -1: no chunking */
    int32_t page_size;
    enum schedule_policy schedule_policy;
    bool disable_radix_cache;
    bool enable_mixed_chunk;
    uint64_t random_seed;
    int32_t stream_interval;
    int32_t threads;               /* 0: all CPUs */
    /* HTTP limits (no flags; fixed defaults) */
    int64_t max_body_bytes;        /* 32 MiB: larger request bodies get 413 */
    int32_t max_header_bytes;      /* per-connection memory for the request line + headers */
    int32_t connection_timeout_s;  /* idle / slow clients are dropped after this long without progress */
    int32_t max_connections;
};

/* Fills the defaults (engine defaults from engine_config_init). */
void server_args_init(struct server_args *a);

/* Parses argv[1..argc) (argv[0] is the subcommand name). Accepts "--flag value"
 * and "--flag=value". Returns 0 on success, 1 when --help was given (usage
 * printed to `out`), or ERR_INVALID with a one-line message (unknown flag,
 * missing or bad value). */
int server_args_parse(struct server_args *a, int argc, char **argv, FILE *out, struct sgl_err *err);

void server_args_usage(FILE *f);

/* Adds every field to obj under its SGLang name (for /get_server_info); the
 * api key is reported as a boolean only. Returns 0 or ERR_NOMEM. */
int server_args_to_json(const struct server_args *a, cJSON *obj);

#endif
