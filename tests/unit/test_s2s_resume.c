/*
 * Seq2seq checkpoints and resume (src/train/seq2seq_data.h, ckpt.h) on a
 * tiny byte-reversal task with dropout + zoneout on (so the RNG state
 * matters), gradient accumulation, 2 threads and 5-step epochs:
 *   1. a run stopped at step 13 (mid-epoch; stop callback → checkpoint),
 *      everything freed, then resumed into a model built from ANOTHER seed
 *      and finished, ends with the same weight bytes (both registries) and
 *      the same AdamW state (m, v, t of both) as an uninterrupted run;
 *   2. the same through periodic checkpoints (save_every 4, keep 2): the
 *      latest is resumed, older step folders are pruned;
 *   3. a child process training with a checkpoint every step is SIGKILLed
 *      at a random moment; the parent resumes whatever survived and gets
 *      the same bytes;
 *   4. a truncated state file, a flipped model byte, a garbage pointer,
 *      other training params and a missing checkpoint are refused
 *      (ES_ERR_FORMAT naming the file / ES_ERR_IO) without touching the
 *      model in memory.
 */
#include "test.h"

#include "io/fileio.h"
#include "train/seq2seq_data.h"

#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { N_EX = 40, MAXW = 6, N_STEPS = 24 };

typedef struct word {
    uint8_t s[MAXW];
    int32_t t[MAXW];
    int n;
} word;
static word g_w[N_EX];
static es_s2s_example g_ex[N_EX];

static void make_data(void) {
    es_rng r;
    es_rng_seed(&r, 5);
    for (int i = 0; i < N_EX; i++) {
        word *w = &g_w[i];
        w->n = 1 + (int)es_rng_below(&r, MAXW);
        for (int k = 0; k < w->n; k++) w->s[k] = (uint8_t)('a' + es_rng_below(&r, 26));
        for (int k = 0; k < w->n; k++) w->t[k] = w->s[w->n - 1 - k];
        g_ex[i] = (es_s2s_example){w->s, (size_t)w->n, w->t, (size_t)w->n};
    }
}

static es_s2s_config cfg(void) {
    es_s2s_config c;
    es_s2s_config_default(&c);
    c.enc.d_model = 16;
    c.enc.qrnn_hidden = 16;
    c.enc.qrnn_layers = 1;
    c.enc.gbst_blocks = 1;
    c.enc.gbst_kernel = 1;
    c.enc.zoneout = 0.1f;
    c.enc.dropout = 0.1f;
    c.enc.max_bytes = 8;
    c.d_model = 16;
    c.n_layers = 1;
    c.n_heads = 2;
    c.d_ff = 24;
    c.max_out = 8;
    return c;
}

static es_train_params tparams(const char *out) {
    es_train_params p = es_train_params_default();
    p.batch_size = 4;
    p.grad_accum = 2; /* 8 examples a step: an epoch is 5 steps */
    p.max_steps = N_STEPS;
    p.lr = 5e-3f;
    p.warmup_steps = 3;
    p.n_threads = 2;
    p.log_every = 0;
    p.seed = 9;
    p.out_dir = out;
    return p;
}

/* A snapshot of the trained state: weights and AdamW of both registries. */
typedef struct snap {
    size_t ne, nd;
    float *w, *m, *v; /* (ne + nd) each: encoder then decoder */
    int64_t te, td, step;
} snap;

