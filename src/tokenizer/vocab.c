/* vocab: token string storage and the string -> id hash index (see vocab.h).
 *
 * The index is linear-probing over a power-of-two table sized for a load of
 * at most 1/2; each 64-bit slot holds the id and the upper 32 bits of the
 * hash, so a lookup costs one cache miss for the slot and, on a hash match,
 * one for the span and one for the arena. Single-threaded while built, read-only after. */
#include "tokenizer/vocab.h"

#include <stdlib.h>

int vocab_init(struct vocab *v, int32_t n_ids) {
    memset(v, 0, sizeof *v);
    if (n_ids < 0) return -1;
    size_t slots = 16;
    while (slots < 2 * (size_t)n_ids + 2) slots <<= 1;
    v->n_ids = n_ids;
    v->span = malloc(((size_t)n_ids + 1) * sizeof *v->span);
    v->slot = calloc(slots, sizeof *v->slot);
    v->arena_cap = 16 * (size_t)n_ids + 64;
    v->arena = malloc(v->arena_cap);
    v->mask = slots - 1;
    if (!v->span || !v->slot || !v->arena) {
        vocab_free(v);
        return -1;
    }
    for (int32_t i = 0; i < n_ids; i++) v->span[i] = (struct vocab_span){UINT32_MAX, 0};
    return 0;
}

void vocab_free(struct vocab *v) {
    if (!v) return;
    free(v->span);
    free(v->arena);
    free(v->slot);
    memset(v, 0, sizeof *v);
}

/* Doubles the index; entries are re-placed from their stored hash bits and strings. */
static int grow_index(struct vocab *v) {
    size_t slots = 2 * (v->mask + 1);
    uint64_t *ns = calloc(slots, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i <= v->mask; i++) {
        uint64_t sl = v->slot[i];
        if (!sl) continue;
        const struct vocab_span *o = &v->span[(uint32_t)sl - 1];
        size_t j = (size_t)vocab_hash(v->arena + o->off, o->len) & (slots - 1);
        while (ns[j]) j = (j + 1) & (slots - 1);
        ns[j] = sl;
    }
    free(v->slot);
    v->slot = ns;
    v->mask = slots - 1;
    return 0;
}

int vocab_set(struct vocab *v, int32_t id, const char *s, size_t len) {
    if (id < 0 || id >= v->n_ids || len >= UINT32_MAX / 2) return -1;
    if (v->arena_len + len + 1 > v->arena_cap) {
        size_t cap = v->arena_cap * 2;
        while (cap < v->arena_len + len + 1) cap *= 2;
        if (cap >= UINT32_MAX) return -1;
        char *a = realloc(v->arena, cap);
        if (!a) return -1;
        v->arena = a;
        v->arena_cap = cap;
    }
    uint32_t off = (uint32_t)v->arena_len;
    if (len) memcpy(v->arena + off, s, len);
    v->arena[off + len] = 0;
    v->arena_len += len + 1;
    v->span[id] = (struct vocab_span){off, (uint32_t)len};
    if (2 * (v->n_used + 1) > v->mask + 1 && grow_index(v)) return -1;

    uint64_t h = vocab_hash(s, len), hh = h & 0xFFFFFFFF00000000ull;
    for (size_t i = (size_t)h & v->mask;; i = (i + 1) & v->mask) {
        uint64_t sl = v->slot[i];
        if (sl == 0) {
            v->slot[i] = hh | ((uint64_t)id + 1);
            v->n_used++;
            return 0;
        }
        const struct vocab_span *o = &v->span[(uint32_t)sl - 1];
        if ((sl & 0xFFFFFFFF00000000ull) == hh && o->len == len && memcmp(v->arena + o->off, s, len) == 0) {
            v->slot[i] = hh | ((uint64_t)id + 1); /* a later duplicate wins */
            return 0;
        }
    }
}

int32_t vocab_find(const struct vocab *v, const char *s, size_t len) {
    if (!v->slot) return -1;
    uint64_t h = vocab_hash(s, len), hh = h & 0xFFFFFFFF00000000ull;
    for (size_t i = (size_t)h & v->mask;; i = (i + 1) & v->mask) {
        uint64_t sl = v->slot[i];
        if (sl == 0) return -1;
        if ((sl & 0xFFFFFFFF00000000ull) != hh) continue;
        uint32_t id = (uint32_t)sl - 1;
        const struct vocab_span *o = &v->span[id];
        if (o->len == len && memcmp(v->arena + o->off, s, len) == 0) return (int32_t)id;
    }
}
