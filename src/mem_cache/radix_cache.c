/* radix_cache: compressed trie over token ids with page-granular matching
 * (see radix_cache.h for the picture and the ownership rules).
 *
 * Invariants (checked by radix_cache_check):
 *  - every non-root node has len > 0, a multiple of page_size, and a value
 *    made of whole pages (value[i*P + j] == value[i*P] + j, value[i*P] % P == 0)
 *    that the allocator marks used;
 *  - the children of a node differ in their first page of tokens;
 *  - lock_ref(parent) >= lock_ref(child) (locks are counted along the whole
 *    path), so an unlocked node has only unlocked descendants;
 *  - evictable_tokens == sum of len over unlocked nodes, protected_tokens ==
 *    sum over locked ones.
 * Access times are a logical clock (one tick per match/insert) so eviction
 * order is deterministic. Eviction builds a min-heap of unlocked leaves by
 * last access per call (like SGLang); the heap and DFS stack are grow-only
 * buffers kept in the cache. Scheduler thread only. */
#include "mem_cache/radix_cache.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "mem_cache/page_allocator.h"

struct radix_node {
    struct radix_node *parent;
    struct radix_node **children;
    int32_t n_children, cap_children;
    int64_t len;
    int32_t *key;   /* [len] tokens (start of the node's one allocation) */
    int32_t *value; /* [len] slots (inside the same allocation) */
    int32_t lock_ref;
    uint64_t last_access;
};

struct radix_cache {
    struct page_allocator *alloc;
    int32_t page_size;
    struct radix_node root;
    int64_t evictable, protected_;
    int64_t n_nodes;
    uint64_t clock;
    struct radix_node **scratch; /* heap / DFS stack */
    int64_t scratch_cap;
};

static struct radix_node *node_new(const int32_t *key, const int32_t *value, int64_t len) {
    struct radix_node *n = calloc(1, sizeof *n);
    int32_t *buf = malloc((size_t)(2 * len) * sizeof *buf);
    if (!n || !buf) {
        free(n);
        free(buf);
        return NULL;
    }
    n->key = buf;
    n->value = buf + len;
    n->len = len;
    memcpy(n->key, key, (size_t)len * sizeof *key);
    memcpy(n->value, value, (size_t)len * sizeof *value);
    return n;
}

static void node_free(struct radix_node *n) {
    free(n->children);
    free(n->key);
    free(n);
}

static int node_add_child(struct radix_node *parent, struct radix_node *child) {
    if (parent->n_children == parent->cap_children) {
        int32_t cap = parent->cap_children ? 2 * parent->cap_children : 2;
        struct radix_node **nc = realloc(parent->children, (size_t)cap * sizeof *nc);
        if (!nc) return ERR_NOMEM;
        parent->children = nc;
        parent->cap_children = cap;
    }
    parent->children[parent->n_children++] = child;
    child->parent = parent;
    return 0;
}

static void node_remove_child(struct radix_node *parent, struct radix_node *child) {
    for (int32_t i = 0; i < parent->n_children; i++)
        if (parent->children[i] == child) {
            parent->children[i] = parent->children[--parent->n_children];
            return;
        }
}

/* The child whose first page equals key[0..P). */
static struct radix_node *find_child(const struct radix_cache *c, const struct radix_node *node, const int32_t *key) {
    for (int32_t i = 0; i < node->n_children; i++) {
        struct radix_node *ch = node->children[i];
        if (ch->key[0] == key[0] && !memcmp(ch->key, key, (size_t)c->page_size * sizeof *key)) return ch;
    }
    return NULL;
}

/* Common prefix length of a[0..na) and b[0..nb), rounded down to whole pages. */
static int64_t match_len(const struct radix_cache *c, const int32_t *a, int64_t na, const int32_t *b, int64_t nb) {
    int64_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i / c->page_size * c->page_size;
}

