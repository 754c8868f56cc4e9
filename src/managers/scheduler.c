/* scheduler: one step of SGLang's event loop on the scheduler thread (see
 * scheduler.h). Requests move between
 *
 *   waiting ──admit──► (chunked ──last chunk──►) running ──finish──► freed
 *      ▲                                            │
 *      └───────────── retract (KV short) ───────────┘
 *
 * Invariants between steps:
 *  - every request is in exactly one of waiting[], running[] or `chunked`;
 *  - running and chunked requests have their KV written for ids[0 .. kv_len)
 *    (running: kv_len == n_ids - 1), waiting ones hold no KV;
 *  - pages: free + evictable + protected + request-owned == total, and when
 *    idle free + evictable == total (checked by scheduler_check_idle).
 * The per-batch arrays (forward inputs, logits, batch entries) are grow-only
 * buffers sized by the largest batch seen, so a steady decode loop does not
 * allocate (the tokenizer's detok pieces aside).
 * new_token_ratio (SGLang): the fraction of a running request's remaining
 * max_new_tokens reserved at admission; decays from 0.7 to 0.098 over 600
 * decode steps, jumps up after a retract, resets when idle. */
#include "managers/scheduler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/threadpool.h"
#include "managers/detokenizer.h"
#include "managers/schedule_batch.h"
#include "managers/schedule_policy.h"
#include "mem_cache/kv_pool.h"
#include "mem_cache/page_allocator.h"
#include "mem_cache/radix_cache.h"
#include "model_executor/forward_batch.h"
#include "models/model.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

#define INIT_NEW_TOKEN_RATIO 0.7
#define MIN_NEW_TOKEN_RATIO_FACTOR 0.14
#define NEW_TOKEN_RATIO_DECAY_STEPS 600
#define RETRACT_DECODE_STEPS 20

struct scheduler {
    struct engine_config cfg;
    const struct model *m;
    const struct tokenizer *tok;
    int32_t vocab;
    int32_t eos_ids[MODEL_CONFIG_MAX_EOS + 1];
    int n_eos;

    struct kv_pool *kv;
    struct page_allocator *alloc;
    struct radix_cache *tree;
    struct req_cache cache;
    struct threadpool *pool;
    struct model_workspace *ws;

    struct sched_req **waiting;
    int64_t n_waiting, cap_waiting;
    struct sched_req **running; /* [max_running_requests] */
    int32_t n_running;
    struct sched_req *chunked;
    struct batch batch;
    struct sched_req **scratch_reqs; /* [max_running_requests] retract order */

    uint64_t next_seq, n_seeded;
    double new_token_ratio, min_new_token_ratio, new_token_ratio_decay;

    /* forward inputs (grow-only) */
    int32_t *f_ids, *f_pos;
    int64_t f_tok_cap;
    int32_t *f_seq_start, *f_kv_len, *f_logit_idx;
    const int32_t **f_slots;
    float *logits;
    int64_t logits_rows;
    float *row_copy;    /* [vocab] raw logits kept for the sampled token's logprob */
    int32_t *top_ids;   /* [top_cap] */
    float *top_lp;
    int32_t top_cap;

    /* counters */
    int64_t prompt_tokens_total, generation_tokens_total, cached_tokens_total, requests_finished_total;
    int64_t forward_ct, retract_ct;
};

/* ---------------------------------------------------------------- events */

