/* The public dense CRF (cuseg_crf_*, cuseg::Crf) on the CPU: the same
 * numbers as host/post/crf.c's cs_crf_run_batch, parameters passed through
 * field by field, errors reported as statuses with messages. */
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuseg.hpp"
#include "op_harness.h"
#include "post/crf_inputs.h"

extern "C" {
#include "post/crf.h"
}

using namespace cstest;

namespace {

struct CpuCrf {
    cuseg_context *ctx = nullptr;
    cuseg_crf *crf = nullptr;
    explicit CpuCrf(const cuseg_crf_params &p, int threads = 2) {
        cuseg_context_options o{};
        o.device = "cpu";
        o.cpu_threads = threads;
        EXPECT_EQ(cuseg_context_create(&o, &ctx), CUSEG_OK) << cuseg_last_error();
        EXPECT_EQ(cuseg_crf_create(ctx, &p, &crf), CUSEG_OK) << cuseg_last_error();
    }
    ~CpuCrf() {
        cuseg_crf_release(crf);
        cuseg_context_release(ctx);
    }
};

cs_crf_params internal(const cuseg_crf_params &p) {
    return cs_crf_params{p.w1, p.theta_alpha, p.theta_beta, p.w2, p.theta_gamma, p.iterations,
                         (cs_crf_normalization)p.normalization};
}

} // namespace

TEST(CrfApi, DefaultsAreTheCpuDefaults) {
    const cuseg_crf_params p = cuseg_crf_default_params();
    const cs_crf_params d = cs_crf_default_params();
    EXPECT_EQ(p.w1, d.w1);
    EXPECT_EQ(p.theta_alpha, d.theta_alpha);
    EXPECT_EQ(p.theta_beta, d.theta_beta);
    EXPECT_EQ(p.w2, d.w2);
    EXPECT_EQ(p.theta_gamma, d.theta_gamma);
    EXPECT_EQ(p.iterations, d.iterations);
    EXPECT_EQ((int)p.normalization, (int)d.normalization);
    EXPECT_EQ(p.w1, 4.0f);
    EXPECT_EQ(p.iterations, 10);
}

/* Bit for bit cs_crf_run_batch, for the defaults and for parameters where
 * every field differs (a swapped field would change the numbers). */
TEST(CrfApi, CpuEqualsRunBatch) {
    CUSEG_REQUIRE_SHARED();
    const int n = 2, h = 29, w = 34, labels = 5;
    std::vector<uint8_t> rgb = camvid_crop("0001TP_006690.png", 120, 80, h, w);
    const std::vector<uint8_t> rgb2 = camvid_crop("0001TP_006750.png", 10, 300, h, w);
    rgb.insert(rgb.end(), rgb2.begin(), rgb2.end());
    std::vector<float> prob = smooth_prob(h, w, labels, 21);
    const std::vector<float> prob2 = smooth_prob(h, w, labels, 22);
    prob.insert(prob.end(), prob2.begin(), prob2.end());

    cuseg_crf_params other = {5.0f, 30.0f, 9.0f, 2.0f, 2.5f, 7, CUSEG_CRF_NORMALIZE_AFTER};
    for (const cuseg_crf_params &p : {cuseg_crf_default_params(), other}) {
        const cs_crf_params ip = internal(p);
        std::vector<float> want(prob.size());
        ASSERT_EQ(cs_crf_run_batch(&ip, rgb.data(), prob.data(), n, h, w, labels, 2, want.data()), CUSEG_OK)
            << cuseg_last_error();
        CpuCrf c(p);
        ASSERT_NE(c.crf, nullptr);
        EXPECT_STREQ(cuseg_crf_device(c.crf), "cpu");
        std::vector<float> got(prob.size(), -1.0f);
        ASSERT_EQ(cuseg_crf_run(c.crf, rgb.data(), prob.data(), n, h, w, labels, got.data()), CUSEG_OK)
            << cuseg_last_error();
        EXPECT_EQ(got, want);
        /* In place, and a second run on the same handle. */
        std::vector<float> inplace = prob;
        ASSERT_EQ(cuseg_crf_run(c.crf, rgb.data(), inplace.data(), n, h, w, labels, inplace.data()), CUSEG_OK)
            << cuseg_last_error();
        EXPECT_EQ(inplace, want);
    }
    /* The two parameter sets really give different results. */
    const cs_crf_params a = internal(cuseg_crf_default_params()), b = internal(other);
    std::vector<float> qa(prob.size()), qb(prob.size());
    ASSERT_EQ(cs_crf_run_batch(&a, rgb.data(), prob.data(), n, h, w, labels, 1, qa.data()), CUSEG_OK);
    ASSERT_EQ(cs_crf_run_batch(&b, rgb.data(), prob.data(), n, h, w, labels, 1, qb.data()), CUSEG_OK);
    EXPECT_NE(qa, qb);
}

