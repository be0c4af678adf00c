/*
 * floors.c — the machine's own limits, measured in the same run as the T5
 * benchmark (bench/run.sh) so every engine's time can be given as a
 * ratio to a physical floor. Not a test; not part of the library.
 *
 *   read bandwidth: threads each sum their slice of a buffer of --mb MiB
 *     (default 160 MiB ~ one decode step's fp32 weights, far above L3) with
 *     AVX2 loads, 4 accumulators; best of --reps passes, GB/s = bytes/s/1e9.
 *     The buffer is written once first so every page is resident. Measured
 *     twice: in 4 KB pages and in a buffer advised for transparent huge
 *     pages (edgeseq streams its re-packed decode weights from such
 *     memory, src/core/alloc.c); read_gbs is the better of the two, so
 *     the floor is the machine's, whatever the page size.
 *   fp32 FMA peak: per thread, 12 independent 8-lane FMA chains (enough to
 *     fill 2 FMA pipes x 4-6 cycles latency) for ~0.2 s; GFLOP/s = 2 x 8 x
 *     FMAs / s, summed over threads; best of --reps.
 * Threads are plain pthreads, started together behind a barrier.
 *
 * Build: cc -O2 -mavx2 -mfma -pthread floors.c -o floors (bench only; the
 * library itself never uses -march flags outside its per-ISA files).
 * Output: one JSON object.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct job {
    const float *p;
    size_t n;
    long iters;
    double sink;
    pthread_barrier_t *bar;
    double t0, t1;
} job;

static void *read_worker(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->bar);
    j->t0 = now_s();
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= j->n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(j->p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(j->p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(j->p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(j->p + i + 24));
    }
    j->t1 = now_s();
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    j->sink = t[0] + t[7];
    return NULL;
}

static void *fma_worker(void *arg) {
    job *j = arg;
    __m256 x = _mm256_set1_ps(1.0f), y = _mm256_set1_ps(0.999999f);
    __m256 c0 = x, c1 = x, c2 = x, c3 = x, c4 = x, c5 = x, c6 = x, c7 = x, c8 = x, c9 = x, c10 = x,
           c11 = x;
    pthread_barrier_wait(j->bar);
    j->t0 = now_s();
    for (long i = 0; i < j->iters; i++) {
        c0 = _mm256_fmadd_ps(c0, y, x);
        c1 = _mm256_fmadd_ps(c1, y, x);
        c2 = _mm256_fmadd_ps(c2, y, x);
        c3 = _mm256_fmadd_ps(c3, y, x);
        c4 = _mm256_fmadd_ps(c4, y, x);
        c5 = _mm256_fmadd_ps(c5, y, x);
        c6 = _mm256_fmadd_ps(c6, y, x);
        c7 = _mm256_fmadd_ps(c7, y, x);
        c8 = _mm256_fmadd_ps(c8, y, x);
        c9 = _mm256_fmadd_ps(c9, y, x);
        c10 = _mm256_fmadd_ps(c10, y, x);
        c11 = _mm256_fmadd_ps(c11, y, x);
    }
    j->t1 = now_s();
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float t[8];
    _mm256_storeu_ps(t, s);
    j->sink = t[0];
    return NULL;
}

/* Runs fn on nt threads; returns the span from the first start to the last end. */
static double run(void *(*fn)(void *), job *jobs, int nt) {
    pthread_t th[64];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nt);
    for (int i = 0; i < nt; i++) {
        jobs[i].bar = &bar;
        if (i) pthread_create(&th[i], NULL, fn, &jobs[i]);
    }
    fn(&jobs[0]);
    for (int i = 1; i < nt; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    double t0 = jobs[0].t0, t1 = jobs[0].t1;
    for (int i = 1; i < nt; i++) {
        if (jobs[i].t0 < t0) t0 = jobs[i].t0;
        if (jobs[i].t1 > t1) t1 = jobs[i].t1;
    }
    return t1 - t0;
}

int main(int argc, char **argv) {
    int threads = 1, reps = 5;
    double mb = 160.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: floors [--threads N] [--reps R] [--mb MiB]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || reps < 1 || mb <= 0) return 2;
    size_t n = (size_t)(mb * 1024 * 1024 / sizeof(float));
    n -= n % (32 * (size_t)threads);
    /* two buffers: plain 4 KB pages, and 2 MB aligned + MADV_HUGEPAGE */
    const size_t bytes = n * sizeof(float), huge = (size_t)2 << 20;
    float *bufs[2];
    void *maps[2];
    for (int b = 0; b < 2; b++) {
        maps[b] = mmap(NULL, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (maps[b] == MAP_FAILED) return 1;
        bufs[b] = (float *)(((size_t)maps[b] + huge - 1) & ~(huge - 1));
#ifdef MADV_HUGEPAGE
        (void)madvise(bufs[b], bytes, b ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#endif
        for (size_t i = 0; i < n; i++) bufs[b][i] = (float)(i & 1023);
    }

    job jobs[64];
    double best_bw[2] = {0.0, 0.0}, best_fma = 0.0, sink = 0.0;
    for (int r = 0; r < reps; r++) {
        for (int b = 0; b < 2; b++) {
            memset(jobs, 0, sizeof jobs);
            size_t per = n / (size_t)threads;
            for (int i = 0; i < threads; i++) {
                jobs[i].p = bufs[b] + (size_t)i * per;
                jobs[i].n = per;
            }
            double t = run(read_worker, jobs, threads);
            for (int i = 0; i < threads; i++) sink += jobs[i].sink;
            double bw = (double)n * sizeof(float) / t / 1e9;
            if (bw > best_bw[b]) best_bw[b] = bw;
        }

        memset(jobs, 0, sizeof jobs);
        const long iters = 4000000; /* 12 x 8 x 2 x 4e6 = 768 MFLOP per thread */
        for (int i = 0; i < threads; i++) jobs[i].iters = iters;
        double t = run(fma_worker, jobs, threads);
        for (int i = 0; i < threads; i++) sink += jobs[i].sink;
        double gf = (double)threads * iters * 12 * 8 * 2 / t / 1e9;
        if (gf > best_fma) best_fma = gf;
    }
    const double best = best_bw[1] > best_bw[0] ? best_bw[1] : best_bw[0];
    printf("{\"threads\":%d,\"read_mib\":%.0f,\"read_gbs\":%.2f,\"read_gbs_4k\":%.2f,"
           "\"read_gbs_huge\":%.2f,\"fma_gflops\":%.2f,\"sink\":%g}\n",
           threads, mb, best, best_bw[0], best_bw[1], best_fma, sink != sink ? 0.0 : 1.0);
    for (int b = 0; b < 2; b++) munmap(maps[b], bytes + huge);
    return 0;
}
