/* TEMPORARY during parallel bring-up: weak placeholders so the tree links
 * while modules land. Each real (strong) definition overrides these. This
 * file is deleted before the foundation issue is closed. */
#include "io/weights.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

#define WEAK __attribute__((weak))
#define NOTYET(name) return es_errf(err, ES_ERR_UNSUPPORTED, "%s: not yet built", name)

WEAK es_status es_safetensors_read(es_weights *w, const char *p, es_error *err) { NOTYET(p); }
WEAK es_status es_safetensors_read_index(es_weights *w, const char *p, es_error *err) { NOTYET(p); }
WEAK es_status es_ptbin_read(es_weights *w, const char *p, es_error *err) { NOTYET(p); }
WEAK es_status es_ptbin_read_index(es_weights *w, const char *p, es_error *err) { NOTYET(p); }
WEAK es_status es_model_load(es_model **out, const char *dir, const es_load_params *params,
                             es_error *err) {
    *out = NULL;
    NOTYET(dir);
}
WEAK void es_model_free(es_model *m) { (void)m; }
WEAK const es_model_info *es_model_get_info(const es_model *m) { return NULL; }
WEAK const es_tokenizer *es_model_tokenizer(const es_model *m) { return NULL; }
WEAK es_load_params es_load_params_default(void) { es_load_params p = {0}; return p; }
WEAK es_status es_tokenizer_load(es_tokenizer **out, const char *path, int n, es_error *err) {
    *out = NULL;
    NOTYET(path);
}
WEAK es_status es_tokenizer_load_mem(es_tokenizer **out, const void *d, size_t z, const char *name,
                                     int n, es_error *err) {
    *out = NULL;
    NOTYET(name);
}
WEAK void es_tokenizer_free(es_tokenizer *t) { (void)t; }
WEAK int32_t es_tokenizer_vocab_size(const es_tokenizer *t) { return 0; }
WEAK int32_t es_tokenizer_eos_id(const es_tokenizer *t) { return 1; }
WEAK int32_t es_tokenizer_pad_id(const es_tokenizer *t) { return 0; }
WEAK int32_t es_tokenizer_unk_id(const es_tokenizer *t) { return 2; }
WEAK const char *es_tokenizer_piece(const es_tokenizer *t, int32_t id) { return NULL; }
WEAK es_status es_tokenizer_encode(const es_tokenizer *t, const char *x, size_t l, es_token *o,
                                   size_t c, size_t *n, char *nb, size_t nc, size_t *nl,
                                   es_error *err) {
    NOTYET("tokenizer");
}
WEAK es_status es_tokenizer_decode(const es_tokenizer *t, const int32_t *ids, size_t n,
                                   unsigned f, char *o, size_t c, size_t *l, es_error *err) {
    NOTYET("tokenizer");
}
WEAK es_session_params es_session_params_default(void) { es_session_params p = {0}; return p; }
WEAK es_status es_session_new(es_session **out, const es_model *m, const es_session_params *p,
                              es_error *err) {
    *out = NULL;
    NOTYET("session");
}
WEAK void es_session_free(es_session *s) { (void)s; }
WEAK const char *es_session_errmsg(const es_session *s) { return "not yet built"; }
WEAK es_gen_params es_gen_params_default(void) { es_gen_params p = {0}; return p; }
WEAK es_status es_session_encode(es_session *s, float *o, const int32_t *i, const int32_t *m,
                                 int B, int S) {
    return ES_ERR_UNSUPPORTED;
}
WEAK es_status es_session_decoder_logits(es_session *s, float *l, const int32_t *i,
                                         const int32_t *m, int B, int S, const int32_t *d, int T) {
    return ES_ERR_UNSUPPORTED;
}
WEAK es_status es_session_generate(es_session *s, es_gen_result *o, const int32_t *src, int n,
                                   const es_gen_params *p) {
    return ES_ERR_UNSUPPORTED;
}
WEAK es_status es_session_score(es_session *s, double *lp, const int32_t *src, int ns,
                                const int32_t *tgt, int nt) {
    return ES_ERR_UNSUPPORTED;
}
