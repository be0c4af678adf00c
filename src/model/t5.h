/*
 * t5.h — internal interface of the T5 engine (HF T5 / T5 v1.1 /
 * T5-Efficient), split over:
 *   src/model/t5_config.c   config.json -> es_t5_config
 *   src/model/t5.c          loader: tensor binding, shape checks, info
 *   src/nn/t5_forward.c     fp32 reference forward (encoder, cached decoder)
 *   src/model/t5_session.c  session ops: encode, teacher forcing, scoring,
 *                           generation through src/decode
 *
 * Legend: B rows (batch or beams), S source tokens, T decoder positions,
 * D = d_model, H = n_heads, dk = d_kv, I = H*dk (inner attention width,
 * may differ from D), F = d_ff, V = vocab. Linear weights are PyTorch's
 * W (out, in), applied as y = x·Wᵀ (gemm_nt). All buffers row-major.
 * The semantics are exactly HF modeling_t5.py; docs/t5.md has equations.
 */
#ifndef ES_MODEL_T5_H
#define ES_MODEL_T5_H

#include "model/model_internal.h"
#include "model/t5_linear.h"

typedef enum es_t5_act {
    ES_T5_ACT_RELU = 0,
    ES_T5_ACT_GELU_TANH = 1, /* HF "gelu_new" / "gelu_pytorch_tanh" */
    ES_T5_ACT_GELU_ERF = 2   /* HF "gelu" (exact, erf) */
} es_t5_act;

typedef struct es_t5_config {
    int32_t vocab, d_model, d_kv, d_ff, n_heads;
    int32_t n_enc_layers, n_dec_layers;
    int32_t rel_buckets, rel_max_distance;
    float eps;          /* RMS-norm epsilon */
    es_t5_act act;      /* feed-forward activation */
    bool gated;         /* wo(act(wi_0 x) * wi_1 x) instead of wo(act(wi x)) */
    bool tied;          /* LM head = shared embedding, hidden scaled by d_model^-0.5 */
    int32_t pad_id, eos_id, start_id;
} es_t5_config;

/* Parses and validates a T5 config.json object (HF field names and
 * defaults; see t5_config.c). Errors are ES_ERR_FORMAT naming the field
 * (without the file prefix: the caller adds it). */
es_status es_t5_config_parse(es_t5_config *c, const struct json_object *cfg, es_error *err);
/* The public es_ffn_kind for a config. */
es_ffn_kind es_t5_config_ffn(const es_t5_config *c);

/* Index of a projection in es_t5_block.lin. */
typedef enum es_t5_lin_id {
    ES_T5_LQ, ES_T5_LK, ES_T5_LV, ES_T5_LO, ES_T5_LCQ, ES_T5_LCK, ES_T5_LCV, ES_T5_LCO,
    ES_T5_LWI, ES_T5_LWI1, ES_T5_LWO, ES_T5_NLIN
} es_t5_lin_id;

/* One transformer block's weights, F32, borrowed from the weight set.
 * Cross-attention fields are NULL in encoder blocks; wi1 is NULL unless
 * gated (then wi is wi_0). */
typedef struct es_t5_block {
    const float *ln_sa;               /* (D) */
    const float *q, *k, *v;           /* (I, D) */
    const float *o;                   /* (D, I) */
    const float *ln_ca;               /* (D) decoder only */
    const float *cq, *ck, *cv;        /* (I, D) decoder only */
    const float *co;                  /* (D, I) decoder only */
    const float *ln_ff;               /* (D) */
    const float *wi, *wi1;            /* (F, D) */
    const float *wo;                  /* (D, F) */
    /* The same projections as weight handles (model/t5_linear.h), indexed
     * by es_t5_lin_id; always set. For a quantized model (bf16/int8) the
     * float pointers above are NULL and only these are usable. */
    es_t5_lin lin[ES_T5_NLIN];
} es_t5_block;


typedef struct es_t5_model {
    es_t5_config cfg;
    const float *embed;        /* (V, D) shared input embedding */
    const float *lm_head;      /* (V, D); == embed when tied */
    const float *enc_rel;      /* (rel_buckets, H) encoder block 0 bias */
    const float *dec_rel;      /* (rel_buckets, H) decoder block 0 bias */
    const float *enc_final_ln; /* (D) */
    const float *dec_final_ln; /* (D) */
    es_t5_block *enc;          /* n_enc_layers */
    es_t5_block *dec;          /* n_dec_layers */
    uint64_t n_params;
    /* Reduced precision (src/quant/t5_quant.h): handles of the embedding
     * and LM head (always set; == each other when tied) and the scheme,
     * 0 = fp32 weights. When quant != 0, embed/lm_head and every block's
     * float projection pointers are NULL (inference only, no training). */
    es_t5_lin embed_lin, lm_head_lin;
    int quant;
    /* Pre-packed fp32 encoder-side weights (src/model/t5_pack.c): one
     * es_malloc_big block that the handles' `packed` pointers point into,
     * or NULL. */
    void *packed_buf;
    size_t packed_bytes;
    /* Background re-packing of the decode weights (t5_pack.c: fp32 rows
     * panels / int8 panels, the handles' `rows` / `qp`), or NULL. */
    struct es_t5_packer *packer;
} es_t5_model;

