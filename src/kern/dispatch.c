/*
 * dispatch.c — chooses the kernel table once per process (pthread_once).
 *
 * A variant is usable when the CPU reports its instruction sets AND the OS
 * saves the registers they use (es_cpu_features checks XCR0), so a chosen
 * table never raises SIGILL. Ranking: avx512vnni > avx512 > avx2 > ref
 * (avx512vnni = avx512 with the VNNI integer GEMMs). The environment
 * variable EDGESEQ_ISA=ref|avx2|avx512|avx512vnni forces a path; when that path is not
 * usable here, the best usable path *below* it is taken and an INFO log line
 * says so. An unknown value is logged and ignored (best path).
 */
#include "kern/kern.h"

#include "core/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const es_kern_table k_ref = {"ref", es_gemm_nt_ref, es_gemm_nn_ref, es_gemm_tn_ref,
                                    es_exp_ref, es_sigmoid_ref, es_tanh_ref, es_gelu_ref,
                                    es_attn_row_ref, es_qgemm_nt_ref,
                                    es_bgemm_nt_ref, es_gemm_pack_floats_ref,
                                    es_gemm_pack_nt_ref, es_gemm_nt_packed_ref,
                                    es_qgemm_packed_ref, es_gemm_rows_floats_ref,
                                    es_gemm_rows_pack_ref, es_gemm_nt_rows_ref,
                                    es_bgemm_packed_ref, es_lse_ref,
                                    es_quant_row_ref};
#if defined(__x86_64__) || defined(__i386__)
#define ES_HAVE_X86_KERNELS 1
static const es_kern_table k_avx2 = {"avx2", es_gemm_nt_avx2, es_gemm_nn_avx2, es_gemm_tn_avx2,
                                     es_exp_avx2, es_sigmoid_avx2, es_tanh_avx2, es_gelu_avx2,
                                     es_attn_row_avx2, es_qgemm_nt_avx2,
                                     es_bgemm_nt_avx2, es_gemm_pack_floats_avx2,
                                     es_gemm_pack_nt_avx2, es_gemm_nt_packed_avx2,
                                     es_qgemm_packed_avx2, es_gemm_rows_floats_avx2,
                                     es_gemm_rows_pack_avx2, es_gemm_nt_rows_avx2,
                                     es_bgemm_packed_avx2, es_lse_avx2,
                                     es_quant_row_avx2};
/* avx512: every fp32 GEMM entry (plain, pre-packed, row-interleaved) from
 * gemm_avx512.c, so that packed and row-interleaved products keep the
 * bits of this table's gemm_nt (16-lane chains), which model code relies
 * on (t5_pack.c). avx512vnni: the same + the VNNI integer GEMMs (T5 int8
 * linears, QAT products). */
#define ES_AVX512_TABLE(name, qgemm_nt, qgemm_packed)                                           \
    {name, es_gemm_nt_avx512, es_gemm_nn_avx512, es_gemm_tn_avx512, es_exp_avx512,               \
     es_sigmoid_avx512, es_tanh_avx512, es_gelu_avx512, es_attn_row_avx2, qgemm_nt,                \
     es_bgemm_nt_avx2, es_gemm_pack_floats_avx512, es_gemm_pack_nt_avx512,                         \
     es_gemm_nt_packed_avx512, qgemm_packed, es_gemm_rows_floats_avx512, es_gemm_rows_pack_avx512, \
     es_gemm_nt_rows_avx512, es_bgemm_packed_avx2, es_lse_avx2, es_quant_row_avx2}
static const es_kern_table k_avx512 =
    ES_AVX512_TABLE("avx512", es_qgemm_nt_avx2, es_qgemm_packed_avx2);
static const es_kern_table k_avx512vnni =
    ES_AVX512_TABLE("avx512vnni", es_qgemm_nt_vnni, es_qgemm_packed_vnni);
#endif

enum { ISA_REF, ISA_AVX2, ISA_AVX512, ISA_AVX512VNNI, ISA_COUNT };
static const char *const k_names[ISA_COUNT] = {"ref", "avx2", "avx512", "avx512vnni"};

static const es_kern_table *g_table;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int isa_index(const char *name) {
    for (int i = 0; i < ISA_COUNT; i++)
        if (strcmp(name, k_names[i]) == 0) return i;
    return -1;
}

/* The table of ISA i if usable on this CPU + OS, else NULL. */
static const es_kern_table *usable(int i) {
    if (i == ISA_REF) return &k_ref;
#ifdef ES_HAVE_X86_KERNELS
    es_cpu_caps c = es_cpu_features();
    if (i == ISA_AVX2 && c.avx2 && c.fma) return &k_avx2;
    const bool a512 = c.avx512f && c.avx512bw && c.avx512vl && c.avx512dq && c.fma;
    if (i == ISA_AVX512 && a512) return &k_avx512;
    if (i == ISA_AVX512VNNI && a512 && c.avx512vnni) return &k_avx512vnni;
#endif
    return NULL;
}

static void choose(void) {
    int want = ISA_COUNT - 1;
    const char *force = getenv("EDGESEQ_ISA");
    if (force && *force) {
        int f = isa_index(force);
        if (f < 0)
            es_log(ES_LOG_WARN, "EDGESEQ_ISA=%s: unknown (ref|avx2|avx512|avx512vnni), using the best available",
                   force);
        else
            want = f;
    }
    int i = want;
    while (i > ISA_REF && !usable(i)) i--;
    if (force && *force && isa_index(force) >= 0 && i != want)
        es_log(ES_LOG_INFO, "EDGESEQ_ISA=%s: not supported by this CPU/OS, using %s", force,
               k_names[i]);
    g_table = usable(i);
    es_log(ES_LOG_DEBUG, "kernels: %s", g_table->isa);
}

const es_kern_table *es_kern(void) {
    pthread_once(&g_once, choose);
    return g_table;
}

const es_kern_table *es_kern_ref(void) { return &k_ref; }

const es_kern_table *es_kern_get(const char *isa) {
    int i = isa ? isa_index(isa) : -1;
    return i < 0 ? NULL : usable(i);
}

/* Per pool thread, the general GEMM path packs (N-range <= 1024 + M-block
 * 96) x K-block floats, K-block 512 (AVX2) or 128 (AVX-512), each slot
 * rounded up to 16 floats (gemm_tmpl.h kt_gemm); the largest variant
 * bounds them all. */
size_t es_kern_gemm_scratch_bytes(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) n_threads = 256;
    const size_t slot = (((size_t)1024 + 96) * 512 + 15) & ~(size_t)15;
    return slot * sizeof(float) * (size_t)n_threads;
}
