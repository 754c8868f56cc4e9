/* err: implementation of the one-line error messages (see err.h). */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_setf(struct sgl_err *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void err_prefix(struct sgl_err *e, const char *prefix) {
    if (!e || !prefix) return;
    char tmp[sizeof e->msg];
    size_t n = strlen(prefix);
    if (n > sizeof tmp - 3) n = sizeof tmp - 3;
    memcpy(tmp, prefix, n);
    memcpy(tmp + n, ": ", 2);
    size_t rest = sizeof tmp - n - 3, m = strnlen(e->msg, sizeof e->msg);
    if (m > rest) m = rest;
    memcpy(tmp + n + 2, e->msg, m);
    tmp[n + 2 + m] = 0;
    memcpy(e->msg, tmp, sizeof tmp);
}
