/*
 * test_t5_quant.c — the reduced-precision linear layer (model/t5_linear.h)
 * and the weight quantizer (src/quant/t5_quant.h) against independent
 * double-precision formulas:
 *   - es_t5_quant_matrix: codes = rint(W/s) clamped, s = max|W_group|/127,
 *     |q·s − W| <= s/2, all-zero groups;
 *   - es_t5_linear I8 (per channel, group 8/16, K above the 2048 chunk):
 *     y = s_a·Σ_g s_w·Σ a·q from the codes of es_t5_quant_row (the scheme's
 *     reference) summed in int64 — equal within fp32 epilogue rounding;
 *     acc = 1; rows of zeros; 1 vs 3 threads bit-identical; and the
 *     quantization error against the fp32 product is small;
 *   - es_t5_linear BF16 vs a double loop over the exact bf16 values.
 */
#include "model/t5_linear.h"
#include "quant/t5_quant.h"

#include "core/pool.h"
#include "test.h"

#include <stdint.h>

static uint64_t g_state = 0x2545f4914f6cdd1dull;
static float rndf(void) {
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return (float)((double)(g_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Builds an I8 handle for W (N, K) with group G (0 = per channel). */
static void make_i8(es_t5_lin *l, int8_t *codes, float *sc, int32_t *ws, const float *W, int N,
                    int K, int G) {
    es_t5_quant_matrix(codes, sc, W, N, K, G);
    memset(l, 0, sizeof *l);
    l->kind = ES_T5_W_I8;
    l->N = N;
    l->K = K;
    l->group = G ? G : K;
    l->n_groups = K / l->group;
    l->q = codes;
    l->scale = sc;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < l->n_groups; g++) {
            int32_t s = 0;
            for (int k = 0; k < l->group; k++) s += codes[(size_t)n * K + g * l->group + k];
            ws[n * l->n_groups + g] = s;
        }
    l->wsum = ws;
}

static void check_matrix(void) {
    enum { N = 7, K = 48 };
    float W[N * K], sc[N * K];
    int8_t q[N * K];
    for (int i = 0; i < N * K; i++) W[i] = rndf() * (1 + i % 5);
    for (int k = 0; k < K; k++) W[3 * K + k] = 0.0f; /* zero row */
    const int Gs[] = {0, 16, 8};
    for (size_t gi = 0; gi < ES_ARRAY_LEN(Gs); gi++) {
        const int G = Gs[gi] ? Gs[gi] : K, NG = K / G;
        es_t5_quant_matrix(q, sc, W, N, K, Gs[gi]);
        for (int n = 0; n < N; n++)
            for (int g = 0; g < NG; g++) {
                double mx = 0;
                for (int k = 0; k < G; k++) mx = fmax(mx, fabs(W[n * K + g * G + k]));
                const double s = mx > 0 ? (float)(mx / 127.0) : 1.0;
                CHECK(sc[n * NG + g] == (float)s, "scale (%d,%d) %g vs %g", n, g, sc[n * NG + g], s);
                int maxc = 0;
                for (int k = 0; k < G; k++) {
                    const int i = n * K + g * G + k;
                    double want = fmax(-127, fmin(127, nearbyint(W[i] / (float)s)));
                    CHECK(q[i] == (int)want, "code %d: %d vs %g", i, q[i], want);
                    CHECK(fabs(q[i] * s - W[i]) <= s / 2 * (1 + 1e-6), "dequant error at %d", i);
                    maxc = abs(q[i]) > maxc ? abs(q[i]) : maxc;
                }
                CHECK(mx == 0 ? maxc == 0 : maxc == 127, "row max code %d", maxc);
            }
    }
}

/* Independent reference of the int8 linear: codes from es_t5_quant_row,
 * integer dot products in int64, scales in double. */
static void ref_i8(double *y, double *mag, const float *x, int M, const es_t5_lin *l) {
    uint8_t *a = malloc((size_t)l->K);
    for (int m = 0; m < M; m++) {
        float sa = es_t5_quant_row(a, x + (size_t)m * l->K, l->K);
        for (int n = 0; n < l->N; n++) {
            double acc = 0, am = 0;
            for (int g = 0; g < l->n_groups; g++) {
                int64_t d = 0;
                for (int k = g * l->group; k < (g + 1) * l->group; k++)
                    d += (int64_t)((int)a[k] - 128) * l->q[(size_t)n * l->K + k];
                acc += (double)l->scale[n * l->n_groups + g] * (double)d;
                am += fabs((double)l->scale[n * l->n_groups + g] * (double)d);
            }
            y[(size_t)m * l->N + n] = (double)sa * acc;
            mag[(size_t)m * l->N + n] = fabs((double)sa) * am;
        }
    }
    free(a);
}

static void check_i8(es_pool *p1, es_pool *p3) {
    const int Ms[] = {1, 5, 9};
    const int Ns[] = {3, 64, 130};
    const int Ks[] = {16, 48, 2100};
    const int Gs[] = {0, 8, 16};
    int cases = 0;
    double worst_rel = 0, worst_q = 0;
    for (size_t a = 0; a < ES_ARRAY_LEN(Ms); a++)
        for (size_t b = 0; b < ES_ARRAY_LEN(Ns); b++)
            for (size_t c = 0; c < ES_ARRAY_LEN(Ks); c++)
                for (size_t d = 0; d < ES_ARRAY_LEN(Gs); d++) {
                    const int M = Ms[a], N = Ns[b], K = Ks[c], G = Gs[d];
                    if (G && K % G) continue;
                    float *W = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * M * K);
                    float *y = malloc(sizeof(float) * M * N), *y3 = malloc(sizeof(float) * M * N);
                    float *y0 = malloc(sizeof(float) * M * N);
                    double *yr = malloc(sizeof(double) * M * N), *ym = malloc(sizeof(double) * M * N);
                    int8_t *q = malloc((size_t)N * K);
                    float *sc = malloc(sizeof(float) * N * K);
                    int32_t *ws = malloc(sizeof(int32_t) * N * K);
                    for (int i = 0; i < N * K; i++) W[i] = rndf() * 0.2f;
                    for (int i = 0; i < M * K; i++) x[i] = rndf() * 3.0f;
                    if (M > 1)
                        for (int k = 0; k < K; k++) x[K + k] = 0.0f; /* a zero row */
                    es_t5_lin l;
                    make_i8(&l, q, sc, ws, W, N, K, G);
                    ref_i8(yr, ym, x, M, &l);
                    for (int acc = 0; acc < 2; acc++) {
                        for (int i = 0; i < M * N; i++) y[i] = y3[i] = y0[i] = rndf();
                        es_t5_linear(p1, y, x, M, &l, acc);
                        es_t5_linear(p3, y3, x, M, &l, acc);
                        cases++;
                        CHECK(memcmp(y, y3, sizeof(float) * M * N) == 0,
                              "1 vs 3 threads differ M=%d N=%d K=%d G=%d", M, N, K, G);
                        for (int i = 0; i < M * N; i++) {
                            double want = yr[i] + (acc ? y0[i] : 0.0);
                            /* fp32 epilogue: a few roundings per group term */
                            double tol = 6e-8 * (l.n_groups + 4) * ym[i] + 1e-30 +
                                         (acc ? 1.2e-7 * (fabs(y0[i]) + fabs(yr[i])) : 0);
                            double e = fabs(y[i] - want);
                            if (fabs(yr[i]) > 1e-3) worst_rel = fmax(worst_rel, fabs(y[i] - want) / fabs(yr[i]));
                            CHECK(e <= tol, "M=%d N=%d K=%d G=%d acc=%d i=%d: %.9g vs %.9g", M, N,
                                  K, G, acc, i, y[i], want);
                        }
                    }
                    /* against the fp32 product: error of int8 weights + activations */
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < N; n++) {
                            double f = 0, mag = 0;
                            for (int k = 0; k < K; k++) {
                                f += (double)x[m * K + k] * W[n * K + k];
                                mag += fabs((double)x[m * K + k] * W[n * K + k]);
                            }
                            double r = fabs(yr[m * N + n] - f) / (mag + 1e-12);
                            worst_q = fmax(worst_q, r);
                            CHECK(r < 0.02, "int8 vs fp32 relative to sum|xw|: %g", r);
                        }
                    free(W), free(x), free(y), free(y3), free(y0), free(yr), free(ym), free(q), free(sc), free(ws);
                }
    printf("int8 linear: %d cases, worst rel vs reference %.3g, worst |int8-fp32|/sum|xw| %.4f\n",
           cases, worst_rel, worst_q);
}

