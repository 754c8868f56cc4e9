/* page_allocator: a LIFO stack of free page ids plus a per-page "used" byte
 * (see page_allocator.h).
 *
 * Invariants: free_ids[0 .. n_free) are exactly the pages with used[p] == 0,
 * each once; n_free + (pages with used == 1) == n_pages. Allocation pops from
 * the top of the stack, so recently freed (cache-warm) pages are reused first;
 * after a reset pages come out in ascending order. The used bytes turn a double
 * free into a reported error instead of a corrupted free list.
 * Scheduler thread only. */
#include "mem_cache/page_allocator.h"

#include <stdlib.h>

#include "base/log.h"

struct page_allocator {
    int64_t n_pages;
    int32_t page_size;
    int64_t n_free;
    int32_t *free_ids; /* [n_pages] stack; top at n_free - 1 */
    uint8_t *used;     /* [n_pages] */
};

int page_allocator_create(int64_t n_pages, int32_t page_size, struct page_allocator **out, struct sgl_err *err) {
    *out = NULL;
    if (n_pages < 1 || page_size < 1 || n_pages * (int64_t)page_size > INT32_MAX)
        return err_setf(err, ERR_INVALID, "page allocator: invalid size (%lld pages of %d tokens)", (long long)n_pages,
                        page_size);
    struct page_allocator *a = calloc(1, sizeof *a);
    if (a) {
        a->free_ids = malloc((size_t)n_pages * sizeof *a->free_ids);
        a->used = malloc((size_t)n_pages);
    }
    if (!a || !a->free_ids || !a->used) {
        page_allocator_destroy(a);
        return err_setf(err, ERR_NOMEM, "page allocator: out of memory for %lld pages", (long long)n_pages);
    }
    a->n_pages = n_pages;
    a->page_size = page_size;
    page_allocator_reset(a);
    *out = a;
    return 0;
}

void page_allocator_destroy(struct page_allocator *a) {
    if (!a) return;
    free(a->free_ids);
    free(a->used);
    free(a);
}

int32_t page_allocator_page_size(const struct page_allocator *a) { return a->page_size; }
int64_t page_allocator_total_pages(const struct page_allocator *a) { return a->n_pages; }
int64_t page_allocator_free_pages(const struct page_allocator *a) { return a->n_free; }
int64_t page_allocator_available_tokens(const struct page_allocator *a) { return a->n_free * a->page_size; }

void page_allocator_reset(struct page_allocator *a) {
    for (int64_t i = 0; i < a->n_pages; i++) {
        a->free_ids[i] = (int32_t)(a->n_pages - 1 - i);
        a->used[i] = 0;
    }
    a->n_free = a->n_pages;
}

int page_allocator_alloc(struct page_allocator *a, int64_t n, int32_t *first_slots) {
    if (n < 0 || n > a->n_free) return ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        int32_t p = a->free_ids[--a->n_free];
        a->used[p] = 1;
        first_slots[i] = p * a->page_size;
    }
    return 0;
}

int page_allocator_free_run(struct page_allocator *a, const int32_t *slots, int64_t n_slots) {
    int rc = 0;
    for (int64_t i = 0; i < n_slots; i += a->page_size) {
        int32_t s = slots[i];
        int64_t p = s >= 0 ? s / a->page_size : -1;
        if (p < 0 || p >= a->n_pages || !a->used[p]) {
            LOG_ERROR("slot %d: page %lld is out of range or already free", s, (long long)p);
            rc = ERR_INVALID;
            continue;
        }
        a->used[p] = 0;
        a->free_ids[a->n_free++] = (int32_t)p;
    }
    return rc;
}

bool page_allocator_is_used(const struct page_allocator *a, int32_t slot) {
    int64_t p = slot / a->page_size;
    return slot >= 0 && p < a->n_pages && a->used[p];
}
