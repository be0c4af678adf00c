/*
 * test_kern_cpu.c — es_cpu_features() against an independent source: the
 * "flags" line of /proc/cpuinfo (Linux prints a flag only when the CPU has
 * it and the kernel enabled its register state, which is what our flags
 * mean). Long-standing flags must agree exactly; flags newer kernels added
 * (vnni/bf16/amx names) are checked one way: cpuinfo yes => ours yes.
 * Also: the describe string lists the flags, and the kernel table chosen
 * by es_kern() is one the CPU can run.
 */
#include "test.h"

#include "core/cpu.h"
#include "kern/kern.h"

static char g_flags[16384];

/* " flag " occurs in the cpuinfo flags line */
static int has_flag(const char *f) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s ", f);
    return strstr(g_flags, pat) != NULL;
}

static int read_flags(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[sizeof g_flags - 2];
    int ok = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) == 0) {
            char *c = strchr(line, ':');
            if (!c) break;
            size_t n = strcspn(c + 1, "\n");
            c[1 + n] = 0;
            snprintf(g_flags, sizeof g_flags, "%s ", c + 1);
            ok = 1;
            break;
        }
    }
    fclose(f);
    return ok;
}

int main(void) {
    es_cpu_caps c = es_cpu_features();
    const char *d = es_cpu_describe();
    printf("cpu: %s\n", d);
    CHECK(d && strlen(d) > 10, "describe: '%s'", d ? d : "(null)");
    CHECK(!c.avx2 || strstr(d, " avx2") != NULL, "describe lists avx2");
    CHECK(c.avx512f == (strstr(d, " avx512f") != NULL), "describe lists avx512f iff set");
    /* implications that must hold whatever the CPU */
    CHECK(!c.avx2 || c.avx, "avx2 => avx");
    CHECK(!c.avx512bw || c.avx512f, "avx512bw => avx512f");
    CHECK(!c.avx512f || c.os_zmm, "avx512f => OS saves ZMM");
    CHECK(!c.amx_tile || c.os_amx, "amx => OS saves tiles");
    es_cpu_caps c2 = es_cpu_features();
    CHECK(memcmp(&c, &c2, sizeof c) == 0, "stable across calls");

#if defined(__x86_64__) && defined(__linux__)
    if (read_flags()) {
        struct {
            const char *name;
            bool ours;
            int exact;
        } f[] = {
            {"avx", c.avx, 1},           {"avx2", c.avx2, 1},
            {"fma", c.fma, 1},           {"f16c", c.f16c, 1},
            {"avx512f", c.avx512f, 1},   {"avx512bw", c.avx512bw, 1},
            {"avx512vl", c.avx512vl, 1}, {"avx512dq", c.avx512dq, 1},
            {"avx512_vnni", c.avx512vnni, 0}, {"avx512_bf16", c.avx512bf16, 0},
            {"avx_vnni", c.avxvnni, 0},  {"amx_tile", c.amx_tile, 0},
            {"amx_int8", c.amx_int8, 0}, {"amx_bf16", c.amx_bf16, 0},
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
            int theirs = has_flag(f[i].name);
            if (f[i].exact)
                CHECK(theirs == f[i].ours, "%s: cpuinfo %d, ours %d", f[i].name, theirs, f[i].ours);
            else
                CHECK(!theirs || f[i].ours, "%s: cpuinfo %d, ours %d", f[i].name, theirs,
                      f[i].ours);
        }
    } else {
        printf("skipped: /proc/cpuinfo comparison (no flags line)\n");
    }
#endif

    /* AMX permission: may only succeed when the CPU/OS have AMX */
    bool amx = es_cpu_amx_request();
    CHECK(!amx || c.amx_tile, "AMX permission without AMX");
    CHECK(es_cpu_amx_request() == amx, "AMX request idempotent");

    const es_kern_table *t = es_kern();
    CHECK(t != NULL && es_kern_get(t->isa) == t, "es_kern() table is usable here");
    CHECK(es_kern_get("ref") == es_kern_ref(), "ref always usable");
    CHECK(es_kern_get("nope") == NULL && es_kern_get(NULL) == NULL, "unknown isa");
    CHECK((es_kern_get("avx2") != NULL) == (c.avx2 && c.fma), "avx2 usable iff avx2+fma");
    CHECK((es_kern_get("avx512") != NULL) ==
              (c.avx512f && c.avx512bw && c.avx512vl && c.avx512dq && c.fma),
          "avx512 usable iff F/BW/VL/DQ");
    TEST_MAIN_END();
}
