/* vocab: token strings by id, and ids by string (open-addressing hash index).
 *
 * Strings live in one growing arena (NUL-terminated, may contain NUL bytes:
 * lengths are explicit). Ids are 0 .. n_ids-1; an id may be unset (gaps).
 * When two ids share one string the index keeps the later one (as a JS Map or
 * Rust HashMap built from the same list would).
 *
 * Ownership: a vocab owns its arrays; vocab_free releases them. Built once,
 * then read-only: lookups are safe from many threads. */
#ifndef SGLC_TOKENIZER_VOCAB_H
#define SGLC_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct vocab {
    int32_t n_ids;
    struct vocab_span {
        uint32_t off, len; /* arena offset (UINT32_MAX if unset) and length */
    } * span;              /* [n_ids] */
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *slot;      /* [mask + 1] (high 32 bits of the hash) << 32 | (id + 1); 0 = empty */
    size_t mask, n_used; /* the table doubles when half full (several strings may share an id) */
};

static inline uint64_t vocab_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n) memcpy(&w, s, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    return h;
}

/* Prepares an empty vocab for ids 0..n_ids-1. Returns 0 or -1 (no memory). */
int vocab_init(struct vocab *v, int32_t n_ids);
void vocab_free(struct vocab *v);
/* Stores a copy of s[0..len) as the string of id and indexes it. Returns 0 or -1 (no memory). */
int vocab_set(struct vocab *v, int32_t id, const char *s, size_t len);
/* The id of the string s[0..len), or -1. */
int32_t vocab_find(const struct vocab *v, const char *s, size_t len);

/* The string of id (NUL-terminated, borrowed) or NULL when unset / out of range. */
static inline const char *vocab_str(const struct vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n_ids || v->span[id].off == UINT32_MAX) return NULL;
    if (len) *len = v->span[id].len;
    return v->arena + v->span[id].off;
}

#endif
