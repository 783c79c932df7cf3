/* Optimizers, learning-rate schedules and gradient clipping with PyTorch's
 * exact update rules (torch.optim.SGD / Adam / AdamW, torch.optim.lr_scheduler,
 * torch.nn.utils.clip_grad_norm_), checked against goldens written by torch.
 * Parameters are tensors of float; per-tensor flags say whether a tensor is
 * frozen (transfer learning) and whether weight decay applies (commonly off
 * for BN and biases). */
#ifndef CS_TRAIN_OPTIM_H
#define CS_TRAIN_OPTIM_H

#include <stddef.h>

#include "cuseg.h"

typedef enum cs_optimizer_kind { CS_OPT_SGD, CS_OPT_ADAM, CS_OPT_ADAMW } cs_optimizer_kind;

typedef struct cs_optim_config {
    cs_optimizer_kind kind;
    float momentum, dampening; /* SGD */
    int nesterov;              /* SGD */
    float beta1, beta2, eps;   /* Adam, AdamW */
    float weight_decay;        /* L2 (SGD, Adam) or decoupled (AdamW) */
} cs_optim_config;

typedef struct cs_optimizer cs_optimizer;

cuseg_status cs_optimizer_create(const cs_optim_config *config, int n_tensors, const size_t *counts,
                                 cs_optimizer **out);
void cs_optimizer_release(cs_optimizer *opt);
/* One step at learning rate lr. frozen / no_decay: per tensor, may be NULL. */
cuseg_status cs_optimizer_step(cs_optimizer *opt, float *const *params, const float *const *grads,
                               float lr, const unsigned char *frozen,
                               const unsigned char *no_decay);
/* The state, for checkpoints: the step count and each tensor's buffers
 * (SGD: momentum; Adam/AdamW: exp_avg then exp_avg_sq), NULL if none yet. */
long cs_optimizer_steps(const cs_optimizer *opt);
float *cs_optimizer_state(cs_optimizer *opt, int tensor, int which);
void cs_optimizer_set_steps(cs_optimizer *opt, long steps);
/* Restores state buffer `which` of a tensor from a checkpoint (allocating
 * it: a restored buffer counts as existing, as after PyTorch's first step). */
cuseg_status cs_optimizer_restore_state(cs_optimizer *opt, int tensor, int which, const float *data);

typedef enum cs_schedule_kind {
    CS_SCHED_CONSTANT,
    CS_SCHED_POLY,
    CS_SCHED_COSINE,
    CS_SCHED_STEP
} cs_schedule_kind;

typedef struct cs_schedule {
    cs_schedule_kind kind;
    float base_lr;
    long total_steps;   /* poly, cosine: the horizon */
    float power;        /* poly (PolynomialLR) */
    float min_lr;       /* cosine (CosineAnnealingLR eta_min) */
    long step_size;     /* step (StepLR) */
    float gamma;        /* step */
    long warmup_steps;  /* linear warm-up first (LinearLR), then the schedule restarts at 0 */
    float warmup_start; /* warm-up start factor */
} cs_schedule;

/* Learning rate for optimizer step `step` (0-based), in closed form. */
float cs_schedule_lr(const cs_schedule *s, long step);

/* Scales the gradients so that their global L2 norm is at most max_norm;
 * returns the norm before clipping (clip_grad_norm_). */
double cs_clip_grad_norm(float *const *grads, const size_t *counts, int n_tensors, double max_norm);

#endif
