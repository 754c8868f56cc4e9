/* test_model_config: HF config.json / generation_config.json parsing for the
 * supported families (real config shapes of Qwen3-0.6B, Llama-3.1-8B-Instruct,
 * Qwen2.5-0.5B, a yarn Qwen), each error path's one-line message, the model
 * directory loader, and GGUF metadata -> config (stories260K + synthetic). */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_build.h"
#include "model_loader/gguf.h"
#include "model_loader/model_config.h"
#include "test.h"

#define STORIES SGLC_TEST_DATA_DIR "/models/stories260K/stories260K.gguf"

static const char *k_qwen3_06b =
    "{\"architectures\": [\"Qwen3ForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 151643, \"eos_token_id\": 151645, \"head_dim\": 128, \"hidden_act\": \"silu\","
    " \"hidden_size\": 1024, \"initializer_range\": 0.02, \"intermediate_size\": 3072,"
    " \"max_position_embeddings\": 40960, \"max_window_layers\": 28, \"model_type\": \"qwen3\","
    " \"num_attention_heads\": 16, \"num_hidden_layers\": 28, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-06,"
    " \"rope_scaling\": null, \"rope_theta\": 1000000, \"sliding_window\": null, \"tie_word_embeddings\": true,"
    " \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.51.0\", \"use_cache\": true,"
    " \"use_sliding_window\": false, \"vocab_size\": 151936}";
static const char *k_qwen3_gen = "{\"bos_token_id\": 151643, \"do_sample\": true, \"eos_token_id\": [151645, 151643],"
                                 " \"pad_token_id\": 151643, \"temperature\": 0.6, \"top_k\": 20, \"top_p\": 0.95,"
                                 " \"transformers_version\": \"4.51.0\"}";

static const char *k_llama31 =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009], \"hidden_act\": \"silu\","
    " \"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 14336,"
    " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\","
    " \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"pretraining_tp\": 1,"
    " \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0,"
    " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},"
    " \"rope_theta\": 500000.0, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\","
    " \"transformers_version\": \"4.43.0.dev0\", \"use_cache\": true, \"vocab_size\": 128256}";

static const char *k_qwen25 =
    "{\"architectures\": [\"Qwen2ForCausalLM\"], \"attention_dropout\": 0.0, \"bos_token_id\": 151643,"
    " \"eos_token_id\": 151643, \"hidden_act\": \"silu\", \"hidden_size\": 896, \"initializer_range\": 0.02,"
    " \"intermediate_size\": 4864, \"max_position_embeddings\": 32768, \"max_window_layers\": 24,"
    " \"model_type\": \"qwen2\", \"num_attention_heads\": 14, \"num_hidden_layers\": 24, \"num_key_value_heads\": 2,"
    " \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"sliding_window\": 32768, \"tie_word_embeddings\": true,"
    " \"torch_dtype\": \"bfloat16\", \"use_cache\": true, \"use_sliding_window\": false, \"vocab_size\": 151936}";

/* A minimal valid Llama config with `extra` spliced in before the closing brace
 * (`extra` must not repeat a key: cJSON keeps the first of duplicate keys). */
static char *llama_with(const char *extra) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":2,"
             "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100%s%s}",
             *extra ? "," : "", extra);
    return buf;
}

/* Expects parse failure whose message equals or contains `needle`. */
static int expect_fail(const char *json, const char *gen, const char *needle) {
    struct model_config cfg;
    struct sgl_err err = {{0}};
    int rc = model_config_parse_hf_json(json, gen, &cfg, &err);
    int ok = rc < 0 && strstr(err.msg, needle) != NULL;
    if (!ok) printf("  expected failure with '%s', got rc=%d msg='%s'\n", needle, rc, err.msg);
    return ok;
}

