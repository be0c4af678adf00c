/*
 * t5_forward.c — fp32 reference forward pass of T5 (encoder, decoder with
 * self-attention K/V cache and cross-attention K/V computed once per
 * input), exactly HF modeling_t5.py in eval mode. Legend in model/t5.h.
 *
 * Block (pre-norm, residual; no biases anywhere):
 *   x += o( Attn( rmsnorm(x) ) )            self-attention
 *   x += o( CrossAttn( rmsnorm(x), enc ) )  decoder only
 *   x += wo( act(wi·rmsnorm(x)) [* wi_1·rmsnorm(x)] )
 * Attention per head: softmax(q·kᵀ + bias + mask)·v with NO 1/sqrt(d_kv)
 * scaling (T5 folds it into the initialisation). bias = relative position
 * bias of block 0 of the stack (absent in cross-attention). mask: padded
 * keys get finfo(float32).min in HF, whose exp underflows to exactly 0 in
 * fp32, so here they are skipped; a row whose keys are all padding gets
 * HF's result for that case: every score is then min (the bias is
 * absorbed), i.e. uniform weights over all keys.
 *
 * Threads: GEMMs go through the kernel table with the session pool (the
 * kernels split by fixed output blocks); attention runs one pool task per
 * (row, head) with its own score scratch; nothing reduces across tasks, so
 * results are bit-identical for any thread count. When a GEMM has few rows
 * and many outputs (decoder steps, LM head) it is split here over fixed
 * column blocks, again independent of the thread count.
 */
#include "model/t5.h"

#include "core/rows.h"
#include "kern/kern.h"
#include "nn/ops.h"

#include <math.h>
#include <string.h>

#define FFN_CHUNK 256    /* rows per feed-forward pass: bounds the (rows, F) scratch */
#define COL_BLOCK 512    /* column block of the small-M GEMM split */
#define SMALL_M 9        /* M < 9: the kernels' streaming path, which never allocates */

/* ---- linear layers ----------------------------------------------------- */

typedef struct lin_job {
    float *C;
    const float *A, *W;
    int M, N, K, acc, n_blk;
} lin_job;

static void lin_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const lin_job *j = ctx;
    int n0 = task * COL_BLOCK, n1 = ES_MIN(j->N, n0 + COL_BLOCK);
    es_kern()->gemm_nt(NULL, j->C + n0, j->N, j->A, j->K, j->W + (size_t)n0 * j->K, j->K, j->M,
                       n1 - n0, j->K, j->acc);
}

/* C (M, N) (+)= A (M, K) · W (N, K)ᵀ, all contiguous. W == NULL: the
 * layer is reduced-precision (bf16 / int8, src/quant/t5_quant.h) and runs
 * through its handle h (model/t5_linear.h); so does an fp32 layer whose
 * handle holds weights pre-packed at load (src/model/t5_pack.c). */
static void linear(es_pool *pool, float *C, const float *A, const float *W, const es_t5_lin *h,
                   int M, int N, int K, int acc) {
    if (M <= 0) return;
    if (!W || (h && (h->packed || (M < SMALL_M && es_t5_lin_rows(h))))) {
        /* reduced precision, or fp32 pre-packed / re-packed for decode */
        es_t5_linear(pool, C, A, M, h, acc);
        return;
    }
    if (M < SMALL_M && N >= 2 * COL_BLOCK) {
        /* The split depends only on the shape, never on the thread count. */
        lin_job j = {C, A, W, M, N, K, acc, (N + COL_BLOCK - 1) / COL_BLOCK};
        es_pool_run(pool, j.n_blk, lin_task, &j);
        return;
    }
    es_kern()->gemm_nt(pool, C, N, A, K, W, K, M, N, K, acc);
}

/* ---- attention --------------------------------------------------------- */

enum { ATT_ENC, ATT_DEC_SELF, ATT_CROSS };

