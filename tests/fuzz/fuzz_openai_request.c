/* Fuzz target for server/protocol: the request-body parser of every API.
 * The first byte picks the parser (completions, chat, native generate,
 * tokenize, detokenize); the rest is the body. Checks invariants on success
 * (counts within the limits, ids within the vocabulary) and that the error
 * JSON of a failure is well-formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    struct protocol_limits lim;
    protocol_limits_init(&lim, 512);
    unsigned which = data[0] % 5;
    /* The HTTP layer hands the parser a NUL-terminated copy; do the same. */
    char *body = malloc(size);
    if (!body) return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = 0;
    struct protocol_request r;
    struct protocol_error e;
    memset(&e, 0, sizeof e);
    int rc;
    if (which < 3) rc = protocol_parse((enum protocol_kind)which, body, size - 1, &lim, &r, &e);
    else if (which == 3) rc = protocol_parse_tokenize(body, size - 1, &r, &e);
    else rc = protocol_parse_detokenize(body, size - 1, &lim, &r, &e);
    if (rc == 0) {
        for (int32_t i = 0; i < r.n_prompts; i++)
            for (int32_t k = 0; k < r.prompts[i].n_ids; k++)
                if (r.prompts[i].ids[k] < 0 || r.prompts[i].ids[k] >= lim.vocab_size) abort();
        for (int32_t i = 0; i < r.n_params; i++) {
            const struct protocol_gen_params *p = &r.params[i];
            if (p->n < 1 || p->n > lim.max_n || p->n_stop > lim.max_stop) abort();
            if (!(p->sp.top_p > 0 && p->sp.top_p <= 1) || p->sp.temperature < 0) abort();
            for (int32_t k = 0; k < p->n_logit_bias; k++)
                if (p->logit_bias[k].token < 0 || p->logit_bias[k].token >= lim.vocab_size) abort();
        }
        if (r.top_logprobs < 0 || r.top_logprobs > lim.max_top_logprobs) abort();
        protocol_request_free(&r);
    } else {
        if (e.status < 400 || e.status > 599 || !e.message[0]) abort();
        struct jsonw w;
        jsonw_init(&w);
        protocol_error_json(&e, &w);
        cJSON *o = cJSON_Parse(jsonw_cstr(&w));
        if (!o && !w.oom) abort();
        cJSON_Delete(o);
        jsonw_free(&w);
    }
    free(body);
    return 0;
}