TEST(arch_names) {
    CHECK_EQ_INT(model_config_arch_from_name("LlamaForCausalLM"), MODEL_ARCH_LLAMA);
    CHECK_EQ_INT(model_config_arch_from_name("MistralForCausalLM"), MODEL_ARCH_LLAMA);
    CHECK_EQ_INT(model_config_arch_from_name("Qwen2ForCausalLM"), MODEL_ARCH_QWEN2);
    CHECK_EQ_INT(model_config_arch_from_name("Qwen3ForCausalLM"), MODEL_ARCH_QWEN3);
    CHECK_EQ_INT(model_config_arch_from_name("llama"), MODEL_ARCH_LLAMA);
    CHECK_EQ_INT(model_config_arch_from_name("qwen2"), MODEL_ARCH_QWEN2);
    CHECK_EQ_INT(model_config_arch_from_name("qwen3"), MODEL_ARCH_QWEN3);
    CHECK_EQ_INT(model_config_arch_from_name("Qwen3MoeForCausalLM"), MODEL_ARCH_UNKNOWN);
    CHECK_EQ_INT(model_config_arch_from_name("gpt2"), MODEL_ARCH_UNKNOWN);
    CHECK_EQ_INT(model_config_arch_from_name(NULL), MODEL_ARCH_UNKNOWN);
}

TEST(qwen3_06b) {
    struct model_config c;
    struct sgl_err err = {{0}};
    int rc = model_config_parse_hf_json(k_qwen3_06b, k_qwen3_gen, &c, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c.arch, MODEL_ARCH_QWEN3);
    CHECK_STR(c.arch_name, "Qwen3ForCausalLM");
    CHECK_EQ_INT(c.hidden_size, 1024);
    CHECK_EQ_INT(c.n_layers, 28);
    CHECK_EQ_INT(c.n_heads, 16);
    CHECK_EQ_INT(c.n_kv_heads, 8);
    CHECK_EQ_INT(c.head_dim, 128); /* != 1024/16 */
    CHECK_EQ_INT(c.intermediate_size, 3072);
    CHECK_EQ_INT(c.vocab_size, 151936);
    CHECK_EQ_INT(c.max_position_embeddings, 40960);
    CHECK_NEAR(c.rms_norm_eps, 1e-6, 0);
    CHECK_NEAR(c.rope_theta, 1e6, 0);
    CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_NONE);
    CHECK(!c.rope_interleaved);
    CHECK(c.tie_word_embeddings);
    CHECK(!c.attention_bias);
    CHECK(c.qk_norm);
    CHECK_EQ_INT(c.torch_dtype, DTYPE_BF16);
    CHECK_EQ_INT(c.bos_token_id, 151643);
    CHECK_EQ_INT(c.pad_token_id, 151643); /* from generation_config.json */
    CHECK_EQ_INT(c.n_eos, 2);             /* generation_config's list, config's 151645 not repeated */
    CHECK_EQ_INT(c.eos_token_ids[0], 151645);
    CHECK_EQ_INT(c.eos_token_ids[1], 151643);
    CHECK(c.gen.has_temperature && c.gen.temperature == 0.6);
    CHECK(c.gen.has_top_p && c.gen.top_p == 0.95);
    CHECK(c.gen.has_top_k && c.gen.top_k == 20);
    CHECK(!c.gen.has_repetition_penalty);
    /* Without generation_config.json. */
    CHECK_EQ_INT(model_config_parse_hf_json(k_qwen3_06b, NULL, &c, &err), 0);
    CHECK_EQ_INT(c.n_eos, 1);
    CHECK_EQ_INT(c.eos_token_ids[0], 151645);
    CHECK_EQ_INT(c.pad_token_id, -1);
    CHECK(!c.gen.has_temperature && !c.gen.has_top_k);
}

