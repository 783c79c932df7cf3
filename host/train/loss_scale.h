/* Dynamic loss scaling for fp16 training (PyTorch's torch.amp.GradScaler
 * semantics): the loss gradient is multiplied by `scale` before the
 * backward so that small gradients survive fp16's range; the parameter
 * gradients are divided by it again before the optimizer. A step whose
 * gradients hold an inf or NaN is skipped and the scale halved (backoff);
 * after `growth_interval` consecutive good steps the scale doubles. BF16 has
 * fp32's exponent range and needs none of this. */
#ifndef CS_TRAIN_LOSS_SCALE_H
#define CS_TRAIN_LOSS_SCALE_H

#include <stddef.h>

typedef struct cs_loss_scaler {
    float scale;         /* multiplies d(loss)/d(outputs); GradScaler's init_scale 2^16 */
    float growth_factor; /* 2 */
    float backoff_factor; /* 0.5 */
    int growth_interval; /* 2000 */
    int good_steps;      /* consecutive steps without inf/NaN since the last change */
} cs_loss_scaler;

/* GradScaler's defaults: scale 65536, growth 2, backoff 0.5, interval 2000. */
void cs_loss_scaler_init(cs_loss_scaler *s);

/* Divides every gradient by the scale (in place) and reports whether all
 * of them are finite (1) or any is inf/NaN (0). The check is on the scaled
 * values, before the division, as GradScaler's unscale_ does it
 * (multiplying by 1/scale). */
int cs_loss_scaler_unscale(const cs_loss_scaler *s, float *const *grads, const size_t *counts,
                           int n);

/* After a step: finite = the result of unscale. Backoff on overflow (the
 * caller skips the optimizer step), growth after growth_interval good
 * steps in a row. */
void cs_loss_scaler_update(cs_loss_scaler *s, int finite);

#endif
