/*
 * linear.c — dense and 1-D convolution layers (see linear.h). The
 * convolution is k shifted GEMMs over one flat row range, which needs the
 * zero margins of seq.h but no im2col buffer.
 */
#include "nn/linear.h"

#include "kern/kern.h"

#include <string.h>

typedef struct colsum_job {
    float *db;
    const float *dy;
    size_t N;
    int D, ld;
} colsum_job;

static void colsum_task(void *ctx, int task, int n_tasks) {
    const colsum_job *j = ctx;
    int c0 = (int)((long)j->D * task / n_tasks), c1 = (int)((long)j->D * (task + 1) / n_tasks);
    /* rows outer, columns inner (contiguous), in chunks of 256 columns:
     * each column is still summed in ascending row order */
    float acc[256];
    for (int cb = c0; cb < c1; cb += 256) {
        int w = ES_MIN(256, c1 - cb);
        for (int c = 0; c < w; c++) acc[c] = 0.0f;
        for (size_t r = 0; r < j->N; r++) {
            const float *row = j->dy + r * (size_t)j->ld + (size_t)cb;
            for (int c = 0; c < w; c++) acc[c] += row[c];
        }
        for (int c = 0; c < w; c++) j->db[cb + c] += acc[c];
    }
}

void es_colsum_acc(es_pool *pool, float *db, const float *dy, size_t N, int D, int ld) {
    colsum_job j = {db, dy, N, D, ld};
    int nt = (N * (size_t)D >= 65536 && pool) ? ES_MIN(D, es_pool_threads(pool)) : 1;
    es_pool_run(nt > 1 ? pool : NULL, nt, colsum_task, &j);
}

static void fill_bias(float *y, const float *b, size_t N, int out) {
    for (size_t r = 0; r < N; r++) {
        float *yr = y + r * (size_t)out;
        if (b)
            memcpy(yr, b, (size_t)out * sizeof(float));
        else
            memset(yr, 0, (size_t)out * sizeof(float));
    }
}

void es_linear_forward(es_pool *pool, float *y, const float *x, const float *W, const float *b,
                       int N, int in, int out) {
    if (N <= 0) return;
    if (b) {
        fill_bias(y, b, (size_t)N, out);
        es_kern()->gemm_nt(pool, y, out, x, in, W, in, N, out, in, 1);
    } else {
        es_kern()->gemm_nt(pool, y, out, x, in, W, in, N, out, in, 0);
    }
}

void es_linear_backward(es_pool *pool, float *dx, int acc_dx, float *dW, float *db,
                        const float *dy, const float *x, const float *W, int N, int in, int out) {
    if (N <= 0) return;
    const es_kern_table *k = es_kern();
    if (dx) k->gemm_nn(pool, dx, in, dy, out, W, in, N, in, out, acc_dx);
    if (dW) k->gemm_tn(pool, dW, in, dy, out, x, in, out, in, N, 1);
    if (db) es_colsum_acc(pool, db, dy, (size_t)N, out, out);
}

/* The k taps as ONE GEMM over a sliding window: row r of the (M, k·in)
 * operand is x rows r+shift .. r+shift+k−1, i.e. k·in contiguous floats
 * starting at x + (r+shift)·in, so consecutive operand rows overlap (lda =
 * in < K = k·in). The GEMMs only read A and B and address them by stride
 * (kern.h allows overlapping rows), so no im2col copy is needed, and W
 * (out, k, in) is already the (out, k·in) matrix. One call instead of k:
 * C is read and written once and the kernel blocks over a longer K. */
void es_conv1d_forward(es_pool *pool, float *y, const float *x, const float *W, const float *b,
                       size_t r0, size_t r1, int shift, int k, int in, int out) {
    if (r1 <= r0) return;
    int M = (int)(r1 - r0);
    fill_bias(y + r0 * (size_t)out, b, (size_t)M, out);
    const float *xs = x + (size_t)((ptrdiff_t)r0 + shift) * (size_t)in;
    es_kern()->gemm_nt(pool, y + r0 * (size_t)out, out, xs, in, W, k * in, M, out, k * in, 1);
}

void es_conv1d_backward(es_pool *pool, float *dx, float *dW, float *db, const float *dy,
                        const float *x, const float *W, size_t r0, size_t r1, int shift, int k,
                        int in, int out) {
    if (r1 <= r0) return;
    int M = (int)(r1 - r0);
    const es_kern_table *kt = es_kern();
    const float *dys = dy + r0 * (size_t)out;
    /* dX: the windows overlap, so each tap accumulates separately */
    for (int j = 0; j < k && dx; j++) {
        size_t xr = (size_t)((ptrdiff_t)r0 + shift + j) * (size_t)in;
        kt->gemm_nn(pool, dx + xr, in, dys, out, W + (size_t)j * (size_t)in, k * in, M, in, out, 1);
    }
    /* dW (out, k·in) += dYᵀ · window operand (M, k·in), as in the forward */
    if (dW)
        kt->gemm_tn(pool, dW, k * in, dys, out, x + (size_t)((ptrdiff_t)r0 + shift) * (size_t)in,
                    in, out, k * in, M, 1);
    if (db) es_colsum_acc(pool, db, dys, (size_t)M, out, out);
}
