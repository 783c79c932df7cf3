#include <cmath>
#include <limits>
#include <string>

#include "grad_harness.h"
#include "op_harness.h"

using namespace cstest;

namespace {

const double kU = std::ldexp(1.0, -24); /* unit roundoff of fp32 */

std::vector<double> softmax_ref(const Input &in) {
    const int C = in.shape.c;
    std::vector<double> out(in.data.size());
    for (size_t p = 0; p < in.data.size() / C; ++p) {
        double m = -INFINITY, sum = 0;
        for (int c = 0; c < C; ++c) m = std::max(m, (double)in.data[p * C + c]);
        for (int c = 0; c < C; ++c) sum += std::exp((double)in.data[p * C + c] - m);
        for (int c = 0; c < C; ++c) out[p * C + c] = std::exp((double)in.data[p * C + c] - m) / sum;
    }
    return out;
}

/* Error bound of the fp32 softmax, absolute, for C channels. Per pixel:
 * d = x - max is rounded (relative u) and expf adds < 1 ulp, so e = exp(d)
 * is off by at most exp(d)*(1 + |d|)*u <= 1.37u, since exp(d) <= 1 and
 * |d|*exp(d) <= 1/e for d <= 0. The sum S >= 1 of C such terms gains (C-1)u from
 * the additions, so its relative error is <= (C-1)u + 1.37*C*u; the
 * division adds u. With y <= 1 that gives |y - ref| <= (2.37*C + 1.37)*u;
 * (3C + 2)u leaves room for second-order terms. */
double softmax_bound(int C) { return (3.0 * C + 2.0) * kU; }

void expect_within(const std::vector<float> &got, const std::vector<double> &ref, double bound) {
    ASSERT_EQ(got.size(), ref.size());
    int reported = 0;
    for (size_t i = 0; i < ref.size() && reported < 5; ++i)
        if (!(std::fabs(got[i] - ref[i]) <= bound)) {
            ADD_FAILURE() << "element " << i << ": got " << got[i] << ", expected " << ref[i]
                          << " (bound " << bound << ")";
            ++reported;
        }
}

std::vector<int32_t> argmax_ref(const Input &in) {
    const int C = in.shape.c;
    std::vector<int32_t> out(in.data.size() / C);
    for (size_t p = 0; p < out.size(); ++p) {
        int best = 0;
        for (int c = 1; c < C; ++c)
            if (in.data[p * C + c] > in.data[p * C + best]) best = c;
        out[p] = best;
    }
    return out;
}

int softmax(cuseg_graph *g, int x) {
    int y = -1;
    EXPECT_EQ(cuseg_graph_softmax(g, "prob", x, &y), CUSEG_OK) << cuseg_last_error();
    return y;
}

int argmax(cuseg_graph *g, int x) {
    int y = -1;
    EXPECT_EQ(cuseg_graph_argmax(g, "label", x, &y), CUSEG_OK) << cuseg_last_error();
    return y;
}

}  // namespace

TEST(Softmax, MatchesReference) {
    for (int C : {1, 2, 11, 21}) {
        SCOPED_TRACE(C);
        const Shape s = {2, 7, 5, C};
        Input in{s, random_floats(s.count(), 10 + C, -4.0f, 4.0f)};
        Output o = run_op(in, softmax);
        EXPECT_EQ(o.dtype, CUSEG_F32);
        EXPECT_EQ(o.shape.c, C);
        expect_within(o.f, softmax_ref(in), softmax_bound(C));
        if (C == 1) {
            for (float v : o.f) ASSERT_EQ(v, 1.0f);
        }
    }
}

/* exp(100) overflows fp32 and exp(-1000) underflows to 0: without the max
 * subtraction these give inf/inf or 0/0. */
TEST(Softmax, LargeLogitsAreStable) {
    const Shape s = {3, 5, 3, 7};
    struct Case { float lo, hi; };
    for (Case k : {Case{-100.0f, 100.0f}, Case{995.0f, 1005.0f}, Case{-1005.0f, -995.0f}}) {
        SCOPED_TRACE(k.lo);
        Input in{s, random_floats(s.count(), 20, k.lo, k.hi)};
        Output o = run_op(in, softmax);
        for (float v : o.f) ASSERT_TRUE(std::isfinite(v)) << v;
        expect_within(o.f, softmax_ref(in), softmax_bound(s.c));
    }
}

