/* server: `sglc serve` — the OpenAI-compatible and SGLang-native HTTP API on
 * top of the engine. server_create loads the model (or the embedded default),
 * the chat template, starts the engine's scheduler thread and the HTTP I/O
 * thread; requests are then served until server_destroy.
 *
 * Threads: create/destroy on the main thread; everything else runs on the
 * HTTP I/O thread and the engine's scheduler thread (see serving.c). */
#ifndef SGLC_SERVER_SERVER_H
#define SGLC_SERVER_SERVER_H

#include "base/err.h"
#include "server_args.h"

struct server;

/* args is copied (its strings must outlive the server). */
int server_create(const struct server_args *args, struct server **out, struct sgl_err *err);
/* Stops accepting, ends open connections (their requests are aborted), stops the engine, frees. */
void server_destroy(struct server *s);
/* The TCP port actually bound (useful with --port 0). */
int server_port(const struct server *s);

#endif
