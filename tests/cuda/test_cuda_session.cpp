/* CUDA sessions: device choice, replanning, the caller's stream, running out
 * of device memory. The first tests run everywhere; the others skip without
 * a CUDA device. */
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#ifdef CUSEG_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "cuda_harness.h"

using namespace cstest;

namespace {

#define OK(call) ASSERT_EQ((call), CUSEG_OK) << cuseg_last_error()

/* x -> conv 3x3 (3 -> 16) -> relu -> conv 1x1 (16 -> 4) -> softmax. */
cuseg_model *small_model() {
    cuseg_graph *g = nullptr;
    cuseg_model *m = nullptr;
    int x = -1, y = -1;
    cuseg_conv2d_params p{};
    p.out_channels = 16, p.kernel_h = p.kernel_w = 3, p.has_bias = 1;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    if (cuseg_graph_create(&g) != CUSEG_OK) return nullptr;
    bool ok = cuseg_graph_input(g, "x", 3, &x) == CUSEG_OK &&
              cuseg_graph_conv2d(g, "c1", x, &p, &y) == CUSEG_OK &&
              cuseg_graph_relu(g, "r1", y, &y) == CUSEG_OK;
    p.out_channels = 4, p.kernel_h = p.kernel_w = 1;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 0;
    ok = ok && cuseg_graph_conv2d(g, "c2", y, &p, &y) == CUSEG_OK &&
         cuseg_graph_softmax(g, "sm", y, &y) == CUSEG_OK && cuseg_graph_output(g, y) == CUSEG_OK;
    if (ok) randomize_params(g, 3);
    if (!ok || cuseg_model_create(&g, &m) != CUSEG_OK) {
        cuseg_graph_release(g);
        return nullptr;
    }
    return m;
}

std::vector<float> run(cuseg_session *s, const std::vector<float> &data, int n, int h, int w) {
    cuseg_tensor *t = nullptr;
    EXPECT_EQ(cuseg_tensor_create(CUSEG_F32, n, h, w, 3, &t), CUSEG_OK);
    std::memcpy(cuseg_tensor_data(t), data.data(), data.size() * sizeof(float));
    std::vector<float> out;
    EXPECT_EQ(cuseg_session_run(s, &t, 1), CUSEG_OK) << cuseg_last_error();
    const cuseg_tensor *o = nullptr;
    if (cuseg_session_output(s, 0, &o) == CUSEG_OK) {
        const float *p = (const float *)cuseg_tensor_data(o);
        out.assign(p, p + cuseg_tensor_bytes(o) / sizeof(float));
    }
    cuseg_tensor_release(t);
    return out;
}

TEST(CudaContext, RejectsUnknownPrecision) {
    cuseg_context_options opt{};
    opt.device = "cpu";
    opt.precision = (cuseg_precision)7;
    cuseg_context *ctx = nullptr;
    expect_error(cuseg_context_create(&opt, &ctx), CUSEG_ERR_INVALID_ARGUMENT, "unknown precision 7");
    EXPECT_EQ(ctx, nullptr);
}

/* auto picks CUDA device 0 when there is one, else the CPU; the session says which. */
TEST(CudaContext, AutoResolvesPerSession) {
    cuseg_model *m = small_model();
    ASSERT_NE(m, nullptr);
    cuseg_context *ctx = nullptr;
    OK(cuseg_context_create(nullptr, &ctx));
    cuseg_session *s = nullptr;
    OK(cuseg_session_create(m, ctx, &s));
    EXPECT_STREQ(cuseg_session_device(s), cuseg_cuda_device_count() > 0 ? "cuda:0" : "cpu");
    cuseg_session_release(s);
    cuseg_context_release(ctx);
    cuseg_model_release(m);
}

class CudaSession : public ::testing::Test {
  protected:
    void SetUp() override {
        CUSEG_REQUIRE_CUDA();
        m_ = small_model();
        ASSERT_NE(m_, nullptr);
    }
    void TearDown() override {
        cuseg_session_release(s_);
        cuseg_context_release(ctx_);
        cuseg_model_release(m_);
    }
    void open(const cuseg_context_options &opt) {
        OK(cuseg_context_create(&opt, &ctx_));
        OK(cuseg_session_create(m_, ctx_, &s_));
    }
    cuseg_model *m_ = nullptr;
    cuseg_context *ctx_ = nullptr;
    cuseg_session *s_ = nullptr;
};

/* Replanning for new sizes gives what a fresh CPU session gives each time. */
TEST_F(CudaSession, ReplansWhenShapesChange) {
    cuseg_context_options opt{};
    opt.device = "cuda:0";
    open(opt);
    EXPECT_STREQ(cuseg_session_device(s_), "cuda:0");
    cuseg_context_options cpu_opt{};
    cpu_opt.device = "cpu";
    cuseg_context *cpu_ctx = nullptr;
    cuseg_session *cpu = nullptr;
    OK(cuseg_context_create(&cpu_opt, &cpu_ctx));
    OK(cuseg_session_create(m_, cpu_ctx, &cpu));
    const int sizes[][3] = {{1, 17, 9}, {3, 8, 31}, {1, 17, 9}};
    for (const auto &sz : sizes) {
        const auto x = random_floats((size_t)sz[0] * sz[1] * sz[2] * 3, (uint32_t)sz[1]);
        const std::vector<float> ref = run(cpu, x, sz[0], sz[1], sz[2]);
        const std::vector<float> got = run(s_, x, sz[0], sz[1], sz[2]);
        expect_close(got, std::vector<double>(ref.begin(), ref.end()), 1e-4);
    }
    cuseg_session_release(cpu);
    cuseg_context_release(cpu_ctx);
}

/* A plan that cannot fit is an out-of-memory error naming the arena, and the
 * same session then plans and runs a small input. */
TEST_F(CudaSession, OutOfMemoryLeavesTheSessionUsable) {
    cuseg_context_options opt{};
    opt.device = "cuda:0";
    open(opt);
    const int huge[1][4] = {{64, 16384, 16384, 3}}; /* 16 channels of it: 1 TiB */
    expect_error(cuseg_session_plan(s_, huge, 1), CUSEG_ERR_OUT_OF_MEMORY, "device memory");
    const auto x = random_floats(2 * 9 * 7 * 3, 5);
    EXPECT_EQ(run(s_, x, 2, 9, 7).size(), (size_t)2 * 9 * 7 * 4);
}

#ifdef CUSEG_WITH_CUDA
/* Work goes on the caller's stream; results equal the session's own stream. */
TEST_F(CudaSession, RunsOnTheCallersStream) {
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    cuseg_context_options opt{};
    opt.device = "cuda:0";
    opt.cuda_stream = stream;
    open(opt);
    const auto x = random_floats(1 * 21 * 19 * 3, 9);
    const std::vector<float> a = run(s_, x, 1, 21, 19);
    cuseg_context_options own{};
    own.device = "cuda:0";
    cuseg_context *ctx2 = nullptr;
    cuseg_session *s2 = nullptr;
    OK(cuseg_context_create(&own, &ctx2));
    OK(cuseg_session_create(m_, ctx2, &s2));
    EXPECT_EQ(run(s2, x, 1, 21, 19), a);
    cuseg_session_release(s2);
    cuseg_context_release(ctx2);
    cuseg_session_release(s_);
    s_ = nullptr;
    cudaStreamDestroy(stream);
}
#endif

/* The timed algorithm search gives results within fp32 tolerance of the
 * heuristics' (different algorithms, different summation orders). */
TEST_F(CudaSession, TimedSearchMatchesHeuristics) {
    cuseg_context_options opt{};
    opt.device = "cuda:0";
    opt.cudnn_search = 1;
    open(opt);
    const auto x = random_floats(2 * 33 * 35 * 3, 11);
    const std::vector<float> searched = run(s_, x, 2, 33, 35);
    cuseg_context_options plain{};
    plain.device = "cuda:0";
    cuseg_context *ctx2 = nullptr;
    cuseg_session *s2 = nullptr;
    OK(cuseg_context_create(&plain, &ctx2));
    OK(cuseg_session_create(m_, ctx2, &s2));
    const std::vector<float> heur = run(s2, x, 2, 33, 35);
    expect_close(searched, std::vector<double>(heur.begin(), heur.end()), 1e-4);
    cuseg_session_release(s2);
    cuseg_context_release(ctx2);
}

} // namespace
