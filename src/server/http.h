/* http: the HTTP/1.1 server under the API, a thin adapter over libmicrohttpd
 * (the only file that includes <microhttpd.h>).
 *
 * One internal epoll thread (the "I/O thread") runs every connection; there is
 * no thread per connection. For each complete request (headers + body) the
 * handler is called on the I/O thread and must answer in one of two ways:
 *
 *   - at once: http_respond(); or
 *   - later: http_async_start(), which parks (suspends) the connection at no
 *     CPU cost. Any thread then calls http_async_wake() when it has something
 *     for the client; the I/O thread calls the async's pull callback, which
 *     writes bytes:
 *       HTTP_ASYNC_DEFERRED: one complete response (status, type, body) once
 *         the pull sets done — nothing is sent before;
 *       HTTP_ASYNC_STREAM: headers (200, the given content type) go out at
 *         once, then every pull's bytes as they come (chunked encoding, e.g.
 *         SSE), until a pull sets done.
 *
 * Disconnects: when the client goes away before the async is done (socket
 * closed, write error, connection timeout, server shutdown), the on_close
 * callback reports completed == false. Parked connections are checked for a
 * closed peer by a watchdog thread (every 200 ms) since the event loop does
 * not watch them.
 *
 * Lifetime of an http_async: the connection holds one reference and the owner
 * (the code that calls wake) another. on_close is called exactly once, on the
 * I/O thread (or in http_server_destroy), after which pull is never called
 * again; the owner drops its reference with http_async_release() when it will
 * no longer call wake. wake after on_close is a harmless no-op.
 *
 * Limits: request line + headers must fit max_header_bytes (else MHD answers
 * 431/413 itself), bodies over max_body_bytes get 413 (with the error body
 * built by the handler's too_large callback), idle or stalled connections are
 * closed after timeout_s. */
#ifndef SGLC_SERVER_HTTP_H
#define SGLC_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server/jsonw.h"

struct http_server;
struct http_request;
struct http_async;

struct http_request_view {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL path without the query string */
    const char *body;   /* NUL-terminated copy of the body (may contain NULs before body_len) */
    size_t body_len;
    struct http_request *req; /* handle for http_respond / http_async_start / http_request_header */
};

/* Called on the I/O thread for every complete request; must call http_respond
 * or http_async_start exactly once before returning (else a 500 is sent). */
typedef void (*http_handler_fn)(void *user, const struct http_request_view *rv);

struct http_server_opts {
    const char *host; /* numeric IPv4/IPv6 address, "localhost", or "0.0.0.0" */
    int port;         /* 0: pick a free port (see http_server_port) */
    size_t max_body_bytes;
    size_t max_header_bytes;
    unsigned timeout_s;
    unsigned max_connections;
    http_handler_fn handler;
    void *user;
    /* Builds the body of a 413 answer (JSON); may be NULL (then a plain text body). */
    void (*too_large)(void *user, struct jsonw *out);
};

int http_server_create(const struct http_server_opts *opts, struct http_server **out, struct sgl_err *err);
/* Stops accepting new connections (open ones keep being served). */
void http_server_quiesce(struct http_server *s);
/* Closes every connection (parked ones get on_close(completed=false)), stops the threads, frees. */
void http_server_destroy(struct http_server *s);
/* The port actually bound. */
int http_server_port(const struct http_server *s);

/* Value of a request header (case-insensitive name), NULL if absent. Valid during the handler. */
const char *http_request_header(struct http_request *req, const char *name);

/* Answers now (on the I/O thread, inside the handler); body is copied. The
 * _with_header form adds one header (e.g. Allow for a 405). */
void http_respond(struct http_request *req, int status, const char *content_type, const char *body, size_t len);
void http_respond_with_header(struct http_request *req, int status, const char *content_type, const char *body,
                              size_t len, const char *hdr_name, const char *hdr_value);

enum http_async_mode { HTTP_ASYNC_DEFERRED, HTTP_ASYNC_STREAM };

struct http_pull_result {
    int status;               /* DEFERRED: the status code (default 200) */
    const char *content_type; /* DEFERRED: static string (default application/json) */
    bool done;                /* no more data will follow */
};

/* Pull: called on the I/O thread after wake(s); appends to out. In DEFERRED
 * mode it must leave out empty until it sets done. */
typedef void (*http_pull_fn)(void *ctx, struct jsonw *out, struct http_pull_result *res);
/* Called once when the connection is finished with the async: completed is true
 * iff the pull said done and every byte was handed to the kernel. */
typedef void (*http_close_fn)(void *ctx, bool completed);

/* Parks the request. content_type is used for STREAM mode headers (static string).
 * Returns the async with two references (connection + caller), or NULL on OOM (a
 * 500 has then been sent and no callback will be made). pull is first called
 * after the first wake. */
struct http_async *http_async_start(struct http_request *req, enum http_async_mode mode, const char *content_type,
                                    http_pull_fn pull, http_close_fn on_close, void *ctx);
/* Any thread: schedules a pull on the I/O thread. */
void http_async_wake(struct http_async *a);
/* Any thread: drops the caller's reference. */
void http_async_release(struct http_async *a);

#endif
