/*
 * qrnn.c — fo-pooling forward/backward (equations in qrnn.h). Loops run t
 * outer and channels inner so the channel loop vectorises; sequences are
 * the parallel unit.
 */
#include "nn/qrnn.h"

#include "kern/kern.h"

#include <math.h>
#include <string.h>

/* c_{-1} (H <= 1024, as bwd_seq's carry; the config allows 512) */
static const float k_zeros[1024];

typedef struct qrnn_job {
    float *h, *G, *c, *dG;
    const float *dh, *cG, *cc;
    const float *zero; /* (H) zeros: c_{-1} */
    uint64_t zseed;    /* zoneout: one draw from the caller's rng per call */
    const uint8_t *zmask;
    uint8_t *zmask_out; /* forward: the same buffer, written by the draw */
    const es_seq *s;
    int ldh, H, reverse, train, use_mask;
    float p;
} qrnn_job;

/* One sequence, positions in scan order. Gates are activated per row by
 * the kernel table's vectorised tanh / sigmoid (kern.h: a few ulp, the same
 * for every position and thread count), then the scan runs one of three
 * branch-free channel loops (zoneout mask / eval expectation / plain). */
static void fwd_seq(const qrnn_job *j, int b) {
    const es_seq *s = j->s;
    const es_kern_table *kt = es_kern();
    int H = j->H, L = s->len[b];
    float q = 1.0f - j->p;
    int eval_zone = !j->use_mask && !j->train && j->p > 0.0f;
    if (j->use_mask) {
        /* this sequence's own stream (seeded from the call's draw and b), in
         * (position, channel) order: the mask does not depend on which
         * thread runs the sequence. The mask is es_rng_uniformf(r) < p,
         * decided on the integer: u = n·2^-24 with n = next >> 40, and
         * n < p·2^24 <=> n < ceil(p·2^24) (exact in double). */
        es_rng r;
        es_rng_seed(&r, j->zseed + (uint64_t)b * 0xd1342543de82ef95ull);
        uint64_t thr = (uint64_t)ceil((double)j->p * 16777216.0);
        for (int t = 0; t < L; t++) {
            uint8_t *zm = j->zmask_out + es_seq_row(s, b, t) * (size_t)H;
            for (int i = 0; i < H; i++) zm[i] = (es_rng_next(&r) >> 40) < thr;
        }
    }
    for (int k = 0; k < L; k++) {
        int t = j->reverse ? L - 1 - k : k;
        size_t row = es_seq_row(s, b, t);
        float *g = j->G + row * (size_t)(3 * H);
        float *c = j->c + row * (size_t)H;
        /* c_{-1} = 0: the first step reads a zero row instead of branching */
        const float *cp = k ? j->c + (j->reverse ? row + 1 : row - 1) * (size_t)H : j->zero;
        float *h = j->h + row * (size_t)j->ldh;
        kt->tanh(g, g, (size_t)H);
        kt->sigmoid(g + H, g + H, 2 * (size_t)H);
        const float *z = g, *f = g + H, *o = g + 2 * H;
        if (j->use_mask) {
            const uint8_t *zm = j->zmask + row * (size_t)H;
            for (int i = 0; i < H; i++) {
                float fe = zm[i] ? 1.0f : f[i];
                float cv = fe * cp[i] + (1.0f - fe) * z[i];
                c[i] = cv;
                h[i] = o[i] * cv;
            }
        } else if (eval_zone) {
            for (int i = 0; i < H; i++) {
                float fe = 1.0f - q * (1.0f - f[i]);
                float cv = fe * cp[i] + (1.0f - fe) * z[i];
                c[i] = cv;
                h[i] = o[i] * cv;
            }
        } else {
            for (int i = 0; i < H; i++) {
                float cv = f[i] * cp[i] + (1.0f - f[i]) * z[i];
                c[i] = cv;
                h[i] = o[i] * cv;
            }
        }
    }
}

static void fwd_task(void *ctx, int task, int n_tasks) {
    const qrnn_job *j = ctx;
    for (int b = task; b < j->s->B; b += n_tasks) fwd_seq(j, b);
}

static void zero_pad_cols(const es_seq *s, float *x, int ld, int n) {
    for (int b = 0; b < s->B; b++) {
        size_t r0 = (size_t)b * (size_t)s->Tp;
        size_t v0 = r0 + (size_t)s->m, v1 = v0 + (size_t)s->len[b], r1 = r0 + (size_t)s->Tp;
        for (size_t r = r0; r < r1; r++)
            if (r < v0 || r >= v1) memset(x + r * (size_t)ld, 0, (size_t)n * sizeof(float));
    }
}

