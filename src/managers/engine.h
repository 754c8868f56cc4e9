/* engine: the serving engine behind the HTTP server — SGLang's scheduler
 * (continuous batching, chunked prefill, radix prefix cache over a paged KV
 * pool, retract on KV exhaustion) plus incremental detokenization and stop
 * checks, running on its own scheduler thread (managers/scheduler.c).
 *
 * Threads: engine_submit / engine_abort / engine_flush_cache / engine_get_stats
 * may be called from any thread (they enqueue messages or read a snapshot).
 * The output callback of a request runs on the scheduler thread: it must copy
 * what it needs and return quickly (e.g. push to the I/O thread's queue and
 * wake it). After the event with finished == true, no further callback is
 * made for that request and the engine no longer references req->user.
 *
 * Events of one request, in order:
 *  - stream: one after the first token, then every stream_interval tokens,
 *    then the final one; not stream: only the final one (with all ids/text).
 *  - text and ids are the NEW part since the previous event (clients wanting
 *    SGLang's cumulative "text" concatenate). Text that could be the start of
 *    a stop string is held back until it is known not to be one.
 *  - finish_reason: "length" (max_new_tokens, or the context length reached),
 *    "stop" (matched_stop_token = the EOS / stop_token_ids id, whose text is
 *    not included; or matched_stop_str, the text cut where it starts, unless
 *    no_stop_trim), "abort" (engine_abort, engine_destroy, or an error).
 *  - error != NULL (finish_reason "abort"): the request failed after it was
 *    accepted, e.g. it can never fit in the KV pool (prompt + max_new_tokens >
 *    max_total_tokens) or a forward failed. The engine keeps serving.
 * Finish checks run in SGLang's order: max_new_tokens, then EOS/stop ids
 * (skipped when ignore_eos, which also disables stop_token_ids, as in SGLang),
 * then stop strings. Before min_new_tokens outputs, EOS and stop_token_ids
 * are masked out of sampling. */
#ifndef SGLC_MANAGERS_ENGINE_H
#define SGLC_MANAGERS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "sampling/sampler.h"

struct model;

enum schedule_policy { SCHEDULE_POLICY_FCFS = 0, SCHEDULE_POLICY_LPM };

struct engine_config {
    int64_t max_total_tokens;     /* KV pool capacity in tokens (rounded down to whole pages) */
    int32_t page_size;            /* tokens per KV page (>= 1) */
    int32_t max_running_requests; /* decode batch size cap */
    int32_t max_prefill_tokens;   /* tokens of new prefill per step (budget) */
    int32_t chunked_prefill_size; /* max tokens of one request's prefill chunk; <= 0 = no chunking */
    int64_t context_length;       /* max prompt + output tokens per request */
    enum schedule_policy schedule_policy;
    bool disable_radix_cache;
    uint64_t random_seed;         /* seeds requests that carry no seed */
    int32_t threads;              /* compute threads (<= 0: all CPUs) */
    int32_t stream_interval;      /* emit streaming events every N tokens (>= 1) */
    bool enable_mixed_chunk;      /* run the decodes of running requests in the same forward as a prefill */
};

/* Fills the SGLang defaults: page_size 1, chunked_prefill_size 4096, max_prefill_tokens 16384,
 * fcfs, radix cache on, random_seed 42, stream_interval 1, threads 0 (all CPUs). 0 means
 * "derive" for: context_length (the model's), max_total_tokens (KV bytes <= 25% of the
 * available RAM, at most 16 x context_length), max_running_requests
 * (min(max_total_tokens / 2, 256)). engine_get_config returns the resolved values
 * (chunked_prefill_size rounded down to whole pages, -1 when off). */
void engine_config_init(struct engine_config *cfg);

