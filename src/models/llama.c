/* llama: the forward pass of the Llama family (Llama, Qwen2, Qwen3), which
 * differ only in flags the config carries:
 *   Qwen2: q/k/v projection biases;  Qwen3: per-head RMSNorm of q and k before
 *   RoPE and a head_dim independent of hidden/heads;  GGUF llama: interleaved RoPE.
 *
 * Per layer, for the batch's T tokens (x is the residual stream [T][H]):
 *   h = rmsnorm(x) ; q,k,v = h.Wq^T(+b), h.Wk^T(+b), h.Wv^T(+b)
 *   [qwen3: q,k = rmsnorm_per_head(q,k)] ; q,k = rope(q,k, positions)
 *   kv[layer][slot(token)] = k, v ; a = attention(q, kv) ; x += a.Wo^T
 *   h = rmsnorm(x) ; x += (silu(h.Wg^T) * h.Wu^T).Wd^T
 * then logits = rmsnorm(x[logit rows]).Wlm^T. Activations are f32; matmul inputs are rounded
 * to bf16 for BF16 weights unless the model was loaded with --dtype float32 (m->bf16_act).
 * Scratch comes from a model_workspace that only grows (no per-step malloc once
 * warmed up). Runs on the caller's thread, fanning kernels out to the pool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "layers/attention.h"
#include "mem_cache/kv_pool.h"
#include "model_executor/forward_batch.h"
#include "models/model.h"

enum { FWD_SLICE = 512 /* tokens per q/k/v and MLP slice of a long pass (see model_forward) */ };

struct model_workspace {
    size_t cap;  /* floats in buf */
    float *buf;
    size_t seq_cap;
    int32_t *tok_seq;
    size_t mm_cap; /* bytes of matmul scratch */
    void *mm_scratch;
};

struct model_workspace *model_workspace_create(void) { return calloc(1, sizeof(struct model_workspace)); }

void model_workspace_destroy(struct model_workspace *ws) {
    if (!ws) return;
    free(ws->buf);
    free(ws->tok_seq);
    free(ws->mm_scratch);
    free(ws);
}

static int workspace_reserve(struct model_workspace *ws, size_t n_floats, size_t n_tokens) {
    if (n_floats > ws->cap) {
        float *nb = realloc(ws->buf, n_floats * sizeof(float));
        if (!nb) return -1;
        ws->buf = nb;
        ws->cap = n_floats;
    }
    if (n_tokens > ws->seq_cap) {
        int32_t *ns = realloc(ws->tok_seq, n_tokens * sizeof(int32_t));
        if (!ns) return -1;
        ws->tok_seq = ns;
        ws->seq_cap = n_tokens;
    }
    return 0;
}

/* n projections of x: y[i] = x . W[i]^T (+ bias[i]) with the model's activation precision
 * and the workspace's scratch (grown to the largest need; none in steady state); one
 * pass over the pool for all of them (kernels_matmul_multi). */
static void matmul_n(const struct model *m, struct threadpool *pool, struct model_workspace *ws, const float *x,
                     int64_t M, int64_t K, int n, const struct tensor *const *W, const float *const *bias,
                     float *const *y) {
    struct kernels_matmul_opts o = {.bf16_activations = m->bf16_act};
    size_t need = 0;
    for (int i = 0; i < n; i++) {
        size_t ni = kernels_matmul_scratch_size(pool ? threadpool_size(pool) : 1, M, K, W[i]->dtype);
        if (ni > need) need = ni;
    }
    if (need > ws->mm_cap) {
        void *nb = malloc(need);
        if (nb) {
            free(ws->mm_scratch);
            ws->mm_scratch = nb;
            ws->mm_cap = need;
        }
    }
    if (need <= ws->mm_cap) {
        o.scratch = ws->mm_scratch;
        o.scratch_bytes = ws->mm_cap;
    }
    kernels_matmul_multi(pool, x, M, K, n, W, bias, y, &o);
}

static void matmul(const struct model *m, struct threadpool *pool, struct model_workspace *ws, const float *x,
                   int64_t M, int64_t K, const struct tensor *W, const float *bias, float *y) {
    matmul_n(m, pool, ws, x, M, K, 1, &W, &bias, &y);
}