static void deliver(struct sched_req *r, bool finished, const char *error) {
    struct gen_request *in = r->in;
    const char *text = "";
    size_t text_len = 0;
    detokenizer_take(r->detok, &text, &text_len);
    int idx = r->matched_stop;
    struct gen_output_event ev = {
        .rid = in->rid,
        .text = text,
        .text_len = text_len,
        .ids = r->ev_ids,
        .n_ids = r->n_ev,
        .logprobs = in->return_logprob && r->n_ev > 0 ? r->ev_lp : NULL,
        .top_ids = in->top_logprobs_num > 0 && r->n_ev > 0 ? r->ev_top_ids : NULL,
        .top_logprobs = in->top_logprobs_num > 0 && r->n_ev > 0 ? r->ev_top_lp : NULL,
        .top_n = in->top_logprobs_num,
        .finished = finished,
        .finish_reason = finished ? r->finish_reason : NULL,
        .matched_stop_token = r->matched_token,
        .matched_stop_str = idx >= 0 ? in->stop[idx] : NULL,
        .prompt_tokens = r->n_input,
        .completion_tokens = r->n_output,
        .cached_tokens = r->cached_tokens,
        .error = error,
    };
    in->on_output(in->user, &ev);
    r->n_ev = 0;
}

/* An event for a request that never became a sched_req. */
static void deliver_error(struct gen_request *in, const char *msg) {
    struct gen_output_event ev = {
        .rid = in->rid,
        .text = "",
        .finished = true,
        .finish_reason = "abort",
        .matched_stop_token = -1,
        .prompt_tokens = in->n_input,
        .error = msg,
    };
    in->on_output(in->user, &ev);
}

static void count_finished(struct scheduler *s, const struct sched_req *r) {
    s->prompt_tokens_total += r->n_input;
    s->generation_tokens_total += r->n_output;
    s->cached_tokens_total += r->cached_tokens;
    s->requests_finished_total++;
}

/* Ends a request that holds KV written by forwards (or none): final event, release, free. */
static void end_request(struct scheduler *s, struct sched_req *r, const char *reason, const char *error,
                        bool kv_written) {
    if (!r->finished) {
        r->finished = true;
        r->finish_reason = reason;
        struct sgl_err err;
        if (detokenizer_finish(r->detok, true, &err)) LOG_WARN("request %s: %s", r->in->rid, err.msg);
    }
    req_cache_release(&s->cache, r, kv_written);
    deliver(r, true, error);
    count_finished(s, r);
    sched_req_destroy(r);
}

/* ---------------------------------------------------------------- create / destroy */

int scheduler_create(const struct engine_config *cfg, const struct model *m, struct scheduler **out,
                     struct sgl_err *err) {
    *out = NULL;
    struct scheduler *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, ERR_NOMEM, "scheduler: out of memory");
    s->cfg = *cfg;
    s->m = m;
    s->tok = m->tok;
    s->vocab = (int32_t)m->cfg.vocab_size;
    for (int i = 0; i < m->cfg.n_eos && s->n_eos < MODEL_CONFIG_MAX_EOS; i++) s->eos_ids[s->n_eos++] = m->cfg.eos_token_ids[i];
    int32_t tok_eos = m->tok ? tokenizer_eos_id(m->tok) : -1;
    bool dup = false;
    for (int i = 0; i < s->n_eos; i++) dup |= s->eos_ids[i] == tok_eos;
    if (tok_eos >= 0 && !dup) s->eos_ids[s->n_eos++] = tok_eos;

    int64_t P = cfg->page_size, n_pages = cfg->max_total_tokens / P;
    int32_t max_run = cfg->max_running_requests;
    int rc = page_allocator_create(n_pages, (int32_t)P, &s->alloc, err);
    if (!rc) rc = model_kv_pool_create(m, n_pages * P, &s->kv, err);
    if (!rc && !cfg->disable_radix_cache) rc = radix_cache_create(s->alloc, &s->tree, err);
    if (rc) goto fail;
    s->cache = (struct req_cache){s->alloc, s->tree, (int32_t)P};
    s->pool = threadpool_create(cfg->threads);
    s->ws = model_workspace_create();
    s->running = calloc((size_t)max_run, sizeof *s->running);
    s->scratch_reqs = calloc((size_t)max_run + 1, sizeof *s->scratch_reqs);
    /* a batch: up to max_run admitted/running requests, a chunked one, and the running ones when mixed */
    int32_t cap = 2 * max_run + 2;
    s->f_seq_start = malloc((size_t)(cap + 1) * sizeof *s->f_seq_start);
    s->f_kv_len = malloc((size_t)cap * sizeof *s->f_kv_len);
    s->f_logit_idx = malloc((size_t)cap * sizeof *s->f_logit_idx);
    s->f_slots = malloc((size_t)cap * sizeof *s->f_slots);
    s->row_copy = malloc((size_t)s->vocab * sizeof *s->row_copy);
    if (!s->pool || !s->ws || !s->running || !s->scratch_reqs || !s->f_seq_start || !s->f_kv_len || !s->f_logit_idx ||
        !s->f_slots || !s->row_copy || batch_init(&s->batch, cap)) {
        rc = err_setf(err, ERR_NOMEM, "scheduler: out of memory");
        goto fail;
    }
    s->new_token_ratio = INIT_NEW_TOKEN_RATIO;
    s->min_new_token_ratio = INIT_NEW_TOKEN_RATIO * MIN_NEW_TOKEN_RATIO_FACTOR;
    s->new_token_ratio_decay = (s->new_token_ratio - s->min_new_token_ratio) / NEW_TOKEN_RATIO_DECAY_STEPS;
    *out = s;
    return 0;