typedef struct attn_job {
    const es_t5_state *st;
    float *out;              /* (n_rows*nq, I) */
    const float *q;          /* (n_rows*nq, I) */
    const float *k, *v;      /* key/value rows, I floats per position */
    size_t kv_stride;        /* floats between consecutive k/v batch rows */
    const int32_t *kv_row;   /* k/v batch row of each query row; NULL = same row */
    const int32_t *mask;     /* key mask (kv rows, nk) with stride ld_mask; NULL = none */
    int ld_mask;
    int nq, nk, q0, mode, n_rows;
    const float *rel;        /* (buckets, H) */
    float *scr;              /* per-task scratch, scr_len floats each */
    int scr_len;
} attn_job;

static void attn_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const attn_job *j = ctx;
    const es_t5_config *c = &j->st->m->cfg;
    const int H = c->n_heads, dk = c->d_kv, I = H * dk;
    /* Cross-attention (kv_row set): head-major, so the query rows that
     * share a source row (beams) take one head's K/V slice in turn while
     * it is still in cache. Each task's arithmetic is the same either way. */
    const int r = j->kv_row ? task % j->n_rows : task / H, h = j->kv_row ? task / j->n_rows : task % H;
    const int kr = j->kv_row ? j->kv_row[r] : r;
    const float *K = j->k + (size_t)kr * j->kv_stride + (size_t)h * dk;
    const float *Vv = j->v + (size_t)kr * j->kv_stride + (size_t)h * dk;
    const int32_t *mask = j->mask ? j->mask + (size_t)kr * j->ld_mask : NULL;
    /* per task: scores (scr_len) then the bias row (scr_len) */
    float *s = j->scr + (size_t)task * 2 * j->scr_len, *bias = s + j->scr_len;
    const es_attn_row_fn attn_row = es_kern()->attn_row;
    for (int i = 0; i < j->nq; i++) {
        const float *q = j->q + ((size_t)r * j->nq + i) * I + (size_t)h * dk;
        float *o = j->out + ((size_t)r * j->nq + i) * I + (size_t)h * dk;
        const int qpos = j->q0 + i;
        const int nk = j->mode == ATT_DEC_SELF ? qpos + 1 : j->nk;
        const float *b = NULL;
        if (j->mode == ATT_ENC) {
            const int32_t *bk = j->st->enc_bucket + j->st->max_src - 1 - qpos;
            for (int t = 0; t < nk; t++) bias[t] = j->rel[(size_t)bk[t] * H + h];
            b = bias;
        } else if (j->mode == ATT_DEC_SELF) {
            for (int t = 0; t < nk; t++) bias[t] = j->rel[(size_t)j->st->dec_bucket[qpos - t] * H + h];
            b = bias;
        }
        attn_row(o, q, K, Vv, I, I, b, mask, s, nk, dk);
    }
}

static void attention(es_t5_state *st, attn_job *j, int n_rows) {
    j->st = st;
    j->n_rows = n_rows;
    j->scr = st->att_scr;
    j->scr_len = ES_MAX(st->max_src, st->max_tgt);
    es_pool_run(st->pool, n_rows * st->m->cfg.n_heads, attn_task, j);
}

/* ---- encoder self-attention as GEMMs ------------------------------------ */

/* For S > ENC_GEMM_MIN tokens, per (batch row b, head h):
 *   P = Q_h · K_hᵀ            (S, S)   gemm_nt, pool-split
 *   P[i] = softmax(P[i] + bias(i - j) over valid keys)   row tasks
 *   att_h = P · V_h           (S, dk)  gemm_nn, pool-split
 * The bias of key j for query i is biasd[j - i + S - 1] (one gather per
 * head), so row i's bias is the contiguous slice biasd + S - 1 - i. This
 * replaces S one-row kernel calls per head (each dot product reduced
 * horizontally) by two packed GEMMs: ~12 % -> ~4 % of an encoder 1 x 128
 * (docs/kernels.md). Masked keys get weight exactly 0; a row with no valid
 * key gets uniform weights over all S keys (HF, see the file comment).
 * Every element's operation order depends on S and the mask only, never
 * on the thread count (rows are independent; the GEMMs are deterministic). */
#define ENC_GEMM_MIN 8
#define SM_TASKS 8

