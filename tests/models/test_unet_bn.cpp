/* milesial's padded U-Net with BN (`unet_bn`, models.md §1.2) against the
 * PyTorch goldens of tests/golden/make_golden_unet_bn.py (batch 2, sizes not
 * divisible by 16, so the pad-to-skip path runs), and its parameter and MAC
 * counts at the reference configuration (models.md §0.8, §8). */
#include <cstdlib>

#include "golden_harness.h"
#include "op_harness.h"

TEST(UnetBn, TransposedUpsamplingMatchesPyTorch) { cstest::check_golden("unet", "unet_bn_transpose"); }

TEST(UnetBn, BilinearUpsamplingMatchesPyTorch) { cstest::check_golden("unet", "unet_bn_bilinear"); }

TEST(UnetBn, CountsMatchTheReference) {
    cstest::check_counts("unet_bn", "", 1, 512, 512, 3, 31037698, 192686325760);
    /* models.md gives 159.94 GMACs for the bilinear variant; this is the exact count. */
    cstest::check_counts("unet_bn", "upsampling=bilinear", 1, 512, 512, 3, 17263042, 159937200128);
}

TEST(UnetBn, RejectsBadOptions) {
    cuseg_graph *g = nullptr;
    cstest::expect_error(cuseg_arch_build("unet_bn", "upsampling=nearest", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "option upsampling=nearest: expected one of transpose|bilinear");
    cstest::expect_error(cuseg_arch_build("unet_bn", "widht=8", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "unknown option 'widht'");
    cstest::expect_error(cuseg_arch_build("unet_bn", "classes=0", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "option classes=0: expected an integer in [1, 65536]");
    EXPECT_EQ(g, nullptr);
}

/* segmentation_models_pytorch's Unet with a ResNet-34 encoder (models.md
 * §1.4), narrowed with smp's own modules (tests/golden/make_golden_smp_unet.py). */
TEST(SmpUnet, Resnet34MatchesSmp) { cstest::check_golden("unet", "smp_unet_r34"); }


/* Full-size smp Unet('resnet34'), converted from a .pth: see
 * tests/golden/check_full_models.py (skipped otherwise). */
TEST(FullSize, SmpUnetResnet34) {
    const char *dir = std::getenv("CUSEG_GOLDEN_DIR_EXTRA");
    if (!dir) GTEST_SKIP() << "set by tests/golden/check_full_models.py (needs torch)";
    cstest::check_golden_in(dir, "smp_unet_full");
}
