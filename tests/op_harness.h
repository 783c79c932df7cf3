/* Test helpers: random data, one-op graphs run through the public API, and
 * comparison against float64 references written in the tests. */
#ifndef CUSEG_TEST_OP_HARNESS_H
#define CUSEG_TEST_OP_HARNESS_H

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuseg.h"

namespace cstest {

/* Tests reading ../shared/datasets skip where it is absent (the GPU machine
 * gets the repository alone); CI always has it. */
#define CUSEG_REQUIRE_SHARED()                                                                     \
    do {                                                                                           \
        if (!std::ifstream(std::string(CUSEG_SHARED_DIR) + "/datasets/camvid/SOURCE.md"))          \
            GTEST_SKIP() << "../shared/datasets is not present: test not run";                     \
    } while (0)

/* Uniform floats in [lo, hi), reproducible from the seed. */
inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto &x : v) x = d(rng);
    return v;
}

struct Shape {
    int n, h, w, c;
    size_t count() const { return (size_t)n * h * w * c; }
    /* NHWC offset */
    size_t at(int in, int ih, int iw, int ic) const {
        return (((size_t)in * h + ih) * w + iw) * c + ic;
    }
};

/* One graph input's data (float32 NHWC). */
struct Input {
    Shape shape;
    std::vector<float> data;
};

struct Output {
    Shape shape;
    cuseg_dtype dtype;
    std::vector<float> f;   /* when dtype == CUSEG_F32 */
    std::vector<int32_t> i; /* when dtype == CUSEG_I32 */
};

/* Builds a graph with one input per entry of `inputs`, lets `build` add the
 * nodes (it gets the input values and returns the values to output), runs it
 * on the CPU with `threads` threads (or with `context` when given) and
 * returns the outputs. Any failing
 * call fails the test with cuseg's message. */
using Builder = std::function<std::vector<int>(cuseg_graph *, const std::vector<int> &)>;

inline std::vector<Output> run_graph(const std::vector<Input> &inputs, const Builder &build,
                                     int threads = 2,
                                     const std::function<void(cuseg_graph *)> &set_params = nullptr,
                                     const cuseg_context_options *context = nullptr) {
    std::vector<Output> result;
    cuseg_graph *g = nullptr;
    EXPECT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    std::vector<int> in_values;
    for (size_t i = 0; i < inputs.size(); ++i) {
        int v = -1;
        EXPECT_EQ(cuseg_graph_input(g, ("in" + std::to_string(i)).c_str(), inputs[i].shape.c, &v),
                  CUSEG_OK)
            << cuseg_last_error();
        in_values.push_back(v);
    }
    std::vector<int> outs = build(g, in_values);
    for (int v : outs) EXPECT_EQ(cuseg_graph_output(g, v), CUSEG_OK) << cuseg_last_error();
    if (set_params) set_params(g);
    cuseg_model *model = nullptr;
    EXPECT_EQ(cuseg_model_create(&g, &model), CUSEG_OK) << cuseg_last_error();
    cuseg_context_options opt = {"cpu", threads};
    cuseg_context *ctx = nullptr;
    EXPECT_EQ(cuseg_context_create(context ? context : &opt, &ctx), CUSEG_OK) << cuseg_last_error();
    cuseg_session *s = nullptr;
    EXPECT_EQ(cuseg_session_create(model, ctx, &s), CUSEG_OK) << cuseg_last_error();
    std::vector<cuseg_tensor *> tensors;
    for (const Input &in : inputs) {
        cuseg_tensor *t = nullptr;
        EXPECT_EQ(cuseg_tensor_create(CUSEG_F32, in.shape.n, in.shape.h, in.shape.w, in.shape.c, &t),
                  CUSEG_OK);
        std::copy(in.data.begin(), in.data.end(), (float *)cuseg_tensor_data(t));
        tensors.push_back(t);
    }
    cuseg_status st = s ? cuseg_session_run(s, tensors.data(), (int)tensors.size())
                        : CUSEG_ERR_INVALID_ARGUMENT;
    EXPECT_EQ(st, CUSEG_OK) << cuseg_last_error();
    for (size_t i = 0; st == CUSEG_OK && i < outs.size(); ++i) {
        const cuseg_tensor *t = nullptr;
        EXPECT_EQ(cuseg_session_output(s, (int)i, &t), CUSEG_OK);
        Output o;
        int d[4];
        cuseg_tensor_shape(t, d);
        o.shape = {d[0], d[1], d[2], d[3]};
        o.dtype = cuseg_tensor_dtype(t);
        if (o.dtype == CUSEG_F32) {
            const float *p = (const float *)cuseg_tensor_data(t);
            o.f.assign(p, p + o.shape.count());
        } else {
            const int32_t *p = (const int32_t *)cuseg_tensor_data(t);
            o.i.assign(p, p + o.shape.count());
        }
        result.push_back(std::move(o));
    }
    for (cuseg_tensor *t : tensors) cuseg_tensor_release(t);
    cuseg_session_release(s);
    cuseg_context_release(ctx);
    cuseg_model_release(model);
    return result;
}

