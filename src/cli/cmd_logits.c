/* cmd_logits: `sglc logits` — writes the logits of every position of a token
 * sequence as raw little-endian float32 [n_tokens][vocab], for reference
 * checks against PyTorch. --mode prefill runs one forward over all tokens;
 * --mode decode feeds one token per forward through the KV cache (exercising
 * the decode path). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "mem_cache/kv_pool.h"
#include "model_executor/forward_batch.h"
#include "models/model.h"

#define CMD "logits"

static void usage(FILE *f) {
    fprintf(f, "usage: sglc logits [--model-path P] --input-ids IDS --output FILE [--mode prefill|decode] "
               "[--threads N]\n"
               "       [--dtype auto|bfloat16|float32] [--quantization int8|q4] [--kv-cache-dtype auto|bfloat16|float32]\n"
               "Writes float32 logits [n_tokens][vocab] of the given ids to FILE.\n");
}

int cli_logits_main(int argc, char **argv) {
    const char *model_path = NULL, *ids_s = NULL, *out_path = NULL, *mode = "prefill", *dtype = NULL,
               *quantization = NULL, *kv_cache_dtype = NULL;
    long long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        bool known = !strcmp(a, "--model-path") || !strcmp(a, "--input-ids") || !strcmp(a, "--output") ||
                     !strcmp(a, "--mode") || !strcmp(a, "--threads") || !strcmp(a, "--dtype") ||
                     !strcmp(a, "--quantization") || !strcmp(a, "--kv-cache-dtype");
        if (!known) return cli_fail(CMD, "unknown option '%s' (see 'sglc logits --help')", a);
        if (!(v = cli_opt_value(argc, argv, &i))) return cli_fail(CMD, "%s needs a value", a);
        if (!strcmp(a, "--model-path")) model_path = v;
        else if (!strcmp(a, "--input-ids")) ids_s = v;
        else if (!strcmp(a, "--output")) out_path = v;
        else if (!strcmp(a, "--mode")) mode = v;
        else if (!strcmp(a, "--dtype")) dtype = v;
        else if (!strcmp(a, "--quantization")) quantization = v;
        else if (!strcmp(a, "--kv-cache-dtype")) kv_cache_dtype = v;
        else if (!cli_parse_int(v, 1, 1024, &threads)) return cli_fail(CMD, "--threads must be in [1, 1024]");
    }
    if (!ids_s || !out_path) return cli_fail(CMD, "--input-ids and --output are required");
    bool decode = !strcmp(mode, "decode");
    if (!decode && strcmp(mode, "prefill")) return cli_fail(CMD, "--mode must be prefill or decode, got '%s'", mode);

    struct sgl_err err = {{0}};
    int32_t *ids = NULL, *slots = NULL, *pos = NULL, *lidx = NULL;
    size_t n = 0;
    struct model *m = NULL;
    struct threadpool *pool = NULL;
    struct kv_pool *kv = NULL;
    struct model_workspace *ws = NULL;
    float *logits = NULL;
    FILE *out = NULL;
    int ret = 1;
    if (cli_parse_ids(ids_s, &ids, &n, &err)) {
        cli_fail(CMD, "--input-ids: %s", err.msg);
        goto done;
    }
    if (n == 0) {
        cli_fail(CMD, "--input-ids is empty");
        goto done;
    }
    if (cli_load_model(model_path, NULL, dtype, quantization, kv_cache_dtype, &m, &err)) {
        cli_fail(CMD, "%s", err.msg);
        goto done;
    }
    int64_t V = m->cfg.vocab_size;
    pool = threadpool_create((int)threads);
    ws = model_workspace_create();
    slots = malloc(n * sizeof *slots);
    pos = malloc(n * sizeof *pos);
    lidx = malloc(n * sizeof *lidx);
    logits = malloc(n * (size_t)V * sizeof *logits);
    if (!pool || !ws || !slots || !pos || !lidx || !logits) {
        cli_fail(CMD, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) slots[i] = pos[i] = lidx[i] = (int32_t)i;
    if (model_kv_pool_create(m, (int64_t)n, &kv, &err)) {
        cli_fail(CMD, "%s", err.msg);
        goto done;
    }
    const int32_t *seq_slots = slots;
    for (size_t s = 0; s < (decode ? n : 1); s++) {
        int32_t start = decode ? (int32_t)s : 0, cnt = decode ? 1 : (int32_t)n;
        int32_t seq_start[2] = {0, cnt}, kv_len = start + cnt;
        struct forward_batch b = {.n_tokens = cnt,
                                  .input_ids = ids + start,
                                  .positions = pos + start,
                                  .n_seqs = 1,
                                  .seq_start = seq_start,
                                  .kv_len = &kv_len,
                                  .kv_slots = &seq_slots,
                                  .n_logits = cnt,
                                  .logit_idx = lidx};
        if (model_forward(m, pool, ws, kv, &b, logits + (size_t)start * (size_t)V, &err)) {
            cli_fail(CMD, "%s", err.msg);
            goto done;
        }
    }
    out = fopen(out_path, "wb");
    if (!out || fwrite(logits, sizeof(float), n * (size_t)V, out) != n * (size_t)V) {
        cli_fail(CMD, "%s: cannot write", out_path);
        goto done;
    }
    ret = 0;
done:
    if (out && fclose(out) != 0 && ret == 0) ret = cli_fail(CMD, "%s: cannot write", out_path);
    kv_pool_destroy(kv);
    model_workspace_destroy(ws);
    threadpool_destroy(pool);
    free(logits);
    free(lidx);
    free(pos);
    free(slots);
    free(ids);
    model_destroy(m);
    return ret;
}
