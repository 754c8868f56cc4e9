/* dtype: sizes and names of the weight formats (see dtype.h). */
#include "base/dtype.h"

static const struct {
    const char *name;
    int64_t block;
    size_t bytes;
} g_dtypes[DTYPE_COUNT] = {
    [DTYPE_F32] = {"F32", 1, 4},       [DTYPE_F16] = {"F16", 1, 2},       [DTYPE_BF16] = {"BF16", 1, 2},
    [DTYPE_Q8_0] = {"Q8_0", 32, 34},   [DTYPE_Q4_0] = {"Q4_0", 32, 18},   [DTYPE_Q4_K] = {"Q4_K", 256, 144},
    [DTYPE_Q5_K] = {"Q5_K", 256, 176}, [DTYPE_Q6_K] = {"Q6_K", 256, 210}, [DTYPE_Q8_K] = {"Q8_K", 256, 292},
    [DTYPE_I32] = {"I32", 1, 4},
};

int64_t dtype_block_size(enum dtype t) { return (unsigned)t < DTYPE_COUNT ? g_dtypes[t].block : 0; }
size_t dtype_block_bytes(enum dtype t) { return (unsigned)t < DTYPE_COUNT ? g_dtypes[t].bytes : 0; }
size_t dtype_row_bytes(enum dtype t, int64_t n) {
    int64_t b = dtype_block_size(t);
    return b > 0 ? (size_t)(n / b) * dtype_block_bytes(t) : 0;
}
const char *dtype_name(enum dtype t) { return (unsigned)t < DTYPE_COUNT ? g_dtypes[t].name : "unknown"; }
bool dtype_is_quantized(enum dtype t) { return dtype_block_size(t) > 1; }
