/*
 * cmd_train_s2s.h — what `edgeseq train` (cmd_train.c) shares with its
 * byte seq2seq path (cmd_train_s2s.c): the command-line overrides, the
 * "train" object parser, and two small helpers.
 */
#ifndef ES_CLI_CMD_TRAIN_S2S_H
#define ES_CLI_CMD_TRAIN_S2S_H

#include "cli.h"

#include "train/trainer.h"

#include <json-c/json.h>

/* Command-line overrides of `edgeseq train` (NULL / -1 / 0 = not given). */
typedef struct train_cli_opts {
    bool resume;
    const char *out, *data;
    int threads;       /* -1 = config */
    int64_t max_steps; /* 0 = config */
    bool mpi;
} train_cli_opts;

/* Trains a byte seq2seq model (G2P on CMUdict) from the config at
 * cfg_path (already known to be a seq2seq config). Returns an exit code. */
int cmd_train_s2s(const char *cfg_path, const train_cli_opts *o);

/* Parses a config's "train" object into p and *threads (only the keys
 * present change anything). Unknown keys and out-of-range values are
 * errors (printed, naming path and key); returns an exit code. */
int train_parse_params(es_train_params *p, int *threads, json_object *o, const char *path);
/* mkdir -p. */
es_status train_mkdir_p(const char *dir, es_error *err);
/* "mm:ss" or "h:mm:ss" ("--:--" when unknown) into buf. */
void train_fmt_eta(char *buf, size_t cap, double seconds);

#endif
