/* src/decode on hand-made decoders (no model): a mock whose logits are a
 * function of each row's whole history, so wrong cache reordering changes
 * the result.
 *  - beam, ignore_eos: with K >= V^(N-1) beam search is exhaustive; the K
 *    results must be the K best of all V^N sequences (brute force).
 *  - beam, HF mode: against a plain re-implementation (explicit sequences,
 *    full sort, no caches) over random decoders and parameters; and a
 *    hand-computed case for EOS finishing, early stopping (step counts),
 *    length penalty ranking and the hypothesis cap.
 *  - greedy: EOS stops (and is included) unless ignore_eos.
 *  - sampling: same seed => same ids; top_k = 1 and tiny top_p => greedy;
 *    frequencies follow softmax(l / T) and the top-k / top-p filters.
 *  - parameter checks. */
#include "test.h"

#include "core/rng.h"
#include "core/rows.h"
#include "decode/decode.h"
#include "model/model_internal.h"
#include "nn/ops.h"

/* While src/core/stubs_tmp.c holds weak placeholders (es_gen_params_default
 * among them), reference a symbol unique to session.c so the static link
 * pulls in the real definitions. */
void *volatile g_force_link[] = {(void *)es_session_check_dim};

#define MAXR 16
#define MAXL 12
#define MAXV 16

typedef struct mock {
    int V, eos, start;
    int rows, len; /* len = tokens in every row's history (start included) */
    int32_t hist[MAXR][MAXL];
    float logits[MAXR * MAXV];
    int n_steps;
    uint64_t seed;
    /* logits of one history; default: pseudo-random from a hash */
    void (*fn)(const struct mock *m, const int32_t *h, int len, float *out);
} mock;

static void hash_logits(const mock *m, const int32_t *h, int len, float *out) {
    uint64_t x = m->seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < len; i++) x = (x ^ (uint64_t)(h[i] + 7)) * 0xBF58476D1CE4E5B9ull;
    es_rng r;
    es_rng_seed(&r, x);
    for (int v = 0; v < m->V; v++) out[v] = 6.0f * es_rng_uniformf(&r) - 3.0f;
}

static es_status m_step(void *ctx, const float **logits, const int32_t *tok, int n_rows, int pos,
                        es_error *err) {
    mock *m = ctx;
    if (pos != m->len)
        return es_errf(err, ES_ERR_INTERNAL, "pos %d len %d", pos, m->len);
    if (n_rows > m->rows && !(m->len == 0 && n_rows == 1))
        return es_errf(err, ES_ERR_INTERNAL, "rows %d > %d without reorder", n_rows, m->rows);
    m->rows = n_rows;
    for (int r = 0; r < n_rows; r++) m->hist[r][m->len] = tok[r];
    m->len++;
    for (int r = 0; r < n_rows; r++) m->fn(m, m->hist[r], m->len, m->logits + r * m->V);
    m->n_steps++;
    *logits = m->logits;
    return ES_OK;
}

static es_status m_reorder(void *ctx, const int32_t *parent, int n_rows, es_error *err) {
    mock *m = ctx;
    int32_t tmp[MAXR][MAXL];
    for (int r = 0; r < n_rows; r++)
        if (parent[r] < 0 || parent[r] >= m->rows)
            return es_errf(err, ES_ERR_INTERNAL, "parent %d", parent[r]);
    /* the models' in-place gather (only the live prefix of each row) */
    es_gather_rows(m->hist, sizeof m->hist[0], (size_t)m->len * sizeof(int32_t), tmp, parent, n_rows);
    m->rows = n_rows;
    return ES_OK;
}

/* es_gather_rows against a plain gather into a fresh array: random parent
 * vectors (swaps, cycles, several children of one row, fewer or more rows
 * than before), and only the live prefix is touched. */
