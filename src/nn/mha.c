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
            float mx = -INFINITY;
            for (int t = 0; t < Lk; t++) {
                s[t] *= scale;
                mx = s[t] > mx ? s[t] : mx;
            }
            float z = 0.0f;
            for (int t = 0; t < Lk; t++) {
                s[t] = expf(s[t] - mx);
                z += s[t];
            }
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
            for (int t = 0; t < Lk; t++) p[t] = expf(p[t] * scale - l);
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
            float dot = 0.0f;
            for (int t = 0; t < Lk; t++) dot += p[t] * g[t];
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
