/* Runs a golden case written by tests/golden/make_golden_<family>.py: loads
 * <case>.model.safetensors with cuseg_model_load (so the model file path is
 * exercised too), feeds "input" from <case>.io.safetensors and compares every
 * output with PyTorch's. Pass: norm-wise relative error <= rel_tol, or
 * max-abs error <= abs_tol (issue #5: 1e-4 relative or 1e-3 max-abs on
 * logits; fp32 over networks of tens of layers accumulates ~1e-6..1e-5). */
#ifndef CUSEG_TEST_GOLDEN_HARNESS_H
#define CUSEG_TEST_GOLDEN_HARNESS_H

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuseg.h"

extern "C" {
#include "io/safetensors.h"
}

namespace cstest {

/* The case <dir>/<name>.{model,io}.safetensors. */
inline void check_golden_in(const std::string &dir, const std::string &name, double rel_tol = 1e-4,
                            double abs_tol = 1e-3, int threads = 2) {
    SCOPED_TRACE(dir + "/" + name);
    cuseg_model *model = nullptr;
    ASSERT_EQ(cuseg_model_load((dir + "/" + name + ".model.safetensors").c_str(), &model), CUSEG_OK)
        << cuseg_last_error();
    cs_safetensors *io = nullptr;
    ASSERT_EQ(cs_safetensors_open((dir + "/" + name + ".io.safetensors").c_str(), &io), CUSEG_OK)
        << cuseg_last_error();
    const cs_st_tensor *in = cs_safetensors_find(io, "input");
    ASSERT_NE(in, nullptr);
    ASSERT_EQ(in->ndim, 4);
    cuseg_tensor *x = nullptr;
    ASSERT_EQ(cuseg_tensor_create(CUSEG_F32, (int)in->shape[0], (int)in->shape[1], (int)in->shape[2],
                                  (int)in->shape[3], &x),
              CUSEG_OK);
    ASSERT_EQ(cs_safetensors_read_f32(io, "input", (float *)cuseg_tensor_data(x), in->numel), CUSEG_OK);
    cuseg_context_options opt = {"cpu", threads};
    cuseg_context *ctx = nullptr;
    ASSERT_EQ(cuseg_context_create(&opt, &ctx), CUSEG_OK);
    cuseg_session *s = nullptr;
    ASSERT_EQ(cuseg_session_create(model, ctx, &s), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(cuseg_session_run(s, &x, 1), CUSEG_OK) << cuseg_last_error();
    for (int i = 0;; ++i) {
        const std::string key = "output." + std::to_string(i);
        const cs_st_tensor *ref = cs_safetensors_find(io, key.c_str());
        if (!ref) {
            EXPECT_GT(i, 0) << "the golden has no outputs";
            break;
        }
        const cuseg_tensor *out = nullptr;
        ASSERT_EQ(cuseg_session_output(s, i, &out), CUSEG_OK) << "output " << i << ": " << cuseg_last_error();
        int d[4];
        cuseg_tensor_shape(out, d);
        for (int k = 0; k < 4; ++k) ASSERT_EQ(d[k], ref->shape[k]) << "output " << i << " dim " << k;
        std::vector<float> want(ref->numel);
        ASSERT_EQ(cs_safetensors_read_f32(io, key.c_str(), want.data(), want.size()), CUSEG_OK);
        const float *got = (const float *)cuseg_tensor_data(out);
        double num = 0, den = 0, max_abs = 0;
        for (size_t k = 0; k < want.size(); ++k) {
            ASSERT_TRUE(std::isfinite(got[k])) << "output " << i << " element " << k;
            const double e = (double)got[k] - want[k];
            num += e * e;
            den += (double)want[k] * want[k];
            max_abs = std::max(max_abs, std::fabs(e));
        }
        const double rel = std::sqrt(num / std::max(den, 1e-300));
        EXPECT_TRUE(rel <= rel_tol || max_abs <= abs_tol)
            << "output " << i << ": relative error " << rel << ", max-abs error " << max_abs;
        char err_s[64];
        snprintf(err_s, sizeof err_s, "%.3g (max-abs %.3g)", rel, max_abs);
        /* Keyed by case, so that a test running several cases keeps each one's. */
        testing::Test::RecordProperty(name + ".rel_error_" + std::to_string(i), err_s);
    }
    cuseg_tensor_release(x);
    cuseg_session_release(s);
    cuseg_context_release(ctx);
    cs_safetensors_close(io);
    cuseg_model_release(model);
}

inline void check_golden(const std::string &family, const std::string &name, double rel_tol = 1e-4,
                         double abs_tol = 1e-3, int threads = 2) {
    check_golden_in(std::string(CUSEG_SOURCE_DIR) + "/tests/golden/" + family, name, rel_tol, abs_tol, threads);
}

/* Builds arch(options) and checks its parameter and MAC counts at n x h x w x c. */
inline void check_counts(const char *arch, const char *options, int n, int h, int w, int c,
                         int64_t params, int64_t macs) {
    SCOPED_TRACE(std::string(arch) + "(" + options + ")");
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_arch_build(arch, options, &g), CUSEG_OK) << cuseg_last_error();
    const int shape[1][4] = {{n, h, w, c}};
    cuseg_graph_summary sum;
    ASSERT_EQ(cuseg_graph_summarize(g, shape, 1, &sum), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(sum.params, params);
    EXPECT_EQ(sum.macs, macs);
    cuseg_graph_release(g);
}

}  // namespace cstest

#endif
