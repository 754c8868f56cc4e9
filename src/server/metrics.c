/* metrics: histograms and counters in Prometheus text format (see metrics.h).
 * Histograms keep per-bucket (non-cumulative) counts and are summed into
 * cumulative `le` buckets when rendered. */
#include "server/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const double g_ttft_buckets[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                                        5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0};
static const double g_itl_buckets[] = {0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08,
                                       0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0};
static const double g_e2e_buckets[] = {0.1, 0.25, 0.5, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300,
                                       350, 500, 1000};

#define MAX_BUCKETS 32

struct histogram {
    const char *name, *help;
    const double *bounds;
    int n_bounds;
    uint64_t counts[MAX_BUCKETS + 1]; /* last: +Inf */
    double sum;
    uint64_t count;
};

struct metrics {
    pthread_mutex_t mu;
    char *model_name;
    struct histogram ttft, itl, e2e;
    int64_t requests_total, prompt_tokens_total, generation_tokens_total, cached_tokens_total;
};

static void hist_init(struct histogram *h, const char *name, const char *help, const double *b, int n) {
    memset(h, 0, sizeof *h);
    h->name = name;
    h->help = help;
    h->bounds = b;
    h->n_bounds = n;
}

struct metrics *metrics_create(const char *model_name) {
    struct metrics *m = calloc(1, sizeof *m);
    if (!m || !(m->model_name = strdup(model_name ? model_name : ""))) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    hist_init(&m->ttft, "sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
              g_ttft_buckets, (int)(sizeof g_ttft_buckets / sizeof g_ttft_buckets[0]));
    hist_init(&m->itl, "sglang:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
              g_itl_buckets, (int)(sizeof g_itl_buckets / sizeof g_itl_buckets[0]));
    hist_init(&m->e2e, "sglang:e2e_request_latency_seconds", "Histogram of end-to-end request latency in seconds.",
              g_e2e_buckets, (int)(sizeof g_e2e_buckets / sizeof g_e2e_buckets[0]));
    return m;
}

void metrics_destroy(struct metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m->model_name);
    free(m);
}

static void hist_observe(struct histogram *h, double v) {
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void metrics_observe_ttft(struct metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    hist_observe(&m->ttft, s);
    pthread_mutex_unlock(&m->mu);
}

void metrics_observe_itl(struct metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    hist_observe(&m->itl, s);
    pthread_mutex_unlock(&m->mu);
}

void metrics_observe_request(struct metrics *m, double e2e, int64_t prompt_tokens, int64_t completion_tokens,
                             int64_t cached_tokens) {
    pthread_mutex_lock(&m->mu);
    hist_observe(&m->e2e, e2e);
    m->requests_total++;
    m->prompt_tokens_total += prompt_tokens;
    m->generation_tokens_total += completion_tokens;
    m->cached_tokens_total += cached_tokens;
    pthread_mutex_unlock(&m->mu);
}

static void labels(struct jsonw *w, const struct metrics *m) {
    jsonw_lit(w, "{model_name=");
    jsonw_cstr_str(w, m->model_name); /* JSON escaping is a superset of what Prometheus needs for \ " and \n */
    jsonw_raw(w, "}", 1);
}

static void gauge(struct jsonw *w, const struct metrics *m, const char *name, const char *type, const char *help,
                  double v) {
    jsonw_printf(w, "# HELP %s %s\n# TYPE %s %s\n%s", name, help, name, type, name);
    labels(w, m);
    jsonw_raw(w, " ", 1);
    jsonw_num(w, v);
    jsonw_raw(w, "\n", 1);
}

static void hist_render(struct jsonw *w, const struct metrics *m, const struct histogram *h) {
    jsonw_printf(w, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    uint64_t cum = 0;
    for (int i = 0; i <= h->n_bounds; i++) {
        cum += h->counts[i];
        jsonw_printf(w, "%s_bucket{model_name=", h->name);
        jsonw_cstr_str(w, m->model_name);
        if (i < h->n_bounds) jsonw_printf(w, ",le=\"%g\"} %llu\n", h->bounds[i], (unsigned long long)cum);
        else jsonw_printf(w, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    jsonw_printf(w, "%s_sum", h->name);
    labels(w, m);
    jsonw_raw(w, " ", 1);
    jsonw_num(w, h->sum);
    jsonw_printf(w, "\n%s_count", h->name);
    labels(w, m);
    jsonw_printf(w, " %llu\n", (unsigned long long)h->count);
}

void metrics_render(struct metrics *m, const struct engine_stats *st, struct jsonw *w) {
    pthread_mutex_lock(&m->mu);
    double total = st->kv_total_tokens > 0 ? (double)st->kv_total_tokens : 1.0;
    int64_t used = st->kv_used_tokens; /* held by requests; the evictable prefix cache is not "used" */
    gauge(w, m, "sglang:num_running_reqs", "gauge", "The number of running requests.", st->running_requests);
    gauge(w, m, "sglang:num_queue_reqs", "gauge", "The number of requests in the waiting queue.", st->queued_requests);
    gauge(w, m, "sglang:num_used_tokens", "gauge", "The number of used tokens (excluding evictable cache).",
          (double)(used > 0 ? used : 0));
    gauge(w, m, "sglang:token_usage", "gauge", "The token usage (used KV tokens / total).",
          (double)(used > 0 ? used : 0) / total);
    gauge(w, m, "sglang:cache_hit_rate", "gauge", "The prefix cache hit rate (cached prompt tokens / prompt tokens).",
          st->prompt_tokens_total > 0 ? (double)st->cached_tokens_total / (double)st->prompt_tokens_total : 0.0);
    gauge(w, m, "sglang:max_total_num_tokens", "gauge", "The KV cache capacity in tokens.", (double)st->kv_total_tokens);
    gauge(w, m, "sglang:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
          (double)m->prompt_tokens_total);
    gauge(w, m, "sglang:generation_tokens_total", "counter", "Number of generation tokens processed.",
          (double)m->generation_tokens_total);
    gauge(w, m, "sglang:cached_tokens_total", "counter", "Number of prompt tokens served from the prefix cache.",
          (double)m->cached_tokens_total);
    gauge(w, m, "sglang:num_requests_total", "counter", "Number of finished requests.", (double)m->requests_total);
    hist_render(w, m, &m->ttft);
    hist_render(w, m, &m->itl);
    hist_render(w, m, &m->e2e);
    pthread_mutex_unlock(&m->mu);
}
