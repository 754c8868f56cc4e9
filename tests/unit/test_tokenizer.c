/* Unit tests of the tokenizer module: known ids of the real Qwen3 / Llama 3
 * tokenizers, accessors, added-token flags, invalid UTF-8, streaming
 * detokenization invariants, the stories260K SentencePiece vocabulary, GGUF
 * "gpt2" vocabularies against the HF tokenizer they came from, the PCRE2
 * fallback against the hand-written scanners, Metaspace, and load errors.
 * (Exactness against the HF reference on a large corpus: tests/tokenizer.cmake.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/mmap_file.h"
#include "gguf_build.h"
#include "model_loader/gguf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <utf8proc.h> /* the whole-string normalizer, as the oracle of the local one */

#define TOK_DIR SGLC_TEST_DATA_DIR "/tokenizers/"
#define STORIES SGLC_TEST_DATA_DIR "/models/stories260K/"

static struct tokenizer *g_qwen3, *g_llama3, *g_llama3i, *g_tiny_spm;

static struct tokenizer *load_dir(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, TOK_DIR "%s", name);
    struct sgl_err err = {{0}};
    struct tokenizer *t = NULL;
    if (tokenizer_load_hf_dir(path, &t, &err)) printf("  load %s: %s\n", name, err.msg);
    return t;
}

/* Encodes s and compares with want[0..n). */
static int enc_is(const struct tokenizer *t, const char *s, size_t len, bool special, const int32_t *want, size_t n) {
    int32_t *ids = NULL;
    size_t m = 0;
    struct sgl_err err = {{0}};
    if (tokenizer_encode(t, s, len, special, &ids, &m, &err)) {
        printf("  encode failed: %s\n", err.msg);
        return 0;
    }
    int ok = m == n && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!ok) {
        printf("  ids of \"%s\":", s);
        for (size_t i = 0; i < m; i++) printf(" %d", ids[i]);
        printf(" (want");
        for (size_t i = 0; i < n; i++) printf(" %d", want[i]);
        printf(")\n");
    }
    free(ids);
    return ok;
}
#define ENC_IS(t, s, special, ...)                                                                                     \
    CHECK(enc_is(t, s, strlen(s), special, (const int32_t[]){__VA_ARGS__},                                             \
                 sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)))

static int32_t *enc(const struct tokenizer *t, const char *s, size_t len, bool special, size_t *n) {
    int32_t *ids = NULL;
    struct sgl_err err = {{0}};
    *n = 0;
    if (tokenizer_encode(t, s, len, special, &ids, n, &err)) printf("  encode failed: %s\n", err.msg);
    return ids;
}

