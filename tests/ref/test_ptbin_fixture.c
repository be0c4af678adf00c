/* pytorch_model.bin of fixtures/t5/tiny-v1 against its model.safetensors
 * (an independent file written by HF save_pretrained): 50 names in the
 * .bin, every one of the 47 safetensors tensors present with the same
 * dtype, shape and bytes; the 3 others are the tied embedding / LM head
 * names and alias shared.weight's data. Also: es_weights_open_dir picks the
 * .bin when it is the only weights file, a one-shard .bin index, and
 * allocation-failure injection over the whole fixture parse. */
#include "test.h"
#include "io/fileio.h"
#include "io/weights.h"

#include <stdint.h>
#include <unistd.h>

/* REQUIRE evaluates its condition twice: calls with effects go through
 * MUST, which evaluates them once. */
#define MUST(expr, ...)                                                       \
    do {                                                                      \
        long must_ = (long)(expr);                                            \
        REQUIRE(must_ == 0, __VA_ARGS__);                                     \
    } while (0)

static const char *tied[] = {"shared.weight", "encoder.embed_tokens.weight",
                             "decoder.embed_tokens.weight", "lm_head.weight"};

static void check_tied(const es_weights *w, const char *what) {
    const es_tensor_view *s = es_weights_find(w, tied[0]);
    REQUIRE(s != NULL, "%s: shared.weight", what);
    CHECK(s->dtype == ES_DTYPE_F32 && s->ndim == 2 && s->shape[0] == 32128 && s->shape[1] == 64,
          "%s: shared.weight shape", what);
    for (size_t i = 1; i < ES_ARRAY_LEN(tied); i++) {
        const es_tensor_view *t = es_weights_find(w, tied[i]);
        CHECK(t && t->data == s->data && t->nbytes == s->nbytes && t->ndim == 2 &&
                  t->shape[0] == 32128 && t->shape[1] == 64,
              "%s: %s aliases shared.weight", what, tied[i]);
    }
}

int main(void) {
    const char *bin = fixture("t5/tiny-v1/pytorch_model.bin");
    const char *st = fixture("t5/tiny-v1/model.safetensors");
    es_error e;
    es_weights *wb, *ws;
    MUST(es_weights_new(&wb, &e), "new");
    MUST(es_weights_new(&ws, &e), "new");
    MUST(es_ptbin_read(wb, bin, &e), "read bin: %s", e.msg);
    es_weights_seal(wb);
    CHECK(es_weights_count(wb) == 50, "bin has %zu names", es_weights_count(wb));
    check_tied(wb, "bin");

    /* es_safetensors_parse (not _read) so the link pulls safetensors.o in
     * even while src/core/stubs_tmp.c has a weak es_safetensors_read. */
    void *st_addr;
    size_t st_len;
    MUST(es_map_file(st, &st_addr, &st_len, &e), "map %s: %s", st, e.msg);
    es_status s = es_safetensors_parse(ws, st_addr, st_len, st, &e);
    CHECK(s == ES_OK, "read safetensors: %s", e.msg);
    if (s == ES_OK) {
        es_weights_seal(ws);
        CHECK(es_weights_count(ws) == 47, "safetensors has %zu", es_weights_count(ws));
        size_t same = 0;
        for (size_t i = 0; i < es_weights_count(ws); i++) {
            const es_tensor_view *a = es_weights_at(ws, i), *b = es_weights_find(wb, a->name);
            CHECK(b != NULL, "%s missing from the .bin", a->name);
            if (!b) continue;
            bool ok = a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes;
            for (int d = 0; ok && d < a->ndim; d++) ok = a->shape[d] == b->shape[d];
            ok = ok && memcmp(a->data, b->data, a->nbytes) == 0;
            CHECK(ok, "%s differs between .bin and .safetensors", a->name);
            same += ok;
        }
        CHECK(same == 47, "%zu of 47 bit-identical", same);
        size_t extra = 0;
        for (size_t i = 0; i < es_weights_count(wb); i++) {
            const char *n = es_weights_at(wb, i)->name;
            if (es_weights_find(ws, n)) continue;
            bool is_tied = false;
            for (size_t k = 0; k < ES_ARRAY_LEN(tied); k++) is_tied |= strcmp(n, tied[k]) == 0;
            CHECK(is_tied, "extra .bin name %s is not a tied alias", n);
            extra++;
        }
        CHECK(extra == 3, "%zu extra names in the .bin", extra);
    }
    es_weights_free(ws);
    es_weights_free(wb);
    es_unmap_file(st_addr, st_len);

    /* A folder holding only pytorch_model.bin (+ an index next to it). */
    char dir[] = "/tmp/es_ptbin_XXXXXX";
    MUST(mkdtemp(dir) == NULL, "mkdtemp");
    char p_bin[256], p_idx[256];
    snprintf(p_bin, sizeof p_bin, "%s/pytorch_model.bin", dir);
    snprintf(p_idx, sizeof p_idx, "%s/pytorch_model.bin.index.json", dir);
    MUST(symlink(bin, p_bin), "symlink");
    const char *which = NULL;
    es_weights *w;
    CHECK(es_weights_open_dir(&w, dir, &which, &e) == ES_OK, "open_dir: %s", e.msg);
    CHECK(which && strcmp(which, "pytorch_model.bin") == 0, "which = %s", which ? which : "-");
    if (w) check_tied(w, "open_dir");
    es_weights_free(w);
    /* The index lists all 50 names in one shard. */
    MUST(es_weights_new(&wb, &e), "new");
    MUST(es_ptbin_read(wb, bin, &e), "read");
    es_atomic_file *f;
    MUST(es_atomic_begin(&f, p_idx, &e), "index: %s", e.msg);
    es_atomic_printf(f, &e, "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {");
    for (size_t i = 0; i < es_weights_count(wb); i++)
        es_atomic_printf(f, &e, "%s\"%s\": \"pytorch_model.bin\"", i ? ", " : "",
                         es_weights_at(wb, i)->name);
    es_atomic_printf(f, &e, "}}\n");
    MUST(es_atomic_commit(f, &e), "commit: %s", e.msg);
    es_weights_free(wb);
    MUST(es_weights_new(&w, &e), "new");
    CHECK(es_ptbin_read_index(w, p_idx, &e) == ES_OK, "read_index: %s", e.msg);
    es_weights_seal(w);
    CHECK(es_weights_count(w) == 50, "index: %zu", es_weights_count(w));
    check_tied(w, "index");
    es_weights_free(w);
    unlink(p_idx);
    unlink(p_bin);
    rmdir(dir);

    /* Allocation failures over the fixture parse: NOMEM each time, no leak. */
    void *addr;
    size_t len;
    MUST(es_map_file(bin, &addr, &len, &e), "map");
    int wrong = 0;
    long n;
    for (n = 1; n < 100000; n++) {
        MUST(es_weights_new(&w, &e), "new");
        es_test_fail_alloc_after(n);
        s = es_ptbin_parse(w, addr, len, "pytorch_model.bin", &e);
        es_test_fail_alloc_after(0);
        es_weights_free(w);
        if (s == ES_OK) break;
        if (s != ES_ERR_NOMEM) {
            wrong++;
            fprintf(stderr, "alloc %ld: %s\n", n, e.msg);
        }
    }
    printf("allocation-failure points tried: %ld\n", n - 1);
    CHECK(wrong == 0 && n > 50, "%d failures were not NOMEM (%ld allocations tried)", wrong, n);
    es_unmap_file(addr, len);
    TEST_MAIN_END();
}
