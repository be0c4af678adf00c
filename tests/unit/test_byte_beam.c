/*
 * Byte seq2seq beam search (src/decode/byte_beam.c) on toy decoders whose
 * logits are a hash of each row's history (so reorder must move histories
 * correctly):
 *  1. float beam with K ≥ every live path = exact n-best by brute force
 *     over all sequences (finished and truncated, GNMT-normalised) — the
 *     n-best list is complete and truncated hypotheses carry real scores;
 *  2. uint8 beam = float beam (all returned hypotheses) on a model whose
 *     path scores are well separated; agreement of the best hypothesis on
 *     random models is reported;
 *  3. ties: equal scores never overwrite each other, lower id first;
 *  4. max_new_tokens without EOS: real negative scores, never 0.0.
 */
#include "test.h"

#include "decode/byte_beam.h"
#include "nn/ops.h"

#include <stdlib.h>

enum { MAXR = 64, MAXT = 8 };

typedef struct toy {
    int V, sep, T;          /* sep: well-separated logits for T steps */
    uint64_t seed;
    int32_t hist[MAXR][MAXT];
    int32_t tmp[MAXR][MAXT];
    float logits[MAXR * 64];
    int tie;                /* tokens 2 and 3 always get equal logits */
} toy;

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void toy_logits(const toy *t, float *x, const int32_t *h, int len) {
    uint64_t k = t->seed;
    /* tie mode: tokens 2 and 3 are interchangeable in the history too,
     * so twin paths have identical futures and exactly equal scores */
    for (int i = 0; i < len; i++) k = mix(k ^ (uint64_t)(t->tie && h[i] == 3 ? 2 : h[i]));
    static const int coprime12[4] = {1, 5, 7, 11};
    const uint64_t rk = mix(k ^ 0xabcdefull);
    for (int v = 0; v < t->V; v++) {
        uint64_t r = mix(k + (uint64_t)v);
        if (t->sep) {
            /* Lexicographic scores: distinct ranks (a permutation of
             * 0..V-1) times a step weight G = (2V)^(T-1-pos). Any later
             * deviations sum to less than G/2, and the uint8 rounding of a
             * step is about (V-1)·G/510, so with length penalty 0 (LP = 1)
             * every two different paths differ by more than the rounding. */
            int rank = (int)(((uint64_t)v * (uint64_t)coprime12[rk % 4] + (rk >> 8)) % (uint64_t)t->V);
            x[v] = -(float)rank * powf(2.0f * (float)t->V, (float)(t->T - len));
        } else {
            x[v] = 3.0f * (float)((double)(r >> 11) / 9007199254740992.0 - 0.5) * 2.0f;
        }
    }
    if (t->tie) x[3] = x[2];
    x[0] = -INFINITY; /* start id */
}

static es_status toy_step(void *ctx, const float **logits, const int32_t *tokens, int n, int pos,
                          es_error *err) {
    (void)err;
    toy *t = ctx;
    for (int r = 0; r < n; r++) {
        t->hist[r][pos] = tokens[r];
        toy_logits(t, t->logits + (size_t)r * t->V, t->hist[r], pos + 1);
    }
    *logits = t->logits;
    return ES_OK;
}

static es_status toy_reorder(void *ctx, const int32_t *parent, int n, es_error *err) {
    (void)err;
    toy *t = ctx;
    for (int r = 0; r < n; r++) memcpy(t->tmp[r], t->hist[parent[r]], sizeof t->tmp[r]);
    memcpy(t->hist, t->tmp, sizeof t->tmp[0] * (size_t)n);
    return ES_OK;
}

static es_dec_model toy_dm(toy *t) {
    es_dec_model dm = {t, t->V, 0, 1, toy_step, toy_reorder};
    return dm;
}

/* ---- brute force ---- */
typedef struct bf_hyp {
    int32_t ids[MAXT];
    int n;
    double score, sum;
} bf_hyp;
static bf_hyp g_all[20000];
static int g_n;