TEST(llama31_rope_scaling) {
    struct model_config c;
    struct sgl_err err = {{0}};
    int rc = model_config_parse_hf_json(k_llama31, NULL, &c, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c.arch, MODEL_ARCH_LLAMA);
    CHECK_EQ_INT(c.hidden_size, 4096);
    CHECK_EQ_INT(c.head_dim, 128);
    CHECK_EQ_INT(c.n_kv_heads, 8);
    CHECK_EQ_INT(c.intermediate_size, 14336);
    CHECK_EQ_INT(c.vocab_size, 128256);
    CHECK_EQ_INT(c.max_position_embeddings, 131072);
    CHECK_NEAR(c.rope_theta, 500000, 0);
    CHECK_NEAR(c.rms_norm_eps, 1e-5, 0);
    CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_LLAMA3);
    CHECK_NEAR(c.rope_scaling.factor, 8, 0);
    CHECK_NEAR(c.rope_scaling.low_freq_factor, 1, 0);
    CHECK_NEAR(c.rope_scaling.high_freq_factor, 4, 0);
    CHECK_EQ_INT(c.rope_scaling.original_max_position_embeddings, 8192);
    CHECK(!c.tie_word_embeddings && !c.attention_bias && !c.qk_norm && !c.rope_interleaved);
    CHECK_EQ_INT(c.bos_token_id, 128000);
    CHECK_EQ_INT(c.n_eos, 3);
    CHECK_EQ_INT(c.eos_token_ids[2], 128009);
    /* generation_config with a single eos: it comes first, config's others follow. */
    CHECK_EQ_INT(model_config_parse_hf_json(k_llama31,
                                            "{\"eos_token_id\": 128009, \"bos_token_id\": 128000,"
                                            " \"repetition_penalty\": 1.1, \"do_sample\": true}",
                                            &c, &err),
                 0);
    CHECK_EQ_INT(c.n_eos, 3);
    CHECK_EQ_INT(c.eos_token_ids[0], 128009);
    CHECK_EQ_INT(c.eos_token_ids[1], 128001);
    CHECK_EQ_INT(c.eos_token_ids[2], 128008);
    CHECK(c.gen.has_repetition_penalty && c.gen.repetition_penalty == 1.1);
    /* llama3 needs original_max_position_embeddings. */
    CHECK(expect_fail(llama_with("\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}"), NULL,
                      "config.json: missing field 'original_max_position_embeddings'"));
    CHECK(expect_fail(llama_with("\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,"
                                 "\"original_max_position_embeddings\":8192,\"low_freq_factor\":4}"),
                      NULL, "high_freq_factor 4 must exceed low_freq_factor 4"));
}

TEST(qwen2_bias) {
    struct model_config c;
    struct sgl_err err = {{0}};
    CHECK_EQ_INT(model_config_parse_hf_json(k_qwen25, NULL, &c, &err), 0);
    CHECK_EQ_INT(c.arch, MODEL_ARCH_QWEN2);
    CHECK(c.attention_bias); /* implied by the architecture */
    CHECK(!c.qk_norm);
    CHECK(c.tie_word_embeddings);
    CHECK_EQ_INT(c.hidden_size, 896);
    CHECK_EQ_INT(c.n_heads, 14);
    CHECK_EQ_INT(c.n_kv_heads, 2);
    CHECK_EQ_INT(c.head_dim, 64);
    CHECK_EQ_INT(c.n_eos, 1);
    CHECK_EQ_INT(c.eos_token_ids[0], 151643);
    CHECK_EQ_INT(c.pad_token_id, -1);
}