static int validate_batch(const struct model *m, const struct kv_pool *kv, const struct forward_batch *b,
                          struct sgl_err *err) {
    if (b->n_tokens <= 0 || b->n_seqs <= 0 || b->seq_start[0] != 0 || b->seq_start[b->n_seqs] != b->n_tokens)
        return err_setf(err, ERR_INVALID, "forward: malformed batch");
    if (kv->n_layers != m->cfg.n_layers || kv->kv_dim != m->cfg.n_kv_heads * m->cfg.head_dim ||
        kv->dtype != m->kv_dtype)
        return err_setf(err, ERR_INVALID, "forward: KV pool does not match the model");
    for (int32_t s = 0; s < b->n_seqs; s++) {
        int32_t n_new = b->seq_start[s + 1] - b->seq_start[s];
        if (n_new <= 0 || n_new > b->kv_len[s]) return err_setf(err, ERR_INVALID, "forward: malformed sequence %d", s);
        for (int32_t i = b->seq_start[s]; i < b->seq_start[s + 1]; i++) {
            int32_t pos = b->positions[i];
            if (pos < 0 || pos >= b->kv_len[s]) return err_setf(err, ERR_INVALID, "forward: position out of range");
            int32_t id = b->input_ids[i];
            if (id < 0 || id >= m->cfg.vocab_size)
                return err_setf(err, ERR_INVALID, "token id %d is out of range [0, %lld)", id,
                                (long long)m->cfg.vocab_size);
        }
        for (int32_t j = 0; j < b->kv_len[s]; j++)
            if (b->kv_slots[s][j] < 0 || b->kv_slots[s][j] >= kv->n_slots)
                return err_setf(err, ERR_INVALID, "forward: KV slot out of range");
    }
    for (int32_t r = 0; r < b->n_logits; r++)
        if (b->logit_idx[r] < 0 || b->logit_idx[r] >= b->n_tokens)
            return err_setf(err, ERR_INVALID, "forward: logit index out of range");
    return 0;
}

int model_kv_pool_create(const struct model *m, int64_t n_slots, struct kv_pool **out, struct sgl_err *err) {
    return kv_pool_create(m->cfg.n_layers, n_slots, m->cfg.n_kv_heads, m->cfg.head_dim, m->kv_dtype, out, err);
}

size_t model_kv_bytes_per_token(const struct model *m) {
    return kv_pool_bytes(m->cfg.n_layers, 1, m->cfg.n_kv_heads * m->cfg.head_dim, m->kv_dtype);
}