/* Splits child at l (0 < l < len, page-aligned): a new node takes the first l
 * tokens and becomes child's parent. Returns the new node or NULL on OOM. */
static struct radix_node *split_node(struct radix_cache *c, struct radix_node *child, int64_t l) {
    struct radix_node *top = node_new(child->key, child->value, l);
    if (!top) return NULL;
    top->children = malloc(sizeof *top->children);
    if (!top->children) {
        node_free(top);
        return NULL;
    }
    top->cap_children = 1;
    top->n_children = 1;
    top->children[0] = child;
    top->parent = child->parent;
    top->lock_ref = child->lock_ref;
    top->last_access = child->last_access;
    struct radix_node *p = child->parent;
    for (int32_t i = 0; i < p->n_children; i++)
        if (p->children[i] == child) p->children[i] = top;
    child->parent = top;
    memmove(child->key, child->key + l, (size_t)(child->len - l) * sizeof *child->key);
    memmove(child->value, child->value + l, (size_t)(child->len - l) * sizeof *child->value);
    child->len -= l;
    c->n_nodes++;
    return top;
}

int radix_cache_create(struct page_allocator *alloc, struct radix_cache **out, struct sgl_err *err) {
    *out = NULL;
    struct radix_cache *c = calloc(1, sizeof *c);
    if (!c) return err_setf(err, ERR_NOMEM, "radix cache: out of memory");
    c->alloc = alloc;
    c->page_size = page_allocator_page_size(alloc);
    c->root.lock_ref = 1; /* the root is never evicted */
    *out = c;
    return 0;
}

static int scratch_reserve(struct radix_cache *c, int64_t n) {
    if (n <= c->scratch_cap) return 0;
    int64_t cap = c->scratch_cap ? c->scratch_cap : 64;
    while (cap < n) cap *= 2;
    struct radix_node **ns = realloc(c->scratch, (size_t)cap * sizeof *ns);
    if (!ns) return ERR_NOMEM;
    c->scratch = ns;
    c->scratch_cap = cap;
    return 0;
}

/* Frees every descendant of the root; with give_back, their pages go back to the allocator. */
static void free_subtrees(struct radix_cache *c, bool give_back) {
    struct radix_node *n = &c->root;
    /* iterative post-order without a stack: descend to a leaf, free it, go up */
    while (n->n_children > 0 || n != &c->root) {
        if (n->n_children > 0) {
            n = n->children[n->n_children - 1];
            continue;
        }
        struct radix_node *p = n->parent;
        if (give_back) page_allocator_free_run(c->alloc, n->value, n->len);
        p->n_children--;
        node_free(n);
        n = p;
    }
    c->n_nodes = 0;
    c->evictable = 0;
    c->protected_ = 0;
}

void radix_cache_destroy(struct radix_cache *c) {
    if (!c) return;
    free_subtrees(c, false);
    free(c->root.children);
    free(c->scratch);
    free(c);
}

int64_t radix_cache_match_prefix(struct radix_cache *c, const int32_t *key, int64_t n, int32_t *out_slots,
                                 struct radix_node **last_node) {
    int64_t P = c->page_size, pos = 0;
    struct radix_node *node = &c->root;
    uint64_t t = ++c->clock;
    node->last_access = t;
    n = n / P * P;
    while (pos < n) {
        struct radix_node *ch = find_child(c, node, key + pos);
        if (!ch) break;
        ch->last_access = t;
        int64_t l = match_len(c, ch->key, ch->len, key + pos, n - pos);
        if (l < ch->len) {
            struct radix_node *top = split_node(c, ch, l);
            if (!top) break; /* keep the shorter match */
            ch = top;
        }
        memcpy(out_slots + pos, ch->value, (size_t)l * sizeof *out_slots);
        pos += l;
        node = ch;
        if (l < ch->len) break;
    }
    if (last_node) *last_node = node;
    return pos;
}

