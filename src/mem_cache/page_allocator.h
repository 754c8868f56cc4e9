/* page_allocator: hands out the KV pool's token slots in pages of page_size
 * consecutive slots (SGLang's TokenToKVPoolAllocator / PagedTokenToKVPoolAllocator).
 *
 *   slots:  | 0 .. P-1 | P .. 2P-1 | 2P .. 3P-1 | ...   (n_pages * P slots)
 *   page:   |    0     |     1     |     2      | ...
 *
 * Page p covers slots [p*P, (p+1)*P). A request's KV is a list of slots made of
 * whole pages (the last one possibly partly used). Every page is either free
 * (in the allocator) or owned by exactly one holder (a request or a radix tree
 * node); freeing a page that is already free is reported as an error.
 * Owned by the scheduler thread; not thread-safe. */
#ifndef SGLC_MEM_CACHE_PAGE_ALLOCATOR_H
#define SGLC_MEM_CACHE_PAGE_ALLOCATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct page_allocator;

/* n_pages >= 1, page_size >= 1. */
int page_allocator_create(int64_t n_pages, int32_t page_size, struct page_allocator **out, struct sgl_err *err);
void page_allocator_destroy(struct page_allocator *a);

int32_t page_allocator_page_size(const struct page_allocator *a);
int64_t page_allocator_total_pages(const struct page_allocator *a);
int64_t page_allocator_free_pages(const struct page_allocator *a);
/* Free capacity in tokens (free pages * page_size). */
int64_t page_allocator_available_tokens(const struct page_allocator *a);

/* Allocates n pages; writes their first slots (page * page_size) to first_slots[n].
 * All-or-nothing: returns 0, or ERR_NOMEM (nothing allocated) when fewer than n are free. */
int page_allocator_alloc(struct page_allocator *a, int64_t n, int32_t *first_slots);
/* Frees the pages containing the given slots, taking one slot per page: slots[0],
 * slots[P], slots[2P], ... of a page-aligned slot run of n_slots slots (the last page
 * may be partly covered). Returns 0, or ERR_INVALID (and logs) if a slot is out of
 * range or its page is already free (the other pages are still freed). */
int page_allocator_free_run(struct page_allocator *a, const int32_t *slots, int64_t n_slots);
/* Frees everything (for a cache flush when no request holds KV). */
void page_allocator_reset(struct page_allocator *a);
/* True if the page holding slot is currently allocated. */
bool page_allocator_is_used(const struct page_allocator *a, int32_t slot);

#endif
