/*
 * gemm_tmpl.h — the fp32 GEMM driver shared by the x86 SIMD variants.
 * Included once by each ISA file (gemm_avx2.c, gemm_avx512.c), which first
 * defines KT_VL (floats per vector), KT_KC, KT_NB, the vector type kt_vec
 * and these inline primitives:
 *   kt_zero()  kt_load(p)  kt_store(p,v)  kt_load_n(p,n)  kt_store_n(p,v,n)
 *   kt_bcast(p)  kt_fma(a,b,c) = a*b+c (one rounding)  kt_add(a,b)  kt_hsum(v)
 * (_n: only the first n lanes, 0 <= n <= KT_VL, never touching memory past
 * them). All logic lives here, so the AVX2 build's tests exercise every line
 * the AVX-512 build runs; the ISA files differ only in those primitives.
 *
 * Legend: C(M,N) (+)= opA(M,K) · opB(K,N), row-major, with
 *   opA(i,k) = A[i*ars + k*acs]   nn/nt: ars = lda, acs = 1; tn: ars = 1, acs = lda
 *   opB(k,n) = B[k*ldb + n]       nn/tn;   nt ("b_trans"): B[n*ldb + k]
 *
 * Paths (chosen by M only):
 * 1. nt, M <= KT_SMALL_NT (batch-1..few decode; memory-bound): every weight
 *    row B(n,:) is streamed once and dotted with up to 4 rows of A, several
 *    B rows per step so MM*NBB independent accumulators hide FMA latency.
 *    Lane l of an accumulator sums k = l (mod VL) in order; kt_hsum reduces
 *    at the end. More than 4 rows of A: row groups of 4 re-read a 24-row
 *    chunk of B from cache, not from memory.
 * 2. nn/tn, M <= 4: per chunk of columns, accumulate over all k with
 *    broadcasts of opA(m,k); each row of B is read once.
 * 3. otherwise (BLIS-like): a task is an N-range (<= KT_NMAX columns) x a
 *    group of M-blocks (KT_MB rows). Per K-block of KT_KC, B for the N-range
 *    is packed once into NR-wide k-major panels (NR = 2 vectors, zero-padded;
 *    heap), then per M-block A is packed into 6-row k-major panels (L2), and
 *    a 6 x NR register-blocked micro-kernel (12 accumulators, 2 B loads and
 *    6 broadcasts per k) accumulates the K-block with FMA and adds it to C
 *    (or stores it, for the first block when acc = 0). Ragged tiles run the
 *    same micro-kernel into a local tile and copy the valid part, so they
 *    round exactly like full tiles. Packing buffers (one per pool thread)
 *    are allocated by the calling thread; if that fails, kt_inplace does
 *    the same operations with A read in place and B packed on the stack
 *    (64 KB): same bits, a little slower. When several M-groups would each
 *    pack the same B (>= 4 M-blocks, B >= 1 MB, more than one thread), B
 *    is packed once per call into the front of the scratch by a parallel
 *    pass (kt_share_task) and read like pre-packed weights: same bits.
 *
 * Determinism: in every path each C element is computed by one task, with a
 * sequence of operations fixed by (M, K, path) alone, never by the task
 * split or the thread that runs it; so results are bit-identical for any
 * thread count. Numerics: see docs/kernels.md (|err| <= ~K·u·Σ|a·b|).
 * Memory: general path, threads x (N-range + KT_MB) x KT_KC floats (<= 2.2
 * MB per thread at KC 512) of packing buffers, plus N x K floats for a
 * shared B (training-size products only): the pool's scratch (es_pool_scratch,
 * which allocates only when it is smaller than that; sessions reserve
 * es_kern_gemm_scratch_bytes up front), or with a NULL pool one
 * es_malloc_aligned block per call, freed before returning; no allocation
 * on pool threads; stack <= ~70 KB.
 */
#ifndef ES_KERN_X86_GEMM_TMPL_H
#define ES_KERN_X86_GEMM_TMPL_H

#include <immintrin.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KT_MR 6
#define KT_NR (2 * KT_VL)
#define KT_MB 96          /* rows of A per block: packed 96 x KC stays in L2 */
#define KT_NMAX 1024      /* columns per task's packed B block (KC x 1024 floats, scratch) */
#define KT_SMALL_NT 8     /* nt rows handled by the streaming path */
#define KT_SMALL_NN 4     /* nn/tn rows handled by the broadcast path */
#define KT_NT_CHUNK 24    /* B rows per streaming chunk; multiple of 8, 4, 3, 2 */
#define KT_NN_CHUNK 128   /* columns per nn/tn small-M block */
#define KT_MAX_SLOTS 256   /* es_pool caps its threads at 256 */
#define KT_PAR_MIN 131072.0 /* M*N*K below this: no thread wake-up (~10 us) */

#define KT_INLINE static inline __attribute__((always_inline))
#define KT_UNROLL _Pragma("GCC unroll 8")

