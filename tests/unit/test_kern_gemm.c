/*
 * test_kern_gemm.c — every usable GEMM variant (ref, avx2, avx512) against
 * an exact double-precision sum, on ragged sizes, random strides, unaligned
 * base pointers, acc = 0 and 1; bit-identical results for 1, 2, 3 threads;
 * C padding untouched and, for acc = 0, C never read (it starts as NaN);
 * the no-allocation fallback (packing buffer refused) gives the same bits;
 * EDGESEQ_ISA forcing checked in child processes.
 *
 * Tolerance (justified in docs/kernels.md): any order of summing K products
 * with float accumulators and FMA rounds each term at most K+2 times (K-1
 * adds or lane adds + log2(VL) tree adds + the product + the add into C),
 * so |got - exact| <= (K + 2)·u·(Σ|a·b| + |C0|), u = 2^-24, to first order;
 * 1.01x covers the second order. Dropping or doubling one term breaks it.
 * An AVX-512 variant is tested when the CPU has it; otherwise the test says
 * "skipped: no AVX-512" (unit_test_kern_gemm_avx512_emu runs it under emulation).
 */
#include "test.h"

#include "core/cpu.h"
#include "core/rng.h"
#include "kern/kern.h"

#include <stdint.h>
#include <unistd.h>

static const int k_sizes[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 100, 129};
enum { N_SIZES = (int)(sizeof k_sizes / sizeof k_sizes[0]) };
enum { OP_NT, OP_NN, OP_TN };
static const char *const k_ops[] = {"nt", "nn", "tn"};
#define SENTINEL 12345.0f

static es_rng g_rng;
static es_pool *g_pool2, *g_pool3;
static long g_thread_cases;

static es_gemm_fn op_fn(const es_kern_table *t, int op) {
    return op == OP_NT ? t->gemm_nt : op == OP_NN ? t->gemm_nn : t->gemm_tn;
}

static float rnd(void) { return 2.0f * es_rng_uniformf(&g_rng) - 1.0f; }

/* A buffer of n floats starting 0..15 floats past a 64-byte boundary. */
typedef struct buf {
    float *base, *p;
} buf;

static buf buf_new(size_t n) {
    buf b;
    int off = (int)es_rng_below(&g_rng, 16);
    b.base = es_malloc_aligned((n + 16) * sizeof(float));
    REQUIRE(b.base != NULL, "alloc");
    b.p = b.base + off;
    return b;
}

typedef struct gcase {
    int op, M, N, K, acc, lda, ldb, ldc;
    buf A, B, C0;
    size_t nA, nB, nC;
} gcase;

static void case_new(gcase *g, int op, int M, int N, int K, int acc) {
    g->op = op, g->M = M, g->N = N, g->K = K, g->acc = acc;
    int arows = op == OP_TN ? K : M, acols = op == OP_TN ? M : K;
    int brows = op == OP_NT ? N : K, bcols = op == OP_NT ? K : N;
    /* strides: sometimes exact, sometimes padded by up to 9 */
    g->lda = acols + (es_rng_below(&g_rng, 3) ? (int)es_rng_below(&g_rng, 10) : 0);
    g->ldb = bcols + (es_rng_below(&g_rng, 3) ? (int)es_rng_below(&g_rng, 10) : 0);
    g->ldc = N + (es_rng_below(&g_rng, 3) ? (int)es_rng_below(&g_rng, 10) : 0);
    g->nA = (size_t)(arows - 1) * g->lda + acols;
    g->nB = (size_t)(brows - 1) * g->ldb + bcols;
    g->nC = (size_t)M * g->ldc + 16; /* + slack checked for overruns */
    g->A = buf_new(g->nA);
    g->B = buf_new(g->nB);
    g->C0 = buf_new(g->nC);
    for (size_t i = 0; i < g->nA; i++) g->A.p[i] = rnd();
    for (size_t i = 0; i < g->nB; i++) g->B.p[i] = rnd();
    for (size_t i = 0; i < g->nC; i++) g->C0.p[i] = SENTINEL;
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++)
            g->C0.p[(size_t)i * g->ldc + n] = acc ? rnd() : NAN;
}

