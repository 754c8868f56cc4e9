/* openai_format: the JSON pieces of OpenAI / SGLang responses and their SSE
 * framing, written with jsonw (no cJSON tree on the per-token path).
 *
 * Pure functions over plain data; token strings for logprobs are decoded with
 * the tokenizer one id at a time (as SGLang does). Thread-safe. */
#ifndef SGLC_SERVER_OPENAI_FORMAT_H
#define SGLC_SERVER_OPENAI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/jsonw.h"

struct tokenizer;

/* SSE framing: "data: " ... "\n\n". */
void openai_format_sse_begin(struct jsonw *w);
void openai_format_sse_end(struct jsonw *w);
void openai_format_sse_done(struct jsonw *w); /* "data: [DONE]\n\n" */

/* Logprobs of a run of n generated tokens: lps[n], and when top_n > 0
 * top_ids/top_lps[n][top_n] (ids < 0 are padding and skipped). */
struct openai_logprobs_view {
    const int32_t *ids;
    const float *lps;
    const int32_t *top_ids;
    const float *top_lps;
    int32_t n, top_n;
};

/* Chat: {"content":[{"token","bytes","logprob","top_logprobs":[...]}...]} */
void openai_format_chat_logprobs(struct jsonw *w, const struct tokenizer *tok, const struct openai_logprobs_view *v);
/* Completions: {"tokens":[..],"token_logprobs":[..],"top_logprobs":[{tok:lp}..]|null,"text_offset":[..]}.
 * Offsets start at *text_offset (bytes) and advance by each token's text; *text_offset is updated. */
void openai_format_completion_logprobs(struct jsonw *w, const struct tokenizer *tok,
                                       const struct openai_logprobs_view *v, int64_t *text_offset);
/* "usage":{...} member (no leading comma). cached_tokens is reported when report_cached. */
void openai_format_usage(struct jsonw *w, int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens,
                         bool report_cached);
/* "finish_reason":X,"matched_stop":Y members (no leading comma); reason NULL -> null.
 * matched_stop is the stop string if any, else the token id if >= 0, else null. */
void openai_format_finish(struct jsonw *w, const char *reason, int32_t matched_token, const char *matched_str);
/* Native: {"type":"stop","matched":..} / {"type":"length","length":N} / {"type":"abort","message":..}; NULL -> null. */
void openai_format_native_finish(struct jsonw *w, const char *reason, int32_t matched_token, const char *matched_str,
                                 int32_t completion_tokens, const char *message);
/* Native logprobs: [[logprob, id, null], ...] and [[[logprob, id, null], ...], ...] (top). */
void openai_format_native_token_logprobs(struct jsonw *w, const struct openai_logprobs_view *v);
void openai_format_native_top_logprobs(struct jsonw *w, const struct openai_logprobs_view *v);

/* Decodes one token id (special tokens kept) into a malloc'd string; "" on error. */
char *openai_format_token_text(const struct tokenizer *tok, int32_t id, size_t *len);

#endif
