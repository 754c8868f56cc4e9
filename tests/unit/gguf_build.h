/* gguf_build.h: a tiny GGUF image writer for tests (header-only, static).
 * Builds the byte layout by hand so tests can also write broken files:
 *
 *   struct gb b = {0};
 *   gb_header(&b, 3, n_tensors, n_kv);
 *   gb_kv_str(&b, "general.architecture", "llama");
 *   gb_tensor(&b, "w", 2, (uint64_t[]){64, 2}, 0, 0);   name, n_dims, ne, ggml type, offset
 *   gb_align(&b, 32); gb_zeros(&b, 512);                 data section
 *   ... b.p / b.n ...; gb_free(&b);
 *
 * Little-endian host assumed (as by the parser). Aborts on allocation failure. */
#ifndef SGLC_TESTS_GGUF_BUILD_H
#define SGLC_TESTS_GGUF_BUILD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gb {
    uint8_t *p;
    size_t n, cap;
};

static inline void gb_put(struct gb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void gb_u8(struct gb *b, uint8_t v) { gb_put(b, &v, 1); }
static inline void gb_u32(struct gb *b, uint32_t v) { gb_put(b, &v, 4); }
static inline void gb_u64(struct gb *b, uint64_t v) { gb_put(b, &v, 8); }
static inline void gb_f32(struct gb *b, float v) { gb_put(b, &v, 4); }
static inline void gb_str(struct gb *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_put(b, s, strlen(s));
}
static inline void gb_header(struct gb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gb_put(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, n_tensors);
    gb_u64(b, n_kv);
}
/* Key + type; the caller writes the value. */
static inline void gb_key(struct gb *b, const char *key, uint32_t type) {
    gb_str(b, key);
    gb_u32(b, type);
}
static inline void gb_kv_u32(struct gb *b, const char *key, uint32_t v) {
    gb_key(b, key, 4);
    gb_u32(b, v);
}
static inline void gb_kv_f32(struct gb *b, const char *key, float v) {
    gb_key(b, key, 6);
    gb_f32(b, v);
}
static inline void gb_kv_str(struct gb *b, const char *key, const char *v) {
    gb_key(b, key, 8);
    gb_str(b, v);
}
static inline void gb_kv_str_arr(struct gb *b, const char *key, int n, const char *const *v) {
    gb_key(b, key, 9);
    gb_u32(b, 8);
    gb_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) gb_str(b, v[i]);
}
static inline void gb_tensor(struct gb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                             uint64_t offset) {
    gb_str(b, name);
    gb_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) gb_u64(b, ne[i]);
    gb_u32(b, type);
    gb_u64(b, offset);
}
static inline void gb_zeros(struct gb *b, size_t n) {
    for (size_t i = 0; i < n; i++) gb_u8(b, 0);
}
static inline void gb_align(struct gb *b, size_t a) {
    while (b->n % a) gb_u8(b, 0);
}
static inline void gb_free(struct gb *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
/* Writes bytes to path; returns 0 on success. */
static inline int gb_write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(d, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

#endif
