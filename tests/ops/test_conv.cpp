/* conv2d and conv_transpose2d against float64 references written here, with
 * PyTorch's weight layouts and output-size rules (models.md §0.2, §0.3). */
#include <cmath>

#include "grad_harness.h"
#include "op_harness.h"

#include "ops/op_math.h"

using namespace cstest;

namespace {

struct Case {
    int n, h, w, c;
    cuseg_conv2d_params p;
};

cuseg_conv2d_params normalized(cuseg_conv2d_params p) {
    if (!p.stride_h) p.stride_h = 1;
    if (!p.stride_w) p.stride_w = 1;
    if (!p.dilation_h) p.dilation_h = 1;
    if (!p.dilation_w) p.dilation_w = 1;
    if (!p.groups) p.groups = 1;
    return p;
}

/* Direct float64 convolution, NHWC activations, weight [O, C/g, kh, kw]. */
std::vector<double> conv_ref(const Shape &x, const std::vector<float> &in, cuseg_conv2d_params p,
                             const std::vector<float> &w, const std::vector<float> &b, Shape *y) {
    p = normalized(p);
    const int kh_eff = p.dilation_h * (p.kernel_h - 1) + 1, kw_eff = p.dilation_w * (p.kernel_w - 1) + 1;
    *y = {x.n, (x.h + p.pad_top + p.pad_bottom - kh_eff) / p.stride_h + 1,
          (x.w + p.pad_left + p.pad_right - kw_eff) / p.stride_w + 1, p.out_channels};
    const int cin_g = x.c / p.groups, cout_g = p.out_channels / p.groups;
    std::vector<double> out(y->count());
    for (int n = 0; n < y->n; ++n)
        for (int oh = 0; oh < y->h; ++oh)
            for (int ow = 0; ow < y->w; ++ow)
                for (int o = 0; o < y->c; ++o) {
                    const int grp = o / cout_g;
                    double acc = b.empty() ? 0.0 : b[o];
                    for (int ci = 0; ci < cin_g; ++ci)
                        for (int i = 0; i < p.kernel_h; ++i)
                            for (int j = 0; j < p.kernel_w; ++j) {
                                int ih = oh * p.stride_h - p.pad_top + i * p.dilation_h;
                                int iw = ow * p.stride_w - p.pad_left + j * p.dilation_w;
                                if (ih < 0 || ih >= x.h || iw < 0 || iw >= x.w) continue;
                                acc += (double)in[x.at(n, ih, iw, grp * cin_g + ci)] *
                                       w[((size_t)(o * cin_g + ci) * p.kernel_h + i) * p.kernel_w + j];
                            }
                    out[y->at(n, oh, ow, o)] = acc;
                }
    return out;
}

/* Transposed convolution as PyTorch defines it: every input pixel scatters
 * its weighted kernel; weight [C, O/g, kh, kw]. */
std::vector<double> conv_transpose_ref(const Shape &x, const std::vector<float> &in,
                                       cuseg_conv2d_params p, const std::vector<float> &w,
                                       const std::vector<float> &b, Shape *y) {
    p = normalized(p);
    *y = {x.n,
          (x.h - 1) * p.stride_h - p.pad_top - p.pad_bottom + p.dilation_h * (p.kernel_h - 1) +
              p.output_padding_h + 1,
          (x.w - 1) * p.stride_w - p.pad_left - p.pad_right + p.dilation_w * (p.kernel_w - 1) +
              p.output_padding_w + 1,
          p.out_channels};
    const int cin_g = x.c / p.groups, cout_g = p.out_channels / p.groups;
    std::vector<double> out(y->count());
    for (int n = 0; n < y->n; ++n)
        for (int oh = 0; oh < y->h; ++oh)
            for (int ow = 0; ow < y->w; ++ow)
                for (int o = 0; o < y->c; ++o) out[y->at(n, oh, ow, o)] = b.empty() ? 0.0 : b[o];
    for (int n = 0; n < x.n; ++n)
        for (int ih = 0; ih < x.h; ++ih)
            for (int iw = 0; iw < x.w; ++iw)
                for (int c = 0; c < x.c; ++c) {
                    const int grp = c / cin_g;
                    for (int oc = 0; oc < cout_g; ++oc)
                        for (int i = 0; i < p.kernel_h; ++i)
                            for (int j = 0; j < p.kernel_w; ++j) {
                                int oh = ih * p.stride_h - p.pad_top + i * p.dilation_h;
                                int ow = iw * p.stride_w - p.pad_left + j * p.dilation_w;
                                if (oh < 0 || oh >= y->h || ow < 0 || ow >= y->w) continue;
                                out[y->at(n, oh, ow, grp * cout_g + oc)] +=
                                    (double)in[x.at(n, ih, iw, c)] *
                                    w[((size_t)(c * cout_g + oc) * p.kernel_h + i) * p.kernel_w + j];
                            }
                }
    return out;
}

void check_case(const Case &k, bool transposed, uint32_t seed) {
    SCOPED_TRACE(testing::Message() << (transposed ? "conv_transpose2d" : "conv2d") << " case seed "
                                    << seed);
    const cuseg_conv2d_params p = normalized(k.p);
    Input in{{k.n, k.h, k.w, k.c}, random_floats((size_t)k.n * k.h * k.w * k.c, seed)};
    const size_t wcount = transposed ? (size_t)k.c * (p.out_channels / p.groups) * p.kernel_h * p.kernel_w
                                     : (size_t)p.out_channels * (k.c / p.groups) * p.kernel_h * p.kernel_w;
    std::vector<float> w = random_floats(wcount, seed + 1);
    std::vector<float> b = p.has_bias ? random_floats(p.out_channels, seed + 2) : std::vector<float>();
    Output o = run_op(
        in,
        [&](cuseg_graph *g, int x) {
            int y = -1;
            EXPECT_EQ(transposed ? cuseg_graph_conv_transpose2d(g, "conv", x, &k.p, &y)
                                 : cuseg_graph_conv2d(g, "conv", x, &k.p, &y),
                      CUSEG_OK)
                << cuseg_last_error();
            return y;
        },
        [&](cuseg_graph *g) {
            EXPECT_EQ(cuseg_graph_set_param(g, "conv.weight", w.data(), w.size()), CUSEG_OK)
                << cuseg_last_error();
            if (p.has_bias) {
                EXPECT_EQ(cuseg_graph_set_param(g, "conv.bias", b.data(), b.size()), CUSEG_OK)
                    << cuseg_last_error();
            }
        });
    Shape ys;
    std::vector<double> ref = transposed ? conv_transpose_ref(in.shape, in.data, k.p, w, b, &ys)
                                         : conv_ref(in.shape, in.data, k.p, w, b, &ys);
    ASSERT_EQ(o.shape.n, ys.n);
    ASSERT_EQ(o.shape.h, ys.h);
    ASSERT_EQ(o.shape.w, ys.w);
    ASSERT_EQ(o.shape.c, ys.c);
    /* Sums of at most C/g*kh*kw <= 200 products of values in [-1, 1]: the fp32
     * error bound (K * 2^-24 * sum|terms|, far smaller in practice) stays
     * well inside 1e-5 of the output scale. */
    expect_close(o.f, ref, 1e-5);
}

}  // namespace

