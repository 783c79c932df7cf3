/* See gpu_peak.h. */
#include "gpu_peak.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

/* Element i of operand `seed`: k / 64 with k in [-64, 64] from a hash of
 * (seed, i). Seven significant bits: exact in bf16, fp16, tf32 and fp32, so
 * every type multiplies the same numbers and the host can recompute them. */
__host__ __device__ inline float operand_value(uint32_t seed, uint64_t i) {
    uint32_t h = (uint32_t)i ^ ((uint32_t)(i >> 32) * 0x9e3779b9u) ^ (seed * 0x85ebca6bu);
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return (float)((int)(h % 129u) - 64) * (1.0f / 64.0f);
}

template <class T> __device__ T from_float(float v);
template <> __device__ float from_float<float>(float v) { return v; }
template <> __device__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

template <class T> __global__ void fill_kernel(T *p, size_t count, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        p[i] = from_float<T>(operand_value(seed, i));
}

/* Everything the measurement holds, released on every return path. */
struct Resources {
    cudaStream_t stream = nullptr;
    cublasHandle_t handle = nullptr;
    void *a = nullptr, *b = nullptr, *c = nullptr;
    cudaEvent_t ev[2] = {nullptr, nullptr};
    ~Resources() {
        if (stream) cudaStreamSynchronize(stream);
        if (handle) cublasDestroy(handle);
        for (cudaEvent_t e : ev)
            if (e) cudaEventDestroy(e);
        cudaFree(a);
        cudaFree(b);
        cudaFree(c);
        if (stream) cudaStreamDestroy(stream);
        cudaGetLastError(); /* leave no error behind for the caller's next CUDA call */
    }
};

int fail(char *err, size_t size, const char *fmt, ...) {
    if (err && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
    }
    cudaGetLastError();
    return -1;
}

template <class T> cudaError_t fill(T *p, size_t count, uint32_t seed, cudaStream_t stream) {
    const size_t blocks = (count + 255) / 256, max_blocks = 65535u * 16u;
    fill_kernel<T><<<(unsigned)(blocks < max_blocks ? blocks : max_blocks), 256, 0, stream>>>(p, count,
                                                                                          seed);
    return cudaGetLastError();
}

/* C element (column-major, 2 or 4 bytes) as float. */
float element_value(const unsigned char *bytes, int precision) {
    if (precision == 2 || precision == 3) {
        uint16_t bits;
        memcpy(&bits, bytes, 2);
        if (precision == 2) {
            const uint32_t f = (uint32_t)bits << 16; /* bf16 is the top half of a float */
            float v;
            memcpy(&v, &f, 4);
            return v;
        }
        __half_raw raw;
        raw.x = bits;
        return __half2float(__half(raw));
    }
    float v;
    memcpy(&v, bytes, 4);
    return v;
}

} // namespace

extern "C" const char *gpu_peak_name(int precision) {
    switch (precision) {
    case 0: return "cuBLAS fp32 GEMM (FMA, no TF32)";
    case 1: return "cuBLAS tf32 GEMM";
    case 2: return "cuBLAS bf16 GEMM (fp32 accumulation)";
    case 3: return "cuBLAS fp16 GEMM (fp32 accumulation)";
    default: return "?";
    }
}