static void gather_rows_random(void) {
    es_rng g;
    es_rng_seed(&g, 11);
    for (int it = 0; it < 2000; it++) {
        const int old_rows = 1 + (int)(es_rng_next(&g) % MAXR), n = 1 + (int)(es_rng_next(&g) % MAXR);
        const int live = (int)(es_rng_next(&g) % (MAXL + 1));
        int32_t a[MAXR][MAXL], want[MAXR][MAXL], tmp[MAXR][MAXL], parent[MAXR];
        for (int r = 0; r < MAXR; r++)
            for (int i = 0; i < MAXL; i++) a[r][i] = r * 100 + i;
        memcpy(want, a, sizeof a);
        for (int r = 0; r < n; r++) {
            /* biased to identity so rows that stay are common */
            parent[r] = (es_rng_next(&g) % 3 == 0 && r < old_rows) ? r : (int32_t)(es_rng_next(&g) % old_rows);
            memcpy(want[r], a[parent[r]], (size_t)live * sizeof(int32_t));
        }
        es_gather_rows(a, sizeof a[0], (size_t)live * sizeof(int32_t), tmp, parent, n);
        REQUIRE(memcmp(a, want, sizeof a) == 0, "gather_rows it %d (old %d, new %d, live %d)", it,
                old_rows, n, live);
    }
}

static void mock_reset(mock *m) {
    m->rows = 1;
    m->len = 0;
    m->n_steps = 0;
}

static es_dec_model dm_of(mock *m) {
    es_dec_model d = {m, m->V, m->start, m->eos, m_step, m_reorder};
    return d;
}

/* log-probs of a history's next token, computed independently in double */
static void ref_logprobs(const mock *m, const int32_t *h, int len, double *lp) {
    float l[MAXV];
    m->fn(m, h, len, l);
    double mx = l[0], s = 0;
    for (int v = 1; v < m->V; v++) mx = l[v] > mx ? l[v] : mx;
    for (int v = 0; v < m->V; v++) s += exp((double)l[v] - mx);
    for (int v = 0; v < m->V; v++) lp[v] = (double)l[v] - mx - log(s);
}

/* ---- reference beam search: explicit sequences, full sort ------------- */

typedef struct rhyp {
    int32_t ids[MAXL];
    int n;
    double sum, score;
} rhyp;

typedef struct rc {
    double s;
    int b, v;
} rc;

static int rc_cmp(const void *a, const void *b) {
    const rc *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    if (x->b != y->b) return x->b - y->b;
    return x->v - y->v;
}

static int ref_beam(const mock *m, const es_gen_params *p, rhyp *out) {
    const int K = p->num_beams, V = m->V;
    rhyp beams[MAXR], next[MAXR], fin[MAXR];
    int nb = 1, nf = 0, done = 0, steps = 0;
    beams[0].n = 0;
    beams[0].sum = 0;
    static rc cand[MAXR * MAXV];
    for (int step = 0; step < p->max_new_tokens && !done; step++) {
        int nc = 0;
        for (int b = 0; b < nb; b++) {
            int32_t h[MAXL];
            h[0] = m->start;
            memcpy(h + 1, beams[b].ids, sizeof(int32_t) * beams[b].n);
            double lp[MAXV];
            ref_logprobs(m, h, beams[b].n + 1, lp);
            for (int v = 0; v < V; v++) cand[nc++] = (rc){beams[b].sum + lp[v], b, v};
        }
        qsort(cand, (size_t)nc, sizeof(rc), rc_cmp);
        steps = step + 1;
        int nn = 0, cap = p->ignore_eos ? K : 2 * K;
        for (int c = 0; c < nc && c < cap && nn < K; c++) {
            rhyp h = beams[cand[c].b];
            h.ids[h.n++] = cand[c].v;
            h.sum = cand[c].s;
            if (!p->ignore_eos && cand[c].v == m->eos) {
                if (c >= K) continue;
                h.score = h.sum / pow(h.n, p->length_penalty);
                if (nf < K) fin[nf++] = h;
                else {
                    int w = 0;
                    for (int i = 1; i < nf; i++)
                        if (fin[i].score < fin[w].score) w = i;
                    if (h.score > fin[w].score) fin[w] = h;
                }
                continue;
            }
            next[nn++] = h;
        }
        memcpy(beams, next, sizeof(rhyp) * nn);
        nb = nn;
        if (!p->ignore_eos && nf >= K) {
            double worst = fin[0].score;
            for (int i = 1; i < nf; i++) worst = fin[i].score < worst ? fin[i].score : worst;
            done = p->early_stopping || worst >= cand[0].s / pow(steps, p->length_penalty);
        }
    }
    if (p->ignore_eos) {
        nf = 0;
        for (int b = 0; b < nb; b++) {
            fin[nf] = beams[b];
            fin[nf].score = beams[b].sum / pow(steps, p->length_penalty);
            nf++;
        }
    } else if (!done) {
        for (int b = 0; b < nb; b++) {
            rhyp h = beams[b];
            h.score = h.sum / pow(h.n, p->length_penalty);
            if (nf < K) fin[nf++] = h;
            else {
                int w = 0;
                for (int i = 1; i < nf; i++)
                    if (fin[i].score < fin[w].score) w = i;
                if (h.score > fin[w].score) fin[w] = h;
            }
        }
    }
    /* stable sort by score desc */
    for (int i = 1; i < nf; i++) {
        rhyp t = fin[i];
        int j = i;
        while (j > 0 && fin[j - 1].score < t.score) {
            fin[j] = fin[j - 1];
            j--;
        }
        fin[j] = t;
    }
    int n_ret = p->num_return ? p->num_return : K;
    if (n_ret > nf) n_ret = nf;
    memcpy(out, fin, sizeof(rhyp) * n_ret);
    return n_ret;
}

