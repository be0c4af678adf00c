/*
 * sample.c — ancestral sampling with temperature, top-k and top-p
 * (HF's warper order: temperature, then top-k, then top-p).
 *
 *  - v_i = logit_i / temperature (fp32, as HF divides the scores).
 *  - top_k > 0: keep the k largest v (ties at the k-th value are kept, as
 *    HF's TopKLogitsWarper keeps every score >= the k-th).
 *  - top_p < 1: over the kept tokens in descending order, keep the shortest
 *    prefix whose probability mass reaches top_p: a token is kept when the
 *    mass strictly before it is < top_p (HF's TopPLogitsWarper written in
 *    descending order); the first token is always kept.
 *  - draw u ~ U[0,1) from the session RNG (xoshiro256**, seeded with
 *    p->seed at every call, so the same seed gives the same ids) and pick
 *    the first token whose cumulative probability exceeds u.
 * Probabilities are exp(v - max) summed in double. sum_logprob (and
 * score) are the model's log-probs of the drawn ids (raw log_softmax, not
 * the tempered/filtered distribution). Stops after EOS unless ignore_eos.
 */
#include "decode/decode.h"

#include "core/rng.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>

static int cmp_sort(const void *a, const void *b) {
    const es_dec_sort *x = a, *y = b;
    /* descending value, NaN last, then ascending id */
    bool xn = x->v != x->v, yn = y->v != y->v;
    if (xn != yn) return xn ? 1 : -1;
    if (!xn && x->v != y->v) return x->v > y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Draws one id from logits (V) under p's warpers. */
static int32_t draw(es_decode_ws *ws, const float *logits, int V, const es_gen_params *p,
                    es_rng *rng) {
    const float T = p->temperature;
    if (p->top_k == 0 && p->top_p >= 1.0f) {
        float mx = -INFINITY;
        for (int i = 0; i < V; i++)
            if (logits[i] / T > mx) mx = logits[i] / T;
        double z = 0.0;
        for (int i = 0; i < V; i++) z += exp((double)(logits[i] / T) - mx);
        double u = es_rng_uniform(rng) * z, cum = 0.0;
        int last = 0;
        for (int i = 0; i < V; i++) {
            double e = exp((double)(logits[i] / T) - mx);
            if (e > 0.0) last = i;
            cum += e;
            if (cum > u) return i;
        }
        return last; /* rounding: u landed on the total */
    }
    es_dec_sort *so = ws->sort;
    for (int i = 0; i < V; i++) {
        so[i].v = logits[i] / T;
        so[i].i = i;
    }
    qsort(so, (size_t)V, sizeof *so, cmp_sort);
    int n = V;
    if (p->top_k > 0 && p->top_k < V) {
        n = p->top_k;
        while (n < V && so[n].v == so[p->top_k - 1].v) n++;
    }
    const double mx = so[0].v;
    double z = 0.0;
    for (int i = 0; i < n; i++) z += exp((double)so[i].v - mx);
    if (p->top_p < 1.0f) {
        int m = 1;
        double before = exp((double)so[0].v - mx) / z;
        while (m < n && before < (double)p->top_p) {
            before += exp((double)so[m].v - mx) / z;
            m++;
        }
        n = m;
        z = 0.0;
        for (int i = 0; i < n; i++) z += exp((double)so[i].v - mx);
    }
    double u = es_rng_uniform(rng) * z, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += exp((double)so[i].v - mx);
        if (cum > u) return so[i].i;
    }
    return so[n - 1].i;
}

es_status es_decode_sample(es_decode_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                           es_gen_result *out, es_error *err) {
    const int V = dm->vocab;
    es_rng rng;
    es_rng_seed(&rng, p->seed);
    int32_t tok = dm->start_id;
    double sum = 0.0;
    int n = 0;
    for (int step = 0; step < p->max_new_tokens; step++) {
        const float *logits;
        es_status s = dm->step(dm->ctx, &logits, &tok, 1, step, err);
        if (s) return s;
        int32_t a = draw(ws, logits, V, p, &rng);
        sum += (double)logits[a] - es_logsumexp(logits, V);
        ws->out_seq[n++] = a;
        if (!p->ignore_eos && a == dm->eos_id) break;
        tok = a;
    }
    ws->hyps[0].ids = ws->out_seq;
    ws->hyps[0].n_ids = n;
    ws->hyps[0].score = (float)sum;
    ws->hyps[0].sum_logprob = (float)sum;
    out->hyps = ws->hyps;
    out->n_hyps = 1;
    return ES_OK;
}
