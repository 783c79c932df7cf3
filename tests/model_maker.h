/* Test fixtures shared by the CLI, service and session tests: models with
 * random weights saved to a file, and smooth synthetic images. */
#ifndef CUSEG_TESTS_MODEL_MAKER_H
#define CUSEG_TESTS_MODEL_MAKER_H

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cuseg.h"

namespace cstest {

/* Weights uniform in ±sqrt(3 / fan-in) (so logits vary through the depth),
 * batch norms near the identity, small biases. */
inline void fill_params_fan_in(cuseg_graph *g, uint32_t seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < cuseg_graph_param_count(g); ++i) {
        const char *name;
        int dims[4], nd;
        ASSERT_EQ(cuseg_graph_param_info(g, i, &name, dims, &nd), CUSEG_OK);
        size_t count = 1, fan = 1;
        for (int k = 0; k < nd; ++k) count *= dims[k];
        for (int k = 1; k < nd; ++k) fan *= dims[k];
        const bool var = std::strstr(name, "running_var") != nullptr;
        const bool vec = nd == 1 && !var;
        const bool gamma = vec && std::strstr(name, ".weight") != nullptr;
        const float a = var ? 0.5f : vec ? 0.1f : std::sqrt(3.0f / (float)fan);
        std::uniform_real_distribution<float> u(-a, a);
        std::vector<float> v(count);
        for (auto &x : v) x = var || gamma ? 1.0f + u(rng) : u(rng);
        ASSERT_EQ(cuseg_graph_set_param(g, name, v.data(), count), CUSEG_OK);
    }
}

/* A zoo architecture with fill_params_fan_in weights and the given
 * metadata (key, value pairs), saved as a model file at path. */
inline void save_random_model(const std::string &path, const char *arch, const std::string &options,
                              uint32_t seed,
                              const std::vector<std::pair<std::string, std::string>> &meta = {}) {
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_arch_build(arch, options.c_str(), &g), CUSEG_OK) << cuseg_last_error();
    fill_params_fan_in(g, seed);
    for (const auto &kv : meta) ASSERT_EQ(cuseg_graph_set_meta(g, kv.first.c_str(), kv.second.c_str()), CUSEG_OK);
    cuseg_model *m = nullptr;
    ASSERT_EQ(cuseg_model_create(&g, &m), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(cuseg_model_save(m, path.c_str()), CUSEG_OK) << cuseg_last_error();
    cuseg_model_release(m);
}

/* Smooth random RGB (classes then form regions, not noise), h*w*3. */
inline std::vector<uint8_t> smooth_image(int h, int w, uint32_t seed) {
    std::vector<uint8_t> img((size_t)h * w * 3);
    const double f1 = 0.05 + 0.01 * (seed % 7), f2 = 0.03 + 0.01 * (seed % 5);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                img[((size_t)y * w + x) * 3 + c] =
                    (uint8_t)(127.5 + 120 * std::sin(f1 * x * (c + 1) + seed) * std::cos(f2 * y + c * seed));
    return img;
}

}  // namespace cstest

#endif
