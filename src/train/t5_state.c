/*
 * t5_state.c — trainable T5 registry (see t5_state.h): registers every HF
 * tensor in state-dict order, binds es_t5_model / es_t5_grads views, copies
 * the loaded weights in, and saves an HF folder.
 *
 * One table of entries (name, shape, weight slot, gradient slot, source)
 * drives registration, binding and copying, so the three can never
 * disagree about which tensor is which.
 */
#include "train/t5_state.h"

#include "io/fileio.h"
#include "io/weights.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct ent {
    char name[ES_PARAM_NAME_MAX];
    int ndim;
    int64_t shape[2];
    const float **wslot;
    float **gslot;
    const float *src;
    int decay;
} ent;

typedef struct ent_list {
    ent *e;
    int n, cap;
    es_status s;
} ent_list;

static void add(ent_list *l, const char *name, int ndim, int64_t d0, int64_t d1, const float **ws,
                float **gs, const float *src, int decay) {
    if (l->n >= l->cap) {
        l->s = ES_ERR_INTERNAL;
        return;
    }
    ent *e = &l->e[l->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->wslot = ws;
    e->gslot = gs;
    e->src = src;
    e->decay = decay;
}

/* Lists one block's tensors in HF order. */
static void add_block(ent_list *l, const es_t5_config *c, int dec, int i, es_t5_block *wb,
                      es_t5_gblock *gb, const es_t5_block *sb, const es_t5_model *sm,
                      es_t5_model *wm, es_t5_grads *gm) {
    const char *S = dec ? "decoder" : "encoder";
    const int64_t D = c->d_model, I = (int64_t)c->n_heads * c->d_kv, F = c->d_ff;
    char n[ES_PARAM_NAME_MAX];
#define T2(fmt, field, d0, d1, dec_)                                                    \
    snprintf(n, sizeof n, fmt, S, i);                                                   \
    add(l, n, 2, d0, d1, &wb->field, &gb->field, sb->field, dec_)
#define T1(fmt, field)                                                                  \
    snprintf(n, sizeof n, fmt, S, i);                                                   \
    add(l, n, 1, D, 0, &wb->field, &gb->field, sb->field, 0)
    T2("%s.block.%d.layer.0.SelfAttention.q.weight", q, I, D, 1);
    T2("%s.block.%d.layer.0.SelfAttention.k.weight", k, I, D, 1);
    T2("%s.block.%d.layer.0.SelfAttention.v.weight", v, I, D, 1);
    T2("%s.block.%d.layer.0.SelfAttention.o.weight", o, D, I, 1);
    if (i == 0) {
        snprintf(n, sizeof n, "%s.block.0.layer.0.SelfAttention.relative_attention_bias.weight", S);
        add(l, n, 2, c->rel_buckets, c->n_heads, dec ? &wm->dec_rel : &wm->enc_rel,
            dec ? &gm->dec_rel : &gm->enc_rel, dec ? sm->dec_rel : sm->enc_rel, 0);
    }
    T1("%s.block.%d.layer.0.layer_norm.weight", ln_sa);
    int ff = 1;
    if (dec) {
        T2("%s.block.%d.layer.1.EncDecAttention.q.weight", cq, I, D, 1);
        T2("%s.block.%d.layer.1.EncDecAttention.k.weight", ck, I, D, 1);
        T2("%s.block.%d.layer.1.EncDecAttention.v.weight", cv, I, D, 1);
        T2("%s.block.%d.layer.1.EncDecAttention.o.weight", co, D, I, 1);
        T1("%s.block.%d.layer.1.layer_norm.weight", ln_ca);
        ff = 2;
    }
    char fmt[128];
    if (c->gated) {
        snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.DenseReluDense.wi_0.weight", ff);
        T2(fmt, wi, F, D, 1);
        snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.DenseReluDense.wi_1.weight", ff);
        T2(fmt, wi1, F, D, 1);
    } else {
        snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.DenseReluDense.wi.weight", ff);
        T2(fmt, wi, F, D, 1);
    }
    snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.DenseReluDense.wo.weight", ff);
    T2(fmt, wo, D, F, 1);
    snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.layer_norm.weight", ff);
    T1(fmt, ln_ff);
#undef T1
#undef T2
}

void es_t5_trainable_free(es_t5_trainable *t) {
    if (!t) return;
    es_params_free(&t->ps);
    es_free(t->w.enc);
    es_free(t->w.dec);
    es_free(t->g.enc);
    es_free(t->g.dec);
    memset(t, 0, sizeof *t);
}

es_status es_t5_trainable_init(es_t5_trainable *t, const es_model *m, int with_grad,
                               es_error *err) {
    memset(t, 0, sizeof *t);
    if (!m || m->arch != ES_ARCH_T5 || !m->impl)
        return es_errf(err, ES_ERR_ARG, "%s: not a T5 model (training needs model_type t5)",
                       m && m->dir ? m->dir : "model");
    const es_t5_model *sm = m->impl;
    if (sm->quant) /* bf16/int8 weights are not parameters (src/quant/t5_quant.h) */
        return es_errf(err, ES_ERR_UNSUPPORTED,
                       "%s: reduced-precision (quantized) model: train the fp32 source folder",
                       m->dir ? m->dir : "model");
    const es_t5_config *c = &sm->cfg;
    t->cfg = *c;
    t->w.cfg = *c;
    t->w.n_params = sm->n_params;
    const int Le = c->n_enc_layers, Ld = c->n_dec_layers;
    es_t5_block *wenc = es_calloc((size_t)Le, sizeof *wenc), *wdec = es_calloc((size_t)Ld, sizeof *wdec);
    es_t5_gblock *genc = es_calloc((size_t)Le, sizeof *genc), *gdec = es_calloc((size_t)Ld, sizeof *gdec);
    t->w.enc = wenc;
    t->w.dec = wdec;
    t->g.enc = genc;
    t->g.dec = gdec;
    int cap = 8 + 12 * Le + 17 * Ld;
    ent_list l = {es_calloc((size_t)cap, sizeof(ent)), 0, cap, ES_OK};
    if (!wenc || !wdec || !genc || !gdec || !l.e) {
        es_free(l.e);
        es_t5_trainable_free(t);
        return es_errf(err, ES_ERR_NOMEM, "out of memory (trainable t5)");
    }
    const int64_t V = c->vocab, D = c->d_model;
    add(&l, "shared.weight", 2, V, D, &t->w.embed, &t->g.embed, sm->embed, 1);
    for (int i = 0; i < Le; i++) add_block(&l, c, 0, i, &wenc[i], &genc[i], &sm->enc[i], sm, &t->w, &t->g);
    add(&l, "encoder.final_layer_norm.weight", 1, D, 0, &t->w.enc_final_ln, &t->g.enc_final_ln,
        sm->enc_final_ln, 0);
    for (int i = 0; i < Ld; i++) add_block(&l, c, 1, i, &wdec[i], &gdec[i], &sm->dec[i], sm, &t->w, &t->g);
    add(&l, "decoder.final_layer_norm.weight", 1, D, 0, &t->w.dec_final_ln, &t->g.dec_final_ln,
        sm->dec_final_ln, 0);
    if (!c->tied) add(&l, "lm_head.weight", 2, V, D, &t->w.lm_head, &t->g.lm_head, sm->lm_head, 1);
    es_status s = l.s ? es_errf(err, ES_ERR_INTERNAL, "trainable t5: tensor table overflow") : ES_OK;
    int *idx = s ? NULL : es_calloc((size_t)l.n, sizeof(int));
    if (!s && !idx) s = es_errf(err, ES_ERR_NOMEM, "out of memory (trainable t5)");
    for (int i = 0; i < l.n && !s; i++) {
        const ent *e = &l.e[i];
        s = es_params_add(&t->ps, &idx[i], e->name, e->ndim, e->shape, ES_INIT_ZERO, 0.0f, 0, 0,
                          e->decay, err);
    }
    if (!s) s = es_params_alloc(&t->ps, with_grad, err);
    if (!s) {
        for (int i = 0; i < l.n; i++) {
            const ent *e = &l.e[i];
            float *dst = es_params_data(&t->ps, idx[i]);
            memcpy(dst, e->src, t->ps.p[idx[i]].numel * sizeof(float));
            *e->wslot = dst;
            *e->gslot = es_params_grad(&t->ps, idx[i]);
        }
        if (c->tied) {
            t->w.lm_head = t->w.embed;
            t->g.lm_head = t->g.embed;
        }
    }
    es_free(idx);
    es_free(l.e);
    if (s) es_t5_trainable_free(t);
    return s;
}

es_status es_t5_mkdir(const char *dir, es_error *err) {
    if (mkdir(dir, 0777) != 0 && !es_is_dir(dir))
        return es_errf(err, ES_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    return ES_OK;
}

es_status es_t5_trainable_save(const es_t5_trainable *t, const char *dir, const char *src_dir,
                               es_error *err) {
    es_status s = es_t5_mkdir(dir, err);
    if (s) return s;
    const es_params *ps = &t->ps;
    es_st_write_tensor *tw = es_calloc((size_t)ps->n, sizeof *tw);
    if (!tw) return es_errf(err, ES_ERR_NOMEM, "out of memory saving %s", dir);
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        tw[i].name = p->name;
        tw[i].dtype = ES_DTYPE_F32;
        tw[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) tw[i].shape[d] = p->shape[d];
        tw[i].data = ps->data + p->offset;
    }
    char path[4096], src[4096];
    const char *meta[] = {"format", "pt", "edgeseq_format", "1"};
    s = es_path_join(path, sizeof path, dir, "model.safetensors", err);
    if (!s) s = es_safetensors_write(path, tw, (size_t)ps->n, meta, 2, err);
    es_free(tw);
    static const char *copy[] = {"config.json", "spiece.model", "tokenizer_config.json",
                                 "special_tokens_map.json", "generation_config.json"};
    for (size_t i = 0; i < ES_ARRAY_LEN(copy) && !s && src_dir; i++) {
        s = es_path_join(src, sizeof src, src_dir, copy[i], err);
        if (!s) s = es_path_join(path, sizeof path, dir, copy[i], err);
        if (s) break;
        if (strcmp(src, path) == 0) continue;
        if (!es_is_regular_file(src)) {
            if (i == 0) s = es_errf(err, ES_ERR_IO, "%s: missing (needed to save %s)", src, dir);
            continue;
        }
        s = es_copy_file_atomic(path, src, err);
    }
    return s;
}
