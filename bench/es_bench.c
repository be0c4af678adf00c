/*
 * es_bench.c — edgeseq side of the T5 peer benchmark (bench/run.sh). Not a
 * test: it only times, through the public API (edgeseq.h) alone.
 *
 * One process = one engine configuration (model, thread count). It loads
 * the model (timed: es_model_load + es_session_new), then runs `reps`
 * rounds of the workloads, each round in this order, and prints one JSON
 * object with every per-repetition time (ms) so the caller computes
 * medians and spreads:
 *   enc1    es_session_encode, 1 x 128 tokens
 *   enc8    es_session_encode, 8 x 128 (the same row 8 times)
 *   greedy  es_session_generate greedy, 64 new tokens, EOS ignored (the
 *           total: encoder + cross-attention K/V + 64 steps)
 *   beam    the same, beam search with 4 beams (ignore_eos)
 * run.sh derives decode-only numbers as greedy - median(enc1), the same
 * rule as for the peers, whose drivers report the same totals.
 *
 * Inputs: the 128 source ids (127 ids + EOS) are read from a little-endian
 * int32 file shared by every engine. --dump DIR writes the agreement data:
 * enc1.f32 (128 x d_model), logits0.f32 (first decoder step from the start
 * token, vocab floats), greedy.i32 (64 ids), beam.i32 (64 ids of the best
 * beam).
 *
 * Every series is given twice: wall time, and process CPU time ("cpu_*").
 * "first_enc1_ms" is the untimed warm-up enc1 right after load (weights
 * are memory-mapped, so first use pays the page faults).
 *
 * Memory: "rss_load_kb" is VmRSS after load + session creation, "peak_kb"
 * the high-water mark (VmHWM) at exit; "rss_default_session_kb" is VmRSS
 * growth of a second session made with es_session_params_default() and
 * used once for a 1 x 128 greedy run (measured last, after the timings).
 *
 * Usage: es_bench MODEL_DIR IDS_FILE [--threads N] [--reps R] [--dump DIR]
 *        [--no-enc8] [--no-beam] [--no-greedy] [--no-enc1] [--no-default]
 * (--no-X skips workload X in the timed rounds, --no-default the default
 * session's RSS probe (then -1); for profiling one workload under perf.
 * The warm-up round still runs enc1.)
 *        [--dump-only]  with --dump: write the agreement data and exit
 *                       (no timings, nothing printed; bench/quant_run.sh)
 */
#include "edgeseq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SRC_LEN 128
#define NEW_TOKENS 64
#define MAX_REPS 1000

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
static double now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
/* CPU time of the whole process (all threads): on a shared machine the
 * 1-thread CPU time shows the work done even when the wall clock includes
 * waiting for a core. */
static double cpu_ms(void) { return clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

/* A "VmRSS:" / "VmHWM:" line of /proc/self/status, in kB (0 if absent). */
static long proc_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long v = 0;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0) {
            v = strtol(line + n, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "es_bench: %s: %s\n", what, msg);
    exit(1);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) die(path, "cannot write");
}

