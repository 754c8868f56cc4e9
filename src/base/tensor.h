/* tensor: a typed view of weight data. Shapes are row-major in PyTorch order:
 * shape[0] is the outermost dimension, shape[n_dims-1] the contiguous one. A
 * Linear weight is [out_features, in_features]; each row is stored contiguously
 * in `dtype` (for block formats a row is a whole number of blocks).
 * `data` is borrowed: it points into an mmap'd file or into memory owned by
 * whoever created the view; it is valid as long as that owner lives. */
#ifndef SGLC_BASE_TENSOR_H
#define SGLC_BASE_TENSOR_H

#include "base/dtype.h"

#define TENSOR_MAX_DIMS 4

struct tensor {
    enum dtype dtype;
    int n_dims;
    int64_t shape[TENSOR_MAX_DIMS];
    const void *data;
    size_t nbytes;
};

static inline int64_t tensor_numel(const struct tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}
/* Number of rows (product of all but the last dim) and row length. */
static inline int64_t tensor_rows(const struct tensor *t) {
    int64_t n = 1;
    for (int i = 0; i + 1 < t->n_dims; i++) n *= t->shape[i];
    return n;
}
static inline int64_t tensor_cols(const struct tensor *t) { return t->n_dims ? t->shape[t->n_dims - 1] : 1; }
static inline const void *tensor_row(const struct tensor *t, int64_t r) {
    return (const char *)t->data + (size_t)r * dtype_row_bytes(t->dtype, tensor_cols(t));
}

#endif