typedef struct sm_job {
    float *P;
    const float *biasd;
    const int32_t *mask;
    int S;
} sm_job;

static void softmax_rows_task(void *ctx, int task, int n_tasks) {
    const sm_job *j = ctx;
    const int S = j->S;
    const es_act_fn expf_v = es_kern()->exp;
    const int i0 = (int)((long)S * task / n_tasks), i1 = (int)((long)S * (task + 1) / n_tasks);
    for (int i = i0; i < i1; i++) {
        float *p = j->P + (size_t)i * S;
        const float *b = j->biasd + (S - 1 - i);
        float mx = -INFINITY;
        int nv = 0;
        for (int t = 0; t < S; t++) {
            if (!j->mask[t]) continue;
            p[t] += b[t];
            mx = p[t] > mx ? p[t] : mx;
            nv++;
        }
        if (nv == 0) {
            for (int t = 0; t < S; t++) p[t] = 1.0f / (float)S;
            continue;
        }
        /* masked keys -> -inf -> exp gives exactly +0 */
        for (int t = 0; t < S; t++) p[t] = j->mask[t] ? p[t] - mx : -INFINITY;
        expf_v(p, p, (size_t)S);
        float sum = 0.0f;
        for (int t = 0; t < S; t++) sum += p[t];
        const float inv = 1.0f / sum;
        for (int t = 0; t < S; t++) p[t] *= inv;
    }
}

static void enc_attention_gemm(es_t5_state *st, int B, int S) {
    const es_t5_config *c = &st->m->cfg;
    const int H = c->n_heads, dk = c->d_kv, I = H * dk;
    const es_kern_table *kt = es_kern();
    for (int h = 0; h < H; h++) {
        for (int d = 0; d < 2 * S - 1; d++)
            st->att_bd[d] = st->m->enc_rel[(size_t)st->enc_bucket[d - (S - 1) + st->max_src - 1] * H + h];
        for (int b = 0; b < B; b++) {
            const size_t off = (size_t)b * S * I + (size_t)h * dk;
            kt->gemm_nt(st->pool, st->att_sc, S, st->q + off, I, st->k + off, I, S, S, dk, 0);
            sm_job j = {st->att_sc, st->att_bd, st->enc_mask + (size_t)b * S, S};
            es_pool_run(st->pool, SM_TASKS < S ? SM_TASKS : S, softmax_rows_task, &j);
            kt->gemm_nn(st->pool, st->att + off, I, st->att_sc, S, st->v + off, I, S, dk, S, 0);
        }
    }
}

/* ---- feed-forward ------------------------------------------------------ */

/* ReLU in place, branch-free so it vectorises (a compare + blend): the
 * signs of a layer's pre-activations are random, and a branch per element
 * mispredicts half the time. NaN stays NaN (NaN < 0 is false), as torch. */
static void relu_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* x (R, D) += FFN(rmsnorm(x)), in row chunks of FFN_CHUNK. */
static void ffn(es_t5_state *st, const es_t5_block *b, int R) {
    const es_t5_config *c = &st->m->cfg;
    const int D = c->d_model, F = c->d_ff;
    es_rmsnorm_f32(st->xn, st->x, b->ln_ff, R, D, c->eps);
    for (int r0 = 0; r0 < R; r0 += FFN_CHUNK) {
        const int m = ES_MIN(FFN_CHUNK, R - r0);
        const float *xn = st->xn + (size_t)r0 * D;
        linear(st->pool, st->h0, xn, b->wi, &b->lin[ES_T5_LWI], m, F, D, 0);
        size_t n = (size_t)m * F;
        switch (c->act) {
        case ES_T5_ACT_RELU: relu_inplace(st->h0, n); break;
        case ES_T5_ACT_GELU_TANH: es_gelu_tanh_f32(st->h0, n); break;
        case ES_T5_ACT_GELU_ERF: es_gelu_erf_f32(st->h0, n); break;
        }
        if (c->gated) {
            linear(st->pool, st->h1, xn, b->wi1, &b->lin[ES_T5_LWI1], m, F, D, 0);
            for (size_t i = 0; i < n; i++) st->h0[i] *= st->h1[i];
        }
        linear(st->pool, st->x + (size_t)r0 * D, st->h0, b->wo, &b->lin[ES_T5_LWO], m, D, F, 1);
    }
}