int model_forward(const struct model *m, struct threadpool *pool, struct model_workspace *ws, struct kv_pool *kv,
                  const struct forward_batch *b, float *logits, struct sgl_err *err) {
    const struct model_config *c = &m->cfg;
    int rc = validate_batch(m, kv, b, err);
    if (rc) return rc;
    int64_t T = b->n_tokens, H = c->hidden_size, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads,
            I = c->intermediate_size, half = hd / 2;
    int64_t qd = nh * hd, kvd = nkv * hd;
    /* scratch layout: x, h and the rope table live through the whole pass; the attention
     * half of a layer (q, att, k, v) and the MLP half (g, u) are never live at once, so
     * they share one region (a 512-token prefill of Qwen3-0.6B: 17 MB instead of 30).
     * Passes of more than FWD_SLICE tokens compute q/k/v and the MLP a slice of tokens at a
     * time (k, v go to the KV pool right away), so only q and att grow with T beyond it. */
    const int64_t Ts = T < FWD_SLICE ? T : FWD_SLICE;
    size_t n_x = (size_t)(T * H), n_q = (size_t)(T * qd), n_kv = (size_t)(Ts * kvd), n_ff = (size_t)(Ts * I);
    size_t n_rope = (size_t)(T * half * 2);
    size_t n_attn = 2 * n_q + 2 * n_kv, n_mlp = 2 * n_ff;
    size_t total = 2 * n_x + n_rope + (n_attn > n_mlp ? n_attn : n_mlp);
    if (workspace_reserve(ws, total, (size_t)T)) return err_setf(err, ERR_NOMEM, "forward: out of memory");
    float *x = ws->buf, *h = x + n_x, *rope_cs = h + n_x, *shared = rope_cs + n_rope;
    float *q = shared, *att = q + n_q, *k = att + n_q, *v = k + n_kv; /* attention half (k, v: one slice) */
    float *g = shared, *u = g + n_ff;                                 /* MLP half (one slice) */
    for (int32_t s = 0; s < b->n_seqs; s++)
        for (int32_t i = b->seq_start[s]; i < b->seq_start[s + 1]; i++) ws->tok_seq[i] = s;

    for (int64_t i = 0; i < T; i++) {
        kernels_dequantize_row(m->embed.dtype, tensor_row(&m->embed, b->input_ids[i]), x + i * H, H);
        rotary_cos_sin(&m->rope, b->positions[i], rope_cs + i * 2 * half, rope_cs + i * 2 * half + half);
    }
    struct attention_params ap = {nh, nkv, hd, 1.0f / sqrtf((float)hd)};
    float eps = (float)c->rms_norm_eps;

    for (int64_t l = 0; l < c->n_layers; l++) {
        const struct model_layer *L = &m->layers[l];
        for (int64_t t0 = 0; t0 < T; t0 += Ts) {
            int64_t tn = T - t0 < Ts ? T - t0 : Ts;
            for (int64_t i = t0; i < t0 + tn; i++) kernels_rmsnorm(x + i * H, L->attn_norm, h + i * H, H, eps);
            const struct tensor *W[3] = {&L->wq, &L->wk, &L->wv};
            const float *bias[3] = {L->bq, L->bk, L->bv};
            float *y[3] = {q + t0 * qd, k, v};
            matmul_n(m, pool, ws, h + t0 * H, tn, H, 3, W, bias, y);
            for (int64_t j = 0; j < tn; j++) {
                int64_t i = t0 + j;
                float *qi = q + i * qd, *ki = k + j * kvd;
                if (L->q_norm) {
                    for (int64_t hh = 0; hh < nh; hh++)
                        kernels_rmsnorm(qi + hh * hd, L->q_norm, qi + hh * hd, hd, eps);
                    for (int64_t hh = 0; hh < nkv; hh++)
                        kernels_rmsnorm(ki + hh * hd, L->k_norm, ki + hh * hd, hd, eps);
                }
                const float *cs = rope_cs + i * 2 * half;
                rotary_apply(&m->rope, qi, nh, cs, cs + half);
                rotary_apply(&m->rope, ki, nkv, cs, cs + half);
                /* store the new token's K/V into its slot */
                int32_t s = ws->tok_seq[i];
                int32_t slot = b->kv_slots[s][b->positions[i]];
                kv_pool_store(kv, l, slot, ki, v + j * kvd);
            }
        }
        if (attention_forward(pool, &ap, kv, l, b, q, att)) return err_setf(err, ERR_NOMEM, "forward: out of memory");
        matmul(m, pool, ws, att, T, qd, &L->wo, NULL, h);
        for (int64_t i = 0; i < (int64_t)n_x; i++) x[i] += h[i];

        for (int64_t t0 = 0; t0 < T; t0 += Ts) {
            int64_t tn = T - t0 < Ts ? T - t0 : Ts;
            for (int64_t i = t0; i < t0 + tn; i++) kernels_rmsnorm(x + i * H, L->ffn_norm, h + i * H, H, eps);
            const struct tensor *W[2] = {&L->w_gate, &L->w_up};
            float *y[2] = {g, u};
            matmul_n(m, pool, ws, h + t0 * H, tn, H, 2, W, NULL, y);
            kernels_silu_mul(g, u, g, tn * I);
            matmul(m, pool, ws, g, tn, I, &L->w_down, NULL, h + t0 * H);
        }
        for (int64_t i = 0; i < (int64_t)n_x; i++) x[i] += h[i];
    }
    /* final norm of the rows that need logits, packed into h */
    for (int32_t r = 0; r < b->n_logits; r++)
        kernels_rmsnorm(x + (int64_t)b->logit_idx[r] * H, m->final_norm, h + (int64_t)r * H, H, eps);
    if (b->n_logits > 0) matmul(m, pool, ws, h, b->n_logits, H, &m->lm_head, NULL, logits);
    return 0;
}
