/* Compiled as strict C11 (see tests/CMakeLists.txt): the public header must
 * be valid C11 and describe the same structs as it does to C++. */
#include "cuseg.h"

size_t cuseg_test_c_sizeof_conv2d_params(void) { return sizeof(cuseg_conv2d_params); }
size_t cuseg_test_c_sizeof_pool2d_params(void) { return sizeof(cuseg_pool2d_params); }
size_t cuseg_test_c_sizeof_resize_params(void) { return sizeof(cuseg_resize_params); }
size_t cuseg_test_c_sizeof_context_options(void) { return sizeof(cuseg_context_options); }
