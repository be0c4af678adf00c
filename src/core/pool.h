/*
 * pool.h — a small persistent thread pool (pthreads).
 *
 * es_pool_run(pool, n, fn, ctx) calls fn(ctx, i, n) for i in [0, n), one
 * call per *task index*, task i always runs the same slice of work
 * whatever the number of threads: callers split work by task index, not by
 * thread, so reductions are reproducible for any thread count (partial
 * results are combined in task order by the caller). The calling thread
 * takes part. A NULL pool runs everything on the caller.
 */
#ifndef ES_CORE_POOL_H
#define ES_CORE_POOL_H

#include "core/common.h"

typedef struct es_pool es_pool;
typedef void (*es_task_fn)(void *ctx, int task, int n_tasks);

/* n_threads <= 0: number of online CPUs. n_threads == 1 creates no thread. */
es_status es_pool_new(es_pool **out, int n_threads, es_error *err);
void es_pool_free(es_pool *p);
int es_pool_threads(const es_pool *p); /* 1 for NULL */
/* Runs fn for every task index in [0, n_tasks); returns when all are done.
 * Not reentrant: fn must not call es_pool_run on the same pool. */
void es_pool_run(es_pool *p, int n_tasks, es_task_fn fn, void *ctx);
/* Physical cores (best effort: online CPUs / threads per core). */
int es_cpu_physical_cores(void);

/* Scratch memory owned by the pool (kernels' packing buffers), so that
 * work run with a pool allocates nothing once the scratch is large enough.
 * es_pool_scratch returns a 64-byte aligned block of >= bytes, valid until
 * the next es_pool_scratch / es_pool_reserve / es_pool_free on this pool;
 * it reallocates only when asked for more than it holds (NULL if p is NULL
 * or on out of memory: callers then use their own memory). Call both on
 * the thread that calls es_pool_run (the same rule as es_pool_run: one
 * caller at a time); es_pool_reserve grows it up front (a session sizes it
 * once at creation). */
void *es_pool_scratch(es_pool *p, size_t bytes);
es_status es_pool_reserve(es_pool *p, size_t bytes, es_error *err);

#endif
