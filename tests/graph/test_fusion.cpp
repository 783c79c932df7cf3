/* The session folds batch norm and ReLU/ReLU6 into the preceding
 * convolution; the fused path must equal the unfused float64 arithmetic. */
#include <cmath>

#include "op_harness.h"

using namespace cstest;

namespace {

struct BnParams {
    std::vector<float> gamma, beta, mean, var;
};

BnParams random_bn(int c, uint32_t seed) {
    return {random_floats(c, seed, 0.5f, 1.5f), random_floats(c, seed + 1, -0.5f, 0.5f),
            random_floats(c, seed + 2, -0.3f, 0.3f), random_floats(c, seed + 3, 0.2f, 2.0f)};
}

void set_bn(cuseg_graph *g, const std::string &name, const BnParams &bn) {
    EXPECT_EQ(cuseg_graph_set_param(g, (name + ".weight").c_str(), bn.gamma.data(), bn.gamma.size()), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_set_param(g, (name + ".bias").c_str(), bn.beta.data(), bn.beta.size()), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_set_param(g, (name + ".running_mean").c_str(), bn.mean.data(), bn.mean.size()), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_set_param(g, (name + ".running_var").c_str(), bn.var.data(), bn.var.size()), CUSEG_OK);
}

/* 3x3 same conv with bias, float64, NHWC; weight [O, C, 3, 3]. */
std::vector<double> conv3x3(const Shape &x, const std::vector<float> &in, int O,
                            const std::vector<float> &w, const std::vector<float> &b) {
    std::vector<double> out((size_t)x.n * x.h * x.w * O);
    for (int n = 0; n < x.n; ++n)
        for (int h = 0; h < x.h; ++h)
            for (int ww = 0; ww < x.w; ++ww)
                for (int o = 0; o < O; ++o) {
                    double acc = b[o];
                    for (int c = 0; c < x.c; ++c)
                        for (int i = 0; i < 3; ++i)
                            for (int j = 0; j < 3; ++j) {
                                int ih = h + i - 1, iw = ww + j - 1;
                                if (ih < 0 || ih >= x.h || iw < 0 || iw >= x.w) continue;
                                acc += (double)in[x.at(n, ih, iw, c)] * w[((o * x.c + c) * 3 + i) * 3 + j];
                            }
                    out[(((size_t)n * x.h + h) * x.w + ww) * O + o] = acc;
                }
    return out;
}

std::vector<double> bn_ref(const std::vector<double> &x, int C, const BnParams &bn, double eps) {
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        int c = (int)(i % C);
        y[i] = (x[i] - bn.mean[c]) / std::sqrt((double)bn.var[c] + eps) * bn.gamma[c] + bn.beta[c];
    }
    return y;
}

const cuseg_conv2d_params kConv = {.out_channels = 7, .kernel_h = 3, .kernel_w = 3, .pad_top = 1,
                                   .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .has_bias = 1};

}  // namespace

/* conv -> bn -> act, where the whole chain fuses into one step. */
TEST(Fusion, ConvBatchNormActivationMatchesUnfusedReference) {
    for (int act = 0; act < 3; ++act) {
        SCOPED_TRACE(act);
        const Shape xs = {2, 9, 11, 5};
        Input in{xs, random_floats(xs.count(), 11 + act, -2.0f, 2.0f)};
        auto w = random_floats(7 * 5 * 9, 21 + act), b = random_floats(7, 31 + act);
        BnParams bn = random_bn(7, 41 + act);
        Output o = run_op(
            in,
            [&](cuseg_graph *g, int x) {
                int y, z, r = -1;
                EXPECT_EQ(cuseg_graph_conv2d(g, "conv", x, &kConv, &y), CUSEG_OK);
                EXPECT_EQ(cuseg_graph_batch_norm(g, "bn", y, 1e-3f, &z), CUSEG_OK) << cuseg_last_error();
                if (act == 0) return z;
                EXPECT_EQ(act == 1 ? cuseg_graph_relu(g, "act", z, &r) : cuseg_graph_relu6(g, "act", z, &r),
                          CUSEG_OK);
                return r;
            },
            [&](cuseg_graph *g) {
                EXPECT_EQ(cuseg_graph_set_param(g, "conv.weight", w.data(), w.size()), CUSEG_OK);
                EXPECT_EQ(cuseg_graph_set_param(g, "conv.bias", b.data(), b.size()), CUSEG_OK);
                set_bn(g, "bn", bn);
            });
        std::vector<double> ref = bn_ref(conv3x3(xs, in.data, 7, w, b), 7, bn, (double)1e-3f);
        for (double &v : ref) {
            if (act >= 1) v = std::max(v, 0.0);
            if (act == 2) v = std::min(v, 6.0);
        }
        /* Folding scales the weights once in fp32 (one extra rounding per
         * product), which keeps the error at the 1e-6 level of the output scale. */
        expect_close(o.f, ref, 1e-5);
    }
}

/* When the conv output is read twice (here it is also a graph output), the
 * batch norm must not be folded into it: both outputs keep their meaning. */
TEST(Fusion, ConvOutputWithTwoReadersIsNotFolded) {
    const Shape xs = {2, 6, 7, 5};
    Input in{xs, random_floats(xs.count(), 5)};
    auto w = random_floats(7 * 5 * 9, 6), b = random_floats(7, 7);
    BnParams bn = random_bn(7, 8);
    auto outs = run_graph(
        {in},
        [&](cuseg_graph *g, const std::vector<int> &x) {
            int y, z;
            EXPECT_EQ(cuseg_graph_conv2d(g, "conv", x[0], &kConv, &y), CUSEG_OK);
            EXPECT_EQ(cuseg_graph_batch_norm(g, "bn", y, 1e-5f, &z), CUSEG_OK);
            return std::vector<int>{y, z};
        },
        2,
        [&](cuseg_graph *g) {
            EXPECT_EQ(cuseg_graph_set_param(g, "conv.weight", w.data(), w.size()), CUSEG_OK);
            EXPECT_EQ(cuseg_graph_set_param(g, "conv.bias", b.data(), b.size()), CUSEG_OK);
            set_bn(g, "bn", bn);
        });
    ASSERT_EQ(outs.size(), 2u);
    std::vector<double> conv = conv3x3(xs, in.data, 7, w, b);
    expect_close(outs[0].f, conv, 1e-5);
    expect_close(outs[1].f, bn_ref(conv, 7, bn, (double)1e-5f), 1e-5);
}