typedef struct kt_job {
    float *C;
    const float *A, *B;
    ptrdiff_t ldc, ars, acs, ldb;
    int M, N, K, acc, b_trans;
    int nbt;      /* general path: columns per N-range (multiple of NR) */
    float *ws;    /* general path: n_slots packing buffers of ws_floats, or NULL */
    size_t ws_floats;
    int n_slots;  /* = threads that may run tasks at once */
    atomic_int busy[KT_MAX_SLOTS];
    int n_nblk;   /* general path: N-ranges */
    int per_task; /* small paths: chunks per task; general: M-blocks per group */
    const float *bp; /* pre-packed B (kt_pack_full layout) or NULL */
    size_t bp_np;    /* its padded column count, ceil(N / NR) * NR */
} kt_job;

/* ---- path 1: nt streaming, MM rows of A (<= 4) x NBB rows of B (<= 8) ---- */

/* C(MM, nb) (+)= A(MM, K) · B(nb, K)ᵀ with nb <= NBB; rows of B past nb
 * alias row 0 (read, never stored) so the loop has no ragged case. Row j
 * of B starts at B + j*ldb and its vector of columns k..k+VL-1 is bstep
 * floats after the previous one: VL for row-major B, KT_RP*VL for the
 * row-interleaved panels (kt_pack_rows). */
KT_INLINE void kt_nt_blk(const int MM, const int NBB, int nb, float *C, ptrdiff_t ldc,
                         const float *A, ptrdiff_t lda, const float *B, ptrdiff_t ldb,
                         const ptrdiff_t bstep, int K, int acc) {
    const float *a[4], *b[8];
    kt_vec c[4][8];
    KT_UNROLL for (int m = 0; m < MM; m++) a[m] = A + m * lda;
    KT_UNROLL for (int j = 0; j < NBB; j++) b[j] = B + (j < nb ? j : 0) * ldb;
    KT_UNROLL for (int m = 0; m < MM; m++) {
        KT_UNROLL for (int j = 0; j < NBB; j++) c[m][j] = kt_zero();
    }
    int k = 0;
    ptrdiff_t o = 0;
    for (; k + KT_VL <= K; k += KT_VL, o += bstep) {
        kt_vec x[4];
        KT_UNROLL for (int m = 0; m < MM; m++) x[m] = kt_load(a[m] + k);
        KT_UNROLL for (int j = 0; j < NBB; j++) {
            kt_vec y = kt_load(b[j] + o);
            KT_UNROLL for (int m = 0; m < MM; m++) c[m][j] = kt_fma(x[m], y, c[m][j]);
        }
    }
    if (k < K) {
        int n = K - k;
        kt_vec x[4];
        KT_UNROLL for (int m = 0; m < MM; m++) x[m] = kt_load_n(a[m] + k, n);
        KT_UNROLL for (int j = 0; j < NBB; j++) {
            kt_vec y = kt_load_n(b[j] + o, n);
            KT_UNROLL for (int m = 0; m < MM; m++) c[m][j] = kt_fma(x[m], y, c[m][j]);
        }
    }
    KT_UNROLL for (int m = 0; m < MM; m++) {
        KT_UNROLL for (int j = 0; j < NBB; j++) {
            if (j < nb) {
                float s = kt_hsum(c[m][j]);
                float *d = C + m * ldc + j;
                *d = acc ? *d + s : s;
            }
        }
    }
}

/* Columns [n0, n1) of C for all M rows, chunk by chunk of B rows. */
static void kt_small_nt(const kt_job *j, int n0, int n1) {
    const ptrdiff_t lda = j->ars, ldb = j->ldb, ldc = j->ldc;
    for (int c0 = n0; c0 < n1; c0 += KT_NT_CHUNK) {
        int c1 = c0 + KT_NT_CHUNK < n1 ? c0 + KT_NT_CHUNK : n1;
        for (int m = 0; m < j->M; m += 4) {
            int mm = j->M - m < 4 ? j->M - m : 4;
            const float *A = j->A + m * lda;
            float *C = j->C + m * ldc;
            int n = c0;
            switch (mm) {
            case 1:
                for (; n < c1; n += 8)
                    kt_nt_blk(1, 8, c1 - n, C + n, ldc, A, lda, j->B + n * ldb, ldb, KT_VL, j->K,
                              j->acc);
                break;
            case 2:
                for (; n < c1; n += 4)
                    kt_nt_blk(2, 4, c1 - n, C + n, ldc, A, lda, j->B + n * ldb, ldb, KT_VL, j->K,
                              j->acc);
                break;
            case 3:
                for (; n < c1; n += 3)
                    kt_nt_blk(3, 3, c1 - n, C + n, ldc, A, lda, j->B + n * ldb, ldb, KT_VL, j->K,
                              j->acc);
                break;
            default:
                for (; n < c1; n += 2)
                    kt_nt_blk(4, 2, c1 - n, C + n, ldc, A, lda, j->B + n * ldb, ldb, KT_VL, j->K,
                              j->acc);
                break;
            }
        }
    }
}

static void kt_small_nt_task(void *ctx, int task, int n_tasks) {
    const kt_job *j = ctx;
    (void)n_tasks;
    long b0 = (long)task * j->per_task, b1 = b0 + j->per_task;
    long n0 = b0 * KT_NT_CHUNK, n1 = b1 * KT_NT_CHUNK;
    kt_small_nt(j, (int)n0, (int)(n1 < j->N ? n1 : j->N));
}

/* ---- path 2: nn/tn, MM rows (<= 4) x W full vectors of columns ---------- */

