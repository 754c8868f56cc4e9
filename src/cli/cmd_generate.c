/* cmd_generate: `sglc generate` — single-prompt generation on the CPU.
 *
 * Prefill the prompt in one forward, then decode one token per forward with a
 * contiguous KV slot range, sampling with the requested parameters. The text
 * streams to stdout through the incremental detokenizer; prefill and decode
 * tokens/s go to stderr. With --json one JSON object is printed instead:
 * {input_ids, output_ids, text, finish_reason, prefill_tokens_per_s,
 *  decode_tokens_per_s, top_logprobs?}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/threadpool.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "mem_cache/kv_pool.h"
#include "model_executor/forward_batch.h"
#include "models/model.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

#define CMD "generate"

static void usage(FILE *f) {
    fprintf(f,
            "usage: sglc generate [options]\n"
            "Generate text from a prompt. Without --model-path the embedded stories260K model is used.\n\n"
            "  --model-path P        HF model directory or .gguf file\n"
            "  --tokenizer-path P    directory with tokenizer.json (overrides the model's tokenizer)\n"
            "  --dtype D             auto|bfloat16 (BF16 matmul inputs rounded to bf16) or float32 (exact)\n"
            "  --quantization Q      int8|q4: convert F32/F16/BF16 weights to 8-bit / 4-bit blocks at load\n"
            "  --kv-cache-dtype D    auto|bfloat16|float32 (auto: bf16 unless F32 weights or --dtype float32)\n"
            "  --prompt TEXT         prompt text (default: empty, i.e. start from BOS)\n"
            "  --input-ids IDS       prompt as token ids (\"1,2,3\"), instead of --prompt\n"
            "  --max-new-tokens N    tokens to generate (default 128)\n"
            "  --temperature T       0 = greedy (default: the model's generation_config, else 1.0)\n"
            "  --top-p P  --top-k K  --min-p P\n"
            "  --repetition-penalty R  --frequency-penalty F  --presence-penalty P\n"
            "  --seed S              RNG seed (same seed and input give the same output)\n"
            "  --threads N           compute threads (default: all CPUs)\n"
            "  --context-length N    override the model's context length\n"
            "  --ignore-eos          do not stop at the end-of-sequence token\n"
            "  --top-logprobs N      with --json: the N most likely tokens at each step\n"
            "  --json                print one JSON object instead of streaming text\n"
            "  --log-level L         debug|info|warning|error\n");
}

struct gen_opts {
    const char *model_path, *tokenizer_path, *prompt, *input_ids, *dtype, *quantization, *kv_cache_dtype;
    long long max_new_tokens, threads, context_length, top_logprobs;
    bool ignore_eos, json;
    struct sampling_params sp;
    bool temperature_set, top_p_set, top_k_set, rep_set;
};

static int parse_args(int argc, char **argv, struct gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_new_tokens = 128;
    o->threads = 0;
    o->context_length = 0;
    sampling_params_init(&o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        double d;
        long long n;
#define NEED_VALUE()                                                        \
    do {                                                                    \
        if (!(v = cli_opt_value(argc, argv, &i))) return cli_fail(CMD, "%s needs a value", a); \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--model-path")) {
            NEED_VALUE();
            o->model_path = v;
        } else if (!strcmp(a, "--tokenizer-path")) {
            NEED_VALUE();
            o->tokenizer_path = v;
        } else if (!strcmp(a, "--dtype")) {
            NEED_VALUE();
            o->dtype = v;
        } else if (!strcmp(a, "--quantization")) {
            NEED_VALUE();
            o->quantization = v;
        } else if (!strcmp(a, "--kv-cache-dtype")) {
            NEED_VALUE();
            o->kv_cache_dtype = v;
        } else if (!strcmp(a, "--prompt")) {
            NEED_VALUE();
            o->prompt = v;
        } else if (!strcmp(a, "--input-ids")) {
            NEED_VALUE();
            o->input_ids = v;
        } else if (!strcmp(a, "--max-new-tokens")) {
            NEED_VALUE();
            if (!cli_parse_int(v, 0, 1 << 24, &o->max_new_tokens))
                return cli_fail(CMD, "--max-new-tokens must be an integer >= 0, got '%s'", v);
        } else if (!strcmp(a, "--threads")) {
            NEED_VALUE();
            if (!cli_parse_int(v, 1, 1024, &o->threads))
                return cli_fail(CMD, "--threads must be an integer in [1, 1024], got '%s'", v);
        } else if (!strcmp(a, "--context-length")) {
            NEED_VALUE();
            if (!cli_parse_int(v, 1, 1 << 24, &o->context_length))
                return cli_fail(CMD, "--context-length must be a positive integer, got '%s'", v);
        } else if (!strcmp(a, "--top-logprobs")) {
            NEED_VALUE();
            if (!cli_parse_int(v, 0, 20, &o->top_logprobs))
                return cli_fail(CMD, "--top-logprobs must be an integer in [0, 20], got '%s'", v);
        } else if (!strcmp(a, "--temperature")) {
            NEED_VALUE();
            if (!cli_parse_float(v, 0, 1e6, &d)) return cli_fail(CMD, "--temperature must be a number >= 0, got '%s'", v);
            o->sp.temperature = (float)d;
            o->temperature_set = true;
        } else if (!strcmp(a, "--top-p")) {
            NEED_VALUE();
            if (!cli_parse_float(v, -1e9, 1e9, &d)) return cli_fail(CMD, "--top-p must be a number, got '%s'", v);
            o->sp.top_p = (float)d;
            o->top_p_set = true;
        } else if (!strcmp(a, "--top-k")) {
            NEED_VALUE();
            if (!cli_parse_int(v, -1, INT32_MAX, &n)) return cli_fail(CMD, "--top-k must be an integer >= -1, got '%s'", v);
            o->sp.top_k = (int32_t)n;
            o->top_k_set = true;
        } else if (!strcmp(a, "--min-p")) {
            NEED_VALUE();
            if (!cli_parse_float(v, -1e9, 1e9, &d)) return cli_fail(CMD, "--min-p must be a number, got '%s'", v);
            o->sp.min_p = (float)d;
        } else if (!strcmp(a, "--repetition-penalty")) {
            NEED_VALUE();
            if (!cli_parse_float(v, -1e9, 1e9, &d)) return cli_fail(CMD, "--repetition-penalty must be a number, got '%s'", v);
            o->sp.repetition_penalty = (float)d;
            o->rep_set = true;
        } else if (!strcmp(a, "--frequency-penalty")) {
            NEED_VALUE();
            if (!cli_parse_float(v, -1e9, 1e9, &d)) return cli_fail(CMD, "--frequency-penalty must be a number, got '%s'", v);
            o->sp.frequency_penalty = (float)d;
        } else if (!strcmp(a, "--presence-penalty")) {
            NEED_VALUE();
            if (!cli_parse_float(v, -1e9, 1e9, &d)) return cli_fail(CMD, "--presence-penalty must be a number, got '%s'", v);
            o->sp.presence_penalty = (float)d;
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE();
            if (!cli_parse_int(v, 0, INT64_MAX, &n)) return cli_fail(CMD, "--seed must be a non-negative integer, got '%s'", v);
            o->sp.seed = (uint64_t)n;
            o->sp.has_seed = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            o->ignore_eos = true;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--log-level")) {
            NEED_VALUE();
            int lv = log_parse_level(v);
            if (lv < 0) return cli_fail(CMD, "unknown --log-level '%s'", v);
            log_set_level((enum log_level)lv);
        } else {
            return cli_fail(CMD, "unknown option '%s' (see 'sglc generate --help')", a);
        }
#undef NEED_VALUE
    }
    if (o->prompt && o->input_ids) return cli_fail(CMD, "give either --prompt or --input-ids, not both");
    return 0;
}

static bool is_eos(const struct model *m, int32_t id) {
    for (int i = 0; i < m->cfg.n_eos; i++)
        if (m->cfg.eos_token_ids[i] == id) return true;
    return id == tokenizer_eos_id(m->tok);
}

/* Appends the JSON for one step's top logprobs to arr. */
static void add_top_logprobs(cJSON *arr, const struct tokenizer *tok, const float *logits, int32_t vocab, int n) {
    int32_t ids[20];
    float lps[20];
    sampler_top_logprobs(logits, vocab, n, ids, lps);
    cJSON *step = cJSON_CreateArray();
    for (int j = 0; j < n; j++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", ids[j]);
        const char *t = tokenizer_id_to_token(tok, ids[j]);
        cJSON_AddStringToObject(e, "token", t ? t : "");
        cJSON_AddNumberToObject(e, "logprob", lps[j]);
        cJSON_AddItemToArray(step, e);
    }
    cJSON_AddItemToArray(arr, step);
}

