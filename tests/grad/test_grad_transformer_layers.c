/*
 * Layers of the byte Transformer encoders: per-channel LayerNorm, the GELU
 * feed-forward block, multi-head attention (key padding, 1/√d_h, query
 * blocks, strided column slices, attention dropout), funnel query pooling
 * and learned positions. Each forward is compared with a naive
 * double-precision evaluation of its equation (an independent reference
 * for what the layer computes), each backward with central differences
 * (gradcheck.h: float forward, double loss, tolerance argued there).
 * Sequence batches mix a long (> ES_MHA_QBLOCK), a partial, a length-1 and
 * an empty sequence; funnel layouts have fewer query than key rows.
 */
#include "gradcheck.h"

#include "nn/ffn.h"
#include "nn/funnel.h"
#include "nn/layernorm.h"
#include "nn/mha.h"
#include "nn/posenc.h"
#include "nn/seq.h"

#include <stdlib.h>
#include <string.h>

static unsigned g_seed = 4242;
static float *fnew(size_t n, float lo, float hi) {
    float *p = calloc(n ? n : 1, sizeof(float));
    gc_fill(p, n, &g_seed, lo, hi);
    return p;
}
static float *znew(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* valid-element map of a seq.h buffer with D used columns of ld */
static unsigned char *valid_map(const es_seq *s, int D, int ld) {
    size_t rows = es_seq_rows(s);
    unsigned char *v = calloc(rows * (size_t)ld, 1);
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->len[b]; t++) memset(v + es_seq_row(s, b, t) * (size_t)ld, 1, (size_t)D);
    return v;
}

/* ---- LayerNorm ---- */
typedef struct { float *x, *g, *b, *y, *mean, *rstd, *r; int N, D; } ln_ctx;
static double ln_loss(void *c) {
    ln_ctx *k = c;
    es_layernorm_forward(NULL, k->y, k->mean, k->rstd, k->x, k->g, k->b, k->N, k->D,
                         ES_LAYERNORM_EPS);
    return gc_dot(k->y, k->r, (size_t)k->N * (size_t)k->D);
}
static void test_layernorm(void) {
    ln_ctx k = {0};
    k.N = 7; k.D = 6;
    size_t n = 42;
    k.x = fnew(n, -1, 1);
    for (int r = 0; r < k.N; r++) /* offsets and scales differ per row */
        for (int d = 0; d < k.D; d++) k.x[r * k.D + d] = k.x[r * k.D + d] * (0.5f + r) + (float)r - 3.0f;
    k.g = fnew(6, 0.5f, 1.5f); k.b = fnew(6, -1, 1);
    k.y = znew(n); k.mean = znew(7); k.rstd = znew(7); k.r = fnew(n, -1, 1);
    ln_loss(&k);
    double worst = 0.0;
    for (int r = 0; r < k.N; r++) {
        double mu = 0, var = 0;
        for (int d = 0; d < k.D; d++) mu += k.x[r * k.D + d];
        mu /= k.D;
        for (int d = 0; d < k.D; d++) var += (k.x[r * k.D + d] - mu) * (k.x[r * k.D + d] - mu);
        var /= k.D;
        for (int d = 0; d < k.D; d++) {
            double ref = k.g[d] * (k.x[r * k.D + d] - mu) / sqrt(var + 1e-5) + k.b[d];
            worst = fmax(worst, fabs(ref - k.y[r * k.D + d]));
        }
    }
    CHECK(worst < 2e-6, "layernorm forward vs double reference: %g", worst);
    printf("  layernorm forward max |err| vs double = %.3g\n", worst);
    float *dx = znew(n), *dg = znew(6), *db = znew(6);
    es_layernorm_backward(NULL, dx, 0, dg, db, k.r, k.x, k.mean, k.rstd, k.g, k.N, k.D);
    gc_check("layernorm dx", ln_loss, &k, k.x, dx, n, 1e-2f, 1000);
    gc_check("layernorm dg", ln_loss, &k, k.g, dg, 6, 1e-2f, 100);
    gc_check("layernorm db", ln_loss, &k, k.b, db, 6, 1e-2f, 100);
    /* acc_dx = 1 adds */
    float *dx2 = znew(n);
    for (size_t i = 0; i < n; i++) dx2[i] = 1.0f;
    es_layernorm_backward(NULL, dx2, 1, NULL, NULL, k.r, k.x, k.mean, k.rstd, k.g, k.N, k.D);
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(dx2[i] - 1.0f - dx[i]));
    CHECK(e < 1e-6, "layernorm acc_dx: %g", e);
    free(k.x); free(k.g); free(k.b); free(k.y); free(k.mean); free(k.rstd); free(k.r);
    free(dx); free(dg); free(db); free(dx2);
}

