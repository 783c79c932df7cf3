#include <string>

#include "grad_harness.h"
#include "op_harness.h"

using namespace cstest;

namespace {

/* Concatenation only moves values, so the result must match exactly. */
std::vector<float> concat_ref(const std::vector<Input> &ins) {
    const Shape &s0 = ins[0].shape;
    int total = 0;
    for (const Input &in : ins) total += in.shape.c;
    std::vector<float> out;
    out.reserve((size_t)s0.n * s0.h * s0.w * total);
    for (int n = 0; n < s0.n; ++n)
        for (int h = 0; h < s0.h; ++h)
            for (int w = 0; w < s0.w; ++w)
                for (const Input &in : ins)
                    for (int c = 0; c < in.shape.c; ++c) out.push_back(in.data[in.shape.at(n, h, w, c)]);
    return out;
}

Input random_input(Shape s, uint32_t seed) { return {s, random_floats(s.count(), seed)}; }

std::vector<int> concat_all(cuseg_graph *g, const std::vector<int> &in) {
    int y = -1;
    EXPECT_EQ(cuseg_graph_concat(g, "cat", in.data(), (int)in.size(), &y), CUSEG_OK)
        << cuseg_last_error();
    return {y};
}

}  // namespace

TEST(Concat, ThreeInputsInGivenOrder) {
    std::vector<Input> ins = {random_input({2, 5, 7, 3}, 1), random_input({2, 5, 7, 1}, 2),
                              random_input({2, 5, 7, 6}, 3)};
    for (int threads : {1, 2, 3}) {
        auto outs = run_graph(ins, concat_all, threads);
        ASSERT_EQ(outs.size(), 1u);
        EXPECT_EQ(outs[0].dtype, CUSEG_F32);
        EXPECT_EQ(outs[0].shape.n, 2);
        EXPECT_EQ(outs[0].shape.h, 5);
        EXPECT_EQ(outs[0].shape.w, 7);
        EXPECT_EQ(outs[0].shape.c, 10);
        EXPECT_EQ(outs[0].f, concat_ref(ins));
    }
}

TEST(Concat, ReversedOrderSwapsChannelRuns) {
    std::vector<Input> ins = {random_input({3, 4, 9, 2}, 4), random_input({3, 4, 9, 5}, 5)};
    auto outs = run_graph(ins, [](cuseg_graph *g, const std::vector<int> &in) {
        return concat_all(g, {in[1], in[0]});
    });
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0].f, concat_ref({ins[1], ins[0]}));
}

TEST(Concat, SingleInputIsACopy) {
    Input in = random_input({2, 3, 5, 7}, 6);
    auto outs = run_graph({in}, concat_all);
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0].f, in.data);
}

TEST(Concat, SameValueTwice) {
    Input in = random_input({2, 3, 5, 3}, 7);
    auto outs = run_graph({in}, [](cuseg_graph *g, const std::vector<int> &x) {
        return concat_all(g, {x[0], x[0]});
    });
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0].f, concat_ref({in, in}));
}

/* More inputs than the graph's and the planner's on-stack shape arrays hold. */
TEST(Concat, ManyInputs) {
    std::vector<Input> ins;
    for (int i = 0; i < 11; ++i) ins.push_back(random_input({2, 3, 5, 1 + i % 4}, 100 + i));
    auto outs = run_graph(ins, concat_all);
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0].shape.c, 3 * (1 + 2 + 3 + 4) - 4);
    EXPECT_EQ(outs[0].f, concat_ref(ins));
}

TEST(Concat, RejectsBadArguments) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    const int xs[2] = {x, x};
    expect_error(cuseg_graph_concat(g, "cat", xs, 0, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "concat 'cat': needs at least one input, got 0");
    expect_error(cuseg_graph_concat(g, "cat", nullptr, 2, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "concat 'cat': input list is NULL");
    expect_error(cuseg_graph_concat(g, "cat", xs, 2, nullptr), CUSEG_ERR_INVALID_ARGUMENT,
                 "concat 'cat': output pointer is NULL");
    const int bad[2] = {x, 42};
    expect_error(cuseg_graph_concat(g, "cat", bad, 2, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "value 42 does not exist");
    EXPECT_EQ(cuseg_graph_param_count(g), 0);
    cuseg_graph_release(g);
}

TEST(Concat, RejectsNonFloatInputNamingIt) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, idx, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_argmax(g, "am", x, &idx), CUSEG_OK) << cuseg_last_error();
    const int xs[3] = {x, x, idx};
    expect_error(cuseg_graph_concat(g, "cat", xs, 3, &y), CUSEG_ERR_SHAPE,
                 "concat 'cat': input 2 must be f32, got i32");
    cuseg_graph_release(g);
}

/* Values carry only their channel count in the graph, so spatial sizes are
 * compared when a session plans. */
TEST(Concat, RejectsSpatialMismatchAtPlanTime) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int a, b, c, y;
    ASSERT_EQ(cuseg_graph_input(g, "a", 3, &a), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_input(g, "b", 1, &b), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_input(g, "c", 2, &c), CUSEG_OK);
    const int xs[3] = {a, b, c};
    ASSERT_EQ(cuseg_graph_concat(g, "cat", xs, 3, &y), CUSEG_OK) << cuseg_last_error();
    int channels = 0;
    ASSERT_EQ(cuseg_graph_value_channels(g, y, &channels), CUSEG_OK);
    EXPECT_EQ(channels, 6);
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    CpuSession session(&g);
    ASSERT_TRUE(session.ok()) << cuseg_last_error();
    cuseg_session *s = session.s;
    const int batch[3][4] = {{2, 8, 8, 3}, {2, 8, 8, 1}, {1, 8, 8, 2}};
    expect_error(cuseg_session_plan(s, batch, 3), CUSEG_ERR_SHAPE,
                 "input 2 vs input 0: batch and spatial sizes differ: 1x8x8x2 f32 vs 2x8x8x3 f32");
    EXPECT_NE(std::string(cuseg_last_error()).find("concat 'cat'"), std::string::npos);
    const int width[3][4] = {{2, 8, 8, 3}, {2, 8, 9, 1}, {2, 8, 8, 2}};
    expect_error(cuseg_session_plan(s, width, 3), CUSEG_ERR_SHAPE,
                 "input 1 vs input 0: batch and spatial sizes differ: 2x8x9x1 f32 vs 2x8x8x3 f32");
    const int good[3][4] = {{2, 8, 8, 3}, {2, 8, 8, 1}, {2, 8, 8, 2}};
    EXPECT_EQ(cuseg_session_plan(s, good, 3), CUSEG_OK) << cuseg_last_error();
}

TEST(Concat, GradientSplitsIntoTheInputs) {
    using cstest::Tensor64;
    const std::vector<cstest::Input> in = {{{2, 3, 4, 2}, cstest::random_floats(48, 31)},
                                           {{2, 3, 4, 3}, cstest::random_floats(72, 32)}};
    cstest::check_grad(
        in,
        [](cuseg_graph *g, const std::vector<int> &x) {
            int y = -1;
            EXPECT_EQ(cuseg_graph_concat(g, "cat", x.data(), 2, &y), CUSEG_OK);
            return y;
        },
        {}, [](const std::vector<Tensor64> &v, const std::vector<Tensor64> &) {
            Tensor64 r;
            for (size_t p = 0; p < 24; ++p) {
                r.insert(r.end(), v[0].begin() + p * 2, v[0].begin() + p * 2 + 2);
                r.insert(r.end(), v[1].begin() + p * 3, v[1].begin() + p * 3 + 3);
            }
            return r;
        });
}
