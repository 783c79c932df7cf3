/* Gradient checks: an op's CPU backward (fp32) against central finite
 * differences of a float64 reference of its forward, written in the test.
 *
 * With L(x, p) = sum(dy * f(x, p)) for a random dy, the backward must give
 * dL/dx and dL/dp. Each element's numeric derivative is
 * (L(x + h e_i) - L(x - h e_i)) / 2h in float64: truncation error O(h^2 f''')
 * and rounding error O(eps64 |L| / h) are both far below the fp32 rounding
 * of the backward itself, so the bound is the fp32 one: relative 1e-4 of
 * the gradient's scale (sums of up to a few hundred fp32 products). Inputs
 * of piecewise ops (ReLU, max) must keep a margin > h from their kinks. */
#ifndef CUSEG_TEST_GRAD_HARNESS_H
#define CUSEG_TEST_GRAD_HARNESS_H

#include <functional>
#include <vector>

#include "op_harness.h"

extern "C" {
#include "graph/plan.h"
#include "ops/cpu.h"
}

namespace cstest {

using Tensor64 = std::vector<double>;
/* float64 forward of the op's first output from all inputs and parameters. */
using RefForward = std::function<Tensor64(const std::vector<Tensor64> &in, const std::vector<Tensor64> &params)>;

struct GradCheck {
    double h = 1e-3;
    double tol = 1e-4;
    std::vector<bool> skip_input; /* inputs with no gradient (int indices, 'like' values) */
    std::vector<bool> skip_param; /* parameters with no gradient (buffers read by the forward) */
    bool bn_eval = false;         /* cs_cpu.bn_eval: batch norms in eval mode while training */
};

/* Builds a one-node graph with `build` (which receives the input values and
 * returns the node's output value), sets parameters to `params` (in the
 * graph's parameter order), runs forward and backward of that node on the
 * CPU and compares the gradients with finite differences of `ref`. */
inline void check_grad(const std::vector<Input> &inputs, const std::function<int(cuseg_graph *, const std::vector<int> &)> &build,
                       const std::vector<std::vector<float>> &params, const RefForward &ref,
                       const GradCheck &opt = GradCheck(), uint32_t seed = 1) {
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    std::vector<int> in_values;
    for (size_t i = 0; i < inputs.size(); ++i) {
        int v;
        ASSERT_EQ(cuseg_graph_input(g, ("in" + std::to_string(i)).c_str(), inputs[i].shape.c, &v), CUSEG_OK);
        in_values.push_back(v);
    }
    const int y = build(g, in_values);
    ASSERT_GE(y, 0) << cuseg_last_error();
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    ASSERT_EQ((int)params.size(), cuseg_graph_param_count(g));
    for (size_t i = 0; i < params.size(); ++i) {
        const char *name;
        ASSERT_EQ(cuseg_graph_param_info(g, (int)i, &name, nullptr, nullptr), CUSEG_OK);
        ASSERT_EQ(cuseg_graph_set_param(g, name, params[i].data(), params[i].size()), CUSEG_OK) << cuseg_last_error();
    }
    std::vector<std::array<int, 4>> dims;
    for (const Input &in : inputs) dims.push_back({in.shape.n, in.shape.h, in.shape.w, in.shape.c});
    cs_plan plan;
    ASSERT_EQ(cs_plan_build(g, (const int(*)[4])dims.data(), (int)dims.size(), &plan), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(plan.n_steps, 1) << "the graph must be a single node (no fusion)";
    cs_step *st = &plan.steps[0];
    const cs_op_def *def = cs_op(st->node->op);
    ASSERT_NE(def->cpu_backward, nullptr) << def->name << " has no backward";
    cs_cpu cpu = {};
    cpu.n_threads = 2;
    cpu.training = 1;
    cpu.bn_eval = opt.bn_eval;
    ASSERT_EQ(dnnl_engine_create(&cpu.engine, dnnl_cpu, 0), dnnl_success);
    ASSERT_EQ(dnnl_stream_create(&cpu.stream, cpu.engine, dnnl_stream_default_flags), dnnl_success);
    if (def->cpu_prepare) {
        ASSERT_EQ(def->cpu_prepare(st, g, &cpu), CUSEG_OK) << cuseg_last_error();
    }

    std::vector<const void *> in_ptr;
    for (const Input &in : inputs) in_ptr.push_back(in.data.data());
    std::vector<std::vector<float>> outs(st->n_out);
    std::vector<void *> out_ptr;
    for (int o = 0; o < st->n_out; ++o) {
        outs[o].resize(cs_shape_count(&st->out_shape[o]));
        out_ptr.push_back(outs[o].data());
    }
    const cs_io io = {in_ptr.data(), out_ptr.data()};
    ASSERT_EQ(def->cpu_forward(st, &io, &cpu), CUSEG_OK) << cuseg_last_error();

    const std::vector<float> dy = random_floats(outs[0].size(), seed + 99);
    std::vector<const float *> dout(st->n_out, nullptr);
    dout[0] = dy.data();
    std::vector<std::vector<float>> din(inputs.size()), dparam(params.size());
    std::vector<float *> din_ptr, dparam_ptr;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const bool skip = i < opt.skip_input.size() && opt.skip_input[i];
        /* Start from a known non-zero value: backward must accumulate. */
        din[i].assign(inputs[i].data.size(), 0.5f);
        din_ptr.push_back(skip ? nullptr : din[i].data());
    }
    for (size_t i = 0; i < params.size(); ++i) {
        const bool skip = i < opt.skip_param.size() && opt.skip_param[i];
        dparam[i].assign(params[i].size(), 0.5f);
        dparam_ptr.push_back(skip ? nullptr : dparam[i].data());
    }
    const cs_grad_io gio = {in_ptr.data(), (const void *const *)out_ptr.data(), dout.data(), din_ptr.data(),
                            dparam_ptr.data()};
    ASSERT_EQ(def->cpu_backward(st, &gio, &cpu), CUSEG_OK) << cuseg_last_error();

    std::vector<Tensor64> x64, p64;
    for (const Input &in : inputs) x64.emplace_back(in.data.begin(), in.data.end());
    for (const auto &p : params) p64.emplace_back(p.begin(), p.end());
    auto loss = [&]() {
        const Tensor64 f = ref(x64, p64);
        double l = 0;
        for (size_t k = 0; k < f.size(); ++k) l += dy[k] * f[k];
        return l;
    };
    /* The reference forward must agree with the op before its derivative means anything. */
    {
        const Tensor64 f = ref(x64, p64);
        expect_close(outs[0], f, 1e-5);
    }
    auto compare = [&](std::vector<Tensor64> &vars, size_t which, const std::vector<float> &analytic,
                       const std::string &what) {
        std::vector<double> numeric(vars[which].size());
        for (size_t k = 0; k < vars[which].size(); ++k) {
            const double keep = vars[which][k];
            vars[which][k] = keep + opt.h;
            const double lp = loss();
            vars[which][k] = keep - opt.h;
            const double lm = loss();
            vars[which][k] = keep;
            numeric[k] = (lp - lm) / (2 * opt.h);
        }
        std::vector<float> got(analytic.size());
        for (size_t k = 0; k < got.size(); ++k) got[k] = analytic[k] - 0.5f; /* remove the seed value */
        SCOPED_TRACE(what);
        expect_close(got, numeric, opt.tol);
    };
    for (size_t i = 0; i < inputs.size(); ++i)
        if (din_ptr[i]) compare(x64, i, din[i], "gradient of input " + std::to_string(i));
    for (size_t i = 0; i < params.size(); ++i)
        if (dparam_ptr[i]) compare(p64, i, dparam[i], "gradient of parameter " + std::to_string(i));

    if (st->state && def->cpu_release) def->cpu_release(st->state);
    st->state = nullptr;
    cs_plan_free(&plan);
    free(cpu.scratch);
    dnnl_stream_destroy(cpu.stream);
    dnnl_engine_destroy(cpu.engine);
    cuseg_graph_release(g);
}

}  // namespace cstest

#endif
