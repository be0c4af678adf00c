/* Fuzz target for the pytorch_model.bin reader. Two modes, chosen by the
 * first bytes so one corpus drives both:
 *  - input starting with "PK": parsed as a whole archive (zip layer,
 *    then pickle);
 *  - anything else: taken as data.pkl and wrapped here into a well-formed
 *    archive (correct CRCs) with storages "0".."3" of 4096, 64, 16 and 0
 *    bytes (what make_ptbin.py's *.pkl seeds expect), so mutations reach the unpickler and the tensor checks instead
 *    of dying at the CRC.
 * After a successful parse every tensor's bytes are read, so ASan reports
 * any view that points outside memory the set owns. */
#include "io/weights.h"
#include "io/zip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} wbuf;

static void put(wbuf *b, const void *d, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t nc = (b->n + n) * 2 + 256;
        uint8_t *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put16(wbuf *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}
static void put32(wbuf *b, uint32_t v) {
    put16(b, (uint16_t)v);
    put16(b, (uint16_t)(v >> 16));
}

/* Classic (non-zip64) archive of stored entries. */
static void make_zip(wbuf *b, const char *const *names, const uint8_t *const *datas,
                     const size_t *lens, size_t n) {
    size_t off[8];
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        off[i] = b->n;
        put32(b, 0x04034b50);
        put32(b, 20);
        put32(b, 0);
        put16(b, 0);
        put32(b, es_zip_crc32(0, datas[i], lens[i]));
        put32(b, (uint32_t)lens[i]);
        put32(b, (uint32_t)lens[i]);
        put16(b, (uint16_t)nl);
        put16(b, 0);
        put(b, names[i], nl);
        put(b, datas[i], lens[i]);
    }
    size_t cd = b->n;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        put32(b, 0x02014b50);
        put32(b, 20 | (20u << 16));
        put32(b, 0);
        put32(b, 0);
        put32(b, es_zip_crc32(0, datas[i], lens[i]));
        put32(b, (uint32_t)lens[i]);
        put32(b, (uint32_t)lens[i]);
        put16(b, (uint16_t)nl);
        put32(b, 0);
        put32(b, 0);
        put32(b, 0);
        put32(b, (uint32_t)off[i]);
        put(b, names[i], nl);
    }
    size_t cd_size = b->n - cd;
    put32(b, 0x06054b50);
    put32(b, 0);
    put16(b, (uint16_t)n);
    put16(b, (uint16_t)n);
    put32(b, (uint32_t)cd_size);
    put32(b, (uint32_t)cd);
    put16(b, 0);
}

static void run(const uint8_t *buf, size_t len) {
    es_weights *w;
    if (es_weights_new(&w, NULL)) return;
    if (es_ptbin_parse(w, buf, len, "fuzz.bin", NULL) == ES_OK) {
        volatile unsigned sum = 0;
        for (size_t i = 0; i < es_weights_count(w); i++) {
            const es_tensor_view *t = es_weights_at(w, i);
            const uint8_t *p = t->data;
            for (size_t k = 0; k < t->nbytes; k++) sum += p[k];
        }
        (void)sum;
    }
    es_weights_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        run(data, size);
        return 0;
    }
    static uint8_t storage[4096];
    for (size_t i = 0; i < sizeof storage; i++) storage[i] = (uint8_t)(i * 131u);
    const char *names[] = {"a/data.pkl", "a/data/0", "a/data/1", "a/data/2", "a/data/3",
                           "a/version"};
    const uint8_t *datas[] = {data, storage, storage, storage, storage, (const uint8_t *)"3\n"};
    size_t lens[] = {size, 4096, 64, 16, 0, 2};
    wbuf b = {0};
    make_zip(&b, names, datas, lens, 6);
    if (!b.oom) run(b.p, b.n);
    free(b.p);
    return 0;
}
