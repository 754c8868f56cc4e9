/* safetensors: reader for HF safetensors checkpoints (single file or sharded).
 *
 * One file:   u64 N (little-endian) | N bytes of JSON header | data section
 *   header = { "__metadata__": {...}, "<name>": {"dtype": "BF16", "shape": [..],
 *              "data_offsets": [begin, end]}, ... }  offsets relative to the data section.
 * Sharded:    <dir>/model.safetensors.index.json {"weight_map": {"<name>": "<shard file>"}}
 *
 * Invariants after open: every tensor's [begin, end) lies inside its file's data
 * section and end - begin == numel * element size; names are unique across all
 * shards; every weight_map name was found in the shard it names. Each distinct
 * shard is mapped once. Lookups by name go through a hash index (O(1)).
 *
 * Threading: immutable after open; lookups may run concurrently. */
#include "model_loader/safetensors.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/json.h"
#include "base/mmap_file.h"
#include "model_loader/name_index.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads the little-endian header length in place"
#endif

#define SAFETENSORS_MAX_HEADER    ((uint64_t)100 * 1000 * 1000)
#define SAFETENSORS_INDEX_NAME    "model.safetensors.index.json"
#define SAFETENSORS_SINGLE_NAME   "model.safetensors"
#define SAFETENSORS_MAX_EXACT_INT 9007199254740992.0 /* 2^53: doubles hold integers exactly below this */

struct st_shard {
    char *path;
    struct mmap_file map; /* unused (zero) for safetensors_open_memory */
};

struct st_entry {
    char *name;
    int shard;
    struct tensor t;
};

struct safetensors {
    struct st_shard *shards;
    int n_shards;
    struct st_entry *entries;
    int64_t n, cap;
    struct name_index index;
};

__attribute__((format(printf, 4, 5))) static int st_fail(const char *file, struct sgl_err *err, int code,
                                                         const char *fmt, ...) {
    char buf[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return err_setf(err, code, "%s: %s", file, buf);
}

static bool st_dtype_from_name(const char *s, enum dtype *out) {
    static const struct {
        const char *name;
        enum dtype dt;
    } map[] = {{"F32", DTYPE_F32}, {"F16", DTYPE_F16}, {"BF16", DTYPE_BF16}, {"I32", DTYPE_I32}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].name) == 0) {
            *out = map[i].dt;
            return true;
        }
    return false;
}

/* A JSON number that is a non-negative integer exactly representable. */
static bool st_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d < SAFETENSORS_MAX_EXACT_INT) || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

static int st_reserve(struct safetensors *st, int64_t extra, const char *file, struct sgl_err *err) {
    if (st->n + extra <= st->cap) return 0;
    int64_t cap = st->cap ? st->cap : 16;
    while (cap < st->n + extra) cap *= 2;
    struct st_entry *e = realloc(st->entries, (size_t)cap * sizeof *e);
    if (!e) return st_fail(file, err, ERR_NOMEM, "out of memory");
    st->entries = e;
    st->cap = cap;
    return 0;
}

