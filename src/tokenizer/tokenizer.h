/* tokenizer: text <-> token ids for the model families we serve.
 *
 * Two vocabularies behind one API:
 *  - HF tokenizer.json byte-level BPE (Qwen2/Qwen3, Llama 3): NFC normalizer,
 *    Split pre-tokenizer regexes, ByteLevel, merges, added/special tokens,
 *    post_processor (TemplateProcessing BOS), decoders.
 *  - GGUF embedded vocabularies: SentencePiece-style "llama" (scores, byte
 *    fallback <0xXX>, U+2581 for spaces) and "gpt2"-style BPE (merges).
 *
 * A tokenizer is immutable after load: encode/decode may run on many threads.
 * Returned buffers are malloc'd and owned by the caller.
 *
 * Semantics follow Hugging Face tokenizers (checked id for id against
 * @huggingface/tokenizers on a corpus, tests/tokenizer.cmake): added tokens are
 * matched leftmost-longest before normalization (lstrip/rstrip/single_word/
 * normalized honoured), invalid UTF-8 input bytes become U+FFFD (maximal
 * subparts), decode applies clean_up_tokenization_spaces when the config asks
 * (a config without the key means true, no config at all means false). GGUF
 * vocabularies follow llama.cpp (SentencePiece: one leading space of the
 * decoded text is stripped). */
#ifndef SGLC_TOKENIZER_TOKENIZER_H
#define SGLC_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct tokenizer;
struct gguf;

/* tokenizer_json: path to tokenizer.json; tokenizer_config: path to
 * tokenizer_config.json or NULL (then defaults). */
int tokenizer_load_hf(const char *tokenizer_json, const char *tokenizer_config, struct tokenizer **out,
                      struct sgl_err *err);
/* Loads tokenizer.json (+ tokenizer_config.json if present) from a model directory. */
int tokenizer_load_hf_dir(const char *dir, struct tokenizer **out, struct sgl_err *err);
/* From tokenizer.json text in memory (len bytes; config_json NUL-terminated or NULL). For tests and fuzzing. */
int tokenizer_load_hf_memory(const char *tokenizer_json, size_t len, const char *config_json,
                             struct tokenizer **out, struct sgl_err *err);
/* From a GGUF file's tokenizer.ggml.* metadata. */
int tokenizer_load_gguf(const struct gguf *g, struct tokenizer **out, struct sgl_err *err);
void tokenizer_destroy(struct tokenizer *tok);

/* Encodes UTF-8 text (invalid sequences are handled, never crash). With
 * add_special_tokens, the post-processor runs (e.g. BOS for Llama-3-Instruct,
 * add_bos_token for SentencePiece vocabularies). Special/added tokens inside the
 * text are always matched. *ids is malloc'd. */
int tokenizer_encode(const struct tokenizer *tok, const char *text, size_t len, bool add_special_tokens,
                     int32_t **ids, size_t *n_ids, struct sgl_err *err);

/* Decodes ids to UTF-8 (malloc'd, NUL-terminated). Out-of-range ids are an error.
 * skip_special_tokens drops special tokens; clean_up_tokenization_spaces follows the config. */
int tokenizer_decode(const struct tokenizer *tok, const int32_t *ids, size_t n_ids, bool skip_special_tokens,
                     char **text, size_t *len, struct sgl_err *err);

int32_t tokenizer_vocab_size(const struct tokenizer *tok);    /* 1 + the largest id */
int32_t tokenizer_bos_id(const struct tokenizer *tok);        /* -1 if none */
int32_t tokenizer_eos_id(const struct tokenizer *tok);        /* -1 if none */
int32_t tokenizer_pad_id(const struct tokenizer *tok);        /* -1 if none */
bool tokenizer_add_bos(const struct tokenizer *tok);          /* encode(add_special_tokens) prepends BOS */
bool tokenizer_is_special(const struct tokenizer *tok, int32_t id);
/* Token id of an exact token string (added tokens first, then vocab); -1 if absent. */
int32_t tokenizer_token_to_id(const struct tokenizer *tok, const char *token);
/* The raw vocabulary string of an id (e.g. "Ġhello", "▁the", "<0x0A>"); NULL if out of range. */
const char *tokenizer_id_to_token(const struct tokenizer *tok, int32_t id);
/* model_max_length from tokenizer_config.json; -1 if absent or "unlimited" (HF's 1e30 sentinel). */
int64_t tokenizer_model_max_length(const struct tokenizer *tok);
/* chat_template from tokenizer_config.json or GGUF tokenizer.chat_template; NULL if none. */
const char *tokenizer_chat_template(const struct tokenizer *tok);
/* bos/eos token strings from the config (for chat templates); NULL if none. */
const char *tokenizer_bos_token(const struct tokenizer *tok);
const char *tokenizer_eos_token(const struct tokenizer *tok);

/* Incremental detokenizer for streaming: feed ids one at a time, get the newly
 * completed text. Never emits a broken UTF-8 sequence (holds back incomplete
 * bytes and text that a later token could still change); the concatenation of
 * all outputs plus detok_stream_flush equals tokenizer_decode of all ids.
 * Owned by one request; not thread-safe. */
struct detok_stream;
struct detok_stream *detok_stream_create(const struct tokenizer *tok, bool skip_special_tokens);
void detok_stream_destroy(struct detok_stream *s);
/* Marks the stream as continuing text already shown (e.g. the prompt): the
 * decoder's leading-space Strip (SentencePiece) does not apply to its first
 * piece, so a continuation keeps its space (" upon" after "Once"). */
void detok_stream_continue(struct detok_stream *s);
/* True when ids decode to some visible text (skipping special tokens): whether a
 * generation after them is a continuation. */
bool tokenizer_has_text(const struct tokenizer *tok, const int32_t *ids, size_t n_ids);
/* Appends id; *text (malloc'd, may be empty "") receives the new stable text. */
int detok_stream_push(struct detok_stream *s, int32_t id, char **text, size_t *len, struct sgl_err *err);
/* Returns whatever is held back (at the end of generation). */
int detok_stream_flush(struct detok_stream *s, char **text, size_t *len, struct sgl_err *err);

#endif
