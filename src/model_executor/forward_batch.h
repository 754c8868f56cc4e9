/* forward_batch: what one forward pass computes (SGLang's ForwardBatch).
 *
 * A batch is n_seqs sequences, each contributing a run of consecutive new
 * tokens (an EXTEND/prefill chunk of any length, or a single DECODE token):
 *
 *   tokens:    | seq0 new tokens | seq1 new tokens | ...     (n_tokens total)
 *   seq_start: 0                 s1                s2 ... n_tokens
 *
 * Sequence s has kv_len[s] context tokens after this step (cached prefix + new);
 * its context lives in KV slots kv_slots[s][0 .. kv_len[s]), in position order,
 * the last (seq_start[s+1]-seq_start[s]) of which are written by this step.
 * positions[i] is token i's position (= its index in kv_slots of its sequence).
 * Logits are produced only for the tokens listed in logit_idx (e.g. the last
 * token of each sequence), row r of the output for logit_idx[r].
 * All arrays are borrowed for the duration of the forward call. */
#ifndef SGLC_MODEL_EXECUTOR_FORWARD_BATCH_H
#define SGLC_MODEL_EXECUTOR_FORWARD_BATCH_H

#include <stdint.h>

struct forward_batch {
    int32_t n_tokens;
    const int32_t *input_ids; /* [n_tokens] */
    const int32_t *positions; /* [n_tokens] */
    int32_t n_seqs;
    const int32_t *seq_start;        /* [n_seqs + 1] */
    const int32_t *kv_len;           /* [n_seqs] */
    const int32_t *const *kv_slots;  /* [n_seqs][kv_len[s]] */
    int32_t n_logits;
    const int32_t *logit_idx; /* [n_logits] token indices */
};

#endif