/* ---- FFN ---- */
typedef struct { float *x, *W1, *b1, *W2, *b2, *h, *a, *y, *r; int N, D, F; } ffn_ctx;
static double ffn_loss(void *c) {
    ffn_ctx *k = c;
    es_ffn_forward(NULL, k->y, k->h, k->a, k->x, k->W1, k->b1, k->W2, k->b2, k->N, k->D, k->F);
    return gc_dot(k->y, k->r, (size_t)k->N * (size_t)k->D);
}
static void test_ffn(void) {
    ffn_ctx k = {0};
    k.N = 6; k.D = 4; k.F = 7;
    k.x = fnew(24, -1.5f, 1.5f); k.W1 = fnew(28, -1, 1); k.b1 = fnew(7, -0.5f, 0.5f);
    k.W2 = fnew(28, -1, 1); k.b2 = fnew(4, -0.5f, 0.5f);
    k.h = znew(42); k.a = znew(42); k.y = znew(24); k.r = fnew(24, -1, 1);
    ffn_loss(&k);
    double worst = 0.0;
    for (int r = 0; r < k.N; r++)
        for (int o = 0; o < k.D; o++) {
            double y = k.b2[o];
            for (int f = 0; f < k.F; f++) {
                double h = k.b1[f];
                for (int i = 0; i < k.D; i++) h += (double)k.W1[f * k.D + i] * k.x[r * k.D + i];
                y += k.W2[o * k.F + f] * 0.5 * h * (1.0 + erf(h / sqrt(2.0)));
            }
            worst = fmax(worst, fabs(y - k.y[r * k.D + o]));
        }
    CHECK(worst < 1e-5, "ffn forward vs double reference: %g", worst);
    printf("  ffn forward max |err| vs double = %.3g\n", worst);
    float *dx = znew(24), *dW1 = znew(28), *db1 = znew(7), *dW2 = znew(28), *db2 = znew(4);
    float *scr = znew(42);
    es_ffn_backward(NULL, dx, 0, dW1, db1, dW2, db2, k.r, k.x, k.h, k.a, k.W1, k.W2, k.N, k.D, k.F,
                    scr);
    gc_check("ffn dx", ffn_loss, &k, k.x, dx, 24, 1e-2f, 100);
    gc_check("ffn dW1", ffn_loss, &k, k.W1, dW1, 28, 1e-2f, 100);
    gc_check("ffn db1", ffn_loss, &k, k.b1, db1, 7, 1e-2f, 100);
    gc_check("ffn dW2", ffn_loss, &k, k.W2, dW2, 28, 1e-2f, 100);
    gc_check("ffn db2", ffn_loss, &k, k.b2, db2, 4, 1e-2f, 100);
    free(k.x); free(k.W1); free(k.b1); free(k.W2); free(k.b2); free(k.h); free(k.a); free(k.y);
    free(k.r); free(dx); free(dW1); free(db1); free(dW2); free(db2); free(scr);
}

