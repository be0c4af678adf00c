/*
 * act_avx512_emu.h — scalar stand-ins for the AVX-512 intrinsics that
 * src/kern/x86/act_avx512.c uses, so that file (its masks, blends, integer
 * exponent tricks and tails) runs on CPUs without AVX-512:
 * ctest unit_test_kern_act_avx512_emu. Tests only: never part of the library build.
 * Semantics follow the Intel guide: min/max return the second operand when
 * either is NaN, cvtps rounds to nearest even, srai is arithmetic, fmadd
 * rounds once (fmaf).
 */
#ifndef ES_DEV_ACT_AVX512_EMU_H
#define ES_DEV_ACT_AVX512_EMU_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { float f[16]; } emu_ps;
typedef struct { int32_t i[16]; } emu_si;

#define EMU_MAP(name, expr)                                                                   \
    static inline emu_ps name(emu_ps a, emu_ps b) {                                           \
        emu_ps r;                                                                             \
        for (int l = 0; l < 16; l++) {                                                        \
            float x = a.f[l], y = b.f[l];                                                     \
            r.f[l] = (expr);                                                                  \
        }                                                                                     \
        return r;                                                                             \
    }
EMU_MAP(emu_add, x + y)
EMU_MAP(emu_sub, x - y)
EMU_MAP(emu_mul, x * y)
EMU_MAP(emu_div, x / y)
EMU_MAP(emu_min, x < y ? x : y)
EMU_MAP(emu_max, x > y ? x : y)

#define EMU_BITS(name, op)                                                                    \
    static inline emu_ps name(emu_ps a, emu_ps b) {                                           \
        emu_ps r;                                                                             \
        for (int l = 0; l < 16; l++) {                                                        \
            uint32_t x, y, z;                                                                 \
            memcpy(&x, &a.f[l], 4);                                                           \
            memcpy(&y, &b.f[l], 4);                                                           \
            z = op;                                                                           \
            memcpy(&r.f[l], &z, 4);                                                           \
        }                                                                                     \
        return r;                                                                             \
    }
EMU_BITS(emu_and, x & y)
EMU_BITS(emu_or, x | y)
EMU_BITS(emu_andnot, ~x & y)
EMU_BITS(emu_xor, x ^ y)

static inline emu_ps emu_set1(float x) {
    emu_ps r;
    for (int l = 0; l < 16; l++) r.f[l] = x;
    return r;
}
static inline emu_ps emu_loadu(const float *p) {
    emu_ps r;
    memcpy(r.f, p, sizeof r.f);
    return r;
}
static inline void emu_storeu(float *p, emu_ps v) { memcpy(p, v.f, sizeof v.f); }
static inline emu_ps emu_maskz_loadu(__mmask16 m, const float *p) {
    emu_ps r;
    for (int l = 0; l < 16; l++) r.f[l] = (m >> l) & 1 ? p[l] : 0.0f;
    return r;
}
static inline void emu_mask_storeu(float *p, __mmask16 m, emu_ps v) {
    for (int l = 0; l < 16; l++)
        if ((m >> l) & 1) p[l] = v.f[l];
}
static inline emu_ps emu_fmadd(emu_ps a, emu_ps b, emu_ps c) {
    emu_ps r;
    for (int l = 0; l < 16; l++) r.f[l] = fmaf(a.f[l], b.f[l], c.f[l]);
    return r;
}
static inline __mmask16 emu_cmp_mask(emu_ps a, emu_ps b, int pred) {
    unsigned m = 0;
    for (int l = 0; l < 16; l++) {
        float x = a.f[l], y = b.f[l];
        int v = pred == _CMP_LT_OQ ? x < y : pred == _CMP_UNORD_Q ? (isnan(x) || isnan(y)) : -1;
        if (v < 0) abort();
        m |= (unsigned)v << l;
    }
    return (__mmask16)m;
}
static inline emu_ps emu_mask_blend(__mmask16 m, emu_ps a, emu_ps b) {
    emu_ps r;
    for (int l = 0; l < 16; l++) r.f[l] = (m >> l) & 1 ? b.f[l] : a.f[l];
    return r;
}
static inline emu_si emu_cvtps_epi32(emu_ps a) {
    emu_si r;
    for (int l = 0; l < 16; l++) r.i[l] = (int32_t)nearbyintf(a.f[l]);
    return r;
}
static inline emu_ps emu_cvtepi32_ps(emu_si a) {
    emu_ps r;
    for (int l = 0; l < 16; l++) r.f[l] = (float)a.i[l];
    return r;
}
static inline emu_si emu_srai(emu_si a, int s) {
    emu_si r;
    for (int l = 0; l < 16; l++) r.i[l] = a.i[l] >> s;
    return r;
}
static inline emu_si emu_slli(emu_si a, int s) {
    emu_si r;
    for (int l = 0; l < 16; l++) r.i[l] = (int32_t)((uint32_t)a.i[l] << s);
    return r;
}
static inline emu_si emu_add_epi32(emu_si a, emu_si b) {
    emu_si r;
    for (int l = 0; l < 16; l++) r.i[l] = (int32_t)((uint32_t)a.i[l] + (uint32_t)b.i[l]);
    return r;
}
static inline emu_si emu_set1_epi32(int32_t x) {
    emu_si r;
    for (int l = 0; l < 16; l++) r.i[l] = x;
    return r;
}
static inline emu_ps emu_castsi(emu_si a) {
    emu_ps r;
    memcpy(r.f, a.i, sizeof r.f);
    return r;
}

#define __m512 emu_ps
#define __m512i emu_si
#define _mm512_set1_ps emu_set1
#define _mm512_loadu_ps emu_loadu
#define _mm512_storeu_ps emu_storeu
#define _mm512_maskz_loadu_ps emu_maskz_loadu
#define _mm512_mask_storeu_ps emu_mask_storeu
#define _mm512_add_ps emu_add
#define _mm512_sub_ps emu_sub
#define _mm512_mul_ps emu_mul
#define _mm512_div_ps emu_div
#define _mm512_min_ps emu_min
#define _mm512_max_ps emu_max
#define _mm512_fmadd_ps emu_fmadd
#define _mm512_and_ps emu_and
#define _mm512_or_ps emu_or
#define _mm512_andnot_ps emu_andnot
#define _mm512_xor_ps emu_xor
#define _mm512_cmp_ps_mask emu_cmp_mask
#define _mm512_mask_blend_ps emu_mask_blend
#define _mm512_cvtps_epi32 emu_cvtps_epi32
#define _mm512_cvtepi32_ps emu_cvtepi32_ps
#define _mm512_srai_epi32 emu_srai
#define _mm512_slli_epi32 emu_slli
#define _mm512_add_epi32 emu_add_epi32
#define _mm512_set1_epi32 emu_set1_epi32
#define _mm512_castsi512_ps emu_castsi

#endif
