/* serving: the generation endpoints (/v1/completions, /v1/chat/completions,
 * native /generate, /health_generate) — SGLang's tokenizer-manager role plus
 * the OpenAI serving classes.
 *
 * A request becomes a serving_job: the prompts are tokenized (chat: rendered
 * with the chat template first) and validated on the I/O thread, then every
 * (prompt, choice) pair is submitted to the engine as one gen_request whose
 * output callback appends to the job's per-choice accumulators:
 *
 *   scheduler thread: on_output ──► job->mu { append text/ids/logprobs } ──► http_async_wake
 *   I/O thread:       pull      ──► job->mu { format what is new as SSE chunks,
 *                                             or the whole answer when all choices finished }
 *
 * Engine requests always stream their events to us (so latency metrics and
 * disconnect handling work the same for both modes); a non-streaming client
 * is only woken once every choice has finished.
 *
 * Lifetime: job->refs counts the HTTP side (dropped in on_close) and each
 * engine request that was submitted (dropped at its final event). When the
 * client disconnects before the end, on_close aborts every unfinished engine
 * request, which frees its KV within a scheduler step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "managers/engine.h"
#include "models/model.h"
#include "server/metrics.h"
#include "server/openai_format.h"
#include "server/server_internal.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

struct choice {
    struct serving_job *job;
    int32_t index;
    int32_t prompt_idx;
    char rid[72];
    /* job->mu: written by the scheduler thread, read by the I/O thread */
    struct jsonw text;
    int32_t *ids;
    float *lps;
    int32_t *top_ids;
    float *top_lps;
    int32_t n_ids, cap_ids;
    bool finished;
    char reason[8];
    int32_t matched_token;
    char *matched_str;
    char *error;
    int32_t prompt_tokens, completion_tokens, cached_tokens;
    /* scheduler thread only (metrics) */
    double t_last;
    bool got_first;
    /* I/O thread only */
    size_t text_sent;
    int32_t ids_sent;
    bool role_sent, echo_sent, finish_sent;
    int64_t text_offset;
};

struct serving_job {
    struct server *srv;
    enum protocol_kind kind;
    bool health;
    struct protocol_request req;
    int32_t **prompt_ids; /* [n_prompt_ids]: tokenized prompts (chat: the rendered conversation) */
    int32_t *prompt_lens;
    int32_t n_prompt_ids;
    struct choice *choices;
    int32_t n_choices;
    int32_t n_per_prompt;
    char id[48];
    int64_t created;
    double t_start;
    struct http_async *async;
    pthread_mutex_t mu;
    int refs;         /* mu */
    int32_t n_finished; /* mu */
    int err_status;   /* mu: status of the first failed choice (400 if rejected before generating, else 500) */
    bool done_sent;   /* I/O thread */
    struct serving_job *prev, *next; /* srv->jobs (jobs_mu) */
};

/* ---- job lifetime ---- */

static void job_free(struct serving_job *j) {
    struct server *s = j->srv;
    pthread_mutex_lock(&s->jobs_mu);
    if (j->prev) j->prev->next = j->next;
    else if (s->jobs == j) s->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    pthread_mutex_unlock(&s->jobs_mu);
    for (int32_t i = 0; i < j->n_choices; i++) {
        struct choice *c = &j->choices[i];
        jsonw_free(&c->text);
        free(c->ids);
        free(c->lps);
        free(c->top_ids);
        free(c->top_lps);
        free(c->matched_str);
        free(c->error);
    }
    free(j->choices);
    for (int32_t i = 0; i < j->n_prompt_ids && j->prompt_ids; i++) free(j->prompt_ids[i]);
    free(j->prompt_ids);
    free(j->prompt_lens);
    http_async_release(j->async);
    protocol_request_free(&j->req);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void job_unref(struct serving_job *j) {
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left == 0) job_free(j);
}

static const struct protocol_gen_params *params_of(const struct serving_job *j, int32_t prompt_idx) {
    return &j->req.params[j->req.n_params == 1 ? 0 : prompt_idx];
}

/* ---- engine callback (scheduler thread) ---- */

static bool grow_ids(struct choice *c, int32_t more, int32_t top_n, bool lps) {
    if (c->n_ids + more <= c->cap_ids) return true;
    int32_t cap = c->cap_ids ? c->cap_ids : 16;
    while (cap < c->n_ids + more) cap *= 2;
    int32_t *ids = realloc(c->ids, (size_t)cap * sizeof *ids);
    if (!ids) return false;
    c->ids = ids;
    if (lps) {
        float *l = realloc(c->lps, (size_t)cap * sizeof *l);
        if (!l) return false;
        c->lps = l;
    }
    if (top_n > 0) {
        int32_t *ti = realloc(c->top_ids, (size_t)cap * (size_t)top_n * sizeof *ti);
        if (!ti) return false;
        c->top_ids = ti;
        float *tl = realloc(c->top_lps, (size_t)cap * (size_t)top_n * sizeof *tl);
        if (!tl) return false;
        c->top_lps = tl;
    }
    c->cap_ids = cap;
    return true;
}

