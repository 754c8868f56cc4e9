/* default_model: embeds assets/stories260K/stories260K.gguf with the
 * assembler's .incbin (gcc and clang), 64-byte aligned so tensor data keeps the
 * GGUF alignment in memory. SGLC_DEFAULT_MODEL_FILE is set by CMake. The
 * symbols are hidden so PIE builds address them PC-relative. */
#include "models/default_model.h"

#ifndef SGLC_DEFAULT_MODEL_FILE
#error "SGLC_DEFAULT_MODEL_FILE must name the GGUF file to embed"
#endif

__asm__(".section .rodata\n"
        ".balign 64\n"
        ".global default_model_blob_start\n"
        ".hidden default_model_blob_start\n"
        "default_model_blob_start:\n"
        ".incbin \"" SGLC_DEFAULT_MODEL_FILE "\"\n"
        ".global default_model_blob_end\n"
        ".hidden default_model_blob_end\n"
        "default_model_blob_end:\n"
        ".byte 0\n"
        ".previous\n");

extern const char default_model_blob_start[] __attribute__((visibility("hidden")));
extern const char default_model_blob_end[] __attribute__((visibility("hidden")));

const void *default_model_data(size_t *size) {
    *size = (size_t)(default_model_blob_end - default_model_blob_start);
    return default_model_blob_start;
}
