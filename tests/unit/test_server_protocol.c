/* Unit tests for server/protocol: OpenAI and native request bodies, good and
 * bad, parsed directly (no network). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "server/protocol.h"
#include "test.h"

static struct protocol_limits g_lim;

static int parse(enum protocol_kind k, const char *body, struct protocol_request *r, struct protocol_error *e) {
    memset(e, 0, sizeof *e);
    return protocol_parse(k, body, strlen(body), &g_lim, r, e);
}

/* Expects a 400-class failure whose message contains `needle`. */
static void expect_error(enum protocol_kind k, const char *body, int status, const char *needle) {
    struct protocol_request r;
    struct protocol_error e;
    int rc = parse(k, body, &r, &e);
    CHECK(rc != 0);
    CHECK_EQ_INT(e.status, status);
    if (!strstr(e.message, needle)) {
        printf("  body %.80s: message \"%s\" lacks \"%s\"\n", body, e.message, needle);
        test_cur_failed = 1;
    }
    CHECK(r.prompts == NULL && r.params == NULL && r.model == NULL && r.messages == NULL);
}

TEST(completions_basic) {
    struct protocol_request r;
    struct protocol_error e;
    int rc = parse(PROTOCOL_COMPLETIONS,
                   "{\"model\":\"m\",\"prompt\":\"Once upon\",\"max_tokens\":5,\"temperature\":0,\"top_p\":0.5,"
                   "\"top_k\":7,\"min_p\":0.1,\"n\":3,\"stop\":[\"a\",\"\",\"bc\"],\"seed\":-5,\"echo\":true,"
                   "\"logprobs\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                   "\"logit_bias\":{\"10\":-100,\"3\":5.5},\"stop_token_ids\":[1,2],\"ignore_eos\":true,"
                   "\"min_tokens\":2,\"presence_penalty\":1,\"frequency_penalty\":-1,\"repetition_penalty\":1.2,"
                   "\"user\":\"ignored\",\"unknown_field\":{\"x\":1}}",
                   &r, &e);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        printf("  %s\n", e.message);
        return;
    }
    CHECK_STR(r.model, "m");
    CHECK_EQ_INT(r.n_prompts, 1);
    CHECK_STR(r.prompts[0].text, "Once upon");
    CHECK_EQ_INT(r.prompts[0].text_len, 9);
    CHECK(!r.batch);
    CHECK(r.echo && r.stream && r.include_usage && r.logprobs);
    CHECK_EQ_INT(r.top_logprobs, 2);
    CHECK_EQ_INT(r.n_params, 1);
    const struct protocol_gen_params *p = &r.params[0];
    CHECK_EQ_INT(p->max_new_tokens, 5);
    CHECK_EQ_INT(p->min_new_tokens, 2);
    CHECK_NEAR(p->sp.temperature, 0, 0);
    CHECK(p->temperature_set && p->top_p_set && p->top_k_set && p->min_p_set && p->repetition_penalty_set);
    CHECK_NEAR(p->sp.top_p, 0.5, 1e-7);
    CHECK_EQ_INT(p->sp.top_k, 7);
    CHECK_NEAR(p->sp.min_p, 0.1, 1e-7);
    CHECK_NEAR(p->sp.presence_penalty, 1, 0);
    CHECK_NEAR(p->sp.frequency_penalty, -1, 0);
    CHECK_NEAR(p->sp.repetition_penalty, 1.2, 1e-6);
    CHECK_EQ_INT(p->n, 3);
    CHECK_EQ_INT(p->n_stop, 2); /* the empty string is dropped */
    CHECK_STR(p->stop[0], "a");
    CHECK_STR(p->stop[1], "bc");
    CHECK(p->sp.has_seed);
    CHECK_EQ_INT((int64_t)p->sp.seed, -5);
    CHECK_EQ_INT(p->n_logit_bias, 2);
    CHECK(p->sp.logit_bias == p->logit_bias && p->sp.n_logit_bias == 2);
    CHECK_EQ_INT(p->logit_bias[0].token, 10);
    CHECK_NEAR(p->logit_bias[0].bias, -100, 0);
    CHECK_EQ_INT(p->logit_bias[1].token, 3);
    CHECK_NEAR(p->logit_bias[1].bias, 5.5, 0);
    CHECK_EQ_INT(p->n_stop_token_ids, 2);
    CHECK_EQ_INT(p->stop_token_ids[1], 2);
    CHECK(p->ignore_eos && p->skip_special_tokens && !p->no_stop_trim);
    protocol_request_free(&r);
    CHECK(r.model == NULL && r.prompts == NULL);
}

