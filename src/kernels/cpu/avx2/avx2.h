/* avx2: element-wise AVX2 kernels shared between the files of this folder
 * (avx2_ops.c defines them, avx2_matmul.c puts them in kernels_isa_avx2).
 * Same contracts as the kernels.h functions of the same names. */
#ifndef SGLC_KERNELS_CPU_AVX2_AVX2_H
#define SGLC_KERNELS_CPU_AVX2_AVX2_H

#include <stdint.h>

void kernels_avx2_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);
void kernels_avx2_silu_mul(const float *gate, const float *up, float *out, int64_t n);
void kernels_avx2_softmax(float *x, int64_t n);
float kernels_avx2_dot_f32(const float *a, const float *b, int64_t n);
void kernels_avx2_axpy_f32(float *y, float a, const float *x, int64_t n);

#endif