static void on_output(void *user, const struct gen_output_event *ev) {
    struct choice *c = user;
    struct serving_job *j = c->job;
    struct server *s = j->srv;
    double now = clock_now_s();
    if (s->metrics && ev->n_ids > 0) {
        if (!c->got_first) metrics_observe_ttft(s->metrics, now - j->t_start);
        else metrics_observe_itl(s->metrics, (now - c->t_last) / ev->n_ids);
    }
    if (ev->n_ids > 0) {
        c->got_first = true;
        c->t_last = now;
    }

    pthread_mutex_lock(&j->mu);
    jsonw_raw(&c->text, ev->text, ev->text_len);
    bool want_lp = j->req.logprobs;
    int32_t top_n = want_lp ? j->req.top_logprobs : 0;
    if (ev->n_ids > 0 && grow_ids(c, ev->n_ids, top_n, want_lp)) {
        memcpy(c->ids + c->n_ids, ev->ids, (size_t)ev->n_ids * sizeof *ev->ids);
        if (want_lp) {
            for (int32_t i = 0; i < ev->n_ids; i++) c->lps[c->n_ids + i] = ev->logprobs ? ev->logprobs[i] : NAN;
            for (int32_t i = 0; i < ev->n_ids * top_n; i++) {
                bool have = ev->top_ids && ev->top_n == top_n;
                c->top_ids[(size_t)c->n_ids * (size_t)top_n + (size_t)i] = have ? ev->top_ids[i] : -1;
                c->top_lps[(size_t)c->n_ids * (size_t)top_n + (size_t)i] = have ? ev->top_logprobs[i] : NAN;
            }
        }
        c->n_ids += ev->n_ids;
    } else if (ev->n_ids > 0) {
        c->text.oom = true;
    }
    c->prompt_tokens = ev->prompt_tokens;
    c->completion_tokens = ev->completion_tokens;
    c->cached_tokens = ev->cached_tokens;
    bool all_done = false;
    if (ev->finished) {
        c->finished = true;
        snprintf(c->reason, sizeof c->reason, "%s", ev->finish_reason ? ev->finish_reason : "abort");
        c->matched_token = ev->matched_stop_token;
        if (ev->matched_stop_str) c->matched_str = strdup(ev->matched_stop_str);
        if (ev->error || c->text.oom) {
            c->error = strdup(ev->error ? ev->error : "out of memory");
            /* rejected before generating anything (e.g. larger than the KV cache): the request's fault */
            if (!j->err_status) j->err_status = ev->error && ev->completion_tokens == 0 ? 400 : 500;
        }
        all_done = ++j->n_finished == j->n_choices;
    }
    bool wake = j->req.stream || all_done;
    pthread_mutex_unlock(&j->mu);

    if (ev->finished) {
        if (s->metrics) metrics_observe_request(s->metrics, now - j->t_start, ev->prompt_tokens,
                                                ev->completion_tokens, ev->cached_tokens);
        if (s->args.log_requests)
            LOG_INFO("request %s finished: %s, prompt %d, cached %d, completion %d tokens, %.3f s%s%s", c->rid,
                     c->reason, ev->prompt_tokens, ev->cached_tokens, ev->completion_tokens, now - j->t_start,
                     ev->error ? ", error: " : "", ev->error ? ev->error : "");
    }
    if (wake) http_async_wake(j->async);
    if (ev->finished) job_unref(j);
}

/* ---- formatting (I/O thread, job->mu held) ---- */

static struct openai_logprobs_view lp_view(const struct serving_job *j, const struct choice *c, int32_t from,
                                           int32_t to) {
    struct openai_logprobs_view v = {0};
    int32_t top_n = j->req.top_logprobs;
    v.ids = c->ids + from;
    v.lps = c->lps ? c->lps + from : NULL;
    v.top_n = top_n;
    v.top_ids = top_n > 0 && c->top_ids ? c->top_ids + (size_t)from * (size_t)top_n : NULL;
    v.top_lps = top_n > 0 && c->top_lps ? c->top_lps + (size_t)from * (size_t)top_n : NULL;
    v.n = to - from;
    return v;
}

static const char *object_name(const struct serving_job *j, bool chunk) {
    if (j->kind == PROTOCOL_CHAT) return chunk ? "chat.completion.chunk" : "chat.completion";
    return "text_completion";
}

static void usage_totals(const struct serving_job *j, int64_t *prompt, int64_t *completion, int64_t *cached) {
    *prompt = *completion = *cached = 0;
    for (int32_t i = 0; i < j->n_choices; i++) {
        const struct choice *c = &j->choices[i];
        if (i % j->n_per_prompt == 0) {
            *prompt += c->prompt_tokens ? c->prompt_tokens : j->prompt_lens[c->prompt_idx];
            *cached += c->cached_tokens;
        }
        *completion += c->completion_tokens;
    }
}

static void write_usage(const struct serving_job *j, struct jsonw *w) {
    int64_t p, c, k;
    usage_totals(j, &p, &c, &k);
    openai_format_usage(w, p, c, k, j->srv->args.enable_cache_report);
}

static void chunk_begin(const struct serving_job *j, struct jsonw *w) {
    openai_format_sse_begin(w);
    jsonw_lit(w, "{\"id\":");
    jsonw_cstr_str(w, j->id);
    jsonw_lit(w, ",\"object\":");
    jsonw_cstr_str(w, object_name(j, true));
    jsonw_lit(w, ",\"created\":");
    jsonw_int(w, j->created);
    jsonw_lit(w, ",\"model\":");
    jsonw_cstr_str(w, j->srv->served_name);
    jsonw_lit(w, ",\"choices\":[");
}

