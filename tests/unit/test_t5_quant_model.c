/*
 * test_t5_quant_model.c — reduced-precision T5 folders end to end through
 * the library: es_t5_quantize_dir on the fixture checkpoints (tiny-v1:
 * tied ReLU; tiny-v11: untied gated-GELU), load, teacher-forced logits
 * against the fp32 model (bounds below), greedy ids 1 vs 2 threads
 * identical, and two independent twins:
 *   - bf16: the same BF16 tensors written as a plain checkpoint (no
 *     edgeseq_quant) load through the fp32 upcast path; the bf16 kernel
 *     path must match it to summation-order rounding (<= 1e-4);
 *   - int8: the dequantized weights q·s written as F32 run on the fp32
 *     engine; the int8 path differs only by activation quantization.
 * Hostile folders derived from a valid int8 one must be refused with the
 * right status: bad scale shape, scale dtype F16, missing scale, zero
 * scale, code −128, I8 weight of the wrong shape, unknown scheme, scheme
 * without config entry, I8 tensors without a scheme, re-quantizing.
 */
#include "test.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "model/model_internal.h"
#include "quant/t5_quant.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static const char *path2(const char *sub, const char *file) {
    static char b[2][4096];
    static int k;
    k ^= 1;
    if (file)
        snprintf(b[k], sizeof b[k], "%s/%s/%s", g_dir, sub, file);
    else
        snprintf(b[k], sizeof b[k], "%s/%s", g_dir, sub);
    return b[k];
}

