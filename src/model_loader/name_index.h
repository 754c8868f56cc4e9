/* name_index: a fixed-capacity string -> index hash table used by the model
 * file parsers (GGUF keys and tensor names, safetensors tensor names).
 *
 * The capacity is fixed at init from the number of names to insert (at most
 * that many inserts are allowed), so lookups stay O(1) and there is no
 * rehashing. Names are borrowed: they must outlive the index (the parsers keep
 * their own copies). Immutable after the inserts: concurrent finds are fine. */
#ifndef SGLC_MODEL_LOADER_NAME_INDEX_H
#define SGLC_MODEL_LOADER_NAME_INDEX_H

#include <stdint.h>

struct name_index_slot {
    const char *name; /* NULL: empty slot */
    int64_t idx;
};

struct name_index {
    uint64_t mask;                 /* capacity - 1 (capacity is a power of two) */
    struct name_index_slot *slots; /* NULL when empty / not initialised */
};

/* Sizes the table for up to n names. Returns 0 or ERR_NOMEM / ERR_INVALID. */
int name_index_init(struct name_index *ix, int64_t n);
void name_index_free(struct name_index *ix);
/* Inserts name -> idx. Returns -1 when inserted, or the index already stored
 * under that name (then nothing changes). */
int64_t name_index_insert(struct name_index *ix, const char *name, int64_t idx);
/* Returns the index stored under name, or -1. A zeroed index finds nothing. */
int64_t name_index_find(const struct name_index *ix, const char *name);

#endif
