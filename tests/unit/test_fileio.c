/*
 * test_fileio.c — whole-file reads (size cap, errors naming path and errno
 * text), read-only maps (empty files), the atomic writer (commit, abort,
 * failed writes leave the old file and no temp file), copy, path joins,
 * and allocation-failure injection.
 */
#include "io/fileio.h"
#include "test.h"

/* test.h's REQUIRE evaluates its condition twice; MUST evaluates it once,
 * so calls with side effects can go inside. */
#define MUST(cond, ...)                                                       \
    do {                                                                      \
        int must_ok_ = (cond) ? 1 : 0;                                        \
        REQUIRE(must_ok_, __VA_ARGS__);                                       \
    } while (0)

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void put(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    MUST(f, "fopen %s", path);
    fputs(s, f);
    fclose(f);
}

/* Number of leftover temp files (".*.tmp.*") in the test folder. */
static int temp_files(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_read(void) {
    es_error err = {0};
    void *buf;
    size_t len;
    put(tpath("a.txt"), "hello");
    CHECK(es_read_file(tpath("a.txt"), &buf, &len, 100, &err) == ES_OK, "%s", err.msg);
    CHECK(len == 5 && memcmp(buf, "hello", 6) == 0, "content (NUL-terminated)");
    es_free(buf);
    CHECK(es_read_file(tpath("a.txt"), &buf, &len, 4, &err) == ES_ERR_IO, "limit");
    CHECK(strstr(err.msg, "a.txt") && strstr(err.msg, "limit of 4"), "msg: %s", err.msg);
    CHECK(buf == NULL && len == 0, "outputs cleared");
    CHECK(es_read_file(tpath("missing"), &buf, &len, 100, &err) == ES_ERR_IO, "missing");
    CHECK(strstr(err.msg, "missing") && strstr(err.msg, strerror(ENOENT)), "msg: %s", err.msg);
    CHECK(es_read_file(g_dir, &buf, &len, 100, &err) == ES_ERR_IO, "directory");
    CHECK(strstr(err.msg, "not a regular file"), "msg: %s", err.msg);
    put(tpath("empty"), "");
    CHECK(es_read_file(tpath("empty"), &buf, &len, 100, &err) == ES_OK && len == 0, "empty");
    es_free(buf);
}

static void test_map(void) {
    es_error err = {0};
    void *addr;
    size_t len;
    put(tpath("m.bin"), "mapped bytes");
    CHECK(es_map_file(tpath("m.bin"), &addr, &len, &err) == ES_OK, "%s", err.msg);
    CHECK(len == 12 && memcmp(addr, "mapped bytes", 12) == 0, "map content");
    es_unmap_file(addr, len);
    put(tpath("empty"), "");
    CHECK(es_map_file(tpath("empty"), &addr, &len, &err) == ES_OK && !addr && !len, "empty map");
    es_unmap_file(addr, len);
    CHECK(es_map_file(tpath("nope"), &addr, &len, &err) == ES_ERR_IO, "missing map");
    CHECK(strstr(err.msg, "nope") != NULL, "msg: %s", err.msg);
}

static void test_atomic(void) {
    es_error err = {0};
    const char *p = tpath("out.txt");
    CHECK(es_atomic_write_file(p, "first", 5, &err) == ES_OK, "%s", err.msg);
    void *buf;
    size_t len;
    MUST(es_read_file(p, &buf, &len, 100, &err) == ES_OK, "%s", err.msg);
    CHECK(len == 5 && memcmp(buf, "first", 5) == 0, "first content");
    es_free(buf);
    struct stat st;
    mode_t um = umask(0);
    umask(um);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == (0644 & ~um), "mode %o",
          (unsigned)(st.st_mode & 0777));

    /* abort: temp file removed, old content kept */
    es_atomic_file *f;
    MUST(es_atomic_begin(&f, p, &err) == ES_OK, "%s", err.msg);
    CHECK(es_atomic_write(f, "second", 6, &err) == ES_OK, "write");
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", es_atomic_temp_path(f));
    CHECK(access(tmp, F_OK) == 0 && strstr(tmp, g_dir) == tmp, "temp %s in same folder", tmp);
    es_atomic_abort(f);
    CHECK(access(tmp, F_OK) != 0, "temp removed");
    MUST(es_read_file(p, &buf, &len, 100, &err) == ES_OK, "%s", err.msg);
    CHECK(len == 5 && memcmp(buf, "first", 5) == 0, "old content kept after abort");
    es_free(buf);

    /* printf with a long string, then commit replaces */
    MUST(es_atomic_begin(&f, p, &err) == ES_OK, "%s", err.msg);
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(es_atomic_printf(f, &err, "%d:%s", 42, big) == ES_OK, "printf");
    CHECK(es_atomic_commit(f, &err) == ES_OK, "%s", err.msg);
    MUST(es_read_file(p, &buf, &len, 10000, &err) == ES_OK, "%s", err.msg);
    CHECK(len == 3 + 2999 && memcmp(buf, "42:xxx", 6) == 0, "printf content len %zu", len);
    es_free(buf);

    /* A write that fails (file size limit: EFBIG) poisons the writer:
     * commit refuses, the temp file is removed, the old file stays. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old_rl, rl;
    getrlimit(RLIMIT_FSIZE, &old_rl);
    rl = old_rl;
    rl.rlim_cur = 1000;
    MUST(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
    MUST(es_atomic_begin(&f, p, &err) == ES_OK, "%s", err.msg);
    es_status ws = es_atomic_write(f, big, 2000, &err);
    setrlimit(RLIMIT_FSIZE, &old_rl);
    CHECK(ws == ES_ERR_IO, "write past limit -> %d", ws);
    CHECK(strstr(err.msg, ".out.txt.tmp."), "msg names temp: %s", err.msg);
    CHECK(es_atomic_commit(f, &err) == ES_ERR_IO, "commit refuses");
    CHECK(temp_files() == 0, "no temp left");
    MUST(es_read_file(p, &buf, &len, 10000, &err) == ES_OK, "%s", err.msg);
    CHECK(len == 3002, "old file intact after failed write (%zu)", len);
    es_free(buf);

    /* begin in a missing folder */
    CHECK(es_atomic_begin(&f, tpath("no/such/dir/x"), &err) == ES_ERR_IO && f == NULL, "nodir");
    CHECK(strstr(err.msg, "no/such/dir") != NULL, "msg: %s", err.msg);
    CHECK(es_atomic_begin(&f, "", &err) == ES_ERR_ARG, "empty path");
    CHECK(es_atomic_begin(&f, tpath("dir/"), &err) == ES_ERR_ARG, "folder path");

    /* copy */
    CHECK(es_copy_file_atomic(tpath("copy.txt"), p, &err) == ES_OK, "%s", err.msg);
    MUST(es_read_file(tpath("copy.txt"), &buf, &len, 10000, &err) == ES_OK, "%s", err.msg);
    CHECK(len == 3002 && memcmp(buf, "42:", 3) == 0, "copy content");
    es_free(buf);
    CHECK(es_copy_file_atomic(tpath("copy2.txt"), tpath("absent"), &err) == ES_ERR_IO, "copy src");
    CHECK(access(tpath("copy2.txt"), F_OK) != 0, "no dst on failed copy");
    CHECK(temp_files() == 0, "no temp left");

    /* relative path (temp in ".") */
    char cwd[1024];
    MUST(getcwd(cwd, sizeof cwd), "getcwd");
    MUST(chdir(g_dir) == 0, "chdir");
    CHECK(es_atomic_write_file("rel.txt", "r", 1, &err) == ES_OK, "%s", err.msg);
    CHECK(es_is_regular_file("rel.txt"), "rel written");
    MUST(chdir(cwd) == 0, "chdir back");
}