static void chunk_end(const struct serving_job *j, struct jsonw *w) {
    jsonw_raw(w, "]", 1);
    if (j->req.continuous_usage_stats) {
        jsonw_raw(w, ",", 1);
        write_usage(j, w);
    }
    jsonw_raw(w, "}", 1);
    openai_format_sse_end(w);
}

/* Prompt text for echo (the text as sent, or the decoded ids); malloc'd. */
static char *echo_text(const struct serving_job *j, int32_t prompt_idx, size_t *len) {
    const struct protocol_prompt *p = &j->req.prompts[prompt_idx];
    if (p->text) {
        *len = p->text_len;
        char *t = malloc(p->text_len + 1);
        if (t) memcpy(t, p->text, p->text_len + 1);
        return t;
    }
    char *t = NULL;
    if (tokenizer_decode(j->srv->tok, p->ids, (size_t)p->n_ids, false, &t, len, NULL)) {
        free(t);
        *len = 0;
        return NULL;
    }
    return t;
}

static void error_event(const struct serving_job *j, struct jsonw *w) {
    struct protocol_error e = {.status = j->err_status ? j->err_status : 500};
    for (int32_t i = 0; i < j->n_choices; i++)
        if (j->choices[i].error) {
            snprintf(e.message, sizeof e.message, "%s", j->choices[i].error);
            break;
        }
    openai_format_sse_begin(w);
    jsonw_lit(w, "{\"error\":");
    protocol_error_json_inner(&e, w);
    jsonw_raw(w, "}", 1);
    openai_format_sse_end(w);
}

static void stream_openai(struct serving_job *j, struct jsonw *w) {
    bool chat = j->kind == PROTOCOL_CHAT;
    for (int32_t i = 0; i < j->n_choices; i++) {
        struct choice *c = &j->choices[i];
        if (c->error) {
            c->finish_sent = c->finished;
            continue;
        }
        if (chat && !c->role_sent) {
            chunk_begin(j, w);
            jsonw_lit(w, "{\"index\":");
            jsonw_int(w, c->index);
            jsonw_lit(w, ",\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                         "\"finish_reason\":null}");
            chunk_end(j, w);
            c->role_sent = true;
        }
        if (!chat && j->req.echo && !c->echo_sent) {
            size_t n = 0;
            char *t = echo_text(j, c->prompt_idx, &n);
            chunk_begin(j, w);
            jsonw_lit(w, "{\"index\":");
            jsonw_int(w, c->index);
            jsonw_lit(w, ",\"text\":");
            jsonw_str(w, t ? t : "", t ? n : 0);
            jsonw_lit(w, ",\"logprobs\":null,\"finish_reason\":null}");
            chunk_end(j, w);
            c->text_offset = (int64_t)n;
            free(t);
            c->echo_sent = true;
        }
        bool new_text = c->text.len > c->text_sent;
        bool new_lp = j->req.logprobs && c->n_ids > c->ids_sent;
        if (new_text || new_lp) {
            chunk_begin(j, w);
            jsonw_lit(w, "{\"index\":");
            jsonw_int(w, c->index);
            jsonw_lit(w, chat ? ",\"delta\":{\"content\":" : ",\"text\":");
            jsonw_str(w, c->text.buf ? c->text.buf + c->text_sent : "", c->text.len - c->text_sent);
            if (chat) jsonw_raw(w, "}", 1);
            jsonw_lit(w, ",\"logprobs\":");
            if (new_lp) {
                struct openai_logprobs_view v = lp_view(j, c, c->ids_sent, c->n_ids);
                if (chat) openai_format_chat_logprobs(w, j->srv->tok, &v);
                else openai_format_completion_logprobs(w, j->srv->tok, &v, &c->text_offset);
            } else {
                jsonw_lit(w, "null");
            }
            jsonw_lit(w, ",\"finish_reason\":null}");
            chunk_end(j, w);
            c->text_sent = c->text.len;
        }
        c->ids_sent = c->n_ids;
        if (c->finished && !c->finish_sent) {
            chunk_begin(j, w);
            jsonw_lit(w, "{\"index\":");
            jsonw_int(w, c->index);
            jsonw_lit(w, chat ? ",\"delta\":{}" : ",\"text\":\"\"");
            jsonw_lit(w, ",\"logprobs\":null,");
            openai_format_finish(w, c->reason, c->matched_token, c->matched_str);
            jsonw_raw(w, "}", 1);
            chunk_end(j, w);
            c->finish_sent = true;
        }
    }
}

