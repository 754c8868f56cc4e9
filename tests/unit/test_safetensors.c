/* test_safetensors: single-file, directory and sharded checkpoints written by
 * the test into a temp dir, plus one broken file per validation rule (each must
 * fail with "<file>: <problem>", never crash). */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_loader/safetensors.h"
#include "test.h"

static char g_tmp[64]; /* per-run temp dir */

/* Serialises header + data into a malloc'd image: u64 len | header (space-padded to 8) | data. */
static uint8_t *st_image(const char *header, const void *data, size_t data_len, size_t *size) {
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    *size = 8 + padded + data_len;
    uint8_t *p = malloc(*size);
    uint64_t n = padded;
    memcpy(p, &n, 8);
    memcpy(p + 8, header, hl);
    memset(p + 8 + hl, ' ', padded - hl);
    if (data_len) memcpy(p + 8 + padded, data, data_len);
    return p;
}

static int write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(d, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static int write_st(const char *path, const char *header, const void *data, size_t data_len) {
    size_t size;
    uint8_t *img = st_image(header, data, data_len, &size);
    int rc = write_bytes(path, img, size);
    free(img);
    return rc;
}

static void path_in(char *out, size_t n, const char *sub, const char *file) {
    snprintf(out, n, "%s/%s%s%s", g_tmp, sub, *file ? "/" : "", file);
}

/* Removes every file of tmp/sub and the folder. */
static void rm_dir(const char *sub) {
    char d[256], p[512];
    path_in(d, sizeof d, sub, "");
    DIR *dir = opendir(d);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        unlink(p);
    }
    if (dir) closedir(dir);
    rmdir(d);
}

/* Expects an in-memory image to fail with "t.safetensors: ...needle...". */
static int expect_fail_mem(const void *img, size_t size, const char *needle) {
    struct safetensors *st = NULL;
    struct sgl_err err = {{0}};
    int rc = safetensors_open_memory(img, size, "t.safetensors", &st, &err);
    int ok = rc < 0 && !st && strncmp(err.msg, "t.safetensors: ", 15) == 0 && strstr(err.msg, needle);
    if (!ok) printf("  expected failure with '%s', got rc=%d msg='%s'\n", needle, rc, err.msg);
    safetensors_close(st);
    return ok;
}

static int expect_fail_hdr(const char *header, size_t data_len, const char *needle) {
    uint8_t data[256] = {0};
    size_t size;
    uint8_t *img = st_image(header, data, data_len, &size);
    int ok = expect_fail_mem(img, size, needle);
    free(img);
    return ok;
}

/* Expects opening a path to fail with "<prefix>: ...needle...". */
static int expect_fail_path(const char *path, const char *prefix, const char *needle) {
    struct safetensors *st = NULL;
    struct sgl_err err = {{0}};
    int rc = safetensors_open(path, &st, &err);
    int ok = rc < 0 && !st && strncmp(err.msg, prefix, strlen(prefix)) == 0 && err.msg[strlen(prefix)] == ':' &&
             strstr(err.msg, needle);
    if (!ok) printf("  expected '%s: ...%s', got rc=%d msg='%s'\n", prefix, needle, rc, err.msg);
    safetensors_close(st);
    return ok;
}

static const char *k_hdr3 = "{\"__metadata__\":{\"format\":\"pt\"},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                            "\"b.weight\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                            "\"c\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[32,36]},"
                            "\"d\":{\"dtype\":\"F16\",\"shape\":[1,1,2,1],\"data_offsets\":[36,40]}}";

static void fill_data3(uint8_t *data) {
    float a[6] = {1, 2, 3, 4, 5, 6.5f};
    memcpy(data, a, 24);
    for (int i = 0; i < 8; i++) data[24 + i] = (uint8_t)(0x10 + i);
    int32_t c = -42;
    memcpy(data + 32, &c, 4);
    data[36] = 0x00, data[37] = 0x3c, data[38] = 0x00, data[39] = 0xc0; /* f16 1.0, -2.0 */
}