/* ---- state ------------------------------------------------------------- */

static es_status alloc_f(float **p, size_t a, size_t b, size_t c, es_error *err) {
    size_t n;
    if (!es_mul_ok(a, b, &n) || !es_mul_ok(n, c, &n) || !es_mul_ok(n, sizeof(float), &n))
        return es_errf(err, ES_ERR_NOMEM, "session buffers too large for the address space");
    *p = es_malloc_aligned(n ? n : 1);
    if (!*p) return es_errf(err, ES_ERR_NOMEM, "out of memory allocating %zu bytes of session buffers", n);
    return ES_OK;
}

static es_status alloc_i(int32_t **p, size_t n, es_error *err) {
    *p = es_calloc(n ? n : 1, sizeof(int32_t));
    if (!*p) return es_errf(err, ES_ERR_NOMEM, "out of memory allocating session buffers");
    return ES_OK;
}

void es_t5_state_free(es_t5_state *st) {
    if (!st) return;
    float **fs[] = {&st->x, &st->xn, &st->q, &st->k, &st->v, &st->att, &st->h0, &st->h1,
                    &st->att_scr, &st->enc_out, &st->ck, &st->cv, &st->sk, &st->sv, &st->kv_tmp,
                    &st->att_sc, &st->att_bd};
    for (size_t i = 0; i < ES_ARRAY_LEN(fs); i++) {
        es_free_aligned(*fs[i]);
        *fs[i] = NULL;
    }
    es_free(st->enc_mask);
    es_free(st->cross_row);
    es_free(st->enc_bucket);
    es_free(st->dec_bucket);
    st->enc_mask = st->cross_row = st->enc_bucket = st->dec_bucket = NULL;
}

es_status es_t5_state_init(es_t5_state *st, const es_t5_model *m, es_pool *pool, int max_rows,
                           int max_src, int max_tgt, es_error *err) {
    memset(st, 0, sizeof *st);
    st->m = m;
    st->pool = pool;
    st->max_rows = max_rows;
    st->max_src = max_src;
    st->max_tgt = max_tgt;
    const es_t5_config *c = &m->cfg;
    const size_t D = (size_t)c->d_model, I = (size_t)c->n_heads * c->d_kv, F = (size_t)c->d_ff;
    const size_t B = (size_t)max_rows, S = (size_t)max_src, T = (size_t)max_tgt;
    const size_t L = (size_t)c->n_dec_layers, R = B * (S > T ? S : T);
    es_status s = ES_OK;
#define A(ptr, a, b, cc) \
    if (!s) s = alloc_f(&st->ptr, a, b, cc, err)
    A(x, R, D, 1);
    A(xn, R, D, 1);
    A(q, R, I, 1);
    A(k, R, I, 1);
    A(v, R, I, 1);
    A(att, R, I, 1);
    A(h0, FFN_CHUNK, F, 1);
    A(h1, c->gated ? FFN_CHUNK : 1, c->gated ? F : 1, 1);
    A(att_scr, B * (size_t)c->n_heads, 2 * (S > T ? S : T), 1);
    A(enc_out, B * S, D, 1);
    A(ck, L, B * S, I);
    A(cv, L, B * S, I);
    A(sk, L, B * T, I);
    A(sv, L, B * T, I);
    A(kv_tmp, B, T, I);
    A(att_sc, S > ENC_GEMM_MIN ? S : 1, S > ENC_GEMM_MIN ? S : 1, 1);
    A(att_bd, 2 * S, 1, 1);
#undef A
    if (!s) s = alloc_i(&st->enc_mask, B * S, err);
    if (!s) s = alloc_i(&st->cross_row, B, err);
    if (!s) s = alloc_i(&st->enc_bucket, 2 * S - 1, err);
    if (!s) s = alloc_i(&st->dec_bucket, T, err);
    if (s) {
        es_t5_state_free(st);
        return s;
    }
    for (int d = -(max_src - 1); d <= max_src - 1; d++)
        st->enc_bucket[d + max_src - 1] =
            es_t5_rel_bucket(d, true, c->rel_buckets, c->rel_max_distance);
    for (int n = 0; n < max_tgt; n++)
        st->dec_bucket[n] = es_t5_rel_bucket(-n, false, c->rel_buckets, c->rel_max_distance);
    return ES_OK;
}

