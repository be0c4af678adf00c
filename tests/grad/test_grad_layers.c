/*
 * Finite-difference checks of every src/nn layer used by the byte models:
 * linear, conv1d (causal and anti-causal over the seq.h margin layout),
 * embedding, GBST, QRNN fo-pooling (both directions, zoneout in training
 * and its expectation in eval), attention pooling, dropout, and the
 * softmax / binary cross-entropy losses. Sequence batches mix a full, a
 * partial, a length-1 and an empty sequence.
 */
#include "gradcheck.h"

#include "core/rng.h"
#include "nn/attnpool.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/gbst.h"
#include "nn/linear.h"
#include "nn/qrnn.h"
#include "nn/seq.h"
#include "train/loss.h"

#include <stdlib.h>
#include <string.h>

static unsigned g_seed = 12345;
static float *fnew(size_t n, float lo, float hi) {
    float *p = calloc(n ? n : 1, sizeof(float));
    gc_fill(p, n, &g_seed, lo, hi);
    return p;
}
static float *znew(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* ---- linear ---- */
typedef struct { float *x, *W, *b, *y, *r; int N, in, out; } lin_ctx;
static double lin_loss(void *c) {
    lin_ctx *k = c;
    es_linear_forward(NULL, k->y, k->x, k->W, k->b, k->N, k->in, k->out);
    return gc_dot(k->y, k->r, (size_t)k->N * k->out);
}
static void test_linear(void) {
    lin_ctx k = {0};
    k.N = 7; k.in = 5; k.out = 4;
    k.x = fnew(35, -1, 1); k.W = fnew(20, -1, 1); k.b = fnew(4, -1, 1);
    k.y = znew(28); k.r = fnew(28, -1, 1);
    float *dx = znew(35), *dW = znew(20), *db = znew(4);
    es_linear_backward(NULL, dx, 0, dW, db, k.r, k.x, k.W, k.N, k.in, k.out);
    gc_check("linear dx", lin_loss, &k, k.x, dx, 35, 1e-2f, 1000);
    gc_check("linear dW", lin_loss, &k, k.W, dW, 20, 1e-2f, 1000);
    gc_check("linear db", lin_loss, &k, k.b, db, 4, 1e-2f, 1000);
    free(k.x); free(k.W); free(k.b); free(k.y); free(k.r); free(dx); free(dW); free(db);
}

/* ---- conv1d over a padded batch ---- */
static int lens4[4] = {9, 4, 1, 0};
typedef struct { float *x, *W, *b, *y, *r; es_seq s; int k, in, out, shift; } conv_ctx;
static double conv_loss(void *c) {
    conv_ctx *k = c;
    size_t rows = es_seq_rows(&k->s);
    es_conv1d_forward(NULL, k->y, k->x, k->W, k->b, (size_t)k->s.m, rows - (size_t)k->s.m,
                      k->shift, k->k, k->in, k->out);
    es_seq_zero_pads(&k->s, k->y, k->out, k->out);
    return gc_dot(k->y, k->r, rows * (size_t)k->out);
}
static void test_conv(int anti) {
    conv_ctx k = {0};
    k.k = 3; k.in = 4; k.out = 3; k.shift = anti ? 0 : -(k.k - 1);
    k.s = es_seq_make(4, 9, 2, lens4);
    size_t rows = es_seq_rows(&k.s);
    k.x = fnew(rows * 4, -1, 1);
    es_seq_zero_pads(&k.s, k.x, 4, 4);
    k.W = fnew(3 * 3 * 4, -1, 1); k.b = fnew(3, -1, 1);
    k.y = znew(rows * 3); k.r = fnew(rows * 3, -1, 1);
    es_seq_zero_pads(&k.s, k.r, 3, 3); /* dy is zero on pads by contract */
    float *dx = znew(rows * 4), *dW = znew(36), *db = znew(3);
    es_conv1d_backward(NULL, dx, dW, db, k.r, k.x, k.W, (size_t)k.s.m, rows - (size_t)k.s.m,
                       k.shift, k.k, k.in, k.out);
    es_seq_zero_pads(&k.s, dx, 4, 4);
    /* perturb only valid rows: pads are zero by invariant */
    unsigned char *xv = calloc(rows * 4, 1);
    for (int b = 0; b < 4; b++)
        for (int t = 0; t < lens4[b]; t++) memset(xv + es_seq_row(&k.s, b, t) * 4, 1, 4);
    gc_valid = xv;
    gc_check(anti ? "conv anti-causal dx" : "conv causal dx", conv_loss, &k, k.x, dx, rows * 4,
             1e-2f, 2000);
    gc_valid = NULL;
    gc_check(anti ? "conv anti-causal dW" : "conv causal dW", conv_loss, &k, k.W, dW, 36, 1e-2f,
             1000);
    gc_check("conv db", conv_loss, &k, k.b, db, 3, 1e-2f, 100);
    free(xv); free(k.x); free(k.W); free(k.b); free(k.y); free(k.r); free(dx); free(dW); free(db);
}

/* ---- embedding ---- */
typedef struct { float *E, *y, *r; int32_t *ids; size_t n; int D; } emb_ctx;
static double emb_loss(void *c) {
    emb_ctx *k = c;
    es_embedding_forward(k->y, k->E, k->ids, k->n, k->D);
    return gc_dot(k->y, k->r, k->n * (size_t)k->D);
}
static void test_embedding(void) {
    emb_ctx k = {0};
    k.n = 12; k.D = 3;
    int32_t ids[12] = {0, 5, 5, -1, 2, 7, 0, -1, 5, 3, 3, 1};
    k.ids = ids;
    k.E = fnew(8 * 3, -1, 1); k.y = znew(36); k.r = fnew(36, -1, 1);
    float *dE = znew(24);
    es_embedding_backward(NULL, dE, k.r, k.ids, k.n, k.D);
    gc_check("embedding dE", emb_loss, &k, k.E, dE, 24, 1e-2f, 100);
    free(k.E); free(k.y); free(k.r); free(dE);
}

/* ---- GBST ---- */
typedef struct { float *C, *u, *c0, *y, *r, *cand, *alpha; es_seq si, so; int D, M, rr; } gbst_ctx;
static double gbst_loss(void *c) {
    gbst_ctx *k = c;
    es_gbst_forward(NULL, k->y, k->cand, k->alpha, k->C, k->u, k->c0[0], &k->si, &k->so, k->D,
                    k->M, k->rr);
    return gc_dot(k->y, k->r, es_seq_rows(&k->so) * (size_t)k->D);
}
static void test_gbst(int M, int r) {
    gbst_ctx k = {0};
    static int li[4] = {11, 6, 1, 0};
    static int lo[4];
    k.D = 4; k.M = M; k.rr = r;
    for (int b = 0; b < 4; b++) lo[b] = (li[b] + r - 1) / r;
    k.si = es_seq_make(4, 11, 1, li);
    k.so = es_seq_make(4, (11 + r - 1) / r, 1, lo);
    size_t ri = es_seq_rows(&k.si), ro = es_seq_rows(&k.so);
    k.C = fnew(ri * 4, -1, 1);
    es_seq_zero_pads(&k.si, k.C, 4, 4);
    k.u = fnew(4, -1.5f, 1.5f); k.c0 = fnew(1, -1, 1);
    k.y = znew(ro * 4); k.r = fnew(ro * 4, -1, 1);
    es_seq_zero_pads(&k.so, k.r, 4, 4);
    k.cand = znew((size_t)M * ri * 4); k.alpha = znew(ri * (size_t)M);
    gbst_loss(&k);
    float *dC = znew(ri * 4), *du = znew(4), *dc0 = znew(1);
    float *dX = znew(ri * 4), *ds = znew(ri * (size_t)M), *part = znew(4 * 5);
    es_gbst_backward(NULL, dC, du, dc0, k.r, k.cand, k.alpha, k.u, &k.si, &k.so, k.D, M, r, dX,
                     ds, part);
    char name[64];
    snprintf(name, sizeof name, "gbst M=%d r=%d dC", M, r);
    gc_check(name, gbst_loss, &k, k.C, dC, ri * 4, 1e-2f, 2000);
    snprintf(name, sizeof name, "gbst M=%d r=%d du", M, r);
    if (M > 1)
        gc_check(name, gbst_loss, &k, k.u, du, 4, 1e-2f, 100);
    else /* one candidate: α = 1 whatever the score, so the score map gets 0 */
        CHECK(du[0] == 0 && du[1] == 0 && du[2] == 0 && du[3] == 0, "%s not zero", name);
    if (M > 1) {
        snprintf(name, sizeof name, "gbst M=%d r=%d dc0", M, r);
        /* c0 shifts every score equally: the softmax cancels it, true gradient 0 */
        CHECK(fabsf(dc0[0]) < 1e-5f, "%s = %g, expected 0", name, (double)dc0[0]);
    }
    free(k.C); free(k.u); free(k.c0); free(k.y); free(k.r); free(k.cand); free(k.alpha);
    free(dC); free(du); free(dc0); free(dX); free(ds); free(part);
}

/* ---- QRNN pooling ---- */
typedef struct { float *G0, *G, *c, *h, *r; uint8_t *zm; es_seq s; int H, rev, train; float p; } q_ctx;
static double q_loss(void *cx) {
    q_ctx *k = cx;
    size_t rows = es_seq_rows(&k->s);
    memcpy(k->G, k->G0, rows * 3 * (size_t)k->H * sizeof(float));
    es_rng rng;
    es_rng_seed(&rng, 99);
    es_qrnn_forward(NULL, k->h, k->H, k->G, k->c, k->zm, &k->s, k->H, k->rev, k->p, k->train, &rng);
    return gc_dot(k->h, k->r, rows * (size_t)k->H);
}
static void test_qrnn(int rev, int train, float p) {
    q_ctx k = {0};
    k.H = 3; k.rev = rev; k.train = train; k.p = p;
    k.s = es_seq_make(4, 9, 1, lens4);
    size_t rows = es_seq_rows(&k.s);
    k.G0 = fnew(rows * 9, -2, 2); k.G = znew(rows * 9); k.c = znew(rows * 3);
    k.h = znew(rows * 3); k.r = fnew(rows * 3, -1, 1);
    es_seq_zero_pads(&k.s, k.r, 3, 3);
    k.zm = calloc(rows * 3, 1);
    q_loss(&k);
    int nmask = 0;
    for (size_t i = 0; i < rows * 3; i++) nmask += k.zm[i];
    if (train && p > 0) CHECK(nmask > 0, "zoneout drew no mask");
    float *dG = znew(rows * 9);
    es_qrnn_backward(NULL, dG, k.r, k.H, k.G, k.c, k.zm, &k.s, k.H, k.rev, k.p, k.train);
    char name[64];
    snprintf(name, sizeof name, "qrnn %s %s p=%.1f", rev ? "bwd" : "fwd", train ? "train" : "eval",
             (double)p);
    gc_check(name, q_loss, &k, k.G0, dG, rows * 9, 1e-2f, 2000);
    free(k.G0); free(k.G); free(k.c); free(k.h); free(k.r); free(k.zm); free(dG);
}

/* ---- attention pooling ---- */
typedef struct { float *x, *w, *y, *a, *r; es_seq s; int D; } ap_ctx;
static double ap_loss(void *c) {
    ap_ctx *k = c;
    es_attnpool_forward(NULL, k->y, k->a, k->x, k->w, &k->s, k->D);
    return gc_dot(k->y, k->r, (size_t)k->s.B * (size_t)k->D);
}
static void test_attnpool(void) {
    ap_ctx k = {0};
    k.D = 5;
    k.s = es_seq_make(4, 9, 1, lens4);
    size_t rows = es_seq_rows(&k.s);
    k.x = fnew(rows * 5, -1, 1);
    es_seq_zero_pads(&k.s, k.x, 5, 5);
    k.w = fnew(5, -1, 1); k.y = znew(20); k.a = znew(rows); k.r = fnew(20, -1, 1);
    ap_loss(&k);
    float *dx = znew(rows * 5), *dw = znew(5), *part = znew(20);
    es_attnpool_backward(NULL, dx, dw, k.r, k.a, k.x, k.w, &k.s, k.D, part);
    gc_check("attnpool dx", ap_loss, &k, k.x, dx, rows * 5, 1e-2f, 2000);
    gc_check("attnpool dw", ap_loss, &k, k.w, dw, 5, 1e-2f, 100);
    free(k.x); free(k.w); free(k.y); free(k.a); free(k.r); free(dx); free(dw); free(part);
}

/* ---- dropout ---- */
typedef struct { float *x, *y, *r; uint8_t *mask; size_t n; float p; } do_ctx;
static double do_loss(void *c) {
    do_ctx *k = c;
    memcpy(k->y, k->x, k->n * sizeof(float));
    es_rng rng;
    es_rng_seed(&rng, 5);
    es_dropout_forward(k->y, k->mask, k->n, k->p, &rng);
    return gc_dot(k->y, k->r, k->n);
}
static void test_dropout(void) {
    do_ctx k = {0};
    k.n = 200; k.p = 0.3f;
    k.x = fnew(200, -1, 1); k.y = znew(200); k.r = fnew(200, -1, 1);
    k.mask = calloc(200, 1);
    do_loss(&k);
    int kept = 0;
    for (int i = 0; i < 200; i++) kept += k.mask[i];
    CHECK(kept > 110 && kept < 170, "dropout kept %d of 200 at p=0.3", kept);
    float *d = znew(200);
    memcpy(d, k.r, 200 * sizeof(float));
    es_dropout_backward(d, k.mask, 200, k.p);
    gc_check("dropout dx", do_loss, &k, k.x, d, 200, 1e-2f, 1000);
    free(k.x); free(k.y); free(k.r); free(k.mask); free(d);
}

/* ---- losses ---- */
typedef struct { float *x; int32_t *t; float *yb; int N, V; } ce_ctx;
static double ce_loss(void *c) {
    ce_ctx *k = c;
    return es_softmax_ce(NULL, k->x, k->t, k->N, k->V, -100, 1.0f, NULL, NULL);
}
static double bce_loss(void *c) {
    ce_ctx *k = c;
    return es_bce_logits(NULL, k->x, k->yb, (size_t)k->N * (size_t)k->V, 1.0f);
}
static void test_losses(void) {
    ce_ctx k = {0};
    k.N = 5; k.V = 4;
    int32_t t[5] = {0, 3, -100, 2, 1};
    k.t = t;
    k.x = fnew(20, -3, 3);
    float *dx = znew(20);
    int cnt = 0, bad = 0;
    double l = es_softmax_ce(dx, k.x, k.t, k.N, k.V, -100, 1.0f, &cnt, &bad);
    CHECK(cnt == 4 && bad == 0, "ce counted %d bad %d", cnt, bad);
    CHECK(l > 0, "ce loss %g", l);
    for (int v = 0; v < 4; v++) CHECK(dx[2 * 4 + v] == 0.0f, "ignored row has gradient");
    gc_check("softmax CE dlogits", ce_loss, &k, k.x, dx, 20, 1e-2f, 100);
    /* exact value: uniform logits → log V */
    float z[4] = {0, 0, 0, 0};
    int32_t t0 = 1;
    double lu = es_softmax_ce(NULL, z, &t0, 1, 4, -100, 1.0f, NULL, NULL);
    CHECK(fabs(lu - log(4.0)) < 1e-12, "CE of uniform logits %.15g vs log 4", lu);
    k.yb = fnew(20, 0, 1);
    es_bce_logits(dx, k.x, k.yb, 20, 1.0f);
    gc_check("BCE dlogits", bce_loss, &k, k.x, dx, 20, 1e-2f, 100);
    float big[2] = {100.0f, -100.0f}, yy[2] = {1.0f, 0.0f};
    double lb = es_bce_logits(NULL, big, yy, 2, 1.0f);
    CHECK(lb >= 0 && lb < 1e-40 + 1e-43, "BCE saturates without overflow: %g", lb);
    free(k.x); free(k.yb); free(dx);
}

int main(void) {
    test_linear();
    test_conv(0);
    test_conv(1);
    test_embedding();
    test_gbst(4, 1);
    test_gbst(3, 2);
    test_gbst(1, 3);
    test_qrnn(0, 0, 0.0f);
    test_qrnn(1, 0, 0.0f);
    test_qrnn(0, 1, 0.3f);
    test_qrnn(1, 1, 0.3f);
    test_qrnn(0, 0, 0.3f);
    test_attnpool();
    test_dropout();
    test_losses();
    TEST_MAIN_END();
}
