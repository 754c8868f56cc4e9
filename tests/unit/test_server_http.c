/* Unit tests for server/http (the libmicrohttpd adapter), over loopback with a
 * raw-socket client: immediate answers, deferred answers woken from another
 * thread, streams, body limits (413), idle timeouts, and disconnects of
 * parked requests noticed by the watchdog. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "server/http.h"
#include "test.h"

struct test_state {
    atomic_int closes_ok, closes_failed;
};

/* One parked request with a producer thread. */
struct job {
    struct http_async *a;
    struct test_state *ts;
    pthread_mutex_t mu;
    int produced;   /* events made by the producer */
    int consumed;   /* events written by pull (I/O thread) */
    int total;      /* events to produce; 0 = never wakes */
    bool stream;
    atomic_int refs; /* producer + connection */
    pthread_t th;
};

static void job_unref(struct job *j) {
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        pthread_mutex_destroy(&j->mu);
        free(j);
    }
}

static void *producer(void *arg) {
    struct job *j = arg;
    for (int i = 0; i < j->total; i++) {
        usleep(j->stream ? 5000 : 30000);
        pthread_mutex_lock(&j->mu);
        j->produced++;
        pthread_mutex_unlock(&j->mu);
        http_async_wake(j->a);
    }
    http_async_release(j->a);
    job_unref(j);
    return NULL;
}

static void pull(void *ctx, struct jsonw *out, struct http_pull_result *res) {
    struct job *j = ctx;
    pthread_mutex_lock(&j->mu);
    if (j->stream) {
        while (j->consumed < j->produced) jsonw_printf(out, "data: %d\n\n", j->consumed++);
        if (j->consumed == j->total) res->done = true;
    } else if (j->produced == j->total) {
        jsonw_lit(out, "late answer");
        res->status = 201;
        res->content_type = "text/plain";
        res->done = true;
    }
    pthread_mutex_unlock(&j->mu);
}

static void on_close(void *ctx, bool completed) {
    struct job *j = ctx;
    atomic_fetch_add(completed ? &j->ts->closes_ok : &j->ts->closes_failed, 1);
    job_unref(j);
}

static void start_job(struct test_state *ts, const struct http_request_view *rv, bool stream, int total) {
    struct job *j = calloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    j->ts = ts;
    j->stream = stream;
    j->total = total;
    atomic_init(&j->refs, 2);
    j->a = http_async_start(rv->req, stream ? HTTP_ASYNC_STREAM : HTTP_ASYNC_DEFERRED, "text/event-stream", pull,
                            on_close, j);
    if (!j->a) {
        free(j);
        return;
    }
    if (total > 0 || stream) {
        pthread_create(&j->th, NULL, producer, j);
        pthread_detach(j->th);
    } else { /* never woken: the owner lets go at once */
        http_async_release(j->a);
        job_unref(j);
    }
}

static void handler(void *user, const struct http_request_view *rv) {
    struct test_state *ts = user;
    if (!strcmp(rv->path, "/hello")) {
        http_respond(rv->req, 200, "text/plain", "hi", 2);
    } else if (!strcmp(rv->path, "/echo")) {
        const char *h = http_request_header(rv->req, "X-Test");
        http_respond_with_header(rv->req, 200, "application/octet-stream", rv->body, rv->body_len, "X-Echo",
                                 h ? h : "none");
    } else if (!strcmp(rv->path, "/deferred")) {
        start_job(ts, rv, false, 1);
    } else if (!strcmp(rv->path, "/stream")) {
        start_job(ts, rv, true, 5);
    } else if (!strcmp(rv->path, "/hang")) {
        start_job(ts, rv, false, 0);
    } else if (!strcmp(rv->path, "/noanswer")) {
        /* handler forgets to answer: the adapter sends a 500 */
    } else {
        http_respond(rv->req, 404, "text/plain", "nope", 4);
    }
}

static void too_large(void *user, struct jsonw *out) { jsonw_lit(out, "{\"code\":413}"); }

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return;
        s += k;
        n -= (size_t)k;
    }
}

