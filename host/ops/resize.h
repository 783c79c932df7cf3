/* Bilinear resize kernels on plain NHWC float buffers, outside the graph:
 * the op's CPU forward runs on them, and the backward pass (a gather, the
 * reference for the CUDA kernel in cuda/resize.cu) is exposed for training
 * code and tests. ratio_h / ratio_w come from cs_bilinear_ratio. */
#ifndef CS_RESIZE_H
#define CS_RESIZE_H

#include "cuseg.h"
#include "graph/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y (n x h_out x w_out x c) = bilinear resize of x (n x h_in x w_in x c). */
cuseg_status cs_resize_bilinear_forward_cpu(const float *x, float *y, int n, int h_in, int w_in,
                                            int c, int h_out, int w_out, float ratio_h,
                                            float ratio_w, int align_corners, int n_threads);

/* dx (n x h_in x w_in x c) = adjoint of the forward above applied to dy
 * (n x h_out x w_out x c), or dx += that when `accumulate`. Without it every
 * dx element is written (no need to clear it). Each element sums the dy
 * elements whose taps read it (a gather), so no two threads write the same
 * element. */
cuseg_status cs_resize_bilinear_backward_cpu(const float *dy, float *dx, int n, int h_in, int w_in,
                                             int c, int h_out, int w_out, float ratio_h,
                                             float ratio_w, int align_corners, int accumulate,
                                             int n_threads);

/* The scale factors that define the coordinate mapping of a resize node:
 * the node's own when it was given scale factors and no size, else 0 (the
 * ratio is then in / out), as PyTorch distinguishes the two. */
void cs_resize_mapping_scales(const cs_node *node, double *scale_h, double *scale_w);

#ifdef __cplusplus
}
#endif

#endif
