/*
 * byte_transformer.c — ByteTransformer / ByteFunnelTransformer encoders
 * (placeholder while the QRNN path is brought up; registration refuses).
 */
#include "model/byte_internal.h"

es_status es_byte_tf_register(es_byte_model *m, es_error *err) {
    (void)m;
    return es_errf(err, ES_ERR_UNSUPPORTED, "byte transformer: not built yet");
}
es_status es_byte_tf_ws_alloc(es_byte_ws *ws, es_error *err) {
    (void)ws;
    return es_errf(err, ES_ERR_UNSUPPORTED, "byte transformer: not built yet");
}
void es_byte_tf_ws_free(es_byte_ws *ws) { (void)ws; }
void es_byte_tf_forward(es_byte_ws *ws, int train, es_rng *rng) {
    (void)ws;
    (void)train;
    (void)rng;
}
void es_byte_tf_backward(es_byte_ws *ws, es_byte_model *m, float *denc, float *dx1) {
    (void)ws;
    (void)m;
    (void)denc;
    (void)dx1;
}