fail:
    scheduler_destroy(s);
    return rc;
}

void scheduler_destroy(struct scheduler *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n_waiting; i++) sched_req_destroy(s->waiting[i]);
    for (int32_t i = 0; i < s->n_running; i++) sched_req_destroy(s->running[i]);
    sched_req_destroy(s->chunked);
    free(s->waiting);
    free(s->running);
    free(s->scratch_reqs);
    batch_free(&s->batch);
    free(s->f_ids);
    free(s->f_pos);
    free(s->f_seq_start);
    free(s->f_kv_len);
    free(s->f_logit_idx);
    free(s->f_slots);
    free(s->logits);
    free(s->row_copy);
    free(s->top_ids);
    free(s->top_lp);
    model_workspace_destroy(s->ws);
    threadpool_destroy(s->pool);
    radix_cache_destroy(s->tree);
    kv_pool_destroy(s->kv);
    page_allocator_destroy(s->alloc);
    free(s);
}

/* ---------------------------------------------------------------- queues */

static int waiting_push(struct scheduler *s, struct sched_req *r) {
    if (s->n_waiting == s->cap_waiting) {
        int64_t cap = s->cap_waiting ? 2 * s->cap_waiting : 64;
        struct sched_req **nw = realloc(s->waiting, (size_t)cap * sizeof *nw);
        if (!nw) return ERR_NOMEM;
        s->waiting = nw;
        s->cap_waiting = cap;
    }
    r->state = SCHED_REQ_WAITING;
    s->waiting[s->n_waiting++] = r;
    return 0;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void scheduler_add_request(struct scheduler *s, struct gen_request *in) {
    int64_t P = s->cfg.page_size;
    int64_t room = s->cfg.context_length - in->n_input;
    int32_t max_new = in->max_new_tokens < room ? in->max_new_tokens : (int32_t)room;
    int64_t need_pages = ((int64_t)in->n_input + max_new + P - 1) / P;
    if (need_pages > page_allocator_total_pages(s->alloc)) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the request needs %lld KV cache tokens (%d prompt + %d max_new_tokens) but the KV cache holds only "
                 "%lld tokens (--max-total-tokens)",
                 (long long)in->n_input + max_new, in->n_input, max_new, (long long)s->cfg.max_total_tokens);
        deliver_error(in, msg);
        gen_request_destroy(in);
        return;
    }
    uint64_t seed = splitmix64(s->cfg.random_seed + s->n_seeded++);
    struct sched_req *r = NULL;
    struct sgl_err err = {{0}};
    if (sched_req_create(in, s->next_seq++, max_new, (int32_t)P, s->tok, s->vocab, s->eos_ids, s->n_eos, seed, &r,
                         &err) ||
        waiting_push(s, r)) {
        if (r) {
            r->in = NULL; /* keep ownership of in here */
            sched_req_destroy(r);
        }
        deliver_error(in, "out of memory");
        gen_request_destroy(in);
        return;
    }
    if (max_new == 0) { /* nothing to generate: done without a forward */
        s->n_waiting--;
        end_request(s, r, "length", NULL, false);
    }
}

