/* Unit tests for server/jsonw (the hot-path JSON writer) and
 * server/openai_format (response pieces and SSE framing). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "model_loader/gguf.h"
#include "server/jsonw.h"
#include "server/openai_format.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

static const char *str_of(struct jsonw *w, const char *s, size_t n) {
    jsonw_reset(w);
    jsonw_str(w, s, n);
    return jsonw_cstr(w);
}

TEST(escape) {
    struct jsonw w;
    jsonw_init(&w);
    CHECK_STR(str_of(&w, "plain text", 10), "\"plain text\"");
    CHECK_STR(str_of(&w, "q\"b\\n\n\r\t\b\f", 10), "\"q\\\"b\\\\n\\n\\r\\t\\b\\f\"");
    CHECK_STR(str_of(&w, "\x01\x1f\x7f", 3), "\"\\u0001\\u001f\x7f\"");
    CHECK_STR(str_of(&w, "a\0b", 3), "\"a\\u0000b\"");
    CHECK_STR(str_of(&w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* invalid: lone continuation, truncated 2-byte, overlong, surrogate, > U+10FFFF, 0xFF */
    CHECK_STR(str_of(&w, "\x80", 1), "\"\xef\xbf\xbd\"");
    CHECK_STR(str_of(&w, "a\xc3", 2), "\"a\xef\xbf\xbd\"");
    CHECK_STR(str_of(&w, "\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_STR(str_of(&w, "\xe0\x80\xaf", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_STR(str_of(&w, "\xed\xa0\x80", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_STR(str_of(&w, "\xf4\x90\x80\x80", 4), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_STR(str_of(&w, "\xff", 1), "\"\xef\xbf\xbd\"");
    jsonw_reset(&w);
    jsonw_str(&w, NULL, 0);
    CHECK_STR(jsonw_cstr(&w), "null");
    /* random bytes always give a JSON string cJSON accepts */
    unsigned long long seed = 42;
    for (int it = 0; it < 200; it++) {
        char in[64];
        for (int i = 0; i < 64; i++) in[i] = (char)(unsigned char)((test_randf(&seed) + 1.0f) * 127.99f);
        jsonw_reset(&w);
        jsonw_str(&w, in, sizeof in);
        cJSON *v = cJSON_Parse(jsonw_cstr(&w));
        CHECK(cJSON_IsString(v));
        cJSON_Delete(v);
    }
    jsonw_free(&w);
}