/* Parses one entry {dtype, shape, data_offsets} named `name` into *t. */
static int st_parse_entry(const char *file, const char *name, const cJSON *obj, const uint8_t *data, uint64_t data_size,
                          struct tensor *t, struct sgl_err *err) {
    if (!cJSON_IsObject(obj)) return st_fail(file, err, ERR_FORMAT, "tensor '%s': entry is not a JSON object", name);
    const char *dts = json_get_string(obj, "dtype");
    if (!dts) return st_fail(file, err, ERR_FORMAT, "tensor '%s': missing \"dtype\"", name);
    if (!st_dtype_from_name(dts, &t->dtype))
        return st_fail(file, err, ERR_FORMAT,
                       "tensor '%s' has unsupported dtype '%.32s' (supported: F32, F16, BF16, I32)", name, dts);
    const cJSON *shape = json_get(obj, "shape");
    if (!cJSON_IsArray(shape)) return st_fail(file, err, ERR_FORMAT, "tensor '%s': missing or bad \"shape\"", name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > TENSOR_MAX_DIMS)
        return st_fail(file, err, ERR_FORMAT, "tensor '%s' has %d dims (max %d)", name, nd, TENSOR_MAX_DIMS);
    t->n_dims = nd;
    uint64_t numel = 1;
    int d = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, shape) {
        uint64_t dim;
        if (!st_json_uint(v, &dim))
            return st_fail(file, err, ERR_FORMAT, "tensor '%s': shape[%d] is not a non-negative integer", name, d);
        if (dim && numel > (uint64_t)INT64_MAX / dim)
            return st_fail(file, err, ERR_FORMAT, "tensor '%s': element count overflows", name);
        numel *= dim;
        t->shape[d++] = (int64_t)dim;
    }
    const cJSON *offs = json_get(obj, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !st_json_uint(cJSON_GetArrayItem(offs, 0), &begin) ||
        !st_json_uint(cJSON_GetArrayItem(offs, 1), &end))
        return st_fail(file, err, ERR_FORMAT, "tensor '%s': \"data_offsets\" must be [begin, end] integers", name);
    if (begin > end)
        return st_fail(file, err, ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu) has begin > end", name,
                       (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return st_fail(file, err, ERR_FORMAT,
                       "tensor '%s': data_offsets [%llu, %llu) exceed the data section (%llu bytes)", name,
                       (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    size_t esz = dtype_block_bytes(t->dtype);
    if (numel > UINT64_MAX / esz || end - begin != numel * esz)
        return st_fail(file, err, ERR_FORMAT,
                       "tensor '%s': data_offsets span %llu bytes but shape and %s need %llu x %zu bytes", name,
                       (unsigned long long)(end - begin), dts, (unsigned long long)numel, esz);
    t->data = data + begin;
    t->nbytes = (size_t)(end - begin);
    return 0;
}

/* Parses one safetensors image and appends its tensors (tagged with shard). */
static int st_parse_image(struct safetensors *st, const uint8_t *data, size_t size, const char *file, int shard,
                          struct sgl_err *err) {
    if (size < 8) return st_fail(file, err, ERR_FORMAT, "file too small (%zu bytes) for a safetensors header", size);
    uint64_t hlen;
    memcpy(&hlen, data, 8);
    if (hlen > size - 8)
        return st_fail(file, err, ERR_FORMAT, "header length %llu exceeds the file size %zu", (unsigned long long)hlen,
                       size);
    if (hlen > SAFETENSORS_MAX_HEADER)
        return st_fail(file, err, ERR_FORMAT, "header length %llu exceeds the %llu-byte limit",
                       (unsigned long long)hlen, (unsigned long long)SAFETENSORS_MAX_HEADER);
    /* A NUL-terminated copy: cJSON then never reads past the header. */
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr) return st_fail(file, err, ERR_NOMEM, "out of memory");
    memcpy(hdr, data + 8, (size_t)hlen);
    hdr[hlen] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    int rc = 0;
    if (!root) {
        rc = st_fail(file, err, ERR_FORMAT, "header is not valid JSON (error near byte %lld of %llu)",
                     end ? (long long)(end - hdr) : -1LL, (unsigned long long)hlen);
        goto out;
    }
    for (; end && *end; end++)
        if (!strchr(" \t\r\n", *end)) {
            rc = st_fail(file, err, ERR_FORMAT, "header has trailing bytes after the JSON object (at byte %lld)",
                         (long long)(end - hdr));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        rc = st_fail(file, err, ERR_FORMAT, "header is not a JSON object");
        goto out;
    }
    if ((rc = st_reserve(st, cJSON_GetArraySize(root), file, err))) goto out;
    const uint8_t *sec = data + 8 + hlen;
    uint64_t sec_size = size - 8 - hlen;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) continue;
        struct st_entry *e = &st->entries[st->n];
        memset(e, 0, sizeof *e);
        if ((rc = st_parse_entry(file, item->string, item, sec, sec_size, &e->t, err))) goto out;
        e->name = strdup(item->string);
        if (!e->name) {
            rc = st_fail(file, err, ERR_NOMEM, "out of memory");
            goto out;
        }
        e->shard = shard;
        st->n++;
    }