void es_qrnn_forward(es_pool *pool, float *h, int ldh, float *G, float *c, uint8_t *zmask,
                     const es_seq *s, int H, int reverse, float p, int train, es_rng *rng) {
    qrnn_job j = {0};
    j.h = h;
    j.G = G;
    j.c = c;
    j.zmask = zmask;
    j.zmask_out = zmask;
    j.s = s;
    j.ldh = ldh;
    j.H = H;
    j.reverse = reverse;
    j.train = train;
    j.p = p;
    j.use_mask = train && p > 0.0f && zmask;
    j.zero = k_zeros;
    if (j.use_mask) j.zseed = es_rng_next(rng);
    zero_pad_cols(s, h, ldh, H);
    int nt = ES_MIN(s->B, es_pool_threads(pool));
    es_pool_run(nt > 1 ? pool : NULL, nt, fwd_task, &j);
}

/* One sequence, positions in reverse scan order. Three branch-free channel
 * loops (zoneout mask / eval expectation / plain) so they vectorise; each
 * computes f' and ∂f'/∂f exactly as the equations in qrnn.h, in the same
 * operation order in every mode. */
static void bwd_seq(const qrnn_job *j, int b) {
    const es_seq *s = j->s;
    int H = j->H, L = s->len[b];
    float q = 1.0f - j->p;
    int eval_zone = !j->use_mask && !j->train && j->p > 0.0f;
    float carry[1024]; /* H <= 1024 is enforced by the config check */
    memset(carry, 0, (size_t)H * sizeof(float));
    for (int k = L - 1; k >= 0; k--) {
        int t = j->reverse ? L - 1 - k : k;
        size_t row = es_seq_row(s, b, t);
        const float *g = j->cG + row * (size_t)(3 * H);
        const float *c = j->cc + row * (size_t)H;
        const float *cp = k ? j->cc + (j->reverse ? row + 1 : row - 1) * (size_t)H : j->zero;
        const float *dh = j->dh + row * (size_t)j->ldh;
        float *dg = j->dG + row * (size_t)(3 * H);
        const float *z = g, *f = g + H, *o = g + 2 * H;
        float *dz_o = dg, *df_o = dg + H, *do_o = dg + 2 * H;
        const uint8_t *zm = j->use_mask ? j->zmask + row * (size_t)H : NULL;
        if (zm) {
            for (int i = 0; i < H; i++) {
                float fe = zm[i] ? 1.0f : f[i], dfe_df = zm[i] ? 0.0f : 1.0f;
                float dc = dh[i] * o[i] + carry[i];
                float dfe = dc * (cp[i] - z[i]);
                carry[i] = dc * fe;
                dz_o[i] = dc * (1.0f - fe) * (1.0f - z[i] * z[i]);
                df_o[i] = dfe * dfe_df * f[i] * (1.0f - f[i]);
                do_o[i] = dh[i] * c[i] * o[i] * (1.0f - o[i]);
            }
        } else if (eval_zone) {
            for (int i = 0; i < H; i++) {
                float fe = 1.0f - q * (1.0f - f[i]);
                float dc = dh[i] * o[i] + carry[i];
                float dfe = dc * (cp[i] - z[i]);
                carry[i] = dc * fe;
                dz_o[i] = dc * (1.0f - fe) * (1.0f - z[i] * z[i]);
                df_o[i] = dfe * q * f[i] * (1.0f - f[i]);
                do_o[i] = dh[i] * c[i] * o[i] * (1.0f - o[i]);
            }
        } else {
            for (int i = 0; i < H; i++) {
                float dc = dh[i] * o[i] + carry[i];
                float dfe = dc * (cp[i] - z[i]);
                carry[i] = dc * f[i];
                dz_o[i] = dc * (1.0f - f[i]) * (1.0f - z[i] * z[i]);
                df_o[i] = dfe * f[i] * (1.0f - f[i]);
                do_o[i] = dh[i] * c[i] * o[i] * (1.0f - o[i]);
            }
        }
    }
}

static void bwd_task(void *ctx, int task, int n_tasks) {
    const qrnn_job *j = ctx;
    for (int b = task; b < j->s->B; b += n_tasks) bwd_seq(j, b);
}

void es_qrnn_backward(es_pool *pool, float *dG, const float *dh, int ldh, const float *G,
                      const float *c, const uint8_t *zmask, const es_seq *s, int H, int reverse,
                      float p, int train) {
    qrnn_job j = {0};
    j.dG = dG;
    j.dh = dh;
    j.cG = G;
    j.cc = c;
    j.zmask = zmask;
    j.s = s;
    j.ldh = ldh;
    j.H = H;
    j.reverse = reverse;
    j.train = train;
    j.p = p;
    j.use_mask = train && p > 0.0f && zmask;
    j.zero = k_zeros;
    es_seq_zero_pads(s, dG, 3 * H, 3 * H);
    int nt = ES_MIN(s->B, es_pool_threads(pool));
    es_pool_run(nt > 1 ? pool : NULL, nt, bwd_task, &j);
}
