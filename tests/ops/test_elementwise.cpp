#include <cmath>

#include "grad_harness.h"
#include "op_harness.h"

using namespace cstest;

namespace {

const Shape kShape = {2, 5, 3, 7}; /* odd sizes; small enough for per-element finite differences */

Input random_input(uint32_t seed, float lo = -8.0f, float hi = 8.0f) {
    return {kShape, random_floats(kShape.count(), seed, lo, hi)};
}

std::vector<double> map(const std::vector<float> &x, double (*f)(double)) {
    std::vector<double> r(x.size());
    for (size_t i = 0; i < x.size(); ++i) r[i] = f(x[i]);
    return r;
}

}  // namespace

TEST(Relu, MatchesReference) {
    Input in = random_input(1);
    Output o = run_op(in, [](cuseg_graph *g, int x) {
        int y;
        EXPECT_EQ(cuseg_graph_relu(g, "relu", x, &y), CUSEG_OK);
        return y;
    });
    expect_close(o.f, map(in.data, [](double v) { return v > 0 ? v : 0.0; }), 0.0);
}

TEST(Relu6, MatchesReference) {
    Input in = random_input(2);
    Output o = run_op(in, [](cuseg_graph *g, int x) {
        int y;
        EXPECT_EQ(cuseg_graph_relu6(g, "relu6", x, &y), CUSEG_OK);
        return y;
    });
    expect_close(o.f, map(in.data, [](double v) { return std::min(std::max(v, 0.0), 6.0); }), 0.0);
}

TEST(Sigmoid, MatchesReference) {
    Input in = random_input(3);
    Output o = run_op(in, [](cuseg_graph *g, int x) {
        int y;
        EXPECT_EQ(cuseg_graph_sigmoid(g, "sig", x, &y), CUSEG_OK);
        return y;
    });
    /* expf is accurate to a few ulp; 1/(1+e) adds two roundings. */
    expect_close(o.f, map(in.data, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }), 1e-6);
}

TEST(Dropout, IsIdentityAtInference) {
    Input in = random_input(4);
    Output o = run_op(in, [](cuseg_graph *g, int x) {
        int y;
        EXPECT_EQ(cuseg_graph_dropout(g, "drop", x, 0.5f, &y), CUSEG_OK);
        return y;
    });
    EXPECT_EQ(o.f, in.data);
}

TEST(Dropout, RejectsBadProbability) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    expect_error(cuseg_graph_dropout(g, "drop1", x, 1.0f, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "dropout 'drop1': probability must be in [0, 1)");
    cuseg_graph_release(g);
}

TEST(Scale, MatchesReference) {
    Input in = random_input(5);
    Output o = run_op(in, [](cuseg_graph *g, int x) {
        int y;
        EXPECT_EQ(cuseg_graph_scale(g, "scale", x, 0.37f, -1.25f, &y), CUSEG_OK);
        return y;
    });
    std::vector<double> ref(in.data.size());
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = in.data[i] * (double)0.37f + (double)-1.25f;
    expect_close(o.f, ref, 1e-6); /* one multiply-add: two roundings at most */
}

TEST(Add, MatchesReference) {
    Input a = random_input(6), b = random_input(7);
    auto outs = run_graph({a, b}, [](cuseg_graph *g, const std::vector<int> &in) {
        int y;
        EXPECT_EQ(cuseg_graph_add(g, "add", in[0], in[1], &y), CUSEG_OK);
        return std::vector<int>{y};
    });
    ASSERT_EQ(outs.size(), 1u);
    std::vector<double> ref(a.data.size());
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = (double)a.data[i] + b.data[i];
    expect_close(outs[0].f, ref, 1e-7); /* one rounding */
}

