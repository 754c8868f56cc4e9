/* kv_pool: allocation of the KV slot storage (see kv_pool.h). Memory is
 * obtained with mmap-backed calloc so untouched pages cost nothing until used. */
#include "mem_cache/kv_pool.h"

#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"

static size_t elem_bytes(enum dtype dtype) { return dtype == DTYPE_BF16 ? 2 : 4; }

size_t kv_pool_bytes(int64_t n_layers, int64_t n_slots, int64_t kv_dim, enum dtype dtype) {
    return 2 * (size_t)n_layers * (size_t)n_slots * (size_t)kv_dim * elem_bytes(dtype);
}

int kv_pool_create(int64_t n_layers, int64_t n_slots, int64_t n_heads, int64_t head_dim, enum dtype dtype,
                   struct kv_pool **out, struct sgl_err *err) {
    *out = NULL;
    int64_t kv_dim = n_heads * head_dim;
    if (n_layers <= 0 || n_slots <= 0 || n_heads <= 0 || head_dim <= 0)
        return err_setf(err, ERR_INVALID, "kv pool: invalid size (%lld layers, %lld slots, kv_dim %lld)",
                        (long long)n_layers, (long long)n_slots, (long long)kv_dim);
    if (dtype != DTYPE_F32 && dtype != DTYPE_BF16)
        return err_setf(err, ERR_INVALID, "kv pool: unsupported dtype %s", dtype_name(dtype));
    struct kv_pool *p = calloc(1, sizeof *p);
    size_t n = (size_t)n_layers * (size_t)n_slots * (size_t)kv_dim;
    if (p) {
        p->k = calloc(n, elem_bytes(dtype));
        p->v = calloc(n, elem_bytes(dtype));
    }
    if (!p || !p->k || !p->v) {
        kv_pool_destroy(p);
        return err_setf(err, ERR_NOMEM, "kv pool: cannot allocate %.1f MiB for %lld token slots",
                        (double)kv_pool_bytes(n_layers, n_slots, kv_dim, dtype) / (1 << 20), (long long)n_slots);
    }
    p->n_layers = n_layers;
    p->n_slots = n_slots;
    p->kv_dim = kv_dim;
    p->n_heads = n_heads;
    p->head_dim = head_dim;
    p->dtype = dtype;
    p->elem = elem_bytes(dtype);
    *out = p;
    return 0;
}

void kv_pool_store(struct kv_pool *p, int64_t layer, int64_t slot, const float *k, const float *v) {
    size_t hd = (size_t)p->head_dim, off = (size_t)slot * hd * p->elem;
    for (int64_t h = 0; h < p->n_heads; h++) {
        const float *ks = k + (size_t)h * hd, *vs = v + (size_t)h * hd;
        uint8_t *kd = (uint8_t *)kv_pool_k_head(p, layer, h) + off, *vd = (uint8_t *)kv_pool_v_head(p, layer, h) + off;
        if (p->dtype == DTYPE_F32) {
            memcpy(kd, ks, hd * sizeof(float));
            memcpy(vd, vs, hd * sizeof(float));
            continue;
        }
        uint16_t *kb = (uint16_t *)kd, *vb = (uint16_t *)vd;
        for (size_t i = 0; i < hd; i++) {
            kb[i] = fp16_f32_to_bf16(ks[i]);
            vb[i] = fp16_f32_to_bf16(vs[i]);
        }
    }
}

void kv_pool_destroy(struct kv_pool *p) {
    if (!p) return;
    free(p->k);
    free(p->v);
    free(p);
}
