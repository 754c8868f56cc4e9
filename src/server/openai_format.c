/* openai_format: response JSON pieces and SSE framing (see openai_format.h).
 * Stateless; every function appends to the caller's buffer. */
#include "server/openai_format.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

void openai_format_sse_begin(struct jsonw *w) { jsonw_raw(w, "data: ", 6); }
void openai_format_sse_end(struct jsonw *w) { jsonw_raw(w, "\n\n", 2); }
void openai_format_sse_done(struct jsonw *w) { jsonw_lit(w, "data: [DONE]\n\n"); }

char *openai_format_token_text(const struct tokenizer *tok, int32_t id, size_t *len) {
    char *s = NULL;
    if (tokenizer_decode(tok, &id, 1, false, &s, len, NULL) != 0 || !s) {
        free(s);
        *len = 0;
        return calloc(1, 1);
    }
    return s;
}

/* {"token":..,"bytes":[..],"logprob":..} without the closing brace. */
static void chat_token_head(struct jsonw *w, const struct tokenizer *tok, int32_t id, float lp) {
    size_t n;
    char *s = openai_format_token_text(tok, id, &n);
    jsonw_lit(w, "{\"token\":");
    jsonw_str(w, s ? s : "", s ? n : 0);
    jsonw_lit(w, ",\"bytes\":");
    jsonw_bytes_array(w, s ? s : "", s ? n : 0);
    jsonw_lit(w, ",\"logprob\":");
    jsonw_logprob(w, lp);
    free(s);
}

void openai_format_chat_logprobs(struct jsonw *w, const struct tokenizer *tok, const struct openai_logprobs_view *v) {
    jsonw_lit(w, "{\"content\":[");
    for (int32_t i = 0; i < v->n; i++) {
        if (i) jsonw_raw(w, ",", 1);
        chat_token_head(w, tok, v->ids[i], v->lps ? v->lps[i] : 0.0f);
        jsonw_lit(w, ",\"top_logprobs\":[");
        bool first = true;
        for (int32_t k = 0; k < v->top_n && v->top_ids; k++) {
            int32_t tid = v->top_ids[(size_t)i * (size_t)v->top_n + (size_t)k];
            if (tid < 0) continue;
            if (!first) jsonw_raw(w, ",", 1);
            first = false;
            chat_token_head(w, tok, tid, v->top_lps[(size_t)i * (size_t)v->top_n + (size_t)k]);
            jsonw_raw(w, "}", 1);
        }
        jsonw_lit(w, "]}");
    }
    jsonw_lit(w, "]}");
}

void openai_format_completion_logprobs(struct jsonw *w, const struct tokenizer *tok,
                                       const struct openai_logprobs_view *v, int64_t *text_offset) {
    int64_t *offsets = malloc(((size_t)v->n + 1) * sizeof *offsets);
    if (!offsets) {
        w->oom = true;
        return;
    }
    jsonw_lit(w, "{\"tokens\":[");
    for (int32_t i = 0; i < v->n; i++) {
        size_t n;
        char *s = openai_format_token_text(tok, v->ids[i], &n);
        if (i) jsonw_raw(w, ",", 1);
        jsonw_str(w, s ? s : "", s ? n : 0);
        offsets[i] = *text_offset;
        *text_offset += (int64_t)n;
        free(s);
    }
    jsonw_lit(w, "],\"token_logprobs\":[");
    for (int32_t i = 0; i < v->n; i++) {
        if (i) jsonw_raw(w, ",", 1);
        jsonw_logprob(w, v->lps ? v->lps[i] : 0.0f);
    }
    jsonw_lit(w, "],\"top_logprobs\":");
    if (v->top_n > 0 && v->top_ids) {
        jsonw_raw(w, "[", 1);
        for (int32_t i = 0; i < v->n; i++) {
            if (i) jsonw_raw(w, ",", 1);
            jsonw_raw(w, "{", 1);
            bool first = true;
            for (int32_t k = 0; k < v->top_n; k++) {
                int32_t tid = v->top_ids[(size_t)i * (size_t)v->top_n + (size_t)k];
                if (tid < 0) continue;
                size_t n;
                char *s = openai_format_token_text(tok, tid, &n);
                if (!first) jsonw_raw(w, ",", 1);
                first = false;
                jsonw_str(w, s ? s : "", s ? n : 0);
                jsonw_raw(w, ":", 1);
                jsonw_logprob(w, v->top_lps[(size_t)i * (size_t)v->top_n + (size_t)k]);
                free(s);
            }
            jsonw_raw(w, "}", 1);
        }
        jsonw_raw(w, "]", 1);
    } else {
        jsonw_lit(w, "null");
    }
    jsonw_lit(w, ",\"text_offset\":[");
    for (int32_t i = 0; i < v->n; i++) {
        if (i) jsonw_raw(w, ",", 1);
        jsonw_int(w, offsets[i]);
    }
    jsonw_lit(w, "]}");
    free(offsets);
}