TEST(Conv2d, MatchesReferenceAcrossStrideDilationPaddingGroups) {
    const Case cases[] = {
        {2, 13, 11, 6, {.out_channels = 10, .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .has_bias = 1}},
        {3, 9, 14, 5, {.out_channels = 7, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 0, .pad_left = 2, .pad_right = 1, .has_bias = 1}},
        {2, 17, 15, 4, {.out_channels = 9, .kernel_h = 5, .kernel_w = 5, .pad_top = 4, .pad_bottom = 4, .pad_left = 4, .pad_right = 4, .dilation_h = 2, .dilation_w = 2}},
        {2, 10, 12, 6, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .groups = 2, .has_bias = 1}},
        {2, 15, 13, 8, {.out_channels = 8, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .groups = 8, .has_bias = 1}},
        {3, 7, 9, 12, {.out_channels = 5, .kernel_h = 1, .kernel_w = 1, .has_bias = 1}},
        {2, 19, 16, 6, {.out_channels = 6, .kernel_h = 3, .kernel_w = 3, .stride_h = 3, .stride_w = 2, .pad_top = 3, .pad_bottom = 3, .pad_left = 3, .pad_right = 3, .dilation_h = 3, .dilation_w = 3, .groups = 3}},
        {2, 11, 10, 3, {.out_channels = 4, .kernel_h = 2, .kernel_w = 2, .pad_top = 0, .pad_bottom = 1, .pad_left = 0, .pad_right = 1, .has_bias = 1}},
        {2, 12, 13, 5, {.out_channels = 6, .kernel_h = 3, .kernel_w = 5, .stride_h = 1, .stride_w = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 2, .pad_right = 2}},
        {2, 21, 21, 16, {.out_channels = 16, .kernel_h = 3, .kernel_w = 3, .pad_top = 12, .pad_bottom = 12, .pad_left = 12, .pad_right = 12, .dilation_h = 12, .dilation_w = 12, .has_bias = 1}},
    };
    uint32_t seed = 100;
    for (const Case &k : cases) check_case(k, false, seed += 10);
}