static void native_meta(const struct serving_job *j, const struct choice *c, struct jsonw *w, bool final) {
    jsonw_lit(w, "\"meta_info\":{\"id\":");
    jsonw_cstr_str(w, c->rid);
    jsonw_lit(w, ",\"finish_reason\":");
    if (final) openai_format_native_finish(w, c->reason, c->matched_token, c->matched_str, c->completion_tokens, NULL);
    else jsonw_lit(w, "null");
    jsonw_lit(w, ",\"prompt_tokens\":");
    jsonw_int(w, c->prompt_tokens ? c->prompt_tokens : j->prompt_lens[c->prompt_idx]);
    jsonw_lit(w, ",\"completion_tokens\":");
    jsonw_int(w, c->completion_tokens);
    jsonw_lit(w, ",\"cached_tokens\":");
    jsonw_int(w, c->cached_tokens);
    if (j->req.logprobs) {
        struct openai_logprobs_view v = lp_view(j, c, 0, c->n_ids);
        jsonw_lit(w, ",\"input_token_logprobs\":[],\"output_token_logprobs\":");
        openai_format_native_token_logprobs(w, &v);
        if (j->req.top_logprobs > 0) {
            jsonw_lit(w, ",\"input_top_logprobs\":[],\"output_top_logprobs\":");
            openai_format_native_top_logprobs(w, &v);
        }
    }
    if (final) {
        jsonw_lit(w, ",\"e2e_latency\":");
        jsonw_num(w, clock_now_s() - j->t_start);
    }
    jsonw_raw(w, "}", 1);
}

static void native_object(const struct serving_job *j, const struct choice *c, struct jsonw *w, bool final,
                          bool with_index) {
    jsonw_lit(w, "{\"text\":");
    jsonw_str(w, c->text.buf ? c->text.buf : "", c->text.len);
    jsonw_lit(w, ",\"output_ids\":[");
    for (int32_t k = 0; k < c->n_ids; k++) {
        if (k) jsonw_raw(w, ",", 1);
        jsonw_int(w, c->ids[k]);
    }
    jsonw_lit(w, "],");
    native_meta(j, c, w, final);
    if (with_index) {
        jsonw_lit(w, ",\"index\":");
        jsonw_int(w, c->index);
    }
    jsonw_raw(w, "}", 1);
}

static bool native_is_list(const struct serving_job *j) { return j->req.batch || j->n_per_prompt > 1; }

static void stream_native(struct serving_job *j, struct jsonw *w) {
    for (int32_t i = 0; i < j->n_choices; i++) {
        struct choice *c = &j->choices[i];
        if (c->error) {
            c->finish_sent = c->finished;
            continue;
        }
        bool changed = c->text.len > c->text_sent || c->n_ids > c->ids_sent;
        bool final = c->finished && !c->finish_sent;
        if (!changed && !final) continue;
        openai_format_sse_begin(w);
        native_object(j, c, w, final, native_is_list(j));
        openai_format_sse_end(w);
        c->text_sent = c->text.len;
        c->ids_sent = c->n_ids;
        if (final) c->finish_sent = true;
    }
}

static void full_openai(struct serving_job *j, struct jsonw *w) {
    bool chat = j->kind == PROTOCOL_CHAT;
    jsonw_lit(w, "{\"id\":");
    jsonw_cstr_str(w, j->id);
    jsonw_lit(w, ",\"object\":");
    jsonw_cstr_str(w, object_name(j, false));
    jsonw_lit(w, ",\"created\":");
    jsonw_int(w, j->created);
    jsonw_lit(w, ",\"model\":");
    jsonw_cstr_str(w, j->srv->served_name);
    jsonw_lit(w, ",\"choices\":[");
    for (int32_t i = 0; i < j->n_choices; i++) {
        struct choice *c = &j->choices[i];
        if (i) jsonw_raw(w, ",", 1);
        jsonw_lit(w, "{\"index\":");
        jsonw_int(w, c->index);
        int64_t offset = 0;
        if (chat) {
            jsonw_lit(w, ",\"message\":{\"role\":\"assistant\",\"content\":");
            jsonw_str(w, c->text.buf ? c->text.buf : "", c->text.len);
            jsonw_lit(w, ",\"reasoning_content\":null,\"tool_calls\":null}");
        } else {
            jsonw_lit(w, ",\"text\":");
            if (j->req.echo) {
                size_t n = 0;
                char *t = echo_text(j, c->prompt_idx, &n);
                struct jsonw tmp;
                jsonw_init(&tmp);
                jsonw_raw(&tmp, t ? t : "", t ? n : 0);
                jsonw_raw(&tmp, c->text.buf ? c->text.buf : "", c->text.len);
                jsonw_str(w, tmp.buf ? tmp.buf : "", tmp.len);
                if (tmp.oom) w->oom = true;
                jsonw_free(&tmp);
                free(t);
                offset = (int64_t)n;
            } else {
                jsonw_str(w, c->text.buf ? c->text.buf : "", c->text.len);
            }
        }
        jsonw_lit(w, ",\"logprobs\":");
        if (j->req.logprobs) {
            struct openai_logprobs_view v = lp_view(j, c, 0, c->n_ids);
            if (chat) openai_format_chat_logprobs(w, j->srv->tok, &v);
            else openai_format_completion_logprobs(w, j->srv->tok, &v, &offset);
        } else {
            jsonw_lit(w, "null");
        }
        jsonw_raw(w, ",", 1);
        openai_format_finish(w, c->reason, c->matched_token, c->matched_str);
        jsonw_raw(w, "}", 1);
    }
    jsonw_lit(w, "],");
    write_usage(j, w);
    jsonw_raw(w, "}", 1);
}

