/* http: libmicrohttpd adapter (see http.h).
 *
 * MHD runs one internal epoll thread with suspend/resume (ITC). Per request
 * MHD keeps a `struct http_request` in its req_cls slot: the body is gathered
 * there, then the handler runs. A parked request owns a `struct http_async`:
 *
 *   state (guarded by srv->mu)     meaning
 *   suspended                       MHD_suspend_connection was called; the next
 *                                   wake (or the watchdog) must resume it
 *   wake_pending                    a pull is due
 *   closing                         peer gone or server stopping: end it with an error
 *   conn == NULL                    MHD has completed the connection (on_close ran)
 *
 * `out` and `res` belong to the I/O thread (pull and the content reader run
 * there). Suspend and resume are always called with srv->mu held, so a wake
 * can never slip between "no pull due" and "suspend" (no lost wake-ups) and
 * resume is never called on a connection that is not suspended.
 *
 * The watchdog thread peeks (MSG_PEEK) at the sockets of suspended
 * connections to notice closed peers, which MHD cannot see while a connection
 * is suspended. MHD invokes our callbacks without holding its own locks, so
 * the lock order is srv->mu -> MHD internal. */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

struct http_async {
    struct http_server *srv;
    struct MHD_Connection *conn; /* NULL once MHD completed the connection */
    int fd;
    enum http_async_mode mode;
    const char *content_type;
    http_pull_fn pull;
    http_close_fn on_close;
    void *ctx;
    int refs;
    bool suspended, wake_pending, closing;
    /* I/O thread only */
    struct jsonw out;
    size_t out_off;
    struct http_pull_result res;
    struct http_async *prev, *next; /* srv->asyncs while conn != NULL */
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    char *path;
    struct jsonw body;
    bool too_large;
    bool answered;
    bool dispatched;
    struct http_async *async;
};

struct http_server {
    struct MHD_Daemon *d;
    struct http_server_opts opts;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct http_async *asyncs; /* attached to live connections */
    bool stopping;
    pthread_t watchdog;
    bool watchdog_started;
    int listen_fd; /* >= 0 after quiesce: ours to close */
};

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    LOG_DEBUG("microhttpd: %s", msg);
}

/* ---- responses ---- */

static void queue_buffer(struct http_request *r, int status, const char *ctype, const char *body, size_t len,
                         const char *hname, const char *hvalue) {
    if (r->answered) return;
    r->answered = true;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        LOG_ERROR("out of memory creating a response");
        return;
    }
    if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (hname && hvalue) MHD_add_response_header(resp, hname, hvalue);
    if (MHD_queue_response(r->conn, (unsigned)status, resp) != MHD_YES) LOG_WARN("could not queue a %d response", status);
    MHD_destroy_response(resp);
}

void http_respond(struct http_request *req, int status, const char *content_type, const char *body, size_t len) {
    queue_buffer(req, status, content_type, body, len, NULL, NULL);
}

void http_respond_with_header(struct http_request *req, int status, const char *content_type, const char *body,
                              size_t len, const char *hdr_name, const char *hdr_value) {
    queue_buffer(req, status, content_type, body, len, hdr_name, hdr_value);
}