extern "C" int gpu_peak_measure(int device, int precision, int n, int warmup, int repeats,
                                gpu_peak *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    if (precision < 0 || precision > 3 || n < 64 || warmup < 0 || repeats < 1)
        return fail(err, err_size, "gpu_peak_measure: bad argument");
    const cudaDataType_t type = precision == 2 ? CUDA_R_16BF : precision == 3 ? CUDA_R_16F : CUDA_R_32F;
    /* Default math mode: CUBLAS_COMPUTE_32F never uses TF32 there (cuseg's FP32). */
    const cublasComputeType_t compute = precision == 1 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const size_t esize = type == CUDA_R_32F ? 4 : 2, count = (size_t)n * n;
    Resources r;
    cudaError_t e;
#define PEAK_CUDA(call)                                                                            \
    do {                                                                                           \
        if ((e = (call)) != cudaSuccess)                                                           \
            return fail(err, err_size, "%s: %s", #call, cudaGetErrorString(e));                    \
    } while (0)
    PEAK_CUDA(cudaSetDevice(device));
    PEAK_CUDA(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
    PEAK_CUDA(cudaEventCreate(&r.ev[0]));
    PEAK_CUDA(cudaEventCreate(&r.ev[1]));
    PEAK_CUDA(cudaMalloc(&r.a, count * esize));
    PEAK_CUDA(cudaMalloc(&r.b, count * esize));
    PEAK_CUDA(cudaMalloc(&r.c, count * esize));
    if (type == CUDA_R_16BF) {
        PEAK_CUDA(fill((__nv_bfloat16 *)r.a, count, 1u, r.stream));
        PEAK_CUDA(fill((__nv_bfloat16 *)r.b, count, 2u, r.stream));
    } else if (type == CUDA_R_16F) {
        PEAK_CUDA(fill((__half *)r.a, count, 1u, r.stream));
        PEAK_CUDA(fill((__half *)r.b, count, 2u, r.stream));
    } else {
        PEAK_CUDA(fill((float *)r.a, count, 1u, r.stream));
        PEAK_CUDA(fill((float *)r.b, count, 2u, r.stream));
    }
    /* NaN in all three types: an element the GEMM does not write fails the check. */
    PEAK_CUDA(cudaMemsetAsync(r.c, 0xff, count * esize, r.stream));
    cublasStatus_t bs = cublasCreate(&r.handle);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        r.handle = nullptr;
        return fail(err, err_size, "cublasCreate: %s", cublasGetStatusString(bs));
    }
    if ((bs = cublasSetStream(r.handle, r.stream)) != CUBLAS_STATUS_SUCCESS)
        return fail(err, err_size, "cublasSetStream: %s", cublasGetStatusString(bs));
    const float alpha = 1.0f, beta = 0.0f;
    /* Column-major C (n x n) = A^T B: C[i + j n] = sum_k A[k + i n] B[k + j n]. */
    auto gemm = [&]() {
        return cublasGemmEx(r.handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, r.a, type, n, r.b,
                            type, n, &beta, r.c, type, n, compute, CUBLAS_GEMM_DEFAULT);
    };
    for (int i = 0; i < warmup; ++i)
        if ((bs = gemm()) != CUBLAS_STATUS_SUCCESS)
            return fail(err, err_size, "cublasGemmEx (%s, n=%d): %s", gpu_peak_name(precision), n,
                        cublasGetStatusString(bs));
    PEAK_CUDA(cudaStreamSynchronize(r.stream));
    float best = 0.0f;
    for (int i = 0; i < repeats; ++i) {
        PEAK_CUDA(cudaEventRecord(r.ev[0], r.stream));
        if ((bs = gemm()) != CUBLAS_STATUS_SUCCESS)
            return fail(err, err_size, "cublasGemmEx (%s, n=%d): %s", gpu_peak_name(precision), n,
                        cublasGetStatusString(bs));
        PEAK_CUDA(cudaEventRecord(r.ev[1], r.stream));
        PEAK_CUDA(cudaEventSynchronize(r.ev[1]));
        float ms = 0.0f;
        PEAK_CUDA(cudaEventElapsedTime(&ms, r.ev[0], r.ev[1]));
        if (i == 0 || ms < best) best = ms;
    }
    PEAK_CUDA(cudaStreamSynchronize(r.stream));
    /* A sample of C against float64: products of multiples of 1/64 are exact,
     * so fp32 and tf32 sums are exact too (well under 24 bits); 16-bit C
     * rounds once (2^-9 bf16, 2^-12 fp16, relative). The error is relative to
     * max(|ref|, sqrt(sum (a b)^2)) so that a result near zero is not judged
     * on its own tiny size. */
    const double tol = precision == 2 ? 1e-2 : precision == 3 ? 2e-3 : 1e-5;
    double max_err = 0.0;
    for (int s = 0; s < 16; ++s) {
        const uint64_t i = (uint64_t)(operand_value(7u, (uint64_t)s) * 64 + 64) * (uint64_t)(n - 1) / 128,
                       j = (uint64_t)(operand_value(8u, (uint64_t)s) * 64 + 64) * (uint64_t)(n - 1) / 128;
        unsigned char bytes[4];
        PEAK_CUDA(cudaMemcpy(bytes, (const char *)r.c + (i + j * (uint64_t)n) * esize, esize,
                             cudaMemcpyDeviceToHost));
        const double got = element_value(bytes, precision);
        double ref = 0.0, sq = 0.0;
        for (uint64_t k = 0; k < (uint64_t)n; ++k) {
            const double p = (double)operand_value(1u, k + i * (uint64_t)n) *
                             (double)operand_value(2u, k + j * (uint64_t)n);
            ref += p;
            sq += p * p;
        }
        const double scale = std::fmax(std::fabs(ref), std::sqrt(sq)), err_ij = std::fabs(got - ref) / scale;
        if (!std::isfinite(got) || !(err_ij <= tol))
            return fail(err, err_size,
                        "%s, n=%d: C[%llu][%llu] = %g, expected %g (relative error %.3g > %.3g)",
                        gpu_peak_name(precision), n, (unsigned long long)i, (unsigned long long)j, got,
                        ref, err_ij, tol);
        if (err_ij > max_err) max_err = err_ij;
    }
#undef PEAK_CUDA
    out->n = n;
    out->best_ms = best;
    out->gmacs = (double)n * n * n / (best * 1e-3) * 1e-9;
    out->max_err = max_err;
    return 0;
}
