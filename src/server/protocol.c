/* protocol: request parsing and validation (see protocol.h).
 *
 * The body is parsed with cJSON (its nesting limit turns deeply nested input
 * into a clean parse error), then each known field is type- and range-checked
 * into struct protocol_request. Range messages follow SGLang's wording where
 * SGLang has one ("temperature must be non-negative", "top_p must be in
 * (0, 1]", ...). Every allocation is owned by the request being filled; on
 * any failure the partial request is freed before returning. */
#include "server/protocol.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#define MAX_STOP_LEN 4096
#define MAX_RID_LEN 64

void protocol_limits_init(struct protocol_limits *lim, int32_t vocab_size) {
    lim->vocab_size = vocab_size;
    lim->max_n = 128;
    lim->max_stop = 16;
    lim->max_top_logprobs = 20;
    lim->max_batch = 4096;
}

int protocol_fail(struct protocol_error *err, int status, const char *param, const char *fmt, ...) {
    if (err) {
        err->status = status;
        snprintf(err->param, sizeof err->param, "%s", param ? param : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return ERR_INVALID;
}

const char *protocol_error_type(int status) {
    switch (status) {
    case 400: return "BadRequestError";
    case 401: return "AuthenticationError";
    case 403: return "PermissionDeniedError";
    case 404: return "NotFoundError";
    case 405: return "MethodNotAllowedError";
    case 413: return "RequestTooLargeError";
    case 422: return "UnprocessableEntityError";
    case 429: return "RateLimitError";
    case 503: return "ServiceUnavailableError";
    default: return status >= 500 ? "InternalServerError" : "BadRequestError";
    }
}

/* "message":..,"type":..,"param":..,"code":N */
static void error_fields(const struct protocol_error *err, struct jsonw *w) {
    jsonw_lit(w, "\"message\":");
    jsonw_cstr_str(w, err->message);
    jsonw_lit(w, ",\"type\":");
    jsonw_cstr_str(w, protocol_error_type(err->status));
    jsonw_lit(w, ",\"param\":");
    if (err->param[0]) jsonw_cstr_str(w, err->param);
    else jsonw_lit(w, "null");
    jsonw_lit(w, ",\"code\":");
    jsonw_int(w, err->status);
}

void protocol_error_json_inner(const struct protocol_error *err, struct jsonw *w) {
    jsonw_raw(w, "{", 1);
    error_fields(err, w);
    jsonw_raw(w, "}", 1);
}

void protocol_error_json(const struct protocol_error *err, struct jsonw *w) {
    jsonw_lit(w, "{\"object\":\"error\",");
    error_fields(err, w);
    jsonw_lit(w, ",\"error\":{");
    error_fields(err, w);
    jsonw_lit(w, "}}");
}

static int oom(struct protocol_error *err) {
    protocol_fail(err, 500, NULL, "out of memory");
    return ERR_NOMEM;
}

/* ---- typed field getters: 0 = ok (or absent), ERR_INVALID with err filled ---- */

/* The member, or NULL when absent or JSON null. */
static const cJSON *field(const cJSON *obj, const char *key) {
    const cJSON *v = json_get(obj, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int get_bool(const cJSON *obj, const char *key, bool *out, bool *set, struct protocol_error *err) {
    const cJSON *v = field(obj, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return protocol_fail(err, 400, key, "'%s' must be a boolean", key);
    *out = cJSON_IsTrue(v);
    if (set) *set = true;
    return 0;
}

static int get_number(const cJSON *obj, const char *key, double *out, bool *set, struct protocol_error *err) {
    const cJSON *v = field(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return protocol_fail(err, 400, key, "'%s' must be a number", key);
    *out = v->valuedouble;
    if (set) *set = true;
    return 0;
}

static bool is_int_value(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi) return false;
    *out = (int64_t)d;
    return true;
}

#define INT53 9007199254740992LL

static int get_int(const cJSON *obj, const char *key, int64_t lo, int64_t hi, int64_t *out, bool *set,
                   struct protocol_error *err) {
    const cJSON *v = field(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble))
        return protocol_fail(err, 400, key, "'%s' must be an integer", key);
    int64_t x;
    if (!is_int_value(v, lo, hi, &x))
        return protocol_fail(err, 400, key, "'%s' must be in [%lld, %lld], got %.17g", key, (long long)lo,
                             (long long)hi, v->valuedouble);
    *out = x;
    if (set) *set = true;
    return 0;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* Token id list: a JSON array of integers in [0, vocab). */
static int parse_ids(const cJSON *arr, const char *key, int32_t vocab, bool allow_empty, int32_t **ids, int32_t *n,
                     struct protocol_error *err) {
    int cnt = cJSON_GetArraySize(arr);
    if (cnt == 0 && !allow_empty) return protocol_fail(err, 400, key, "'%s' must not be empty", key);
    int32_t *v = malloc(((size_t)cnt + 1) * sizeof *v);
    if (!v) return oom(err);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        int64_t x;
        if (!is_int_value(it, INT32_MIN, INT32_MAX, &x)) {
            free(v);
            return protocol_fail(err, 400, key, "'%s' must be a list of integer token ids", key);
        }
        if (x < 0 || x >= vocab) {
            free(v);
            return protocol_fail(err, 400, key, "Token id %lld in '%s' is out of range [0, %d)", (long long)x, key,
                                 (int)vocab);
        }
        v[i++] = (int32_t)x;
    }
    *ids = v;
    *n = i;
    return 0;
}

/* ---- generation parameters ---- */

static void gen_params_free(struct protocol_gen_params *p) {
    free(p->logit_bias);
    for (int32_t i = 0; i < p->n_stop; i++) free(p->stop[i]);
    free(p->stop);
    free(p->stop_token_ids);
    memset(p, 0, sizeof *p);
}

static int parse_stop(const cJSON *v, const struct protocol_limits *lim, struct protocol_gen_params *p,
                      struct protocol_error *err) {
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return 0;
        if (strlen(v->valuestring) > MAX_STOP_LEN)
            return protocol_fail(err, 400, "stop", "stop strings must be at most %d bytes", MAX_STOP_LEN);
        p->stop = malloc(sizeof *p->stop);
        if (!p->stop || !(p->stop[0] = strdup(v->valuestring))) return oom(err);
        p->n_stop = 1;
        return 0;
    }
    if (!cJSON_IsArray(v)) return protocol_fail(err, 400, "stop", "'stop' must be a string or a list of strings");
    int cnt = cJSON_GetArraySize(v);
    if (cnt > lim->max_stop)
        return protocol_fail(err, 400, "stop", "'stop' may hold at most %d strings, got %d", lim->max_stop, cnt);
    p->stop = calloc((size_t)cnt + 1, sizeof *p->stop);
    if (!p->stop) return oom(err);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) return protocol_fail(err, 400, "stop", "'stop' must be a string or a list of strings");
        if (!it->valuestring[0]) continue;
        if (strlen(it->valuestring) > MAX_STOP_LEN)
            return protocol_fail(err, 400, "stop", "stop strings must be at most %d bytes", MAX_STOP_LEN);
        if (!(p->stop[p->n_stop] = strdup(it->valuestring))) return oom(err);
        p->n_stop++;
    }
    return 0;
}

static int parse_logit_bias(const cJSON *v, const struct protocol_limits *lim, struct protocol_gen_params *p,
                            struct protocol_error *err) {
    if (!cJSON_IsObject(v))
        return protocol_fail(err, 400, "logit_bias", "'logit_bias' must be an object mapping token ids to numbers");
    int cnt = cJSON_GetArraySize(v);
    if (cnt > 1024) return protocol_fail(err, 400, "logit_bias", "'logit_bias' may hold at most 1024 entries");
    p->logit_bias = calloc((size_t)cnt + 1, sizeof *p->logit_bias);
    if (!p->logit_bias) return oom(err);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        const char *k = it->string;
        char *end;
        long long id = k && *k ? strtoll(k, &end, 10) : -1;
        if (!k || !*k || *end || id < 0 || id >= lim->vocab_size)
            return protocol_fail(err, 400, "logit_bias", "logit_bias key '%.64s' is not a token id in [0, %d)",
                                 k ? k : "", (int)lim->vocab_size);
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < -100 || it->valuedouble > 100)
            return protocol_fail(err, 400, "logit_bias", "logit_bias values must be numbers in [-100, 100]");
        p->logit_bias[p->n_logit_bias].token = (int32_t)id;
        p->logit_bias[p->n_logit_bias].bias = (float)it->valuedouble;
        p->n_logit_bias++;
    }
    p->sp.logit_bias = p->logit_bias;
    p->sp.n_logit_bias = p->n_logit_bias;
    return 0;
}

