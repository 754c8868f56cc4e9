/* cmd_tokenize: `sglc tokenize` prints the token ids of a text as a JSON array;
 * `sglc detokenize` prints the text of a list of ids. Only the tokenizer is
 * loaded (no weights), except for the embedded default model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mmap_file.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

static void tokenize_usage(FILE *f) {
    fprintf(f, "usage: sglc tokenize [--model-path P | --tokenizer-path P] (--text T | --file F) [--no-special]\n"
               "Prints the token ids as a JSON array. --no-special: do not add BOS/EOS (special tokens written in\n"
               "the text are still recognised). Without a path the embedded default model's tokenizer is used.\n");
}

static void detokenize_usage(FILE *f) {
    fprintf(f, "usage: sglc detokenize [--model-path P | --tokenizer-path P] (--ids IDS | --file F) "
               "[--skip-special-tokens]\n"
               "IDS: a JSON array or comma-separated ids. Prints the decoded text.\n");
}

struct tok_args {
    const char *model_path, *tokenizer_path, *text, *file, *ids;
    bool no_special, skip_special;
};

static int parse(const char *cmd, int argc, char **argv, struct tok_args *a, void (*usage)(FILE *)) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = NULL;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(o, "--no-special")) {
            a->no_special = true;
            continue;
        }
        if (!strcmp(o, "--skip-special-tokens")) {
            a->skip_special = true;
            continue;
        }
        const char **dst = !strcmp(o, "--model-path")       ? &a->model_path
                           : !strcmp(o, "--tokenizer-path") ? &a->tokenizer_path
                           : !strcmp(o, "--text")           ? &a->text
                           : !strcmp(o, "--file")           ? &a->file
                           : !strcmp(o, "--ids")            ? &a->ids
                                                            : NULL;
        if (!dst) return cli_fail(cmd, "unknown option '%s' (see 'sglc %s --help')", o, cmd);
        if (!(v = cli_opt_value(argc, argv, &i))) return cli_fail(cmd, "%s needs a value", o);
        *dst = v;
    }
    return 0;
}

int cli_tokenize_main(int argc, char **argv) {
    const char *cmd = "tokenize";
    struct tok_args a;
    if (parse(cmd, argc, argv, &a, tokenize_usage)) return 1;
    if (!!a.text == !!a.file) return cli_fail(cmd, "give exactly one of --text or --file");
    struct sgl_err err = {{0}};
    struct tokenizer *tok = NULL;
    struct model *owner = NULL;
    char *buf = NULL;
    size_t len = 0;
    int32_t *ids = NULL;
    size_t n = 0;
    int ret = 1;
    if (a.file) {
        if (file_read_all(a.file, &buf, &len, &err)) {
            cli_fail(cmd, "%s", err.msg);
            goto done;
        }
    }
    if (cli_load_tokenizer(a.model_path, a.tokenizer_path, &tok, &owner, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    const char *text = a.text ? a.text : buf;
    if (!a.file) len = strlen(text);
    if (tokenizer_encode(tok, text, len, !a.no_special, &ids, &n, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    putchar('[');
    for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    puts("]");
    ret = 0;
done:
    free(ids);
    free(buf);
    if (owner) model_destroy(owner);
    else tokenizer_destroy(tok);
    return ret;
}

int cli_detokenize_main(int argc, char **argv) {
    const char *cmd = "detokenize";
    struct tok_args a;
    if (parse(cmd, argc, argv, &a, detokenize_usage)) return 1;
    if (!!a.ids == !!a.file) return cli_fail(cmd, "give exactly one of --ids or --file");
    struct sgl_err err = {{0}};
    struct tokenizer *tok = NULL;
    struct model *owner = NULL;
    char *buf = NULL, *text = NULL;
    size_t len = 0, n = 0;
    int32_t *ids = NULL;
    int ret = 1;
    if (a.file && file_read_all(a.file, &buf, &len, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    if (cli_parse_ids(a.ids ? a.ids : buf, &ids, &n, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    if (cli_load_tokenizer(a.model_path, a.tokenizer_path, &tok, &owner, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    if (tokenizer_decode(tok, ids, n, a.skip_special, &text, &len, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    fwrite(text, 1, len, stdout);
    putchar('\n');
    ret = 0;
done:
    free(text);
    free(ids);
    free(buf);
    if (owner) model_destroy(owner);
    else tokenizer_destroy(tok);
    return ret;
}
