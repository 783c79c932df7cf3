/* The DeepLab v3 family (host/models/deeplab_v3.c):
 *  - tv_deeplabv3 / tv_fcn: torchvision's deeplabv3_resnet50/101 and
 *    fcn_resnet50/101 (models.md §4.3.1, §2.3);
 *  - smp_deeplabv3plus: segmentation_models_pytorch 0.6 DeepLabV3Plus (§4.3.2).
 * Goldens: tests/golden/make_golden_deeplab.py (the libraries' own modules at
 * ResNet width 4, batch 2, sizes that are not multiples of 32). Counts: the
 * reference configurations at full width. Full size: FullSize.* below, run by
 * tests/golden/check_torchvision_deeplabv3.py. */
#include <cstdlib>
#include <string>

#include "golden_harness.h"
#include "op_harness.h"

namespace {

/* Shape inference of arch(options) at n x h x w x 3 (no weights, no run). */
cuseg_status summarize(const char *arch, const char *options, int n, int h, int w) {
    cuseg_graph *g = nullptr;
    cuseg_status s = cuseg_arch_build(arch, options, &g);
    if (s != CUSEG_OK) return s;
    const int shape[1][4] = {{n, h, w, 3}};
    cuseg_graph_summary sum;
    s = cuseg_graph_summarize(g, shape, 1, &sum);
    cuseg_graph_release(g);
    return s;
}

/* The narrowed goldens' logits are ~0.1-0.4, so the harness's default max-abs
 * pass (1e-3) would hide errors of ~1%: these use the norm-wise relative
 * error alone. Measured ~1e-7 (fp32 through ~100 layers of width <= 128);
 * 1e-5 leaves room for other summation orders and thread counts. */
void check_small(const char *name) { cstest::check_golden("deeplab", name, 1e-5, 0.0); }

bool has_param(const cuseg_graph *g, const std::string &name) {
    for (int i = 0; i < cuseg_graph_param_count(g); ++i) {
        const char *n = nullptr;
        int dims[4], ndim = 0;
        if (cuseg_graph_param_info(g, i, &n, dims, &ndim) == CUSEG_OK && name == n) return true;
    }
    return false;
}

}  // namespace

/* ---- torchvision deeplabv3 / fcn ---------------------------------------- */

/* ResNet-50, both outputs (out, aux), 52x37. */
TEST(TorchvisionDeepLabV3, MatchesTorchvision) { check_small("tv_deeplabv3_aux"); }

/* ResNet-101 (23 dilated blocks in layer3), aux=0, 5 classes, 65x49. */
TEST(TorchvisionDeepLabV3, Resnet101NoAuxMatchesTorchvision) {
    check_small("tv_deeplabv3_r101");
}

TEST(TorchvisionFcn, MatchesTorchvision) { check_small("tv_fcn_aux"); }

TEST(TorchvisionFcn, Resnet101NoAuxMatchesTorchvision) { check_small("tv_fcn_r101"); }

TEST(TorchvisionDeepLabV3, CountsMatchTheReference) {
    /* models.md §4.3.1 (exact) and the check table at its top (@520). */
    cstest::check_counts("tv_deeplabv3", "", 1, 512, 512, 3, 42004074, 173265125376);
    cstest::check_counts("tv_deeplabv3", "", 1, 520, 520, 3, 42004074, 178721945088);
    /* models.md §0.8: 163.58 GMACs without aux; this is the exact count. */
    cstest::check_counts("tv_deeplabv3", "aux=0", 1, 512, 512, 3, 39638869, 163579428864);
    /* models.md: deeplabv3_resnet101 60,996,202 / 258.743 GMACs @520 (torchvision's
     * meta); exact MACs from PyTorch forward hooks with the §0.4 rule. */
    cstest::check_counts("tv_deeplabv3", "backbone=resnet101", 1, 520, 520, 3, 60996202, 258743039488);
    /* MACs are for the whole batch. */
    cstest::check_counts("tv_deeplabv3", "", 2, 512, 512, 3, 42004074, 2 * 173265125376LL);
}

