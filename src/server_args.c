/* server_args: the `sglc serve` flags (see server_args.h).
 *
 * One table lists every flag with its type, range, field and help line; the
 * parser, the usage text and the JSON dump all walk it, so a flag is declared
 * exactly once. Runs on the main thread before any other thread starts. */
#include "server_args.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

enum arg_type { ARG_STR, ARG_I32, ARG_I64, ARG_U64, ARG_F64, ARG_FLAG, ARG_POLICY, ARG_LOGLEVEL };

struct arg_spec {
    const char *flag; /* "--model-path" */
    const char *json; /* "model_path" */
    enum arg_type type;
    size_t offset;
    double lo, hi; /* numeric range */
    const char *metavar;
    const char *help;
};

#define F(field) offsetof(struct server_args, field)

static const struct arg_spec g_specs[] = {
    {"--model-path", "model_path", ARG_STR, F(model_path), 0, 0, "PATH",
     "HF model directory or .gguf file (default: the embedded stories260K)"},
    {"--tokenizer-path", "tokenizer_path", ARG_STR, F(tokenizer_path), 0, 0, "PATH",
     "directory with tokenizer.json (default: the model's tokenizer)"},
    {"--served-model-name", "served_model_name", ARG_STR, F(served_model_name), 0, 0, "NAME",
     "model name in the API (default: the model path)"},
    {"--chat-template", "chat_template", ARG_STR, F(chat_template), 0, 0, "FILE",
     "Jinja chat template file (default: the tokenizer's)"},
    {"--dtype", "dtype", ARG_STR, F(dtype), 0, 0, "D",
     "auto|bfloat16: BF16 matmul inputs rounded to bf16 (default); float32: exact f32 inputs"},
    {"--quantization", "quantization", ARG_STR, F(quantization), 0, 0, "Q",
     "int8|q4: convert F32/F16/BF16 weights to 8-bit / 4-bit blocks at load"},
    {"--kv-cache-dtype", "kv_cache_dtype", ARG_STR, F(kv_cache_dtype), 0, 0, "D",
     "auto|bfloat16|float32: KV cache storage (auto: bf16 unless the weights are F32 or --dtype float32)"},
    {"--context-length", "context_length", ARG_I64, F(context_length), 1, 1 << 24, "N",
     "max prompt + output tokens per request (default: the model's)"},
    {"--host", "host", ARG_STR, F(host), 0, 0, "ADDR", "address to listen on (default 127.0.0.1)"},
    {"--port", "port", ARG_I32, F(port), 0, 65535, "N", "port to listen on (default 30000; 0 picks a free one)"},
    {"--api-key", "api_key", ARG_STR, F(api_key), 0, 0, "KEY",
     "require 'Authorization: Bearer KEY' (except /health and /metrics)"},
    {"--enable-metrics", "enable_metrics", ARG_FLAG, F(enable_metrics), 0, 0, NULL,
     "serve Prometheus metrics at /metrics"},
    {"--enable-cache-report", "enable_cache_report", ARG_FLAG, F(enable_cache_report), 0, 0, NULL,
     "report usage.prompt_tokens_details.cached_tokens"},
    {"--log-requests", "log_requests", ARG_FLAG, F(log_requests), 0, 0, NULL, "log every request"},
    {"--log-level", "log_level", ARG_LOGLEVEL, F(log_level), 0, 0, "LEVEL", "debug|info|warning|error (default info)"},
    {"--max-total-tokens", "max_total_tokens", ARG_I64, F(max_total_tokens), 1, 1e12, "N",
     "KV cache capacity in tokens (default: from memory)"},
    {"--mem-fraction-static", "mem_fraction_static", ARG_F64, F(mem_fraction_static), 1e-6, 1, "F",
     "share of RAM for the KV cache when --max-total-tokens is not given"},
    {"--max-running-requests", "max_running_requests", ARG_I32, F(max_running_requests), 1, 1 << 20, "N",
     "max requests in the decode batch"},
    {"--max-prefill-tokens", "max_prefill_tokens", ARG_I32, F(max_prefill_tokens), 1, 1 << 24, "N",
     "max new prefill tokens per step (default 16384)"},
    {"--chunked-prefill-size", "chunked_prefill_size", ARG_I32, F(chunked_prefill_size), -1, 1 << 24, "N",
     "max prefill chunk of one request (default 4096; -1 disables chunking)"},
    {"--page-size", "page_size", ARG_I32, F(page_size), 1, 4096, "N", "tokens per KV page (default 1)"},
    {"--schedule-policy", "schedule_policy", ARG_POLICY, F(schedule_policy), 0, 0, "P",
     "fcfs|lpm (default fcfs)"},
    {"--disable-radix-cache", "disable_radix_cache", ARG_FLAG, F(disable_radix_cache), 0, 0, NULL,
     "disable prefix caching"},
    {"--enable-mixed-chunk", "enable_mixed_chunk", ARG_FLAG, F(enable_mixed_chunk), 0, 0, NULL,
     "run the running requests' decode tokens in the same forward as a prefill chunk"},
    {"--random-seed", "random_seed", ARG_U64, F(random_seed), 0, 0, "N", "seed for requests without a seed"},
    {"--stream-interval", "stream_interval", ARG_I32, F(stream_interval), 1, 1 << 20, "N",
     "tokens per streamed chunk (default 1)"},
    {"--threads", "threads", ARG_I32, F(threads), 0, 4096, "N", "compute threads (default: all CPUs)"},
};

