/* gguf: parser for GGUF v2/v3 files (metadata key/values and tensor infos),
 * over an mmap of the file. Every length, count and offset is bounds-checked
 * against the file size; errors name the file and the problem.
 *
 * Tensor views returned here are in PyTorch order: GGUF stores dims ne0-first,
 * so shape[] is the reverse of the on-disk dims (a [n_out, n_in] matrix has
 * ne0 = n_in). Their data pointers borrow the mapping and stay valid until
 * gguf_close; each is aligned to general.alignment (default 32) relative to the
 * start of the image (so absolutely, for an mmap'd file). Not thread-safe for
 * mutation; read-only use from many threads is fine.
 * Supported tensor types (ggml id -> dtype): F32 0, F16 1, Q4_0 2, Q8_0 8, Q4_K 12,
 * Q5_K 13, Q6_K 14, Q8_K 15, I32 26, BF16 30; others fail the open. Arrays of
 * arrays are rejected (as llama.cpp does). */
#ifndef SGLC_MODEL_LOADER_GGUF_H
#define SGLC_MODEL_LOADER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/tensor.h"

enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
};

struct gguf;

int gguf_open(const char *path, struct gguf **out, struct sgl_err *err);
/* Parses a GGUF image already in memory (borrowed; must outlive the result). For fuzzing/tests.
 * name (NULL: "(memory)") prefixes error messages and is what gguf_path returns. */
int gguf_open_memory(const void *data, size_t size, const char *name, struct gguf **out, struct sgl_err *err);
void gguf_close(struct gguf *g);
/* Once the metadata has been read (config, tokenizer): frees the copies of string arrays
 * (gguf_get_arr_str then returns NULL; gguf_get_arr_n still counts) and drops the header's
 * pages from memory (re-read from the file if touched again). Tensors are untouched. */
void gguf_release_metadata(struct gguf *g);

uint32_t gguf_version(const struct gguf *g);
const char *gguf_path(const struct gguf *g);

/* Metadata. Lookups return false / NULL / -1 when the key is absent or of another type;
 * by-index accessors return NULL / (enum gguf_type)-1 for i outside [0, n_kv). */
int64_t gguf_n_kv(const struct gguf *g);
const char *gguf_kv_key(const struct gguf *g, int64_t i);
int64_t gguf_find_key(const struct gguf *g, const char *key);
enum gguf_type gguf_kv_type(const struct gguf *g, int64_t i);
bool gguf_get_int(const struct gguf *g, const char *key, int64_t *out);   /* any integer type or bool; false
                                                                           for uint64 values > INT64_MAX */
bool gguf_get_float(const struct gguf *g, const char *key, double *out);  /* float32/64 or integer */
bool gguf_get_bool(const struct gguf *g, const char *key, bool *out);
/* String value (NUL-terminated copy owned by g); *len may be NULL. */
const char *gguf_get_str(const struct gguf *g, const char *key, size_t *len);
/* Arrays: element type and count; -1 if not an array. */
int64_t gguf_get_arr_n(const struct gguf *g, const char *key, enum gguf_type *elem_type);
/* i-th string of a string array (NUL-terminated copy owned by g); O(1). NULL if i is out of range. */
const char *gguf_get_arr_str(const struct gguf *g, const char *key, int64_t i, size_t *len);
/* Raw little-endian element data of a numeric array (borrowed from the mapping; may be unaligned). */
const void *gguf_get_arr_data(const struct gguf *g, const char *key);

/* Tensors. */
int64_t gguf_n_tensors(const struct gguf *g);
const char *gguf_tensor_name(const struct gguf *g, int64_t i);
const struct tensor *gguf_tensor(const struct gguf *g, int64_t i);
const struct tensor *gguf_find_tensor(const struct gguf *g, const char *name);

#endif
