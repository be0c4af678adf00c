/*
 * mpi_dp_driver.c — the program behind tests/mpi/test_mpi_dp.sh: trains a
 * tiny ByteQRNN either in one process ("single", global batch G in one
 * micro-batch) or as one rank of an MPI job ("mpi", G/size per rank), and
 * compares two trained model folders parameter by parameter ("compare").
 *
 *   mpi_dp_driver single|mpi OUT_DIR STEPS [--global G] [--dropout]
 *                 [--resume] [--stop-at S] [--mismatch] [--short-data]
 *                 [--bad-label]
 *   mpi_dp_driver compare DIR_A DIR_B RTOL ATOL [SKIP_TENSOR...]
 *
 * Training: 100 synthetic examples (an LCG; positives contain "$$$"), so
 * epochs end in the middle of global micro-batches; grad_accum 2; clipping
 * at 1; cosine LR with warm-up; 1 thread per process; a checkpoint every
 * 10 steps into OUT_DIR (rank 0 writes). --stop-at S: rank 0's progress
 * callback (every 10 steps) asks to stop at step S, which must stop every
 * rank there with a checkpoint (the LR schedule still spans STEPS, so a
 * resume continues the same trajectory). Dropout and zoneout are 0 unless
 * --dropout (then 0.1 each). After training every rank hashes its
 * parameters and the hashes are all-gathered: replicas must be equal bit
 * for bit (exit 1 otherwise).
 *
 * The failure options make rank 1 differ from rank 0 (another learning
 * rate; one example fewer; an invalid label). Then every rank must get an
 * error (no rank may hang or succeed): exit 0 iff the trainer failed with
 * ES_ERR_ARG on this rank.
 *
 * compare: passes iff |a - b| <= ATOL + RTOL * |a| for every parameter of
 * two folders with the same tensors, except the SKIP_TENSORs (see
 * test_mpi_dp.sh for the one tensor skipped and why); prints the largest
 * absolute and relative differences. RTOL = ATOL = 0 demands bit equality.
 */
#include "model/byte_model.h"
#include "nn/params.h"
#include "train/dist.h"
#include "train/trainer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_EX 100
static uint8_t g_buf[N_EX][64];
static es_example g_ex[N_EX];

static void make_data(void) {
    uint32_t st = 23;
    for (int i = 0; i < N_EX; i++) {
        st = st * 1664525u + 1013904223u;
        size_t len = 8 + (st >> 8) % 56;
        int label = (st >> 20) & 1;
        for (size_t k = 0; k < len; k++) {
            st = st * 1664525u + 1013904223u;
            g_buf[i][k] = (uint8_t)("abcdefgh  "[(st >> 12) % 10]);
        }
        if (label) memcpy(g_buf[i] + (st >> 4) % (len - 3), "$$$", 3);
        g_ex[i].bytes = g_buf[i];
        g_ex[i].len = len;
        g_ex[i].label = label;
    }
}

static int compare(const char *a, const char *b, double rtol, double atol, char **skip,
                   int n_skip) {
    es_error e;
    es_byte_model *ma = NULL, *mb = NULL;
    if (es_byte_model_load_dir(&ma, a, &e) || es_byte_model_load_dir(&mb, b, &e)) {
        fprintf(stderr, "compare: %s\n", e.msg);
        return 1;
    }
    es_params *pa = es_byte_model_params(ma), *pb = es_byte_model_params(mb);
    int bad = pa->total != pb->total || pa->n != pb->n;
    double max_abs = 0.0, max_rel = 0.0, max_val = 0.0;
    size_t n_diff = 0, n_bad = 0;
    const char *worst = "";
    for (int i = 0; i < pa->n && !bad; i++) {
        const es_param *p = &pa->p[i];
        int j = es_params_find(pb, p->name);
        if (j < 0 || pb->p[j].numel != p->numel) {
            bad = 1;
            break;
        }
        int skipped = 0;
        for (int k = 0; k < n_skip; k++) skipped |= strcmp(skip[k], p->name) == 0;
        if (skipped) continue;
        const float *x = es_params_data(pa, i), *y = es_params_data(pb, j);
        for (size_t k = 0; k < p->numel; k++) {
            double d = fabs((double)x[k] - (double)y[k]), ax = fabs((double)x[k]);
            n_diff += x[k] != y[k];
            if (d > max_abs) {
                max_abs = d;
                worst = p->name;
            }
            if (ax > 1e-3 && d / ax > max_rel) max_rel = d / ax;
            if (ax > max_val) max_val = ax;
            if (!(d <= atol + rtol * ax)) n_bad++;
        }
    }
    if (bad) {
        fprintf(stderr, "compare: %s and %s have different tensors\n", a, b);
        es_byte_model_free(ma);
        es_byte_model_free(mb);
        return 1;
    }
    printf("compare: %zu params, %zu differ, max |diff| %.3g (%s), max rel diff %.3g (|a| > 1e-3), "
           "max |a| %.3g, %zu beyond atol %.3g + rtol %.3g\n",
           pa->total, n_diff, max_abs, worst, max_rel, max_val, n_bad, atol, rtol);
    es_byte_model_free(ma);
    es_byte_model_free(mb);
    return n_bad ? 1 : 0;
}

