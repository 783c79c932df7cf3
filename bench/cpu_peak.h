/* cpu_peak: the machine's fp32 FMA peak, measured at run time.
 *
 * Every benchmark in bench/ reports its speed as a fraction of this figure, so
 * that a number means the same thing on any machine. The kernels are chains
 * of independent vector FMAs held in registers (no memory traffic), compiled
 * for AVX2+FMA and AVX-512F with target attributes and picked at run time, so
 * the build stays portable (no -march=native). */
#ifndef CUSEG_BENCH_CPU_PEAK_H
#define CUSEG_BENCH_CPU_PEAK_H

typedef struct cpu_peak {
    int threads;           /* T used for the *_nt figures                     */
    int has_avx2;          /* AVX2 and FMA present (figures are 0 otherwise)  */
    int has_avx512;        /* AVX-512F present                                */
    double avx2_1t;        /* GFLOP/s, 1 thread, 256-bit FMA                  */
    double avx2_nt;        /* GFLOP/s, T threads                              */
    double avx512_1t;      /* GFLOP/s, 1 thread, 512-bit FMA                  */
    double avx512_nt;
    double peak_1t;        /* the best of the above, 1 thread                 */
    double peak_nt;        /* the best of the above, T threads                */
    const char *peak_isa;  /* "avx512", "avx2" or "scalar" (for peak_nt)      */
} cpu_peak;

/* Measures with `threads` threads (>= 1); each figure is the best of `repeats`
 * runs of about `seconds` each. Returns 0 on success, -1 when no FMA kernel
 * fits this CPU (then only a scalar estimate is given). */
int cpu_peak_measure(int threads, double seconds, int repeats, cpu_peak *out);

/* Monotonic clock in seconds. */
double cpu_peak_now(void);

#endif
