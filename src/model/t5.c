/*
 * t5.c — T5 loader: binds every tensor of an HF T5 checkpoint to the
 * es_t5_model layout after checking presence, dtype and shape against
 * config.json, counts parameters, loads spiece.model, fills es_model_info.
 *
 * Tensor names (HF state dict; S = "encoder" | "decoder", i = block):
 *   shared.weight (V, D)        also accepted as encoder.embed_tokens.weight
 *                               or decoder.embed_tokens.weight
 *   S.block.i.layer.0.layer_norm.weight (D)
 *   S.block.i.layer.0.SelfAttention.{q,k,v}.weight (I, D), .o.weight (D, I)
 *   S.block.0.layer.0.SelfAttention.relative_attention_bias.weight (buckets, H)
 *   decoder.block.i.layer.1.layer_norm.weight, .EncDecAttention.{q,k,v,o}
 *   S.block.i.layer.{1 enc | 2 dec}.layer_norm.weight
 *   S.block.i.layer.{1|2}.DenseReluDense.wi.weight (F, D) — or wi_0, wi_1
 *   S.block.i.layer.{1|2}.DenseReluDense.wo.weight (D, F)
 *   S.final_layer_norm.weight (D);  lm_head.weight (V, D) when untied
 * Relative biases are used from block 0 only; copies in later blocks (HF
 * ignores them too) and other unknown tensors are reported through the log
 * and ignored.
 *
 * Storage: F32 data aligned to 4 bytes is used in place from the memory
 * map; F16/BF16 (and unaligned F32) are converted to F32 once here, so the
 * forward pass always sees F32 (bf16 -> f32 is exact).
 */
#include "model/t5.h"

#include "io/fileio.h"
#include "quant/t5_quant.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

typedef struct binder {
    es_weights *w;
    uint64_t n_params;
    es_dtype big_dtype; /* dtype of the embedding (the largest matrix) */
    const char *dir;    /* for "missing tensor" messages */
    es_error *err;
    int quant;          /* es_t5_qscheme of the folder (0 = none) */
} binder;

/* Finds, checks and binds one tensor; counts its parameters. */
static es_status bind(binder *b, const float **out, const char *name, int ndim, int64_t d0,
                      int64_t d1) {
    int64_t dims[2] = {d0, d1};
    const es_tensor_view *t;
    es_status s = es_model_tensor(b->w, name, ndim, dims, false, &t, b->err);
    if (s && !es_weights_find(b->w, name)) return es_err_prefix(b->err, "%s", b->dir);
    if (s) return s; /* the message names the file */
    s = es_model_tensor_f32(b->w, t, out, b->err);
    if (s) return s;
    b->n_params += es_tensor_numel(t);
    return ES_OK;
}

/* Binds a projection W (N, K) as a handle (model/t5_linear.h): F32 as
 * bind() does (the float pointer is set too), BF16 kept as bf16 and I8 +
 * `<name>.qscale` only under the folder's scheme (t5_quant.c). */
static es_status bind_lin(binder *b, es_t5_lin *lin, const float **fp, const char *name,
                          int64_t N, int64_t K) {
    memset(lin, 0, sizeof *lin);
    lin->N = (int)N;
    lin->K = (int)K;
    lin->group = (int)K;
    lin->n_groups = 1;
    const es_tensor_view *t = es_weights_find(b->w, name);
    es_status s;
    if (t && (t->dtype == ES_DTYPE_I8 || (t->dtype == ES_DTYPE_BF16 && b->quant == ES_T5_Q_BF16))) {
        if ((s = es_t5_quant_bind(b->w, lin, t, b->quant, b->err))) return s;
        if (fp) *fp = NULL;
        b->n_params += (uint64_t)N * (uint64_t)K;
        return ES_OK;
    }
    const float *f = NULL;
    if ((s = bind(b, &f, name, 2, N, K))) return s;
    lin->kind = ES_T5_W_F32;
    lin->f32 = f;
    if (fp) *fp = f;
    return ES_OK;
}

