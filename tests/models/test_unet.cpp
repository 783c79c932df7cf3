/* The U-Net family (models.md §1) against PyTorch goldens written by
 * tests/golden/make_golden_unet.py (batch > 1, sizes that are not multiples
 * of 32), parameter/MAC counts at the reference configurations (models.md
 * §0.8, §1, §8), option and input-size errors. unet_bn has its own suite
 * (test_unet_bn.cpp). smp_unet's encoders are too large to commit as
 * goldens: SmpUnet.MatchesGoldensInExtraDir runs the ones that
 * tests/golden/check_smp_unet.py writes at test time. */
#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "golden_harness.h"
#include "op_harness.h"

namespace {

/* Builds arch(options) and expects planning for 1 x h x w x c to fail with `needle`. */
void expect_plan_error(const char *arch, const char *options, int h, int w, int c, const std::string &needle) {
    SCOPED_TRACE(std::string(arch) + "(" + options + ")");
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_arch_build(arch, options, &g), CUSEG_OK) << cuseg_last_error();
    const int shape[1][4] = {{1, h, w, c}};
    cuseg_graph_summary sum;
    cstest::expect_error(cuseg_graph_summarize(g, shape, 1, &sum), CUSEG_ERR_SHAPE, needle);
    cuseg_graph_release(g);
}

}  // namespace

/* 1 channel, 2 classes, depth 4, 204x220 -> 20x36. */
TEST(Unet, MatchesPyTorch) { cstest::check_golden("unet", "unet"); }

/* RGB, 3 classes, depth 2, 52x68 -> 12x28. */
TEST(Unet, Depth2MatchesPyTorch) { cstest::check_golden("unet", "unet_d2"); }

TEST(Unet, CountsMatchThePaper) {
    /* 1x572x572 -> 2x388x388 (§1.1 table). */
    cstest::check_counts("unet", "", 1, 572, 572, 1, 31030658, 150428424448);
}

TEST(Unet, RejectsIllegalInputSizes) {
    /* 512 is not legal (§1.1): the third max-pool sees 125 rows, so the skip of
     * that level is odd-sized and cannot be centre-cropped evenly. */
    expect_plan_error("unet", "", 512, 572, 1, "cannot centre-crop 121x136 to 88x104");
    /* Too small: the bottleneck's convolutions run out of pixels. */
    expect_plan_error("unet", "", 140, 140, 1,
                      "conv2d 'up_path.0.conv_block.block.0': input 1x2x2x1024 f32: output would be 1x0x0x512 f32");
}

TEST(Unet, RejectsBadOptions) {
    cuseg_graph *g = nullptr;
    cstest::expect_error(cuseg_arch_build("unet", "depth=9", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "option depth=9: expected an integer in [1, 8]");
    cstest::expect_error(cuseg_arch_build("unet", "upsampling=bilinear", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "unet: unknown option 'upsampling'");
    EXPECT_EQ(g, nullptr);
}

/* The sigmoid outputs of these narrow nets vary little (std 0.03 and 0.015
 * around 0.5), so the harness's 1e-3 max-abs alternative would be loose:
 * only the 1e-4 norm-wise relative bound applies (measured: 2e-8 to 9e-8). */
/* Width 4, 1 class, 48x80. */
TEST(UnetVgg16, MatchesPyTorch) { cstest::check_golden("unet", "unet_vgg16", 1e-4, 0.0); }

/* Width 3, 2 classes, 80x48. */
TEST(UnetVgg16, TwoClassesMatchPyTorch) { cstest::check_golden("unet", "unet_vgg16_c2", 1e-4, 0.0); }

TEST(UnetVgg16, CountsMatchTheReference) {
    cstest::check_counts("unet_vgg16", "", 1, 224, 224, 3, 25854657, 43300683776);
}

TEST(UnetVgg16, RejectsSizesNotDivisibleBy16) {
    /* 232 = 16 * 14.5: block5 is 14 rows, up-sampled to 28, the skip has 29. */
    expect_plan_error("unet_vgg16", "", 232, 224, 3,
                      "batch and spatial sizes differ: 1x28x28x512 f32 vs 1x29x28x512 f32");
    cuseg_graph *g = nullptr;
    cstest::expect_error(cuseg_arch_build("unet_vgg16", "width=0", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "option width=0: expected an integer in [1, 4096]");
}

TEST(SmpUnet, CountsMatchTheReference) {
    cstest::check_counts("smp_unet", "", 1, 512, 512, 3, 24436369, 31255953408);
    /* §0.8 gives 32.01 GMACs for 21 classes: only the 3x3 head changes, by
     * 20 * 16 * 9 * 512 * 512 = 754,974,720 MACs. */
    cstest::check_counts("smp_unet", "classes=21", 1, 512, 512, 3, 24439269, 32010928128);
    cstest::check_counts("smp_unet", "backbone=vgg16", 1, 512, 512, 3, 23748241, 98939437056);
}

TEST(SmpUnet, RejectsBadOptions) {
    cuseg_graph *g = nullptr;
    cstest::expect_error(cuseg_arch_build("smp_unet", "backbone=vgg19", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "option backbone=vgg19: expected one of resnet18|resnet34|resnet50|resnet101|vgg16");
    cstest::expect_error(cuseg_arch_build("smp_unet", "depth=4", &g), CUSEG_ERR_INVALID_ARGUMENT,
                         "smp_unet: unknown option 'depth'");
    EXPECT_EQ(g, nullptr);
}

/* Goldens of full-size smp models (about 100 MB of weights each), written by
 * tests/golden/check_smp_unet.py into $CUSEG_GOLDEN_DIR_EXTRA: every
 * <case>.model.safetensors there is run against its <case>.io.safetensors. */
TEST(SmpUnet, MatchesGoldensInExtraDir) {
    const char *dir = std::getenv("CUSEG_GOLDEN_DIR_EXTRA");
    if (!dir || !dir[0]) GTEST_SKIP() << "CUSEG_GOLDEN_DIR_EXTRA is not set (see tests/golden/check_smp_unet.py)";
    std::vector<std::string> cases;
    if (DIR *d = opendir(dir)) {
        const std::string suffix = ".model.safetensors";
        while (dirent *e = readdir(d)) {
            const std::string name = e->d_name;
            if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
                cases.push_back(name.substr(0, name.size() - suffix.size()));
        }
        closedir(d);
    }
    ASSERT_FALSE(cases.empty()) << "no *.model.safetensors in " << dir;
    std::sort(cases.begin(), cases.end());
    for (const std::string &c : cases) cstest::check_golden_in(dir, c);
}
