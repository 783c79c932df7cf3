/* cuseg.hpp: errors become exceptions carrying the status and message,
 * handles are move-only owners, and a session run through the wrapper gives
 * the same output as the C API. */
#include <gtest/gtest.h>

#include <type_traits>

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
