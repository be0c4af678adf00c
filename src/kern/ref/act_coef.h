/*
 * act_coef.h — constants shared by the element-wise activation kernels
 * (act_ref.c and its SIMD twins act_avx2.c, act_avx512.c), so every variant
 * evaluates the same approximation and differs from the reference only by
 * FMA contraction (a few ulp, see kern.h).
 *
 * exp: Cody–Waite reduction x = n ln2 + r, |r| <= ln2/2, with ln2 split
 * into C1 (9 significant bits: n·C1 is exact for |n| < 2^15) + C2; then the
 * degree-7 minimax polynomial of Cephes expf, e^r ≈ 1 + r + r²·P(r);
 * n is rounded by the 1.5·2^23 trick (round-to-nearest-even, no libm).
 * 2^n is applied as two exact power-of-two factors 2^⌊n/2⌋·2^(n−⌊n/2⌋),
 * each a normal float for n in [−150, 129], so overflow gives +inf and
 * underflow rounds correctly into the subnormals.
 * tanh: |x| < 0.625: Cephes tanhf odd polynomial x + x·z·T(z), z = x²
 * (no cancellation near 0); else 1 − 2/(e^{2|x|} + 1) with the sign of x.
 */
#ifndef ES_KERN_REF_ACT_COEF_H
#define ES_KERN_REF_ACT_COEF_H

#define ES_ACT_EXP_LO (-104.0f) /* e^x rounds to +0 below (< 2^-150) */
#define ES_ACT_EXP_HI 89.0f     /* e^x overflows to +inf above 88.7228 */
#define ES_ACT_LOG2E 1.44269504088896341f
#define ES_ACT_ROUND 12582912.0f /* 1.5 * 2^23 */
#define ES_ACT_C1 0.693359375f
#define ES_ACT_C2 (-2.12194440e-4f)
#define ES_ACT_P0 1.9875691500e-4f
#define ES_ACT_P1 1.3981999507e-3f
#define ES_ACT_P2 8.3334519073e-3f
#define ES_ACT_P3 4.1665795894e-2f
#define ES_ACT_P4 1.6666665459e-1f
#define ES_ACT_P5 5.0000001201e-1f

#define ES_ACT_TANH_SMALL 0.625f
#define ES_ACT_T0 (-5.70498872745e-3f)
#define ES_ACT_T1 2.06390887954e-2f
#define ES_ACT_T2 (-5.37397155531e-2f)
#define ES_ACT_T3 1.33314422036e-1f
#define ES_ACT_T4 (-3.33332819422e-1f)

/* GELU, tanh form (Hendrycks & Gimpel; T5 "gelu_new"):
 * 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) */
#define ES_ACT_GELU_K0 0.79788456080286536f
#define ES_ACT_GELU_K1 0.044715f

#endif