TEST(Add, RejectsChannelMismatchAndSpatialMismatch) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int a, b, c, y;
    ASSERT_EQ(cuseg_graph_input(g, "a", 4, &a), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_input(g, "b", 5, &b), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_input(g, "c", 4, &c), CUSEG_OK);
    expect_error(cuseg_graph_add(g, "sum", a, b, &y), CUSEG_ERR_SHAPE,
                 "add 'sum': channels differ: 4 vs 5");
    ASSERT_EQ(cuseg_graph_add(g, "sum", a, c, &y), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    CpuSession session(&g);
    ASSERT_TRUE(session.ok()) << cuseg_last_error();
    cuseg_session *s = session.s;
    const int shapes[3][4] = {{1, 8, 8, 4}, {1, 8, 8, 5}, {1, 8, 9, 4}};
    expect_error(cuseg_session_plan(s, shapes, 3), CUSEG_ERR_SHAPE, "add 'sum'");
    EXPECT_NE(std::string(cuseg_last_error()).find("1x8x8x4 f32 vs 1x8x9x4 f32"), std::string::npos)
        << cuseg_last_error();
}

/* ---------------------------------------------------------------- gradients */

namespace {

/* Inputs kept at least 0.05 away from the kinks at 0 and 6 (h = 1e-3). */
Input away_from_kinks(uint32_t seed) {
    Input in = random_input(seed, -8.0f, 8.0f);
    for (float &v : in.data) {
        if (std::fabs(v) < 0.05f) v = v < 0 ? -0.05f - v : 0.05f + v;
        if (std::fabs(v - 6.0f) < 0.05f) v += 0.1f;
    }
    return in;
}

int unary_node(cuseg_graph *g, const std::vector<int> &x, cuseg_status (*fn)(cuseg_graph *, const char *, int, int *)) {
    int y = -1;
    EXPECT_EQ(fn(g, "op", x[0], &y), CUSEG_OK);
    return y;
}

Tensor64 map64(const Tensor64 &x, double (*f)(double)) {
    Tensor64 r(x.size());
    for (size_t i = 0; i < x.size(); ++i) r[i] = f(x[i]);
    return r;
}

}  // namespace

TEST(Relu, GradientMatchesFiniteDifferences) {
    check_grad({away_from_kinks(11)}, [](cuseg_graph *g, const std::vector<int> &x) { return unary_node(g, x, cuseg_graph_relu); },
               {}, [](const std::vector<Tensor64> &in, const std::vector<Tensor64> &) {
                   return map64(in[0], [](double v) { return v > 0 ? v : 0.0; });
               });
}

TEST(Relu6, GradientMatchesFiniteDifferences) {
    check_grad({away_from_kinks(12)}, [](cuseg_graph *g, const std::vector<int> &x) { return unary_node(g, x, cuseg_graph_relu6); },
               {}, [](const std::vector<Tensor64> &in, const std::vector<Tensor64> &) {
                   return map64(in[0], [](double v) { return std::min(std::max(v, 0.0), 6.0); });
               });
}

