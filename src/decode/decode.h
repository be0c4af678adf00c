/*
 * decode.h — model-independent decoding: greedy, beam search, sampling.
 *
 * A decoder is seen through es_dec_model: step() runs n_rows rows one
 * position further and returns their logits; reorder() makes row r of the
 * model's caches a copy of old row parent[r] (beam bookkeeping). Rows all
 * sit at the same position, so beams go through the model as one batch
 * of K rows per step (one GEMM per weight, not K GEMVs).
 *
 * All memory is in es_decode_ws, sized once by es_decode_ws_init for
 * (max_rows beams, max_len generated tokens, vocab); es_decode_run
 * allocates nothing. Results (es_gen_result) point into the workspace
 * and stay valid until the next es_decode_run on it.
 *
 * Conventions (see docs/t5.md for the full semantics):
 *  - Hypothesis ids never include the start token. EOS, when generated and
 *    not ignored, is the last id of its hypothesis and its log-prob counts.
 *  - Log-probs are log_softmax of the raw logits, evaluated in double.
 *  - Length in the beam score = number of generated ids (EOS included).
 */
#ifndef ES_DECODE_DECODE_H
#define ES_DECODE_DECODE_H

#include "core/common.h"

typedef struct es_dec_model {
    void *ctx;
    int32_t vocab;
    int32_t start_id, eos_id;
    /* Runs rows [0, n_rows) at position pos (0 = the start token);
     * tokens[r] is row r's input token. *logits receives (n_rows, vocab),
     * borrowed until the next call. */
    es_status (*step)(void *ctx, const float **logits, const int32_t *tokens, int n_rows, int pos,
                      es_error *err);
    /* New row r = old row parent[r] for r < n_rows (parent[r] < rows of the
     * previous step). */
    es_status (*reorder)(void *ctx, const int32_t *parent, int n_rows, es_error *err);
} es_dec_model;

typedef struct es_dec_cand {
    double score;  /* running sum of log-probs */
    int32_t row;   /* parent beam */
    int32_t tok;
} es_dec_cand;

typedef struct es_dec_sort {
    float v;     /* logit / temperature */
    int32_t i;   /* token id */
} es_dec_sort;

typedef struct es_decode_ws {
    int max_rows, max_len;
    int32_t vocab;
    int32_t *seq, *seq_next;   /* (max_rows, max_len) running beams */
    double *score;             /* (max_rows) running sums */
    int32_t *tokens, *parent;  /* (max_rows) */
    es_dec_cand *cand;         /* (2*max_rows) best candidates of a step */
    double *lse;               /* (max_rows) log-sum-exp of each row */
    int32_t *fin_seq;          /* (max_rows, max_len) finished hypotheses */
    int *fin_len;
    double *fin_score, *fin_sum;
    int n_fin;
    es_hyp *hyps;              /* (max_rows) result */
    int32_t *out_seq;          /* (max_rows, max_len) result ids */
    double *score_next;        /* (max_rows) */
    es_dec_sort *sort;         /* (vocab) sampling order */
} es_decode_ws;

es_status es_decode_ws_init(es_decode_ws *ws, int max_rows, int max_len, int32_t vocab,
                            es_error *err);
void es_decode_ws_free(es_decode_ws *ws);

/* Checks gen params against the workspace: max_new_tokens in [1, max_len],
 * num_beams in [1, max_rows] (BEAM), num_return in [0, num_beams] (0 =
 * num_beams), finite length_penalty, temperature > 0, top_k >= 0,
 * top_p in (0, 1]. ES_ERR_ARG with the field named. */
es_status es_decode_check(const es_decode_ws *ws, const es_gen_params *p, es_error *err);

/* Runs p->method (dm->vocab <= the workspace's vocab). The model must be freshly primed (encoder done, caches
 * empty): the first step is at position 0 with the start token. */
es_status es_decode_run(es_decode_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                        es_gen_result *out, es_error *err);

/* Writes finished hypotheses order[0..n) (indices into the finished set,
 * n <= its size) to ws->hyps / ws->out_seq and points out at them. */
void es_decode_emit(es_decode_ws *ws, const int32_t *order, int n, es_gen_result *out);

/* The three methods (es_decode_run dispatches; params already checked). */
es_status es_decode_greedy(es_decode_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                           es_gen_result *out, es_error *err);
es_status es_decode_beam(es_decode_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                         es_gen_result *out, es_error *err);
es_status es_decode_sample(es_decode_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                           es_gen_result *out, es_error *err);

#endif
