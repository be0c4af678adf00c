/*
 * act_tmpl.h — element-wise activations (exp, sigmoid, tanh, GELU) shared
 * by the x86 SIMD variants, the algorithm of act_ref.c (constants in
 * kern/ref/act_coef.h) with FMA in the range reduction and polynomials.
 * Included once by each ISA file (act_avx2.c, act_avx512.c), which first
 * defines AV_VL (floats per vector), the types av_vec and av_mask and:
 *   av_set1(x) av_load(p) av_store(p,v) av_load_n(p,n) av_store_n(p,v,n)
 *   av_add av_sub av_mul av_div av_min av_max av_fma(a,b,c) = a*b+c
 *   av_and(a,b) av_or(a,b) (bitwise on floats)  av_andnot_sign(a) = |a|
 *   av_xor_sign(a) = -a  av_floor_half(n) = floor(n/2) for an integral float
 *   av_lt(a,b) → mask (ordered: false on NaN)  av_isnan(a) → mask
 *   av_blend(m, a, b) = m ? b : a
 *   av_pow2(n) → 2^n for an integral float n in [-75, 65]
 * (_n: only the first n lanes, 0 <= n < AV_VL, never touching memory past
 * them; other lanes load 0). A tail runs the same arithmetic as a full
 * vector, so y[i] depends on x[i] alone — not on n, i or alignment.
 */

static inline av_vec av_exp(av_vec x) {
    av_vec xc = av_min(av_max(x, av_set1(ES_ACT_EXP_LO)), av_set1(ES_ACT_EXP_HI));
    av_vec rnd = av_set1(ES_ACT_ROUND);
    av_vec n = av_sub(av_fma(xc, av_set1(ES_ACT_LOG2E), rnd), rnd);
    /* n·C1 is exact, so the first step rounds once with or without FMA */
    av_vec r = av_fma(n, av_set1(-ES_ACT_C1), xc);
    r = av_fma(n, av_set1(-ES_ACT_C2), r);
    av_vec p = av_set1(ES_ACT_P0);
    p = av_fma(p, r, av_set1(ES_ACT_P1));
    p = av_fma(p, r, av_set1(ES_ACT_P2));
    p = av_fma(p, r, av_set1(ES_ACT_P3));
    p = av_fma(p, r, av_set1(ES_ACT_P4));
    p = av_fma(p, r, av_set1(ES_ACT_P5));
    p = av_fma(p, av_mul(r, r), av_add(r, av_set1(1.0f)));
    /* 2^n = 2^a · 2^(n-a), a = floor(n/2): both factors normal for n in [-150, 129] */
    av_vec a = av_floor_half(n);
    av_vec y = av_mul(av_mul(p, av_pow2(a)), av_pow2(av_sub(n, a)));
    return av_blend(av_isnan(x), y, x);
}

static inline av_vec av_tanh(av_vec x) {
    av_vec sign = av_and(x, av_set1(-0.0f));
    av_vec ax = av_andnot_sign(x);
    av_vec z = av_mul(ax, ax);
    av_vec p = av_set1(ES_ACT_T0);
    p = av_fma(p, z, av_set1(ES_ACT_T1));
    p = av_fma(p, z, av_set1(ES_ACT_T2));
    p = av_fma(p, z, av_set1(ES_ACT_T3));
    p = av_fma(p, z, av_set1(ES_ACT_T4));
    av_vec small = av_fma(av_mul(p, z), ax, ax);
    av_vec e = av_exp(av_add(ax, ax));
    av_vec big = av_sub(av_set1(1.0f), av_div(av_set1(2.0f), av_add(e, av_set1(1.0f))));
    av_vec t = av_blend(av_lt(ax, av_set1(ES_ACT_TANH_SMALL)), big, small);
    return av_or(t, sign);
}

static inline av_vec av_sigmoid(av_vec x) {
    av_vec one = av_set1(1.0f);
    return av_div(one, av_add(one, av_exp(av_xor_sign(x))));
}

static inline av_vec av_gelu(av_vec x) {
    av_vec u = av_mul(av_set1(ES_ACT_GELU_K1), av_mul(av_mul(x, x), x));
    u = av_mul(av_set1(ES_ACT_GELU_K0), av_add(x, u));
    return av_mul(av_mul(av_set1(0.5f), x), av_add(av_set1(1.0f), av_tanh(u)));
}

#define AV_MAP(name, f)                                                                       \
    static void name(float *y, const float *x, size_t n) {                                    \
        size_t i = 0;                                                                         \
        for (; i + AV_VL <= n; i += AV_VL) av_store(y + i, f(av_load(x + i)));                \
        if (i < n) av_store_n(y + i, f(av_load_n(x + i, (int)(n - i))), (int)(n - i));        \
    }

AV_MAP(av_map_exp, av_exp)
AV_MAP(av_map_sigmoid, av_sigmoid)
AV_MAP(av_map_tanh, av_tanh)
AV_MAP(av_map_gelu, av_gelu)
