/* cli: the `sglc` subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit code; errors are a
 * single line on stderr ("sglc <cmd>: error: ..."). */
#ifndef SGLC_CLI_CLI_H
#define SGLC_CLI_CLI_H

int cli_generate_main(int argc, char **argv);
int cli_logits_main(int argc, char **argv);
int cli_tokenize_main(int argc, char **argv);
int cli_detokenize_main(int argc, char **argv);
int cli_chat_template_main(int argc, char **argv);
int cli_serve_main(int argc, char **argv);

#endif
