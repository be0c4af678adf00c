/*
 * QAT and int8 inference of the byte seq2seq models (src/quant/s2s_qat.h):
 *  1. a tiny ByteTransformer + merged-attention model trains with a "qat"
 *     block through es_s2s_train unchanged (QAT from step 30); the counters
 *     and EMA ranges are carried in the registries;
 *     (decoder points and the encoder's qat.enc_act_range);
 *  2. gradient check of the QAT forward: with the fake-quants of decoder
 *     and encoder frozen to their straight-through surrogates, central
 *     differences over decoder AND encoder parameters match es_s2s_backward
 *     (the STE gradient);
 *  3. `export --int8` (es_s2s_model_export_int8): the int8 folder's encoder
 *     output (integer encoder GEMMs) equals the fake-quant eval encoder's
 *     within a few LSB of the decoder's uint8 grid for it, its
 *     teacher-forced logits (integer GEMMs) equal the fake-quant eval
 *     forward's within a few LSB of the logits' uint8 grid, greedy outputs
 *     are identical, beam / uint8 beam agree; through the public session
 *     API (int8-only model: float copies of the integer matrices dropped)
 *     greedy and beam outputs equal the workspace path's;
 *  4. a G2P-shaped model's int8 file is <= 0.3 × its fp32 file; the int8
 *     paths' kernels (es_qat_qgemm, es_qat_quant_u8) equal the reference
 *     integer GEMM and quantizer bit for bit on ragged shapes;
 *  4b. the same for a ByteFunnel encoder (pooled queries and the separately
 *     normalised memory share one grid): STE gradient check, int8 encoder
 *     output and logits vs fake-quant;
 *  5. hostile int8 files (bad scale shape, wrong dtypes, bad scale values,
 *     missing scales, I8 bias) are refused with messages naming the tensor.
 */
#include "test.h"

#include "decode/byte_beam.h"
#include "io/fileio.h"
#include "io/weights.h"
#include "kern/kern.h"
#include "quant/byte_qat.h"
#include "model/byte_seq2seq.h"
#include "model/model_internal.h"
#include "quant/s2s_qat.h"
#include "train/seq2seq_data.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NTRAIN = 1000, NTEST = 60, MAXW = 5 };

typedef struct word {
    uint8_t s[MAXW];
    int32_t t[MAXW];
    int n;
} word;

static void make_words(word *w, int n, uint64_t seed) {
    es_rng r;
    es_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        w[i].n = 1 + (int)es_rng_below(&r, MAXW);
        for (int k = 0; k < w[i].n; k++) w[i].s[k] = (uint8_t)('a' + es_rng_below(&r, 8));
        for (int k = 0; k < w[i].n; k++) w[i].t[k] = w[i].s[w[i].n - 1 - k] - 'a'; /* symbols */
    }
}

static es_status get(void *user, size_t i, es_s2s_example *ex, es_error *err) {
    (void)err;
    const word *w = (const word *)user + i;
    ex->src = w->s;
    ex->src_len = (size_t)w->n;
    ex->tgt = w->t;
    ex->tgt_len = (size_t)w->n;
    return ES_OK;
}

static const char *const SYM8[] = {"a", "b", "c", "d", "e", "f", "g", "h"};

static void tiny_config(es_s2s_config *c) {
    es_s2s_config_default(c);
    c->enc.encoder = ES_BYTE_TRANSFORMER;
    c->enc.d_model = 16;
    c->enc.d_embed = 0;
    c->enc.n_layers = 1;
    c->enc.n_heads = 2;
    c->enc.d_ff = 32;
    c->enc.gbst_blocks = 1;
    c->enc.gbst_kernel = 1;
    c->enc.dropout = 0.0f;
    c->enc.max_bytes = 8;
    c->enc.max_positions = 8;
    c->enc.qat = es_qat_config_default();
    c->enc.qat.start_step = 30;
    c->d_model = 16;
    c->n_layers = 2;
    c->n_heads = 2;
    c->d_ff = 24;
    c->max_out = 7;
    c->n_symbols = 8;
    c->symbols = SYM8;
}

static float param(es_params *ps, const char *name, size_t k) {
    int i = es_params_find(ps, name);
    return i >= 0 ? es_params_data(ps, i)[k] : NAN;
}