/* obj: the OpenAI request (top level) or a native sampling_params object. */
static int parse_gen_params(const cJSON *obj, enum protocol_kind kind, const struct protocol_limits *lim,
                            struct protocol_gen_params *p, struct protocol_error *err) {
    bool native = kind == PROTOCOL_GENERATE;
    memset(p, 0, sizeof *p);
    sampling_params_init(&p->sp);
    p->max_new_tokens = -1;
    p->skip_special_tokens = true;
    p->n = 1;
    int rc;
    int64_t i64;
    double d;

    i64 = 1;
    if ((rc = get_int(obj, "n", 1, lim->max_n, &i64, NULL, err))) return rc;
    p->n = (int32_t)i64;

    if (native) {
        if ((rc = get_int(obj, "max_new_tokens", 0, INT32_MAX, &p->max_new_tokens, NULL, err))) return rc;
    } else {
        const char *key = kind == PROTOCOL_CHAT && field(obj, "max_completion_tokens") ? "max_completion_tokens"
                                                                                      : "max_tokens";
        const cJSON *v = field(obj, key);
        if (v) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble))
                return protocol_fail(err, 400, key, "'%s' must be an integer", key);
            if (v->valuedouble < 1) return protocol_fail(err, 400, key, "%s must be positive", key);
            p->max_new_tokens = v->valuedouble > INT32_MAX ? INT32_MAX : (int64_t)v->valuedouble;
        }
    }
    const char *min_key = native ? "min_new_tokens" : "min_tokens";
    i64 = 0;
    if ((rc = get_int(obj, min_key, 0, INT32_MAX, &i64, NULL, err))) return rc;
    if (p->max_new_tokens >= 0 && i64 > p->max_new_tokens)
        return protocol_fail(err, 400, min_key, "%s must be in [0, max_new_tokens], got %lld", min_key,
                             (long long)i64);
    p->min_new_tokens = (int32_t)i64;

    d = p->sp.temperature;
    if ((rc = get_number(obj, "temperature", &d, &p->temperature_set, err))) return rc;
    if (d < 0) return protocol_fail(err, 400, "temperature", "temperature must be non-negative, got %g", d);
    p->sp.temperature = d > 1e30 ? 1e30f : (float)d; /* any larger temperature samples uniformly all the same */

    d = p->sp.top_p;
    if ((rc = get_number(obj, "top_p", &d, &p->top_p_set, err))) return rc;
    if (!(d > 0 && d <= 1)) return protocol_fail(err, 400, "top_p", "top_p must be in (0, 1], got %g", d);
    p->sp.top_p = (float)d;

    i64 = p->sp.top_k;
    if ((rc = get_int(obj, "top_k", -INT53, INT53, &i64, &p->top_k_set, err))) return rc;
    if (i64 < -1 || i64 == 0)
        return protocol_fail(err, 400, "top_k", "top_k must be -1 (disable), or at least 1, got %lld", (long long)i64);
    p->sp.top_k = i64 > INT32_MAX ? INT32_MAX : (int32_t)i64;

    d = p->sp.min_p;
    if ((rc = get_number(obj, "min_p", &d, &p->min_p_set, err))) return rc;
    if (!(d >= 0 && d <= 1)) return protocol_fail(err, 400, "min_p", "min_p must be in [0, 1], got %g", d);
    p->sp.min_p = (float)d;

    d = p->sp.frequency_penalty;
    if ((rc = get_number(obj, "frequency_penalty", &d, NULL, err))) return rc;
    if (!(d >= -2 && d <= 2))
        return protocol_fail(err, 400, "frequency_penalty", "frequency_penalty must be in [-2, 2], got %g", d);
    p->sp.frequency_penalty = (float)d;

    d = p->sp.presence_penalty;
    if ((rc = get_number(obj, "presence_penalty", &d, NULL, err))) return rc;
    if (!(d >= -2 && d <= 2))
        return protocol_fail(err, 400, "presence_penalty", "presence_penalty must be in [-2, 2], got %g", d);
    p->sp.presence_penalty = (float)d;

    d = p->sp.repetition_penalty;
    if ((rc = get_number(obj, "repetition_penalty", &d, &p->repetition_penalty_set, err))) return rc;
    if (!(d > 0 && d <= 2))
        return protocol_fail(err, 400, "repetition_penalty", "repetition_penalty must be in (0, 2], got %g", d);
    p->sp.repetition_penalty = (float)d;

    const char *seed_key = native && field(obj, "sampling_seed") ? "sampling_seed" : "seed";
    if ((rc = get_int(obj, seed_key, -INT53, INT53, &i64, &p->sp.has_seed, err))) return rc;
    if (p->sp.has_seed) p->sp.seed = (uint64_t)i64;

    if ((rc = get_bool(obj, "ignore_eos", &p->ignore_eos, NULL, err))) return rc;
    if ((rc = get_bool(obj, "skip_special_tokens", &p->skip_special_tokens, NULL, err))) return rc;
    if ((rc = get_bool(obj, "no_stop_trim", &p->no_stop_trim, NULL, err))) return rc;

    const cJSON *v;
    if ((v = field(obj, "stop")) && (rc = parse_stop(v, lim, p, err))) return rc;
    if ((v = field(obj, "stop_token_ids"))) {
        if (!cJSON_IsArray(v)) return protocol_fail(err, 400, "stop_token_ids", "'stop_token_ids' must be a list of integers");
        if (cJSON_GetArraySize(v) > 1024)
            return protocol_fail(err, 400, "stop_token_ids", "'stop_token_ids' may hold at most 1024 ids");
        if ((rc = parse_ids(v, "stop_token_ids", lim->vocab_size, true, &p->stop_token_ids, &p->n_stop_token_ids,
                            err)))
            return rc;
    }
    if ((v = field(obj, "logit_bias")) && (rc = parse_logit_bias(v, lim, p, err))) return rc;
    return 0;
}

