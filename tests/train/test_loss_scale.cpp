/* The fp16 dynamic loss scaler (host/train/loss_scale.c) against
 * torch.amp.GradScaler's documented rules: skip + backoff on inf/NaN,
 * growth after growth_interval good steps, unscale divides. */
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "temp_dir.h"

extern "C" {
#include "train/loss_scale.h"
#include "graph/graph.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/optim.h"
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

/* The scaler's state travels in checkpoints, so that a resumed fp16 run
 * continues with the scale it had; a checkpoint written before the scaler
 * existed (no such keys) loads GradScaler's defaults. */
TEST(LossScaler, StateRoundTripsThroughCheckpoints) {
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_arch_build("unet_bn", "classes=2,width=4,depth=1", &g), CUSEG_OK) << cuseg_last_error();
    std::vector<size_t> counts;
    std::vector<int> trainable;
    for (int i = 0; i < g->n_params; ++i) {
        counts.push_back(g->params[i].count);
        trainable.push_back(i);
    }
    cs_optim_config oc = {};
    oc.kind = CS_OPT_SGD;
    oc.momentum = 0.9f;
    cs_optimizer *opt = nullptr;
    ASSERT_EQ(cs_optimizer_create(&oc, (int)counts.size(), counts.data(), &opt), CUSEG_OK);
    const std::string dir = cstest::temp_dir("loss_scale_ckpt");
    ASSERT_FALSE(dir.empty());
    const std::string path = dir + "/last.ckpt";
    const cs_ckpt_state saved = {3, 120, 7, 11, 0.5, 2, 1024.0f, 37};
    ASSERT_EQ(cs_checkpoint_save(path.c_str(), g, opt, trainable.data(), (int)trainable.size(), &saved, "r"),
              CUSEG_OK)
        << cuseg_last_error();
    cs_ckpt_state loaded = {};
    char recipe[16];
    ASSERT_EQ(cs_checkpoint_load(path.c_str(), g, opt, trainable.data(), (int)trainable.size(), &loaded, recipe,
                                 sizeof recipe),
              CUSEG_OK)
        << cuseg_last_error();
    EXPECT_EQ(loaded.loss_scale, 1024.0f);
    EXPECT_EQ(loaded.loss_scale_good_steps, 37);
    EXPECT_EQ(loaded.step, 120);

    /* Without the keys: the defaults. */
    cs_safetensors *sf = nullptr;
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &sf), CUSEG_OK);
    std::vector<cs_st_tensor_in> tensors;
    std::vector<std::vector<float>> data;
    for (int i = 0; i < cs_safetensors_count(sf); ++i) {
        const cs_st_tensor *t = cs_safetensors_at(sf, i);
        data.emplace_back(t->numel);
        ASSERT_EQ(cs_safetensors_read_f32(sf, t->name, data.back().data(), t->numel), CUSEG_OK);
    }
    std::vector<std::string> kv_store;
    for (const char *key : {"cuseg_checkpoint", "epoch", "step", "seed", "dropout_draws", "best_miou", "best_epoch",
                            "recipe", "arch", "options"}) {
        kv_store.push_back(key);
        const char *v = cs_safetensors_metadata(sf, key);
        kv_store.push_back(v ? v : "");
    }
    for (int i = 0; i < cs_safetensors_count(sf); ++i) {
        const cs_st_tensor *t = cs_safetensors_at(sf, i);
        tensors.push_back({t->name, CS_ST_F32, 1, {(int64_t)t->numel}, data[(size_t)i].data()});
    }
    std::vector<const char *> kv;
    for (const auto &s : kv_store) kv.push_back(s.c_str());
    kv.push_back(nullptr);
    const std::string old_path = dir + "/old.ckpt";
    ASSERT_EQ(cs_safetensors_write(old_path.c_str(), tensors.data(), (int)tensors.size(), kv.data()), CUSEG_OK)
        << cuseg_last_error();
    cs_safetensors_close(sf);
    ASSERT_EQ(cs_checkpoint_load(old_path.c_str(), g, opt, trainable.data(), (int)trainable.size(), &loaded, recipe,
                                 sizeof recipe),
              CUSEG_OK)
        << cuseg_last_error();
    EXPECT_EQ(loaded.loss_scale, 65536.0f);
    EXPECT_EQ(loaded.loss_scale_good_steps, 0);
    cs_optimizer_release(opt);
    cuseg_graph_release(g);
}