static void case_free(gcase *g) {
    es_free_aligned(g->A.base);
    es_free_aligned(g->B.base);
    es_free_aligned(g->C0.base);
}

static float opa(const gcase *g, int i, int k) {
    return g->op == OP_TN ? g->A.p[(size_t)k * g->lda + i] : g->A.p[(size_t)i * g->lda + k];
}
static float opb(const gcase *g, int k, int n) {
    return g->op == OP_NT ? g->B.p[(size_t)n * g->ldb + k] : g->B.p[(size_t)k * g->ldb + n];
}

/* Runs variant t with pool p into a fresh copy of C0; returns it. */
static buf run(const gcase *g, const es_kern_table *t, es_pool *p) {
    buf c = buf_new(g->nC);
    memcpy(c.p, g->C0.p, g->nC * sizeof(float));
    op_fn(t, g->op)(p, c.p, g->ldc, g->A.p, g->lda, g->B.p, g->ldb, g->M, g->N, g->K, g->acc);
    return c;
}

/* Exact C (double) and the error scale Σ|a·b| + |C0|, per element (M, N). */
static void exact(const gcase *g, double *E, double *S) {
    for (int i = 0; i < g->M; i++) {
        for (int n = 0; n < g->N; n++) {
            double e = 0.0, s = 0.0;
            for (int k = 0; k < g->K; k++) {
                double p = (double)opa(g, i, k) * opb(g, k, n);
                e += p;
                s += fabs(p);
            }
            if (g->acc) {
                double c0 = g->C0.p[(size_t)i * g->ldc + n];
                e += c0;
                s += fabs(c0);
            }
            E[(size_t)i * g->N + n] = e;
            S[(size_t)i * g->N + n] = s;
        }
    }
}

/* Checks C against the exact sum; returns the worst |err| / tolerance. */
static double check_c(const gcase *g, const float *C, const double *E, const double *S,
                      const char *who) {
    const double u = ldexp(1.0, -24);
    double worst = 0.0;
    int bad = 0;
    for (int i = 0; i < g->M && bad < 3; i++) {
        for (int n = 0; n < g->N && bad < 3; n++) {
            double e = E[(size_t)i * g->N + n];
            double tol = 1.01 * (g->K + 2) * u * S[(size_t)i * g->N + n] + 1e-37;
            double got = C[(size_t)i * g->ldc + n];
            double r = fabs(got - e) / tol;
            if (!(r <= 1.0)) {
                bad++;
                CHECK(0, "%s gemm_%s M=%d N=%d K=%d acc=%d lda=%d ldb=%d ldc=%d: C[%d,%d]=%.9g "
                         "exact %.9g tol %.3g",
                      who, k_ops[g->op], g->M, g->N, g->K, g->acc, g->lda, g->ldb, g->ldc, i, n,
                      got, e, tol);
            }
            if (r > worst) worst = r;
        }
    }
    /* padding between rows and past the end: untouched */
    for (size_t x = 0; x < g->nC && bad < 4; x++) {
        size_t i = x / g->ldc, n = x % g->ldc;
        if (i < (size_t)g->M && n < (size_t)g->N) continue;
        if (C[x] != SENTINEL) {
            bad++;
            CHECK(0, "%s gemm_%s M=%d N=%d K=%d: wrote padding at %zu", who, k_ops[g->op], g->M,
                  g->N, g->K, x);
        }
    }
    return worst;
}

typedef struct variant {
    const char *name;
    const es_kern_table *t;
    double worst;
    long cases;
} variant;

