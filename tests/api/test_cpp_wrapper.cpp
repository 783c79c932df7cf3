/* cuseg.hpp: errors become exceptions carrying the status and message,
 * handles are move-only owners, and a session run through the wrapper gives
 * the same output as the C API. */
#include <gtest/gtest.h>

#include <thread>
#include <type_traits>
#include <vector>

#include "cuseg.hpp"

TEST(CppWrapper, ErrorsCarryStatusAndMessage) {
    try {
        cuseg::Context ctx("gpu");
        FAIL() << "no exception";
    } catch (const cuseg::Error &e) {
        EXPECT_EQ(e.status(), CUSEG_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("device 'gpu'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(cuseg::Graph::build("no_such_arch"), cuseg::Error);
    EXPECT_THROW(cuseg::Model::load("/nonexistent/model.safetensors"), cuseg::Error);
}

TEST(CppWrapper, HandlesAreMoveOnly) {
    static_assert(!std::is_copy_constructible<cuseg::Model>::value, "models are not copyable");
    static_assert(!std::is_copy_constructible<cuseg::Session>::value, "sessions are not copyable");
    static_assert(std::is_nothrow_move_constructible<cuseg::Tensor>::value, "tensors move");
    cuseg::Tensor a = cuseg::Tensor::create(CUSEG_F32, {1, 2, 3, 4});
    const cuseg_tensor *raw = a.get();
    cuseg::Tensor b = std::move(a);
    EXPECT_EQ(b.get(), raw);
    EXPECT_EQ(a.get(), nullptr);
    EXPECT_EQ(b.data<float>().size, 24u);
}

TEST(CppWrapper, RunMatchesTheCApi) {
    cuseg::Model model = cuseg::Model::from(cuseg::Graph::build("unet_bn", "width=4,depth=2,classes=3"));
    cuseg::Context ctx("cpu", 2);
    cuseg::Session session(model, ctx);
    cuseg::Tensor x = cuseg::Tensor::create(CUSEG_F32, {2, 13, 18, 3});
    int i = 0;
    for (float &v : x.data<float>()) v = (float)(i++ % 17) / 17.0f;
    session.run(x);
    cuseg::Tensor y = session.output();
    EXPECT_EQ(y.shape(), (cuseg::Shape{2, 13, 18, 3}));

    cuseg_session *s = nullptr;
    ASSERT_EQ(cuseg_session_create(model.get(), ctx.get(), &s), CUSEG_OK);
    const cuseg_tensor *in[1] = {x.get()};
    ASSERT_EQ(cuseg_session_run(s, in, 1), CUSEG_OK);
    const cuseg_tensor *ref = nullptr;
    ASSERT_EQ(cuseg_session_output(s, 0, &ref), CUSEG_OK);
    const float *r = (const float *)cuseg_tensor_data(ref);
    cuseg::View<float> got = y.data<float>();
    for (size_t k = 0; k < got.size; ++k) ASSERT_EQ(got[k], r[k]) << k;
    cuseg_session_release(s);
}

TEST(CppWrapper, ViewsCheckTheElementType) {
    std::vector<float> values(2 * 3 * 5 * 1);
    for (size_t k = 0; k < values.size(); ++k) values[k] = (float)k;
    cuseg::Tensor t = cuseg::Tensor::copy_of<float>(cuseg::View<const float>(values), {2, 3, 5, 1});
    cuseg::View<const float> v = t.data<const float>();
    ASSERT_EQ(v.size, values.size());
    for (size_t k = 0; k < v.size; ++k) EXPECT_EQ(v[k], values[k]);
    try {
        (void)t.data<int32_t>();
        FAIL() << "no exception";
    } catch (const cuseg::Error &e) {
        EXPECT_EQ(e.status(), CUSEG_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("dtype"), std::string::npos) << e.what();
    }
    try {
        (void)cuseg::Tensor::copy_of<float>(cuseg::View<const float>(values), {1, 3, 5, 1});
        FAIL() << "no exception";
    } catch (const cuseg::Error &e) {
        EXPECT_EQ(e.status(), CUSEG_ERR_SHAPE);
        EXPECT_NE(std::string(e.what()).find("30 values for a 1x3x5x1 tensor"), std::string::npos) << e.what();
    }
}

TEST(CppWrapper, MemoryBudgetFailsThePlanNamingTheBudget) {
    cuseg::Model model = cuseg::Model::from(cuseg::Graph::build("unet_bn", "width=4,depth=2,classes=3"));
    cuseg::ContextOptions o;
    o.device = "cpu";
    o.cpu_threads = 1;
    cuseg::Context unlimited(o);
    cuseg::Session probe(model, unlimited);
    probe.plan({1, 32, 32, 3});
    const size_t arena = probe.memory().arena_bytes;
    ASSERT_GT(arena, 0u);

    o.memory_budget = arena; /* exactly enough for 32x32 */
    cuseg::Context ctx(o);
    cuseg::Session s(model, ctx);
    s.plan({1, 32, 32, 3});
    EXPECT_EQ(s.memory().arena_bytes, arena);
    try {
        s.plan({1, 64, 64, 3});
        FAIL() << "no exception";
    } catch (const cuseg::Error &e) {
        EXPECT_EQ(e.status(), CUSEG_ERR_OUT_OF_MEMORY);
        const std::string msg = e.what();
        EXPECT_NE(msg.find("memory budget of " + std::to_string(arena) + " bytes"), std::string::npos) << msg;
        EXPECT_NE(msg.find("input 1x64x64x3"), std::string::npos) << msg;
    }
    /* A run of a too-large input fails the same way; the session stays usable. */
    cuseg::Tensor big = cuseg::Tensor::create(CUSEG_F32, {1, 64, 64, 3});
    EXPECT_THROW(s.run(big), cuseg::Error);
    cuseg::Tensor small = cuseg::Tensor::create(CUSEG_F32, {1, 32, 32, 3});
    s.run(small);
    EXPECT_EQ(s.output().shape(), (cuseg::Shape{1, 32, 32, 3}));
}

/* The contract: one shared model, one session per thread, identical results. */
TEST(CppWrapper, SharedModelOneSessionPerThread) {
    cuseg::Model model = cuseg::Model::from(cuseg::Graph::build("unet_bn", "width=4,depth=2,classes=3"));
    cuseg::Context ctx("cpu", 1);
    cuseg::Tensor x = cuseg::Tensor::create(CUSEG_F32, {1, 20, 24, 3});
    int i = 0;
    for (float &v : x.data<float>()) v = (float)(i++ % 13) / 13.0f;
    cuseg::Session ref(model, ctx);
    ref.run(x);
    cuseg::View<const float> want = ref.output().data<const float>();
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, -1);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            cuseg::Session s(model, ctx);
            int bad = 0;
            for (int rep = 0; rep < 3; ++rep) {
                s.run(x);
                cuseg::View<const float> got = s.output().data<const float>();
                for (size_t k = 0; k < got.size; ++k) bad += got[k] != want[k];
            }
            mismatches[t] = bad;
        });
    for (auto &th : threads) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(CppWrapper, SessionsMoveAndMultiInputRun) {
    static_assert(std::is_nothrow_move_constructible<cuseg::Session>::value, "sessions move");
    static_assert(!std::is_copy_assignable<cuseg::Context>::value, "contexts are not copyable");
    cuseg::Model model = cuseg::Model::from(cuseg::Graph::build("unet_bn", "width=4,depth=2,classes=2"));
    EXPECT_EQ(model.meta("arch"), "unet_bn");
    EXPECT_EQ(model.meta("no_such_key", "none"), "none");
    cuseg::Context ctx("cpu", 1);
    cuseg::Session a(model, ctx);
    cuseg::Session b = std::move(a);
    EXPECT_EQ(a.get(), nullptr);
    cuseg::Tensor x = cuseg::Tensor::create(CUSEG_F32, {1, 8, 8, 3});
    std::vector<const cuseg::Tensor *> inputs = {&x};
    b.run(cuseg::View<const cuseg::Tensor *const>(inputs));
    EXPECT_EQ(b.output().shape(), (cuseg::Shape{1, 8, 8, 2}));
    std::vector<const cuseg::Tensor *> two = {&x, &x};
    try {
        b.run(cuseg::View<const cuseg::Tensor *const>(two));
        FAIL() << "no exception";
    } catch (const cuseg::Error &e) {
        EXPECT_EQ(e.status(), CUSEG_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("1 input(s), 2 given"), std::string::npos) << e.what();
    }
}