/* ---- prompts ---- */

static int add_text_prompt(struct protocol_request *r, const cJSON *s) {
    struct protocol_prompt *pr = &r->prompts[r->n_prompts];
    size_t n = strlen(s->valuestring);
    if (!(pr->text = dup_n(s->valuestring, n))) return ERR_NOMEM;
    pr->text_len = n;
    r->n_prompts++;
    return 0;
}

/* v: string | [string] | [int] | [[int]]. key names the field for messages. */
static int parse_prompts(const cJSON *v, const char *key, bool allow_empty_text, const struct protocol_limits *lim,
                         struct protocol_request *r, struct protocol_error *err) {
    int rc;
    if (cJSON_IsString(v)) {
        if (!allow_empty_text && !v->valuestring[0]) return protocol_fail(err, 400, key, "The prompt is empty.");
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts || add_text_prompt(r, v)) return oom(err);
        return 0;
    }
    if (!cJSON_IsArray(v))
        return protocol_fail(err, 400, key, "'%s' must be a string, a list of strings, or token ids", key);
    int cnt = cJSON_GetArraySize(v);
    if (cnt == 0) return protocol_fail(err, 400, key, "The prompt is empty.");
    const cJSON *first = v->child;
    if (cJSON_IsNumber(first)) { /* one prompt of ids */
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts) return oom(err);
        if ((rc = parse_ids(v, key, lim->vocab_size, false, &r->prompts[0].ids, &r->prompts[0].n_ids, err))) return rc;
        r->n_prompts = 1;
        return 0;
    }
    if (cnt > lim->max_batch)
        return protocol_fail(err, 400, key, "'%s' may hold at most %d prompts", key, (int)lim->max_batch);
    r->prompts = calloc((size_t)cnt, sizeof *r->prompts);
    if (!r->prompts) return oom(err);
    r->batch = true;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (cJSON_IsString(it) && cJSON_IsString(first)) {
            if (!allow_empty_text && !it->valuestring[0]) return protocol_fail(err, 400, key, "The prompt is empty.");
            if (add_text_prompt(r, it)) return oom(err);
        } else if (cJSON_IsArray(it) && cJSON_IsArray(first)) {
            struct protocol_prompt *pr = &r->prompts[r->n_prompts];
            if ((rc = parse_ids(it, key, lim->vocab_size, false, &pr->ids, &pr->n_ids, err))) return rc;
            r->n_prompts++;
        } else {
            return protocol_fail(err, 400, key, "'%s' must be a string, a list of strings, or token ids", key);
        }
    }
    return 0;
}

