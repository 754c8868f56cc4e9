/* gguf: GGUF v2/v3 parser over a read-only image (an mmap of the file, or
 * caller memory for fuzzing).
 *
 * File layout (all little-endian):
 *   "GGUF" u32 version  u64 n_tensors  u64 n_kv
 *   n_kv x      { str key, u32 type, value }        str = u64 len + bytes
 *   n_tensors x { str name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
 *   padding to general.alignment (default 32)
 *   tensor data: tensor i at data_start + offset_i
 *
 * Invariants after a successful open: every key, string, array and tensor
 * range lies inside the image; keys and tensor names are unique, NUL-free and
 * copied; string values and string-array elements are NUL-terminated copies
 * (a string array is one blob plus an offset table, so element i is O(1));
 * numeric values are read in place from the image. Counts are checked against
 * the bytes left before anything is allocated, so a hostile header cannot make
 * us allocate more than a small multiple of the file size.
 *
 * Threading: immutable after open; lookups may run concurrently. */
#include "model_loader/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/mmap_file.h"
#include "model_loader/name_index.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian values in place; a big-endian host needs byte swaps"
#endif

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ALIGNMENT     (1u << 20)
#define GGUF_MIN_KV_BYTES      13 /* u64 key len + u32 type + 1-byte value */
#define GGUF_MIN_TENSOR_BYTES  24 /* u64 name len + u32 n_dims + u32 type + u64 offset */

struct gguf_kv {
    char *key;
    enum gguf_type type;
    const uint8_t *val; /* scalar value or first array element, in the image */
    char *str;          /* GGUF_TYPE_STRING: NUL-terminated copy */
    size_t str_len;
    enum gguf_type elem_type; /* arrays */
    int64_t n;                /* arrays: element count */
    char *arr_blob;           /* string arrays: element i = arr_blob + arr_off[i] */
    size_t *arr_off;          /* n + 1 entries; length of i = arr_off[i+1] - arr_off[i] - 1 */
};

struct gguf_tensor_info {
    char *name;
    uint64_t offset; /* relative to data_start */
    struct tensor t;
};

struct gguf {
    char *path; /* file path, or the name given to gguf_open_memory */
    struct mmap_file map;
    const uint8_t *data;
    size_t size;
    uint32_t version;
    size_t alignment;
    size_t data_start;
    int64_t n_kv;
    struct gguf_kv *kv;
    struct name_index kv_index;
    int64_t n_tensors;
    struct gguf_tensor_info *tensors;
    struct name_index tensor_index;
};

/* Cursor over the image. */
struct gguf_rd {
    const uint8_t *p;
    size_t size, pos;
};