TEST(single_memory) {
    uint8_t data[40];
    fill_data3(data);
    size_t size;
    uint8_t *img = st_image(k_hdr3, data, sizeof data, &size);
    struct safetensors *st = NULL;
    struct sgl_err err = {{0}};
    int rc = safetensors_open_memory(img, size, "m.safetensors", &st, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    if (!st) {
        free(img);
        return;
    }
    size_t ds = size - sizeof data;
    CHECK_EQ_INT(safetensors_n_tensors(st), 4);
    CHECK_STR(safetensors_tensor_name(st, 0), "a");
    CHECK_STR(safetensors_tensor_name(st, 1), "b.weight");
    CHECK(safetensors_tensor_name(st, 4) == NULL);
    CHECK(safetensors_tensor(st, -1) == NULL);
    const struct tensor *a = safetensors_find(st, "a");
    CHECK(a == safetensors_tensor(st, 0));
    CHECK(a && a->dtype == DTYPE_F32 && a->n_dims == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->nbytes == 24);
    CHECK(a && a->data == img + ds);
    if (a) CHECK_NEAR(((const float *)tensor_row(a, 1))[2], 6.5, 0);
    const struct tensor *b = safetensors_find(st, "b.weight");
    CHECK(b && b->dtype == DTYPE_BF16 && b->n_dims == 1 && b->shape[0] == 4 && b->nbytes == 8);
    CHECK(b && *(const uint8_t *)b->data == 0x10);
    const struct tensor *c = safetensors_find(st, "c");
    CHECK(c && c->dtype == DTYPE_I32 && c->n_dims == 0 && c->nbytes == 4 && *(const int32_t *)c->data == -42);
    const struct tensor *d = safetensors_find(st, "d");
    CHECK(d && d->dtype == DTYPE_F16 && d->n_dims == 4 && d->shape[2] == 2 && d->nbytes == 4);
    CHECK(safetensors_find(st, "__metadata__") == NULL);
    CHECK(safetensors_find(st, "e") == NULL);
    safetensors_close(st);
    free(img);
}

TEST(single_file_and_dir) {
    uint8_t data[40];
    fill_data3(data);
    char d[256], f[256];
    path_in(d, sizeof d, "one", "");
    CHECK_EQ_INT(mkdir(d, 0755), 0);
    path_in(f, sizeof f, "one", "model.safetensors");
    CHECK_EQ_INT(write_st(f, k_hdr3, data, sizeof data), 0);
    struct safetensors *st = NULL;
    struct sgl_err err = {{0}};
    /* The file itself, then its directory. */
    CHECK_EQ_INT(safetensors_open(f, &st, &err), 0);
    CHECK(st && safetensors_n_tensors(st) == 4);
    if (st) CHECK(safetensors_find(st, "c") && *(const int32_t *)safetensors_find(st, "c")->data == -42);
    safetensors_close(st);
    st = NULL;
    CHECK_EQ_INT(safetensors_open(d, &st, &err), 0);
    CHECK(st && safetensors_n_tensors(st) == 4);
    safetensors_close(st);
    /* Another name: the only *.safetensors in the directory is used. */
    char f2[256];
    path_in(f2, sizeof f2, "one", "weights.safetensors");
    CHECK_EQ_INT(rename(f, f2), 0);
    st = NULL;
    int rc = safetensors_open(d, &st, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK(st && safetensors_find(st, "b.weight") != NULL);
    safetensors_close(st);
    /* Two candidates, no model.safetensors and no index: ambiguous. */
    path_in(f, sizeof f, "one", "other.safetensors");
    CHECK_EQ_INT(write_st(f, k_hdr3, data, sizeof data), 0);
    CHECK(expect_fail_path(d, d, "2 *.safetensors files but no model.safetensors.index.json"));
    rm_dir("one");
    /* Empty directory and missing path. */
    CHECK_EQ_INT(mkdir(d, 0755), 0);
    CHECK(expect_fail_path(d, d, "no model.safetensors.index.json and no *.safetensors file"));
    rm_dir("one");
    CHECK(expect_fail_path(d, d, "no such file or directory"));
}

static const char *k_shard1 = "{\"x.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                              "\"x.b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
static const char *k_shard2 =
    "{\"__metadata__\":{},\"y.w\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[0,12]}}";

static void write_sharded(const char *index) {
    char d[256], p[256];
    path_in(d, sizeof d, "sh", "");
    mkdir(d, 0755);
    float f1[3] = {1.5f, 2.5f, 3.5f};
    uint8_t f2[12];
    for (int i = 0; i < 12; i++) f2[i] = (uint8_t)(0xa0 + i);
    path_in(p, sizeof p, "sh", "model-00001-of-00002.safetensors");
    write_st(p, k_shard1, f1, sizeof f1);
    path_in(p, sizeof p, "sh", "model-00002-of-00002.safetensors");
    write_st(p, k_shard2, f2, sizeof f2);
    path_in(p, sizeof p, "sh", "model.safetensors.index.json");
    write_bytes(p, index, strlen(index));
}

TEST(sharded) {
    write_sharded("{\"metadata\":{\"total_size\":32},\"weight_map\":{"
                  "\"x.w\":\"model-00001-of-00002.safetensors\",\"y.w\":\"model-00002-of-00002.safetensors\","
                  "\"x.b\":\"model-00001-of-00002.safetensors\"}}");
    char d[256], idx[256];
    path_in(d, sizeof d, "sh", "");
    path_in(idx, sizeof idx, "sh", "model.safetensors.index.json");
    struct safetensors *st = NULL;
    struct sgl_err err = {{0}};
    int rc = safetensors_open(d, &st, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    if (st) {
        CHECK_EQ_INT(safetensors_n_tensors(st), 3);
        const struct tensor *xw = safetensors_find(st, "x.w"), *xb = safetensors_find(st, "x.b");
        const struct tensor *yw = safetensors_find(st, "y.w");
        CHECK(xw && xw->dtype == DTYPE_F32 && xw->shape[0] == 2 && ((const float *)xw->data)[1] == 2.5f);
        CHECK(xb && ((const float *)xb->data)[0] == 3.5f);
        CHECK(yw && yw->dtype == DTYPE_BF16 && yw->shape[0] == 3 && yw->shape[1] == 2 && yw->nbytes == 12);
        CHECK(yw && ((const uint8_t *)yw->data)[11] == 0xab);
        safetensors_close(st);
    }
    /* A weight_map name that its shard lacks. */
    write_sharded("{\"weight_map\":{\"x.w\":\"model-00001-of-00002.safetensors\","
                  "\"z.w\":\"model-00002-of-00002.safetensors\"}}");
    CHECK(expect_fail_path(d, idx,
                           "tensor 'z.w' listed in weight_map is missing from shard "
                           "'model-00002-of-00002.safetensors'"));
    /* Listed under the wrong shard. */
    write_sharded("{\"weight_map\":{\"x.w\":\"model-00002-of-00002.safetensors\","
                  "\"y.w\":\"model-00001-of-00002.safetensors\"}}");
    CHECK(expect_fail_path(d, idx, "tensor 'x.w' listed in weight_map is missing from shard"));
    /* A shard file that does not exist. */
    write_sharded("{\"weight_map\":{\"x.w\":\"model-00001-of-00002.safetensors\",\"q\":\"nope.safetensors\"}}");
    char nope[256];
    path_in(nope, sizeof nope, "sh", "nope.safetensors");
    CHECK(expect_fail_path(d, nope, "cannot open"));
    /* Escaping the directory, bad JSON, no weight_map. */
    write_sharded("{\"weight_map\":{\"x.w\":\"../model-00001-of-00002.safetensors\"}}");
    CHECK(expect_fail_path(d, idx, "weight_map entry 'x.w' has a bad shard file name"));
    write_sharded("{\"weight_map\":{\"x.w\":\"model-00001-of-00002.safetensors\",}");
    CHECK(expect_fail_path(d, idx, "not valid JSON"));
    write_sharded("{\"metadata\":{}}");
    CHECK(expect_fail_path(d, idx, "missing \"weight_map\" object"));
    /* The same tensor in two shards. */
    write_sharded("{\"weight_map\":{\"x.w\":\"model-00001-of-00002.safetensors\",\"y.w\":\"dup.safetensors\"}}");
    char dup[256];
    path_in(dup, sizeof dup, "sh", "dup.safetensors");
    float f1[3] = {0};
    write_st(dup, k_shard1, f1, sizeof f1);
    CHECK(expect_fail_path(d, dup, "duplicate tensor name 'x.w'"));
    /* A broken shard names the shard. */
    write_sharded("{\"weight_map\":{\"x.w\":\"model-00001-of-00002.safetensors\",\"y.w\":\"dup.safetensors\"}}");
    write_bytes(dup, "\x10\0\0\0\0\0\0\0{}", 10);
    CHECK(expect_fail_path(d, dup, "header length 16 exceeds the file size 10"));
    rm_dir("sh");
}

TEST(bad_files) {
    /* On disk: the message starts with the path. */
    char d[256], p[256];
    path_in(d, sizeof d, "bad", "");
    CHECK_EQ_INT(mkdir(d, 0755), 0);
    path_in(p, sizeof p, "bad", "model.safetensors");
    CHECK_EQ_INT(write_bytes(p, "\x05\0\0", 3), 0);
    CHECK(expect_fail_path(p, p, "file too small (3 bytes) for a safetensors header"));
    CHECK(expect_fail_path(d, p, "file too small"));
    CHECK_EQ_INT(write_bytes(p, "\xe8\x03\0\0\0\0\0\0{}", 10), 0);
    CHECK(expect_fail_path(p, p, "header length 1000 exceeds the file size 10"));
    /* Header above the 100 MB limit, in a sparse file bigger than that. */
    uint64_t big = 100000001ull;
    int fd = open(p, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, &big, 8) == 8);
        CHECK_EQ_INT(ftruncate(fd, 100000100), 0);
        close(fd);
        CHECK(expect_fail_path(p, p, "header length 100000001 exceeds the 100000000-byte limit"));
    }
    rm_dir("bad");

    /* In memory. */
    CHECK(expect_fail_mem("", 0, "file too small (0 bytes)"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                          "tensor 'a': data_offsets [0, 8) exceed the data section (4 bytes)"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[9007199254740000,"
                          "9007199254740008]}}",
                          4, "exceed the data section"));
    CHECK(expect_fail_hdr("{\"pos\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16,
                          "tensor 'pos' has unsupported dtype 'I64' (supported: F32, F16, BF16, I32)"));
    CHECK(expect_fail_hdr("{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                          "tensor 'x' has unsupported dtype 'F64'"));
    CHECK(expect_fail_hdr("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 8,
                          "tensor 'x' has unsupported dtype 'U8'"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
                          "tensor 'a': data_offsets span 20 bytes but shape and F32 need 6 x 4 bytes"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 24, "has begin > end"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 24,
                          "\"data_offsets\" must be [begin, end] integers"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 24,
                          "\"data_offsets\" must be [begin, end] integers"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 24,
                          "tensor 'a': shape[0] is not a non-negative integer"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 24,
                          "tensor 'a' has 5 dims (max 4)"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                          "\"data_offsets\":[0,4]}}",
                          24, "tensor 'a': element count overflows"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,1024],\"data_offsets\":[0,4]}}", 24,
                          "tensor 'a': data_offsets span 4 bytes but shape and F32 need"));
    CHECK(expect_fail_hdr("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 24, "tensor 'a': missing \"dtype\""));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 24, "missing or bad \"shape\""));
    CHECK(expect_fail_hdr("{\"a\":[1,2]}", 24, "tensor 'a': entry is not a JSON object"));
    CHECK(expect_fail_hdr("{\"a\": {\"dtype\": \"F32\", ", 24, "header is not valid JSON"));
    CHECK(expect_fail_hdr("\x01\x02garbage", 24, "header is not valid JSON"));
    CHECK(expect_fail_hdr("[1,2,3]", 24, "header is not a JSON object"));
    CHECK(expect_fail_hdr("{} xyz", 24, "trailing bytes after the JSON object"));
    CHECK(expect_fail_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                          24, "duplicate tensor name 'a'"));
    /* Valid edge cases: empty header object, zero-element tensor. */
    size_t size;
    uint8_t *img = st_image("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}", NULL, 0, &size);
    struct safetensors *st = NULL;
    CHECK_EQ_INT(safetensors_open_memory(img, size, "t", &st, NULL), 0);
    CHECK(st && safetensors_n_tensors(st) == 1 && safetensors_find(st, "e")->nbytes == 0);
    safetensors_close(st);
    free(img);
    img = st_image("{}", NULL, 0, &size);
    st = NULL;
    CHECK_EQ_INT(safetensors_open_memory(img, size, "t", &st, NULL), 0);
    CHECK(st && safetensors_n_tensors(st) == 0 && safetensors_find(st, "x") == NULL);
    safetensors_close(st);
    free(img);
}

/* Every truncation of a valid image fails cleanly (or, at full size, succeeds). */
TEST(truncations) {
    uint8_t data[40];
    fill_data3(data);
    size_t size;
    uint8_t *img = st_image(k_hdr3, data, sizeof data, &size);
    int bad = 0;
    for (size_t cut = 0; cut < size; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, img, cut);
        struct safetensors *st = NULL;
        struct sgl_err err = {{0}};
        int rc = safetensors_open_memory(c, cut, "t.safetensors", &st, &err);
        if (rc == 0 || strncmp(err.msg, "t.safetensors: ", 15) != 0) bad++;
        safetensors_close(st);
        free(c);
    }
    CHECK_EQ_INT(bad, 0);
    free(img);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/sglc_test_st_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        printf("cannot create a temp dir\n");
        return 1;
    }
    RUN(single_memory);
    RUN(single_file_and_dir);
    RUN(sharded);
    RUN(bad_files);
    RUN(truncations);
    rmdir(g_tmp);
    return test_summary();
}