TEST(ConvTranspose2d, MatchesReferenceAcrossStridePaddingGroups) {
    const Case cases[] = {
        {2, 7, 9, 6, {.out_channels = 4, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .has_bias = 1}},
        {2, 5, 6, 4, {.out_channels = 4, .kernel_h = 4, .kernel_w = 4, .stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1}},
        {3, 6, 5, 5, {.out_channels = 3, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .has_bias = 1, .output_padding_h = 1, .output_padding_w = 1}},
        {2, 6, 7, 6, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .groups = 2, .has_bias = 1}},
        {2, 5, 5, 3, {.out_channels = 3, .kernel_h = 3, .kernel_w = 3, .pad_top = 2, .pad_bottom = 2, .pad_left = 2, .pad_right = 2, .dilation_h = 2, .dilation_w = 2}},
        {2, 3, 4, 3, {.out_channels = 3, .kernel_h = 16, .kernel_w = 16, .stride_h = 8, .stride_w = 8}},
        {2, 4, 5, 4, {.out_channels = 2, .kernel_h = 3, .kernel_w = 2, .stride_h = 3, .stride_w = 1, .pad_top = 1, .pad_bottom = 0, .has_bias = 1, .output_padding_h = 2}},
    };
    uint32_t seed = 500;
    for (const Case &k : cases) check_case(k, true, seed += 10);
}