TEST(completions_defaults_and_nulls) {
    struct protocol_request r;
    struct protocol_error e;
    CHECK_EQ_INT(parse(PROTOCOL_COMPLETIONS,
                       "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":null,\"temperature\":null,\"stop\":null,"
                       "\"logprobs\":null,\"seed\":null}",
                       &r, &e),
                 0);
    CHECK_EQ_INT(r.params[0].max_new_tokens, -1);
    CHECK(!r.params[0].temperature_set);
    CHECK_NEAR(r.params[0].sp.temperature, 1.0, 0);
    CHECK(!r.params[0].sp.has_seed);
    CHECK(!r.logprobs && !r.stream && !r.echo);
    CHECK_EQ_INT(r.params[0].n, 1);
    CHECK_EQ_INT(r.params[0].sp.top_k, -1);
    protocol_request_free(&r);
}

TEST(completions_prompt_forms) {
    struct protocol_request r;
    struct protocol_error e;
    CHECK_EQ_INT(parse(PROTOCOL_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\",\"c\"]}", &r, &e), 0);
    CHECK_EQ_INT(r.n_prompts, 3);
    CHECK(r.batch);
    CHECK_STR(r.prompts[2].text, "c");
    protocol_request_free(&r);

    CHECK_EQ_INT(parse(PROTOCOL_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[1,2,3]}", &r, &e), 0);
    CHECK_EQ_INT(r.n_prompts, 1);
    CHECK(!r.batch);
    CHECK(r.prompts[0].text == NULL);
    CHECK_EQ_INT(r.prompts[0].n_ids, 3);
    CHECK_EQ_INT(r.prompts[0].ids[2], 3);
    protocol_request_free(&r);

    CHECK_EQ_INT(parse(PROTOCOL_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[[1],[4,5]]}", &r, &e), 0);
    CHECK_EQ_INT(r.n_prompts, 2);
    CHECK_EQ_INT(r.prompts[1].n_ids, 2);
    CHECK_EQ_INT(r.prompts[1].ids[0], 4);
    protocol_request_free(&r);
}

TEST(chat_messages) {
    struct protocol_request r;
    struct protocol_error e;
    int rc = parse(PROTOCOL_CHAT,
                   "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"be nice\"},"
                   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":\"text\",\"text\":\"there\"}]},"
                   "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                   "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}}]},"
                   "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
                   "\"max_completion_tokens\":9,\"max_tokens\":3,\"logprobs\":true,\"top_logprobs\":4,"
                   "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"auto\","
                   "\"chat_template_kwargs\":{\"enable_thinking\":false}}",
                   &r, &e);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        printf("  %s\n", e.message);
        return;
    }
    CHECK_EQ_INT(cJSON_GetArraySize(r.messages), 4);
    const cJSON *m0 = cJSON_GetArrayItem(r.messages, 0), *m1 = cJSON_GetArrayItem(r.messages, 1);
    const cJSON *m2 = cJSON_GetArrayItem(r.messages, 2), *m3 = cJSON_GetArrayItem(r.messages, 3);
    CHECK_STR(json_get_string(m0, "role"), "system");
    CHECK_STR(json_get_string(m1, "content"), "hi\nthere");
    CHECK_STR(json_get_string(m2, "content"), "");
    const cJSON *tc = cJSON_GetArrayItem(json_get(m2, "tool_calls"), 0);
    const cJSON *args = json_get(json_get(tc, "function"), "arguments");
    CHECK(cJSON_IsObject(args));
    int64_t x = 0;
    CHECK(json_get_int(args, "x", &x) && x == 1);
    CHECK_STR(json_get_string(m3, "tool_call_id"), "c1");
    CHECK_EQ_INT(r.params[0].max_new_tokens, 9); /* max_completion_tokens wins */
    CHECK(r.logprobs);
    CHECK_EQ_INT(r.top_logprobs, 4);
    CHECK(cJSON_IsArray(r.tools));
    CHECK(cJSON_IsFalse(json_get(r.chat_template_kwargs, "enable_thinking")));
    CHECK(r.add_generation_prompt);
    protocol_request_free(&r);
}