static void full_native(struct serving_job *j, struct jsonw *w) {
    bool list = native_is_list(j);
    if (list) jsonw_raw(w, "[", 1);
    for (int32_t i = 0; i < j->n_choices; i++) {
        if (i) jsonw_raw(w, ",", 1);
        native_object(j, &j->choices[i], w, true, false);
    }
    if (list) jsonw_raw(w, "]", 1);
}

static void full_error(struct serving_job *j, struct jsonw *w, struct http_pull_result *res) {
    struct protocol_error e = {.status = j->err_status ? j->err_status : 500};
    for (int32_t i = 0; i < j->n_choices; i++)
        if (j->choices[i].error) {
            snprintf(e.message, sizeof e.message, "%s", j->choices[i].error);
            break;
        }
    protocol_error_json(&e, w);
    res->status = e.status;
}

static void pull(void *ctx, struct jsonw *w, struct http_pull_result *res) {
    struct serving_job *j = ctx;
    pthread_mutex_lock(&j->mu);
    bool all_done = j->n_finished == j->n_choices;
    if (j->health) {
        if (all_done) {
            res->status = j->err_status ? 503 : 200;
            res->content_type = "text/plain";
            res->done = true;
        }
    } else if (j->req.stream) {
        if (j->kind == PROTOCOL_GENERATE) stream_native(j, w);
        else stream_openai(j, w);
        if (all_done && !j->done_sent) {
            if (j->err_status) error_event(j, w);
            else if (j->req.include_usage && j->kind != PROTOCOL_GENERATE) {
                chunk_begin(j, w);
                jsonw_lit(w, "],");
                write_usage(j, w);
                jsonw_raw(w, "}", 1);
                openai_format_sse_end(w);
            }
            openai_format_sse_done(w);
            j->done_sent = true;
            res->done = true;
        }
    } else if (all_done) {
        if (j->err_status) full_error(j, w, res);
        else if (j->kind == PROTOCOL_GENERATE) full_native(j, w);
        else full_openai(j, w);
        res->content_type = "application/json";
        res->done = true;
    }
    pthread_mutex_unlock(&j->mu);
}

static void on_close(void *ctx, bool completed) {
    struct serving_job *j = ctx;
    if (!completed) {
        pthread_mutex_lock(&j->mu);
        bool unfinished = j->n_finished < j->n_choices;
        pthread_mutex_unlock(&j->mu);
        if (unfinished && server_engine_alive(j->srv)) {
            LOG_DEBUG("client of %s went away; aborting its requests", j->id);
            for (int32_t i = 0; i < j->n_choices; i++) engine_abort(j->srv->engine, j->choices[i].rid);
        }
    }
    job_unref(j);
}

/* ---- submission (I/O thread) ---- */

static int tokenize_prompts(struct server *s, struct serving_job *j, struct protocol_error *err) {
    const struct protocol_request *r = &j->req;
    int32_t n = j->kind == PROTOCOL_CHAT ? 1 : r->n_prompts;
    j->prompt_ids = calloc((size_t)n, sizeof *j->prompt_ids);
    j->prompt_lens = calloc((size_t)n, sizeof *j->prompt_lens);
    if (!j->prompt_ids || !j->prompt_lens) return protocol_fail(err, 500, NULL, "out of memory");
    j->n_prompt_ids = n;
    if (j->kind == PROTOCOL_CHAT) return serving_chat_prompt(s, r, &j->prompt_ids[0], &j->prompt_lens[0], err);
    for (int32_t i = 0; i < n; i++) {
        const struct protocol_prompt *p = &r->prompts[i];
        if (p->text) {
            size_t cnt = 0;
            struct sgl_err e = {{0}};
            if (tokenizer_encode(s->tok, p->text, p->text_len, true, &j->prompt_ids[i], &cnt, &e))
                return protocol_fail(err, 400, "prompt", "tokenization failed: %s", e.msg);
            if (cnt > INT32_MAX) return protocol_fail(err, 400, "prompt", "prompt too long");
            j->prompt_lens[i] = (int32_t)cnt;
        } else {
            j->prompt_ids[i] = malloc(((size_t)p->n_ids + 1) * sizeof *p->ids);
            if (!j->prompt_ids[i]) return protocol_fail(err, 500, NULL, "out of memory");
            memcpy(j->prompt_ids[i], p->ids, (size_t)p->n_ids * sizeof *p->ids);
            j->prompt_lens[i] = p->n_ids;
        }
    }
    return 0;
}

