/*
 * avx512_emu.h — scalar stand-ins for the AVX-512 intrinsics that
 * src/kern/x86/gemm_avx512.c (nine AVX-512F float ones) and
 * src/kern/x86/qgemm_vnni.c (integer + VNNI ones) use, so those files'
 * logic (masks, tails, blocking, reductions) can be run and tested on CPUs
 * without AVX-512 (the *_emu ctests built from tests/emu). Tests
 * only: never part of the library build. fmaf gives the single rounding
 * of vfmadd; the float reduction is a fixed tree, as the real one is.
 * vpdpbusd: per int32 lane i, += Σ_{j<4} (uint8) a[4i+j] · (int8) b[4i+j]
 * (Intel SDM, VPDPBUSD: first source unsigned bytes, second signed; no
 * saturation in the non-S form).
 */
#ifndef ES_DEV_AVX512_EMU_H
#define ES_DEV_AVX512_EMU_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
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

typedef struct emu_m512i {
    unsigned char b[64];
} emu_m512i;

static inline int32_t emu_lane32(const emu_m512i *v, int i) {
    int32_t x;
    memcpy(&x, v->b + 4 * i, 4);
    return x;
}
static inline void emu_set_lane32(emu_m512i *v, int i, int32_t x) { memcpy(v->b + 4 * i, &x, 4); }
static inline emu_m512i emu_setzero_si512(void) {
    emu_m512i r;
    memset(&r, 0, sizeof r);
    return r;
}
static inline emu_m512i emu_loadu_si512(const void *p) {
    emu_m512i r;
    memcpy(r.b, p, 64);
    return r;
}
static inline emu_m512i emu_maskz_loadu_epi8(unsigned long long m, const void *p) {
    emu_m512i r;
    for (int i = 0; i < 64; i++) r.b[i] = ((m >> i) & 1) ? ((const unsigned char *)p)[i] : 0;
    return r;
}
static inline emu_m512i emu_dpbusd_epi32(emu_m512i src, emu_m512i a, emu_m512i b) {
    for (int i = 0; i < 16; i++) {
        int64_t s = emu_lane32(&src, i);
        for (int j = 0; j < 4; j++) s += (int32_t)a.b[4 * i + j] * (int32_t)(signed char)b.b[4 * i + j];
        emu_set_lane32(&src, i, (int32_t)(uint32_t)s); /* wraps like the hardware */
    }
    return src;
}
static inline emu_m512i emu_add_epi32(emu_m512i a, emu_m512i b) {
    for (int i = 0; i < 16; i++)
        emu_set_lane32(&a, i, (int32_t)((uint32_t)emu_lane32(&a, i) + (uint32_t)emu_lane32(&b, i)));
    return a;
}
static inline emu_m512i emu_broadcast_i32x4(__m128i x) {
    emu_m512i r;
    for (int l = 0; l < 4; l++) _mm_storeu_si128((__m128i *)(void *)(r.b + 16 * l), x);
    return r;
}
static inline __m128i emu_extracti32x4_epi32(emu_m512i v, int l) {
    return _mm_loadu_si128((const __m128i *)(const void *)(v.b + 16 * (l & 3)));
}
static inline int32_t emu_reduce_add_epi32(emu_m512i v) {
    uint32_t s = 0;
    for (int i = 0; i < 16; i++) s += (uint32_t)emu_lane32(&v, i);
    return (int32_t)s;
}

#define __m512i emu_m512i
#define _mm512_setzero_si512 emu_setzero_si512
#define _mm512_loadu_si512 emu_loadu_si512
#define _mm512_maskz_loadu_epi8 emu_maskz_loadu_epi8
#define _mm512_dpbusd_epi32 emu_dpbusd_epi32
#define _mm512_add_epi32 emu_add_epi32
#define _mm512_broadcast_i32x4 emu_broadcast_i32x4
#define _mm512_extracti32x4_epi32 emu_extracti32x4_epi32
#define _mm512_reduce_add_epi32 emu_reduce_add_epi32

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
