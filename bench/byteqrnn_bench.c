/*
 * byteqrnn_bench.c — timing harness for the ByteQRNN spam filter (not a
 * test): single-message inference latency and training-step throughput.
 *
 * Model: es_byte_config_default(ES_BYTE_QRNN), or the config.json given as
 * 5th argument (byte_bench.sh extracts the "model" object of a configs/
 * file), random weights (speed does not depend on their values). Data: the SpamAssassin train split under
 * DATA (same split rule and cut to max_bytes as bench/byteqrnn_torch.py);
 * without DATA, random bytes of full length.
 *
 *   infer: es_byte_predict on one 2,048-byte message, N calls, median and
 *          min per-call time (ms).
 *   train: forward (train mode: zoneout, dropout) + softmax cross-entropy
 *          gradient + backward on batches of 32 (consecutive slices of a
 *          seeded shuffle), median step time and examples/s. AdamW is not
 *          included (40 K parameters: ~0.1 ms, noise at this scale).
 *
 * Build and run: bench/byte_bench.sh BUILD_DIR [THREADS] [DATA].
 * Output: one JSON line per measurement.
 */
#include "core/pool.h"
#include "core/rng.h"
#include "model/byte_model.h"
#include "train/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* CPU time of the whole process (all threads): with 1 thread, the work
 * itself, less sensitive than wall time to other jobs on a shared machine */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define DIE(...)                                                                              \
    do {                                                                                      \
        fprintf(stderr, __VA_ARGS__);                                                         \
        fprintf(stderr, "\n");                                                                \
        exit(1);                                                                              \
    } while (0)

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    const char *data = argc > 2 && argv[2][0] ? argv[2] : NULL;
    int n_infer = argc > 3 ? atoi(argv[3]) : 200;
    int n_train = argc > 4 ? atoi(argv[4]) : 10;
    const int batch = 32;
    es_error err = {0};
    es_byte_config cfg;
    es_byte_config_default(&cfg, ES_BYTE_QRNN);
    if (argc > 5 && argv[5][0]) {
        FILE *fp = fopen(argv[5], "rb");
        if (!fp) DIE("%s: cannot open", argv[5]);
        static char js[1 << 16];
        size_t n = fread(js, 1, sizeof js - 1, fp);
        fclose(fp);
        if (es_byte_config_from_json(&cfg, js, n, argv[5], &err)) DIE("config: %s", err.msg);
    }
    const int T = cfg.max_bytes;
    es_byte_model *m = NULL;
    if (es_byte_model_new(&m, &cfg, 7, &err)) DIE("model: %s", err.msg);
    if (es_byte_model_enable_grad(m, &err)) DIE("grad: %s", err.msg);
    es_pool *pool = NULL;
    if (es_pool_new(&pool, threads, &err)) DIE("pool: %s", err.msg);

    /* examples */
    size_t n_ex = 0;
    uint8_t **ex = NULL;
    size_t *exlen = NULL;
    int *exlab = NULL;
    es_text_dataset *ds = NULL;
    if (data) {
        if (es_data_spam_list(&ds, data, &err) ||
            es_text_dataset_load(ds, ES_SPLIT_TRAIN, (size_t)T, &err))
            DIE("data: %s", err.msg);
        for (size_t i = 0; i < ds->n; i++) n_ex += ds->ex[i].split == ES_SPLIT_TRAIN;
    } else {
        n_ex = 256;
    }
    ex = calloc(n_ex, sizeof *ex);
    exlen = calloc(n_ex, sizeof *exlen);
    exlab = calloc(n_ex, sizeof *exlab);
    es_rng rng;
    es_rng_seed(&rng, 1);
    uint8_t *rnd = malloc((size_t)T * n_ex);
    size_t k = 0;
    if (data) {
        for (size_t i = 0; i < ds->n; i++)
            if (ds->ex[i].split == ES_SPLIT_TRAIN) {
                ex[k] = ds->ex[i].bytes;
                exlen[k] = ds->ex[i].n_bytes;
                exlab[k++] = ds->ex[i].label;
            }
    } else {
        for (size_t i = 0; i < n_ex; i++) {
            ex[i] = rnd + i * (size_t)T;
            for (int t = 0; t < T; t++) ex[i][t] = (uint8_t)es_rng_below(&rng, 256);
            exlen[i] = (size_t)T;
            exlab[i] = (int)(i & 1);
        }
    }
    /* one full-length message for the latency test */
    const uint8_t *msg = NULL;
    for (size_t i = 0; i < n_ex && !msg; i++)
        if (exlen[i] >= (size_t)T) msg = ex[i];
    if (!msg) DIE("no message of %d bytes", T);

    /* inference latency */
    es_byte_ws *iws = NULL;
    if (es_byte_ws_new(&iws, m, 1, T, 0, pool, &err)) DIE("ws: %s", err.msg);
    float probs[ES_BYTE_MAX_LABELS];
    double *ti = malloc(sizeof(double) * (size_t)(n_infer > 0 ? n_infer : 1));
    for (int i = 0; i < 5; i++) es_byte_predict(iws, m, msg, (size_t)T, probs, 2, &err);
    double c0 = cpu_ms();
    for (int i = 0; i < n_infer; i++) {
        double t0 = now_ms();
        if (es_byte_predict(iws, m, msg, (size_t)T, probs, 2, &err)) DIE("predict: %s", err.msg);
        ti[i] = now_ms() - t0;
    }
    double cpu_infer = (cpu_ms() - c0) / (n_infer > 0 ? n_infer : 1);
    if (n_infer > 0) {
        double mn = ti[0];
        for (int i = 1; i < n_infer; i++) mn = ti[i] < mn ? ti[i] : mn;
        printf("{\"bench\": \"infer\", \"threads\": %d, \"bytes\": %d, \"calls\": %d, "
               "\"median_ms\": %.3f, \"min_ms\": %.3f, \"cpu_ms_per_call\": %.3f, \"p_spam\": %.6f}\n",
               threads, T, n_infer, median(ti, n_infer), mn, cpu_infer, (double)probs[1]);
    }
    es_byte_ws_free(iws);

    /* training throughput */
    es_byte_ws *tws = NULL;
    if (es_byte_ws_new(&tws, m, batch, T, 1, pool, &err)) DIE("ws: %s", err.msg);
    size_t *perm = malloc(sizeof(size_t) * n_ex);
    for (size_t i = 0; i < n_ex; i++) perm[i] = i;
    for (size_t i = n_ex; i > 1; i--) {
        size_t j = (size_t)es_rng_below(&rng, i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    es_params *ps = es_byte_model_params(m);
    double *tt = malloc(sizeof(double) * (size_t)(n_train > 0 ? n_train : 1));
    double nbytes = 0, cpu_train = 0;
    for (int s = -2; s < n_train; s++) {
        const uint8_t *pb[64];
        size_t pl[64];
        int lab[64];
        for (int b = 0; b < batch; b++) {
            size_t e = perm[((size_t)(s + 2) * (size_t)batch + (size_t)b) % n_ex];
            pb[b] = ex[e];
            pl[b] = exlen[e];
            lab[b] = exlab[e];
        }
        float logits[64 * 2], dl[64 * 2];
        double t0 = now_ms(), c1 = cpu_ms();
        if (es_byte_forward(tws, m, pb, pl, batch, 1, &rng, logits, &err)) DIE("fwd: %s", err.msg);
        for (int b = 0; b < batch; b++) {
            float a = logits[2 * b], c = logits[2 * b + 1], mx = a > c ? a : c;
            float ea = expf(a - mx), ec = expf(c - mx), z = ea + ec;
            dl[2 * b] = (ea / z - (lab[b] == 0)) / (float)batch;
            dl[2 * b + 1] = (ec / z - (lab[b] == 1)) / (float)batch;
        }
        memset(ps->grad, 0, ps->total * sizeof(float));
        if (es_byte_backward(tws, m, dl, &err)) DIE("bwd: %s", err.msg);
        double dt = now_ms() - t0;
        if (s >= 0) {
            tt[s] = dt;
            cpu_train += cpu_ms() - c1;
            for (int b = 0; b < batch; b++) nbytes += (double)pl[b];
        }
    }
    if (n_train > 0) {
        double tot = 0;
        for (int i = 0; i < n_train; i++) tot += tt[i];
        double med = median(tt, n_train);
        printf("{\"bench\": \"train\", \"threads\": %d, \"batch\": %d, \"steps\": %d, "
               "\"median_step_ms\": %.2f, \"examples_per_s\": %.2f, \"bytes_per_s\": %.0f, "
               "\"cpu_ms_per_step\": %.2f, \"params\": %zu, \"hidden\": %d, \"downsample\": %d}\n",
               threads, batch, n_train, med, batch * 1000.0 / med, nbytes * 1000.0 / tot,
               cpu_train / n_train, es_byte_model_n_params(m), cfg.qrnn_hidden, cfg.downsample);
    }
    es_byte_ws_free(tws);
    es_byte_model_free(m);
    es_pool_free(pool);
    if (ds) es_text_dataset_free(ds);
    free(ex);
    free(exlen);
    free(exlab);
    free(rnd);
    free(ti);
    free(tt);
    free(perm);
    return 0;
}