static int stop_fn(void *user, const es_train_progress *pr) {
    return pr->step >= *(const int *)user;
}

int main(int argc, char **argv) {
    if (argc >= 6 && strcmp(argv[1], "compare") == 0)
        return compare(argv[2], argv[3], atof(argv[4]), atof(argv[5]), argv + 6, argc - 6);
    if (argc < 4 || (strcmp(argv[1], "single") && strcmp(argv[1], "mpi"))) {
        fprintf(stderr, "usage: see the comment at the top of mpi_dp_driver.c\n");
        return 2;
    }
    int use_mpi = strcmp(argv[1], "mpi") == 0, G = 8, dropout = 0, resume = 0, mismatch = 0,
        short_data = 0, bad_label = 0, stop_at = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--global") && i + 1 < argc) G = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dropout")) dropout = 1;
        else if (!strcmp(argv[i], "--resume")) resume = 1;
        else if (!strcmp(argv[i], "--stop-at") && i + 1 < argc) stop_at = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mismatch")) mismatch = 1;
        else if (!strcmp(argv[i], "--short-data")) short_data = 1;
        else if (!strcmp(argv[i], "--bad-label")) bad_label = 1;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int expect_fail = mismatch || short_data || bad_label;
    es_error e;
    es_dist *d = NULL;
    es_status s = use_mpi ? es_dist_new_mpi(&d, &e) : es_dist_new_single(&d, &e);
    if (s) {
        fprintf(stderr, "dist: %s\n", e.msg);
        return 1;
    }
    int rank = es_dist_rank(d), world = es_dist_size(d);
    if (G % world) {
        fprintf(stderr, "global batch %d is not a multiple of %d ranks\n", G, world);
        es_dist_free(d);
        return 2;
    }
    make_data();
    if (bad_label && rank == 1)
        for (int i = 0; i < N_EX; i++) g_ex[i].label = 7;
    es_example_source src = {N_EX - (short_data && rank == 1), g_ex, NULL, NULL};

    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    c.max_bytes = 64;
    c.d_model = 16;
    c.qrnn_layers = 1;
    c.qrnn_hidden = 8;
    c.downsample = 2;
    c.dropout = dropout ? 0.1f : 0.0f;
    c.zoneout = dropout ? 0.1f : 0.0f;
    es_train_params p = es_train_params_default();
    p.batch_size = G / world;
    p.grad_accum = 2;
    p.max_steps = atoi(argv[3]);
    p.lr = mismatch && rank == 1 ? 2e-2f : 1e-2f;
    p.warmup_steps = 5;
    p.n_threads = 1;
    p.out_dir = argv[2];
    p.save_every = 10;
    p.log_every = 10;

    es_byte_model *m = NULL;
    es_trainer *tr = NULL;
    /* every rank initialises from another seed on purpose: set_dist must
     * broadcast rank 0's parameters or the replicas would differ */
    s = es_byte_model_new(&m, &c, 5 + (uint64_t)rank, &e);
    if (!s) s = es_trainer_new(&tr, m, &p, &e);
    if (!s) s = es_trainer_set_dist(tr, d, &e);
    if (!s && resume) s = es_trainer_resume(tr, NULL, &e);
    /* only rank 0 asks to stop: the trainer must stop every rank */
    if (!s && stop_at && rank == 0) es_trainer_set_progress(tr, stop_fn, &stop_at);
    if (!s) s = es_trainer_run(tr, &src, &e);
    if (stop_at && s == ES_ERR_CANCELLED) {
        if (es_trainer_step_count(tr) == stop_at) s = ES_OK;
        else fprintf(stderr, "rank %d: stopped at step %lld, not %d\n", rank,
                     (long long)es_trainer_step_count(tr), stop_at);
    } else if (stop_at && !s) {
        fprintf(stderr, "rank %d: did not stop at step %d\n", rank, stop_at);
        s = ES_ERR_INTERNAL;
    }
    int rc = 0;
    if (expect_fail) {
        printf("rank %d: %s (%s)\n", rank, s ? e.msg : "no error", es_status_str(s));
        rc = s == ES_ERR_ARG ? 0 : 1;
    } else if (s) {
        fprintf(stderr, "rank %d: %s\n", rank, e.msg);
        rc = 1;
    } else {
        uint64_t h = es_params_hash(es_byte_model_params(m)), all[64];
        if (world <= 64 && !es_dist_allgather(d, &h, sizeof h, all, &e)) {
            for (int r = 0; r < world; r++)
                if (all[r] != h) {
                    fprintf(stderr, "rank %d: parameters differ from rank %d's\n", rank, r);
                    rc = 1;
                }
        }
        double loss = 0, acc = 0;
        if (!rc && rank == 0 && !es_trainer_evaluate(tr, &src, &loss, &acc, &e))
            printf("%s x%d: %lld steps, eval loss %.5f accuracy %.3f, params %016llx\n", argv[1],
                   world, (long long)es_trainer_step_count(tr), loss, acc, (unsigned long long)h);
    }
    es_trainer_free(tr);
    es_byte_model_free(m);
    es_dist_free(d);
    return rc;
}
