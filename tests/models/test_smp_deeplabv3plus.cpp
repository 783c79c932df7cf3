/* segmentation_models_pytorch's DeepLabV3Plus (`smp_deeplabv3plus`, models.md
 * §4.3.2) against goldens made with smp's own modules at a small width
 * (tests/golden/make_golden_smp_deeplabv3plus.py), ResNet-18 at OS 16 and
 * ResNet-50 at OS 8, batch 2; and the counts of the reference configuration
 * (models.md §0.8, §8). */
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
