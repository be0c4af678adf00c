/*
 * t5_state.h — trainable T5: fp32 master weights and gradients for every
 * HF tensor in one es_params registry (names = the model.safetensors names
 * HF save_pretrained writes, in HF state-dict order), plus es_t5_model /
 * es_t5_grads views into them so the training forward/backward
 * (nn/t5_train.h) and the inference engine run on the same buffers.
 *
 * Weight decay flags follow HF Trainer: matrices and embeddings decay;
 * layer norms and relative-attention biases (names containing "bias" or
 * a norm) do not. AdamW with decay_all reproduces plain
 * torch.optim.AdamW(model.parameters()) as the fixtures do.
 */
#ifndef ES_TRAIN_T5_STATE_H
#define ES_TRAIN_T5_STATE_H

#include "nn/params.h"
#include "nn/t5_train.h"

typedef struct es_t5_trainable {
    es_t5_config cfg;
    es_params ps;        /* values: fp32 master weights; grad: allocated when asked */
    es_t5_model w;       /* views into ps.data (usable by the inference engine) */
    es_t5_grads g;       /* views into ps.grad (all NULL without gradients) */
} es_t5_trainable;

/* Copies every weight of a loaded T5 model (upcast to F32 at load) into a
 * new registry; with_grad allocates zeroed gradients. ES_ERR_ARG when m is
 * not a T5 model. On failure t is left freed. */
es_status es_t5_trainable_init(es_t5_trainable *t, const es_model *m, int with_grad,
                               es_error *err);
void es_t5_trainable_free(es_t5_trainable *t);

/* Writes t as a normal HF model folder `dir` (created if missing):
 * model.safetensors (F32, every registry tensor, __metadata__ format=pt,
 * edgeseq_format), and copies config.json plus the tokenizer files
 * (spiece.model, tokenizer_config.json, special_tokens_map.json,
 * generation_config.json) present in src_dir. Each file is written
 * atomically. */
es_status es_t5_trainable_save(const es_t5_trainable *t, const char *dir, const char *src_dir,
                               es_error *err);

/* mkdir -p for one level (existing folder is fine). */
es_status es_t5_mkdir(const char *dir, es_error *err);

#endif
