/* test_gguf: the GGUF parser on the real stories260K file and on synthetic
 * images (valid ones covering every metadata type and tensor type, and one
 * broken image per validation rule: each must fail with "<name>: <problem>"). */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "base/mmap_file.h"
#include "gguf_build.h"
#include "model_loader/gguf.h"
#include "test.h"

#define STORIES SGLC_TEST_DATA_DIR "/models/stories260K/stories260K.gguf"

/* Parses b as "t.gguf"; expects failure with a message "t.gguf: ...<needle>...". */
static int expect_fail(const struct gb *b, const char *needle) {
    struct gguf *g = NULL;
    struct sgl_err err = {{0}};
    int rc = gguf_open_memory(b->p, b->n, "t.gguf", &g, &err);
    int ok = rc < 0 && g == NULL && strncmp(err.msg, "t.gguf: ", 8) == 0 && strstr(err.msg, needle) != NULL;
    if (!ok) printf("  expected failure with '%s', got rc=%d msg='%s'\n", needle, rc, err.msg);
    gguf_close(g);
    return ok;
}

TEST(stories_metadata) {
    struct gguf *g = NULL;
    struct sgl_err err = {{0}};
    int rc = gguf_open(STORIES, &g, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    if (rc) return;
    CHECK_EQ_INT(gguf_version(g), 3);
    CHECK_STR(gguf_path(g), STORIES);
    CHECK_EQ_INT(gguf_n_kv(g), 19);
    CHECK_STR(gguf_kv_key(g, 0), "tokenizer.ggml.tokens");
    CHECK(gguf_kv_key(g, 19) == NULL);
    CHECK_EQ_INT(gguf_kv_type(g, 0), GGUF_TYPE_ARRAY);
    CHECK_EQ_INT(gguf_find_key(g, "general.architecture"), 4);
    CHECK_EQ_INT(gguf_find_key(g, "no.such.key"), -1);

    size_t len = 0;
    CHECK_STR(gguf_get_str(g, "general.architecture", &len), "llama");
    CHECK_EQ_INT(len, 5);
    CHECK(gguf_get_str(g, "llama.context_length", NULL) == NULL); /* wrong type */
    int64_t v = 0;
    CHECK(gguf_get_int(g, "llama.context_length", &v));
    CHECK_EQ_INT(v, 128);
    CHECK(gguf_get_int(g, "tokenizer.ggml.padding_token_id", &v));
    CHECK_EQ_INT(v, 4294967295ll);
    CHECK(!gguf_get_int(g, "general.architecture", &v));
    CHECK(!gguf_get_int(g, "tokenizer.ggml.tokens", &v));
    double d = 0;
    CHECK(gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &d));
    CHECK_NEAR(d, 1e-5, 1e-12);
    CHECK(gguf_get_float(g, "llama.block_count", &d));
    CHECK_NEAR(d, 5, 0);
    bool bv;
    CHECK(!gguf_get_bool(g, "llama.block_count", &bv));

    enum gguf_type et = GGUF_TYPE_UINT8;
    CHECK_EQ_INT(gguf_get_arr_n(g, "tokenizer.ggml.tokens", &et), 512);
    CHECK_EQ_INT(et, GGUF_TYPE_STRING);
    CHECK_STR(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 0, &len), "<unk>");
    CHECK_EQ_INT(len, 5);
    CHECK_STR(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 2, NULL), "</s>");
    CHECK_STR(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 259, NULL), "\xe2\x96\x81t"); /* "▁t" */
    CHECK_STR(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 511, &len), "\xe2\x80\x8a");  /* U+200A */
    CHECK_EQ_INT(len, 3);
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 512, NULL) == NULL);
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", -1, NULL) == NULL);
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.scores", 0, NULL) == NULL);
    CHECK(gguf_get_arr_data(g, "tokenizer.ggml.tokens") == NULL);
    CHECK_EQ_INT(gguf_get_arr_n(g, "tokenizer.ggml.scores", &et), 512);
    CHECK_EQ_INT(et, GGUF_TYPE_FLOAT32);
    CHECK_EQ_INT(gguf_get_arr_n(g, "tokenizer.ggml.token_type", &et), 512);
    CHECK_EQ_INT(et, GGUF_TYPE_INT32);
    const uint8_t *tt = gguf_get_arr_data(g, "tokenizer.ggml.token_type");
    CHECK(tt != NULL);
    if (tt) {
        int32_t t0, t1, t3;
        memcpy(&t0, tt, 4);
        memcpy(&t1, tt + 4, 4);
        memcpy(&t3, tt + 12, 4);
        CHECK_EQ_INT(t0, 2); /* <unk>: UNKNOWN */
        CHECK_EQ_INT(t1, 3); /* <s>: CONTROL */
        CHECK_EQ_INT(t3, 6); /* <0x00>: BYTE */
    }
    CHECK_EQ_INT(gguf_get_arr_n(g, "general.architecture", NULL), -1);
    gguf_close(g);
}