TEST(yarn_and_other_rope_forms) {
    struct model_config c;
    struct sgl_err err = {{0}};
    int rc = model_config_parse_hf_json(
        llama_with("\"max_position_embeddings\":32768,\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4.0,"
                   "\"original_max_position_embeddings\":32768}"),
        NULL, &c, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_YARN);
    CHECK_NEAR(c.rope_scaling.factor, 4, 0);
    CHECK_EQ_INT(c.rope_scaling.original_max_position_embeddings, 32768);
    CHECK_NEAR(c.rope_scaling.beta_fast, 32, 0);
    CHECK_NEAR(c.rope_scaling.beta_slow, 1, 0);
    CHECK_NEAR(c.rope_scaling.mscale, 1, 0);
    CHECK_NEAR(c.rope_scaling.mscale_all_dim, 0, 0);
    CHECK(c.rope_scaling.attention_factor <= 0);
    /* yarn with explicit parameters and no original length: defaults to max_position_embeddings. */
    rc = model_config_parse_hf_json(
        llama_with("\"max_position_embeddings\":4096,\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":2,"
                   "\"beta_fast\":16,\"beta_slow\":2,\"mscale\":0.707,\"mscale_all_dim\":0.707,"
                   "\"attention_factor\":1.2}"),
        NULL, &c, &err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c.rope_scaling.original_max_position_embeddings, 4096);
    CHECK_NEAR(c.rope_scaling.beta_fast, 16, 0);
    CHECK_NEAR(c.rope_scaling.mscale_all_dim, 0.707, 0);
    CHECK_NEAR(c.rope_scaling.attention_factor, 1.2, 0);
    /* linear */
    CHECK_EQ_INT(
        model_config_parse_hf_json(llama_with("\"rope_scaling\":{\"type\":\"linear\",\"factor\":2}"), NULL, &c, &err),
        0);
    CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_LINEAR);
    CHECK_NEAR(c.rope_scaling.factor, 2, 0);
    /* "default" is no scaling. */
    CHECK_EQ_INT(model_config_parse_hf_json(llama_with("\"rope_scaling\":{\"rope_type\":\"default\"}"), NULL, &c, &err),
                 0);
    CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_NONE);
    /* transformers >= 5: rope_parameters carries theta and the scaling. */
    CHECK_EQ_INT(model_config_parse_hf_json(
                     llama_with("\"rope_theta\":1,\"rope_parameters\":{\"rope_theta\":500000.0,\"rope_type\":"
                                "\"llama3\",\"factor\":32,\"original_max_position_embeddings\":8192}"),
                     NULL, &c, &err),
                 0);
    CHECK_NEAR(c.rope_theta, 500000, 0);
    CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_LLAMA3);
    CHECK_NEAR(c.rope_scaling.factor, 32, 0);
    CHECK_EQ_INT(model_config_parse_hf_json(llama_with("\"rope_parameters\":{\"rope_theta\":1e6,\"rope_type\":"
                                                       "\"default\"}"),
                                            NULL, &c, &err),
                 0);
    CHECK_NEAR(c.rope_theta, 1e6, 0);
    CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_NONE);
    /* Defaults when absent. */
    CHECK_EQ_INT(model_config_parse_hf_json(llama_with(""), NULL, &c, &err), 0);
    CHECK_NEAR(c.rope_theta, 10000, 0);
    CHECK_EQ_INT(c.max_position_embeddings, 2048);
    CHECK_EQ_INT(c.n_kv_heads, 4);
    CHECK_EQ_INT(c.head_dim, 16);
    CHECK_EQ_INT(c.torch_dtype, DTYPE_F32);
    CHECK(!c.tie_word_embeddings);
    CHECK_EQ_INT(c.bos_token_id, -1);
    CHECK_EQ_INT(c.n_eos, 0);
    /* Unknown scaling types are refused by name. */
    CHECK(expect_fail(llama_with("\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2}"), NULL,
                      "config.json: unsupported rope_scaling type 'dynamic' (supported: default, linear, llama3, "
                      "yarn)"));
    CHECK(expect_fail(llama_with("\"rope_scaling\":{\"factor\":2}"), NULL, "rope_scaling has no 'rope_type'"));
    CHECK(expect_fail(llama_with("\"rope_scaling\":{\"type\":\"linear\"}"), NULL, "missing field 'factor'"));
    CHECK(expect_fail(llama_with("\"rope_scaling\":{\"type\":\"linear\",\"factor\":-1}"), NULL,
                      "field 'factor' = -1 is out of range"));
    CHECK(expect_fail(llama_with("\"rope_scaling\":7"), NULL, "field 'rope_scaling' must be an object or null"));
}

TEST(other_fields) {
    struct model_config c;
    struct sgl_err err = {{0}};
    /* Mistral loads as Llama; model_type is used when architectures is missing. */
    CHECK_EQ_INT(model_config_parse_hf_json("{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":64,"
                                            "\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                                            "\"num_key_value_heads\":1,\"intermediate_size\":8,\"vocab_size\":10,"
                                            "\"dtype\":\"float16\",\"eos_token_id\":[2],\"pad_token_id\":null}",
                                            NULL, &c, &err),
                 0);
    CHECK_EQ_INT(c.arch, MODEL_ARCH_LLAMA);
    CHECK_STR(c.arch_name, "MistralForCausalLM");
    CHECK_EQ_INT(c.torch_dtype, DTYPE_F16);
    CHECK_EQ_INT(c.n_eos, 1);
    CHECK_EQ_INT(c.eos_token_ids[0], 2);
    CHECK_EQ_INT(c.pad_token_id, -1);
    CHECK_EQ_INT(model_config_parse_hf_json("{\"model_type\":\"qwen3\",\"hidden_size\":64,\"num_hidden_layers\":1,"
                                            "\"num_attention_heads\":4,\"intermediate_size\":8,\"vocab_size\":10}",
                                            NULL, &c, &err),
                 0);
    CHECK_EQ_INT(c.arch, MODEL_ARCH_QWEN3);
    CHECK_EQ_INT(c.head_dim, 128); /* Qwen3Config's default */
    CHECK_EQ_INT(c.max_position_embeddings, 32768);
    /* Llama with explicit attention_bias and a head_dim that does not divide hidden. */
    CHECK_EQ_INT(model_config_parse_hf_json(llama_with("\"attention_bias\":true,\"head_dim\":24,"
                                                       "\"pad_token_id\":-1"),
                                            NULL, &c, &err),
                 0);
    CHECK(c.attention_bias);
    CHECK_EQ_INT(c.head_dim, 24);
    CHECK_EQ_INT(c.pad_token_id, -1);
}