static const size_t g_scalar_size[] = {
    [GGUF_TYPE_UINT8] = 1,   [GGUF_TYPE_INT8] = 1,  [GGUF_TYPE_UINT16] = 2,  [GGUF_TYPE_INT16] = 2,
    [GGUF_TYPE_UINT32] = 4,  [GGUF_TYPE_INT32] = 4, [GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1,
    [GGUF_TYPE_STRING] = 0,  [GGUF_TYPE_ARRAY] = 0, [GGUF_TYPE_UINT64] = 8,  [GGUF_TYPE_INT64] = 8,
    [GGUF_TYPE_FLOAT64] = 8,
};

static bool gguf_type_valid(uint32_t t) { return t <= GGUF_TYPE_FLOAT64; }

/* ggml tensor type id -> dtype; false for types we do not load. */
static bool gguf_ggml_to_dtype(uint32_t ggml_type, enum dtype *out) {
    switch (ggml_type) {
    case 0:
        *out = DTYPE_F32;
        return true;
    case 1:
        *out = DTYPE_F16;
        return true;
    case 2:
        *out = DTYPE_Q4_0;
        return true;
    case 8:
        *out = DTYPE_Q8_0;
        return true;
    case 12:
        *out = DTYPE_Q4_K;
        return true;
    case 13:
        *out = DTYPE_Q5_K;
        return true;
    case 14:
        *out = DTYPE_Q6_K;
        return true;
    case 15:
        *out = DTYPE_Q8_K;
        return true;
    case 26:
        *out = DTYPE_I32;
        return true;
    case 30:
        *out = DTYPE_BF16;
        return true;
    default:
        return false;
    }
}

/* Formats "<name>: <problem>" into err and returns code. */
__attribute__((format(printf, 4, 5))) static int gguf_fail(const struct gguf *g, struct sgl_err *err, int code,
                                                           const char *fmt, ...) {
    char buf[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return err_setf(err, code, "%s: %s", g->path, buf);
}

static int gguf_truncated(const struct gguf *g, struct sgl_err *err, const struct gguf_rd *r, const char *what) {
    return gguf_fail(g, err, ERR_FORMAT, "truncated: %s at offset %zu runs past the end of the file (%zu bytes)", what,
                     r->pos, r->size);
}

static bool rd_u32(struct gguf_rd *r, uint32_t *v) {
    if (r->size - r->pos < 4) return false;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return true;
}

static bool rd_u64(struct gguf_rd *r, uint64_t *v) {
    if (r->size - r->pos < 8) return false;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return true;
}

static size_t rd_left(const struct gguf_rd *r) { return r->size - r->pos; }

/* Reads a GGUF string in place: *s points into the image (not NUL-terminated).
 * Returns 0, or an error naming `what`. */
static int rd_str(const struct gguf *g, struct gguf_rd *r, const char *what, const uint8_t **s, size_t *len,
                  struct sgl_err *err) {
    uint64_t n;
    if (!rd_u64(r, &n)) return gguf_truncated(g, err, r, what);
    if (n > rd_left(r))
        return gguf_fail(g, err, ERR_FORMAT, "%s: string length %llu at offset %zu exceeds the file size %zu", what,
                         (unsigned long long)n, r->pos - 8, r->size);
    *s = r->p + r->pos;
    *len = (size_t)n;
    r->pos += (size_t)n;
    return 0;
}

static char *gguf_strdup_n(const uint8_t *s, size_t n) {
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

/* Reads a key or tensor name: must be non-empty and NUL-free. *out is malloc'd. */
static int rd_name(const struct gguf *g, struct gguf_rd *r, const char *what, char **out, struct sgl_err *err) {
    const uint8_t *s;
    size_t n;
    int rc = rd_str(g, r, what, &s, &n, err);
    if (rc) return rc;
    if (n == 0) return gguf_fail(g, err, ERR_FORMAT, "%s is empty", what);
    if (memchr(s, 0, n)) return gguf_fail(g, err, ERR_FORMAT, "%s contains a NUL byte", what);
    *out = gguf_strdup_n(s, n);
    return *out ? 0 : gguf_fail(g, err, ERR_NOMEM, "out of memory");
}

/* String array: validate every element, then copy all into one blob. */
static int gguf_read_str_array(const struct gguf *g, struct gguf_rd *r, struct gguf_kv *kv, uint64_t n,
                               struct sgl_err *err) {
    if (n > rd_left(r) / 8)
        return gguf_fail(g, err, ERR_FORMAT, "key '%s': string array count %llu is absurd for %zu bytes left", kv->key,
                         (unsigned long long)n, rd_left(r));
    size_t start = r->pos, total = 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *s;
        size_t len = 0;
        int rc = rd_str(g, r, kv->key, &s, &len, err);
        if (rc) return rc;
        total += len + 1; /* <= file size + n: no overflow */
    }
    kv->arr_blob = malloc(total ? total : 1);
    kv->arr_off = malloc(((size_t)n + 1) * sizeof *kv->arr_off);
    if (!kv->arr_blob || !kv->arr_off) return gguf_fail(g, err, ERR_NOMEM, "out of memory");
    struct gguf_rd r2 = {r->p, r->size, start};
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = 0;
        rd_u64(&r2, &len); /* already validated above */
        memcpy(kv->arr_blob + off, r2.p + r2.pos, (size_t)len);
        r2.pos += (size_t)len;
        kv->arr_off[i] = off;
        off += (size_t)len;
        kv->arr_blob[off++] = 0;
    }
    kv->arr_off[n] = off;
    return 0;
}

static int gguf_read_kv(const struct gguf *g, struct gguf_rd *r, int64_t i, struct gguf_kv *kv, struct sgl_err *err) {
    char what[64];
    snprintf(what, sizeof what, "metadata key #%lld", (long long)i);
    int rc = rd_name(g, r, what, &kv->key, err);
    if (rc) return rc;
    uint32_t type;
    if (!rd_u32(r, &type)) return gguf_truncated(g, err, r, kv->key);
    if (!gguf_type_valid(type))
        return gguf_fail(g, err, ERR_FORMAT, "key '%s' has unknown value type %u", kv->key, type);
    kv->type = (enum gguf_type)type;
    if (type == GGUF_TYPE_STRING) {
        const uint8_t *s;
        size_t n;
        if ((rc = rd_str(g, r, kv->key, &s, &n, err))) return rc;
        kv->str = gguf_strdup_n(s, n);
        kv->str_len = n;
        return kv->str ? 0 : gguf_fail(g, err, ERR_NOMEM, "out of memory");
    }
    if (type != GGUF_TYPE_ARRAY) {
        size_t sz = g_scalar_size[type];
        if (rd_left(r) < sz) return gguf_truncated(g, err, r, kv->key);
        kv->val = r->p + r->pos;
        r->pos += sz;
        return 0;
    }
    uint32_t et;
    uint64_t n;
    if (!rd_u32(r, &et) || !rd_u64(r, &n)) return gguf_truncated(g, err, r, kv->key);
    if (et == GGUF_TYPE_ARRAY)
        return gguf_fail(g, err, ERR_FORMAT, "key '%s': arrays of arrays are not supported", kv->key);
    if (!gguf_type_valid(et))
        return gguf_fail(g, err, ERR_FORMAT, "key '%s' is an array of unknown type %u", kv->key, et);
    kv->elem_type = (enum gguf_type)et;
    kv->n = (int64_t)(n > INT64_MAX ? INT64_MAX : n);
    kv->val = r->p + r->pos;
    if (et == GGUF_TYPE_STRING) return gguf_read_str_array(g, r, kv, n, err);
    size_t sz = g_scalar_size[et];
    if (n > rd_left(r) / sz)
        return gguf_fail(g, err, ERR_FORMAT, "key '%s': array of %llu elements at offset %zu exceeds the file size %zu",
                         kv->key, (unsigned long long)n, r->pos, r->size);
    r->pos += (size_t)n * sz;
    return 0;
}

static int gguf_read_tensor_info(const struct gguf *g, struct gguf_rd *r, int64_t i, struct gguf_tensor_info *ti,
                                 struct sgl_err *err) {
    char what[64];
    snprintf(what, sizeof what, "tensor name #%lld", (long long)i);
    int rc = rd_name(g, r, what, &ti->name, err);
    if (rc) return rc;
    uint32_t n_dims, type;
    if (!rd_u32(r, &n_dims)) return gguf_truncated(g, err, r, ti->name);
    if (n_dims > TENSOR_MAX_DIMS)
        return gguf_fail(g, err, ERR_FORMAT, "tensor '%s' has %u dims (max %d)", ti->name, n_dims, TENSOR_MAX_DIMS);
    uint64_t ne[TENSOR_MAX_DIMS];
    for (uint32_t d = 0; d < n_dims; d++)
        if (!rd_u64(r, &ne[d])) return gguf_truncated(g, err, r, ti->name);
    uint64_t offset;
    if (!rd_u32(r, &type) || !rd_u64(r, &offset)) return gguf_truncated(g, err, r, ti->name);
    enum dtype dt;
    if (!gguf_ggml_to_dtype(type, &dt))
        return gguf_fail(g, err, ERR_FORMAT, "unsupported tensor type %u for tensor '%s'", type, ti->name);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX)
            return gguf_fail(g, err, ERR_FORMAT, "tensor '%s' has invalid dim ne[%u] = %llu", ti->name, d,
                             (unsigned long long)ne[d]);
        if (ne[d] > (uint64_t)INT64_MAX / numel)
            return gguf_fail(g, err, ERR_FORMAT, "tensor '%s': element count overflows", ti->name);
        numel *= ne[d];
    }
    uint64_t block = (uint64_t)dtype_block_size(dt), bb = dtype_block_bytes(dt);
    uint64_t ne0 = n_dims ? ne[0] : 1;
    if (ne0 % block)
        return gguf_fail(g, err, ERR_FORMAT, "tensor '%s': row length %llu is not a multiple of the %s block size %llu",
                         ti->name, (unsigned long long)ne0, dtype_name(dt), (unsigned long long)block);
    if (numel / block > SIZE_MAX / bb)
        return gguf_fail(g, err, ERR_FORMAT, "tensor '%s': byte size overflows", ti->name);
    ti->t.dtype = dt;
    ti->t.n_dims = (int)n_dims;
    for (uint32_t d = 0; d < n_dims; d++) ti->t.shape[d] = (int64_t)ne[n_dims - 1 - d];
    ti->t.nbytes = (size_t)(numel / block * bb);
    ti->offset = offset; /* t.data is set once data_start is known */
    if (offset % g->alignment)
        return gguf_fail(g, err, ERR_FORMAT, "tensor '%s': data offset %llu is not a multiple of the alignment %zu",
                         ti->name, (unsigned long long)offset, g->alignment);
    return 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static int gguf_parse(struct gguf *g, struct sgl_err *err) {
    struct gguf_rd r = {g->data, g->size, 0};
    if (g->size < 4 || memcmp(g->data, "GGUF", 4) != 0)
        return gguf_fail(g, err, ERR_FORMAT, "not a GGUF file (bad magic)");
    r.pos = 4;
    uint32_t version;
    if (!rd_u32(&r, &version)) return gguf_truncated(g, err, &r, "version");
    if (version == 1)
        return gguf_fail(g, err, ERR_FORMAT,
                         "GGUF version 1 is not supported (only v2 and v3; re-convert the model with current tools)");
    if (version == 0x02000000u || version == 0x03000000u)
        return gguf_fail(g, err, ERR_FORMAT, "big-endian GGUF files are not supported");
    if (version != 2 && version != 3)
        return gguf_fail(g, err, ERR_FORMAT, "unsupported GGUF version %u (supported: 2, 3)", version);
    g->version = version;
    uint64_t n_tensors, n_kv;
    if (!rd_u64(&r, &n_tensors) || !rd_u64(&r, &n_kv)) return gguf_truncated(g, err, &r, "header counts");
    size_t left = rd_left(&r);
    if (n_kv > left / GGUF_MIN_KV_BYTES)
        return gguf_fail(g, err, ERR_FORMAT, "metadata count %llu is absurd for a file of %zu bytes",
                         (unsigned long long)n_kv, g->size);
    if (n_tensors > left / GGUF_MIN_TENSOR_BYTES || n_tensors * GGUF_MIN_TENSOR_BYTES > left - n_kv * GGUF_MIN_KV_BYTES)
        return gguf_fail(g, err, ERR_FORMAT, "tensor count %llu is absurd for a file of %zu bytes",
                         (unsigned long long)n_tensors, g->size);

    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return gguf_fail(g, err, ERR_NOMEM, "out of memory");
    if (name_index_init(&g->kv_index, (int64_t)n_kv) || name_index_init(&g->tensor_index, (int64_t)n_tensors))
        return gguf_fail(g, err, ERR_NOMEM, "out of memory");

    int rc;
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = (int64_t)i + 1; /* so gguf_close frees the partly-filled entry */
        if ((rc = gguf_read_kv(g, &r, (int64_t)i, &g->kv[i], err))) return rc;
        if (name_index_insert(&g->kv_index, g->kv[i].key, (int64_t)i) >= 0)
            return gguf_fail(g, err, ERR_FORMAT, "duplicate metadata key '%s'", g->kv[i].key);
    }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        int64_t a;
        if (!gguf_get_int(g, "general.alignment", &a) || a <= 0 || a > GGUF_MAX_ALIGNMENT || (a & (a - 1)))
            return gguf_fail(g, err, ERR_FORMAT, "general.alignment must be a power of two in [1, %u]",
                             GGUF_MAX_ALIGNMENT);
        g->alignment = (size_t)a;
    }

    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = (int64_t)i + 1;
        struct gguf_tensor_info *ti = &g->tensors[i];
        if ((rc = gguf_read_tensor_info(g, &r, (int64_t)i, ti, err))) return rc;
        if (name_index_insert(&g->tensor_index, ti->name, (int64_t)i) >= 0)
            return gguf_fail(g, err, ERR_FORMAT, "duplicate tensor name '%s'", ti->name);
    }

    /* r.pos <= size, alignment <= 2^20: no overflow unless size is near SIZE_MAX. */
    size_t ds = (r.pos + g->alignment - 1) / g->alignment * g->alignment;
    g->data_start = ds;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor_info *ti = &g->tensors[i];
        uint64_t begin = sat_add(ds, ti->offset), end = sat_add(begin, ti->t.nbytes);
        if (end > g->size)
            return gguf_fail(g, err, ERR_FORMAT, "tensor '%s' data [%llu..%llu) exceeds file size %zu", ti->name,
                             (unsigned long long)begin, (unsigned long long)end, g->size);
        ti->t.data = g->data + begin;
    }
    return 0;
}