static void bf_rec(const toy *t, int32_t *h, int len, double sum, int T, float alpha) {
    /* h[0..len) = start + generated; next logits */
    float x[64];
    toy_logits(t, x, h, len);
    double lse = es_logsumexp(x, t->V);
    for (int v = 1; v < t->V; v++) {
        double s = sum + x[v] - lse;
        h[len] = v;
        int gen = len; /* generated ids incl. v */
        if (v == 1 || gen == T) {
            bf_hyp *o = &g_all[g_n++];
            o->n = gen;
            memcpy(o->ids, h + 1, (size_t)gen * sizeof(int32_t));
            o->sum = s;
            o->score = s / es_bbeam_lp(gen, alpha);
        } else {
            bf_rec(t, h, len + 1, s, T, alpha);
        }
    }
}

static int cmp_hyp(const void *a, const void *b) {
    double x = ((const bf_hyp *)a)->score, y = ((const bf_hyp *)b)->score;
    return x > y ? -1 : x < y ? 1 : 0;
}

static void brute_force(void) {
    es_bbeam_ws bw;
    es_error e;
    REQUIRE(es_bbeam_ws_init(&bw, MAXR, MAXT, 64, &e) == ES_OK, "%s", e.msg);
    const float alphas[3] = {0.6f, 0.0f, -0.5f};
    int bad = 0, runs = 0;
    for (int trial = 0; trial < 30; trial++) {
        toy t;
        memset(&t, 0, sizeof t);
        t.V = 5;
        t.seed = 1000 + (uint64_t)trial;
        const int T = 3, K = 27;
        float alpha = alphas[trial % 3];
        int32_t h[MAXT] = {0};
        g_n = 0;
        bf_rec(&t, h, 1, 0.0, T, alpha);
        qsort(g_all, (size_t)g_n, sizeof g_all[0], cmp_hyp);
        es_gen_params p = es_gen_params_default();
        p.method = ES_DECODE_BEAM;
        p.num_beams = K;
        p.max_new_tokens = T;
        p.length_penalty = alpha;
        es_dec_model dm = toy_dm(&t);
        es_gen_result res;
        REQUIRE(es_byte_beam(&bw, &dm, &p, &res, &e) == ES_OK, "%s", e.msg);
        runs++;
        int ok = res.n_hyps == K;
        for (int i = 0; ok && i < K; i++) {
            const es_hyp *hy = &res.hyps[i];
            ok = hy->n_ids == g_all[i].n && fabs(hy->score - g_all[i].score) < 1e-5 &&
                 memcmp(hy->ids, g_all[i].ids, (size_t)hy->n_ids * sizeof(int32_t)) == 0;
            if (!ok)
                fprintf(stderr, "trial %d rank %d: beam %d ids score %g, brute %d ids score %g\n",
                        trial, i, hy->n_ids, (double)hy->score, g_all[i].n, g_all[i].score);
        }
        bad += !ok;
    }
    printf("  brute force: %d/%d runs give the exact 27-best (alpha 0.6 / 0 / -0.5)\n",
           runs - bad, runs);
    CHECK(bad == 0, "%d runs differ from brute force", bad);
    es_bbeam_ws_free(&bw);
}

static int same_hyps(const es_gen_result *a, const es_gen_result *b, int all) {
    if (a->n_hyps != b->n_hyps) return 0;
    for (int i = 0; i < (all ? a->n_hyps : 1); i++)
        if (a->hyps[i].n_ids != b->hyps[i].n_ids ||
            memcmp(a->hyps[i].ids, b->hyps[i].ids, (size_t)a->hyps[i].n_ids * sizeof(int32_t)))
            return 0;
    return 1;
}

