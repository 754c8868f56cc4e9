/* fuzz_hf_config: config.json (+ generation_config.json) parsing. The input is
 * "<config.json>" or "<config.json>\0<generation_config.json>". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_loader/model_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    size_t n = strlen(buf);
    const char *gen = n < size ? buf + n + 1 : NULL;
    struct model_config cfg;
    struct sgl_err err;
    model_config_parse_hf_json(buf, gen, &cfg, &err);
    free(buf);
    return 0;
}
