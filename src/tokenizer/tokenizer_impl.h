/* tokenizer_impl: the layout of struct tokenizer, shared by the files of the
 * tokenizer module (tokenizer.c: loading and encoding; tokenizer_gguf.c: GGUF
 * vocabularies; detokenize.c: decoding and streaming). Not a public header.
 *
 * A tokenizer is built by one thread, then immutable: every field is
 * read-only while encode/decode run on any number of threads. */
#ifndef SGLC_TOKENIZER_TOKENIZER_IMPL_H
#define SGLC_TOKENIZER_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/json.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

enum tokenizer_model {
    TOKENIZER_MODEL_BPE, /* rank merges (HF BPE, GGUF gpt2), byte-level or per character */
    TOKENIZER_MODEL_SPM, /* SentencePiece score merges (GGUF llama) */
};

/* Per-id attribute bits. */
enum {
    TOKENIZER_ATTR_SPECIAL = 1u << 0, /* dropped by skip_special_tokens */
    TOKENIZER_ATTR_ADDED = 1u << 1,   /* an added token (matched in raw text) */
    TOKENIZER_ATTR_BYTE = 1u << 2,    /* decodes to the single byte piece_byte[id] */
};

/* One normalizer step (HF "normalizer", Sequence flattened). */
enum tokenizer_norm_kind {
    TOKENIZER_NORM_FORM,
    TOKENIZER_NORM_PREPEND,
    TOKENIZER_NORM_REPLACE,
    TOKENIZER_NORM_LOWERCASE,
    TOKENIZER_NORM_STRIP
};
struct tokenizer_norm_op {
    enum tokenizer_norm_kind kind;
    enum unicode_form form;
    char *a, *b; /* PREPEND: a; REPLACE: a -> b */
    size_t a_len, b_len;
    bool left, right; /* STRIP */
};

struct tokenizer_added {
    char *content;
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
};

/* Byte trie over added-token contents for leftmost-longest matching. */
struct tokenizer_trie {
    uint8_t first[32]; /* bitmap of first bytes */
    int32_t *term;     /* [n_nodes] index into tokenizer.added, or -1 */
    size_t n_nodes;
    uint64_t *ekey; /* edge hash: (node << 8 | byte) + 1, 0 = empty */
    int32_t *eval;  /* child node */
    size_t emask;
};

/* Decoder chain, reduced to what streaming needs (see detokenize.c). */
enum tokenizer_dec_kind {
    TOKENIZER_DEC_NONE,       /* no decoder: token strings joined with " " */
    TOKENIZER_DEC_BYTE_LEVEL, /* GPT-2 byte map; added tokens verbatim */
    TOKENIZER_DEC_PIECES,     /* per-token replaces, byte fallback, whole-text strip */
};
enum tokenizer_dec_op_kind { TOKENIZER_DEC_OP_REPLACE, TOKENIZER_DEC_OP_METASPACE };
struct tokenizer_dec_op {
    enum tokenizer_dec_op_kind kind;
    char *from, *to;
    size_t from_len, to_len;
    bool first_drops; /* METASPACE with prepend_scheme != never: the first token loses every replacement char */
};
struct tokenizer_decoder {
    enum tokenizer_dec_kind kind;
    struct tokenizer_dec_op *ops;
    size_t n_ops;
    bool byte_fallback;
    bool first_special; /* some op treats the first token differently */
    char strip_char[8]; /* whole-text Strip content (UTF-8), "" if none */
    size_t strip_char_len;
    size_t strip_start, strip_stop;
    bool clean_up; /* HF clean_up_tokenization_spaces */
};

struct tokenizer {
    enum tokenizer_model model;
    int32_t n_ids;      /* 1 + the largest id */
    struct vocab vocab; /* the model's vocabulary (string <-> id) */
    uint8_t *attr;      /* [n_ids] TOKENIZER_ATTR_* */
    int32_t *added_idx; /* [n_ids] index into added[], or -1 */

    /* Decoding: bytes each id contributes (see detokenize.c). */
    uint32_t *piece_off, *piece_len; /* [n_ids] into piece_arena */
    uint8_t *piece_byte;             /* [n_ids] for TOKENIZER_ATTR_BYTE */
    char *piece_arena;
    struct tokenizer_decoder dec;

    /* Model. */
    struct bpe_merges merges;
    bool ignore_merges, byte_fallback, fuse_unk;
    int32_t unk_id;
    float *scores;          /* SPM: [n_ids] */
    int32_t byte_ids[256];  /* byte-level: id of the byte's mapped char; else id of <0xXX>; -1 if none */
    char byte_char[256][2]; /* GPT-2 byte -> char map as UTF-8 (1 or 2 bytes) */
    uint8_t byte_char_len[256];

    /* Pipeline. */
    struct tokenizer_norm_op *norm;
    size_t n_norm;
    struct pretokenize pretok;
    struct tokenizer_added *added;
    size_t n_added;
    struct tokenizer_trie trie_raw;  /* matched on the raw text */
    struct tokenizer_trie trie_norm; /* normalized=true tokens, matched on normalized text */
    bool spm_add_space_prefix;

    /* Post-processor: ids around the sequence when add_special_tokens. */
    int32_t *pre_ids, *post_ids;
    size_t n_pre, n_post;

    /* Config. */
    int32_t bos_id, eos_id, pad_id;
    char *bos_token, *eos_token, *chat_template;
    int64_t model_max_length;
};

/* Allocates a zeroed tokenizer with every id field at -1. NULL if out of memory. */
struct tokenizer *tokenizer_alloc(void);
/* Sizes the per-id arrays for n_ids ids (attr 0, added_idx -1) and the vocab. */
int tokenizer_alloc_ids(struct tokenizer *t, int32_t n_ids, struct sgl_err *err);
/* Fills byte_char / byte_char_len with the GPT-2 bytes_to_unicode map. */
void tokenizer_init_byte_map(struct tokenizer *t);
/* Appends an added token (copies content). Returns 0 or ERR_NOMEM. */
int tokenizer_add_added(struct tokenizer *t, const struct tokenizer_added *a, struct sgl_err *err);
/* Builds trie_raw / trie_norm from added[] (normalized ones with the normalizer applied). */
int tokenizer_build_tries(struct tokenizer *t, struct sgl_err *err);
/* Parses an HF "decoder" (NULL / JSON null: none) into t->dec (detokenize.c). */
int tokenizer_parse_decoder(struct tokenizer *t, const cJSON *dec, struct sgl_err *err);
/* Builds the decoding pieces of every id from the vocab, added tokens and dec (detokenize.c). */
int tokenizer_build_pieces(struct tokenizer *t, struct sgl_err *err);
/* Applies the normalizer steps to s[0..n): *out is NULL (unchanged) or malloc'd. */
int tokenizer_normalize(const struct tokenizer *t, const char *s, size_t n, char **out, size_t *out_len);
/* Duplicates s (NULL -> NULL); sets *fail on allocation failure. */
char *tokenizer_strdup(const char *s, bool *fail);

#endif
