/* What the CPU and CUDA convolutions share. */
#ifndef CS_CONV_H
#define CS_CONV_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The step's weights (PyTorch layout) and bias (zeros without one), with a
 * following batch norm folded in when step->bn is set (models.md §0.5):
 * W' = W * s and b' = (b - mean) * s + beta per output channel, with
 * s = gamma / sqrt(var + eps), computed in double. Caller frees both. */
cuseg_status cs_conv_folded_params(const cs_step *st, const cuseg_graph *g, float **weights,
                                   float **bias);

#ifdef __cplusplus
}
#endif

#endif
