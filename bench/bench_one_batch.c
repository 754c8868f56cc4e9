/* bench_one_batch: prefill and decode throughput of one batch, like SGLang's
 * bench_one_batch. For each of --runs runs (median reported):
 *   prefill: one forward over --input-len random tokens (batch of --batch-size sequences)
 *   decode:  --output-len steps of one token per sequence, whole batch per forward
 * Prints tokens/s and the fraction of the physical limits: decode reads every
 * weight byte once per step (bytes/s vs --bandwidth-gbs if given), prefill does
 * ~2 FLOP per parameter per token.
 *
 * usage: bench_one_batch --model-path P [--input-len 512] [--output-len 128] [--batch-size 1]
 *        [--runs 3] [--threads N] [--bandwidth-gbs X] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/threadpool.h"
#include "mem_cache/kv_pool.h"
#include "model_executor/forward_batch.h"
#include "models/model.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static size_t weight_bytes(const struct model *m) {
    size_t b = m->lm_head.nbytes;
    for (int64_t l = 0; l < m->cfg.n_layers; l++) {
        const struct model_layer *L = &m->layers[l];
        b += L->wq.nbytes + L->wk.nbytes + L->wv.nbytes + L->wo.nbytes + L->w_gate.nbytes + L->w_up.nbytes +
             L->w_down.nbytes;
    }
    return b;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *dtype = NULL, *quantization = NULL;
    int input_len = 512, output_len = 128, batch = 1, runs = 3, threads = 0;
    double bw = 0;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_one_batch: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--model-path")) model_path = v;
        else if (!strcmp(a, "--input-len")) input_len = atoi(v);
        else if (!strcmp(a, "--dtype")) dtype = v;
        else if (!strcmp(a, "--quantization")) quantization = v;
        else if (!strcmp(a, "--output-len")) output_len = atoi(v);
        else if (!strcmp(a, "--batch-size")) batch = atoi(v);
        else if (!strcmp(a, "--runs")) runs = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--bandwidth-gbs")) bw = atof(v);
        else {
            fprintf(stderr, "bench_one_batch: unknown option %s\n", a);
            return 2;
        }
    }
    if (input_len < 1 || output_len < 0 || batch < 1 || batch > 1024 || runs < 1 || runs > 100) {
        fprintf(stderr, "bench_one_batch: bad sizes\n");
        return 2;
    }
    struct sgl_err err = {{0}};
    struct model *m = NULL;
    struct model_load_opts opts = {.dtype = dtype, .quantization = quantization};
    int rc = model_path ? model_load(model_path, &opts, &m, &err) : model_load_default(&opts, &m, &err);
    if (rc) {
        fprintf(stderr, "bench_one_batch: %s\n", err.msg);
        return 1;
    }
    const struct model_config *c = &m->cfg;
    int64_t V = c->vocab_size, per_seq = input_len + output_len;
    struct threadpool *pool = threadpool_create(threads);
    struct model_workspace *ws = model_workspace_create();
    struct kv_pool *kv = NULL;
    if (kv_pool_create(c->n_layers, per_seq * batch, c->n_kv_heads * c->head_dim, &kv, &err)) {
        fprintf(stderr, "bench_one_batch: %s\n", err.msg);
        return 1;
    }
    int32_t n_tok = input_len * batch;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n_tok), *pos = malloc(sizeof(int32_t) * (size_t)n_tok);
    int32_t *slots = malloc(sizeof(int32_t) * (size_t)(per_seq * batch));
    int32_t *seq_start = malloc(sizeof(int32_t) * (size_t)(batch + 1)), *kv_len = malloc(sizeof(int32_t) * (size_t)batch);
    int32_t *lidx = malloc(sizeof(int32_t) * (size_t)batch);
    const int32_t **seq_slots = malloc(sizeof(int32_t *) * (size_t)batch);
    float *logits = malloc(sizeof(float) * (size_t)(V * batch));
    unsigned long long s = 88172645463325252ULL;
    for (int32_t i = 0; i < n_tok; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        ids[i] = (int32_t)(s % (unsigned long long)(V < 32000 ? V : 32000));
        pos[i] = i % input_len;
    }
    for (int64_t i = 0; i < per_seq * batch; i++) slots[i] = (int32_t)i;
    for (int b = 0; b < batch; b++) seq_slots[b] = slots + (int64_t)b * per_seq;
    double *pf = calloc((size_t)runs, sizeof(double)), *dc = calloc((size_t)runs, sizeof(double));
    for (int r = 0; r < runs; r++) {
        for (int b = 0; b <= batch; b++) seq_start[b] = b * input_len;
        for (int b = 0; b < batch; b++) kv_len[b] = input_len, lidx[b] = (b + 1) * input_len - 1;
        struct forward_batch fb = {.n_tokens = n_tok, .input_ids = ids, .positions = pos, .n_seqs = batch,
                                   .seq_start = seq_start, .kv_len = kv_len, .kv_slots = seq_slots,
                                   .n_logits = batch, .logit_idx = lidx};
        double t0 = clock_now_s();
        if (model_forward(m, pool, ws, kv, &fb, logits, &err)) {
            fprintf(stderr, "bench_one_batch: %s\n", err.msg);
            return 1;
        }
        pf[r] = (double)n_tok / (clock_now_s() - t0);
        int32_t dids[1024], dpos[1024];
        for (int b = 0; b < batch; b++) seq_start[b] = b, lidx[b] = b;
        seq_start[batch] = batch;
        t0 = clock_now_s();
        for (int step = 0; step < output_len; step++) {
            for (int b = 0; b < batch; b++) {
                dids[b] = (int32_t)((step * 7 + b * 13) % (V < 32000 ? V : 32000));
                dpos[b] = input_len + step;
                kv_len[b] = input_len + step + 1;
            }
            struct forward_batch db = {.n_tokens = batch, .input_ids = dids, .positions = dpos, .n_seqs = batch,
                                       .seq_start = seq_start, .kv_len = kv_len, .kv_slots = seq_slots,
                                       .n_logits = batch, .logit_idx = lidx};
            if (model_forward(m, pool, ws, kv, &db, logits, &err)) {
                fprintf(stderr, "bench_one_batch: %s\n", err.msg);
                return 1;
            }
        }
        dc[r] = output_len > 0 ? (double)output_len * batch / (clock_now_s() - t0) : 0;
        printf("run %d: prefill %.1f tok/s, decode %.2f tok/s\n", r + 1, pf[r], dc[r]);
    }
    double pfm = median(pf, runs), dcm = median(dc, runs);
    size_t wb = weight_bytes(m);
    double params = 0;
    for (int64_t l = 0; l < c->n_layers; l++) {
        const struct model_layer *L = &m->layers[l];
        params += (double)(tensor_numel(&L->wq) + tensor_numel(&L->wk) + tensor_numel(&L->wv) + tensor_numel(&L->wo) +
                           tensor_numel(&L->w_gate) + tensor_numel(&L->w_up) + tensor_numel(&L->w_down));
    }
    params += (double)tensor_numel(&m->lm_head);
    printf("model: %s, %lld layers, hidden %lld, weights %s %.1f MiB (%.0fM matmul params), threads %d, batch %d\n",
           model_path ? model_path : "(embedded default)", (long long)c->n_layers, (long long)c->hidden_size,
           dtype_name(m->layers[0].wq.dtype), (double)wb / (1 << 20), params / 1e6, threadpool_size(pool), batch);
    printf("prefill (%d tokens): median %.1f tok/s  (%.1f GFLOP/s)\n", input_len, pfm, pfm * 2 * params / 1e9);
    double gbs = dcm / batch * (double)wb / 1e9;
    printf("decode (%d steps): median %.2f tok/s  (weights read at %.1f GB/s", output_len, dcm, gbs);
    if (bw > 0) printf(", %.0f%% of %.1f GB/s", 100 * gbs / bw, bw);
    printf(")\n");
    free(pf), free(dc), free(ids), free(pos), free(slots), free(seq_start), free(kv_len), free(lidx);
    free(seq_slots), free(logits);
    kv_pool_destroy(kv);
    model_workspace_destroy(ws);
    threadpool_destroy(pool);
    model_destroy(m);
    return 0;
}
