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
#include "golden_file.h"

extern "C" {
#include "io/image.h"
#include "post/crf.h"
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

/* A pydensecrf golden (tests/golden/make_crf_golden.py): image, input
 * probabilities, pydensecrf's marginals q and the parameters it ran with. */
struct CrfGoldenCase {
    int h = 0, w = 0, labels = 0;
    std::vector<uint8_t> rgb;
    std::vector<float> prob, q;
    cs_crf_params p = cs_crf_default_params();
};

inline void load_crf_golden(const char *name, CrfGoldenCase *c) {
    GoldenFile g(std::string("crf/") + name + ".safetensors");
    ASSERT_NE(g.file(), nullptr);
    const cs_st_tensor *q_t = g.tensor("q");
    ASSERT_NE(q_t, nullptr);
    ASSERT_EQ(q_t->ndim, 3);
    c->h = (int)q_t->shape[0], c->w = (int)q_t->shape[1], c->labels = (int)q_t->shape[2];
    c->rgb = g.get<uint8_t>("rgb");
    ASSERT_EQ(c->rgb.size(), (size_t)c->h * c->w * 3);
    c->prob.resize((size_t)c->h * c->w * c->labels);
    c->q.resize(c->prob.size());
    ASSERT_EQ(cs_safetensors_read_f32(g.file(), "prob", c->prob.data(), c->prob.size()), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(cs_safetensors_read_f32(g.file(), "q", c->q.data(), c->q.size()), CUSEG_OK) << cuseg_last_error();
    auto meta = [&](const char *key) {
        const char *v = cs_safetensors_metadata(g.file(), key);
        EXPECT_NE(v, nullptr) << key;
        return v ? std::string(v) : std::string("0");
    };
    cs_crf_params &p = c->p;
    p.w1 = std::stof(meta("w1"));
    p.theta_alpha = std::stof(meta("theta_alpha"));
    p.theta_beta = std::stof(meta("theta_beta"));
    p.w2 = std::stof(meta("w2"));
    p.theta_gamma = std::stof(meta("theta_gamma"));
    p.iterations = std::stoi(meta("iterations"));
    p.normalization = meta("normalization") == "after" ? CS_CRF_NORMALIZE_AFTER : CS_CRF_NORMALIZE_SYMMETRIC;
}

/* How far marginals `got` are from `want` (n*labels each). */
struct Agreement {
    double label_fraction = 0, max_abs = 0, mean_abs = 0;
};

template <typename T>
Agreement compare(const std::vector<float> &got, const std::vector<T> &want, int labels) {
    Agreement a;
    const size_t n = got.size() / labels;
    size_t same = 0;
    for (size_t i = 0; i < n; ++i) {
        const float *g = &got[i * labels];
        const T *r = &want[i * labels];
        same += std::max_element(g, g + labels) - g == std::max_element(r, r + labels) - r;
        for (int l = 0; l < labels; ++l) {
            const double d = std::fabs((double)g[l] - (double)r[l]);
            a.max_abs = std::max(a.max_abs, d);
            a.mean_abs += d;
        }
    }
    a.label_fraction = (double)same / n;
    a.mean_abs /= (double)got.size();
    return a;
}

} // namespace cstest

#endif
