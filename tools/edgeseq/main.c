/*
 * main.c — entry point of the `edgeseq` command-line tool: global flags
 * (--help, --version), then dispatch of `edgeseq VERB ...` through the
 * command table below. Each verb is one file tools/edgeseq/cmd_<verb>.c.
 *
 * Adding a verb: write tools/edgeseq/cmd_<verb>.c defining
 * `int cmd_<verb>(int argc, char **argv)` (argv[0] is the verb; return an
 * exit code, see cli.h), declare it in cli.h, and add ONE line to
 * ES_CLI_COMMANDS below. Sources are globbed, so nothing else changes.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help; /* one line, shown by `edgeseq --help` */
} cli_command;

/* ======================== COMMAND TABLE (one line per verb) ======================= */
static const cli_command ES_CLI_COMMANDS[] = {
    {"info", cmd_info, "show a model's configuration, parameter count, dtype and files"},
    {"tokenize", cmd_tokenize, "text -> token ids (and pieces with --json)"},
    {"detokenize", cmd_detokenize, "token ids -> text"},
    {"generate", cmd_generate, "generate text (greedy, beam search or sampling)"},
    {"score", cmd_score, "log-probability of a target text given an input"},
    {"init", cmd_init, "write a randomly initialised T5-Efficient model folder"},
    {"data", cmd_data, "fetch the real corpora; SpamAssassin split stats and lists"},
    {"train", cmd_train, "train a byte classifier or byte seq2seq (G2P) model from a JSON config (dev-selected best, curves, checkpoints, resume)"},
    {"eval", cmd_eval, "score a byte classifier on a data split: ROC-AUC, accuracy, F1, confusion"},
    {"classify", cmd_classify, "class probabilities of documents (files, stdin, --text) with a byte classifier"},
    {"grads", cmd_grads, "loss and every gradient of a T5 model for one batch (safetensors)"},
    {"finetune", cmd_finetune, "fine-tune a T5 model on {\"input\", \"target\"} JSON lines"},
    {"export", cmd_export, "write the int8 form of a QAT-trained byte classifier (--int8)"},
    {"pretrain", cmd_pretrain, "T5 span-corruption pretraining on plain-text files"},
    {"quantize", cmd_quantize, "write a T5 model folder in int8 / bf16 / f16 (reduced precision)"},
    {"eval-quant", cmd_eval_quant, "quality of a quantized T5 folder vs its fp32 source (logits, score, greedy, beam)"},
};
/* ================================================================================== */

static void print_main_help(FILE *f) {
    fprintf(f,
            "usage: edgeseq [--help] [--version] VERB [ARGS...]\n"
            "\n"
            "edgeseq %s: run, score, tokenize and create T5 / T5-Efficient sequence models\n"
            "on the CPU. A MODEL is a folder with config.json, model.safetensors and\n"
            "spiece.model (Hugging Face layout).\n"
            "\nverbs:\n",
            es_version());
    for (size_t i = 0; i < sizeof ES_CLI_COMMANDS / sizeof ES_CLI_COMMANDS[0]; i++)
        fprintf(f, "  %-12s %s\n", ES_CLI_COMMANDS[i].name, ES_CLI_COMMANDS[i].help);
    fprintf(f,
            "\nRun 'edgeseq VERB --help' for the flags, defaults and examples of a verb.\n"
            "\nexit status: 0 success, 1 run-time failure (missing file, bad model, bad\n"
            "input data), 2 usage error (unknown verb or flag, missing value, bad number).\n"
            "Errors are one line on stderr starting with 'edgeseq: error:'.\n"
            "\nexamples:\n"
            "  edgeseq init t5-efficient-tiny /tmp/tiny --spm spiece.model\n"
            "  edgeseq info /tmp/tiny\n"
            "  edgeseq generate -m /tmp/tiny --beam 4 \"translate English to German: Hello\"\n");
}

int main(int argc, char **argv) {
    if (argc < 2) return cli_usage(NULL, "no verb given");
    const char *verb = argv[1];
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        if (argc > 2 && strcmp(verb, "help") == 0) {
            /* `edgeseq help VERB` == `edgeseq VERB --help` */
            for (size_t i = 0; i < sizeof ES_CLI_COMMANDS / sizeof ES_CLI_COMMANDS[0]; i++) {
                if (strcmp(argv[2], ES_CLI_COMMANDS[i].name) == 0) {
                    char *av[3] = {argv[2], (char *)"--help", NULL};
                    return cli_finish(ES_CLI_COMMANDS[i].fn(2, av));
                }
            }
            return cli_usage(NULL, "unknown verb '%s'", argv[2]);
        }
        print_main_help(stdout);
        return cli_finish(CLI_EXIT_OK);
    }
    if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0) {
        printf("edgeseq %s (format %d)\n", es_version(), ES_FORMAT_VERSION);
        return cli_finish(CLI_EXIT_OK);
    }
    if (verb[0] == '-') return cli_usage(NULL, "unknown option '%s' (options go after the verb)", verb);
    for (size_t i = 0; i < sizeof ES_CLI_COMMANDS / sizeof ES_CLI_COMMANDS[0]; i++)
        if (strcmp(verb, ES_CLI_COMMANDS[i].name) == 0)
            return cli_finish(ES_CLI_COMMANDS[i].fn(argc - 1, argv + 1));
    return cli_usage(NULL, "unknown verb '%s'", verb);
}