int radix_cache_insert(struct radix_cache *c, const int32_t *key, const int32_t *slots, int64_t n,
                       int64_t *n_present) {
    int64_t P = c->page_size, pos = 0;
    struct radix_node *node = &c->root;
    uint64_t t = ++c->clock;
    node->last_access = t;
    n = n / P * P;
    *n_present = 0;
    while (pos < n) {
        struct radix_node *ch = find_child(c, node, key + pos);
        if (!ch) {
            struct radix_node *leaf = node_new(key + pos, slots + pos, n - pos);
            if (!leaf || node_add_child(node, leaf)) {
                if (leaf) node_free(leaf);
                *n_present = pos;
                return ERR_NOMEM;
            }
            leaf->last_access = t;
            c->evictable += leaf->len;
            c->n_nodes++;
            break;
        }
        ch->last_access = t;
        int64_t l = match_len(c, ch->key, ch->len, key + pos, n - pos);
        if (l < ch->len) {
            struct radix_node *top = split_node(c, ch, l);
            if (!top) {
                *n_present = pos;
                return ERR_NOMEM;
            }
            ch = top;
        }
        pos += l;
        *n_present = pos;
        node = ch;
    }
    return 0;
}

void radix_cache_inc_lock_ref(struct radix_cache *c, struct radix_node *node) {
    for (; node && node != &c->root; node = node->parent) {
        if (node->lock_ref == 0) {
            c->evictable -= node->len;
            c->protected_ += node->len;
        }
        node->lock_ref++;
    }
}

void radix_cache_dec_lock_ref(struct radix_cache *c, struct radix_node *node) {
    for (; node && node != &c->root; node = node->parent) {
        if (node->lock_ref <= 0) {
            LOG_ERROR("unbalanced unlock of a radix node");
            continue;
        }
        if (node->lock_ref == 1) {
            c->evictable += node->len;
            c->protected_ -= node->len;
        }
        node->lock_ref--;
    }
}

/* min-heap on last_access over c->scratch[0..n) */
static void heap_push(struct radix_node **h, int64_t *n, struct radix_node *x) {
    int64_t i = (*n)++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (h[p]->last_access <= x->last_access) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static struct radix_node *heap_pop(struct radix_node **h, int64_t *n) {
    struct radix_node *top = h[0], *x = h[--*n];
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        struct radix_node *best = x;
        if (l < *n && h[l]->last_access < best->last_access) m = l, best = h[l];
        if (r < *n && h[r]->last_access < best->last_access) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n > 0) h[i] = x;
    return top;
}

int64_t radix_cache_evict(struct radix_cache *c, int64_t n_tokens) {
    if (n_tokens <= 0 || c->evictable == 0) return 0;
    if (scratch_reserve(c, c->n_nodes + 1)) {
        LOG_ERROR("out of memory for the eviction heap");
        return 0;
    }
    /* collect unlocked leaves: DFS with the stack at the top of scratch, the heap growing from the bottom;
     * a node's slot is reused only after it was popped, so the two never overlap */
    struct radix_node **buf = c->scratch;
    int64_t cap = c->scratch_cap, top = cap, n_heap = 0;
    buf[--top] = &c->root;
    while (top < cap) {
        struct radix_node *nd = buf[top++];
        if (nd != &c->root && nd->n_children == 0 && nd->lock_ref == 0) heap_push(buf, &n_heap, nd);
        for (int32_t i = 0; i < nd->n_children; i++) buf[--top] = nd->children[i];
    }
    int64_t freed = 0;
    while (freed < n_tokens && n_heap > 0) {
        struct radix_node *leaf = heap_pop(buf, &n_heap);
        struct radix_node *p = leaf->parent;
        page_allocator_free_run(c->alloc, leaf->value, leaf->len);
        freed += leaf->len;
        c->evictable -= leaf->len;
        c->n_nodes--;
        node_remove_child(p, leaf);
        node_free(leaf);
        if (p != &c->root && p->n_children == 0 && p->lock_ref == 0) heap_push(buf, &n_heap, p);
    }
    return freed;
}

