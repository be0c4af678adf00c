/*
 * attn_avx2.c — AVX2 + FMA one-row attention (contract above
 * es_attn_row_fn in kern.h; scalar twin src/kern/ref/attn_ref.c).
 *
 * Three passes over the keys, all vectorised over d (8 floats):
 *  1. scores: 4 keys at a time, each an 8-lane FMA chain over d (masked
 *     loads for a d tail) reduced by a fixed horizontal tree, + bias;
 *  2. softmax: max over valid keys, es_exp_avx2 over the row (<= 2 ulp),
 *     masked keys zeroed, sum in 8 lanes then a fixed tree;
 *  3. out = sum_t (e_t / sum) v_t in key order, d in blocks of 64 floats
 *     held in 8 accumulators.
 * The operation order depends only on (nk, dk, mask), so results are
 * reproducible; they differ from _ref by summation order, FMA and exp
 * rounding only (tests/unit/test_kern_attn.c bounds the difference).
 * Compiled with -mavx2 -mfma only; called only when AVX2 + FMA are usable.
 */
#include "kern/kern.h"

#include <immintrin.h>
#include <math.h>

#define VL 8
#define DB 64 /* d block of pass 3: 8 ymm accumulators */

static inline __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* scr[t] = q·k_t for t in [t0, t0 + nb), nb <= 4. */
static inline void dots(float *scr, const float *q, const float *K, ptrdiff_t ldk, int t0, int nb,
                        int dk) {
    const float *k0 = K + (ptrdiff_t)t0 * ldk;
    const float *k1 = nb > 1 ? k0 + ldk : k0, *k2 = nb > 2 ? k0 + 2 * ldk : k0;
    const float *k3 = nb > 3 ? k0 + 3 * ldk : k0;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int d = 0;
    for (; d + VL <= dk; d += VL) {
        __m256 qv = _mm256_loadu_ps(q + d);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + d), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + d), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + d), a3);
    }
    if (d < dk) {
        __m256i m = lanes(dk - d);
        __m256 qv = _mm256_maskload_ps(q + d, m);
        a0 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k0 + d, m), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k1 + d, m), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k2 + d, m), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k3 + d, m), a3);
    }
    float s[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
    for (int i = 0; i < nb; i++) scr[t0 + i] = s[i];
}

/* out (+)= sum_t w_t v_t over d in [d0, d0 + n), n <= DB; w_t = scr[t]*inv
 * (or inv alone when scr is NULL: uniform weights); masked keys skipped. */
static inline void weighted_sum(float *out, const float *V, ptrdiff_t ldv, const float *scr,
                                float inv, const int32_t *mask, int nk, int d0, int n) {
    __m256 acc[DB / VL];
    const int nv = (n + VL - 1) / VL, tail = n - (nv - 1) * VL;
    const __m256i m = lanes(tail);
    for (int i = 0; i < DB / VL; i++) acc[i] = _mm256_setzero_ps();
    for (int t = 0; t < nk; t++) {
        if (mask && !mask[t]) continue;
        const __m256 w = _mm256_set1_ps(scr ? scr[t] * inv : inv);
        const float *vt = V + (ptrdiff_t)t * ldv + d0;
        for (int i = 0; i < nv - 1; i++)
            acc[i] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vt + i * VL), acc[i]);
        acc[nv - 1] = _mm256_fmadd_ps(w, _mm256_maskload_ps(vt + (nv - 1) * VL, m), acc[nv - 1]);
    }
    for (int i = 0; i < nv - 1; i++) _mm256_storeu_ps(out + d0 + i * VL, acc[i]);
    _mm256_maskstore_ps(out + d0 + (nv - 1) * VL, m, acc[nv - 1]);
}

void es_attn_row_avx2(float *out, const float *q, const float *K, const float *V, ptrdiff_t ldk,
                      ptrdiff_t ldv, const float *bias, const int32_t *mask, float *scr, int nk,
                      int dk) {
    if (dk <= 0 || nk <= 0) return;
    /* 1. scores (masked keys too: their rows exist; they are dropped below) */
    for (int t = 0; t < nk; t += 4) dots(scr, q, K, ldk, t, nk - t < 4 ? nk - t : 4, dk);
    if (bias) {
        int t = 0;
        for (; t + VL <= nk; t += VL)
            _mm256_storeu_ps(scr + t, _mm256_add_ps(_mm256_loadu_ps(scr + t), _mm256_loadu_ps(bias + t)));
        for (; t < nk; t++) scr[t] += bias[t];
    }
    /* 2. softmax numerators */
    float mx = -INFINITY;
    int n_valid = 0;
    for (int t = 0; t < nk; t++) {
        if (mask && !mask[t]) continue;
        if (scr[t] > mx) mx = scr[t];
        n_valid++;
    }
    if (n_valid == 0) {
        /* Every key masked: uniform weights over all nk keys (HF). */
        const float w = 1.0f / (float)nk;
        for (int d0 = 0; d0 < dk; d0 += DB)
            weighted_sum(out, V, ldv, NULL, w, NULL, nk, d0, dk - d0 < DB ? dk - d0 : DB);
        return;
    }
    const __m256 vmx = _mm256_set1_ps(mx);
    int t = 0;
    for (; t + VL <= nk; t += VL)
        _mm256_storeu_ps(scr + t, _mm256_sub_ps(_mm256_loadu_ps(scr + t), vmx));
    for (; t < nk; t++) scr[t] -= mx;
    es_exp_avx2(scr, scr, (size_t)nk);
    if (mask)
        for (t = 0; t < nk; t++)
            if (!mask[t]) scr[t] = 0.0f;
    __m256 vs = _mm256_setzero_ps();
    for (t = 0; t + VL <= nk; t += VL) vs = _mm256_add_ps(vs, _mm256_loadu_ps(scr + t));
    float sum = hsum(vs);
    for (; t < nk; t++) sum += scr[t];
    const float inv = 1.0f / sum;
    /* 3. weighted values */
    for (int d0 = 0; d0 < dk; d0 += DB)
        weighted_sum(out, V, ldv, scr, inv, mask, nk, d0, dk - d0 < DB ? dk - d0 : DB);
}
