#include <cmath>
#include <limits>
#include <string>

#include "grad_harness.h"
#include "op_harness.h"

using namespace cstest;

namespace {

const double kU = std::ldexp(1.0, -24); /* unit roundoff of fp32 */

struct Bn {
    std::vector<float> weight, bias, mean, var;
};

Bn random_bn(int C, uint32_t seed) {
    return {random_floats(C, seed, -2.0f, 2.0f), random_floats(C, seed + 1, -1.0f, 1.0f),
            random_floats(C, seed + 2, -1.0f, 1.0f), random_floats(C, seed + 3, 0.05f, 2.0f)};
}

void set_bn(cuseg_graph *g, const std::string &node, const Bn &bn) {
    EXPECT_EQ(cuseg_graph_set_param(g, (node + ".weight").c_str(), bn.weight.data(), bn.weight.size()),
              CUSEG_OK);
    EXPECT_EQ(cuseg_graph_set_param(g, (node + ".bias").c_str(), bn.bias.data(), bn.bias.size()),
              CUSEG_OK);
    EXPECT_EQ(cuseg_graph_set_param(g, (node + ".running_mean").c_str(), bn.mean.data(), bn.mean.size()),
              CUSEG_OK);
    EXPECT_EQ(cuseg_graph_set_param(g, (node + ".running_var").c_str(), bn.var.data(), bn.var.size()),
              CUSEG_OK);
}

/* The op computes y = x*s + t with s = weight/sqrt(var + eps) and
 * t = bias - mean*s, each rounded once to fp32 from double, then one multiply
 * and one add in fp32. To first order the error is
 *   |x*s|*2u (s, product) + |t|*u (t) + |y|*u (sum) <= 3u*|x*s| + 2u*|t|,
 * and |t| <= |bias| + |mean*s|; 4u on the sum of those magnitudes covers
 * the second-order terms. The bound is per element: y may cancel to ~0. */
void expect_bn(const Input &in, const std::vector<float> &got, const Bn &bn, float eps) {
    const int C = in.shape.c;
    ASSERT_EQ(got.size(), in.data.size());
    int reported = 0;
    for (size_t i = 0; i < in.data.size() && reported < 5; ++i) {
        const int c = (int)(i % C);
        const double x = in.data[i], s = bn.weight[c] / std::sqrt((double)bn.var[c] + (double)eps);
        const double ref = (x - bn.mean[c]) / std::sqrt((double)bn.var[c] + (double)eps) * bn.weight[c] +
                           bn.bias[c];
        const double bound = 4 * kU * (std::fabs(x * s) + std::fabs(bn.bias[c]) + std::fabs(bn.mean[c] * s));
        if (!(std::fabs(got[i] - ref) <= bound)) {
            ADD_FAILURE() << "element " << i << " (channel " << c << "): got " << got[i]
                          << ", expected " << ref << " (bound " << bound << ")";
            ++reported;
        }
    }
}

Output run_bn(const Input &in, float eps, const Bn *bn) {
    return run_op(
        in,
        [&](cuseg_graph *g, int x) {
            int y = -1;
            EXPECT_EQ(cuseg_graph_batch_norm(g, "bn1", x, eps, &y), CUSEG_OK) << cuseg_last_error();
            return y;
        },
        [&](cuseg_graph *g) {
            if (bn) set_bn(g, "bn1", *bn);
        });
}

}  // namespace

TEST(BatchNorm, MatchesReference) {
    /* PyTorch's, Keras's and caffe-segnet's eps. */
    for (float eps : {1e-5f, 1e-3f, 1e-9f}) {
        SCOPED_TRACE(eps);
        const Shape s = {3, 5, 7, 13};
        Input in{s, random_floats(s.count(), 1, -3.0f, 3.0f)};
        Bn bn = random_bn(s.c, 10);
        Output o = run_bn(in, eps, &bn);
        EXPECT_EQ(o.shape.n, 3);
        EXPECT_EQ(o.shape.h, 5);
        EXPECT_EQ(o.shape.w, 7);
        EXPECT_EQ(o.shape.c, 13);
        expect_bn(in, o.f, bn, eps);
    }
}

/* With zero variance only eps keeps the division finite: eps must be used
 * inside the square root, not added afterwards or dropped. */