#undef F

void server_args_init(struct server_args *a) {
    memset(a, 0, sizeof *a);
    struct engine_config ec;
    engine_config_init(&ec);
    a->host = "127.0.0.1";
    a->port = 30000;
    a->log_level = LOG_LEVEL_INFO;
    a->max_total_tokens = ec.max_total_tokens;
    a->context_length = ec.context_length;
    a->max_running_requests = ec.max_running_requests;
    a->max_prefill_tokens = ec.max_prefill_tokens;
    a->chunked_prefill_size = ec.chunked_prefill_size;
    a->page_size = ec.page_size;
    a->schedule_policy = ec.schedule_policy;
    a->disable_radix_cache = ec.disable_radix_cache;
    a->enable_mixed_chunk = ec.enable_mixed_chunk;
    a->random_seed = ec.random_seed;
    a->stream_interval = ec.stream_interval;
    a->threads = ec.threads;
    a->max_body_bytes = 32ll << 20;
    a->max_header_bytes = 64 << 10;
    a->connection_timeout_s = 60;
    a->max_connections = 4096;
}

void server_args_usage(FILE *f) {
    fprintf(f, "usage: sglc serve [options]\n"
               "Start the OpenAI-compatible HTTP server (SGLang's flag names).\n\n");
    for (size_t i = 0; i < sizeof g_specs / sizeof g_specs[0]; i++) {
        const struct arg_spec *s = &g_specs[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", s->flag, s->metavar ? " " : "", s->metavar ? s->metavar : "");
        fprintf(f, "  %-28s %s\n", left, s->help);
    }
    fprintf(f, "  %-28s %s\n", "--help", "show this help");
}

static int bad_value(struct sgl_err *err, const struct arg_spec *s, const char *v) {
    if (s->type == ARG_POLICY) return err_setf(err, ERR_INVALID, "%s must be fcfs or lpm, got '%s'", s->flag, v);
    if (s->type == ARG_LOGLEVEL)
        return err_setf(err, ERR_INVALID, "%s must be debug|info|warning|error, got '%s'", s->flag, v);
    if (s->type == ARG_U64) return err_setf(err, ERR_INVALID, "%s must be a non-negative integer, got '%s'", s->flag, v);
    if (s->type == ARG_F64)
        return err_setf(err, ERR_INVALID, "%s must be a number in [%g, %g], got '%s'", s->flag, s->lo, s->hi, v);
    if (s->type == ARG_STR) return err_setf(err, ERR_INVALID, "%s must not be empty", s->flag);
    return err_setf(err, ERR_INVALID, "%s must be an integer in [%.0f, %.0f], got '%s'", s->flag, s->lo, s->hi, v);
}

static int set_value(struct server_args *a, const struct arg_spec *s, const char *v, struct sgl_err *err) {
    char *field = (char *)a + s->offset;
    char *end;
    errno = 0;
    switch (s->type) {
    case ARG_STR:
        if (!*v) return bad_value(err, s, v);
        *(const char **)field = v;
        return 0;
    case ARG_I32:
    case ARG_I64: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno || (double)x < s->lo || (double)x > s->hi) return bad_value(err, s, v);
        if (s->type == ARG_I32) *(int32_t *)field = (int32_t)x;
        else *(int64_t *)field = (int64_t)x;
        return 0;
    }
    case ARG_U64: {
        if (!*v || *v == '-') return bad_value(err, s, v);
        unsigned long long x = strtoull(v, &end, 10);
        if (*end || errno) return bad_value(err, s, v);
        *(uint64_t *)field = (uint64_t)x;
        return 0;
    }
    case ARG_F64: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x) || x < s->lo || x > s->hi) return bad_value(err, s, v);
        *(double *)field = x;
        return 0;
    }
    case ARG_POLICY:
        if (!strcmp(v, "fcfs")) *(enum schedule_policy *)field = SCHEDULE_POLICY_FCFS;
        else if (!strcmp(v, "lpm")) *(enum schedule_policy *)field = SCHEDULE_POLICY_LPM;
        else return bad_value(err, s, v);
        return 0;
    case ARG_LOGLEVEL: {
        int lvl = log_parse_level(v);
        if (lvl < 0) return bad_value(err, s, v);
        *(int *)field = lvl;
        return 0;
    }
    case ARG_FLAG:
        break;
    }
    return bad_value(err, s, v);
}