static char *dec(const struct tokenizer *t, const int32_t *ids, size_t n, bool skip) {
    char *s = NULL;
    size_t len;
    struct sgl_err err = {{0}};
    if (tokenizer_decode(t, ids, n, skip, &s, &len, &err)) printf("  decode failed: %s\n", err.msg);
    return s;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The GPT-2 byte -> char map as UTF-8 (for byte-level token strings). */
static void byte_char(int b, char out[5]) {
    int extra = 0, cp = 0;
    for (int x = 0; x <= b; x++) {
        bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174;
        cp = printable ? x : 256 + extra++;
    }
    size_t l = unicode_encode(cp, out);
    out[l] = 0;
}

/* ---- known ids (README of the test data) ---- */

TEST(readme_ids) {
    if (!g_qwen3 || !g_llama3 || !g_llama3i) SKIP("tokenizers did not load");
    ENC_IS(g_qwen3, "Hello world", true, 9707, 1879);
    ENC_IS(g_qwen3, "Hello world", false, 9707, 1879);
    ENC_IS(g_qwen3, "<|im_start|>user\nhi<|im_end|>", true, 151644, 872, 198, 6023, 151645);
    ENC_IS(g_llama3, "Hello world", true, 9906, 1917);
    ENC_IS(g_llama3, "Hello world", false, 9906, 1917);
    ENC_IS(g_llama3i, "Hello world", true, 128000, 9906, 1917);
    ENC_IS(g_llama3i, "Hello world", false, 9906, 1917);
    ENC_IS(g_llama3i, "", true, 128000);
    int32_t *ids;
    size_t n;
    CHECK(tokenizer_encode(g_qwen3, "", 0, true, &ids, &n, NULL) == 0 && n == 0);
    free(ids);
    char *s = dec(g_llama3i, (const int32_t[]){128000, 9906, 1917}, 3, false);
    CHECK_STR(s, "<|begin_of_text|>Hello world");
    free(s);
    s = dec(g_llama3i, (const int32_t[]){128000, 9906, 1917}, 3, true);
    CHECK_STR(s, "Hello world");
    free(s);
}

TEST(accessors) {
    if (!g_qwen3 || !g_llama3 || !g_llama3i) SKIP("tokenizers did not load");
    CHECK_EQ_INT(tokenizer_vocab_size(g_qwen3), 151669);
    CHECK_EQ_INT(tokenizer_bos_id(g_qwen3), -1);
    CHECK_EQ_INT(tokenizer_eos_id(g_qwen3), 151645);
    CHECK_EQ_INT(tokenizer_pad_id(g_qwen3), 151643);
    CHECK(!tokenizer_add_bos(g_qwen3));
    CHECK(tokenizer_bos_token(g_qwen3) == NULL);
    CHECK_STR(tokenizer_eos_token(g_qwen3), "<|im_end|>");
    CHECK(tokenizer_is_special(g_qwen3, 151644));
    CHECK(!tokenizer_is_special(g_qwen3, 151667)); /* <think> is added but not special */
    CHECK(!tokenizer_is_special(g_qwen3, 9707));
    CHECK(!tokenizer_is_special(g_qwen3, -1) && !tokenizer_is_special(g_qwen3, 1 << 30));
    CHECK_EQ_INT(tokenizer_token_to_id(g_qwen3, "<think>"), 151667);
    CHECK_EQ_INT(tokenizer_token_to_id(g_qwen3, "Hello"), 9707);
    CHECK_EQ_INT(tokenizer_token_to_id(g_qwen3, "\xC4\xA0world"), 1879); /* "Ġworld" */
    CHECK_EQ_INT(tokenizer_token_to_id(g_qwen3, "no such token here"), -1);
    CHECK_STR(tokenizer_id_to_token(g_qwen3, 1879), "\xC4\xA0world");
    CHECK_STR(tokenizer_id_to_token(g_qwen3, 151645), "<|im_end|>");
    CHECK(tokenizer_id_to_token(g_qwen3, 151669) == NULL && tokenizer_id_to_token(g_qwen3, -5) == NULL);
    CHECK(tokenizer_chat_template(g_qwen3) && strstr(tokenizer_chat_template(g_qwen3), "<|im_start|>"));
    CHECK_EQ_INT(tokenizer_model_max_length(g_qwen3), 131072);

    CHECK_EQ_INT(tokenizer_vocab_size(g_llama3), 128256);
    CHECK_EQ_INT(tokenizer_bos_id(g_llama3), 128000);
    CHECK_EQ_INT(tokenizer_eos_id(g_llama3), 128001);
    CHECK(!tokenizer_add_bos(g_llama3));
    CHECK_EQ_INT(tokenizer_model_max_length(g_llama3), -1); /* 1e30: unlimited */
    CHECK_STR(tokenizer_bos_token(g_llama3), "<|begin_of_text|>");
    CHECK_EQ_INT(tokenizer_bos_id(g_llama3i), 128000);
    CHECK_EQ_INT(tokenizer_eos_id(g_llama3i), 128009);
    CHECK(tokenizer_add_bos(g_llama3i));
    CHECK_STR(tokenizer_eos_token(g_llama3i), "<|eot_id|>");
    CHECK(tokenizer_chat_template(g_llama3i) && strstr(tokenizer_chat_template(g_llama3i), "add_generation_prompt"));
}

TEST(pretokenizer_cases) {
    if (!g_qwen3 || !g_llama3) SKIP("tokenizers did not load");
    /* Digits: Qwen splits every digit, Llama 3 groups up to three. */
    size_t nq, nl;
    int32_t *q = enc(g_qwen3, "1234567", 7, false, &nq), *l = enc(g_llama3, "1234567", 7, false, &nl);
    CHECK_EQ_INT(nq, 7);
    CHECK_EQ_INT(nl, 3);
    free(q);
    free(l);
    /* Contractions are case-insensitive; a space run before a word keeps its last space with the word. */
    char *s;
    const char *texts[] = {"I'M HERE, DON'T", "x  \n\n  y", "a\tb\r\nc", "don't  stop\n\n\n", "\xC2\xA0x\xE3\x80\x80y"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        q = enc(g_qwen3, texts[i], strlen(texts[i]), false, &nq);
        s = dec(g_qwen3, q, nq, false);
        CHECK_STR(s, texts[i]);
        free(s);
        free(q);
    }
    ENC_IS(g_qwen3, "x  \n\n  y", false, 87, 18611, 220, 379);
    ENC_IS(g_llama3, "x  \n\n  y", false, 87, 19124, 220, 379);
}

/* ---- added tokens ---- */

/* A small byte-level BPE: ids 0..255 are the bytes, plus merges and added tokens with every flag. */
static struct tokenizer *tiny_byte_level(const char *normalizer, const char *config) {
    size_t cap = 64 * 1024, n = 0;
    char *j = malloc(cap);
    n += (size_t)snprintf(j + n, cap - n, "{\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        char c[5];
        byte_char(b, c);
        n += (size_t)snprintf(j + n, cap - n, "\"%s%s\":%d,", (c[0] == '"' || c[0] == '\\') ? "\\" : "", c, b);
    }
    n += (size_t)snprintf(
        j + n, cap - n,
        "\"ab\":256,\"abc\":257},\"merges\":[\"a b\",\"ab c\"]},\"added_tokens\":["
        "{\"id\":258,\"content\":\"<sp>\",\"special\":true,\"lstrip\":true,\"rstrip\":true,\"normalized\":false},"
        "{\"id\":259,\"content\":\"[W]\",\"special\":false,\"single_word\":true,\"normalized\":false},"
        "{\"id\":260,\"content\":\"xy\",\"special\":false,\"normalized\":true},"
        "{\"id\":261,\"content\":\"<B>\",\"special\":true,\"normalized\":false},"
        "{\"id\":262,\"content\":\"<a>\",\"special\":true,\"normalized\":false},"
        "{\"id\":263,\"content\":\"<a><b>\",\"special\":true,\"normalized\":false}],"
        "\"normalizer\":%s,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
        "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"}}",
        normalizer);
    struct sgl_err err = {{0}};
    struct tokenizer *t = NULL;
    if (tokenizer_load_hf_memory(j, n, config, &t, &err)) printf("  tiny tokenizer: %s\n", err.msg);
    free(j);
    return t;
}

