/* rows_bench.c — dev timing of gemm_nt_rows (row-interleaved decode GEMV)
 * for M = 1..8 rows of A: ms per call and GB/s of weights, thread CPU time.
 * (HUGE=1: weights in memory advised for transparent huge pages.)
 * cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc dev/kern/rows_bench.c \
 *    build/libedgeseq.a $(pkg-config --libs json-c) -lpthread -lm */
#include "core/rng.h"
#include "kern/kern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

static float *big(size_t bytes) {
    void *m = mmap(NULL, bytes + (2u << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    char *a = (char *)(((unsigned long)m + (2u << 20) - 1) & ~((2ul << 20) - 1));
    if (getenv("HUGE")) madvise(a, bytes, MADV_HUGEPAGE);
    return (float *)a;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const es_kern_table *t = es_kern_get(argc > 1 ? argv[1] : "avx2");
    if (!t || !t->gemm_nt_rows) return 1;
    static const int shapes[][2] = {{32128, 512}, {2048, 512}, {512, 2048}};
    es_rng r;
    es_rng_seed(&r, 1);
    for (int s = 0; s < 3; s++) {
        int N = shapes[s][0], K = shapes[s][1];
        float *B = es_malloc_aligned((size_t)N * K * 4), *A = es_malloc_aligned(8 * (size_t)K * 4);
        float *C = es_malloc_aligned(8 * (size_t)N * 4);
        float *P = big(t->gemm_rows_floats(N, K) * 4);
        for (size_t i = 0; i < (size_t)N * K; i++) B[i] = es_rng_uniformf(&r) - 0.5f;
        for (int i = 0; i < 8 * K; i++) A[i] = es_rng_uniformf(&r) - 0.5f;
        t->gemm_rows_pack(P, B, K, N, K);
        { char l[256]; FILE *f = fopen("/proc/self/smaps_rollup", "r"); while (f && fgets(l, sizeof l, f)) if (!strncmp(l, "AnonHuge", 8)) fputs(l, stdout); if (f) fclose(f); }
        /* evict: a fresh 64 MB sweep between calls when the weights exceed L3 */
        for (int M = 1; M <= 4; M++) {
            double best = 1e9;
            for (int rep = 0; rep < 5; rep++) {
                int n = 0;
                double t0 = now(), el;
                do {
                    t->gemm_nt_rows(NULL, C, N, A, K, P, M, N, K, 0);
                    n++;
                    el = now() - t0;
                } while (el < 0.1);
                if (el / n < best) best = el / n;
            }
            printf("N %5d K %4d M %d: %.3f ms  %.1f GB/s  %.1f GFLOP/s\n", N, K, M, best * 1e3,
                   (double)N * K * 4 / best * 1e-9, 2.0 * M * N * K / best * 1e-9);
        }
        es_free_aligned(B); es_free_aligned(A); es_free_aligned(C);
    }
    return 0;
}