/* Re-packs the encoder-side fp32 projections (encoder q,k,v,o,wi,wi1,wo;
 * decoder cross k,v: the weights only ever multiplied by many rows) into
 * the kernel table's panel layout and releases their memory-mapped pages
 * (es_weights_release), so resident memory does not grow. Only for fp32
 * models whose weights are memory-mapped; otherwise, or when
 * EDGESEQ_PACK=0, or if memory runs out, nothing is packed (the forward
 * is the same, minus the speed-up). Never fails. */
void es_t5_pack_weights(es_t5_model *tm, const struct es_weights *w);
/* Stops and joins the background re-packing and frees its panels (model
 * free; the handles must not be used afterwards). */
void es_t5_pack_stop(es_t5_model *tm);

/* ---- forward engine (src/nn/t5_forward.c) ------------------------------ */

/* Mutable forward state for fixed maximum sizes; everything is allocated
 * by es_t5_state_init and nothing later.
 * Caches: self K/V (n_dec_layers, max_rows, max_tgt, I) — row r, position
 * t at ((l*max_rows + r)*max_tgt + t)*I; cross K/V (n_dec_layers,
 * enc_B*enc_S, I) packed for the current encoder batch. */
typedef struct es_t5_state {
    const es_t5_model *m;
    es_pool *pool;
    int max_rows, max_src, max_tgt;
    /* scratch, R = max_rows*max(max_src, max_tgt) rows */
    float *x, *xn;             /* (R, D) residual stream, normed copy */
    float *q, *k, *v, *att;    /* (R, I) */
    float *h0, *h1;            /* (FFN_CHUNK, F) feed-forward hidden */
    float *att_scr;            /* (max_rows*H, 2*max(max_src, max_tgt)) per-task scores + bias row */
    /* encoder result for the decoder */
    float *enc_out;            /* (max_rows*max_src, D) */
    int32_t *enc_mask;         /* (max_rows*max_src) */
    int enc_B, enc_S;
    float *ck, *cv;            /* cross K/V, see above */
    /* decoder self-attention cache */
    float *sk, *sv;
    float *kv_tmp;             /* (max_rows*max_tgt*I) reorder scratch */
    int32_t *cross_row;        /* (max_rows) encoder row each decoder row attends to */
    int n_rows, cur_len;       /* rows and positions held in the self cache */
    /* relative-position buckets: enc_bucket[j - i + max_src - 1],
     * dec_bucket[i - j] for key j, query i */
    int32_t *enc_bucket, *dec_bucket;
    /* encoder attention as GEMMs (t5_forward.c): scores of one (row, head)
     * (max_src, max_src) and one head's bias by distance (2*max_src) */
    float *att_sc, *att_bd;
} es_t5_state;

es_status es_t5_state_init(es_t5_state *st, const es_t5_model *m, es_pool *pool, int max_rows,
                           int max_src, int max_tgt, es_error *err);
void es_t5_state_free(es_t5_state *st);

/* Encoder over a right-padded batch: ids, mask (B, S) with 1 = token,
 * 0 = padding. Keeps the output and mask in st for the decoder. out
 * (B, S, D) may be NULL. Arguments must already be validated (ids < V,
 * B <= max_rows, S <= max_src). Cross-attention K/V are NOT computed here
 * (an encode-only call does not need them): call es_t5_cross_kv before
 * decoding. */
void es_t5_encode(es_t5_state *st, float *out, const int32_t *ids, const int32_t *mask, int B,
                  int S);

/* Every decoder layer's cross-attention K/V of the last es_t5_encode
 * output, once per input (0.8 GFLOP for t5-efficient-small x 128 tokens). */
void es_t5_cross_kv(es_t5_state *st);

/* Decoder forward for n_rows rows and n_new positions each, starting at
 * position st->cur_len (set cur_len = 0 for a fresh start); tokens
 * (n_rows, n_new). Row r attends to encoder row st->cross_row[r]. Appends
 * K/V to the self cache and advances cur_len by n_new (caller checks
 * cur_len + n_new <= max_tgt, n_rows <= max_rows). Returns the final
 * hidden states (n_rows*n_new, D) — after the final norm and, when tied,
 * the d_model^-0.5 rescale — in st scratch, valid until the next call. */
const float *es_t5_decode(es_t5_state *st, const int32_t *tokens, int n_rows, int n_new);

/* logits (M, V) = hid (M, D) · lm_headᵀ. Work is split over the pool by
 * fixed vocabulary blocks when M is small (identical for any thread count). */
void es_t5_lm_head(es_t5_state *st, float *logits, const float *hid, int M);

/* Self cache reorder for beams: new row r = old row parent[r], r < n_rows;
 * also sets st->n_rows. */
void es_t5_reorder(es_t5_state *st, const int32_t *parent, int n_rows);

/* Session ops (src/model/t5_session.c). */
extern const es_arch_ops es_t5_ops;

#endif
