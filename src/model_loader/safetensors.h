/* safetensors: reader for HF safetensors checkpoints, single-file
 * (model.safetensors) or sharded (model.safetensors.index.json + shards).
 * Files are mmap'd; tensor data pointers borrow the mappings and stay valid until
 * safetensors_close. The 8-byte header length, the JSON header, dtypes, shapes
 * and data_offsets are all validated against the file size; errors are one-line
 * messages naming the file and the problem. Read-only after open.
 * Accepted dtypes: F32, F16, BF16, I32 (others fail the open, naming dtype and
 * tensor). Data pointers carry no alignment guarantee beyond what the writer
 * chose (HF pads the header to 8 bytes, so data is usually 8-byte aligned).
 * Lookups by name are O(1) (hash index). */
#ifndef SGLC_MODEL_LOADER_SAFETENSORS_H
#define SGLC_MODEL_LOADER_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/tensor.h"

struct safetensors;

/* path: a model directory (uses model.safetensors.index.json if present, else
 * model.safetensors, else the only *.safetensors file) or a .safetensors file. */
int safetensors_open(const char *path, struct safetensors **out, struct sgl_err *err);
/* Parses one in-memory safetensors image (borrowed). For fuzzing/tests. */
int safetensors_open_memory(const void *data, size_t size, const char *name, struct safetensors **out,
                            struct sgl_err *err);
void safetensors_close(struct safetensors *st);

int64_t safetensors_n_tensors(const struct safetensors *st);
const char *safetensors_tensor_name(const struct safetensors *st, int64_t i);
const struct tensor *safetensors_tensor(const struct safetensors *st, int64_t i);
const struct tensor *safetensors_find(const struct safetensors *st, const char *name);

#endif
