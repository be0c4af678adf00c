/*
 * act_avx512.c — AVX-512F element-wise activations: maps the primitives of
 * act_tmpl.h onto 512-bit intrinsics (16 floats, __mmask16 for compares and
 * tails). All logic is in act_tmpl.h, exercised by the AVX2 build's tests
 * on CPUs without AVX-512. Called only when es_kern_get found AVX-512 usable.
 * ES_AVX512_EMU (tests/emu only, never in the library build): the intrinsics
 * come from dev/kern/act_avx512_emu.h, scalar stand-ins, so this file runs
 * and is tested on CPUs without AVX-512 (ctest unit_test_kern_act_avx512_emu).
 */
#include "kern/kern.h"
#include "kern/ref/act_coef.h"

#ifdef ES_AVX512_EMU
#include "act_avx512_emu.h"
#else
#include <immintrin.h>
#endif

#define AV_VL 16

typedef __m512 av_vec;
typedef __mmask16 av_mask;

static inline av_vec av_set1(float x) { return _mm512_set1_ps(x); }
static inline av_vec av_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void av_store(float *p, av_vec v) { _mm512_storeu_ps(p, v); }
static inline __mmask16 av_lanes(int n) { return (__mmask16)((1u << n) - 1u); }
/* masked loads/stores never touch (or fault on) masked-off lanes */
static inline av_vec av_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps(av_lanes(n), p); }
static inline void av_store_n(float *p, av_vec v, int n) { _mm512_mask_storeu_ps(p, av_lanes(n), v); }
static inline av_vec av_add(av_vec a, av_vec b) { return _mm512_add_ps(a, b); }
static inline av_vec av_sub(av_vec a, av_vec b) { return _mm512_sub_ps(a, b); }
static inline av_vec av_mul(av_vec a, av_vec b) { return _mm512_mul_ps(a, b); }
static inline av_vec av_div(av_vec a, av_vec b) { return _mm512_div_ps(a, b); }
/* max/min return the second operand when one is NaN: av_exp blends NaN back */
static inline av_vec av_min(av_vec a, av_vec b) { return _mm512_min_ps(a, b); }
static inline av_vec av_max(av_vec a, av_vec b) { return _mm512_max_ps(a, b); }
static inline av_vec av_fma(av_vec a, av_vec b, av_vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline av_vec av_and(av_vec a, av_vec b) { return _mm512_and_ps(a, b); }
static inline av_vec av_or(av_vec a, av_vec b) { return _mm512_or_ps(a, b); }
static inline av_vec av_andnot_sign(av_vec a) { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), a); }
static inline av_vec av_xor_sign(av_vec a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
static inline av_mask av_lt(av_vec a, av_vec b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline av_mask av_isnan(av_vec a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
static inline av_vec av_blend(av_mask m, av_vec a, av_vec b) { return _mm512_mask_blend_ps(m, a, b); }
static inline av_vec av_floor_half(av_vec n) {
    return _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_cvtps_epi32(n), 1));
}
static inline av_vec av_pow2(av_vec n) {
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}

#include "kern/x86/act_tmpl.h"

void es_exp_avx512(float *y, const float *x, size_t n) { av_map_exp(y, x, n); }
void es_sigmoid_avx512(float *y, const float *x, size_t n) { av_map_sigmoid(y, x, n); }
void es_tanh_avx512(float *y, const float *x, size_t n) { av_map_tanh(y, x, n); }
void es_gelu_avx512(float *y, const float *x, size_t n) { av_map_gelu(y, x, n); }
