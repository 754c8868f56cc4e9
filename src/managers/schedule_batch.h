/* schedule_batch: the scheduler's view of a request (SGLang's Req) and of one
 * forward batch (ScheduleBatch), plus the request-level KV cache operations
 * (the req_to_token table, cache_unfinished_req / cache_finished_req, retract).
 *
 * A request's tokens and KV, with page size P = 4:
 *
 *   ids:    | prompt ........................ | outputs ..... |        n_ids
 *   slots:  [ 8  9 10 11 | 20 21 22 23 | 4  5  6 . ]                   kv_len = 11
 *            \_ tree-owned (prefix) _/   \_ owned by the request _/
 *            prefix_len = 8, locked at last_node
 *
 * slots[i] is the KV slot of ids[i] for i < kv_len; the request's slot list
 * grows page by page (the last page may be partly used). Pages before
 * prefix_len belong to the radix tree (locked through last_node while the
 * request uses them); the rest belong to the request. In decode, kv_len ==
 * n_ids - 1: the newest token's KV is written by the next forward.
 * All of this is touched only by the scheduler thread. */
#ifndef SGLC_MANAGERS_SCHEDULE_BATCH_H
#define SGLC_MANAGERS_SCHEDULE_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "managers/engine.h"

struct page_allocator;
struct radix_cache;
struct radix_node;
struct sampler_state;
struct detokenizer;
struct tokenizer;

enum sched_req_state { SCHED_REQ_WAITING = 0, SCHED_REQ_CHUNKED, SCHED_REQ_RUNNING };

struct sched_req {
    struct gen_request *in; /* owned */
    uint64_t seq;           /* arrival order (FCFS key) */
    enum sched_req_state state;
    bool in_running; /* in the scheduler's running[] */
    int32_t *ids; /* [cap] prompt then outputs */
    int64_t n_ids;
    int32_t n_input, n_output;
    int32_t max_new; /* max_new_tokens clipped to the context length */
    int32_t *slots;  /* [cap rounded up to pages] */
    int64_t kv_len;
    int64_t prefix_len;
    struct radix_node *last_node; /* locked while prefix_len > 0 (radix cache only) */
    int64_t lpm_len;              /* prefix match length seen by the LPM policy this round */
    int32_t cached_tokens;
    bool admitted_once;
    struct sampler_state *ss;
    struct detokenizer *detok;
    int32_t *mask_ids; /* EOS ids + stop_token_ids: finish the request; masked before min_new_tokens */
    int32_t n_mask;
    /* output not yet delivered in an event */
    int32_t *ev_ids;
    float *ev_lp;
    int32_t *ev_top_ids;
    float *ev_top_lp;
    int32_t n_ev, cap_ev;
    /* finish state */
    bool finished;
    const char *finish_reason;
    int32_t matched_token;
    int matched_stop; /* index into in->stop, or -1 */
};

/* The request-level cache context: the page allocator and (unless the radix
 * cache is disabled, i.e. SGLang's ChunkCache) the radix tree. */
struct req_cache {
    struct page_allocator *alloc;
    struct radix_cache *tree; /* NULL: no prefix sharing */
    int32_t page_size;
};

/* Takes ownership of in on success (on failure the caller keeps it). max_new: the
 * clipped max_new_tokens; eos_ids: the model's EOS ids; seed: used when in->sp
 * carries none. */
int sched_req_create(struct gen_request *in, uint64_t seq, int32_t max_new, int32_t page_size,
                     const struct tokenizer *tok, int32_t vocab, const int32_t *eos_ids, int n_eos, uint64_t seed,
                     struct sched_req **out, struct sgl_err *err);
/* Frees the request and its gen_request. Its KV must have been released. */
void sched_req_destroy(struct sched_req *r);

/* True if id is an EOS id of the model or one of the request's stop_token_ids. */
bool sched_req_is_stop_token(const struct sched_req *r, int32_t id);

/* Matches ids[0 .. n_ids-1) in the radix tree (at least one token is always left to
 * compute) and locks the match: prefix_len, slots[0..prefix_len), last_node. kv_len = prefix_len. */
void req_cache_match_and_lock(struct req_cache *c, struct sched_req *r);
/* Pages needed to grow the request's KV by n tokens. */
int64_t req_cache_pages_needed(const struct req_cache *c, const struct sched_req *r, int64_t n);
/* Grows kv_len by n tokens, allocating pages (evicting unlocked cache first if
 * short). All or nothing: returns 0 or ERR_NOMEM. */
int req_cache_alloc(struct req_cache *c, struct sched_req *r, int64_t n);
/* After a prefill chunk: inserts the request's whole pages into the tree and
 * moves the request onto the tree's slots (no-op without a tree). */
void req_cache_unfinished(struct req_cache *c, struct sched_req *r);
/* Finished, aborted or retracted: gives the computed pages to the tree (or
 * frees them), frees the partial tail page, unlocks. kv_written: the slots hold
 * KV written by a forward (false after a failed forward: nothing is cached).
 * Afterwards the request holds no KV (kv_len = prefix_len = 0). */
void req_cache_release(struct req_cache *c, struct sched_req *r, bool kv_written);
/* Evictable (radix) tokens plus free tokens. */
int64_t req_cache_reclaimable_tokens(const struct req_cache *c);

/* Appends one sampled token's output record (id, logprob, top logprobs). */
int sched_req_record_output(struct sched_req *r, int32_t id, float logprob, const int32_t *top_ids,
                            const float *top_lp);

/* One forward batch: n entries, each a request with its new tokens this step.
 * For entry i the tokens are ids[kv_len - n_new .. kv_len) (kv_len already grown). */
struct batch_entry {
    struct sched_req *req;
    int32_t n_new;
    bool sample; /* produce logits and sample (false for a non-final prefill chunk) */
};

struct batch {
    struct batch_entry *e; /* [cap], allocated once */
    int32_t n, cap;
};

int batch_init(struct batch *b, int32_t cap);
void batch_free(struct batch *b);
/* The caller keeps n < cap (the scheduler sizes cap for its largest batch). */
static inline void batch_push(struct batch *b, struct sched_req *r, int32_t n_new, bool sample) {
    b->e[b->n++] = (struct batch_entry){r, n_new, sample};
}

#endif