/* Validates a prompt against the context and resolves max_new_tokens. */
static int resolve_max_tokens(struct server *s, const struct serving_job *j, int32_t prompt_idx, int64_t *out,
                              struct protocol_error *err) {
    int64_t n = j->prompt_lens[prompt_idx], ctx = s->context_length;
    const char *param = j->kind == PROTOCOL_CHAT ? "messages" : j->kind == PROTOCOL_COMPLETIONS ? "prompt" : "text";
    if (n == 0) return protocol_fail(err, 400, param, "The prompt is empty.");
    if (n >= ctx)
        return protocol_fail(err, 400, param, "The input (%lld tokens) is longer than the model's context length (%lld tokens).",
                             (long long)n, (long long)ctx);
    int64_t max_new = params_of(j, prompt_idx)->max_new_tokens;
    if (max_new >= 0) {
        if (n + max_new > ctx)
            return protocol_fail(err, 400, j->kind == PROTOCOL_GENERATE ? "max_new_tokens" : "max_tokens",
                                 "Requested token count exceeds the model's maximum context length of %lld tokens. "
                                 "You requested a total of %lld tokens: %lld tokens from the input messages and "
                                 "%lld tokens for the completion. Please reduce the number of tokens in the input "
                                 "messages or the completion to fit within the limit.",
                                 (long long)ctx, (long long)(n + max_new), (long long)n, (long long)max_new);
        *out = max_new;
        return 0;
    }
    int64_t def = j->kind == PROTOCOL_COMPLETIONS ? 16 : j->kind == PROTOCOL_GENERATE ? 128 : ctx - n;
    *out = def < ctx - n ? def : ctx - n;
    return 0;
}

static struct gen_request *make_request(struct server *s, struct serving_job *j, struct choice *c,
                                        int64_t max_new, int32_t k) {
    const struct protocol_gen_params *p = params_of(j, c->prompt_idx);
    struct gen_request *r = gen_request_create();
    if (!r) return NULL;
    snprintf(r->rid, sizeof r->rid, "%s", c->rid);
    int32_t n = j->prompt_lens[c->prompt_idx];
    r->input_ids = malloc((size_t)n * sizeof *r->input_ids);
    if (!r->input_ids) goto fail;
    memcpy(r->input_ids, j->prompt_ids[c->prompt_idx], (size_t)n * sizeof *r->input_ids);
    r->n_input = n;
    r->sp = p->sp;
    if (j->kind == PROTOCOL_CHAT) { /* the model's generation_config supplies unset chat defaults */
        const struct generation_defaults *g = &s->model->cfg.gen;
        if (!p->temperature_set && g->has_temperature) r->sp.temperature = (float)g->temperature;
        if (!p->top_p_set && g->has_top_p) r->sp.top_p = (float)g->top_p;
        if (!p->top_k_set && g->has_top_k) r->sp.top_k = (int32_t)g->top_k;
        if (!p->repetition_penalty_set && g->has_repetition_penalty)
            r->sp.repetition_penalty = (float)g->repetition_penalty;
    }
    if (r->sp.has_seed) r->sp.seed += (uint64_t)k; /* n > 1: distinct but reproducible choices */
    r->sp.logit_bias = NULL;
    r->sp.n_logit_bias = 0;
    if (p->n_logit_bias > 0) {
        r->logit_bias_store = malloc((size_t)p->n_logit_bias * sizeof *r->logit_bias_store);
        if (!r->logit_bias_store) goto fail;
        memcpy(r->logit_bias_store, p->logit_bias, (size_t)p->n_logit_bias * sizeof *r->logit_bias_store);
        r->sp.logit_bias = r->logit_bias_store;
        r->sp.n_logit_bias = p->n_logit_bias;
    }
    r->max_new_tokens = (int32_t)max_new;
    r->min_new_tokens = p->min_new_tokens < max_new ? p->min_new_tokens : (int32_t)max_new;
    r->ignore_eos = p->ignore_eos;
    r->skip_special_tokens = p->skip_special_tokens;
    r->no_stop_trim = p->no_stop_trim;
    if (p->n_stop_token_ids > 0) {
        r->stop_token_ids = malloc((size_t)p->n_stop_token_ids * sizeof *r->stop_token_ids);
        if (!r->stop_token_ids) goto fail;
        memcpy(r->stop_token_ids, p->stop_token_ids, (size_t)p->n_stop_token_ids * sizeof *r->stop_token_ids);
        r->n_stop_token_ids = p->n_stop_token_ids;
    }
    if (p->n_stop > 0) {
        r->stop = calloc((size_t)p->n_stop, sizeof *r->stop);
        if (!r->stop) goto fail;
        for (int32_t i = 0; i < p->n_stop; i++) {
            if (!(r->stop[i] = strdup(p->stop[i]))) goto fail;
            r->n_stop++;
        }
    }
    r->stream = true;
    r->return_logprob = j->req.logprobs;
    r->top_logprobs_num = j->req.logprobs ? j->req.top_logprobs : 0;
    r->on_output = on_output;
    r->user = c;
    return r;
fail:
    gen_request_destroy(r);
    return NULL;
}

static const char *id_prefix(enum protocol_kind k) {
    return k == PROTOCOL_CHAT ? "chatcmpl-" : k == PROTOCOL_COMPLETIONS ? "cmpl-" : "";
}

