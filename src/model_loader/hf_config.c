/* hf_config: fills struct model_config from an HF config.json (+
 * generation_config.json) or from GGUF metadata (see model_config.h).
 *
 * Defaults follow the transformers config classes (LlamaConfig, Qwen2Config,
 * Qwen3Config), not PretrainedConfig: tie_word_embeddings false, rope_theta
 * 10000, rms_norm_eps 1e-6, num_key_value_heads = num_attention_heads,
 * head_dim = hidden_size / num_attention_heads (Qwen3Config: 128). Qwen2 always
 * has q/k/v biases; Qwen3 always has q/k norms. The five size fields that every
 * real checkpoint carries (hidden_size, num_hidden_layers, num_attention_heads,
 * intermediate_size, vocab_size) are required rather than defaulted.
 *
 * Every value is range-checked so later code can size buffers from it; errors
 * are one line naming the file and the field. Pure functions, no state. */
#include "model_loader/model_config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/json.h"
#include "base/mmap_file.h"
#include "model_loader/gguf.h"

/* Upper bounds on sizes: far above any real model, low enough that products
 * like n_layers * n_kv_heads * head_dim cannot overflow int64. */
#define MC_MAX_HIDDEN     65536
#define MC_MAX_LAYERS     1024
#define MC_MAX_HEADS      1024
#define MC_MAX_HEAD_DIM   1024
#define MC_MAX_FFN        (1 << 20)
#define MC_MAX_VOCAB      (4 << 20)
#define MC_MAX_POSITIONS  ((int64_t)1 << 26)
#define MC_SUPPORTED_HF   "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM"
#define MC_SUPPORTED_GGUF "llama, qwen2, qwen3"

__attribute__((format(printf, 4, 5))) static int mc_fail(const char *file, struct sgl_err *err, int code,
                                                         const char *fmt, ...) {
    char buf[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return err_setf(err, code, "%s: %s", file, buf);
}

enum model_arch model_config_arch_from_name(const char *name) {
    static const struct {
        const char *name;
        enum model_arch arch;
    } names[] = {
        {"LlamaForCausalLM", MODEL_ARCH_LLAMA},
        {"MistralForCausalLM", MODEL_ARCH_LLAMA},
        {"Qwen2ForCausalLM", MODEL_ARCH_QWEN2},
        {"Qwen3ForCausalLM", MODEL_ARCH_QWEN3},
        {"llama", MODEL_ARCH_LLAMA},
        {"mistral", MODEL_ARCH_LLAMA},
        {"qwen2", MODEL_ARCH_QWEN2},
        {"qwen3", MODEL_ARCH_QWEN3},
    };
    if (!name) return MODEL_ARCH_UNKNOWN;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) return names[i].arch;
    return MODEL_ARCH_UNKNOWN;
}

static void mc_defaults(struct model_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->rope_theta = 10000.0;
    cfg->rms_norm_eps = 1e-6;
    cfg->torch_dtype = DTYPE_F32;
    cfg->bos_token_id = -1;
    cfg->pad_token_id = -1;
}

static void mc_rope_defaults(struct rope_scaling *rs) {
    memset(rs, 0, sizeof *rs);
    rs->factor = 1.0;
    rs->low_freq_factor = 1.0;
    rs->high_freq_factor = 4.0;
    rs->beta_fast = 32.0;
    rs->beta_slow = 1.0;
    rs->mscale = 1.0;
}

