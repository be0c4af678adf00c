/*
 * byte_internal.h — layout of es_byte_model and es_byte_ws shared by the
 * byte-model files: byte_model.c (config, parameters, folders, the common
 * front end and head), byte_qrnn.c and byte_transformer.c (encoders).
 *
 * Forward pipeline (shapes, seq.h row layout):
 *   bytes (B, L≤T0) → ids (rows0) → embedding (rows0, E) → [bottleneck
 *   ReLU (rows0, D)] → causal conv (rows0, D) → GBST + down-sample
 *   (rows1, D), T1 = ⌈T0 / r⌉ → encoder (rows1, D_enc) → attention pool
 *   (B, D_enc) → dropout → head (B, n_labels).
 */
#ifndef ES_MODEL_BYTE_INTERNAL_H
#define ES_MODEL_BYTE_INTERNAL_H

#include "model/byte_model.h"
#include "io/weights.h"
#include "nn/seq.h"

typedef struct byte_tf_layer {
    int ln1_g, ln1_b, qkv_w, qkv_b, o_w, o_b, ln2_g, ln2_b, ff1_w, ff1_b, ff2_w, ff2_b;
} byte_tf_layer;

struct es_byte_model {
    es_byte_config cfg;
    es_params ps;
    int d_enc;                       /* encoder output width */
    /* parameter indices (-1 = absent) */
    int emb, bott_w, bott_b, conv_w, conv_b, score_w, score_b;
    int qw[ES_BYTE_MAX_LAYERS][2], qb[ES_BYTE_MAX_LAYERS][2];
    int pos;                         /* transformer positions */
    byte_tf_layer tf[ES_BYTE_MAX_LAYERS];
    int lnf_g, lnf_b;
    int pool_w, head_w, head_b;
    /* int8 codes of the weight matrices of a seq2seq int8 export (byte_qat.h
     * es_qweights), NULL otherwise; built and freed by the seq2seq model */
    struct es_qweights *q8;
};

/* Per-layer transformer activations (see byte_transformer.c). Layer l
 * reads its memory (keys/values source: the previous layer's output, or
 * xpos for l = 0) and writes `out` in its query layout sq. In an inference
 * workspace the buffers of all layers alias layer 0's (only `out`
 * alternates), so memory does not grow with depth. */
typedef struct byte_tf_cache {
    es_seq sq;                       /* query-side (= output) layout of this layer */
    int *lenq;                       /* (max_batch) */
    int Tcap;                        /* query capacity of the workspace */
    float *xin;                      /* (rowsq, D) pooled residual input (funnel layers) */
    float *ln1, *ln1m;               /* (rowsq, D) LN1(queries), (rowsm, D) LN1(memory) */
    float *mean1, *rstd1, *mean1m, *rstd1m, *mean2, *rstd2; /* (rows) LN statistics */
    float *q, *kv;                   /* (rowsq, D), (rowsm, 2D) projections */
    float *lse;                      /* (B, H, Tq) attention log-normalisers (training) */
    float *ctx;                      /* (rowsq, D) attention output before W_o */
    float *x1;                       /* (rowsq, D) after the attention residual */
    float *ln2;                      /* (rowsq, D) */
    float *ffh, *ffa;                /* (rowsq, d_ff) FFN pre-/post-GELU */
    float *out;                      /* (rowsq, D) layer output */
    uint8_t *drop1, *drop2;          /* (rowsq, D) residual dropout masks (training) */
    uint64_t att_seed;               /* attention dropout seed of the last training forward */
    int owns;                        /* 1: this entry allocated its buffers */
} byte_tf_cache;

