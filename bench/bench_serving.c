/* bench_serving: online serving benchmark against a running `sglc serve` (or
 * any SGLang-compatible server), like SGLang's bench_serving.py.
 *
 * Datasets (token ids are sent directly, so no tokenizer is needed here):
 *   random                   input/output lengths uniform in [len*ratio, len]
 *   generated-shared-prefix  G groups of P prompts; the prompts of a group share
 *                            a random "system prompt" of S tokens + their own Q-token question
 * Every request streams (native /generate, /v1/completions, or llama-server's
 * /completion with --backend llama; all with ignore_eos), so time to first token (TTFT), inter-token latency (ITL, the
 * gap between streamed chunks: one sample per chunk, as SGLang measures it)
 * and end-to-end latency are measured per request.
 * Load: --request-rate R (Poisson arrivals; inf = all at once) and/or
 * --max-concurrency C. One thread per in-flight request; plain HTTP/1.1 over
 * TCP with our own tiny client (chunked decoding + SSE lines).
 *
 *   bench_serving --port 30000 --dataset random --num-prompts 64 \
 *       --random-input-len 128 --random-output-len 64 --max-concurrency 8 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/clock.h"
#include "server/jsonw.h"

struct opts {
    const char *host;
    int port;
    const char *backend; /* sglang | openai */
    const char *model;
    const char *dataset; /* random | generated-shared-prefix */
    int num_prompts;
    int input_len, output_len;
    double range_ratio;
    int gsp_groups, gsp_per_group, gsp_system_len, gsp_question_len, gsp_output_len;
    double request_rate; /* <= 0 or inf: all at once */
    int max_concurrency; /* 0: unlimited */
    unsigned long long seed;
    int vocab;
    const char *output_file;
};

struct req {
    int32_t *ids;
    int n_ids;
    int out_len;
    /* results */
    bool ok;
    char err[160];
    double t_start, ttft, e2e;
    int out_tokens;
    double *itl;
    int n_itl, cap_itl;
};

struct bench {
    struct opts o;
    struct req *reqs;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_flight;
};

/* ---- tiny RNG (xorshift64*) ---- */
static uint64_t rng_next(unsigned long long *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}
static double rng_uniform(unsigned long long *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }
static int rng_int(unsigned long long *s, int lo, int hi) { return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1)); }

static void fill_random_ids(unsigned long long *s, int32_t *ids, int n, int vocab) {
    for (int i = 0; i < n; i++) ids[i] = rng_int(s, 3, vocab - 1);
}

/* ---- HTTP ---- */

static int dial(const char *host, int port) {
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, ps, &hints, &res) || !res) return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        struct timeval tv = {.tv_sec = 600};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* The number after `"key":` in s (first occurrence), or -1. */
static long find_int(const char *s, const char *key) {
    const char *p = strstr(s, key);
    if (!p) return -1;
    p += strlen(key);
    while (*p == ' ') p++;
    return *p >= '0' && *p <= '9' ? strtol(p, NULL, 10) : -1;
}

/* Handles one SSE data payload. */
static void on_event(struct bench *b, struct req *r, const char *data, double now, int *last_tokens, double *t_last) {
    if (!strcmp(data, "[DONE]")) return;
    if (strstr(data, "\"error\"")) {
        snprintf(r->err, sizeof r->err, "%.150s", data);
        return;
    }
    int tokens;
    if (!strcmp(b->o.backend, "sglang")) {
        tokens = (int)find_int(data, "\"completion_tokens\":");
    } else if (!strcmp(b->o.backend, "llama")) { /* llama-server's /completion: one event per token */
        tokens = (int)find_int(data, "\"tokens_predicted\":");
        if (tokens > r->out_tokens) r->out_tokens = tokens;
    } else {
        long u = find_int(data, "\"completion_tokens\":");
        if (u >= 0) { /* the usage chunk */
            r->out_tokens = (int)u;
            return;
        }
        tokens = *last_tokens + 1; /* one chunk per stream_interval tokens; counted by chunks */
        if (strstr(data, "\"text\":\"\"")) tokens = *last_tokens;
    }
    if (tokens <= *last_tokens) return;
    if (*last_tokens == 0) r->ttft = now - r->t_start;
    else {
        if (r->n_itl == r->cap_itl) {
            r->cap_itl = r->cap_itl ? r->cap_itl * 2 : 64;
            r->itl = realloc(r->itl, (size_t)r->cap_itl * sizeof *r->itl);
        }
        if (r->itl) r->itl[r->n_itl++] = now - *t_last;
    }
    *t_last = now;
    *last_tokens = tokens;
    if (!strcmp(b->o.backend, "sglang")) r->out_tokens = tokens;
}

