/*
 * rows.c — see rows.h.
 */
#include "core/rows.h"

#include <string.h>

/* Old row p is overwritten iff it is a new row (p < n_rows) that moves. */
static int clobbered(const int32_t *parent, int n_rows, int p) {
    return p < n_rows && parent[p] != p;
}

void es_gather_rows(void *base, size_t stride, size_t live, void *tmp, const int32_t *parent,
                    int n_rows) {
    char *b = base, *t = tmp;
    for (int r = 0; r < n_rows; r++) {
        const int p = parent[r];
        if (p == r || !clobbered(parent, n_rows, p)) continue;
        int seen = 0; /* saved already for an earlier child */
        for (int q = 0; q < r && !seen; q++) seen = parent[q] == p;
        if (!seen) memcpy(t + (size_t)p * stride, b + (size_t)p * stride, live);
    }
    for (int r = 0; r < n_rows; r++) {
        const int p = parent[r];
        if (p == r) continue;
        const char *src = (clobbered(parent, n_rows, p) ? t : b) + (size_t)p * stride;
        memcpy(b + (size_t)r * stride, src, live);
    }
}
