/*
 * g2p_steps.c — decoder cost of byte seq2seq G2P models (issue #7: merged
 * vs standard self-attention decoder). A timing harness, not a test.
 *
 * For each LABEL=MODEL_DIR, one thread, no thread pool:
 *  (a) per-step decoder time against the output position 1..max_out:
 *      prime on a dev word, then step every position up to max_out, for
 *      1 row (greedy) and 4 rows (beam 4: step + a reorder with parents
 *      {0, 0, 1, 2}, what the beam does after each step). Decoding is
 *      forced past EOS: each row's next input is its best SYMBOL (EOS and
 *      start excluded), so every position is timed. Over W words × R
 *      repeats; median and p90 per position, wall and thread-CPU time.
 *  (b) per-word latency through the public API (es_session_generate, a
 *      session of 1 thread, max_batch 4): greedy, beam 4 float, beam 4
 *      uint8 (--quantized-beam), over the first N dev words (lower case,
 *      as edgeseq eval feeds them); median, p90, mean (wall and CPU).
 * Writes PREFIX_steps.csv, PREFIX_latency.csv and PREFIX_steps.svg (median
 * CPU ms per step against position, one line per model, panels for 1 and
 * 4 rows) and prints a summary. Uses the dev split only.
 *
 * Build + run: bench/g2p_steps.sh (builds against a build dir's
 * libedgeseq.a). Usage:
 *   g2p_steps [--data DIR] [--words N] [--step-words W] [--repeats R]
 *             [--out PREFIX] LABEL=MODEL_DIR...
 */
#include "edgeseq.h"

#include "model/byte_seq2seq.h"
#include "train/data_cmudict.h"
#include "train/plot_svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MODELS 4
#define ROW_CASES 2

