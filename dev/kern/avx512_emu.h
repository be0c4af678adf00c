/*
 * avx512_emu.h — scalar stand-ins for the nine AVX-512F intrinsics that
 * src/kern/x86/gemm_avx512.c uses, so that file's logic (masks, tails,
 * blocking constants) can be run and tested on CPUs without AVX-512
 * (dev/kern/emu_avx512.sh). Dev only: never part of the library build.
 * fmaf gives the single rounding of vfmadd; the reduction is a fixed tree,
 * as the real one is.
 */
#ifndef ES_DEV_AVX512_EMU_H
#define ES_DEV_AVX512_EMU_H

#include <immintrin.h>
#include <math.h>
#include <string.h>

typedef struct emu_m512 {
    float f[16];
} emu_m512;

static inline emu_m512 emu_setzero_ps(void) {
    emu_m512 r;
    memset(&r, 0, sizeof r);
    return r;
}
static inline emu_m512 emu_loadu_ps(const float *p) {
    emu_m512 r;
    memcpy(r.f, p, sizeof r.f);
    return r;
}
static inline void emu_storeu_ps(float *p, emu_m512 v) { memcpy(p, v.f, sizeof v.f); }
static inline emu_m512 emu_maskz_loadu_ps(__mmask16 m, const float *p) {
    emu_m512 r;
    for (int i = 0; i < 16; i++) r.f[i] = ((m >> i) & 1) ? p[i] : 0.0f;
    return r;
}
static inline void emu_mask_storeu_ps(float *p, __mmask16 m, emu_m512 v) {
    for (int i = 0; i < 16; i++)
        if ((m >> i) & 1) p[i] = v.f[i];
}
static inline emu_m512 emu_set1_ps(float x) {
    emu_m512 r;
    for (int i = 0; i < 16; i++) r.f[i] = x;
    return r;
}
static inline emu_m512 emu_fmadd_ps(emu_m512 a, emu_m512 b, emu_m512 c) {
    emu_m512 r;
    for (int i = 0; i < 16; i++) r.f[i] = fmaf(a.f[i], b.f[i], c.f[i]);
    return r;
}
static inline emu_m512 emu_add_ps(emu_m512 a, emu_m512 b) {
    emu_m512 r;
    for (int i = 0; i < 16; i++) r.f[i] = a.f[i] + b.f[i];
    return r;
}
static inline float emu_reduce_add_ps(emu_m512 v) {
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) v.f[i] = v.f[i] + v.f[i + w];
    return v.f[0];
}

#define __m512 emu_m512
#define _mm512_setzero_ps emu_setzero_ps
#define _mm512_loadu_ps emu_loadu_ps
#define _mm512_storeu_ps emu_storeu_ps
#define _mm512_maskz_loadu_ps emu_maskz_loadu_ps
#define _mm512_mask_storeu_ps emu_mask_storeu_ps
#define _mm512_set1_ps emu_set1_ps
#define _mm512_fmadd_ps emu_fmadd_ps
#define _mm512_add_ps emu_add_ps
#define _mm512_reduce_add_ps emu_reduce_add_ps

#endif
