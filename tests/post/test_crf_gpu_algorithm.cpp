/* The CUDA CRF's algorithm (cuda/crf.cu) run on the host: the same per-index
 * step bodies (host/post/crf_math.h) executed one index at a time, with
 * GCC's atomics standing in for atomicCAS/atomicMin and std::stable_sort for
 * cub's stable radix sort. The lattice it builds must be crf.c's exactly
 * (same vertex numbering, CSR, neighbours), whatever order the hash
 * insertions run in (the GPU's threads race), and a whole CRF through its
 * filter steps must give crf.c's marginals bit for bit. This file mirrors
 * crf.cu's build_kernel and run_image: change them together. */
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "op_harness.h"
#include "post/crf_inputs.h"

extern "C" {
#include "post/crf.h"
}
#include "post/crf_math.h"

using namespace cstest;

namespace {

struct EmuLattice {
    int d = 0, n = 0, m = 0;
    std::vector<int32_t> offset, csr_start, csr_point, csr_entry, blur_nbr;
    std::vector<float> bary, splat_w, slice_w;
};

/* crf.cu's build steps 1-8 on n points with d features each. The hash
 * insertions run in the order `insert_seed` shuffles them into (0: in
 * order). Returns false when a point is out of the key range. */
bool emu_build(EmuLattice &L, const std::vector<float> &feat, int n, int d, uint32_t insert_seed) {
    const int dp1 = d + 1;
    const int32_t entries = n * dp1;
    uint64_t cap = 64;
    while (cap < (uint64_t)entries * 2) cap *= 2;
    const uint64_t mask = cap - 1;
    L = EmuLattice();
    L.d = d, L.n = n;
    float scale[CS_LATTICE_MAX_D];
    cs_lattice_scale(d, scale);
    std::vector<cs_lattice_key> keys(entries);
    std::vector<int32_t> table(cap, -1), first(entries), vid(entries), order(entries);
    std::vector<uint64_t> slot(entries);
    L.bary.resize(entries);
    bool ok = true;
    for (int32_t i = 0; i < n; ++i) ok &= cs_lattice_build_embed(i, &feat[(size_t)i * d], d, scale, keys.data(), L.bary.data()) != 0;
    std::iota(order.begin(), order.end(), 0);
    if (insert_seed) std::shuffle(order.begin(), order.end(), std::mt19937(insert_seed));
    for (int32_t e : order) slot[e] = cs_lattice_build_insert(e, keys.data(), table.data(), mask);
    for (int32_t e = 0; e < entries; ++e) first[e] = cs_lattice_build_first(e, slot.data(), table.data());
    std::exclusive_scan(first.begin(), first.end(), vid.begin(), 0);
    const int32_t m = vid[entries - 1] + first[entries - 1];
    L.m = m;
    L.offset.resize(entries);
    std::vector<int32_t> vertex_entry(m, -1);
    for (int32_t e = 0; e < entries; ++e)
        cs_lattice_build_vertex(e, slot.data(), table.data(), vid.data(), L.offset.data(), vertex_entry.data());
    std::vector<int32_t> idx(entries), sorted_row(entries), sorted_entry(entries);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return L.offset[a] < L.offset[b]; });
    for (int32_t k = 0; k < entries; ++k) sorted_row[k] = L.offset[idx[k]], sorted_entry[k] = idx[k];
    L.csr_start.assign((size_t)m + 1, -1);
    L.csr_point.resize(entries);
    L.csr_entry.resize(entries);
    for (int32_t k = 0; k < entries; ++k)
        cs_lattice_build_csr(k, entries, d, sorted_row.data(), sorted_entry.data(), L.csr_start.data(),
                             L.csr_point.data(), L.csr_entry.data());
    L.blur_nbr.assign((size_t)dp1 * m * 2, -1);
    for (int j = 0; j <= d; ++j)
        for (int32_t v = 0; v < m; ++v)
            cs_lattice_build_neighbors(v, j, m, d, vertex_entry.data(), keys.data(), table.data(), mask,
                                       L.offset.data(), L.blur_nbr.data());
    return ok;
}