/* Cross-field checks and derived defaults shared by both sources. */
static int mc_finish(const char *file, struct model_config *cfg, struct sgl_err *err) {
    if (cfg->n_kv_heads > cfg->n_heads || cfg->n_heads % cfg->n_kv_heads)
        return mc_fail(file, err, ERR_INVALID, "num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                       (long long)cfg->n_heads, (long long)cfg->n_kv_heads);
    if (cfg->head_dim % 2)
        return mc_fail(file, err, ERR_INVALID, "head_dim %lld must be even (RoPE rotates pairs)",
                       (long long)cfg->head_dim);
    const struct rope_scaling *rs = &cfg->rope_scaling;
    if (rs->type == ROPE_SCALING_LLAMA3 && !(rs->high_freq_factor > rs->low_freq_factor))
        return mc_fail(file, err, ERR_INVALID, "rope_scaling: high_freq_factor %g must exceed low_freq_factor %g",
                       rs->high_freq_factor, rs->low_freq_factor);
    if (rs->type == ROPE_SCALING_YARN && rs->original_max_position_embeddings <= 0)
        cfg->rope_scaling.original_max_position_embeddings = cfg->max_position_embeddings;
    return 0;
}

/* ---- HF config.json ---------------------------------------------------- */

static bool mc_json_absent(const cJSON *obj, const char *key) {
    const cJSON *v = json_get(obj, key);
    return !v || cJSON_IsNull(v);
}

/* Integer field in [lo, hi]; absent/null -> def, or an error when required. */
static int hf_int(const char *file, const cJSON *obj, const char *key, bool required, int64_t def, int64_t lo,
                  int64_t hi, int64_t *out, struct sgl_err *err) {
    if (mc_json_absent(obj, key)) {
        if (required) return mc_fail(file, err, ERR_FORMAT, "missing field '%s'", key);
        *out = def;
        return 0;
    }
    int64_t v;
    if (!json_get_int(obj, key, &v)) return mc_fail(file, err, ERR_FORMAT, "field '%s' must be an integer", key);
    if (v < lo || v > hi)
        return mc_fail(file, err, ERR_INVALID, "field '%s' = %lld is out of range [%lld, %lld]", key, (long long)v,
                       (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

/* Number field in (lo, hi] (lo exclusive when lo_open) ; absent/null -> def. */
static int hf_num(const char *file, const cJSON *obj, const char *key, bool required, double def, double lo,
                  bool lo_open, double hi, double *out, struct sgl_err *err) {
    if (mc_json_absent(obj, key)) {
        if (required) return mc_fail(file, err, ERR_FORMAT, "missing field '%s'", key);
        *out = def;
        return 0;
    }
    double v;
    if (!json_get_double(obj, key, &v) || !isfinite(v))
        return mc_fail(file, err, ERR_FORMAT, "field '%s' must be a number", key);
    if (v < lo || (lo_open && v == lo) || v > hi)
        return mc_fail(file, err, ERR_INVALID, "field '%s' = %g is out of range %s%g, %g]", key, v, lo_open ? "(" : "[",
                       lo, hi);
    *out = v;
    return 0;
}

static int hf_bool(const char *file, const cJSON *obj, const char *key, bool def, bool *out, struct sgl_err *err) {
    if (mc_json_absent(obj, key)) {
        *out = def;
        return 0;
    }
    if (!json_get_bool(obj, key, out)) return mc_fail(file, err, ERR_FORMAT, "field '%s' must be true or false", key);
    return 0;
}

/* A token id field: integer, null, or (when ids != NULL) a list of integers.
 * Negative values mean "none". *n = number of ids found (0 when absent/null). */
static int hf_token_ids(const char *file, const cJSON *obj, const char *key, int64_t vocab, int32_t *ids, int max,
                        int *n, struct sgl_err *err) {
    *n = 0;
    const cJSON *v = json_get(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    const cJSON *one = v, *it;
    int count = 1;
    if (cJSON_IsArray(v)) {
        if (max == 1) return mc_fail(file, err, ERR_FORMAT, "field '%s' must be an integer", key);
        count = cJSON_GetArraySize(v);
        if (count > max) return mc_fail(file, err, ERR_INVALID, "field '%s' has more than %d ids", key, max);
        one = v->child;
    }
    for (it = one; count-- > 0 && it; it = it->next) {
        double d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
        if (!(d == floor(d)) || fabs(d) > 2147483647.0)
            return mc_fail(file, err, ERR_FORMAT, "field '%s' must be an integer token id%s", key,
                           max > 1 ? " or a list of them" : "");
        if (d < 0) continue;
        if ((int64_t)d >= vocab)
            return mc_fail(file, err, ERR_INVALID, "%s %lld is outside the vocabulary (vocab_size %lld)", key,
                           (long long)d, (long long)vocab);
        bool dup = false;
        for (int j = 0; j < *n; j++) dup |= ids[j] == (int32_t)d;
        if (!dup) ids[(*n)++] = (int32_t)d;
    }
    return 0;
}

static int hf_rope(const char *file, const cJSON *root, struct model_config *cfg, struct sgl_err *err) {
    const cJSON *params = json_get(root, "rope_parameters"); /* transformers >= 5 */
    if (!cJSON_IsObject(params)) params = NULL;
    int rc;
    if (params && !mc_json_absent(params, "rope_theta"))
        rc = hf_num(file, params, "rope_theta", true, 0, 0, true, 1e12, &cfg->rope_theta, err);
    else
        rc = hf_num(file, root, "rope_theta", false, 10000.0, 0, true, 1e12, &cfg->rope_theta, err);
    if (rc) return rc;

    struct rope_scaling *rs = &cfg->rope_scaling;
    mc_rope_defaults(rs);
    const cJSON *sc = json_get(root, "rope_scaling");
    if (sc && !cJSON_IsNull(sc) && !cJSON_IsObject(sc))
        return mc_fail(file, err, ERR_FORMAT, "field 'rope_scaling' must be an object or null");
    if (!cJSON_IsObject(sc)) sc = params;
    if (!sc) return 0;
    const char *type = json_get_string(sc, "rope_type");
    if (!type) type = json_get_string(sc, "type");
    if (!type) {
        if (sc == params) return 0;
        return mc_fail(file, err, ERR_FORMAT, "rope_scaling has no 'rope_type' (or 'type')");
    }
    if (strcmp(type, "default") == 0) return 0;
    if (strcmp(type, "linear") == 0)
        rs->type = ROPE_SCALING_LINEAR;
    else if (strcmp(type, "llama3") == 0)
        rs->type = ROPE_SCALING_LLAMA3;
    else if (strcmp(type, "yarn") == 0)
        rs->type = ROPE_SCALING_YARN;
    else
        return mc_fail(file, err, ERR_INVALID,
                       "unsupported rope_scaling type '%.64s' (supported: default, linear, llama3, yarn)", type);
    if ((rc = hf_num(file, sc, "factor", true, 1, 0, true, 1e6, &rs->factor, err))) return rc;
    bool llama3 = rs->type == ROPE_SCALING_LLAMA3;
    if ((rc = hf_int(file, sc, "original_max_position_embeddings", llama3, 0, 1, MC_MAX_POSITIONS,
                     &rs->original_max_position_embeddings, err)))
        return rc;
    if (llama3) {
        if ((rc = hf_num(file, sc, "low_freq_factor", false, 1.0, 0, true, 1e6, &rs->low_freq_factor, err)) ||
            (rc = hf_num(file, sc, "high_freq_factor", false, 4.0, 0, true, 1e6, &rs->high_freq_factor, err)))
            return rc;
    }
    if (rs->type == ROPE_SCALING_YARN) {
        if ((rc = hf_num(file, sc, "beta_fast", false, 32.0, 0, true, 1e6, &rs->beta_fast, err)) ||
            (rc = hf_num(file, sc, "beta_slow", false, 1.0, 0, true, 1e6, &rs->beta_slow, err)) ||
            (rc = hf_num(file, sc, "mscale", false, 1.0, 0, false, 1e6, &rs->mscale, err)) ||
            (rc = hf_num(file, sc, "mscale_all_dim", false, 0.0, 0, false, 1e6, &rs->mscale_all_dim, err)) ||
            (rc = hf_num(file, sc, "attention_factor", false, 0.0, 0, false, 1e6, &rs->attention_factor, err)))
            return rc;
    }
    return 0;
}

static int hf_dtype(const char *file, const cJSON *root, enum dtype *out, struct sgl_err *err) {
    const char *key = "torch_dtype";
    if (mc_json_absent(root, key)) key = "dtype";
    if (mc_json_absent(root, key)) {
        *out = DTYPE_F32; /* transformers' default when the config names none */
        return 0;
    }
    const char *s = json_get_string(root, key);
    if (s && strcmp(s, "float32") == 0)
        *out = DTYPE_F32;
    else if (s && strcmp(s, "float16") == 0)
        *out = DTYPE_F16;
    else if (s && strcmp(s, "bfloat16") == 0)
        *out = DTYPE_BF16;
    else
        return mc_fail(file, err, ERR_INVALID, "unsupported %s '%.64s' (supported: float32, float16, bfloat16)", key,
                       s ? s : "(not a string)");
    return 0;
}

static int hf_generation(const char *file, const char *text, struct model_config *cfg, struct sgl_err *err) {
    cJSON *root = cJSON_Parse(text);
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = mc_fail(file, err, ERR_FORMAT, "not a valid JSON object");
        goto out;
    }
    int32_t ids[MODEL_CONFIG_MAX_EOS];
    int n;
    if ((rc = hf_token_ids(file, root, "eos_token_id", cfg->vocab_size, ids, MODEL_CONFIG_MAX_EOS, &n, err))) goto out;
    if (n) { /* generation_config's ids first, then config.json's that it does not repeat */
        for (int i = 0; i < cfg->n_eos && n < MODEL_CONFIG_MAX_EOS; i++) {
            bool dup = false;
            for (int j = 0; j < n; j++) dup |= ids[j] == cfg->eos_token_ids[i];
            if (!dup) ids[n++] = cfg->eos_token_ids[i];
        }
        memcpy(cfg->eos_token_ids, ids, sizeof ids);
        cfg->n_eos = n;
    }
    if ((rc = hf_token_ids(file, root, "bos_token_id", cfg->vocab_size, ids, 1, &n, err))) goto out;
    if (n) cfg->bos_token_id = ids[0];
    if ((rc = hf_token_ids(file, root, "pad_token_id", cfg->vocab_size, ids, 1, &n, err))) goto out;
    if (n) cfg->pad_token_id = ids[0];
    struct generation_defaults *g = &cfg->gen;
    if ((g->has_temperature = !mc_json_absent(root, "temperature")) &&
        (rc = hf_num(file, root, "temperature", true, 0, 0, false, 1e6, &g->temperature, err)))
        goto out;
    if ((g->has_top_p = !mc_json_absent(root, "top_p")) &&
        (rc = hf_num(file, root, "top_p", true, 0, 0, true, 1.0, &g->top_p, err)))
        goto out;
    if ((g->has_top_k = !mc_json_absent(root, "top_k")) &&
        (rc = hf_int(file, root, "top_k", true, 0, 0, MC_MAX_VOCAB, &g->top_k, err)))
        goto out;
    if ((g->has_repetition_penalty = !mc_json_absent(root, "repetition_penalty")) &&
        (rc = hf_num(file, root, "repetition_penalty", true, 0, 0, true, 1e6, &g->repetition_penalty, err)))
        goto out;
out:
    cJSON_Delete(root);
    return rc;
}

static int hf_parse(const char *file, const char *json, const char *gen_file, const char *gen_json,
                    struct model_config *cfg, struct sgl_err *err) {
    mc_defaults(cfg);
    cJSON *root = cJSON_Parse(json ? json : "");
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = mc_fail(file, err, ERR_FORMAT, "not a valid JSON object");
        goto out;
    }
    const cJSON *archs = json_get(root, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    const char *name = cJSON_IsString(a0) ? a0->valuestring : json_get_string(root, "model_type");
    if (!name) {
        rc = mc_fail(file, err, ERR_FORMAT, "missing field 'architectures' (and no 'model_type')");
        goto out;
    }
    cfg->arch = model_config_arch_from_name(name);
    if (cfg->arch == MODEL_ARCH_UNKNOWN) {
        rc = mc_fail(file, err, ERR_INVALID, "unsupported architecture '%.64s' (supported: " MC_SUPPORTED_HF ")", name);
        goto out;
    }
    snprintf(cfg->arch_name, sizeof cfg->arch_name, "%s", name);
    bool qwen = cfg->arch != MODEL_ARCH_LLAMA;

    if ((rc = hf_int(file, root, "hidden_size", true, 0, 1, MC_MAX_HIDDEN, &cfg->hidden_size, err)) ||
        (rc = hf_int(file, root, "num_hidden_layers", true, 0, 1, MC_MAX_LAYERS, &cfg->n_layers, err)) ||
        (rc = hf_int(file, root, "num_attention_heads", true, 0, 1, MC_MAX_HEADS, &cfg->n_heads, err)) ||
        (rc = hf_int(file, root, "num_key_value_heads", false, cfg->n_heads, 1, MC_MAX_HEADS, &cfg->n_kv_heads, err)) ||
        (rc = hf_int(file, root, "intermediate_size", true, 0, 1, MC_MAX_FFN, &cfg->intermediate_size, err)) ||
        (rc = hf_int(file, root, "vocab_size", true, 0, 1, MC_MAX_VOCAB, &cfg->vocab_size, err)) ||
        (rc = hf_int(file, root, "max_position_embeddings", false, qwen ? 32768 : 2048, 1, MC_MAX_POSITIONS,
                     &cfg->max_position_embeddings, err)) ||
        (rc = hf_num(file, root, "rms_norm_eps", false, 1e-6, 0, true, 0.5, &cfg->rms_norm_eps, err)))
        goto out;
    if (mc_json_absent(root, "head_dim") && cfg->arch != MODEL_ARCH_QWEN3 && cfg->hidden_size % cfg->n_heads) {
        rc = mc_fail(file, err, ERR_INVALID, "hidden_size %lld is not a multiple of num_attention_heads %lld",
                     (long long)cfg->hidden_size, (long long)cfg->n_heads);
        goto out;
    }
    int64_t def_hd = cfg->arch == MODEL_ARCH_QWEN3 ? 128 : cfg->hidden_size / cfg->n_heads;
    if ((rc = hf_int(file, root, "head_dim", false, def_hd, 1, MC_MAX_HEAD_DIM, &cfg->head_dim, err))) goto out;
    if ((rc = hf_rope(file, root, cfg, err))) goto out;
    if ((rc = hf_bool(file, root, "tie_word_embeddings", false, &cfg->tie_word_embeddings, err)) ||
        (rc = hf_bool(file, root, "attention_bias", false, &cfg->attention_bias, err)))
        goto out;
    if (cfg->arch == MODEL_ARCH_QWEN2) cfg->attention_bias = true;
    cfg->qk_norm = cfg->arch == MODEL_ARCH_QWEN3;
    cfg->rope_interleaved = false;
    if ((rc = hf_dtype(file, root, &cfg->torch_dtype, err))) goto out;

    int32_t ids[MODEL_CONFIG_MAX_EOS];
    int n;
    if ((rc = hf_token_ids(file, root, "bos_token_id", cfg->vocab_size, ids, 1, &n, err))) goto out;
    if (n) cfg->bos_token_id = ids[0];
    if ((rc = hf_token_ids(file, root, "pad_token_id", cfg->vocab_size, ids, 1, &n, err))) goto out;
    if (n) cfg->pad_token_id = ids[0];
    if ((rc = hf_token_ids(file, root, "eos_token_id", cfg->vocab_size, cfg->eos_token_ids, MODEL_CONFIG_MAX_EOS,
                           &cfg->n_eos, err)))
        goto out;
    if ((rc = mc_finish(file, cfg, err))) goto out;
    if (gen_json) rc = hf_generation(gen_file, gen_json, cfg, err);
out:
    cJSON_Delete(root);
    return rc;
}

int model_config_parse_hf_json(const char *json, const char *gen_json, struct model_config *cfg, struct sgl_err *err) {
    return hf_parse("config.json", json, "generation_config.json", gen_json, cfg, err);
}

int model_config_load_hf_dir(const char *dir, struct model_config *cfg, struct sgl_err *err) {
    mc_defaults(cfg);
    size_t dl = strlen(dir);
    char *cpath = malloc(dl + 32), *gpath = malloc(dl + 32);
    char *text = NULL, *gen = NULL;
    int rc;
    if (!cpath || !gpath) {
        rc = mc_fail(dir, err, ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(cpath, dl + 32, "%s/config.json", dir);
    snprintf(gpath, dl + 32, "%s/generation_config.json", dir);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        rc = mc_fail(dir, err, ERR_NOTFOUND, "no such file or directory");
        goto out;
    }
    if (!S_ISDIR(sb.st_mode) || stat(cpath, &sb) != 0) {
        rc = mc_fail(dir, err, ERR_NOTFOUND, "no config.json (expected an HF model directory or a .gguf file)");
        goto out;
    }
    if ((rc = file_read_all(cpath, &text, NULL, err))) goto out;
    if (stat(gpath, &sb) == 0 && (rc = file_read_all(gpath, &gen, NULL, err))) goto out;
    rc = hf_parse(cpath, text, gpath, gen, cfg, err);
out:
    free(text);
    free(gen);
    free(cpath);
    free(gpath);
    return rc;
}

/* ---- GGUF metadata ----------------------------------------------------- */

struct gguf_cfg_ctx {
    const struct gguf *g;
    const char *file;
    const char *arch;
    struct sgl_err *err;
};

/* "<arch>.<suffix>" (suffix starting with '.') or the plain key. */
static const char *gc_key(const struct gguf_cfg_ctx *c, const char *suffix, char *buf, size_t n) {
    if (suffix[0] != '.') return suffix;
    snprintf(buf, n, "%s%s", c->arch, suffix);
    return buf;
}

static int gc_int(const struct gguf_cfg_ctx *c, const char *suffix, bool required, int64_t def, int64_t lo, int64_t hi,
                  int64_t *out) {
    char buf[160];
    const char *key = gc_key(c, suffix, buf, sizeof buf);
    if (gguf_find_key(c->g, key) < 0) {
        if (required) return mc_fail(c->file, c->err, ERR_FORMAT, "missing metadata key '%s'", key);
        *out = def;
        return 0;
    }
    int64_t v;
    if (!gguf_get_int(c->g, key, &v))
        return mc_fail(c->file, c->err, ERR_FORMAT, "metadata key '%s' must be an integer", key);
    if (v < lo || v > hi)
        return mc_fail(c->file, c->err, ERR_INVALID, "metadata key '%s' = %lld is out of range [%lld, %lld]", key,
                       (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

/* Number in (lo, hi] ([lo, hi] when !lo_open); absent -> def, or an error when required. */
static int gc_num(const struct gguf_cfg_ctx *c, const char *suffix, bool required, double def, double lo, bool lo_open,
                  double hi, double *out) {
    char buf[160];
    const char *key = gc_key(c, suffix, buf, sizeof buf);
    if (gguf_find_key(c->g, key) < 0) {
        if (required) return mc_fail(c->file, c->err, ERR_FORMAT, "missing metadata key '%s'", key);
        *out = def;
        return 0;
    }
    double v;
    if (!gguf_get_float(c->g, key, &v) || !isfinite(v))
        return mc_fail(c->file, c->err, ERR_FORMAT, "metadata key '%s' must be a number", key);
    if (v < lo || (lo_open && v == lo) || v > hi)
        return mc_fail(c->file, c->err, ERR_INVALID, "metadata key '%s' = %g is out of range %s%g, %g]", key, v,
                       lo_open ? "(" : "[", lo, hi);
    *out = v;
    return 0;
}

/* A tokenizer.ggml.*_token_id: absent or the 0xFFFFFFFF "none" marker -> -1. */
static int gc_token(const struct gguf_cfg_ctx *c, const char *key, int64_t vocab, int32_t *out) {
    int64_t v;
    *out = -1;
    if (gguf_find_key(c->g, key) < 0) return 0;
    if (!gguf_get_int(c->g, key, &v))
        return mc_fail(c->file, c->err, ERR_FORMAT, "metadata key '%s' must be an integer", key);
    if (v < 0 || v == 0xFFFFFFFFll) return 0;
    if (v >= vocab)
        return mc_fail(c->file, c->err, ERR_INVALID, "%s %lld is outside the vocabulary (%lld tokens)", key,
                       (long long)v, (long long)vocab);
    *out = (int32_t)v;
    return 0;
}

static int gc_rope_scaling(const struct gguf_cfg_ctx *c, struct model_config *cfg) {
    struct rope_scaling *rs = &cfg->rope_scaling;
    mc_rope_defaults(rs);
    char buf[160];
    const char *type = gguf_get_str(c->g, gc_key(c, ".rope.scaling.type", buf, sizeof buf), NULL);
    int rc;
    if (!type) { /* older files: <arch>.rope.scale_linear */
        if (gguf_find_key(c->g, gc_key(c, ".rope.scale_linear", buf, sizeof buf)) < 0) return 0;
        rs->type = ROPE_SCALING_LINEAR;
        return gc_num(c, ".rope.scale_linear", true, 1, 0, true, 1e6, &rs->factor);
    }
    if (strcmp(type, "none") == 0) return 0;
    if (strcmp(type, "linear") == 0)
        rs->type = ROPE_SCALING_LINEAR;
    else if (strcmp(type, "yarn") == 0)
        rs->type = ROPE_SCALING_YARN;
    else
        return mc_fail(c->file, c->err, ERR_INVALID,
                       "unsupported rope scaling type '%.64s' in '%s' (supported: none, linear, yarn)", type, buf);
    if ((rc = gc_num(c, ".rope.scaling.factor", true, 1, 0, true, 1e6, &rs->factor)) ||
        (rc = gc_int(c, ".rope.scaling.original_context_length", false, 0, 1, MC_MAX_POSITIONS,
                     &rs->original_max_position_embeddings)))
        return rc;
    if (rs->type == ROPE_SCALING_YARN &&
        ((rc = gc_num(c, ".rope.scaling.yarn_beta_fast", false, 32.0, 0, true, 1e6, &rs->beta_fast)) ||
         (rc = gc_num(c, ".rope.scaling.yarn_beta_slow", false, 1.0, 0, true, 1e6, &rs->beta_slow))))
        return rc;
    return 0;
}

static int gc_generation(const struct gguf_cfg_ctx *c, struct generation_defaults *g) {
    int rc;
    if ((g->has_temperature = gguf_find_key(c->g, "general.sampling.temp") >= 0) &&
        (rc = gc_num(c, "general.sampling.temp", true, 0, 0, false, 1e6, &g->temperature)))
        return rc;
    if ((g->has_top_p = gguf_find_key(c->g, "general.sampling.top_p") >= 0) &&
        (rc = gc_num(c, "general.sampling.top_p", true, 0, 0, true, 1.0, &g->top_p)))
        return rc;
    if ((g->has_top_k = gguf_find_key(c->g, "general.sampling.top_k") >= 0) &&
        (rc = gc_int(c, "general.sampling.top_k", true, 0, 0, MC_MAX_VOCAB, &g->top_k)))
        return rc;
    if ((g->has_repetition_penalty = gguf_find_key(c->g, "general.sampling.penalty_repeat") >= 0) &&
        (rc = gc_num(c, "general.sampling.penalty_repeat", true, 0, 0, true, 1e6, &g->repetition_penalty)))
        return rc;
    return 0;
}

int model_config_from_gguf(const struct gguf *g, struct model_config *cfg, struct sgl_err *err) {
    mc_defaults(cfg);
    const char *file = gguf_path(g);
    const char *arch = gguf_get_str(g, "general.architecture", NULL);
    if (!arch) return mc_fail(file, err, ERR_FORMAT, "missing metadata key 'general.architecture'");
    cfg->arch = model_config_arch_from_name(arch);
    if (cfg->arch == MODEL_ARCH_UNKNOWN || strcmp(arch, "mistral") == 0)
        return mc_fail(file, err, ERR_INVALID,
                       "unsupported GGUF architecture '%.64s' (supported: " MC_SUPPORTED_GGUF ")", arch);
    snprintf(cfg->arch_name, sizeof cfg->arch_name, "%s", arch);
    struct gguf_cfg_ctx c = {g, file, arch, err};
    int rc;
    if ((rc = gc_int(&c, ".embedding_length", true, 0, 1, MC_MAX_HIDDEN, &cfg->hidden_size)) ||
        (rc = gc_int(&c, ".block_count", true, 0, 1, MC_MAX_LAYERS, &cfg->n_layers)) ||
        (rc = gc_int(&c, ".attention.head_count", true, 0, 1, MC_MAX_HEADS, &cfg->n_heads)) ||
        (rc = gc_int(&c, ".attention.head_count_kv", false, cfg->n_heads, 1, MC_MAX_HEADS, &cfg->n_kv_heads)) ||
        (rc = gc_int(&c, ".feed_forward_length", true, 0, 1, MC_MAX_FFN, &cfg->intermediate_size)) ||
        (rc = gc_int(&c, ".context_length", true, 0, 1, MC_MAX_POSITIONS, &cfg->max_position_embeddings)) ||
        (rc = gc_num(&c, ".attention.layer_norm_rms_epsilon", true, 0, 0, true, 0.5, &cfg->rms_norm_eps)) ||
        (rc = gc_num(&c, ".rope.freq_base", false, 10000.0, 0, true, 1e12, &cfg->rope_theta)))
        return rc;
    char buf[160];
    if (gguf_find_key(g, gc_key(&c, ".attention.key_length", buf, sizeof buf)) < 0 && cfg->hidden_size % cfg->n_heads)
        return mc_fail(file, err, ERR_INVALID,
                       "%s.embedding_length %lld is not a multiple of %s.attention.head_count %lld", arch,
                       (long long)cfg->hidden_size, arch, (long long)cfg->n_heads);
    if ((rc = gc_int(&c, ".attention.key_length", false, cfg->hidden_size / cfg->n_heads, 1, MC_MAX_HEAD_DIM,
                     &cfg->head_dim)))
        return rc;
    int64_t rope_dim;
    if ((rc = gc_int(&c, ".rope.dimension_count", false, cfg->head_dim, 1, MC_MAX_HEAD_DIM, &rope_dim))) return rc;
    if (rope_dim != cfg->head_dim)
        return mc_fail(file, err, ERR_INVALID,
                       "partial RoPE is not supported (%s.rope.dimension_count %lld != head_dim %lld)", arch,
                       (long long)rope_dim, (long long)cfg->head_dim);
    if ((rc = gc_rope_scaling(&c, cfg))) return rc;

    enum gguf_type et;
    int64_t n_tok = gguf_get_arr_n(g, "tokenizer.ggml.tokens", &et);
    if (n_tok >= 0) {
        if (et != GGUF_TYPE_STRING || n_tok < 1 || n_tok > MC_MAX_VOCAB)
            return mc_fail(file, err, ERR_INVALID, "tokenizer.ggml.tokens must be 1..%d strings", MC_MAX_VOCAB);
        cfg->vocab_size = n_tok;
    } else if ((rc = gc_int(&c, ".vocab_size", true, 0, 1, MC_MAX_VOCAB, &cfg->vocab_size))) {
        return rc;
    }
    int32_t id;
    if ((rc = gc_token(&c, "tokenizer.ggml.bos_token_id", cfg->vocab_size, &cfg->bos_token_id)) ||
        (rc = gc_token(&c, "tokenizer.ggml.padding_token_id", cfg->vocab_size, &cfg->pad_token_id)))
        return rc;
    static const char *const eos_keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                           "tokenizer.ggml.eom_token_id"};
    for (size_t i = 0; i < sizeof eos_keys / sizeof eos_keys[0]; i++) {
        if ((rc = gc_token(&c, eos_keys[i], cfg->vocab_size, &id))) return rc;
        bool dup = id < 0;
        for (int j = 0; j < cfg->n_eos; j++) dup |= cfg->eos_token_ids[j] == id;
        if (!dup) cfg->eos_token_ids[cfg->n_eos++] = id;
    }
    if ((rc = gc_generation(&c, &cfg->gen))) return rc;

    const struct tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return mc_fail(file, err, ERR_FORMAT, "no 'token_embd.weight' tensor");
    cfg->torch_dtype = emb->dtype;
    cfg->tie_word_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    cfg->attention_bias = cfg->arch == MODEL_ARCH_QWEN2 || gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    cfg->qk_norm = cfg->arch == MODEL_ARCH_QWEN3;
    cfg->rope_interleaved = cfg->arch == MODEL_ARCH_LLAMA;
    return mc_finish(file, cfg, err);
}