/* Sends req (with Connection: close) and reads the whole answer. Returns malloc'd text. */
static char *roundtrip(int port, const char *req, size_t len) {
    int fd = connect_to(port);
    if (fd < 0) return NULL;
    send_all(fd, req, len);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    ssize_t k;
    while ((k = recv(fd, buf + n, cap - n - 1, 0)) > 0) {
        n += (size_t)k;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    close(fd);
    return buf;
}

static int status_of(const char *resp) { return resp && !strncmp(resp, "HTTP/1.1 ", 9) ? atoi(resp + 9) : -1; }
static const char *body_of(const char *resp) {
    const char *p = resp ? strstr(resp, "\r\n\r\n") : NULL;
    return p ? p + 4 : "";
}

static bool wait_for(atomic_int *v, int target, double seconds) {
    double end = clock_now_s() + seconds;
    while (atomic_load(v) < target && clock_now_s() < end) usleep(10000);
    return atomic_load(v) >= target;
}

static struct test_state g_ts;
static struct http_server *g_srv;
static int g_port;

TEST(immediate) {
    const char *rq = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *r = roundtrip(g_port, rq, strlen(rq));
    CHECK_EQ_INT(status_of(r), 200);
    CHECK_STR(body_of(r), "hi");
    free(r);
    rq = "POST /echo HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello\0world";
    r = roundtrip(g_port, rq, strlen(rq) + 6);
    CHECK_EQ_INT(status_of(r), 200);
    CHECK(r && strstr(r, "X-Echo: yes") != NULL);
    CHECK(r && memcmp(body_of(r), "hello\0world", 11) == 0);
    free(r);
    rq = "GET /noanswer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    r = roundtrip(g_port, rq, strlen(rq));
    CHECK_EQ_INT(status_of(r), 500);
    free(r);
}

TEST(keep_alive) {
    int fd = connect_to(g_port);
    CHECK(fd >= 0);
    const char *rq = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        send_all(fd, rq, strlen(rq));
        char buf[1024];
        ssize_t k = recv(fd, buf, sizeof buf - 1, 0);
        CHECK(k > 0);
        if (k <= 0) break;
        buf[k] = 0;
        CHECK_EQ_INT(status_of(buf), 200);
    }
    close(fd);
}

TEST(deferred) {
    int before = atomic_load(&g_ts.closes_ok);
    const char *rq = "GET /deferred HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *r = roundtrip(g_port, rq, strlen(rq));
    CHECK_EQ_INT(status_of(r), 201);
    CHECK_STR(body_of(r), "late answer");
    free(r);
    CHECK(wait_for(&g_ts.closes_ok, before + 1, 2));
}

TEST(stream) {
    int before = atomic_load(&g_ts.closes_ok);
    const char *rq = "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *r = roundtrip(g_port, rq, strlen(rq));
    CHECK_EQ_INT(status_of(r), 200);
    CHECK(r && strstr(r, "Content-Type: text/event-stream") != NULL);
    CHECK(r && strstr(r, "Transfer-Encoding: chunked") != NULL);
    for (int i = 0; i < 5; i++) {
        char ev[32];
        snprintf(ev, sizeof ev, "data: %d\n\n", i);
        CHECK(r && strstr(r, ev) != NULL);
    }
    CHECK(r && strstr(r, "\r\n0\r\n\r\n") != NULL); /* the terminating chunk */
    free(r);
    CHECK(wait_for(&g_ts.closes_ok, before + 1, 2));
}

TEST(many_streams) {
    /* 32 concurrent streams on one I/O thread */
    enum { N = 32 };
    int fds[N];
    const char *rq = "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < N; i++) {
        fds[i] = connect_to(g_port);
        send_all(fds[i], rq, strlen(rq));
    }
    int complete = 0;
    for (int i = 0; i < N; i++) {
        char buf[8192];
        size_t n = 0;
        ssize_t k;
        while (n < sizeof buf - 1 && (k = recv(fds[i], buf + n, sizeof buf - 1 - n, 0)) > 0) n += (size_t)k;
        buf[n] = 0;
        complete += strstr(buf, "data: 4\n\n") != NULL;
        close(fds[i]);
    }
    CHECK_EQ_INT(complete, N);
}

