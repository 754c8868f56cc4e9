/* name_index: open addressing with linear probing, FNV-1a hashes, load factor
 * at most 1/2 (capacity >= 2n). See name_index.h for ownership. */
#include "model_loader/name_index.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

static uint64_t name_index_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int name_index_init(struct name_index *ix, int64_t n) {
    ix->mask = 0;
    ix->slots = NULL;
    if (n < 0 || n > ((int64_t)1 << 40)) return ERR_INVALID;
    uint64_t cap = 8;
    while (cap < 2 * (uint64_t)n) cap <<= 1;
    ix->slots = calloc(cap, sizeof *ix->slots);
    if (!ix->slots) return ERR_NOMEM;
    ix->mask = cap - 1;
    return 0;
}

void name_index_free(struct name_index *ix) {
    if (!ix) return;
    free(ix->slots);
    ix->slots = NULL;
    ix->mask = 0;
}

int64_t name_index_insert(struct name_index *ix, const char *name, int64_t idx) {
    for (uint64_t i = name_index_hash(name) & ix->mask;; i = (i + 1) & ix->mask) {
        struct name_index_slot *s = &ix->slots[i];
        if (!s->name) {
            s->name = name;
            s->idx = idx;
            return -1;
        }
        if (strcmp(s->name, name) == 0) return s->idx;
    }
}

int64_t name_index_find(const struct name_index *ix, const char *name) {
    if (!ix->slots || !name) return -1;
    for (uint64_t i = name_index_hash(name) & ix->mask;; i = (i + 1) & ix->mask) {
        const struct name_index_slot *s = &ix->slots[i];
        if (!s->name) return -1;
        if (strcmp(s->name, name) == 0) return s->idx;
    }
}
