/* Segmentation losses on NHWC logits with int32 targets, each returning the
 * loss and (optionally) its gradient with respect to the logits, following
 * the PyTorch / segmentation_models_pytorch definitions of models.md §6
 * exactly (checked against goldens written by those libraries). Sums run
 * in double. `pixels` = N*H*W, `classes` = C (the channel count). */
#ifndef CS_TRAIN_LOSS_H
#define CS_TRAIN_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "cuseg.h"

typedef enum cs_reduction {
    CS_REDUCE_MEAN,       /* PyTorch: sum(w[t] l) / sum(w[t]) over valid pixels */
    CS_REDUCE_VALID_MEAN, /* Caffe normalize: sum(w[t] l) / number of valid pixels */
    CS_REDUCE_SUM,
} cs_reduction;

/* torch.nn.functional.cross_entropy(logits, target, weight, ignore_index,
 * reduction, label_smoothing). weights: C floats or NULL. dlogits may be
 * NULL; it is overwritten (not accumulated). A target outside [0, C) that is
 * not ignore_index is an error naming the pixel. */
cuseg_status cs_loss_cross_entropy(const float *logits, const int32_t *target, size_t pixels,
                                   int classes, int ignore_index, const float *weights,
                                   float label_smoothing, cs_reduction reduction, double *loss,
                                   float *dlogits);

/* binary_cross_entropy_with_logits(logits, target, pos_weight), mean over
 * all elements; target values in [0, 1]; pos_weight: C floats or NULL. */
cuseg_status cs_loss_bce_with_logits(const float *logits, const float *target, size_t pixels,
                                     int classes, const float *pos_weight, double *loss,
                                     float *dlogits);

/* smp DiceLoss(mode="multiclass" for C > 1, "binary" for C = 1,
 * from_logits=True, smooth, eps=1e-7, ignore_index; log_loss). For C = 1
 * the target holds 0/1 (or ignore_index). */
cuseg_status cs_loss_dice(const float *logits, const int32_t *target, size_t pixels, int classes,
                          int ignore_index, float smooth, int log_loss, double *loss,
                          float *dlogits);

/* smp FocalLoss (multiclass: one-vs-rest binary focal per class, mean over
 * classes; binary for C = 1), from logits, alpha < 0 meaning None. */
cuseg_status cs_loss_focal(const float *logits, const int32_t *target, size_t pixels, int classes,
                           int ignore_index, float alpha, float gamma, double *loss,
                           float *dlogits);

#endif