TEST(added_tokens) {
    struct tokenizer *t = tiny_byte_level("{\"type\":\"Lowercase\"}", NULL);
    if (!t) {
        CHECK(t != NULL);
        return;
    }
    ENC_IS(t, "abc", false, 257);
    ENC_IS(t, "ABC", false, 257);              /* normalizer before the model */
    ENC_IS(t, "a <sp> b", false, 97, 258, 98); /* lstrip + rstrip eat the spaces */
    ENC_IS(t, "a\t\n<sp>\n b", false, 97, 258, 98);
    ENC_IS(t, "x[W]", false, 120, 91, 119, 93); /* single_word: glued to a word, not matched */
    ENC_IS(t, "[W]y", false, 91, 119, 93, 121);
    ENC_IS(t, "x [W] y", false, 120, 32, 259, 32, 121); /* single_word: free standing */
    ENC_IS(t, "[W]", false, 259);
    ENC_IS(t, "aXYb", false, 97, 260, 98); /* normalized=true: matched after Lowercase */
    ENC_IS(t, "<b>", false, 60, 98, 62);   /* normalized=false: raw text only */
    ENC_IS(t, "<B>", false, 261);
    ENC_IS(t, "<a><b>", false, 263); /* leftmost-longest */
    ENC_IS(t, "<a><c>", false, 262, 60, 99, 62);
    ENC_IS(t, "<a<a>", false, 60, 97, 262);
    char *s = dec(t, (const int32_t[]){97, 258, 98, 260, 263}, 5, false);
    CHECK_STR(s, "a<sp>bxy<a><b>");
    free(s);
    s = dec(t, (const int32_t[]){97, 258, 98, 260, 263}, 5, true);
    CHECK_STR(s, "abxy");
    free(s);
    CHECK(tokenizer_is_special(t, 258) && !tokenizer_is_special(t, 259));
    tokenizer_destroy(t);
}

/* ---- invalid UTF-8 ---- */

