/*
 * t5_train_bench.c — edgeseq side of bench/train_bench.sh: times full T5
 * training steps on one model folder; not a test.
 *
 * One step is exactly what `edgeseq finetune --optimizer adamw` does per
 * step (src/train/t5_finetune.c): zero the gradients, training forward +
 * token-mean cross entropy + backward (es_t5_train_forward_backward,
 * dropout 0), the global gradient norm, and an AdamW update (lr 1e-3,
 * betas 0.9/0.999, eps 1e-8, weight decay 0.01 on every tensor as
 * torch.optim.AdamW(model.parameters()) — the PyTorch peer's setting).
 *
 * The batch is B rows of S source ids and T target ids with no padding,
 * from the same formula as bench/t5_train_torch.py (ids(): last id is
 * </s> = 1), so both engines see identical tokens.
 *
 * Memory: the model is loaded (es_model_load), copied into the fp32
 * training registry (es_t5_trainable_init) and then freed, as finetune
 * does. Peak RSS is reported twice: the whole process (ru_maxrss) and the
 * training high-water mark after the peak was reset once loading was done
 * (writing 5 to /proc/self/clear_refs resets VmHWM), which is how the
 * PyTorch peer measures "peak RSS, training".
 *
 *   t5_train_bench MODEL_DIR [--threads N] [--steps N] [--warmup N]
 *                  [--batch B] [--src S] [--tgt T]
 * prints one JSON line: step_ms (each timed step), median/min/max, tokens/s
 * ((S + T)·B / median), loss of the first step, rss_kb before step 1,
 * hwm_train_kb, maxrss_kb.
 */
#include "kern/kern.h"
#include "model/model_internal.h"
#include "train/optim.h"
#include "train/t5_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0) v = strtol(line + n, NULL, 10);
    if (f) fclose(f);
    return v;
}

/* Same formula as t5_train_torch.py: ids in [3, 30003), </s> last. */
static int32_t ids(int which, int b, int t, int n) {
    if (t == n - 1) return 1;
    long x = which ? (long)b * 7349 + (long)t * 104729 + 17 : (long)b * 131 + (long)t * 7919;
    return (int32_t)(3 + x % 30000);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: t5_train_bench MODEL_DIR [--threads N] [--steps N] [--warmup N] "
                        "[--batch B] [--src S] [--tgt T]\n");
        return 2;
    }
    int threads = 1, steps = 5, warm = 1, B = 8, S = 128, T = 32;
    for (int i = 2; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--warmup")) warm = v;
        else if (!strcmp(argv[i], "--batch")) B = v;
        else if (!strcmp(argv[i], "--src")) S = v;
        else if (!strcmp(argv[i], "--tgt")) T = v;
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (steps < 1 || steps > 1000 || B < 1 || S < 2 || T < 2) return 2;
    es_error err = {0};
    es_model *m = NULL;
    es_t5_trainable t;
    es_pool *pool = NULL;
    es_t5_tws *ws = NULL;
    es_adamw adam;
    memset(&adam, 0, sizeof adam);
    double t0 = now_ms();
    es_status s = es_model_load(&m, argv[1], NULL, &err);
    if (!s) s = es_t5_trainable_init(&t, m, 1, &err);
    es_model_free(m);
    if (!s) s = es_pool_new(&pool, threads, &err);
    if (!s) s = es_t5_tws_new(&ws, &t.cfg, pool, B, S, T, 0, &err);
    if (!s) s = es_adamw_init(&adam, &t.ps, &err);
    if (s) {
        fprintf(stderr, "t5_train_bench: %s\n", err.msg);
        return 1;
    }
    const double load_ms = now_ms() - t0;
    int32_t *src = malloc((size_t)B * S * 4), *mask = malloc((size_t)B * S * 4);
    int32_t *din = malloc((size_t)B * T * 4), *lab = malloc((size_t)B * T * 4);
    if (!src || !mask || !din || !lab) return 1;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < S; i++) {
            src[b * S + i] = ids(0, b, i, S);
            mask[b * S + i] = 1;
        }
        for (int i = 0; i < T; i++) {
            lab[b * T + i] = ids(1, b, i, T);
            din[b * T + i] = i ? ids(1, b, i - 1, T) : t.cfg.start_id;
        }
    }
    es_t5_batch bt = {B, S, T, src, mask, din, lab};
    const long rss0 = status_kb("VmRSS:");
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    if (cr) {
        fputs("5", cr); /* reset VmHWM to the current RSS */
        fclose(cr);
    }
    double *ms = calloc((size_t)steps, sizeof(double)), *cms = calloc((size_t)steps, sizeof(double));
    double loss0 = 0;
    for (int k = -warm; k < steps; k++) {
        double a = now_ms(), ca = cpu_ms(), ls;
        int nt;
        es_params_zero_grad(&t.ps);
        s = es_t5_train_forward_backward(ws, &t.w, &t.g, &bt, 0.0f, NULL, 1.0f / (float)(B * T), &ls,
                                         &nt, &err);
        if (s) {
            fprintf(stderr, "t5_train_bench: %s\n", err.msg);
            return 1;
        }
        volatile double gn = es_grad_norm(&t.ps);
        (void)gn;
        es_adamw_step(&adam, &t.ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
        double d = now_ms() - a;
        if (k == -warm) loss0 = ls / nt;
        if (k >= 0) {
            ms[k] = d;
            cms[k] = cpu_ms() - ca;
        }
    }
    const long hwm = status_kb("VmHWM:");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double *sorted = calloc((size_t)steps, sizeof(double));
    memcpy(sorted, ms, (size_t)steps * sizeof(double));
    qsort(sorted, (size_t)steps, sizeof(double), cmp_d);
    const double med = steps % 2 ? sorted[steps / 2] : 0.5 * (sorted[steps / 2 - 1] + sorted[steps / 2]);
    printf("{\"engine\": \"edgeseq\", \"isa\": \"%s\", \"threads\": %d, \"batch\": %d, \"src\": %d, "
           "\"tgt\": %d, \"params\": %zu, \"load_ms\": %.1f, \"loss0\": %.6f, \"step_ms\": [",
           es_kern()->isa, threads, B, S, T, t.ps.total, load_ms, loss0);
    for (int k = 0; k < steps; k++) printf("%s%.2f", k ? ", " : "", ms[k]);
    printf("], \"cpu_ms\": [");
    for (int k = 0; k < steps; k++) printf("%s%.2f", k ? ", " : "", cms[k]);
    printf("], \"median_ms\": %.2f, \"min_ms\": %.2f, \"max_ms\": %.2f, \"tokens_per_s\": %.1f, "
           "\"rss_before_kb\": %ld, \"hwm_train_kb\": %ld, \"maxrss_kb\": %ld}\n",
           med, sorted[0], sorted[steps - 1], (double)B * (S + T) / (med / 1e3), rss0, hwm,
           ru.ru_maxrss);
    free(sorted);
    free(ms);
    free(cms);
    free(src);
    free(mask);
    free(din);
    free(lab);
    es_adamw_free(&adam);
    es_t5_tws_free(ws);
    es_pool_free(pool);
    es_t5_trainable_free(&t);
    return 0;
}