static void u8_vs_float(void) {
    es_bbeam_ws b1, b2;
    es_error e;
    REQUIRE(es_bbeam_ws_init(&b1, MAXR, MAXT, 64, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_bbeam_ws_init(&b2, MAXR, MAXT, 64, &e) == ES_OK, "%s", e.msg);
    for (int sep = 1; sep >= 0; sep--) {
        int agree_best = 0, agree_all = 0, n = 200;
        double max_dscore = 0;
        for (int trial = 0; trial < n; trial++) {
            toy t1, t2;
            memset(&t1, 0, sizeof t1);
            t1.V = 12;
            t1.sep = sep;
            t1.T = 6;
            t1.seed = 77 + (uint64_t)trial;
            t2 = t1;
            es_gen_params p = es_gen_params_default();
            p.method = ES_DECODE_BEAM;
            p.num_beams = 4;
            p.max_new_tokens = 6;
            p.length_penalty = sep ? 0.0f : 0.6f;
            es_gen_result rf, rq;
            es_dec_model d1 = toy_dm(&t1), d2 = toy_dm(&t2);
            REQUIRE(es_byte_beam(&b1, &d1, &p, &rf, &e) == ES_OK, "%s", e.msg);
            p.quantized_beam = 1;
            REQUIRE(es_byte_beam(&b2, &d2, &p, &rq, &e) == ES_OK, "%s", e.msg);
            agree_best += same_hyps(&rf, &rq, 0);
            agree_all += same_hyps(&rf, &rq, 1);
            if (same_hyps(&rf, &rq, 0)) {
                double d = fabs(rf.hyps[0].score - rq.hyps[0].score);
                max_dscore = d > max_dscore ? d : max_dscore;
            }
        }
        printf("  %s logits: uint8 beam = float beam: best %d/%d, whole 4-best %d/%d, max |score "
               "diff| of equal bests %.3g\n", sep ? "well-separated" : "random N(0,~1.7)",
               agree_best, n, agree_all, n, max_dscore);
        if (sep) CHECK(agree_all == n, "well separated: only %d/%d agree", agree_all, n);
        else CHECK(agree_best >= n * 8 / 10, "random: only %d/%d best agree", agree_best, n);
    }
    es_bbeam_ws_free(&b1);
    es_bbeam_ws_free(&b2);
}

static void ties_and_truncation(void) {
    es_bbeam_ws bw;
    es_error e;
    REQUIRE(es_bbeam_ws_init(&bw, MAXR, MAXT, 64, &e) == ES_OK, "%s", e.msg);
    for (int q = 0; q < 2; q++) {
        toy t;
        memset(&t, 0, sizeof t);
        t.V = 6;
        t.tie = 1;
        t.seed = 5;
        es_gen_params p = es_gen_params_default();
        p.method = ES_DECODE_BEAM;
        p.num_beams = 8;
        p.max_new_tokens = 3;
        p.ignore_eos = 1; /* every hypothesis is truncated at 3 */
        p.quantized_beam = q;
        es_dec_model dm = toy_dm(&t);
        es_gen_result r;
        REQUIRE(es_byte_beam(&bw, &dm, &p, &r, &e) == ES_OK, "%s", e.msg);
        CHECK(r.n_hyps == 8, "n-best has %d of 8", r.n_hyps);
        int neg = 1, pairs = 0;
        for (int i = 0; i < r.n_hyps; i++) {
            neg &= r.hyps[i].score < 0.0f && r.hyps[i].n_ids == 3;
            /* a hypothesis with token 2 somewhere has an equal-score twin
             * with 3 in that place; the twin must also be present and come
             * after it (lower id first) */
            for (int j = i + 1; j < r.n_hyps; j++)
                if (r.hyps[i].score == r.hyps[j].score) {
                    pairs++;
                    int first_diff = 0;
                    while (first_diff < 3 && r.hyps[i].ids[first_diff] == r.hyps[j].ids[first_diff])
                        first_diff++;
                    CHECK(first_diff < 3 && r.hyps[i].ids[first_diff] < r.hyps[j].ids[first_diff],
                          "tie order: higher id first");
                }
        }
        CHECK(neg, "truncated hypotheses must have real negative scores and 3 ids");
        CHECK(pairs > 0, "no tied pair survived in the n-best (ties overwrite?)");
        printf("  %s: 8-best of tied logits holds %d equal-score pairs, all scores < 0\n",
               q ? "uint8" : "float", pairs);
    }
    es_bbeam_ws_free(&bw);
}

static void quantize(void) {
    float x[5] = {-2.0f, 0.0f, 1.0f, -INFINITY, 3.1f};
    uint8_t q[5];
    float s;
    es_bbeam_quantize(q, &s, x, 5);
    CHECK(fabsf(s - 5.1f / 255.0f) < 1e-7f, "scale %g", (double)s);
    CHECK(q[0] == 0 && q[4] == 255 && q[3] == 0 && q[1] == 100, "codes %d %d %d %d", q[0], q[1],
          q[3], q[4]);
    float y[3] = {1.0f, 1.0f, 1.0f};
    es_bbeam_quantize(q, &s, y, 3);
    CHECK(s == 1.0f && q[0] == 0, "constant row");
}

int main(void) {
    quantize();
    brute_force();
    u8_vs_float();
    ties_and_truncation();
    TEST_MAIN_END();
}
