/*
 * t5_linear.c — the T5 linear-layer handle (t5_linear.h): F32, BF16 and
 * int8 (dynamic per-row activation quantization + exact integer GEMM).
 *
 * Threads: one pool task per fixed block of LIN_NB output columns; every
 * task reads the whole x and writes only its own columns, so results do
 * not depend on the thread count. An int8 task handles LIN_MT rows at a
 * time: it finds each row's max |x| (one pass), quantizes chunks of at
 * most ES_T5_LIN_KCHUNK columns into a stack buffer (the chunk is the
 * group when group-wise) and accumulates the int32 dot products with the
 * kernel table's qgemm_nt (pool = NULL inside a task). With a pool, the
 * rows are quantized once beforehand into the pool's scratch (no
 * allocation) and the tasks only multiply; the codes are the same.
 */
#include "model/t5_linear.h"

#include "kern/kern.h"

#include <math.h>
#include <string.h>

#define LIN_NB 64 /* output columns per task */
#define LIN_MT 4  /* rows quantized at once */

float es_t5_quant_row(uint8_t *codes, const float *x, int K) {
    return es_kern()->quant_row(codes, x, K);
}

typedef struct lin_job {
    float *y;
    const float *x;
    const es_t5_lin *w;
    int M, acc;
    /* rows quantized once before the tasks (pool scratch), or NULL: then
     * each task quantizes the rows itself */
    const uint8_t *codes; /* (M, K) a + 128 */
    const float *sa;      /* (M) activation scales */
} lin_job;

/* y[:, n0:n1] (+)= the int8 product for this task's columns. */
static void i8_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const lin_job *j = ctx;
    const es_t5_lin *w = j->w;
    const int N = w->N, K = w->K, G = w->group, NG = w->n_groups;
    const int n0 = task * LIN_NB, nb = ES_MIN(LIN_NB, N - n0);
    const int chunk = G < K ? G : ES_MIN(K, ES_T5_LIN_KCHUNK);
    const es_qgemm_fn qgemm = es_kern()->qgemm_nt;
    const es_qgemm_packed_fn qgemm_p = es_kern()->qgemm_packed;
    const int8_t *qp = es_t5_lin_qp(w); /* NULL until re-packed: same sums */
    uint8_t codes[LIN_MT * ES_T5_LIN_KCHUNK];
    int32_t acc32[LIN_MT * LIN_NB];
    float part[LIN_MT * LIN_NB];
    float sa[LIN_MT], inv[LIN_MT];
    for (int m0 = 0; m0 < j->M; m0 += LIN_MT) {
        const int mt = ES_MIN(LIN_MT, j->M - m0);
        for (int r = 0; r < mt && j->codes; r++) sa[r] = j->sa[m0 + r];
        for (int r = 0; r < mt && !j->codes; r++) {
            const float *x = j->x + (size_t)(m0 + r) * K;
            float mx = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = fabsf(x[k]);
                mx = a > mx ? a : mx;
            }
            sa[r] = mx > 0.0f && isfinite(mx) ? mx / 127.0f : (mx > 0.0f ? NAN : 0.0f);
            inv[r] = mx > 0.0f && isfinite(mx) ? 127.0f / mx : 0.0f;
        }
        if (G < K) memset(part, 0, sizeof part);
        for (int k0 = 0, g = 0; k0 < K; k0 += chunk, g++) {
            const int kc = ES_MIN(chunk, K - k0);
            const uint8_t *A = codes;
            int lda = kc;
            if (j->codes) {
                A = j->codes + (size_t)m0 * K + k0;
                lda = K;
            }
            for (int r = 0; r < mt && !j->codes; r++) {
                const float *x = j->x + (size_t)(m0 + r) * K + k0;
                uint8_t *c = codes + (size_t)r * kc;
                for (int k = 0; k < kc; k++) c[k] = es_quant_code(x[k], inv[r]);
            }
            /* per-channel: int32 sums accumulate over the chunks (exact);
             * group-wise: one group per chunk, scaled into part[] */
            if (qp)
                qgemm_p(acc32, nb, A, lda,
                        qp + (size_t)(n0 / 4) * w->qp_stride + (size_t)(k0 / 16) * 64,
                        w->qp_stride, mt, nb, kc, G < K ? 0 : (k0 > 0));
            else
                qgemm(NULL, acc32, nb, A, lda, w->q + (size_t)n0 * K + k0, K, mt, nb, kc,
                      G < K ? 0 : (k0 > 0));
            if (G < K) {
                for (int r = 0; r < mt; r++)
                    for (int n = 0; n < nb; n++) {
                        const size_t wi = (size_t)(n0 + n) * NG + g;
                        int32_t s = acc32[r * nb + n] - 128 * w->wsum[wi];
                        part[r * nb + n] += w->scale[wi] * (float)s;
                    }
            }
        }
        for (int r = 0; r < mt; r++) {
            float *y = j->y + (size_t)(m0 + r) * N + n0;
            for (int n = 0; n < nb; n++) {
                float v;
                if (G < K) {
                    v = sa[r] * part[r * nb + n];
                } else {
                    const size_t wi = (size_t)(n0 + n);
                    int32_t s = acc32[r * nb + n] - 128 * w->wsum[wi];
                    v = sa[r] * (w->scale[wi] * (float)s);
                }
                y[n] = j->acc ? y[n] + v : v;
            }
        }
    }
}

