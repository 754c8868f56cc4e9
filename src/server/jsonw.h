/* jsonw: a growable byte buffer with a small, fast JSON writer for the
 * per-token hot path (SSE chunks, responses), where building a cJSON tree per
 * token would cost more than the token itself.
 *
 * The writer emits exactly what it is told: the caller places commas and
 * braces (jsonw_lit). Strings are escaped per RFC 8259 and always come out as
 * valid UTF-8: invalid byte sequences (and surrogates, overlongs, code points
 * past U+10FFFF) are replaced by U+FFFD. Numbers that JSON cannot hold (NaN,
 * +-inf) are written as null by jsonw_num; jsonw_logprob writes -9999.0 for
 * -inf as OpenAI does.
 *
 * Allocation failure is sticky: the buffer stops growing, `oom` is set, and
 * every later write is a no-op; check `oom` once at the end.
 * A jsonw belongs to one thread at a time. */
#ifndef SGLC_SERVER_JSONW_H
#define SGLC_SERVER_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw {
    char *buf; /* NUL-terminated when len > 0 or after jsonw_cstr */
    size_t len, cap;
    bool oom;
};

void jsonw_init(struct jsonw *w);
void jsonw_free(struct jsonw *w); /* frees the buffer and re-initializes */
void jsonw_reset(struct jsonw *w); /* len = 0, keeps the allocation */
/* Makes room for n more bytes; false on OOM. */
bool jsonw_reserve(struct jsonw *w, size_t n);
/* Returns the NUL-terminated contents (never NULL; "" when empty or OOM). */
const char *jsonw_cstr(struct jsonw *w);

void jsonw_raw(struct jsonw *w, const char *s, size_t n);
void jsonw_lit(struct jsonw *w, const char *s); /* NUL-terminated raw text */
void jsonw_printf(struct jsonw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "..." with escaping; s may be NULL (writes null). */
void jsonw_str(struct jsonw *w, const char *s, size_t n);
void jsonw_cstr_str(struct jsonw *w, const char *s); /* jsonw_str of a NUL-terminated string */
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_num(struct jsonw *w, double v);     /* shortest round-trip form; null if not finite */
void jsonw_logprob(struct jsonw *w, float v); /* float precision; -inf/NaN -> -9999.0 */
void jsonw_bool(struct jsonw *w, bool v);

/* Appends the UTF-8 bytes of s as a JSON array of byte values ([104,105]). */
void jsonw_bytes_array(struct jsonw *w, const char *s, size_t n);

#endif