/* Builds the job's choices and engine requests; on failure fills err. */
static int build_job(struct server *s, struct serving_job *j, struct gen_request ***reqs_out,
                     struct protocol_error *err) {
    int rc = tokenize_prompts(s, j, err);
    if (rc) return rc;
    int32_t n_prompts = j->kind == PROTOCOL_CHAT ? 1 : j->req.n_prompts;
    int32_t n_per = j->req.params[0].n;
    for (int32_t i = 1; i < j->req.n_params; i++)
        if (j->req.params[i].n != n_per)
            return protocol_fail(err, 400, "sampling_params", "'n' must be the same for every prompt");
    if ((int64_t)n_prompts * n_per > 4096)
        return protocol_fail(err, 400, "n", "too many generations in one request (%lld > 4096)",
                             (long long)n_prompts * n_per);
    j->n_per_prompt = n_per;
    j->n_choices = n_prompts * n_per;
    j->choices = calloc((size_t)j->n_choices, sizeof *j->choices);
    struct gen_request **reqs = calloc((size_t)j->n_choices, sizeof *reqs);
    *reqs_out = reqs;
    if (!j->choices || !reqs) return protocol_fail(err, 500, NULL, "out of memory");
    for (int32_t pi = 0; pi < n_prompts; pi++) {
        int64_t max_new = 0;
        if ((rc = resolve_max_tokens(s, j, pi, &max_new, err))) return rc;
        for (int32_t k = 0; k < n_per; k++) {
            int32_t idx = pi * n_per + k;
            struct choice *c = &j->choices[idx];
            c->job = j;
            c->index = idx;
            c->prompt_idx = pi;
            c->matched_token = -1;
            jsonw_init(&c->text);
            const char *user_rid = j->req.rids ? j->req.rids[j->req.n_rids == 1 ? 0 : pi] : NULL;
            if (user_rid && n_per == 1 && (j->req.n_rids > 1 || n_prompts == 1))
                snprintf(c->rid, sizeof c->rid, "%s", user_rid);
            else if (user_rid && j->req.n_rids > 1) snprintf(c->rid, sizeof c->rid, "%s-%d", user_rid, (int)k);
            else if (user_rid) snprintf(c->rid, sizeof c->rid, "%s-%d", user_rid, (int)idx);
            else if (j->n_choices == 1) snprintf(c->rid, sizeof c->rid, "%s", j->id + strlen(id_prefix(j->kind)));
            else snprintf(c->rid, sizeof c->rid, "%s-%d", j->id + strlen(id_prefix(j->kind)), (int)idx);
            if (!(reqs[idx] = make_request(s, j, c, max_new, k))) return protocol_fail(err, 500, NULL, "out of memory");
        }
    }
    return 0;
}

static struct serving_job *job_create(struct server *s, enum protocol_kind kind) {
    struct serving_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->srv = s;
    j->kind = kind;
    j->t_start = clock_now_s();
    j->created = (int64_t)time(NULL);
    pthread_mutex_init(&j->mu, NULL);
    char hex[33];
    server_new_id(s, hex);
    snprintf(j->id, sizeof j->id, "%s%s", id_prefix(kind), hex);
    return j;
}

/* Starts the async answer and submits every engine request (all built beforehand). */
static void launch(struct server *s, struct serving_job *j, struct http_request *hreq, struct gen_request **reqs) {
    j->refs = 1 + j->n_choices;
    pthread_mutex_lock(&s->jobs_mu);
    j->next = s->jobs;
    if (s->jobs) s->jobs->prev = j;
    s->jobs = j;
    pthread_mutex_unlock(&s->jobs_mu);
    bool stream = j->req.stream && !j->health;
    j->async = http_async_start(hreq, stream ? HTTP_ASYNC_STREAM : HTTP_ASYNC_DEFERRED, "text/event-stream", pull,
                                on_close, j);
    if (!j->async) { /* a 500 was sent; nothing was submitted */
        for (int32_t i = 0; i < j->n_choices; i++) gen_request_destroy(reqs[i]);
        j->refs = 1;
        job_unref(j);
        return;
    }
    bool failed = false;
    for (int32_t i = 0; i < j->n_choices; i++) {
        struct sgl_err e = {{0}};
        if (engine_submit(s->engine, reqs[i], &e) == 0) continue;
        gen_request_destroy(reqs[i]);
        struct choice *c = &j->choices[i];
        pthread_mutex_lock(&j->mu);
        c->finished = true;
        snprintf(c->reason, sizeof c->reason, "abort");
        c->error = strdup(e.msg[0] ? e.msg : "the request was rejected");
        if (!j->err_status) j->err_status = 400;
        j->n_finished++;
        j->refs--;
        pthread_mutex_unlock(&j->mu);
        failed = true;
    }
    if (failed) {
        for (int32_t i = 0; i < j->n_choices; i++) engine_abort(s->engine, j->choices[i].rid);
        http_async_wake(j->async);
    }
}

void serving_handle_generate(struct server *s, const struct http_request_view *rv, enum protocol_kind kind) {
    struct protocol_error err = {0};
    struct serving_job *j = job_create(s, kind);
    struct gen_request **reqs = NULL;
    if (!j) {
        protocol_fail(&err, 500, NULL, "out of memory");
        server_respond_error(rv->req, &err);
        return;
    }
    int rc = protocol_parse(kind, rv->body, rv->body_len, &s->lim, &j->req, &err);
    if (!rc && kind != PROTOCOL_GENERATE && strcmp(j->req.model, s->served_name) != 0)
        rc = protocol_fail(&err, 404, "model", "The model `%.200s` does not exist.", j->req.model);
    if (!rc) rc = build_job(s, j, &reqs, &err);
    if (rc) {
        if (reqs)
            for (int32_t i = 0; i < j->n_choices; i++)
                if (reqs[i]) gen_request_destroy(reqs[i]);
        free(reqs);
        server_respond_error(rv->req, &err);
        job_free(j);
        return;
    }
    launch(s, j, rv->req, reqs);
    free(reqs);
}

