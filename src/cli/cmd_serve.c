/* cmd_serve: `sglc serve` — parses the server flags, starts the server and
 * waits for SIGINT / SIGTERM, then shuts it down cleanly.
 *
 * The signals are blocked before any thread starts (so every thread inherits
 * the mask) and taken synchronously with sigwait on the main thread: no
 * signal handler, no global flag. Once listening, one line
 * "sglc serve: listening on http://HOST:PORT" goes to stderr (tests read the
 * port from it when started with --port 0). */
#include <signal.h>
#include <stdio.h>

#include "base/log.h"
#include "cli/cli.h"
#include "server/server.h"
#include "server_args.h"

#ifdef SGLC_HAVE_MHD

int cli_serve_main(int argc, char **argv) {
    struct server_args args;
    server_args_init(&args);
    struct sgl_err err = {{0}};
    int rc = server_args_parse(&args, argc, argv, stdout, &err);
    if (rc == 1) return 0;
    if (rc) {
        fprintf(stderr, "sglc serve: error: %s\n", err.msg);
        return 2;
    }
    log_set_level((enum log_level)args.log_level);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct server *srv;
    if (server_create(&args, &srv, &err)) {
        fprintf(stderr, "sglc serve: error: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "sglc serve: listening on http://%s:%d\n", args.host, server_port(srv));
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    LOG_INFO("received signal %d, shutting down", sig);
    server_destroy(srv);
    return 0;
}

#else

int cli_serve_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "sglc serve: error: built without libmicrohttpd (install libmicrohttpd-dev and rebuild)\n");
    return 1;
}

#endif
