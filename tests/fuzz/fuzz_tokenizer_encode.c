/* fuzz_tokenizer_encode: encodes arbitrary bytes with three small in-memory
 * tokenizers (chosen by the first input byte) and checks the invariants:
 *   - encode never fails on any bytes (invalid UTF-8 included);
 *   - every id is in range; decode gives valid UTF-8;
 *   - streaming the ids (pieces + flush) gives exactly the one-shot decode,
 *     and every piece is valid UTF-8;
 *   - byte-level tokenizer without normalizer or strip flags: decode(encode(s))
 *     is s with invalid UTF-8 replaced by U+FFFD.
 * The tokenizers: A byte-level with the Qwen2 scanner and added tokens;
 * B byte-level with the Llama 3 scanner, ignore_merges, NFC, added tokens with
 * lstrip/rstrip/single_word/normalized and HF clean-up; C SentencePiece-like
 * (Prepend/Replace normalizer, a PCRE2 Split regex, byte fallback,
 * Replace/ByteFallback/Fuse/Strip decoder, BOS template). A violated invariant aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

static struct tokenizer *g_tok[3];

static size_t put_byte_vocab(char *j, size_t cap) {
    size_t n = 0;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        int32_t cp = printable ? b : 256 + extra++;
        char c[5];
        c[unicode_encode(cp, c)] = 0;
        n += (size_t)snprintf(j + n, cap - n, "\"%s%s\":%d,", (b == '"' || b == '\\') ? "\\" : "", c, b);
    }
    return n;
}

/* Start of a byte-level tokenizer.json (malloc'd, 64 KiB, the caller appends
 * the rest): vocab of the 256 bytes + merges "Ġ t", "Ġt h", "h e", "Ġth e", "Ġ Ġ". */
static char *build_byte_level(const char *pattern, const char *extra) {
    size_t cap = 64 * 1024, n = 0;
    char *j = malloc(cap);
    if (!j) abort();
    n += (size_t)snprintf(j + n, cap - n, "{\"model\":{\"type\":\"BPE\",%s\"vocab\":{", extra);
    n += put_byte_vocab(j + n, cap - n);
    n += (size_t)snprintf(
        j + n, cap - n,
        "\"\xC4\xA0t\":256,\"\xC4\xA0th\":257,\"he\":258,\"\xC4\xA0the\":259,\"\xC4\xA0\xC4\xA0\":260},"
        "\"merges\":[\"\xC4\xA0 t\",\"\xC4\xA0t h\",\"h e\",\"\xC4\xA0th e\",\"\xC4\xA0 \xC4\xA0\"]},"
        "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
        "{\"Regex\":\"%s\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
        "\"add_prefix_space\":false,\"use_regex\":false}]},\"decoder\":{\"type\":\"ByteLevel\"},",
        pattern);
    return j;
}

static struct tokenizer *load(char *json, const char *cfg) {
    struct tokenizer *t = NULL;
    struct sgl_err err;
    if (tokenizer_load_hf_memory(json, strlen(json), cfg, &t, &err)) {
        fprintf(stderr, "fuzz_tokenizer_encode: %s\n", err.msg);
        abort();
    }
    free(json);
    return t;
}