void gguf_close(struct gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
        free(g->kv[i].arr_blob);
        free(g->kv[i].arr_off);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    name_index_free(&g->kv_index);
    name_index_free(&g->tensor_index);
    mmap_file_close(&g->map);
    free(g->path);
    free(g);
}

void gguf_release_metadata(struct gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].arr_blob);
        free(g->kv[i].arr_off);
        g->kv[i].arr_blob = NULL;
        g->kv[i].arr_off = NULL;
    }
    long pg = sysconf(_SC_PAGESIZE);
    if (g->map.data && pg > 0) { /* whole pages of the header; the mapping stays valid */
        size_t n = g->data_start / (size_t)pg * (size_t)pg;
        if (n) (void)madvise((void *)g->map.data, n, MADV_DONTNEED);
    }
}

static int gguf_new(const char *name, struct gguf **out, struct sgl_err *err) {
    *out = NULL;
    struct gguf *g = calloc(1, sizeof *g);
    if (!g) return err_setf(err, ERR_NOMEM, "%s: out of memory", name);
    g->path = strdup(name ? name : "(memory)");
    if (!g->path) {
        free(g);
        return err_setf(err, ERR_NOMEM, "%s: out of memory", name);
    }
    *out = g;
    return 0;
}

int gguf_open_memory(const void *data, size_t size, const char *name, struct gguf **out, struct sgl_err *err) {
    struct gguf *g;
    int rc = gguf_new(name ? name : "(memory)", &g, err);
    if (rc) return rc;
    g->data = data;
    g->size = data ? size : 0;
    if ((rc = gguf_parse(g, err))) {
        gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

int gguf_open(const char *path, struct gguf **out, struct sgl_err *err) {
    struct gguf *g;
    int rc = gguf_new(path, &g, err);
    if (rc) return rc;
    if ((rc = mmap_file_open(path, &g->map, err))) goto fail;
    g->data = g->map.data;
    g->size = g->map.size;
    if ((rc = gguf_parse(g, err))) goto fail;
    *out = g;
    return 0;
fail:
    gguf_close(g);
    return rc;
}

uint32_t gguf_version(const struct gguf *g) { return g->version; }
const char *gguf_path(const struct gguf *g) { return g->path; }
int64_t gguf_n_kv(const struct gguf *g) { return g->n_kv; }

const char *gguf_kv_key(const struct gguf *g, int64_t i) { return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL; }

int64_t gguf_find_key(const struct gguf *g, const char *key) { return name_index_find(&g->kv_index, key); }

enum gguf_type gguf_kv_type(const struct gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : (enum gguf_type) - 1;
}

static const struct gguf_kv *gguf_kv_of(const struct gguf *g, const char *key) {
    int64_t i = name_index_find(&g->kv_index, key);
    return i >= 0 ? &g->kv[i] : NULL;
}

/* Reads an integer scalar of type t at p; false for non-integer types or
 * unsigned values above INT64_MAX. */
static bool gguf_scalar_int(enum gguf_type t, const uint8_t *p, int64_t *out) {
    switch (t) {
    case GGUF_TYPE_UINT8:
        *out = *p;
        return true;
    case GGUF_TYPE_INT8:
        *out = (int8_t)*p;
        return true;
    case GGUF_TYPE_BOOL:
        *out = *p != 0;
        return true;
    case GGUF_TYPE_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
        return true;
    }
    default:
        return false;
    }
}

bool gguf_get_int(const struct gguf *g, const char *key, int64_t *out) {
    const struct gguf_kv *kv = gguf_kv_of(g, key);
    return kv && kv->type != GGUF_TYPE_ARRAY && gguf_scalar_int(kv->type, kv->val, out);
}

bool gguf_get_float(const struct gguf *g, const char *key, double *out) {
    const struct gguf_kv *kv = gguf_kv_of(g, key);
    if (!kv) return false;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        float v;
        memcpy(&v, kv->val, 4);
        *out = v;
        return true;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        memcpy(out, kv->val, 8);
        return true;
    }
    int64_t i;
    if (kv->type == GGUF_TYPE_BOOL || !gguf_get_int(g, key, &i)) return false;
    *out = (double)i;
    return true;
}