TEST(TorchvisionFcn, CountsMatchTheReference) {
    /* models.md §2.3 (exact) and the check table (152.717 GMACs @520). */
    cstest::check_counts("tv_fcn", "", 1, 512, 512, 3, 35322218, 148053688320);
    cstest::check_counts("tv_fcn", "", 1, 520, 520, 3, 35322218, 152716512000);
    /* Not in models.md: torchvision's fcn_resnet101 / fcn_resnet50(aux_loss=False)
     * parameter counts, MACs from PyTorch forward hooks (§0.4). */
    cstest::check_counts("tv_fcn", "backbone=resnet101", 1, 512, 512, 3, 54314346, 225631535104);
    cstest::check_counts("tv_fcn", "aux=0", 1, 512, 512, 3, 32957013, 138367991808);
}

/* aux=0 drops the aux head's parameters (torchvision's aux_loss=False). */
TEST(TorchvisionDeepLabV3, AuxOptionAddsTheAuxHead) {
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_arch_build("tv_deeplabv3", "classes=7,width=8", &g), CUSEG_OK) << cuseg_last_error();
    EXPECT_TRUE(has_param(g, "aux_classifier.4.bias"));
    EXPECT_TRUE(has_param(g, "classifier.0.convs.4.1.weight"));
    cuseg_graph_release(g);
    ASSERT_EQ(cuseg_arch_build("tv_deeplabv3", "classes=7,width=8,aux=0", &g), CUSEG_OK) << cuseg_last_error();
    EXPECT_FALSE(has_param(g, "aux_classifier.0.weight"));
    EXPECT_TRUE(has_param(g, "classifier.4.bias"));
    /* torchvision's weights expect ImageNet normalisation of RGB in [0, 1]. */
    EXPECT_STREQ(cuseg_graph_meta(g, "mean"), "0.485,0.456,0.406");
    EXPECT_STREQ(cuseg_graph_meta(g, "channel_order"), "RGB");
    cuseg_graph_release(g);
}

