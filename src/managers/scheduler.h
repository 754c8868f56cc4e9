/* scheduler: SGLang's Scheduler event-loop body — owns the waiting queue,
 * the running batch, the KV pool, the page allocator and the radix cache, and
 * runs one forward batch per step:
 *
 *   step: prefill batch if any request can be admitted (chunked request first,
 *         then the waiting queue by policy), optionally mixed with the running
 *         decodes; else one decode of the whole running batch (retracting
 *         requests when KV runs short); then sample, finish checks, events.
 *
 * Every function here runs on the engine's scheduler thread (engine.c only
 * hands it messages); output callbacks are invoked from scheduler_step /
 * scheduler_add_request / scheduler_abort_request / scheduler_abort_all. */
#ifndef SGLC_MANAGERS_SCHEDULER_H
#define SGLC_MANAGERS_SCHEDULER_H

#include <stdbool.h>

#include "managers/engine.h"

struct scheduler;

/* cfg must be fully resolved (no 0 = "derive" values left). The model is borrowed. */
int scheduler_create(const struct engine_config *cfg, const struct model *m, struct scheduler **out,
                     struct sgl_err *err);
/* Frees everything; requests still held are dropped without events (call scheduler_abort_all first). */
void scheduler_destroy(struct scheduler *s);

/* Takes ownership of a validated request. A request that could never fit in the
 * KV pool gets an error event (and is freed) right away. */
void scheduler_add_request(struct scheduler *s, struct gen_request *req);
/* Aborts by rid: frees its KV now and sends its final "abort" event. No-op if unknown. */
void scheduler_abort_request(struct scheduler *s, const char *rid);
/* Every request gets a final "abort" event; all KV is released. */
void scheduler_abort_all(struct scheduler *s);
/* Drops the radix cache; fails while requests are running or queued. */
int scheduler_flush_cache(struct scheduler *s, struct sgl_err *err);

/* True while there are waiting, chunked or running requests. */
bool scheduler_has_work(const struct scheduler *s);
/* Runs one batch (no-op without work). */
void scheduler_step(struct scheduler *s);
/* Idle bookkeeping: leak check (free + evictable == total, nothing protected) and
 * new_token_ratio reset. Returns 0, or ERR_FAIL (logged) on a leak. */
int scheduler_check_idle(struct scheduler *s);

void scheduler_fill_stats(const struct scheduler *s, struct engine_stats *out);

#endif