TEST(stories_tensors) {
    struct gguf *g = NULL;
    struct sgl_err err = {{0}};
    CHECK_EQ_INT(gguf_open(STORIES, &g, &err), 0);
    if (!g) return;
    CHECK_EQ_INT(gguf_n_tensors(g), 48);
    CHECK_STR(gguf_tensor_name(g, 0), "token_embd.weight");
    CHECK_STR(gguf_tensor_name(g, 47), "blk.4.ffn_norm.weight");
    CHECK(gguf_tensor_name(g, 48) == NULL);
    CHECK(gguf_tensor(g, 48) == NULL);
    const struct tensor *e = gguf_find_tensor(g, "token_embd.weight");
    CHECK(e == gguf_tensor(g, 0));
    CHECK(e && e->dtype == DTYPE_F32 && e->n_dims == 2 && e->shape[0] == 512 && e->shape[1] == 64);
    CHECK(e && e->nbytes == 512 * 64 * 4);
    /* Data section starts at 14176 (header 14152 rounded up to 32). */
    struct mmap_file raw;
    CHECK_EQ_INT(mmap_file_open(STORIES, &raw, &err), 0);
    if (e) {
        CHECK_EQ_INT((uintptr_t)e->data % 32, 0);
        CHECK(memcmp(e->data, (const char *)raw.data + 14176, 16) == 0);
        const float *f = e->data;
        CHECK_NEAR(f[0], -0.29474878311157227, 0);
        CHECK_NEAR(f[2], 0.1754225343465805, 0);
    }
    mmap_file_close(&raw);
    const struct tensor *k = gguf_find_tensor(g, "blk.0.attn_k.weight");
    /* GGUF ne = [64, 32] -> PyTorch [32 out, 64 in]; row 1 starts 64 floats in. */
    CHECK(k && k->n_dims == 2 && k->shape[0] == 32 && k->shape[1] == 64);
    if (k) CHECK_NEAR(((const float *)tensor_row(k, 1))[0], -0.20091506838798523, 0);
    const struct tensor *n = gguf_find_tensor(g, "output_norm.weight");
    CHECK(n && n->n_dims == 1 && n->shape[0] == 64);
    if (n) CHECK_NEAR(((const float *)n->data)[1], 1.3673226833343506, 0);
    const struct tensor *last = gguf_find_tensor(g, "blk.4.ffn_norm.weight");
    if (last) {
        double s = 0;
        for (int i = 0; i < 64; i++) s += ((const float *)last->data)[i];
        CHECK_NEAR(s, 66.58365, 1e-3);
        CHECK_NEAR(((const float *)last->data)[63], 1.234261155128479, 0);
    }
    CHECK(gguf_find_tensor(g, "blk.5.ffn_norm.weight") == NULL);
    int64_t total = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) total += (int64_t)gguf_tensor(g, i)->nbytes;
    CHECK_EQ_INT(total, 1185376 - 14176);
    gguf_close(g);
}

/* gguf_release_metadata drops the string-array copies and the header pages; what the
 * model still reads afterwards (scalars, numeric arrays, tensors) is unchanged. */