out:
    cJSON_Delete(root);
    free(hdr);
    return rc;
}

static int st_add_shard(struct safetensors *st, const char *path, struct sgl_err *err) {
    struct st_shard *s = realloc(st->shards, (size_t)(st->n_shards + 1) * sizeof *s);
    if (!s) return st_fail(path, err, ERR_NOMEM, "out of memory");
    st->shards = s;
    s = &st->shards[st->n_shards];
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!s->path) return st_fail(path, err, ERR_NOMEM, "out of memory");
    st->n_shards++;
    return 0;
}

static int st_open_file(struct safetensors *st, const char *path, struct sgl_err *err) {
    int rc = st_add_shard(st, path, err);
    if (rc) return rc;
    struct st_shard *s = &st->shards[st->n_shards - 1];
    if ((rc = mmap_file_open(path, &s->map, err))) return rc;
    return st_parse_image(st, s->map.data, s->map.size, path, st->n_shards - 1, err);
}

/* Builds the name index over all entries; duplicate names are an error. */
static int st_build_index(struct safetensors *st, struct sgl_err *err) {
    const char *file = st->n_shards ? st->shards[0].path : "safetensors";
    if (name_index_init(&st->index, st->n)) return st_fail(file, err, ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < st->n; i++) {
        int64_t j = name_index_insert(&st->index, st->entries[i].name, i);
        if (j >= 0)
            return st_fail(st->shards[st->entries[i].shard].path, err, ERR_FORMAT,
                           "duplicate tensor name '%s' (also in %s)", st->entries[i].name,
                           st->shards[st->entries[j].shard].path);
    }
    return 0;
}

