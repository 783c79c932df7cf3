/* Training checkpoints: one safetensors file with every graph parameter
 * ("model.<name>", running statistics included), the optimizer's buffers
 * ("optim0.<name>", "optim1.<name>": momentum, or Adam's exp_avg and
 * exp_avg_sq) and, in __metadata__, the epoch, the optimizer step (which
 * fixes the schedule position), the seed and dropout counter (which with the
 * epoch fix every random draw), the fp16 loss scaler's state, the best
 * validation mIoU so far and the recipe. Written atomically (temporary file, fsync, rename), so an
 * interrupted run leaves the previous checkpoint intact. */
#ifndef CS_TRAIN_CHECKPOINT_H
#define CS_TRAIN_CHECKPOINT_H

#include <stdint.h>

#include "graph/graph.h"
#include "train/optim.h"

typedef struct cs_ckpt_state {
    int epoch;  /* epochs completed */
    long step;  /* optimizer steps taken */
    uint64_t seed;
    uint64_t dropout_draws;
    double best_miou; /* -1: none yet */
    int best_epoch;
    float loss_scale;       /* fp16 dynamic loss scaler (train/loss_scale.h); */
    int loss_scale_good_steps; /* a checkpoint without them loads the defaults */
} cs_ckpt_state;

/* trainable[t]: the graph parameter of optimizer tensor t. */
cuseg_status cs_checkpoint_save(const char *path, const cuseg_graph *g, cs_optimizer *opt,
                                const int *trainable, int n_trainable, const cs_ckpt_state *state,
                                const char *recipe);
/* Restores the parameters, the optimizer and the state. recipe_out receives
 * the stored recipe (truncated to size). Anything missing or of the wrong
 * size is an error naming the file and the tensor; nothing is changed then. */
cuseg_status cs_checkpoint_load(const char *path, cuseg_graph *g, cs_optimizer *opt,
                                const int *trainable, int n_trainable, cs_ckpt_state *state,
                                char *recipe_out, size_t size);

#endif
