/*
 * mha.c — multi-head attention forward/backward (see mha.h for the
 * equations, the memory plan and the dropout hash).
 */
#include "nn/mha.h"

#include "kern/kern.h"

#include <math.h>
#include <string.h>

size_t es_mha_scratch_floats(int Tk, int train) {
    return (size_t)(train ? 2 : 1) * ES_MHA_QBLOCK * (size_t)(Tk > 0 ? Tk : 1);
}

/* Keep flag of dropout element idx: SplitMix64 output number idx of the
 * stream seeded by `seed`, top 24 bits as a uniform in [0, 1). */
static inline int keep_elem(uint64_t seed, uint64_t idx, float p) {
    uint64_t z = seed + (idx + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

/* exp(x) for the softmax arguments (x <= ~0 after max subtraction), in
 * plain arithmetic so the compiler vectorises the row loops (a libm call
 * per element was a quarter of the encoder's time): x = n·ln2 + r with
 * n = round(x·log2 e) by the 1.5·2²³ trick, |r| <= ln2/2, exp(r) by its
 * degree-7 Taylor polynomial (truncation < 6e-9 relative), 2^n by building
 * the exponent bits. Max relative error ~2 ulp (checked against double by
 * the attention forward test); x is clamped to [−87, 88] so 2^n stays a
 * normal float (exp(−87) ≈ 1.6e−38 is as good as 0 next to exp(0) = 1). */
static inline float exp_fast(float x) {
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
    float p = 1.98412698e-4f; /* 1/7! */
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

/* In place over one row of n logits: s ← s·scale; returns max. Eight
 * interleaved maxima (vectorisable; the max is order-independent). */
static float scale_max(float *s, int n, float scale) {
    float m8[8];
    for (int k = 0; k < 8; k++) m8[k] = -INFINITY;
    int t = 0;
    for (; t + 8 <= n; t += 8)
        for (int k = 0; k < 8; k++) {
            float v = s[t + k] * scale;
            s[t + k] = v;
            m8[k] = v > m8[k] ? v : m8[k];
        }
    for (; t < n; t++) {
        s[t] *= scale;
        m8[0] = s[t] > m8[0] ? s[t] : m8[0];
    }
    float mx = m8[0];
    for (int k = 1; k < 8; k++) mx = m8[k] > mx ? m8[k] : mx;
    return mx;
}

/* Four lanes of exp_fast with GCC/Clang vector extensions (SSE2 on
 * x86-64, NEON on aarch64; no ISA-specific code): the same operations in
 * the same order per lane, so a lane returns exactly exp_fast's bits. The
 * scalar loop above cannot be vectorised by the compiler (the clamps are
 * comparisons, which -ftrapping-math forbids it to speculate). */
typedef float es_v4f __attribute__((vector_size(16)));
typedef int32_t es_v4i __attribute__((vector_size(16)));

static inline es_v4f splat(float v) { return (es_v4f){v, v, v, v}; }

static inline es_v4f exp_fast4(es_v4f x) {
    es_v4i lo = x > splat(-87.0f), hi = x < splat(88.0f);
    x = (es_v4f)(((es_v4i)x & lo) | ((es_v4i)splat(-87.0f) & ~lo));
    x = (es_v4f)(((es_v4i)x & hi) | ((es_v4i)splat(88.0f) & ~hi));
    es_v4f n = (x * splat(1.44269504088896341f) + splat(12582912.0f)) - splat(12582912.0f);
    es_v4f r = (x - n * splat(0.693145751953125f)) - n * splat(1.42860682030941723e-6f);
    es_v4f p = splat(1.98412698e-4f);
    p = p * r + splat(1.38888889e-3f);
    p = p * r + splat(8.33333333e-3f);
    p = p * r + splat(4.16666667e-2f);
    p = p * r + splat(1.66666667e-1f);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    es_v4i bits = (__builtin_convertvector(n, es_v4i) + 127) << 23;
    return p * (es_v4f)bits;
}

/* s ← exp(s − sub) over n; returns Σ in a fixed order (two 4-lane partial
 * sums, combined at the end; the tail is added serially), so results
 * depend on nothing but the row. */
static float exp_sum(float *s, int n, float sub) {
    es_v4f z0 = splat(0.0f), z1 = splat(0.0f), vs = splat(sub);
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        es_v4f a, b;
        memcpy(&a, s + t, sizeof a);
        memcpy(&b, s + t + 4, sizeof b);
        a = exp_fast4(a - vs);
        b = exp_fast4(b - vs);
        memcpy(s + t, &a, sizeof a);
        memcpy(s + t + 4, &b, sizeof b);
        z0 += a;
        z1 += b;
    }
    es_v4f z = z0 + z1;
    float sum = (z[0] + z[1]) + (z[2] + z[3]);
    for (; t < n; t++) {
        s[t] = exp_fast(s[t] - sub);
        sum += s[t];
    }
    return sum;
}

/* s ← exp(s·scale − l) over n (the backward's recomputed probabilities). */
static void exp_shift(float *s, int n, float scale, float l) {
    es_v4f vs = splat(scale), vl = splat(l);
    int t = 0;
    for (; t + 4 <= n; t += 4) {
        es_v4f a;
        memcpy(&a, s + t, sizeof a);
        a = exp_fast4(a * vs - vl);
        memcpy(s + t, &a, sizeof a);
    }
    for (; t < n; t++) s[t] = exp_fast(s[t] * scale - l);
}

typedef struct mha_job {
    const es_mha *a;
    float *ctx, *lse, *dq, *dk, *dv;
    const float *q, *k, *v, *dctx, *clse;
    int ldc, ldq, ldkv, lddq, lddkv, lddc, drop;
    size_t slot_floats;
} mha_job;

static void fwd_pair(const mha_job *j, int b, int h, float *S) {
    const es_mha *a = j->a;
    int Lq = a->sq->len[b], Lk = a->sk->len[b], dh = a->dh;
    if (Lq == 0 || Lk == 0) return;
    const es_kern_table *kt = es_kern();
    float scale = 1.0f / sqrtf((float)dh), keep_scale = 1.0f / (1.0f - a->p_drop);
    const float *K = j->k + es_seq_row(a->sk, b, 0) * (size_t)j->ldkv + (size_t)h * (size_t)dh;
    const float *V = j->v + es_seq_row(a->sk, b, 0) * (size_t)j->ldkv + (size_t)h * (size_t)dh;
    uint64_t base = ((uint64_t)b * (uint64_t)a->H + (uint64_t)h) * (uint64_t)a->sq->T;
    for (int i0 = 0; i0 < Lq; i0 += ES_MHA_QBLOCK) {
        int nb = ES_MIN(ES_MHA_QBLOCK, Lq - i0);
        const float *Q = j->q + es_seq_row(a->sq, b, i0) * (size_t)j->ldq + (size_t)h * (size_t)dh;
        kt->gemm_nt(NULL, S, Lk, Q, j->ldq, K, j->ldkv, nb, Lk, dh, 0);
        for (int i = 0; i < nb; i++) {
            float *s = S + (size_t)i * (size_t)Lk;
            float mx = scale_max(s, Lk, scale);
            float z = exp_sum(s, Lk, mx);
            if (j->lse) j->lse[base + (uint64_t)(i0 + i)] = mx + logf(z);
            float inv = 1.0f / z;
            if (j->drop) {
                uint64_t row = (base + (uint64_t)(i0 + i)) * (uint64_t)a->sk->T;
                for (int t = 0; t < Lk; t++)
                    s[t] = keep_elem(a->seed, row + (uint64_t)t, a->p_drop) ? s[t] * inv * keep_scale
                                                                             : 0.0f;
            } else {
                for (int t = 0; t < Lk; t++) s[t] *= inv;
            }
        }
        float *O = j->ctx + es_seq_row(a->sq, b, i0) * (size_t)j->ldc + (size_t)h * (size_t)dh;
        kt->gemm_nn(NULL, O, j->ldc, S, Lk, V, j->ldkv, nb, dh, Lk, 0);
    }
}

static void fwd_task(void *ctx, int task, int n_tasks) {
    const mha_job *j = ctx;
    float *S = j->a->scratch + (size_t)task * j->slot_floats;
    int n = j->a->sq->B * j->a->H;
    for (int p = task; p < n; p += n_tasks) fwd_pair(j, p / j->a->H, p % j->a->H, S);
}

static int n_tasks_for(es_pool *pool, const es_mha *a) {
    int nt = ES_MIN(a->sq->B * a->H, es_pool_threads(pool));
    return ES_MAX(1, ES_MIN(nt, a->n_slots));
}

void es_mha_forward(es_pool *pool, const es_mha *a, float *ctx, int ldc, float *lse,
                    const float *q, int ldq, const float *k, const float *v, int ldkv, int train) {
    mha_job j = {0};
    j.a = a;
    j.ctx = ctx;
    j.lse = lse;
    j.q = q;
    j.k = k;
    j.v = v;
    j.ldc = ldc;
    j.ldq = ldq;
    j.ldkv = ldkv;
    j.drop = train && a->p_drop > 0.0f;
    j.slot_floats = es_mha_scratch_floats(a->sk->T, 0);
    es_seq_zero_pads(a->sq, ctx, a->H * a->dh, ldc);
    int nt = n_tasks_for(pool, a);
    es_pool_run(nt > 1 ? pool : NULL, nt, fwd_task, &j);
}

static void bwd_pair(const mha_job *j, int b, int h, float *P, float *G) {
    const es_mha *a = j->a;
    int Lq = a->sq->len[b], Lk = a->sk->len[b], dh = a->dh;
    if (Lq == 0 || Lk == 0) return;
    const es_kern_table *kt = es_kern();
    float scale = 1.0f / sqrtf((float)dh), keep_scale = 1.0f / (1.0f - a->p_drop);
    size_t kr = es_seq_row(a->sk, b, 0);
    const float *K = j->k + kr * (size_t)j->ldkv + (size_t)h * (size_t)dh;
    const float *V = j->v + kr * (size_t)j->ldkv + (size_t)h * (size_t)dh;
    float *dK = j->dk + kr * (size_t)j->lddkv + (size_t)h * (size_t)dh;
    float *dV = j->dv + kr * (size_t)j->lddkv + (size_t)h * (size_t)dh;
    for (int t = 0; t < Lk; t++) {
        memset(dK + (size_t)t * (size_t)j->lddkv, 0, (size_t)dh * sizeof(float));
        memset(dV + (size_t)t * (size_t)j->lddkv, 0, (size_t)dh * sizeof(float));
    }
    uint64_t base = ((uint64_t)b * (uint64_t)a->H + (uint64_t)h) * (uint64_t)a->sq->T;
    for (int i0 = 0; i0 < Lq; i0 += ES_MHA_QBLOCK) {
        int nb = ES_MIN(ES_MHA_QBLOCK, Lq - i0);
        size_t qr = es_seq_row(a->sq, b, i0);
        const float *Q = j->q + qr * (size_t)j->ldq + (size_t)h * (size_t)dh;
        const float *dO = j->dctx + qr * (size_t)j->lddc + (size_t)h * (size_t)dh;
        float *dQ = j->dq + qr * (size_t)j->lddq + (size_t)h * (size_t)dh;
        /* P from the recomputed logits and the cached normaliser */
        kt->gemm_nt(NULL, P, Lk, Q, j->ldq, K, j->ldkv, nb, Lk, dh, 0);
        for (int i = 0; i < nb; i++) {
            float *p = P + (size_t)i * (size_t)Lk, l = j->clse[base + (uint64_t)(i0 + i)];
            exp_shift(p, Lk, scale, l);
        }
        /* dV += P̃ᵀ dO (P̃ in G when dropping) */
        const float *Pt = P;
        if (j->drop) {
            for (int i = 0; i < nb; i++) {
                uint64_t row = (base + (uint64_t)(i0 + i)) * (uint64_t)a->sk->T;
                const float *p = P + (size_t)i * (size_t)Lk;
                float *g = G + (size_t)i * (size_t)Lk;
                for (int t = 0; t < Lk; t++)
                    g[t] = keep_elem(a->seed, row + (uint64_t)t, a->p_drop) ? p[t] * keep_scale
                                                                             : 0.0f;
            }
            Pt = G;
        }
        kt->gemm_tn(NULL, dV, j->lddkv, Pt, Lk, dO, j->lddc, Lk, dh, nb, 1);
        /* G = dP̃ = dO Vᵀ, then dS in place */
        kt->gemm_nt(NULL, G, Lk, dO, j->lddc, V, j->ldkv, nb, Lk, dh, 0);
        for (int i = 0; i < nb; i++) {
            const float *p = P + (size_t)i * (size_t)Lk;
            float *g = G + (size_t)i * (size_t)Lk;
            if (j->drop) {
                uint64_t row = (base + (uint64_t)(i0 + i)) * (uint64_t)a->sk->T;
                for (int t = 0; t < Lk; t++)
                    g[t] = keep_elem(a->seed, row + (uint64_t)t, a->p_drop) ? g[t] * keep_scale
                                                                             : 0.0f;
            }
            float d8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int u = 0;
            for (; u + 8 <= Lk; u += 8)
                for (int k = 0; k < 8; k++) d8[k] += p[u + k] * g[u + k];
            for (; u < Lk; u++) d8[0] += p[u] * g[u];
            float dot = ((d8[0] + d8[1]) + (d8[2] + d8[3])) + ((d8[4] + d8[5]) + (d8[6] + d8[7]));
            for (int t = 0; t < Lk; t++) g[t] = p[t] * (g[t] - dot) * scale;
        }
        kt->gemm_nn(NULL, dQ, j->lddq, G, Lk, K, j->ldkv, nb, dh, Lk, 0);
        kt->gemm_tn(NULL, dK, j->lddkv, G, Lk, Q, j->ldq, Lk, dh, nb, 1);
    }
}

static void bwd_task(void *ctx, int task, int n_tasks) {
    const mha_job *j = ctx;
    float *P = j->a->scratch + (size_t)task * j->slot_floats;
    float *G = P + j->slot_floats / 2;
    int n = j->a->sq->B * j->a->H;
    for (int p = task; p < n; p += n_tasks) bwd_pair(j, p / j->a->H, p % j->a->H, P, G);
}

void es_mha_backward(es_pool *pool, const es_mha *a, float *dq, int lddq, float *dk, float *dv,
                     int lddkv, const float *dctx, int lddc, const float *q, int ldq,
                     const float *k, const float *v, int ldkv, const float *lse) {
    mha_job j = {0};
    j.a = a;
    j.dq = dq;
    j.dk = dk;
    j.dv = dv;
    j.dctx = dctx;
    j.q = q;
    j.k = k;
    j.v = v;
    j.clse = lse;
    j.lddq = lddq;
    j.lddkv = lddkv;
    j.lddc = lddc;
    j.ldq = ldq;
    j.ldkv = ldkv;
    j.drop = a->p_drop > 0.0f;
    j.slot_floats = es_mha_scratch_floats(a->sk->T, 1);
    int D = a->H * a->dh;
    es_seq_zero_pads(a->sq, dq, D, lddq);
    es_seq_zero_pads(a->sk, dk, D, lddkv);
    es_seq_zero_pads(a->sk, dv, D, lddkv);
    int nt = n_tasks_for(pool, a);
    es_pool_run(nt > 1 ? pool : NULL, nt, bwd_task, &j);
}
