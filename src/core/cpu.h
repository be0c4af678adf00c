/*
 * cpu.h — CPU feature detection for kernel dispatch.
 *
 * A feature flag is set only when the CPU reports it (CPUID) AND the OS
 * saves the register state it needs (XGETBV / XCR0): AVX-class flags need
 * the YMM state, AVX-512 flags also the opmask + ZMM states, AMX flags the
 * tile config + tile data states. So a set flag means "safe to execute".
 * AMX additionally needs a per-process permission on Linux
 * (es_cpu_amx_request). On non-x86 builds every flag is false.
 */
#ifndef ES_CORE_CPU_H
#define ES_CORE_CPU_H

#include <stdbool.h>

typedef struct es_cpu_caps {
    char vendor[13]; /* "GenuineIntel", "AuthenticAMD", "" off x86 */
    char brand[49];  /* CPUID brand string, trimmed ("" if absent) */
    int family, model;
    /* OS support for register state (XCR0 bits) */
    bool os_ymm;  /* bits 1,2: SSE + AVX state */
    bool os_zmm;  /* bits 5,6,7: opmask, ZMM_Hi256, Hi16_ZMM */
    bool os_amx;  /* bits 17,18: XTILECFG, XTILEDATA */
    /* usable instruction sets (CPU and OS) */
    bool avx, avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512vnni, avx512bf16, avxvnni;
    bool amx_tile, amx_int8, amx_bf16;
} es_cpu_caps;

/* The features of the CPU running this process; detected once (thread-safe),
 * then copied out. Never fails. */
es_cpu_caps es_cpu_features(void);

/* One line describing the CPU and its usable features, e.g.
 * "AMD EPYC 7B13 (AuthenticAMD family 25 model 1): avx avx2 fma f16c".
 * Static storage, valid for the process lifetime; thread-safe. */
const char *es_cpu_describe(void);

/* Linux: asks the kernel for permission to use AMX tile data in this process
 * (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA). Returns true when AMX
 * may be used (caps say so and permission granted); idempotent and
 * thread-safe. False off Linux/x86 or when the CPU/OS lacks AMX. */
bool es_cpu_amx_request(void);

#endif