static void run_case(variant *v, int nv, int op, int M, int N, int K, int acc) {
    gcase g;
    case_new(&g, op, M, N, K, acc);
    double *E = es_malloc((size_t)M * N * sizeof(double));
    double *S = es_malloc((size_t)M * N * sizeof(double));
    REQUIRE(E && S, "alloc");
    exact(&g, E, S);
    for (int i = 0; i < nv; i++) {
        buf c1 = run(&g, v[i].t, NULL);
        double w = check_c(&g, c1.p, E, S, v[i].name);
        if (w > v[i].worst) v[i].worst = w;
        v[i].cases++;
        /* thread-count independence (bit for bit), where work is split at all
         * (kernels run smaller products on the caller alone) */
        if ((double)M * N * K >= 65536.0) {
            buf c2 = run(&g, v[i].t, g_pool2), c3 = run(&g, v[i].t, g_pool3);
            CHECK(memcmp(c1.p, c2.p, g.nC * sizeof(float)) == 0 &&
                      memcmp(c1.p, c3.p, g.nC * sizeof(float)) == 0,
                  "%s gemm_%s M=%d N=%d K=%d acc=%d: results differ with 1/2/3 threads",
                  v[i].name, k_ops[op], M, N, K, acc);
            es_free_aligned(c2.base);
            es_free_aligned(c3.base);
            g_thread_cases++;
        }
        /* packing buffer allocation fails -> in-place fallback, same bits */
        if (M > 8) {
            buf c4 = buf_new(g.nC);
            memcpy(c4.p, g.C0.p, g.nC * sizeof(float));
            es_test_fail_alloc_after(1);
            op_fn(v[i].t, op)(NULL, c4.p, g.ldc, g.A.p, g.lda, g.B.p, g.ldb, M, N, K, acc);
            es_test_fail_alloc_after(0);
            CHECK(memcmp(c1.p, c4.p, g.nC * sizeof(float)) == 0,
                  "%s gemm_%s M=%d N=%d K=%d acc=%d: no-allocation fallback differs", v[i].name,
                  k_ops[op], M, N, K, acc);
            es_free_aligned(c4.base);
        }
        es_free_aligned(c1.base);
    }
    es_free(E);
    es_free(S);
    case_free(&g);
}

/* ---- EDGESEQ_ISA forcing, checked in a child process -------------------- */

static int g_fallback_logged;
static void child_log(void *user, es_log_level level, const char *msg) {
    (void)user;
    (void)level;
    if (strstr(msg, "not supported")) g_fallback_logged = 1;
}

static int child_main(void) {
    es_set_log(child_log, NULL);
    const es_kern_table *t = es_kern();
    /* run it once, to prove the chosen table executes here */
    float a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, c = 0;
    t->gemm_nt(NULL, &c, 1, a, 3, b, 3, 1, 1, 3, 0);
    printf("%s %d %g\n", t->isa, g_fallback_logged, c);
    return 0;
}