/* Teacher-forced logits (T, V) of a fixed input; caller frees. */
static float *logits_of(const char *dir, int threads, int T, int *V_out, int32_t *greedy, int n_greedy) {
    es_error err;
    es_model *m = NULL;
    es_load_params lp = es_load_params_default();
    es_status s = es_model_load(&m, dir, &lp, &err);
    CHECK(s == ES_OK, "load %s: %s", dir, err.msg);
    if (s) return NULL;
    es_session_params sp = es_session_params_default();
    sp.n_threads = threads;
    sp.max_src_len = 16;
    sp.max_tgt_len = 40;
    sp.max_batch = 2;
    es_session *ss = NULL;
    REQUIRE(es_session_new(&ss, m, &sp, &err) == ES_OK, "session: %s", err.msg);
    const int V = es_model_get_info(m)->vocab_size;
    int32_t src[12], mask[12], dec[40];
    for (int i = 0; i < 11; i++) src[i] = 5 + (i * 7919) % 3000, mask[i] = 1;
    src[11] = 1, mask[11] = 1;
    dec[0] = 0;
    for (int i = 1; i < T; i++) dec[i] = 3 + (i * 104729) % 2000;
    float *lg = malloc(sizeof(float) * (size_t)T * V);
    CHECK(es_session_decoder_logits(ss, lg, src, mask, 1, 12, dec, T) == ES_OK, "logits %s",
          es_session_errmsg(ss));
    if (greedy) {
        es_gen_params g = es_gen_params_default();
        g.max_new_tokens = n_greedy;
        g.ignore_eos = 1;
        es_gen_result r;
        CHECK(es_session_generate(ss, &r, src, 12, &g) == ES_OK, "generate");
        CHECK(r.hyps[0].n_ids == n_greedy, "greedy length");
        memcpy(greedy, r.hyps[0].ids, sizeof(int32_t) * (size_t)n_greedy);
    }
    es_session_free(ss);
    es_model_free(m);
    *V_out = V;
    return lg;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Rewrites folder `from` into `to` with tensor edits: kind selects the
 * variant. meta == NULL keeps the source metadata. */
enum { V_DEQUANT, V_PLAIN, V_SCALE_SHAPE, V_SCALE_F16, V_SCALE_MISSING, V_SCALE_ZERO, V_CODE_M128,
       V_I8_SHAPE, V_SCHEME_UNKNOWN, V_NO_CFG, V_I8_NO_SCHEME };

static void write_variant(const char *from, const char *to, int kind, const char *src_cfg_dir) {
    es_error err;
    es_weights *w = NULL;
    const char *which;
    REQUIRE(es_weights_open_dir(&w, from, &which, &err) == ES_OK, "open %s: %s", from, err.msg);
    const size_t n = es_weights_count(w);
    es_st_write_tensor *t = calloc(n, sizeof *t);
    void **bufs = calloc(n, sizeof *bufs);
    size_t nt = 0;
    const char *target = "decoder.block.0.layer.0.SelfAttention.q.weight";
    for (size_t i = 0; i < n; i++) {
        const es_tensor_view *v = es_weights_at(w, i);
        es_st_write_tensor *o = &t[nt];
        o->name = v->name;
        o->dtype = v->dtype;
        o->ndim = v->ndim;
        memcpy(o->shape, v->shape, sizeof o->shape);
        o->data = v->data;
        size_t len = strlen(v->name);
        bool is_scale = len > 7 && strcmp(v->name + len - 7, ".qscale") == 0;
        bool tgt_scale = is_scale && strncmp(v->name, target, strlen(target)) == 0;
        if (kind == V_DEQUANT || kind == V_I8_NO_SCHEME) {
            if (is_scale && kind == V_DEQUANT) continue;
            if (v->dtype == ES_DTYPE_I8 && kind == V_DEQUANT) {
                char sn[512];
                snprintf(sn, sizeof sn, "%s.qscale", v->name);
                const es_tensor_view *s = es_weights_find(w, sn);
                REQUIRE(s, "scale of %s", v->name);
                const int64_t N = v->shape[0], K = v->shape[1], NG = s->shape[1];
                float *f = malloc(sizeof(float) * (size_t)(N * K));
                const int8_t *q = v->data;
                for (int64_t r = 0; r < N; r++)
                    for (int64_t k = 0; k < K; k++) {
                        float sc;
                        memcpy(&sc, (const char *)s->data + sizeof(float) * (size_t)(r * NG + k / (K / NG)), 4);
                        f[r * K + k] = sc * q[r * K + k];
                    }
                o->dtype = ES_DTYPE_F32;
                o->data = bufs[nt] = f;
            }
        }
        if (tgt_scale && kind == V_SCALE_SHAPE) o->shape[1] = 3, o->shape[0] = v->shape[0] * v->shape[1] / 3;
        if (tgt_scale && kind == V_SCALE_SHAPE && v->shape[0] * v->shape[1] % 3) o->shape[1] = 1;
        if (tgt_scale && kind == V_SCALE_F16) {
            o->dtype = ES_DTYPE_F16;
            o->shape[0] = v->shape[0] * v->shape[1] * 2; /* same bytes, F16 (2N, 1) */
            o->shape[1] = 1;
        }
        if (tgt_scale && kind == V_SCALE_MISSING) continue;
        if (tgt_scale && kind == V_SCALE_ZERO) {
            float *f = malloc(v->nbytes);
            memcpy(f, v->data, v->nbytes);
            f[3] = 0.0f;
            o->data = bufs[nt] = f;
        }
        if (strcmp(v->name, target) == 0 && kind == V_CODE_M128) {
            int8_t *c = malloc(v->nbytes);
            memcpy(c, v->data, v->nbytes);
            c[5] = -128;
            o->data = bufs[nt] = c;
        }
        if (strcmp(v->name, target) == 0 && kind == V_I8_SHAPE) o->shape[0] /= 2, o->shape[1] *= 2;
        nt++;
    }
    const char *q = es_weights_get_meta(w, "edgeseq_quant");
    const char *meta_q[] = {"format", "pt", "edgeseq_quant", kind == V_SCHEME_UNKNOWN ? "t5-int4" : q};
    const char *meta_plain[] = {"format", "pt"};
    const bool plain = kind == V_DEQUANT || kind == V_PLAIN || kind == V_I8_NO_SCHEME;
    mkdir(to, 0777);
    char p[4096];
    snprintf(p, sizeof p, "%s/model.safetensors", to);
    REQUIRE(es_safetensors_write(p, t, nt, plain ? meta_plain : meta_q, plain ? 1 : 2, &err) == ES_OK,
            "write %s: %s", p, err.msg);
    /* config: the fp32 source's (no "quantization") for plain folders and
     * V_NO_CFG, else the quantized folder's */
    char c0[4096], c1[4096];
    snprintf(c0, sizeof c0, "%s/config.json", plain || kind == V_NO_CFG ? src_cfg_dir : from);
    snprintf(c1, sizeof c1, "%s/config.json", to);
    REQUIRE(es_copy_file_atomic(c1, c0, &err) == ES_OK, "config copy");
    for (size_t i = 0; i < nt; i++) free(bufs[i]);
    free(bufs);
    free(t);
    es_weights_free(w);
}

static void expect_refused(const char *dir, es_status want, const char *what, const char *needle) {
    es_error err;
    es_model *m = NULL;
    es_load_params lp = es_load_params_default();
    es_status s = es_model_load(&m, dir, &lp, &err);
    CHECK(s == want, "%s: status %d, want %d (%s)", what, s, want, s ? err.msg : "loaded");
    if (s) CHECK(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, needle);
    printf("  refused %-22s -> %s\n", what, s ? err.msg : "(loaded!)");
    es_model_free(m);
}

int main(void) {
    /* panels written before es_model_load returns, so l1 / l2 below use
     * them (the default writes them in the background: same bits) */
    setenv("EDGESEQ_PACK", "sync", 1);
    snprintf(g_dir, sizeof g_dir, "/tmp/es_t5q_XXXXXX");
    REQUIRE(mkdtemp(g_dir), "mkdtemp");
    es_error err;
    const char *fx[2] = {"tiny-v1", "tiny-v11"};
    /* bounds measured on these fixtures with margin (max |logit| ~6 / ~40) */
    const double bound_i8[2] = {0.25, 3.0}, bound_bf16[2] = {0.05, 0.5}, bound_f16[2] = {0.01, 0.1};
    enum { T = 16, NG = 12 };
    for (int f = 0; f < 2; f++) {
        char src[4096];
        snprintf(src, sizeof src, "%s", fixture(f == 0 ? "t5/tiny-v1" : "t5/tiny-v11"));
        int V = 0;
        float *ref = logits_of(src, 1, T, &V, NULL, 0);
        REQUIRE(ref, "reference logits");
        const char *dt[4] = {"int8", "int8", "bf16", "f16"};
        /* group 16 (tiny-v1) takes the packed group-wise path; tiny-v11's
         * widths (48, 96, 72) allow group 8, which stays row-major */
        const int grp[4] = {0, f == 0 ? 16 : 8, 0, 0};
        /* tiny-v11 is stored BF16: its bf16/f16 forms are the same numbers */
        for (int k = 0; k < (f == 0 ? 4 : 2); k++) {
            char sub[64];
            snprintf(sub, sizeof sub, "%s-%s-g%d", fx[f], dt[k], grp[k]);
            uint64_t bytes = 0;
            es_status s = es_t5_quantize_dir(src, path2(sub, NULL), dt[k], grp[k], &bytes, &err);
            REQUIRE(s == ES_OK, "quantize %s: %s", sub, err.msg);
            int32_t g1[NG], g2[NG];
            int V2;
            float *l1 = logits_of(path2(sub, NULL), 1, T, &V2, g1, NG);
            float *l2 = logits_of(path2(sub, NULL), 2, T, &V2, g2, NG);
            REQUIRE(l1 && l2, "quantized logits");
            CHECK(memcmp(l1, l2, sizeof(float) * T * V) == 0, "%s: 1 vs 2 threads logits differ", sub);
            CHECK(memcmp(g1, g2, sizeof g1) == 0, "%s: 1 vs 2 threads greedy ids differ", sub);
            if (k < 3) {
                /* int8 codes / bf16 weights re-packed into panels at load
                 * (t5_pack.c) vs read row-major (EDGESEQ_PACK=0): the same
                 * integer sums / the same fp32 operations */
                int32_t g3[NG];
                setenv("EDGESEQ_PACK", "0", 1);
                float *l3 = logits_of(path2(sub, NULL), 2, T, &V2, g3, NG);
                setenv("EDGESEQ_PACK", "sync", 1);
                REQUIRE(l3, "unpacked logits");
                CHECK(memcmp(l1, l3, sizeof(float) * T * V) == 0 && memcmp(g1, g3, sizeof g1) == 0,
                      "%s: packed vs row-major weights differ", sub);
                free(l3);
            }
            double d = max_diff(l1, ref, (size_t)T * V);
            double bound = k < 2 ? bound_i8[f] : k == 2 ? bound_bf16[f] : bound_f16[f];
            CHECK(d <= bound, "%s: max |logit diff| %g > %g", sub, d, bound);
            printf("%-22s %9llu bytes  max |dlogit| vs fp32 %.4g (bound %g)\n", sub,
                   (unsigned long long)bytes, d, bound);
            if (k == 0 || k == 1 || k == 2) {
                char twin[96];
                snprintf(twin, sizeof twin, "%s-twin", sub);
                write_variant(path2(sub, NULL), path2(twin, NULL), k == 2 ? V_PLAIN : V_DEQUANT, src);
                float *lt = logits_of(path2(twin, NULL), 1, T, &V2, NULL, 0);
                REQUIRE(lt, "twin logits");
                double dt2 = max_diff(l1, lt, (size_t)T * V);
                /* bf16: summation order only; int8: activation rounding only
                 * (about half the int8-vs-fp32 error on these models) */
                double tb = k == 2 ? 1e-4 : bound * 0.75;
                CHECK(dt2 <= tb, "%s: vs its fp32 twin %g > %g", sub, dt2, tb);
                printf("%-22s vs fp32 twin (%s) max |dlogit| %.4g\n", sub,
                       k == 2 ? "bf16 upcast" : "dequantized weights", dt2);
                free(lt);
            }
            free(l1);
            free(l2);
        }
        free(ref);
    }
    /* hostile folders from a valid int8 one */
    const char *q = path2("tiny-v1-int8-g0", NULL);
    char qd[4096];
    snprintf(qd, sizeof qd, "%s", q);
    const char *src = fixture("t5/tiny-v1");
    struct { int kind; es_status want; const char *what, *needle; } h[] = {
        {V_SCALE_SHAPE, ES_ERR_SHAPE, "scale shape", ".qscale"},
        {V_SCALE_F16, ES_ERR_FORMAT, "scale dtype F16", "F16"},
        {V_SCALE_MISSING, ES_ERR_FORMAT, "scale missing", "no scale tensor"},
        {V_SCALE_ZERO, ES_ERR_FORMAT, "scale zero", "finite and > 0"},
        {V_CODE_M128, ES_ERR_FORMAT, "code -128", "-128"},
        {V_I8_SHAPE, ES_ERR_SHAPE, "I8 weight shape", "SelfAttention.q.weight"},
        {V_SCHEME_UNKNOWN, ES_ERR_UNSUPPORTED, "unknown scheme", "t5-int4"},
        {V_NO_CFG, ES_ERR_FORMAT, "no config entry", "quantization"},
        {V_I8_NO_SCHEME, ES_ERR_FORMAT, "I8 without scheme", "weight"},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(h); i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "hostile-%zu", i);
        write_variant(qd, path2(sub, NULL), h[i].kind, src);
        expect_refused(path2(sub, NULL), h[i].want, h[i].what, h[i].needle);
    }
    uint64_t b;
    es_status s = es_t5_quantize_dir(qd, path2("again", NULL), "int8", 0, &b, &err);
    CHECK(s == ES_ERR_ARG && strstr(err.msg, "already quantized"), "re-quantize: %d %s", s, err.msg);
    s = es_t5_quantize_dir(src, path2("bad", NULL), "int8", 7, &b, &err);
    CHECK(s == ES_ERR_ARG, "group 7 must be refused (d_model 64): %d", s);
    s = es_t5_quantize_dir(src, path2("bad", NULL), "int4", 0, &b, &err);
    CHECK(s == ES_ERR_ARG, "dtype int4 refused: %d", s);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END();
}