TEST(Sigmoid, GradientMatchesFiniteDifferences) {
    check_grad({random_input(13)}, [](cuseg_graph *g, const std::vector<int> &x) { return unary_node(g, x, cuseg_graph_sigmoid); },
               {}, [](const std::vector<Tensor64> &in, const std::vector<Tensor64> &) {
                   return map64(in[0], [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
               });
}

TEST(Dropout, WithZeroProbabilityTheGradientIsTheIdentity) {
    check_grad({random_input(14)},
               [](cuseg_graph *g, const std::vector<int> &x) {
                   int y = -1;
                   EXPECT_EQ(cuseg_graph_dropout(g, "drop", x[0], 0.0f, &y), CUSEG_OK);
                   return y;
               },
               {}, [](const std::vector<Tensor64> &in, const std::vector<Tensor64> &) { return in[0]; });
}

/* Training mode: each element is kept with probability 1 - p and scaled by
 * 1 / (1 - p); the gradient flows through exactly the kept elements with the
 * same scale. The kept fraction of 10^5 elements is within 4 standard
 * deviations (4 sqrt(p(1-p)/n) = 0.0058) of 1 - p. */
TEST(Dropout, TrainingMaskScalesAndRoutesTheGradient) {
    const Shape s = {4, 25, 25, 40};
    const std::vector<float> x = random_floats(s.count(), 15, 0.5f, 1.5f), dy = random_floats(s.count(), 16);
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int in, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", s.c, &in), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_dropout(g, "drop", in, 0.3f, &y), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    const int dims[1][4] = {{s.n, s.h, s.w, s.c}};
    cs_plan plan;
    ASSERT_EQ(cs_plan_build_training(g, dims, 1, &plan), CUSEG_OK);
    cs_step *st = &plan.steps[0];
    cs_cpu cpu = {};
    cpu.n_threads = 2;
    cpu.training = 1;
    cpu.seed = 42;
    const cs_op_def *def = cs_op(CS_OP_DROPOUT);
    ASSERT_EQ(def->cpu_prepare(st, g, &cpu), CUSEG_OK);
    std::vector<float> out(s.count()), out2(s.count()), dx(s.count(), 0.0f);
    const void *ins[1] = {x.data()};
    void *outs[1] = {out.data()};
    const cs_io io = {ins, outs};
    ASSERT_EQ(def->cpu_forward(st, &io, &cpu), CUSEG_OK);
    const float *douts[1] = {dy.data()};
    float *dins[1] = {dx.data()};
    const void *fouts[1] = {out.data()};
    const cs_grad_io gio = {ins, fouts, douts, dins, nullptr};
    ASSERT_EQ(def->cpu_backward(st, &gio, &cpu), CUSEG_OK);
    size_t kept = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        if (out[i] != 0.0f) {
            ++kept;
            ASSERT_EQ(out[i], x[i] * (1.0f / 0.7f)) << i;
            ASSERT_EQ(dx[i], dy[i] * (1.0f / 0.7f)) << i;
        } else {
            ASSERT_EQ(dx[i], 0.0f) << i;
        }
    }
    EXPECT_NEAR((double)kept / x.size(), 0.7, 0.0058);
    /* A new draw gives a new mask; the same seed and draw count give the same. */
    void *outs2[1] = {out2.data()};
    const cs_io io2 = {ins, outs2};
    ASSERT_EQ(def->cpu_forward(st, &io2, &cpu), CUSEG_OK);
    EXPECT_NE(out, out2);
    cpu.draws = 0;
    ASSERT_EQ(def->cpu_forward(st, &io2, &cpu), CUSEG_OK);
    EXPECT_EQ(out, out2);
    def->cpu_release(st->state);
    st->state = nullptr;
    cs_plan_free(&plan);
    cuseg_graph_release(g);
}

TEST(Scale, GradientMatchesFiniteDifferences) {
    check_grad({random_input(15)},
               [](cuseg_graph *g, const std::vector<int> &x) {
                   int y = -1;
                   EXPECT_EQ(cuseg_graph_scale(g, "s", x[0], -1.75f, 0.5f, &y), CUSEG_OK);
                   return y;
               },
               {}, [](const std::vector<Tensor64> &in, const std::vector<Tensor64> &) {
                   Tensor64 r(in[0].size());
                   for (size_t i = 0; i < r.size(); ++i) r[i] = in[0][i] * -1.75 + 0.5;
                   return r;
               });
}

TEST(Add, GradientReachesBothInputs) {
    check_grad({random_input(16), random_input(17)},
               [](cuseg_graph *g, const std::vector<int> &x) {
                   int y = -1;
                   EXPECT_EQ(cuseg_graph_add(g, "sum", x[0], x[1], &y), CUSEG_OK);
                   return y;
               },
               {}, [](const std::vector<Tensor64> &in, const std::vector<Tensor64> &) {
                   Tensor64 r(in[0].size());
                   for (size_t i = 0; i < r.size(); ++i) r[i] = in[0][i] + in[1][i];
                   return r;
               });
}