TEST(Softmax, RejectsNonFloatInput) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, idx, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_argmax(g, "am", x, &idx), CUSEG_OK);
    expect_error(cuseg_graph_softmax(g, "sm", idx, &y), CUSEG_ERR_SHAPE,
                 "softmax 'sm': input must be f32, got i32");
    expect_error(cuseg_graph_softmax(g, "sm", x, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "softmax 'sm': output pointer is NULL");
    cuseg_graph_release(g);
}

TEST(Argmax, MatchesReference) {
    const Shape s = {3, 9, 7, 21};
    Input in{s, random_floats(s.count(), 30, -10.0f, 10.0f)};
    for (int threads : {1, 2, 3}) {
        auto outs = run_graph({in}, [](cuseg_graph *g, const std::vector<int> &x) {
            return std::vector<int>{argmax(g, x[0])};
        }, threads);
        ASSERT_EQ(outs.size(), 1u);
        EXPECT_EQ(outs[0].dtype, CUSEG_I32);
        EXPECT_EQ(outs[0].shape.n, 3);
        EXPECT_EQ(outs[0].shape.h, 9);
        EXPECT_EQ(outs[0].shape.w, 7);
        EXPECT_EQ(outs[0].shape.c, 1);
        EXPECT_EQ(outs[0].i, argmax_ref(in));
    }
}

/* Values from {0, 1, 2} make ties in almost every pixel: the first maximum
 * wins, as in torch.argmax. */
TEST(Argmax, FirstMaximumWinsTies) {
    const Shape s = {2, 5, 3, 6};
    Input in{s, random_floats(s.count(), 31, 0.0f, 3.0f)};
    for (float &v : in.data) v = std::floor(v);
    Output o = run_op(in, argmax);
    std::vector<int32_t> ref = argmax_ref(in);
    EXPECT_EQ(o.i, ref);
    /* The data must really contain ties where a later channel equals the max. */
    int tied = 0;
    for (size_t p = 0; p < ref.size(); ++p)
        for (int c = ref[p] + 1; c < s.c; ++c) tied += in.data[p * s.c + c] == in.data[p * s.c + ref[p]];
    EXPECT_GT(tied, 10);
}

TEST(Argmax, NanCountsAsMaximumLikeTorch) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Input in{{1, 1, 4, 3}, {1, nan, 3, /**/ nan, 5, nan, /**/ 2, 7, 7, /**/ -INFINITY, -INFINITY, -INFINITY}};
    Output o = run_op(in, argmax);
    EXPECT_EQ(o.i, (std::vector<int32_t>{1, 0, 1, 0}));
}

TEST(Argmax, RejectsNonFloatInput) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, idx, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_argmax(g, "am", x, &idx), CUSEG_OK);
    int channels = 0;
    ASSERT_EQ(cuseg_graph_value_channels(g, idx, &channels), CUSEG_OK);
    EXPECT_EQ(channels, 1);
    expect_error(cuseg_graph_argmax(g, "am2", idx, &y), CUSEG_ERR_SHAPE,
                 "argmax 'am2': input must be f32, got i32");
    expect_error(cuseg_graph_argmax(g, "am3", x, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "argmax 'am3': output pointer is NULL");
    cuseg_graph_release(g);
}

TEST(Softmax, GradientMatchesFiniteDifferences) {
    const cstest::Shape s = {2, 3, 5, 7};
    cstest::check_grad({{s, cstest::random_floats(s.count(), 51, -3.0f, 3.0f)}},
                       [](cuseg_graph *g, const std::vector<int> &x) {
                           int y = -1;
                           EXPECT_EQ(cuseg_graph_softmax(g, "sm", x[0], &y), CUSEG_OK);
                           return y;
                       },
                       {}, [s](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &) {
                           cstest::Tensor64 r(v[0].size());
                           for (size_t p = 0; p < v[0].size() / s.c; ++p) {
                               double m = v[0][p * s.c], sum = 0;
                               for (int c = 1; c < s.c; ++c) m = std::max(m, v[0][p * s.c + c]);
                               for (int c = 0; c < s.c; ++c) sum += std::exp(v[0][p * s.c + c] - m);
                               for (int c = 0; c < s.c; ++c) r[p * s.c + c] = std::exp(v[0][p * s.c + c] - m) / sum;
                           }
                           return r;
                       });
}
