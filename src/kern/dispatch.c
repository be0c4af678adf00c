/*
 * dispatch.c — chooses the kernel table once per process: CPUID feature
 * bits *and* OS support (XGETBV) decide; EDGESEQ_ISA=ref|avx2|avx512 forces
 * a path (falls back to ref with a log message when the CPU lacks it).
 * Until SIMD variants land (speed issue) every ISA maps to the reference.
 */
#include "kern/kern.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const es_kern_table k_ref = {"ref", es_gemm_nt_ref, es_gemm_nn_ref, es_gemm_tn_ref};

static const es_kern_table *g_table;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    const char *force = getenv("EDGESEQ_ISA");
    if (force && *force && strcmp(force, "ref") != 0)
        es_log(ES_LOG_INFO, "EDGESEQ_ISA=%s: no such kernel set yet, using ref", force);
    g_table = &k_ref;
}

const es_kern_table *es_kern(void) {
    pthread_once(&g_once, choose);
    return g_table;
}

const es_kern_table *es_kern_ref(void) { return &k_ref; }
