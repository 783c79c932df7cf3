/* Shared by the CUDA sources: status conversion, launch helpers and the
 * storage types of the three precisions. */
#ifndef CS_CUDA_COMMON_CUH
#define CS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>

extern "C" {
#include "core/status.h"
}

/* Turns a CUDA error into a cuseg status whose message names the call. An
 * allocation failure is CUSEG_ERR_OUT_OF_MEMORY and is not sticky: the
 * context stays usable. */
static inline cuseg_status cs_cuda_status(cudaError_t err, const char *what) {
    if (err == cudaSuccess) return CUSEG_OK;
    cuseg_status st = err == cudaErrorMemoryAllocation ? CUSEG_ERR_OUT_OF_MEMORY : CUSEG_ERR_DEVICE;
    cudaGetLastError(); /* clear a non-sticky error so the next call starts clean */
    return cs_error(st, "%s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
}

static inline cuseg_status cs_cudnn_status(cudnnStatus_t err, const char *what) {
    if (err == CUDNN_STATUS_SUCCESS) return CUSEG_OK;
    cuseg_status st = err == CUDNN_STATUS_ALLOC_FAILED ? CUSEG_ERR_OUT_OF_MEMORY
                      : err == CUDNN_STATUS_NOT_SUPPORTED ? CUSEG_ERR_UNSUPPORTED
                                                          : CUSEG_ERR_DEVICE;
    return cs_error(st, "%s: %s", what, cudnnGetErrorString(err));
}

#define CS_CUDA_CHECK(call) CS_CHECK(cs_cuda_status((call), #call))
#define CS_CUDNN_CHECK(call) CS_CHECK(cs_cudnn_status((call), #call))
/* After a kernel launch: catches bad launch configurations at once. */
#define CS_CUDA_CHECK_LAUNCH(what) CS_CHECK(cs_cuda_status(cudaGetLastError(), what))

static inline unsigned cs_cuda_blocks(size_t n, unsigned threads) {
    return (unsigned)((n + threads - 1) / threads);
}

/* Kernels use grid-stride loops, so a bounded grid covers any size. */
constexpr unsigned kCsThreads = 256;
static inline unsigned cs_grid(size_t count) {
    const unsigned max_blocks = 65535u * 16u, b = cs_cuda_blocks(count, kCsThreads);
    return b == 0 ? 1 : (b < max_blocks ? b : max_blocks);
}
#define CS_GRID_LOOP(i, count)                                                                     \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (count);                   \
         i += (size_t)gridDim.x * blockDim.x)

/* Splits an element index of an N x H x W x C (NHWC) tensor into its
 * coordinates; every one-thread-per-element kernel starts with it. */
__device__ __forceinline__ void cs_nhwc_split(size_t e, int H, int W, int C, size_t *n, int *h,
                                              int *w, int *c) {
    *c = (int)(e % (size_t)C);
    e /= (size_t)C;
    *w = (int)(e % (size_t)W);
    e /= (size_t)W;
    *h = (int)(e % (size_t)H);
    *n = e / (size_t)H;
}

/* Storage types: activations are float, __half or __nv_bfloat16 by
 * precision; arithmetic is always float (load converts up, store rounds). */
__device__ __forceinline__ float cs_load(float v) { return v; }
__device__ __forceinline__ float cs_load(__half v) { return __half2float(v); }
__device__ __forceinline__ float cs_load(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ __forceinline__ T cs_store(float v);
template <> __device__ __forceinline__ float cs_store<float>(float v) { return v; }
template <> __device__ __forceinline__ __half cs_store<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 cs_store<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

#endif
