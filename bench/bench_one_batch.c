/* bench_one_batch: prefill and decode throughput of one batch, like SGLang's
 * bench_one_batch. For each of --runs runs (median reported):
 *   prefill: one forward over --input-len random tokens (batch of --batch-size sequences)
 *   decode:  --output-len steps of one token per sequence after that prefill, whole
 *            batch per forward (what llama-batched-bench's S_TG measures)
 *   tg:      (batch 1) --output-len steps from an empty context, as llama-bench's tgN
 * Prints tokens/s and the fraction of the physical limits: decode reads every
 * weight byte once per step (bytes/s vs --bandwidth-gbs if given), prefill does
 * ~2 FLOP per parameter per token; and the peak RSS against weights + KV pool.
 *
 * Peer (optional): --llama-bench BIN runs `BIN -m GGUF -t T -p IN -n OUT -r RUNS -o json`
 * and --llama-batched-bench BIN runs `BIN -m GGUF -t T -npp IN -ntg OUT -npl B
 * --output-format jsonl` on --llama-model GGUF (default: --model-path when it is a
 * .gguf) right after our runs, then prints both figures and the ratios.
 *
 * usage: bench_one_batch --model-path P [--input-len 512] [--output-len 128] [--batch-size 1]
 *        [--runs 3] [--threads N] [--bandwidth-gbs X] [--dtype D] [--quantization Q] [--kv-cache-dtype D]
 *        [--llama-bench BIN] [--llama-batched-bench BIN] [--llama-model GGUF] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/clock.h"
#include "base/json.h"
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

/* Runs a shell command and returns its whole stdout (malloc'd), or NULL. */
static char *run_capture(const char *cmd) {
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (cap - n < 1024) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int rc = pclose(f);
    if (buf) buf[n] = 0;
    if (rc != 0) {
        fprintf(stderr, "bench_one_batch: peer command failed (status %d): %s\n", rc, cmd);
        free(buf);
        return NULL;
    }
    return buf;
}

/* llama-bench -o json: an array of results with n_prompt, n_gen, avg_ts, stddev_ts. */
static void peer_llama_bench(const char *bin, const char *gguf, int threads, int in, int out, int runs, double pp,
                             double tg) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -t %d -p %d -n %d -r %d -o json 2>/dev/null", bin, gguf, threads, in, out,
             runs);
    char *txt = run_capture(cmd);
    cJSON *arr = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    if (!cJSON_IsArray(arr)) {
        fprintf(stderr, "bench_one_batch: could not read llama-bench's JSON output\n");
        cJSON_Delete(arr);
        return;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        double np = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "n_prompt"));
        double ng = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "n_gen"));
        double ts = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "avg_ts"));
        double sd = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "stddev_ts"));
        if (np > 0 && ng == 0)
            printf("peer llama-bench pp%d: %.1f +- %.1f tok/s   sgl-c/peer %.2fx\n", in, ts, sd, pp / ts);
        else if (ng > 0 && np == 0)
            printf("peer llama-bench tg%d: %.2f +- %.2f tok/s   sgl-c/peer %.2fx (sgl-c tg from an empty context)\n", out,
                   ts, sd, tg / ts);
    }
    cJSON_Delete(arr);
}