TEST(BatchNorm, ZeroVarianceUsesEps) {
    const Shape s = {2, 3, 5, 6};
    Input in{s, random_floats(s.count(), 2, -3.0f, 3.0f)};
    Bn bn = random_bn(s.c, 20);
    for (int c = 0; c < s.c; c += 2) bn.var[c] = 0.0f;
    Output o = run_bn(in, 1e-3f, &bn);
    expect_bn(in, o.f, bn, 1e-3f);
}

/* Freshly built, the parameters are weight 1, bias 0, mean 0, var 1. */
TEST(BatchNorm, DefaultParametersDivideBySqrtOnePlusEps) {
    const Shape s = {2, 3, 3, 5};
    Input in{s, random_floats(s.count(), 3, -3.0f, 3.0f)};
    Output o = run_bn(in, 1e-5f, nullptr);
    Bn ones = {std::vector<float>(5, 1.0f), std::vector<float>(5, 0.0f), std::vector<float>(5, 0.0f),
               std::vector<float>(5, 1.0f)};
    expect_bn(in, o.f, ones, 1e-5f);
}

TEST(BatchNorm, DeclaresFourParameters) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 13, &x), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_batch_norm(g, "bn1", x, 1e-5f, &y), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(cuseg_graph_param_count(g), 4);
    const char *expected[4] = {"bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"};
    for (int i = 0; i < 4; ++i) {
        const char *name = nullptr;
        int dims[4] = {0, 0, 0, 0}, ndim = 0;
        ASSERT_EQ(cuseg_graph_param_info(g, i, &name, dims, &ndim), CUSEG_OK);
        EXPECT_STREQ(name, expected[i]);
        EXPECT_EQ(ndim, 1);
        EXPECT_EQ(dims[0], 13);
    }
    std::vector<float> twelve(12, 1.0f), thirteen(13, 1.0f);
    expect_error(cuseg_graph_set_param(g, "bn1.running_var", twelve.data(), twelve.size()),
                 CUSEG_ERR_SHAPE, "parameter 'bn1.running_var' has 13 elements, 12 were given");
    expect_error(cuseg_graph_set_param(g, "bn1.gamma", thirteen.data(), thirteen.size()),
                 CUSEG_ERR_NOT_FOUND, "no parameter named 'bn1.gamma'");
    EXPECT_EQ(cuseg_graph_set_param(g, "bn1.bias", thirteen.data(), thirteen.size()), CUSEG_OK);
    /* A second batch norm appends its own four. */
    int z;
    ASSERT_EQ(cuseg_graph_batch_norm(g, "bn2", y, 1e-3f, &z), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_param_count(g), 8);
    const char *name = nullptr;
    ASSERT_EQ(cuseg_graph_param_info(g, 7, &name, nullptr, nullptr), CUSEG_OK);
    EXPECT_STREQ(name, "bn2.running_var");
    cuseg_graph_release(g);
}