TEST(Conv2d, RejectsInvalidParameters) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 6, &x), CUSEG_OK);
    cuseg_conv2d_params p = {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .groups = 4};
    expect_error(cuseg_graph_conv2d(g, "c1", x, &p, &y), CUSEG_ERR_SHAPE,
                 "conv2d 'c1': groups (4) must divide the input channels (6) and out_channels (4)");
    p = {.out_channels = 4, .kernel_h = 0, .kernel_w = 3};
    expect_error(cuseg_graph_conv2d(g, "c2", x, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "conv2d 'c2': out_channels and kernel sizes must be > 0");
    p = {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_left = -1};
    expect_error(cuseg_graph_conv2d(g, "c3", x, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "padding must be >= 0");
    p = {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .output_padding_h = 1};
    expect_error(cuseg_graph_conv2d(g, "c4", x, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "output_padding is for transposed convolutions");
    p = {.out_channels = 4, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2,
         .output_padding_h = 2};
    expect_error(cuseg_graph_conv_transpose2d(g, "t1", x, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "conv_transpose2d 't1': output_padding 2x0 must be >= 0 and smaller than stride");
    expect_error(cuseg_graph_conv2d(g, "c5", x, nullptr, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "params or output pointer is NULL");
    expect_error(cuseg_graph_conv2d(g, "c6", 42, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "value 42 does not exist");
    /* A valid node; then the same name again. */
    p = {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .has_bias = 1};
    ASSERT_EQ(cuseg_graph_conv2d(g, "ok", x, &p, &y), CUSEG_OK) << cuseg_last_error();
    expect_error(cuseg_graph_conv2d(g, "ok", x, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "a node of that name exists already");
    /* Parameters are declared with PyTorch's names and shapes. */
    ASSERT_EQ(cuseg_graph_param_count(g), 2);
    const char *name;
    int dims[4], nd;
    ASSERT_EQ(cuseg_graph_param_info(g, 0, &name, dims, &nd), CUSEG_OK);
    EXPECT_STREQ(name, "ok.weight");
    EXPECT_EQ(nd, 4);
    EXPECT_EQ(dims[0], 4);
    EXPECT_EQ(dims[1], 6);
    EXPECT_EQ(dims[2], 3);
    EXPECT_EQ(dims[3], 3);
    std::vector<float> wrong(10);
    expect_error(cuseg_graph_set_param(g, "ok.weight", wrong.data(), wrong.size()), CUSEG_ERR_SHAPE,
                 "parameter 'ok.weight' has 216 elements, 10 were given");
    expect_error(cuseg_graph_set_param(g, "nope.weight", wrong.data(), wrong.size()),
                 CUSEG_ERR_NOT_FOUND, "no parameter named 'nope.weight'");
    cuseg_graph_release(g);
}

TEST(Conv2d, InputTooSmallIsAShapeErrorNamingTheNode) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "image", 3, &x), CUSEG_OK);
    cuseg_conv2d_params p = {.out_channels = 4, .kernel_h = 7, .kernel_w = 7};
    ASSERT_EQ(cuseg_graph_conv2d(g, "stem", x, &p, &y), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    CpuSession session(&g);
    ASSERT_TRUE(session.ok()) << cuseg_last_error();
    EXPECT_EQ(g, nullptr); /* the model took the graph */
    cuseg_session *s = session.s;
    const int shape[1][4] = {{2, 5, 9, 3}};
    expect_error(cuseg_session_plan(s, shape, 1), CUSEG_ERR_SHAPE,
                 "conv2d 'stem': input 2x5x9x3 f32: output would be 2x0x3x4 f32: input too small");
    const int bad_channels[1][4] = {{2, 9, 9, 4}};
    expect_error(cuseg_session_plan(s, bad_channels, 1), CUSEG_ERR_SHAPE,
                 "input 'image': expected Nx?x?x3");
    /* The session stays usable after errors. */
    const int good[1][4] = {{1, 9, 9, 3}};
    EXPECT_EQ(cuseg_session_plan(s, good, 1), CUSEG_OK) << cuseg_last_error();
}

/* Depthwise convolutions run on cuseg's own kernel (host/ops/conv.c): these
 * cases reach each of its paths — 8/2/1 channel blocks and leftover
 * channels, the 8-pixel interior tiles (3-wide stride-1 and general), the
 * border pixels, and the streaming stores used for outputs over 8 MiB. */
TEST(Conv2d, DepthwiseKernelPaths) {
    const Case cases[] = {
        {2, 9, 37, 152, {.out_channels = 152, .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .groups = 152, .has_bias = 1}},
        {1, 11, 41, 48, {.out_channels = 48, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .groups = 48, .has_bias = 1}},
        {2, 7, 26, 32, {.out_channels = 32, .kernel_h = 3, .kernel_w = 3, .pad_top = 2, .pad_bottom = 2, .pad_left = 2, .pad_right = 2, .dilation_h = 2, .dilation_w = 2, .groups = 32}},
        {1, 6, 23, 64, {.out_channels = 64, .kernel_h = 5, .kernel_w = 5, .pad_top = 2, .pad_bottom = 1, .pad_left = 2, .pad_right = 3, .groups = 64, .has_bias = 1}},
        {1, 128, 128, 160, {.out_channels = 160, .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .groups = 160, .has_bias = 1}},
    };
    uint32_t seed = 900;
    for (const Case &k : cases) check_case(k, false, seed += 10);
}

/* ReLU6 fused into the depthwise kernel (MobileNetV2's pattern). */
TEST(Conv2d, DepthwiseWithFusedRelu6) {
    const Shape xs = {2, 10, 27, 40};
    Input in{xs, random_floats(xs.count(), 77, -4.0f, 4.0f)};
    cuseg_conv2d_params p = {.out_channels = 40, .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1,
                             .pad_left = 1, .pad_right = 1, .groups = 40, .has_bias = 1};
    auto w = random_floats(40 * 9, 78), b = random_floats(40, 79);
    Output o = run_op(
        in,
        [&](cuseg_graph *g, int x) {
            int y, z;
            EXPECT_EQ(cuseg_graph_conv2d(g, "dw", x, &p, &y), CUSEG_OK);
            EXPECT_EQ(cuseg_graph_relu6(g, "act", y, &z), CUSEG_OK);
            return z;
        },
        [&](cuseg_graph *g) {
            EXPECT_EQ(cuseg_graph_set_param(g, "dw.weight", w.data(), w.size()), CUSEG_OK);
            EXPECT_EQ(cuseg_graph_set_param(g, "dw.bias", b.data(), b.size()), CUSEG_OK);
        });
    Shape ys;
    std::vector<double> ref = conv_ref(xs, in.data, p, w, b, &ys);
    for (double &v : ref) v = std::min(std::max(v, 0.0), 6.0);
    expect_close(o.f, ref, 1e-5);
}

/* ---------------------------------------------------------------- gradients */

namespace {

void check_conv_grad(const Case &k, bool transposed, uint32_t seed) {
    SCOPED_TRACE(testing::Message() << (transposed ? "conv_transpose2d" : "conv2d") << " seed " << seed);
    const cuseg_conv2d_params p = normalized(k.p);
    const Shape xs = {k.n, k.h, k.w, k.c};
    const size_t wcount = transposed ? (size_t)k.c * (p.out_channels / p.groups) * p.kernel_h * p.kernel_w
                                     : (size_t)p.out_channels * (k.c / p.groups) * p.kernel_h * p.kernel_w;
    std::vector<std::vector<float>> params = {random_floats(wcount, seed + 1)};
    if (p.has_bias) params.push_back(random_floats(p.out_channels, seed + 2));
    check_grad({{xs, random_floats(xs.count(), seed)}},
               [&](cuseg_graph *g, const std::vector<int> &x) {
                   int y = -1;
                   EXPECT_EQ(transposed ? cuseg_graph_conv_transpose2d(g, "conv", x[0], &k.p, &y)
                                        : cuseg_graph_conv2d(g, "conv", x[0], &k.p, &y),
                             CUSEG_OK)
                       << cuseg_last_error();
                   return y;
               },
               params, [&](const std::vector<Tensor64> &in, const std::vector<Tensor64> &pr) {
                   /* The references take fp32 vectors: widen exactly, run in float64. */
                   std::vector<float> x(in[0].begin(), in[0].end()), w(pr[0].begin(), pr[0].end());
                   std::vector<float> b = pr.size() > 1 ? std::vector<float>(pr[1].begin(), pr[1].end())
                                                        : std::vector<float>();
                   Shape ys;
                   return transposed ? conv_transpose_ref(xs, x, k.p, w, b, &ys) : conv_ref(xs, x, k.p, w, b, &ys);
               },
               /* The references read fp32 copies of the perturbed inputs, so
                * the step is large (1/64): x +- 1/64 rounds to fp32 by at most
                * 2^-25, 4e-6 of the step, and a convolution is linear in each
                * argument, so the difference quotient has no truncation error. */
               GradCheck{1.0 / 64, 1e-4, {}});
}

}  // namespace

TEST(Conv2d, GradientsMatchFiniteDifferences) {
    const Case cases[] = {
        {2, 6, 5, 3, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .has_bias = 1}},
        {2, 7, 6, 4, {.out_channels = 6, .kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_top = 1, .pad_bottom = 0, .pad_left = 0, .pad_right = 1, .groups = 2, .has_bias = 1}},
        {1, 7, 7, 4, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_top = 2, .pad_bottom = 2, .pad_left = 2, .pad_right = 2, .dilation_h = 2, .dilation_w = 2, .groups = 4}},
    };
    uint32_t seed = 700;
    for (const Case &k : cases) check_conv_grad(k, false, seed += 10);
}

TEST(ConvTranspose2d, GradientsMatchFiniteDifferences) {
    const Case cases[] = {
        {2, 3, 4, 4, {.out_channels = 3, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .has_bias = 1}},
        {1, 3, 3, 4, {.out_channels = 2, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1, .groups = 2, .has_bias = 1, .output_padding_h = 1, .output_padding_w = 1}},
    };
    uint32_t seed = 800;
    for (const Case &k : cases) check_conv_grad(k, true, seed += 10);
}

/* cs_col2im_taps (the CUDA transposed convolution's gather) lists exactly the
 * (input index, tap) pairs with h * stride - pad + i == o, in order, for
 * every output of a range of geometries (FCN's 16/8 and 4/2 upscoring,
 * U-Net's 2/2, padded and output-padded cases). */
TEST(ConvTranspose2d, Col2imTapsMatchTheDefinition) {
    for (int k = 1; k <= 16; ++k)
        for (int stride = 1; stride <= 8; ++stride)
            for (int pad = 0; pad < k; ++pad)
                for (int in = 1; in <= 5; ++in) {
                    const int out = (in - 1) * stride - 2 * pad + k + (stride - 1);
                    for (int o = 0; o < out; ++o) {
                        std::vector<std::pair<int, int>> want;
                        for (int i = 0; i < k; ++i)
                            for (int h = in - 1; h >= 0; --h)
                                if (h * stride - pad + i == o) want.push_back({i, h});
                        std::sort(want.begin(), want.end());
                        int i0 = -1, h0 = -1;
                        const int n = cs_col2im_taps(o, pad, stride, k, in, &i0, &h0);
                        std::vector<std::pair<int, int>> got;
                        for (int t = 0; t < n; ++t) got.push_back({i0 + t * stride, h0 - t});
                        ASSERT_EQ(got, want) << "k " << k << " stride " << stride << " pad " << pad
                                             << " in " << in << " o " << o;
                    }
                }
}