TEST(CrfApi, CppWrapper) {
    CUSEG_REQUIRE_SHARED();
    const int h = 17, w = 21, labels = 3;
    const std::vector<uint8_t> rgb = camvid_crop("0001TP_006720.png", 33, 44, h, w);
    const std::vector<float> prob = smooth_prob(h, w, labels, 31);
    const cs_crf_params ip = cs_crf_default_params();
    std::vector<float> want(prob.size()), got(prob.size());
    ASSERT_EQ(cs_crf_run(&ip, rgb.data(), prob.data(), h, w, labels, 1, want.data()), CUSEG_OK);
    cuseg::ContextOptions o;
    o.device = "cpu";
    o.cpu_threads = 3;
    cuseg::Context ctx(o);
    cuseg::Crf crf(ctx);
    EXPECT_EQ(crf.device(), "cpu");
    crf.run(rgb, prob, 1, h, w, labels, got);
    EXPECT_EQ(got, want);
    try {
        crf.run(rgb, prob, 2, h, w, labels, got);
        ADD_FAILURE() << "no exception for a batch of 2 in buffers of 1";
    } catch (const cuseg::Error &e) {
        EXPECT_EQ(e.status(), CUSEG_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("buffer sizes do not match"), std::string::npos) << e.what();
    }
    cuseg_crf_params bad = cuseg_crf_default_params();
    bad.iterations = -1;
    try {
        cuseg::Crf broken(ctx, bad);
        ADD_FAILURE() << "no exception for iterations = -1";
    } catch (const cuseg::Error &e) {
        EXPECT_NE(std::string(e.what()).find("iterations must be >= 0, got -1"), std::string::npos) << e.what();
    }
}

/* An "auto" context takes the GPU when there is one, else the CPU. */
TEST(CrfApi, AutoDevice) {
    cuseg_context *ctx = nullptr;
    ASSERT_EQ(cuseg_context_create(nullptr, &ctx), CUSEG_OK) << cuseg_last_error();
    const cuseg_crf_params p = cuseg_crf_default_params();
    cuseg_crf *crf = nullptr;
    ASSERT_EQ(cuseg_crf_create(ctx, &p, &crf), CUSEG_OK) << cuseg_last_error();
    EXPECT_STREQ(cuseg_crf_device(crf), cuseg_cuda_device_count() > 0 ? "cuda:0" : "cpu");
    cuseg_crf_release(crf);
    cuseg_context_release(ctx);
}

TEST(CrfApi, Errors) {
    const int h = 4, w = 5, labels = 3;
    std::vector<uint8_t> rgb((size_t)h * w * 3, 100);
    std::vector<float> prob((size_t)h * w * labels, 1.0f / 3), out(prob.size());
    cuseg_crf_params p = cuseg_crf_default_params();
    CpuCrf c(p, 1);
    ASSERT_NE(c.crf, nullptr);

    cuseg_crf *crf = reinterpret_cast<cuseg_crf *>(&p); /* must be overwritten with NULL */
    expect_error(cuseg_crf_create(nullptr, &p, &crf), CUSEG_ERR_INVALID_ARGUMENT, "context or parameters are NULL");
    EXPECT_EQ(crf, nullptr);
    expect_error(cuseg_crf_create(c.ctx, nullptr, &crf), CUSEG_ERR_INVALID_ARGUMENT, "context or parameters are NULL");
    expect_error(cuseg_crf_create(c.ctx, &p, nullptr), CUSEG_ERR_INVALID_ARGUMENT, "out is NULL");
    p.theta_beta = -5.0f;
    expect_error(cuseg_crf_create(c.ctx, &p, &crf), CUSEG_ERR_INVALID_ARGUMENT,
                 "theta_beta (bilateral colour std) must be finite and > 0, got -5");
    p = cuseg_crf_default_params();
    p.normalization = (cuseg_crf_normalization)9;
    expect_error(cuseg_crf_create(c.ctx, &p, &crf), CUSEG_ERR_INVALID_ARGUMENT, "normalization must be 0..3");
    EXPECT_EQ(crf, nullptr);
    cuseg_crf_release(nullptr);
    EXPECT_STREQ(cuseg_crf_device(nullptr), "");

    expect_error(cuseg_crf_run(nullptr, rgb.data(), prob.data(), 1, h, w, labels, out.data()),
                 CUSEG_ERR_INVALID_ARGUMENT, "CRF handle is NULL");
    expect_error(cuseg_crf_run(c.crf, nullptr, prob.data(), 1, h, w, labels, out.data()),
                 CUSEG_ERR_INVALID_ARGUMENT, "NULL image, input or output");
    expect_error(cuseg_crf_run(c.crf, rgb.data(), prob.data(), 1, h, w, labels, nullptr),
                 CUSEG_ERR_INVALID_ARGUMENT, "NULL image, input or output");
    expect_error(cuseg_crf_run(c.crf, rgb.data(), prob.data(), 0, h, w, labels, out.data()),
                 CUSEG_ERR_INVALID_ARGUMENT, "batch must be >= 1, got 0");
    expect_error(cuseg_crf_run(c.crf, rgb.data(), prob.data(), 1, h, -3, labels, out.data()),
                 CUSEG_ERR_INVALID_ARGUMENT, "image size must be positive, got 4x-3");
    expect_error(cuseg_crf_run(c.crf, rgb.data(), prob.data(), 1, h, w, 4097, out.data()),
                 CUSEG_ERR_INVALID_ARGUMENT, "labels must be in [1, 4096], got 4097");
    expect_error(cuseg_crf_run(c.crf, rgb.data(), prob.data(), 1, 100000, 100000, labels, out.data()),
                 CUSEG_ERR_INVALID_ARGUMENT, "too many pixels");
    /* Still usable after errors. */
    EXPECT_EQ(cuseg_crf_run(c.crf, rgb.data(), prob.data(), 1, h, w, labels, out.data()), CUSEG_OK)
        << cuseg_last_error();
}
