/* model: loading a Llama-family model from an HF directory or a GGUF file
 * (see model.h). Maps checkpoint tensor names to the layer structure, checks
 * every shape against the config, and converts norm weights and biases to f32.
 *
 * HF name                                   GGUF name
 * model.embed_tokens.weight                 token_embd.weight
 * model.layers.N.input_layernorm.weight     blk.N.attn_norm.weight
 * model.layers.N.self_attn.q_proj.weight    blk.N.attn_q.weight      (+ .bias)
 * model.layers.N.self_attn.k_proj.weight    blk.N.attn_k.weight      (+ .bias)
 * model.layers.N.self_attn.v_proj.weight    blk.N.attn_v.weight      (+ .bias)
 * model.layers.N.self_attn.o_proj.weight    blk.N.attn_output.weight
 * model.layers.N.self_attn.q_norm.weight    blk.N.attn_q_norm.weight (Qwen3)
 * model.layers.N.self_attn.k_norm.weight    blk.N.attn_k_norm.weight (Qwen3)
 * model.layers.N.post_attention_layernorm   blk.N.ffn_norm.weight
 * model.layers.N.mlp.{gate,up,down}_proj    blk.N.ffn_{gate,up,down}.weight
 * model.norm.weight                         output_norm.weight
 * lm_head.weight                            output.weight            (absent when tied) */
#include "models/model.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "model_loader/gguf.h"
#include "models/default_model.h"
#include "model_loader/safetensors.h"
#include "tokenizer/tokenizer.h"

struct loader {
    struct model *m;
    const char *path;
    float *arena_next;
    float *arena_end;
};

static const struct tensor *find_tensor(const struct model *m, const char *name) {
    return m->gguf ? gguf_find_tensor(m->gguf, name) : safetensors_find(m->st, name);
}

/* Looks up a weight by its HF or GGUF name (layer >= 0 fills "%d"), checks its
 * shape is [d0] (d1 < 0) or [d0, d1]. Missing tensors are an error unless optional. */
