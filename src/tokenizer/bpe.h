/* bpe: the two merge algorithms behind the tokenizer models.
 *
 *  - Rank BPE (HF tokenizers "BPE" model, GGUF "gpt2"): a merge table maps an
 *    adjacent id pair to (rank, merged id); repeatedly merge the pair of lowest
 *    rank, leftmost on ties. Short words use an array scan, long ones a heap
 *    (both give the same result: same order of merges).
 *  - Score BPE (SentencePiece as llama.cpp's llm_tokenizer_spm): repeatedly
 *    merge the adjacent pair whose concatenated text is a vocab entry with the
 *    highest score, leftmost on ties; leftover symbols that are no vocab entry
 *    become byte tokens <0xXX>.
 *
 * The merge table is built once and read-only afterwards; a bpe_scratch
 * belongs to one encode call (one thread). */
#ifndef SGLC_TOKENIZER_BPE_H
#define SGLC_TOKENIZER_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

struct bpe_merges {
    struct bpe_merge_slot {
        uint64_t key; /* (left << 32 | right) + 1, 0 = empty */
        uint32_t rank;
        int32_t result; /* merged id */
    } * slot;           /* [mask + 1]: one cache line access per probe */
    size_t mask, n;
};

/* Growable int32 list used for token ids. */
struct bpe_ids {
    int32_t *v;
    size_t n, cap;
};
/* Returns 0, or -1 when out of memory. */
int bpe_ids_reserve(struct bpe_ids *a, size_t extra);
static inline int bpe_ids_push(struct bpe_ids *a, int32_t id) {
    if (a->n == a->cap && bpe_ids_reserve(a, 1)) return -1;
    a->v[a->n++] = id;
    return 0;
}

/* Per-call working memory of the merge loops. Zero-initialise; bpe_scratch_free releases. */
struct bpe_scratch {
    void *buf;
    size_t cap;
};
void bpe_scratch_free(struct bpe_scratch *s);

/* Table for n_merges merges. Returns 0 or -1 (no memory). */
int bpe_merges_init(struct bpe_merges *m, size_t n_merges);
void bpe_merges_free(struct bpe_merges *m);
/* Adds (or replaces: a later duplicate wins) the merge left+right -> result at rank. */
void bpe_merges_add(struct bpe_merges *m, int32_t left, int32_t right, uint32_t rank, int32_t result);

/* Slot of a key: a full 64-bit mix (both ids reach every bit), low bits. */
static inline size_t bpe_merges_slot(uint64_t key, size_t mask) {
    key ^= key >> 33;
    key *= 0xFF51AFD7ED558CCDull;
    key ^= key >> 33;
    key *= 0xC4CEB9FE1A85EC53ull;
    key ^= key >> 33;
    return (size_t)key & mask;
}

static inline int bpe_merges_find(const struct bpe_merges *m, int32_t left, int32_t right, uint32_t *rank,
                                  int32_t *result) {
    if (!m->slot) return 0;
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    for (size_t i = bpe_merges_slot(key, m->mask);; i = (i + 1) & m->mask) {
        const struct bpe_merge_slot *sl = &m->slot[i];
        if (sl->key == key) {
            *rank = sl->rank;
            *result = sl->result;
            return 1;
        }
        if (sl->key == 0) return 0;
    }
}

/* Applies the rank merges to ids[0..n) in place; returns the new count, or
 * (size_t)-1 when out of memory. */
size_t bpe_merge(const struct bpe_merges *m, int32_t *ids, size_t n, struct bpe_scratch *scr);

/* SentencePiece score merges over the UTF-8 text[0..n) (valid UTF-8, spaces
 * already escaped as U+2581). scores[id] is each token's score; byte_ids[b] is
 * the id of <0xXX> (or -1, then unk_id is used, and nothing if that is -1 too).
 * Appends the ids to out. Returns 0 or -1 (no memory). */
int bpe_spm_encode(const struct vocab *v, const float *scores, const int32_t byte_ids[256], int32_t unk_id,
                   const char *text, size_t n, struct bpe_ids *out, struct bpe_scratch *scr);

#endif