TEST(numbers) {
    struct jsonw w;
    jsonw_init(&w);
    jsonw_int(&w, 0);
    jsonw_raw(&w, ",", 1);
    jsonw_int(&w, -42);
    jsonw_raw(&w, ",", 1);
    jsonw_int(&w, INT64_MIN);
    jsonw_raw(&w, ",", 1);
    jsonw_int(&w, INT64_MAX);
    CHECK_STR(jsonw_cstr(&w), "0,-42,-9223372036854775808,9223372036854775807");
    jsonw_reset(&w);
    jsonw_num(&w, 0.1);
    jsonw_raw(&w, ",", 1);
    jsonw_num(&w, 3);
    jsonw_raw(&w, ",", 1);
    jsonw_num(&w, NAN);
    jsonw_raw(&w, ",", 1);
    jsonw_num(&w, INFINITY);
    CHECK_STR(jsonw_cstr(&w), "0.1,3,null,null");
    jsonw_reset(&w);
    jsonw_logprob(&w, -INFINITY);
    jsonw_raw(&w, ",", 1);
    jsonw_logprob(&w, NAN);
    jsonw_raw(&w, ",", 1);
    jsonw_logprob(&w, -0.5f);
    CHECK_STR(jsonw_cstr(&w), "-9999.0,-9999.0,-0.5");
    jsonw_reset(&w);
    float f = -1.2345678e-5f;
    jsonw_logprob(&w, f);
    CHECK(strtof(jsonw_cstr(&w), NULL) == f);
    jsonw_reset(&w);
    jsonw_bytes_array(&w, "h\xc3\xa9", 3);
    CHECK_STR(jsonw_cstr(&w), "[104,195,169]");
    jsonw_reset(&w);
    jsonw_printf(&w, "%s-%d:", "x", 7);
    jsonw_bool(&w, true);
    CHECK_STR(jsonw_cstr(&w), "x-7:true");
    CHECK_EQ_INT(w.len, 8);
    char longs[700];
    memset(longs, 'z', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    jsonw_printf(&w, "<%s>", longs); /* longer than the stack buffer of jsonw_printf */
    CHECK_EQ_INT(w.len, 8 + 701);
    CHECK(w.buf[8] == '<' && w.buf[8 + 700] == '>' && w.buf[w.len] == 0);
    jsonw_free(&w);
}

TEST(growth) {
    struct jsonw w;
    jsonw_init(&w);
    for (int i = 0; i < 100000; i++) jsonw_lit(&w, "abc");
    CHECK_EQ_INT(w.len, 300000);
    CHECK(!w.oom);
    CHECK(w.buf[299999] == 'c' && w.buf[300000] == 0);
    jsonw_free(&w);
}

TEST(sse_and_pieces) {
    struct jsonw w;
    jsonw_init(&w);
    openai_format_sse_begin(&w);
    jsonw_lit(&w, "{}");
    openai_format_sse_end(&w);
    openai_format_sse_done(&w);
    CHECK_STR(jsonw_cstr(&w), "data: {}\n\ndata: [DONE]\n\n");

    jsonw_reset(&w);
    jsonw_raw(&w, "{", 1);
    openai_format_usage(&w, 10, 5, 3, true);
    jsonw_raw(&w, "}", 1);
    CHECK_STR(jsonw_cstr(&w), "{\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15,"
                              "\"prompt_tokens_details\":{\"cached_tokens\":3}}}");
    jsonw_reset(&w);
    openai_format_usage(&w, 1, 2, 3, false);
    CHECK(strstr(jsonw_cstr(&w), "\"prompt_tokens_details\":null") != NULL);

    jsonw_reset(&w);
    openai_format_finish(&w, "stop", 2, NULL);
    CHECK_STR(jsonw_cstr(&w), "\"finish_reason\":\"stop\",\"matched_stop\":2");
    jsonw_reset(&w);
    openai_format_finish(&w, "stop", -1, "\n\n");
    CHECK_STR(jsonw_cstr(&w), "\"finish_reason\":\"stop\",\"matched_stop\":\"\\n\\n\"");
    jsonw_reset(&w);
    openai_format_finish(&w, "length", -1, NULL);
    CHECK_STR(jsonw_cstr(&w), "\"finish_reason\":\"length\",\"matched_stop\":null");
    jsonw_reset(&w);
    openai_format_finish(&w, NULL, 5, NULL);
    CHECK_STR(jsonw_cstr(&w), "\"finish_reason\":null,\"matched_stop\":null");

    jsonw_reset(&w);
    openai_format_native_finish(&w, "length", -1, NULL, 16, NULL);
    CHECK_STR(jsonw_cstr(&w), "{\"type\":\"length\",\"length\":16}");
    jsonw_reset(&w);
    openai_format_native_finish(&w, "stop", 2, NULL, 3, NULL);
    CHECK_STR(jsonw_cstr(&w), "{\"type\":\"stop\",\"matched\":2}");
    jsonw_reset(&w);
    openai_format_native_finish(&w, "abort", -1, NULL, 3, "gone");
    CHECK_STR(jsonw_cstr(&w), "{\"type\":\"abort\",\"message\":\"gone\"}");
    jsonw_reset(&w);
    openai_format_native_finish(&w, NULL, -1, NULL, 3, NULL);
    CHECK_STR(jsonw_cstr(&w), "null");

    int32_t ids[2] = {7, 9};
    float lps[2] = {-0.25f, -INFINITY};
    int32_t top_ids[4] = {7, 3, 9, -1};
    float top_lps[4] = {-0.25f, -2.0f, -1.0f, -INFINITY};
    struct openai_logprobs_view v = {.ids = ids, .lps = lps, .top_ids = top_ids, .top_lps = top_lps, .n = 2, .top_n = 2};
    jsonw_reset(&w);
    openai_format_native_token_logprobs(&w, &v);
    CHECK_STR(jsonw_cstr(&w), "[[-0.25,7,null],[-9999.0,9,null]]");
    jsonw_reset(&w);
    openai_format_native_top_logprobs(&w, &v);
    CHECK_STR(jsonw_cstr(&w), "[[[-0.25,7,null],[-2,3,null]],[[-1,9,null]]]");
    jsonw_free(&w);
}

static struct tokenizer *load_stories_tokenizer(struct gguf **g) {
    struct sgl_err err;
    if (gguf_open(SGLC_TEST_DATA_DIR "/models/stories260K/stories260K.gguf", g, &err)) {
        printf("  %s\n", err.msg);
        return NULL;
    }
    struct tokenizer *tok = NULL;
    if (tokenizer_load_gguf(*g, &tok, &err)) {
        printf("  %s\n", err.msg);
        gguf_close(*g);
        return NULL;
    }
    return tok;
}

TEST(logprobs_with_tokenizer) {
    struct gguf *g = NULL;
    struct tokenizer *tok = load_stories_tokenizer(&g);
    CHECK(tok != NULL);
    if (!tok) return;
    int32_t *enc = NULL;
    size_t n_enc = 0;
    CHECK_EQ_INT(tokenizer_encode(tok, "Once upon a time", 16, false, &enc, &n_enc, NULL), 0);
    CHECK(n_enc >= 2);
    if (n_enc < 2) {
        free(enc);
        tokenizer_destroy(tok);
        gguf_close(g);
        return;
    }
    float lps[2] = {-0.5f, -1.5f};
    int32_t top_ids[2] = {enc[0], enc[1]};
    float top_lps[2] = {-0.5f, -1.5f};
    struct openai_logprobs_view v = {.ids = enc, .lps = lps, .top_ids = top_ids, .top_lps = top_lps, .n = 2, .top_n = 1};
    size_t l0, l1;
    char *t0 = openai_format_token_text(tok, enc[0], &l0), *t1 = openai_format_token_text(tok, enc[1], &l1);

    struct jsonw w;
    jsonw_init(&w);
    openai_format_chat_logprobs(&w, tok, &v);
    cJSON *o = cJSON_Parse(jsonw_cstr(&w));
    const cJSON *content = json_get(o, "content");
    CHECK_EQ_INT(cJSON_GetArraySize(content), 2);
    const cJSON *e1 = cJSON_GetArrayItem(content, 1);
    CHECK_STR(json_get_string(e1, "token"), t1);
    CHECK_EQ_INT(cJSON_GetArraySize(json_get(e1, "bytes")), l1);
    double lp = 0;
    CHECK(json_get_double(e1, "logprob", &lp) && lp == -1.5);
    const cJSON *top = json_get(e1, "top_logprobs");
    CHECK_EQ_INT(cJSON_GetArraySize(top), 1);
    CHECK_STR(json_get_string(cJSON_GetArrayItem(top, 0), "token"), t1);
    cJSON_Delete(o);

    jsonw_reset(&w);
    int64_t off = 100;
    openai_format_completion_logprobs(&w, tok, &v, &off);
    o = cJSON_Parse(jsonw_cstr(&w));
    CHECK(o != NULL);
    CHECK_STR(cJSON_GetArrayItem(json_get(o, "tokens"), 0)->valuestring, t0);
    CHECK_EQ_INT(cJSON_GetArrayItem(json_get(o, "text_offset"), 0)->valuedouble, 100);
    CHECK_EQ_INT(cJSON_GetArrayItem(json_get(o, "text_offset"), 1)->valuedouble, 100 + (double)l0);
    CHECK_EQ_INT(off, 100 + (int64_t)(l0 + l1));
    CHECK_NEAR(cJSON_GetArrayItem(json_get(o, "token_logprobs"), 1)->valuedouble, -1.5, 0);
    const cJSON *tl0 = cJSON_GetArrayItem(json_get(o, "top_logprobs"), 0);
    CHECK(cJSON_IsObject(tl0) && json_get(tl0, t0) != NULL);
    cJSON_Delete(o);

    v.top_n = 0;
    jsonw_reset(&w);
    off = 0;
    openai_format_completion_logprobs(&w, tok, &v, &off);
    CHECK(strstr(jsonw_cstr(&w), "\"top_logprobs\":null") != NULL);
    jsonw_free(&w);
    free(t0);
    free(t1);
    free(enc);
    tokenizer_destroy(tok);
    gguf_close(g);
}

int main(void) {
    RUN(escape);
    RUN(numbers);
    RUN(growth);
    RUN(sse_and_pieces);
    RUN(logprobs_with_tokenizer);
    return test_summary();
}
