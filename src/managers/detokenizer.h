/* detokenizer: a request's output text (SGLang's DetokenizerManager state for
 * one request) — incremental detokenization of its output ids, stop-string
 * detection across token boundaries, and what may be streamed so far.
 *
 *   text:  | sent to the client | emittable | held back |
 *          0                  sent        limit      len
 *
 * Held back is the longest tail of the text that is a proper prefix of some
 * stop string (it may turn into a stop string with the next token), so a
 * trimmed stop string never reaches a stream. When a stop string is found the
 * text is cut where it starts (unless no_stop_trim) and nothing is held back.
 * Owned by the scheduler thread (one per request). */
#ifndef SGLC_MANAGERS_DETOKENIZER_H
#define SGLC_MANAGERS_DETOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct tokenizer;
struct detokenizer;

/* tok may be NULL (then only detokenizer_push_text works; for tests). The stop
 * strings are copied; empty ones are ignored. Returns NULL on OOM. */
struct detokenizer *detokenizer_create(const struct tokenizer *tok, bool skip_special_tokens, char *const *stop,
                                       int32_t n_stop, bool no_stop_trim);
void detokenizer_destroy(struct detokenizer *d);

/* The output continues the prompt's text (see detok_stream_continue). */
void detokenizer_continue(struct detokenizer *d);
/* Detokenizes one more output id and appends its stable text. */
int detokenizer_push(struct detokenizer *d, int32_t id, struct sgl_err *err);
/* Appends text directly (what push does with the detokenized piece). */
int detokenizer_push_text(struct detokenizer *d, const char *text, size_t len);
/* End of generation: appends what the incremental detokenizer still holds and
 * releases the held-back tail. A stop string is still looked for unless
 * skip_stop_check (the request already finished for another reason). */
int detokenizer_finish(struct detokenizer *d, bool skip_stop_check, struct sgl_err *err);

/* Index of the stop string found (in the order given to create), or -1. Once
 * found, further pushes are ignored. */
int detokenizer_matched_stop(const struct detokenizer *d);
/* The text that became emittable since the previous call (valid until the next push/take). */
void detokenizer_take(struct detokenizer *d, const char **text, size_t *len);
/* The whole output text so far (trimmed at a found stop string unless no_stop_trim). */
const char *detokenizer_text(const struct detokenizer *d, size_t *len);

#endif