static bool take_by_rid(struct sched_req **arr, int64_t *n, const char *rid, struct sched_req **out) {
    for (int64_t i = 0; i < *n; i++)
        if (!strcmp(arr[i]->in->rid, rid)) {
            *out = arr[i];
            memmove(arr + i, arr + i + 1, (size_t)(*n - i - 1) * sizeof *arr);
            (*n)--;
            return true;
        }
    return false;
}

void scheduler_abort_request(struct scheduler *s, const char *rid) {
    struct sched_req *r = NULL;
    int64_t n_run = s->n_running;
    if (take_by_rid(s->waiting, &s->n_waiting, rid, &r)) {
    } else if (take_by_rid(s->running, &n_run, rid, &r)) {
        s->n_running = (int32_t)n_run;
    } else if (s->chunked && !strcmp(s->chunked->in->rid, rid)) {
        r = s->chunked;
        s->chunked = NULL;
    } else {
        return;
    }
    end_request(s, r, "abort", NULL, true);
}

void scheduler_abort_all(struct scheduler *s) {
    while (s->n_waiting > 0) end_request(s, s->waiting[--s->n_waiting], "abort", NULL, true);
    while (s->n_running > 0) end_request(s, s->running[--s->n_running], "abort", NULL, true);
    if (s->chunked) {
        struct sched_req *r = s->chunked;
        s->chunked = NULL;
        end_request(s, r, "abort", NULL, true);
    }
}

bool scheduler_has_work(const struct scheduler *s) { return s->n_waiting > 0 || s->n_running > 0 || s->chunked; }

int scheduler_flush_cache(struct scheduler *s, struct sgl_err *err) {
    if (scheduler_has_work(s))
        return err_setf(err, ERR_INVALID,
                        "cache not flushed because there are pending requests (%d running, %lld queued)",
                        s->n_running + (s->chunked ? 1 : 0), (long long)s->n_waiting);
    if (s->tree && radix_cache_reset(s->tree, err)) return ERR_INVALID;
    if (page_allocator_free_pages(s->alloc) != page_allocator_total_pages(s->alloc))
        return err_setf(err, ERR_FAIL, "cache flushed but %lld KV pages are still in use",
                        (long long)(page_allocator_total_pages(s->alloc) - page_allocator_free_pages(s->alloc)));
    s->new_token_ratio = INIT_NEW_TOKEN_RATIO;
    return 0;
}

int scheduler_check_idle(struct scheduler *s) {
    s->new_token_ratio = INIT_NEW_TOKEN_RATIO;
    if (scheduler_has_work(s)) return 0;
    int64_t total = page_allocator_total_pages(s->alloc) * s->cfg.page_size;
    int64_t avail = page_allocator_available_tokens(s->alloc);
    int64_t evictable = s->tree ? radix_cache_evictable_tokens(s->tree) : 0;
    int64_t protected_ = s->tree ? radix_cache_protected_tokens(s->tree) : 0;
    if (avail + evictable != total || protected_ != 0) {
        LOG_ERROR("KV leak: %lld free + %lld evictable + %lld protected != %lld total tokens", (long long)avail,
                  (long long)evictable, (long long)protected_, (long long)total);
        return ERR_FAIL;
    }
    return 0;
}

/* ---------------------------------------------------------------- batch building */

static int64_t future_tokens(const struct sched_req *r) {
    int64_t left = (int64_t)r->max_new - r->n_output;
    return left < SCHEDULE_CLIP_MAX_NEW_TOKENS ? left : SCHEDULE_CLIP_MAX_NEW_TOKENS;
}

