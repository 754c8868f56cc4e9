/* fuzz_tokenizer_json: tokenizer.json parsing (tokenizer_load_hf_memory) on
 * arbitrary bytes. A NUL byte splits the input into tokenizer.json and
 * tokenizer_config.json. When a tokenizer loads, a fixed text is encoded,
 * decoded (one-shot and streamed) and the accessors are called, so any
 * accepted configuration also runs through the whole pipeline. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static const char k_text[] =
    "Hello world! <|im_start|>user\n\xE4\xBD\xA0\xE5\xA5\xBD 12345 don't \xF0\x9F\x98\x80 \xFF";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jl = nul ? (size_t)(nul - data) : size;
    char *cfg = NULL;
    if (nul) {
        size_t cl = size - jl - 1;
        cfg = malloc(cl + 1);
        if (!cfg) return 0;
        memcpy(cfg, nul + 1, cl);
        cfg[cl] = 0;
    }
    struct tokenizer *tok = NULL;
    struct sgl_err err;
    if (tokenizer_load_hf_memory((const char *)data, jl, cfg, &tok, &err) == 0) {
        volatile int32_t sink = tokenizer_vocab_size(tok) + tokenizer_bos_id(tok) + tokenizer_eos_id(tok) +
                                tokenizer_pad_id(tok) + tokenizer_add_bos(tok) + tokenizer_is_special(tok, 0);
        const char *tpl = tokenizer_chat_template(tok);
        if (tpl) sink += tpl[0];
        int32_t *ids = NULL;
        size_t n = 0;
        if (tokenizer_encode(tok, k_text, sizeof k_text - 1, true, &ids, &n, &err) == 0) {
            char *text = NULL;
            size_t len;
            if (tokenizer_decode(tok, ids, n, false, &text, &len, &err) == 0) sink += (int32_t)len;
            free(text);
            struct detok_stream *ds = detok_stream_create(tok, true);
            for (size_t i = 0; ds && i <= n; i++) {
                char *piece = NULL;
                size_t pl;
                int r = i < n ? detok_stream_push(ds, ids[i], &piece, &pl, &err)
                              : detok_stream_flush(ds, &piece, &pl, &err);
                if (r == 0) sink += (int32_t)pl;
                free(piece);
            }
            detok_stream_destroy(ds);
            for (int32_t id = 0; id < tokenizer_vocab_size(tok) && id < 64; id++) {
                const char *s = tokenizer_id_to_token(tok, id);
                if (s) sink += tokenizer_token_to_id(tok, s);
            }
        }
        free(ids);
        (void)sink;
        tokenizer_destroy(tok);
    }
    free(cfg);
    return 0;
}
