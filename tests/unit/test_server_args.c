/* Unit tests for server_args: the `sglc serve` flags (SGLang names). */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "server_args.h"
#include "test.h"

static int parse(struct server_args *a, struct sgl_err *e, int argc, char **argv) {
    server_args_init(a);
    memset(e, 0, sizeof *e);
    FILE *devnull = fopen("/dev/null", "w");
    int rc = server_args_parse(a, argc, argv, devnull, e);
    fclose(devnull);
    return rc;
}

TEST(defaults) {
    struct server_args a;
    server_args_init(&a);
    struct engine_config ec;
    engine_config_init(&ec);
    CHECK_STR(a.host, "127.0.0.1");
    CHECK_EQ_INT(a.port, 30000);
    CHECK(a.model_path == NULL && a.api_key == NULL && a.served_model_name == NULL);
    CHECK_EQ_INT(a.page_size, ec.page_size);
    CHECK_EQ_INT(a.chunked_prefill_size, ec.chunked_prefill_size);
    CHECK_EQ_INT(a.max_prefill_tokens, ec.max_prefill_tokens);
    CHECK_EQ_INT(a.stream_interval, ec.stream_interval);
    CHECK_EQ_INT(a.max_body_bytes, 32 << 20);
    CHECK_EQ_INT(a.log_level, LOG_LEVEL_INFO);
    CHECK(a.dtype == NULL && a.quantization == NULL && a.kv_cache_dtype == NULL && !a.enable_mixed_chunk);
}

TEST(all_flags) {
    char *argv[] = {"serve", "--model-path", "/m", "--tokenizer-path", "/t", "--host", "0.0.0.0", "--port=8080",
                    "--api-key", "sk-1", "--served-model-name", "tiny", "--context-length", "256",
                    "--max-total-tokens", "4096", "--mem-fraction-static", "0.5", "--max-running-requests", "8",
                    "--max-prefill-tokens", "1024", "--chunked-prefill-size", "-1", "--page-size", "16",
                    "--schedule-policy", "lpm", "--disable-radix-cache", "--random-seed", "7", "--stream-interval",
                    "2", "--chat-template", "/c.jinja", "--log-level", "warning", "--log-requests",
                    "--enable-metrics", "--enable-cache-report", "--threads", "2", "--dtype", "float32",
                    "--quantization", "int8", "--kv-cache-dtype", "bfloat16", "--enable-mixed-chunk"};
    struct server_args a;
    struct sgl_err e;
    int rc = parse(&a, &e, (int)(sizeof argv / sizeof argv[0]), argv);
    CHECK_EQ_INT(rc, 0);
    if (rc) printf("  %s\n", e.msg);
    CHECK_STR(a.model_path, "/m");
    CHECK_STR(a.tokenizer_path, "/t");
    CHECK_STR(a.host, "0.0.0.0");
    CHECK_EQ_INT(a.port, 8080);
    CHECK_STR(a.api_key, "sk-1");
    CHECK_STR(a.served_model_name, "tiny");
    CHECK_EQ_INT(a.context_length, 256);
    CHECK_EQ_INT(a.max_total_tokens, 4096);
    CHECK_NEAR(a.mem_fraction_static, 0.5, 0);
    CHECK_EQ_INT(a.max_running_requests, 8);
    CHECK_EQ_INT(a.max_prefill_tokens, 1024);
    CHECK_EQ_INT(a.chunked_prefill_size, -1);
    CHECK_EQ_INT(a.page_size, 16);
    CHECK(a.schedule_policy == SCHEDULE_POLICY_LPM);
    CHECK(a.disable_radix_cache && a.log_requests && a.enable_metrics && a.enable_cache_report);
    CHECK_EQ_INT(a.random_seed, 7);
    CHECK_EQ_INT(a.stream_interval, 2);
    CHECK_STR(a.chat_template, "/c.jinja");
    CHECK_EQ_INT(a.log_level, LOG_LEVEL_WARN);
    CHECK_EQ_INT(a.threads, 2);
    CHECK_STR(a.dtype, "float32");
    CHECK_STR(a.quantization, "int8");
    CHECK_STR(a.kv_cache_dtype, "bfloat16");
    CHECK(a.enable_mixed_chunk);

    cJSON *o = cJSON_CreateObject();
    CHECK_EQ_INT(server_args_to_json(&a, o), 0);
    CHECK_STR(json_get_string(o, "model_path"), "/m");
    CHECK_STR(json_get_string(o, "schedule_policy"), "lpm");
    CHECK_STR(json_get_string(o, "quantization"), "int8");
    CHECK(cJSON_IsTrue(json_get(o, "enable_mixed_chunk")));
    CHECK(cJSON_IsTrue(json_get(o, "api_key"))); /* never the key itself */
    int64_t port = 0;
    CHECK(json_get_int(o, "port", &port) && port == 8080);
    cJSON_Delete(o);
}

static void expect_fail(const char *needle, int argc, char **argv) {
    struct server_args a;
    struct sgl_err e;
    int rc = parse(&a, &e, argc, argv);
    CHECK(rc < 0);
    if (!strstr(e.msg, needle)) {
        printf("  \"%s\" lacks \"%s\"\n", e.msg, needle);
        test_cur_failed = 1;
    }
    CHECK(strchr(e.msg, '\n') == NULL);
}

#define FAIL_WITH(needle, ...)                                             \
    do {                                                                   \
        char *argv_[] = {"serve", __VA_ARGS__};                            \
        expect_fail(needle, (int)(sizeof argv_ / sizeof argv_[0]), argv_); \
    } while (0)

TEST(errors) {
    FAIL_WITH("unrecognized argument '--bogus'", "--bogus");
    FAIL_WITH("unrecognized argument '--bogus'", "--bogus=1");
    FAIL_WITH("unrecognized argument 'positional'", "positional");
    FAIL_WITH("--port needs a value", "--port");
    FAIL_WITH("--port must be an integer in [0, 65535]", "--port", "70000");
    FAIL_WITH("--port must be an integer", "--port", "12abc");
    FAIL_WITH("--page-size must be an integer in [1, 4096]", "--page-size", "0");
    FAIL_WITH("--schedule-policy must be fcfs or lpm", "--schedule-policy", "random");
    FAIL_WITH("--log-level must be", "--log-level", "loud");
    FAIL_WITH("--mem-fraction-static must be a number", "--mem-fraction-static", "1.5");
    FAIL_WITH("--mem-fraction-static must be a number", "--mem-fraction-static", "nan");
    FAIL_WITH("--random-seed must be a non-negative integer", "--random-seed", "-1");
    FAIL_WITH("--enable-metrics takes no value", "--enable-metrics=1");
    FAIL_WITH("--model-path must not be empty", "--model-path", "");
}

TEST(help) {
    char *argv[] = {"serve", "--port", "1", "--help"};
    struct server_args a;
    struct sgl_err e;
    CHECK_EQ_INT(parse(&a, &e, 4, argv), 1);
}

int main(void) {
    RUN(defaults);
    RUN(all_flags);
    RUN(errors);
    RUN(help);
    return test_summary();
}