KT_INLINE void kt_nn_blk(const int MM, const int W, float *C, ptrdiff_t ldc, const float *A,
                         ptrdiff_t ars, ptrdiff_t acs, const float *B, ptrdiff_t ldb, int K,
                         int acc) {
    kt_vec c[4][8];
    KT_UNROLL for (int m = 0; m < MM; m++) {
        KT_UNROLL for (int w = 0; w < W; w++) c[m][w] = kt_zero();
    }
    const float *a = A, *b = B;
    for (int k = 0; k < K; k++, a += acs, b += ldb) {
        kt_vec y[8];
        KT_UNROLL for (int w = 0; w < W; w++) y[w] = kt_load(b + w * KT_VL);
        KT_UNROLL for (int m = 0; m < MM; m++) {
            kt_vec x = kt_bcast(a + m * ars);
            KT_UNROLL for (int w = 0; w < W; w++) c[m][w] = kt_fma(x, y[w], c[m][w]);
        }
    }
    KT_UNROLL for (int m = 0; m < MM; m++) {
        KT_UNROLL for (int w = 0; w < W; w++) {
            float *d = C + m * ldc + w * KT_VL;
            kt_store(d, acc ? kt_add(kt_load(d), c[m][w]) : c[m][w]);
        }
    }
}

/* One vector of columns, the first nl (1..VL) valid; same arithmetic per
 * column as kt_nn_blk. */
KT_INLINE void kt_nn_tail(const int MM, int nl, float *C, ptrdiff_t ldc, const float *A,
                          ptrdiff_t ars, ptrdiff_t acs, const float *B, ptrdiff_t ldb, int K,
                          int acc) {
    kt_vec c[4];
    KT_UNROLL for (int m = 0; m < MM; m++) c[m] = kt_zero();
    const float *a = A, *b = B;
    for (int k = 0; k < K; k++, a += acs, b += ldb) {
        kt_vec y = kt_load_n(b, nl);
        KT_UNROLL for (int m = 0; m < MM; m++) c[m] = kt_fma(kt_bcast(a + m * ars), y, c[m]);
    }
    KT_UNROLL for (int m = 0; m < MM; m++) {
        float *d = C + m * ldc;
        kt_store_n(d, acc ? kt_add(kt_load_n(d, nl), c[m]) : c[m], nl);
    }
}

#define KT_NN_COLS(MM, W)                                                                    \
    do {                                                                                     \
        for (; n + (W) * KT_VL <= n1; n += (W) * KT_VL)                                      \
            kt_nn_blk(MM, W, j->C + n, j->ldc, j->A, j->ars, j->acs, j->B + n, j->ldb, j->K, \
                      j->acc);                                                               \
        for (; n < n1; n += KT_VL)                                                           \
            kt_nn_tail(MM, n1 - n < KT_VL ? n1 - n : KT_VL, j->C + n, j->ldc, j->A, j->ars,  \
                       j->acs, j->B + n, j->ldb, j->K, j->acc);                              \
    } while (0)

static void kt_small_nn_task(void *ctx, int task, int n_tasks) {
    const kt_job *j = ctx;
    (void)n_tasks;
    long b0 = (long)task * j->per_task, b1 = b0 + j->per_task;
    int n = (int)(b0 * KT_NN_CHUNK);
    int n1 = (int)(b1 * KT_NN_CHUNK < j->N ? b1 * KT_NN_CHUNK : j->N);
    /* MM*W accumulators + W loads + 1 broadcast fit 16 registers */
    switch (j->M) {
    case 1: KT_NN_COLS(1, 8); break;
    case 2: KT_NN_COLS(2, 4); break;
    case 3: KT_NN_COLS(3, 3); break;
    default: KT_NN_COLS(4, 2); break;
    }
}

/* ---- path 3: packed B, 6 x NR micro-kernel -------------------------------- */

/* P(kc, NR) k-major = opB(k, j) for j < nr, 0 beyond; B at (k0, n0).
 * nn/tn: rows of B are contiguous in n. */
static void kt_pack_bn(float *P, const float *B, ptrdiff_t ldb, int nr, int kc) {
    if (nr == KT_NR) { /* two vector copies per k, no library call */
        for (int k = 0; k < kc; k++) {
            const float *s = B + k * ldb;
            kt_store(P + (size_t)k * KT_NR, kt_load(s));
            kt_store(P + (size_t)k * KT_NR + KT_VL, kt_load(s + KT_VL));
        }
        return;
    }
    const int n0 = nr < KT_VL ? nr : KT_VL, n1 = nr - n0;
    for (int k = 0; k < kc; k++) {
        const float *s = B + k * ldb;
        kt_store(P + (size_t)k * KT_NR, kt_load_n(s, n0));
        kt_store(P + (size_t)k * KT_NR + KT_VL, kt_load_n(s + KT_VL, n1));
    }
}

/* nt: opB(k, j) = B[j*ldb + k]; 8 x 8 blocks are transposed in registers
 * (AVX, present in every variant that includes this file). */
