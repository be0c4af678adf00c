/*
 * cpu.c — CPUID + XGETBV feature detection (see cpu.h).
 *
 * Bits used (Intel SDM vol. 2, CPUID; AMD APM vol. 3 agrees):
 *   leaf 1 ECX: 12 FMA, 27 OSXSAVE, 28 AVX, 29 F16C
 *   leaf 7.0 EBX: 5 AVX2, 16 AVX512F, 17 AVX512DQ, 30 AVX512BW, 31 AVX512VL
 *   leaf 7.0 ECX: 11 AVX512_VNNI
 *   leaf 7.0 EDX: 22 AMX-BF16, 24 AMX-TILE, 25 AMX-INT8
 *   leaf 7.1 EAX: 4 AVX-VNNI, 5 AVX512_BF16
 *   XCR0: 1 SSE, 2 AVX, 5 opmask, 6 ZMM_Hi256, 7 Hi16_ZMM, 17 XTILECFG,
 *         18 XTILEDATA
 * XGETBV is only executed when OSXSAVE is set (otherwise it faults), and is
 * written as inline asm so this file needs no ISA flags (baseline x86-64).
 */
#include "core/cpu.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define ES_X86 1
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

static es_cpu_caps g_caps;
static char g_desc[512];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#ifdef ES_X86
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    r[0] = r[1] = r[2] = r[3] = 0;
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

#define BIT(x, n) ((((x) >> (n)) & 1u) != 0)

static void detect_x86(es_cpu_caps *c) {
    unsigned r[4];
    cpuid(0, 0, r);
    unsigned max_leaf = r[0];
    memcpy(c->vendor + 0, &r[1], 4);
    memcpy(c->vendor + 4, &r[3], 4);
    memcpy(c->vendor + 8, &r[2], 4);
    c->vendor[12] = 0;
    if (max_leaf < 1) return;

    cpuid(1, 0, r);
    unsigned fam = (r[0] >> 8) & 0xf, mod = (r[0] >> 4) & 0xf;
    c->family = (int)(fam == 15 ? fam + ((r[0] >> 20) & 0xff) : fam);
    c->model = (int)((fam == 6 || fam == 15) ? (((r[0] >> 16) & 0xf) << 4) + mod : mod);
    unsigned ecx1 = r[2];

    uint64_t xcr0 = BIT(ecx1, 27) ? xgetbv0() : 0;
    c->os_ymm = (xcr0 & 0x6) == 0x6;
    c->os_zmm = c->os_ymm && (xcr0 & 0xe0) == 0xe0;
    c->os_amx = (xcr0 & 0x60000) == 0x60000;

    c->avx = c->os_ymm && BIT(ecx1, 28);
    c->fma = c->avx && BIT(ecx1, 12);
    c->f16c = c->avx && BIT(ecx1, 29);

    if (max_leaf >= 7) {
        cpuid(7, 0, r);
        unsigned ebx7 = r[1], ecx7 = r[2], edx7 = r[3], max_sub = r[0];
        c->avx2 = c->avx && BIT(ebx7, 5);
        c->avx512f = c->os_zmm && BIT(ebx7, 16);
        c->avx512dq = c->avx512f && BIT(ebx7, 17);
        c->avx512bw = c->avx512f && BIT(ebx7, 30);
        c->avx512vl = c->avx512f && BIT(ebx7, 31);
        c->avx512vnni = c->avx512f && BIT(ecx7, 11);
        c->amx_bf16 = c->os_amx && BIT(edx7, 22);
        c->amx_tile = c->os_amx && BIT(edx7, 24);
        c->amx_int8 = c->os_amx && BIT(edx7, 25);
        if (max_sub >= 1) {
            cpuid(7, 1, r);
            c->avxvnni = c->avx2 && BIT(r[0], 4);
            c->avx512bf16 = c->avx512f && BIT(r[0], 5);
        }
    }

    cpuid(0x80000000u, 0, r);
    if (r[0] >= 0x80000004u) {
        char b[49];
        for (unsigned i = 0; i < 3; i++) {
            cpuid(0x80000002u + i, 0, r);
            memcpy(b + 16 * i, r, 16);
        }
        b[48] = 0;
        const char *s = b;
        while (*s == ' ') s++;
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == ' ') n--;
        memcpy(c->brand, s, n);
        c->brand[n] = 0;
    }
}
#endif

static void append(size_t *len, const char *s, bool on) {
    if (!on || *len >= sizeof g_desc) return;
    int w = snprintf(g_desc + *len, sizeof g_desc - *len, " %s", s);
    if (w > 0) *len += (size_t)w;
}

static void detect(void) {
    memset(&g_caps, 0, sizeof g_caps);
#ifdef ES_X86
    detect_x86(&g_caps);
#endif
    const es_cpu_caps *c = &g_caps;
    int w = snprintf(g_desc, sizeof g_desc, "%s (%s family %d model %d):",
                     c->brand[0] ? c->brand : "unknown CPU", c->vendor[0] ? c->vendor : "non-x86",
                     c->family, c->model);
    size_t len = w > 0 ? (size_t)w : 0;
    append(&len, "avx", c->avx);
    append(&len, "avx2", c->avx2);
    append(&len, "fma", c->fma);
    append(&len, "f16c", c->f16c);
    append(&len, "avx512f", c->avx512f);
    append(&len, "avx512bw", c->avx512bw);
    append(&len, "avx512vl", c->avx512vl);
    append(&len, "avx512dq", c->avx512dq);
    append(&len, "avx512vnni", c->avx512vnni);
    append(&len, "avx512bf16", c->avx512bf16);
    append(&len, "avxvnni", c->avxvnni);
    append(&len, "amx-tile", c->amx_tile);
    append(&len, "amx-int8", c->amx_int8);
    append(&len, "amx-bf16", c->amx_bf16);
    if (!c->avx) append(&len, "(no AVX: scalar kernels only)", true);
}

es_cpu_caps es_cpu_features(void) {
    pthread_once(&g_once, detect);
    return g_caps;
}

const char *es_cpu_describe(void) {
    pthread_once(&g_once, detect);
    return g_desc;
}

static bool g_amx_ok;
static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;

static void amx_request(void) {
#if defined(ES_X86) && defined(__linux__) && defined(SYS_arch_prctl)
    /* Linux >= 5.16: tile data is an opt-in dynamic xstate component. */
    enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    es_cpu_caps c = es_cpu_features();
    if (!c.amx_tile) return;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return;
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) != 0) return;
    g_amx_ok = (perm >> XFEATURE_XTILEDATA) & 1;
#endif
}

bool es_cpu_amx_request(void) {
    pthread_once(&g_amx_once, amx_request);
    return g_amx_ok;
}
