/*
 * cli.h — shared pieces of the `edgeseq` command-line tool.
 *
 * Each verb lives in tools/edgeseq/cmd_<verb>.c and exports one function
 * `int cmd_<verb>(int argc, char **argv)` (argv[0] is the verb) returning
 * the process exit code. main.c dispatches through its command table.
 *
 * Exit codes (users' scripts depend on them):
 *   0  success
 *   1  run-time failure: missing file, wrong folder, bad input data; one
 *      line "edgeseq: error: <library message>" on stderr
 *   2  usage error: unknown verb or flag, missing value, bad number; one
 *      line "edgeseq: error: ..." plus a "try 'edgeseq VERB --help'" hint
 *
 * Only this tool writes to the terminal: results go to stdout, errors and
 * progress (progress only when stderr is a TTY) to stderr.
 */
#ifndef ES_CLI_H
#define ES_CLI_H

#include "edgeseq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

/* ---- verbs (one prototype per verb; the table is in main.c) ------------ */
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_init(int argc, char **argv);
/* Training verbs (tools/edgeseq/cmd_<verb>.c, owned by the training work). */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_data(int argc, char **argv);
/* T5 training verbs (tools/edgeseq/cmd_grads.c, cmd_finetune.c). */
int cmd_grads(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_pretrain(int argc, char **argv); /* cmd_pretrain.c: T5 span-corruption pretraining */
int cmd_pretrain_byte(int argc, char **argv); /* cmd_pretrain_byte.c: `pretrain --byte-encoder` */
int cmd_export(int argc, char **argv);   /* cmd_export.c: int8 export (src/quant) */
int cmd_quantize(int argc, char **argv);   /* cmd_quantize.c: T5 int8/bf16/f16 folders */
int cmd_eval_quant(int argc, char **argv); /* cmd_eval_quant.c: quantized vs fp32 quality */

/* ---- errors -------------------------------------------------------------- */

/* Prints "edgeseq: error: <msg>" (one line; embedded newlines become
 * spaces) on stderr and returns CLI_EXIT_RUNTIME. */
int cli_fail(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Prints the library message of err (or the status string when the message
 * is empty) as one error line; returns CLI_EXIT_RUNTIME. */
int cli_fail_err(const es_error *err);
/* Usage error: prints "edgeseq: error: <msg>" and the line
 * "try 'edgeseq VERB --help'" (or 'edgeseq --help' when verb is NULL);
 * returns CLI_EXIT_USAGE. */
int cli_usage(const char *verb, const char *fmt, ...) CLI_PRINTF(2, 3);

/* ---- option parsing ---------------------------------------------------------
 * A verb describes its flags in an array of cli_opt; cli_parse() fills the
 * destinations, collects positional arguments and handles --help / -h.
 * Accepted forms: "--name value", "--name=value", "-x value"; flags may
 * come before or after positional arguments; "--" ends the options (use it
 * for TEXT that starts with '-'). Numbers are parsed strictly (the whole
 * word, inside [min, max]); a float option's value may be negative.      */
typedef enum cli_opt_kind {
    CLI_FLAG,   /* bool, no value */
    CLI_INT,    /* int */
    CLI_U64,    /* uint64_t (seeds) */
    CLI_FLOAT,  /* float */
    CLI_STR     /* const char * (borrowed from argv) */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name;    /* long name without "--" */
    char short_name;     /* 0 for none */
    cli_opt_kind kind;
    void *dest;          /* bool*, int*, uint64_t*, float*, const char** */
    double min, max;     /* inclusive range for CLI_INT / CLI_FLOAT */
    const char *metavar; /* e.g. "N", "DIR"; NULL for flags */
    const char *help;    /* one line; mention the default */
    bool *seen;          /* optional: set when given */
} cli_opt;

/* Help text of a verb: the usage line(s), a description paragraph and an
 * examples block; options are listed from the cli_opt array. */
typedef struct cli_help {
    const char *usage;       /* "edgeseq info [--json] MODEL" (may hold '\n') */
    const char *description; /* free text, may hold '\n' */
    const char *examples;    /* lines of examples */
} cli_help;

enum { CLI_PARSE_OK = 0, CLI_PARSE_HELP = -1 };

/* Parses argv[1..argc) (argv[0] is the verb). On success returns
 * CLI_PARSE_OK and stores the positional arguments (pointers into argv) in
 * *pos (an array owned by the caller: free() it) and their count in *n_pos.
 * On --help/-h prints help to stdout and returns CLI_PARSE_HELP (exit 0).
 * On a usage error prints it and returns CLI_EXIT_USAGE. */
int cli_parse(const char *verb, const cli_opt *opts, size_t n_opts, const cli_help *help,
              int argc, char **argv, char ***pos, int *n_pos);
/* Prints a verb's help (stdout). */
void cli_print_help(FILE *f, const char *verb, const cli_opt *opts, size_t n_opts,
                    const cli_help *help);
/* Strict number parsers (whole string, range-checked); false on error. */
bool cli_parse_int(const char *s, long long min, long long max, long long *out);
bool cli_parse_u64(const char *s, uint64_t *out);
bool cli_parse_float(const char *s, double min, double max, double *out);

/* ---- output -------------------------------------------------------------- */

/* Writes s[0..n) as a JSON string literal (quotes included). Invalid UTF-8
 * bytes are written as U+FFFD so the output is always valid JSON. */
void cli_json_str(FILE *f, const char *s, size_t n);
/* Writes [id, id, ...]. */
void cli_json_ids(FILE *f, const int32_t *ids, size_t n);
/* Writes a double with enough digits to round-trip a float ("%.9g");
 * non-finite values are written as null (JSON has no NaN/Inf). */
void cli_json_num(FILE *f, double v);
/* Formats v with thousands separators ("60,506,624") into buf. */
const char *cli_thousands(char *buf, size_t cap, uint64_t v);
/* Formats a byte count as "242.0 MB" (decimal units, like the model card). */
const char *cli_bytes(char *buf, size_t cap, uint64_t v);
/* Flushes stdout; on a write error (e.g. disk full, closed pipe) reports it
 * and returns CLI_EXIT_RUNTIME, else rc. */
int cli_finish(int rc);

/* ---- input streams --------------------------------------------------------
 * Reads stdin one line at a time (any length, NUL bytes kept), stripping
 * the trailing "\n" or "\r\n". Only the current line is in memory. When
 * stderr is a TTY a progress counter is shown there (cleared at the end). */
typedef struct cli_lines {
    FILE *f;
    char *buf;
    size_t cap;
    long lineno;          /* 1-based number of the line last returned */
    bool progress;        /* show progress on stderr */
    double last_progress; /* time of the last progress update */
    const char *what;     /* "lines" etc. for the progress text */
} cli_lines;

void cli_lines_init(cli_lines *r, FILE *f, const char *what);
/* Next line: returns 1 and sets *line and *len (valid until the next call),
 * 0 at end of input, -1 on a read error (message printed). */
int cli_lines_next(cli_lines *r, const char **line, size_t *len);
void cli_lines_close(cli_lines *r);

/* Monotonic seconds (for progress throttling). */
double cli_now(void);
/* True when progress should be drawn (stderr is a TTY). */
bool cli_stderr_tty(void);

/* ---- library helpers ------------------------------------------------------- */

/* Growable int32 array. */
typedef struct cli_ids {
    int32_t *v;
    size_t n, cap;
} cli_ids;
bool cli_ids_push(cli_ids *a, int32_t x);
void cli_ids_free(cli_ids *a);

/* Loads a tokenizer from MODEL: a model folder (its spiece.model) or a
 * SentencePiece model file. T5's 100 extra ids are appended. Returns an
 * exit code (error printed on failure). */
int cli_load_tokenizer(const char *model, es_tokenizer **out);
/* Loads a model folder (error printed on failure); returns an exit code. */
int cli_load_model(const char *dir, int n_threads, es_model **out);

/* Encodes text into ids (cleared first); with toks/norm when wanted:
 * toks receives the es_token array (es_malloc'd, caller frees with free_toks)
 * and norm the normalized text. Returns ES_OK or the library status (err
 * filled). */
es_status cli_encode(const es_tokenizer *tok, const char *text, size_t len, cli_ids *ids,
                     es_token **toks, char **norm, size_t *norm_len, es_error *err);
/* Decodes ids into a malloc'd NUL-terminated string (*out, free()). */
es_status cli_decode(const es_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
                     char **out, size_t *out_len, es_error *err);

/* A session that grows on demand: inputs are streamed, so sizes are not
 * known up front. cli_session_ensure() (re)creates the session when the
 * request exceeds its sizes (doubling, so a stream re-creates it at most a
 * few times). Returns an exit code (error printed). */
typedef struct cli_session {
    const es_model *model;
    es_session *s;
    es_session_params p;
} cli_session;
void cli_session_init(cli_session *cs, const es_model *m, int n_threads);
int cli_session_ensure(cli_session *cs, int batch, int src_len, int tgt_len);
void cli_session_free(cli_session *cs);

/* Default thread count shown in help texts: physical cores. */
int cli_default_threads(void);

#endif
