/* mmap_file: read-only memory map of a whole file. Owned by the caller;
 * mmap_file_close unmaps. Zero-length files map to data == NULL, size == 0. */
#ifndef SGLC_BASE_MMAP_FILE_H
#define SGLC_BASE_MMAP_FILE_H

#include <stddef.h>

#include "base/err.h"

struct mmap_file {
    const void *data;
    size_t size;
};

int mmap_file_open(const char *path, struct mmap_file *out, struct sgl_err *err);
void mmap_file_close(struct mmap_file *f);

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer. */
int file_read_all(const char *path, char **data, size_t *size, struct sgl_err *err);

#endif
