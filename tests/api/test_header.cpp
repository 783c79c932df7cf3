#include <gtest/gtest.h>

#include "cuseg.h"

extern "C" {
size_t cuseg_test_c_sizeof_conv2d_params(void);
size_t cuseg_test_c_sizeof_pool2d_params(void);
size_t cuseg_test_c_sizeof_resize_params(void);
size_t cuseg_test_c_sizeof_context_options(void);
}

/* The header compiled as C11 and as C++17 agrees on every public struct. */
TEST(Api, HeaderIsTheSameInCAndCxx) {
    EXPECT_EQ(cuseg_test_c_sizeof_conv2d_params(), sizeof(cuseg_conv2d_params));
    EXPECT_EQ(cuseg_test_c_sizeof_pool2d_params(), sizeof(cuseg_pool2d_params));
    EXPECT_EQ(cuseg_test_c_sizeof_resize_params(), sizeof(cuseg_resize_params));
    EXPECT_EQ(cuseg_test_c_sizeof_context_options(), sizeof(cuseg_context_options));
}
