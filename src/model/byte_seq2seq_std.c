/*
 * byte_seq2seq_std.c — the standard decoder layer (causal self-attention +
 * cross-attention + FFN, pre-norm) of the byte seq2seq models: teacher-
 * forced forward/backward and the cached decoding step (design, tensor
 * names and memory in byte_seq2seq_std.h).
 *
 * Row layout: decoder rows (B, T) plain, pad rows (t ≥ len[b]) kept
 * exactly zero in activations and gradients, as byte_seq2seq.c does for
 * the merged layer: LayerNorm maps a zero row to its bias, so its output
 * is re-zeroed on pads before it feeds an attention or the FFN.
 *
 * A step runs the same per-row operations as the teacher-forced forward
 * (LayerNorm, the sattn.h attention routine, FFN) in the same order, so
 * step-wise logits equal teacher-forced ones up to GEMM blocking
 * (tests/unit/test_s2s_standard.c).
 */
#include "model/byte_seq2seq_std.h"

#include "core/rows.h"
#include "model/byte_model.h"
#include "nn/ffn.h"
#include "nn/layernorm.h"

#include <stdbool.h>
#include <string.h>

typedef struct std_act {
    float *a1, *mean1, *rstd1;  /* (N, D), (N), (N) LN1 */
    es_sattn_cache sc;          /* self-attention cache */
    float *x1;                  /* (N, D) after the self-attention residual */
    float *ac, *meanc, *rstdc;  /* LN_c */
    es_sattn_cache cc;          /* cross-attention cache */
    float *x2;                  /* (N, D) after the cross-attention residual */
    float *a2, *mean2, *rstd2;  /* LN2 */
    float *ffh, *ffa;           /* (N, F) */
} std_act;

struct es_s2s_std_ws {
    es_s2s_std_dims d;
    std_act act[ES_BYTE_MAX_LAYERS];
    float *tmp;                       /* (N, D) sublayer output */
    float *dA;                        /* (N, D) backward scratch */
    float *dff;                       /* (N, F) FFN backward scratch */
    es_sattn_scratch ss, cs;          /* self / cross backward scratch */
    /* step-wise decoding */
    float *kv[2];       /* (n_layers, 2, max_rows, Tcap, D): self K then V; [1] reorder saves */
    int npos;           /* positions stepped since priming */
    float *ck, *cv;     /* (n_layers, Scap, D) cross-attention memory */
    int Le;
    float *sa, *sm, *sh, *sffh, *sffa; /* (rows, D) ×2, 2·rows, (rows, F) ×2 */
    float *scr;         /* attention step scratch: 4·rows·D + H·max(Tcap, Scap) */
};

static float *zalloc(size_t n, bool *ok) {
    size_t bytes;
    if (!es_mul_ok(n ? n : 1, sizeof(float), &bytes)) {
        *ok = false;
        return NULL;
    }
    float *p = es_malloc_aligned(bytes);
    if (!p) *ok = false;
    else memset(p, 0, bytes);
    return p;
}

void es_s2s_std_ws_free(es_s2s_std_ws *w) {
    if (!w) return;
    float *fl[] = {w->tmp, w->dA, w->dff, w->ss.dc, w->ss.dq, w->ss.dk, w->ss.dv, w->ss.dp,
                   w->cs.dc, w->cs.dq, w->cs.dk, w->cs.dv, w->cs.dp, w->kv[0], w->kv[1], w->ck,
                   w->cv, w->sa, w->sm, w->sh, w->sffh, w->sffa, w->scr};
    for (size_t i = 0; i < ES_ARRAY_LEN(fl); i++) es_free_aligned(fl[i]);
    for (int l = 0; l < ES_BYTE_MAX_LAYERS; l++) {
        std_act *a = &w->act[l];
        float *al[] = {a->a1, a->mean1, a->rstd1, a->sc.q, a->sc.k, a->sc.v, a->sc.p, a->sc.c,
                       a->x1, a->ac, a->meanc, a->rstdc, a->cc.q, a->cc.k, a->cc.v, a->cc.p,
                       a->cc.c, a->x2, a->a2, a->mean2, a->rstd2, a->ffh, a->ffa};
        for (size_t i = 0; i < ES_ARRAY_LEN(al); i++) es_free_aligned(al[i]);
    }
    es_free(w);
}

