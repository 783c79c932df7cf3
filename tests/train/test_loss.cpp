/* Losses and gradients against PyTorch / smp (tests/golden/make_loss_golden.py,
 * float64 references on the same float logits). Both sides sum in double, so
 * the loss agrees to ~1e-12 (different summation orders and libm): the bound
 * is 1e-9 relative. The gradient is returned as float: one rounding, so 1e-6
 * of its largest element. */
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "golden_file.h"
#include "op_harness.h"

extern "C" {
#include "io/safetensors.h"
#include "train/loss.h"
}

using namespace cstest;

namespace {

/* The loss goldens, with typed accessors. */
struct Golden : GoldenFile {
    Golden() : GoldenFile("train/losses.safetensors") {}
    std::vector<float> f32(const std::string &name) const { return get<float>(name); }
    std::vector<double> f64(const std::string &name) const { return get<double>(name); }
    std::vector<int32_t> i32(const std::string &name) const { return get<int32_t>(name); }
    int classes(const std::string &c) const { return (int)tensor(c + ".logits")->shape[3]; }
};

using LossFn = std::function<cuseg_status(const float *, size_t, int, double *, float *)>;

void check(const Golden &g, const std::string &c, const LossFn &fn) {
    SCOPED_TRACE(c);
    const std::vector<float> z = g.f32(c + ".logits");
    const int C = g.classes(c);
    const size_t pixels = z.size() / C;
    std::vector<float> grad(z.size(), NAN);
    double loss = NAN;
    ASSERT_EQ(fn(z.data(), pixels, C, &loss, grad.data()), CUSEG_OK) << cuseg_last_error();
    const double want = g.f64(c + ".loss")[0];
    EXPECT_NEAR(loss, want, 1e-9 * std::fabs(want) + 1e-12);
    expect_close(grad, g.f64(c + ".grad"), 1e-6);
}

} // namespace

TEST(Loss, CrossEntropyMatchesPyTorch) {
    Golden g;
    const std::vector<float> w = g.f32("ce.class_weights");
    struct {
        const char *name;
        const float *weights;
        float smoothing;
        cs_reduction reduction;
    } cases[] = {{"ce_plain", nullptr, 0.0f, CS_REDUCE_MEAN},
                 {"ce_weighted_ignore", w.data(), 0.0f, CS_REDUCE_MEAN},
                 {"ce_smooth_weighted", w.data(), 0.1f, CS_REDUCE_MEAN},
                 {"ce_sum", nullptr, 0.0f, CS_REDUCE_SUM}};
    for (const auto &k : cases) {
        const std::vector<int32_t> t = g.i32(std::string(k.name) + ".target");
        check(g, k.name, [&](const float *z, size_t p, int C, double *l, float *d) {
            return cs_loss_cross_entropy(z, t.data(), p, C, 255, k.weights, k.smoothing,
                                         k.reduction, l, d);
        });
    }
}

TEST(Loss, BceWithLogitsMatchesPyTorch) {
    Golden g;
    const std::vector<float> t = g.f32("bce_pos_weight.target");
    const float pw = 2.5f;
    check(g, "bce_pos_weight", [&](const float *z, size_t p, int C, double *l, float *d) {
        return cs_loss_bce_with_logits(z, t.data(), p, C, &pw, l, d);
    });
}

TEST(Loss, DiceMatchesSmp) {
    Golden g;
    struct {
        const char *name;
        float smooth;
        int log_loss;
    } cases[] = {{"dice_multiclass_ignore", 0.0f, 0},
                 {"dice_multiclass_log_smooth", 1.0f, 1},
                 {"dice_binary", 0.0f, 0}};
    for (const auto &k : cases) {
        const std::vector<int32_t> t = g.i32(std::string(k.name) + ".target");
        check(g, k.name, [&](const float *z, size_t p, int C, double *l, float *d) {
            return cs_loss_dice(z, t.data(), p, C, 255, k.smooth, k.log_loss, l, d);
        });
    }
}

TEST(Loss, FocalMatchesSmp) {
    Golden g;
    struct {
        const char *name;
        float alpha, gamma;
    } cases[] = {{"focal_multiclass", -1.0f, 2.0f},
                 {"focal_multiclass_alpha_ignore", 0.25f, 1.5f},
                 {"focal_binary", 0.25f, 2.0f}};
    for (const auto &k : cases) {
        const std::vector<int32_t> t = g.i32(std::string(k.name) + ".target");
        check(g, k.name, [&](const float *z, size_t p, int C, double *l, float *d) {
            return cs_loss_focal(z, t.data(), p, C, 255, k.alpha, k.gamma, l, d);
        });
    }
}

TEST(Loss, RejectsTargetsOutsideTheClasses) {
    const std::vector<float> z(2 * 3, 0.0f);
    const std::vector<int32_t> t = {1, 7};
    double l;
    expect_error(cs_loss_cross_entropy(z.data(), t.data(), 2, 3, 255, nullptr, 0.0f, CS_REDUCE_MEAN,
                                       &l, nullptr),
                 CUSEG_ERR_INVALID_ARGUMENT,
                 "target 7 at pixel 1 is outside [0, 3) and is not the ignore value 255");
    expect_error(cs_loss_dice(z.data(), t.data(), 2, 3, 255, 0.0f, 0, &l, nullptr),
                 CUSEG_ERR_INVALID_ARGUMENT, "target 7 at pixel 1");
}