/* ---- funnel pooling ---- */
typedef struct { float *x, *y, *r; es_seq si, so; int D, w; } fp_ctx;
static double fp_loss(void *c) {
    fp_ctx *k = c;
    es_funnel_pool_forward(NULL, k->y, k->x, &k->si, &k->so, k->D, k->w);
    return gc_dot(k->y, k->r, es_seq_rows(&k->so) * (size_t)k->D);
}
static void test_funnel(int w) {
    static int li[4] = {11, 6, 1, 0};
    static int lo[4];
    fp_ctx k = {0};
    k.D = 3; k.w = w;
    es_funnel_lens(lo, li, 4, w);
    CHECK(lo[0] == (11 + w - 1) / w && lo[1] == (6 + w - 1) / w && lo[2] == 1 && lo[3] == 0,
          "funnel lens w=%d: %d %d %d %d", w, lo[0], lo[1], lo[2], lo[3]);
    k.si = es_seq_make(4, 11, 1, li); /* a margin on the input: layouts may differ */
    k.so = es_seq_make(4, (11 + w - 1) / w, 0, lo);
    size_t ri = es_seq_rows(&k.si), ro = es_seq_rows(&k.so);
    k.x = fnew(ri * 3, -1, 1);
    es_seq_zero_pads(&k.si, k.x, 3, 3);
    k.y = fnew(ro * 3, 5, 6); /* garbage: pads must come out zero */
    k.r = fnew(ro * 3, -1, 1);
    es_seq_zero_pads(&k.so, k.r, 3, 3);
    fp_loss(&k);
    double worst = 0.0;
    int pads_ok = 1;
    for (int b = 0; b < 4; b++)
        for (int t = 0; t < k.so.T; t++)
            for (int d = 0; d < 3; d++) {
                float y = k.y[es_seq_row(&k.so, b, t) * 3 + (size_t)d];
                if (t >= lo[b]) {
                    pads_ok &= y == 0.0f;
                    continue;
                }
                double s = 0;
                int n = 0;
                for (int u = t * w; u < t * w + w && u < li[b]; u++, n++)
                    s += k.x[es_seq_row(&k.si, b, u) * 3 + (size_t)d];
                worst = fmax(worst, fabs(s / n - y));
            }
    CHECK(worst < 1e-6 && pads_ok, "funnel w=%d forward: %g, pads zero %d", w, worst, pads_ok);
    float *dx = fnew(ri * 3, 5, 6);
    es_funnel_pool_backward(NULL, dx, 0, k.r, &k.si, &k.so, 3, w);
    unsigned char *v = valid_map(&k.si, 3, 3);
    int dpads = 1;
    for (size_t i = 0; i < ri * 3; i++) dpads &= v[i] || dx[i] == 0.0f;
    CHECK(dpads, "funnel backward pads not zero");
    gc_valid = v;
    char name[64];
    snprintf(name, sizeof name, "funnel pool w=%d dx", w);
    gc_check(name, fp_loss, &k, k.x, dx, ri * 3, 1e-2f, 1000);
    gc_valid = NULL;
    free(v); free(k.x); free(k.y); free(k.r); free(dx);
}

/* ---- learned positions ---- */
typedef struct { float *x, *P, *y, *r; es_seq s; int D; } pe_ctx;
static double pe_loss(void *c) {
    pe_ctx *k = c;
    es_posenc_forward(k->y, k->x, k->P, &k->s, k->D);
    return gc_dot(k->y, k->r, es_seq_rows(&k->s) * (size_t)k->D);
}
static void test_posenc(void) {
    static int li[4] = {9, 4, 1, 0};
    pe_ctx k = {0};
    k.D = 3;
    k.s = es_seq_make(4, 9, 0, li);
    size_t rows = es_seq_rows(&k.s);
    k.x = fnew(rows * 3, -1, 1);
    es_seq_zero_pads(&k.s, k.x, 3, 3);
    k.P = fnew(12 * 3, -1, 1); /* max_positions 12 > T: rows 9..11 get no gradient */
    k.y = znew(rows * 3); k.r = fnew(rows * 3, -1, 1);
    es_seq_zero_pads(&k.s, k.r, 3, 3);
    pe_loss(&k);
    CHECK(k.y[es_seq_row(&k.s, 1, 2) * 3 + 1] == k.x[es_seq_row(&k.s, 1, 2) * 3 + 1] + k.P[2 * 3 + 1],
          "posenc adds P[t]");
    float *dP = znew(36);
    es_posenc_backward(dP, k.r, &k.s, 3);
    gc_check("posenc dP", pe_loss, &k, k.P, dP, 36, 1e-2f, 100);
    free(k.x); free(k.P); free(k.y); free(k.r); free(dP);
}

/* ---- multi-head attention ---- */
typedef struct {
    es_mha a;
    float *q, *k, *v, *ctx, *lse, *r;
    int ldq, ldkv, ldc, train;
} mha_ctx;
static double mha_loss(void *c) {
    mha_ctx *k = c;
    es_mha_forward(NULL, &k->a, k->ctx, k->ldc, k->lse, k->q, k->ldq, k->k, k->v, k->ldkv,
                   k->train);
    return gc_dot(k->ctx, k->r, es_seq_rows(k->a.sq) * (size_t)k->ldc);
}

/* naive double attention (no dropout): max |ctx − ref| over valid rows */
static double mha_ref_err(const mha_ctx *k) {
    const es_mha *a = &k->a;
    double worst = 0.0, *s = malloc(sizeof(double) * (size_t)(a->sk->T + 1));
    for (int b = 0; b < a->sq->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int i = 0; i < a->sq->len[b]; i++) {
                const float *qi = k->q + es_seq_row(a->sq, b, i) * (size_t)k->ldq + h * a->dh;
                double mx = -1e300, z = 0;
                int Lk = a->sk->len[b];
                for (int j = 0; j < Lk; j++) {
                    const float *kj = k->k + es_seq_row(a->sk, b, j) * (size_t)k->ldkv + h * a->dh;
                    double d = 0;
                    for (int e = 0; e < a->dh; e++) d += (double)qi[e] * kj[e];
                    s[j] = d / sqrt((double)a->dh);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < Lk; j++) z += exp(s[j] - mx);
                for (int e = 0; e < a->dh; e++) {
                    double o = 0;
                    for (int j = 0; j < Lk; j++)
                        o += exp(s[j] - mx) / z *
                             k->v[es_seq_row(a->sk, b, j) * (size_t)k->ldkv + h * a->dh + e];
                    double got = k->ctx[es_seq_row(a->sq, b, i) * (size_t)k->ldc + h * a->dh + e];
                    worst = fmax(worst, fabs(o - got));
                }
            }
    free(s);
    return worst;
}

