/* sampler: turns one row of logits into the next token id.
 *
 * Order of operations (as SGLang/vLLM apply them):
 *   logit_bias -> repetition_penalty (HF style: over prompt+output tokens; positive
 *   logits divided, negative multiplied) -> frequency/presence penalties (OpenAI:
 *   over output tokens, logit -= freq*count + pres*(count>0)) -> min_tokens EOS mask
 *   -> temperature (0 = greedy argmax) -> top_k -> top_p -> min_p -> draw with the
 *   request's seeded RNG.
 * The filters apply one after another as in HF/vLLM: top_p is measured on the
 * distribution renormalized over the top_k survivors; min_p drops tokens whose
 * probability is below min_p * (the largest probability). Candidates are ranked by
 * probability, ties by lower id; top_p keeps the shortest prefix of that ranking
 * whose mass reaches top_p (always at least one token).
 * NaN logits count as -inf. If some logits are +inf, the draw is uniform over them.
 * If every token is -inf (or masked), sampler_sample returns the lowest id that is
 * not in mask_ids (0 if all are).
 * Same params, logits, history and seed give the same token on every run.
 * A sampler_state belongs to one request (one thread at a time); the free functions
 * are pure and thread-safe. */
#ifndef SGLC_SAMPLING_SAMPLER_H
#define SGLC_SAMPLING_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct logit_bias_entry {
    int32_t token;
    float bias;
};

struct sampling_params {
    float temperature;                         /* >= 0; < 1e-6 (incl. 0) => greedy; default 1 */
    float top_p;                               /* (0,1]; default 1 */
    int32_t top_k;                             /* <= 0 or >= vocab => disabled; 1 => greedy; default -1 */
    float min_p;                               /* [0,1]; default 0 */
    float repetition_penalty;                  /* (0,2]; default 1 */
    float frequency_penalty;                   /* [-2,2]; default 0 */
    float presence_penalty;                    /* [-2,2]; default 0 */
    const struct logit_bias_entry *logit_bias; /* borrowed; n_logit_bias entries, bias added to the logit */
    int32_t n_logit_bias;
    uint64_t seed;
    bool has_seed; /* false => the RNG is seeded from getrandom() (clock if that fails) */
};

/* Fills p with the defaults above. */
void sampling_params_init(struct sampling_params *p);
/* Validates ranges; one-line message names the field (as OpenAI's param), e.g.
 * "temperature must be >= 0, got -1". logit_bias ids must lie in [0, vocab_size)
 * (vocab_size <= 0: only >= 0 is checked). Returns 0 or ERR_INVALID. */
int sampling_params_validate(const struct sampling_params *p, int32_t vocab_size, struct sgl_err *err);

/* Per-request state: RNG and token occurrence counts for penalties.
 * Which history is kept is decided by the params given to create: a prompt+output
 * bitset (vocab/8 bytes) only when repetition_penalty != 1, and an output
 * token->count hash map (grows with the number of distinct output tokens) only when
 * frequency or presence penalty != 0; with neither, the state is under 100 bytes.
 * sampler_sample must be given the same params as create.
 * create returns NULL on allocation failure or vocab_size <= 0; p is not retained. */
struct sampler_state;
struct sampler_state *sampler_state_create(const struct sampling_params *p, int32_t vocab_size);
void sampler_state_destroy(struct sampler_state *s); /* NULL is a no-op */
/* Records prompt tokens (repetition penalty only) and generated tokens (all penalties).
 * Ids outside [0, vocab) are ignored. add_output returns 0, or ERR_NOMEM when the
 * count map could not grow (the token is then not counted). */
void sampler_state_add_prompt(struct sampler_state *s, const int32_t *ids, size_t n);
int sampler_state_add_output(struct sampler_state *s, int32_t id);

/* Applies, in place, the first steps of the order above: logit_bias, repetition,
 * frequency and presence penalties (from s's history; s may be NULL = no history)
 * and the mask (mask_ids set to -inf; ids out of range ignored). sampler_sample
 * calls it; exposed for callers that want the processed logits (and for tests). */
void sampler_apply_penalties(const struct sampler_state *s, const struct sampling_params *p, float *logits,
                             int32_t vocab, const int32_t *mask_ids, int n_mask);

/* Samples from logits[vocab] (vocab > 0; s not NULL). The row is used as scratch:
 * its contents afterwards are unspecified, so take logprobs before sampling.
 * mask_ids (may be NULL) are tokens forbidden this step (e.g. EOS before
 * min_tokens). Draws one number from s's RNG unless greedy. No allocation; uses
 * up to ~40 KiB of stack. Cost on a 152k row: one pass when greedy or with
 * top_k <= 1024, about three (max, exp, draw) otherwise. Returns the token id. */
int32_t sampler_sample(struct sampler_state *s, const struct sampling_params *p, float *logits, int32_t vocab,
                       const int32_t *mask_ids, int n_mask);

/* log-softmax helpers over raw logits (not modified; NaN counts as -inf): logprob
 * of `id` (-inf if id is out of range, the token is -inf, or every logit is -inf),
 * and the top-n (id, logprob) pairs in descending order (ties by lower id). When
 * n > vocab, entries from vocab on are set to id -1, logprob -inf. No allocation. */
float sampler_logprob(const float *logits, int32_t vocab, int32_t id);
void sampler_top_logprobs(const float *logits, int32_t vocab, int n, int32_t *ids, float *logprobs);

#endif