void emu_splat(const EmuLattice &L, const float *in, int stride, const float *w, std::vector<float> &values) {
    std::fill(values.begin(), values.begin() + stride, 0.0f);
    for (int32_t v = 0; v < L.m; ++v)
        for (int k = 0; k < stride; ++k)
            values[((size_t)v + 1) * stride + k] =
                cs_lattice_splat_value(v, k, L.csr_start.data(), L.csr_point.data(), w, in, stride);
}

const float *emu_blur(const EmuLattice &L, std::vector<float> &values, std::vector<float> &scratch, int stride) {
    std::fill(values.begin(), values.begin() + stride, 0.0f);
    std::fill(scratch.begin(), scratch.begin() + stride, 0.0f);
    float *src = values.data(), *dst = scratch.data();
    for (int j = 0; j <= L.d; ++j) {
        const int32_t *nbr = L.blur_nbr.data() + (size_t)j * L.m * 2;
        for (int32_t v = 0; v < L.m; ++v)
            for (int k = 0; k < stride; ++k)
                dst[((size_t)v + 1) * stride + k] = cs_lattice_blur_value(v, k, nbr, src, stride);
        std::swap(src, dst);
    }
    return src;
}

void emu_slice(const EmuLattice &L, const float *values, const float *w, int stride, float *out, int accumulate) {
    for (int32_t i = 0; i < L.n; ++i)
        for (int k = 0; k < stride; ++k) {
            float &o = out[(size_t)i * stride + k];
            o = cs_lattice_slice_value(i, k, L.d, L.offset.data(), w, values, stride, accumulate ? o : 0.0f);
        }
}

/* crf.cu's weights and normalisation (build_kernel's tail). */
void emu_weights(EmuLattice &L, float weight, int normalization) {
    const int32_t entries = L.n * (L.d + 1);
    const float alpha = cs_crf_alpha(L.d);
    L.splat_w.resize(entries);
    L.slice_w.resize(entries);
    for (int32_t e = 0; e < entries; ++e) {
        L.splat_w[e] = L.bary[L.csr_entry[e]];
        L.slice_w[e] = cs_crf_mul(L.bary[e], alpha);
    }
    std::vector<float> ones(L.n, 1.0f), deg(L.n), pre(L.n), values((size_t)L.m + 1), scratch((size_t)L.m + 1);
    emu_splat(L, ones.data(), 1, L.splat_w.data(), values);
    const float *blurred = emu_blur(L, values, scratch, 1);
    emu_slice(L, blurred, L.slice_w.data(), 1, deg.data(), 0);
    for (int32_t i = 0; i < L.n; ++i) {
        float post;
        cs_crf_norm_factors(deg[i], normalization, &pre[i], &post);
        const float s = cs_crf_mul(post, weight);
        for (int r = 0; r <= L.d; ++r) L.slice_w[(size_t)i * (L.d + 1) + r] = cs_crf_mul(L.slice_w[(size_t)i * (L.d + 1) + r], s);
    }
    for (int32_t e = 0; e < entries; ++e) L.splat_w[e] = cs_crf_mul(L.splat_w[e], pre[L.csr_point[e]]);
}

std::vector<float> pixel_features(const std::vector<uint8_t> &rgb, int h, int w, bool bilateral, float theta_pos,
                                  float theta_colour) {
    const int d = bilateral ? 5 : 2;
    std::vector<float> f((size_t)h * w * d);
    for (int i = 0; i < h * w; ++i)
        cs_crf_pixel_features(i % w, i / w, bilateral ? &rgb[(size_t)i * 3] : nullptr, theta_pos, theta_colour,
                              &f[(size_t)i * d]);
    return f;
}