static void print_series(const char *name, const double *v, int n, int last) {
    printf("\"%s\":[", name);
    for (int i = 0; i < n; i++) printf("%s%.3f", i ? "," : "", v[i]);
    printf("]%s", last ? "" : ",");
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: es_bench MODEL_DIR IDS_FILE [--threads N] [--reps R] [--dump DIR] "
                        "[--no-enc8] [--no-beam] [--no-greedy] [--no-enc1] [--no-default] [--dump-only]\n");
        return 2;
    }
    const char *dir = argv[1], *ids_path = argv[2], *dump = NULL;
    int threads = 1, reps = 5, do_enc1 = 1, do_enc8 = 1, do_greedy = 1, do_beam = 1;
    int do_default = 1, dump_only = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
        else if (!strcmp(argv[i], "--no-enc8")) do_enc8 = 0;
        else if (!strcmp(argv[i], "--no-beam")) do_beam = 0;
        else if (!strcmp(argv[i], "--no-greedy")) do_greedy = 0;
        else if (!strcmp(argv[i], "--no-enc1")) do_enc1 = 0;
        else if (!strcmp(argv[i], "--no-default")) do_default = 0;
        else if (!strcmp(argv[i], "--dump-only")) dump_only = 1;
        else die(argv[i], "unknown argument");
    }
    if (reps < 1 || reps > MAX_REPS) die("--reps", "out of range");
    if (dump_only && !dump) die("--dump-only", "needs --dump DIR");

    int32_t src[SRC_LEN], ids8[8 * SRC_LEN], mask8[8 * SRC_LEN];
    FILE *f = fopen(ids_path, "rb");
    if (!f || fread(src, sizeof(int32_t), SRC_LEN, f) != SRC_LEN) die(ids_path, "need 128 int32 ids");
    fclose(f);
    for (int r = 0; r < 8; r++)
        for (int i = 0; i < SRC_LEN; i++) {
            ids8[r * SRC_LEN + i] = src[i];
            mask8[r * SRC_LEN + i] = 1;
        }

    es_error err;
    const double t0 = now_ms();
    es_model *m;
    es_load_params lp = es_load_params_default();
    lp.n_threads = threads;
    if (es_model_load(&m, dir, &lp, &err)) die(dir, err.msg);
    es_session_params sp = es_session_params_default();
    sp.max_batch = 8;
    sp.max_src_len = SRC_LEN;
    sp.max_tgt_len = NEW_TOKENS;
    sp.n_threads = threads;
    es_session *s;
    if (es_session_new(&s, m, &sp, &err)) die("session", err.msg);
    const double load_ms = now_ms() - t0;
    const long rss_load = proc_kb("VmRSS:");
    const es_model_info *info = es_model_get_info(m);
    const int D = info->d_model, V = info->vocab_size;

    float *enc = malloc(sizeof(float) * 8 * SRC_LEN * (size_t)D);
    float *logits = malloc(sizeof(float) * (size_t)V);
    if (!enc || !logits) die("malloc", "out of memory");

    es_gen_params greedy = es_gen_params_default();
    greedy.method = ES_DECODE_GREEDY;
    greedy.max_new_tokens = NEW_TOKENS;
    greedy.ignore_eos = 1;
    es_gen_params beam = greedy;
    beam.method = ES_DECODE_BEAM;
    beam.num_beams = 4;
    beam.num_return = 1;
    es_gen_result res;

    if (dump) {
        if (es_session_encode(s, enc, src, mask8, 1, SRC_LEN)) die("encode", es_session_errmsg(s));
        write_file(dump, "enc1.f32", enc, sizeof(float) * SRC_LEN * (size_t)D);
        int32_t start = info->decoder_start_id;
        if (es_session_decoder_logits(s, logits, src, mask8, 1, SRC_LEN, &start, 1))
            die("decoder_logits", es_session_errmsg(s));
        write_file(dump, "logits0.f32", logits, sizeof(float) * (size_t)V);
        if (es_session_generate(s, &res, src, SRC_LEN, &greedy)) die("greedy", es_session_errmsg(s));
        write_file(dump, "greedy.i32", res.hyps[0].ids, sizeof(int32_t) * (size_t)res.hyps[0].n_ids);
        if (es_session_generate(s, &res, src, SRC_LEN, &beam)) die("beam", es_session_errmsg(s));
        write_file(dump, "beam.i32", res.hyps[0].ids, sizeof(int32_t) * (size_t)res.hyps[0].n_ids);
        if (dump_only) {
            es_session_free(s);
            es_model_free(m);
            free(enc);
            free(logits);
            return 0;
        }
    }

    /* one untimed warm-up of each workload (page faults, pool start) */
    static double t[2][4][MAX_REPS]; /* [wall, cpu][enc1, enc8, greedy, beam][rep] */
    double first_ms = -1.0;
    for (int rep = -1; rep < reps; rep++) {
        double w[5], c[5];
        w[0] = now_ms(), c[0] = cpu_ms();
        if ((do_enc1 || rep < 0) && es_session_encode(s, enc, src, mask8, 1, SRC_LEN))
            die("encode", es_session_errmsg(s));
        w[1] = now_ms(), c[1] = cpu_ms();
        if (do_enc8 && es_session_encode(s, enc, ids8, mask8, 8, SRC_LEN))
            die("encode8", es_session_errmsg(s));
        w[2] = now_ms(), c[2] = cpu_ms();
        if (do_greedy && es_session_generate(s, &res, src, SRC_LEN, &greedy))
            die("greedy", es_session_errmsg(s));
        w[3] = now_ms(), c[3] = cpu_ms();
        if (do_beam && es_session_generate(s, &res, src, SRC_LEN, &beam))
            die("beam", es_session_errmsg(s));
        w[4] = now_ms(), c[4] = cpu_ms();
        if (rep < 0) {
            first_ms = w[1] - w[0];
            continue;
        }
        for (int k = 0; k < 4; k++) {
            t[0][k][rep] = w[k + 1] - w[k];
            t[1][k][rep] = c[k + 1] - c[k];
        }
    }
    const long peak = proc_kb("VmHWM:");

    /* RSS cost of a session with the default (largest) sizes, used once. */
    long rss_before = proc_kb("VmRSS:");
    es_session *s2;
    long rss_default = -1;
    es_session_params dp = es_session_params_default();
    dp.n_threads = threads;
    if (do_default && !es_session_new(&s2, m, &dp, &err)) {
        if (es_session_generate(s2, &res, src, SRC_LEN, &greedy)) die("greedy", es_session_errmsg(s2));
        rss_default = proc_kb("VmRSS:") - rss_before;
        es_session_free(s2);
    }

    printf("{\"engine\":\"edgeseq\",\"threads\":%d,\"version\":\"%s\",\"load_ms\":%.3f,"
           "\"first_enc1_ms\":%.3f,\"rss_load_kb\":%ld,\"peak_kb\":%ld,"
           "\"rss_default_session_kb\":%ld,",
           threads, es_version(), load_ms, first_ms, rss_load, peak, rss_default);
    const char *names[2][4] = {{"enc1", "enc8", "greedy", "beam"},
                               {"cpu_enc1", "cpu_enc8", "cpu_greedy", "cpu_beam"}};
    const int n_of[4] = {do_enc1 ? reps : 0, do_enc8 ? reps : 0, do_greedy ? reps : 0,
                         do_beam ? reps : 0};
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 4; k++) print_series(names[c][k], t[c][k], n_of[k], c == 1 && k == 3);
    printf("}\n");
    es_session_free(s);
    es_model_free(m);
    free(enc);
    free(logits);
    return 0;
}
