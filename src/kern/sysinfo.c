/*
 * sysinfo.c — es_system_info(): one line naming the CPU features found and
 * the kernel set the dispatcher chose, for `edgeseq info` and benchmarks.
 */
#include "core/cpu.h"
#include "kern/kern.h"

#include <pthread.h>
#include <stdio.h>

static char g_info[512];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void fill(void) {
    snprintf(g_info, sizeof g_info, "kernels %s; %s", es_kern()->isa, es_cpu_describe());
}

const char *es_system_info(void) {
    pthread_once(&g_once, fill);
    return g_info;
}