/* ---- chat messages ---- */

static int copy_string_field(const cJSON *src, cJSON *dst, const char *key, struct protocol_error *err) {
    const cJSON *v = field(src, key);
    if (!v) return 0;
    if (!cJSON_IsString(v)) return protocol_fail(err, 400, "messages", "message '%s' must be a string", key);
    if (!cJSON_AddStringToObject(dst, key, v->valuestring)) return oom(err);
    return 0;
}

/* content: string | null | [{"type":"text","text":...}] -> one string. */
static int normalize_content(const cJSON *content, cJSON *dst, struct protocol_error *err) {
    if (!content) return cJSON_AddStringToObject(dst, "content", "") ? 0 : oom(err);
    if (cJSON_IsString(content))
        return cJSON_AddStringToObject(dst, "content", content->valuestring) ? 0 : oom(err);
    if (!cJSON_IsArray(content))
        return protocol_fail(err, 400, "messages", "message content must be a string or a list of content parts");
    struct jsonw text;
    jsonw_init(&text);
    const cJSON *part;
    bool firstp = true;
    cJSON_ArrayForEach(part, content) {
        const char *type = json_get_string(part, "type");
        if (!cJSON_IsObject(part) || !type) {
            jsonw_free(&text);
            return protocol_fail(err, 400, "messages", "content parts must be objects with a 'type'");
        }
        if (strcmp(type, "text") != 0) {
            jsonw_free(&text);
            return protocol_fail(err, 400, "messages", "unsupported content part type '%.64s' (only 'text')", type);
        }
        const char *t = json_get_string(part, "text");
        if (!t) {
            jsonw_free(&text);
            return protocol_fail(err, 400, "messages", "text content parts need a string 'text'");
        }
        if (!firstp) jsonw_raw(&text, "\n", 1);
        jsonw_lit(&text, t);
        firstp = false;
    }
    int rc = text.oom ? oom(err) : 0;
    if (!rc && !cJSON_AddStringToObject(dst, "content", jsonw_cstr(&text))) rc = oom(err);
    jsonw_free(&text);
    return rc;
}