TEST(TorchvisionDeepLabV3, RejectsBadOptions) {
    cuseg_graph *g = nullptr;
    cstest::expect_error(cuseg_arch_build("tv_deeplabv3", "backbone=resnet18", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "expected one of resnet50|resnet101");
    cstest::expect_error(cuseg_arch_build("tv_deeplabv3", "aux=2", &g), CUSEG_ERR_INVALID_ARGUMENT, "aux");
    cstest::expect_error(cuseg_arch_build("tv_deeplabv3", "classes=0", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "classes");
    cstest::expect_error(cuseg_arch_build("tv_fcn", "os=16", &g), CUSEG_ERR_INVALID_ARGUMENT, "os");
    cstest::expect_error(cuseg_arch_build("tv_fcn", "head_channels=64", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "head_channels");
    EXPECT_EQ(g, nullptr);
}

/* torchvision's models take any input size; the smallest one runs the ASPP
 * on a 1x1 map. */
TEST(TorchvisionDeepLabV3, AcceptsAnyInputSize) {
    EXPECT_EQ(summarize("tv_deeplabv3", "width=8", 2, 1, 1), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(summarize("tv_deeplabv3", "width=8", 1, 65, 49), CUSEG_OK) << cuseg_last_error();
}

/* ---- smp DeepLabV3Plus ----------------------------------------------------- */

TEST(SmpDeepLabV3Plus, Resnet18Os16MatchesSmp) { check_small("smp_dlv3p_r18_os16"); }

TEST(SmpDeepLabV3Plus, Resnet34Os16MatchesSmp) { check_small("smp_dlv3p_r34_os16"); }

TEST(SmpDeepLabV3Plus, Resnet50Os8MatchesSmp) { check_small("smp_dlv3p_r50_os8"); }

/* 72x56 is not a multiple of 16: odd 9x7 ASPP maps, align_corners x2 and x4. */
TEST(SmpDeepLabV3Plus, Resnet34Os8MatchesSmp) { check_small("smp_dlv3p_r34_os8"); }

TEST(SmpDeepLabV3Plus, CountsMatchTheReference) {
    cstest::check_counts("smp_deeplabv3plus", "", 1, 512, 512, 3, 26677585, 36561223680);
    /* models.md: 111.63 GMACs at OS 8; this is the exact count. */
    cstest::check_counts("smp_deeplabv3plus", "os=8", 1, 512, 512, 3, 26677585, 111631663104);
    /* Not in models.md: smp.DeepLabV3Plus(<encoder>, classes=1) parameter
     * counts, MACs from PyTorch forward hooks (§0.4). */
    cstest::check_counts("smp_deeplabv3plus", "backbone=resnet18", 1, 512, 512, 3, 12329297, 18247974912);
    cstest::check_counts("smp_deeplabv3plus", "backbone=resnet34,os=8", 1, 512, 512, 3, 22437457, 95606931456);
    cstest::check_counts("smp_deeplabv3plus", "backbone=resnet101", 1, 512, 512, 3, 45669713, 55955685376);
}

TEST(SmpDeepLabV3Plus, RejectsBadOptions) {
    cuseg_graph *g = nullptr;
    cstest::expect_error(cuseg_arch_build("smp_deeplabv3plus", "os=12", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "option os=12: expected 8 or 16");
    cstest::expect_error(cuseg_arch_build("smp_deeplabv3plus", "backbone=vgg16", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "expected one of resnet18|resnet34|resnet50|resnet101");
    cstest::expect_error(cuseg_arch_build("smp_deeplabv3plus", "aux=1", &g), CUSEG_ERR_INVALID_ARGUMENT, "aux");
    cstest::expect_error(cuseg_arch_build("smp_deeplabv3plus", "width=0", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "width");
    EXPECT_EQ(g, nullptr);
}

/* smp requires H and W divisible by the output stride: otherwise the x4
 * upsampled ASPP map and the stride-4 features differ in size and the
 * concat is rejected at plan time (smp raises a RuntimeError). */
TEST(SmpDeepLabV3Plus, RejectsInputNotDivisibleByTheOutputStride) {
    cstest::expect_error(summarize("smp_deeplabv3plus", "backbone=resnet18,width=8", 1, 65, 49), CUSEG_ERR_SHAPE,
                         "concat");
    EXPECT_EQ(summarize("smp_deeplabv3plus", "backbone=resnet18,width=8", 1, 80, 48), CUSEG_OK)
        << cuseg_last_error();
    EXPECT_EQ(summarize("smp_deeplabv3plus", "backbone=resnet18,width=8,os=8", 1, 72, 56), CUSEG_OK)
        << cuseg_last_error();
}

/* ---- full size (not in CI) ------------------------------------------------- */

/* Full-size torchvision deeplabv3_resnet50 (aux) converted from a .pth by
 * tests/golden/convert_state_dict.py; the files are written by
 * tests/golden/check_torchvision_deeplabv3.py (or check_full_models.py),
 * which sets CUSEG_GOLDEN_DIR_EXTRA. Skipped otherwise: the weights are 168 MB. */
TEST(FullSize, TorchvisionDeepLabV3Resnet50) {
    const char *dir = std::getenv("CUSEG_GOLDEN_DIR_EXTRA");
    if (!dir || !dir[0]) GTEST_SKIP() << "set by tests/golden/check_torchvision_deeplabv3.py (needs torch)";
    cstest::check_golden_in(dir, "tv_deeplabv3_full");
    /* The converter writes the preprocessing the weights expect. */
    cuseg_model *m = nullptr;
    ASSERT_EQ(cuseg_model_load((std::string(dir) + "/tv_deeplabv3_full.model.safetensors").c_str(), &m), CUSEG_OK)
        << cuseg_last_error();
    EXPECT_STREQ(cuseg_graph_meta(cuseg_model_graph(m), "std"), "0.229,0.224,0.225");
    EXPECT_STREQ(cuseg_graph_meta(cuseg_model_graph(m), "arch"), "tv_deeplabv3");
    cuseg_model_release(m);
}
