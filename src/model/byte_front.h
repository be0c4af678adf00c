/*
 * byte_front.h — the byte front end of every byte classifier as lookup
 * tables: embedding [→ bottleneck + ReLU] → causal conv (byte_front.c).
 */
#ifndef ES_MODEL_BYTE_FRONT_H
#define ES_MODEL_BYTE_FRONT_H

#include "model/byte_internal.h"

/* Allocates ws->front (tables and, for a training ws, backward scratch). */
es_status es_byte_front_alloc(es_byte_ws *ws, es_error *err);
void es_byte_front_free(es_byte_ws *ws);
/* ws->c (rows0, D) = gbst conv of the stage-0 input of ws->ids (layout
 * ws->s0, pads zeroed), rebuilding the tables when the weights changed. */
void es_byte_front_forward(es_byte_ws *ws, const es_byte_model *m);
/* dC = ws->g0a (rows0, D, pads zero) → adds the gradients of
 * gbst.conv.*, bottleneck.* and embed.weight. Needs the training forward
 * just before (its tables and ids). */
void es_byte_front_backward(es_byte_ws *ws, es_byte_model *m);

#endif
