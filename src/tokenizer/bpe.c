/* bpe: rank-ordered BPE merges and SentencePiece score merges (see bpe.h).
 *
 * Rank BPE, as HF tokenizers' Word::merge_all: every adjacent pair with a
 * merge is a candidate; the candidate of lowest rank is applied first, the
 * leftmost one on equal ranks; merging replaces the left symbol by the merged
 * id and removes the right one, creating new candidates with both neighbours.
 *   - words of <= BPE_SMALL symbols: arrays of ids and pair ranks, linear scan
 *     for the minimum (no allocation, cache friendly);
 *   - longer words: a doubly linked list of symbols and a binary min-heap of
 *     (rank, position) entries; an entry is stale when its pair changed.
 * Both pick the same pair at every step (positions keep the list order).
 *
 * Score BPE, as llama.cpp's llm_tokenizer_spm: symbols are UTF-8 characters;
 * a max-heap of (score, left position) holds adjacent pairs whose concatenated
 * text is a vocab entry; a popped pair is stale when either side already
 * merged. Finally every symbol that is no vocab entry becomes byte tokens.
 *
 * Thread-safety: the merge table is read-only after load; scratch memory is
 * per call. */
#include "tokenizer/bpe.h"

#include <stdbool.h>
#include <stdlib.h>

#define BPE_SMALL 64

int bpe_ids_reserve(struct bpe_ids *a, size_t extra) {
    if (a->n + extra <= a->cap && a->v) return 0; /* v is never NULL after a successful reserve */
    size_t cap = a->cap ? a->cap : 64;
    while (cap < a->n + extra) cap *= 2;
    int32_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) return -1;
    a->v = v;
    a->cap = cap;
    return 0;
}

void bpe_scratch_free(struct bpe_scratch *s) {
    if (!s) return;
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

static void *scratch_get(struct bpe_scratch *s, size_t bytes) {
    if (bytes > s->cap) {
        size_t c = s->cap ? s->cap : 4096;
        while (c < bytes) c *= 2;
        void *b = realloc(s->buf, c);
        if (!b) return NULL;
        s->buf = b;
        s->cap = c;
    }
    return s->buf;
}

int bpe_merges_init(struct bpe_merges *m, size_t n_merges) {
    memset(m, 0, sizeof *m);
    size_t slots = 16;
    while (slots < n_merges + n_merges / 2 + 2) slots <<= 1;
    m->slot = calloc(slots, sizeof *m->slot);
    m->mask = slots - 1;
    if (!m->slot) return -1;
    return 0;
}

void bpe_merges_free(struct bpe_merges *m) {
    if (!m) return;
    free(m->slot);
    memset(m, 0, sizeof *m);
}

void bpe_merges_add(struct bpe_merges *m, int32_t left, int32_t right, uint32_t rank, int32_t result) {
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    for (size_t i = bpe_merges_slot(key, m->mask);; i = (i + 1) & m->mask) {
        struct bpe_merge_slot *sl = &m->slot[i];
        if (sl->key == 0 || sl->key == key) {
            if (sl->key == 0) m->n++;
            *sl = (struct bpe_merge_slot){key, rank, result};
            return;
        }
    }
}

/* ---- rank BPE ---- */

static size_t merge_small(const struct bpe_merges *m, int32_t *ids, size_t n) {
    uint32_t rank[BPE_SMALL];
    int32_t res[BPE_SMALL];
    for (size_t i = 0; i + 1 < n; i++)
        if (!bpe_merges_find(m, ids[i], ids[i + 1], &rank[i], &res[i])) rank[i] = UINT32_MAX;
    while (n > 1) {
        uint32_t best = UINT32_MAX;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < best) {
                best = rank[i];
                bi = i;
            }
        if (best == UINT32_MAX) break;
        ids[bi] = res[bi];
        memmove(ids + bi + 1, ids + bi + 2, (n - bi - 2) * sizeof *ids);
        if (n >= bi + 3) {
            memmove(rank + bi + 1, rank + bi + 2, (n - bi - 3) * sizeof *rank);
            memmove(res + bi + 1, res + bi + 2, (n - bi - 3) * sizeof *res);
        }
        n--;
        if (bi > 0 && !bpe_merges_find(m, ids[bi - 1], ids[bi], &rank[bi - 1], &res[bi - 1])) rank[bi - 1] = UINT32_MAX;
        if (bi + 1 < n && !bpe_merges_find(m, ids[bi], ids[bi + 1], &rank[bi], &res[bi])) rank[bi] = UINT32_MAX;
    }
    return n;
}

struct rank_ent {
    uint32_t rank, pos;
    int32_t left, right;
};

