/*
 * dist.c — the communicator front end (argument checks, dispatch through
 * the ops table) and the single-process communicator, which is always
 * built: with size 1 an all-reduce leaves the buffer as it is, a broadcast
 * from rank 0 is a no-op and an all-gather is a copy. Without ES_MPI, the
 * MPI constructor here reports ES_ERR_UNSUPPORTED (dist_mpi.c is not
 * compiled then).
 */
#include "train/dist.h"

#include <stdlib.h>
#include <string.h>

static es_status single_allreduce_f32(es_dist *d, float *buf, size_t n, es_error *err) {
    return ES_OK;
}
static es_status single_allreduce_f64(es_dist *d, double *buf, size_t n, es_error *err) {
    return ES_OK;
}
static es_status single_bcast(es_dist *d, void *buf, size_t bytes, int root, es_error *err) {
    return ES_OK;
}
static es_status single_allgather(es_dist *d, const void *in, size_t bytes, void *out,
                                  es_error *err) {
    if (bytes) memmove(out, in, bytes);
    return ES_OK;
}
static es_status single_barrier(es_dist *d, es_error *err) { return ES_OK; }
static void single_destroy(es_dist *d) {}

static const es_dist_ops single_ops = {single_allreduce_f32, single_allreduce_f64, single_bcast,
                                       single_allgather, single_barrier, single_destroy};

es_status es_dist_new_single(es_dist **out, es_error *err) {
    *out = NULL;
    es_dist *d = es_calloc(1, sizeof *d);
    if (!d) return es_errf(err, ES_ERR_NOMEM, "dist: out of memory");
    d->rank = 0;
    d->size = 1;
    d->ops = &single_ops;
    *out = d;
    return ES_OK;
}

#ifndef ES_HAVE_MPI
es_status es_dist_new_mpi(es_dist **out, es_error *err) {
    *out = NULL;
    return es_errf(err, ES_ERR_UNSUPPORTED, "dist: this edgeseq was built without MPI "
                   "(configure with -DES_MPI=ON and an MPI implementation, e.g. libopenmpi-dev)");
}
int es_dist_mpi_available(void) { return 0; }
#endif

int es_dist_launcher_size(void) {
    /* Open MPI, MPICH/Hydra (PMI), PMIx-based launchers, Intel MPI, Slurm's
     * srun with --mpi=pmi2; the first one set wins. */
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < ES_ARRAY_LEN(vars); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (*end == 0 && n > 0 && n < (1L << 24)) return (int)n;
        }
    }
    return 0;
}

void es_dist_free(es_dist *d) {
    if (!d) return;
    d->ops->destroy(d);
    es_free(d);
}

int es_dist_rank(const es_dist *d) { return d->rank; }
int es_dist_size(const es_dist *d) { return d->size; }

es_status es_dist_allreduce_f32(es_dist *d, float *buf, size_t n, es_error *err) {
    if (n && !buf) return es_errf(err, ES_ERR_ARG, "dist allreduce: NULL buffer of %zu floats", n);
    return d->ops->allreduce_f32(d, buf, n, err);
}

es_status es_dist_allreduce_f64(es_dist *d, double *buf, size_t n, es_error *err) {
    if (n && !buf) return es_errf(err, ES_ERR_ARG, "dist allreduce: NULL buffer of %zu doubles", n);
    return d->ops->allreduce_f64(d, buf, n, err);
}

es_status es_dist_bcast(es_dist *d, void *buf, size_t bytes, int root, es_error *err) {
    if (root < 0 || root >= d->size)
        return es_errf(err, ES_ERR_ARG, "dist bcast: root %d outside [0, %d)", root, d->size);
    if (bytes && !buf) return es_errf(err, ES_ERR_ARG, "dist bcast: NULL buffer of %zu bytes", bytes);
    return d->ops->bcast(d, buf, bytes, root, err);
}

es_status es_dist_allgather(es_dist *d, const void *in, size_t bytes, void *out, es_error *err) {
    if (bytes && (!in || !out)) return es_errf(err, ES_ERR_ARG, "dist allgather: NULL buffer");
    return d->ops->allgather(d, in, bytes, out, err);
}

es_status es_dist_barrier(es_dist *d, es_error *err) { return d->ops->barrier(d, err); }