/* Σ_valid rows logits·R: the scalar the gradient check differentiates. */
static double proj_loss(es_s2s_ws *ws, const float *R, int V) {
    int rows;
    const int32_t *y;
    const float *lg = es_s2s_logits(ws, &rows, &y);
    double s = 0.0;
    for (int r = 0; r < rows; r++)
        if (y[r] >= 0)
            for (int v = 0; v < V; v++) s += (double)lg[(size_t)r * V + v] * R[(size_t)r * V + v];
    return s;
}

static void grad_check(es_s2s_model *m, const word *w) {
    es_error e;
    const int B = 2, V = es_s2s_model_vocab(m);
    es_s2s_ws *ws = NULL;
    REQUIRE(es_s2s_model_enable_grad(m, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_ws_new(&ws, m, B, 1, 1, NULL, &e) == ES_OK, "%s", e.msg);
    es_params *pd = es_s2s_model_dec_params(m);
    const uint8_t *src[2] = {w[0].s, w[1].s};
    const int32_t *tgt[2] = {w[0].t, w[1].t};
    size_t sl[2] = {(size_t)w[0].n, (size_t)w[1].n};
    es_rng rng;
    es_rng_seed(&rng, 3);
    es_params *pe = es_s2s_model_enc_params(m);
    REQUIRE(es_s2s_ws_qat_freeze(ws, 1, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_forward(ws, m, src, sl, tgt, sl, B, 1, &rng, &e) == ES_OK, "%s", e.msg);
    int rows;
    es_s2s_logits(ws, &rows, NULL);
    float *R = malloc((size_t)rows * (size_t)V * sizeof(float));
    es_rng rr;
    es_rng_seed(&rr, 9);
    for (size_t i = 0; i < (size_t)rows * (size_t)V; i++) R[i] = (float)es_rng_uniform(&rr) - 0.5f;
    memcpy(es_s2s_dlogits(ws), R, (size_t)rows * (size_t)V * sizeof(float));
    es_params_zero_grad(pd);
    es_params_zero_grad(es_s2s_model_enc_params(m));
    REQUIRE(es_s2s_backward(ws, m, &e) == ES_OK, "%s", e.msg);
    double worst = 0.0, worst_enc = 0.0;
    int n_checked = 0, n_bad = 0, n_enc = 0;
    for (int ri = 0; ri < 2; ri++) {
    es_params *ps = ri ? pe : pd;
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        if (!strncmp(p->name, "dec.qat.", 8) || !strncmp(p->name, "qat.", 4)) continue;
        for (int k = 0; k < 3; k++) {
            size_t j = (size_t)(k * 7919 + i * 31) % p->numel;
            float *v = ps->data + p->offset + j;
            float v0 = *v, h = 1e-2f * (fabsf(v0) > 1.0f ? fabsf(v0) : 1.0f);
            *v = v0 + h;
            REQUIRE(es_s2s_forward(ws, m, src, sl, tgt, sl, B, 1, &rng, &e) == ES_OK, "%s", e.msg);
            double lp = proj_loss(ws, R, V);
            *v = v0 - h;
            REQUIRE(es_s2s_forward(ws, m, src, sl, tgt, sl, B, 1, &rng, &e) == ES_OK, "%s", e.msg);
            double lm = proj_loss(ws, R, V);
            *v = v0;
            double fd = (lp - lm) / (2.0 * (double)h), g = ps->grad[p->offset + j];
            double rel = fabs(fd - g) / (fabs(fd) + fabs(g) + 1e-2);
            worst = rel > worst ? rel : worst;
            if (ri) worst_enc = rel > worst_enc ? rel : worst_enc;
            n_checked++;
            n_enc += ri;
            if (rel > 2e-2) {
                n_bad++;
                fprintf(stderr, "  %s[%zu]: fd %.6g grad %.6g\n", p->name, j, fd, g);
            }
        }
    }
    }
    printf("  STE gradient check (frozen surrogate): %d entries (%d encoder), worst rel err %.2e "
           "(encoder %.2e)\n", n_checked, n_enc, worst, worst_enc);
    CHECK(n_bad == 0, "%d of %d gradient entries off", n_bad, n_checked);
    REQUIRE(es_s2s_ws_qat_freeze(ws, 0, &e) == ES_OK, "%s", e.msg);
    free(R);
    es_s2s_ws_free(ws);
}

/* Teacher-forced logits of words w[0..n) on model m into out (rows, V). */
static int tf_logits(es_s2s_model *m, const word *w, int n, float *out, int32_t *tg, int *int8,
                     float *enc, size_t *enc_rows, int *enc8) {
    es_error e;
    es_s2s_ws *ws = NULL;
    REQUIRE(es_s2s_ws_new(&ws, m, n, 1, 0, NULL, &e) == ES_OK, "%s", e.msg);
    const uint8_t *src[NTEST];
    const int32_t *tgt[NTEST];
    size_t sl[NTEST];
    for (int i = 0; i < n; i++) {
        src[i] = w[i].s;
        tgt[i] = w[i].t;
        sl[i] = (size_t)w[i].n;
    }
    REQUIRE(es_s2s_forward(ws, m, src, sl, tgt, sl, n, 0, NULL, &e) == ES_OK, "%s", e.msg);
    int rows;
    const int32_t *y;
    const float *lg = es_s2s_logits(ws, &rows, &y);
    memcpy(out, lg, (size_t)rows * (size_t)es_s2s_model_vocab(m) * sizeof(float));
    memcpy(tg, y, (size_t)rows * sizeof(int32_t));
    *int8 = es_s2s_qat_int8_ran(es_s2s_ws_qat(ws));
    *enc8 = es_s2s_ws_enc_int8_ran(ws);
    const float *eo = es_s2s_ws_enc_output(ws, enc_rows);
    memcpy(enc, eo, *enc_rows * 16 * sizeof(float)); /* encoder width 16 */
    es_s2s_ws_free(ws);
    return rows;
}

static void decode_all(es_s2s_model *m, const word *w, int n, int method, int qbeam,
                       int32_t (*ids)[8], int *lens) {
    es_error e;
    es_s2s_ws *ws = NULL;
    es_bbeam_ws bw;
    REQUIRE(es_s2s_ws_new(&ws, m, 1, 4, 0, NULL, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_bbeam_ws_init(&bw, 4, 8, es_s2s_model_vocab(m), &e) == ES_OK, "%s", e.msg);
    es_gen_params gp = es_gen_params_default();
    gp.method = method;
    gp.num_beams = method == ES_DECODE_BEAM ? 4 : 1;
    gp.quantized_beam = qbeam;
    gp.max_new_tokens = 7;
    for (int i = 0; i < n; i++) {
        es_gen_result r;
        es_dec_model dm = es_s2s_dec_model(ws);
        REQUIRE(es_s2s_prime(ws, m, w[i].s, (size_t)w[i].n, &e) == ES_OK, "%s", e.msg);
        if (method == ES_DECODE_BEAM) REQUIRE(es_byte_beam(&bw, &dm, &gp, &r, &e) == ES_OK, "%s", e.msg);
        else REQUIRE(es_decode_run(&bw.d, &dm, &gp, &r, &e) == ES_OK, "%s", e.msg);
        lens[i] = r.hyps[0].n_ids < 8 ? r.hyps[0].n_ids : 8;
        memcpy(ids[i], r.hyps[0].ids, (size_t)lens[i] * sizeof(int32_t));
    }
    es_bbeam_ws_free(&bw);
    es_s2s_ws_free(ws);
}

/* The same decoding through the public API on folder dir (an int8 export
 * loads int8-only: float copies of its integer matrices dropped). */
static void decode_session(const char *dir, const word *w, int n, int method, int32_t (*ids)[8],
                           int *lens, int *int8_only) {
    es_error e;
    es_model *md = NULL;
    es_load_params lp = es_load_params_default();
    REQUIRE(es_model_load(&md, dir, &lp, &e) == ES_OK, "%s", e.msg);
    *int8_only = es_s2s_model_is_int8_only(md->impl);
    es_session_params sp = es_session_params_default();
    sp.max_batch = 4;
    sp.n_threads = 1;
    es_session *ss = NULL;
    REQUIRE(es_session_new(&ss, md, &sp, &e) == ES_OK, "%s", e.msg);
    es_gen_params gp = es_gen_params_default();
    gp.method = method;
    gp.num_beams = method == ES_DECODE_BEAM ? 4 : 1;
    gp.max_new_tokens = 7;
    for (int i = 0; i < n; i++) {
        int32_t src[MAXW];
        for (int k = 0; k < w[i].n; k++) src[k] = w[i].s[k];
        es_gen_result r;
        REQUIRE(es_session_generate(ss, &r, src, w[i].n, &gp) == ES_OK, "%s",
                es_session_errmsg(ss));
        lens[i] = r.hyps[0].n_ids < 8 ? r.hyps[0].n_ids : 8;
        memcpy(ids[i], r.hyps[0].ids, (size_t)lens[i] * sizeof(int32_t));
    }
    es_session_free(ss);
    es_model_free(md);
}

static int n_same(int32_t (*a)[8], const int *la, int32_t (*b)[8], const int *lb, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += la[i] == lb[i] && !memcmp(a[i], b[i], (size_t)la[i] * 4);
    return k;
}

static long long fsize(const char *dir) {
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- hostile files --------------------------------------------------------------- */

typedef enum { BAD_SCALE_SHAPE, BAD_SCALE_DTYPE, BAD_SCALE_VALUE, NO_SCALE, I8_BIAS,
               BAD_ENC_SCALE_SHAPE, N_BAD } bad_kind;

/* Rewrites good/model.safetensors into bad/ with one mutation; loads it. */
static void hostile(const char *good, const char *bad, bad_kind kind, const char *expect) {
    es_error e;
    es_weights *w = NULL;
    const char *which;
    REQUIRE(es_weights_open_dir(&w, good, &which, &e) == ES_OK, "%s", e.msg);
    size_t n = es_weights_count(w), k = 0;
    es_st_write_tensor *t = calloc(n, sizeof *t);
    static float fbuf[4096];
    static int8_t ibuf[4096];
    for (size_t i = 0; i < n; i++) {
        const es_tensor_view *v = es_weights_at(w, i);
        es_st_write_tensor x = {v->name, v->dtype, v->ndim, {0}, v->data};
        for (int d = 0; d < v->ndim; d++) x.shape[d] = v->shape[d];
        const char *nm = v->name;
        if (kind == BAD_SCALE_SHAPE && !strcmp(nm, "dec.layers.0.matt.q.weight.qscale")) {
            x.shape[0] += 1;
            for (int j = 0; j < 4096; j++) fbuf[j] = 0.01f;
            x.data = fbuf;
        } else if (kind == BAD_SCALE_DTYPE && !strcmp(nm, "dec.layers.1.ffn.fc2.weight.qscale")) {
            x.dtype = ES_DTYPE_I8;
            x.data = ibuf;
        } else if (kind == BAD_SCALE_VALUE && !strcmp(nm, "dec.embed.weight.qscale")) {
            memcpy(fbuf, v->data, v->nbytes);
            fbuf[3] = -1.0f;
            x.data = fbuf;
        } else if (kind == NO_SCALE && !strcmp(nm, "dec.layers.1.matt.o.weight.qscale")) {
            continue;
        } else if (kind == I8_BIAS && !strcmp(nm, "dec.out.bias")) {
            x.dtype = ES_DTYPE_I8;
            x.data = ibuf;
        } else if (kind == BAD_ENC_SCALE_SHAPE && !strcmp(nm, "tf.0.attn.qkv.weight.qscale")) {
            x.shape[0] -= 1;
        }
        t[k++] = x;
    }
    mkdir(bad, 0777);
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/config.json", good);
    snprintf(dst, sizeof dst, "%s/config.json", bad);
    REQUIRE(es_copy_file_atomic(dst, src, &e) == ES_OK, "%s", e.msg);
    snprintf(dst, sizeof dst, "%s/model.safetensors", bad);
    const char *meta[] = {"format", "pt"};
    REQUIRE(es_safetensors_write(dst, t, k, meta, 1, &e) == ES_OK, "%s", e.msg);
    free(t);
    es_weights_free(w);
    es_s2s_model *m = NULL;
    es_status s = es_s2s_model_load_dir(&m, bad, &e);
    CHECK(s != ES_OK && strstr(e.msg, expect), "hostile case %d: status %d, message \"%s\"",
          (int)kind, (int)s, s ? e.msg : "");
    if (s) printf("  hostile %d refused: %s\n", (int)kind, e.msg);
    es_s2s_model_free(m);
}

/* ---- size of a G2P-shaped model ------------------------------------------------------ */

static void size_ratio(const char *tmp) {
    static char names[84][8];
    static const char *symv[84];
    for (int i = 0; i < 84; i++) {
        snprintf(names[i], sizeof names[i], "P%d", i);
        symv[i] = names[i];
    }
    es_s2s_config c;
    es_s2s_config_default(&c);
    c.enc.encoder = ES_BYTE_TRANSFORMER;
    c.enc.max_bytes = 48;
    c.enc.d_embed = 0;
    c.enc.d_model = 128;
    c.enc.gbst_kernel = 3;
    c.enc.gbst_blocks = 1;
    c.enc.downsample = 1;
    c.enc.n_layers = 2;
    c.enc.n_heads = 4;
    c.enc.d_ff = 256;
    c.enc.max_positions = 48;
    c.enc.dropout = 0.0f;
    c.enc.qat = es_qat_config_default();
    c.d_model = 128;
    c.n_layers = 2;
    c.n_heads = 4;
    c.d_ff = 256;
    c.max_out = 40;
    c.n_symbols = 84;
    c.symbols = symv;
    es_error e;
    es_s2s_model *m = NULL;
    REQUIRE(es_s2s_model_new(&m, &c, 5, &e) == ES_OK, "%s", e.msg);
    char f32[512], i8[512];
    snprintf(f32, sizeof f32, "%s/g2p-f32", tmp);
    snprintf(i8, sizeof i8, "%s/g2p-int8", tmp);
    REQUIRE(es_s2s_model_save_dir(m, f32, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_model_export_int8(m, i8, &e) == ES_OK, "%s", e.msg);
    long long a = fsize(f32), b = fsize(i8);
    double ratio = (double)b / (double)a;
    printf("  G2P-shaped model (%zu params): fp32 %lld bytes, int8 %lld bytes, ratio %.3f\n",
           es_s2s_model_n_params(m), a, b, ratio);
    CHECK(a > 0 && ratio <= 0.3, "int8/fp32 size ratio %.3f", ratio);
    es_s2s_model_free(m);
}

/* es_qat_qgemm / es_qat_quant_u8 against the scalar references. */
static void kernels_exact(void) {
    es_rng r;
    es_rng_seed(&r, 77);
    enum { MM = 40, NN = 70, KK = 300 };
    static uint8_t A[MM * KK];
    static int8_t B[NN * KK];
    static int32_t C1[MM * NN], C2[MM * NN];
    static int16_t a16[4 * KK];
    int bad = 0, cases = 0;
    for (int it = 0; it < 300; it++) {
        int M = 1 + (int)es_rng_below(&r, MM), N = 1 + (int)es_rng_below(&r, NN);
        int K = 1 + (int)es_rng_below(&r, KK);
        int extreme = it % 7 == 0;
        for (int i = 0; i < M * K; i++) A[i] = extreme ? 255 : (uint8_t)es_rng_below(&r, 256);
        for (int i = 0; i < N * K; i++)
            B[i] = extreme ? (int8_t)-128 : (int8_t)((int)es_rng_below(&r, 256) - 128);
        es_qat_qgemm(NULL, C1, A, B, M, N, K, a16);
        es_qgemm_nt_ref(NULL, C2, N, A, K, B, K, M, N, K, 0);
        bad += memcmp(C1, C2, (size_t)M * (size_t)N * sizeof(int32_t)) != 0;
        cases++;
    }
    static float x[1000];
    static uint8_t q1[1000], q2[1000];
    int qbad = 0;
    for (int it = 0; it < 50; it++) {
        size_t n = 1 + es_rng_below(&r, 1000);
        for (size_t i = 0; i < n; i++) x[i] = ((float)es_rng_uniform(&r) - 0.4f) * 8.0f;
        x[0] = NAN;
        if (n > 3) x[3] = 1e30f;
        es_qparams g = es_qparams_from_range(-1.5f - (float)it * 0.01f, 2.0f + (float)it * 0.1f);
        es_qat_quant_u8(q1, x, n, &g);
        es_quant_act_u8(q2, x, n, &g);
        qbad += memcmp(q1, q2, n) != 0;
    }
    printf("  int8 kernels (%s): es_qat_qgemm = reference on %d/%d shapes, es_qat_quant_u8 = "
           "reference on %d/50 inputs\n", es_kern()->isa, cases - bad, cases, 50 - qbad);
    CHECK(bad == 0 && qbad == 0, "int8 kernels differ from the reference (%d gemm, %d quant)",
          bad, qbad);
}

/* A ByteFunnel encoder (layer 1 pools queries by 2): QAT, gradients, int8. */
static void funnel_check(const char *tmp, const word *tr, const word *te) {
    es_error e;
    es_s2s_config c;
    tiny_config(&c);
    c.enc.encoder = ES_BYTE_FUNNEL;
    c.enc.n_layers = 2;
    c.enc.pool_windows[1] = 2;
    c.enc.qat.start_step = 20;
    es_s2s_model *m = NULL;
    REQUIRE(es_s2s_model_new(&m, &c, 13, &e) == ES_OK, "%s", e.msg);
    es_s2s_source src = {NTRAIN, NULL, get, (void *)(uintptr_t)tr};
    es_train_params p = es_train_params_default();
    p.batch_size = 16;
    p.max_steps = 60;
    p.lr = 1e-2f;
    p.warmup_steps = 10;
    p.n_threads = 1;
    p.log_every = 1000;
    REQUIRE(es_s2s_train(m, &src, &p, NULL, NULL, &e) == ES_OK, "train: %s", e.msg);
    printf("  ByteFunnel encoder (2 layers, layer 1 pools by 2):\n");
    grad_check(m, tr);
    char qdir[512], idir[512];
    snprintf(qdir, sizeof qdir, "%s/fqat", tmp);
    snprintf(idir, sizeof idir, "%s/fint8", tmp);
    REQUIRE(es_s2s_model_save_dir(m, qdir, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_model_export_int8(m, idir, &e) == ES_OK, "%s", e.msg);
    es_s2s_model *mq = NULL, *mi = NULL;
    REQUIRE(es_s2s_model_load_dir(&mq, qdir, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_model_load_dir(&mi, idir, &e) == ES_OK, "%s", e.msg);
    const int V = es_s2s_model_vocab(m);
    static float lq[NTEST * 7 * 10], li[NTEST * 7 * 10], eq[NTEST * 8 * 16], ei[NTEST * 8 * 16];
    static int32_t yq[NTEST * 7], yi[NTEST * 7];
    size_t erq = 0, eri = 0;
    int q8, i8, qe8, ie8;
    int rows = tf_logits(mq, te, NTEST, lq, yq, &q8, eq, &erq, &qe8);
    tf_logits(mi, te, NTEST, li, yi, &i8, ei, &eri, &ie8);
    es_params *pd = es_s2s_model_dec_params(m);
    es_qparams g = es_qparams_from_range(param(pd, "dec.qat.act_range", 2 * ES_S2SQ_ENC),
                                         param(pd, "dec.qat.act_range", 2 * ES_S2SQ_ENC + 1));
    double emax = 0.0, lmax = 0.0, lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < erq * 16; k++)
        emax = fmax(emax, fabs((double)eq[k] - (double)ei[k]));
    for (int r = 0; r < rows; r++)
        for (int v = 1; v < V && yq[r] >= 0; v++) {
            double a = lq[(size_t)r * V + v];
            lo = fmin(lo, a);
            hi = fmax(hi, a);
            lmax = fmax(lmax, fabs(a - li[(size_t)r * V + v]));
        }
    double lsb = (hi - lo) / 255.0;
    printf("  funnel int8 vs fake-quant: encoder %.3g (%.3f LSB), logits %.3g (%.3f LSB); "
           "integer encoder %d/%d\n", emax, emax / g.scale, lmax, lmax / lsb, qe8, ie8);
    CHECK(erq == eri && qe8 == 0 && ie8 == 1 && i8 == 1, "funnel: rows %zu/%zu, integer %d/%d",
          erq, eri, qe8, ie8);
    CHECK(emax <= 3.0 * g.scale && lmax <= 3.0 * lsb, "funnel int8 differs: %.3f / %.3f LSB",
          emax / g.scale, lmax / lsb);
    es_s2s_model_free(mq);
    es_s2s_model_free(mi);
    es_s2s_model_free(m);
}

static int progress(void *user, int64_t step, double loss, double gn, float lr) {
    (void)user;
    (void)gn;
    (void)lr;
    if (step % 100 == 0) printf("  step %4lld loss %.4f\n", (long long)step, loss);
    return 0;
}

int main(void) {
    static word tr[NTRAIN], te[NTEST];
    make_words(tr, NTRAIN, 1);
    make_words(te, NTEST, 2);
    char tmp[] = "/tmp/es_s2s_qat_XXXXXX";
    REQUIRE(mkdtemp(tmp), "mkdtemp");
    es_error e;
    es_s2s_config c;
    tiny_config(&c);
    es_s2s_model *m = NULL;
    REQUIRE(es_s2s_model_new(&m, &c, 11, &e) == ES_OK, "%s", e.msg);

    /* 1. QAT training through es_s2s_train */
    es_s2s_source src = {NTRAIN, NULL, get, tr}, test = {NTEST, NULL, get, te};
    es_train_params p = es_train_params_default();
    p.batch_size = 16;
    p.max_steps = 200;
    p.lr = 1e-2f;
    p.warmup_steps = 20;
    p.n_threads = 1;
    p.log_every = 100;
    REQUIRE(es_s2s_train(m, &src, &p, progress, NULL, &e) == ES_OK, "train: %s", e.msg);
    double loss, exact;
    REQUIRE(es_s2s_evaluate(m, &test, 20, NULL, &loss, &exact, &e) == ES_OK, "%s", e.msg);
    printf("  QAT-trained tiny model: held-out token loss %.3f, greedy exact %.1f%%\n", loss,
           100 * exact);
    CHECK(loss < 1.0, "QAT training did not learn (loss %.3f)", loss);
    es_params *pd = es_s2s_model_dec_params(m), *pe = es_s2s_model_enc_params(m);
    CHECK(param(pd, "dec.qat.updates", 0) == 200.0f, "decoder counter %g",
          (double)param(pd, "dec.qat.updates", 0));
    CHECK(param(pe, "qat.updates", 0) == 200.0f, "encoder counter %g",
          (double)param(pe, "qat.updates", 0));
    int P = es_s2s_qat_n_points(c.n_layers), ranges_ok = 1;
    for (int k = 0; k < P; k++) {
        float lo = param(pd, "dec.qat.act_range", 2 * (size_t)k), hi = param(pd, "dec.qat.act_range", 2 * (size_t)k + 1);
        ranges_ok &= lo <= 0.0f && hi >= 0.0f && hi - lo > 1e-3f;
    }
    CHECK(ranges_ok, "activation ranges not tracked");
    int enc_ok = es_params_find(pe, "qat.enc_act_range") >= 0;
    for (int k = 0; enc_ok && k < 4 * c.enc.n_layers; k++) {
        float lo = param(pe, "qat.enc_act_range", 2 * (size_t)k);
        float hi = param(pe, "qat.enc_act_range", 2 * (size_t)k + 1);
        enc_ok &= lo <= 0.0f && hi >= 0.0f && hi - lo > 1e-3f;
    }
    CHECK(enc_ok, "encoder activation ranges (qat.enc_act_range) not tracked");

    /* 2. STE gradient check on the trained model */
    grad_check(m, tr);

    /* 3. int8 export vs the fake-quant eval forward */
    char qdir[512], idir[512];
    snprintf(qdir, sizeof qdir, "%s/qat", tmp);
    snprintf(idir, sizeof idir, "%s/int8", tmp);
    REQUIRE(es_s2s_model_save_dir(m, qdir, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_model_export_int8(m, idir, &e) == ES_OK, "%s", e.msg);
    es_s2s_model *mq = NULL, *mi = NULL;
    REQUIRE(es_s2s_model_load_dir(&mq, qdir, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_model_load_dir(&mi, idir, &e) == ES_OK, "%s", e.msg);
    const int V = es_s2s_model_vocab(m);
    float *lq = malloc((size_t)NTEST * 7 * (size_t)V * sizeof(float));
    float *li = malloc((size_t)NTEST * 7 * (size_t)V * sizeof(float));
    int32_t *yq = malloc((size_t)NTEST * 7 * sizeof(int32_t)), *yi = malloc((size_t)NTEST * 7 * sizeof(int32_t));
    int q8 = -1, i8 = -1, qe8 = -1, ie8 = -1;
    static float eq[NTEST * 8 * 16], ei[NTEST * 8 * 16];
    size_t erq = 0, eri = 0;
    int rows = tf_logits(mq, te, NTEST, lq, yq, &q8, eq, &erq, &qe8);
    int rows_i = tf_logits(mi, te, NTEST, li, yi, &i8, ei, &eri, &ie8);
    CHECK(rows == rows_i && q8 == 0 && i8 == 1, "rows %d/%d, integer path %d/%d", rows, rows_i, q8, i8);
    CHECK(erq == eri && erq > 0 && qe8 == 0 && ie8 == 1, "encoder rows %zu/%zu, integer path %d/%d",
          erq, eri, qe8, ie8);
    {
        /* the encoder output in LSB of the grid the decoder quantizes it on */
        float elo = param(pd, "dec.qat.act_range", 2 * ES_S2SQ_ENC);
        float ehi = param(pd, "dec.qat.act_range", 2 * ES_S2SQ_ENC + 1);
        es_qparams g = es_qparams_from_range(elo, ehi);
        double emax = 0.0;
        int code_diff = 0;
        for (size_t k = 0; k < erq * 16; k++) {
            double d = fabs((double)eq[k] - (double)ei[k]);
            emax = d > emax ? d : emax;
            int dc = abs((int)es_quant_u8(eq[k], &g) - (int)es_quant_u8(ei[k], &g));
            code_diff = dc > code_diff ? dc : code_diff;
        }
        printf("  int8 vs fake-quant encoder output: max |diff| %.3g = %.3f LSB of its uint8 grid "
               "(scale %.4g); max code difference %d\n", emax, emax / g.scale, (double)g.scale,
               code_diff);
        CHECK(emax <= 3.0 * g.scale && code_diff <= 3, "encoder output differs by %.3f LSB",
              emax / g.scale);
    }
    double lo = INFINITY, hi = -INFINITY, maxd = 0.0;
    for (int r = 0; r < rows; r++) {
        if (yq[r] < 0) continue;
        for (int v = 1; v < V; v++) { /* id 0 (start) is never generated */
            double a = lq[(size_t)r * V + v], b = li[(size_t)r * V + v];
            lo = a < lo ? a : lo;
            hi = a > hi ? a : hi;
            maxd = fabs(a - b) > maxd ? fabs(a - b) : maxd;
        }
    }
    double lsb = (hi - lo) / 255.0;
    printf("  int8 vs fake-quant logits: max |diff| %.3g = %.3f LSB of the logits' uint8 grid "
           "(range [%.2f, %.2f])\n", maxd, maxd / lsb, lo, hi);
    CHECK(maxd <= 2.0 * lsb, "int8 logits differ by %.3f LSB", maxd / lsb);
    static int32_t g1[NTEST][8], g2[NTEST][8];
    static int n1[NTEST], n2[NTEST];
    decode_all(mq, te, NTEST, ES_DECODE_GREEDY, 0, g1, n1);
    decode_all(mi, te, NTEST, ES_DECODE_GREEDY, 0, g2, n2);
    int sg = n_same(g1, n1, g2, n2, NTEST);
    decode_all(mq, te, NTEST, ES_DECODE_BEAM, 0, g1, n1);
    decode_all(mi, te, NTEST, ES_DECODE_BEAM, 0, g2, n2);
    int sb = n_same(g1, n1, g2, n2, NTEST);
    decode_all(mi, te, NTEST, ES_DECODE_BEAM, 1, g1, n1);
    int su = n_same(g1, n1, g2, n2, NTEST);
    printf("  int8 = fake-quant outputs: greedy %d/%d, beam 4 %d/%d; int8 uint8-beam = int8 beam "
           "%d/%d\n", sg, NTEST, sb, NTEST, su, NTEST);
    CHECK(sg == NTEST, "greedy outputs differ on %d inputs", NTEST - sg);
    CHECK(sb >= NTEST - 1, "beam outputs differ on %d inputs", NTEST - sb);
    CHECK(su >= NTEST * 9 / 10, "uint8 beam differs on %d inputs", NTEST - su);
    {
        static int32_t s1[NTEST][8], s2[NTEST][8];
        static int m1[NTEST], m2[NTEST];
        int only = 0;
        decode_all(mi, te, NTEST, ES_DECODE_GREEDY, 0, g1, n1);
        decode_session(idir, te, NTEST, ES_DECODE_GREEDY, s1, m1, &only);
        decode_session(idir, te, NTEST, ES_DECODE_BEAM, s2, m2, &only);
        int ssg = n_same(g1, n1, s1, m1, NTEST), ssb = n_same(g2, n2, s2, m2, NTEST);
        printf("  int8 session (int8-only model %d) = int8 workspace: greedy %d/%d, beam 4 %d/%d\n",
               only, ssg, NTEST, ssb, NTEST);
        CHECK(only == 1 && ssg == NTEST && ssb == NTEST, "session path differs (int8-only %d)",
              only);
    }
    free(lq);
    free(li);
    free(yq);
    free(yi);

    /* 4. file size of a G2P-shaped model; the int8 kernels */
    size_ratio(tmp);
    kernels_exact();
    funnel_check(tmp, tr, te);

    /* 5. hostile int8 folders */
    static const char *expect[N_BAD] = {
        "dec.layers.0.matt.q.weight", "dec.layers.1.ffn.fc2.weight", "dec.embed.weight.qscale",
        "dec.layers.1.matt.o.weight", "dec.out.bias", "tf.0.attn.qkv.weight"};
    for (int k = 0; k < N_BAD; k++) {
        char bad[512];
        snprintf(bad, sizeof bad, "%s/bad%d", tmp, k);
        hostile(idir, bad, (bad_kind)k, expect[k]);
    }
    /* a float model without the qat state tensors cannot claim a "qat" config */
    es_s2s_model_free(mq);
    es_s2s_model_free(mi);
    es_s2s_model_free(m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END();
}