static int get_tensor(struct loader *ld, const char *hf_fmt, const char *gguf_fmt, int layer, int64_t d0, int64_t d1,
                      bool optional, const struct tensor **out, struct sgl_err *err) {
    char name[256];
    snprintf(name, sizeof name, ld->m->gguf ? gguf_fmt : hf_fmt, layer);
    const struct tensor *t = find_tensor(ld->m, name);
    *out = t;
    if (!t) {
        if (optional) return 0;
        return err_setf(err, ERR_NOTFOUND, "%s: missing tensor '%s'", ld->path, name);
    }
    int want_dims = d1 < 0 ? 1 : 2;
    bool ok = t->n_dims == want_dims && t->shape[0] == d0 && (d1 < 0 || t->shape[1] == d1);
    if (!ok) {
        char got[96] = "", want[64];
        for (int i = 0; i < t->n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (d1 < 0)
            snprintf(want, sizeof want, "%lld", (long long)d0);
        else
            snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
        return err_setf(err, ERR_FORMAT, "%s: tensor '%s' has shape [%s], the config implies [%s]", ld->path, name,
                        got, want);
    }
    if (want_dims == 2 && tensor_cols(t) % dtype_block_size(t->dtype) != 0)
        return err_setf(err, ERR_FORMAT, "%s: tensor '%s' row length %lld is not a multiple of the %s block size",
                        ld->path, name, (long long)tensor_cols(t), dtype_name(t->dtype));
    return 0;
}

static int get_matrix(struct loader *ld, const char *hf_fmt, const char *gguf_fmt, int layer, int64_t rows,
                      int64_t cols, struct tensor *out, struct sgl_err *err) {
    const struct tensor *t;
    int rc = get_tensor(ld, hf_fmt, gguf_fmt, layer, rows, cols, false, &t, err);
    if (rc) return rc;
    *out = *t;
    return 0;
}

/* Copies a 1-D tensor of n values into the f32 arena; NULL result when optional and absent. */
static int get_vector(struct loader *ld, const char *hf_fmt, const char *gguf_fmt, int layer, int64_t n, bool optional,
                      const float **out, struct sgl_err *err) {
    const struct tensor *t;
    *out = NULL;
    int rc = get_tensor(ld, hf_fmt, gguf_fmt, layer, n, -1, optional, &t, err);
    if (rc || !t) return rc;
    if (dtype_is_quantized(t->dtype) && n % dtype_block_size(t->dtype) != 0)
        return err_setf(err, ERR_FORMAT, "%s: vector tensor of length %lld cannot be %s", ld->path, (long long)n,
                        dtype_name(t->dtype));
    if (ld->arena_next + n > ld->arena_end) return err_setf(err, ERR_FAIL, "%s: internal: f32 arena too small", ld->path);
    kernels_dequantize_row(t->dtype, t->data, ld->arena_next, n);
    *out = ld->arena_next;
    ld->arena_next += n;
    return 0;
}

static bool is_gguf_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

static int map_weights(struct loader *ld, struct sgl_err *err) {
    struct model *m = ld->m;
    const struct model_config *c = &m->cfg;
    int64_t H = c->hidden_size, hd = c->head_dim, nq = c->n_heads * hd, nkv = c->n_kv_heads * hd,
            I = c->intermediate_size, V = c->vocab_size;
    int rc;
    const struct tensor *t;
    if ((rc = get_tensor(ld, "model.embed_tokens.weight", "token_embd.weight", -1, V, H, false, &t, err))) return rc;
    m->embed = *t;
    if ((rc = get_tensor(ld, "lm_head.weight", "output.weight", -1, V, H, true, &t, err))) return rc;
    if (t && !(m->gguf == NULL && c->tie_word_embeddings)) {
        m->lm_head = *t;
    } else if (c->tie_word_embeddings || m->gguf) {
        m->lm_head = m->embed;
    } else {
        return err_setf(err, ERR_NOTFOUND, "%s: missing tensor 'lm_head.weight' (tie_word_embeddings is false)",
                        ld->path);
    }
    if ((rc = get_vector(ld, "model.norm.weight", "output_norm.weight", -1, H, false, &m->final_norm, err))) return rc;
    for (int l = 0; l < c->n_layers; l++) {
        struct model_layer *L = &m->layers[l];
        if ((rc = get_matrix(ld, "model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight", l, nq, H, &L->wq,
                             err)) ||
            (rc = get_matrix(ld, "model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight", l, nkv, H, &L->wk,
                             err)) ||
            (rc = get_matrix(ld, "model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight", l, nkv, H, &L->wv,
                             err)) ||
            (rc = get_matrix(ld, "model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight", l, H, nq,
                             &L->wo, err)) ||
            (rc = get_matrix(ld, "model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight", l, I, H,
                             &L->w_gate, err)) ||
            (rc = get_matrix(ld, "model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight", l, I, H, &L->w_up,
                             err)) ||
            (rc = get_matrix(ld, "model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight", l, H, I,
                             &L->w_down, err)))
            return rc;
        if ((rc = get_vector(ld, "model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight", l, H, false,
                             &L->attn_norm, err)) ||
            (rc = get_vector(ld, "model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight", l, H,
                             false, &L->ffn_norm, err)))
            return rc;
        bool bias_required = c->attention_bias;
        if ((rc = get_vector(ld, "model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias", l, nq,
                             !bias_required, &L->bq, err)) ||
            (rc = get_vector(ld, "model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias", l, nkv,
                             !bias_required, &L->bk, err)) ||
            (rc = get_vector(ld, "model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias", l, nkv,
                             !bias_required, &L->bv, err)))
            return rc;
        if (c->qk_norm) {
            if ((rc = get_vector(ld, "model.layers.%d.self_attn.q_norm.weight", "blk.%d.attn_q_norm.weight", l, hd,
                                 false, &L->q_norm, err)) ||
                (rc = get_vector(ld, "model.layers.%d.self_attn.k_norm.weight", "blk.%d.attn_k_norm.weight", l, hd,
                                 false, &L->k_norm, err)))
                return rc;
        }
    }
    return 0;
}

static bool str_in(const char *s, const char *const *set) {
    for (; *set; set++)
        if (!strcmp(s, *set)) return true;
    return false;
}

int model_check_load_opts(const struct model_load_opts *opts, struct sgl_err *err) {
    static const char *const dtypes[] = {"auto", "bfloat16", "float32", "float", NULL};
    static const char *const quants[] = {"int8", "q4", NULL};
    static const char *const kv_dtypes[] = {"auto", "bfloat16", "float32", NULL};
    if (!opts) return 0;
    if (opts->dtype && !str_in(opts->dtype, dtypes))
        return err_setf(err, ERR_INVALID, "unsupported --dtype '%s' (auto, bfloat16, float32)", opts->dtype);
    if (opts->quantization && !str_in(opts->quantization, quants))
        return err_setf(err, ERR_INVALID, "unsupported --quantization '%s' (int8, q4)", opts->quantization);
    if (opts->kv_cache_dtype && !str_in(opts->kv_cache_dtype, kv_dtypes))
        return err_setf(err, ERR_INVALID, "unsupported --kv-cache-dtype '%s' (auto, bfloat16, float32)",
                        opts->kv_cache_dtype);
    return 0;
}

/* ---- load-time quantization (--quantization) ---------------------------------------------- */

struct quant_job {
    struct tensor *t;  /* rewritten in place to point into the model's quant_buf */
    struct tensor src; /* the checkpoint's tensor */
    enum dtype to;
    uint8_t *dst;
};

struct quant_ctx {
    struct quant_job *jobs;
    int n_jobs;
    int cur; /* the job being converted */
    atomic_bool failed;
};

/* The rows of job q->cur, split evenly over the threads (one f32 row buffer each). */
static void quant_task(void *ctx, int ith, int nth) {
    struct quant_ctx *q = ctx;
    const struct quant_job *jb = &q->jobs[q->cur];
    int64_t K = jb->src.shape[1];
    long long lo, hi;
    threadpool_split(jb->src.shape[0], ith, nth, &lo, &hi);
    if (lo >= hi) return;
    float *row = malloc((size_t)K * sizeof(float));
    if (!row) {
        atomic_store(&q->failed, true);
        return;
    }
    for (long long r = lo; r < hi; r++) {
        kernels_dequantize_row(jb->src.dtype, tensor_row(&jb->src, r), row, K);
        kernels_quantize_row(jb->to, row, jb->dst + (size_t)r * dtype_row_bytes(jb->to, K), K);
    }
    free(row);
}

/* Drops the checkpoint pages of a converted tensor from memory (they are re-read from
 * the file if ever touched again); the mapping itself stays valid. */
static void release_pages(const struct tensor *t) {
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t a = (uintptr_t)t->data, e = a + dtype_row_bytes(t->dtype, t->shape[1]) * (size_t)t->shape[0];
    uintptr_t a2 = (a + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1), e2 = e & ~((uintptr_t)pg - 1);
    if (e2 > a2) (void)madvise((void *)a2, e2 - a2, MADV_DONTNEED);
}

static int quantize_weights(struct model *m, const char *path, const char *mode, bool file_backed,
                            struct sgl_err *err) {
    const struct model_config *c = &m->cfg;
    enum dtype to = !strcmp(mode, "int8") ? DTYPE_Q8_0 : DTYPE_Q4_0;
    int cap = (int)c->n_layers * 7 + 1, n = 0;
    struct quant_job *jobs = calloc((size_t)cap, sizeof *jobs);
    if (!jobs) return err_setf(err, ERR_NOMEM, "%s: out of memory", path);
    int kept = 0;
    for (int l = 0; l <= c->n_layers; l++) {
        struct tensor *ts[7];
        int nt;
        if (l < c->n_layers) {
            struct model_layer *L = &m->layers[l];
            struct tensor *lts[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
            memcpy(ts, lts, sizeof ts);
            nt = 7;
        } else {
            ts[0] = &m->lm_head;
            nt = 1;
        }
        for (int i = 0; i < nt; i++) {
            struct tensor *t = ts[i];
            bool dense = t->dtype == DTYPE_F32 || t->dtype == DTYPE_F16 || t->dtype == DTYPE_BF16;
            if (!dense || t->shape[1] % 32 != 0) {
                kept++;
                continue;
            }
            jobs[n++] = (struct quant_job){.t = t, .src = *t, .to = l == c->n_layers ? DTYPE_Q8_0 : to};
        }
    }
    size_t total = 0;
    for (int j = 0; j < n; j++) {
        total += dtype_row_bytes(jobs[j].to, jobs[j].src.shape[1]) * (size_t)jobs[j].src.shape[0];
        total = (total + 63) & ~(size_t)63;
    }
    if (n == 0) {
        free(jobs);
        LOG_INFO("--quantization %s: no F32/F16/BF16 projection to convert (%d kept as stored)", mode, kept);
        return 0;
    }
    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, 64, total)) {
        free(jobs);
        return err_setf(err, ERR_NOMEM, "%s: out of memory converting the weights to %s (%zu MiB)", path, mode,
                        total >> 20);
    }
    size_t off = 0;
    for (int j = 0; j < n; j++) {
        jobs[j].dst = buf + off;
        off += dtype_row_bytes(jobs[j].to, jobs[j].src.shape[1]) * (size_t)jobs[j].src.shape[0];
        off = (off + 63) & ~(size_t)63;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct threadpool *pool = threadpool_create(ncpu > 0 ? (int)ncpu : 1);
    struct quant_ctx q = {.jobs = jobs, .n_jobs = n};
    atomic_init(&q.failed, false);
    bool lm_tied = m->lm_head.data == m->embed.data;
    /* one tensor at a time, its checkpoint pages dropped right after, so the peak RSS
     * stays near the converted size instead of checkpoint + converted */
    for (q.cur = 0; q.cur < n; q.cur++) {
        if (pool)
            threadpool_run(pool, quant_task, &q);
        else
            quant_task(&q, 0, 1);
        if (file_backed && !(jobs[q.cur].t == &m->lm_head && lm_tied)) release_pages(&jobs[q.cur].src);
    }
    threadpool_destroy(pool);
    if (atomic_load(&q.failed)) {
        free(jobs);
        free(buf);
        return err_setf(err, ERR_NOMEM, "%s: out of memory converting the weights to %s", path, mode);
    }
    for (int j = 0; j < n; j++) {
        struct tensor *t = jobs[j].t;
        t->dtype = jobs[j].to;
        t->data = jobs[j].dst;
        t->nbytes = dtype_row_bytes(t->dtype, t->shape[1]) * (size_t)t->shape[0];
    }
    free(jobs);
    m->quant_buf = buf;
    m->quant_bytes = total;
    m->quantization = !strcmp(mode, "int8") ? "int8" : "q4";
    LOG_INFO("--quantization %s: %d matrices converted (%.1f MiB)%s", mode, n, (double)total / (1 << 20),
             kept ? ", others kept as stored" : "");
    return 0;
}

/* Maps the weights of m (config, tokenizer and checkpoint already open). */
static int model_finish(struct model *m, const char *path, const struct model_load_opts *opts, bool file_backed,
                        struct sgl_err *err) {
    const struct model_config *c = &m->cfg;
    if (tokenizer_vocab_size(m->tok) > c->vocab_size)
        return err_setf(err, ERR_FORMAT, "%s: tokenizer has %d tokens but the model's vocab_size is %lld", path,
                        tokenizer_vocab_size(m->tok), (long long)c->vocab_size);
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    int64_t per_layer = 2 * c->hidden_size + (c->n_heads + 2 * c->n_kv_heads) * c->head_dim + 2 * c->head_dim;
    size_t arena_n = (size_t)(per_layer * c->n_layers + c->hidden_size);
    m->f32_arena = malloc(arena_n * sizeof(float));
    if (!m->layers || !m->f32_arena) return err_setf(err, ERR_NOMEM, "%s: out of memory", path);
    struct loader ld = {.m = m, .path = path, .arena_next = m->f32_arena, .arena_end = m->f32_arena + arena_n};
    int rc = map_weights(&ld, err);
    if (rc) return rc;
    if ((rc = rotary_init(&m->rope, c, err))) return rc;
    /* GGUF carries llama3-style RoPE scaling as per-frequency divisors (llama.cpp's rope_freqs). */
    const struct tensor *ff;
    if ((rc = get_tensor(&ld, "rope_freqs.weight", "rope_freqs.weight", -1, c->head_dim / 2, -1, true, &ff, err)))
        return rc;
    if (ff && m->gguf) {
        float factors[512];
        if (c->head_dim / 2 > 512) return err_setf(err, ERR_FORMAT, "%s: rope_freqs too long", path);
        kernels_dequantize_row(ff->dtype, ff->data, factors, c->head_dim / 2);
        for (int64_t i = 0; i < c->head_dim / 2; i++) {
            if (!(factors[i] > 0)) return err_setf(err, ERR_FORMAT, "%s: rope_freqs.weight has a non-positive factor", path);
            m->rope.inv_freq[i] /= factors[i];
        }
    }
    m->bf16_act = !(opts && opts->dtype && (!strcmp(opts->dtype, "float32") || !strcmp(opts->dtype, "float")));
    const char *kvd = opts && opts->kv_cache_dtype ? opts->kv_cache_dtype : "auto";
    if (!strcmp(kvd, "auto"))
        m->kv_dtype = m->bf16_act && m->layers[0].wq.dtype != DTYPE_F32 ? DTYPE_BF16 : DTYPE_F32;
    else
        m->kv_dtype = !strcmp(kvd, "bfloat16") ? DTYPE_BF16 : DTYPE_F32;
    if (opts && opts->quantization && (rc = quantize_weights(m, path, opts->quantization, file_backed, err)))
        return rc;
    return 0;
}

int model_load(const char *path, const struct model_load_opts *opts, struct model **out, struct sgl_err *err) {
    *out = NULL;
    struct stat st;
    if (!path || stat(path, &st) != 0) return err_setf(err, ERR_NOTFOUND, "%s: no such file or directory", path);
    struct model *m = calloc(1, sizeof *m);
    if (!m) return err_setf(err, ERR_NOMEM, "out of memory");
    int rc;
    const char *tok_path = opts ? opts->tokenizer_path : NULL;
    if ((rc = model_check_load_opts(opts, err))) goto fail;
    if (S_ISDIR(st.st_mode)) {
        if ((rc = model_config_load_hf_dir(path, &m->cfg, err))) goto fail;
        if ((rc = safetensors_open(path, &m->st, err))) goto fail;
        if ((rc = tokenizer_load_hf_dir(tok_path ? tok_path : path, &m->tok, err))) goto fail;
    } else if (is_gguf_file(path)) {
        if ((rc = gguf_open(path, &m->gguf, err))) goto fail;
        if ((rc = model_config_from_gguf(m->gguf, &m->cfg, err))) goto fail;
        rc = tok_path ? tokenizer_load_hf_dir(tok_path, &m->tok, err) : tokenizer_load_gguf(m->gguf, &m->tok, err);
        if (rc) goto fail;
        gguf_release_metadata(m->gguf); /* the vocabulary lives in the tokenizer now (~11 MB for Qwen3's) */
    } else {
        rc = err_setf(err, ERR_FORMAT, "%s: not a model directory or a GGUF file", path);
        goto fail;
    }
    if ((rc = model_finish(m, path, opts, true, err))) goto fail;
    *out = m;
    return 0;
fail:
    model_destroy(m);
    return rc;
}

int model_load_default(const struct model_load_opts *opts, struct model **out, struct sgl_err *err) {
    *out = NULL;
    int rc = model_check_load_opts(opts, err);
    if (rc) return rc;
    size_t size;
    const void *data = default_model_data(&size);
    const char *name = DEFAULT_MODEL_NAME " (embedded)";
    struct model *m = calloc(1, sizeof *m);
    if (!m) return err_setf(err, ERR_NOMEM, "out of memory");
    if ((rc = gguf_open_memory(data, size, name, &m->gguf, err)) ||
        (rc = model_config_from_gguf(m->gguf, &m->cfg, err)) || (rc = tokenizer_load_gguf(m->gguf, &m->tok, err)))
        goto fail;
    m->cfg.max_position_embeddings = DEFAULT_MODEL_CONTEXT_LENGTH;
    /* As in llama2.c's run.c, BOS delimits stories: the model ends a story by emitting it. */
    if (m->cfg.bos_token_id >= 0 && m->cfg.n_eos < MODEL_CONFIG_MAX_EOS)
        m->cfg.eos_token_ids[m->cfg.n_eos++] = m->cfg.bos_token_id;
    if ((rc = model_finish(m, name, opts, false, err))) goto fail;
    *out = m;
    return 0;
fail:
    model_destroy(m);
    return rc;
}

void model_destroy(struct model *m) {
    if (!m) return;
    tokenizer_destroy(m->tok);
    safetensors_close(m->st);
    gguf_close(m->gguf);
    rotary_free(&m->rope);
    free(m->layers);
    free(m->f32_arena);
    free(m->quant_buf);
    free(m);
}
