/* engine: the public face of the serving engine (see engine.h) — config
 * defaults and derivation, request validation, the message queue into the
 * scheduler thread, and the stats snapshot.
 *
 * Threads: any thread calls engine_submit/abort/flush_cache/get_stats; they
 * touch only the queue (mu + cv) or the stats snapshot (stats_mu). The
 * scheduler thread owns the scheduler (all batch and cache state): it sleeps
 * on cv while it has no work and no messages, drains all queued messages in
 * order at the top of each iteration, runs one scheduler step, then publishes
 * stats. Once `stopping` is set no message is accepted; the thread drains what
 * is queued, aborts every request (final "abort" events) and exits. */
#include "managers/engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "managers/scheduler.h"
#include "mem_cache/kv_pool.h"
#include "models/model.h"

#define DEFAULT_MAX_RUNNING_REQUESTS 256
#define DEFAULT_KV_MEMORY_FRACTION 0.25
#define DEFAULT_MAX_CONTEXTS_IN_KV 16

enum engine_msg_type { ENGINE_MSG_SUBMIT, ENGINE_MSG_ABORT, ENGINE_MSG_FLUSH };

struct flush_reply {
    bool done;
    int rc;
    struct sgl_err err;
};

struct engine_msg {
    enum engine_msg_type type;
    struct engine_msg *next;
    struct gen_request *req;   /* SUBMIT (owned by the message) */
    char rid[72];              /* ABORT */
    struct flush_reply *reply; /* FLUSH (on the caller's stack) */
};

struct engine {
    struct engine_config cfg; /* resolved */
    const struct model *m;
    struct scheduler *sched; /* scheduler thread only (after start) */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;
    pthread_cond_t cv;       /* messages or stop for the scheduler thread */
    pthread_cond_t reply_cv; /* flush replies */
    struct engine_msg *head, *tail;
    bool stopping;

    pthread_mutex_t stats_mu;
    struct engine_stats stats;

    atomic_uint_fast64_t rid_counter;
};

void engine_config_init(struct engine_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->max_total_tokens = 0;
    cfg->page_size = 1;
    cfg->max_running_requests = 0;
    cfg->max_prefill_tokens = 16384;
    cfg->chunked_prefill_size = 4096;
    cfg->context_length = 0;
    cfg->schedule_policy = SCHEDULE_POLICY_FCFS;
    cfg->disable_radix_cache = false;
    cfg->random_seed = 42;
    cfg->threads = 0;
    cfg->stream_interval = 1;
    cfg->enable_mixed_chunk = false;
}

struct gen_request *gen_request_create(void) {
    struct gen_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    sampling_params_init(&r->sp);
    r->max_new_tokens = 128;
    r->skip_special_tokens = true;
    return r;
}

void gen_request_destroy(struct gen_request *r) {
    if (!r) return;
    free(r->input_ids);
    free(r->logit_bias_store);
    free(r->stop_token_ids);
    for (int32_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r);
}

