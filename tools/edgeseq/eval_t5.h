/*
 * eval_t5.h — `edgeseq eval` for T5 models (tools/edgeseq/cmd_eval_t5.c):
 * cmd_eval.c parses the flags and hands a T5 model folder over here.
 */
#ifndef ES_CLI_EVAL_T5_H
#define ES_CLI_EVAL_T5_H

#include "cli.h"

typedef struct eval_t5_opts {
    const char *model, *data, *task, *split_name, *errors_path;
    bool json;
    int threads, beam, limit;
    int max_src_len; /* spam: input tokens incl. </s> */
    int max_body;    /* spam: body bytes before the token cut */
    double fraction; /* g2p: seeded word subset of the split (1 = all) */
    uint64_t seed;
} eval_t5_opts;

/* True when dir loads as a T5 model (ES_ARCH_T5); false otherwise,
 * including when it does not load (the byte path then reports why). */
bool eval_t5_is_t5(const char *dir);

/* Runs the evaluation and prints the result (text or one JSON object);
 * returns an exit code. */
int eval_t5_run(const eval_t5_opts *o);

#endif
