/* Optimizers, schedules and clipping against torch (make_optim_golden.py).
 * Updates run in fp32 on both sides with the same formulas; orders of
 * rounding differ slightly (e.g. torch's lerp for Adam's first moment), so
 * parameters agree to a few fp32 ulps per step: 1e-6 of the parameter scale
 * over 5 steps. Learning rates are closed forms in double against torch's
 * recursive updates in double: 1e-9 relative. */
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "golden_file.h"
#include "op_harness.h"

extern "C" {
#include "io/safetensors.h"
#include "train/optim.h"
}

using namespace cstest;

namespace {

struct Golden : GoldenFile {
    Golden() : GoldenFile("train/optim.safetensors") {}
};

const size_t NA = 37, NB = 11;

void check_optimizer(const std::string &name, const cs_optim_config &cfg, float lr) {
    SCOPED_TRACE(name);
    Golden g;
    std::vector<float> p = g.get<float>(name + ".p0");
    const std::vector<float> grads = g.get<float>(name + ".grads"),
                             want = g.get<float>(name + ".params");
    const size_t counts[2] = {NA, NB};
    cs_optimizer *opt = nullptr;
    ASSERT_EQ(cs_optimizer_create(&cfg, 2, counts, &opt), CUSEG_OK) << cuseg_last_error();
    const unsigned char no_decay[2] = {0, 1};
    for (int s = 0; s < 5; ++s) {
        float *params[2] = {p.data(), p.data() + NA};
        const float *gr[2] = {grads.data() + s * (NA + NB), grads.data() + s * (NA + NB) + NA};
        ASSERT_EQ(cs_optimizer_step(opt, params, gr, lr, nullptr, no_decay), CUSEG_OK);
        std::vector<double> ref(want.begin() + s * (NA + NB), want.begin() + (s + 1) * (NA + NB));
        SCOPED_TRACE("step " + std::to_string(s + 1));
        expect_close(p, ref, 1e-6);
    }
    EXPECT_EQ(cs_optimizer_steps(opt), 5);
    cs_optimizer_release(opt);
}

} // namespace

TEST(Optimizer, SgdMatchesTorch) {
    check_optimizer("sgd_nesterov", {CS_OPT_SGD, 0.9f, 0.0f, 1, 0, 0, 0, 1e-3f}, 0.05f);
    check_optimizer("sgd_dampening", {CS_OPT_SGD, 0.9f, 0.1f, 0, 0, 0, 0, 1e-3f}, 0.05f);
    check_optimizer("sgd_plain", {CS_OPT_SGD, 0.0f, 0.0f, 0, 0, 0, 0, 0.0f}, 0.1f);
}

TEST(Optimizer, AdamAndAdamWMatchTorch) {
    check_optimizer("adam", {CS_OPT_ADAM, 0, 0, 0, 0.9f, 0.99f, 1e-8f, 1e-3f}, 1e-2f);
    check_optimizer("adamw", {CS_OPT_ADAMW, 0, 0, 0, 0.9f, 0.999f, 1e-8f, 0.05f}, 1e-2f);
}

TEST(Optimizer, FrozenTensorsDoNotMove) {
    const cs_optim_config cfg = {CS_OPT_ADAMW, 0, 0, 0, 0.9f, 0.999f, 1e-8f, 0.05f};
    const size_t counts[2] = {3, 2};
    cs_optimizer *opt;
    ASSERT_EQ(cs_optimizer_create(&cfg, 2, counts, &opt), CUSEG_OK);
    std::vector<float> a = {1, 2, 3}, b = {4, 5}, ga = {1, 1, 1}, gb = {1, 1};
    float *params[2] = {a.data(), b.data()};
    const float *grads[2] = {ga.data(), gb.data()};
    const unsigned char frozen[2] = {0, 1};
    ASSERT_EQ(cs_optimizer_step(opt, params, grads, 0.1f, frozen, nullptr), CUSEG_OK);
    EXPECT_NE(a[0], 1.0f);
    EXPECT_EQ(b, (std::vector<float>{4, 5}));
    EXPECT_EQ(cs_optimizer_state(opt, 1, 0), nullptr);
    cs_optimizer_release(opt);
    cs_optim_config bad = {CS_OPT_SGD, 0.0f, 0.0f, 1, 0, 0, 0, 0};
    expect_error(cs_optimizer_create(&bad, 2, counts, &opt), CUSEG_ERR_INVALID_ARGUMENT,
                 "Nesterov momentum requires a momentum and zero dampening");
}

TEST(Schedule, MatchesTorchSchedulers) {
    Golden g;
    struct {
        const char *name;
        cs_schedule s;
    } cases[] = {
        {"poly", {CS_SCHED_POLY, 0.1f, 50, 0.9f, 0, 0, 0, 0, 0}},
        {"cosine", {CS_SCHED_COSINE, 0.1f, 50, 0, 1e-4f, 0, 0, 0, 0}},
        {"step", {CS_SCHED_STEP, 0.1f, 0, 0, 0, 7, 0.5f, 0, 0}},
        {"warmup_poly", {CS_SCHED_POLY, 0.1f, 50, 0.9f, 0, 0, 0, 10, 0.1f}},
    };
    for (const auto &k : cases) {
        SCOPED_TRACE(k.name);
        const std::vector<double> want = g.get<double>(std::string("sched.") + k.name);
        ASSERT_EQ(want.size(), 60u);
        for (long step = 0; step < 60; ++step)
            /* lr is a float: compare at float precision. */
            EXPECT_NEAR(cs_schedule_lr(&k.s, step), want[step], 1e-7 * 0.1 + 1e-6 * want[step])
                << "step " << step;
    }
}

TEST(ClipGradNorm, MatchesTorch) {
    Golden g;
    std::vector<float> x = g.get<float>("clip.in");
    const std::vector<float> want = g.get<float>("clip.out");
    float *grads[2] = {x.data(), x.data() + 30};
    const size_t counts[2] = {30, 7};
    const double norm = cs_clip_grad_norm(grads, counts, 2, 2.0);
    EXPECT_NEAR(norm, g.get<double>("clip.norm")[0], 1e-5 * norm);
    expect_close(x, std::vector<double>(want.begin(), want.end()), 1e-6);
}