/* The chat template's inputs besides messages: tools and chat_template_kwargs
 * (shared by chat completions and /tokenize with messages). */
static int parse_template_inputs(const cJSON *root, struct protocol_request *r, struct protocol_error *err) {
    const cJSON *v;
    if ((v = field(root, "tools"))) {
        if (!cJSON_IsArray(v)) return protocol_fail(err, 400, "tools", "'tools' must be a list");
        const cJSON *t;
        cJSON_ArrayForEach(t, v) if (!cJSON_IsObject(t))
            return protocol_fail(err, 400, "tools", "each tool must be an object");
        if (cJSON_GetArraySize(v) > 0 && !(r->tools = cJSON_Duplicate(v, 1))) return oom(err);
    }
    if ((v = field(root, "chat_template_kwargs"))) {
        if (!cJSON_IsObject(v))
            return protocol_fail(err, 400, "chat_template_kwargs", "'chat_template_kwargs' must be an object");
        if (!(r->chat_template_kwargs = cJSON_Duplicate(v, 1))) return oom(err);
    }
    return 0;
}

/* tool_calls: [{id, type, function: {name, arguments: string|object}}]; arguments
 * given as a JSON string are parsed into an object (templates index into them). */
static int normalize_tool_calls(const cJSON *tcs, cJSON *dst, struct protocol_error *err) {
    if (!cJSON_IsArray(tcs)) return protocol_fail(err, 400, "messages", "'tool_calls' must be a list");
    cJSON *out = cJSON_AddArrayToObject(dst, "tool_calls");
    if (!out) return oom(err);
    const cJSON *tc;
    cJSON_ArrayForEach(tc, tcs) {
        const cJSON *fn = json_get(tc, "function");
        const char *name = json_get_string(fn, "name");
        if (!cJSON_IsObject(tc) || !cJSON_IsObject(fn) || !name)
            return protocol_fail(err, 400, "messages", "tool calls need a 'function' with a string 'name'");
        cJSON *c = cJSON_CreateObject();
        if (!c || !cJSON_AddItemToArray(out, c)) {
            cJSON_Delete(c);
            return oom(err);
        }
        const char *id = json_get_string(tc, "id");
        if (id && !cJSON_AddStringToObject(c, "id", id)) return oom(err);
        if (!cJSON_AddStringToObject(c, "type", "function")) return oom(err);
        cJSON *f = cJSON_AddObjectToObject(c, "function");
        if (!f || !cJSON_AddStringToObject(f, "name", name)) return oom(err);
        const cJSON *args = json_get(fn, "arguments");
        cJSON *a = NULL;
        if (cJSON_IsString(args)) {
            a = cJSON_Parse(args->valuestring);
            if (!a) a = cJSON_CreateString(args->valuestring);
        } else if (cJSON_IsObject(args)) {
            a = cJSON_Duplicate(args, 1);
        } else {
            a = cJSON_CreateObject();
        }
        if (!a || !cJSON_AddItemToObject(f, "arguments", a)) {
            cJSON_Delete(a);
            return oom(err);
        }
    }
    return 0;
}