/* ---- encoder ----------------------------------------------------------- */

static void embed(const es_t5_model *m, float *x, const int32_t *ids, int n) {
    const size_t D = (size_t)m->cfg.d_model;
    if (!m->embed) { /* reduced-precision embedding: dequantized row lookup */
        for (int i = 0; i < n; i++) es_t5_lin_row(&m->embed_lin, ids[i], x + (size_t)i * D);
        return;
    }
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * D, m->embed + (size_t)ids[i] * D, D * sizeof(float));
}

void es_t5_encode(es_t5_state *st, float *out, const int32_t *ids, const int32_t *mask, int B,
                  int S) {
    const es_t5_model *m = st->m;
    const es_t5_config *c = &m->cfg;
    const int D = c->d_model, I = c->n_heads * c->d_kv, R = B * S;
    embed(m, st->x, ids, R);
    for (int i = 0; i < R; i++) st->enc_mask[i] = mask[i] != 0;
    st->enc_B = B;
    st->enc_S = S;
    for (int l = 0; l < c->n_enc_layers; l++) {
        const es_t5_block *b = &m->enc[l];
        es_rmsnorm_f32(st->xn, st->x, b->ln_sa, R, D, c->eps);
        linear(st->pool, st->q, st->xn, b->q, &b->lin[ES_T5_LQ], R, I, D, 0);
        linear(st->pool, st->k, st->xn, b->k, &b->lin[ES_T5_LK], R, I, D, 0);
        linear(st->pool, st->v, st->xn, b->v, &b->lin[ES_T5_LV], R, I, D, 0);
        if (S > ENC_GEMM_MIN) {
            enc_attention_gemm(st, B, S);
        } else {
            attn_job j = {0};
            j.out = st->att;
            j.q = st->q;
            j.k = st->k;
            j.v = st->v;
            j.kv_stride = (size_t)S * I;
            j.mask = st->enc_mask;
            j.ld_mask = S;
            j.nq = S;
            j.nk = S;
            j.mode = ATT_ENC;
            j.rel = m->enc_rel;
            attention(st, &j, B);
        }
        linear(st->pool, st->x, st->att, b->o, &b->lin[ES_T5_LO], R, D, I, 1);
        ffn(st, b, R);
    }
    es_rmsnorm_f32(st->enc_out, st->x, m->enc_final_ln, R, D, c->eps);
    if (out) memcpy(out, st->enc_out, (size_t)R * D * sizeof(float));
}

void es_t5_cross_kv(es_t5_state *st) {
    const es_t5_model *m = st->m;
    const es_t5_config *c = &m->cfg;
    const int D = c->d_model, I = c->n_heads * c->d_kv, R = st->enc_B * st->enc_S;
    const size_t lstride = (size_t)st->max_rows * st->max_src * I;
    for (int l = 0; l < c->n_dec_layers; l++) {
        linear(st->pool, st->ck + l * lstride, st->enc_out, m->dec[l].ck, &m->dec[l].lin[ES_T5_LCK], R, I, D, 0);
        linear(st->pool, st->cv + l * lstride, st->enc_out, m->dec[l].cv, &m->dec[l].lin[ES_T5_LCV], R, I, D, 0);
    }
}

/* ---- decoder ----------------------------------------------------------- */

