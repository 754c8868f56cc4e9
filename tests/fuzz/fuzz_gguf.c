/* fuzz_gguf: GGUF parsing (gguf_open_memory) on arbitrary bytes; on success
 * every accessor is exercised, every tensor's first and last byte is read (so
 * ASan checks the validated ranges), and the metadata is turned into a
 * model_config. */
#include <stdint.h>
#include <string.h>

#include "model_loader/gguf.h"
#include "model_loader/model_config.h"

static const size_t g_elem_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct gguf *g = NULL;
    struct sgl_err err;
    if (gguf_open_memory(data, size, "fuzz.gguf", &g, &err) != 0) return 0;
    volatile unsigned sink = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        const char *key = gguf_kv_key(g, i);
        int64_t iv;
        double dv;
        bool bv;
        size_t len = 0;
        sink += gguf_find_key(g, key) == i;
        sink += gguf_get_int(g, key, &iv) + gguf_get_float(g, key, &dv) + gguf_get_bool(g, key, &bv);
        const char *s = gguf_get_str(g, key, &len);
        if (s && len) sink += (unsigned char)s[len - 1] + (unsigned char)s[len];
        enum gguf_type et;
        int64_t n = gguf_get_arr_n(g, key, &et);
        if (n > 0 && et == GGUF_TYPE_STRING) {
            const char *a = gguf_get_arr_str(g, key, n - 1, &len);
            sink += (unsigned char)a[len];
            sink += (unsigned char)gguf_get_arr_str(g, key, 0, NULL)[0];
        } else if (n > 0) {
            const uint8_t *p = gguf_get_arr_data(g, key);
            sink += p[0] + p[(size_t)n * g_elem_size[et] - 1];
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct tensor *t = gguf_tensor(g, i);
        sink += gguf_find_tensor(g, gguf_tensor_name(g, i)) == t;
        const uint8_t *p = t->data;
        if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
    }
    struct model_config cfg;
    sink += model_config_from_gguf(g, &cfg, &err) == 0;
    (void)sink;
    gguf_close(g);
    return 0;
}
