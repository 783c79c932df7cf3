#include <array>
#include <functional>
#include <string>

#include "grad_harness.h"
#include "op_harness.h"

using namespace cstest;

namespace {

/* Crop and pad only move values (or write zeros): results must be exact. */
std::vector<float> crop_ref(const Input &in, int out_h, int out_w, int off_h, int off_w) {
    const Shape &s = in.shape;
    std::vector<float> out;
    for (int n = 0; n < s.n; ++n)
        for (int h = 0; h < out_h; ++h)
            for (int w = 0; w < out_w; ++w)
                for (int c = 0; c < s.c; ++c) out.push_back(in.data[s.at(n, h + off_h, w + off_w, c)]);
    return out;
}

std::vector<float> pad_ref(const Input &in, int top, int bottom, int left, int right) {
    const Shape &s = in.shape;
    std::vector<float> out;
    for (int n = 0; n < s.n; ++n)
        for (int h = -top; h < s.h + bottom; ++h)
            for (int w = -left; w < s.w + right; ++w)
                for (int c = 0; c < s.c; ++c) {
                    bool inside = h >= 0 && h < s.h && w >= 0 && w < s.w;
                    out.push_back(inside ? in.data[s.at(n, h, w, c)] : 0.0f);
                }
    return out;
}

Input random_input(Shape s, uint32_t seed) {
    /* Away from zero, so that a zero in the output can only be padding. */
    return {s, random_floats(s.count(), seed, 1.0f, 2.0f)};
}

void expect_shape(const Output &o, Shape s) {
    EXPECT_EQ(o.shape.n, s.n);
    EXPECT_EQ(o.shape.h, s.h);
    EXPECT_EQ(o.shape.w, s.w);
    EXPECT_EQ(o.shape.c, s.c);
    EXPECT_EQ(o.dtype, CUSEG_F32);
}

/* A one-op graph whose plan is expected to fail with `needle`. */
void expect_plan_error(const std::function<int(cuseg_graph *, const std::vector<int> &)> &build,
                       const std::vector<int> &channels, const std::vector<std::array<int, 4>> &dims,
                       const std::string &needle) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    std::vector<int> in;
    for (size_t i = 0; i < channels.size(); ++i) {
        int v;
        ASSERT_EQ(cuseg_graph_input(g, ("in" + std::to_string(i)).c_str(), channels[i], &v), CUSEG_OK);
        in.push_back(v);
    }
    ASSERT_EQ(cuseg_graph_output(g, build(g, in)), CUSEG_OK);
    CpuSession session(&g);
    ASSERT_TRUE(session.ok()) << cuseg_last_error();
    cuseg_session *s = session.s;
    std::vector<int> flat;
    for (auto &d : dims) flat.insert(flat.end(), d.begin(), d.end());
    expect_error(cuseg_session_plan(s, (const int(*)[4])flat.data(), (int)dims.size()),
                 CUSEG_ERR_SHAPE, needle);
}

}  // namespace

TEST(Crop, ExplicitSizeMatchesReference) {
    Input in = random_input({2, 9, 11, 3}, 1);
    struct Case { int out_h, out_w, off_h, off_w; };
    /* Interior window, the whole input, a window touching the far corner,
     * a single pixel. */
    for (Case k : {Case{4, 6, 2, 3}, Case{9, 11, 0, 0}, Case{5, 3, 4, 8}, Case{1, 1, 8, 10}}) {
        SCOPED_TRACE(::testing::Message() << k.out_h << "x" << k.out_w << " at " << k.off_h << ","
                                          << k.off_w);
        Output o = run_op(in, [&](cuseg_graph *g, int x) {
            int y = -1;
            EXPECT_EQ(cuseg_graph_crop(g, "crop", x, -1, k.out_h, k.out_w, k.off_h, k.off_w, &y),
                      CUSEG_OK)
                << cuseg_last_error();
            return y;
        });
        expect_shape(o, {2, k.out_h, k.out_w, 3});
        EXPECT_EQ(o.f, crop_ref(in, k.out_h, k.out_w, k.off_h, k.off_w));
    }
}

/* Caffe's Crop: the size comes from the reference blob, whose channels do
 * not matter; out_h/out_w are ignored then. */