/* self: q, k, v are column slices of one (rows, 3D) buffer, output with
 * ld D + 1; else cross (funnel): queries pooled 2:1 from the key layout,
 * q (rows_q, D), kv (rows_k, 2D). */
static void test_mha(int self, float p, const char *tag) {
    static int lk[4] = {70, 9, 1, 0}, lq[4];
    int H = 2, dh = 3, D = H * dh, Tk = 70;
    mha_ctx k = {0};
    static es_seq sq, sk;
    sk = es_seq_make(4, Tk, 0, lk);
    if (self) {
        sq = sk;
    } else {
        es_funnel_lens(lq, lk, 4, 2);
        sq = es_seq_make(4, 35, 0, lq);
    }
    size_t rq = es_seq_rows(&sq), rk = es_seq_rows(&sk);
    float *buf = NULL, *qb = NULL, *kvb = NULL;
    if (self) {
        buf = fnew(rk * 3 * (size_t)D, -1.2f, 1.2f);
        es_seq_zero_pads(&sk, buf, 3 * D, 3 * D);
        k.q = buf; k.k = buf + D; k.v = buf + 2 * D;
        k.ldq = k.ldkv = 3 * D;
    } else {
        qb = fnew(rq * (size_t)D, -1.2f, 1.2f);
        kvb = fnew(rk * 2 * (size_t)D, -1.2f, 1.2f);
        es_seq_zero_pads(&sq, qb, D, D);
        es_seq_zero_pads(&sk, kvb, 2 * D, 2 * D);
        k.q = qb; k.k = kvb; k.v = kvb + D;
        k.ldq = D; k.ldkv = 2 * D;
    }
    k.ldc = D + 1;
    k.a.sq = &sq; k.a.sk = &sk; k.a.H = H; k.a.dh = dh; k.a.p_drop = p; k.a.seed = 0x5eed;
    k.a.n_slots = 1;
    k.a.scratch = znew(es_mha_scratch_floats(Tk, 1));
    k.ctx = fnew(rq * (size_t)k.ldc, 7, 8); /* garbage: pads must come out zero */
    k.lse = znew(4 * (size_t)H * (size_t)sq.T);
    k.r = fnew(rq * (size_t)k.ldc, -1, 1);
    es_seq_zero_pads(&sq, k.r, k.ldc, k.ldc);
    k.train = p > 0.0f;
    mha_loss(&k);
    int pads_ok = 1;
    unsigned char *vq = valid_map(&sq, D, k.ldc);
    for (size_t i = 0; i < rq * (size_t)k.ldc; i++)
        if (!vq[i] && (i % (size_t)k.ldc) < (size_t)D) pads_ok &= k.ctx[i] == 0.0f;
    CHECK(pads_ok, "%s: ctx pad rows not zero", tag);
    free(vq);
    if (p == 0.0f) {
        double e = mha_ref_err(&k);
        CHECK(e < 1e-5, "%s forward vs double reference: %g", tag, e);
        printf("  %s forward max |err| vs double = %.3g\n", tag, e);
    }
    /* analytic */
    float *dq, *dk, *dv, *dbuf = NULL, *dqb = NULL, *dkvb = NULL;
    int lddq, lddkv;
    if (self) {
        dbuf = fnew(rk * 3 * (size_t)D, 5, 6);
        dq = dbuf; dk = dbuf + D; dv = dbuf + 2 * D;
        lddq = lddkv = 3 * D;
    } else {
        dqb = fnew(rq * (size_t)D, 5, 6);
        dkvb = fnew(rk * 2 * (size_t)D, 5, 6);
        dq = dqb; dk = dkvb; dv = dkvb + D;
        lddq = D; lddkv = 2 * D;
    }
    es_mha_backward(NULL, &k.a, dq, lddq, dk, dv, lddkv, k.r, k.ldc, k.q, k.ldq, k.k, k.v, k.ldkv,
                    k.lse);
    char name[96];
    if (self) {
        unsigned char *v = valid_map(&sk, 3 * D, 3 * D);
        int dp = 1;
        for (size_t i = 0; i < rk * 3 * (size_t)D; i++) dp &= v[i] || dbuf[i] == 0.0f;
        CHECK(dp, "%s: gradient pads not zero", tag);
        gc_valid = v;
        snprintf(name, sizeof name, "%s d[q|k|v]", tag);
        gc_check(name, mha_loss, &k, buf, dbuf, rk * 3 * (size_t)D, 1e-2f, 900);
        gc_valid = NULL;
        free(v);
    } else {
        unsigned char *v = valid_map(&sq, D, D), *v2 = valid_map(&sk, 2 * D, 2 * D);
        int dp = 1;
        for (size_t i = 0; i < rq * (size_t)D; i++) dp &= v[i] || dqb[i] == 0.0f;
        for (size_t i = 0; i < rk * 2 * (size_t)D; i++) dp &= v2[i] || dkvb[i] == 0.0f;
        CHECK(dp, "%s: gradient pads not zero", tag);
        gc_valid = v;
        snprintf(name, sizeof name, "%s dq", tag);
        gc_check(name, mha_loss, &k, qb, dqb, rq * (size_t)D, 1e-2f, 400);
        gc_valid = v2;
        snprintf(name, sizeof name, "%s d[k|v]", tag);
        gc_check(name, mha_loss, &k, kvb, dkvb, rk * 2 * (size_t)D, 1e-2f, 600);
        gc_valid = NULL;
        free(v); free(v2);
    }
    free(buf); free(qb); free(kvb); free(dbuf); free(dqb); free(dkvb);
    free(k.a.scratch); free(k.ctx); free(k.lse); free(k.r);
}