/* Resolves the "derive" values of cfg against the model and the machine. */
static int resolve_config(const struct engine_config *in, const struct model *m, struct engine_config *c,
                          struct sgl_err *err) {
    *c = *in;
    if (c->page_size < 1) return err_setf(err, ERR_INVALID, "page_size must be >= 1, got %d", c->page_size);
    if (c->context_length <= 0) c->context_length = m->cfg.max_position_embeddings;
    if (c->context_length <= 1) return err_setf(err, ERR_INVALID, "context_length must be > 1");
    int64_t P = c->page_size;
    if (c->max_total_tokens <= 0) {
        size_t per_token = model_kv_bytes_per_token(m);
        long pages = sysconf(_SC_AVPHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
        double avail = pages > 0 && page_bytes > 0 ? (double)pages * (double)page_bytes : 4.0 * (1 << 30);
        int64_t by_mem = (int64_t)(avail * DEFAULT_KV_MEMORY_FRACTION / (double)per_token);
        int64_t cap = DEFAULT_MAX_CONTEXTS_IN_KV * c->context_length;
        c->max_total_tokens = by_mem < cap ? by_mem : cap;
    }
    c->max_total_tokens = c->max_total_tokens / P * P;
    if (c->max_total_tokens < P)
        return err_setf(err, ERR_INVALID, "max_total_tokens must hold at least one page of %lld tokens", (long long)P);
    if (c->max_total_tokens > INT32_MAX)
        return err_setf(err, ERR_INVALID, "max_total_tokens %lld is too large", (long long)c->max_total_tokens);
    if (c->max_running_requests <= 0) {
        int64_t n = c->max_total_tokens / 2;
        c->max_running_requests = (int32_t)(n < DEFAULT_MAX_RUNNING_REQUESTS ? (n > 0 ? n : 1) : DEFAULT_MAX_RUNNING_REQUESTS);
    }
    if (c->max_prefill_tokens <= 0) c->max_prefill_tokens = 16384;
    if (c->chunked_prefill_size > 0) {
        c->chunked_prefill_size = (int32_t)(c->chunked_prefill_size / P * P);
        if (c->chunked_prefill_size < P) c->chunked_prefill_size = (int32_t)P;
    } else {
        c->chunked_prefill_size = -1;
    }
    if (c->stream_interval < 1) c->stream_interval = 1;
    return 0;
}

static void publish_stats(struct engine *e) {
    struct engine_stats st;
    scheduler_fill_stats(e->sched, &st);
    pthread_mutex_lock(&e->stats_mu);
    e->stats = st;
    pthread_mutex_unlock(&e->stats_mu);
}

static void handle_msg(struct engine *e, struct engine_msg *msg) {
    switch (msg->type) {
    case ENGINE_MSG_SUBMIT:
        scheduler_add_request(e->sched, msg->req);
        break;
    case ENGINE_MSG_ABORT:
        scheduler_abort_request(e->sched, msg->rid);
        break;
    case ENGINE_MSG_FLUSH: {
        struct flush_reply *rep = msg->reply;
        int rc = scheduler_flush_cache(e->sched, &rep->err);
        publish_stats(e); /* a returned flush is a barrier: the stats are current */
        pthread_mutex_lock(&e->mu);
        rep->rc = rc;
        rep->done = true;
        pthread_cond_broadcast(&e->reply_cv);
        pthread_mutex_unlock(&e->mu);
        break;
    }
    }
    free(msg);
}

static void *engine_thread(void *arg) {
    struct engine *e = arg;
    bool idle_checked = true;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->head && !e->stopping && !scheduler_has_work(e->sched)) {
            pthread_mutex_unlock(&e->mu);
            if (!idle_checked) {
                scheduler_check_idle(e->sched);
                publish_stats(e);
                idle_checked = true;
            }
            pthread_mutex_lock(&e->mu);
            if (!e->head && !e->stopping) pthread_cond_wait(&e->cv, &e->mu);
        }
        struct engine_msg *msgs = e->head;
        e->head = e->tail = NULL;
        bool stop = e->stopping;
        pthread_mutex_unlock(&e->mu);
        while (msgs) {
            struct engine_msg *next = msgs->next;
            handle_msg(e, msgs);
            msgs = next;
        }
        if (stop) break;
        if (scheduler_has_work(e->sched)) {
            idle_checked = false;
            scheduler_step(e->sched);
        }
        publish_stats(e);
    }
    scheduler_abort_all(e->sched);
    publish_stats(e);
    return NULL;
}

int engine_create(const struct engine_config *cfg, const struct model *m, struct engine **out, struct sgl_err *err) {
    *out = NULL;
    struct engine_config rc_cfg;
    int rc = resolve_config(cfg, m, &rc_cfg, err);
    if (rc) return rc;
    struct engine *e = calloc(1, sizeof *e);
    if (!e) return err_setf(err, ERR_NOMEM, "engine: out of memory");
    e->cfg = rc_cfg;
    e->m = m;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    pthread_cond_init(&e->reply_cv, NULL);
    pthread_mutex_init(&e->stats_mu, NULL);
    atomic_init(&e->rid_counter, 0);
    if ((rc = scheduler_create(&e->cfg, m, &e->sched, err))) {
        engine_destroy(e);
        return rc;
    }
    publish_stats(e);
    if (pthread_create(&e->thread, NULL, engine_thread, e)) {
        engine_destroy(e);
        return err_setf(err, ERR_FAIL, "engine: cannot start the scheduler thread");
    }
    e->thread_started = true;
    LOG_INFO("engine: max_total_tokens %lld, page_size %d, max_running_requests %d, context_length %lld, "
             "chunked_prefill_size %d, max_prefill_tokens %d, radix cache %s",
             (long long)e->cfg.max_total_tokens, e->cfg.page_size, e->cfg.max_running_requests,
             (long long)e->cfg.context_length, e->cfg.chunked_prefill_size, e->cfg.max_prefill_tokens,
             e->cfg.disable_radix_cache ? "off" : "on");
    *out = e;
    return 0;
}