TEST(errors) {
    CHECK(expect_fail("{\"architectures\":[\"GPT2LMHeadModel\"]}", NULL,
                      "config.json: unsupported architecture 'GPT2LMHeadModel' (supported: LlamaForCausalLM, "
                      "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)"));
    CHECK(
        expect_fail("{\"hidden_size\":64}", NULL, "config.json: missing field 'architectures' (and no 'model_type')"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"num_hidden_layers\":2}", NULL,
                      "config.json: missing field 'hidden_size'"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":2,"
                      "\"num_attention_heads\":4,\"intermediate_size\":128}",
                      NULL, "config.json: missing field 'vocab_size'"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":\"big\"}", NULL,
                      "config.json: field 'hidden_size' must be an integer"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64.5}", NULL,
                      "field 'hidden_size' must be an integer"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":1000000}", NULL,
                      "config.json: field 'hidden_size' = 1000000 is out of range [1, 65536]"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":0}", NULL,
                      "field 'hidden_size' = 0 is out of range"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":5000}", NULL,
                      "field 'num_hidden_layers' = 5000 is out of range [1, 1024]"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":2,"
                      "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100000000}",
                      NULL, "field 'vocab_size' = 100000000 is out of range [1, 4194304]"));
    CHECK(expect_fail(llama_with("\"head_dim\":4096"), NULL, "field 'head_dim' = 4096 is out of range [1, 1024]"));
    CHECK(expect_fail(llama_with("\"num_key_value_heads\":3"), NULL,
                      "num_attention_heads 4 is not a multiple of num_key_value_heads 3"));
    CHECK(expect_fail(llama_with("\"num_key_value_heads\":8"), NULL, "is not a multiple of num_key_value_heads 8"));
    CHECK(expect_fail("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_hidden_layers\":2,"
                      "\"num_attention_heads\":3,\"intermediate_size\":128,\"vocab_size\":100}",
                      NULL, "hidden_size 64 is not a multiple of num_attention_heads 3"));
    CHECK(expect_fail(llama_with("\"head_dim\":15"), NULL, "head_dim 15 must be even"));
    CHECK(expect_fail(llama_with("\"rms_norm_eps\":0"), NULL, "field 'rms_norm_eps' = 0 is out of range (0, 0.5]"));
    CHECK(expect_fail(llama_with("\"rope_theta\":-5"), NULL, "field 'rope_theta' = -5 is out of range"));
    CHECK(expect_fail(llama_with("\"tie_word_embeddings\":1"), NULL,
                      "field 'tie_word_embeddings' must be true or false"));
    CHECK(expect_fail(llama_with("\"torch_dtype\":\"float8_e4m3fn\""), NULL,
                      "unsupported torch_dtype 'float8_e4m3fn' (supported: float32, float16, bfloat16)"));
    CHECK(expect_fail(llama_with("\"eos_token_id\":100"), NULL,
                      "eos_token_id 100 is outside the vocabulary (vocab_size 100)"));
    CHECK(expect_fail(llama_with("\"eos_token_id\":[1,2,3,4,5,6,7,8,9]"), NULL,
                      "field 'eos_token_id' has more than 8 ids"));
    CHECK(expect_fail(llama_with("\"eos_token_id\":\"2\""), NULL, "field 'eos_token_id' must be an integer token id"));
    CHECK(expect_fail(llama_with("\"bos_token_id\":[1]"), NULL, "field 'bos_token_id' must be an integer"));
    CHECK(expect_fail("{\"architectures\": [\"LlamaForCausalLM\"", NULL, "config.json: not a valid JSON object"));
    CHECK(expect_fail("[]", NULL, "config.json: not a valid JSON object"));
    CHECK(expect_fail("", NULL, "config.json: not a valid JSON object"));
    CHECK(expect_fail(llama_with(""), "{oops", "generation_config.json: not a valid JSON object"));
    CHECK(
        expect_fail(llama_with(""), "{\"top_p\": 1.5}", "generation_config.json: field 'top_p' = 1.5 is out of range"));
    CHECK(expect_fail(llama_with(""), "{\"temperature\": \"hot\"}",
                      "generation_config.json: field 'temperature' must be a number"));
    CHECK(expect_fail(llama_with(""), "{\"eos_token_id\": 1000}",
                      "generation_config.json: eos_token_id 1000 is outside"));
}

