/* Unit tests for src/base: thread pool partitioning and reuse, f16/bf16
 * conversions, dtype sizes, error messages, file mapping, and the CLI id-list
 * parser that sits on them. */
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "base/dtype.h"
#include "base/err.h"
#include "base/fp16.h"
#include "base/mmap_file.h"
#include "base/threadpool.h"
#include "cli/common.h"
#include "layers/rotary.h"
#include "test.h"

struct sum_task {
    atomic_llong sum;
    atomic_int calls;
    long long n;
};

static void sum_fn(void *ctx, int ith, int nth) {
    struct sum_task *t = ctx;
    long long lo, hi, s = 0;
    threadpool_split(t->n, ith, nth, &lo, &hi);
    for (long long i = lo; i < hi; i++) s += i;
    atomic_fetch_add(&t->sum, s);
    atomic_fetch_add(&t->calls, 1);
}

TEST(threadpool_split_covers_range) {
    for (int nth = 1; nth <= 7; nth++) {
        long long expect_lo = 0;
        for (int ith = 0; ith < nth; ith++) {
            long long lo, hi;
            threadpool_split(100, ith, nth, &lo, &hi);
            CHECK_EQ_INT(lo, expect_lo);
            CHECK(hi - lo == 100 / nth || hi - lo == 100 / nth + 1);
            expect_lo = hi;
        }
        CHECK_EQ_INT(expect_lo, 100);
    }
}

TEST(threadpool_runs_every_share_many_times) {
    for (int n = 1; n <= 4; n++) {
        struct threadpool *p = threadpool_create(n);
        CHECK(p != NULL);
        if (!p) continue;
        CHECK_EQ_INT(threadpool_size(p), n);
        /* The first task is posted right after creation (workers may not have started yet). */
        for (int r = 0; r < 2000; r++) {
            struct sum_task t = {.n = 1000 + r};
            atomic_init(&t.sum, 0);
            atomic_init(&t.calls, 0);
            threadpool_run(p, sum_fn, &t);
            long long n_ = t.n;
            CHECK_EQ_INT(atomic_load(&t.sum), n_ * (n_ - 1) / 2);
            CHECK_EQ_INT(atomic_load(&t.calls), n);
        }
        threadpool_destroy(p);
    }
    struct sum_task t = {.n = 10};
    atomic_init(&t.sum, 0);
    atomic_init(&t.calls, 0);
    threadpool_run(NULL, sum_fn, &t); /* NULL pool runs inline */
    CHECK_EQ_INT(atomic_load(&t.sum), 45);
    threadpool_destroy(NULL);
}

