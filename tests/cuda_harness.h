/* CUDA-against-CPU comparisons: the same graph runs on the CPU (float32, the
 * tested reference) and on CUDA device 0 in each precision. Tests skip with a
 * message when no CUDA device is visible (CI, this build without CUDA). */
#ifndef CUSEG_TEST_CUDA_HARNESS_H
#define CUSEG_TEST_CUDA_HARNESS_H

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "cuseg.h"
#include "op_harness.h"

namespace cstest {

#define CUSEG_REQUIRE_CUDA()                                                                       \
    do {                                                                                           \
        if (cuseg_cuda_device_count() == 0)                                                        \
            GTEST_SKIP() << "no CUDA device visible (cuseg_cuda_device_count() == 0): CUDA test "  \
                            "not run";                                                             \
    } while (0)

/* Random parameters with the scales a trained network has: conv weights
 * uniform in +-1/sqrt(fan_in) (activations keep their magnitude through deep
 * stacks), other parameters in [-0.5, 0.5], running variances in [0.5, 1.5]. */
inline void randomize_params(cuseg_graph *g, uint32_t seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < cuseg_graph_param_count(g); ++i) {
        const char *name = nullptr;
        int dims[4] = {1, 1, 1, 1}, nd = 0;
        ASSERT_EQ(cuseg_graph_param_info(g, i, &name, dims, &nd), CUSEG_OK);
        size_t count = 1;
        for (int d = 0; d < nd; ++d) count *= (size_t)dims[d];
        const std::string n(name);
        float lo = -0.5f, hi = 0.5f;
        if (n.size() >= 11 && n.compare(n.size() - 11, 11, "running_var") == 0) {
            lo = 0.5f, hi = 1.5f;
        } else if (nd == 4) {
            const float b = 1.0f / std::sqrt((float)dims[1] * dims[2] * dims[3]);
            lo = -b, hi = b;
        }
        std::uniform_real_distribution<float> d(lo, hi);
        std::vector<float> v(count);
        for (float &x : v) x = d(rng);
        ASSERT_EQ(cuseg_graph_set_param(g, name, v.data(), count), CUSEG_OK) << cuseg_last_error();
    }
}

inline const char *precision_name(cuseg_precision p) {
    static const char *const names[] = {"fp32", "tf32", "bf16", "fp16"};
    return names[p];
}

/* Tolerance of CUDA against the CPU, norm-wise and per element against the
 * largest reference magnitude. fp32: both backends round each fused
 * multiply-add chain of K <= a few thousand terms differently (different
 * summation orders, FMA contraction), errors ~sqrt(K) * 2^-24 relative: 1e-4
 * leaves an order of magnitude. bf16 stores 8 significant bits (relative
 * rounding 2^-9 = 2e-3 for inputs, weights and outputs each; accumulation
 * is fp32), fp16 11 bits: 1e-2 covers the three roundings of one op with a
 * margin. Whole networks compound this per layer: see the model tests. */
inline double tolerance(cuseg_precision p) {
    return p == CUSEG_PRECISION_FP32 ? 1e-4 : p == CUSEG_PRECISION_TF32 ? 5e-3 : 1e-2;
}

/* Runs `build` on the CPU and on CUDA in `precision`, compares every output:
 * floats within `tol` (default: tolerance(precision)); int32 outputs (class
 * maps, pool indices) equal in fp32 and, in 16 bits where rounding creates
 * ties and swaps near-equal values, equal at >= `min_int_agreement` of the
 * elements. */
inline void expect_cuda_matches_cpu(const std::vector<Input> &inputs, const Builder &build,
                                    cuseg_precision precision, uint32_t seed = 7, double tol = -1,
                                    double min_int_agreement = 0.95) {
    auto params = [&](cuseg_graph *g) { randomize_params(g, seed); };
    const std::vector<Output> cpu = run_graph(inputs, build, 2, params);
    cuseg_context_options opt{};
    opt.device = "cuda:0";
    opt.precision = precision;
    const std::vector<Output> gpu = run_graph(inputs, build, 2, params, &opt);
    ASSERT_EQ(cpu.size(), gpu.size());
    if (tol < 0) tol = tolerance(precision);
    for (size_t o = 0; o < cpu.size(); ++o) {
        SCOPED_TRACE("output " + std::to_string(o) + ", " + precision_name(precision));
        ASSERT_EQ(cpu[o].dtype, gpu[o].dtype);
        ASSERT_EQ(cpu[o].shape.count(), gpu[o].shape.count());
        if (cpu[o].dtype == CUSEG_F32) {
            std::vector<double> ref(cpu[o].f.begin(), cpu[o].f.end());
            expect_close(gpu[o].f, ref, tol);
        } else {
            size_t same = 0;
            for (size_t i = 0; i < cpu[o].i.size(); ++i) same += cpu[o].i[i] == gpu[o].i[i];
            const double agree = (double)same / (double)cpu[o].i.size();
            if (precision == CUSEG_PRECISION_FP32)
                EXPECT_EQ(same, cpu[o].i.size()) << "int32 output differs from the CPU's";
            else
                EXPECT_GE(agree, min_int_agreement);
        }
    }
}

inline const cuseg_precision kAllPrecisions[] = {CUSEG_PRECISION_FP32, CUSEG_PRECISION_TF32,
                                                 CUSEG_PRECISION_BF16, CUSEG_PRECISION_FP16};

} // namespace cstest

#endif