static void kt_pack_bt(float *P, const float *B, ptrdiff_t ldb, int nr, int kc) {
    int j0 = 0;
    for (; j0 + 8 <= nr; j0 += 8) {
        const float *r = B + j0 * ldb;
        int k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r0 = _mm256_loadu_ps(r + 0 * ldb + k), r1 = _mm256_loadu_ps(r + 1 * ldb + k);
            __m256 r2 = _mm256_loadu_ps(r + 2 * ldb + k), r3 = _mm256_loadu_ps(r + 3 * ldb + k);
            __m256 r4 = _mm256_loadu_ps(r + 4 * ldb + k), r5 = _mm256_loadu_ps(r + 5 * ldb + k);
            __m256 r6 = _mm256_loadu_ps(r + 6 * ldb + k), r7 = _mm256_loadu_ps(r + 7 * ldb + k);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
            __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
            __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
            __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
            float *d = P + (size_t)k * KT_NR + j0;
            _mm256_storeu_ps(d + 0 * KT_NR, _mm256_permute2f128_ps(s0, s4, 0x20));
            _mm256_storeu_ps(d + 1 * KT_NR, _mm256_permute2f128_ps(s1, s5, 0x20));
            _mm256_storeu_ps(d + 2 * KT_NR, _mm256_permute2f128_ps(s2, s6, 0x20));
            _mm256_storeu_ps(d + 3 * KT_NR, _mm256_permute2f128_ps(s3, s7, 0x20));
            _mm256_storeu_ps(d + 4 * KT_NR, _mm256_permute2f128_ps(s0, s4, 0x31));
            _mm256_storeu_ps(d + 5 * KT_NR, _mm256_permute2f128_ps(s1, s5, 0x31));
            _mm256_storeu_ps(d + 6 * KT_NR, _mm256_permute2f128_ps(s2, s6, 0x31));
            _mm256_storeu_ps(d + 7 * KT_NR, _mm256_permute2f128_ps(s3, s7, 0x31));
        }
        for (; k < kc; k++)
            for (int i = 0; i < 8; i++) P[(size_t)k * KT_NR + j0 + i] = r[i * ldb + k];
    }
    for (; j0 < KT_NR; j0++) {
        const float *r = B + j0 * ldb;
        for (int k = 0; k < kc; k++) P[(size_t)k * KT_NR + j0] = j0 < nr ? r[k] : 0.0f;
    }
}

/* Panel (kc, NR) of opB at K-block k0, columns [n, n + nr): the nt or nn/tn
 * packing with B's source offset for that op. */
KT_INLINE void kt_pack_b(float *P, const float *B, ptrdiff_t ldb, int b_trans, int k0, int n,
                         int nr, int kc) {
    if (b_trans) kt_pack_bt(P, B + (ptrdiff_t)n * ldb + k0, ldb, nr, kc);
    else kt_pack_bn(P, B + (ptrdiff_t)k0 * ldb + n, ldb, nr, kc);
}

/* Offset of that panel in the whole-matrix layout (kt_pack_full): K-block
 * k0 starts at k0 * np (np = N rounded up to NR), its panels kc x NR each. */
static inline size_t kt_full_off(size_t np, int k0, int kc, int n) {
    return (size_t)k0 * np + (size_t)(n / KT_NR) * kc * KT_NR;
}

