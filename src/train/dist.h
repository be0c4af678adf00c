/*
 * dist.h — a tiny communicator for data-parallel training: rank, size,
 * sum-all-reduce of float/double buffers, broadcast, all-gather, barrier.
 *
 * Two implementations behind one small ops table:
 *  - dist.c, always built: the single-process communicator (size 1; every
 *    collective is a no-op or a copy). The default build needs nothing.
 *  - dist_mpi.c, built only with -DES_MPI=ON (ES_HAVE_MPI=1): MPI over a
 *    duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so an MPI failure
 *    comes back as an es_status instead of killing the process.
 *
 * Contract shared by every collective: all ranks call it in the same order
 * with the same sizes (and root); it returns on every rank. Results of the
 * all-reduces are bit-identical on all ranks (the MPI version reduces to
 * rank 0 and broadcasts, see dist_mpi.c), which is what keeps model
 * replicas equal without ever comparing them.
 *
 * Thread safety: one thread per communicator (the trainer thread); pool
 * worker threads never call MPI, so MPI_THREAD_FUNNELED suffices.
 * Design and numerics: docs/distributed.md.
 */
#ifndef ES_TRAIN_DIST_H
#define ES_TRAIN_DIST_H

#include "core/common.h"

typedef struct es_dist es_dist;

/* A size-1 communicator (rank 0). Free with es_dist_free. */
es_status es_dist_new_single(es_dist **out, es_error *err);

/* A communicator over all processes of the MPI job (MPI_COMM_WORLD).
 * Initialises MPI (MPI_Init_thread, FUNNELED) unless the caller already
 * did; es_dist_free then finalises it. ES_ERR_UNSUPPORTED when the library
 * was built without ES_MPI or MPI was already finalised; ES_ERR_IO when
 * MPI fails to start. */
es_status es_dist_new_mpi(es_dist **out, es_error *err);

/* 1 when this build has MPI support (es_dist_new_mpi can succeed). */
int es_dist_mpi_available(void);

/* Number of processes of the MPI job this process was started in, read
 * from the launcher's environment (Open MPI OMPI_COMM_WORLD_SIZE, MPICH /
 * Hydra PMI_SIZE, PMIx PMIX_SIZE...); 0 when not started by a launcher.
 * Lets a CLI pick MPI automatically under `mpirun` without calling MPI. */
int es_dist_launcher_size(void);

/* Releases the communicator (finalises MPI if es_dist_new_mpi started
 * it). NULL is ignored. Collective for MPI communicators. */
void es_dist_free(es_dist *d);

int es_dist_rank(const es_dist *d);
int es_dist_size(const es_dist *d);

/* buf (n) ← Σ over ranks of buf, elementwise, identical bits on every
 * rank. Collective. */
es_status es_dist_allreduce_f32(es_dist *d, float *buf, size_t n, es_error *err);
es_status es_dist_allreduce_f64(es_dist *d, double *buf, size_t n, es_error *err);
/* buf (bytes) on every rank ← buf of `root`. Collective. */
es_status es_dist_bcast(es_dist *d, void *buf, size_t bytes, int root, es_error *err);
/* out (size * bytes) ← the `bytes` of in of rank 0, 1, ... in rank order.
 * Collective. */
es_status es_dist_allgather(es_dist *d, const void *in, size_t bytes, void *out, es_error *err);
es_status es_dist_barrier(es_dist *d, es_error *err);

/* ---- for implementations only (dist.c, dist_mpi.c) ------------------------------ */

typedef struct es_dist_ops {
    es_status (*allreduce_f32)(es_dist *d, float *buf, size_t n, es_error *err);
    es_status (*allreduce_f64)(es_dist *d, double *buf, size_t n, es_error *err);
    es_status (*bcast)(es_dist *d, void *buf, size_t bytes, int root, es_error *err);
    es_status (*allgather)(es_dist *d, const void *in, size_t bytes, void *out, es_error *err);
    es_status (*barrier)(es_dist *d, es_error *err);
    void (*destroy)(es_dist *d); /* releases impl (not d itself) */
} es_dist_ops;

struct es_dist {
    int rank, size;
    const es_dist_ops *ops;
    void *impl;
};

#endif
