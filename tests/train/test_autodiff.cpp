/* Graph-level reverse mode: a small encoder-decoder that uses every kind of
 * edge the model zoo has (a value read by two nodes, indices feeding an
 * unpool, a concat skip, BN in training mode). The per-op backwards are
 * checked in float64 in tests/ops; this checks the wiring: directional
 * derivatives of the fp32 forward along random directions.
 *
 * Tolerance and step: a direction moves every parameter at once, so each
 * pre-activation moves by ~h * 5; with h = 1e-4 fewer than one of the ~10^3
 * ReLU inputs or max-pool ties is expected inside the step (at h = 3e-3
 * dozens were, and the quotient was off by 100%). The loss is summed in
 * double from fp32 outputs whose rounding is ~1e-7 relative, ~1e-5 on the
 * loss, ~0.05 on the quotient against derivatives of O(10). A wrong buffer
 * or a lost accumulation is an O(1) relative error, far above 2e-2. */
#include <cmath>

#include "op_harness.h"

extern "C" {
#include "graph/graph.h"
}

extern "C" {
#include "train/autodiff.h"
}

using namespace cstest;

namespace {

cuseg_graph *small_net() {
    cuseg_graph *g = nullptr;
    EXPECT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, a, b, c, idx, d, e, f, u, s, y;
    const cuseg_conv2d_params c1 = {.out_channels = 6,
                                    .kernel_h = 3,
                                    .kernel_w = 3,
                                    .pad_top = 1,
                                    .pad_bottom = 1,
                                    .pad_left = 1,
                                    .pad_right = 1};
    const cuseg_conv2d_params c2 = {.out_channels = 6,
                                    .kernel_h = 3,
                                    .kernel_w = 3,
                                    .pad_top = 1,
                                    .pad_bottom = 1,
                                    .pad_left = 1,
                                    .pad_right = 1,
                                    .has_bias = 1};
    const cuseg_conv2d_params head = {
        .out_channels = 3, .kernel_h = 1, .kernel_w = 1, .has_bias = 1};
    const cuseg_pool2d_params pool = {2, 2, 2, 2, 0, 0, 0, 0, 1, 0};
    const cuseg_resize_params up = {.align_corners = 1};
    EXPECT_EQ(cuseg_graph_input(g, "x", 3, &x), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_conv2d(g, "enc", x, &c1, &a), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_batch_norm(g, "bn", a, 1e-5f, &b), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_relu(g, "relu", b, &c), CUSEG_OK); /* c is read three times */
    EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", c, &pool, &d, &idx), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_conv2d(g, "mid", d, &c2, &e), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_resize_bilinear(g, "up", e, c, &up, &f), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_max_unpool2d(g, "unpool", d, idx, c, &u), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_add(g, "sum", f, u, &s), CUSEG_OK);
    const int cat_in[2] = {s, c};
    int cat;
    EXPECT_EQ(cuseg_graph_concat(g, "cat", cat_in, 2, &cat), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_conv2d(g, "head", cat, &head, &y), CUSEG_OK);
    EXPECT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    /* Random weights. */
    for (int i = 0; i < g->n_params; ++i) {
        if (g->params[i].buffer)
            continue;
        auto w = random_floats(g->params[i].count, 300 + i, -0.5f, 0.5f);
        std::copy(w.begin(), w.end(), g->params[i].data);
    }
    return g;
}

double loss(cs_autodiff *ad, const std::vector<float> &x, const int dims[1][4],
            const std::vector<float> &dy) {
    const float *in[1] = {x.data()};
    EXPECT_EQ(cs_autodiff_forward(ad, in, dims), CUSEG_OK) << cuseg_last_error();
    cs_shape s;
    const float *y = cs_autodiff_output(ad, 0, &s);
    double l = 0;
    for (size_t i = 0; i < dy.size(); ++i)
        l += (double)dy[i] * y[i];
    return l;
}

} // namespace