es_status es_s2s_std_ws_new(es_s2s_std_ws **out, const es_s2s_std_dims *d, es_error *err) {
    *out = NULL;
    es_s2s_std_ws *w = es_calloc(1, sizeof *w);
    if (!w) return es_errf(err, ES_ERR_NOMEM, "seq2seq workspace: out of memory");
    w->d = *d;
    const size_t D = (size_t)d->D, F = (size_t)d->F, H = (size_t)d->H;
    const size_t T = (size_t)d->Tcap, S = (size_t)d->Scap, NB = (size_t)d->max_batch;
    const size_t N = NB * T, RE = d->rows_e_cap, R = (size_t)d->max_rows;
    const size_t NL = (size_t)d->n_layers;
    bool ok = true;
    for (size_t l = 0; l < NL; l++) {
        std_act *a = &w->act[l];
        a->a1 = zalloc(N * D, &ok);
        a->mean1 = zalloc(N, &ok);
        a->rstd1 = zalloc(N, &ok);
        a->sc.q = zalloc(N * D, &ok);
        a->sc.k = zalloc(N * D, &ok);
        a->sc.v = zalloc(N * D, &ok);
        a->sc.p = zalloc(NB * H * T * T, &ok);
        a->sc.c = zalloc(N * D, &ok);
        a->x1 = zalloc(N * D, &ok);
        a->ac = zalloc(N * D, &ok);
        a->meanc = zalloc(N, &ok);
        a->rstdc = zalloc(N, &ok);
        a->cc.q = zalloc(N * D, &ok);
        a->cc.k = zalloc(RE * D, &ok);
        a->cc.v = zalloc(RE * D, &ok);
        a->cc.p = zalloc(NB * H * T * S, &ok);
        a->cc.c = zalloc(N * D, &ok);
        a->x2 = zalloc(N * D, &ok);
        a->a2 = zalloc(N * D, &ok);
        a->mean2 = zalloc(N, &ok);
        a->rstd2 = zalloc(N, &ok);
        a->ffh = zalloc(N * F, &ok);
        a->ffa = zalloc(N * F, &ok);
    }
    w->tmp = zalloc(N * D, &ok);
    if (d->training) {
        w->dA = zalloc(N * D, &ok);
        w->dff = zalloc(N * F, &ok);
        w->ss.dc = zalloc(N * D, &ok);
        w->ss.dq = zalloc(N * D, &ok);
        w->ss.dk = zalloc(N * D, &ok);
        w->ss.dv = zalloc(N * D, &ok);
        w->ss.dp = zalloc(NB * T, &ok);
        w->cs.dc = zalloc(N * D, &ok);
        w->cs.dq = zalloc(N * D, &ok);
        w->cs.dk = zalloc(RE * D, &ok);
        w->cs.dv = zalloc(RE * D, &ok);
        w->cs.dp = zalloc(NB * S, &ok);
    }
    w->kv[0] = zalloc(NL * 2 * R * T * D, &ok);
    w->kv[1] = zalloc(NL * 2 * R * T * D, &ok);
    w->ck = zalloc(NL * S * D, &ok);
    w->cv = zalloc(NL * S * D, &ok);
    w->sa = zalloc(R * D, &ok);
    w->sm = zalloc(R * D, &ok);
    w->sh = zalloc(2 * R, &ok);
    w->sffh = zalloc(R * F, &ok);
    w->sffa = zalloc(R * F, &ok);
    w->scr = zalloc(4 * R * D + H * (T > S ? T : S), &ok);
    if (!ok) {
        es_s2s_std_ws_free(w);
        return es_errf(err, ES_ERR_NOMEM, "seq2seq workspace: out of memory (standard decoder, "
                       "batch %d, rows %d)", d->max_batch, d->max_rows);
    }
    *out = w;
    return ES_OK;
}

/* Zeroes rows t >= len[b] of x ((B, T) rows of D floats). */
static void zero_pads(float *x, int B, int T, const int *len, int D) {
    for (int b = 0; b < B; b++)
        if (len[b] < T)
            memset(x + ((size_t)b * T + (size_t)len[b]) * (size_t)D, 0,
                   (size_t)(T - len[b]) * (size_t)D * sizeof(float));
}