/* crf.cu's run_image. */
std::vector<float> emu_crf(const cs_crf_params &p, const std::vector<uint8_t> &rgb, const std::vector<float> &prob,
                           int h, int w, int labels, uint32_t insert_seed) {
    const int n = h * w, stride = (labels + 3) & ~3;
    std::vector<float> unary((size_t)n * stride), q(unary.size()), msg(unary.size());
    for (size_t t = 0; t < unary.size(); ++t) {
        const size_t i = t / stride;
        const int k = (int)(t % stride);
        unary[t] = k < labels ? cs_crf_unary_of_prob(prob[i * labels + k]) : 0.0f;
    }
    for (int i = 0; i < n; ++i) cs_crf_softmax_row(&unary[(size_t)i * stride], &q[(size_t)i * stride], &q[(size_t)i * stride], labels, stride);
    std::vector<EmuLattice> kernels;
    if (p.w2 > 0.0f && p.iterations > 0) {
        kernels.emplace_back();
        EXPECT_TRUE(emu_build(kernels.back(), pixel_features(rgb, h, w, false, p.theta_gamma, 0.0f), n, 2, insert_seed));
        emu_weights(kernels.back(), p.w2, p.normalization);
    }
    if (p.w1 > 0.0f && p.iterations > 0) {
        kernels.emplace_back();
        EXPECT_TRUE(emu_build(kernels.back(), pixel_features(rgb, h, w, true, p.theta_alpha, p.theta_beta), n, 5, insert_seed));
        emu_weights(kernels.back(), p.w1, p.normalization);
    }
    int max_m = 0;
    for (const EmuLattice &L : kernels) max_m = std::max(max_m, L.m);
    std::vector<float> values(((size_t)max_m + 1) * stride), scratch(values.size());
    for (int it = 0; it < p.iterations && !kernels.empty(); ++it) {
        for (size_t k = 0; k < kernels.size(); ++k) {
            emu_splat(kernels[k], q.data(), stride, kernels[k].splat_w.data(), values);
            const float *blurred = emu_blur(kernels[k], values, scratch, stride);
            emu_slice(kernels[k], blurred, kernels[k].slice_w.data(), stride, msg.data(), k > 0);
        }
        for (int i = 0; i < n; ++i)
            cs_crf_softmax_row(&unary[(size_t)i * stride], &msg[(size_t)i * stride], &q[(size_t)i * stride], labels, stride);
    }
    std::vector<float> out((size_t)n * labels);
    for (size_t t = 0; t < out.size(); ++t) out[t] = q[(t / labels) * stride + t % labels];
    return out;
}

template <class T> std::vector<T> as_vector(const T *p, size_t n) { return std::vector<T>(p, p + n); }

void expect_same_lattice(const EmuLattice &g, const cs_lattice &c) {
    const size_t entries = (size_t)c.n * (c.d + 1);
    ASSERT_EQ(g.m, c.m);
    EXPECT_EQ(g.offset, as_vector(c.offset, entries));
    EXPECT_EQ(g.bary, as_vector(c.bary, entries));
    EXPECT_EQ(g.csr_start, as_vector(c.csr_start, (size_t)c.m + 1));
    EXPECT_EQ(g.csr_point, as_vector(c.csr_point, entries));
    EXPECT_EQ(g.csr_entry, as_vector(c.csr_entry, entries));
    EXPECT_EQ(g.blur_nbr, as_vector(c.blur_nbr, (size_t)(c.d + 1) * c.m * 2));
}

} // namespace

/* Same vertices in the same (first-appearance) order, same CSR and
 * neighbours as cs_lattice_init, for in-order and shuffled insertions, on a
 * CamVid crop's Gaussian and bilateral features and on random features
 * (d = 1..7). The neighbour lists must contain both present and absent
 * neighbours, or the comparison would not cover the lookup. */
