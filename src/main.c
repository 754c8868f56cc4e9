/* sglc: command-line entry point; dispatches to the subcommands in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *help;
};

static const struct command g_commands[] = {
    {"generate", cli_generate_main, "generate text from a prompt (streams it, then prints tokens/s)"},
    {"logits", cli_logits_main, "dump the logits of a forward pass (for reference checks)"},
    {"tokenize", cli_tokenize_main, "print the token ids of a text as a JSON array"},
    {"detokenize", cli_detokenize_main, "print the text of token ids"},
    {"chat-template", cli_chat_template_main, "render a chat template with a JSON context (for debugging templates)"},
    {"serve", cli_serve_main, "start the OpenAI-compatible HTTP server"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: sglc <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        fprintf(f, "  %-14s %s\n", g_commands[i].name, g_commands[i].help);
    fprintf(f, "\nRun 'sglc <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        if (!strcmp(argv[1], g_commands[i].name)) return g_commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "sglc: error: unknown command '%s' (see 'sglc --help')\n", argv[1]);
    return 2;
}
