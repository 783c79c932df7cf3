/* Inputs of the dense CRF tests: CamVid crops (real colours and edges) and
 * DCNN-like probabilities (confident regions, uncertain borders). */
#ifndef CUSEG_TEST_CRF_INPUTS_H
#define CUSEG_TEST_CRF_INPUTS_H

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuseg.h"

extern "C" {
#include "io/image.h"
}

namespace cstest {

inline const std::string kCamvid = std::string(CUSEG_SHARED_DIR) + "/datasets/camvid/train/images/";

/* An h x w RGB crop of a CamVid training image at (x0, y0). */
inline std::vector<uint8_t> camvid_crop(const char *file, int x0, int y0, int h, int w) {
    cs_image img = {};
    EXPECT_EQ(cs_image_read((kCamvid + file).c_str(), CS_IMAGE_RGB, &img), CUSEG_OK) << cuseg_last_error();
    std::vector<uint8_t> rgb((size_t)h * w * 3, 0);
    if (!img.data) return rgb;
    EXPECT_LE(y0 + h, img.h);
    EXPECT_LE(x0 + w, img.w);
    const uint8_t *src = static_cast<const uint8_t *>(img.data);
    for (int y = 0; y < h; ++y)
        std::memcpy(&rgb[(size_t)y * w * 3], src + ((size_t)(y0 + y) * img.w + x0) * 3, (size_t)w * 3);
    cs_image_free(&img);
    return rgb;
}

/* Softmax of blocky low-resolution logits (bilinearly upsampled) plus pixel
 * noise: confident regions with uncertain borders, like a DCNN output. */
inline std::vector<float> smooth_prob(int h, int w, int labels, uint32_t seed, double scale = 3.0,
                               double noise = 0.4) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    const int gh = h / 8 + 2, gw = w / 8 + 2;
    std::vector<double> low((size_t)gh * gw * labels);
    for (double &v : low) v = scale * normal(rng);
    std::vector<float> p((size_t)h * w * labels);
    std::vector<double> z(labels);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const double fy = y * (gh - 1.001) / std::max(h - 1, 1), fx = x * (gw - 1.001) / std::max(w - 1, 1);
            const int y0 = (int)fy, x0 = (int)fx;
            const double ay = fy - y0, ax = fx - x0;
            double mx = -1e300;
            for (int k = 0; k < labels; ++k) {
                auto at = [&](int yy, int xx) { return low[((size_t)yy * gw + xx) * labels + k]; };
                z[k] = at(y0, x0) * (1 - ay) * (1 - ax) + at(y0 + 1, x0) * ay * (1 - ax) +
                       at(y0, x0 + 1) * (1 - ay) * ax + at(y0 + 1, x0 + 1) * ay * ax + noise * normal(rng);
                mx = std::max(mx, z[k]);
            }
            double s = 0;
            for (int k = 0; k < labels; ++k) s += (z[k] = std::exp(z[k] - mx));
            for (int k = 0; k < labels; ++k) p[((size_t)y * w + x) * labels + k] = (float)(z[k] / s);
        }
    return p;
}

} // namespace cstest

#endif
