/* Shared by the CUDA sources: status conversion and launch checks. */
#ifndef CS_CUDA_COMMON_CUH
#define CS_CUDA_COMMON_CUH

#include <cuda_runtime.h>

extern "C" {
#include "core/status.h"
}

/* Turns a CUDA error into a cuseg status whose message names the call. */
static inline cuseg_status cs_cuda_status(cudaError_t err, const char *what) {
    if (err == cudaSuccess) return CUSEG_OK;
    cuseg_status st = err == cudaErrorMemoryAllocation ? CUSEG_ERR_OUT_OF_MEMORY : CUSEG_ERR_DEVICE;
    return cs_error(st, "%s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
}

#define CS_CUDA_CHECK(call) CS_CHECK(cs_cuda_status((call), #call))
/* After a kernel launch: catches bad launch configurations at once. */
#define CS_CUDA_CHECK_LAUNCH(what) CS_CHECK(cs_cuda_status(cudaGetLastError(), what))

static inline unsigned cs_cuda_blocks(size_t n, unsigned threads) {
    return (unsigned)((n + threads - 1) / threads);
}

#endif
