/* server: start-up, shutdown and the router of `sglc serve` (see server.h).
 *
 * Routing, authentication (Bearer --api-key; /health*, /metrics exempt) and
 * the small endpoints (health, model cards, server info, tokenize,
 * detokenize, flush_cache, abort_request, metrics) live here; generation
 * endpoints are in serving.c. Every handler runs on the HTTP I/O thread while
 * holding s->life_mu, which shutdown takes to flip `stopping` before it destroys
 * the engine, so no handler can reach a dead engine.
 *
 * Shutdown order: stop accepting -> mark stopping -> destroy the engine (every
 * unfinished request gets its final "abort" event) -> close the HTTP server
 * (connections complete, jobs are freed) -> free model and template. */
#include "server/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "managers/engine.h"
#include "models/default_model.h"
#include "models/model.h"
#include "server/metrics.h"
#include "server/server_internal.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

#define SGLC_VERSION "0.1.0"

/* ---- helpers ---- */

void server_respond_json(struct http_request *req, int status, struct jsonw *w) {
    if (w->oom) {
        http_respond(req, 500, "application/json",
                     "{\"object\":\"error\",\"message\":\"out of memory\",\"type\":\"InternalServerError\","
                     "\"param\":null,\"code\":500}",
                     105);
        return;
    }
    http_respond(req, status, "application/json", w->buf ? w->buf : "", w->len);
}

void server_respond_error(struct http_request *req, const struct protocol_error *err) {
    struct jsonw w;
    jsonw_init(&w);
    protocol_error_json(err, &w);
    server_respond_json(req, err->status, &w);
    jsonw_free(&w);
}