static void check_forcing(const char *self, const char *env, const char *want, int want_log) {
    char cmd[4400], out[128] = {0};
    snprintf(cmd, sizeof cmd, "EDGESEQ_ISA='%s' '%s' --print-isa", env, self);
    FILE *f = popen(cmd, "r");
    REQUIRE(f != NULL, "popen");
    char *ok = fgets(out, sizeof out, f);
    int st = pclose(f);
    char isa[32] = {0};
    int logged = -1;
    float c = 0;
    int n = ok ? sscanf(out, "%31s %d %g", isa, &logged, &c) : 0;
    CHECK(st == 0 && n == 3, "EDGESEQ_ISA=%s: child failed (status %d, output '%s')", env, st, out);
    CHECK(strcmp(isa, want) == 0, "EDGESEQ_ISA=%s: got %s, want %s", env, isa, want);
    CHECK(logged == want_log, "EDGESEQ_ISA=%s: fallback log %d, want %d", env, logged, want_log);
    CHECK(c == 32.0f, "EDGESEQ_ISA=%s: 1x1x3 product %g", env, c);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print-isa") == 0) return child_main();
    es_rng_seed(&g_rng, 20240611);
    es_error err;
    REQUIRE(es_pool_new(&g_pool2, 2, &err) == ES_OK, "pool2");
    REQUIRE(es_pool_new(&g_pool3, 3, &err) == ES_OK, "pool3");
    printf("cpu: %s\n", es_cpu_describe());

    variant v[4];
    int nv = 0;
    v[nv++] = (variant){"ref", es_kern_ref(), 0, 0};
    const es_kern_table *avx2 = es_kern_get("avx2"), *avx512 = es_kern_get("avx512");
    if (avx2) v[nv++] = (variant){"avx2", avx2, 0, 0};
    else printf("skipped: no AVX2\n");
    if (avx512) v[nv++] = (variant){"avx512", avx512, 0, 0};
    else printf("skipped: no AVX-512\n");
#ifdef KERN_TEST_EMU_AVX512
    if (test_emu_avx512_table()) v[nv++] = (variant){"avx512-emu", test_emu_avx512_table(), 0, 0};
#endif

    for (int op = 0; op < 3; op++) {
        for (int acc = 0; acc < 2; acc++) {
            /* all M x N, K cycling through the list */
            for (int im = 0; im < N_SIZES; im++)
                for (int in = 0; in < N_SIZES; in++) {
                    int K = k_sizes[(im * 7 + in * 3 + op * 5 + acc * 8) % N_SIZES];
                    run_case(v, nv, op, k_sizes[im], k_sizes[in], K, acc);
                }
            /* every K for a few M, N */
            for (int ik = 0; ik < N_SIZES; ik++) {
                run_case(v, nv, op, 1, 33, k_sizes[ik], acc);
                run_case(v, nv, op, 4, 17, k_sizes[ik], acc);
                run_case(v, nv, op, 7, 31, k_sizes[ik], acc);
                run_case(v, nv, op, 100, 64, k_sizes[ik], acc);
            }
            /* several tasks, M-groups and K-blocks (K > 256) */
            run_case(v, nv, op, 200, 150, 300, acc);
            run_case(v, nv, op, 1, 1000, 333, acc);
            run_case(v, nv, op, 3, 700, 520, acc);
            run_case(v, nv, op, 6, 517, 260, acc);
            run_case(v, nv, op, 13, 301, 129, acc);
            run_case(v, nv, op, 20, 1100, 40, acc); /* > 1 N-range (1024 columns) */
            /* >= 4 M-blocks and B >= 1 MB: with a pool, B packed once and
             * shared by the M-groups (gemm_tmpl.h kt_share_task); 2 K-blocks */
            run_case(v, nv, op, 400, 520, 530, acc);
        }
    }
    for (int i = 0; i < nv; i++)
        printf("%-10s %ld cases, worst |err|/tol = %.3f\n", v[i].name, v[i].cases, v[i].worst);
    printf("%ld variant x case runs compared across 1/2/3 threads\n", g_thread_cases);

    /* K = 0: C = 0 (acc 0) or unchanged (acc 1) */
    for (int i = 0; i < nv; i++)
        for (int op = 0; op < 3; op++) {
            float C[6] = {NAN, NAN, NAN, 5, 6, 7}, A[1] = {1}, B[1] = {1};
            op_fn(v[i].t, op)(NULL, C, 3, A, 1, B, 3, 1, 3, 0, 0);
            op_fn(v[i].t, op)(NULL, C + 3, 3, A, 1, B, 3, 1, 3, 0, 1);
            CHECK(C[0] == 0 && C[1] == 0 && C[2] == 0 && C[3] == 5 && C[5] == 7,
                  "%s gemm_%s K=0", v[i].name, k_ops[op]);
        }

    /* EDGESEQ_ISA forcing */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = 0;
        const int vnni = es_kern_get("avx512vnni") != NULL;
        const char *to512 = avx512 ? "avx512" : avx2 ? "avx2" : "ref";
        const char *best = vnni ? "avx512vnni" : to512;
        check_forcing(self, "ref", "ref", 0);
        check_forcing(self, "avx2", avx2 ? "avx2" : "ref", avx2 ? 0 : 1);
        check_forcing(self, "avx512", to512, avx512 ? 0 : 1);
        check_forcing(self, "avx512vnni", best, vnni ? 0 : 1);
        check_forcing(self, "bogus", best, 0);
        check_forcing(self, "", best, 0);
    } else {
        printf("skipped: EDGESEQ_ISA forcing (no /proc/self/exe)\n");
    }

    es_pool_free(g_pool2);
    es_pool_free(g_pool3);
    TEST_MAIN_END();
}
