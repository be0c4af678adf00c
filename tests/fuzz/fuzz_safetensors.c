/*
 * fuzz_safetensors.c — libFuzzer harness for the safetensors reader
 * (es_safetensors_parse). Any input must give ES_OK or an error with a
 * message; never a crash, leak, UB or a view outside the input. On success
 * the harness checks the reader's promises: every view lies inside the
 * buffer, byte counts match shape x dtype, the views tile the data section
 * exactly, and every F32/F16/BF16 tensor converts. Built as a replay test
 * over tests/fuzz/corpus/safetensors/ with any compiler and, with
 * -DES_FUZZ=ON and clang, as the fuzz_safetensors binary.
 */
#include "io/weights.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    es_weights *w = NULL;
    es_error err = {0};
    if (es_weights_new(&w, &err) != ES_OK) return 0;
    es_status s = es_safetensors_parse(w, data, size, "fuzz.safetensors", &err);
    if (s != ES_OK) {
        if (err.code != s || err.msg[0] == 0) abort(); /* every error has a message */
        es_weights_free(w);
        return 0;
    }
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = (hn << 8) | data[i];
    size_t data_bytes = 0;
    float *tmp = NULL;
    for (size_t i = 0; i < es_weights_count(w); i++) {
        const es_tensor_view *t = es_weights_at(w, i);
        const uint8_t *p = t->data;
        if (p < data + 8 + hn || t->nbytes > (size_t)(data + size - p)) abort();
        if (t->nbytes != es_tensor_numel(t) * es_dtype_size(t->dtype)) abort();
        if (t->file_offset != (uint64_t)(p - data)) abort();
        data_bytes += t->nbytes;
        if (t->dtype == ES_DTYPE_F32 || t->dtype == ES_DTYPE_F16 || t->dtype == ES_DTYPE_BF16) {
            size_t n = es_tensor_numel(t);
            float *nt = realloc(tmp, (n ? n : 1) * sizeof(float));
            if (!nt) break;
            tmp = nt;
            if (es_tensor_to_f32(tmp, t, &err) != ES_OK) abort();
        }
    }
    if (data_bytes != size - 8 - hn) abort(); /* no holes, no overlaps */
    free(tmp);
    es_weights_seal(w);
    for (size_t i = 0; i < es_weights_count(w); i++)
        if (es_weights_find(w, es_weights_at(w, i)->name) != es_weights_at(w, i)) abort();
    es_weights_free(w);
    return 0;
}