TEST(CrfGpuAlgorithm, LatticeEqualsCpu) {
    CUSEG_REQUIRE_SHARED();
    const int h = 45, w = 52;
    const std::vector<uint8_t> rgb = camvid_crop("0001TP_006690.png", 200, 150, h, w);
    const cs_crf_params p = cs_crf_default_params();
    struct Case {
        std::vector<float> feat;
        int n, d;
    };
    std::vector<Case> cases = {{pixel_features(rgb, h, w, false, p.theta_gamma, 0.0f), h * w, 2},
                               {pixel_features(rgb, h, w, true, p.theta_alpha, p.theta_beta), h * w, 5},
                               {pixel_features(rgb, h, w, true, 10.0f, 3.0f), h * w, 5}};
    for (int d = 1; d <= CS_LATTICE_MAX_D; ++d) cases.push_back({random_floats((size_t)900 * d, 80 + d, 0.0f, 7.0f), 900, d});
    for (const Case &c : cases) {
        SCOPED_TRACE("d = " + std::to_string(c.d) + ", n = " + std::to_string(c.n));
        cs_lattice cpu;
        ASSERT_EQ(cs_lattice_init(&cpu, c.feat.data(), c.n, c.d, 2), CUSEG_OK) << cuseg_last_error();
        for (uint32_t seed : {0u, 1u, 2u}) {
            EmuLattice gpu;
            EXPECT_TRUE(emu_build(gpu, c.feat, c.n, c.d, seed));
            expect_same_lattice(gpu, cpu);
        }
        const std::vector<int32_t> nbr = as_vector(cpu.blur_nbr, (size_t)(c.d + 1) * cpu.m * 2);
        EXPECT_GT(std::count(nbr.begin(), nbr.end(), 0), 0);
        EXPECT_GT(std::count_if(nbr.begin(), nbr.end(), [](int32_t r) { return r > 0; }), 0);
        EXPECT_GT(cpu.m, c.d + 1);
        cs_lattice_free(&cpu);
    }
}

/* Out-of-range features are reported by the embed step as crf.c reports them. */
TEST(CrfGpuAlgorithm, KeyRangeIsChecked) {
    std::vector<float> feat = {0.5f, 1.0f, 1e6f, 2.0f};
    EmuLattice g;
    EXPECT_FALSE(emu_build(g, feat, 2, 2, 0));
    cs_lattice cpu;
    expect_error(cs_lattice_init(&cpu, feat.data(), 2, 2, 1), CUSEG_ERR_INVALID_ARGUMENT, "exceed the lattice key range");
}

/* The whole CRF through the GPU's steps equals cs_crf_run bit for bit on
 * CamVid crops: defaults, other weights and each normalisation, one kernel
 * dropped, no iterations. (On the GPU only the unary's logf may round
 * differently; see tests/cuda/test_cuda_crf.cpp.) */
TEST(CrfGpuAlgorithm, CrfEqualsCpuBitForBit) {
    CUSEG_REQUIRE_SHARED();
    const int h = 33, w = 41;
    const std::vector<uint8_t> rgb = camvid_crop("0001TP_006720.png", 100, 200, h, w);
    auto params = [](float w1, float ta, float tb, float w2, float tg, int it, cs_crf_normalization norm) {
        return cs_crf_params{w1, ta, tb, w2, tg, it, norm};
    };
    const cs_crf_params cases[] = {cs_crf_default_params(),
                                   params(5, 10, 10, 3, 2, 6, CS_CRF_NORMALIZE_AFTER),
                                   params(4, 20, 13, 1, 4, 4, CS_CRF_NORMALIZE_BEFORE),
                                   params(2, 15, 8, 1, 3, 3, CS_CRF_NO_NORMALIZATION),
                                   params(4, 121, 5, 0, 3, 5, CS_CRF_NORMALIZE_SYMMETRIC),
                                   params(0, 121, 5, 3, 3, 5, CS_CRF_NORMALIZE_SYMMETRIC),
                                   params(4, 121, 5, 3, 3, 0, CS_CRF_NORMALIZE_SYMMETRIC)};
    int labels = 3;
    for (const cs_crf_params &p : cases) {
        SCOPED_TRACE("w1 " + std::to_string(p.w1) + ", w2 " + std::to_string(p.w2) + ", norm " +
                     std::to_string((int)p.normalization) + ", T " + std::to_string(p.iterations));
        std::vector<float> prob = smooth_prob(h, w, labels, 90 + labels);
        prob[5] = 0.0f; /* clipped */
        std::vector<float> want(prob.size());
        ASSERT_EQ(cs_crf_run(&p, rgb.data(), prob.data(), h, w, labels, 2, want.data()), CUSEG_OK) << cuseg_last_error();
        const std::vector<float> got = emu_crf(p, rgb, prob, h, w, labels, 7);
        EXPECT_EQ(got, want);
        EXPECT_NE(got, prob) << "the CRF did nothing"; /* with 0 iterations it still renormalises the clipped input */
        labels = labels % 6 + 2; /* 2..7 labels: strides 4 and 8 */
    }
}