TEST(native_generate) {
    struct protocol_request r;
    struct protocol_error e;
    int rc = parse(PROTOCOL_GENERATE,
                   "{\"text\":[\"a\",\"b\"],\"sampling_params\":[{\"max_new_tokens\":4,\"temperature\":0},"
                   "{\"max_new_tokens\":0,\"n\":1,\"sampling_seed\":7,\"stop\":\"x\"}],\"stream\":true,"
                   "\"return_logprob\":true,\"top_logprobs_num\":3,\"rid\":[\"r1\",\"r2\"]}",
                   &r, &e);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        printf("  %s\n", e.message);
        return;
    }
    CHECK(r.batch && r.stream && r.logprobs);
    CHECK_EQ_INT(r.n_prompts, 2);
    CHECK_EQ_INT(r.n_params, 2);
    CHECK_EQ_INT(r.params[0].max_new_tokens, 4);
    CHECK_EQ_INT(r.params[1].max_new_tokens, 0);
    CHECK(r.params[1].sp.has_seed && r.params[1].sp.seed == 7);
    CHECK_EQ_INT(r.params[1].n_stop, 1);
    CHECK_EQ_INT(r.top_logprobs, 3);
    CHECK_EQ_INT(r.n_rids, 2);
    CHECK_STR(r.rids[1], "r2");
    CHECK(r.model == NULL);
    protocol_request_free(&r);

    CHECK_EQ_INT(parse(PROTOCOL_GENERATE, "{\"input_ids\":[5,6],\"sampling_params\":{\"max_new_tokens\":2}}", &r, &e), 0);
    CHECK(!r.batch);
    CHECK_EQ_INT(r.prompts[0].n_ids, 2);
    CHECK_EQ_INT(r.params[0].max_new_tokens, 2);
    protocol_request_free(&r);

    CHECK_EQ_INT(parse(PROTOCOL_GENERATE, "{\"text\":\"\"}", &r, &e), 0); /* native allows "" (BOS only) */
    CHECK_EQ_INT(r.prompts[0].text_len, 0);
    protocol_request_free(&r);
}

TEST(bad_json) {
    expect_error(PROTOCOL_COMPLETIONS, "", 400, "Invalid JSON");
    expect_error(PROTOCOL_COMPLETIONS, "{\"model\":", 400, "Invalid JSON");
    expect_error(PROTOCOL_COMPLETIONS, "{\"model\":\"m\"} trailing", 400, "Invalid JSON");
    expect_error(PROTOCOL_COMPLETIONS, "[1,2]", 400, "must be a JSON object");
    expect_error(PROTOCOL_COMPLETIONS, "\"str\"", 400, "must be a JSON object");
    expect_error(PROTOCOL_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"\xff\xfe\",\"max_tokens\":\"5\"}", 400,
                 "'max_tokens' must be an integer");
    /* deep nesting: cJSON's nesting limit turns it into a parse error, not a crash */
    size_t depth = 200000;
    char *deep = malloc(depth * 2 + 64);
    size_t n = (size_t)sprintf(deep, "{\"model\":\"m\",\"prompt\":");
    for (size_t i = 0; i < depth; i++) deep[n++] = '[';
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = 0;
    expect_error(PROTOCOL_COMPLETIONS, deep, 400, "Invalid JSON");
    free(deep);
}

