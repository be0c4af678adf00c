/*
 * byte_seq2seq_session.c — byte seq2seq models behind the public es_model
 * / es_session handles: the loader es_byte_model_load dispatches to
 * (model_type "edgeseq-byte-seq2seq"), the session ops generate and score,
 * and es_model_output_text.
 *
 * Input ids of es_session_generate / es_session_score are the raw input
 * bytes (each 0..255); inputs longer than the encoder's max_bytes are cut
 * to their first max_bytes (as the classifiers do). Generation:
 *   greedy / sampling: src/decode (es_decode_run) on the step-wise decoder;
 *   beam: es_byte_beam (GNMT length penalty, float or uint8 scoring).
 * max_new_tokens is capped at the decoder's max_out, so no input can make
 * generation run longer than the model's fixed decoder length.
 * All session memory (encoder and decoder workspaces for one input and
 * max_batch beams, the beam workspace, the byte/target buffers) is
 * allocated at es_session_new.
 */
#include "decode/byte_beam.h"
#include "model/byte_internal.h"
#include "model/byte_seq2seq.h"
#include "model/model_internal.h"
#include "nn/layernorm.h"

#include <math.h>
#include <string.h>

typedef struct s2s_session {
    es_s2s_ws *ws;
    es_bbeam_ws bw;
    uint8_t *bytes;   /* (max_bytes) */
    int32_t *tgt;     /* (max_out) symbol indices */
} s2s_session;

static void impl_free(void *p) { es_s2s_model_free(p); }

static void s2s_session_free(es_session *s) {
    s2s_session *ss = s->impl;
    if (!ss) return;
    es_s2s_ws_free(ss->ws);
    es_bbeam_ws_free(&ss->bw);
    es_free(ss->bytes);
    es_free(ss->tgt);
    es_free(ss);
    s->impl = NULL;
}

static es_status s2s_session_init(es_session *s, es_error *err) {
    const es_s2s_model *m = s->model->impl;
    const es_s2s_config *c = es_s2s_model_config(m);
    s2s_session *ss = es_calloc(1, sizeof *ss);
    if (!ss) return es_errf(err, ES_ERR_NOMEM, "seq2seq session: out of memory");
    s->impl = ss;
    es_status st = es_s2s_ws_new(&ss->ws, m, 1, s->params.max_batch, 0, s->pool, err);
    if (!st) st = es_bbeam_ws_init(&ss->bw, s->params.max_batch, c->max_out, es_s2s_model_vocab(m), err);
    if (!st && (!(ss->bytes = es_malloc((size_t)c->enc.max_bytes)) ||
                !(ss->tgt = es_calloc((size_t)c->max_out, sizeof(int32_t)))))
        st = es_errf(err, ES_ERR_NOMEM, "seq2seq session: out of memory");
    if (st) s2s_session_free(s);
    return st;
}

/* Raw bytes of src ids (cut to max_bytes) into ss->bytes. */
static es_status src_bytes(s2s_session *ss, const es_s2s_model *m, const int32_t *src, int n_src,
                           size_t *n_out, es_error *err) {
    if (n_src < 0 || (n_src > 0 && !src))
        return es_errf(err, ES_ERR_ARG, "seq2seq: %d input ids / NULL input", n_src);
    size_t n = (size_t)n_src, cap = (size_t)es_s2s_model_config(m)->enc.max_bytes;
    if (n > cap) n = cap;
    for (size_t i = 0; i < n; i++) {
        if (src[i] < 0 || src[i] > 255)
            return es_errf(err, ES_ERR_ARG, "seq2seq: input id %d at position %zu is not a byte "
                           "(byte seq2seq inputs are raw bytes 0..255)", (int)src[i], i);
        ss->bytes[i] = (uint8_t)src[i];
    }
    *n_out = n;
    return ES_OK;
}

static es_status s2s_generate(es_session *s, es_gen_result *out, const int32_t *src, int n_src,
                              const es_gen_params *params, es_error *err) {
    s2s_session *ss = s->impl;
    const es_s2s_model *m = s->model->impl;
    size_t n = 0;
    es_status st = src_bytes(ss, m, src, n_src, &n, err);
    if (st) return st;
    es_gen_params p = *params;
    const int max_out = es_s2s_model_config(m)->max_out;
    if (p.max_new_tokens > max_out) p.max_new_tokens = max_out;
    if ((st = es_decode_check(&ss->bw.d, &p, err))) return st;
    if ((st = es_s2s_prime(ss->ws, m, ss->bytes, n, err))) return st;
    es_dec_model dm = es_s2s_dec_model(ss->ws);
    if (p.method == ES_DECODE_BEAM) return es_byte_beam(&ss->bw, &dm, &p, out, err);
    return es_decode_run(&ss->bw.d, &dm, &p, out, err);
}

/* log Σ_{v ≠ skip} exp(x_v), max-subtracted, in double: the distribution
 * generation samples from (the start id is never generated). */
static double lse_skip(const float *x, int V, int skip) {
    double mx = -INFINITY, z = 0.0;
    for (int v = 0; v < V; v++)
        if (v != skip && x[v] > mx) mx = x[v];
    for (int v = 0; v < V; v++)
        if (v != skip) z += exp((double)x[v] - mx);
    return mx + log(z);
}