static void respond_fail(struct http_request *req, int status, const char *param, const char *msg) {
    struct protocol_error e;
    protocol_fail(&e, status, param, "%s", msg);
    server_respond_error(req, &e);
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void server_new_id(struct server *s, char *buf) {
    uint64_t n = atomic_fetch_add(&s->id_counter, 1);
    uint64_t a = splitmix64(s->id_salt ^ n), b = splitmix64(a ^ 0x5851F42D4C957F2Dull);
    snprintf(buf, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

static bool path_is(const char *path, const char *p) { return strcmp(path, p) == 0; }

/* ---- small endpoints ---- */

static void model_card(struct server *s, struct jsonw *w) {
    jsonw_lit(w, "{\"id\":");
    jsonw_cstr_str(w, s->served_name);
    jsonw_lit(w, ",\"object\":\"model\",\"created\":");
    jsonw_int(w, (int64_t)s->start_time);
    jsonw_lit(w, ",\"owned_by\":\"sglang\",\"root\":");
    jsonw_cstr_str(w, s->served_name);
    jsonw_lit(w, ",\"parent\":null,\"max_model_len\":");
    jsonw_int(w, s->context_length);
    jsonw_raw(w, "}", 1);
}

static void handle_models(struct server *s, const struct http_request_view *rv) {
    struct jsonw w;
    jsonw_init(&w);
    if (path_is(rv->path, "/v1/models")) {
        jsonw_lit(&w, "{\"object\":\"list\",\"data\":[");
        model_card(s, &w);
        jsonw_lit(&w, "]}");
        server_respond_json(rv->req, 200, &w);
    } else {
        const char *id = rv->path + strlen("/v1/models/");
        if (strcmp(id, s->served_name) == 0) {
            model_card(s, &w);
            server_respond_json(rv->req, 200, &w);
        } else {
            struct protocol_error e;
            protocol_fail(&e, 404, "model", "The model `%.200s` does not exist.", id);
            server_respond_error(rv->req, &e);
        }
    }
    jsonw_free(&w);
}

static void handle_model_info(struct server *s, const struct http_request_view *rv) {
    struct jsonw w;
    jsonw_init(&w);
    const char *mp = s->args.model_path ? s->args.model_path : DEFAULT_MODEL_NAME;
    jsonw_lit(&w, "{\"model_path\":");
    jsonw_cstr_str(&w, mp);
    jsonw_lit(&w, ",\"tokenizer_path\":");
    jsonw_cstr_str(&w, s->args.tokenizer_path ? s->args.tokenizer_path : mp);
    jsonw_lit(&w, ",\"served_model_name\":");
    jsonw_cstr_str(&w, s->served_name);
    jsonw_lit(&w, ",\"is_generation\":true,\"preferred_sampling_params\":null,\"architecture\":");
    jsonw_cstr_str(&w, s->model->cfg.arch_name);
    jsonw_lit(&w, ",\"context_length\":");
    jsonw_int(&w, s->context_length);
    jsonw_lit(&w, ",\"vocab_size\":");
    jsonw_int(&w, s->lim.vocab_size);
    jsonw_lit(&w, ",\"has_chat_template\":");
    jsonw_bool(&w, s->tpl != NULL);
    jsonw_raw(&w, "}", 1);
    server_respond_json(rv->req, 200, &w);
    jsonw_free(&w);
}

static void handle_server_info(struct server *s, const struct http_request_view *rv) {
    struct engine_stats st;
    engine_get_stats(s->engine, &st);
    cJSON *o = cJSON_CreateObject();
    bool ok = o && server_args_to_json(&s->args, o) == 0;
    cJSON *is = ok ? cJSON_CreateObject() : NULL;
    if (is) {
        cJSON_AddNumberToObject(is, "num_running_reqs", st.running_requests);
        cJSON_AddNumberToObject(is, "num_queue_reqs", st.queued_requests);
        cJSON_AddNumberToObject(is, "kv_total_tokens", (double)st.kv_total_tokens);
        cJSON_AddNumberToObject(is, "kv_used_tokens", (double)st.kv_used_tokens);
        cJSON_AddNumberToObject(is, "kv_evictable_tokens", (double)st.kv_evictable_tokens);
        /* kv_used_tokens: held by requests; evictable: prefix-cache entries nobody holds */
        cJSON_AddNumberToObject(is, "kv_free_tokens",
                                (double)(st.kv_total_tokens - st.kv_used_tokens - st.kv_evictable_tokens));
        cJSON_AddNumberToObject(is, "kv_available_tokens", (double)(st.kv_total_tokens - st.kv_used_tokens));
        cJSON_AddNumberToObject(is, "prompt_tokens_total", (double)st.prompt_tokens_total);
        cJSON_AddNumberToObject(is, "generation_tokens_total", (double)st.generation_tokens_total);
        cJSON_AddNumberToObject(is, "cached_tokens_total", (double)st.cached_tokens_total);
        cJSON_AddNumberToObject(is, "requests_finished_total", (double)st.requests_finished_total);
        cJSON_AddNumberToObject(is, "max_total_num_tokens", (double)st.max_total_tokens);
        cJSON_AddNumberToObject(is, "max_running_requests", st.max_running_requests);
        cJSON_AddNumberToObject(is, "context_length", (double)st.context_length);
        cJSON *arr = cJSON_AddArrayToObject(o, "internal_states");
        ok = arr && cJSON_AddItemToArray(arr, is);
        if (!ok) cJSON_Delete(is);
        cJSON_AddNumberToObject(o, "max_total_num_tokens", (double)st.max_total_tokens);
        cJSON_AddStringToObject(o, "version", SGLC_VERSION);
    } else {
        ok = false;
    }
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (text) http_respond(rv->req, 200, "application/json", text, strlen(text));
    else respond_fail(rv->req, 500, NULL, "out of memory");
    free(text);
}

static void handle_tokenize(struct server *s, const struct http_request_view *rv) {
    struct protocol_request r;
    struct protocol_error e = {0};
    if (protocol_parse_tokenize(rv->body, rv->body_len, &r, &e)) {
        server_respond_error(rv->req, &e);
        return;
    }
    int32_t *ids = NULL;
    int32_t n = 0;
    int rc = 0;
    if (r.messages) {
        rc = serving_chat_prompt(s, &r, &ids, &n, &e);
    } else {
        size_t cnt = 0;
        struct sgl_err se = {{0}};
        rc = tokenizer_encode(s->tok, r.prompts[0].text, r.prompts[0].text_len, r.add_special_tokens, &ids, &cnt, &se);
        if (rc) protocol_fail(&e, 400, "prompt", "tokenization failed: %s", se.msg);
        n = (int32_t)cnt;
    }
    if (!rc) {
        struct jsonw w;
        jsonw_init(&w);
        jsonw_lit(&w, "{\"tokens\":[");
        for (int32_t i = 0; i < n; i++) {
            if (i) jsonw_raw(&w, ",", 1);
            jsonw_int(&w, ids[i]);
        }
        jsonw_lit(&w, "],\"count\":");
        jsonw_int(&w, n);
        jsonw_lit(&w, ",\"max_model_len\":");
        jsonw_int(&w, s->context_length);
        jsonw_raw(&w, "}", 1);
        server_respond_json(rv->req, 200, &w);
        jsonw_free(&w);
    } else {
        server_respond_error(rv->req, &e);
    }
    free(ids);
    protocol_request_free(&r);
}

static void handle_detokenize(struct server *s, const struct http_request_view *rv) {
    struct protocol_request r;
    struct protocol_error e = {0};
    if (protocol_parse_detokenize(rv->body, rv->body_len, &s->lim, &r, &e)) {
        server_respond_error(rv->req, &e);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    struct sgl_err se = {{0}};
    if (tokenizer_decode(s->tok, r.prompts[0].ids, (size_t)r.prompts[0].n_ids, false, &text, &len, &se)) {
        protocol_fail(&e, 400, "tokens", "detokenization failed: %s", se.msg);
        server_respond_error(rv->req, &e);
    } else {
        struct jsonw w;
        jsonw_init(&w);
        jsonw_lit(&w, "{\"text\":");
        jsonw_str(&w, text ? text : "", len);
        jsonw_raw(&w, "}", 1);
        server_respond_json(rv->req, 200, &w);
        jsonw_free(&w);
    }
    free(text);
    protocol_request_free(&r);
}

static void handle_flush_cache(struct server *s, const struct http_request_view *rv) {
    struct sgl_err e = {{0}};
    if (engine_flush_cache(s->engine, &e)) {
        char msg[600];
        snprintf(msg, sizeof msg, "Cache not flushed: %s", e.msg[0] ? e.msg : "requests are running");
        respond_fail(rv->req, 400, NULL, msg);
        return;
    }
    static const char ok[] = "{\"success\":true,\"message\":\"Cache flushed.\"}";
    http_respond(rv->req, 200, "application/json", ok, sizeof ok - 1);
}

static void handle_abort(struct server *s, const struct http_request_view *rv) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(rv->body, rv->body_len, &end, 0);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        respond_fail(rv->req, 400, NULL, "The request body must be a JSON object");
        return;
    }
    const char *rid = json_get_string(root, "rid");
    bool all = false;
    json_get_bool(root, "abort_all", &all);
    if (!rid && !all) {
        cJSON_Delete(root);
        respond_fail(rv->req, 400, "rid", "'rid' (a string) or 'abort_all': true is required");
        return;
    }
    int n = serving_abort(s, rid, all);
    cJSON_Delete(root);
    struct jsonw w;
    jsonw_init(&w);
    jsonw_lit(&w, "{\"aborted\":");
    jsonw_int(&w, n);
    jsonw_raw(&w, "}", 1);
    server_respond_json(rv->req, 200, &w);
    jsonw_free(&w);
}

static void handle_metrics(struct server *s, const struct http_request_view *rv) {
    struct engine_stats st;
    engine_get_stats(s->engine, &st);
    struct jsonw w;
    jsonw_init(&w);
    metrics_render(s->metrics, &st, &w);
    if (w.oom) respond_fail(rv->req, 500, NULL, "out of memory");
    else http_respond(rv->req, 200, "text/plain; version=0.0.4; charset=utf-8", w.buf ? w.buf : "", w.len);
    jsonw_free(&w);
}

/* ---- router ---- */

static bool authorized(struct server *s, const struct http_request_view *rv) {
    if (!s->args.api_key) return true;
    if (!strncmp(rv->path, "/health", 7) || path_is(rv->path, "/metrics")) return true;
    const char *h = http_request_header(rv->req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h), k = strlen(s->args.api_key);
    unsigned char diff = (unsigned char)(n != k);
    for (size_t i = 0; i < n && i < k; i++) diff |= (unsigned char)(h[i] ^ s->args.api_key[i]);
    return diff == 0;
}

static bool json_content_type(const struct http_request_view *rv) {
    const char *ct = http_request_header(rv->req, "Content-Type");
    if (!ct) return true;
    while (*ct == ' ') ct++;
    size_t n = strcspn(ct, "; ");
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

enum route_id {
    R_HEALTH, R_HEALTH_GENERATE, R_MODEL_INFO, R_SERVER_INFO, R_MODELS, R_MODEL, R_COMPLETIONS, R_CHAT, R_GENERATE,
    R_TOKENIZE, R_DETOKENIZE, R_FLUSH, R_ABORT, R_METRICS
};

struct route {
    const char *path; /* exact, or a prefix when ending in '/' */
    enum route_id id;
    const char *methods; /* "GET", "POST", "GET, POST", ... */
};

static const struct route g_routes[] = {
    {"/health", R_HEALTH, "GET, HEAD"},
    {"/health_generate", R_HEALTH_GENERATE, "GET"},
    {"/get_model_info", R_MODEL_INFO, "GET"},
    {"/get_server_info", R_SERVER_INFO, "GET"},
    {"/v1/models", R_MODELS, "GET"},
    {"/v1/models/", R_MODEL, "GET"},
    {"/v1/completions", R_COMPLETIONS, "POST"},
    {"/v1/chat/completions", R_CHAT, "POST"},
    {"/generate", R_GENERATE, "POST, PUT"},
    {"/tokenize", R_TOKENIZE, "POST"},
    {"/detokenize", R_DETOKENIZE, "POST"},
    {"/flush_cache", R_FLUSH, "GET, POST"},
    {"/abort_request", R_ABORT, "POST"},
    {"/metrics", R_METRICS, "GET"},
};

static bool method_allowed(const char *methods, const char *m) {
    size_t n = strlen(m);
    for (const char *p = methods; (p = strstr(p, m)); p += n)
        if ((p == methods || p[-1] == ' ') && (p[n] == 0 || p[n] == ',')) return true;
    return false;
}

static void dispatch(struct server *s, const struct http_request_view *rv) {
    const struct route *rt = NULL;
    for (size_t i = 0; i < sizeof g_routes / sizeof g_routes[0] && !rt; i++) {
        size_t n = strlen(g_routes[i].path);
        if (g_routes[i].path[n - 1] == '/' ? strncmp(rv->path, g_routes[i].path, n) == 0 && rv->path[n]
                                           : path_is(rv->path, g_routes[i].path))
            rt = &g_routes[i];
    }
    if (!rt || (rt->id == R_METRICS && !s->metrics)) {
        respond_fail(rv->req, 404, NULL, "Not Found");
        return;
    }
    if (!authorized(s, rv)) {
        respond_fail(rv->req, 401, NULL, "Unauthorized: a valid 'Authorization: Bearer <api key>' header is required");
        return;
    }
    if (!method_allowed(rt->methods, rv->method)) {
        struct jsonw w;
        jsonw_init(&w);
        struct protocol_error e;
        protocol_fail(&e, 405, NULL, "Method Not Allowed");
        protocol_error_json(&e, &w);
        http_respond_with_header(rv->req, 405, "application/json", w.buf ? w.buf : "", w.len, "Allow", rt->methods);
        jsonw_free(&w);
        return;
    }
    if ((rt->id == R_COMPLETIONS || rt->id == R_CHAT) && !json_content_type(rv)) {
        respond_fail(rv->req, 400, NULL, "Unsupported Media Type: Only 'application/json' is allowed");
        return;
    }
    switch (rt->id) {
    case R_HEALTH: http_respond(rv->req, 200, "text/plain", "", 0); break;
    case R_HEALTH_GENERATE: serving_handle_health_generate(s, rv); break;
    case R_MODEL_INFO: handle_model_info(s, rv); break;
    case R_SERVER_INFO: handle_server_info(s, rv); break;
    case R_MODELS:
    case R_MODEL: handle_models(s, rv); break;
    case R_COMPLETIONS: serving_handle_generate(s, rv, PROTOCOL_COMPLETIONS); break;
    case R_CHAT: serving_handle_generate(s, rv, PROTOCOL_CHAT); break;
    case R_GENERATE: serving_handle_generate(s, rv, PROTOCOL_GENERATE); break;
    case R_TOKENIZE: handle_tokenize(s, rv); break;
    case R_DETOKENIZE: handle_detokenize(s, rv); break;
    case R_FLUSH: handle_flush_cache(s, rv); break;
    case R_ABORT: handle_abort(s, rv); break;
    case R_METRICS: handle_metrics(s, rv); break;
    }
}

static void on_http_request(void *user, const struct http_request_view *rv) {
    struct server *s = user;
    double t0 = clock_now_s();
    pthread_mutex_lock(&s->life_mu);
    if (s->stopping) respond_fail(rv->req, 503, NULL, "The server is shutting down");
    else dispatch(s, rv);
    pthread_mutex_unlock(&s->life_mu);
    if (s->args.log_requests) LOG_INFO("%s %s (%zu bytes) handled in %.1f ms", rv->method, rv->path, rv->body_len,
                                       (clock_now_s() - t0) * 1e3);
}

static void on_too_large(void *user, struct jsonw *out) {
    struct server *s = user;
    struct protocol_error e;
    protocol_fail(&e, 413, NULL, "Request body too large (limit %lld bytes)", (long long)s->args.max_body_bytes);
    protocol_error_json(&e, out);
}

bool server_engine_alive(struct server *s) {
    pthread_mutex_lock(&s->life_mu);
    bool alive = !s->stopping;
    pthread_mutex_unlock(&s->life_mu);
    return alive;
}

/* ---- start-up ---- */

static int load_chat_template(struct server *s, struct sgl_err *err) {
    const char *src = NULL;
    char *file_src = NULL;
    size_t len = 0;
    if (s->args.chat_template) {
        FILE *f = fopen(s->args.chat_template, "rb");
        if (!f) return err_setf(err, ERR_IO, "cannot open chat template '%s': %s", s->args.chat_template, strerror(errno));
        size_t cap = 4096;
        file_src = malloc(cap);
        size_t r;
        while (file_src && (r = fread(file_src + len, 1, cap - len, f)) > 0) {
            len += r;
            if (len == cap) {
                char *nb = cap < (64u << 20) ? realloc(file_src, cap * 2) : NULL;
                if (!nb) {
                    free(file_src);
                    file_src = NULL;
                    break;
                }
                file_src = nb;
                cap *= 2;
            }
        }
        fclose(f);
        if (!file_src) return err_setf(err, ERR_NOMEM, "cannot read chat template '%s'", s->args.chat_template);
        src = file_src;
    } else {
        src = tokenizer_chat_template(s->tok);
        len = src ? strlen(src) : 0;
    }
    if (!src) {
        LOG_INFO("the model has no chat template: /v1/chat/completions needs --chat-template");
        return 0;
    }
    int rc = chat_template_compile(src, len, &s->tpl, err);
    free(file_src);
    if (rc) {
        if (s->args.chat_template) {
            err_prefix(err, s->args.chat_template);
            return rc;
        }
        LOG_WARN("the model's chat template does not compile (%s); chat completions are disabled", err->msg);
        s->tpl = NULL;
    }
    return 0;
}

/* Sizes the KV cache from --mem-fraction-static when --max-total-tokens is not given. */
static int64_t kv_tokens_from_memory(const struct server *s) {
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0) return 0;
    const struct model_config *c = &s->model->cfg;
    double per_token = 2.0 * (double)c->n_layers * (double)c->n_kv_heads * (double)c->head_dim * sizeof(float);
    double tokens = (double)pages * (double)psz * s->args.mem_fraction_static / (per_token > 0 ? per_token : 1);
    return tokens > (double)(1 << 26) ? (1 << 26) : (int64_t)tokens;
}

int server_create(const struct server_args *args, struct server **out, struct sgl_err *err) {
    *out = NULL;
    struct server *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->life_mu, NULL);
    pthread_mutex_init(&s->jobs_mu, NULL);
    s->args = *args;
    s->start_time = (double)time(NULL);
    if (getrandom(&s->id_salt, sizeof s->id_salt, 0) != (ssize_t)sizeof s->id_salt)
        s->id_salt = (uint64_t)clock_now_ns() ^ (uint64_t)getpid() << 32;
    atomic_init(&s->id_counter, 0);
    int rc;

    double t0 = clock_now_s();
    if (args->model_path) {
        struct model_load_opts mo = {
            .tokenizer_path = args->tokenizer_path,
            .dtype = args->dtype,
            .quantization = args->quantization,
            .kv_cache_dtype = args->kv_cache_dtype};
        rc = model_load(args->model_path, &mo, &s->model, err);
    } else {
        struct model_load_opts mo = {
            .dtype = args->dtype, .quantization = args->quantization, .kv_cache_dtype = args->kv_cache_dtype};
        rc = model_load_default(&mo, &s->model, err);
    }
    if (rc) goto fail;
    s->tok = s->model->tok;
    s->served_name = args->served_model_name ? args->served_model_name
                     : args->model_path      ? args->model_path
                                             : DEFAULT_MODEL_NAME;
    s->context_length = args->context_length > 0 ? args->context_length
                        : args->model_path        ? s->model->cfg.max_position_embeddings
                                                  : DEFAULT_MODEL_CONTEXT_LENGTH;
    if (s->context_length <= 1) s->context_length = 2048;
    protocol_limits_init(&s->lim, tokenizer_vocab_size(s->tok) > (int32_t)s->model->cfg.vocab_size
                                      ? tokenizer_vocab_size(s->tok)
                                      : (int32_t)s->model->cfg.vocab_size);
    /* ids the model cannot embed are rejected */
    if (s->model->cfg.vocab_size > 0 && s->lim.vocab_size > s->model->cfg.vocab_size)
        s->lim.vocab_size = (int32_t)s->model->cfg.vocab_size;
    LOG_INFO("loaded %s (%s, vocab %d, context %lld) in %.2f s", s->served_name, s->model->cfg.arch_name,
             (int)s->lim.vocab_size, (long long)s->context_length, clock_now_s() - t0);

    if ((rc = load_chat_template(s, err))) goto fail;
    if (args->enable_metrics && !(s->metrics = metrics_create(s->served_name))) {
        rc = err_setf(err, ERR_NOMEM, "out of memory");
        goto fail;
    }

    struct engine_config ec;
    engine_config_init(&ec);
    ec.max_total_tokens = args->max_total_tokens;
    if (ec.max_total_tokens <= 0 && args->mem_fraction_static > 0) ec.max_total_tokens = kv_tokens_from_memory(s);
    ec.page_size = args->page_size;
    ec.max_running_requests = args->max_running_requests;
    ec.max_prefill_tokens = args->max_prefill_tokens;
    ec.chunked_prefill_size = args->chunked_prefill_size;
    ec.context_length = s->context_length;
    ec.schedule_policy = args->schedule_policy;
    ec.disable_radix_cache = args->disable_radix_cache;
    ec.enable_mixed_chunk = args->enable_mixed_chunk;
    ec.random_seed = args->random_seed;
    ec.threads = args->threads;
    ec.stream_interval = args->stream_interval;
    if ((rc = engine_create(&ec, s->model, &s->engine, err))) goto fail;

    struct http_server_opts ho = {
        .host = args->host,
        .port = args->port,
        .max_body_bytes = (size_t)args->max_body_bytes,
        .max_header_bytes = (size_t)args->max_header_bytes,
        .timeout_s = (unsigned)args->connection_timeout_s,
        .max_connections = (unsigned)args->max_connections,
        .handler = on_http_request,
        .user = s,
        .too_large = on_too_large,
    };
    if ((rc = http_server_create(&ho, &s->http, err))) goto fail;
    *out = s;
    return 0;
fail:
    server_destroy(s);
    return rc;
}

int server_port(const struct server *s) { return http_server_port(s->http); }

void server_destroy(struct server *s) {
    if (!s) return;
    if (s->http) http_server_quiesce(s->http);
    pthread_mutex_lock(&s->life_mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->life_mu);
    engine_destroy(s->engine);
    s->engine = NULL;
    http_server_destroy(s->http);
    metrics_destroy(s->metrics);
    chat_template_destroy(s->tpl);
    model_destroy(s->model);
    pthread_mutex_destroy(&s->jobs_mu);
    pthread_mutex_destroy(&s->life_mu);
    free(s);
}
