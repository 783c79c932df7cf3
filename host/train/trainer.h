/* The training loop behind `cuseg train`: epochs of shuffled, augmented
 * batches through the CPU autodiff, a loss (weighted sum of cross-entropy,
 * Dice and focal), the optimizer and schedule; validation each epoch
 * (confusion matrix: mIoU, pixel and mean accuracy) with an inference
 * session; a CSV log; atomic checkpoints every epoch (exact resume); the
 * best model by validation mIoU and the final model as complete model files
 * (cuseg_model_load). */
#ifndef CS_TRAIN_TRAINER_H
#define CS_TRAIN_TRAINER_H

#include <stdint.h>

#include "train/augment.h"
#include "train/data.h"
#include "train/optim.h"

#define CS_TRAIN_MAX_CLASSES 256

/* How batch norms behave while training: batch statistics (PyTorch's
 * model.train()); the running statistics, kept fixed, with gamma/beta still
 * learning (bn.eval()); or eval plus gamma/beta frozen (requires_grad False). */
typedef enum cs_bn_mode { CS_BN_TRAIN, CS_BN_EVAL, CS_BN_FROZEN } cs_bn_mode;

typedef struct cs_train_config {
    const char *arch, *arch_opts;
    const char *init; /* optional initial weights (a model or weights file) */
    /* Load only the tensors of `init` whose name and shape match (transfer
     * learning to another class count); the others keep the fresh
     * initialisation and are reported on stderr. Off: every tensor must match. */
    int init_partial;
    const char *train_data, *val_data; /* val may be NULL */
    const char *root;                  /* base of relative paths in pair lists (NULL: the list's directory) */
    const char *train_split, *val_split; /* VOC */
    cs_label_spec labels;
    cs_augment augment; /* training; validation uses only its resize policy */
    int epochs, batch, val_batch;
    int threads; /* compute threads */
    int workers; /* loader threads */
    int prefetch;
    uint64_t seed;
    cs_optim_config optim;
    cs_schedule schedule; /* total_steps / step_size are set by the trainer from *_epochs when 0 */
    float step_epochs;    /* step schedule: decay every this many epochs */
    float clip;           /* max gradient norm (0: off) */
    int no_decay_norm_bias;
    const char *freeze; /* comma-separated parameter-name prefixes */
    cs_bn_mode bn_mode;
    float w_ce, w_dice, w_focal, aux_weight;
    float label_smoothing, focal_gamma, focal_alpha;
    float class_weights[CS_TRAIN_MAX_CLASSES];
    int has_class_weights;
    const char *out_dir;
    int resume;
    int save_every; /* keep epoch_N.ckpt every N epochs (0: only last) */
    const char *class_names; /* comma-separated, stored in the model */
    const char *device;      /* training and validation: cpu | auto | cuda[:N] */
    cuseg_precision precision; /* training on CUDA: fp32, bf16, fp16 (with loss scaling) */
    int quiet;
} cs_train_config;

/* Sets the defaults (SGD momentum 0.9, lr 0.01, poly 0.9, CE, batch 4,
 * 10 epochs, seed 0, ignore 255, ...). */
void cs_train_defaults(cs_train_config *c);

cuseg_status cs_train_run(const cs_train_config *c);

#endif
