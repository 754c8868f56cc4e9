/* fuzz_safetensors: safetensors header parsing (safetensors_open_memory) on
 * arbitrary bytes; on success every tensor is looked up by name and its first
 * and last data bytes are read so ASan checks the validated ranges. */
#include <stdint.h>

#include "model_loader/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct safetensors *st = NULL;
    struct sgl_err err;
    if (safetensors_open_memory(data, size, "fuzz.safetensors", &st, &err) != 0) return 0;
    volatile unsigned sink = 0;
    for (int64_t i = 0; i < safetensors_n_tensors(st); i++) {
        const struct tensor *t = safetensors_tensor(st, i);
        sink += safetensors_find(st, safetensors_tensor_name(st, i)) == t;
        const uint8_t *p = t->data;
        if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
    }
    (void)sink;
    safetensors_close(st);
    return 0;
}
