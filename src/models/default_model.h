/* default_model: the embedded default model (stories260K, assets/stories260K),
 * linked into the binary so `sglc generate` / `sglc serve` work with no files. */
#ifndef SGLC_MODELS_DEFAULT_MODEL_H
#define SGLC_MODELS_DEFAULT_MODEL_H

#include <stddef.h>

#define DEFAULT_MODEL_NAME "stories260K"
/* The model was trained with 512-token sequences although its metadata says 128.
 * It ends a story with BOS, which model_load_default therefore adds to the EOS ids. */
#define DEFAULT_MODEL_CONTEXT_LENGTH 512

/* The GGUF image (read-only, static lifetime). */
const void *default_model_data(size_t *size);

#endif