static bool rank_less(const struct rank_ent *a, const struct rank_ent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void rank_push(struct rank_ent *h, size_t *n, struct rank_ent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!rank_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static struct rank_ent rank_pop(struct rank_ent *h, size_t *n) {
    struct rank_ent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && rank_less(&h[c + 1], &h[c])) c++;
        if (!rank_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void rank_try_push(const struct bpe_merges *m, struct rank_ent *h, size_t *nh, const int32_t *ids, int32_t left,
                          int32_t right) {
    uint32_t rank;
    int32_t res;
    if (bpe_merges_find(m, ids[left], ids[right], &rank, &res))
        rank_push(h, nh, (struct rank_ent){rank, (uint32_t)left, ids[left], ids[right]});
}

static size_t merge_heap(const struct bpe_merges *m, int32_t *ids, size_t n, struct bpe_scratch *scr) {
    /* Layout: prev[n], next[n] (next == -2: merged away), heap[3n]. */
    size_t bytes = 2 * n * sizeof(int32_t) + 3 * n * sizeof(struct rank_ent) + 16;
    char *buf = scratch_get(scr, bytes);
    if (!buf) return (size_t)-1;
    struct rank_ent *heap = (struct rank_ent *)buf;
    int32_t *prev = (int32_t *)(heap + 3 * n);
    int32_t *next = prev + n;
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) rank_try_push(m, heap, &nh, ids, (int32_t)i, (int32_t)i + 1);
    while (nh) {
        struct rank_ent e = rank_pop(heap, &nh);
        int32_t p = (int32_t)e.pos, q = next[p];
        if (q < 0 || ids[p] != e.left || ids[q] != e.right) continue; /* stale */
        uint32_t rank;
        int32_t res = -1;
        bpe_merges_find(m, e.left, e.right, &rank, &res);
        ids[p] = res;
        next[p] = next[q];
        next[q] = -2;
        if (next[p] >= 0) prev[next[p]] = p;
        if (prev[p] >= 0) rank_try_push(m, heap, &nh, ids, prev[p], p);
        if (next[p] >= 0) rank_try_push(m, heap, &nh, ids, p, next[p]);
    }
    size_t o = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) ids[o++] = ids[i];
    return o;
}

size_t bpe_merge(const struct bpe_merges *m, int32_t *ids, size_t n, struct bpe_scratch *scr) {
    if (n < 2 || m->n == 0) return n;
    if (n <= BPE_SMALL) return merge_small(m, ids, n);
    return merge_heap(m, ids, n, scr);
}

/* ---- SentencePiece score BPE ---- */

struct spm_sym {
    uint32_t off, n;
    int32_t prev, next;
};

struct spm_ent {
    float score;
    int32_t left, right;
    uint32_t size;
};

static bool spm_better(const struct spm_ent *a, const struct spm_ent *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void spm_push(struct spm_ent *h, size_t *n, struct spm_ent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!spm_better(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static struct spm_ent spm_pop(struct spm_ent *h, size_t *n) {
    struct spm_ent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && spm_better(&h[c + 1], &h[c])) c++;
        if (!spm_better(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void spm_try_push(const struct vocab *v, const float *scores, const char *text, const struct spm_sym *sym,
                         struct spm_ent *h, size_t *nh, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    uint32_t size = sym[left].n + sym[right].n;
    int32_t id = vocab_find(v, text + sym[left].off, size);
    if (id < 0) return;
    spm_push(h, nh, (struct spm_ent){scores[id], left, right, size});
}

int bpe_spm_encode(const struct vocab *v, const float *scores, const int32_t byte_ids[256], int32_t unk_id,
                   const char *text, size_t n, struct bpe_ids *out, struct bpe_scratch *scr) {
    if (n == 0) return 0;
    /* At most n symbols and 3n heap entries (n - 1 seeds + 2 per merge). */
    size_t bytes = n * sizeof(struct spm_sym) + 3 * n * sizeof(struct spm_ent) + 16;
    char *buf = scratch_get(scr, bytes);
    if (!buf) return -1;
    struct spm_ent *heap = (struct spm_ent *)buf;
    struct spm_sym *sym = (struct spm_sym *)(heap + 3 * n);
    size_t ns = 0, nh = 0;
    for (size_t off = 0; off < n;) {
        uint8_t c = (uint8_t)text[off];
        size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (l > n - off) l = n - off;
        sym[ns] = (struct spm_sym){(uint32_t)off, (uint32_t)l, (int32_t)ns - 1, off + l < n ? (int32_t)ns + 1 : -1};
        ns++;
        off += l;
    }
    for (size_t i = 1; i < ns; i++) spm_try_push(v, scores, text, sym, heap, &nh, (int32_t)i - 1, (int32_t)i);
    while (nh) {
        struct spm_ent e = spm_pop(heap, &nh);
        struct spm_sym *l = &sym[e.left], *r = &sym[e.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != e.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = e.left;
        spm_try_push(v, scores, text, sym, heap, &nh, l->prev, e.left);
        spm_try_push(v, scores, text, sym, heap, &nh, e.left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        int32_t id = vocab_find(v, text + sym[i].off, sym[i].n);
        if (id >= 0) {
            if (bpe_ids_push(out, id)) return -1;
            continue;
        }
        for (uint32_t k = 0; k < sym[i].n; k++) {
            int32_t b = byte_ids[(uint8_t)text[sym[i].off + k]];
            if (b < 0) b = unk_id;
            if (b >= 0 && bpe_ids_push(out, b)) return -1;
        }
    }
    return 0;
}
