/* pretokenize: HF pre-tokenizers (Split, ByteLevel, Metaspace, Digits,
 * WhitespaceSplit, Sequence) over valid UTF-8 text.
 *
 * Split regexes of the known model families run on hand-written scanners
 * keyed by the exact pattern string (Qwen2/3 with \p{N}, Llama 3 with
 * \p{N}{1,3}, GPT-2's ByteLevel pattern); any other regex runs on PCRE2 (JIT,
 * UTF + UCP). Semantics follow the HF reference: \s is the White_Space
 * property, (?i:...) folds ASCII only, \p{L} / \p{N} are general categories.
 *
 * The ByteLevel byte -> char mapping is not applied here: a pre-tokenizer with
 * a ByteLevel step sets `byte_level` and the BPE model consumes raw bytes.
 *
 * Ownership: a struct pretokenize owns its steps (and compiled regexes); it is
 * read-only after parsing and shared by all threads. A pretokenize_work holds
 * one call's buffers and belongs to one thread. */
#ifndef SGLC_TOKENIZER_PRETOKENIZE_H
#define SGLC_TOKENIZER_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/json.h"

enum pretokenize_scanner {
    PRETOKENIZE_SCAN_NONE,   /* PCRE2 regex or literal */
    PRETOKENIZE_SCAN_QWEN2,  /* Qwen2/Qwen3: \p{N} one digit at a time */
    PRETOKENIZE_SCAN_LLAMA3, /* Llama 3: \p{N}{1,3} */
    PRETOKENIZE_SCAN_GPT2,   /* GPT-2 / ByteLevel(use_regex) */
    PRETOKENIZE_SCAN_DIGIT,  /* one ASCII digit (Digits pre-tokenizer) */
    PRETOKENIZE_SCAN_SPACE,  /* a White_Space run (WhitespaceSplit) */
};

/* The Split regexes with a hand-written scanner. */
#define PRETOKENIZE_PATTERN_QWEN2                                                                                      \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"  \
    "\\s+(?!\\S)|\\s+"
#define PRETOKENIZE_PATTERN_LLAMA3                                                                                     \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"           \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define PRETOKENIZE_PATTERN_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

struct pretokenize_step;

struct pretokenize {
    struct pretokenize_step *steps;
    size_t n_steps;
    bool byte_level; /* a ByteLevel step is present: the model works on bytes */
};

struct pretokenize_piece {
    uint32_t off, len;
};

/* One call's working memory. Zero-initialise; pretokenize_work_free releases. */
struct pretokenize_work {
    char *buf[2];
    size_t buf_cap[2];
    struct pretokenize_piece *pc[2];
    size_t pc_cap[2];
    void *match_data, *match_ctx, *jit_stack; /* PCRE2, created on first use */
    /* Result of the last pretokenize_run: pieces[i] is base[off .. off + len). */
    const char *base;
    const struct pretokenize_piece *pieces;
    size_t n_pieces;
};

/* Parses an HF "pre_tokenizer" object (NULL or JSON null: no steps). Errors
 * (unknown type, bad regex) are one line in err. Returns 0 or a negative ERR_*. */
int pretokenize_parse(const cJSON *cfg, struct pretokenize *out, struct sgl_err *err);
/* Builds [Split(regex, Isolated), ByteLevel(use_regex = false)] — or, with
 * regex NULL, [ByteLevel(use_regex = true)] — for GGUF "gpt2" vocabularies. */
int pretokenize_init_byte_level(struct pretokenize *out, const char *regex, struct sgl_err *err);
void pretokenize_free(struct pretokenize *p);

/* Runs the steps over text[0..n) (valid UTF-8). first_section tells Metaspace's
 * prepend_scheme "first" whether this text starts the input. Returns 0 or a
 * negative ERR_*; the pieces are in w (valid until the next call on w). */
int pretokenize_run(const struct pretokenize *p, const char *text, size_t n, bool first_section,
                    struct pretokenize_work *w, struct sgl_err *err);
void pretokenize_work_free(struct pretokenize_work *w);

#endif