int cli_generate_main(int argc, char **argv) {
    struct gen_opts o;
    if (parse_args(argc, argv, &o)) return 1;
    struct sgl_err err = {{0}};
    struct model *m = NULL;
    struct threadpool *pool = NULL;
    struct kv_pool *kv = NULL;
    struct model_workspace *ws = NULL;
    struct sampler_state *ss = NULL;
    struct detok_stream *ds = NULL;
    int32_t *ids = NULL, *slots = NULL;
    float *logits = NULL;
    cJSON *top_arr = NULL;
    int ret = 1;
    size_t n_prompt = 0;

    if (cli_load_model(o.model_path, o.tokenizer_path, o.dtype, o.quantization, o.kv_cache_dtype, &m, &err)) {
        cli_fail(CMD, "%s", err.msg);
        goto done;
    }
    const struct model_config *c = &m->cfg;
    int32_t vocab = (int32_t)c->vocab_size;
    if (!o.temperature_set && c->gen.has_temperature) o.sp.temperature = (float)c->gen.temperature;
    if (!o.top_p_set && c->gen.has_top_p) o.sp.top_p = (float)c->gen.top_p;
    if (!o.top_k_set && c->gen.has_top_k) o.sp.top_k = (int32_t)c->gen.top_k;
    if (!o.rep_set && c->gen.has_repetition_penalty) o.sp.repetition_penalty = (float)c->gen.repetition_penalty;
    if (sampling_params_validate(&o.sp, vocab, &err)) {
        cli_fail(CMD, "%s", err.msg);
        goto done;
    }
    if (o.input_ids) {
        if (cli_parse_ids(o.input_ids, &ids, &n_prompt, &err)) {
            cli_fail(CMD, "--input-ids: %s", err.msg);
            goto done;
        }
        for (size_t i = 0; i < n_prompt; i++)
            if (ids[i] >= vocab) {
                cli_fail(CMD, "--input-ids: token id %d is out of range [0, %d)", ids[i], vocab);
                goto done;
            }
    } else {
        const char *p = o.prompt ? o.prompt : "";
        if (tokenizer_encode(m->tok, p, strlen(p), true, &ids, &n_prompt, &err)) {
            cli_fail(CMD, "%s", err.msg);
            goto done;
        }
        if (n_prompt == 0) {
            int32_t bos = tokenizer_bos_id(m->tok);
            if (bos < 0) bos = c->bos_token_id;
            if (bos < 0) {
                cli_fail(CMD, "the prompt is empty and the model has no BOS token to start from");
                goto done;
            }
            free(ids);
            ids = malloc(sizeof *ids);
            if (!ids) {
                cli_fail(CMD, "out of memory");
                goto done;
            }
            ids[0] = bos;
            n_prompt = 1;
        }
    }
    if (n_prompt == 0) {
        cli_fail(CMD, "the prompt is empty");
        goto done;
    }
    int64_t ctx = o.context_length > 0 ? o.context_length : c->max_position_embeddings;
    if ((int64_t)n_prompt >= ctx) {
        cli_fail(CMD, "the prompt has %zu tokens but the context length is %lld", n_prompt, (long long)ctx);
        goto done;
    }
    int64_t max_new = o.max_new_tokens;
    if ((int64_t)n_prompt + max_new > ctx) max_new = ctx - (int64_t)n_prompt;

    pool = threadpool_create((int)o.threads);
    ws = model_workspace_create();
    int64_t n_slots = (int64_t)n_prompt + max_new;
    slots = malloc((size_t)(n_slots > 0 ? n_slots : 1) * sizeof *slots);
    logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *all = realloc(ids, (size_t)n_slots * sizeof *ids);
    if (!pool || !ws || !slots || !logits || !all) {
        cli_fail(CMD, "out of memory");
        goto done;
    }
    ids = all;
    for (int64_t i = 0; i < n_slots; i++) slots[i] = (int32_t)i;
    if (model_kv_pool_create(m, n_slots, &kv, &err)) {
        cli_fail(CMD, "%s", err.msg);
        goto done;
    }
    ss = sampler_state_create(&o.sp, vocab);
    ds = detok_stream_create(m->tok, true);
    if (!ss || !ds) {
        cli_fail(CMD, "out of memory");
        goto done;
    }
    if (tokenizer_has_text(m->tok, ids, n_prompt)) detok_stream_continue(ds);
    sampler_state_add_prompt(ss, ids, n_prompt);
    if (o.json && o.top_logprobs > 0) top_arr = cJSON_CreateArray();

    char *text = NULL;
    size_t text_len = 0, text_cap = 0;
    const char *finish = "length";
    double t0 = clock_now_s(), t_prefill = 0, t_end;
    int64_t n_gen = 0, len = (int64_t)n_prompt;
    int32_t *positions = malloc((size_t)n_slots * sizeof(int32_t));
    if (!positions) {
        cli_fail(CMD, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n_slots; i++) positions[i] = (int32_t)i;
    int32_t start = 0;
    while (n_gen < max_new) {
        int32_t n_new = (int32_t)(len - start);
        int32_t seq_start[2] = {0, n_new}, kv_len = (int32_t)len, logit_idx = n_new - 1;
        const int32_t *seq_slots = slots;
        struct forward_batch b = {.n_tokens = n_new,
                                  .input_ids = ids + start,
                                  .positions = positions + start,
                                  .n_seqs = 1,
                                  .seq_start = seq_start,
                                  .kv_len = &kv_len,
                                  .kv_slots = &seq_slots,
                                  .n_logits = 1,
                                  .logit_idx = &logit_idx};
        if (model_forward(m, pool, ws, kv, &b, logits, &err)) {
            cli_fail(CMD, "%s", err.msg);
            goto done_free;
        }
        if (start == 0) t_prefill = clock_now_s() - t0;
        if (top_arr) add_top_logprobs(top_arr, m->tok, logits, vocab, (int)o.top_logprobs);
        int32_t next = sampler_sample(ss, &o.sp, logits, vocab, NULL, 0);
        sampler_state_add_output(ss, next);
        start = (int32_t)len;
        ids[len++] = next;
        n_gen++;
        if (!o.ignore_eos && is_eos(m, next)) {
            finish = "stop";
            break;
        }
        char *piece = NULL;
        size_t plen = 0;
        if (detok_stream_push(ds, next, &piece, &plen, &err)) {
            cli_fail(CMD, "%s", err.msg);
            goto done_free;
        }
        if (o.json) {
            if (text_len + plen + 1 > text_cap) {
                text_cap = (text_len + plen + 1) * 2;
                char *nt = realloc(text, text_cap);
                if (!nt) {
                    free(piece);
                    cli_fail(CMD, "out of memory");
                    goto done_free;
                }
                text = nt;
            }
            memcpy(text + text_len, piece, plen);
            text_len += plen;
            text[text_len] = 0;
        } else {
            fwrite(piece, 1, plen, stdout);
            fflush(stdout);
        }
        free(piece);
    }
    {
        char *rest = NULL;
        size_t rlen = 0;
        if (detok_stream_flush(ds, &rest, &rlen, &err) == 0) {
            if (o.json) {
                char *nt = realloc(text, text_len + rlen + 1);
                if (nt) {
                    text = nt;
                    memcpy(text + text_len, rest, rlen);
                    text_len += rlen;
                    text[text_len] = 0;
                }
            } else {
                fwrite(rest, 1, rlen, stdout);
            }
            free(rest);
        }
    }
    t_end = clock_now_s();
    double prefill_tps = t_prefill > 0 ? (double)n_prompt / t_prefill : 0;
    int64_t n_decode = n_gen > 0 ? n_gen - 1 : 0; /* the first token comes from the prefill */
    double t_decode = t_end - t0 - t_prefill;
    double decode_tps = n_decode > 0 && t_decode > 0 ? (double)n_decode / t_decode : 0;
    if (o.json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *in = cJSON_CreateArray(), *outa = cJSON_CreateArray();
        for (size_t i = 0; i < n_prompt; i++) cJSON_AddItemToArray(in, cJSON_CreateNumber(ids[i]));
        for (int64_t i = 0; i < n_gen; i++) cJSON_AddItemToArray(outa, cJSON_CreateNumber(ids[(int64_t)n_prompt + i]));
        cJSON_AddItemToObject(root, "input_ids", in);
        cJSON_AddItemToObject(root, "output_ids", outa);
        cJSON_AddStringToObject(root, "text", text ? text : "");
        cJSON_AddStringToObject(root, "finish_reason", finish);
        cJSON_AddNumberToObject(root, "prompt_tokens", (double)n_prompt);
        cJSON_AddNumberToObject(root, "completion_tokens", (double)n_gen);
        cJSON_AddNumberToObject(root, "prefill_tokens_per_s", prefill_tps);
        cJSON_AddNumberToObject(root, "decode_tokens_per_s", decode_tps);
        if (top_arr) {
            cJSON_AddItemToObject(root, "top_logprobs", top_arr);
            top_arr = NULL;
        }
        char *s = cJSON_PrintUnformatted(root);
        if (s) puts(s);
        free(s);
        cJSON_Delete(root);
    } else {
        printf("\n");
        fprintf(stderr, "[sglc] prefill: %zu tokens, %.1f tokens/s | decode: %lld tokens, %.1f tokens/s | finish: %s\n",
                n_prompt, prefill_tps, (long long)n_decode, decode_tps, finish);
    }
    ret = 0;
done_free:
    free(positions);
    free(text);
done:
    cJSON_Delete(top_arr);
    detok_stream_destroy(ds);
    sampler_state_destroy(ss);
    kv_pool_destroy(kv);
    model_workspace_destroy(ws);
    threadpool_destroy(pool);
    free(logits);
    free(slots);
    free(ids);
    model_destroy(m);
    return ret;
}