void serving_handle_health_generate(struct server *s, const struct http_request_view *rv) {
    struct protocol_error err = {0};
    struct serving_job *j = job_create(s, PROTOCOL_GENERATE);
    struct gen_request *r = NULL;
    if (j) {
        j->health = true;
        j->req.kind = PROTOCOL_GENERATE;
        j->req.n_prompts = 1;
        j->req.prompts = calloc(1, sizeof *j->req.prompts);
        j->req.params = calloc(1, sizeof *j->req.params);
        j->prompt_ids = calloc(1, sizeof *j->prompt_ids);
        j->prompt_lens = calloc(1, sizeof *j->prompt_lens);
        j->choices = calloc(1, sizeof *j->choices);
    }
    if (j && j->req.prompts && j->req.params && j->prompt_ids && j->prompt_lens && j->choices &&
        (j->prompt_ids[0] = calloc(1, sizeof(int32_t)))) {
        j->req.n_params = 1;
        sampling_params_init(&j->req.params[0].sp);
        j->req.params[0].sp.temperature = 0;
        j->req.params[0].n = 1;
        j->req.params[0].skip_special_tokens = true;
        j->prompt_lens[0] = 1; /* input_ids [0], as SGLang does */
        j->n_prompt_ids = 1;
        j->n_choices = 1;
        j->n_per_prompt = 1;
        struct choice *c = &j->choices[0];
        c->job = j;
        c->matched_token = -1;
        jsonw_init(&c->text);
        snprintf(c->rid, sizeof c->rid, "health-%s", j->id);
        r = make_request(s, j, c, 1, 0);
    }
    if (!r) {
        if (j) job_free(j);
        protocol_fail(&err, 500, NULL, "out of memory");
        server_respond_error(rv->req, &err);
        return;
    }
    launch(s, j, rv->req, &r);
}

int serving_abort(struct server *s, const char *rid, bool all) {
    int n = 0;
    pthread_mutex_lock(&s->jobs_mu);
    for (struct serving_job *j = s->jobs; j; j = j->next) {
        bool job_match = all || (rid && !strcmp(j->id, rid));
        for (int32_t i = 0; i < j->n_choices; i++) {
            if (job_match || (rid && !strcmp(j->choices[i].rid, rid))) {
                engine_abort(s->engine, j->choices[i].rid);
                n++;
            }
        }
    }
    pthread_mutex_unlock(&s->jobs_mu);
    return n;
}

int serving_chat_prompt(struct server *s, const struct protocol_request *r, int32_t **ids, int32_t *n_ids,
                        struct protocol_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!s->tpl)
        return protocol_fail(err, 400, "messages",
                             "This model has no chat template; start the server with --chat-template FILE");
    cJSON *ctx = cJSON_CreateObject();
    if (!ctx) return protocol_fail(err, 500, NULL, "out of memory");
    bool ok = true;
    const cJSON *kw;
    static const char *const reserved[] = {"messages", "tools", "add_generation_prompt", "bos_token", "eos_token"};
    if (r->chat_template_kwargs) {
        cJSON_ArrayForEach(kw, r->chat_template_kwargs) {
            bool skip = false;
            for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++) skip |= !strcmp(kw->string, reserved[k]);
            if (!skip) ok &= cJSON_AddItemReferenceToObject(ctx, kw->string, (cJSON *)kw) != 0;
        }
    }
    ok &= cJSON_AddItemReferenceToObject(ctx, "messages", r->messages) != 0;
    /* As transformers' apply_chat_template: tools is None when absent, and special
     * tokens the tokenizer lacks are left undefined. */
    if (r->tools) ok &= cJSON_AddItemReferenceToObject(ctx, "tools", r->tools) != 0;
    else ok &= cJSON_AddNullToObject(ctx, "tools") != NULL;
    ok &= cJSON_AddBoolToObject(ctx, "add_generation_prompt", r->add_generation_prompt) != NULL;
    const char *bos = tokenizer_bos_token(s->tok), *eos = tokenizer_eos_token(s->tok);
    if (bos) ok &= cJSON_AddStringToObject(ctx, "bos_token", bos) != NULL;
    if (eos) ok &= cJSON_AddStringToObject(ctx, "eos_token", eos) != NULL;
    if (!ok) {
        cJSON_Delete(ctx);
        return protocol_fail(err, 500, NULL, "out of memory");
    }
    char *text = NULL;
    size_t len = 0;
    struct sgl_err e = {{0}};
    int rc = chat_template_render(s->tpl, ctx, &text, &len, &e);
    cJSON_Delete(ctx);
    if (rc) {
        free(text);
        return rc == ERR_NOMEM ? protocol_fail(err, 500, NULL, "out of memory")
                               : protocol_fail(err, 400, "messages", "chat template error: %s", e.msg);
    }
    size_t cnt = 0;
    rc = tokenizer_encode(s->tok, text, len, false, ids, &cnt, &e);
    free(text);
    if (rc) return protocol_fail(err, 400, "messages", "tokenization failed: %s", e.msg);
    if (cnt > INT32_MAX) return protocol_fail(err, 400, "messages", "prompt too long");
    *n_ids = (int32_t)cnt;
    return 0;
}