/* Single input, single output convenience form. */
inline Output run_op(const Input &input, const std::function<int(cuseg_graph *, int)> &build,
                     const std::function<void(cuseg_graph *)> &set_params = nullptr) {
    auto outs = run_graph({input}, [&](cuseg_graph *g, const std::vector<int> &in) {
        return std::vector<int>{build(g, in[0])};
    }, 2, set_params);
    return outs.empty() ? Output{} : outs[0];
}

/* fp32 against a float64 reference. Each output is one fp32 rounding of a
 * sum of at most K terms away from the exact value, so its error is bounded
 * by ~K*eps32 times the sum of the magnitudes of the terms; `tol` is 1e-5
 * unless a test derives another bound. Checks the norm-wise relative error
 * and every element against elem_tol (default tol) * max|ref| (so that
 * elements near zero are judged on the tensor's scale, not their own).
 * measured, when given, receives the two errors (norm-wise, element-wise). */
inline void expect_close(const std::vector<float> &got, const std::vector<double> &ref,
                         double tol = 1e-5, double elem_tol = -1, double measured[2] = nullptr) {
    if (elem_tol < 0) elem_tol = tol;
    ASSERT_EQ(got.size(), ref.size());
    double num = 0, den = 0, maxref = 0, maxdiff = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << "element " << i << " is " << got[i];
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
        maxref = std::max(maxref, std::fabs(ref[i]));
        maxdiff = std::max(maxdiff, std::fabs(got[i] - ref[i]));
    }
    if (measured) {
        measured[0] = den > 0 ? std::sqrt(num / den) : 0;
        measured[1] = maxref > 0 ? maxdiff / maxref : 0;
    }
    EXPECT_LE(std::sqrt(num), tol * std::sqrt(den) + 1e-30) << "norm-wise relative error too large";
    int reported = 0;
    for (size_t i = 0; i < ref.size() && reported < 5; ++i)
        if (std::fabs(got[i] - ref[i]) > elem_tol * maxref + 1e-30) {
            ADD_FAILURE() << "element " << i << ": got " << got[i] << ", expected " << ref[i];
            ++reported;
        }
}

/* A model, a CPU context and a session made from a finished graph (which it
 * takes), released together; ok() says whether all three were created. */
struct CpuSession {
    cuseg_model *m = nullptr;
    cuseg_context *ctx = nullptr;
    cuseg_session *s = nullptr;
    explicit CpuSession(cuseg_graph **g, int threads = 1) {
        cuseg_context_options opt = {"cpu", threads};
        if (cuseg_model_create(g, &m) == CUSEG_OK && cuseg_context_create(&opt, &ctx) == CUSEG_OK)
            cuseg_session_create(m, ctx, &s);
    }
    ~CpuSession() {
        cuseg_session_release(s);
        cuseg_context_release(ctx);
        cuseg_model_release(m);
    }
    bool ok() const { return s != nullptr; }
    CpuSession(const CpuSession &) = delete;
    CpuSession &operator=(const CpuSession &) = delete;
};

/* Expects `st` to be an error whose message contains `needle`. */
inline void expect_error(cuseg_status st, cuseg_status expected, const std::string &needle) {
    EXPECT_EQ(st, expected) << cuseg_last_error();
    EXPECT_NE(std::string(cuseg_last_error()).find(needle), std::string::npos)
        << "message was: " << cuseg_last_error();
}

}  // namespace cstest

#endif
