/* server_internal: the server context shared by the router (server.c) and the
 * generation endpoints (serving.c). Not a public interface.
 *
 * struct server is immutable after server_create except for the job list
 * (guarded by jobs_mu), the stopping flag (life_mu) and the id counter (atomic). */
#ifndef SGLC_SERVER_SERVER_INTERNAL_H
#define SGLC_SERVER_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/http.h"
#include "server/jsonw.h"
#include "server/protocol.h"
#include "server/server.h"

struct model;
struct tokenizer;
struct chat_template;
struct engine;
struct metrics;
struct serving_job;

struct server {
    struct server_args args;
    const char *served_name;
    struct model *model;
    const struct tokenizer *tok;   /* model->tok */
    struct chat_template *tpl;     /* NULL: the model has no chat template */
    struct engine *engine;
    struct http_server *http;
    struct metrics *metrics;       /* NULL unless --enable-metrics */
    struct protocol_limits lim;
    int64_t context_length;
    double start_time;
    uint64_t id_salt;              /* random, makes ids unique across restarts */
    atomic_uint_fast64_t id_counter;
    pthread_mutex_t jobs_mu;
    struct serving_job *jobs;      /* live generation jobs (for /abort_request) */
    pthread_mutex_t life_mu;       /* held by every HTTP handler; shutdown takes it to set stopping */
    bool stopping;                 /* life_mu: the engine is being destroyed */
};

/* False once shutdown has begun (the engine may be gone). Takes life_mu: not for use inside a handler. */
bool server_engine_alive(struct server *s);

/* Writes an OpenAI error body and responds with err->status. */
void server_respond_error(struct http_request *req, const struct protocol_error *err);
/* Responds with a JSON body held in w (status 200 unless given). */
void server_respond_json(struct http_request *req, int status, struct jsonw *w);
/* A fresh 32-hex-digit id into buf (>= 33 bytes). Thread-safe. */
void server_new_id(struct server *s, char *buf);

/* POST /v1/completions, /v1/chat/completions, /generate. */
void serving_handle_generate(struct server *s, const struct http_request_view *rv, enum protocol_kind kind);
/* GET /health_generate: a one-token generation; 200 when it completes, 503 otherwise. */
void serving_handle_health_generate(struct server *s, const struct http_request_view *rv);
/* Aborts live requests whose rid (or job id) is `rid`, or all of them. Returns how many were aborted. */
int serving_abort(struct server *s, const char *rid, bool all);
/* Renders the chat template for normalized messages (protocol_request.messages etc.) and tokenizes the
 * result. On failure fills err (400 for template errors) and returns non-zero. */
int serving_chat_prompt(struct server *s, const struct protocol_request *r, int32_t **ids, int32_t *n_ids,
                        struct protocol_error *err);

#endif