static int normalize_messages(const cJSON *msgs, struct protocol_request *r, struct protocol_error *err) {
    if (!cJSON_IsArray(msgs)) return protocol_fail(err, 400, "messages", "'messages' must be a list of messages");
    if (cJSON_GetArraySize(msgs) == 0) return protocol_fail(err, 400, "messages", "'messages' must not be empty");
    r->messages = cJSON_CreateArray();
    if (!r->messages) return oom(err);
    const cJSON *m;
    int rc;
    cJSON_ArrayForEach(m, msgs) {
        const char *role = json_get_string(m, "role");
        if (!cJSON_IsObject(m) || !role)
            return protocol_fail(err, 400, "messages", "each message must be an object with a string 'role'");
        if (!strcmp(role, "developer")) role = "system";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool"))
            return protocol_fail(err, 400, "messages", "unknown message role '%.64s'", role);
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(r->messages, o)) {
            cJSON_Delete(o);
            return oom(err);
        }
        if (!cJSON_AddStringToObject(o, "role", role)) return oom(err);
        if ((rc = normalize_content(field(m, "content"), o, err))) return rc;
        if ((rc = copy_string_field(m, o, "name", err))) return rc;
        if ((rc = copy_string_field(m, o, "tool_call_id", err))) return rc;
        if ((rc = copy_string_field(m, o, "reasoning_content", err))) return rc;
        const cJSON *tcs = field(m, "tool_calls");
        if (tcs && (rc = normalize_tool_calls(tcs, o, err))) return rc;
    }
    return 0;
}

/* ---- top level ---- */

static int parse_body(const char *body, size_t len, cJSON **root, struct protocol_error *err) {
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (*root && end) /* only whitespace may follow the value */
        while (end < body + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
    if (*root && end != body + len) {
        cJSON_Delete(*root);
        *root = NULL;
    }
    if (!*root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return protocol_fail(err, 400, NULL, "Invalid JSON body (parse error at byte %zu)", at);
    }
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return protocol_fail(err, 400, NULL, "The request body must be a JSON object");
    }
    return 0;
}

static int parse_rids(const cJSON *v, struct protocol_request *r, struct protocol_error *err) {
    int cnt = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;
    if (!cJSON_IsString(v) && !cJSON_IsArray(v))
        return protocol_fail(err, 400, "rid", "'rid' must be a string or a list of strings");
    if (cJSON_IsArray(v) && cnt != r->n_prompts)
        return protocol_fail(err, 400, "rid", "'rid' has %d entries for %d prompts", cnt, (int)r->n_prompts);
    r->rids = calloc((size_t)cnt, sizeof *r->rids);
    if (!r->rids) return oom(err);
    const cJSON *one = v;
    for (int i = 0; i < cnt; i++) {
        const cJSON *it = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : one;
        if (!cJSON_IsString(it)) return protocol_fail(err, 400, "rid", "'rid' must be a string or a list of strings");
        size_t n = strlen(it->valuestring);
        if (n == 0 || n > MAX_RID_LEN)
            return protocol_fail(err, 400, "rid", "'rid' must be 1 to %d characters", MAX_RID_LEN);
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)it->valuestring[k];
            if (c <= 0x20 || c >= 0x7f)
                return protocol_fail(err, 400, "rid", "'rid' must be printable ASCII without spaces");
        }
        if (!(r->rids[i] = strdup(it->valuestring))) return oom(err);
        r->n_rids++;
    }
    return 0;
}

