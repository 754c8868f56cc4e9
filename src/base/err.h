/* err: error values carried out of fallible functions.
 *
 * Fallible functions return int (0 = ok, negative = failure) and, when given a
 * non-NULL `struct sgl_err *`, write a one-line human-readable message into it.
 * The message names the file / object and the problem so a CLI can print it
 * verbatim and the server can put it in an OpenAI-style error body.
 * Thread-safety: an sgl_err belongs to the caller's thread. */
#ifndef SGLC_BASE_ERR_H
#define SGLC_BASE_ERR_H

#include <stddef.h>

enum {
    ERR_OK = 0,
    ERR_FAIL = -1,     /* generic failure, message in sgl_err */
    ERR_NOMEM = -2,    /* allocation failed */
    ERR_IO = -3,       /* open/read/mmap failed */
    ERR_FORMAT = -4,   /* malformed input file or data */
    ERR_INVALID = -5,  /* bad argument / unsupported value */
    ERR_NOTFOUND = -6, /* missing file, key or tensor */
};

struct sgl_err {
    char msg[512];
};

/* Writes a printf-style message into e (if non-NULL); returns `code` so callers
 * can `return err_setf(e, ERR_FORMAT, "...")`. */
int err_setf(struct sgl_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "<prefix>: " (e.g. a file name). */
void err_prefix(struct sgl_err *e, const char *prefix);

#endif