TEST(release_metadata) {
    struct gguf *g = NULL;
    struct sgl_err err = {{0}};
    CHECK_EQ_INT(gguf_open(STORIES, &g, &err), 0);
    if (!g) return;
    CHECK_STR(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 2, NULL), "</s>");
    gguf_release_metadata(g);
    gguf_release_metadata(g); /* twice is harmless */
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 2, NULL) == NULL);
    enum gguf_type et = GGUF_TYPE_UINT8;
    CHECK_EQ_INT(gguf_get_arr_n(g, "tokenizer.ggml.tokens", &et), 512);
    CHECK_EQ_INT(et, GGUF_TYPE_STRING);
    int64_t v = 0;
    CHECK(gguf_get_int(g, "llama.context_length", &v));
    CHECK_EQ_INT(v, 128);
    CHECK_STR(gguf_get_str(g, "general.architecture", NULL), "llama");
    const uint8_t *tt = gguf_get_arr_data(g, "tokenizer.ggml.token_type");
    CHECK(tt != NULL);
    if (tt) {
        int32_t t3;
        memcpy(&t3, tt + 12, 4);
        CHECK_EQ_INT(t3, 6);
    }
    const struct tensor *e = gguf_find_tensor(g, "token_embd.weight");
    CHECK(e != NULL);
    if (e) CHECK_NEAR(((const float *)e->data)[2], 0.1754225343465805, 0);
    gguf_close(g);
}

/* Every truncation of the real file must fail cleanly (never crash) and name the file. */
TEST(stories_truncated_everywhere) {
    char *buf = NULL;
    size_t size = 0;
    struct sgl_err err = {{0}};
    CHECK_EQ_INT(file_read_all(STORIES, &buf, &size, &err), 0);
    if (!buf) return;
    int bad = 0, n = 0;
    for (size_t cut = 0; cut < size; cut += (cut < 14300 ? 1 : 4099)) {
        struct gguf *g = NULL;
        uint8_t *copy = malloc(cut ? cut : 1); /* exact-size copy so ASan sees over-reads */
        memcpy(copy, buf, cut);
        int rc = gguf_open_memory(copy, cut, "cut.gguf", &g, &err);
        if (rc == 0 || g || strncmp(err.msg, "cut.gguf: ", 10) != 0) {
            if (bad++ < 3) printf("  cut %zu: rc=%d msg=%s\n", cut, rc, err.msg);
        }
        gguf_close(g);
        free(copy);
        n++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(n > 14000);
    /* A cut inside the data section is reported as a tensor range past EOF. */
    struct gguf *g = NULL;
    CHECK(gguf_open_memory(buf, size - 4, "cut.gguf", &g, &err) < 0);
    CHECK(
        strstr(err.msg, "cut.gguf: tensor 'blk.4.ffn_norm.weight' data [1185120..1185376) exceeds file size 1185372"));
    /* In the header: the message says truncated. */
    CHECK(gguf_open_memory(buf, 5000, "cut.gguf", &g, &err) < 0);
    CHECK(strstr(err.msg, "truncated") || strstr(err.msg, "exceeds the file size"));
    free(buf);
}

TEST(truncated_file_on_disk) {
    char dir[] = "/tmp/sglc_test_gguf_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/short.gguf", dir);
    char *buf = NULL;
    size_t size = 0;
    struct sgl_err err = {{0}};
    CHECK_EQ_INT(file_read_all(STORIES, &buf, &size, &err), 0);
    if (!buf) return;
    CHECK_EQ_INT(gb_write_file(path, buf, 10000), 0);
    struct gguf *g = NULL;
    CHECK(gguf_open(path, &g, &err) < 0);
    CHECK(g == NULL);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    CHECK(strstr(err.msg, "exceeds the file size 10000") != NULL);
    unlink(path);
    CHECK(gguf_open(path, &g, &err) < 0);
    CHECK(strstr(err.msg, "cannot open") != NULL);
    rmdir(dir);
    free(buf);
}

