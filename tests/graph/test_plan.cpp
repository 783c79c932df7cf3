/* The memory planner, the session life cycle and the API's error contract. */
#include <algorithm>
#include <cstdint>

#include "model_maker.h"
#include "op_harness.h"

extern "C" {
#include "graph/plan.h"
}

using namespace cstest;

/* Random lifetimes and sizes: no two buffers that are alive at the same
 * step may overlap, every offset is aligned, and the peak is the true end. */
TEST(MemoryPlan, OffsetsNeverOverlapForOverlappingLifetimes) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        const int n = 1 + (int)(rng() % 40);
        std::vector<size_t> size(n), offset(n);
        std::vector<int> first(n), last(n);
        for (int i = 0; i < n; ++i) {
            size[i] = rng() % 5 == 0 ? 0 : 1 + rng() % 5000;
            first[i] = (int)(rng() % 30);
            last[i] = first[i] + (int)(rng() % 10);
        }
        size_t peak = 0;
        ASSERT_EQ(cs_plan_offsets(size.data(), first.data(), last.data(), n, 64, offset.data(), &peak),
                  CUSEG_OK);
        size_t end_max = 0, live_max = 0;
        for (int i = 0; i < n; ++i) {
            if (size[i] == 0) {
                EXPECT_EQ(offset[i], SIZE_MAX);
                continue;
            }
            EXPECT_EQ(offset[i] % 64, 0u);
            end_max = std::max(end_max, offset[i] + size[i]);
            for (int j = 0; j < i; ++j) {
                if (size[j] == 0 || first[i] > last[j] || first[j] > last[i]) continue;
                bool disjoint = offset[i] + size[i] <= offset[j] || offset[j] + size[j] <= offset[i];
                EXPECT_TRUE(disjoint) << "buffers " << i << " and " << j << " overlap";
            }
        }
        for (int t = 0; t < 40; ++t) {
            size_t live = 0;
            for (int i = 0; i < n; ++i)
                if (size[i] && first[i] <= t && t <= last[i]) live += size[i];
            live_max = std::max(live_max, live);
        }
        EXPECT_GE(peak, end_max);
        EXPECT_LE(peak, end_max + 64);
        EXPECT_GE(peak, live_max); /* no plan can beat the largest live set */
    }
}

/* A chain x -> s1 -> ... -> s12 needs only two live buffers at a time: the
 * arena must hold 2 activations, not 12, and the results stay right. */
TEST(MemoryPlan, ChainReusesBuffersAndStaysCorrect) {
    const Shape xs = {2, 33, 17, 3};
    Input in{xs, random_floats(xs.count(), 3)};
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int v;
    ASSERT_EQ(cuseg_graph_input(g, "x", 3, &v), CUSEG_OK);
    for (int i = 0; i < 12; ++i)
        ASSERT_EQ(cuseg_graph_scale(g, ("s" + std::to_string(i)).c_str(), v, 1.5f, 0.25f, &v), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, v), CUSEG_OK);
    cuseg_model *m;
    ASSERT_EQ(cuseg_model_create(&g, &m), CUSEG_OK);
    cuseg_context *ctx;
    cuseg_context_options cpu = {"cpu", 0};
    ASSERT_EQ(cuseg_context_create(&cpu, &ctx), CUSEG_OK);
    EXPECT_STREQ(cuseg_context_device(ctx), "cpu");
    cuseg_session *s;
    ASSERT_EQ(cuseg_session_create(m, ctx, &s), CUSEG_OK);
    cuseg_tensor *t;
    ASSERT_EQ(cuseg_tensor_create(CUSEG_F32, xs.n, xs.h, xs.w, xs.c, &t), CUSEG_OK);
    std::copy(in.data.begin(), in.data.end(), (float *)cuseg_tensor_data(t));
    ASSERT_EQ(cuseg_session_run(s, &t, 1), CUSEG_OK) << cuseg_last_error();
    size_t arena = 0, unplanned = 0;
    ASSERT_EQ(cuseg_session_memory(s, &arena, &unplanned), CUSEG_OK);
    const size_t one = xs.count() * sizeof(float), aligned = (one + 63) / 64 * 64;
    EXPECT_EQ(unplanned, 12 * one);
    EXPECT_EQ(arena, 2 * aligned);
    const cuseg_tensor *out;
    ASSERT_EQ(cuseg_session_output(s, 0, &out), CUSEG_OK);
    std::vector<double> ref(in.data.begin(), in.data.end());
    for (double &r : ref)
        for (int i = 0; i < 12; ++i) r = r * 1.5 + 0.25;
    const float *o = (const float *)cuseg_tensor_data(out);
    /* 12 multiply-adds, each one rounding relative to values growing ~1.5x. */
    expect_close(std::vector<float>(o, o + xs.count()), ref, 1e-6);

    /* A new input size re-plans by itself. */
    cuseg_tensor *t2;
    ASSERT_EQ(cuseg_tensor_create(CUSEG_F32, 1, 5, 4, 3, &t2), CUSEG_OK);
    ASSERT_EQ(cuseg_session_run(s, &t2, 1), CUSEG_OK);
    ASSERT_EQ(cuseg_session_output(s, 0, &out), CUSEG_OK);
    int d[4];
    cuseg_tensor_shape(out, d);
    EXPECT_EQ(d[0], 1);
    EXPECT_EQ(d[1], 5);
    EXPECT_EQ(d[2], 4);
    EXPECT_FLOAT_EQ(((const float *)cuseg_tensor_data(out))[0], 0.25f * (std::pow(1.5f, 12) - 1) / 0.5f);
    cuseg_tensor_release(t);
    cuseg_tensor_release(t2);
    cuseg_session_release(s);
    cuseg_context_release(ctx);
    cuseg_model_release(m);
}