static void test_join(void) {
    char out[32];
    es_error err = {0};
    CHECK(es_path_join(out, sizeof out, "a/b", "c", &err) == ES_OK && !strcmp(out, "a/b/c"), "1");
    CHECK(es_path_join(out, sizeof out, "a/b/", "c", &err) == ES_OK && !strcmp(out, "a/b/c"), "2");
    CHECK(es_path_join(out, sizeof out, "/", "c", &err) == ES_OK && !strcmp(out, "/c"), "3 %s",
          out);
    CHECK(es_path_join(out, sizeof out, "", "c", &err) == ES_OK && !strcmp(out, "c"), "4");
    CHECK(es_path_join(out, 7, "abc", "de", &err) == ES_OK && !strcmp(out, "abc/de"), "fits");
    CHECK(es_path_join(out, 7, "abc", "def", &err) == ES_ERR_ARG && out[0] == 0, "too long");
    CHECK(es_is_dir(g_dir) && !es_is_regular_file(g_dir), "is_dir");
}

static void test_nomem(void) {
    /* Every allocation of each call fails in turn until the call succeeds. */
    es_error err = {0};
    put(tpath("n.txt"), "abc");
    int nomem = 0;
    for (long n = 1;; n++) {
        void *buf;
        size_t len;
        es_test_fail_alloc_after(n);
        es_status s = es_read_file(tpath("n.txt"), &buf, &len, 100, &err);
        es_test_fail_alloc_after(0);
        if (s == ES_OK) {
            es_free(buf);
            break;
        }
        CHECK(s == ES_ERR_NOMEM, "read n=%ld: %d", n, s);
        nomem++;
        MUST(n < 100, "no success");
    }
    for (long n = 1;; n++) {
        es_test_fail_alloc_after(n);
        es_status s = es_atomic_write_file(tpath("n2.txt"), "abc", 3, &err);
        es_test_fail_alloc_after(0);
        if (s == ES_OK) break;
        CHECK(s == ES_ERR_NOMEM, "atomic n=%ld: %d %s", n, s, err.msg);
        nomem++;
        MUST(n < 100, "no success");
    }
    for (long n = 1;; n++) {
        es_test_fail_alloc_after(n);
        es_status s = es_copy_file_atomic(tpath("n3.txt"), tpath("n.txt"), &err);
        es_test_fail_alloc_after(0);
        if (s == ES_OK) break;
        CHECK(s == ES_ERR_NOMEM, "copy n=%ld: %d %s", n, s, err.msg);
        nomem++;
        MUST(n < 100, "no success");
    }
    CHECK(nomem >= 6, "injected %d failures", nomem);
    CHECK(temp_files() == 0, "no temp left");
}

static void rm_rf(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/es_fileio_XXXXXX");
    MUST(mkdtemp(g_dir), "mkdtemp");
    test_read();
    test_map();
    test_atomic();
    test_join();
    test_nomem();
    rm_rf(g_dir);
    TEST_MAIN_END();
}