TEST(Autodiff, DirectionalDerivativesMatchFiniteDifferences) {
    cuseg_graph *g = small_net();
    cs_autodiff *ad = nullptr;
    ASSERT_EQ(cs_autodiff_create(g, 2, &ad), CUSEG_OK) << cuseg_last_error();
    const int dims[1][4] = {{2, 9, 11, 3}}; /* odd sizes: ceil-mode pooling, resize back to 9x11 */
    const std::vector<float> x = random_floats(2 * 9 * 11 * 3, 1);
    const std::vector<float> dy = random_floats(2 * 9 * 11 * 3, 2);
    loss(ad, x, dims, dy);
    const float *douts[1] = {dy.data()};
    cs_autodiff_zero_grad(ad);
    ASSERT_EQ(cs_autodiff_backward(ad, douts), CUSEG_OK) << cuseg_last_error();
    std::vector<std::vector<float>> grads;
    for (int i = 0; i < g->n_params; ++i) {
        const float *gr = cs_autodiff_param_grad(ad, i);
        grads.emplace_back(gr ? std::vector<float>(gr, gr + g->params[i].count)
                              : std::vector<float>());
    }
    const double h = 1e-4;
    /* All parameters at once (4 directions), then one tensor at a time. */
    for (int only = -1; only < g->n_params; ++only)
        for (int trial = 0; trial < (only < 0 ? 4 : 1); ++trial) {
            if (only >= 0 && grads[only].empty())
                continue;
            /* v: a random unit-scale direction over every learnable parameter. */
            std::vector<std::vector<float>> v(g->n_params);
            double analytic = 0;
            for (int i = 0; i < g->n_params; ++i) {
                if (grads[i].empty() || (only >= 0 && i != only))
                    continue;
                v[i] = random_floats(g->params[i].count, 1000 + 10 * trial + i);
                for (size_t k = 0; k < v[i].size(); ++k)
                    analytic += (double)grads[i][k] * v[i][k];
            }
            auto shift = [&](double sign) {
                for (int i = 0; i < g->n_params; ++i)
                    for (size_t k = 0; k < v[i].size(); ++k)
                        g->params[i].data[k] += (float)(sign * h * v[i][k]);
            };
            shift(+1);
            const double lp = loss(ad, x, dims, dy);
            shift(-2);
            const double lm = loss(ad, x, dims, dy);
            shift(+1);
            const double numeric = (lp - lm) / (2 * h);
            EXPECT_NEAR(analytic, numeric, 2e-2 * std::fabs(numeric) + 1e-3)
                << "direction " << trial
                << (only >= 0 ? " along parameter " + std::string(g->params[only].name) : "");
        }
    /* Each backward starts from zero activation gradients, and parameter
     * gradients accumulate until zeroed: two backwards give twice one. */
    loss(ad, x, dims, dy); /* activations at the unshifted parameters again */
    ASSERT_EQ(cs_autodiff_backward(ad, douts), CUSEG_OK);
    const float *g0 = cs_autodiff_param_grad(ad, 0);
    for (size_t k = 0; k < grads[0].size(); ++k)
        ASSERT_NEAR(g0[k], 2 * grads[0][k], 1e-5 + 1e-5 * std::fabs(grads[0][k]));
    cs_autodiff_release(ad);
    cuseg_graph_release(g);
}

/* --bn eval: the training forward normalises with the running statistics
 * and leaves them bit for bit as they were; switching back to training mode
 * updates them again (so the first check can fail). */
TEST(Autodiff, BnEvalModeUsesAndKeepsRunningStatistics) {
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 3, &x), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_batch_norm(g, "bn", x, 1e-5f, &y), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    const std::vector<std::vector<float>> p = {{1.5f, 0.5f, 2.0f}, {0.1f, -0.2f, 0.3f}, {0.25f, -1.0f, 3.0f},
                                               {0.5f, 2.0f, 4.0f}};
    for (int i = 0; i < 4; ++i) std::copy(p[i].begin(), p[i].end(), g->params[i].data);
    const std::vector<float> in = random_floats(2 * 5 * 7 * 3, 17, -3.0f, 3.0f);
    const int dims[1][4] = {{2, 5, 7, 3}};
    cs_autodiff *ad = nullptr;
    ASSERT_EQ(cs_autodiff_create(g, 2, &ad), CUSEG_OK);
    cs_autodiff_set_bn_eval(ad, 1);
    const float *inputs[1] = {in.data()};
    ASSERT_EQ(cs_autodiff_forward(ad, inputs, dims), CUSEG_OK) << cuseg_last_error();
    const float *out = cs_autodiff_output(ad, 0, nullptr);
    std::vector<double> want(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        const size_t c = i % 3;
        want[i] = (in[i] - p[2][c]) / std::sqrt(p[3][c] + (double)1e-5f) * p[0][c] + p[1][c];
    }
    expect_close(std::vector<float>(out, out + in.size()), want, 1e-6);
    for (int i = 2; i < 4; ++i)
        for (int c = 0; c < 3; ++c) EXPECT_EQ(g->params[i].data[c], p[i][c]) << g->params[i].name << "[" << c << "]";
    cs_autodiff_set_bn_eval(ad, 0);
    ASSERT_EQ(cs_autodiff_forward(ad, inputs, dims), CUSEG_OK) << cuseg_last_error();
    EXPECT_NE(g->params[2].data[1], p[2][1]);
    EXPECT_NE(g->params[3].data[1], p[3][1]);
    cs_autodiff_release(ad);
    cuseg_graph_release(g);
}
