/* Every architecture of the zoo on CUDA against the CPU: random weights
 * (randomize_params' scales keep activations O(1) through the depth), random
 * input, logits compared. Skipped without a CUDA device. */
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_harness.h"

using namespace cstest;

namespace {

struct ArchCase {
    const char *arch, *options;
    int h, w; /* input size the architecture accepts */
};

/* Small widths keep the CPU reference fast; every family and backbone is here. */
const ArchCase kCases[] = {
    {"unet", "classes=3,width=8,depth=3", 92, 92},
    {"unet_bn", "classes=3,width=8", 45, 37},
    {"unet_bn", "classes=3,width=8,upsampling=transpose", 48, 40},
    {"unet_vgg16", "classes=1,width=8", 64, 48},
    {"smp_unet", "backbone=resnet18,classes=4,width=8", 64, 64},
    {"smp_unet", "backbone=resnet50,classes=4,width=8", 64, 64},
    {"smp_unet", "backbone=vgg16,classes=4", 64, 64},
    {"fcn8s", "classes=5,width=8", 45, 50},
    {"fcn16s", "classes=5,width=8,pad100=0", 64, 64},
    {"fcn32s", "classes=5,width=8,pad100=0", 64, 64},
    {"deeplab_v1", "classes=5,width=8", 49, 41},
    {"deeplab_v1_msc", "classes=5,width=8", 41, 49},
    {"smp_deeplabv3plus", "backbone=resnet18,classes=4,width=8", 64, 64},
    {"smp_deeplabv3plus", "backbone=resnet50,os=8,classes=4,width=8", 64, 48},
    {"tv_deeplabv3", "classes=7,width=8", 49, 57},
    {"tv_fcn", "classes=7,width=8", 49, 57},
    {"deeplabv3plus", "backbone=resnet50,classes=6,width=8,head_channels=32", 65, 49},
    {"deeplabv3plus", "backbone=xception,classes=6,width=8,head_channels=32", 65, 49},
    {"deeplabv3plus", "backbone=mobilenet,classes=6,width=16,head_channels=32,separable=1", 65, 49},
    {"segnet", "classes=5,width=8", 64, 48},
};

class CudaModels : public ::testing::TestWithParam<std::tuple<ArchCase, cuseg_precision>> {};

TEST_P(CudaModels, LogitsMatchTheCpu) {
    CUSEG_REQUIRE_CUDA();
    const ArchCase c = std::get<0>(GetParam());
    const cuseg_precision prec = std::get<1>(GetParam());
    cuseg_graph *probe = nullptr;
    ASSERT_EQ(cuseg_arch_build(c.arch, c.options, &probe), CUSEG_OK) << cuseg_last_error();
    int in_c = 0;
    ASSERT_EQ(cuseg_graph_value_channels(probe, 0, &in_c), CUSEG_OK); /* value 0: the input */
    cuseg_graph_release(probe);
    const Shape s{2, c.h, c.w, in_c};
    const Input x{s, random_floats(s.count(), 17)};
    auto run_on = [&](const cuseg_context_options &opt) {
        std::vector<std::vector<float>> outs;
        cuseg_graph *g = nullptr;
        EXPECT_EQ(cuseg_arch_build(c.arch, c.options, &g), CUSEG_OK) << cuseg_last_error();
        randomize_params(g, 5);
        cuseg_model *m = nullptr;
        cuseg_context *ctx = nullptr;
        cuseg_session *sess = nullptr;
        EXPECT_EQ(cuseg_model_create(&g, &m), CUSEG_OK) << cuseg_last_error();
        EXPECT_EQ(cuseg_context_create(&opt, &ctx), CUSEG_OK) << cuseg_last_error();
        EXPECT_EQ(cuseg_session_create(m, ctx, &sess), CUSEG_OK) << cuseg_last_error();
        cuseg_tensor *t = nullptr;
        EXPECT_EQ(cuseg_tensor_create(CUSEG_F32, s.n, s.h, s.w, s.c, &t), CUSEG_OK);
        std::copy(x.data.begin(), x.data.end(), (float *)cuseg_tensor_data(t));
        if (sess && cuseg_session_run(sess, &t, 1) == CUSEG_OK) {
            for (int i = 0;; ++i) {
                const cuseg_tensor *o = nullptr;
                if (cuseg_session_output(sess, i, &o) != CUSEG_OK) break;
                if (cuseg_tensor_dtype(o) != CUSEG_F32) continue;
                const float *p = (const float *)cuseg_tensor_data(o);
                outs.emplace_back(p, p + cuseg_tensor_bytes(o) / sizeof(float));
            }
        } else {
            ADD_FAILURE() << cuseg_last_error();
        }
        cuseg_tensor_release(t);
        cuseg_session_release(sess);
        cuseg_context_release(ctx);
        cuseg_model_release(m);
        return outs;
    };
    cuseg_context_options cpu{};
    cpu.device = "cpu";
    cuseg_context_options gpu{};
    gpu.device = "cuda:0";
    gpu.precision = prec;
    const auto ref = run_on(cpu), got = run_on(gpu);
    ASSERT_EQ(ref.size(), got.size());
    ASSERT_FALSE(ref.empty());
    /* Whole networks: fp32 differences between oneDNN and cuDNN (summation
     * order, FMA) stay ~1e-6 per layer and grow at most linearly with depth
     * (<= ~100 layers here): 1e-4 holds. 16-bit storage rounds every
     * activation (2^-9 for bf16) and the errors of ~20-100 layers add up
     * like a random walk: 5e-2 for bf16, 2e-2 for fp16, 1e-2 for TF32. */
    const double tol = prec == CUSEG_PRECISION_FP32   ? 1e-4
                       : prec == CUSEG_PRECISION_TF32 ? 1e-2
                       : prec == CUSEG_PRECISION_FP16 ? 2e-2
                                                      : 5e-2;
    for (size_t i = 0; i < ref.size(); ++i) {
        SCOPED_TRACE(std::string(c.arch) + " " + c.options + " output " + std::to_string(i));
        expect_close(got[i], std::vector<double>(ref[i].begin(), ref[i].end()), tol);
    }
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<ArchCase, cuseg_precision>> &i) {
    std::string n = std::string(std::get<0>(i.param).arch) + "_" + std::get<0>(i.param).options +
                    "_" + precision_name(std::get<1>(i.param));
    for (char &ch : n)
        if (!isalnum((unsigned char)ch)) ch = '_';
    return n;
}

INSTANTIATE_TEST_SUITE_P(Zoo, CudaModels,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(CUSEG_PRECISION_FP32,
                                                              CUSEG_PRECISION_BF16,
                                                              CUSEG_PRECISION_FP16)),
                         case_name);

} // namespace