TEST(body_limits) {
    /* declared too large: answered at once without reading the body */
    const char *rq = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n";
    char *r = roundtrip(g_port, rq, strlen(rq));
    CHECK_EQ_INT(status_of(r), 413);
    CHECK_STR(body_of(r), "{\"code\":413}");
    free(r);
    /* chunked upload growing past the limit */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big,
                                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += (size_t)snprintf(big + n, sizeof big - n, "258\r\n");
        memset(big + n, 'a', 600);
        n += 600;
        n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    }
    n += (size_t)snprintf(big + n, sizeof big - n, "0\r\n\r\n");
    r = roundtrip(g_port, big, n);
    CHECK_EQ_INT(status_of(r), 413);
    free(r);
    /* just under the limit is fine */
    char ok[1200];
    n = (size_t)snprintf(ok, sizeof ok, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n");
    memset(ok + n, 'b', 1024);
    r = roundtrip(g_port, ok, n + 1024);
    CHECK_EQ_INT(status_of(r), 200);
    CHECK_EQ_INT(strlen(body_of(r)), 1024);
    free(r);
    /* oversized headers */
    char *hdr = malloc(100000);
    n = (size_t)snprintf(hdr, 100000, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(hdr + n, 'h', 90000);
    n += 90000;
    n += (size_t)snprintf(hdr + n, 100000 - n, "\r\nConnection: close\r\n\r\n");
    r = roundtrip(g_port, hdr, n);
    CHECK(status_of(r) == 431 || status_of(r) == 413 || (r && r[0] == 0));
    free(r);
    free(hdr);
}

TEST(disconnect_parked) {
    int before = atomic_load(&g_ts.closes_failed);
    int fd = connect_to(g_port);
    const char *rq = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    usleep(100000);
    close(fd);
    CHECK(wait_for(&g_ts.closes_failed, before + 1, 3));
}

TEST(disconnect_stream) {
    int before = atomic_load(&g_ts.closes_failed) + atomic_load(&g_ts.closes_ok);
    int fd = connect_to(g_port);
    const char *rq = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char buf[256];
    CHECK(recv(fd, buf, sizeof buf, 0) > 0);
    close(fd);
    int sum;
    double end = clock_now_s() + 3;
    do {
        usleep(10000);
        sum = atomic_load(&g_ts.closes_failed) + atomic_load(&g_ts.closes_ok);
    } while (sum < before + 1 && clock_now_s() < end);
    CHECK(sum >= before + 1);
}

TEST(idle_timeout) {
    int fd = connect_to(g_port);
    const char *partial = "GET /hello HTTP/1.1\r\nHost";
    send_all(fd, partial, strlen(partial));
    double t0 = clock_now_s();
    char buf[64];
    ssize_t k = recv(fd, buf, sizeof buf, 0); /* the server drops us after its 1 s timeout */
    double dt = clock_now_s() - t0;
    CHECK(k <= 0);
    CHECK(dt < 5);
    close(fd);
}

TEST(shutdown_with_parked) {
    /* a second server destroyed while a request is parked: on_close(false), no hang */
    struct test_state ts2;
    atomic_init(&ts2.closes_ok, 0);
    atomic_init(&ts2.closes_failed, 0);
    struct http_server_opts o = {.host = "127.0.0.1", .port = 0, .max_body_bytes = 1024, .max_header_bytes = 16384,
                                 .timeout_s = 5, .max_connections = 64, .handler = handler, .user = &ts2};
    struct http_server *s2 = NULL;
    struct sgl_err err;
    CHECK_EQ_INT(http_server_create(&o, &s2, &err), 0);
    if (!s2) return;
    int fd = connect_to(http_server_port(s2));
    const char *rq = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    usleep(100000);
    double t0 = clock_now_s();
    http_server_destroy(s2);
    CHECK(clock_now_s() - t0 < 3);
    CHECK_EQ_INT(atomic_load(&ts2.closes_failed), 1);
    close(fd);
}

TEST(bind_errors) {
    struct http_server_opts o = {.host = "127.0.0.1", .port = g_port, .max_body_bytes = 1024,
                                 .max_header_bytes = 16384, .timeout_s = 5, .max_connections = 64,
                                 .handler = handler, .user = &g_ts};
    struct http_server *s2 = NULL;
    struct sgl_err err = {{0}};
    CHECK(http_server_create(&o, &s2, &err) != 0); /* port in use */
    CHECK(s2 == NULL && strstr(err.msg, "cannot listen") != NULL);
    o.port = 0;
    o.host = "no.such.host.invalid";
    CHECK(http_server_create(&o, &s2, &err) != 0);
    CHECK(strstr(err.msg, "cannot resolve") != NULL);
}

int main(void) {
    atomic_init(&g_ts.closes_ok, 0);
    atomic_init(&g_ts.closes_failed, 0);
    struct http_server_opts o = {.host = "127.0.0.1", .port = 0, .max_body_bytes = 1024, .max_header_bytes = 16384,
                                 .timeout_s = 1, .max_connections = 256, .handler = handler, .user = &g_ts,
                                 .too_large = too_large};
    struct sgl_err err;
    if (http_server_create(&o, &g_srv, &err)) {
        printf("cannot start the test server: %s\n", err.msg);
        return 1;
    }
    g_port = http_server_port(g_srv);
    CHECK(g_port > 0);
    RUN(immediate);
    RUN(keep_alive);
    RUN(deferred);
    RUN(stream);
    RUN(many_streams);
    RUN(body_limits);
    RUN(disconnect_parked);
    RUN(disconnect_stream);
    RUN(idle_timeout);
    RUN(shutdown_with_parked);
    RUN(bind_errors);
    http_server_destroy(g_srv);
    return test_summary();
}