TEST(bad_fields) {
    const enum protocol_kind C = PROTOCOL_COMPLETIONS, H = PROTOCOL_CHAT, G = PROTOCOL_GENERATE;
    expect_error(C, "{\"prompt\":\"x\"}", 400, "'model' is required");
    expect_error(C, "{\"model\":5,\"prompt\":\"x\"}", 400, "'model' must be a string");
    expect_error(C, "{\"model\":\"m\"}", 400, "'prompt' is required");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"\"}", 400, "The prompt is empty.");
    expect_error(C, "{\"model\":\"m\",\"prompt\":[]}", 400, "The prompt is empty.");
    expect_error(C, "{\"model\":\"m\",\"prompt\":[\"a\",\"\"]}", 400, "The prompt is empty.");
    expect_error(C, "{\"model\":\"m\",\"prompt\":[\"a\",1]}", 400, "must be a string");
    expect_error(C, "{\"model\":\"m\",\"prompt\":[1,\"a\"]}", 400, "token ids");
    expect_error(C, "{\"model\":\"m\",\"prompt\":[1,512]}", 400, "out of range [0, 512)");
    expect_error(C, "{\"model\":\"m\",\"prompt\":[-1]}", 400, "out of range");
    expect_error(C, "{\"model\":\"m\",\"prompt\":[1.5]}", 400, "token ids");
    expect_error(C, "{\"model\":\"m\",\"prompt\":{}}", 400, "must be a string");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":\"hot\"}", 400, "'temperature' must be a number");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":-1}", 400, "temperature must be non-negative");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":0}", 400, "top_p must be in (0, 1]");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":1.5}", 400, "top_p must be in (0, 1]");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"top_k\":0}", 400, "top_k must be -1");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"top_k\":-2}", 400, "top_k must be -1");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"min_p\":2}", 400, "min_p must be in [0, 1]");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"presence_penalty\":3}", 400, "presence_penalty must be in");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"frequency_penalty\":-2.5}", 400, "frequency_penalty must be in");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"repetition_penalty\":0}", 400, "repetition_penalty must be in");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":0}", 400, "max_tokens must be positive");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":-3}", 400, "max_tokens must be positive");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":2.5}", 400, "must be an integer");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":true}", 400, "must be an integer");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"n\":0}", 400, "'n' must be in [1, 128]");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"n\":1e300}", 400, "'n' must be in [1, 128]");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"min_tokens\":5,\"max_tokens\":2}", 400, "min_tokens must be in");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":21}", 400, "'logprobs' must be in [0, 20]");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":5}", 400, "'stop' must be a string");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",5]}", 400, "'stop' must be a string");
    expect_error(C,
                 "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
                 "\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
                 400, "at most 16");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"stop_token_ids\":[99999]}", 400, "out of range");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"logit_bias\":{\"abc\":1}}", 400, "logit_bias key");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"logit_bias\":{\"600\":1}}", 400, "logit_bias key");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"logit_bias\":{\"6\":101}}", 400, "[-100, 100]");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"logit_bias\":[1]}", 400, "'logit_bias' must be an object");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"seed\":\"1\"}", 400, "'seed' must be an integer");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":\"yes\"}", 400, "'stream' must be a boolean");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}", 400,
                 "only allowed when 'stream' is true");
    expect_error(C, "{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"s\"}", 400, "'suffix' is not supported");
    expect_error(H, "{\"model\":\"m\"}", 400, "'messages' is required");
    expect_error(H, "{\"model\":\"m\",\"messages\":[]}", 400, "must not be empty");
    expect_error(H, "{\"model\":\"m\",\"messages\":\"hi\"}", 400, "must be a list");
    expect_error(H, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", 400, "string 'role'");
    expect_error(H, "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400, "unknown message role");
    expect_error(H, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "content must be");
    expect_error(H,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                 "\"image_url\":{\"url\":\"x\"}}]}]}",
                 400, "unsupported content part type 'image_url'");
    expect_error(H, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", 400,
                 "requires 'logprobs'");
    expect_error(H, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}",
                 400, "tool_choice");
    expect_error(H,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"response_format\":{\"type\":\"json_object\"}}",
                 400, "response_format");
    expect_error(H, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":1}",
                 400, "must be an object");
    expect_error(G, "{}", 400, "Either 'text' or 'input_ids'");
    expect_error(G, "{\"text\":\"a\",\"input_ids\":[1]}", 400, "not both");
    expect_error(G, "{\"text\":5}", 400, "'text' must be a string");
    expect_error(G, "{\"text\":[1,2]}", 400, "'text' must be a string");
    expect_error(G, "{\"input_ids\":\"abc\"}", 400, "'input_ids' must be a list");
    expect_error(G, "{\"text\":[\"a\",\"b\"],\"sampling_params\":[{}]}", 400, "has 1 entries for 2 prompts");
    expect_error(G, "{\"text\":\"a\",\"sampling_params\":5}", 400, "'sampling_params' must be");
    expect_error(G, "{\"text\":\"a\",\"sampling_params\":{\"max_new_tokens\":-1}}", 400, "'max_new_tokens' must be in");
    expect_error(G, "{\"text\":\"a\",\"rid\":\"has space\"}", 400, "printable");
    expect_error(G, "{\"text\":[\"a\",\"b\"],\"rid\":[\"x\"]}", 400, "'rid' has 1 entries");
    expect_error(G, "{\"text\":\"a\",\"top_logprobs_num\":50}", 400, "'top_logprobs_num' must be in [0, 20]");
}

