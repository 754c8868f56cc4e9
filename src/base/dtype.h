/* dtype: element / block formats of weight tensors, and their storage sizes.
 *
 * Quantized formats are block formats with the GGUF (ggml) layouts:
 *   Q8_0: 32 values per 34-byte block  { f16 d; int8 qs[32]; }           x = d*q
 *   Q4_0: 32 values per 18-byte block  { f16 d; uint8 qs[16]; }          x = d*(q-8),
 *         low nibbles hold values 0..15, high nibbles values 16..31
 *   Q4_K / Q5_K / Q6_K / Q8_K: 256-value super-blocks (see kernels/cpu/ref).
 * f16/bf16 are stored as uint16_t (gcc 12 and clang 14 disagree on _Float16/__bf16). */
#ifndef SGLC_BASE_DTYPE_H
#define SGLC_BASE_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dtype {
    DTYPE_F32 = 0,
    DTYPE_F16,
    DTYPE_BF16,
    DTYPE_Q8_0,
    DTYPE_Q4_0,
    DTYPE_Q4_K,
    DTYPE_Q5_K,
    DTYPE_Q6_K,
    DTYPE_Q8_K,
    DTYPE_I32,
    DTYPE_COUNT
};

/* Values per block (1 for plain types). */
int64_t dtype_block_size(enum dtype t);
/* Bytes per block. */
size_t dtype_block_bytes(enum dtype t);
/* Bytes for a row of n values; n must be a multiple of the block size. */
size_t dtype_row_bytes(enum dtype t, int64_t n);
const char *dtype_name(enum dtype t);
bool dtype_is_quantized(enum dtype t);

#endif