static void init(void) {
    const char *qwen2 =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}"
        "\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";
    const char *llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s"
                         "\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";
    char *a = build_byte_level(qwen2, "");
    strcat(a, "\"added_tokens\":[{\"id\":261,\"content\":\"<|im_start|>\",\"special\":true,\"normalized\":false},"
              "{\"id\":262,\"content\":\"<think>\",\"special\":false,\"normalized\":false}]}");
    g_tok[0] = load(a, NULL);
    char *b = build_byte_level(llama3, "\"ignore_merges\":true,");
    strcat(
        b,
        "\"normalizer\":{\"type\":\"NFC\"},\"added_tokens\":["
        "{\"id\":261,\"content\":\"<|eot_id|>\",\"special\":true,\"lstrip\":true,\"rstrip\":true,\"normalized\":false},"
        "{\"id\":262,\"content\":\"[W]\",\"special\":false,\"single_word\":true,\"normalized\":false},"
        "{\"id\":263,\"content\":\"\xC3\xA9t\xC3\xA9\",\"special\":false,\"normalized\":true}],"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|eot_id|>\"}},"
        "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<|eot_id|>\":{\"ids\":[261]}}}}");
    g_tok[1] = load(b, "{\"clean_up_tokenization_spaces\":true}");
    size_t cap = 64 * 1024, n = 0;
    char *c = malloc(cap);
    if (!c) abort();
    n += (size_t)snprintf(c + n, cap - n,
                          "{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\","
                          "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2,");
    for (int i = 0; i < 256; i++) n += (size_t)snprintf(c + n, cap - n, "\"<0x%02X>\":%d,", i, 3 + i);
    n += (size_t)snprintf(
        c + n, cap - n,
        "\"\xE2\x96\x81\":259,\"a\":260,\"b\":261,\"\xE2\x96\x81"
        "a\":262,\"ab\":263,\"\xE2\x96\x81"
        "ab\":264,"
        "\"\xE4\xBD\xA0\":265},\"merges\":[\"\xE2\x96\x81 a\",\"a b\",\"\xE2\x96\x81"
        "a b\"]},"
        "\"added_tokens\":[{\"id\":1,\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</"
        "s>\",\"special\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xE2\x96\x81\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}]},"
        "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\d+|[ab]+(?=\\\\S)|\\\\s\"},"
        "\"behavior\":\"MergedWithPrevious\",\"invert\":false},"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},"
        "{\"Sequence\":{\"id\":\"A\"}},{\"SpecialToken\":{\"id\":\"</s>\"}}],\"special_tokens\":{\"<s>\":{\"ids\":[1]},"
        "\"</s>\":{\"ids\":[2]}}},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":"
        "\"\xE2\x96\x81\"},"
        "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \","
        "\"start\":1,\"stop\":1}]}}");
    g_tok[2] = load(c, NULL);
}

static void check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_tokenizer_encode: invariant violated: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tok[0]) init();
    if (size == 0) return 0;
    const struct tokenizer *t = g_tok[data[0] % 3];
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    struct sgl_err err;
    int32_t *ids = NULL;
    size_t n = 0;
    check(tokenizer_encode(t, s, len, data[0] & 4, &ids, &n, &err) == 0, "encode succeeds");
    for (size_t i = 0; i < n; i++) check(ids[i] >= 0 && ids[i] < tokenizer_vocab_size(t), "ids in range");
    bool skip = data[0] & 8;
    char *text = NULL;
    size_t tl = 0;
    check(tokenizer_decode(t, ids, n, skip, &text, &tl, &err) == 0, "decode succeeds");
    check(unicode_utf8_valid(text, tl), "decode is valid UTF-8");
    if (t == g_tok[0] && !skip) {
        char *clean;
        size_t cl;
        check(unicode_utf8_sanitize(s, len, &clean, &cl) == 0, "sanitize");
        check(cl == tl && memcmp(clean, text, tl) == 0, "byte-level round trip");
        free(clean);
    }
    struct detok_stream *ds = detok_stream_create(t, skip);
    size_t got = 0;
    for (size_t i = 0; i <= n; i++) {
        char *p;
        size_t pl;
        int r = i < n ? detok_stream_push(ds, ids[i], &p, &pl, &err) : detok_stream_flush(ds, &p, &pl, &err);
        check(r == 0, "stream succeeds");
        check(unicode_utf8_valid(p, pl), "stream piece is valid UTF-8");
        check(got + pl <= tl && memcmp(text + got, p, pl) == 0, "stream pieces continue the decode");
        got += pl;
        free(p);
    }
    check(got == tl, "stream equals decode");
    detok_stream_destroy(ds);
    free(text);
    free(ids);
    return 0;
}