TEST(invalid_utf8) {
    if (!g_qwen3 || !g_llama3) SKIP("tokenizers did not load");
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\xFF", "\xEF\xBF\xBD"},
        {"a\xC3", "a\xEF\xBF\xBD"},
        {"\xE2\x82", "\xEF\xBF\xBD"},                                             /* truncated: one maximal subpart */
        {"\xED\xA0\x80x", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx"},               /* surrogate: three */
        {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                                 /* overlong */
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
        {"\xF0\x9F\x98", "\xEF\xBF\xBD"},
        {"\xE4\xBD\xA0\x80\xE5\xA5\xBD", "\xE4\xBD\xA0\xEF\xBF\xBD\xE5\xA5\xBD"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *san;
        size_t sl;
        CHECK(!unicode_utf8_valid(cases[i].in, strlen(cases[i].in)));
        CHECK(unicode_utf8_sanitize(cases[i].in, strlen(cases[i].in), &san, &sl) == 0);
        CHECK_STR(san, cases[i].want);
        free(san);
        const struct tokenizer *toks[] = {g_qwen3, g_llama3};
        for (int k = 0; k < 2; k++) {
            size_t n1, n2;
            int32_t *a = enc(toks[k], cases[i].in, strlen(cases[i].in), false, &n1);
            int32_t *b = enc(toks[k], cases[i].want, strlen(cases[i].want), false, &n2);
            CHECK(a && b && n1 == n2 && memcmp(a, b, n1 * sizeof *a) == 0);
            char *d = dec(toks[k], a, n1, false);
            CHECK_STR(d, cases[i].want);
            free(d);
            free(a);
            free(b);
        }
    }
    CHECK(unicode_utf8_valid("\xF4\x8F\xBF\xBF \xE2\x82\xAC", 8));
    /* Decoding byte tokens that do not form UTF-8 gives U+FFFD (maximal subparts). */
    char c1[5], c2[5];
    byte_char(0xE4, c1);
    byte_char(0xBD, c2);
    int32_t ids[3] = {tokenizer_token_to_id(g_qwen3, c1), tokenizer_token_to_id(g_qwen3, c2), 9707};
    CHECK(ids[0] >= 0 && ids[1] >= 0);
    char *d = dec(g_qwen3, ids, 3, false);
    CHECK_STR(d, "\xEF\xBF\xBDHello");
    free(d);
    d = dec(g_qwen3, ids + 1, 1, false);
    CHECK_STR(d, "\xEF\xBF\xBD");
    free(d);
}

/* ---- normalization ---- */

TEST(normalize_local) {
    /* Characters that compose, decompose, reorder or are excluded from composition. */
    static const int32_t pool[] = {'a',    'e',    'o',    ' ',    'K',    0x301,  0x308,  0x323,  0x327,
                                   0x344,  0x0F73, 0x0F71, 0x0F72, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01,
                                   0xFB01, 0x212B, 0x2126, 0xE9,   0xC5,   0x304C, 0x304B, 0x3099, 0x0CC6,
                                   0x0CD5, 0x0958, 0x1E9B, 0x4E2D, 0xFDFA, 0x2460, 0x1D15E};
    static const utf8proc_option_t opts[] = {UTF8PROC_COMPOSE, UTF8PROC_DECOMPOSE, UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
                                             UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
    static const enum unicode_form forms[] = {UNICODE_NFC, UNICODE_NFD, UNICODE_NFKC, UNICODE_NFKD};
    uint64_t seed = 0x4E4F524D;
    int bad = 0;
    for (int trial = 0; trial < 3000 && bad < 3; trial++) {
        char s[256];
        size_t n = 0, k = 1 + rng_next(&seed) % 40;
        for (size_t i = 0; i < k; i++)
            n += unicode_encode(pool[rng_next(&seed) % (sizeof pool / sizeof pool[0])], s + n);
        for (int f = 0; f < 4; f++) {
            utf8proc_uint8_t *want = NULL;
            utf8proc_ssize_t wl =
                utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &want, UTF8PROC_STABLE | opts[f]);
            char *got;
            size_t gl;
            CHECK(unicode_normalize(forms[f], s, n, &got, &gl) == 0);
            const char *g = got ? got : s;
            if (wl < 0 || (size_t)wl != gl || memcmp(want, g, gl) != 0) {
                printf("  form %d differs on trial %d\n", f, trial);
                bad++;
            }
            free(want);
            free(got);
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---- streaming ---- */

/* Streams ids; checks every piece is valid UTF-8 and that the pieces plus the
 * flush equal tokenizer_decode. Returns 1 if all hold. */
static int stream_ok(const struct tokenizer *t, const int32_t *ids, size_t n, bool skip) {
    struct sgl_err err = {{0}};
    char *want;
    size_t wl, got = 0; /* the text may hold NUL bytes (<0x00> tokens): lengths, not strlen */
    if (tokenizer_decode(t, ids, n, skip, &want, &wl, &err)) {
        printf("  decode failed: %s\n", err.msg);
        return 0;
    }
    struct detok_stream *ds = detok_stream_create(t, skip);
    int ok = ds != NULL;
    for (size_t i = 0; ok && i <= n; i++) {
        char *p;
        size_t pl;
        int r = i < n ? detok_stream_push(ds, ids[i], &p, &pl, &err) : detok_stream_flush(ds, &p, &pl, &err);
        if (r || !p) {
            printf("  stream error: %s\n", err.msg);
            ok = 0;
            break;
        }
        if (!unicode_utf8_valid(p, pl)) {
            printf("  piece %zu is not valid UTF-8\n", i);
            ok = 0;
        }
        /* Everything emitted so far is a prefix of the final text. */
        if (got + pl > wl || memcmp(want + got, p, pl) != 0) {
            printf("  piece %zu \"%s\" does not continue the decode at byte %zu of \"%s\"\n", i, p, got, want);
            ok = 0;
        }
        got += pl;
        free(p);
    }
    if (ok && got != wl) {
        printf("  stream gave %zu bytes, decode %zu\n", got, wl);
        ok = 0;
    }
    if (!ok) {
        printf("  ids (skip_special_tokens=%d):", skip);
        for (size_t i = 0; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
    }
    detok_stream_destroy(ds);
    free(want);
    return ok;
}

/* Random id sequences mixing real text, lone bytes of multi-byte characters,
 * special tokens and the tokens HF's clean-up rewrites. */
static int stream_random(const struct tokenizer *t, uint64_t seed, int trials) {
    static const char *texts[] = {" ,",
                                  " .",
                                  " ?",
                                  " !",
                                  " '",
                                  "n't",
                                  " n't",
                                  "'s",
                                  " 's",
                                  "'m",
                                  "ve",
                                  "re",
                                  " ",
                                  "  ",
                                  "\xE4\xBD\xA0\xE5\xA5\xBD",
                                  "\xF0\x9F\x98\x80",
                                  "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9",
                                  "Hello world",
                                  " the",
                                  "\n",
                                  "\xC3\xA9",
                                  "don 't",
                                  "I 'm",
                                  " ' ",
                                  "a"};
    int32_t pool[4096];
    size_t np = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n;
        int32_t *ids = enc(t, texts[i], strlen(texts[i]), false, &n);
        for (size_t k = 0; k < n && np < 4000; k++) pool[np++] = ids[k];
        free(ids);
    }
    int32_t v = tokenizer_vocab_size(t);
    for (int b = 0x80; b < 0x100 && np < 4090; b += 7) { /* lone bytes */
        char c[5], name[8];
        byte_char(b, c);
        int32_t id = tokenizer_token_to_id(t, c);
        snprintf(name, sizeof name, "<0x%02X>", b);
        if (id < 0) id = tokenizer_token_to_id(t, name);
        if (id >= 0) pool[np++] = id;
    }
    int ok = 1;
    int32_t ids[96];
    for (int trial = 0; trial < trials && ok; trial++) {
        size_t n = 1 + rng_next(&seed) % 96;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_next(&seed);
            if (r % 8 == 0)
                ids[i] = (int32_t)(rng_next(&seed) % (uint64_t)v);
            else if (r % 8 == 1)
                ids[i] = v - 1 - (int32_t)(rng_next(&seed) % 40); /* added / special tokens */
            else
                ids[i] = pool[rng_next(&seed) % np];
        }
        ok = stream_ok(t, ids, n, trial % 2 == 1);
    }
    return ok;
}

TEST(detok_stream) {
    if (!g_qwen3 || !g_llama3 || !g_llama3i || !g_tiny_spm) SKIP("tokenizers did not load");
    /* A 4-byte character split into four byte tokens comes out whole, once. */
    int32_t ids[4];
    const uint8_t emoji[4] = {0xF0, 0x9F, 0x98, 0x80};
    for (int i = 0; i < 4; i++) {
        char c[5];
        byte_char(emoji[i], c);
        ids[i] = tokenizer_token_to_id(g_qwen3, c);
    }
    struct detok_stream *ds = detok_stream_create(g_qwen3, false);
    char *p;
    size_t pl;
    for (int i = 0; i < 4; i++) {
        CHECK(detok_stream_push(ds, ids[i], &p, &pl, NULL) == 0);
        CHECK_STR(p, i < 3 ? "" : "\xF0\x9F\x98\x80");
        free(p);
    }
    CHECK(detok_stream_flush(ds, &p, &pl, NULL) == 0 && pl == 0);
    free(p);
    struct sgl_err err = {{0}};
    CHECK(detok_stream_push(ds, 999999, &p, &pl, &err) < 0 && strstr(err.msg, "out of range"));
    detok_stream_destroy(ds);
    detok_stream_destroy(NULL);

    /* Clean-up (Llama 3): " ." held back until it is known. */
    size_t n;
    const char *txt = "Hello , world . Is it ? I 'm sure it 's fine , isn 't it ! Do n't .";
    int32_t *e = enc(g_llama3, txt, strlen(txt), false, &n);
    CHECK(stream_ok(g_llama3, e, n, false));
    char *d = dec(g_llama3, e, n, false);
    CHECK_STR(d, "Hello, world. Is it? I'm sure it's fine, isn 't it! Don't.");
    free(d);
    free(e);

    CHECK(stream_random(g_qwen3, 0x1234, 300));
    CHECK(stream_random(g_llama3, 0x5678, 300));
    CHECK(stream_random(g_llama3i, 0x9abc, 100));
    CHECK(stream_random(g_tiny_spm, 0xdef0, 300));
}

/* HF's clean_up_tokenization as the reference writes it: ten global
 * replacements in order, each left to right without overlaps. */
static void clean_up_reference(char *s) {
    static const char *from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're"};
    static const char *to[] = {".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re"};
    for (int k = 0; k < 10; k++) {
        size_t fl = strlen(from[k]), tl = strlen(to[k]), o = 0, n = strlen(s);
        for (size_t i = 0; i < n;) {
            if (strncmp(s + i, from[k], fl) == 0) {
                memcpy(s + o, to[k], tl);
                o += tl;
                i += fl;
            } else
                s[o++] = s[i++];
        }
        s[o] = 0;
    }
}

TEST(clean_up_stream) {
    /* One token per byte: the stream cuts the clean-up at every possible place. */
    struct tokenizer *t = tiny_byte_level("null", "{\"clean_up_tokenization_spaces\":true}");
    if (!t) {
        CHECK(t != NULL);
        return;
    }
    static const char alphabet[] = "  ''nntmsvre.,?!x";
    uint64_t seed = 0xC1EA;
    int bad = 0;
    for (int trial = 0; trial < 2000 && bad < 3; trial++) {
        char s[256], want[256];
        size_t len = 1 + rng_next(&seed) % 200;
        for (size_t i = 0; i < len; i++) s[i] = alphabet[rng_next(&seed) % (sizeof alphabet - 1)];
        s[len] = 0;
        memcpy(want, s, len + 1);
        clean_up_reference(want);
        size_t n;
        int32_t *ids = enc(t, s, len, false, &n);
        char *d = dec(t, ids, n, false);
        if (!d || strcmp(d, want) != 0 || !stream_ok(t, ids, n, false)) {
            printf("  \"%s\": decode \"%s\", want \"%s\"\n", s, d ? d : "(null)", want);
            bad++;
        }
        free(d);
        free(ids);
    }
    CHECK_EQ_INT(bad, 0);
    tokenizer_destroy(t);
}

TEST(tiny_spm) {
    if (!g_tiny_spm) SKIP("tiny-spm did not load");
    const struct tokenizer *t = g_tiny_spm;
    CHECK(tokenizer_add_bos(t));
    CHECK_EQ_INT(tokenizer_bos_id(t), 1);
    CHECK_EQ_INT(tokenizer_eos_id(t), 2);
    size_t n;
    int32_t *ids = enc(t, "the cat", 7, true, &n);
    CHECK(n >= 2 && ids[0] == 1);
    CHECK_EQ_INT(ids[1], tokenizer_token_to_id(t, "\xE2\x96\x81the"));
    char *d = dec(t, ids, n, true);
    CHECK_STR(d, "the cat");
    free(d);
    free(ids);
    /* Byte fallback both ways: 'Z' and an emoji are not in the vocab. */
    ids = enc(t, "Z\xF0\x9F\x98\x80", 5, false, &n);
    CHECK_EQ_INT(n, 6); /* <0xE2><0x96><0x81> for the prefix U+2581 is a token: "▁" then 5 bytes */
    d = dec(t, ids, n, false);
    CHECK_STR(d, "Z\xF0\x9F\x98\x80");
    free(d);
    free(ids);
}

/* ---- SentencePiece GGUF (stories260K) ---- */

TEST(stories260k_spm) {
    struct sgl_err err = {{0}};
    struct gguf *g;
    if (gguf_open(STORIES "stories260K.gguf", &g, &err)) {
        printf("  %s\n", err.msg);
        CHECK(0);
        return;
    }
    struct tokenizer *t;
    if (tokenizer_load_gguf(g, &t, &err)) {
        printf("  %s\n", err.msg);
        CHECK(0);
        gguf_close(g);
        return;
    }
    CHECK_EQ_INT(tokenizer_vocab_size(t), 512);
    CHECK_EQ_INT(tokenizer_bos_id(t), 1);
    CHECK_EQ_INT(tokenizer_eos_id(t), 2);
    CHECK(tokenizer_add_bos(t));
    CHECK_STR(tokenizer_id_to_token(t, 1), "<s>");
    CHECK_STR(tokenizer_bos_token(t), "<s>");
    CHECK(tokenizer_is_special(t, 1) && tokenizer_is_special(t, 2) && !tokenizer_is_special(t, 403));

    char *txt, *want;
    size_t tl, wl;
    CHECK(file_read_all(STORIES "expected_greedy_ids.txt", &txt, &tl, &err) == 0);
    CHECK(file_read_all(STORIES "expected_greedy_output.txt", &want, &wl, &err) == 0);
    int32_t ids[512];
    size_t n = 0;
    for (char *p = txt, *q; n < 512; p = q) {
        long x = strtol(p, &q, 10);
        if (q == p) break;
        ids[n++] = (int32_t)x;
    }
    CHECK_EQ_INT(n, 256);
    CHECK_STR(tokenizer_id_to_token(t, ids[0]), "\xE2\x96\x81Once");
    /* The documented output: leading space of the first piece stripped. */
    char *d = dec(t, ids, n, true);
    CHECK_STR(d, want);
    free(d);
    CHECK(stream_ok(t, ids, n, true));
    CHECK(stream_ok(t, ids, n, false));
    /* BOS then the text, as the model saw it. */
    int32_t with_bos[513];
    with_bos[0] = 1;
    memcpy(with_bos + 1, ids, n * sizeof *ids);
    d = dec(t, with_bos, n + 1, false);
    CHECK(d && strncmp(d, "<s> Once upon a time", 20) == 0);
    free(d);
    d = dec(t, with_bos, n + 1, true);
    CHECK_STR(d, want);
    free(d);
    /* encode(text) gives back the model's own ids; with add_special_tokens, BOS first. */
    size_t m;
    int32_t *e = enc(t, want, wl, false, &m);
    CHECK(m == n && memcmp(e, ids, n * sizeof *ids) == 0);
    free(e);
    ENC_IS(t, "Once upon a time", true, 1, 403, 407, 261, 378);
    /* Unknown characters fall back to byte tokens; special tokens in text are matched. */
    e = enc(t, "hi \xE4\xBD\xA0</s>ok", 12, false, &m);
    d = dec(t, e, m, false);
    CHECK_STR(d, "hi \xE4\xBD\xA0</s> ok"); /* a space prefix follows a special token, as in llama.cpp */
    free(d);
    CHECK(m > 4 && e[m - 2] != 2);
    bool has_eos = false;
    for (size_t i = 0; i < m; i++) has_eos |= e[i] == 2;
    CHECK(has_eos);
    free(e);
    CHECK(stream_random(t, 0x77, 200));
    free(txt);
    free(want);
    tokenizer_destroy(t);
    gguf_close(g);
}

/* ---- GGUF "gpt2" vocabularies, built from the HF files ---- */

static void gb_kv_i32_arr(struct gb *b, const char *key, size_t n, const int32_t *v) {
    gb_key(b, key, 9);
    gb_u32(b, 5);
    gb_u64(b, n);
    gb_put(b, v, n * sizeof *v);
}

/* Writes a GGUF holding hf's vocabulary as tokenizer.ggml.* with the given pre. */
static struct tokenizer *gguf_from_hf(const char *name, const struct tokenizer *hf, const char *pre, struct gguf **gout,
                                      struct gb *b) {
    char path[1024];
    snprintf(path, sizeof path, TOK_DIR "%s/tokenizer.json", name);
    char *json;
    size_t jl;
    struct sgl_err err = {{0}};
    if (file_read_all(path, &json, &jl, &err)) return NULL;
    cJSON *root = cJSON_ParseWithLength(json, jl);
    free(json);
    const cJSON *merges = json_get(json_get(root, "model"), "merges"), *added = json_get(root, "added_tokens"), *e;
    int32_t nv = tokenizer_vocab_size(hf);
    const char **toks = calloc((size_t)nv, sizeof *toks);
    int32_t *types = calloc((size_t)nv, sizeof *types);
    for (int32_t i = 0; i < nv; i++) {
        toks[i] = tokenizer_id_to_token(hf, i);
        types[i] = 1;
    }
    cJSON_ArrayForEach(e, added) {
        int64_t id;
        bool special = false;
        json_get_int(e, "id", &id);
        json_get_bool(e, "special", &special);
        types[id] = special ? 3 : 4;
    }
    size_t nm = (size_t)cJSON_GetArraySize(merges), k = 0;
    char **ms = calloc(nm, sizeof *ms);
    cJSON_ArrayForEach(e, merges) {
        if (cJSON_IsString(e))
            ms[k] = strdup(e->valuestring);
        else {
            const char *a = e->child->valuestring, *c = e->child->next->valuestring;
            ms[k] = malloc(strlen(a) + strlen(c) + 2);
            sprintf(ms[k], "%s %s", a, c);
        }
        k++;
    }
    gb_header(b, 3, 0, 6);
    gb_kv_str(b, "tokenizer.ggml.model", "gpt2");
    gb_kv_str(b, "tokenizer.ggml.pre", pre);
    gb_kv_str_arr(b, "tokenizer.ggml.tokens", nv, toks);
    gb_kv_i32_arr(b, "tokenizer.ggml.token_type", (size_t)nv, types);
    gb_kv_str_arr(b, "tokenizer.ggml.merges", (int)nm, (const char *const *)ms);
    gb_kv_u32(b, "tokenizer.ggml.eos_token_id", (uint32_t)tokenizer_eos_id(hf));
    for (size_t i = 0; i < nm; i++) free(ms[i]);
    free(ms);
    free(toks);
    free(types);
    cJSON_Delete(root);
    struct tokenizer *t = NULL;
    if (gguf_open_memory(b->p, b->n, name, gout, &err) || tokenizer_load_gguf(*gout, &t, &err))
        printf("  gguf %s: %s\n", name, err.msg);
    return t;
}

static char **read_corpus(size_t *n) {
    char *data;
    size_t size;
    *n = 0;
    if (file_read_all(TOK_DIR "corpus.jsonl", &data, &size, NULL)) return NULL;
    char **lines = calloc(size / 2 + 1, sizeof *lines), *save = NULL;
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(l);
        if (cJSON_IsString(j)) lines[(*n)++] = strdup(j->valuestring);
        cJSON_Delete(j);
    }
    free(data);
    return lines;
}

/* Counts corpus strings whose ids (and, with decodes, decoded texts) differ between a and b. */
static size_t corpus_mismatches(const struct tokenizer *a, const struct tokenizer *b, char **lines, size_t n,
                                bool decodes) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t na, nb;
        int32_t *x = enc(a, lines[i], strlen(lines[i]), false, &na),
                *y = enc(b, lines[i], strlen(lines[i]), false, &nb);
        bool same = x && y && na == nb && memcmp(x, y, na * sizeof *x) == 0;
        if (same && decodes) {
            char *dx = dec(a, x, na, false), *dy = dec(b, y, nb, false);
            same = dx && dy && strcmp(dx, dy) == 0;
            free(dx);
            free(dy);
        }
        if (!same && bad++ < 3) printf("  differs on corpus line %zu: %.60s\n", i, lines[i]);
        free(x);
        free(y);
    }
    return bad;
}

TEST(gguf_gpt2_matches_hf) {
    if (!g_qwen3 || !g_llama3) SKIP("tokenizers did not load");
    size_t n;
    char **lines = read_corpus(&n);
    CHECK(lines && n > 2000);
    if (!lines) return;
    struct {
        const char *name, *pre;
        const struct tokenizer *hf;
    } cases[] = {{"qwen3", "qwen2", g_qwen3}, {"llama3", "llama-bpe", g_llama3}};
    for (int c = 0; c < 2; c++) {
        struct gb b = {0};
        struct gguf *g = NULL;
        struct tokenizer *t = gguf_from_hf(cases[c].name, cases[c].hf, cases[c].pre, &g, &b);
        CHECK(t != NULL);
        if (t) {
            /* Decodes differ only by Llama 3's HF clean-up, which GGUF vocabularies do not have. */
            CHECK_EQ_INT(corpus_mismatches(cases[c].hf, t, lines, n, c == 0), 0);
            CHECK(!tokenizer_add_bos(t));
            CHECK_EQ_INT(tokenizer_eos_id(t), tokenizer_eos_id(cases[c].hf));
            CHECK(tokenizer_is_special(t, tokenizer_eos_id(t)));
        }
        tokenizer_destroy(t);
        gguf_close(g);
        gb_free(&b);
    }
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* ---- PCRE2 fallback == hand-written scanners ---- */

/* tokenizer.json text with the Split regex wrapped in (?:...), so no scanner matches it. */
static struct tokenizer *load_forcing_pcre2(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, TOK_DIR "%s/tokenizer.json", name);
    char *json, *cfg;
    size_t jl;
    struct sgl_err err = {{0}};
    if (file_read_all(path, &json, &jl, &err)) return NULL;
    snprintf(path, sizeof path, TOK_DIR "%s/tokenizer_config.json", name);
    if (file_read_all(path, &cfg, NULL, &err)) {
        free(json);
        return NULL;
    }
    char *p = strstr(json, "\"Regex\"");
    struct tokenizer *t = NULL;
    if (p) {
        char *q = strchr(p + 7, '"') + 1; /* pattern start */
        char *end = q;
        while (*end && !(*end == '"' && end[-1] != '\\')) end++;
        char *nj = malloc(jl + 8);
        size_t a = (size_t)(q - json), l = (size_t)(end - q);
        memcpy(nj, json, a);
        memcpy(nj + a, "(?:", 3);
        memcpy(nj + a + 3, q, l);
        nj[a + 3 + l] = ')';
        memcpy(nj + a + 4 + l, end, jl - a - l);
        if (tokenizer_load_hf_memory(nj, jl + 4, cfg, &t, &err)) printf("  %s: %s\n", name, err.msg);
        free(nj);
    }
    free(json);
    free(cfg);
    return t;
}

TEST(pcre2_matches_scanners) {
    if (!g_qwen3 || !g_llama3) SKIP("tokenizers did not load");
    size_t n;
    char **lines = read_corpus(&n);
    if (!lines) {
        CHECK(lines != NULL);
        return;
    }
    const char *names[] = {"qwen3", "llama3"};
    const struct tokenizer *hf[] = {g_qwen3, g_llama3};
    for (int c = 0; c < 2; c++) {
        struct tokenizer *t = load_forcing_pcre2(names[c]);
        CHECK(t != NULL);
        if (t) CHECK_EQ_INT(corpus_mismatches(hf[c], t, lines, n, true), 0);
        tokenizer_destroy(t);
    }
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* ---- Metaspace (Rust semantics) ---- */

TEST(metaspace) {
    const char *j =
        "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,\"\xE2\x96\x81\":1,\"h\":2,"
        "\"i\":3,\"\xE2\x96\x81h\":4,\"\xE2\x96\x81hi\":5},\"merges\":[\"\xE2\x96\x81 h\",\"\xE2\x96\x81h i\"]},"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"always\","
        "\"split\":true},\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\","
        "\"prepend_scheme\":\"always\",\"split\":true}}";
    struct sgl_err err = {{0}};
    struct tokenizer *t;
    if (tokenizer_load_hf_memory(j, strlen(j), NULL, &t, &err)) {
        printf("  %s\n", err.msg);
        CHECK(0);
        return;
    }
    ENC_IS(t, "hi hi", false, 5, 5);
    ENC_IS(t, "hx", false, 4, 0);
    ENC_IS(t, " hi", false, 5);
    char *d = dec(t, (const int32_t[]){5, 5, 1, 2}, 4, false);
    CHECK_STR(d, "hi hi h");
    free(d);
    d = dec(t, (const int32_t[]){1, 5}, 2, false);
    CHECK_STR(d, " hi");
    free(d);
    CHECK(stream_ok(t, (const int32_t[]){5, 5, 1, 2, 4, 0}, 6, false));
    tokenizer_destroy(t);
}

/* ---- errors ---- */

TEST(load_errors) {
    static const char *bad[] = {
        "",
        "{",
        "[]",
        "{}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0.5},\"merges\":[]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1000000000},\"merges\":[]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
        "\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Nope\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":\"x\"}]}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"CTC\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"BertNormalizer\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":"
        "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}}],\"special_tokens\":{}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sgl_err err = {{0}};
        struct tokenizer *t = (struct tokenizer *)1;
        int r = tokenizer_load_hf_memory(bad[i], strlen(bad[i]), NULL, &t, &err);
        CHECK(r < 0);
        CHECK(t == NULL);
        CHECK(err.msg[0] != 0 && strchr(err.msg, '\n') == NULL);
        if (r >= 0) printf("  accepted: %s\n", bad[i]);
        tokenizer_destroy(r == 0 ? t : NULL);
    }
    /* A minimal valid file: no pre-tokenizer, no decoder (tokens joined by spaces). */
    const char *ok = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\",\"b\"]]}}";
    struct sgl_err err = {{0}};
    struct tokenizer *t;
    CHECK(tokenizer_load_hf_memory(ok, strlen(ok), "{\"eos_token\":{\"content\":\"b\"}}", &t, &err) == 0);
    ENC_IS(t, "abab", false, 2, 2);
    ENC_IS(t, "ba", false, 1, 0);
    ENC_IS(t, "xa", false, 0); /* no unk token: unknown characters are dropped */
    CHECK_EQ_INT(tokenizer_eos_id(t), 1);
    char *d = dec(t, (const int32_t[]){2, 0}, 2, false);
    CHECK_STR(d, "ab a");
    free(d);
    char *s;
    size_t sl;
    CHECK(tokenizer_decode(t, (const int32_t[]){3}, 1, false, &s, &sl, &err) == ERR_INVALID && s == NULL);
    CHECK(strstr(err.msg, "out of range") != NULL);
    CHECK(tokenizer_decode(t, (const int32_t[]){-1}, 1, false, &s, &sl, &err) < 0);
    CHECK(tokenizer_decode(t, NULL, 0, false, &s, &sl, &err) == 0 && sl == 0 && s && s[0] == 0);
    free(s);
    tokenizer_destroy(t);
    tokenizer_destroy(NULL);
    CHECK(tokenizer_load_hf_memory(ok, strlen(ok), "{bad", &t, &err) == ERR_FORMAT);
    CHECK(strstr(err.msg, "tokenizer_config.json") != NULL);
    CHECK(tokenizer_load_hf("/nonexistent/tokenizer.json", NULL, &t, &err) == ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/tokenizer.json") != NULL);
    CHECK(tokenizer_load_hf_dir("/nonexistent-dir", &t, &err) == ERR_NOTFOUND);
    /* GGUF without a tokenizer / with an unsupported one. */
    struct gb b = {0};
    gb_header(&b, 3, 0, 1);
    gb_kv_str(&b, "tokenizer.ggml.model", "bert");
    struct gguf *g;
    CHECK(gguf_open_memory(b.p, b.n, "bert.gguf", &g, &err) == 0);
    CHECK(tokenizer_load_gguf(g, &t, &err) == ERR_INVALID && strstr(err.msg, "bert"));
    gguf_close(g);
    gb_free(&b);
    gb_header(&b, 3, 0, 0);
    CHECK(gguf_open_memory(b.p, b.n, "empty.gguf", &g, &err) == 0);
    CHECK(tokenizer_load_gguf(g, &t, &err) == ERR_NOTFOUND);
    gguf_close(g);
    gb_free(&b);
}

int main(void) {
    g_qwen3 = load_dir("qwen3");
    g_llama3 = load_dir("llama3");
    g_llama3i = load_dir("llama3-instruct");
    g_tiny_spm = load_dir("tiny-spm");
    RUN(readme_ids);
    RUN(accessors);
    RUN(pretokenizer_cases);
    RUN(added_tokens);
    RUN(invalid_utf8);
    RUN(normalize_local);
    RUN(detok_stream);
    RUN(clean_up_stream);
    RUN(tiny_spm);
    RUN(stories260k_spm);
    RUN(gguf_gpt2_matches_hf);
    RUN(pcre2_matches_scanners);
    RUN(metaspace);
    RUN(load_errors);
    tokenizer_destroy(g_qwen3);
    tokenizer_destroy(g_llama3);
    tokenizer_destroy(g_llama3i);
    tokenizer_destroy(g_tiny_spm);
    return test_summary();
}
