/* unicode: the tokenizer's Unicode helpers and its one adapter for utf8proc.
 *
 * - UTF-8 decoding/encoding of single code points (inputs are assumed valid
 *   unless the function says otherwise).
 * - WHATWG/Unicode "maximal subpart" replacement of invalid UTF-8 by U+FFFD,
 *   as a one-shot sanitizer and as a streaming decoder (unicode_utf8_stream)
 *   whose output, fed byte by byte and finished, equals the one-shot result.
 * - Character classes used by the pre-tokenizers: \p{L}, \p{N}, White_Space.
 * - Normalization forms (NFC/NFD/NFKC/NFKD) and lowercase.
 *
 * Everything here is pure (no state outside the arguments): safe on any thread. */
#ifndef SGLC_TOKENIZER_UNICODE_H
#define SGLC_TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    UNICODE_LETTER = 1u << 0, /* \p{L}: Lu Ll Lt Lm Lo */
    UNICODE_NUMBER = 1u << 1, /* \p{N}: Nd Nl No */
    UNICODE_SPACE = 1u << 2,  /* White_Space property (what Oniguruma's \s and Rust's is_whitespace match) */
    UNICODE_CRLF = 1u << 3,   /* '\r' or '\n' (also carries UNICODE_SPACE) */
};

enum unicode_form { UNICODE_NFC, UNICODE_NFD, UNICODE_NFKC, UNICODE_NFKD };

/* Decodes the code point at s[0..] of VALID UTF-8 with at least one byte
 * available (n >= 1); *len receives its byte length (1..4). */
static inline int32_t unicode_decode(const uint8_t *s, size_t n, size_t *len) {
    uint8_t c = s[0];
    size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (l > n) { /* truncated (not valid UTF-8): consume the rest */
        *len = n;
        return 0xFFFD;
    }
    *len = l;
    switch (l) {
    case 1:
        return c;
    case 2:
        return ((int32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
    case 3:
        return ((int32_t)(c & 0x0F) << 12) | ((int32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((int32_t)(c & 0x07) << 18) | ((int32_t)(s[1] & 0x3F) << 12) | ((int32_t)(s[2] & 0x3F) << 6) |
               (s[3] & 0x3F);
    }
}

/* Writes cp as UTF-8 into out (4 bytes room); returns the byte count. */
size_t unicode_encode(int32_t cp, char out[4]);

/* Class flags (UNICODE_*) of a code point. */
unsigned unicode_class(int32_t cp);

/* Class flags of the 128 ASCII code points (constant table). */
extern const uint8_t unicode_ascii_class[128];

/* Class flags of the character at s[0..n) (n >= 1, valid UTF-8); *len receives its length. */
static inline unsigned unicode_class_at(const uint8_t *s, size_t n, size_t *len) {
    if (s[0] < 0x80) {
        *len = 1;
        return unicode_ascii_class[s[0]];
    }
    return unicode_class(unicode_decode(s, n, len));
}

/* True if s[0..n) is well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF). */
bool unicode_utf8_valid(const char *s, size_t n);

/* Copies s[0..n) into a malloc'd, NUL-terminated buffer where every maximal
 * invalid subsequence is replaced by U+FFFD (the WHATWG decoder's rule, which
 * is also what JS TextDecoder and Rust from_utf8_lossy do). Returns 0, or -1
 * when out of memory. */
int unicode_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_len);

/* Streaming lossy UTF-8 decoder: holds at most 3 bytes of an incomplete but
 * so-far valid sequence. */
struct unicode_utf8_stream {
    uint8_t pend[4];
    uint8_t n_pend, need, lower, upper;
};
void unicode_utf8_stream_init(struct unicode_utf8_stream *st);
/* Feeds bytes; writes complete characters (and U+FFFD for invalid parts) to
 * out, which needs room for 3 * n + 4 bytes. Returns bytes written. */
size_t unicode_utf8_stream_feed(struct unicode_utf8_stream *st, const uint8_t *in, size_t n, char *out);
/* Ends the stream: an incomplete pending sequence becomes one U+FFFD (needs 3 bytes of room). */
size_t unicode_utf8_stream_finish(struct unicode_utf8_stream *st, char *out);

/* Normalizes valid UTF-8 s[0..n). On success *out is either NULL (s is
 * already in the requested form: use s itself) or a malloc'd NUL-terminated
 * result of *out_len bytes. Returns 0, or -1 when out of memory. */
int unicode_normalize(enum unicode_form form, const char *s, size_t n, char **out, size_t *out_len);

/* Simple (1:1) lowercase mapping of valid UTF-8 into a malloc'd buffer. Returns 0 / -1 (no memory). */
int unicode_lowercase(const char *s, size_t n, char **out, size_t *out_len);

#endif
