/*
 * act_avx2.c — AVX2 + FMA element-wise activations: maps the primitives of
 * act_tmpl.h onto 256-bit intrinsics (8 floats). Compiled with -mavx2
 * -mfma; called only when es_kern_get found AVX2 + FMA usable.
 */
#include "kern/kern.h"
#include "kern/ref/act_coef.h"

#include <immintrin.h>

#define AV_VL 8

typedef __m256 av_vec;
typedef __m256 av_mask;

static inline av_vec av_set1(float x) { return _mm256_set1_ps(x); }
static inline av_vec av_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void av_store(float *p, av_vec v) { _mm256_storeu_ps(p, v); }
static inline __m256i av_lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* maskload/maskstore never touch (or fault on) masked-off lanes */
static inline av_vec av_load_n(const float *p, int n) { return _mm256_maskload_ps(p, av_lanes(n)); }
static inline void av_store_n(float *p, av_vec v, int n) { _mm256_maskstore_ps(p, av_lanes(n), v); }
static inline av_vec av_add(av_vec a, av_vec b) { return _mm256_add_ps(a, b); }
static inline av_vec av_sub(av_vec a, av_vec b) { return _mm256_sub_ps(a, b); }
static inline av_vec av_mul(av_vec a, av_vec b) { return _mm256_mul_ps(a, b); }
static inline av_vec av_div(av_vec a, av_vec b) { return _mm256_div_ps(a, b); }
/* max/min return the second operand when one is NaN: av_exp blends NaN back */
static inline av_vec av_min(av_vec a, av_vec b) { return _mm256_min_ps(a, b); }
static inline av_vec av_max(av_vec a, av_vec b) { return _mm256_max_ps(a, b); }
static inline av_vec av_fma(av_vec a, av_vec b, av_vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline av_vec av_and(av_vec a, av_vec b) { return _mm256_and_ps(a, b); }
static inline av_vec av_or(av_vec a, av_vec b) { return _mm256_or_ps(a, b); }
static inline av_vec av_andnot_sign(av_vec a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline av_vec av_xor_sign(av_vec a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
static inline av_mask av_lt(av_vec a, av_vec b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline av_mask av_isnan(av_vec a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
static inline av_vec av_blend(av_mask m, av_vec a, av_vec b) { return _mm256_blendv_ps(a, b, m); }
/* floor(n/2) of an integral float: arithmetic shift of the integer */
static inline av_vec av_floor_half(av_vec n) {
    return _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_cvtps_epi32(n), 1));
}
static inline av_vec av_pow2(av_vec n) {
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}

#include "kern/x86/act_tmpl.h"

void es_exp_avx2(float *y, const float *x, size_t n) { av_map_exp(y, x, n); }
void es_sigmoid_avx2(float *y, const float *x, size_t n) { av_map_sigmoid(y, x, n); }
void es_tanh_avx2(float *y, const float *x, size_t n) { av_map_tanh(y, x, n); }
void es_gelu_avx2(float *y, const float *x, size_t n) { av_map_gelu(y, x, n); }