static char *st_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* Shard file names must stay inside the model directory. */
static bool st_shard_name_ok(const char *s) {
    if (!*s || s[0] == '/') return false;
    for (const char *p = s; (p = strstr(p, "..")); p += 2)
        if ((p == s || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) return false;
    return true;
}

static int st_open_sharded(struct safetensors *st, const char *dir, const char *index_path, struct sgl_err *err) {
    char *text = NULL;
    cJSON *root = NULL;
    struct name_index files = {0};
    int rc = file_read_all(index_path, &text, NULL, err);
    if (rc) return rc;
    root = cJSON_Parse(text);
    const cJSON *wm = json_get(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        rc = st_fail(index_path, err, ERR_FORMAT, "%s", root ? "missing \"weight_map\" object" : "not valid JSON");
        goto out;
    }
    if (name_index_init(&files, cJSON_GetArraySize(wm))) {
        rc = st_fail(index_path, err, ERR_NOMEM, "out of memory");
        goto out;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, wm) {
        const char *f = cJSON_IsString(item) ? item->valuestring : NULL;
        if (!f || !st_shard_name_ok(f)) {
            rc = st_fail(index_path, err, ERR_FORMAT, "weight_map entry '%s' has a bad shard file name", item->string);
            goto out;
        }
        if (name_index_insert(&files, f, st->n_shards) >= 0) continue;
        char *p = st_join(dir, f);
        if (!p) {
            rc = st_fail(index_path, err, ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = st_open_file(st, p, err);
        free(p);
        if (rc) goto out;
    }
    if ((rc = st_build_index(st, err))) goto out;
    cJSON_ArrayForEach(item, wm) {
        int64_t i = name_index_find(&st->index, item->string);
        int64_t want = name_index_find(&files, item->valuestring);
        if (i < 0 || st->entries[i].shard != want) {
            rc = st_fail(index_path, err, ERR_FORMAT, "tensor '%s' listed in weight_map is missing from shard '%s'",
                         item->string, item->valuestring);
            goto out;
        }
    }
out:
    name_index_free(&files);
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* The only *.safetensors file in dir (malloc'd path), or an error. */
static int st_find_single(const char *dir, char **out, struct sgl_err *err) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return st_fail(dir, err, ERR_IO, "cannot list directory");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), sl = strlen(".safetensors");
        if (l <= sl || strcmp(e->d_name + l - sl, ".safetensors") != 0) continue;
        if (++n == 1) *out = st_join(dir, e->d_name);
    }
    closedir(d);
    if (n == 1 && !*out) return st_fail(dir, err, ERR_NOMEM, "out of memory");
    if (n == 1) return 0;
    free(*out);
    *out = NULL;
    if (n == 0) return st_fail(dir, err, ERR_NOTFOUND, "no " SAFETENSORS_INDEX_NAME " and no *.safetensors file");
    return st_fail(dir, err, ERR_NOTFOUND, "%d *.safetensors files but no " SAFETENSORS_INDEX_NAME, n);
}

static bool st_is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

int safetensors_open(const char *path, struct safetensors **out, struct sgl_err *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return st_fail(path, err, ERR_NOTFOUND, "no such file or directory");
    struct safetensors *st = calloc(1, sizeof *st);
    char *p = NULL;
    if (!st) return st_fail(path, err, ERR_NOMEM, "out of memory");
    int rc;
    if (!S_ISDIR(sb.st_mode)) {
        if ((rc = st_open_file(st, path, err)) || (rc = st_build_index(st, err))) goto fail;
        *out = st;
        return 0;
    }
    if (!(p = st_join(path, SAFETENSORS_INDEX_NAME))) goto nomem;
    if (st_is_file(p)) {
        if ((rc = st_open_sharded(st, path, p, err))) goto fail;
    } else {
        free(p);
        if (!(p = st_join(path, SAFETENSORS_SINGLE_NAME))) goto nomem;
        if (!st_is_file(p)) {
            free(p);
            if ((rc = st_find_single(path, &p, err))) goto fail;
        }
        if ((rc = st_open_file(st, p, err)) || (rc = st_build_index(st, err))) goto fail;
    }
    free(p);
    *out = st;
    return 0;
nomem:
    rc = st_fail(path, err, ERR_NOMEM, "out of memory");
fail:
    free(p);
    safetensors_close(st);
    return rc;
}

int safetensors_open_memory(const void *data, size_t size, const char *name, struct safetensors **out,
                            struct sgl_err *err) {
    *out = NULL;
    if (!name) name = "(memory)";
    struct safetensors *st = calloc(1, sizeof *st);
    if (!st) return st_fail(name, err, ERR_NOMEM, "out of memory");
    int rc = st_add_shard(st, name, err);
    if (!rc) rc = st_parse_image(st, data, data ? size : 0, name, 0, err);
    if (!rc) rc = st_build_index(st, err);
    if (rc) {
        safetensors_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void safetensors_close(struct safetensors *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n; i++) free(st->entries[i].name);
    free(st->entries);
    for (int i = 0; i < st->n_shards; i++) {
        mmap_file_close(&st->shards[i].map);
        free(st->shards[i].path);
    }
    free(st->shards);
    name_index_free(&st->index);
    free(st);
}

int64_t safetensors_n_tensors(const struct safetensors *st) { return st->n; }

const char *safetensors_tensor_name(const struct safetensors *st, int64_t i) {
    return i >= 0 && i < st->n ? st->entries[i].name : NULL;
}

const struct tensor *safetensors_tensor(const struct safetensors *st, int64_t i) {
    return i >= 0 && i < st->n ? &st->entries[i].t : NULL;
}

const struct tensor *safetensors_find(const struct safetensors *st, const char *name) {
    int64_t i = name_index_find(&st->index, name);
    return i >= 0 ? &st->entries[i].t : NULL;
}