static void check_bf16(es_pool *p1, es_pool *p3) {
    enum { M = 6, N = 131, K = 77 };
    static float x[M * K], y[M * N], y3[M * N];
    static uint16_t W[N * K];
    for (int i = 0; i < N * K; i++) W[i] = es_f32_to_bf16(rndf());
    for (int i = 0; i < M * K; i++) x[i] = rndf();
    es_t5_lin l = {0};
    l.kind = ES_T5_W_BF16;
    l.N = N;
    l.K = K;
    l.group = K;
    l.n_groups = 1;
    l.bf16 = W;
    es_t5_linear(p1, y, x, M, &l, 0);
    es_t5_linear(p3, y3, x, M, &l, 0);
    CHECK(memcmp(y, y3, sizeof y) == 0, "bf16: 1 vs 3 threads differ");
    double worst = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double e = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)x[m * K + k] * es_bf16_to_f32(W[n * K + k]);
                e += p;
                mag += fabs(p);
            }
            double err = fabs(y[m * N + n] - e);
            worst = fmax(worst, err / mag);
            CHECK(err <= 2.0 * K * 6e-8 * mag, "bf16 (%d,%d): %.9g vs %.9g", m, n, y[m * N + n], e);
        }
    /* embedding row lookup of every kind */
    float row[K];
    es_t5_lin_row(&l, 5, row);
    for (int k = 0; k < K; k++) CHECK(row[k] == es_bf16_to_f32(W[5 * K + k]), "bf16 row");
    printf("bf16 linear: worst |err|/sum|xw| %.3g\n", worst);
}