static void build_prefill(struct scheduler *s, struct batch *b) {
    int64_t reserved = 0;
    for (int32_t i = 0; i < s->n_running; i++) reserved += (int64_t)ceil((double)future_tokens(s->running[i]) * s->new_token_ratio);
    struct prefill_adder a;
    prefill_adder_init(&a, &s->cache, b, reserved, s->cfg.max_prefill_tokens, s->cfg.chunked_prefill_size);
    if (s->chunked && prefill_adder_add_chunked(&a, s->chunked) != PREFILL_ADD_OK) return;
    if (s->n_waiting == 0) return;
    schedule_policy_sort(s->cfg.schedule_policy, &s->cache, s->waiting, s->n_waiting);
    int64_t k = 0;
    while (k < s->n_waiting && s->n_running + a.n_added < s->cfg.max_running_requests) {
        struct sched_req *r = s->waiting[k];
        if (prefill_adder_add_one(&a, r) != PREFILL_ADD_OK) break;
        if (r->state == SCHED_REQ_CHUNKED) s->chunked = r;
        k++;
    }
    memmove(s->waiting, s->waiting + k, (size_t)(s->n_waiting - k) * sizeof *s->waiting);
    s->n_waiting -= k;
}

/* Pages the running requests need for their next `steps` tokens. */
static int64_t decode_pages_needed(const struct scheduler *s, int32_t n_reqs, struct sched_req *const *reqs,
                                   int64_t steps) {
    int64_t pages = 0;
    for (int32_t i = 0; i < n_reqs; i++) {
        int64_t k = future_tokens(reqs[i]);
        pages += req_cache_pages_needed(&s->cache, reqs[i], k < steps ? k : steps);
    }
    return pages;
}

static int64_t reclaimable_pages(const struct scheduler *s) {
    return req_cache_reclaimable_tokens(&s->cache) / s->cfg.page_size;
}

/* Most outputs first; among equals the shorter prompt first (SGLang's retract order, victims from the tail). */
static int retract_cmp(const void *pa, const void *pb) {
    const struct sched_req *a = *(struct sched_req *const *)pa, *b = *(struct sched_req *const *)pb;
    if (a->n_output != b->n_output) return a->n_output > b->n_output ? -1 : 1;
    if (a->n_input != b->n_input) return a->n_input < b->n_input ? -1 : 1;
    return a->seq < b->seq ? -1 : 1;
}

static void retract_one(struct scheduler *s, struct sched_req *r) {
    r->in_running = false;
    req_cache_release(&s->cache, r, true); /* its KV stays in the radix tree, unlocked, until evicted */
    if (waiting_push(s, r)) {
        end_request(s, r, "abort", "out of memory while retracting", true);
        return;
    }
    s->retract_ct++;
}

/* Makes room for one decode step of the running batch, retracting requests with the
 * fewest outputs (and then the chunked request) when the KV pool runs short. */
static void ensure_decode_memory(struct scheduler *s) {
    if (decode_pages_needed(s, s->n_running, s->running, 1) <= reclaimable_pages(s)) return;
    memcpy(s->scratch_reqs, s->running, (size_t)s->n_running * sizeof *s->running);
    qsort(s->scratch_reqs, (size_t)s->n_running, sizeof *s->scratch_reqs, retract_cmp);
    int32_t n = s->n_running;
    /* keep a margin of RETRACT_DECODE_STEPS tokens per remaining request, like SGLang */
    while (n > 1 && decode_pages_needed(s, n, s->scratch_reqs, RETRACT_DECODE_STEPS) > reclaimable_pages(s))
        retract_one(s, s->scratch_reqs[--n]);
    if (decode_pages_needed(s, n, s->scratch_reqs, 1) > reclaimable_pages(s) && s->chunked) {
        struct sched_req *c = s->chunked;
        s->chunked = NULL;
        retract_one(s, c);
    }
    /* rebuild running in its original order without the retracted ones */
    int32_t w = 0;
    for (int32_t i = 0; i < s->n_running; i++)
        if (s->running[i]->in_running) s->running[w++] = s->running[i];
    s->n_running = w;
    int64_t decoded = 0, max_new = 0;
    for (int32_t i = 0; i < n; i++) {
        decoded += s->running[i]->n_output;
        max_new += s->running[i]->max_new;
    }
    double ratio = max_new > 0 ? (double)(decoded + RETRACT_DECODE_STEPS * (int64_t)n) / (double)max_new : 1.0;
    s->new_token_ratio = ratio < 1.0 ? ratio : 1.0;
    LOG_INFO("KV cache full: retracted requests, %d still running (new_token_ratio %.3f)", n, s->new_token_ratio);
}