static int write_text(const char *path, const char *text) { return gb_write_file(path, text, strlen(text)); }

TEST(load_dir) {
    char dir[] = "/tmp/sglc_test_cfg_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cfgp[256], genp[256];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    snprintf(genp, sizeof genp, "%s/generation_config.json", dir);
    struct model_config c;
    struct sgl_err err = {{0}};
    char want[512];
    /* No config.json. */
    CHECK(model_config_load_hf_dir(dir, &c, &err) < 0);
    snprintf(want, sizeof want, "%s: no config.json (expected an HF model directory or a .gguf file)", dir);
    CHECK_STR(err.msg, want);
    /* A file path is not a model directory either. */
    CHECK(model_config_load_hf_dir(STORIES, &c, &err) < 0);
    CHECK(strstr(err.msg, "stories260K.gguf: no config.json") != NULL);
    CHECK_EQ_INT(write_text(cfgp, k_qwen3_06b), 0);
    CHECK_EQ_INT(model_config_load_hf_dir(dir, &c, &err), 0);
    CHECK_EQ_INT(c.head_dim, 128);
    CHECK_EQ_INT(c.n_eos, 1);
    CHECK_EQ_INT(write_text(genp, k_qwen3_gen), 0);
    CHECK_EQ_INT(model_config_load_hf_dir(dir, &c, &err), 0);
    CHECK_EQ_INT(c.n_eos, 2);
    CHECK(c.gen.has_top_k && c.gen.top_k == 20);
    /* Errors name the file by its path. */
    CHECK_EQ_INT(write_text(genp, "{\"top_k\": -3}"), 0);
    CHECK(model_config_load_hf_dir(dir, &c, &err) < 0);
    snprintf(want, sizeof want, "%s: field 'top_k' = -3 is out of range", genp);
    CHECK(strstr(err.msg, want) == err.msg);
    CHECK_EQ_INT(write_text(cfgp, "{\"architectures\":[\"Foo\"]}"), 0);
    CHECK(model_config_load_hf_dir(dir, &c, &err) < 0);
    snprintf(want, sizeof want, "%s: unsupported architecture 'Foo' (supported: ", cfgp);
    CHECK(strstr(err.msg, want) == err.msg);
    unlink(cfgp);
    unlink(genp);
    rmdir(dir);
    CHECK(model_config_load_hf_dir(dir, &c, &err) < 0);
    CHECK(strstr(err.msg, "no such file or directory") != NULL);
}

TEST(gguf_stories) {
    struct gguf *g = NULL;
    struct sgl_err err = {{0}};
    CHECK_EQ_INT(gguf_open(STORIES, &g, &err), 0);
    if (!g) return;
    struct model_config c;
    int rc = model_config_from_gguf(g, &c, &err);
    if (rc) printf("  %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c.arch, MODEL_ARCH_LLAMA);
    CHECK_STR(c.arch_name, "llama");
    CHECK_EQ_INT(c.hidden_size, 64);
    CHECK_EQ_INT(c.n_layers, 5);
    CHECK_EQ_INT(c.n_heads, 8);
    CHECK_EQ_INT(c.n_kv_heads, 4);
    CHECK_EQ_INT(c.head_dim, 8);
    CHECK_EQ_INT(c.intermediate_size, 172);
    CHECK_EQ_INT(c.vocab_size, 512);
    CHECK_EQ_INT(c.max_position_embeddings, 128); /* as the file says (trained with 512) */
    CHECK_NEAR(c.rms_norm_eps, 1e-5, 1e-12);
    CHECK_NEAR(c.rope_theta, 10000, 0);
    CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_NONE);
    CHECK(c.rope_interleaved);
    CHECK(!c.tie_word_embeddings); /* output.weight is present (a copy of token_embd) */
    CHECK(!c.attention_bias && !c.qk_norm);
    CHECK_EQ_INT(c.torch_dtype, DTYPE_F32);
    CHECK_EQ_INT(c.bos_token_id, 1);
    CHECK_EQ_INT(c.n_eos, 1);
    CHECK_EQ_INT(c.eos_token_ids[0], 2);
    CHECK_EQ_INT(c.pad_token_id, -1); /* 0xFFFFFFFF in the file */
    CHECK(!c.gen.has_temperature);
    gguf_close(g);
}

