/* The bilinear resize's backward kernel (NHWC float32) for training code;
 * the forward kernels are the ops' rows in resize.cu. ratio_h / ratio_w come
 * from cs_bilinear_ratio. All sizes must be positive; the launch is
 * asynchronous on `stream`. */
#ifndef CS_CUDA_RESIZE_CUH
#define CS_CUDA_RESIZE_CUH

#include <cuda_runtime.h>

#include "cuseg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dx (n x h_in x w_in x c) = adjoint of the bilinear resize applied to dy
 * (n x h_out x w_out x c): each dx element gathers the dy elements whose taps
 * read it (no atomics, every element written). The CPU reference is
 * cs_resize_bilinear_backward_cpu (host/ops/resize.h). */
cuseg_status cs_cuda_resize_bilinear_backward(const float *dy, float *dx, int n, int h_in, int w_in,
                                              int c, int h_out, int w_out, float ratio_h,
                                              float ratio_w, int align_corners,
                                              cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