/* Dropout rate and scaling: with Q = 0 (uniform P = 1/L) and V = 1, each
 * output is (1/L) Σ_j M_ij / (1 − p): its mean over many rows is 1 and
 * the fraction of kept links is 1 − p. The mask depends on the seed only. */
static void test_mha_dropout_stats(void) {
    static int len[2] = {200, 200};
    static es_seq s;
    s = es_seq_make(2, 200, 0, len);
    int H = 2, dh = 2, D = 4;
    size_t rows = es_seq_rows(&s);
    float *q = znew(rows * D), *kv = znew(rows * 2 * D), *ctx = znew(rows * D), *ctx2 = znew(rows * D);
    for (size_t r = 0; r < rows; r++)
        for (int d = 0; d < D; d++) kv[r * 2 * D + D + d] = 1.0f;
    es_mha a = {&s, &s, H, dh, 0.25f, 99, znew(es_mha_scratch_floats(200, 0)), 1};
    es_mha_forward(NULL, &a, ctx, D, NULL, q, D, kv, kv + D, 2 * D, 1);
    double mean = 0;
    for (size_t i = 0; i < rows * D; i++) mean += ctx[i];
    mean /= (double)(rows * D);
    /* 2·2·200·200 = 160,000 links: std of the mean ≈ 0.0027 */
    CHECK(fabs(mean - 1.0) < 0.015, "attention dropout mean scale %.4f (expected 1)", mean);
    es_mha_forward(NULL, &a, ctx2, D, NULL, q, D, kv, kv + D, 2 * D, 1);
    CHECK(memcmp(ctx, ctx2, rows * D * sizeof(float)) == 0, "same seed, different mask");
    a.seed = 100;
    es_mha_forward(NULL, &a, ctx2, D, NULL, q, D, kv, kv + D, 2 * D, 1);
    CHECK(memcmp(ctx, ctx2, rows * D * sizeof(float)) != 0, "other seed, same mask");
    es_mha_forward(NULL, &a, ctx2, D, NULL, q, D, kv, kv + D, 2 * D, 0);
    double e = 0;
    for (size_t i = 0; i < rows * D; i++) e = fmax(e, fabs(ctx2[i] - 1.0f));
    CHECK(e < 1e-5, "eval: no dropout (%g)", e);
    printf("  attention dropout p=0.25: mean output scale %.4f\n", mean);
    free(q); free(kv); free(ctx); free(ctx2); free(a.scratch);
}

int main(void) {
    test_layernorm();
    test_ffn();
    test_funnel(2);
    test_funnel(3);
    test_posenc();
    test_mha(1, 0.0f, "mha self");
    test_mha(0, 0.0f, "mha funnel");
    test_mha(1, 0.3f, "mha self drop");
    test_mha(0, 0.3f, "mha funnel drop");
    test_mha_dropout_stats();
    TEST_MAIN_END();
}
