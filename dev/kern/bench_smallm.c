/* bench_smallm.c — dev: GFLOP/s of gemm_nt/nn/tn (best ISA) for M = 1..16 to
 * place the small-M thresholds (KT_SMALL_NT, KT_SMALL_NN in gemm_tmpl.h).
 * Build like bench/kern_gemm.c. Thread CPU time, so a shared machine is ok. */
#include "kern/kern.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 2048, K = argc > 2 ? atoi(argv[2]) : 512;
    const es_kern_table *t = es_kern();
    float *A = es_malloc_aligned(sizeof(float) * 16 * (size_t)K);
    float *B = es_malloc_aligned(sizeof(float) * (size_t)N * K);
    float *C = es_malloc_aligned(sizeof(float) * 16 * (size_t)N);
    for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)(i % 7) - 3;
    for (size_t i = 0; i < (size_t)16 * K; i++) A[i] = (float)(i % 5) - 2;
    printf("isa %s N %d K %d\nM   nt GF/s  nn GF/s  tn GF/s\n", t->isa, N, K);
    for (int M = 1; M <= 16; M++) {
        printf("%-3d", M);
        for (int op = 0; op < 3; op++) {
            es_gemm_fn fn = op == 0 ? t->gemm_nt : op == 1 ? t->gemm_nn : t->gemm_tn;
            int lda = op == 2 ? M : K, ldb = op == 0 ? K : N;
            double best = 1e30;
            for (int r = 0; r < 3; r++) {
                int n = 0;
                double t0 = cpu_now(), dt;
                do {
                    fn(NULL, C, N, A, lda, B, ldb, M, N, K, 0);
                    n++;
                    dt = cpu_now() - t0;
                } while (dt < 0.05);
                if (dt / n < best) best = dt / n;
            }
            printf(" %8.2f", 2.0 * M * N * K / best * 1e-9);
        }
        printf("\n");
    }
    es_free_aligned(A);
    es_free_aligned(B);
    es_free_aligned(C);
    return 0;
}
