/* See cpu_peak.h. Each kernel runs CHAINS independent dependency chains
 * acc = acc * a + b. To keep both FMA pipes busy the number of chains must be
 * at least latency x throughput (4 cycles x 2 pipes = 8 on Zen 4/5 and recent
 * Intel cores); 12 (AVX2: 16 ymm registers, 2 hold a and b) and 24 (AVX-512:
 * 32 zmm) leave a margin. a and b come from volatiles and the accumulators
 * are summed into a volatile sink, so the compiler can neither fold nor drop
 * the loop; without -ffast-math it may not reassociate the chains either. */
#define _POSIX_C_SOURCE 200809L
#include "cpu_peak.h"

#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

double cpu_peak_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* a < 1 and b small: every chain converges to b / (1 - a) = 1, far from
 * overflow and denormals, whatever the iteration count. */
static volatile float g_a = 0.999999f, g_b = 1e-6f;

#define AVX2_CHAINS 12
#define AVX512_CHAINS 24

/* The chains are named variables, not an array: GCC keeps an array of vectors
 * in memory and the loop would then time loads and stores, not FMAs. */
#define CHAINS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define CHAINS24(X)                                                                          \
    CHAINS12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)

__attribute__((target("avx2,fma"), noinline)) static float fma_avx2(int64_t iters) {
    const __m256 a = _mm256_set1_ps(g_a), b = _mm256_set1_ps(g_b);
#define DECL(i) __m256 acc##i = _mm256_set1_ps((float)(i) * 0.01f);
#define STEP(i) acc##i = _mm256_fmadd_ps(acc##i, a, b);
#define SUM(i) s = _mm256_add_ps(s, acc##i);
    CHAINS12(DECL)
    for (int64_t it = 0; it < iters; ++it) {
        CHAINS12(STEP)
    }
    __m256 s = _mm256_setzero_ps();
    CHAINS12(SUM)
#undef DECL
#undef STEP
#undef SUM
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    return lanes[0] + lanes[7];
}

__attribute__((target("avx512f"), noinline)) static float fma_avx512(int64_t iters) {
    const __m512 a = _mm512_set1_ps(g_a), b = _mm512_set1_ps(g_b);
#define DECL(i) __m512 acc##i = _mm512_set1_ps((float)(i) * 0.01f);
#define STEP(i) acc##i = _mm512_fmadd_ps(acc##i, a, b);
#define SUM(i) s = _mm512_add_ps(s, acc##i);
    CHAINS24(DECL)
    for (int64_t it = 0; it < iters; ++it) {
        CHAINS24(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    CHAINS24(SUM)
#undef DECL
#undef STEP
#undef SUM
    return _mm512_reduce_add_ps(s);
}

/* Fallback when there is no vector FMA: scalar multiply-adds, 8 chains. */
static float fma_scalar(int64_t iters) {
    const float a = g_a, b = g_b;
    float acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = (float)i * 0.01f;
    for (int64_t it = 0; it < iters; ++it)
        for (int i = 0; i < 8; ++i) acc[i] = acc[i] * a + b;
    float s = 0;
    for (int i = 0; i < 8; ++i) s += acc[i];
    return s;
}

typedef float (*fma_kernel)(int64_t);
static volatile float g_sink;

/* Seconds for `threads` threads to run `iters` iterations each (the slowest
 * thread decides, as in a parallel conv). */
static double time_kernel(fma_kernel k, int64_t iters, int threads) {
    double t0 = cpu_peak_now();
    float sum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    sum += k(iters);
    double t = cpu_peak_now() - t0;
    g_sink = sum;
    return t;
}

/* GFLOP/s: the best of `repeats` runs of about `seconds`. */
static double measure(fma_kernel k, int flops_per_iter, int threads, double seconds, int repeats) {
    int64_t iters = 1 << 16;
    double t = time_kernel(k, iters, threads); /* warms up the threads and the clocks */
    while (t < 0.02) {
        iters *= 4;
        t = time_kernel(k, iters, threads);
    }
    iters = (int64_t)((double)iters * seconds / t) + 1;
    double best = 0;
    for (int r = 0; r < repeats; ++r) {
        t = time_kernel(k, iters, threads);
        double gflops = (double)flops_per_iter * (double)iters * threads / t * 1e-9;
        if (gflops > best) best = gflops;
    }
    return best;
}

int cpu_peak_measure(int threads, double seconds, int repeats, cpu_peak *out) {
    memset(out, 0, sizeof *out);
    if (threads < 1) threads = 1;
    if (repeats < 1) repeats = 1;
    out->threads = threads;
    __builtin_cpu_init();
    out->has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    out->has_avx512 = __builtin_cpu_supports("avx512f");
    /* FLOP per iteration: chains x lanes x 2 (multiply and add). */
    if (out->has_avx2) {
        out->avx2_1t = measure(fma_avx2, AVX2_CHAINS * 8 * 2, 1, seconds, repeats);
        out->avx2_nt = threads == 1 ? out->avx2_1t
                                    : measure(fma_avx2, AVX2_CHAINS * 8 * 2, threads, seconds, repeats);
    }
    if (out->has_avx512) {
        out->avx512_1t = measure(fma_avx512, AVX512_CHAINS * 16 * 2, 1, seconds, repeats);
        out->avx512_nt = threads == 1 ? out->avx512_1t
                                      : measure(fma_avx512, AVX512_CHAINS * 16 * 2, threads, seconds,
                                                repeats);
    }
    if (!out->has_avx2 && !out->has_avx512) {
        out->peak_1t = measure(fma_scalar, 8 * 2, 1, seconds, repeats);
        out->peak_nt = threads == 1 ? out->peak_1t : measure(fma_scalar, 8 * 2, threads, seconds, repeats);
        out->peak_isa = "scalar";
        return -1;
    }
    /* On Zen 4, 512-bit FMAs are split in two and give the AVX2 rate: report the max. */
    out->peak_1t = out->avx512_1t > out->avx2_1t ? out->avx512_1t : out->avx2_1t;
    out->peak_nt = out->avx512_nt > out->avx2_nt ? out->avx512_nt : out->avx2_nt;
    out->peak_isa = out->avx512_nt > out->avx2_nt ? "avx512" : "avx2";
    return 0;
}