/* ---- teacher forcing ---------------------------------------------------------- */

void es_s2s_std_layer_forward(es_s2s_std_ws *w, int l, es_pool *pool, float *xo, const float *xin,
                              const float *enc, const es_s2s_std_lw *lw, int B, int T,
                              const int *len, const es_seq *se) {
    const es_s2s_std_dims *d = &w->d;
    const int D = d->D, F = d->F, N = B * T;
    const size_t ND = (size_t)N * (size_t)D;
    std_act *a = &w->act[l];
    es_sattn_shape ssh = {B, T, len, NULL, D, D, d->H};
    es_sattn_shape csh = {B, T, len, se, D, d->De, d->H};
    /* x1 = x + SelfAttn(LN1(x)) */
    es_layernorm_forward(pool, a->a1, a->mean1, a->rstd1, xin, lw->ln1_g, lw->ln1_b, N, D,
                         ES_LAYERNORM_EPS);
    zero_pads(a->a1, B, T, len, D);
    es_sattn_forward(pool, w->tmp, &a->sc, a->a1, NULL, &lw->self, &ssh);
    for (size_t i = 0; i < ND; i++) a->x1[i] = xin[i] + w->tmp[i];
    /* x2 = x1 + CrossAttn(LN_c(x1), enc) */
    es_layernorm_forward(pool, a->ac, a->meanc, a->rstdc, a->x1, lw->lnc_g, lw->lnc_b, N, D,
                         ES_LAYERNORM_EPS);
    zero_pads(a->ac, B, T, len, D);
    es_sattn_forward(pool, w->tmp, &a->cc, a->ac, enc, &lw->cross, &csh);
    for (size_t i = 0; i < ND; i++) a->x2[i] = a->x1[i] + w->tmp[i];
    /* xo = x2 + FFN(LN2(x2)) */
    es_layernorm_forward(pool, a->a2, a->mean2, a->rstd2, a->x2, lw->ln2_g, lw->ln2_b, N, D,
                         ES_LAYERNORM_EPS);
    zero_pads(a->a2, B, T, len, D);
    es_ffn_forward(pool, w->tmp, a->ffh, a->ffa, a->a2, lw->f1_w, lw->f1_b, lw->f2_w, lw->f2_b, N,
                   D, F);
    zero_pads(w->tmp, B, T, len, D);
    for (size_t i = 0; i < ND; i++) xo[i] = a->x2[i] + w->tmp[i];
}

void es_s2s_std_layer_backward(es_s2s_std_ws *w, int l, es_pool *pool, float *dx, float *denc,
                               const es_s2s_std_lg *g, const float *xin, const float *enc,
                               const es_s2s_std_lw *lw, int B, int T, const int *len,
                               const es_seq *se) {
    const es_s2s_std_dims *d = &w->d;
    const int D = d->D, F = d->F, N = B * T;
    std_act *a = &w->act[l];
    es_sattn_shape ssh = {B, T, len, NULL, D, D, d->H};
    es_sattn_shape csh = {B, T, len, se, D, d->De, d->H};
    /* xo = x2 + FFN(LN2(x2)): dx2 = dxo + LN2ᵀ(FFNᵀ(dxo)) (in place in dx) */
    es_ffn_backward(pool, w->dA, 0, g->f1_w, g->f1_b, g->f2_w, g->f2_b, dx, a->a2, a->ffh, a->ffa,
                    lw->f1_w, lw->f2_w, N, D, F, w->dff);
    zero_pads(w->dA, B, T, len, D);
    es_layernorm_backward(pool, dx, 1, g->ln2_g, g->ln2_b, w->dA, a->x2, a->mean2, a->rstd2,
                          lw->ln2_g, N, D);
    /* x2 = x1 + Cross(LN_c(x1)): dx1 = dx2 + LN_cᵀ(Crossᵀ(dx2)); denc += */
    es_sattn_backward(pool, w->dA, 0, denc, 1, &g->cross, dx, &a->cc, a->ac, enc, &lw->cross,
                      &csh, &w->cs);
    zero_pads(w->dA, B, T, len, D);
    es_layernorm_backward(pool, dx, 1, g->lnc_g, g->lnc_b, w->dA, a->x1, a->meanc, a->rstdc,
                          lw->lnc_g, N, D);
    /* x1 = x + Self(LN1(x)): dx = dx1 + LN1ᵀ(Selfᵀ(dx1)) */
    es_sattn_backward(pool, w->dA, 0, NULL, 0, &g->self, dx, &a->sc, a->a1, NULL, &lw->self, &ssh,
                      &w->ss);
    zero_pads(w->dA, B, T, len, D);
    es_layernorm_backward(pool, dx, 1, g->ln1_g, g->ln1_b, w->dA, xin, a->mean1, a->rstd1,
                          lw->ln1_g, N, D);
}

