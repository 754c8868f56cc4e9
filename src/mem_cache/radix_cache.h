/* radix_cache: the prefix cache (SGLang's RadixCache) — a compressed trie
 * keyed by token ids whose values are the KV slots holding those tokens.
 *
 *   root ─┬─ [1 5 9 2]        ──┬─ [7 7]     (lock 1)
 *         │   (lock 1)          └─ [3 8 4 4] (lock 0, evictable)
 *         └─ [4 4]  (lock 0, evictable)
 *
 * A path from the root spells a token sequence; each edge (node) carries its
 * key tokens and, position for position, the slots where their KV lives. With
 * page size P every key length is a multiple of P, slots go in whole pages
 * (value[i*P .. i*P+P) = one page, in order), children are told apart by their
 * first page of tokens, and matching works at page granularity.
 *
 * Ownership: the tree owns the pages of every node's value; they return to the
 * page allocator when a node is evicted or the cache is reset. Requests that
 * use a prefix lock its deepest node (lock_ref, counted on the whole path to
 * the root); locked nodes are never evicted. Tokens of nodes with lock_ref 0
 * are "evictable", the others "protected"; evictable + protected == the
 * number of tokens in the tree.
 *
 * Nodes returned to the caller (last_node) stay valid while locked; a split
 * keeps the deeper half in the original node, so a locked node's identity and
 * end position never change. Scheduler thread only. */
#ifndef SGLC_MEM_CACHE_RADIX_CACHE_H
#define SGLC_MEM_CACHE_RADIX_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct page_allocator;
struct radix_cache;
struct radix_node;

/* The allocator is borrowed (pages of evicted nodes go back to it) and must outlive the cache. */
int radix_cache_create(struct page_allocator *alloc, struct radix_cache **out, struct sgl_err *err);
/* Frees the nodes; their pages are NOT returned to the allocator (destroy that too). */
void radix_cache_destroy(struct radix_cache *c);

/* Longest cached prefix of key[0..n), rounded down to whole pages. Copies its
 * slots to out_slots (room for n) and returns its length; *last_node (may be
 * NULL) gets the node ending exactly there (the root when nothing matched),
 * splitting a node if the match ends inside it. Refreshes the access time of
 * the matched nodes. Returns ERR_NOMEM if a needed split could not allocate
 * (then the match is cut at the node that could not be split). */
int64_t radix_cache_match_prefix(struct radix_cache *c, const int32_t *key, int64_t n, int32_t *out_slots,
                                 struct radix_node **last_node);

/* Inserts key[0..n) with slots[0..n) (n rounded down to whole pages; the slots
 * must be page-aligned runs). *n_present gets the length of the prefix that
 * was already in the tree: the tree keeps ITS slots for that part, so the
 * caller still owns slots[0 .. *n_present) (free them unless they are the
 * tree's own). The tree takes ownership of slots[*n_present .. n) on success.
 * Returns 0, or ERR_NOMEM (the caller keeps slots[*n_present .. n)). */
int radix_cache_insert(struct radix_cache *c, const int32_t *key, const int32_t *slots, int64_t n,
                       int64_t *n_present);

/* lock_ref +1 / -1 on node and its ancestors (the root is ignored). */
void radix_cache_inc_lock_ref(struct radix_cache *c, struct radix_node *node);
void radix_cache_dec_lock_ref(struct radix_cache *c, struct radix_node *node);

/* Evicts least-recently-used unlocked leaves (a parent left childless and
 * unlocked becomes a candidate) until at least n_tokens tokens went back to the
 * allocator or nothing evictable is left. Returns the tokens freed. */
int64_t radix_cache_evict(struct radix_cache *c, int64_t n_tokens);

int64_t radix_cache_evictable_tokens(const struct radix_cache *c);
int64_t radix_cache_protected_tokens(const struct radix_cache *c);
int64_t radix_cache_node_count(const struct radix_cache *c); /* excluding the root */

/* Drops every node, returning all pages to the allocator. Fails (ERR_INVALID)
 * while any node is locked. */
int radix_cache_reset(struct radix_cache *c, struct sgl_err *err);

/* Walks the tree and verifies its invariants (sizes, page alignment, lock
 * monotonicity, distinct children, allocator agreement). For tests/debugging. */
int radix_cache_check(const struct radix_cache *c, struct sgl_err *err);

#endif
