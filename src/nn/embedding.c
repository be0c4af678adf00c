/*
 * embedding.c — lookup and scatter-add (see embedding.h). The backward is
 * split by columns, not rows, so two rows with the same id never race and
 * the summation order is the row order for any thread count.
 */
#include "nn/embedding.h"

#include <string.h>

void es_embedding_forward(float *y, const float *E, const int32_t *ids, size_t n, int D) {
    for (size_t r = 0; r < n; r++) {
        float *yr = y + r * (size_t)D;
        if (ids[r] >= 0)
            memcpy(yr, E + (size_t)ids[r] * (size_t)D, (size_t)D * sizeof(float));
        else
            memset(yr, 0, (size_t)D * sizeof(float));
    }
}

typedef struct emb_job {
    float *dE;
    const float *dy;
    const int32_t *ids;
    size_t n;
    int D;
} emb_job;

static void emb_task(void *ctx, int task, int n_tasks) {
    const emb_job *j = ctx;
    int c0 = (int)((long)j->D * task / n_tasks), c1 = (int)((long)j->D * (task + 1) / n_tasks);
    for (size_t r = 0; r < j->n; r++) {
        if (j->ids[r] < 0) continue;
        float *d = j->dE + (size_t)j->ids[r] * (size_t)j->D;
        const float *g = j->dy + r * (size_t)j->D;
        for (int c = c0; c < c1; c++) d[c] += g[c];
    }
}

void es_embedding_backward(es_pool *pool, float *dE, const float *dy, const int32_t *ids,
                           size_t n, int D) {
    emb_job j = {dE, dy, ids, n, D};
    int nt = (pool && n * (size_t)D >= 65536) ? ES_MIN(es_pool_threads(pool), D) : 1;
    es_pool_run(nt > 1 ? pool : NULL, nt, emb_task, &j);
}
