/*
 * Finite-difference check of the merged-attention sublayer (src/nn/matt.c):
 * gradients w.r.t. the decoder input x, the encoder rows, and W_q, W_k,
 * W_v, W_u, W_o, on a batch mixing decoder lengths {5, 3, 1, 0, 4} with
 * encoder lengths {4, 0, 2, 0, 1} (an empty encoder: cross term = 0) in a
 * seq.h layout with margins, 2 heads.
 */
#include "gradcheck.h"

#include "nn/matt.h"

#include <stdlib.h>

static unsigned g_seed = 777;
static float *fnew(size_t n, float lo, float hi) {
    float *p = calloc(n ? n : 1, sizeof(float));
    gc_fill(p, n, &g_seed, lo, hi);
    return p;
}
static float *znew(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

enum { B = 5, T = 5, ST = 4, M = 1, D = 8, DE = 6, H = 2 };
static int dlen[B] = {5, 3, 1, 0, 4};
static int elen[B] = {4, 0, 2, 0, 1};

typedef struct ctx {
    es_seq se;
    es_matt_shape sh;
    es_matt_cache c;
    float *x, *enc, *wq, *wk, *wv, *wu, *wo, *y, *r;
} ctx;

static double loss(void *p) {
    ctx *k = p;
    es_matt_w w = {k->wq, k->wk, k->wv, k->wu, k->wo};
    es_matt_forward(NULL, k->y, &k->c, k->x, k->enc, &w, &k->sh);
    return gc_dot(k->y, k->r, (size_t)B * T * D);
}

int main(void) {
    ctx k;
    memset(&k, 0, sizeof k);
    k.se = es_seq_make(B, ST, M, elen);
    k.sh = (es_matt_shape){B, T, dlen, &k.se, D, DE, H};
    size_t N = (size_t)B * T, re = es_seq_rows(&k.se);
    k.x = fnew(N * D, -1, 1);
    k.enc = fnew(re * DE, -1, 1);
    es_seq_zero_pads(&k.se, k.enc, DE, DE);
    k.wq = fnew(D * D, -0.8f, 0.8f);
    k.wk = fnew(D * DE, -0.8f, 0.8f);
    k.wv = fnew(D * DE, -0.8f, 0.8f);
    k.wu = fnew(D * D, -0.8f, 0.8f);
    k.wo = fnew(D * D, -0.8f, 0.8f);
    k.y = znew(N * D);
    k.r = fnew(N * D, -1, 1);
    for (int b = 0; b < B; b++)
        for (int t = dlen[b]; t < T; t++) memset(k.r + ((size_t)b * T + t) * D, 0, D * sizeof(float));
    k.c.q = znew(N * D);
    k.c.k = znew(re * D);
    k.c.v = znew(re * D);
    k.c.p = znew((size_t)B * H * T * ST);
    k.c.vu = znew(N * D);
    k.c.z = znew(N * D);
    es_matt_scratch s = {znew(N * D), znew(N * D), znew(N * D), znew(re * D), znew(re * D),
                         znew((size_t)B * ST)};
    float *dx = znew(N * D), *denc = znew(re * DE);
    float *gq = znew(D * D), *gk = znew(D * DE), *gv = znew(D * DE), *gu = znew(D * D),
          *go = znew(D * D);
    es_matt_g g = {gq, gk, gv, gu, go};
    loss(&k);
    es_matt_w w = {k.wq, k.wk, k.wv, k.wu, k.wo};
    es_matt_backward(NULL, dx, 0, denc, 0, &g, k.r, &k.c, k.x, k.enc, &w, &k.sh, &s);

    /* pad rows of y must be exactly zero */
    int pad_ok = 1;
    for (int b = 0; b < B; b++)
        for (int t = dlen[b]; t < T; t++)
            for (int i = 0; i < D; i++) pad_ok &= k.y[((size_t)b * T + t) * D + i] == 0.0f;
    CHECK(pad_ok, "pad rows of the output are not zero");

    /* valid element masks: decoder rows t < len, encoder valid rows */
    unsigned char *vx = calloc(N * D, 1), *ve = calloc(re * DE, 1);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < dlen[b]; t++) memset(vx + ((size_t)b * T + t) * D, 1, D);
        for (int t = 0; t < elen[b]; t++) memset(ve + es_seq_row(&k.se, b, t) * DE, 1, DE);
    }
    gc_valid = vx;
    gc_check("matt dx", loss, &k, k.x, dx, N * D, 1e-2f, 1000);
    gc_valid = ve;
    gc_check("matt denc", loss, &k, k.enc, denc, re * DE, 1e-2f, 1000);
    gc_valid = NULL;
    gc_check("matt dWq", loss, &k, k.wq, gq, D * D, 1e-2f, 1000);
    gc_check("matt dWk", loss, &k, k.wk, gk, D * DE, 1e-2f, 1000);
    gc_check("matt dWv", loss, &k, k.wv, gv, D * DE, 1e-2f, 1000);
    gc_check("matt dWu", loss, &k, k.wu, gu, D * D, 1e-2f, 1000);
    gc_check("matt dWo", loss, &k, k.wo, go, D * D, 1e-2f, 1000);
    /* gradients on invalid rows must be zero (they are outside the domain) */
    int zero_ok = 1;
    for (size_t i = 0; i < N * D; i++) if (!vx[i]) zero_ok &= dx[i] == 0.0f;
    for (size_t i = 0; i < re * DE; i++) if (!ve[i]) zero_ok &= denc[i] == 0.0f;
    CHECK(zero_ok, "gradient on pad rows is not zero");

    free(vx); free(ve);
    free(k.x); free(k.enc); free(k.wq); free(k.wk); free(k.wv); free(k.wu); free(k.wo);
    free(k.y); free(k.r); free(k.c.q); free(k.c.k); free(k.c.v); free(k.c.p); free(k.c.vu);
    free(k.c.z); free(s.dz); free(s.dvu); free(s.dq); free(s.dk); free(s.dv); free(s.dp);
    free(dx); free(denc); free(gq); free(gk); free(gv); free(gu); free(go);
    TEST_MAIN_END();
}