static void snap_take(snap *s, es_s2s_trainer *tr) {
    es_s2s_model *m = es_s2s_trainer_model(tr);
    es_params *pe = es_s2s_model_enc_params(m), *pd = es_s2s_model_dec_params(m);
    const es_adamw *oe = es_s2s_trainer_optim(tr, 0), *od = es_s2s_trainer_optim(tr, 1);
    s->ne = pe->total;
    s->nd = pd->total;
    size_t n = s->ne + s->nd;
    s->w = malloc(n * sizeof(float));
    s->m = malloc(n * sizeof(float));
    s->v = malloc(n * sizeof(float));
    REQUIRE(s->w && s->m && s->v, "malloc");
    memcpy(s->w, pe->data, s->ne * sizeof(float));
    memcpy(s->w + s->ne, pd->data, s->nd * sizeof(float));
    memcpy(s->m, oe->m, s->ne * sizeof(float));
    memcpy(s->m + s->ne, od->m, s->nd * sizeof(float));
    memcpy(s->v, oe->v, s->ne * sizeof(float));
    memcpy(s->v + s->ne, od->v, s->nd * sizeof(float));
    s->te = oe->t;
    s->td = od->t;
    s->step = es_s2s_trainer_step_count(tr);
}

static void snap_free(snap *s) {
    free(s->w);
    free(s->m);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int snap_equal(const snap *a, const snap *b, const char *what) {
    size_t n = a->ne + a->nd;
    int ok = a->ne == b->ne && a->nd == b->nd && a->te == b->te && a->td == b->td &&
             a->step == b->step;
    CHECK(ok, "%s: shapes/steps differ (t %lld/%lld vs %lld/%lld)", what, (long long)a->te,
          (long long)a->td, (long long)b->te, (long long)b->td);
    if (!ok) return 0;
    int w = memcmp(a->w, b->w, n * sizeof(float)) == 0;
    int m = memcmp(a->m, b->m, n * sizeof(float)) == 0;
    int v = memcmp(a->v, b->v, n * sizeof(float)) == 0;
    CHECK(w, "%s: weight bytes differ", what);
    CHECK(m && v, "%s: AdamW moments differ (m %d v %d)", what, m, v);
    return w && m && v;
}

typedef struct stop_at {
    es_s2s_trainer *tr;
    int64_t at;
} stop_at;
static int stop_fn(void *user) {
    stop_at *s = user;
    return es_s2s_trainer_step_count(s->tr) >= s->at;
}

/* Builds model (init seed) + trainer; resumes when asked. */
static es_status setup(es_s2s_model **m, es_s2s_trainer **tr, const es_train_params *p,
                       uint64_t init_seed, int resume, es_error *e) {
    es_s2s_config c = cfg();
    *m = NULL;
    *tr = NULL;
    es_status s = es_s2s_model_new(m, &c, init_seed, e);
    if (!s) s = es_s2s_trainer_new(tr, *m, p, e);
    if (!s && resume) s = es_s2s_trainer_resume(*tr, NULL, e);
    return s;
}

static void teardown(es_s2s_model *m, es_s2s_trainer *tr) {
    es_s2s_trainer_free(tr);
    es_s2s_model_free(m);
}

static int64_t latest_step(const char *out) {
    char pf[600], line[64] = "";
    snprintf(pf, sizeof pf, "%s/checkpoint", out);
    FILE *f = fopen(pf, "r");
    if (!f) return -1;
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    long long st = -1;
    if (sscanf(line, "step-%lld", &st) != 1) return -1;
    return st;
}

static int count_step_dirs(const char *out) {
    int n = 0;
    for (int k = 0; k <= N_STEPS; k++) {
        char d[700];
        snprintf(d, sizeof d, "%s/step-%08d", out, k);
        n += es_is_dir(d);
    }
    return n;
}

static uint64_t params_hash(es_s2s_model *m) {
    return es_params_hash(es_s2s_model_enc_params(m)) * 31u ^ es_params_hash(es_s2s_model_dec_params(m));
}

int main(void) {
    make_data();
    es_error e;
    es_s2s_source src = {N_EX, g_ex, NULL, NULL};
    char tmpl[] = "/tmp/es_s2s_resume_XXXXXX";
    char *root = mkdtemp(tmpl);
    REQUIRE(root != NULL, "mkdtemp");
    char out1[512], out2[512], out3[512];
    snprintf(out1, sizeof out1, "%s/a", root);
    snprintf(out2, sizeof out2, "%s/b", root);
    snprintf(out3, sizeof out3, "%s/c", root);

    /* reference: uninterrupted, no checkpoints */
    es_s2s_model *m = NULL;
    es_s2s_trainer *tr = NULL;
    es_train_params p0 = tparams(NULL);
    REQUIRE(setup(&m, &tr, &p0, 77, 0, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_trainer_run(tr, &src, &e) == ES_OK, "reference run: %s", e.msg);
    snap ref;
    snap_take(&ref, tr);
    teardown(m, tr);
    CHECK(ref.step == N_STEPS && ref.te == N_STEPS, "reference steps %lld", (long long)ref.step);

    /* the one-call wrapper follows the same trajectory */
    {
        es_s2s_config c = cfg();
        REQUIRE(es_s2s_model_new(&m, &c, 77, &e) == ES_OK, "%s", e.msg);
        REQUIRE(es_s2s_train(m, &src, &p0, NULL, NULL, &e) == ES_OK, "%s", e.msg);
        CHECK(memcmp(es_s2s_model_enc_params(m)->data, ref.w, ref.ne * sizeof(float)) == 0 &&
              memcmp(es_s2s_model_dec_params(m)->data, ref.w + ref.ne, ref.nd * sizeof(float)) == 0,
              "es_s2s_train differs from the trainer");
        es_s2s_model_free(m);
    }

    /* 1. stop at 13 (mid-epoch 2), free, resume into another init */
    es_train_params p1 = tparams(out1);
    REQUIRE(setup(&m, &tr, &p1, 77, 0, &e) == ES_OK, "%s", e.msg);
    stop_at sa = {tr, 13};
    es_s2s_trainer_set_stop(tr, stop_fn, &sa);
    es_status st = es_s2s_trainer_run(tr, &src, &e);
    CHECK(st == ES_ERR_CANCELLED, "stop: %d %s", (int)st, e.msg);
    CHECK(es_s2s_trainer_step_count(tr) == 13, "stopped at %lld", (long long)es_s2s_trainer_step_count(tr));
    teardown(m, tr);
    CHECK(latest_step(out1) == 13, "checkpoint at %lld", (long long)latest_step(out1));
    REQUIRE(setup(&m, &tr, &p1, 12345, 1, &e) == ES_OK, "resume: %s", e.msg);
    CHECK(es_s2s_trainer_step_count(tr) == 13, "resumed at %lld", (long long)es_s2s_trainer_step_count(tr));
    REQUIRE(es_s2s_trainer_run(tr, &src, &e) == ES_OK, "resumed run: %s", e.msg);
    snap s1;
    snap_take(&s1, tr);
    int same1 = snap_equal(&ref, &s1, "stop at 13 + resume");
    printf("  stop at step 13, free, resume into a model from another seed, finish %d steps: "
           "weights and AdamW state %s\n", N_STEPS, same1 ? "bit-identical" : "DIFFER");
    snap_free(&s1);
    teardown(m, tr);
    /* the final model folder equals the in-memory result */
    {
        es_s2s_model *fm = NULL;
        REQUIRE(es_s2s_model_load_dir(&fm, out1, &e) == ES_OK, "%s", e.msg);
        CHECK(memcmp(es_s2s_model_enc_params(fm)->data, ref.w, ref.ne * sizeof(float)) == 0 &&
              memcmp(es_s2s_model_dec_params(fm)->data, ref.w + ref.ne, ref.nd * sizeof(float)) == 0,
              "final model folder differs");
        es_s2s_model_free(fm);
    }

    /* 2. periodic checkpoints: run to 14 with save_every 4 (saves 4, 8,
     *    12, then 14 on stop), resume the latest, finish */
    es_train_params p2 = tparams(out2);
    p2.save_every = 4;
    p2.keep_checkpoints = 2;
    REQUIRE(setup(&m, &tr, &p2, 77, 0, &e) == ES_OK, "%s", e.msg);
    sa = (stop_at){tr, 14};
    es_s2s_trainer_set_stop(tr, stop_fn, &sa);
    CHECK(es_s2s_trainer_run(tr, &src, &e) == ES_ERR_CANCELLED, "%s", e.msg);
    teardown(m, tr);
    CHECK(count_step_dirs(out2) == 2, "%d step folders kept, expected 2", count_step_dirs(out2));
    char d12[700];
    snprintf(d12, sizeof d12, "%s/step-00000012", out2);
    CHECK(es_is_dir(d12), "step-00000012 kept");
    REQUIRE(setup(&m, &tr, &p2, 3, 1, &e) == ES_OK, "resume: %s", e.msg);
    REQUIRE(es_s2s_trainer_run(tr, &src, &e) == ES_OK, "%s", e.msg);
    snap s2;
    snap_take(&s2, tr);
    snap_equal(&ref, &s2, "save_every 4 + resume");
    snap_free(&s2);
    teardown(m, tr);

    /* 3. SIGKILL at a random moment, then resume what survived */
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    es_train_params p3 = tparams(out3);
    p3.save_every = 1;
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        es_s2s_model *cm = NULL;
        es_s2s_trainer *ct = NULL;
        es_error ce;
        es_status cs = setup(&cm, &ct, &p3, 77, 0, &ce);
        if (!cs) cs = es_s2s_trainer_run(ct, &src, &ce);
        _exit(cs == ES_OK ? 0 : 3);
    }
    for (int w = 0; w < 20000 && latest_step(out3) < 2; w++) usleep(1000);
    usleep((useconds_t)(rand() % 20000));
    kill(pid, SIGKILL);
    int wst = 0;
    waitpid(pid, &wst, 0);
    int64_t survived = latest_step(out3);
    printf("  child killed (%s) with step-%lld published\n",
           WIFSIGNALED(wst) ? "SIGKILL" : "had finished", (long long)survived);
    CHECK(survived >= 2, "a checkpoint survived (%lld)", (long long)survived);
    REQUIRE(setup(&m, &tr, &p3, 4, 1, &e) == ES_OK, "resume after kill: %s", e.msg);
    REQUIRE(es_s2s_trainer_run(tr, &src, &e) == ES_OK, "%s", e.msg);
    snap s3;
    snap_take(&s3, tr);
    snap_equal(&ref, &s3, "kill + resume");
    snap_free(&s3);
    teardown(m, tr);

    /* 4. refusals: work on out2 (its pointer names step-00000024 now) */
    char dir[700], path[800], ptr[700];
    snprintf(dir, sizeof dir, "%s/step-%08d", out2, N_STEPS);
    snprintf(ptr, sizeof ptr, "%s/checkpoint", out2);
    REQUIRE(setup(&m, &tr, &p2, 5, 0, &e) == ES_OK, "%s", e.msg);
    uint64_t h0 = params_hash(m);
    void *buf = NULL;
    size_t len = 0;
    /* truncated state file */
    snprintf(path, sizeof path, "%s/train_state.safetensors", dir);
    REQUIRE(es_read_file(path, &buf, &len, 1u << 30, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_atomic_write_file(path, buf, len / 2, &e) == ES_OK, "%s", e.msg);
    st = es_s2s_trainer_resume(tr, NULL, &e);
    CHECK(st == ES_ERR_FORMAT && strstr(e.msg, "train_state.safetensors"),
          "truncated state: %d %s", (int)st, e.msg);
    printf("  truncated state -> %s\n", e.msg);
    REQUIRE(es_atomic_write_file(path, buf, len, &e) == ES_OK, "%s", e.msg);
    es_free(buf);
    CHECK(es_s2s_trainer_resume(tr, NULL, &e) == ES_OK, "restored state resumes: %s", e.msg);
    es_s2s_trainer_free(tr);
    es_s2s_model_free(m);
    REQUIRE(setup(&m, &tr, &p2, 5, 0, &e) == ES_OK, "%s", e.msg);
    /* flipped byte at the end of model.safetensors (tensor data) */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    REQUIRE(es_read_file(path, &buf, &len, 1u << 30, &e) == ES_OK, "%s", e.msg);
    ((uint8_t *)buf)[len - 3] ^= 0x40;
    REQUIRE(es_atomic_write_file(path, buf, len, &e) == ES_OK, "%s", e.msg);
    st = es_s2s_trainer_resume(tr, NULL, &e);
    CHECK(st == ES_ERR_FORMAT && strstr(e.msg, "model.safetensors"), "flipped byte: %d %s",
          (int)st, e.msg);
    printf("  flipped model byte -> %s\n", e.msg);
    ((uint8_t *)buf)[len - 3] ^= 0x40;
    REQUIRE(es_atomic_write_file(path, buf, len, &e) == ES_OK, "%s", e.msg);
    es_free(buf);
    /* truncated model file */
    REQUIRE(es_read_file(path, &buf, &len, 1u << 30, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_atomic_write_file(path, buf, len - 100, &e) == ES_OK, "%s", e.msg);
    st = es_s2s_trainer_resume(tr, NULL, &e);
    CHECK(st == ES_ERR_FORMAT && strstr(e.msg, "model.safetensors"), "truncated model: %d %s",
          (int)st, e.msg);
    printf("  truncated model -> %s\n", e.msg);
    REQUIRE(es_atomic_write_file(path, buf, len, &e) == ES_OK, "%s", e.msg);
    es_free(buf);
    /* garbage pointer */
    REQUIRE(es_atomic_write_file(ptr, "../../etc\n", 10, &e) == ES_OK, "%s", e.msg);
    st = es_s2s_trainer_resume(tr, NULL, &e);
    CHECK(st == ES_ERR_FORMAT && strstr(e.msg, "checkpoint"), "garbage pointer: %d %s", (int)st, e.msg);
    snprintf(path, sizeof path, "step-%08d\n", N_STEPS);
    REQUIRE(es_atomic_write_file(ptr, path, strlen(path), &e) == ES_OK, "%s", e.msg);
    CHECK(params_hash(m) == h0 && es_s2s_trainer_step_count(tr) == 0,
          "refused resumes changed the model or the step");
    teardown(m, tr);
    /* other training params */
    es_train_params p4 = p2;
    p4.lr = 1e-3f;
    REQUIRE(setup(&m, &tr, &p4, 5, 0, &e) == ES_OK, "%s", e.msg);
    st = es_s2s_trainer_resume(tr, NULL, &e);
    CHECK(st == ES_ERR_FORMAT && strstr(e.msg, "config hash"), "other lr: %d %s", (int)st, e.msg);
    teardown(m, tr);
    /* other model config */
    {
        es_s2s_config c = cfg();
        c.d_ff = 32;
        REQUIRE(es_s2s_model_new(&m, &c, 5, &e) == ES_OK, "%s", e.msg);
        REQUIRE(es_s2s_trainer_new(&tr, m, &p2, &e) == ES_OK, "%s", e.msg);
        st = es_s2s_trainer_resume(tr, NULL, &e);
        CHECK(st == ES_ERR_FORMAT && strstr(e.msg, "config.json"), "other model: %d %s", (int)st, e.msg);
        teardown(m, tr);
    }
    /* no checkpoint at all */
    char none[600];
    snprintf(none, sizeof none, "%s/none", root);
    es_train_params p5 = tparams(none);
    REQUIRE(setup(&m, &tr, &p5, 5, 0, &e) == ES_OK, "%s", e.msg);
    st = es_s2s_trainer_resume(tr, NULL, &e);
    CHECK(st == ES_ERR_IO, "no checkpoint: %d %s", (int)st, e.msg);
    teardown(m, tr);
    /* the intact checkpoint still resumes and finishes identically */
    REQUIRE(setup(&m, &tr, &p2, 6, 1, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_s2s_trainer_run(tr, &src, &e) == ES_OK, "%s", e.msg);
    snap s4;
    snap_take(&s4, tr);
    snap_equal(&ref, &s4, "resume of the finished run");
    snap_free(&s4);
    teardown(m, tr);

    snap_free(&ref);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    TEST_MAIN_END();
}
