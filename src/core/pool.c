/*
 * pool.c — persistent pthread pool. Workers sleep on a condition variable;
 * a job is (fn, ctx, n_tasks) plus an atomic next-task counter. Tasks are
 * claimed dynamically (load balance) but each task index is a fixed slice of
 * work chosen by the caller, so results do not depend on which thread ran it.
 */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct es_pool {
    int n_threads; /* including the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    uint64_t generation;
    int quit;
    es_task_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next;
    int busy; /* workers still inside the current generation */
    void *scratch; /* es_pool_scratch block (es_malloc_aligned) */
    size_t scratch_bytes;
};

static void run_tasks(es_pool *p) {
    for (;;) {
        int i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n_tasks) break;
        p->fn(p->ctx, i, p->n_tasks);
    }
}

static void *worker(void *arg) {
    es_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_signal(&p->cv_done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int es_cpu_physical_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int tpc = 1;
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "r");
    if (f) {
        char buf[64] = {0};
        if (fgets(buf, sizeof buf, f)) {
            /* "0,1" or "0-1" means 2 threads per core */
            if (strchr(buf, ',') || strchr(buf, '-')) tpc = 2;
        }
        fclose(f);
    }
    if (n < 1) n = 1;
    return (int)(n / tpc > 0 ? n / tpc : 1);
}

es_status es_pool_new(es_pool **out, int n_threads, es_error *err) {
    *out = NULL;
    if (n_threads <= 0) n_threads = es_cpu_physical_cores();
    if (n_threads > 256) n_threads = 256;
    es_pool *p = es_calloc(1, sizeof *p);
    if (!p) return es_errf(err, ES_ERR_NOMEM, "out of memory creating thread pool");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (n_threads > 1) {
        p->th = es_calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!p->th) {
            es_pool_free(p);
            return es_errf(err, ES_ERR_NOMEM, "out of memory creating thread pool");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->th[i], NULL, worker, p) != 0) {
                p->n_threads = i + 1; /* free joins the ones started */
                es_pool_free(p);
                return es_errf(err, ES_ERR_NOMEM, "cannot start thread %d of %d", i + 1,
                               n_threads);
            }
        }
    }
    *out = p;
    return ES_OK;
}

void es_pool_free(es_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads - 1 && p->th; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    es_free(p->th);
    es_free_aligned(p->scratch);
    es_free(p);
}

void *es_pool_scratch(es_pool *p, size_t bytes) {
    if (!p) return NULL;
    if (bytes <= p->scratch_bytes && p->scratch) return p->scratch;
    void *b = es_malloc_aligned(bytes ? bytes : 1);
    if (!b) return NULL; /* the old block stays for smaller requests */
    es_free_aligned(p->scratch);
    p->scratch = b;
    p->scratch_bytes = bytes;
    return b;
}

es_status es_pool_reserve(es_pool *p, size_t bytes, es_error *err) {
    if (!p || es_pool_scratch(p, bytes)) return ES_OK;
    return es_errf(err, ES_ERR_NOMEM, "out of memory reserving %zu bytes of thread scratch", bytes);
}

int es_pool_threads(const es_pool *p) { return p ? p->n_threads : 1; }

void es_pool_run(es_pool *p, int n_tasks, es_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, n_tasks);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->busy = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