TEST(fp16_known_values) {
    CHECK_EQ_INT(fp16_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(fp16_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(fp16_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(fp16_f32_to_f16(1e6f), 0x7c00);              /* overflow -> inf */
    CHECK_EQ_INT(fp16_f32_to_f16(5.9604645e-8f), 0x0001);     /* smallest subnormal */
    CHECK_EQ_INT(fp16_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie rounds to even */
    CHECK_NEAR(fp16_f16_to_f32(0x3555), 0.333251953125, 0);
    CHECK_NEAR(fp16_f16_to_f32(0x0001), 5.9604645e-8, 1e-15);
    CHECK(fp16_f16_to_f32(0x7e00) != fp16_f16_to_f32(0x7e00)); /* NaN */
    CHECK_EQ_INT(fp16_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(fp16_f32_to_bf16(1.00390625f), 0x3f80); /* tie to even */
    CHECK_NEAR(fp16_bf16_to_f32(0x4049), 3.140625, 0);
    /* every finite f16 round-trips through f32 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (fp16_f32_to_f16(fp16_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(dtype_sizes) {
    CHECK_EQ_INT(dtype_row_bytes(DTYPE_F32, 64), 256);
    CHECK_EQ_INT(dtype_row_bytes(DTYPE_BF16, 64), 128);
    CHECK_EQ_INT(dtype_row_bytes(DTYPE_Q8_0, 64), 68);
    CHECK_EQ_INT(dtype_row_bytes(DTYPE_Q4_0, 64), 36);
    CHECK_EQ_INT(dtype_row_bytes(DTYPE_Q4_K, 256), 144);
    CHECK_EQ_INT(dtype_row_bytes(DTYPE_Q6_K, 512), 420);
    CHECK(dtype_is_quantized(DTYPE_Q5_K) && !dtype_is_quantized(DTYPE_F16));
    CHECK_STR(dtype_name(DTYPE_Q8_0), "Q8_0");
    CHECK_STR(dtype_name((enum dtype)99), "unknown");
}

TEST(err_messages) {
    struct sgl_err e;
    CHECK_EQ_INT(err_setf(&e, ERR_FORMAT, "bad %s %d", "thing", 3), ERR_FORMAT);
    CHECK_STR(e.msg, "bad thing 3");
    err_prefix(&e, "file.gguf");
    CHECK_STR(e.msg, "file.gguf: bad thing 3");
    char longp[2000];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    err_prefix(&e, longp); /* truncated, still terminated */
    CHECK(strlen(e.msg) < sizeof e.msg);
    CHECK_EQ_INT(err_setf(NULL, ERR_IO, "ignored"), ERR_IO);
}

TEST(mmap_and_read_files) {
    char dir[] = "/tmp/sglc_test_base_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/f.bin", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs("hello", f);
    fclose(f);
    struct mmap_file mf;
    struct sgl_err e;
    CHECK_EQ_INT(mmap_file_open(path, &mf, &e), 0);
    CHECK_EQ_INT(mf.size, 5);
    CHECK(mf.data && memcmp(mf.data, "hello", 5) == 0);
    mmap_file_close(&mf);
    char *buf;
    size_t n;
    CHECK_EQ_INT(file_read_all(path, &buf, &n, &e), 0);
    CHECK_STR(buf, "hello");
    free(buf);
    CHECK(mmap_file_open(dir, &mf, &e) != 0); /* a directory */
    CHECK(strstr(e.msg, "not a regular file") != NULL);
    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK(mmap_file_open(path, &mf, &e) == ERR_IO);
    CHECK(strstr(e.msg, "missing") != NULL);
    unlink(path);
    snprintf(path, sizeof path, "%s/f.bin", dir);
    unlink(path);
    rmdir(dir);
}

TEST(cli_id_lists) {
    int32_t *ids;
    size_t n;
    struct sgl_err e;
    CHECK_EQ_INT(cli_parse_ids("[1, 2, 3]", &ids, &n, &e), 0);
    CHECK_EQ_INT(n, 3);
    CHECK(ids[0] == 1 && ids[2] == 3);
    free(ids);
    CHECK_EQ_INT(cli_parse_ids("7,8", &ids, &n, &e), 0);
    CHECK_EQ_INT(n, 2);
    free(ids);
    CHECK(cli_parse_ids("1,x", &ids, &n, &e) != 0);
    CHECK(cli_parse_ids("-1", &ids, &n, &e) != 0);
    CHECK(cli_parse_ids("99999999999", &ids, &n, &e) != 0);
    long long v;
    CHECK(cli_parse_int("12", 0, 20, &v) && v == 12);
    CHECK(!cli_parse_int("12x", 0, 20, &v) && !cli_parse_int("21", 0, 20, &v) && !cli_parse_int("", 0, 20, &v));
    double d;
    CHECK(cli_parse_float("0.5", 0, 1, &d) && d == 0.5);
    CHECK(!cli_parse_float("nan", 0, 1, &d) && !cli_parse_float("2", 0, 1, &d));
}

/* RoPE: default frequencies and rotation against the direct formula; linear
 * scaling divides them; llama3 keeps high frequencies and divides low ones. */
TEST(rotary_frequencies_and_rotation) {
    struct model_config c = {0};
    c.head_dim = 8;
    c.rope_theta = 10000;
    struct rotary r;
    CHECK_EQ_INT(rotary_init(&r, &c, NULL), 0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(r.inv_freq[i], pow(10000.0, -2.0 * i / 8), 1e-6 * r.inv_freq[i]);
    float cs[4], sn[4], x[8], y[8];
    unsigned long long seed = 7;
    for (int i = 0; i < 8; i++) x[i] = y[i] = test_randf(&seed);
    rotary_cos_sin(&r, 5, cs, sn);
    rotary_apply(&r, y, 1, cs, sn);
    for (int i = 0; i < 4; i++) {
        double a = 5 * r.inv_freq[i];
        CHECK_NEAR(y[i], x[i] * cos(a) - x[i + 4] * sin(a), 1e-5);
        CHECK_NEAR(y[i + 4], x[i + 4] * cos(a) + x[i] * sin(a), 1e-5);
    }
    rotary_free(&r);
    c.rope_interleaved = true;
    CHECK_EQ_INT(rotary_init(&r, &c, NULL), 0);
    for (int i = 0; i < 8; i++) y[i] = x[i];
    rotary_apply(&r, y, 1, cs, sn);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[2 * i], x[2 * i] * cs[i] - x[2 * i + 1] * sn[i], 1e-6);
    rotary_free(&r);
    c.rope_interleaved = false;
    c.rope_scaling.type = ROPE_SCALING_LINEAR;
    c.rope_scaling.factor = 4;
    CHECK_EQ_INT(rotary_init(&r, &c, NULL), 0);
    CHECK_NEAR(r.inv_freq[1], pow(10000.0, -0.25) / 4, 1e-9);
    rotary_free(&r);
    c.head_dim = 128;
    c.rope_theta = 500000;
    c.rope_scaling = (struct rope_scaling){.type = ROPE_SCALING_LLAMA3, .factor = 8, .low_freq_factor = 1,
                                           .high_freq_factor = 4, .original_max_position_embeddings = 8192};
    CHECK_EQ_INT(rotary_init(&r, &c, NULL), 0);
    double f0 = pow(500000.0, 0.0), f63 = pow(500000.0, -126.0 / 128);
    CHECK_NEAR(r.inv_freq[0], f0, 1e-6);      /* wavelength 2pi < 8192/4: unchanged */
    CHECK_NEAR(r.inv_freq[63], f63 / 8, 1e-9); /* wavelength > 8192: divided by the factor */
    rotary_free(&r);
}

int main(void) {
    RUN(threadpool_split_covers_range);
    RUN(threadpool_runs_every_share_many_times);
    RUN(fp16_known_values);
    RUN(dtype_sizes);
    RUN(err_messages);
    RUN(mmap_and_read_files);
    RUN(cli_id_lists);
    RUN(rotary_frequencies_and_rotation);
    return test_summary();
}
