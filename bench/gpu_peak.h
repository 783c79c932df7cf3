/* gpu_peak: a CUDA device's matrix-multiply peak for one precision, measured
 * at run time with cuBLAS (the GPU counterpart of cpu_peak.h).
 *
 * One large square GEMM, C = A^T B with n x n operands, through cublasGemmEx
 * with the same data and compute types as cuseg's own cuBLAS path in that
 * precision (cuda/conv.cu):
 *   fp32  float operands, CUBLAS_COMPUTE_32F, default math mode: IEEE FMA on
 *         the CUDA cores (no TF32), as cuseg's FP32 (CUDNN_FMA_MATH) computes
 *   tf32  float operands, CUBLAS_COMPUTE_32F_FAST_TF32: tensor cores
 *   bf16  bfloat16 A, B and C, CUBLAS_COMPUTE_32F (float accumulation)
 *   fp16  float16 A, B and C, CUBLAS_COMPUTE_32F (float accumulation)
 * Warm-up GEMMs first (handle creation, kernel loading, clocks), then
 * `repeats` GEMMs each timed with CUDA events; the fastest one counts.
 * The operands are random multiples of 1/64 in [-1, 1] (never zeros: they
 * run faster than real data), exact in every one of the four types, so a
 * sample of C is checked against a float64 reference: a GEMM that failed
 * silently cannot report a speed. Built only with the CUDA backend. */
#ifndef CUSEG_BENCH_GPU_PEAK_H
#define CUSEG_BENCH_GPU_PEAK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpu_peak {
    double gmacs;   /* multiply-accumulates per second / 1e9 (n^3 / fastest time) */
    double best_ms; /* the fastest GEMM                                           */
    double max_err; /* largest |C - reference| / sqrt(sum_k (a_k b_k)^2) of the sample */
    int n;          /* the operands' size                                         */
} gpu_peak;

/* Measures `precision` (a cuseg_precision: 0 fp32, 1 tf32, 2 bf16, 3 fp16) on
 * CUDA device `device` with n x n operands (n >= 64; 8192 fills an H100).
 * Allocates three n x n matrices and a cuBLAS handle and frees them before
 * returning. Returns 0 on success; otherwise -1 with a message in err. */
int gpu_peak_measure(int device, int precision, int n, int warmup, int repeats, gpu_peak *out,
                     char *err, size_t err_size);

/* "cuBLAS bf16 GEMM" etc. for `precision` (static storage). */
const char *gpu_peak_name(int precision);

#ifdef __cplusplus
}
#endif

#endif
