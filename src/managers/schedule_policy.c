/* schedule_policy: waiting-queue ordering and prefill admission (see
 * schedule_policy.h for the budgets).
 *
 * The adder allocates each admitted request's KV at once (after locking its
 * prefix), so the live free/evictable counts already include earlier
 * admissions of the same round; eviction can only take unlocked nodes, never
 * the prefix just locked. Scheduler thread only. */
#include "managers/schedule_policy.h"

#include <stdbool.h>

#include "mem_cache/radix_cache.h"

static bool lpm_before(const struct sched_req *a, const struct sched_req *b) {
    return a->lpm_len != b->lpm_len ? a->lpm_len > b->lpm_len : a->seq < b->seq;
}

/* Stable insertion sort: the queue is nearly sorted already (FCFS) or short (LPM). */
static void sort_queue(struct sched_req **q, int64_t n, bool lpm) {
    for (int64_t i = 1; i < n; i++) {
        struct sched_req *x = q[i];
        int64_t j = i;
        while (j > 0 && (lpm ? lpm_before(x, q[j - 1]) : x->seq < q[j - 1]->seq)) {
            q[j] = q[j - 1];
            j--;
        }
        q[j] = x;
    }
}

void schedule_policy_sort(enum schedule_policy policy, struct req_cache *cache, struct sched_req **waiting, int64_t n) {
    bool lpm = policy == SCHEDULE_POLICY_LPM && cache->tree && n <= SCHEDULE_LPM_MAX_WAITING;
    if (lpm)
        for (int64_t i = 0; i < n; i++) {
            struct sched_req *r = waiting[i];
            /* the waiting request's slot list is unused: a scratch for the match */
            r->lpm_len = radix_cache_match_prefix(cache->tree, r->ids, r->n_ids - 1, r->slots, NULL);
        }
    sort_queue(waiting, n, lpm);
}

void prefill_adder_init(struct prefill_adder *a, struct req_cache *cache, struct batch *batch,
                        int64_t reserved_running, int64_t max_prefill_tokens, int64_t chunked_prefill_size) {
    a->cache = cache;
    a->batch = batch;
    a->reserved = reserved_running;
    a->rem_input = max_prefill_tokens;
    a->rem_chunk = chunked_prefill_size > 0 ? chunked_prefill_size : INT64_MAX;
    a->n_added = 0;
}

static int64_t future_tokens(const struct sched_req *r) {
    int64_t left = (int64_t)r->max_new - r->n_output;
    return left < SCHEDULE_CLIP_MAX_NEW_TOKENS ? left : SCHEDULE_CLIP_MAX_NEW_TOKENS;
}

/* The chunk of `extend` tokens that fits the chunk budget, page-aligned; extend if it all fits. */
static int64_t chunk_len(const struct prefill_adder *a, int64_t extend) {
    if (extend <= a->rem_chunk) return extend;
    int64_t P = a->cache->page_size;
    return a->rem_chunk / P * P;
}

enum prefill_add_result prefill_adder_add_chunked(struct prefill_adder *a, struct sched_req *r) {
    int64_t extend = r->n_ids - r->kv_len, n = chunk_len(a, extend);
    if (n <= 0) return PREFILL_ADD_OTHER;
    if (req_cache_alloc(a->cache, r, n)) return PREFILL_ADD_NO_TOKEN;
    bool last = n == extend;
    batch_push(a->batch, r, (int32_t)n, last);
    r->state = last ? SCHED_REQ_RUNNING : SCHED_REQ_CHUNKED;
    a->rem_chunk = a->rem_chunk == INT64_MAX ? INT64_MAX : a->rem_chunk - n;
    a->rem_input -= n;
    a->n_added++;
    if (last) a->reserved += future_tokens(r);
    return PREFILL_ADD_OK;
}

enum prefill_add_result prefill_adder_add_one(struct prefill_adder *a, struct sched_req *r) {
    if (a->rem_input <= 0 || a->rem_chunk <= 0) return PREFILL_ADD_OTHER;
    req_cache_match_and_lock(a->cache, r);
    int64_t extend = r->n_ids - r->prefix_len;
    /* tokens of whole pages the request will own: all its pages but the (locked) cached prefix */
    int64_t P = a->cache->page_size;
    int64_t need = (r->n_ids + future_tokens(r) + P - 1) / P * P - r->prefix_len;
    enum prefill_add_result res = PREFILL_ADD_OK;
    int64_t n = chunk_len(a, extend);
    if (req_cache_reclaimable_tokens(a->cache) - a->reserved < need) res = PREFILL_ADD_NO_TOKEN;
    else if (extend > a->rem_input && a->n_added > 0) res = PREFILL_ADD_OTHER;
    else if (n <= 0) res = PREFILL_ADD_OTHER;
    else if (req_cache_alloc(a->cache, r, n)) res = PREFILL_ADD_NO_TOKEN;
    if (res != PREFILL_ADD_OK) {
        /* unlock and forget the match (nothing was allocated) */
        if (a->cache->tree) radix_cache_dec_lock_ref(a->cache->tree, r->last_node);
        r->prefix_len = r->kv_len = 0;
        r->last_node = NULL;
        return res;
    }
    batch_push(a->batch, r, (int32_t)n, n == extend);
    r->state = n == extend ? SCHED_REQ_RUNNING : SCHED_REQ_CHUNKED;
    if (!r->admitted_once) {
        r->admitted_once = true;
        r->cached_tokens = (int32_t)r->prefix_len;
    }
    if (a->rem_chunk != INT64_MAX) a->rem_chunk -= n;
    a->rem_input -= n;
    a->reserved += future_tokens(r);
    a->n_added++;
    return PREFILL_ADD_OK;
}