/* A synthetic GGUF with architecture `arch`, the given extra kvs, and tensors
 * token_embd.weight (F16) plus output.weight when with_output. */
struct kvs {
    int n;
    void (*write)(struct gb *b);
};

static struct gguf *make_gguf(const char *arch, const struct kvs *extra, bool with_output, struct gb *b) {
    const char *toks[6] = {"<s>", "</s>", "a", "b", "c", "<|eot|>"};
    char k[64];
    gb_header(b, 3, with_output ? 2 : 1, 9 + (uint64_t)extra->n);
    gb_kv_str(b, "general.architecture", arch);
#define ARCH_KEY(s) (snprintf(k, sizeof k, "%s.%s", arch, s), k)
    gb_kv_u32(b, ARCH_KEY("embedding_length"), 32);
    gb_kv_u32(b, ARCH_KEY("block_count"), 2);
    gb_kv_u32(b, ARCH_KEY("attention.head_count"), 4);
    gb_kv_u32(b, ARCH_KEY("feed_forward_length"), 64);
    gb_kv_u32(b, ARCH_KEY("context_length"), 4096);
    gb_kv_f32(b, ARCH_KEY("attention.layer_norm_rms_epsilon"), 1e-6f);
#undef ARCH_KEY
    gb_kv_str_arr(b, "tokenizer.ggml.tokens", 6, toks);
    gb_kv_u32(b, "tokenizer.ggml.eos_token_id", 1);
    if (extra->write) extra->write(b);
    gb_tensor(b, "token_embd.weight", 2, (uint64_t[]){32, 6}, 1, 0);
    if (with_output) gb_tensor(b, "output.weight", 2, (uint64_t[]){32, 6}, 1, 384);
    gb_align(b, 32);
    gb_zeros(b, 768);
    struct gguf *g = NULL;
    struct sgl_err err = {{0}};
    if (gguf_open_memory(b->p, b->n, "syn.gguf", &g, &err)) printf("  make_gguf: %s\n", err.msg);
    return g;
}

static void w_none(struct gb *b) { (void)b; }
static void w_qwen3(struct gb *b) {
    gb_kv_u32(b, "qwen3.attention.head_count_kv", 2);
    gb_kv_u32(b, "qwen3.attention.key_length", 16);
    gb_kv_f32(b, "qwen3.rope.freq_base", 1e6f);
    gb_kv_str(b, "qwen3.rope.scaling.type", "yarn");
    gb_kv_f32(b, "qwen3.rope.scaling.factor", 4.0f);
    gb_kv_u32(b, "qwen3.rope.scaling.original_context_length", 32768);
    gb_kv_u32(b, "tokenizer.ggml.eot_token_id", 5);
    gb_kv_u32(b, "tokenizer.ggml.bos_token_id", 0);
    gb_kv_f32(b, "general.sampling.temp", 0.7f);
    gb_kv_u32(b, "general.sampling.top_k", 40);
}
static void w_bad_kv(struct gb *b) {
    gb_key(b, "llama.attention.head_count_kv", 9);
    gb_u32(b, 4), gb_u64(b, 2), gb_u32(b, 2), gb_u32(b, 2);
}
static void w_bad_rope(struct gb *b) { gb_kv_str(b, "llama.rope.scaling.type", "longrope"); }
static void w_partial_rope(struct gb *b) { gb_kv_u32(b, "llama.rope.dimension_count", 4); }
static void w_bad_eos(struct gb *b) { gb_kv_u32(b, "tokenizer.ggml.eot_token_id", 6); }

