/*
 * pool.c — persistent pthread pool. A job is (fn, ctx, n_tasks) plus an
 * atomic next-task counter. Tasks are claimed dynamically (load balance)
 * but each task index is a fixed slice of work chosen by the caller, so
 * results do not depend on which thread ran it.
 *
 * Hand-off: a decode step runs ~100 jobs of 10-100 us each, so waking a
 * sleeping worker through the kernel for every one (futex; tens of us on
 * a virtual machine) cost more than the second core gave back (t5 greedy
 * 2 threads was no faster than 1). Workers therefore spin on the atomic
 * job generation for POOL_SPIN pause loops (~40 us) after each job before
 * sleeping on the condition variable, and the caller spins the same way
 * on the count of busy workers before sleeping on its own. Lost wake-ups
 * are excluded by the usual rule: the generation is advanced and sleepers
 * are checked under the mutex that sleepers hold while re-checking it;
 * the last worker to finish takes the mutex before signalling.
 */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_PAUSE() _mm_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define POOL_SPIN 2000 /* pause loops before sleeping (~40 us on Zen 3) */

struct es_pool {
    int n_threads; /* including the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    _Atomic uint64_t generation; /* advanced under mu, read anywhere */
    atomic_int quit;
    es_task_fn fn; /* written before the generation advances */
    void *ctx;
    int n_tasks;
    atomic_int next;
    atomic_int busy;   /* workers still inside the current generation */
    int sleepers;      /* workers in cond_wait (under mu) */
    int caller_waits;  /* the caller is in cond_wait on cv_done (under mu) */
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
    for (;;) {
        /* the next job: spin first, then sleep */
        uint64_t g = atomic_load(&p->generation);
        for (int i = 0; g == seen && i < POOL_SPIN && !atomic_load(&p->quit); i++) {
            POOL_PAUSE();
            g = atomic_load(&p->generation);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (!atomic_load(&p->quit) && atomic_load(&p->generation) == seen)
                pthread_cond_wait(&p->cv_work, &p->mu);
            p->sleepers--;
            g = atomic_load(&p->generation);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = g;
        run_tasks(p);
        if (atomic_fetch_sub(&p->busy, 1) == 1) { /* the last one out */
            pthread_mutex_lock(&p->mu);
            if (p->caller_waits) pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
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
    atomic_store(&p->quit, 1);
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
    atomic_store(&p->busy, p->n_threads - 1);
    atomic_fetch_add(&p->generation, 1); /* publishes the job (seq_cst) */
    if (p->sleepers) pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p);
    for (int i = 0; atomic_load(&p->busy) > 0 && i < POOL_SPIN; i++) POOL_PAUSE();
    if (atomic_load(&p->busy) > 0) {
        pthread_mutex_lock(&p->mu);
        p->caller_waits = 1;
        while (atomic_load(&p->busy) > 0) pthread_cond_wait(&p->cv_done, &p->mu);
        p->caller_waits = 0;
        pthread_mutex_unlock(&p->mu);
    }
}