/* Nodes that no output depends on are not run and get no memory. */
TEST(MemoryPlan, DeadNodesAreSkipped) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, a, dead;
    ASSERT_EQ(cuseg_graph_input(g, "x", 4, &x), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_relu(g, "a", x, &a), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_sigmoid(g, "dead", x, &dead), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, a), CUSEG_OK);
    cuseg_model *m;
    ASSERT_EQ(cuseg_model_create(&g, &m), CUSEG_OK);
    cs_plan plan;
    const int shape[1][4] = {{1, 8, 8, 4}};
    ASSERT_EQ(cs_plan_build(cuseg_model_graph(m), shape, 1, &plan), CUSEG_OK);
    EXPECT_EQ(plan.n_steps, 1);
    EXPECT_EQ(plan.unplanned_bytes, 8u * 8 * 4 * sizeof(float));
    cs_plan_free(&plan);
    cuseg_model_release(m);
}

TEST(Api, NullHandlesAndBadArgumentsReturnErrors) {
    EXPECT_STREQ(cuseg_version(), CUSEG_VERSION_STRING);
    expect_error(cuseg_graph_create(nullptr), CUSEG_ERR_INVALID_ARGUMENT, "out is NULL");
    int v;
    expect_error(cuseg_graph_input(nullptr, "x", 3, &v), CUSEG_ERR_INVALID_ARGUMENT, "NULL argument");
    expect_error(cuseg_graph_relu(nullptr, "r", 0, &v), CUSEG_ERR_INVALID_ARGUMENT, "graph is NULL");
    expect_error(cuseg_session_run(nullptr, nullptr, 0), CUSEG_ERR_INVALID_ARGUMENT, "session is NULL");
    expect_error(cuseg_session_create(nullptr, nullptr, nullptr), CUSEG_ERR_INVALID_ARGUMENT, "out is NULL");
    cuseg_session *s = nullptr;
    expect_error(cuseg_session_create(nullptr, nullptr, &s), CUSEG_ERR_INVALID_ARGUMENT,
                 "model or context is NULL");
    cuseg_tensor *t = nullptr;
    expect_error(cuseg_tensor_create(CUSEG_F32, 1, 0, 4, 3, &t), CUSEG_ERR_INVALID_ARGUMENT,
                 "every size must be > 0");
    EXPECT_EQ(t, nullptr);
    cuseg_graph *g = nullptr;
    cuseg_model *m = nullptr;
    expect_error(cuseg_model_create(&g, &m), CUSEG_ERR_INVALID_ARGUMENT, "graph is NULL");
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    expect_error(cuseg_graph_input(g, "x", 0, &v), CUSEG_ERR_INVALID_ARGUMENT,
                 "input 'x': channels must be > 0, got 0");
    expect_error(cuseg_model_create(&g, &m), CUSEG_ERR_INVALID_ARGUMENT, "the graph has no input");
    EXPECT_EQ(g, nullptr); /* consumed even on failure */
    /* Releasing NULL is a no-op. */
    cuseg_graph_release(nullptr);
    cuseg_model_release(nullptr);
    cuseg_session_release(nullptr);
    cuseg_context_release(nullptr);
    cuseg_tensor_release(nullptr);
    EXPECT_STREQ(cuseg_status_string(CUSEG_ERR_SHAPE), "shape mismatch");
}