const char *http_request_header(struct http_request *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static void respond_too_large(struct http_request *r) {
    struct jsonw w;
    jsonw_init(&w);
    if (r->srv->opts.too_large) r->srv->opts.too_large(r->srv->opts.user, &w);
    if (w.len && !w.oom) queue_buffer(r, 413, "application/json", w.buf, w.len, NULL, NULL);
    else queue_buffer(r, 413, "text/plain", "request body too large\n", 23, NULL, NULL);
    jsonw_free(&w);
}

/* ---- async ---- */

static void async_unref_locked(struct http_async *a) {
    if (--a->refs == 0) {
        jsonw_free(&a->out);
        free(a);
    }
}

void http_async_release(struct http_async *a) {
    if (!a) return;
    struct http_server *s = a->srv;
    pthread_mutex_lock(&s->mu);
    async_unref_locked(a);
    pthread_mutex_unlock(&s->mu);
}

/* srv->mu held. */
static void resume_locked(struct http_async *a) {
    if (a->suspended && a->conn) {
        a->suspended = false;
        MHD_resume_connection(a->conn);
    }
}

void http_async_wake(struct http_async *a) {
    struct http_server *s = a->srv;
    pthread_mutex_lock(&s->mu);
    a->wake_pending = true;
    resume_locked(a);
    pthread_mutex_unlock(&s->mu);
}

/* I/O thread: runs due pulls. Returns 1 when there is output or the async is done,
 * 0 after suspending the connection (nothing to do now), -1 when it must be closed. */
static int async_step(struct http_async *a) {
    struct http_server *s = a->srv;
    for (;;) {
        if (a->out_off < a->out.len || a->res.done) return 1;
        pthread_mutex_lock(&s->mu);
        if (a->closing) {
            pthread_mutex_unlock(&s->mu);
            return -1;
        }
        if (a->wake_pending) {
            a->wake_pending = false;
            pthread_mutex_unlock(&s->mu);
            a->pull(a->ctx, &a->out, &a->res);
            if (a->out.oom) return -1;
            continue;
        }
        a->suspended = true;
        MHD_suspend_connection(a->conn);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    struct http_async *a = cls;
    int st = async_step(a);
    if (st < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (st == 0) return 0;
    size_t avail = a->out.len - a->out_off;
    if (avail == 0) return MHD_CONTENT_READER_END_OF_STREAM; /* done */
    size_t n = avail < max ? avail : max;
    memcpy(buf, a->out.buf + a->out_off, n);
    a->out_off += n;
    if (a->out_off == a->out.len) {
        a->out_off = 0;
        jsonw_reset(&a->out);
    }
    return (ssize_t)n;
}

struct http_async *http_async_start(struct http_request *r, enum http_async_mode mode, const char *content_type,
                                    http_pull_fn pull, http_close_fn on_close, void *ctx) {
    struct http_server *s = r->srv;
    if (r->answered || r->async) return NULL;
    struct http_async *a = calloc(1, sizeof *a);
    if (!a) goto oom;
    a->srv = s;
    a->conn = r->conn;
    a->mode = mode;
    a->content_type = content_type;
    a->pull = pull;
    a->on_close = on_close;
    a->ctx = ctx;
    a->refs = 2;
    a->res.status = 200;
    jsonw_init(&a->out);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    a->fd = ci ? ci->connect_fd : -1;

    if (mode == HTTP_ASYNC_STREAM) {
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, a, NULL);
        if (!resp) {
            free(a);
            goto oom;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        if (MHD_queue_response(r->conn, MHD_HTTP_OK, resp) != MHD_YES) {
            MHD_destroy_response(resp);
            free(a);
            goto oom;
        }
        MHD_destroy_response(resp);
        r->answered = true;
    }
    r->async = a;
    pthread_mutex_lock(&s->mu);
    a->next = s->asyncs;
    if (s->asyncs) s->asyncs->prev = a;
    s->asyncs = a;
    if (mode == HTTP_ASYNC_DEFERRED) {
        a->suspended = true;
        MHD_suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&s->mu);
    return a;
oom:
    LOG_ERROR("out of memory parking a request");
    queue_buffer(r, 500, "text/plain", "out of memory\n", 14, NULL, NULL);
    return NULL;
}

/* ---- MHD callbacks ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
    struct http_server *s = cls;
    struct http_request *r = *req_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r || !(r->path = strdup(url ? url : "/"))) {
            free(r);
            return MHD_NO;
        }
        r->srv = s;
        r->conn = conn;
        jsonw_init(&r->body);
        *req_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->opts.max_body_bytes) {
            r->too_large = true;
            respond_too_large(r); /* MHD closes the connection without reading the body */
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->answered && !r->too_large) {
            if (r->body.len + *upload_data_size > s->opts.max_body_bytes) {
                r->too_large = true;
                jsonw_free(&r->body);
            } else {
                jsonw_raw(&r->body, upload_data, *upload_data_size);
                if (r->body.oom) return MHD_NO;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->async) { /* resumed */
        struct http_async *a = r->async;
        if (a->mode == HTTP_ASYNC_STREAM) return MHD_YES;
        int st = async_step(a);
        if (st < 0) return MHD_NO;
        if (st == 0) return MHD_YES;
        queue_buffer(r, a->res.status ? a->res.status : 200,
                     a->res.content_type ? a->res.content_type : "application/json", a->out.buf ? a->out.buf : "",
                     a->out.len, NULL, NULL);
        jsonw_reset(&a->out);
        return MHD_YES;
    }
    if (r->answered) return MHD_YES;
    if (r->too_large) {
        respond_too_large(r);
        return MHD_YES;
    }
    if (r->dispatched) return MHD_YES;
    r->dispatched = true;
    struct http_request_view v = {
        .method = method, .path = r->path, .body = jsonw_cstr(&r->body), .body_len = r->body.len, .req = r};
    s->opts.handler(s->opts.user, &v);
    if (!r->answered && !r->async) queue_buffer(r, 500, "text/plain", "no response\n", 12, NULL, NULL);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe) {
    struct http_server *s = cls;
    struct http_request *r = *req_cls;
    if (!r) return;
    *req_cls = NULL;
    struct http_async *a = r->async;
    if (a) {
        pthread_mutex_lock(&s->mu);
        a->conn = NULL;
        a->suspended = false;
        if (a->prev) a->prev->next = a->next;
        else s->asyncs = a->next;
        if (a->next) a->next->prev = a->prev;
        a->prev = a->next = NULL;
        bool completed = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && a->res.done && !a->closing;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        a->on_close(a->ctx, completed);
        http_async_release(a);
    }
    jsonw_free(&r->body);
    free(r->path);
    free(r);
}

/* ---- watchdog ---- */

static void *watchdog_main(void *arg) {
    struct http_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stopping) break;
        for (struct http_async *a = s->asyncs; a; a = a->next) {
            if (!a->suspended || a->closing || a->fd < 0) continue;
            char c;
            ssize_t n = recv(a->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                LOG_DEBUG("client went away on a parked request");
                a->closing = true;
                resume_locked(a);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- server ---- */

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *sl, bool *v6,
                   struct sgl_err *err) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc || !res) return err_setf(err, ERR_INVALID, "cannot resolve host '%s': %s", host, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

int http_server_create(const struct http_server_opts *opts, struct http_server **out, struct sgl_err *err) {
    *out = NULL;
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, ERR_NOMEM, "out of memory");
    s->opts = *opts;
    s->listen_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    bool v6 = false;
    int rc = resolve(opts->host, opts->port, &ss, &sl, &v6, err);
    if (rc) goto fail;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,                                   /* */
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,                                  /* */
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,                           /* */
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)opts->max_header_bytes,      /* */
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)opts->timeout_s,                /* */
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)opts->max_connections,            /* */
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,                            /* */
                            MHD_OPTION_END);
    if (!s->d) {
        rc = err_setf(err, ERR_IO, "cannot listen on %s:%d (address in use or not available)", opts->host, opts->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : opts->port;
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s)) {
        rc = err_setf(err, ERR_FAIL, "cannot start the connection watchdog thread");
        goto fail;
    }
    s->watchdog_started = true;
    *out = s;
    return 0;
fail:
    http_server_destroy(s);
    return rc;
}

int http_server_port(const struct http_server *s) { return s->port; }

void http_server_quiesce(struct http_server *s) {
    if (s->d && s->listen_fd < 0) s->listen_fd = MHD_quiesce_daemon(s->d);
}

void http_server_destroy(struct http_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->watchdog_started) pthread_join(s->watchdog, NULL);
    if (s->d) {
        http_server_quiesce(s);
        /* MHD must not be stopped with suspended connections: end every parked
         * request with an error and wait (bounded) for MHD to complete them. */
        pthread_mutex_lock(&s->mu);
        for (struct http_async *a = s->asyncs; a; a = a->next) {
            a->closing = true;
            resume_locked(a);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 5;
        while (s->asyncs)
            if (pthread_cond_timedwait(&s->cv, &s->mu, &ts)) break;
        bool left = s->asyncs != NULL;
        pthread_mutex_unlock(&s->mu);
        if (left) LOG_WARN("some parked connections did not close in time");
        MHD_stop_daemon(s->d);
        if (s->listen_fd >= 0) close(s->listen_fd);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
