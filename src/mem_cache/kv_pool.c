/* kv_pool: allocation of the KV slot storage (see kv_pool.h). Memory is
 * obtained with mmap-backed calloc so untouched pages cost nothing until used. */
#include "mem_cache/kv_pool.h"

#include <stdlib.h>

size_t kv_pool_bytes(int64_t n_layers, int64_t n_slots, int64_t kv_dim) {
    return 2 * (size_t)n_layers * (size_t)n_slots * (size_t)kv_dim * sizeof(float);
}

int kv_pool_create(int64_t n_layers, int64_t n_slots, int64_t kv_dim, struct kv_pool **out, struct sgl_err *err) {
    *out = NULL;
    if (n_layers <= 0 || n_slots <= 0 || kv_dim <= 0)
        return err_setf(err, ERR_INVALID, "kv pool: invalid size (%lld layers, %lld slots, kv_dim %lld)",
                        (long long)n_layers, (long long)n_slots, (long long)kv_dim);
    struct kv_pool *p = calloc(1, sizeof *p);
    size_t n = (size_t)n_layers * (size_t)n_slots * (size_t)kv_dim;
    if (p) {
        p->k = calloc(n, sizeof(float));
        p->v = calloc(n, sizeof(float));
    }
    if (!p || !p->k || !p->v) {
        kv_pool_destroy(p);
        return err_setf(err, ERR_NOMEM, "kv pool: cannot allocate %.1f MiB for %lld token slots",
                        (double)kv_pool_bytes(n_layers, n_slots, kv_dim) / (1 << 20), (long long)n_slots);
    }
    p->n_layers = n_layers;
    p->n_slots = n_slots;
    p->kv_dim = kv_dim;
    *out = p;
    return 0;
}

void kv_pool_destroy(struct kv_pool *p) {
    if (!p) return;
    free(p->k);
    free(p->v);
    free(p);
}
