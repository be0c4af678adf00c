/*
 * kern_gemm.c — GFLOP/s of each usable GEMM variant on the T5 shapes that
 * matter (a timing harness, not a test):
 *   decode  : gemm_nt, M = 1 and 4, N = 512 .. 32128, K = 512 / 2048
 *             (weights B(N,K) streamed once: also reported as GB/s of B)
 *   encoder / training: M = 128 and 1024, N, K in {512, 2048}; nt, nn, tn
 * against the peak of one core (FMA units x lanes x 2 flops x clock; the
 * clock is read from /proc/cpuinfo, or given with --ghz).
 *
 * Build (no CMake target; link the library from any build dir):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/kern_gemm.c \
 *      build/libedgeseq.a $(pkg-config --libs json-c) -lpthread -lm -o kern_gemm
 * Run: ./kern_gemm [--threads N] [--ms MILLISECONDS] [--ghz GHZ] [--quick]
 * Each measurement repeats the call for ~--ms (default 150) and keeps the
 * best of 3 such runs; the scalar reference is timed on small shapes only.
 * With --threads 1 (default) time is the thread's CPU time, so numbers stay
 * meaningful on a shared machine; with more threads it is wall time.
 */
#include "core/cpu.h"
#include "core/rng.h"
#include "kern/kern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* With one thread, CPU time of this thread: on a shared machine the wall
 * clock also counts the time other jobs held the core. */
static clockid_t g_clock = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpuinfo_ghz(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[512];
    double mhz = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0) {
            char *c = strchr(line, ':');
            if (c) mhz = atof(c + 1);
            break;
        }
    fclose(f);
    return mhz / 1000.0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* Measured FMA peak of one core: 12 independent chains of 8-lane FMAs in
 * registers (hides the 4-5 cycle latency on 2 pipes), ~0.2 s of CPU. */
__attribute__((target("avx2,fma"))) static double fma_peak_avx2(void) {
    __m256 c[12], x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-4f);
    for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
    long iters = 0;
    double t0 = now(), t;
    do {
        for (int r = 0; r < 100000; r++) {
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++) c[i] = _mm256_fmadd_ps(c[i], x, y);
        }
        iters += 100000;
        t = now() - t0;
    } while (t < 0.2);
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += _mm256_cvtss_f32(c[i]);
    if (sink == 12345.0f) printf(" ");
    return iters * 12.0 * 16.0 / t * 1e-9;
}
#endif

static float *rnd_buf(es_rng *r, size_t n) {
    float *p = es_malloc_aligned(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = es_rng_uniformf(r) - 0.5f;
    return p;
}

static double g_ms = 150;

/* seconds per call: best of 3 runs of ~g_ms each */
static double time_gemm(es_gemm_fn fn, es_pool *pool, float *C, const float *A, int lda,
                        const float *B, int ldb, int M, int N, int K) {
    fn(pool, C, N, A, lda, B, ldb, M, N, K, 0); /* warm-up */
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        int n = 0;
        double t0 = now(), t;
        do {
            fn(pool, C, N, A, lda, B, ldb, M, N, K, 0);
            n++;
            t = now() - t0;
        } while (t < g_ms * 1e-3);
        if (t / n < best) best = t / n;
    }
    return best;
}

int main(int argc, char **argv) {
    int threads = 1, quick = 0;
    double ghz = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc) g_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--ghz") && i + 1 < argc) ghz = atof(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: %s [--threads N] [--ms MS] [--ghz GHZ] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (ghz <= 0) ghz = cpuinfo_ghz();
    if (threads <= 1) g_clock = CLOCK_THREAD_CPUTIME_ID;
    es_pool *pool = NULL;
    es_error err;
    if (threads > 1 && es_pool_new(&pool, threads, &err) != ES_OK) {
        fprintf(stderr, "pool: %s\n", err.msg);
        return 1;
    }
    const es_kern_table *tabs[3] = {es_kern_get("ref"), es_kern_get("avx2"),
                                    es_kern_get("avx512")};
    int lanes = es_kern_get("avx512") ? 16 : 8;
    double peak = 2.0 * lanes * 2.0 * ghz * threads; /* 2 FMA pipes x lanes x 2 flops */
    printf("cpu: %s\n", es_cpu_describe());
    printf("threads %d, clock %.2f GHz, peak fp32 %.1f GFLOP/s (%d-lane FMA x2), timing: %s\n",
           threads, ghz, peak, lanes, threads <= 1 ? "thread CPU time" : "wall clock");
#if defined(__x86_64__) && defined(__GNUC__)
    if (es_kern_get("avx2") && threads <= 1) {
        /* the nominal clock understates a turbo core: use the measured peak */
        double meas = fma_peak_avx2();
        printf("measured 8-lane FMA peak of this core: %.1f GFLOP/s (= %.2f GHz x 32); %%peak "
               "below uses it\n", meas, meas / 32.0);
        if (lanes == 8) peak = meas;
    }
#endif
    printf("%-4s %5s %6s %5s %-7s %9s %7s %8s\n", "op", "M", "N", "K", "isa", "GFLOP/s", "%peak",
           "B GB/s");

    struct shape {
        int op, M, N, K;
    } sh[64];
    int ns = 0;
    static const int dec_n[] = {512, 2048, 32128};
    for (int m = 1; m <= 4; m += 3)
        for (int k = 512; k <= 2048; k *= 4)
            for (int n = 0; n < 3; n++) sh[ns++] = (struct shape){0, m, dec_n[n], k};
    for (int op = 0; op < 3; op++)
        for (int m = 128; m <= 1024; m *= 8)
            for (int n = 512; n <= 2048; n *= 4)
                for (int k = 512; k <= 2048; k *= 4) {
                    if (quick && (m == 1024 || (n == 2048 && k == 2048))) continue;
                    sh[ns++] = (struct shape){op, m, n, k};
                }

    es_rng r;
    es_rng_seed(&r, 1);
    static const char *ops[] = {"nt", "nn", "tn"};
    for (int s = 0; s < ns; s++) {
        int op = sh[s].op, M = sh[s].M, N = sh[s].N, K = sh[s].K;
        /* nt: A(M,K) B(N,K); nn: A(M,K) B(K,N); tn: A(K,M) B(K,N) */
        int lda = op == 2 ? M : K, ldb = op == 0 ? K : N;
        float *A = rnd_buf(&r, (size_t)M * K), *B = rnd_buf(&r, (size_t)N * K);
        float *C = rnd_buf(&r, (size_t)M * N);
        double flops = 2.0 * M * N * K;
        for (int t = 0; t < 3; t++) {
            if (!tabs[t]) continue;
            if (t == 0 && flops > 3e8) continue; /* scalar reference: small shapes only */
            es_gemm_fn fn = op == 0 ? tabs[t]->gemm_nt : op == 1 ? tabs[t]->gemm_nn : tabs[t]->gemm_tn;
            double sec = time_gemm(fn, pool, C, A, lda, B, ldb, M, N, K);
            double gf = flops / sec * 1e-9;
            printf("%-4s %5d %6d %5d %-7s %9.2f %6.1f%% %8.2f\n", ops[op], M, N, K, tabs[t]->isa,
                   gf, 100.0 * gf / peak, (double)N * K * 4 / sec * 1e-9);
            fflush(stdout);
        }
        es_free_aligned(A);
        es_free_aligned(B);
        es_free_aligned(C);
    }
    es_pool_free(pool);
    return 0;
}