/* Target: symbol ids (2..V-1) followed by the end id 1. */
static es_status s2s_score(es_session *s, double *logprob, const int32_t *src, int n_src,
                           const int32_t *tgt, int n_tgt, es_error *err) {
    s2s_session *ss = s->impl;
    const es_s2s_model *m = s->model->impl;
    const int V = es_s2s_model_vocab(m), max_out = es_s2s_model_config(m)->max_out;
    if (!logprob) return es_errf(err, ES_ERR_ARG, "score: logprob is NULL");
    size_t n = 0;
    es_status st = src_bytes(ss, m, src, n_src, &n, err);
    if (st) return st;
    if (n_tgt < 1 || n_tgt > max_out || !tgt || tgt[n_tgt - 1] != ES_S2S_EOS)
        return es_errf(err, ES_ERR_ARG, "score: target must be 1..%d ids ending with the end id "
                       "%d", max_out, ES_S2S_EOS);
    for (int i = 0; i + 1 < n_tgt; i++) {
        if (tgt[i] < ES_S2S_N_SPECIAL || tgt[i] >= V)
            return es_errf(err, ES_ERR_ARG, "score: target id %d at position %d is not a symbol "
                           "id (2..%d)", (int)tgt[i], i, V - 1);
        ss->tgt[i] = tgt[i] - ES_S2S_N_SPECIAL;
    }
    const uint8_t *pb[1] = {ss->bytes};
    const int32_t *pt[1] = {ss->tgt};
    size_t tl = (size_t)n_tgt - 1;
    if ((st = es_s2s_forward(ss->ws, m, pb, &n, pt, &tl, 1, 0, NULL, err))) return st;
    int rows;
    const int32_t *y;
    const float *lg = es_s2s_logits(ss->ws, &rows, &y);
    double sum = 0.0;
    for (int r = 0; r < n_tgt; r++) {
        const float *x = lg + (size_t)r * V;
        sum += (double)x[y[r]] - lse_skip(x, V, ES_S2S_START);
    }
    *logprob = sum;
    return ES_OK;
}

static const es_arch_ops s2s_ops = {
    .name = "byte-seq2seq",
    .session_init = s2s_session_init,
    .session_free = s2s_session_free,
    .generate = s2s_generate,
    .score = s2s_score,
};

es_status es_s2s_model_load(es_model *m, const char *dir, struct json_object *config,
                            es_weights *w, es_error *err) {
    es_s2s_model *sm = NULL;
    es_status s = es_s2s_model_from_weights(&sm, dir, config, w, err);
    if (s) return s;
    const es_s2s_config *c = es_s2s_model_config(sm);
    m->arch = ES_ARCH_BYTE_SEQ2SEQ;
    m->info.arch = ES_ARCH_BYTE_SEQ2SEQ;
    /* an int8 export (src/quant/s2s_qat.h) runs its decoder on integer GEMMs */
    m->info.stored_dtype = c->enc.qat.int8 ? ES_DTYPE_I8 : ES_DTYPE_F32;
    m->info.n_params = es_s2s_model_n_params(sm);
    m->info.vocab_size = es_s2s_model_vocab(sm);
    m->info.d_model = c->d_model;
    m->info.n_heads = c->n_heads;
    m->info.d_ff = c->d_ff;
    m->info.n_layers = c->enc.encoder == ES_BYTE_QRNN ? c->enc.qrnn_layers : c->enc.n_layers;
    m->info.n_decoder_layers = c->n_layers;
    m->info.layer_norm_eps = ES_LAYERNORM_EPS;
    m->info.ffn = ES_FFN_GELU;
    m->info.tie_word_embeddings = 1;
    m->info.pad_id = -1; /* no padding id: lengths mark padding */
    m->info.eos_id = ES_S2S_EOS;
    m->info.decoder_start_id = ES_S2S_START;
    /* an int8 export keeps no float copies of the matrices its integer GEMMs
     * read (counted above, before they are dropped) */
    size_t freed = 0;
    if (c->enc.qat.int8 && (s = es_s2s_model_int8_only(sm, &freed, err))) {
        es_s2s_model_free(sm);
        return s;
    }
    m->ops = &s2s_ops;
    m->impl = sm;
    m->impl_free = impl_free;
    return ES_OK;
}

static const es_s2s_model *s2s_of(const es_model *m) {
    return m && m->arch == ES_ARCH_BYTE_SEQ2SEQ && m->ops == &s2s_ops ? m->impl : NULL;
}

int32_t es_s2s_max_bytes(const es_model *m) {
    const es_s2s_model *sm = s2s_of(m);
    return sm ? es_s2s_model_config(sm)->enc.max_bytes : 0;
}

es_status es_model_output_text(const es_model *m, const int32_t *ids, size_t n_ids, char *out,
                               size_t cap, size_t *len_out, es_error *err) {
    const es_s2s_model *sm = s2s_of(m);
    if (!sm) return es_errf(err, ES_ERR_UNSUPPORTED, "output text: not a byte seq2seq model");
    if (!len_out || (n_ids && !ids) || (cap && !out))
        return es_errf(err, ES_ERR_ARG, "output text: NULL argument");
    return es_s2s_ids_to_text(sm, ids, n_ids, out, cap, len_out, err);
}
