/* segmentation_models_pytorch's DeepLabV3Plus (`smp_deeplabv3plus`, models.md
 * §4.3.2) against goldens made with smp's own modules at a small width
 * (tests/golden/make_golden_smp_deeplabv3plus.py), ResNet-18 at OS 16 and
 * ResNet-50 at OS 8, batch 2; and the counts of the reference configuration
 * (models.md §0.8, §8). */
#include <cstdlib>

#include "golden_harness.h"
#include "op_harness.h"

TEST(SmpDeepLabV3Plus, Resnet18Os16MatchesSmp) { cstest::check_golden("deeplab", "smp_dlv3p_r18_os16"); }

TEST(SmpDeepLabV3Plus, Resnet50Os8MatchesSmp) { cstest::check_golden("deeplab", "smp_dlv3p_r50_os8"); }

TEST(SmpDeepLabV3Plus, CountsMatchTheReference) {
    cstest::check_counts("smp_deeplabv3plus", "", 1, 512, 512, 3, 26677585, 36561223680);
    /* models.md: 111.63 GMACs at OS 8; this is the exact count. */
    cstest::check_counts("smp_deeplabv3plus", "os=8", 1, 512, 512, 3, 26677585, 111631663104);
}

TEST(SmpDeepLabV3Plus, RejectsBadOptions) {
    cuseg_graph *g = nullptr;
    cstest::expect_error(cuseg_arch_build("smp_deeplabv3plus", "os=12", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "option os=12: expected 8 or 16");
    cstest::expect_error(cuseg_arch_build("smp_deeplabv3plus", "backbone=vgg16", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "expected one of resnet18|resnet34|resnet50|resnet101");
}

/* torchvision's deeplabv3 / fcn on ResNet (models.md §4.3.1, §2.3), narrowed
 * with torchvision's own modules (tests/golden/make_golden_torchvision.py);
 * both outputs (out, aux). */
TEST(TorchvisionDeepLabV3, MatchesTorchvision) { cstest::check_golden("deeplab", "tv_deeplabv3_aux"); }

TEST(TorchvisionFcn, MatchesTorchvision) { cstest::check_golden("deeplab", "tv_fcn_aux"); }

TEST(TorchvisionDeepLabV3, CountsMatchTheReference) {
    cstest::check_counts("tv_deeplabv3", "", 1, 512, 512, 3, 42004074, 173265125376);
    cstest::check_counts("tv_deeplabv3", "", 1, 520, 520, 3, 42004074, 178721945088);
    /* models.md: 163.58 GMACs without aux; this is the exact count. */
    cstest::check_counts("tv_deeplabv3", "aux=0", 1, 512, 512, 3, 39638869, 163579428864);
    cstest::check_counts("tv_fcn", "", 1, 512, 512, 3, 35322218, 148053688320);
}

/* Full-size torchvision deeplabv3_resnet50 converted from a .pth by
 * tests/golden/convert_state_dict.py: run by tests/golden/check_full_models.py,
 * which writes the files and sets CUSEG_GOLDEN_DIR_EXTRA (skipped otherwise:
 * the weights are 168 MB). */
TEST(FullSize, TorchvisionDeepLabV3Resnet50) {
    const char *dir = std::getenv("CUSEG_GOLDEN_DIR_EXTRA");
    if (!dir) GTEST_SKIP() << "set by tests/golden/check_full_models.py (needs torch)";
    cstest::check_golden_in(dir, "tv_deeplabv3_full");
}