TEST(Api, DeviceSelection) {
    cuseg_context *ctx = nullptr;
    cuseg_context_options opt = {"gpu", 0};
    expect_error(cuseg_context_create(&opt, &ctx), CUSEG_ERR_INVALID_ARGUMENT,
                 "device 'gpu': expected \"auto\", \"cpu\" or \"cuda:N\"");
    opt.device = "cuda:x";
    expect_error(cuseg_context_create(&opt, &ctx), CUSEG_ERR_INVALID_ARGUMENT, "device 'cuda:x'");
    opt.device = "cpu";
    opt.cpu_threads = -1;
    expect_error(cuseg_context_create(&opt, &ctx), CUSEG_ERR_INVALID_ARGUMENT, "cpu_threads must be >= 0");
    const int n = cuseg_cuda_device_count();
    opt = {"cuda:0", 0};
    if (n == 0) {
        expect_error(cuseg_context_create(&opt, &ctx), CUSEG_ERR_DEVICE, "0 CUDA device(s) visible");
    } else {
        ASSERT_EQ(cuseg_context_create(&opt, &ctx), CUSEG_OK);
        EXPECT_STREQ(cuseg_context_device(ctx), "cuda:0");
        cuseg_context_release(ctx);
    }
    opt = {"cpu", 3};
    ASSERT_EQ(cuseg_context_create(&opt, &ctx), CUSEG_OK);
    EXPECT_STREQ(cuseg_context_device(ctx), "cpu");
    cuseg_context_release(ctx);
}

/* A session replans for every new input shape and keeps each convolution's
 * prepared (BN-folded, reordered) weights across plans. Running shapes in
 * turn must give, bit for bit, what a fresh session gives for each shape:
 * DeepLab v3+ with BN, dilated, strided, 1x1 and depthwise separable
 * convolutions; U-Net with transposed ones. The 1-row shape makes oneDNN
 * choose other kernels for some layers, so cached weights are replaced too. */
TEST(Session, ReplanningMatchesFreshSessions) {
    const struct {
        const char *arch, *options;
    } models[] = {{"deeplabv3plus", "backbone=mobilenet,classes=4,width=8,head_channels=16,separable=1"},
                  {"deeplabv3plus", "backbone=resnet50,classes=3,width=4,head_channels=8"},
                  {"unet_bn", "classes=3,width=4,depth=3"}};
    const int shapes[][4] = {{1, 40, 56, 3}, {2, 32, 32, 3}, {1, 40, 56, 3}, {1, 16, 96, 3}, {2, 32, 32, 3}};
    for (const auto &md : models) {
        SCOPED_TRACE(std::string(md.arch) + " " + md.options);
        auto run = [](cuseg_session *s, const int *d, std::vector<float> *out) {
            cuseg_tensor *x = nullptr;
            ASSERT_EQ(cuseg_tensor_create(CUSEG_F32, d[0], d[1], d[2], d[3], &x), CUSEG_OK);
            const std::vector<float> v = random_floats((size_t)d[0] * d[1] * d[2] * d[3], 7 + d[1], -1.0f, 1.0f);
            std::copy(v.begin(), v.end(), (float *)cuseg_tensor_data(x));
            const cuseg_tensor *in[1] = {x}, *y = nullptr;
            ASSERT_EQ(cuseg_session_run(s, in, 1), CUSEG_OK) << cuseg_last_error();
            ASSERT_EQ(cuseg_session_output(s, 0, &y), CUSEG_OK);
            int yd[4];
            cuseg_tensor_shape(y, yd);
            const float *p = (const float *)cuseg_tensor_data(y);
            out->assign(p, p + (size_t)yd[0] * yd[1] * yd[2] * yd[3]);
            cuseg_tensor_release(x);
        };
        auto build = [&](cuseg_graph **g) {
            ASSERT_EQ(cuseg_arch_build(md.arch, md.options, g), CUSEG_OK) << cuseg_last_error();
            fill_params_fan_in(*g, 3);
        };
        cuseg_graph *g = nullptr;
        build(&g);
        CpuSession reused(&g, 2);
        ASSERT_TRUE(reused.ok());
        for (const auto &d : shapes) {
            SCOPED_TRACE(std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" + std::to_string(d[2]));
            cuseg_graph *g2 = nullptr;
            build(&g2);
            CpuSession fresh(&g2, 2);
            ASSERT_TRUE(fresh.ok());
            std::vector<float> want, got;
            run(fresh.s, d, &want);
            run(reused.s, d, &got);
            ASSERT_FALSE(want.empty());
            EXPECT_TRUE(want == got) << "replanned session differs from a fresh one";
        }
    }
}