void openai_format_usage(struct jsonw *w, int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens,
                         bool report_cached) {
    jsonw_lit(w, "\"usage\":{\"prompt_tokens\":");
    jsonw_int(w, prompt_tokens);
    jsonw_lit(w, ",\"completion_tokens\":");
    jsonw_int(w, completion_tokens);
    jsonw_lit(w, ",\"total_tokens\":");
    jsonw_int(w, prompt_tokens + completion_tokens);
    jsonw_lit(w, ",\"prompt_tokens_details\":");
    if (report_cached) {
        jsonw_lit(w, "{\"cached_tokens\":");
        jsonw_int(w, cached_tokens);
        jsonw_raw(w, "}", 1);
    } else {
        jsonw_lit(w, "null");
    }
    jsonw_raw(w, "}", 1);
}

void openai_format_finish(struct jsonw *w, const char *reason, int32_t matched_token, const char *matched_str) {
    jsonw_lit(w, "\"finish_reason\":");
    if (reason) jsonw_cstr_str(w, reason);
    else jsonw_lit(w, "null");
    jsonw_lit(w, ",\"matched_stop\":");
    if (matched_str) jsonw_cstr_str(w, matched_str);
    else if (reason && matched_token >= 0) jsonw_int(w, matched_token);
    else jsonw_lit(w, "null");
}

void openai_format_native_finish(struct jsonw *w, const char *reason, int32_t matched_token, const char *matched_str,
                                 int32_t completion_tokens, const char *message) {
    if (!reason) {
        jsonw_lit(w, "null");
        return;
    }
    jsonw_lit(w, "{\"type\":");
    jsonw_cstr_str(w, reason);
    if (!strcmp(reason, "length")) {
        jsonw_lit(w, ",\"length\":");
        jsonw_int(w, completion_tokens);
    } else if (!strcmp(reason, "stop")) {
        jsonw_lit(w, ",\"matched\":");
        if (matched_str) jsonw_cstr_str(w, matched_str);
        else if (matched_token >= 0) jsonw_int(w, matched_token);
        else jsonw_lit(w, "null");
    } else if (message) {
        jsonw_lit(w, ",\"message\":");
        jsonw_cstr_str(w, message);
    }
    jsonw_raw(w, "}", 1);
}

void openai_format_native_token_logprobs(struct jsonw *w, const struct openai_logprobs_view *v) {
    jsonw_raw(w, "[", 1);
    for (int32_t i = 0; i < v->n; i++) {
        if (i) jsonw_raw(w, ",", 1);
        jsonw_raw(w, "[", 1);
        jsonw_logprob(w, v->lps ? v->lps[i] : 0.0f);
        jsonw_raw(w, ",", 1);
        jsonw_int(w, v->ids[i]);
        jsonw_lit(w, ",null]");
    }
    jsonw_raw(w, "]", 1);
}

void openai_format_native_top_logprobs(struct jsonw *w, const struct openai_logprobs_view *v) {
    jsonw_raw(w, "[", 1);
    for (int32_t i = 0; i < v->n; i++) {
        if (i) jsonw_raw(w, ",", 1);
        jsonw_raw(w, "[", 1);
        bool first = true;
        for (int32_t k = 0; k < v->top_n && v->top_ids; k++) {
            int32_t tid = v->top_ids[(size_t)i * (size_t)v->top_n + (size_t)k];
            if (tid < 0) continue;
            if (!first) jsonw_raw(w, ",", 1);
            first = false;
            jsonw_raw(w, "[", 1);
            jsonw_logprob(w, v->top_lps[(size_t)i * (size_t)v->top_n + (size_t)k]);
            jsonw_raw(w, ",", 1);
            jsonw_int(w, tid);
            jsonw_lit(w, ",null]");
        }
        jsonw_raw(w, "]", 1);
    }
    jsonw_raw(w, "]", 1);
}