/* Appends a decode entry for every running request, allocating its next slot. */
static bool add_decodes(struct scheduler *s, struct batch *b) {
    if (decode_pages_needed(s, s->n_running, s->running, 1) > reclaimable_pages(s)) return false;
    for (int32_t i = 0; i < s->n_running; i++) {
        struct sched_req *r = s->running[i];
        if (req_cache_alloc(&s->cache, r, 1)) { /* cannot happen: counted above */
            LOG_ERROR("decode slot allocation failed");
            return false;
        }
        batch_push(b, r, 1, true);
    }
    return true;
}

/* ---------------------------------------------------------------- forward + results */

static int reserve_forward(struct scheduler *s, int64_t n_tokens, int64_t n_logits) {
    if (n_tokens > s->f_tok_cap) {
        int64_t cap = s->f_tok_cap ? s->f_tok_cap : 256;
        while (cap < n_tokens) cap *= 2;
        int32_t *ni = realloc(s->f_ids, (size_t)cap * sizeof *ni);
        if (!ni) return ERR_NOMEM;
        s->f_ids = ni;
        int32_t *np = realloc(s->f_pos, (size_t)cap * sizeof *np);
        if (!np) return ERR_NOMEM;
        s->f_pos = np;
        s->f_tok_cap = cap;
    }
    if (n_logits > s->logits_rows) {
        float *nl = realloc(s->logits, (size_t)n_logits * (size_t)s->vocab * sizeof *nl);
        if (!nl) return ERR_NOMEM;
        s->logits = nl;
        s->logits_rows = n_logits;
    }
    return 0;
}

static int32_t sample_token(struct scheduler *s, struct sched_req *r, float *row) {
    const struct gen_request *in = r->in;
    int32_t top_n = in->top_logprobs_num;
    if (top_n > 0) sampler_top_logprobs(row, s->vocab, top_n, s->top_ids, s->top_lp);
    if (in->return_logprob) memcpy(s->row_copy, row, (size_t)s->vocab * sizeof *row);
    bool mask = r->n_output < in->min_new_tokens;
    int32_t id = sampler_sample(r->ss, &in->sp, row, s->vocab, mask ? r->mask_ids : NULL, mask ? r->n_mask : 0);
    float lp = in->return_logprob ? sampler_logprob(s->row_copy, s->vocab, id) : 0.0f;
    if (sampler_state_add_output(r->ss, id)) LOG_WARN("request %s: penalty history is full", in->rid);
    if (sched_req_record_output(r, id, lp, s->top_ids, s->top_lp)) LOG_ERROR("request %s: out of memory", in->rid);
    return id;
}

/* Appends the sampled token, runs the finish checks in SGLang's order
 * (max_new_tokens, EOS/stop ids, stop strings) and sends the event if due.
 * Returns true when the request finished. */