#define KT_ROW_FMA(r)                                                                        \
    do {                                                                                     \
        kt_vec x = kt_bcast(a##r);                                                           \
        c##r##0 = kt_fma(x, b0, c##r##0);                                                    \
        c##r##1 = kt_fma(x, b1, c##r##1);                                                    \
        a##r += acs;                                                                         \
    } while (0)

#define KT_ROW_STORE(r)                                                                      \
    do {                                                                                     \
        float *d = C + (r) * ldc;                                                            \
        if (first) {                                                                         \
            kt_store(d, c##r##0);                                                            \
            kt_store(d + KT_VL, c##r##1);                                                    \
        } else {                                                                             \
            kt_store(d, kt_add(kt_load(d), c##r##0));                                        \
            kt_store(d + KT_VL, kt_add(kt_load(d + KT_VL), c##r##1));                        \
        }                                                                                    \
    } while (0)

/* C(6, NR) = (first ? 0 : C) + Σ_k opA(r, k) · P(k, :) over kc steps; row r
 * of A read through a[r], stepping by acs. */
KT_INLINE void kt_ukr(int kc, const float *const *a, ptrdiff_t acs, const float *P, float *C,
                      ptrdiff_t ldc, int first) {
    kt_vec c00 = kt_zero(), c01 = kt_zero(), c10 = kt_zero(), c11 = kt_zero();
    kt_vec c20 = kt_zero(), c21 = kt_zero(), c30 = kt_zero(), c31 = kt_zero();
    kt_vec c40 = kt_zero(), c41 = kt_zero(), c50 = kt_zero(), c51 = kt_zero();
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    for (int k = 0; k < kc; k++) {
        kt_vec b0 = kt_load(P), b1 = kt_load(P + KT_VL);
        P += KT_NR;
        KT_ROW_FMA(0);
        KT_ROW_FMA(1);
        KT_ROW_FMA(2);
        KT_ROW_FMA(3);
        KT_ROW_FMA(4);
        KT_ROW_FMA(5);
    }
    KT_ROW_STORE(0);
    KT_ROW_STORE(1);
    KT_ROW_STORE(2);
    KT_ROW_STORE(3);
    KT_ROW_STORE(4);
    KT_ROW_STORE(5);
}

/* Ap(kc, MR) k-major = opA(i0 + r, k0 + k) for r < mr, 0 beyond; A at
 * (i0, k0). Contiguous, so the micro-kernel's A reads never alias in L1
 * (rows of A 2^n floats apart all map to one cache set) or walk pages. */
static void kt_pack_a(float *Ap, const float *A, ptrdiff_t ars, ptrdiff_t acs, int mr, int kc) {
    if (acs == 1) { /* nn/nt: rows of A contiguous in k */
        for (int r = 0; r < mr; r++) {
            const float *s = A + r * ars;
            for (int k = 0; k < kc; k++) Ap[(size_t)k * KT_MR + r] = s[k];
        }
    } else { /* tn: columns of A contiguous in i */
        for (int k = 0; k < kc; k++) {
            const float *s = A + k * acs;
            for (int r = 0; r < mr; r++) Ap[(size_t)k * KT_MR + r] = s[r];
        }
    }
    for (int r = mr; r < KT_MR; r++)
        for (int k = 0; k < kc; k++) Ap[(size_t)k * KT_MR + r] = 0.0f;
}

/* One micro-tile at rows i, columns n of C; ragged tiles go through a local
 * tile (same arithmetic) and only the valid part is written. */
KT_INLINE void kt_tile(const kt_job *j, int kc, const float *const *a, ptrdiff_t acs,
                       const float *P, int i, int n, int mr, int nr, int first) {
    float *Cp = j->C + i * j->ldc + n;
    if (mr == KT_MR && nr == KT_NR) {
        kt_ukr(kc, a, acs, P, Cp, j->ldc, first);
        return;
    }
    _Alignas(64) float tile[KT_MR * KT_NR];
    kt_ukr(kc, a, acs, P, tile, KT_NR, 1);
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) {
            float *d = Cp + r * j->ldc + c;
            *d = first ? tile[r * KT_NR + c] : *d + tile[r * KT_NR + c];
        }
}

/* Panel of pre-packed B for K-block k0 (kc deep) and columns [n, n + NR),
 * n a multiple of NR (kt_pack_full layout). */
static inline const float *kt_bp_panel(const kt_job *j, int k0, int kc, int n) {
    return j->bp + kt_full_off(j->bp_np, k0, kc, n);
}

/* Fallback when the packing buffer cannot be allocated: A read in place,
 * B packed per KT_NB columns on the stack. Same operations in the same
 * order as the packed path, so the same bits. Rows [m0,m1), cols [n0,n1). */
static void kt_inplace(const kt_job *j, int m0, int m1, int n0, int n1) {
    _Alignas(64) float Bp[KT_KC * KT_NB]; /* (NB/NR panels) x (kc, NR) */
    for (int nb0 = n0; nb0 < n1; nb0 += KT_NB) {
        const int nb1 = nb0 + KT_NB < n1 ? nb0 + KT_NB : n1;
        for (int k0 = 0; k0 < j->K; k0 += KT_KC) {
            const int kc = j->K - k0 < KT_KC ? j->K - k0 : KT_KC;
            const int first = !j->acc && k0 == 0;
            for (int n = nb0; n < nb1 && !j->bp; n += KT_NR) {
                float *P = Bp + (size_t)((n - nb0) / KT_NR) * kc * KT_NR;
                int nr = nb1 - n < KT_NR ? nb1 - n : KT_NR;
                kt_pack_b(P, j->B, j->ldb, j->b_trans, k0, n, nr, kc);
            }
            for (int n = nb0; n < nb1; n += KT_NR) {
                const float *P = j->bp ? kt_bp_panel(j, k0, kc, n)
                                       : Bp + (size_t)((n - nb0) / KT_NR) * kc * KT_NR;
                const int nr = nb1 - n < KT_NR ? nb1 - n : KT_NR;
                for (int i = m0; i < m1; i += KT_MR) {
                    const int mr = m1 - i < KT_MR ? m1 - i : KT_MR;
                    const float *a[KT_MR];
                    for (int r = 0; r < KT_MR; r++)
                        a[r] = j->A + (i + (r < mr ? r : 0)) * j->ars + k0 * j->acs;
                    kt_tile(j, kc, a, j->acs, P, i, n, mr, nr, first);
                }
            }
        }
    }
}

/* Task = (N-range of j->nbt columns) x (group of j->per_task M-blocks).
 * Per K-block: B for the whole N-range is packed once (heap, <= KT_KC x
 * KT_NMAX floats), then per M-block of KT_MB rows A is packed (k-major
 * MR-row panels, L2-resident) and every (B panel, A panel) pair runs the
 * micro-kernel: B panel in L1, A panels streaming from L2. */
/* A free workspace slot. At most n_slots tasks run at once (one per pool
 * thread), so one is always free; the scan ends within n_slots tries. */
static int kt_claim(kt_job *j) {
    for (;;)
        for (int s = 0; s < j->n_slots; s++) {
            int z = 0;
            if (atomic_compare_exchange_strong(&j->busy[s], &z, 1)) return s;
        }
}

static void kt_general_task(void *ctx, int task, int n_tasks) {
    kt_job *j = ctx;
    (void)n_tasks;
    const int ri = task % j->n_nblk, grp = task / j->n_nblk;
    const long n0l = (long)ri * j->nbt, n1l = n0l + j->nbt;
    const int n0 = (int)n0l, n1 = (int)(n1l < j->N ? n1l : j->N);
    const long m0l = (long)grp * j->per_task * KT_MB, m1l = m0l + (long)j->per_task * KT_MB;
    const int m0 = (int)m0l, m1 = (int)(m1l < j->M ? m1l : j->M);
    const size_t n_pan = (size_t)(n1 - n0 + KT_NR - 1) / KT_NR;
    const size_t kc_max = j->K < KT_KC ? (size_t)j->K : KT_KC;
    if (!j->ws) {
        kt_inplace(j, m0, m1, n0, n1);
        return;
    }
    const int slot = kt_claim(j);
    float *Bp = j->ws + (size_t)slot * j->ws_floats;
    /* (MB/MR panels) x (kc, MR); pre-packed B needs no B buffer */
    float *Ap = j->bp ? Bp : Bp + n_pan * KT_NR * kc_max;
    for (int k0 = 0; k0 < j->K; k0 += KT_KC) {
        const int kc = j->K - k0 < KT_KC ? j->K - k0 : KT_KC;
        const int first = !j->acc && k0 == 0;
        for (int n = n0; n < n1 && !j->bp; n += KT_NR) {
            float *P = Bp + (size_t)((n - n0) / KT_NR) * kc * KT_NR;
            int nr = n1 - n < KT_NR ? n1 - n : KT_NR;
            kt_pack_b(P, j->B, j->ldb, j->b_trans, k0, n, nr, kc);
        }
        for (int mb = m0; mb < m1; mb += KT_MB) {
            const int mbe = mb + KT_MB < m1 ? mb + KT_MB : m1;
            for (int i = mb; i < mbe; i += KT_MR)
                kt_pack_a(Ap + (size_t)((i - mb) / KT_MR) * kc * KT_MR,
                          j->A + i * j->ars + k0 * j->acs, j->ars, j->acs,
                          mbe - i < KT_MR ? mbe - i : KT_MR, kc);
            for (int n = n0; n < n1; n += KT_NR) {
                const float *P = j->bp ? kt_bp_panel(j, k0, kc, n)
                                       : Bp + (size_t)((n - n0) / KT_NR) * kc * KT_NR;
                const int nr = n1 - n < KT_NR ? n1 - n : KT_NR;
                for (int i = mb; i < mbe; i += KT_MR) {
                    const float *ap = Ap + (size_t)((i - mb) / KT_MR) * kc * KT_MR;
                    const float *a[KT_MR] = {ap, ap + 1, ap + 2, ap + 3, ap + 4, ap + 5};
                    kt_tile(j, kc, a, KT_MR, P, i, n, mbe - i < KT_MR ? mbe - i : KT_MR, nr,
                            first);
                }
            }
        }
    }
    atomic_store(&j->busy[slot], 0);
}

static int kt_ceil_div(long a, long b) { return (int)((a + b - 1) / b); }

/* ---- path 1 on row-interleaved weights (kern.h gemm_rows_*) -------------
 * Layout: panels of KT_RP = 4 rows; a panel is ceil(K / VL) blocks of 4
 * vectors, block b holding columns b*VL.. of each of its rows in row
 * order; zero padding. A panel is one sequential stream, where path 1 on
 * row-major B reads KT_RP rows at stride ldb, which the hardware
 * prefetchers follow badly (decode GEMVs measured ~1.4x slower). Each C
 * element is the same chain as in path 1 (lane l sums k = l mod VL in
 * order, kt_hsum): the same bits, whatever the blocking. */
#define KT_RP 4           /* rows per panel */
#define KT_ROWS_TASK 32   /* panels per task */

static size_t kt_rows_kp(int K) { return (size_t)kt_ceil_div(K, KT_VL) * KT_VL; }

static size_t kt_rows_floats(int N, int K) {
    if (N <= 0 || K <= 0) return 0;
    return (size_t)kt_ceil_div(N, KT_RP) * KT_RP * kt_rows_kp(K);
}

static void kt_pack_rows(float *P, const float *B, int ldb, int N, int K) {
    if (N <= 0 || K <= 0) return;
    /* written in order (one sequential store stream), 4 source rows read */
    const int nb = kt_ceil_div(K, KT_VL), tail = K - (nb - 1) * KT_VL;
    for (int n0 = 0; n0 < N; n0 += KT_RP) {
        for (int b = 0; b < nb; b++) {
            const int w = b == nb - 1 ? tail : KT_VL;
            for (int r = 0; r < KT_RP; r++, P += KT_VL) {
                if (n0 + r < N) {
                    memcpy(P, B + (ptrdiff_t)(n0 + r) * ldb + b * KT_VL, (size_t)w * sizeof(float));
                    if (w < KT_VL) memset(P + w, 0, (size_t)(KT_VL - w) * sizeof(float));
                } else {
                    memset(P, 0, KT_VL * sizeof(float));
                }
            }
        }
    }
}

typedef struct kt_rows_job {
    float *C;
    const float *A, *P;
    ptrdiff_t ldc, lda;
    int M, N, K, acc;
} kt_rows_job;

static void kt_rows_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const kt_rows_job *j = ctx;
    const size_t ps = KT_RP * kt_rows_kp(j->K);
    const int np = kt_ceil_div(j->N, KT_RP);
    const int p1 = (task + 1) * KT_ROWS_TASK < np ? (task + 1) * KT_ROWS_TASK : np;
    for (int p = task * KT_ROWS_TASK; p < p1; p++) {
        const float *Pp = j->P + (size_t)p * ps;
        const int nr = j->N - p * KT_RP < KT_RP ? j->N - p * KT_RP : KT_RP;
        float *Cp = j->C + p * KT_RP;
        /* all 4 rows of the panel per pass (one sequential stream), rows of
         * A in groups of <= 3 (12 accumulators + x + y fit 16 ymm); later
         * groups re-read the panel (4 x K floats) from L1 / L2. Path 1's
         * block, so path 1's chains: its bits. */
        for (int m = 0; m < j->M; m += 3) {
            const int mm = j->M - m < 3 ? j->M - m : 3;
            const float *A = j->A + m * j->lda;
            float *C = Cp + m * j->ldc;
            const ptrdiff_t st = KT_RP * KT_VL;
            switch (mm) {
            case 1: kt_nt_blk(1, KT_RP, nr, C, j->ldc, A, j->lda, Pp, KT_VL, st, j->K, j->acc); break;
            case 2: kt_nt_blk(2, KT_RP, nr, C, j->ldc, A, j->lda, Pp, KT_VL, st, j->K, j->acc); break;
            default: kt_nt_blk(3, KT_RP, nr, C, j->ldc, A, j->lda, Pp, KT_VL, st, j->K, j->acc); break;
            }
        }
    }
}

/* C(M,N) (+)= A(M,K) · Bᵀ, B in the kt_pack_rows layout: any M (meant for
 * M <= KT_SMALL_NT: rows of A in groups of 3 re-read a panel from cache). */
static void kt_gemm_rows(es_pool *pool, float *C, int ldc, const float *A, int lda,
                         const float *P, int M, int N, int K, int acc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!acc)
            for (int i = 0; i < M; i++) memset(C + (ptrdiff_t)i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    kt_rows_job j = {C, A, P, ldc, lda, M, N, K, acc};
    const int n_tasks = kt_ceil_div(kt_ceil_div(N, KT_RP), KT_ROWS_TASK);
    es_pool *p = pool && es_pool_threads(pool) > 1 && (double)M * N * K >= KT_PAR_MIN ? pool : NULL;
    es_pool_run(p, n_tasks, kt_rows_task, &j);
}

/* Floats of kt_pack_full's layout for B (N, K): ceil(N / NR) * NR * K. */
static size_t kt_pack_floats(int N, int K) {
    if (N <= 0 || K <= 0) return 0;
    return (size_t)kt_ceil_div(N, KT_NR) * KT_NR * (size_t)K;
}

/* The whole nt operand B (N, K) in path 3's panel layout, once (weights at
 * load time): for each K-block k0 (kc = min(KT_KC, K - k0) deep) the
 * ceil(N/NR) panels of NR columns, each kc x NR k-major, columns past N
 * zero; panel p of block k0 starts at P + k0 * Np + p * kc * NR with
 * Np = ceil(N / NR) * NR. Exactly what kt_general_task packs per call, so
 * products with it have the same bits as the unpacked general path. */
static void kt_pack_full(float *P, const float *B, int ldb, int N, int K) {
    const size_t np = (size_t)kt_ceil_div(N, KT_NR) * KT_NR;
    for (int k0 = 0; k0 < K; k0 += KT_KC) {
        const int kc = K - k0 < KT_KC ? K - k0 : KT_KC;
        for (int n = 0; n < N; n += KT_NR)
            kt_pack_b(P + kt_full_off(np, k0, kc, n), B, ldb, 1, k0, n, N - n < KT_NR ? N - n : KT_NR,
                      kc);
    }
}

/* ---- shared B: packed once per call when several M-groups would each
 * pack it (training-size products with B not pre-packed). The layout of
 * kt_pack_full for any op (nn/tn panels by kt_pack_bn), so the general path
 * reads it through j->bp: the same panels as per-task packing, the same
 * bits. Tasks = (K-block, KT_SHARE_PANELS panels). */
#define KT_SHARE_PANELS 16
#define KT_SHARE_MIN_M (4 * KT_MB)   /* >= 4 M-blocks */
#define KT_SHARE_MIN_NK 262144.0     /* B >= 1 MB: its packing is worth a pass */

typedef struct kt_share_job {
    float *P;
    const float *B;
    ptrdiff_t ldb;
    int N, K, b_trans, n_chunks;
} kt_share_job;

static void kt_share_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const kt_share_job *s = ctx;
    const int k0 = (task / s->n_chunks) * KT_KC, c = task % s->n_chunks;
    const int kc = s->K - k0 < KT_KC ? s->K - k0 : KT_KC;
    const size_t np = (size_t)kt_ceil_div(s->N, KT_NR) * KT_NR;
    const int n_end = (c + 1) * KT_SHARE_PANELS * KT_NR;
    for (int n = c * KT_SHARE_PANELS * KT_NR; n < s->N && n < n_end; n += KT_NR) {
        kt_pack_b(s->P + kt_full_off(np, k0, kc, n), s->B, s->ldb, s->b_trans, k0, n,
                  s->N - n < KT_NR ? s->N - n : KT_NR, kc);
    }
}

/* op: 0 = nt, 1 = nn, 2 = tn (see kern.h); bp != NULL (nt only): B is
 * pre-packed by kt_pack_full (B, ldb unused) and every M takes path 3. */
static void kt_gemm(es_pool *pool, int op, float *C, int ldc, const float *A, int lda,
                    const float *B, int ldb, const float *bp, int M, int N, int K, int acc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!acc)
            for (int i = 0; i < M; i++) memset(C + (ptrdiff_t)i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    kt_job j;
    memset(&j, 0, sizeof j);
    j.C = C;
    j.A = A;
    j.B = B;
    j.ldc = ldc;
    j.ldb = ldb;
    j.ars = op == 2 ? 1 : lda;
    j.acs = op == 2 ? lda : 1;
    j.b_trans = op == 0;
    j.M = M;
    j.N = N;
    j.K = K;
    j.acc = acc;
    j.bp = bp;
    j.bp_np = (size_t)kt_ceil_div(N, KT_NR) * KT_NR;
    /* Task shapes only change which task computes an element, never how. */
    int cap = 1;
    if (pool && es_pool_threads(pool) > 1 && (double)M * N * K >= KT_PAR_MIN)
        cap = es_pool_threads(pool) * 4;
    es_pool *p = cap > 1 ? pool : NULL;
    if (!bp && ((op == 0 && M <= KT_SMALL_NT) || (op != 0 && M <= KT_SMALL_NN))) {
        int n_blk = kt_ceil_div(N, op == 0 ? KT_NT_CHUNK : KT_NN_CHUNK);
        j.per_task = kt_ceil_div(n_blk, cap);
        es_pool_run(p, kt_ceil_div(n_blk, j.per_task), op == 0 ? kt_small_nt_task : kt_small_nn_task,
                    &j);
        return;
    }
    const int n_mblk = kt_ceil_div(M, KT_MB);
    int nbt = kt_ceil_div(N, KT_NR) * KT_NR;
    if (nbt > KT_NMAX) nbt = KT_NMAX;
    /* narrower N-ranges only when the M-blocks alone cannot feed the threads */
    while (nbt > 4 * KT_NR && (long)kt_ceil_div(N, nbt) * n_mblk < cap)
        nbt = kt_ceil_div(nbt / 2, KT_NR) * KT_NR;
    j.nbt = nbt;
    j.n_nblk = kt_ceil_div(N, nbt);
    int groups = 1;
    if (cap > j.n_nblk) {
        groups = kt_ceil_div(cap, j.n_nblk);
        if (groups > n_mblk) groups = n_mblk;
    }
    j.per_task = kt_ceil_div(n_mblk, groups);
    /* Packing buffers are taken here, on the calling thread (the allocator
     * hook need not be thread-safe), one per thread that can run a task;
     * NULL -> every task takes the same-bits in-place fallback. */
    j.n_slots = p ? es_pool_threads(p) : 1;
    if (j.n_slots > KT_MAX_SLOTS) j.n_slots = KT_MAX_SLOTS;
    for (int s = 0; s < KT_MAX_SLOTS; s++) atomic_init(&j.busy[s], 0);
    const size_t kc_max = K < KT_KC ? (size_t)K : KT_KC;
    size_t bytes;
    /* Several M-groups share an N-range: pack B once, in parallel, into the
     * front of the scratch, and let every task read it (kt_share_task). */
    if (!bp && p && groups > 1 && M >= KT_SHARE_MIN_M && (double)N * K >= KT_SHARE_MIN_NK) {
        const size_t bfl = (kt_pack_floats(N, K) + 15) & ~(size_t)15;
        const size_t slot = ((size_t)KT_MB * kc_max + 15) & ~(size_t)15;
        size_t ab;
        float *buf = NULL;
        if (es_mul_ok(slot * sizeof(float), (size_t)j.n_slots, &ab) &&
            ab <= SIZE_MAX - bfl * sizeof(float))
            buf = es_pool_scratch(pool, bfl * sizeof(float) + ab);
        if (buf) {
            kt_share_job s = {buf, B, ldb, N, K, op == 0,
                              kt_ceil_div(kt_ceil_div(N, KT_NR), KT_SHARE_PANELS)};
            es_pool_run(p, kt_ceil_div(K, KT_KC) * s.n_chunks, kt_share_task, &s);
            j.bp = buf;
            j.ws = buf + bfl;
            j.ws_floats = slot;
            es_pool_run(p, j.n_nblk * kt_ceil_div(n_mblk, j.per_task), kt_general_task, &j);
            return;
        }
    }
    j.ws_floats = ((size_t)(bp ? 0 : nbt) + KT_MB) * kc_max;
    j.ws_floats = (j.ws_floats + 15) & ~(size_t)15; /* keep each slot 64-byte aligned */
    int own = 0;
    if (es_mul_ok(j.ws_floats * sizeof(float), (size_t)j.n_slots, &bytes)) {
        /* the pool's scratch (sized once by the session: no allocation);
         * without a pool, a block of our own for this call */
        j.ws = es_pool_scratch(pool, bytes);
        if (!j.ws && !pool) {
            j.ws = es_malloc_aligned(bytes);
            own = 1;
        }
    }
    es_pool_run(p, j.n_nblk * kt_ceil_div(n_mblk, j.per_task), kt_general_task, &j);
    if (own) es_free_aligned(j.ws);
}

#endif