TEST(error_json) {
    struct protocol_error e;
    protocol_fail(&e, 404, "model", "The model `%s` does not exist.", "x\"y");
    struct jsonw w;
    jsonw_init(&w);
    protocol_error_json(&e, &w);
    CHECK_STR(jsonw_cstr(&w), "{\"object\":\"error\",\"message\":\"The model `x\\\"y` does not exist.\","
                              "\"type\":\"NotFoundError\",\"param\":\"model\",\"code\":404,\"error\":{"
                              "\"message\":\"The model `x\\\"y` does not exist.\","
                              "\"type\":\"NotFoundError\",\"param\":\"model\",\"code\":404}}");
    jsonw_reset(&w);
    protocol_fail(&e, 400, NULL, "bad");
    protocol_error_json(&e, &w);
    CHECK_STR(jsonw_cstr(&w), "{\"object\":\"error\",\"message\":\"bad\",\"type\":\"BadRequestError\",\"param\":null,"
                              "\"code\":400,\"error\":{\"message\":\"bad\",\"type\":\"BadRequestError\","
                              "\"param\":null,\"code\":400}}");
    jsonw_reset(&w);
    protocol_error_json_inner(&e, &w);
    CHECK_STR(jsonw_cstr(&w), "{\"message\":\"bad\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}");
    jsonw_free(&w);
    CHECK_STR(protocol_error_type(401), "AuthenticationError");
    CHECK_STR(protocol_error_type(413), "RequestTooLargeError");
    CHECK_STR(protocol_error_type(500), "InternalServerError");
}

TEST(tokenize_bodies) {
    struct protocol_request r;
    struct protocol_error e;
    const char *b = "{\"prompt\":\"hello\",\"add_special_tokens\":false}";
    CHECK_EQ_INT(protocol_parse_tokenize(b, strlen(b), &r, &e), 0);
    CHECK_STR(r.prompts[0].text, "hello");
    CHECK(!r.add_special_tokens);
    protocol_request_free(&r);
    b = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"add_generation_prompt\":false}";
    CHECK_EQ_INT(protocol_parse_tokenize(b, strlen(b), &r, &e), 0);
    CHECK(r.messages && !r.add_generation_prompt);
    protocol_request_free(&r);
    /* the template inputs reach /tokenize too (enable_thinking changes the rendered prompt) */
    b = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"chat_template_kwargs\":{\"enable_thinking\":false},"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}";
    CHECK_EQ_INT(protocol_parse_tokenize(b, strlen(b), &r, &e), 0);
    CHECK(r.chat_template_kwargs && cJSON_IsFalse(cJSON_GetObjectItem(r.chat_template_kwargs, "enable_thinking")));
    CHECK(r.tools && cJSON_GetArraySize(r.tools) == 1);
    protocol_request_free(&r);
    b = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"chat_template_kwargs\":[1]}";
    CHECK(protocol_parse_tokenize(b, strlen(b), &r, &e) != 0 && e.status == 400);
    b = "{\"prompt\":1}";
    CHECK(protocol_parse_tokenize(b, strlen(b), &r, &e) != 0 && e.status == 400);
    b = "{\"tokens\":[1,2,3]}";
    CHECK_EQ_INT(protocol_parse_detokenize(b, strlen(b), &g_lim, &r, &e), 0);
    CHECK_EQ_INT(r.prompts[0].n_ids, 3);
    protocol_request_free(&r);
    b = "{\"tokens\":[1,100000]}";
    CHECK(protocol_parse_detokenize(b, strlen(b), &g_lim, &r, &e) != 0 && strstr(e.message, "out of range"));
    b = "{\"tokens\":\"1 2\"}";
    CHECK(protocol_parse_detokenize(b, strlen(b), &g_lim, &r, &e) != 0 && e.status == 400);
}

int main(void) {
    protocol_limits_init(&g_lim, 512);
    RUN(completions_basic);
    RUN(completions_defaults_and_nulls);
    RUN(completions_prompt_forms);
    RUN(chat_messages);
    RUN(native_generate);
    RUN(bad_json);
    RUN(bad_fields);
    RUN(error_json);
    RUN(tokenize_bodies);
    return test_summary();
}