static bool process_token(struct scheduler *s, struct sched_req *r, int32_t id) {
    const struct gen_request *in = r->in;
    r->ids[r->n_ids++] = id;
    r->n_output++;
    const char *reason = NULL;
    if (r->n_output >= r->max_new) {
        reason = "length";
    } else if (!in->ignore_eos && sched_req_is_stop_token(r, id)) {
        reason = "stop";
        r->matched_token = id;
    }
    struct sgl_err err;
    if ((r->matched_token < 0 || in->no_stop_trim) && detokenizer_push(r->detok, id, &err))
        LOG_WARN("request %s: %s", in->rid, err.msg);
    if (!reason && detokenizer_matched_stop(r->detok) >= 0) {
        reason = "stop";
        r->matched_stop = detokenizer_matched_stop(r->detok);
    }
    if (reason) {
        r->finished = true;
        r->finish_reason = reason;
        if (detokenizer_finish(r->detok, true, &err)) LOG_WARN("request %s: %s", in->rid, err.msg);
        return true;
    }
    if (in->stream && (r->n_output == 1 || r->n_output % s->cfg.stream_interval == 0)) deliver(r, false, NULL);
    return false;
}

/* Fails every request of a batch whose forward failed (their new KV was not written). */
static void fail_batch(struct scheduler *s, struct batch *b, const char *msg) {
    for (int32_t i = 0; i < b->n; i++) {
        struct sched_req *r = b->e[i].req;
        if (r == s->chunked) s->chunked = NULL;
        for (int32_t j = 0; j < s->n_running; j++)
            if (s->running[j] == r) {
                memmove(s->running + j, s->running + j + 1, (size_t)(s->n_running - j - 1) * sizeof *s->running);
                s->n_running--;
                break;
            }
        end_request(s, r, "abort", msg, false);
    }
    b->n = 0;
}

static void run_batch(struct scheduler *s, struct batch *b) {
    int64_t n_tokens = 0;
    int32_t n_logits = 0, max_top = 0;
    for (int32_t i = 0; i < b->n; i++) {
        n_tokens += b->e[i].n_new;
        n_logits += b->e[i].sample;
        if (b->e[i].req->in->top_logprobs_num > max_top) max_top = b->e[i].req->in->top_logprobs_num;
    }
    if (max_top > s->top_cap) {
        int32_t *ni = realloc(s->top_ids, (size_t)max_top * sizeof *ni);
        if (ni) s->top_ids = ni;
        float *nl = realloc(s->top_lp, (size_t)max_top * sizeof *nl);
        if (nl) s->top_lp = nl;
        if (ni && nl) s->top_cap = max_top;
    }
    if (max_top > s->top_cap || reserve_forward(s, n_tokens, n_logits)) {
        fail_batch(s, b, "out of memory for the batch");
        return;
    }
    int64_t t = 0;
    n_logits = 0;
    for (int32_t i = 0; i < b->n; i++) {
        struct sched_req *r = b->e[i].req;
        int64_t start = r->kv_len - b->e[i].n_new;
        s->f_seq_start[i] = (int32_t)t;
        for (int64_t j = start; j < r->kv_len; j++, t++) {
            s->f_ids[t] = r->ids[j];
            s->f_pos[t] = (int32_t)j;
        }
        s->f_kv_len[i] = (int32_t)r->kv_len;
        s->f_slots[i] = r->slots;
        if (b->e[i].sample) s->f_logit_idx[n_logits++] = (int32_t)(t - 1);
    }
    s->f_seq_start[b->n] = (int32_t)t;
    struct forward_batch fb = {
        .n_tokens = (int32_t)n_tokens,
        .input_ids = s->f_ids,
        .positions = s->f_pos,
        .n_seqs = b->n,
        .seq_start = s->f_seq_start,
        .kv_len = s->f_kv_len,
        .kv_slots = s->f_slots,
        .n_logits = n_logits,
        .logit_idx = s->f_logit_idx,
    };
    struct sgl_err err = {{0}};
    if (model_forward(s->m, s->pool, s->ws, s->kv, &fb, s->logits, &err)) {
        LOG_ERROR("forward failed: %s", err.msg);
        fail_batch(s, b, err.msg);
        return;
    }
    s->forward_ct++;

    /* results: entries that were running stay in running[] unless they finish;
     * newly prefilled ones join it (or stay chunked) */
    int32_t row = 0;
    bool any_finished = false;
    for (int32_t i = 0; i < b->n; i++) {
        struct sched_req *r = b->e[i].req;
        if (!b->e[i].sample) { /* a non-final chunk */
            req_cache_unfinished(&s->cache, r);
            continue;
        }
        bool was_running = r->in_running;
        if (r == s->chunked) s->chunked = NULL;
        int32_t id = sample_token(s, r, s->logits + (size_t)row++ * (size_t)s->vocab);
        bool done = process_token(s, r, id);
        if (!was_running) {
            if (done) {
                end_request(s, r, r->finish_reason, NULL, true);
                continue;
            }
            req_cache_unfinished(&s->cache, r); /* share the prompt with later requests at once */
            r->in_running = true;
            s->running[s->n_running++] = r;
        } else if (done) {
            any_finished = true;
        }
    }
    if (any_finished) {
        int32_t w = 0;
        for (int32_t i = 0; i < s->n_running; i++) {
            struct sched_req *r = s->running[i];
            if (r->finished) end_request(s, r, r->finish_reason, NULL, true);
            else s->running[w++] = r;
        }
        s->n_running = w;
    }
}