bool gguf_get_bool(const struct gguf *g, const char *key, bool *out) {
    const struct gguf_kv *kv = gguf_kv_of(g, key);
    if (!kv || kv->type != GGUF_TYPE_BOOL) return false;
    *out = *kv->val != 0;
    return true;
}

const char *gguf_get_str(const struct gguf *g, const char *key, size_t *len) {
    const struct gguf_kv *kv = gguf_kv_of(g, key);
    if (!kv || kv->type != GGUF_TYPE_STRING) return NULL;
    if (len) *len = kv->str_len;
    return kv->str;
}

int64_t gguf_get_arr_n(const struct gguf *g, const char *key, enum gguf_type *elem_type) {
    const struct gguf_kv *kv = gguf_kv_of(g, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY) return -1;
    if (elem_type) *elem_type = kv->elem_type;
    return kv->n;
}

const char *gguf_get_arr_str(const struct gguf *g, const char *key, int64_t i, size_t *len) {
    const struct gguf_kv *kv = gguf_kv_of(g, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->elem_type != GGUF_TYPE_STRING || i < 0 || i >= kv->n ||
        !kv->arr_blob)
        return NULL;
    if (len) *len = kv->arr_off[i + 1] - kv->arr_off[i] - 1;
    return kv->arr_blob + kv->arr_off[i];
}

const void *gguf_get_arr_data(const struct gguf *g, const char *key) {
    const struct gguf_kv *kv = gguf_kv_of(g, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->elem_type == GGUF_TYPE_STRING) return NULL;
    return kv->val;
}

int64_t gguf_n_tensors(const struct gguf *g) { return g->n_tensors; }

const char *gguf_tensor_name(const struct gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? g->tensors[i].name : NULL;
}

const struct tensor *gguf_tensor(const struct gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i].t : NULL;
}

const struct tensor *gguf_find_tensor(const struct gguf *g, const char *name) {
    int64_t i = name_index_find(&g->tensor_index, name);
    return i >= 0 ? &g->tensors[i].t : NULL;
}
