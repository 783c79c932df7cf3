/* The fp16 dynamic loss scaler (host/train/loss_scale.c) against
 * torch.amp.GradScaler's documented rules: skip + backoff on inf/NaN,
 * growth after growth_interval good steps, unscale divides. */
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

extern "C" {
#include "train/loss_scale.h"
}

TEST(LossScaler, DefaultsAreGradScalers) {
    cs_loss_scaler s;
    cs_loss_scaler_init(&s);
    EXPECT_EQ(s.scale, 65536.0f);
    EXPECT_EQ(s.growth_factor, 2.0f);
    EXPECT_EQ(s.backoff_factor, 0.5f);
    EXPECT_EQ(s.growth_interval, 2000);
    EXPECT_EQ(s.good_steps, 0);
}

TEST(LossScaler, UnscaleDividesExactlyAndReportsFinite) {
    cs_loss_scaler s;
    cs_loss_scaler_init(&s);
    s.scale = 1024.0f;
    std::vector<float> a = {1024.0f, -3.0f, 0.0f}, b = {2048.0f};
    float *g[3] = {a.data(), nullptr, b.data()}; /* NULL: a frozen tensor, skipped */
    const size_t n[3] = {a.size(), 7, b.size()};
    EXPECT_EQ(cs_loss_scaler_unscale(&s, g, n, 3), 1);
    /* A power-of-two scale divides exactly. */
    EXPECT_EQ(a[0], 1.0f);
    EXPECT_EQ(a[1], -3.0f / 1024.0f);
    EXPECT_EQ(a[2], 0.0f);
    EXPECT_EQ(b[0], 2.0f);
}

TEST(LossScaler, OverflowIsReportedAndBacksOff) {
    cs_loss_scaler s;
    cs_loss_scaler_init(&s);
    for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                      std::numeric_limits<float>::quiet_NaN()}) {
        std::vector<float> a = {1.0f, bad, 2.0f};
        float *g[1] = {a.data()};
        const size_t n[1] = {a.size()};
        const float before = s.scale;
        s.good_steps = 5;
        const int finite = cs_loss_scaler_unscale(&s, g, n, 1);
        EXPECT_EQ(finite, 0) << bad;
        cs_loss_scaler_update(&s, finite);
        EXPECT_EQ(s.scale, before * 0.5f) << bad;
        EXPECT_EQ(s.good_steps, 0) << "an overflow restarts the growth count";
    }
}

TEST(LossScaler, GrowsAfterIntervalGoodSteps) {
    cs_loss_scaler s;
    cs_loss_scaler_init(&s);
    s.growth_interval = 3;
    s.scale = 8.0f;
    cs_loss_scaler_update(&s, 1);
    cs_loss_scaler_update(&s, 1);
    EXPECT_EQ(s.scale, 8.0f);
    cs_loss_scaler_update(&s, 1); /* the third good step in a row */
    EXPECT_EQ(s.scale, 16.0f);
    EXPECT_EQ(s.good_steps, 0);
    /* An overflow in between resets the count. */
    cs_loss_scaler_update(&s, 1);
    cs_loss_scaler_update(&s, 1);
    cs_loss_scaler_update(&s, 0);
    EXPECT_EQ(s.scale, 8.0f);
    cs_loss_scaler_update(&s, 1);
    cs_loss_scaler_update(&s, 1);
    EXPECT_EQ(s.scale, 8.0f);
    cs_loss_scaler_update(&s, 1);
    EXPECT_EQ(s.scale, 16.0f);
}

TEST(LossScaler, DefaultIntervalIs2000) {
    cs_loss_scaler s;
    cs_loss_scaler_init(&s);
    for (int i = 0; i < 1999; ++i) cs_loss_scaler_update(&s, 1);
    EXPECT_EQ(s.scale, 65536.0f);
    cs_loss_scaler_update(&s, 1);
    EXPECT_EQ(s.scale, 131072.0f);
}

TEST(LossScaler, NeverGrowsToInfinity) {
    cs_loss_scaler s;
    cs_loss_scaler_init(&s);
    s.growth_interval = 1;
    s.scale = std::numeric_limits<float>::max();
    cs_loss_scaler_update(&s, 1);
    EXPECT_EQ(s.scale, std::numeric_limits<float>::max());
}
