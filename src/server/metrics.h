/* metrics: Prometheus metrics of the server (SGLang's names, `sglang:` prefix):
 * request latency histograms (time to first token, inter-token latency,
 * end-to-end latency, with SGLang's default buckets) recorded by the serving
 * code, plus gauges and counters taken from the engine's stats at scrape time.
 *
 * Threads: observe functions are called from the scheduler thread (engine
 * callbacks), render from the I/O thread; a mutex guards the histograms. */
#ifndef SGLC_SERVER_METRICS_H
#define SGLC_SERVER_METRICS_H

#include <stdint.h>

#include "managers/engine.h"
#include "server/jsonw.h"

struct metrics;

struct metrics *metrics_create(const char *model_name); /* NULL on OOM; model_name is copied */
void metrics_destroy(struct metrics *m);

void metrics_observe_ttft(struct metrics *m, double seconds);
void metrics_observe_itl(struct metrics *m, double seconds);
/* A finished request: its end-to-end latency and token counts. */
void metrics_observe_request(struct metrics *m, double e2e_seconds, int64_t prompt_tokens, int64_t completion_tokens,
                             int64_t cached_tokens);

/* Appends the Prometheus text exposition (format 0.0.4). */
void metrics_render(struct metrics *m, const struct engine_stats *st, struct jsonw *out);

#endif