/* One output event of a request (valid only during the callback). */
struct gen_output_event {
    const char *rid;
    const char *text;       /* new text since the previous event (UTF-8 complete; stop string trimmed) */
    size_t text_len;
    const int32_t *ids;     /* new output token ids since the previous event */
    int32_t n_ids;
    const float *logprobs;  /* [n_ids] logprob of each new id (if return_logprob), else NULL */
    const int32_t *top_ids; /* [n_ids][top_n] (if top_logprobs_num > 0), else NULL */
    const float *top_logprobs;
    int32_t top_n;
    bool finished;
    const char *finish_reason; /* "stop", "length", "abort" when finished */
    int32_t matched_stop_token; /* EOS / stop_token_ids id that finished it, or -1 */
    const char *matched_stop_str; /* stop string that finished it, or NULL */
    int32_t prompt_tokens, completion_tokens, cached_tokens;
    const char *error; /* non-NULL: the request failed (message for a 400/500); finished is true */
};

typedef void (*engine_output_fn)(void *user, const struct gen_output_event *ev);

/* A tokenized generation request (SGLang's TokenizedGenerateReqInput). All
 * pointers are owned by the request; engine_submit takes ownership of the whole
 * struct (allocate with gen_request_create, free with gen_request_destroy). */
struct gen_request {
    char rid[72];
    int32_t *input_ids;
    int32_t n_input;
    struct sampling_params sp; /* sp.logit_bias points into logit_bias_store */
    struct logit_bias_entry *logit_bias_store;
    int32_t max_new_tokens;    /* default 128 */
    int32_t min_new_tokens;    /* default 0 */
    bool ignore_eos;
    bool skip_special_tokens;  /* default true */
    bool no_stop_trim;
    int32_t *stop_token_ids;
    int32_t n_stop_token_ids;
    char **stop;               /* stop strings */
    int32_t n_stop;
    bool stream;               /* events every stream_interval tokens; else one final event */
    bool return_logprob;
    int32_t top_logprobs_num;
    engine_output_fn on_output;
    void *user;
};

struct gen_request *gen_request_create(void); /* defaults filled; NULL on OOM */
void gen_request_destroy(struct gen_request *r);

/* A snapshot, published by the scheduler thread after every step and before a flush returns. */
struct engine_stats {
    int32_t running_requests, queued_requests; /* running includes a request in chunked prefill */
    int64_t kv_total_tokens;
    int64_t kv_used_tokens;      /* held by requests (not free, not merely cached) */
    int64_t kv_evictable_tokens; /* cached in the radix tree, unlocked; free = total - used - evictable */
    int64_t prompt_tokens_total, generation_tokens_total, cached_tokens_total;
    int64_t requests_finished_total;
    int64_t max_total_tokens;
    int32_t max_running_requests;
    int64_t context_length;
    int64_t forward_ct;  /* forward passes run */
    int64_t retract_ct;  /* requests retracted on KV exhaustion */
};

struct engine;

/* The model is borrowed and must outlive the engine. Starts the scheduler thread. */
int engine_create(const struct engine_config *cfg, const struct model *m, struct engine **out, struct sgl_err *err);
/* Stops the scheduler (aborting unfinished requests with finish_reason "abort") and frees everything. */
void engine_destroy(struct engine *e);

/* Validates (empty input, prompt length >= context length, ids vs vocab, sampling
 * params, max/min_new_tokens >= 0, top_logprobs_num, stop lists) and enqueues; an
 * empty rid is replaced by a generated one. On a validation error returns non-zero
 * with the message (for a 400) and does NOT take ownership. */
int engine_submit(struct engine *e, struct gen_request *req, struct sgl_err *err);
/* Aborts a request by rid (no-op if unknown/finished); its KV is freed within one scheduler step.
 * It gets a final event with finish_reason "abort". */
void engine_abort(struct engine *e, const char *rid);
/* Flushes the radix cache; fails (returns non-zero, "cache not flushed because there are
 * pending requests ...") while requests are running or queued. Blocks until the scheduler
 * thread handled it (after everything submitted before it); stats are current on return. */
int engine_flush_cache(struct engine *e, struct sgl_err *err);
void engine_get_stats(struct engine *e, struct engine_stats *out);
const struct engine_config *engine_get_config(const struct engine *e);

#endif