TEST(gguf_synthetic) {
    struct gb b = {0};
    struct model_config c;
    struct sgl_err err = {{0}};
    struct kvs none = {0, w_none}, q3 = {10, w_qwen3};
    struct gguf *g = make_gguf("qwen2", &none, false, &b);
    CHECK(g != NULL);
    if (g) {
        CHECK_EQ_INT(model_config_from_gguf(g, &c, &err), 0);
        CHECK_EQ_INT(c.arch, MODEL_ARCH_QWEN2);
        CHECK(c.attention_bias && !c.qk_norm && !c.rope_interleaved);
        CHECK(c.tie_word_embeddings); /* no output.weight */
        CHECK_EQ_INT(c.torch_dtype, DTYPE_F16);
        CHECK_EQ_INT(c.n_kv_heads, 4);
        CHECK_EQ_INT(c.head_dim, 8);
        CHECK_EQ_INT(c.vocab_size, 6);
        CHECK_EQ_INT(c.bos_token_id, -1);
        gguf_close(g);
    }
    gb_free(&b);
    g = make_gguf("qwen3", &q3, true, &b);
    CHECK(g != NULL);
    if (g) {
        int rc = model_config_from_gguf(g, &c, &err);
        if (rc) printf("  %s\n", err.msg);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(c.arch, MODEL_ARCH_QWEN3);
        CHECK_STR(c.arch_name, "qwen3");
        CHECK(c.qk_norm && !c.attention_bias && !c.rope_interleaved && !c.tie_word_embeddings);
        CHECK_EQ_INT(c.n_kv_heads, 2);
        CHECK_EQ_INT(c.head_dim, 16);
        CHECK_NEAR(c.rope_theta, 1e6, 0);
        CHECK_EQ_INT(c.rope_scaling.type, ROPE_SCALING_YARN);
        CHECK_NEAR(c.rope_scaling.factor, 4, 0);
        CHECK_EQ_INT(c.rope_scaling.original_max_position_embeddings, 32768);
        CHECK_EQ_INT(c.bos_token_id, 0);
        CHECK_EQ_INT(c.n_eos, 2);
        CHECK_EQ_INT(c.eos_token_ids[0], 1);
        CHECK_EQ_INT(c.eos_token_ids[1], 5);
        CHECK(c.gen.has_temperature && fabs(c.gen.temperature - 0.7) < 1e-6);
        CHECK(c.gen.has_top_k && c.gen.top_k == 40 && !c.gen.has_top_p);
        gguf_close(g);
    }
    gb_free(&b);

    struct {
        const char *arch;
        struct kvs kv;
        const char *needle;
    } bad[] = {
        {"gpt2", {0, w_none}, "syn.gguf: unsupported GGUF architecture 'gpt2' (supported: llama, qwen2, qwen3)"},
        {"llama", {1, w_bad_kv}, "syn.gguf: metadata key 'llama.attention.head_count_kv' must be an integer"},
        {"llama", {1, w_bad_rope}, "unsupported rope scaling type 'longrope' in 'llama.rope.scaling.type'"},
        {"llama", {1, w_partial_rope}, "partial RoPE is not supported (llama.rope.dimension_count 4 != head_dim 8)"},
        {"llama", {1, w_bad_eos}, "tokenizer.ggml.eot_token_id 6 is outside the vocabulary (6 tokens)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g = make_gguf(bad[i].arch, &bad[i].kv, true, &b);
        CHECK(g != NULL);
        if (g) {
            int rc = model_config_from_gguf(g, &c, &err);
            if (rc == 0 || !strstr(err.msg, bad[i].needle)) printf("  case %zu: rc=%d msg=%s\n", i, rc, err.msg);
            CHECK(rc < 0 && strstr(err.msg, bad[i].needle));
            gguf_close(g);
        }
        gb_free(&b);
    }
    /* Missing keys / tensors. */
    gb_header(&b, 3, 0, 2);
    gb_kv_str(&b, "general.architecture", "llama");
    gb_kv_u32(&b, "llama.embedding_length", 32);
    CHECK_EQ_INT(gguf_open_memory(b.p, b.n, "m.gguf", &g, &err), 0);
    CHECK(model_config_from_gguf(g, &c, &err) < 0);
    CHECK_STR(err.msg, "m.gguf: missing metadata key 'llama.block_count'");
    gguf_close(g);
    gb_free(&b);
    gb_header(&b, 3, 0, 0);
    CHECK_EQ_INT(gguf_open_memory(b.p, b.n, "m.gguf", &g, &err), 0);
    CHECK(model_config_from_gguf(g, &c, &err) < 0);
    CHECK_STR(err.msg, "m.gguf: missing metadata key 'general.architecture'");
    gguf_close(g);
    gb_free(&b);
}

int main(void) {
    RUN(arch_names);
    RUN(qwen3_06b);
    RUN(llama31_rope_scaling);
    RUN(qwen2_bias);
    RUN(yarn_and_other_rope_forms);
    RUN(other_fields);
    RUN(errors);
    RUN(load_dir);
    RUN(gguf_stories);
    RUN(gguf_synthetic);
    return test_summary();
}