int server_args_parse(struct server_args *a, int argc, char **argv, FILE *out, struct sgl_err *err) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            server_args_usage(out);
            return 1;
        }
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct arg_spec *s = NULL;
        for (size_t k = 0; k < sizeof g_specs / sizeof g_specs[0]; k++)
            if (strlen(g_specs[k].flag) == name_len && !strncmp(g_specs[k].flag, arg, name_len)) s = &g_specs[k];
        if (!s) return err_setf(err, ERR_INVALID, "unrecognized argument '%.*s' (see --help)", (int)name_len, arg);
        if (s->type == ARG_FLAG) {
            if (eq) return err_setf(err, ERR_INVALID, "%s takes no value", s->flag);
            *(bool *)((char *)a + s->offset) = true;
            continue;
        }
        const char *v;
        if (eq) v = eq + 1;
        else if (i + 1 < argc) v = argv[++i];
        else return err_setf(err, ERR_INVALID, "%s needs a value", s->flag);
        int rc = set_value(a, s, v, err);
        if (rc) return rc;
    }
    return 0;
}

static const char *policy_name(enum schedule_policy p) { return p == SCHEDULE_POLICY_LPM ? "lpm" : "fcfs"; }
static const char *level_name(int l) {
    static const char *const names[] = {"debug", "info", "warning", "error", "off"};
    return l >= 0 && l <= LOG_LEVEL_OFF ? names[l] : "info";
}

int server_args_to_json(const struct server_args *a, cJSON *obj) {
    for (size_t k = 0; k < sizeof g_specs / sizeof g_specs[0]; k++) {
        const struct arg_spec *s = &g_specs[k];
        const char *field = (const char *)a + s->offset;
        cJSON *v = NULL;
        switch (s->type) {
        case ARG_STR: {
            const char *str = *(const char *const *)field;
            if (!strcmp(s->json, "api_key")) v = cJSON_CreateBool(str != NULL);
            else v = str ? cJSON_CreateString(str) : cJSON_CreateNull();
            break;
        }
        case ARG_I32: v = cJSON_CreateNumber(*(const int32_t *)field); break;
        case ARG_I64: v = cJSON_CreateNumber((double)*(const int64_t *)field); break;
        case ARG_U64: v = cJSON_CreateNumber((double)*(const uint64_t *)field); break;
        case ARG_F64: v = cJSON_CreateNumber(*(const double *)field); break;
        case ARG_FLAG: v = cJSON_CreateBool(*(const bool *)field); break;
        case ARG_POLICY: v = cJSON_CreateString(policy_name(*(const enum schedule_policy *)field)); break;
        case ARG_LOGLEVEL: v = cJSON_CreateString(level_name(*(const int *)field)); break;
        }
        if (!v || !cJSON_AddItemToObject(obj, s->json, v)) {
            cJSON_Delete(v);
            return ERR_NOMEM;
        }
    }
    return 0;
}