static void run_request(struct bench *b, struct req *r) {
    struct jsonw body, head;
    jsonw_init(&body);
    jsonw_init(&head);
    bool native = !strcmp(b->o.backend, "sglang"), llama = !strcmp(b->o.backend, "llama");
    jsonw_lit(&body, native ? "{\"input_ids\":[" : llama ? "{\"prompt\":[" : "{\"model\":");
    if (!native && !llama) {
        jsonw_cstr_str(&body, b->o.model);
        jsonw_lit(&body, ",\"prompt\":[");
    }
    for (int i = 0; i < r->n_ids; i++) {
        if (i) jsonw_raw(&body, ",", 1);
        jsonw_int(&body, r->ids[i]);
    }
    if (native)
        jsonw_printf(&body, "],\"stream\":true,\"sampling_params\":{\"max_new_tokens\":%d,\"temperature\":0,"
                            "\"ignore_eos\":true}}", r->out_len);
    else if (llama)
        jsonw_printf(&body, "],\"stream\":true,\"n_predict\":%d,\"temperature\":0,\"ignore_eos\":true,"
                            "\"cache_prompt\":true}", r->out_len);
    else
        jsonw_printf(&body, "],\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":%d,"
                            "\"temperature\":0,\"ignore_eos\":true}", r->out_len);
    jsonw_printf(&head, "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n",
                 native ? "/generate" : llama ? "/completion" : "/v1/completions", b->o.host, b->o.port, body.len);

    r->t_start = clock_now_s();
    int fd = dial(b->o.host, b->o.port);
    if (fd < 0 || !send_all(fd, head.buf, head.len) || !send_all(fd, body.buf, body.len)) {
        snprintf(r->err, sizeof r->err, "connect/send failed: %s", strerror(errno));
        if (fd >= 0) close(fd);
        goto out;
    }
    /* Read: headers, then (chunked) body fed line by line to the SSE parser. */
    struct jsonw in, line;
    jsonw_init(&in);
    jsonw_init(&line);
    char buf[65536];
    bool headers_done = false, chunked = false;
    int status = 0, last_tokens = 0;
    double t_last = 0;
    size_t pos = 0;       /* parse position in `in` */
    long chunk_left = -1; /* bytes left in the current chunk; -1: expecting a size line */
    ssize_t k;
    while ((k = recv(fd, buf, sizeof buf, 0)) > 0) {
        double now = clock_now_s();
        jsonw_raw(&in, buf, (size_t)k);
        if (!headers_done) {
            const char *e = strstr(jsonw_cstr(&in), "\r\n\r\n");
            if (!e) continue;
            headers_done = true;
            status = atoi(in.buf + 9);
            chunked = strstr(in.buf, "chunked") && strstr(in.buf, "chunked") < e;
            pos = (size_t)(e - in.buf) + 4;
        }
        for (;;) { /* move decoded body bytes into `line` */
            if (!chunked) {
                jsonw_raw(&line, in.buf + pos, in.len - pos);
                pos = in.len;
                break;
            }
            if (chunk_left == -2) { /* the CRLF after a chunk's data */
                if (in.len - pos < 2) break;
                pos += 2;
                chunk_left = -1;
            }
            if (chunk_left == -1) { /* a chunk-size line */
                char *nl = memchr(in.buf + pos, '\n', in.len - pos);
                if (!nl) break;
                chunk_left = strtol(in.buf + pos, NULL, 16);
                pos = (size_t)(nl - in.buf) + 1;
                if (chunk_left <= 0) chunk_left = -3; /* last chunk */
            }
            if (chunk_left == -3 || in.len == pos) break;
            size_t avail = in.len - pos;
            size_t take = avail < (size_t)chunk_left ? avail : (size_t)chunk_left;
            jsonw_raw(&line, in.buf + pos, take);
            pos += take;
            chunk_left -= (long)take;
            if (chunk_left == 0) chunk_left = -2;
        }
        char *start = line.buf, *nl;
        while (start && (nl = memchr(start, '\n', line.len - (size_t)(start - line.buf)))) {
            *nl = 0;
            if (!strncmp(start, "data: ", 6)) on_event(b, r, start + 6, now, &last_tokens, &t_last);
            start = nl + 1;
        }
        if (start && start != line.buf) { /* keep the partial line */
            size_t rest = line.len - (size_t)(start - line.buf);
            memmove(line.buf, start, rest);
            line.len = rest;
        }
    }
    r->e2e = clock_now_s() - r->t_start;
    close(fd);
    if (status != 200 && !r->err[0])
        snprintf(r->err, sizeof r->err, "HTTP %d: %.120s", status, line.buf ? line.buf : "");
    r->ok = status == 200 && !r->err[0] && r->out_tokens > 0;
    if (!r->ok && !r->err[0]) snprintf(r->err, sizeof r->err, "no tokens received");
    jsonw_free(&in);
    jsonw_free(&line);
out:
    jsonw_free(&body);
    jsonw_free(&head);
}