TEST(BatchNorm, RejectsBadEps) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    expect_error(cuseg_graph_batch_norm(g, "bn", x, 0.0f, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "batch_norm 'bn': eps must be finite and > 0, got 0");
    expect_error(cuseg_graph_batch_norm(g, "bn", x, -1e-5f, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "got -1e-05");
    expect_error(cuseg_graph_batch_norm(g, "bn", x, std::numeric_limits<float>::quiet_NaN(), &y),
                 CUSEG_ERR_INVALID_ARGUMENT, "got nan");
    expect_error(cuseg_graph_batch_norm(g, "bn", x, std::numeric_limits<float>::infinity(), &y),
                 CUSEG_ERR_INVALID_ARGUMENT, "got inf");
    expect_error(cuseg_graph_batch_norm(g, "bn", x, 1e-5f, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "batch_norm 'bn': output pointer is NULL");
    /* Nothing was added by the failed calls. */
    EXPECT_EQ(cuseg_graph_param_count(g), 0);
    int idx;
    ASSERT_EQ(cuseg_graph_argmax(g, "am", x, &idx), CUSEG_OK);
    expect_error(cuseg_graph_batch_norm(g, "bn", idx, 1e-5f, &y), CUSEG_ERR_SHAPE,
                 "batch_norm 'bn': input must be f32, got i32");
    cuseg_graph_release(g);
}

/* A negative running variance (a corrupt checkpoint) would give NaN
 * everywhere; planning names the channel instead. */
TEST(BatchNorm, RejectsNegativeVarianceWhenPlanning) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_batch_norm(g, "bn", x, 1e-5f, &y), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    const float var[4] = {1.0f, 0.5f, -0.5f, 2.0f};
    ASSERT_EQ(cuseg_graph_set_param(g, "bn.running_var", var, 4), CUSEG_OK);
    CpuSession session(&g);
    ASSERT_TRUE(session.ok()) << cuseg_last_error();
    cuseg_session *s = session.s;
    const int shape[1][4] = {{1, 3, 3, 4}};
    expect_error(cuseg_session_plan(s, shape, 1), CUSEG_ERR_INVALID_ARGUMENT,
                 "batch_norm 'bn': running_var[2] + eps = -0.49999 is not positive");
}

/* ---------------------------------------------------------------- training */

/* Training mode normalises with the batch's own statistics (biased
 * variance); its gradient flows through the mean and variance too. */
TEST(BatchNorm, TrainingGradientMatchesFiniteDifferences) {
    const cstest::Shape s = {2, 3, 4, 5};
    const double eps = 1e-5;
    std::vector<std::vector<float>> params = {cstest::random_floats(5, 91, 0.5f, 1.5f), cstest::random_floats(5, 92),
                                              std::vector<float>(5, 0.0f), std::vector<float>(5, 1.0f)};
    cstest::check_grad({{s, cstest::random_floats(s.count(), 93, -2.0f, 2.0f)}},
                       [](cuseg_graph *g, const std::vector<int> &x) {
                           int y = -1;
                           EXPECT_EQ(cuseg_graph_batch_norm(g, "bn", x[0], 1e-5f, &y), CUSEG_OK);
                           return y;
                       },
                       params, [&](const std::vector<cstest::Tensor64> &in, const std::vector<cstest::Tensor64> &p) {
                           const size_t M = s.count() / s.c;
                           cstest::Tensor64 y(in[0].size());
                           for (int c = 0; c < s.c; ++c) {
                               double mean = 0, var = 0;
                               for (size_t i = 0; i < M; ++i) mean += in[0][i * s.c + c];
                               mean /= M;
                               for (size_t i = 0; i < M; ++i) var += (in[0][i * s.c + c] - mean) * (in[0][i * s.c + c] - mean);
                               var /= M;
                               for (size_t i = 0; i < M; ++i)
                                   y[i * s.c + c] = (in[0][i * s.c + c] - mean) / std::sqrt(var + eps) * p[0][c] + p[1][c];
                           }
                           return y;
                       },
                       cstest::GradCheck{1e-4, 1e-4, {}});
}

/* Eval mode while training (--bn eval|frozen): the running statistics are
 * constants, BN is a per-channel affine map; the running statistics are
 * buffers and get no gradient. Non-trivial statistics, so that a backward
 * that used the batch's would fail. */
TEST(BatchNorm, EvalModeTrainingGradientMatchesFiniteDifferences) {
    const cstest::Shape s = {3, 5, 3, 4};
    const double eps = 1e-3;
    std::vector<std::vector<float>> params = {cstest::random_floats(4, 81, 0.5f, 1.5f), cstest::random_floats(4, 82),
                                              cstest::random_floats(4, 83, -0.5f, 0.5f),
                                              cstest::random_floats(4, 84, 0.3f, 2.0f)};
    cstest::GradCheck opt;
    opt.h = 1e-3;
    opt.skip_param = {false, false, true, true};
    opt.bn_eval = true;
    cstest::check_grad({{s, cstest::random_floats(s.count(), 85, -2.0f, 2.0f)}},
                       [](cuseg_graph *g, const std::vector<int> &x) {
                           int y = -1;
                           EXPECT_EQ(cuseg_graph_batch_norm(g, "bn", x[0], 1e-3f, &y), CUSEG_OK);
                           return y;
                       },
                       params, [&](const std::vector<cstest::Tensor64> &in, const std::vector<cstest::Tensor64> &p) {
                           cstest::Tensor64 y(in[0].size());
                           for (size_t i = 0; i < y.size(); ++i) {
                               const size_t c = i % s.c;
                               /* eps as the op sees it: the float 1e-3 */
                               y[i] = (in[0][i] - p[2][c]) / std::sqrt(p[3][c] + (double)(float)eps) * p[0][c] + p[1][c];
                           }
                           return y;
                       },
                       opt);
}