TEST(Crop, TakesSizeFromLike) {
    Input x = random_input({3, 13, 10, 5}, 2), like = random_input({3, 7, 9, 2}, 3);
    auto outs = run_graph({x, like}, [](cuseg_graph *g, const std::vector<int> &in) {
        int y = -1;
        EXPECT_EQ(cuseg_graph_crop(g, "crop", in[0], in[1], 0, 0, 5, 1, &y), CUSEG_OK)
            << cuseg_last_error();
        int channels = 0;
        EXPECT_EQ(cuseg_graph_value_channels(g, y, &channels), CUSEG_OK);
        EXPECT_EQ(channels, 5);
        return std::vector<int>{y};
    });
    ASSERT_EQ(outs.size(), 1u);
    expect_shape(outs[0], {3, 7, 9, 5});
    EXPECT_EQ(outs[0].f, crop_ref(x, 7, 9, 5, 1));
}

TEST(Crop, RejectsBadParameters) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    expect_error(cuseg_graph_crop(g, "c1", x, -1, 4, 4, -1, 0, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "crop 'c1': offsets must be >= 0, got (-1, 0)");
    expect_error(cuseg_graph_crop(g, "c1", x, x, 0, 0, 2, -3, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "crop 'c1': offsets must be >= 0, got (2, -3)");
    expect_error(cuseg_graph_crop(g, "c1", x, -1, 0, 4, 0, 0, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "crop 'c1': output size must be > 0 (or give a 'like' value), got 0x4");
    expect_error(cuseg_graph_crop(g, "c1", x, -1, 3, -2, 0, 0, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "got 3x-2");
    expect_error(cuseg_graph_crop(g, "c1", x, 17, 0, 0, 0, 0, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "value 17 does not exist");
    expect_error(cuseg_graph_crop(g, "c1", x, -1, 1, 1, 0, 0, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "crop 'c1': output pointer is NULL");
    cuseg_graph_release(g);
}

TEST(Crop, RejectsWindowThatDoesNotFit) {
    auto fixed = [](int out_h, int out_w, int off_h, int off_w) {
        return [=](cuseg_graph *g, const std::vector<int> &in) {
            int y = -1;
            EXPECT_EQ(cuseg_graph_crop(g, "crop", in[0], -1, out_h, out_w, off_h, off_w, &y),
                      CUSEG_OK);
            return y;
        };
    };
    /* One row too many, one column too many (the offset pushes it out). */
    expect_plan_error(fixed(4, 6, 2, 3), {3}, {{1, 5, 9, 3}},
                      "crop window 4x6 at offset (2, 3) does not fit in the 5x9 input");
    expect_plan_error(fixed(4, 6, 1, 4), {3}, {{1, 5, 9, 3}},
                      "crop window 4x6 at offset (1, 4) does not fit in the 5x9 input");
    /* offset + size must not overflow int on the way. */
    expect_plan_error(fixed(1, 1, 2147483647, 0), {3}, {{1, 5, 9, 3}},
                      "crop window 1x1 at offset (2147483647, 0) does not fit in the 5x9 input");
    auto like = [](cuseg_graph *g, const std::vector<int> &in) {
        int y = -1;
        EXPECT_EQ(cuseg_graph_crop(g, "crop", in[0], in[1], 0, 0, 1, 1, &y), CUSEG_OK);
        return y;
    };
    expect_plan_error(like, {3, 2}, {{2, 8, 8, 3}, {2, 8, 7, 2}},
                      "crop 'crop': input 2x8x8x3 f32: crop window 8x7 at offset (1, 1) does not "
                      "fit in the 8x8 input");
}

TEST(Pad, MatchesReference) {
    Input in = random_input({2, 5, 7, 3}, 4);
    struct Case { int t, b, l, r; };
    for (Case k : {Case{0, 0, 0, 0}, Case{1, 2, 3, 4}, Case{0, 3, 2, 0}, Case{4, 0, 0, 1}}) {
        SCOPED_TRACE(::testing::Message() << k.t << " " << k.b << " " << k.l << " " << k.r);
        for (int threads : {1, 3}) {
            auto outs = run_graph({in}, [&](cuseg_graph *g, const std::vector<int> &x) {
                int y = -1;
                EXPECT_EQ(cuseg_graph_pad(g, "pad", x[0], k.t, k.b, k.l, k.r, &y), CUSEG_OK)
                    << cuseg_last_error();
                return std::vector<int>{y};
            }, threads);
            ASSERT_EQ(outs.size(), 1u);
            expect_shape(outs[0], {2, 5 + k.t + k.b, 7 + k.l + k.r, 3});
            EXPECT_EQ(outs[0].f, pad_ref(in, k.t, k.b, k.l, k.r));
        }
    }
}

/* milesial's U-Net pads the upsampled map to the skip size and the original
 * U-Net crops the skip: cropping the padding off gives the input back. */
TEST(Pad, CropUndoesPad) {
    Input in = random_input({3, 6, 5, 4}, 5);
    Output o = run_op(in, [](cuseg_graph *g, int x) {
        int p = -1, y = -1;
        EXPECT_EQ(cuseg_graph_pad(g, "pad", x, 2, 1, 0, 3, &p), CUSEG_OK);
        EXPECT_EQ(cuseg_graph_crop(g, "crop", p, x, 0, 0, 2, 0, &y), CUSEG_OK) << cuseg_last_error();
        return y;
    });
    expect_shape(o, {3, 6, 5, 4});
    EXPECT_EQ(o.f, in.data);
}

TEST(Pad, RejectsNegativePadding) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    expect_error(cuseg_graph_pad(g, "p1", x, 0, -1, 0, 0, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "pad 'p1': padding must be >= 0, got top 0, bottom -1, left 0, right 0");
    expect_error(cuseg_graph_pad(g, "p1", x, 1, 1, 1, -2, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "got top 1, bottom 1, left 1, right -2");
    expect_error(cuseg_graph_pad(g, "p1", x, 1, 1, 1, 1, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "pad 'p1': output pointer is NULL");
    cuseg_graph_release(g);
}

TEST(Pad, RejectsSizeBeyondIntRange) {
    auto huge = [](cuseg_graph *g, const std::vector<int> &in) {
        int y = -1;
        EXPECT_EQ(cuseg_graph_pad(g, "pad", in[0], 0, 0, 0, 2147483647, &y), CUSEG_OK);
        return y;
    };
    expect_plan_error(huge, {3}, {{1, 4, 5, 3}}, "padded size 4x2147483652 exceeds the int range");
}

namespace {
/* Crop of an NHWC tensor, float64. */
cstest::Tensor64 crop64(const cstest::Tensor64 &x, cstest::Shape s, int oh, int ow, int h, int w) {
    cstest::Tensor64 r;
    for (int n = 0; n < s.n; ++n)
        for (int i = 0; i < h; ++i)
            for (int j = 0; j < w; ++j)
                for (int c = 0; c < s.c; ++c) r.push_back(x[s.at(n, i + oh, j + ow, c)]);
    return r;
}
}  // namespace

TEST(Crop, GradientScattersIntoTheWindow) {
    const cstest::Shape s = {2, 7, 6, 3};
    cstest::check_grad({{s, cstest::random_floats(s.count(), 41)}},
                       [](cuseg_graph *g, const std::vector<int> &x) {
                           int y = -1;
                           EXPECT_EQ(cuseg_graph_crop(g, "crop", x[0], -1, 4, 3, 2, 1, &y), CUSEG_OK);
                           return y;
                       },
                       {}, [s](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &) {
                           return crop64(v[0], s, 2, 1, 4, 3);
                       });
}

TEST(Pad, GradientIsTheCropOfDy) {
    const cstest::Shape s = {2, 3, 4, 2};
    cstest::check_grad({{s, cstest::random_floats(s.count(), 42)}},
                       [](cuseg_graph *g, const std::vector<int> &x) {
                           int y = -1;
                           EXPECT_EQ(cuseg_graph_pad(g, "pad", x[0], 1, 2, 0, 3, &y), CUSEG_OK);
                           return y;
                       },
                       {}, [s](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &) {
                           const int H = s.h + 3, W = s.w + 3;
                           cstest::Tensor64 r((size_t)s.n * H * W * s.c, 0.0);
                           for (int n = 0; n < s.n; ++n)
                               for (int i = 0; i < s.h; ++i)
                                   for (int j = 0; j < s.w; ++j)
                                       for (int c = 0; c < s.c; ++c)
                                           r[(((size_t)n * H + i + 1) * W + j) * s.c + c] = v[0][s.at(n, i, j, c)];
                           return r;
                       });
}

/* Pad-to-like: 3x4 up to 6x7 puts the floor half (1 row, 1 column) at the
 * top/left and the rest (2 rows, 2 columns) at the bottom/right. */
TEST(Pad, ToTheSizeOfAnotherValue) {
    const cstest::Shape s = {2, 3, 4, 2}, like = {1, 6, 7, 5};
    auto ref = [s](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &) {
        cstest::Tensor64 r((size_t)s.n * 6 * 7 * s.c, 0.0);
        for (int n = 0; n < s.n; ++n)
            for (int i = 0; i < s.h; ++i)
                for (int j = 0; j < s.w; ++j)
                    for (int c = 0; c < s.c; ++c) r[(((size_t)n * 6 + i + 1) * 7 + j + 1) * s.c + c] = v[0][s.at(n, i, j, c)];
        return r;
    };
    cstest::GradCheck opt;
    opt.skip_input = {false, true}; /* `like` only lends its size */
    cstest::check_grad({{s, cstest::random_floats(s.count(), 44)}, {like, cstest::random_floats(like.count(), 45)}},
                       [](cuseg_graph *g, const std::vector<int> &x) {
                           int y = -1;
                           EXPECT_EQ(cuseg_graph_pad_to(g, "pad", x[0], x[1], &y), CUSEG_OK);
                           return y;
                       },
                       {}, [&](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &p) {
                           return ref(v, p);
                       },
                       opt);
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int a, b, y;
    ASSERT_EQ(cuseg_graph_input(g, "a", 2, &a), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_input(g, "b", 2, &b), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_pad_to(g, "pad", a, b, &y), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    cstest::CpuSession session(&g);
    const int shapes[2][4] = {{1, 6, 6, 2}, {1, 5, 8, 2}};
    cstest::expect_error(cuseg_session_plan(session.s, shapes, 2), CUSEG_ERR_SHAPE, "cannot pad 6x6 up to the smaller 5x8");
}

/* Centre crop (the original U-Net's skips): 13x10 to 7x6 drops 3 rows and 2
 * columns on every side; the gradient lands in the same window. */
TEST(Crop, CenterCropsToTheSizeOfLike) {
    Input x = random_input({2, 13, 10, 3}, 46), like = random_input({2, 7, 6, 1}, 47);
    auto outs = run_graph({x, like}, [](cuseg_graph *g, const std::vector<int> &in) {
        int y = -1;
        EXPECT_EQ(cuseg_graph_crop_center(g, "crop", in[0], in[1], &y), CUSEG_OK) << cuseg_last_error();
        return std::vector<int>{y};
    });
    ASSERT_EQ(outs.size(), 1u);
    expect_shape(outs[0], {2, 7, 6, 3});
    EXPECT_EQ(outs[0].f, crop_ref(x, 7, 6, 3, 2));

    const cstest::Shape s = {2, 7, 6, 2}, small = {2, 3, 4, 1};
    cstest::GradCheck opt;
    opt.skip_input = {false, true}; /* `like` only lends its size */
    cstest::check_grad({{s, cstest::random_floats(s.count(), 48)}, {small, cstest::random_floats(small.count(), 49)}},
                       [](cuseg_graph *g, const std::vector<int> &in) {
                           int y = -1;
                           EXPECT_EQ(cuseg_graph_crop_center(g, "crop", in[0], in[1], &y), CUSEG_OK);
                           return y;
                       },
                       {}, [s](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &) {
                           return crop64(v[0], s, 2, 1, 3, 4);
                       },
                       opt);
}

TEST(Crop, CenterCropRejectsOddOrNegativeDifferences) {
    auto center = [](cuseg_graph *g, const std::vector<int> &in) {
        int y = -1;
        EXPECT_EQ(cuseg_graph_crop_center(g, "crop", in[0], in[1], &y), CUSEG_OK);
        return y;
    };
    expect_plan_error(center, {3, 2}, {{1, 9, 8, 3}, {1, 6, 6, 2}},
                      "cannot centre-crop 9x8 to 6x6: the size differences must be even and >= 0");
    expect_plan_error(center, {3, 2}, {{1, 8, 8, 3}, {1, 6, 5, 2}}, "cannot centre-crop 8x8 to 6x5");
    expect_plan_error(center, {3, 2}, {{1, 4, 8, 3}, {1, 6, 6, 2}}, "cannot centre-crop 4x8 to 6x6");
}