void scheduler_step(struct scheduler *s) {
    struct batch *b = &s->batch;
    b->n = 0;
    if (s->chunked || s->n_waiting > 0) build_prefill(s, b);
    if (b->n > 0) {
        if (s->cfg.enable_mixed_chunk && s->n_running > 0) add_decodes(s, b); /* skipped when KV is short */
    } else if (s->n_running > 0) {
        ensure_decode_memory(s);
        if (!add_decodes(s, b)) {
            /* a single request always fits (checked on arrival), so this is a bug; do not spin */
            struct sched_req *r = s->running[--s->n_running];
            end_request(s, r, "abort", "the KV cache cannot hold this request", true);
            return;
        }
        s->new_token_ratio -= s->new_token_ratio_decay;
        if (s->new_token_ratio < s->min_new_token_ratio) s->new_token_ratio = s->min_new_token_ratio;
    }
    if (b->n > 0) {
        run_batch(s, b);
    } else if (s->n_running == 0 && !s->chunked && s->n_waiting > 0) {
        /* nothing runs, so nothing will free memory: admission cannot fail here (a lone
         * request always fits); fail the head request rather than spin if it ever does */
        struct sched_req *r = s->waiting[0];
        memmove(s->waiting, s->waiting + 1, (size_t)(s->n_waiting - 1) * sizeof *s->waiting);
        s->n_waiting--;
        LOG_ERROR("request %s cannot be scheduled on an idle engine", r->in->rid);
        end_request(s, r, "abort", "the request cannot be scheduled", true);
    }
}

void scheduler_fill_stats(const struct scheduler *s, struct engine_stats *o) {
    memset(o, 0, sizeof *o);
    int64_t total = page_allocator_total_pages(s->alloc) * s->cfg.page_size;
    int64_t evictable = s->tree ? radix_cache_evictable_tokens(s->tree) : 0;
    o->running_requests = s->n_running + (s->chunked ? 1 : 0);
    o->queued_requests = (int32_t)s->n_waiting;
    o->kv_total_tokens = total;
    o->kv_evictable_tokens = evictable;
    o->kv_used_tokens = total - page_allocator_available_tokens(s->alloc) - evictable;
    o->prompt_tokens_total = s->prompt_tokens_total;
    o->generation_tokens_total = s->generation_tokens_total;
    o->cached_tokens_total = s->cached_tokens_total;
    o->requests_finished_total = s->requests_finished_total;
    o->max_total_tokens = s->cfg.max_total_tokens;
    o->max_running_requests = s->cfg.max_running_requests;
    o->context_length = s->cfg.context_length;
    o->forward_ct = s->forward_ct;
    o->retract_ct = s->retract_ct;
}