/* ---- step-wise decoding ------------------------------------------------------------ */

/* Layer l's self-attention K (which = 0) or V (1) cache in buffer buf. */
static float *self_cache(const es_s2s_std_ws *w, int buf, int l, int which) {
    const size_t per = (size_t)w->d.max_rows * (size_t)w->d.Tcap * (size_t)w->d.D;
    return w->kv[buf] + ((size_t)l * 2 + (size_t)which) * per;
}

void es_s2s_std_prime_layer(es_s2s_std_ws *w, int l, es_pool *pool, const float *enc, int Le,
                            const es_s2s_std_lw *lw) {
    const es_s2s_std_dims *d = &w->d;
    const size_t off = (size_t)l * (size_t)d->Scap * (size_t)d->D;
    es_sattn_memory(pool, w->ck + off, w->cv + off, enc, Le, d->De, d->D, &lw->cross);
    w->Le = Le;
    w->npos = 0;
}

void es_s2s_std_layer_step(es_s2s_std_ws *w, int l, es_pool *pool, float *x,
                           const es_s2s_std_lw *lw, int n, int pos) {
    const es_s2s_std_dims *d = &w->d;
    const int D = d->D, F = d->F, H = d->H;
    const size_t nD = (size_t)n * (size_t)D, off = (size_t)l * (size_t)d->Scap * (size_t)D;
    es_layernorm_forward(pool, w->sa, w->sh, w->sh + n, x, lw->ln1_g, lw->ln1_b, n, D,
                         ES_LAYERNORM_EPS);
    es_sattn_self_step(pool, w->sm, self_cache(w, 0, l, 0), self_cache(w, 0, l, 1),
                       d->Tcap, w->sa, &lw->self, n, pos, D, H, w->scr);
    for (size_t i = 0; i < nD; i++) x[i] = x[i] + w->sm[i];
    es_layernorm_forward(pool, w->sa, w->sh, w->sh + n, x, lw->lnc_g, lw->lnc_b, n, D,
                         ES_LAYERNORM_EPS);
    es_sattn_cross_step(pool, w->sm, w->sa, w->ck + off, w->cv + off, w->Le, &lw->cross, n, D, H,
                        w->scr);
    for (size_t i = 0; i < nD; i++) x[i] = x[i] + w->sm[i];
    es_layernorm_forward(pool, w->sa, w->sh, w->sh + n, x, lw->ln2_g, lw->ln2_b, n, D,
                         ES_LAYERNORM_EPS);
    es_ffn_forward(pool, w->sm, w->sffh, w->sffa, w->sa, lw->f1_w, lw->f1_b, lw->f2_w, lw->f2_b, n,
                   D, F);
    for (size_t i = 0; i < nD; i++) x[i] = x[i] + w->sm[i];
}

void es_s2s_std_step_done(es_s2s_std_ws *w, int pos) { w->npos = pos + 1; }

int es_s2s_std_next_pos(const es_s2s_std_ws *w) { return w->npos; }

void es_s2s_std_reorder(es_s2s_std_ws *w, const int32_t *parent, int n) {
    const es_s2s_std_dims *d = &w->d;
    /* only the stepped positions of each row are live; the other buffer
     * holds the parents that are overwritten */
    const size_t live = (size_t)w->npos * (size_t)d->D, row = (size_t)d->Tcap * (size_t)d->D;
    for (int l = 0; l < d->n_layers; l++)
        for (int which = 0; which < 2; which++)
            es_gather_rows(self_cache(w, 0, l, which), row * sizeof(float), live * sizeof(float),
                           self_cache(w, 1, l, which), parent, n);
}
