/* The index helpers the backward passes gather with (op_math.h), checked by
 * brute force against the forward helpers they invert: every (input,
 * output) pair over many sizes, strides, paddings and ratios. The CUDA
 * backward kernels run these same functions. */
#include <gtest/gtest.h>

#include <cstdint>

extern "C" {
#include "ops/op_math.h"
}

TEST(PoolCovering, InvertsPoolWindowForEveryInputIndex) {
    for (int in = 1; in <= 13; ++in)
        for (int k = 1; k <= 5; ++k)
            for (int stride = 1; stride <= 4; ++stride)
                for (int pad = 0; pad <= k / 2; ++pad)
                    for (int ceil_mode = 0; ceil_mode <= 1; ++ceil_mode) {
                        const int out = cs_pool_out_size(in, k, stride, pad, pad, ceil_mode);
                        if (out <= 0) continue;
                        for (int i = 0; i < in; ++i) {
                            int b, e;
                            cs_pool_covering(i, k, stride, pad, out, &b, &e);
                            for (int o = 0; o < out; ++o) {
                                int s, t, padded;
                                cs_pool_window(o, k, stride, pad, pad, in, &s, &t, &padded);
                                const bool covers = s <= i && i < t;
                                EXPECT_EQ(covers, o >= b && o < e)
                                    << "in " << in << " k " << k << " stride " << stride << " pad "
                                    << pad << " ceil " << ceil_mode << " i " << i << " o " << o;
                            }
                        }
                    }
}

TEST(NearestFirstOutput, InvertsNearestIndex) {
    for (int in = 1; in <= 17; ++in)
        for (int out = 1; out <= 40; ++out)
            for (double scale : {0.0, 0.5, 1.7, 2.0, 3.0}) {
                const float ratio = scale > 0 ? (float)(1.0 / scale) : (float)in / (float)out;
                for (int i = 0; i < in; ++i) {
                    const int b = cs_nearest_first_output(i, in, out, ratio);
                    const int e = cs_nearest_first_output(i + 1, in, out, ratio);
                    for (int o = 0; o < out; ++o)
                        EXPECT_EQ(cs_nearest_index(o, in, out, ratio) == i, o >= b && o < e)
                            << "in " << in << " out " << out << " i " << i << " o " << o;
                }
            }
}

TEST(MaxTakes, FirstMaximumAndFirstNaNWin) {
    const float nan = __builtin_nanf("");
    EXPECT_TRUE(cs_max_takes(2.0f, 1.0f));
    EXPECT_FALSE(cs_max_takes(1.0f, 1.0f)); /* ties keep the first */
    EXPECT_TRUE(cs_max_takes(nan, 5.0f));
    EXPECT_FALSE(cs_max_takes(nan, nan)); /* the first NaN stays */
    EXPECT_FALSE(cs_max_takes(7.0f, nan));
    EXPECT_TRUE(cs_max_takes(-1e30f, -__builtin_inff()));
}

TEST(Dropout, MaskHashIsStable) {
    /* Pinned values: the CPU and CUDA masks, and checkpoints that resume a
     * run, depend on this exact function. */
    const uint64_t key = cs_dropout_key(42, 1);
    EXPECT_EQ(key, 42ull * 0x2545f4914f6cdd1dull + 1);
    const uint64_t t = cs_dropout_threshold(0.5f);
    EXPECT_EQ(t, 1ull << 63);
    int kept = 0;
    for (uint64_t i = 0; i < 100000; ++i) kept += cs_dropout_keep(key, i, t);
    EXPECT_NEAR(kept, 50000, 800); /* binomial sd 158: 5 sd */
    EXPECT_EQ(cs_dropout_threshold(0.0f), 0ull);
    EXPECT_EQ(cs_dropout_keep(key, 3, 0), 1);
}