/* A valid image with every metadata type, custom alignment and each tensor type. */
TEST(synthetic_all_types) {
    struct gb b = {0};
    gb_header(&b, 2, 6, 16);
    gb_key(&b, "u8", 0), gb_u8(&b, 200);
    gb_key(&b, "i8", 1), gb_u8(&b, (uint8_t)-5);
    gb_key(&b, "u16", 2), gb_u8(&b, 0x34), gb_u8(&b, 0x12);
    gb_key(&b, "i16", 3), gb_u8(&b, 0xfe), gb_u8(&b, 0xff);
    gb_kv_u32(&b, "u32", 4000000000u);
    gb_key(&b, "i32", 5), gb_u32(&b, (uint32_t)-7);
    gb_kv_f32(&b, "f32", 0.5f);
    gb_key(&b, "bool", 7), gb_u8(&b, 1);
    gb_kv_str(&b, "str", "hello");
    gb_key(&b, "u64", 10), gb_u64(&b, UINT64_MAX);
    gb_key(&b, "i64", 11), gb_u64(&b, (uint64_t)-9);
    gb_key(&b, "f64", 12);
    double dv = -2.25;
    gb_put(&b, &dv, 8);
    const char *strs[] = {"a", "", "long string \xe2\x96\x81"};
    gb_kv_str_arr(&b, "strs", 3, strs);
    gb_key(&b, "f32s", 9), gb_u32(&b, 6), gb_u64(&b, 2), gb_f32(&b, 1.5f), gb_f32(&b, -3.0f);
    gb_key(&b, "empty", 9), gb_u32(&b, 4), gb_u64(&b, 0);
    gb_kv_u32(&b, "general.alignment", 64);
    /* Tensors: F32 [3,5] (ne 5,3), Q8_0 2 rows of 64, F16 [7], BF16 [2,1,1,3], I32 [4], Q4_K [256]. */
    gb_tensor(&b, "f32", 2, (uint64_t[]){5, 3}, 0, 0);           /* 60 bytes */
    gb_tensor(&b, "q8", 2, (uint64_t[]){64, 2}, 8, 64);          /* 4 blocks = 136 */
    gb_tensor(&b, "f16", 1, (uint64_t[]){7}, 1, 256);            /* 14 */
    gb_tensor(&b, "bf16", 4, (uint64_t[]){3, 1, 1, 2}, 30, 320); /* 12 */
    gb_tensor(&b, "i32", 1, (uint64_t[]){4}, 26, 384);           /* 16 */
    gb_tensor(&b, "q4k", 1, (uint64_t[]){256}, 12, 448);         /* 144 */
    size_t header_end = b.n;
    gb_align(&b, 64);
    size_t ds = b.n;
    CHECK(ds % 64 == 0 && ds >= header_end);
    gb_zeros(&b, 448 + 144);
    b.p[ds + 64] = 0x3c; /* first byte of the q8 tensor */

    struct gguf *g = NULL;
    struct sgl_err err = {{0}};
    int rc = gguf_open_memory(b.p, b.n, "syn.gguf", &g, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    if (!g) {
        gb_free(&b);
        return;
    }
    CHECK_EQ_INT(gguf_version(g), 2);
    int64_t v;
    double d;
    bool bv = false;
    CHECK(gguf_get_int(g, "u8", &v) && v == 200);
    CHECK(gguf_get_int(g, "i8", &v) && v == -5);
    CHECK(gguf_get_int(g, "u16", &v) && v == 0x1234);
    CHECK(gguf_get_int(g, "i16", &v) && v == -2);
    CHECK(gguf_get_int(g, "u32", &v) && v == 4000000000ll);
    CHECK(gguf_get_int(g, "i32", &v) && v == -7);
    CHECK(!gguf_get_int(g, "u64", &v)); /* above INT64_MAX */
    CHECK(gguf_get_int(g, "i64", &v) && v == -9);
    CHECK(gguf_get_int(g, "bool", &v) && v == 1);
    CHECK(!gguf_get_int(g, "f32", &v));
    CHECK(gguf_get_float(g, "f32", &d) && d == 0.5);
    CHECK(gguf_get_float(g, "f64", &d) && d == -2.25);
    CHECK(gguf_get_float(g, "i32", &d) && d == -7);
    CHECK(!gguf_get_float(g, "bool", &d));
    CHECK(!gguf_get_float(g, "str", &d));
    CHECK(gguf_get_bool(g, "bool", &bv) && bv);
    CHECK(!gguf_get_bool(g, "u8", &bv));
    CHECK_STR(gguf_get_str(g, "str", NULL), "hello");
    enum gguf_type et;
    CHECK_EQ_INT(gguf_get_arr_n(g, "strs", &et), 3);
    size_t len = 99;
    CHECK_STR(gguf_get_arr_str(g, "strs", 1, &len), "");
    CHECK_EQ_INT(len, 0);
    CHECK_STR(gguf_get_arr_str(g, "strs", 2, &len), "long string \xe2\x96\x81");
    CHECK_EQ_INT(len, 15);
    CHECK_EQ_INT(gguf_get_arr_n(g, "f32s", &et), 2);
    CHECK_EQ_INT(et, GGUF_TYPE_FLOAT32);
    const void *fs = gguf_get_arr_data(g, "f32s"); /* may be unaligned: copy out */
    float fv[2] = {0, 0};
    if (fs) memcpy(fv, fs, sizeof fv);
    CHECK(fs && fv[0] == 1.5f && fv[1] == -3.0f);
    CHECK_EQ_INT(gguf_get_arr_n(g, "empty", &et), 0);
    CHECK_EQ_INT(et, GGUF_TYPE_UINT32);
    CHECK_EQ_INT(gguf_kv_type(g, gguf_find_key(g, "f64")), GGUF_TYPE_FLOAT64);

    const struct tensor *t = gguf_find_tensor(g, "f32");
    CHECK(t && t->n_dims == 2 && t->shape[0] == 3 && t->shape[1] == 5 && t->nbytes == 60);
    CHECK(t && t->data == b.p + ds);
    t = gguf_find_tensor(g, "q8");
    CHECK(t && t->dtype == DTYPE_Q8_0 && t->shape[0] == 2 && t->shape[1] == 64 && t->nbytes == 136);
    CHECK(t && t->data == b.p + ds + 64 && *(const uint8_t *)t->data == 0x3c);
    CHECK(t && tensor_row(t, 1) == b.p + ds + 64 + 68);
    t = gguf_find_tensor(g, "f16");
    CHECK(t && t->dtype == DTYPE_F16 && t->n_dims == 1 && t->nbytes == 14);
    t = gguf_find_tensor(g, "bf16");
    CHECK(t && t->dtype == DTYPE_BF16 && t->n_dims == 4 && t->shape[0] == 2 && t->shape[3] == 3 && t->nbytes == 12);
    t = gguf_find_tensor(g, "i32");
    CHECK(t && t->dtype == DTYPE_I32 && t->nbytes == 16);
    t = gguf_find_tensor(g, "q4k");
    CHECK(t && t->dtype == DTYPE_Q4_K && t->nbytes == 144);
    gguf_close(g);
    gb_free(&b);
}

/* 150k-entry vocabulary: opening and random access stay fast (element i is O(1)). */
TEST(big_string_array) {
    struct gb b = {0};
    enum { N = 150000 };
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "tokenizer.ggml.tokens", 9);
    gb_u32(&b, 8);
    gb_u64(&b, N);
    char s[32];
    for (int i = 0; i < N; i++) {
        snprintf(s, sizeof s, "tok%d", i);
        gb_str(&b, s);
    }
    struct gguf *g = NULL;
    struct sgl_err err = {{0}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(gguf_open_memory(b.p, b.n, "vocab.gguf", &g, &err), 0);
    if (!g) {
        gb_free(&b);
        return;
    }
    int wrong = 0;
    for (int r = 0; r < 4; r++)
        for (int i = N - 1; i >= 0; i -= 1 + r) {
            snprintf(s, sizeof s, "tok%d", i);
            const char *got = gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, NULL);
            wrong += !got || strcmp(got, s) != 0;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_EQ_INT(wrong, 0);
    printf("  open + ~312k lookups of a %d-string array: %.1f ms\n", N,
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    gguf_close(g);
    gb_free(&b);
}

TEST(bad_magic_and_versions) {
    struct gb b = {0};
    CHECK(expect_fail(&b, "not a GGUF file"));
    gb_put(&b, "GGML", 4), gb_u32(&b, 3), gb_u64(&b, 0), gb_u64(&b, 0);
    CHECK(expect_fail(&b, "not a GGUF file (bad magic)"));
    gb_free(&b);
    gb_header(&b, 1, 0, 0);
    CHECK(expect_fail(&b, "GGUF version 1 is not supported"));
    gb_free(&b);
    gb_header(&b, 4, 0, 0);
    CHECK(expect_fail(&b, "unsupported GGUF version 4 (supported: 2, 3)"));
    gb_free(&b);
    gb_header(&b, 0x03000000u, 0, 0);
    CHECK(expect_fail(&b, "big-endian"));
    gb_free(&b);
    gb_put(&b, "GGUF", 4), gb_u32(&b, 3), gb_u32(&b, 0);
    CHECK(expect_fail(&b, "truncated: header counts"));
    gb_free(&b);
    /* An empty but valid file. */
    gb_header(&b, 3, 0, 0);
    struct gguf *g = NULL;
    CHECK_EQ_INT(gguf_open_memory(b.p, b.n, "t.gguf", &g, NULL), 0);
    CHECK(g && gguf_n_tensors(g) == 0 && gguf_n_kv(g) == 0 && gguf_find_tensor(g, "x") == NULL);
    gguf_close(g);
    gb_free(&b);
}

TEST(absurd_counts) {
    struct gb b = {0};
    gb_header(&b, 3, (uint64_t)1 << 60, 0);
    gb_zeros(&b, 100);
    CHECK(expect_fail(&b, "tensor count 1152921504606846976 is absurd"));
    gb_free(&b);
    gb_header(&b, 3, 0, UINT64_MAX);
    CHECK(expect_fail(&b, "metadata count 18446744073709551615 is absurd"));
    gb_free(&b);
    /* Array counts too: a string array claiming 2^61 elements. */
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "a", 9), gb_u32(&b, 8), gb_u64(&b, (uint64_t)1 << 61);
    gb_zeros(&b, 64);
    CHECK(expect_fail(&b, "key 'a': string array count 2305843009213693952 is absurd"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "a", 9), gb_u32(&b, 12), gb_u64(&b, (uint64_t)1 << 61);
    gb_zeros(&b, 64);
    CHECK(expect_fail(&b, "key 'a': array of 2305843009213693952 elements"));
    gb_free(&b);
}

TEST(bad_strings_and_keys) {
    struct gb b = {0};
    gb_header(&b, 3, 0, 1);
    gb_u64(&b, (uint64_t)1 << 40);
    gb_zeros(&b, 16);
    CHECK(expect_fail(&b, "metadata key #0: string length 1099511627776 at offset 24 exceeds the file size"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_kv_str(&b, "k", "");
    b.n -= 8;
    gb_u64(&b, 5);
    CHECK(expect_fail(&b, "k: string length 5"));
    gb_free(&b);
    gb_header(&b, 3, 0, 2);
    gb_kv_u32(&b, "k", 1);
    gb_kv_u32(&b, "k", 2);
    CHECK(expect_fail(&b, "duplicate metadata key 'k'"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_kv_u32(&b, "", 1);
    CHECK(expect_fail(&b, "metadata key #0 is empty"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_u64(&b, 3), gb_put(&b, "a\0b", 3), gb_u32(&b, 4), gb_u32(&b, 0);
    CHECK(expect_fail(&b, "contains a NUL byte"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "k", 13), gb_u32(&b, 0);
    CHECK(expect_fail(&b, "key 'k' has unknown value type 13"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "nested", 9), gb_u32(&b, 9), gb_u64(&b, 1), gb_u32(&b, 4), gb_u64(&b, 1), gb_u32(&b, 7);
    CHECK(expect_fail(&b, "key 'nested': arrays of arrays are not supported"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "k", 10), gb_u32(&b, 0);
    CHECK(expect_fail(&b, "truncated: k at offset"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_kv_u32(&b, "general.alignment", 3);
    CHECK(expect_fail(&b, "general.alignment must be a power of two"));
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_kv_str(&b, "general.alignment", "32");
    CHECK(expect_fail(&b, "general.alignment must be a power of two"));
    gb_free(&b);
}

/* One tensor "w" with the given dims/type/offset and `data` bytes of data. */
static void one_tensor(struct gb *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t data) {
    gb_free(b);
    gb_header(b, 3, 1, 0);
    gb_tensor(b, "w", n_dims, ne, type, offset);
    gb_align(b, 32);
    gb_zeros(b, data);
}

TEST(bad_tensors) {
    struct gb b = {0};
    one_tensor(&b, 2, (uint64_t[]){4, 2}, 0, 0, 32);
    struct gguf *g = NULL;
    CHECK_EQ_INT(gguf_open_memory(b.p, b.n, "t.gguf", &g, NULL), 0); /* the baseline is valid */
    gguf_close(g);
    /* header 24 + tensor info 41 = 65 bytes -> data starts at 96 */
    one_tensor(&b, 2, (uint64_t[]){4, 2}, 0, 0, 31);
    CHECK(expect_fail(&b, "tensor 'w' data [96..128) exceeds file size 127"));
    one_tensor(&b, 2, (uint64_t[]){4, 2}, 0, (uint64_t)1 << 62, 32);
    CHECK(expect_fail(&b, "tensor 'w' data [4611686018427388000..4611686018427388032) exceeds file size 128"));
    one_tensor(&b, 2, (uint64_t[]){4, 2}, 0, UINT64_MAX - 31, 32); /* begin + size wraps around */
    CHECK(expect_fail(&b, "tensor 'w' data [18446744073709551615..18446744073709551615) exceeds file size 128"));
    one_tensor(&b, 2, (uint64_t[]){4, 2}, 10, 0, 32);
    CHECK(expect_fail(&b, "unsupported tensor type 10 for tensor 'w'"));
    one_tensor(&b, 2, (uint64_t[]){4, 2}, 3, 0, 32);
    CHECK(expect_fail(&b, "unsupported tensor type 3 for tensor 'w'"));
    one_tensor(&b, 1, (uint64_t[]){33}, 8, 0, 64);
    CHECK(expect_fail(&b, "tensor 'w': row length 33 is not a multiple of the Q8_0 block size 32"));
    one_tensor(&b, 1, (uint64_t[]){128}, 14, 0, 256);
    CHECK(expect_fail(&b, "not a multiple of the Q6_K block size 256"));
    one_tensor(&b, 2, (uint64_t[]){4, 0}, 0, 0, 32);
    CHECK(expect_fail(&b, "tensor 'w' has invalid dim ne[1] = 0"));
    one_tensor(&b, 3, (uint64_t[]){1ull << 32, 1ull << 32, 1ull << 32}, 0, 0, 32);
    CHECK(expect_fail(&b, "tensor 'w': element count overflows"));
    one_tensor(&b, 2, (uint64_t[]){1ull << 62, 3}, 0, 0, 32);
    CHECK(expect_fail(&b, "tensor 'w': element count overflows"));
    one_tensor(&b, 1, (uint64_t[]){1ull << 62}, 0, 0, 32);
    CHECK(expect_fail(&b, "tensor 'w': byte size overflows"));
    one_tensor(&b, 5, (uint64_t[]){1, 1, 1, 1, 1}, 0, 0, 32);
    CHECK(expect_fail(&b, "tensor 'w' has 5 dims (max 4)"));
    one_tensor(&b, 1, (uint64_t[]){4}, 0, 16, 64);
    CHECK(expect_fail(&b, "tensor 'w': data offset 16 is not a multiple of the alignment 32"));
    /* Duplicate tensor names. */
    gb_free(&b);
    gb_header(&b, 3, 2, 0);
    gb_tensor(&b, "w", 1, (uint64_t[]){4}, 0, 0);
    gb_tensor(&b, "w", 1, (uint64_t[]){4}, 0, 32);
    gb_align(&b, 32);
    gb_zeros(&b, 64);
    CHECK(expect_fail(&b, "duplicate tensor name 'w'"));
    /* Truncated tensor info. */
    gb_free(&b);
    gb_header(&b, 3, 1, 0);
    gb_str(&b, "w");
    gb_u32(&b, 4);
    gb_u64(&b, 4);
    gb_u64(&b, 4);
    CHECK(expect_fail(&b, "truncated: w at offset"));
    gb_free(&b);
}

int main(void) {
    RUN(stories_metadata);
    RUN(stories_tensors);
    RUN(release_metadata);
    RUN(stories_truncated_everywhere);
    RUN(truncated_file_on_disk);
    RUN(synthetic_all_types);
    RUN(big_string_array);
    RUN(bad_magic_and_versions);
    RUN(absurd_counts);
    RUN(bad_strings_and_keys);
    RUN(bad_tensors);
    return test_summary();
}