int64_t radix_cache_evictable_tokens(const struct radix_cache *c) { return c->evictable; }
int64_t radix_cache_protected_tokens(const struct radix_cache *c) { return c->protected_; }
int64_t radix_cache_node_count(const struct radix_cache *c) { return c->n_nodes; }

int radix_cache_reset(struct radix_cache *c, struct sgl_err *err) {
    if (c->protected_ > 0)
        return err_setf(err, ERR_INVALID, "radix cache: cannot reset while %lld cached tokens are in use",
                        (long long)c->protected_);
    free_subtrees(c, true);
    return 0;
}

int radix_cache_check(const struct radix_cache *c, struct sgl_err *err) {
    int64_t P = c->page_size, evictable = 0, protected_ = 0, nodes = 0;
    /* DFS without allocation: walk with an explicit child cursor via parent links */
    const struct radix_node *n = &c->root;
    int32_t *cursor = calloc((size_t)c->n_nodes + 1, sizeof *cursor); /* per depth */
    if (!cursor) return err_setf(err, ERR_NOMEM, "radix check: out of memory");
    int64_t depth = 0;
    int rc = 0;
    for (;;) {
        if (cursor[depth] == 0 && n != &c->root) {
            /* first visit of n */
            nodes++;
            if (n->len <= 0 || n->len % P) {
                rc = err_setf(err, ERR_FAIL, "radix check: node length %lld is not a positive multiple of %lld",
                              (long long)n->len, (long long)P);
                break;
            }
            for (int64_t i = 0; i < n->len && !rc; i++) {
                int32_t first = n->value[i / P * P];
                if (first % P || n->value[i] != first + (int32_t)(i % P) || !page_allocator_is_used(c->alloc, n->value[i]))
                    rc = err_setf(err, ERR_FAIL, "radix check: slot %d at offset %lld is not a used page-aligned slot",
                                  n->value[i], (long long)i);
            }
            if (rc) break;
            if (n->lock_ref < 0 || (n->parent != &c->root && n->parent->lock_ref < n->lock_ref)) {
                rc = err_setf(err, ERR_FAIL, "radix check: lock_ref %d under a parent with %d", n->lock_ref,
                              n->parent->lock_ref);
                break;
            }
            if (n->lock_ref > 0) protected_ += n->len;
            else evictable += n->len;
            for (int32_t i = 0; i < n->n_children; i++)
                for (int32_t j = i + 1; j < n->n_children; j++)
                    if (!memcmp(n->children[i]->key, n->children[j]->key, (size_t)P * sizeof(int32_t)))
                        rc = err_setf(err, ERR_FAIL, "radix check: two children share their first page");
            if (rc) break;
        }
        if (cursor[depth] < n->n_children) {
            const struct radix_node *ch = n->children[cursor[depth]++];
            if (ch->parent != n) {
                rc = err_setf(err, ERR_FAIL, "radix check: broken parent link");
                break;
            }
            if (depth + 1 > c->n_nodes) {
                rc = err_setf(err, ERR_FAIL, "radix check: more nodes than recorded");
                break;
            }
            n = ch;
            cursor[++depth] = 0;
            continue;
        }
        if (n == &c->root) break;
        n = n->parent;
        depth--;
    }
    free(cursor);
    if (rc) return rc;
    if (nodes != c->n_nodes || evictable != c->evictable || protected_ != c->protected_)
        return err_setf(err, ERR_FAIL,
                        "radix check: counted %lld nodes, %lld evictable, %lld protected; recorded %lld, %lld, %lld",
                        (long long)nodes, (long long)evictable, (long long)protected_, (long long)c->n_nodes,
                        (long long)c->evictable, (long long)c->protected_);
    return 0;
}
