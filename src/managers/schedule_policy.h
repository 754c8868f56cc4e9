/* schedule_policy: which waiting requests go into the next prefill batch
 * (SGLang's SchedulePolicy + PrefillAdder).
 *
 * Order: FCFS (arrival order; retracted requests keep their original place)
 * or LPM (longest cached prefix first; falls back to FCFS above 128 waiting
 * requests, where matching everything each round costs too much).
 *
 * Admission budgets, all in tokens:
 *   rem_total  = free + evictable - reserved, where reserved counts the future
 *                decode tokens of running requests (min(max_new - out, 4096) x
 *                new_token_ratio) and of requests admitted this round
 *                (min(max_new - out, 4096)); a request needs extend + its own
 *                future tokens to enter;
 *   rem_input  = max_prefill_tokens of new prefill per batch (the first request
 *                may exceed it);
 *   rem_chunk  = chunked_prefill_size: a longer prompt is cut to the remaining
 *                chunk budget (page-aligned) and continues in the next rounds.
 * Scheduler thread only. */
#ifndef SGLC_MANAGERS_SCHEDULE_POLICY_H
#define SGLC_MANAGERS_SCHEDULE_POLICY_H

#include <stdint.h>

#include "managers/schedule_batch.h"

#define SCHEDULE_CLIP_MAX_NEW_TOKENS 4096
#define SCHEDULE_LPM_MAX_WAITING 128

/* Sorts the waiting queue in place by the policy (LPM matches every request's
 * prefix without locking it, writing req->lpm_len). */
void schedule_policy_sort(enum schedule_policy policy, struct req_cache *cache, struct sched_req **waiting, int64_t n);

enum prefill_add_result { PREFILL_ADD_OK = 0, PREFILL_ADD_NO_TOKEN, PREFILL_ADD_OTHER };

struct prefill_adder {
    struct req_cache *cache;
    struct batch *batch;
    int64_t reserved; /* future decode tokens of running + admitted requests */
    int64_t rem_input;
    int64_t rem_chunk; /* INT64_MAX when chunking is off */
    int32_t n_added;
};

/* reserved_running: the running requests' future tokens (already scaled by new_token_ratio). */
void prefill_adder_init(struct prefill_adder *a, struct req_cache *cache, struct batch *batch,
                        int64_t reserved_running, int64_t max_prefill_tokens, int64_t chunked_prefill_size);
/* Continues a chunked request (its next chunk, or the rest). OK or NO_TOKEN (memory short this round). */
enum prefill_add_result prefill_adder_add_chunked(struct prefill_adder *a, struct sched_req *r);
/* Tries to admit a waiting request: matches and locks its prefix, checks the
 * budgets, allocates its KV and appends it to the batch. On failure the request
 * is left untouched (unlocked, no KV). r->state becomes CHUNKED when only a
 * part of its prompt fits the chunk budget, else RUNNING. */
enum prefill_add_result prefill_adder_add_one(struct prefill_adder *a, struct sched_req *r);

#endif