static int parse_openai(const cJSON *root, enum protocol_kind kind, const struct protocol_limits *lim,
                        struct protocol_request *r, struct protocol_error *err) {
    int rc;
    const cJSON *v = field(root, "model");
    if (!v) return protocol_fail(err, 400, "model", "'model' is required");
    if (!cJSON_IsString(v)) return protocol_fail(err, 400, "model", "'model' must be a string");
    if (!(r->model = strdup(v->valuestring))) return oom(err);

    if (kind == PROTOCOL_COMPLETIONS) {
        if (!(v = field(root, "prompt"))) return protocol_fail(err, 400, "prompt", "'prompt' is required");
        if ((rc = parse_prompts(v, "prompt", false, lim, r, err))) return rc;
        if ((rc = get_bool(root, "echo", &r->echo, NULL, err))) return rc;
        int64_t lp = -1;
        bool lp_set = false;
        if ((rc = get_int(root, "logprobs", 0, lim->max_top_logprobs, &lp, &lp_set, err))) return rc;
        r->logprobs = lp_set;
        r->top_logprobs = lp_set ? (int32_t)lp : 0;
        if ((v = field(root, "suffix")) && (!cJSON_IsString(v) || v->valuestring[0]))
            return protocol_fail(err, 400, "suffix", "'suffix' is not supported");
    } else {
        if (!(v = field(root, "messages"))) return protocol_fail(err, 400, "messages", "'messages' is required");
        if ((rc = normalize_messages(v, r, err))) return rc;
        if ((rc = get_bool(root, "logprobs", &r->logprobs, NULL, err))) return rc;
        int64_t tl = 0;
        bool tl_set = false;
        if ((rc = get_int(root, "top_logprobs", 0, lim->max_top_logprobs, &tl, &tl_set, err))) return rc;
        if (tl_set && tl > 0 && !r->logprobs)
            return protocol_fail(err, 400, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
        r->top_logprobs = (int32_t)tl;
        r->add_generation_prompt = true;
        if ((rc = get_bool(root, "add_generation_prompt", &r->add_generation_prompt, NULL, err))) return rc;
        if ((rc = parse_template_inputs(root, r, err))) return rc;
        if ((v = field(root, "tool_choice"))) {
            if (!cJSON_IsString(v) || (strcmp(v->valuestring, "auto") && strcmp(v->valuestring, "none")))
                return protocol_fail(err, 400, "tool_choice", "only tool_choice 'auto' and 'none' are supported");
        }
        if ((v = field(root, "response_format"))) {
            const char *t = json_get_string(v, "type");
            if (!t || strcmp(t, "text"))
                return protocol_fail(err, 400, "response_format", "only response_format type 'text' is supported");
        }
    }
    if ((rc = get_bool(root, "stream", &r->stream, NULL, err))) return rc;
    if ((v = field(root, "stream_options"))) {
        if (!cJSON_IsObject(v)) return protocol_fail(err, 400, "stream_options", "'stream_options' must be an object");
        if (!r->stream)
            return protocol_fail(err, 400, "stream_options", "'stream_options' is only allowed when 'stream' is true");
        if ((rc = get_bool(v, "include_usage", &r->include_usage, NULL, err))) return rc;
        if ((rc = get_bool(v, "continuous_usage_stats", &r->continuous_usage_stats, NULL, err))) return rc;
    }
    r->params = calloc(1, sizeof *r->params);
    if (!r->params) return oom(err);
    r->n_params = 1;
    return parse_gen_params(root, kind, lim, &r->params[0], err);
}

static int parse_native(const cJSON *root, const struct protocol_limits *lim, struct protocol_request *r,
                        struct protocol_error *err) {
    int rc;
    const cJSON *text = field(root, "text"), *ids = field(root, "input_ids");
    if (text && ids) return protocol_fail(err, 400, "text", "Either 'text' or 'input_ids' must be given, not both");
    if (!text && !ids) return protocol_fail(err, 400, "text", "Either 'text' or 'input_ids' must be given");
    if (field(root, "input_embeds")) return protocol_fail(err, 400, "input_embeds", "'input_embeds' is not supported");
    if (text) {
        if (!cJSON_IsString(text) && !cJSON_IsArray(text))
            return protocol_fail(err, 400, "text", "'text' must be a string or a list of strings");
        if (cJSON_IsArray(text) && cJSON_GetArraySize(text) > 0 && !cJSON_IsString(text->child))
            return protocol_fail(err, 400, "text", "'text' must be a string or a list of strings");
        if ((rc = parse_prompts(text, "text", true, lim, r, err))) return rc;
    } else {
        if (!cJSON_IsArray(ids) || (cJSON_GetArraySize(ids) > 0 && cJSON_IsString(ids->child)))
            return protocol_fail(err, 400, "input_ids", "'input_ids' must be a list of token ids or a list of lists");
        if ((rc = parse_prompts(ids, "input_ids", true, lim, r, err))) return rc;
    }
    const cJSON *sp = field(root, "sampling_params");
    if (sp && !cJSON_IsObject(sp) && !cJSON_IsArray(sp))
        return protocol_fail(err, 400, "sampling_params", "'sampling_params' must be an object or a list of objects");
    int np = cJSON_IsArray(sp) ? cJSON_GetArraySize(sp) : 1;
    if (cJSON_IsArray(sp) && np != r->n_prompts)
        return protocol_fail(err, 400, "sampling_params", "'sampling_params' has %d entries for %d prompts", np,
                             (int)r->n_prompts);
    r->params = calloc((size_t)np, sizeof *r->params);
    if (!r->params) return oom(err);
    for (int i = 0; i < np; i++) {
        const cJSON *o = cJSON_IsArray(sp) ? cJSON_GetArrayItem(sp, i) : sp;
        if (o && !cJSON_IsObject(o))
            return protocol_fail(err, 400, "sampling_params", "'sampling_params' must be an object or a list of objects");
        r->n_params++;
        if ((rc = parse_gen_params(o, PROTOCOL_GENERATE, lim, &r->params[i], err))) return rc;
    }
    if ((rc = get_bool(root, "stream", &r->stream, NULL, err))) return rc;
    if ((rc = get_bool(root, "return_logprob", &r->logprobs, NULL, err))) return rc;
    int64_t tl = 0;
    if ((rc = get_int(root, "top_logprobs_num", 0, lim->max_top_logprobs, &tl, NULL, err))) return rc;
    r->top_logprobs = (int32_t)tl;
    const cJSON *rid = field(root, "rid");
    if (rid && (rc = parse_rids(rid, r, err))) return rc;
    return 0;
}

int protocol_parse(enum protocol_kind kind, const char *body, size_t len, const struct protocol_limits *lim,
                   struct protocol_request *out, struct protocol_error *err) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    cJSON *root;
    int rc = parse_body(body, len, &root, err);
    if (rc) return rc;
    rc = kind == PROTOCOL_GENERATE ? parse_native(root, lim, out, err) : parse_openai(root, kind, lim, out, err);
    cJSON_Delete(root);
    if (rc) {
        protocol_request_free(out);
        out->kind = kind;
    }
    return rc;
}