/* es_t5_block field name -> its es_t5_lin_id. */
static int lin_id(const char *field) {
    static const char *names[ES_T5_NLIN] = {"q", "k", "v", "o", "cq", "ck", "cv", "co",
                                            "wi", "wi1", "wo"};
    for (int i = 0; i < ES_T5_NLIN; i++)
        if (strcmp(field, names[i]) == 0) return i;
    return 0; /* unreachable: every B2 field is listed */
}

static es_status bind_block(binder *b, es_t5_block *blk, const es_t5_config *c, bool dec, int i) {
    const char *S = dec ? "decoder" : "encoder";
    const int64_t D = c->d_model, I = (int64_t)c->n_heads * c->d_kv, F = c->d_ff;
    char n[256];
    es_status s;
#define B1(field, fmt, d0)                                          \
    do {                                                            \
        snprintf(n, sizeof n, fmt, S, i);                           \
        if ((s = bind(b, &blk->field, n, 1, d0, 0))) return s;      \
    } while (0)
#define B2(field, fmt, d0, d1)                                      \
    do {                                                            \
        snprintf(n, sizeof n, fmt, S, i);                           \
        if ((s = bind_lin(b, &blk->lin[lin_id(#field)], &blk->field, n, d0, d1))) return s; \
    } while (0)
    B1(ln_sa, "%s.block.%d.layer.0.layer_norm.weight", D);
    B2(q, "%s.block.%d.layer.0.SelfAttention.q.weight", I, D);
    B2(k, "%s.block.%d.layer.0.SelfAttention.k.weight", I, D);
    B2(v, "%s.block.%d.layer.0.SelfAttention.v.weight", I, D);
    B2(o, "%s.block.%d.layer.0.SelfAttention.o.weight", D, I);
    int ff = 1;
    if (dec) {
        B1(ln_ca, "%s.block.%d.layer.1.layer_norm.weight", D);
        B2(cq, "%s.block.%d.layer.1.EncDecAttention.q.weight", I, D);
        B2(ck, "%s.block.%d.layer.1.EncDecAttention.k.weight", I, D);
        B2(cv, "%s.block.%d.layer.1.EncDecAttention.v.weight", I, D);
        B2(co, "%s.block.%d.layer.1.EncDecAttention.o.weight", D, I);
        ff = 2;
    }
    char fmt[128];
#define BF1(field, suffix, d0)                                                      \
    do {                                                                            \
        snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.%s", ff, suffix);         \
        B1(field, fmt, d0);                                                         \
    } while (0)
#define BF2(field, suffix, d0, d1)                                                  \
    do {                                                                            \
        snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.%s", ff, suffix);         \
        B2(field, fmt, d0, d1);                                                     \
    } while (0)
    BF1(ln_ff, "layer_norm.weight", D);
    if (c->gated) {
        BF2(wi, "DenseReluDense.wi_0.weight", F, D);
        BF2(wi1, "DenseReluDense.wi_1.weight", F, D);
    } else {
        BF2(wi, "DenseReluDense.wi.weight", F, D);
    }
    BF2(wo, "DenseReluDense.wo.weight", D, F);
#undef B1
#undef B2
#undef BF1
#undef BF2
    return ES_OK;
}

/* True for names bound above (used to report leftovers). */
static bool is_known(const es_t5_config *c, const char *name) {
    static const char *fixed[] = {"shared.weight",          "encoder.embed_tokens.weight",
                                  "decoder.embed_tokens.weight", "lm_head.weight",
                                  "encoder.final_layer_norm.weight",
                                  "decoder.final_layer_norm.weight"};
    for (size_t i = 0; i < ES_ARRAY_LEN(fixed); i++)
        if (strcmp(name, fixed[i]) == 0) return true;
    for (int dec = 0; dec < 2; dec++) {
        const char *S = dec ? "decoder" : "encoder";
        size_t ls = strlen(S);
        if (strncmp(name, S, ls) != 0 || strncmp(name + ls, ".block.", 7) != 0) continue;
        int i = -1, layer = -1, used = 0;
        char rest[128];
        if (sscanf(name + ls + 7, "%d.layer.%d.%127s%n", &i, &layer, rest, &used) != 3) return false;
        if (i < 0 || i >= (dec ? c->n_dec_layers : c->n_enc_layers)) return false;
        int ffl = dec ? 2 : 1;
        if (layer == 0) {
            if (strcmp(rest, "SelfAttention.relative_attention_bias.weight") == 0) return i == 0;
            return strcmp(rest, "layer_norm.weight") == 0 ||
                   (strncmp(rest, "SelfAttention.", 14) == 0 && strlen(rest) == 23 &&
                    strchr("qkvo", rest[14]) && strcmp(rest + 15, ".weight") == 0);
        }
        if (dec && layer == 1)
            return strcmp(rest, "layer_norm.weight") == 0 ||
                   (strncmp(rest, "EncDecAttention.", 16) == 0 && strlen(rest) == 25 &&
                    strchr("qkvo", rest[16]) && strcmp(rest + 17, ".weight") == 0);
        if (layer == ffl) {
            if (strcmp(rest, "layer_norm.weight") == 0) return true;
            if (strcmp(rest, "DenseReluDense.wo.weight") == 0) return true;
            if (c->gated)
                return strcmp(rest, "DenseReluDense.wi_0.weight") == 0 ||
                       strcmp(rest, "DenseReluDense.wi_1.weight") == 0;
            return strcmp(rest, "DenseReluDense.wi.weight") == 0;
        }
        return false;
    }
    return false;
}

static void t5_model_free(void *p) {
    es_t5_model *tm = p;
    if (!tm) return;
    es_t5_pack_stop(tm); /* before the handles and the weights go */
    es_free(tm->enc);
    es_free(tm->dec);
    es_free_big(tm->packed_buf);
    es_free(tm);
}

static es_status bind_all(binder *b, es_t5_model *tm) {
    const es_t5_config *c = &tm->cfg;
    const int64_t V = c->vocab, D = c->d_model, H = c->n_heads;
    es_status s;
    /* Shared embedding under any of its three names; when several are
     * present (pytorch_model.bin keeps all) the first found is used. */
    static const char *emb_names[] = {"shared.weight", "encoder.embed_tokens.weight",
                                      "decoder.embed_tokens.weight"};
    const char *emb = NULL;
    for (size_t i = 0; i < ES_ARRAY_LEN(emb_names) && !emb; i++)
        if (es_weights_find(b->w, emb_names[i])) emb = emb_names[i];
    if (!emb)
        return es_errf(b->err, ES_ERR_FORMAT,
                       "%s: missing tensor 'shared.weight' (nor 'encoder.embed_tokens.weight' or "
                       "'decoder.embed_tokens.weight')",
                       b->dir);
    if ((s = bind_lin(b, &tm->embed_lin, &tm->embed, emb, V, D))) return s;
    b->big_dtype = es_weights_find(b->w, emb)->dtype;
    if (c->tied) {
        tm->lm_head = tm->embed;
        tm->lm_head_lin = tm->embed_lin;
    } else if ((s = bind_lin(b, &tm->lm_head_lin, &tm->lm_head, "lm_head.weight", V, D))) {
        return s;
    }
    if ((s = bind(b, &tm->enc_rel,
                  "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2,
                  c->rel_buckets, H)))
        return s;
    if ((s = bind(b, &tm->dec_rel,
                  "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2,
                  c->rel_buckets, H)))
        return s;
    if ((s = bind(b, &tm->enc_final_ln, "encoder.final_layer_norm.weight", 1, D, 0))) return s;
    if ((s = bind(b, &tm->dec_final_ln, "decoder.final_layer_norm.weight", 1, D, 0))) return s;
    for (int i = 0; i < c->n_enc_layers; i++)
        if ((s = bind_block(b, &tm->enc[i], c, false, i))) return s;
    for (int i = 0; i < c->n_dec_layers; i++)
        if ((s = bind_block(b, &tm->dec[i], c, true, i))) return s;
    return ES_OK;
}

static es_status load_tokenizer(es_model *m, const char *dir, const es_t5_config *c,
                                es_error *err) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/spiece.model", dir) >= sizeof path)
        return es_errf(err, ES_ERR_ARG, "%s: path too long", dir);
    if (!es_is_regular_file(path)) return ES_OK;
    /* HF's T5Tokenizer appends 100 <extra_id_*> sentinels; checkpoints with
     * a smaller vocabulary cannot hold them. */
    int n_extra = c->vocab >= 32100 ? 100 : 0;
    es_status s = es_tokenizer_load(&m->tok, path, n_extra, err);
    if (s == ES_ERR_UNSUPPORTED) {
        /* A valid model we cannot tokenize (e.g. a non-unigram SentencePiece
         * model): the model still runs on ids. */
        es_log(ES_LOG_WARN, "%s: tokenizer not loaded: %s", path, err ? err->msg : "unsupported");
        m->tok = NULL;
        es_err_clear(err);
        return ES_OK;
    }
    return s;
}

es_status es_t5_model_load(es_model *m, const char *dir, struct json_object *config,
                           es_weights *w, es_error *err) {
    es_t5_model *tm = es_calloc(1, sizeof *tm);
    if (!tm) return es_errf(err, ES_ERR_NOMEM, "out of memory loading %s", dir);
    m->impl = tm;
    m->impl_free = t5_model_free;
    m->arch = ES_ARCH_T5;
    m->ops = &es_t5_ops;

    es_status s = es_t5_config_parse(&tm->cfg, config, err);
    if (s) return es_err_prefix(err, "%s", dir);
    const es_t5_config *c = &tm->cfg;
    tm->enc = es_calloc((size_t)c->n_enc_layers, sizeof *tm->enc);
    tm->dec = es_calloc((size_t)c->n_dec_layers, sizeof *tm->dec);
    if (!tm->enc || !tm->dec) return es_errf(err, ES_ERR_NOMEM, "out of memory loading %s", dir);

    binder b = {w, 0, ES_DTYPE_F32, dir, err, 0};
    /* Reduced-precision folders (src/quant/t5_quant.h): an unknown
     * edgeseq_quant scheme is refused here, before any tensor is read. */
    s = es_t5_quant_scheme(&b.quant, w, config, dir, err);
    if (s) return s;
    tm->quant = b.quant;
    s = bind_all(&b, tm);
    if (s) return s;
    tm->n_params = b.n_params;

    for (size_t i = 0; i < es_weights_count(w); i++) {
        const es_tensor_view *t = es_weights_at(w, i);
        if (b.quant && es_t5_quant_is_aux(w, t->name)) continue;
        if (!is_known(c, t->name))
            es_log(ES_LOG_WARN, "%s: tensor '%s' is not used by a T5 model of this config", dir,
                   t->name);
    }

    es_t5_pack_weights(tm, w);

    s = load_tokenizer(m, dir, c, err);
    if (s) return s;
    if (m->tok && es_tokenizer_vocab_size(m->tok) > c->vocab)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: spiece.model has %d ids (with extra ids) but vocab_size is %d", dir,
                       es_tokenizer_vocab_size(m->tok), c->vocab);

    es_model_info *in = &m->info;
    in->arch = ES_ARCH_T5;
    in->stored_dtype = b.big_dtype;
    in->n_params = tm->n_params;
    in->vocab_size = c->vocab;
    in->d_model = c->d_model;
    in->d_kv = c->d_kv;
    in->d_ff = c->d_ff;
    in->n_heads = c->n_heads;
    in->n_layers = c->n_enc_layers;
    in->n_decoder_layers = c->n_dec_layers;
    in->rel_buckets = c->rel_buckets;
    in->rel_max_distance = c->rel_max_distance;
    in->layer_norm_eps = c->eps;
    in->ffn = es_t5_config_ffn(c);
    in->tie_word_embeddings = c->tied;
    in->pad_id = c->pad_id;
    in->eos_id = c->eos_id;
    in->decoder_start_id = c->start_id;
    return ES_OK;
}