static void bf16_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const lin_job *j = ctx;
    const es_t5_lin *w = j->w;
    const int n0 = task * LIN_NB, nb = ES_MIN(LIN_NB, w->N - n0);
    const uint16_t *bp = es_t5_lin_bp(w); /* NULL until re-packed: same bits */
    if (bp) {
        es_kern()->bgemm_packed(j->y + n0, w->N, j->x, w->K, bp + (size_t)(n0 / 4) * w->bp_stride,
                                w->bp_stride, j->M, nb, w->K, j->acc);
        return;
    }
    es_kern()->bgemm_nt(j->y + n0, w->N, j->x, w->K, w->bf16 + (size_t)n0 * w->K, w->K, j->M, nb,
                        w->K, j->acc);
}

void es_t5_linear(es_pool *pool, float *y, const float *x, int M, const es_t5_lin *w, int acc) {
    if (M <= 0 || w->N <= 0) return;
    const float *rp = w->kind == ES_T5_W_F32 && M <= 8 ? es_t5_lin_rows(w) : NULL;
    if (rp) {
        es_kern()->gemm_nt_rows(pool, y, w->N, x, w->K, rp, M, w->N, w->K, acc);
        return;
    }
    if (w->kind == ES_T5_W_F32 && w->packed) {
        es_kern()->gemm_nt_packed(pool, y, w->N, x, w->K, w->packed, M, w->N, w->K, acc);
        return;
    }
    if (w->kind == ES_T5_W_F32) {
        es_kern()->gemm_nt(pool, y, w->N, x, w->K, w->f32, w->K, M, w->N, w->K, acc);
        return;
    }
    lin_job j = {y, x, w, M, acc, NULL, NULL};
    const int n_tasks = (w->N + LIN_NB - 1) / LIN_NB;
    if (w->kind == ES_T5_W_BF16) {
        es_pool_run(pool, n_tasks, bf16_task, &j);
        return;
    }
    /* int8: quantize each row once for all column tasks, into the pool's
     * scratch (sized at session creation; rows in chunks that fit it) —
     * the same codes and scales every task would compute, so the same
     * bits; per-task quantization cost ~K scalar ops per 64 columns, as
     * much as the integer products at M = 1 (perf: i8_task 36 % of an
     * int8 greedy decode before). Without a pool: per-task quantization. */
    const size_t K = (size_t)w->K;
    size_t rows = 0;
    void *scr = NULL;
    if (pool) {
        size_t have = es_kern_gemm_scratch_bytes(es_pool_threads(pool));
        rows = (have - 64) / (K + sizeof(float)); /* have >= 1.1 MB, K <= 2^31 */
        if (rows > (size_t)M) rows = (size_t)M;
        if (rows > 0) scr = es_pool_scratch(pool, rows * (K + sizeof(float)) + 64);
    }
    if (!scr) {
        es_pool_run(pool, n_tasks, i8_task, &j);
        return;
    }
    float *sa = scr;
    uint8_t *codes = (uint8_t *)(sa + rows);
    for (int m0 = 0; m0 < M; m0 += (int)rows) {
        const int mr = ES_MIN((int)rows, M - m0);
        for (int r = 0; r < mr; r++)
            sa[r] = es_t5_quant_row(codes + (size_t)r * K, x + (size_t)(m0 + r) * K, w->K);
        lin_job jc = {y + (size_t)m0 * w->N, x + (size_t)m0 * K, w, mr, acc, codes, sa};
        es_pool_run(pool, n_tasks, i8_task, &jc);
    }
}

void es_t5_lin_row(const es_t5_lin *w, int r, float *out) {
    const size_t K = (size_t)w->K, o = (size_t)r * K;
    switch (w->kind) {
    case ES_T5_W_F32: memcpy(out, w->f32 + o, K * sizeof(float)); break;
    case ES_T5_W_BF16:
        for (size_t k = 0; k < K; k++) out[k] = es_bf16_to_f32(w->bf16[o + k]);
        break;
    case ES_T5_W_I8:
        for (size_t k = 0; k < K; k++)
            out[k] = w->scale[(size_t)r * w->n_groups + k / (size_t)w->group] * (float)w->q[o + k];
        break;
    }
}