void protocol_request_free(struct protocol_request *r) {
    if (!r) return;
    free(r->model);
    for (int32_t i = 0; i < r->n_prompts; i++) {
        free(r->prompts[i].text);
        free(r->prompts[i].ids);
    }
    free(r->prompts);
    cJSON_Delete(r->messages);
    cJSON_Delete(r->tools);
    cJSON_Delete(r->chat_template_kwargs);
    for (int32_t i = 0; i < r->n_params; i++) gen_params_free(&r->params[i]);
    free(r->params);
    for (int32_t i = 0; i < r->n_rids; i++) free(r->rids[i]);
    free(r->rids);
    memset(r, 0, sizeof *r);
}

int protocol_parse_tokenize(const char *body, size_t len, struct protocol_request *out, struct protocol_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *root;
    int rc = parse_body(body, len, &root, err);
    if (rc) return rc;
    const cJSON *prompt = field(root, "prompt"), *msgs = field(root, "messages");
    if (prompt && msgs) rc = protocol_fail(err, 400, "prompt", "Either 'prompt' or 'messages' must be given, not both");
    else if (!prompt && !msgs) rc = protocol_fail(err, 400, "prompt", "Either 'prompt' or 'messages' must be given");
    else if (prompt && !cJSON_IsString(prompt)) rc = protocol_fail(err, 400, "prompt", "'prompt' must be a string");
    else if (prompt) {
        out->prompts = calloc(1, sizeof *out->prompts);
        rc = !out->prompts || add_text_prompt(out, prompt) ? oom(err) : 0;
        out->add_special_tokens = true;
    } else {
        out->kind = PROTOCOL_CHAT;
        out->add_generation_prompt = true;
        rc = normalize_messages(msgs, out, err);
        if (!rc) rc = get_bool(root, "add_generation_prompt", &out->add_generation_prompt, NULL, err);
        if (!rc) rc = parse_template_inputs(root, out, err);
    }
    if (!rc) rc = get_bool(root, "add_special_tokens", &out->add_special_tokens, NULL, err);
    cJSON_Delete(root);
    if (rc) protocol_request_free(out);
    return rc;
}

int protocol_parse_detokenize(const char *body, size_t len, const struct protocol_limits *lim,
                              struct protocol_request *out, struct protocol_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *root;
    int rc = parse_body(body, len, &root, err);
    if (rc) return rc;
    const cJSON *t = field(root, "tokens");
    if (!t || !cJSON_IsArray(t)) rc = protocol_fail(err, 400, "tokens", "'tokens' must be a list of token ids");
    else if (!(out->prompts = calloc(1, sizeof *out->prompts))) rc = oom(err);
    else {
        out->n_prompts = 1;
        rc = parse_ids(t, "tokens", lim->vocab_size, true, &out->prompts[0].ids, &out->prompts[0].n_ids, err);
    }
    cJSON_Delete(root);
    if (rc) protocol_request_free(out);
    return rc;
}
