/*
 * train.h — internal interface of the training core (src/train): losses,
 * optimizers, schedules, checkpoints, trainer loop. Depends on the
 * inference core; the inference core never includes this header.
 */
#ifndef ES_TRAIN_TRAIN_H
#define ES_TRAIN_TRAIN_H

#include "core/common.h"

#endif
