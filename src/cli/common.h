/* cli/common: helpers shared by the subcommands: argument parsing of numbers
 * and id lists with one-line errors, and loading a model or a tokenizer from
 * --model-path / --tokenizer-path (the embedded default model when absent). */
#ifndef SGLC_CLI_COMMON_H
#define SGLC_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct model;
struct tokenizer;

/* Prints "sglc <cmd>: error: <msg>" to stderr; returns 1 (the exit code). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number in range. */
bool cli_parse_int(const char *s, long long lo, long long hi, long long *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);
/* "1,2,3", "1 2 3" or "[1, 2, 3]" -> malloc'd ids. */
int cli_parse_ids(const char *s, int32_t **ids, size_t *n, struct sgl_err *err);

/* Returns the value after option argv[*i] (advancing *i), or NULL when missing. */
const char *cli_opt_value(int argc, char **argv, int *i);

/* model_path NULL -> embedded default. dtype / quantization / kv_cache_dtype: the flags' values
 * or NULL (see model_load_opts). */
int cli_load_model(const char *model_path, const char *tokenizer_path, const char *dtype, const char *quantization,
                   const char *kv_cache_dtype, struct model **out, struct sgl_err *err);
/* Loads only a tokenizer: tokenizer_path (dir with tokenizer.json, a tokenizer.json file or a .gguf), else
 * model_path (HF dir or .gguf), else the default model's. *owner_model is set when a model had to be kept. */
int cli_load_tokenizer(const char *model_path, const char *tokenizer_path, struct tokenizer **tok,
                       struct model **owner_model, struct sgl_err *err);

#endif