struct es_byte_ws {
    const es_byte_model *m;
    es_pool *pool;
    int max_batch, max_bytes, training;
    int T0cap, T1cap, m0, m1;
    /* current batch */
    int B, T0, T1;
    int *len0, *len1;                /* (max_batch) */
    es_seq s0, s1;
    int trained;                     /* last forward was a training forward */
    /* stage 0 (bytes) */
    int32_t *ids;                    /* (rows0) */
    float *emb;                      /* (rows0, E) */
    float *u;                        /* (rows0, D) bottleneck output (post ReLU) */
    float *c;                        /* (rows0, D) conv output */
    float *cand, *alpha0;            /* (M, rows0, D), (rows0, M) */
    /* stage 1 (after down-sampling) */
    float *x1;                       /* (rows1, D) GBST output */
    /* QRNN */
    float *qG[ES_BYTE_MAX_LAYERS][2], *qc[ES_BYTE_MAX_LAYERS][2];
    uint8_t *qz[ES_BYTE_MAX_LAYERS][2];
    float *qh[ES_BYTE_MAX_LAYERS];   /* (rows1, d_enc) layer outputs */
    uint8_t *qdrop[ES_BYTE_MAX_LAYERS];
    /* transformer */
    byte_tf_cache tf[ES_BYTE_MAX_LAYERS];
    float *xpos;                     /* (rows1, D) GBST output + positions */
    float *enc;                      /* (rows_last, d_enc) final encoder output (borrowed ptr) */
    const es_seq *s_enc;             /* layout of enc */
    float *lnf, *lnf_mean, *lnf_rstd;/* final LayerNorm (transformer) */
    float *tf_out2;                  /* inference: second `out` buffer (layers alternate) */
    float *att_scratch;              /* attention slots (es_mha_scratch_floats each) */
    int att_slots;
    float *tg[6];                    /* backward scratch (rows1, wide) */
    /* pooling and head */
    float *palpha;                   /* (rows_enc) */
    float *pooled;                   /* (B, d_enc) after dropout */
    uint8_t *pdrop;                  /* (B, d_enc) */
    /* backward scratch */
    float *gA, *gB;                  /* (rows1max, wmax) gradient ping-pong */
    float *gG;                       /* (rows1, 3H) / transformer scratch */
    float *g0a, *g0b, *g0c;          /* (rows0, max(D,E)) */
    float *gds;                      /* (rows0, M) */
    float *part;                     /* (B, wmax + 1) */
    float *dpooled;                  /* (B, d_enc) */
    struct byte_front *front;        /* front-end tables (byte_front.c) */
    struct es_byte_qat *qat;         /* QAT / int8 state (src/quant/byte_qat.c), NULL when off */
};
typedef struct es_byte_qat es_byte_qat;

struct json_object;
/* Builds a model from a parsed config.json object and an open weight set
 * (tensors are copied; w may be freed afterwards). Used by
 * es_byte_model_load_dir and by es_model_load (byte_session.c). */
es_status es_byte_model_from_weights(es_byte_model **out, const char *dir,
                                     struct json_object *cfgobj, es_weights *w, es_error *err);

/* Encoder only (front end + encoder, no pooling/head): runs the forward of
 * es_byte_forward up to the encoder output, left in ws->enc with layout
 * ws->s_enc (rows of d_enc). Same arguments and errors as es_byte_forward.
 * Used by the byte seq2seq models (byte_seq2seq.c). */
es_status es_byte_encode(es_byte_ws *ws, const es_byte_model *m, const uint8_t *const *bytes,
                         const size_t *lens, int B, int train, es_rng *rng, es_error *err);
/* Backward of the last training es_byte_encode: denc (rows of ws->s_enc,
 * d_enc; zero on pads) → adds ∂/∂θ of the encoder into the gradients. */
es_status es_byte_encode_backward(es_byte_ws *ws, es_byte_model *m, const float *denc,
                                  es_error *err);

/* Byte seq2seq behind es_model (byte_seq2seq_session.c): the loader
 * es_byte_model_load dispatches to for model_type "edgeseq-byte-seq2seq",
 * and its encoder's max_bytes (0 when m is not a byte seq2seq model). */
es_status es_s2s_model_load(es_model *m, const char *dir, struct json_object *config,
                            es_weights *w, es_error *err);
int32_t es_s2s_max_bytes(const es_model *m);

/* Encoder hooks implemented per architecture. sizes: extra workspace. */
es_status es_byte_qrnn_register(es_byte_model *m, es_error *err);
es_status es_byte_qrnn_ws_alloc(es_byte_ws *ws, es_error *err);
void es_byte_qrnn_ws_free(es_byte_ws *ws);
/* Runs the encoder on ws->x1 (layout s1); sets ws->enc, ws->s_enc. */
void es_byte_qrnn_forward(es_byte_ws *ws, int train, es_rng *rng);
/* dEnc (layout s_enc, d_enc) → writes dX1 (rows1, D) and adds param grads. */
void es_byte_qrnn_backward(es_byte_ws *ws, es_byte_model *m, float *denc, float *dx1);

es_status es_byte_tf_register(es_byte_model *m, es_error *err);
es_status es_byte_tf_ws_alloc(es_byte_ws *ws, es_error *err);
void es_byte_tf_ws_free(es_byte_ws *ws);
void es_byte_tf_forward(es_byte_ws *ws, int train, es_rng *rng);
void es_byte_tf_backward(es_byte_ws *ws, es_byte_model *m, float *denc, float *dx1);

#endif