static void check_row_i8(void) {
    enum { N = 4, K = 32 };
    float W[N * K], sc[N * K], row[K];
    int8_t q[N * K];
    int32_t ws[N * K];
    for (int i = 0; i < N * K; i++) W[i] = rndf();
    es_t5_lin l;
    make_i8(&l, q, sc, ws, W, N, K, 8);
    es_t5_lin_row(&l, 2, row);
    for (int k = 0; k < K; k++)
        CHECK(row[k] == sc[2 * 4 + k / 8] * q[2 * K + k], "i8 row element %d", k);
    /* activation quantization reference: codes within +-127, max maps to 127 */
    float x[K];
    uint8_t a[K];
    for (int k = 0; k < K; k++) x[k] = rndf();
    x[7] = -2.5f;
    float s = es_t5_quant_row(a, x, K);
    CHECK(s == 2.5f / 127.0f, "activation scale %g", s);
    CHECK(a[7] == 1, "max-magnitude element -> code -127 (u8 1), got %d", a[7]);
    for (int k = 0; k < K; k++) CHECK(fabs(((int)a[k] - 128) * (double)s - x[k]) <= s * 0.5001, "act code %d", k);
    for (int k = 0; k < K; k++) x[k] = 0;
    CHECK(es_t5_quant_row(a, x, K) == 0.0f && a[0] == 128, "zero row");
}

int main(void) {
    es_pool *p1 = NULL, *p3 = NULL;
    REQUIRE(es_pool_new(&p1, 1, NULL) == ES_OK && es_pool_new(&p3, 3, NULL) == ES_OK, "pools");
    check_matrix();
    check_i8(p1, p3);
    check_bf16(p1, p3);
    check_row_i8();
    es_pool_free(p1);
    es_pool_free(p3);
    TEST_MAIN_END();
}