const float *es_t5_decode(es_t5_state *st, const int32_t *tokens, int n_rows, int n_new) {
    const es_t5_model *m = st->m;
    const es_t5_config *c = &m->cfg;
    const int D = c->d_model, I = c->n_heads * c->d_kv, R = n_rows * n_new, t0 = st->cur_len;
    const size_t self_l = (size_t)st->max_rows * st->max_tgt * I;
    const size_t cross_l = (size_t)st->max_rows * st->max_src * I;
    embed(m, st->x, tokens, R);
    st->n_rows = n_rows;
    for (int l = 0; l < c->n_dec_layers; l++) {
        const es_t5_block *b = &m->dec[l];
        float *sk = st->sk + l * self_l, *sv = st->sv + l * self_l;
        es_rmsnorm_f32(st->xn, st->x, b->ln_sa, R, D, c->eps);
        linear(st->pool, st->q, st->xn, b->q, &b->lin[ES_T5_LQ], R, I, D, 0);
        linear(st->pool, st->k, st->xn, b->k, &b->lin[ES_T5_LK], R, I, D, 0);
        linear(st->pool, st->v, st->xn, b->v, &b->lin[ES_T5_LV], R, I, D, 0);
        for (int r = 0; r < n_rows; r++) {
            size_t dst = ((size_t)r * st->max_tgt + t0) * I, src = (size_t)r * n_new * I;
            memcpy(sk + dst, st->k + src, (size_t)n_new * I * sizeof(float));
            memcpy(sv + dst, st->v + src, (size_t)n_new * I * sizeof(float));
        }
        attn_job j = {0};
        j.out = st->att;
        j.q = st->q;
        j.k = sk;
        j.v = sv;
        j.kv_stride = (size_t)st->max_tgt * I;
        j.nq = n_new;
        j.q0 = t0;
        j.mode = ATT_DEC_SELF;
        j.rel = m->dec_rel;
        attention(st, &j, n_rows);
        linear(st->pool, st->x, st->att, b->o, &b->lin[ES_T5_LO], R, D, I, 1);

        es_rmsnorm_f32(st->xn, st->x, b->ln_ca, R, D, c->eps);
        linear(st->pool, st->q, st->xn, b->cq, &b->lin[ES_T5_LCQ], R, I, D, 0);
        attn_job cj = {0};
        cj.out = st->att;
        cj.q = st->q;
        cj.k = st->ck + l * cross_l;
        cj.v = st->cv + l * cross_l;
        cj.kv_stride = (size_t)st->enc_S * I;
        cj.kv_row = st->cross_row;
        cj.mask = st->enc_mask;
        cj.ld_mask = st->enc_S;
        cj.nq = n_new;
        cj.nk = st->enc_S;
        cj.mode = ATT_CROSS;
        attention(st, &cj, n_rows);
        linear(st->pool, st->x, st->att, b->co, &b->lin[ES_T5_LCO], R, D, I, 1);
        ffn(st, b, R);
    }
    es_rmsnorm_f32(st->xn, st->x, m->dec_final_ln, R, D, c->eps);
    if (c->tied) {
        /* HF: sequence_output * model_dim**-0.5 (python double, applied as
         * an fp32 scalar) before the tied LM head. */
        const float sc = (float)(1.0 / sqrt((double)D));
        for (size_t i = 0; i < (size_t)R * D; i++) st->xn[i] *= sc;
    }
    st->cur_len = t0 + n_new;
    return st->xn;
}

void es_t5_lm_head(es_t5_state *st, float *logits, const float *hid, int M) {
    const es_t5_config *c = &st->m->cfg;
    linear(st->pool, logits, hid, st->m->lm_head, &st->m->lm_head_lin, M, c->vocab, c->d_model, 0);
}

void es_t5_reorder(es_t5_state *st, const int32_t *parent, int n_rows) {
    const es_t5_config *c = &st->m->cfg;
    const size_t I = (size_t)c->n_heads * c->d_kv, len = (size_t)st->cur_len * I;
    const size_t row = (size_t)st->max_tgt * I, self_l = (size_t)st->max_rows * row;
    for (int l = 0; l < c->n_dec_layers; l++) {
        float *caches[2] = {st->sk + l * self_l, st->sv + l * self_l};
        for (int w = 0; w < 2; w++)
            es_gather_rows(caches[w], row * sizeof(float), len * sizeof(float), st->kv_tmp, parent,
                           n_rows);
    }
    st->n_rows = n_rows;
}
