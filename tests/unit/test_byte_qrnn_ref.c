/*
 * test_byte_qrnn_ref.c — ByteQRNN eval forward (es_byte_forward: table
 * front end, vectorised gates, sliding-window GEMMs) against a direct
 * double-precision implementation of the equations in byte_internal.h,
 * gbst.h and qrnn.h written here from scratch: per-position embedding,
 * bottleneck, conv by explicit taps, block means, softmax over widths,
 * down-sampling, both QRNN scans, attention pooling, head. Also: the
 * same logits from a reused workspace after the weights changed (the
 * front-end tables must be rebuilt), for 1 and 2 threads, bit for bit.
 */
#include "core/pool.h"
#include "core/rng.h"
#include "model/byte_model.h"
#include "nn/params.h"

#include "test.h"

#include <stdint.h>

typedef struct refm {
    const es_byte_config *c;
    const es_params *ps;
} refm;

static const float *P(const refm *r, const char *name) {
    int i = es_params_find(r->ps, name);
    REQUIRE(i >= 0, "tensor %s", name);
    return es_params_data(r->ps, i);
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* logits (n_labels) of one input of n bytes, eval mode */
static void ref_forward(const refm *r, const uint8_t *bytes, int n, double *logits) {
    const es_byte_config *c = r->c;
    int D = c->d_model, E = c->d_embed ? c->d_embed : D, k0 = c->gbst_kernel, M = c->gbst_blocks;
    int rr = c->downsample, H = c->qrnn_hidden, kq = c->qrnn_kernel;
    int dirs = c->qrnn_bidirectional ? 2 : 1, De = H * dirs;
    int L = n, L1 = (L + rr - 1) / rr;
    double *u = calloc((size_t)(L + 1) * (size_t)D, sizeof(double));
    double *cc = calloc((size_t)(L + 1) * (size_t)D, sizeof(double));
    double *X = calloc((size_t)(L + 1) * (size_t)D, sizeof(double));
    int wmax = De > D ? De : D;
    double *x1 = calloc((size_t)(L1 + 1) * (size_t)wmax, sizeof(double));
    double *x2 = calloc((size_t)(L1 + 1) * (size_t)wmax, sizeof(double));
    REQUIRE(u && cc && X && x1 && x2, "out of memory");
    const float *emb = P(r, "embed.weight");
    for (int t = 0; t < L; t++) {
        const float *e = emb + (size_t)bytes[t] * (size_t)E;
        if (c->d_embed) {
            const float *Wb = P(r, "bottleneck.weight"), *bb = P(r, "bottleneck.bias");
            for (int d = 0; d < D; d++) {
                double s = bb[d];
                for (int q = 0; q < E; q++) s += (double)Wb[d * E + q] * e[q];
                u[t * D + d] = s > 0 ? s : 0;
            }
        } else {
            for (int d = 0; d < D; d++) u[t * D + d] = e[d];
        }
    }
    const float *Wc = P(r, "gbst.conv.weight"), *bc = P(r, "gbst.conv.bias");
    for (int t = 0; t < L; t++)
        for (int o = 0; o < D; o++) {
            double s = bc[o];
            for (int j = 0; j < k0; j++) {
                int ts = t - k0 + 1 + j;
                if (ts < 0) continue;
                for (int q = 0; q < D; q++) s += (double)Wc[(o * k0 + j) * D + q] * u[ts * D + q];
            }
            cc[t * D + o] = s;
        }
    const float *us = P(r, "gbst.score.weight"), *c0 = P(r, "gbst.score.bias");
    for (int t = 0; t < L; t++) {
        double sc[16], pw[16][64], mx = -1e300, z = 0;
        for (int w = 1; w <= M; w++) {
            int b0 = w * (t / w), b1 = b0 + w < L ? b0 + w : L;
            double s = c0[0];
            for (int d = 0; d < D; d++) {
                double m = 0;
                for (int q = b0; q < b1; q++) m += cc[q * D + d];
                pw[w - 1][d] = m / (b1 - b0);
                s += us[d] * pw[w - 1][d];
            }
            sc[w - 1] = s;
            mx = s > mx ? s : mx;
        }
        for (int w = 0; w < M; w++) z += exp(sc[w] - mx);
        for (int d = 0; d < D; d++) {
            double s = 0;
            for (int w = 0; w < M; w++) s += exp(sc[w] - mx) / z * pw[w][d];
            X[t * D + d] = s;
        }
    }
    for (int t = 0; t < L1; t++) {
        int a0 = t * rr, a1 = a0 + rr < L ? a0 + rr : L;
        for (int d = 0; d < D; d++) {
            double s = 0;
            for (int q = a0; q < a1; q++) s += X[q * D + d];
            x1[t * wmax + d] = s / (a1 - a0);
        }
    }
    double p = c->zoneout;
    int din = D;
    double *G = malloc((size_t)3 * (size_t)H * sizeof(double));
    for (int l = 0; l < c->qrnn_layers; l++) {
        for (int dir = 0; dir < dirs; dir++) {
            char nw[64], nb[64];
            snprintf(nw, sizeof nw, "qrnn.%d.%s.weight", l, dir ? "bwd" : "fwd");
            snprintf(nb, sizeof nb, "qrnn.%d.%s.bias", l, dir ? "bwd" : "fwd");
            const float *W = P(r, nw), *bq = P(r, nb);
            double cst[512] = {0};
            for (int s = 0; s < L1; s++) {
                int t = dir ? L1 - 1 - s : s;
                for (int o = 0; o < 3 * H; o++) {
                    double g = bq[o];
                    for (int j = 0; j < kq; j++) {
                        int ts = dir ? t + j : t - kq + 1 + j;
                        if (ts < 0 || ts >= L1) continue;
                        for (int q = 0; q < din; q++)
                            g += (double)W[(o * kq + j) * din + q] * x1[ts * wmax + q];
                    }
                    G[o] = g;
                }
                for (int i = 0; i < H; i++) {
                    double z = tanh(G[i]), f = sigm(G[H + i]), o = sigm(G[2 * H + i]);
                    if (p > 0) f = 1 - (1 - p) * (1 - f);
                    cst[i] = f * cst[i] + (1 - f) * z;
                    x2[t * wmax + dir * H + i] = o * cst[i];
                }
            }
        }
        double *tmp = x1;
        x1 = x2;
        x2 = tmp;
        din = De;
    }
    const float *pw = P(r, "pool.weight");
    double y[1024] = {0}, mx = -1e300, z = 0;
    double *a = malloc((size_t)(L1 + 1) * sizeof(double));
    for (int t = 0; t < L1; t++) {
        double s = 0;
        for (int d = 0; d < De; d++) s += pw[d] * x1[t * wmax + d];
        a[t] = s;
        mx = s > mx ? s : mx;
    }
    for (int t = 0; t < L1; t++) z += exp(a[t] - mx);
    for (int t = 0; t < L1; t++)
        for (int d = 0; d < De; d++) y[d] += exp(a[t] - mx) / z * x1[t * wmax + d];
    const float *Wh = P(r, "head.weight"), *bh = P(r, "head.bias");
    for (int o = 0; o < c->n_labels; o++) {
        double s = bh[o];
        for (int d = 0; d < De; d++) s += (double)Wh[o * De + d] * y[d];
        logits[o] = s;
    }
    free(u);
    free(cc);
    free(X);
    free(x1);
    free(x2);
    free(G);
    free(a);
}

static void run_config(const es_byte_config *c, const char *tag) {
    es_error e = {0};
    es_byte_model *m = NULL;
    REQUIRE(es_byte_model_new(&m, c, 5, &e) == ES_OK, "%s: new: %s", tag, e.msg);
    es_params *ps = es_byte_model_params(m);
    refm r = {es_byte_model_config(m), ps};
    enum { B = 5 };
    const int lens[B] = {300, 0, 1, 7, 129};
    uint8_t *buf[B];
    const uint8_t *pb[B];
    size_t pl[B];
    uint64_t st = 99;
    for (int b = 0; b < B; b++) {
        buf[b] = malloc((size_t)lens[b] + 1);
        for (int t = 0; t < lens[b]; t++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            /* mail-like: mostly printable with some high bytes */
            buf[b][t] = (uint8_t)((st >> 33) % 7 == 0 ? (st >> 40) & 0xff : 32 + (st >> 40) % 95);
        }
        pb[b] = buf[b];
        pl[b] = (size_t)lens[b];
    }
    es_pool *pool2 = NULL;
    REQUIRE(es_pool_new(&pool2, 2, &e) == ES_OK, "pool");
    es_byte_ws *ws1 = NULL, *ws2 = NULL;
    REQUIRE(es_byte_ws_new(&ws1, m, B, 512, 0, NULL, &e) == ES_OK, "ws: %s", e.msg);
    REQUIRE(es_byte_ws_new(&ws2, m, B, 512, 0, pool2, &e) == ES_OK, "ws: %s", e.msg);
    for (int round = 0; round < 2; round++) {
        float lg1[B * 8], lg2[B * 8];
        REQUIRE(es_byte_forward(ws1, m, pb, pl, B, 0, NULL, lg1, &e) == ES_OK, "fwd: %s", e.msg);
        REQUIRE(es_byte_forward(ws2, m, pb, pl, B, 0, NULL, lg2, &e) == ES_OK, "fwd: %s", e.msg);
        CHECK(memcmp(lg1, lg2, sizeof(float) * B * (size_t)c->n_labels) == 0,
              "%s round %d: 1 and 2 threads differ", tag, round);
        double worst = 0;
        for (int b = 0; b < B; b++) {
            double ref[8];
            ref_forward(&r, buf[b], lens[b], ref);
            for (int o = 0; o < c->n_labels; o++) {
                double d = fabs(lg1[b * c->n_labels + o] - ref[o]) / (1e-3 + fabs(ref[o]));
                worst = d > worst ? d : worst;
            }
        }
        printf("%s round %d: max relative logit error vs double reference %.2e\n", tag, round,
               worst);
        CHECK(worst < 2e-4, "%s round %d: logits differ from the reference (%.3g)", tag, round,
              worst);
        /* change every weight (as an optimizer step would), keep the workspaces */
        es_rng rng;
        es_rng_seed(&rng, 123);
        for (size_t i = 0; i < ps->total; i++) ps->data[i] += 0.05f * (es_rng_uniformf(&rng) - 0.5f);
    }
    es_byte_ws_free(ws1);
    es_byte_ws_free(ws2);
    es_pool_free(pool2);
    es_byte_model_free(m);
    for (int b = 0; b < B; b++) free(buf[b]);
}

int main(void) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    c.max_bytes = 512;
    c.d_model = 16;
    c.qrnn_hidden = 8;
    run_config(&c, "default-shape");
    c.d_embed = 12;
    c.gbst_kernel = 3;
    c.gbst_blocks = 3;
    c.downsample = 2;
    c.qrnn_layers = 3;
    c.qrnn_kernel = 3;
    c.n_labels = 3;
    strcpy(c.labels[2], "2");
    run_config(&c, "bottleneck");
    c.qrnn_bidirectional = 0;
    c.zoneout = 0.0f;
    c.gbst_kernel = 1;
    c.qrnn_kernel = 1;
    run_config(&c, "uni-k1");
    TEST_MAIN_END();
}