static double now_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile (nearest rank) of n values; sorts v. */
static double quant(double *v, size_t n, double q) {
    if (!n) return NAN;
    qsort(v, n, sizeof *v, cmp_d);
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

static double mean(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return n ? s / (double)n : NAN;
}

static void die(const char *what, const es_error *e) {
    fprintf(stderr, "g2p_steps: %s: %s\n", what, e ? e->msg : "");
    exit(1);
}

typedef struct model_res {
    const char *label;
    int max_out;
    size_t n_params;
    /* (ROW_CASES, max_out) medians in ms */
    double *step_cpu, *step_wall, *step_p90;
    double prime_cpu;
} model_res;

/* Best symbol id (≥ ES_S2S_N_SPECIAL) of a row of logits. */
static int32_t best_symbol(const float *lg, int V) {
    int32_t b = ES_S2S_N_SPECIAL;
    for (int v = ES_S2S_N_SPECIAL + 1; v < V; v++)
        if (lg[v] > lg[b]) b = v;
    return b;
}

static void per_step(model_res *r, const char *dir, const es_cmudict *d, const uint32_t *wids,
                     size_t W, int R) {
    es_error e;
    es_s2s_model *m = NULL;
    if (es_s2s_model_load_dir(&m, dir, &e)) die(dir, &e);
    const es_s2s_config *c = es_s2s_model_config(m);
    const int V = es_s2s_model_vocab(m), T = c->max_out;
    r->max_out = T;
    r->n_params = es_s2s_model_n_params(m);
    es_s2s_ws *ws = NULL;
    if (es_s2s_ws_new(&ws, m, 1, 4, 0, NULL, &e)) die("workspace", &e);
    es_dec_model dm = es_s2s_dec_model(ws);
    const size_t S = W * (size_t)R;
    double *wall = malloc((size_t)T * S * sizeof(double)), *cpu = malloc((size_t)T * S * sizeof(double));
    double *pr = malloc(S * sizeof(double));
    r->step_cpu = calloc((size_t)ROW_CASES * T, sizeof(double));
    r->step_wall = calloc((size_t)ROW_CASES * T, sizeof(double));
    r->step_p90 = calloc((size_t)ROW_CASES * T, sizeof(double));
    if (!wall || !cpu || !pr || !r->step_cpu || !r->step_wall || !r->step_p90) die("out of memory", NULL);
    static const int rows_of[ROW_CASES] = {1, 4};
    static const int32_t parent[4] = {0, 0, 1, 2};
    for (int rc = 0; rc < ROW_CASES; rc++) {
        const int n = rows_of[rc];
        size_t k = 0;
        for (int rep = 0; rep < R; rep++)
            for (size_t i = 0; i < W; i++, k++) {
                const es_cmu_word *w = &d->words[wids[i]];
                double c0 = now_cpu();
                if (es_s2s_prime(ws, m, d->text + w->lower, w->len, &e)) die("prime", &e);
                pr[k] = now_cpu() - c0;
                int32_t tok[4] = {ES_S2S_START, ES_S2S_START, ES_S2S_START, ES_S2S_START};
                for (int t = 0; t < T; t++) {
                    const float *lg;
                    double w0 = now_wall(), cc0 = now_cpu();
                    if (dm.step(dm.ctx, &lg, tok, n, t, &e)) die("step", &e);
                    if (n > 1 && dm.reorder(dm.ctx, parent, n, &e)) die("reorder", &e);
                    cpu[(size_t)t * S + k] = now_cpu() - cc0;
                    wall[(size_t)t * S + k] = now_wall() - w0;
                    for (int j = 0; j < n; j++) tok[j] = best_symbol(lg + (size_t)j * V, V);
                }
            }
        for (int t = 0; t < T; t++) {
            double *cw = wall + (size_t)t * S, *cc = cpu + (size_t)t * S;
            r->step_cpu[rc * T + t] = 1e3 * quant(cc, S, 0.5);
            r->step_wall[rc * T + t] = 1e3 * quant(cw, S, 0.5);
            r->step_p90[rc * T + t] = 1e3 * quant(cw, S, 0.9);
        }
        if (rc == 0) r->prime_cpu = 1e3 * quant(pr, S, 0.5);
    }
    free(wall);
    free(cpu);
    free(pr);
    es_s2s_ws_free(ws);
    es_s2s_model_free(m);
}

typedef struct lat_res {
    double med, p90, mean, cmed, cp90, cmean;
    size_t n_ids; /* generated ids over all words (best hypothesis) */
} lat_res;

static void latency(lat_res out[3], const char *dir, const es_cmudict *d, const uint32_t *wids,
                    size_t N) {
    es_error e;
    es_model *pm = NULL;
    if (es_model_load(&pm, dir, NULL, &e)) die(dir, &e);
    es_session_params sp = es_session_params_default();
    sp.max_batch = 4;
    sp.n_threads = 1;
    es_session *s = NULL;
    if (es_session_new(&s, pm, &sp, &e)) die("session", &e);
    double *wl = malloc(N * sizeof(double)), *cl = malloc(N * sizeof(double));
    int32_t ids[256];
    if (!wl || !cl) die("out of memory", NULL);
    for (int mode = 0; mode < 3; mode++) {
        es_gen_params gp = es_gen_params_default();
        gp.max_new_tokens = 1 << 20; /* capped at max_out */
        if (mode > 0) {
            gp.method = ES_DECODE_BEAM;
            gp.num_beams = 4;
            gp.length_penalty = 1.0f; /* as edgeseq eval --beam 4 */
            gp.quantized_beam = mode == 2;
        }
        size_t tot = 0;
        for (int pass = 0; pass < 2; pass++) { /* pass 0: warm-up on 50 words */
            size_t n = pass ? N : (N < 50 ? N : 50);
            for (size_t i = 0; i < n; i++) {
                const es_cmu_word *w = &d->words[wids[i]];
                size_t L = w->len < 256 ? w->len : 256;
                for (size_t j = 0; j < L; j++) ids[j] = d->text[w->lower + j];
                es_gen_result res;
                double w0 = now_wall(), c0 = now_cpu();
                if (es_session_generate(s, &res, ids, (int)L, &gp)) {
                    fprintf(stderr, "g2p_steps: generate: %s\n", es_session_errmsg(s));
                    exit(1);
                }
                cl[i] = now_cpu() - c0;
                wl[i] = now_wall() - w0;
                if (pass) tot += (size_t)res.hyps[0].n_ids;
            }
        }
        lat_res *o = &out[mode];
        o->mean = 1e3 * mean(wl, N);
        o->cmean = 1e3 * mean(cl, N);
        o->med = 1e3 * quant(wl, N, 0.5);
        o->p90 = 1e3 * quant(wl, N, 0.9);
        o->cmed = 1e3 * quant(cl, N, 0.5);
        o->cp90 = 1e3 * quant(cl, N, 0.9);
        o->n_ids = tot;
    }
    free(wl);
    free(cl);
    es_session_free(s);
    es_model_free(pm);
}

int main(int argc, char **argv) {
    const char *data = "data", *prefix = "g2p_steps";
    size_t n_words = 1000, step_words = 20;
    int repeats = 5;
    const char *labels[MAX_MODELS], *dirs[MAX_MODELS];
    int n_models = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(a, "--out") && i + 1 < argc) prefix = argv[++i];
        else if (!strcmp(a, "--words") && i + 1 < argc) n_words = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--step-words") && i + 1 < argc) step_words = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (strchr(a, '=') && n_models < MAX_MODELS) {
            char *eq = strchr(a, '=');
            *eq = 0;
            labels[n_models] = a;
            dirs[n_models++] = eq + 1;
        } else {
            fprintf(stderr, "usage: g2p_steps [--data DIR] [--words N] [--step-words W] "
                            "[--repeats R] [--out PREFIX] LABEL=MODEL_DIR...\n");
            return 2;
        }
    }
    if (!n_models || n_words < 1 || step_words < 1 || repeats < 1) {
        fprintf(stderr, "g2p_steps: need LABEL=MODEL_DIR and positive counts\n");
        return 2;
    }
    es_error e;
    es_cmudict *d = NULL;
    if (es_cmudict_load(&d, data, &e)) die(data, &e);
    uint32_t *wids = malloc(d->n_words * sizeof(uint32_t));
    size_t n_dev = 0;
    for (size_t i = 0; i < d->n_words; i++)
        if (d->words[i].split == ES_SPLIT_DEV) wids[n_dev++] = (uint32_t)i;
    if (n_words > n_dev) n_words = n_dev;
    if (step_words > n_dev) step_words = n_dev;
    model_res res[MAX_MODELS];
    lat_res lat[MAX_MODELS][3];
    memset(res, 0, sizeof res);
    for (int i = 0; i < n_models; i++) {
        res[i].label = labels[i];
        fprintf(stderr, "%s: per-step timing (%zu words x %d repeats)...\n", labels[i], step_words,
                repeats);
        per_step(&res[i], dirs[i], d, wids, step_words, repeats);
        fprintf(stderr, "%s: per-word latency (%zu dev words)...\n", labels[i], n_words);
        latency(lat[i], dirs[i], d, wids, n_words);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s_steps.csv", prefix);
    FILE *f = fopen(path, "w");
    if (!f) die(path, NULL);
    fprintf(f, "model,rows,position,median_cpu_ms,median_wall_ms,p90_wall_ms\n");
    for (int i = 0; i < n_models; i++)
        for (int rc = 0; rc < ROW_CASES; rc++)
            for (int t = 0; t < res[i].max_out; t++)
                fprintf(f, "%s,%d,%d,%.5f,%.5f,%.5f\n", res[i].label, rc ? 4 : 1, t + 1,
                        res[i].step_cpu[rc * res[i].max_out + t],
                        res[i].step_wall[rc * res[i].max_out + t],
                        res[i].step_p90[rc * res[i].max_out + t]);
    fclose(f);
    snprintf(path, sizeof path, "%s_latency.csv", prefix);
    if (!(f = fopen(path, "w"))) die(path, NULL);
    static const char *modes[3] = {"greedy", "beam4", "beam4_uint8"};
    fprintf(f, "model,params,decoding,words,median_ms,p90_ms,mean_ms,median_cpu_ms,p90_cpu_ms,"
               "mean_cpu_ms,ids_per_word\n");
    for (int i = 0; i < n_models; i++)
        for (int k = 0; k < 3; k++)
            fprintf(f, "%s,%zu,%s,%zu,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f\n", res[i].label,
                    res[i].n_params, modes[k], n_words, lat[i][k].med, lat[i][k].p90,
                    lat[i][k].mean, lat[i][k].cmed, lat[i][k].cp90, lat[i][k].cmean,
                    (double)lat[i][k].n_ids / (double)n_words);
    fclose(f);
    /* plot: median CPU ms per step vs 1-based position */
    es_plot_series ser[ROW_CASES][MAX_MODELS];
    double *xs[MAX_MODELS];
    for (int i = 0; i < n_models; i++) {
        xs[i] = malloc((size_t)res[i].max_out * sizeof(double));
        for (int t = 0; t < res[i].max_out; t++) xs[i][t] = t + 1;
        for (int rc = 0; rc < ROW_CASES; rc++) {
            ser[rc][i].name = res[i].label;
            ser[rc][i].x = xs[i];
            ser[rc][i].y = res[i].step_cpu + rc * res[i].max_out;
            ser[rc][i].n = (size_t)res[i].max_out;
        }
    }
    es_plot_panel pan[ROW_CASES] = {
        {"decoder step, 1 row (greedy), 1 thread: median CPU ms", "output position",
         "ms per step", ser[0], n_models, 0, 0, 0},
        {"decoder step + beam reorder, 4 rows (beam 4), 1 thread: median CPU ms",
         "output position", "ms per step", ser[1], n_models, 0, 0, 0},
    };
    snprintf(path, sizeof path, "%s_steps.svg", prefix);
    if (es_plot_svg_write(path, "G2P decoder: cost per step vs output position", pan, ROW_CASES, &e))
        die(path, &e);
    for (int i = 0; i < n_models; i++) free(xs[i]);
    /* summary */
    printf("%-10s %9s | step ms (1 row) at pos 1 / 10 / 20 / 40 | step+reorder ms (4 rows) at "
           "pos 1 / 10 / 20 / 40 | prime ms\n", "model", "params");
    for (int i = 0; i < n_models; i++) {
        const model_res *r = &res[i];
        int P[4] = {1, 10, 20, 40};
        printf("%-10s %9zu |", r->label, r->n_params);
        for (int rc = 0; rc < ROW_CASES; rc++) {
            for (int k = 0; k < 4; k++)
                printf(" %.4f", P[k] <= r->max_out ? r->step_cpu[rc * r->max_out + P[k] - 1] : NAN);
            printf(" |");
        }
        printf(" %.4f\n", r->prime_cpu);
    }
    printf("%-10s %-12s | wall median / p90 / mean ms | CPU median / p90 / mean ms | ids/word\n",
           "model", "decoding");
    for (int i = 0; i < n_models; i++)
        for (int k = 0; k < 3; k++)
            printf("%-10s %-12s | %.3f / %.3f / %.3f | %.3f / %.3f / %.3f | %.2f\n", res[i].label,
                   modes[k], lat[i][k].med, lat[i][k].p90, lat[i][k].mean, lat[i][k].cmed,
                   lat[i][k].cp90, lat[i][k].cmean, (double)lat[i][k].n_ids / (double)n_words);
    free(wids);
    es_cmudict_free(d);
    return 0;
}