/* llama-batched-bench --output-format jsonl: one object per line with pl, speed_pp, speed_tg. */
static void peer_batched_bench(const char *bin, const char *gguf, int threads, int in, int out, int batch, double pp,
                               double dec) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -t %d -c %d -b 2048 -ub 512 -npp %d -ntg %d -npl %d --output-format jsonl "
             "2>/dev/null", bin, gguf, threads, (in + out) * batch + 16, in, out, batch);
    char *txt = run_capture(cmd);
    bool found = false;
    for (char *line = txt ? strtok(txt, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        if (cJSON_IsObject(o) && cJSON_GetObjectItem(o, "speed_tg")) {
            double spp = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "speed_pp"));
            double stg = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "speed_tg"));
            printf("peer llama-batched-bench B=%d: prefill %.1f tok/s, decode %.2f tok/s   sgl-c/peer %.2fx / %.2fx\n",
                   batch, spp, stg, pp / spp, dec / stg);
            found = true;
        }
        cJSON_Delete(o);
    }
    if (!found) fprintf(stderr, "bench_one_batch: could not read llama-batched-bench's output\n");
    free(txt);
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
    const char *model_path = NULL, *dtype = NULL, *quantization = NULL, *kv_dtype = NULL, *peer_bench = NULL, *peer_batched = NULL,
               *peer_model = NULL;
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
        else if (!strcmp(a, "--kv-cache-dtype")) kv_dtype = v;
        else if (!strcmp(a, "--llama-bench")) peer_bench = v;
        else if (!strcmp(a, "--llama-batched-bench")) peer_batched = v;
        else if (!strcmp(a, "--llama-model")) peer_model = v;
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
    struct model_load_opts opts = {.dtype = dtype, .quantization = quantization, .kv_cache_dtype = kv_dtype};
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
    if (model_kv_pool_create(m, per_seq * batch, &kv, &err)) {
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
    double *pf = calloc((size_t)runs, sizeof(double)), *dc = calloc((size_t)runs, sizeof(double)),
           *tg = calloc((size_t)runs, sizeof(double));
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
        /* tg: one sequence decoding from an empty context (llama-bench's tgN) */
        if (batch == 1 && output_len > 0) {
            seq_start[0] = 0, seq_start[1] = 1, lidx[0] = 0;
            t0 = clock_now_s();
            for (int step = 0; step < output_len; step++) {
                dids[0] = (int32_t)((step * 7) % (V < 32000 ? V : 32000));
                dpos[0] = step;
                kv_len[0] = step + 1;
                struct forward_batch db = {.n_tokens = 1, .input_ids = dids, .positions = dpos, .n_seqs = 1,
                                           .seq_start = seq_start, .kv_len = kv_len, .kv_slots = seq_slots,
                                           .n_logits = 1, .logit_idx = lidx};
                if (model_forward(m, pool, ws, kv, &db, logits, &err)) {
                    fprintf(stderr, "bench_one_batch: %s\n", err.msg);
                    return 1;
                }
            }
            tg[r] = (double)output_len / (clock_now_s() - t0);
        }
        printf("run %d: prefill %.1f tok/s, decode %.2f tok/s", r + 1, pf[r], dc[r]);
        if (tg[r] > 0) printf(", tg %.2f tok/s", tg[r]);
        printf("\n");
    }
    double pfm = median(pf, runs), dcm = median(dc, runs), tgm = median(tg, runs);
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
    if (tgm > 0)
        printf("tg%d (decode from an empty context): median %.2f tok/s  (weights read at %.1f GB/s)\n", output_len, tgm,
               tgm * (double)wb / 1e9);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = (double)ru.ru_maxrss * 1024.0, kvb = (double)model_kv_bytes_per_token(m) * (double)(per_seq * batch);
    double embed = m->embed.data != m->lm_head.data ? (double)m->embed.nbytes : 0;
    printf("memory: peak RSS %.1f MiB; weights %.1f MiB (+ embedding %.1f) + KV pool %.1f MiB -> RSS / (weights + "
           "KV) = %.2f\n",
           rss / (1 << 20), (double)wb / (1 << 20), embed / (1 << 20), kvb / (1 << 20), rss / ((double)wb + embed + kvb));
    if (peer_bench || peer_batched) {
        size_t ml = model_path ? strlen(model_path) : 0;
        const char *gguf = peer_model ? peer_model
                           : ml > 5 && !strcmp(model_path + ml - 5, ".gguf") ? model_path
                                                                              : NULL;
        if (!gguf) {
            fprintf(stderr, "bench_one_batch: --llama-model GGUF is needed for the peer\n");
        } else {
            if (peer_bench && batch == 1) peer_llama_bench(peer_bench, gguf, threadpool_size(pool), input_len, output_len,
                                                           runs, pfm, tgm);
            if (peer_batched) peer_batched_bench(peer_batched, gguf, threadpool_size(pool), input_len, output_len, batch,
                                                 pfm, dcm);
        }
    }
    free(tg);
    free(pf), free(dc), free(ids), free(pos), free(slots), free(seq_start), free(kv_len), free(lidx);
    free(seq_slots), free(logits);
    kv_pool_destroy(kv);
    model_workspace_destroy(ws);
    threadpool_destroy(pool);
    model_destroy(m);
    return 0;
}