void engine_destroy(struct engine *e) {
    if (!e) return;
    if (e->thread_started) {
        pthread_mutex_lock(&e->mu);
        e->stopping = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    /* the thread drained the queue; anything left was never started */
    for (struct engine_msg *msg = e->head, *next; msg; msg = next) {
        next = msg->next;
        gen_request_destroy(msg->req);
        free(msg);
    }
    scheduler_destroy(e->sched);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    pthread_cond_destroy(&e->reply_cv);
    pthread_mutex_destroy(&e->stats_mu);
    free(e);
}

/* Appends msg; fails (without taking it) once the engine is stopping. */
static int enqueue(struct engine *e, struct engine_msg *msg) {
    pthread_mutex_lock(&e->mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->mu);
        return ERR_FAIL;
    }
    msg->next = NULL;
    if (e->tail) e->tail->next = msg;
    else e->head = msg;
    e->tail = msg;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

static int validate(const struct engine *e, const struct gen_request *r, struct sgl_err *err) {
    const struct engine_config *c = &e->cfg;
    int32_t vocab = (int32_t)e->m->cfg.vocab_size;
    if (!r->on_output) return err_setf(err, ERR_INVALID, "request has no output callback");
    if (r->n_input <= 0 || !r->input_ids) return err_setf(err, ERR_INVALID, "the input is empty");
    if (r->n_input >= c->context_length)
        return err_setf(err, ERR_INVALID,
                        "the input (%d tokens) is longer than the model's context length (%lld tokens)", r->n_input,
                        (long long)c->context_length);
    for (int32_t i = 0; i < r->n_input; i++)
        if (r->input_ids[i] < 0 || r->input_ids[i] >= vocab)
            return err_setf(err, ERR_INVALID, "input token id %d is out of range [0, %d)", r->input_ids[i], vocab);
    if (r->max_new_tokens < 0)
        return err_setf(err, ERR_INVALID, "max_new_tokens must be >= 0, got %d", r->max_new_tokens);
    if (r->min_new_tokens < 0)
        return err_setf(err, ERR_INVALID, "min_new_tokens must be >= 0, got %d", r->min_new_tokens);
    if (r->top_logprobs_num < 0 || r->top_logprobs_num > vocab)
        return err_setf(err, ERR_INVALID, "top_logprobs_num must be in [0, %d], got %d", vocab, r->top_logprobs_num);
    if (r->n_stop < 0 || (r->n_stop > 0 && !r->stop) || r->n_stop_token_ids < 0 ||
        (r->n_stop_token_ids > 0 && !r->stop_token_ids))
        return err_setf(err, ERR_INVALID, "malformed stop list");
    for (int32_t i = 0; i < r->n_stop; i++)
        if (!r->stop[i]) return err_setf(err, ERR_INVALID, "stop string %d is missing", i);
    return sampling_params_validate(&r->sp, vocab, err);
}

int engine_submit(struct engine *e, struct gen_request *req, struct sgl_err *err) {
    int rc = validate(e, req, err);
    if (rc) return rc;
    struct engine_msg *msg = calloc(1, sizeof *msg);
    if (!msg) return err_setf(err, ERR_NOMEM, "out of memory");
    if (!req->rid[0])
        snprintf(req->rid, sizeof req->rid, "req-%llu",
                 (unsigned long long)atomic_fetch_add(&e->rid_counter, 1));
    msg->type = ENGINE_MSG_SUBMIT;
    msg->req = req;
    if (enqueue(e, msg)) {
        free(msg);
        return err_setf(err, ERR_FAIL, "the engine is shutting down");
    }
    return 0;
}

void engine_abort(struct engine *e, const char *rid) {
    struct engine_msg *msg = calloc(1, sizeof *msg);
    if (!msg) {
        LOG_ERROR("out of memory: abort of %s dropped", rid);
        return;
    }
    msg->type = ENGINE_MSG_ABORT;
    snprintf(msg->rid, sizeof msg->rid, "%s", rid);
    if (enqueue(e, msg)) free(msg);
}

int engine_flush_cache(struct engine *e, struct sgl_err *err) {
    struct flush_reply rep = {.done = false, .rc = 0};
    struct engine_msg *msg = calloc(1, sizeof *msg);
    if (!msg) return err_setf(err, ERR_NOMEM, "out of memory");
    msg->type = ENGINE_MSG_FLUSH;
    msg->reply = &rep;
    if (enqueue(e, msg)) {
        free(msg);
        return err_setf(err, ERR_FAIL, "the engine is shutting down");
    }
    pthread_mutex_lock(&e->mu);
    while (!rep.done) pthread_cond_wait(&e->reply_cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
    if (rep.rc && err) *err = rep.err;
    return rep.rc;
}

void engine_get_stats(struct engine *e, struct engine_stats *out) {
    pthread_mutex_lock(&e->stats_mu);
    *out = e->stats;
    pthread_mutex_unlock(&e->stats_mu);
}

const struct engine_config *engine_get_config(const struct engine *e) { return &e->cfg; }