static int same_hyps(const es_gen_result *r, const rhyp *ref, int n) {
    if (r->n_hyps != n) return 0;
    for (int i = 0; i < n; i++) {
        if (r->hyps[i].n_ids != ref[i].n) return 0;
        if (memcmp(r->hyps[i].ids, ref[i].ids, sizeof(int32_t) * ref[i].n)) return 0;
        if (fabs(r->hyps[i].score - ref[i].score) > 1e-5 * (1 + fabs(ref[i].score))) return 0;
        if (fabs(r->hyps[i].sum_logprob - ref[i].sum) > 1e-5 * (1 + fabs(ref[i].sum))) return 0;
    }
    return 1;
}

/* ---- hand-made decoder for the EOS / early stopping case -------------- */
/* ids: 0 start/pad, 1 EOS, 2 a, 3 b */
static void scenario(const mock *m, const int32_t *h, int len, float *out) {
    (void)m;
    static const float start[4] = {1e-12f, 0.5f, 0.3f, 0.2f};
    static const float after_a[4] = {1e-12f, 0.9f, 0.05f, 0.05f};
    static const float after_b[4] = {1e-12f, 0.1f, 0.46f, 0.44f};
    static const float other[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    const float *p = len == 1 ? start : h[len - 1] == 2 ? after_a : h[len - 1] == 3 ? after_b : other;
    for (int v = 0; v < 4; v++) out[v] = logf(p[v]);
}

static void fixed(const mock *m, const int32_t *h, int len, float *out) {
    (void)h;
    (void)len;
    static const float p[4] = {0.5f, 0.3f, 0.15f, 0.05f};
    for (int v = 0; v < m->V; v++) out[v] = logf(p[v]);
}

int main(void) {
    es_error err;
    es_decode_ws ws;
    es_status s = es_decode_ws_init(&ws, MAXR, MAXL, MAXV, &err);
    REQUIRE(s == ES_OK, "ws init");
    mock m = {0};
    m.fn = hash_logits;
    es_gen_result r;

    gather_rows_random();

    /* 1. exhaustive: V = 3, N = 3, K = 9 >= 3^2 */
    {
        m.V = 3;
        m.eos = 1;
        m.seed = 5;
        es_decode_ws w3;
        s = es_decode_ws_init(&w3, 9, 3, 3, &err);
        REQUIRE(s == ES_OK, "ws3");
        es_gen_params p = es_gen_params_default();
        p.method = ES_DECODE_BEAM;
        p.num_beams = 9;
        p.max_new_tokens = 3;
        p.ignore_eos = 1;
        p.length_penalty = 1.0f;
        mock_reset(&m);
        es_dec_model d = dm_of(&m);
        s = es_decode_run(&w3, &d, &p, &r, &err);
        REQUIRE(s == ES_OK, "exhaustive beam: %s", err.msg);
        double all[27];
        for (int i = 0; i < 27; i++) {
            int32_t h[4] = {0, i / 9, (i / 3) % 3, i % 3};
            double sum = 0, lp[MAXV];
            for (int t = 0; t < 3; t++) {
                ref_logprobs(&m, h, t + 1, lp);
                sum += lp[h[t + 1]];
            }
            all[i] = sum;
        }
        int ok = r.n_hyps == 9;
        for (int k = 0; k < r.n_hyps && ok; k++) {
            int idx = r.hyps[k].ids[0] * 9 + r.hyps[k].ids[1] * 3 + r.hyps[k].ids[2];
            int better = 0; /* sequences strictly better than this one */
            for (int i = 0; i < 27; i++) better += all[i] > all[idx];
            ok &= better == k && fabs(r.hyps[k].sum_logprob - all[idx]) < 1e-5 &&
                  fabs(r.hyps[k].score - all[idx] / 3) < 1e-5;
        }
        CHECK(ok, "beam K=9 over V=3, N=3 is the exact top 9 of 27 sequences");
        es_decode_ws_free(&w3);
    }

    /* 2. random decoders vs the reference implementation */
    {
        int n_cases = 0, n_ok = 0;
        const float lps[] = {0.0f, 1.0f, 2.0f, -0.5f};
        for (int seed = 1; seed <= 40; seed++) {
            for (int K = 1; K <= 4; K++) {
                for (int li = 0; li < 4; li++) {
                    for (int es = 0; es < 2; es++) {
                        for (int ign = 0; ign < 2; ign++) {
                            m.V = 5 + seed % 4;
                            m.eos = seed % 3;
                            m.start = 0;
                            m.seed = (uint64_t)seed;
                            es_gen_params p = es_gen_params_default();
                            p.method = ES_DECODE_BEAM;
                            p.num_beams = K;
                            p.max_new_tokens = 1 + seed % 6;
                            p.length_penalty = lps[li];
                            p.early_stopping = es;
                            p.ignore_eos = ign;
                            p.num_return = seed % (K + 1);
                            mock_reset(&m);
                            es_dec_model d = dm_of(&m);
                            s = es_decode_run(&ws, &d, &p, &r, &err);
                            rhyp ref[MAXR];
                            int n = ref_beam(&m, &p, ref);
                            n_cases++;
                            int ok = s == ES_OK && same_hyps(&r, ref, n);
                            if (!ok && n_cases - n_ok < 4)
                                fprintf(stderr, "mismatch seed %d K %d lp %g es %d ign %d\n", seed,
                                        K, lps[li], es, ign);
                            n_ok += ok;
                        }
                    }
                }
            }
        }
        printf("beam vs reference: %d / %d cases equal\n", n_ok, n_cases);
        CHECK(n_ok == n_cases, "beam vs reference: %d of %d", n_ok, n_cases);
    }

    /* 3. hand-made EOS / early stopping / length penalty case (K = 2) */
    {
        m.V = 4;
        m.eos = 1;
        m.start = 0;
        m.fn = scenario;
        es_gen_params p = es_gen_params_default();
        p.method = ES_DECODE_BEAM;
        p.num_beams = 2;
        p.max_new_tokens = 5;
        p.early_stopping = 1;
        p.length_penalty = 1.0f;
        mock_reset(&m);
        es_dec_model d = dm_of(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        REQUIRE(s == ES_OK, "scenario: %s", err.msg);
        /* step 0: EOS (0.5) finishes [EOS]; beams a (.3), b (.2).
         * step 1: a->EOS (.27) finishes [a, EOS]; 2 done -> stop. */
        CHECK(m.n_steps == 2, "early_stopping=1 stops after 2 steps, ran %d", m.n_steps);
        CHECK(r.n_hyps == 2, "2 hyps");
        double s21 = log(0.27) / 2, s1 = log(0.5);
        CHECK(r.hyps[0].n_ids == 2 && r.hyps[0].ids[0] == 2 && r.hyps[0].ids[1] == 1,
              "lp=1: [a, EOS] first (avg %.4f beats %.4f)", s21, s1);
        CHECK(fabs(r.hyps[0].score - s21) < 1e-5 && fabs(r.hyps[0].sum_logprob - log(0.27)) < 1e-5,
              "score %g sum %g", r.hyps[0].score, r.hyps[0].sum_logprob);
        CHECK(r.hyps[1].n_ids == 1 && r.hyps[1].ids[0] == 1 && fabs(r.hyps[1].score - s1) < 1e-5,
              "[EOS] second");
        p.length_penalty = 0.0f;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        CHECK(s == ES_OK && r.n_hyps == 2 && r.hyps[0].n_ids == 1 && r.hyps[1].n_ids == 2,
              "lp=0: raw sums rank [EOS] first");
        /* heuristic early stopping: after step 1 the best candidate's
         * log(.27)/2 still beats the worst finished log(.5): one more step;
         * step 2's EOS hypothesis log(.0828)/3 is worse than both kept ones
         * and is dropped (cap K = 2), and the heuristic then stops. */
        p.length_penalty = 1.0f;
        p.early_stopping = 0;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        CHECK(s == ES_OK && m.n_steps == 3, "early_stopping=0 runs 3 steps, ran %d", m.n_steps);
        CHECK(r.n_hyps == 2 && r.hyps[0].n_ids == 2 && r.hyps[1].n_ids == 1,
              "same two hypotheses");
        p.num_return = 1;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        CHECK(s == ES_OK && r.n_hyps == 1, "num_return = 1");
        /* ignore_eos: EOS is ordinary, always max_new_tokens ids */
        p.ignore_eos = 1;
        p.num_return = 0;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        CHECK(s == ES_OK && r.n_hyps == 2 && r.hyps[0].n_ids == 5 && r.hyps[1].n_ids == 5,
              "ignore_eos: full length");

        /* greedy: stops at EOS, EOS included; ignore_eos continues */
        es_gen_params g = es_gen_params_default();
        g.max_new_tokens = 4;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &g, &r, &err);
        CHECK(s == ES_OK && r.n_hyps == 1 && r.hyps[0].n_ids == 1 && r.hyps[0].ids[0] == 1 &&
                  fabs(r.hyps[0].sum_logprob - log(0.5)) < 1e-6,
              "greedy stops at EOS");
        g.ignore_eos = 1;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &g, &r, &err);
        CHECK(s == ES_OK && r.hyps[0].n_ids == 4 && r.hyps[0].ids[1] == 0,
              "greedy ignore_eos: 4 ids, uniform after EOS picks id 0");
    }

    /* 4. sampling */
    {
        m.fn = hash_logits;
        m.V = 8;
        m.eos = 1;
        m.seed = 77;
        es_gen_params p = es_gen_params_default();
        p.method = ES_DECODE_SAMPLE;
        p.max_new_tokens = 10;
        p.ignore_eos = 1;
        p.seed = 42;
        int32_t a[10], b[10];
        es_dec_model d = dm_of(&m);
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        REQUIRE(s == ES_OK && r.hyps[0].n_ids == 10, "sample: %s", err.msg);
        memcpy(a, r.hyps[0].ids, sizeof a);
        /* sum_logprob = model log-probs of the drawn ids */
        double sum = 0, lp[MAXV];
        int32_t h[MAXL] = {0};
        for (int t = 0; t < 10; t++) {
            ref_logprobs(&m, h, t + 1, lp);
            sum += lp[a[t]];
            h[t + 1] = a[t];
        }
        CHECK(fabs(r.hyps[0].sum_logprob - sum) < 1e-5, "sample sum_logprob %g vs %g",
              r.hyps[0].sum_logprob, sum);
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        CHECK(s == ES_OK && memcmp(a, r.hyps[0].ids, sizeof a) == 0, "same seed, same ids");
        p.seed = 43;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        CHECK(s == ES_OK && memcmp(a, r.hyps[0].ids, sizeof a) != 0, "other seed, other ids");
        es_gen_params g = es_gen_params_default();
        g.max_new_tokens = 10;
        g.ignore_eos = 1;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &g, &r, &err);
        memcpy(b, r.hyps[0].ids, sizeof b);
        p.top_k = 1;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        CHECK(s == ES_OK && memcmp(b, r.hyps[0].ids, sizeof b) == 0, "top_k = 1 is greedy");
        p.top_k = 0;
        p.top_p = 1e-6f;
        mock_reset(&m);
        s = es_decode_run(&ws, &d, &p, &r, &err);
        CHECK(s == ES_OK && memcmp(b, r.hyps[0].ids, sizeof b) == 0, "tiny top_p is greedy");

        /* frequencies over one step, fixed p = .5 .3 .15 .05 */
        m.fn = fixed;
        m.V = 4;
        d = dm_of(&m);
        struct {
            float T;
            int k;
            float top_p;
            double want[4];
        } cases[] = {
            {1.0f, 0, 1.0f, {0.5, 0.3, 0.15, 0.05}},
            {0.5f, 0, 1.0f, {0.25 / 0.365, 0.09 / 0.365, 0.0225 / 0.365, 0.0025 / 0.365}},
            {1.0f, 2, 1.0f, {0.625, 0.375, 0, 0}},
            {1.0f, 0, 0.7f, {0.625, 0.375, 0, 0}},
            {1.0f, 0, 0.85f, {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
        };
        for (size_t c = 0; c < ES_ARRAY_LEN(cases); c++) {
            int cnt[4] = {0};
            const int N = 20000;
            es_gen_params q = es_gen_params_default();
            q.method = ES_DECODE_SAMPLE;
            q.max_new_tokens = 1;
            q.temperature = cases[c].T;
            q.top_k = cases[c].k;
            q.top_p = cases[c].top_p;
            for (int i = 0; i < N; i++) {
                q.seed = (uint64_t)i + 1000;
                mock_reset(&m);
                s = es_decode_run(&ws, &d, &q, &r, &err);
                if (s == ES_OK && r.hyps[0].ids[0] >= 0 && r.hyps[0].ids[0] < 4)
                    cnt[r.hyps[0].ids[0]]++;
            }
            double worst = 0;
            for (int v = 0; v < 4; v++) {
                double f = (double)cnt[v] / N, e = fabs(f - cases[c].want[v]);
                worst = e > worst ? e : worst;
                if (cases[c].want[v] == 0) CHECK(cnt[v] == 0, "case %zu: filtered id %d drawn", c, v);
            }
            CHECK(worst < 0.015, "sampling case %zu: frequency off by %.4f (counts %d %d %d %d)", c, worst, cnt[0], cnt[1], cnt[2], cnt[3]);
        }
    }

    /* 5. parameter checks */
    {
        es_gen_params p = es_gen_params_default();
        p.method = ES_DECODE_BEAM;
        p.max_new_tokens = 4;
        p.num_beams = MAXR + 1;
        CHECK(es_decode_check(&ws, &p, &err) == ES_ERR_ARG && strstr(err.msg, "num_beams"),
              "num_beams > max rows: %s", err.msg);
        p.num_beams = 2;
        p.num_return = 3;
        CHECK(es_decode_check(&ws, &p, &err) == ES_ERR_ARG && strstr(err.msg, "num_return"),
              "num_return > num_beams");
        p = es_gen_params_default();
        p.max_new_tokens = MAXL + 1;
        CHECK(es_decode_check(&ws, &p, &err) == ES_ERR_ARG && strstr(err.msg, "max_new_tokens"),
              "max_new_tokens too large");
        p.max_new_tokens = 0;
        CHECK(es_decode_check(&ws, &p, &err) == ES_ERR_ARG, "max_new_tokens 0");
        p = es_gen_params_default();
        p.method = ES_DECODE_SAMPLE;
        p.max_new_tokens = 4;
        p.temperature = 0;
        CHECK(es_decode_check(&ws, &p, &err) == ES_ERR_ARG && strstr(err.msg, "temperature"),
              "temperature 0");
        p.temperature = 1;
        p.top_p = 1.5f;
        CHECK(es_decode_check(&ws, &p, &err) == ES_ERR_ARG && strstr(err.msg, "top_p"), "top_p");
        p.top_p = 1;
        p.top_k = -1;
        CHECK(es_decode_check(&ws, &p, &err) == ES_ERR_ARG && strstr(err.msg, "top_k"), "top_k");
        p.method = (es_decode_method)7;
        CHECK(es_decode_check(&ws, &p, &err) == ES_ERR_ARG, "method");
    }
    es_decode_ws_free(&ws);
    TEST_MAIN_END();
}