struct worker_arg {
    struct bench *b;
    struct req *r;
};

static void *worker(void *arg) {
    struct worker_arg *wa = arg;
    run_request(wa->b, wa->r);
    pthread_mutex_lock(&wa->b->mu);
    wa->b->in_flight--;
    pthread_cond_broadcast(&wa->b->cv);
    pthread_mutex_unlock(&wa->b->mu);
    free(wa);
    return NULL;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(double *v, int n, double *mean, double *median, double *p99) {
    *mean = *median = *p99 = 0;
    if (n == 0) return;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    *median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    double rank = 0.99 * (n - 1);
    int lo = (int)floor(rank);
    int hi = lo + 1 < n ? lo + 1 : lo;
    *p99 = v[lo] + (v[hi] - v[lo]) * (rank - lo);
}

/* ---- main ---- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_serving [options]\n"
            "  --host H (127.0.0.1) --port P (30000) --backend sglang|openai|llama (sglang) --model NAME (openai)\n"
            "  --dataset random|generated-shared-prefix (random) --num-prompts N (100)\n"
            "  --random-input-len L (1024) --random-output-len L (128) --random-range-ratio R (0: fixed)\n"
            "  --gsp-num-groups G (8) --gsp-prompts-per-group P (8) --gsp-system-prompt-len S (512)\n"
            "  --gsp-question-len Q (64) --gsp-output-len O (64)\n"
            "  --request-rate R (inf) --max-concurrency C (unlimited) --seed S (1) --vocab V (from the server)\n"
            "  --output-file F   append one JSON line of results\n");
}

static int query_vocab(const struct opts *o) {
    int fd = dial(o->host, o->port);
    if (fd < 0) return -1;
    char rq[256];
    int n = snprintf(rq, sizeof rq, "GET /get_model_info HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", o->host);
    send_all(fd, rq, (size_t)n);
    char buf[8192];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof buf - 1 && (k = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0) got += (size_t)k;
    buf[got] = 0;
    close(fd);
    return (int)find_int(buf, "\"vocab_size\":");
}

int main(int argc, char **argv) {
    struct opts o = {.host = "127.0.0.1", .port = 30000, .backend = "sglang", .model = "stories260K",
                     .dataset = "random", .num_prompts = 100, .input_len = 1024, .output_len = 128,
                     .range_ratio = 0, .gsp_groups = 8, .gsp_per_group = 8, .gsp_system_len = 512,
                     .gsp_question_len = 64, .gsp_output_len = 64, .request_rate = INFINITY, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench_serving: error: %s needs a value (or is unknown; see --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--host")) o.host = v;
        else if (!strcmp(a, "--port")) o.port = atoi(v);
        else if (!strcmp(a, "--backend")) o.backend = v;
        else if (!strcmp(a, "--model")) o.model = v;
        else if (!strcmp(a, "--dataset") || !strcmp(a, "--dataset-name")) o.dataset = v;
        else if (!strcmp(a, "--num-prompts")) o.num_prompts = atoi(v);
        else if (!strcmp(a, "--random-input-len")) o.input_len = atoi(v);
        else if (!strcmp(a, "--random-output-len")) o.output_len = atoi(v);
        else if (!strcmp(a, "--random-range-ratio")) o.range_ratio = atof(v);
        else if (!strcmp(a, "--gsp-num-groups")) o.gsp_groups = atoi(v);
        else if (!strcmp(a, "--gsp-prompts-per-group")) o.gsp_per_group = atoi(v);
        else if (!strcmp(a, "--gsp-system-prompt-len")) o.gsp_system_len = atoi(v);
        else if (!strcmp(a, "--gsp-question-len")) o.gsp_question_len = atoi(v);
        else if (!strcmp(a, "--gsp-output-len")) o.gsp_output_len = atoi(v);
        else if (!strcmp(a, "--request-rate")) o.request_rate = strtod(v, NULL);
        else if (!strcmp(a, "--max-concurrency")) o.max_concurrency = atoi(v);
        else if (!strcmp(a, "--seed")) o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--vocab")) o.vocab = atoi(v);
        else if (!strcmp(a, "--output-file")) o.output_file = v;
        else {
            fprintf(stderr, "bench_serving: error: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    bool gsp = !strcmp(o.dataset, "generated-shared-prefix");
    if ((!gsp && strcmp(o.dataset, "random")) ||
        (strcmp(o.backend, "sglang") && strcmp(o.backend, "openai") && strcmp(o.backend, "llama"))) {
        fprintf(stderr, "bench_serving: error: unknown --dataset or --backend\n");
        return 2;
    }
    if (o.vocab <= 0) o.vocab = query_vocab(&o);
    if (o.vocab <= 3) {
        fprintf(stderr, "bench_serving: error: cannot reach the server at %s:%d (or read its vocab size)\n", o.host, o.port);
        return 1;
    }

    struct bench b = {.o = o};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    unsigned long long s = o.seed ? o.seed : 1;
    b.n = gsp ? o.gsp_groups * o.gsp_per_group : o.num_prompts;
    b.reqs = calloc((size_t)b.n, sizeof *b.reqs);
    if (gsp) {
        for (int g = 0; g < o.gsp_groups; g++) {
            int32_t *sys = malloc((size_t)o.gsp_system_len * sizeof *sys);
            fill_random_ids(&s, sys, o.gsp_system_len, o.vocab);
            for (int p = 0; p < o.gsp_per_group; p++) {
                struct req *r = &b.reqs[g * o.gsp_per_group + p];
                r->n_ids = o.gsp_system_len + o.gsp_question_len;
                r->ids = malloc((size_t)r->n_ids * sizeof *r->ids);
                memcpy(r->ids, sys, (size_t)o.gsp_system_len * sizeof *sys);
                fill_random_ids(&s, r->ids + o.gsp_system_len, o.gsp_question_len, o.vocab);
                r->out_len = o.gsp_output_len;
            }
            free(sys);
        }
        /* interleave the groups as SGLang shuffles them */
        for (int i = b.n - 1; i > 0; i--) {
            int j = rng_int(&s, 0, i);
            struct req t = b.reqs[i];
            b.reqs[i] = b.reqs[j];
            b.reqs[j] = t;
        }
    } else {
        for (int i = 0; i < b.n; i++) {
            struct req *r = &b.reqs[i];
            int lo_in = o.range_ratio > 0 ? (int)(o.input_len * o.range_ratio) : o.input_len;
            int lo_out = o.range_ratio > 0 ? (int)(o.output_len * o.range_ratio) : o.output_len;
            r->n_ids = rng_int(&s, lo_in > 1 ? lo_in : 1, o.input_len);
            r->out_len = rng_int(&s, lo_out > 1 ? lo_out : 1, o.output_len);
            r->ids = malloc((size_t)r->n_ids * sizeof *r->ids);
            fill_random_ids(&s, r->ids, r->n_ids, o.vocab);
        }
    }

    printf("bench_serving: %d requests (%s) to %s:%d via %s, rate %g req/s, max concurrency %d\n", b.n, o.dataset,
           o.host, o.port, o.backend, o.request_rate, o.max_concurrency);
    fflush(stdout);
    double t0 = clock_now_s(), next = t0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 << 10);
    for (int i = 0; i < b.n; i++) {
        if (isfinite(o.request_rate) && o.request_rate > 0) { /* Poisson arrivals */
            next += -log(1.0 - rng_uniform(&s)) / o.request_rate;
            double wait = next - clock_now_s();
            if (wait > 0) usleep((useconds_t)(wait * 1e6));
        }
        pthread_mutex_lock(&b.mu);
        while (o.max_concurrency > 0 && b.in_flight >= o.max_concurrency) pthread_cond_wait(&b.cv, &b.mu);
        b.in_flight++;
        pthread_mutex_unlock(&b.mu);
        struct worker_arg *wa = malloc(sizeof *wa);
        wa->b = &b;
        wa->r = &b.reqs[i];
        pthread_t th;
        if (pthread_create(&th, &attr, worker, wa)) {
            free(wa);
            snprintf(b.reqs[i].err, sizeof b.reqs[i].err, "cannot start a thread");
            pthread_mutex_lock(&b.mu);
            b.in_flight--;
            pthread_mutex_unlock(&b.mu);
        }
    }
    pthread_mutex_lock(&b.mu);
    while (b.in_flight > 0) pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    double dur = clock_now_s() - t0;

    int ok = 0;
    long in_tok = 0, out_tok = 0, n_itl = 0, all_tok = 0;
    int n_first = 0; /* requests that streamed a first token, failed ones included */
    double *ttft_all = calloc((size_t)b.n + 1, sizeof *ttft_all);
    for (int i = 0; i < b.n; i++) {
        all_tok += b.reqs[i].out_tokens;
        if (b.reqs[i].ttft > 0) ttft_all[n_first++] = b.reqs[i].ttft * 1e3;
        if (b.reqs[i].ok) {
            ok++;
            in_tok += b.reqs[i].n_ids;
            out_tok += b.reqs[i].out_tokens;
            n_itl += b.reqs[i].n_itl;
        } else if (i < 3 || ok == 0) {
            fprintf(stderr, "request %d failed: %s\n", i, b.reqs[i].err);
        }
    }
    double *ttft = calloc((size_t)ok + 1, sizeof *ttft), *e2e = calloc((size_t)ok + 1, sizeof *e2e);
    double *itl = calloc((size_t)n_itl + 1, sizeof *itl);
    int k = 0, m = 0;
    for (int i = 0; i < b.n; i++) {
        if (!b.reqs[i].ok) continue;
        ttft[k] = b.reqs[i].ttft * 1e3;
        e2e[k++] = b.reqs[i].e2e * 1e3;
        for (int j = 0; j < b.reqs[i].n_itl; j++) itl[m++] = b.reqs[i].itl[j] * 1e3;
    }
    double tm, tmed, tp, im, imed, ip, em, emed, ep;
    stats(ttft, ok, &tm, &tmed, &tp);
    stats(itl, m, &im, &imed, &ip);
    stats(e2e, ok, &em, &emed, &ep);
    double tam, tamed, tap;
    stats(ttft_all, n_first, &tam, &tamed, &tap);
    printf("============ Serving Benchmark Result ============\n");
    printf("%-40s %s\n", "Backend:", o.backend);
    printf("%-40s %s\n", "Dataset:", o.dataset);
    printf("%-40s %d / %d\n", "Successful requests:", ok, b.n);
    printf("%-40s %.2f\n", "Benchmark duration (s):", dur);
    printf("%-40s %ld\n", "Total input tokens:", in_tok);
    printf("%-40s %ld\n", "Total generated tokens:", out_tok);
    printf("%-40s %.2f\n", "Request throughput (req/s):", ok / dur);
    printf("%-40s %.2f\n", "Input token throughput (tok/s):", in_tok / dur);
    printf("%-40s %.2f\n", "Output token throughput (tok/s):", out_tok / dur);
    printf("%-40s %.2f\n", "Total token throughput (tok/s):", (in_tok + out_tok) / dur);
    if (ok < b.n) { /* what failed requests streamed before failing counts here too */
        printf("%-40s %ld\n", "Generated tokens incl. failed requests:", all_tok);
        printf("%-40s %.2f\n", "Output throughput incl. failed (tok/s):", all_tok / dur);
        printf("%-40s %.2f\n", "Median TTFT incl. failed (ms):", tamed);
    }
    printf("--------------- Time to First Token ----------------\n");
    printf("%-40s %.2f\n%-40s %.2f\n%-40s %.2f\n", "Mean TTFT (ms):", tm, "Median TTFT (ms):", tmed, "P99 TTFT (ms):", tp);
    printf("---------------- Inter-Token Latency ---------------\n");
    printf("%-40s %.2f\n%-40s %.2f\n%-40s %.2f\n", "Mean ITL (ms):", im, "Median ITL (ms):", imed, "P99 ITL (ms):", ip);
    printf("----------------- End-to-End Latency ---------------\n");
    printf("%-40s %.2f\n%-40s %.2f\n%-40s %.2f\n", "Mean E2E Latency (ms):", em, "Median E2E Latency (ms):", emed,
           "P99 E2E Latency (ms):", ep);
    printf("====================================================\n");
    if (o.output_file) {
        FILE *f = fopen(o.output_file, "a");
        if (f) {
            fprintf(f,
                    "{\"backend\":\"%s\",\"dataset\":\"%s\",\"completed\":%d,\"num_prompts\":%d,\"duration\":%.4f,"
                    "\"total_input_tokens\":%ld,\"total_output_tokens\":%ld,\"request_throughput\":%.4f,"
                    "\"input_throughput\":%.4f,\"output_throughput\":%.4f,\"mean_ttft_ms\":%.3f,"
                    "\"median_ttft_ms\":%.3f,\"p99_ttft_ms\":%.3f,\"mean_itl_ms\":%.3f,\"median_itl_ms\":%.3f,"
                    "\"p99_itl_ms\":%.3f,\"mean_e2e_latency_ms\":%.3f,\"median_e2e_latency_ms\":%.3f,"
                    "\"p99_e2e_latency_ms\":%.3f,\"max_concurrency\":%d,\"request_rate\":%g,"
                    "\"all_output_throughput\":%.4f,\"median_ttft_all_ms\":%.3f}\n",
                    o.backend, o.dataset, ok, b.n, dur, in_tok, out_tok, ok / dur, in_tok / dur, out_tok / dur, tm,
                    tmed, tp, im, imed, ip, em, emed, ep, o.max_concurrency,
                    isfinite(o.request_rate) ? o.request_rate : -1.0, all_tok / dur, tamed);
            fclose(f);
        }
    }
    for (int i = 0; i < b.n; i++) {
        free(b.reqs[i].ids);
        free(b.reqs[i].itl);
    }
    free(b.reqs);
    free(ttft);
    free(ttft_all);
    free(e2e);
    free(itl);
    return ok == b.n ? 0 : 1;
}
