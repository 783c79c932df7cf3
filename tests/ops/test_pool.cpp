/* max_pool2d (with indices), avg_pool2d, global_avg_pool and max_unpool2d
 * against float64 references written here, with PyTorch's output sizes,
 * windows and index convention (models.md §0.3, §5). */
#include <cmath>
#include <limits>
#include <memory>

#include "grad_harness.h"
#include "op_harness.h"

using namespace cstest;

namespace {

cuseg_pool2d_params normalized(cuseg_pool2d_params p) {
    if (!p.stride_h) p.stride_h = p.kernel_h;
    if (!p.stride_w) p.stride_w = p.kernel_w;
    return p;
}

/* PyTorch's pooling_output_shape_pad_lr, written out independently. */
int ref_out_size(int in, int k, int s, int pb, int pe, int ceil_mode) {
    int num = in + pb + pe - k;
    int out = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pb) --out;
    return out;
}

Shape ref_pool_shape(const Shape &x, cuseg_pool2d_params p) {
    p = normalized(p);
    return {x.n, ref_out_size(x.h, p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom, p.ceil_mode),
            ref_out_size(x.w, p.kernel_w, p.stride_w, p.pad_left, p.pad_right, p.ceil_mode), x.c};
}

/* Max over each window's input elements (padding never wins), the first
 * maximum in row-major window order, index h*W + w within the plane. */
void max_pool_ref(const Shape &x, const std::vector<float> &in, cuseg_pool2d_params p,
                  std::vector<double> *val, std::vector<int32_t> *idx, Shape *y) {
    p = normalized(p);
    *y = ref_pool_shape(x, p);
    val->assign(y->count(), 0.0);
    idx->assign(y->count(), -1);
    for (int n = 0; n < y->n; ++n)
        for (int oh = 0; oh < y->h; ++oh)
            for (int ow = 0; ow < y->w; ++ow)
                for (int c = 0; c < y->c; ++c) {
                    double best = -std::numeric_limits<double>::infinity();
                    int32_t at = -1;
                    for (int i = 0; i < p.kernel_h; ++i)
                        for (int j = 0; j < p.kernel_w; ++j) {
                            int ih = oh * p.stride_h - p.pad_top + i;
                            int iw = ow * p.stride_w - p.pad_left + j;
                            if (ih < 0 || ih >= x.h || iw < 0 || iw >= x.w) continue;
                            double v = in[x.at(n, ih, iw, c)];
                            if (at < 0 || v > best) best = v, at = ih * x.w + iw;
                        }
                    (*val)[y->at(n, oh, ow, c)] = best;
                    (*idx)[y->at(n, oh, ow, c)] = at;
                }
}

/* Mean over each window. The divisor counts either the input elements only,
 * or (count_include_pad) the window clipped to [-pad_begin, in + pad_end). */
std::vector<double> avg_pool_ref(const Shape &x, const std::vector<float> &in,
                                 cuseg_pool2d_params p, Shape *y) {
    p = normalized(p);
    *y = ref_pool_shape(x, p);
    std::vector<double> out(y->count());
    for (int n = 0; n < y->n; ++n)
        for (int oh = 0; oh < y->h; ++oh)
            for (int ow = 0; ow < y->w; ++ow)
                for (int c = 0; c < y->c; ++c) {
                    double sum = 0;
                    int valid = 0, padded = 0;
                    for (int i = 0; i < p.kernel_h; ++i)
                        for (int j = 0; j < p.kernel_w; ++j) {
                            int ih = oh * p.stride_h - p.pad_top + i;
                            int iw = ow * p.stride_w - p.pad_left + j;
                            if (ih < x.h + p.pad_bottom && iw < x.w + p.pad_right) ++padded;
                            if (ih < 0 || ih >= x.h || iw < 0 || iw >= x.w) continue;
                            sum += in[x.at(n, ih, iw, c)];
                            ++valid;
                        }
                    out[y->at(n, oh, ow, c)] = sum / (p.count_include_pad ? padded : valid);
                }
    return out;
}

struct Case {
    Shape x;
    cuseg_pool2d_params p;
    int out_h, out_w; /* expected, checked with torch where the padding is symmetric */
};

/* Odd sizes, batch > 1, kernels 2/3 (and 3x2), strides 1/2/3, symmetric and
 * asymmetric padding, floor and ceil mode. */
const Case kCases[] = {
    {{2, 13, 11, 5}, {2, 2, 2, 2}, 6, 5},
    {{2, 13, 11, 5}, {2, 2, 2, 2, 0, 0, 0, 0, 1}, 7, 6}, /* last windows half outside */
    {{3, 9, 14, 7}, {3, 3, 2, 2, 1, 1, 1, 1}, 5, 7},
    {{3, 9, 14, 7}, {3, 3, 2, 2, 1, 1, 1, 1, 1}, 5, 8},
    {{2, 13, 11, 5}, {3, 3, 1, 1, 1, 1, 1, 1}, 13, 11},
    /* Asymmetric, ceil: H = ceil((9+0+1-3)/3)+1 = 4, but window 3 would start
     * at 9 >= H + pad_top, so it is dropped: 3. W = ceil((14+1+0-3)/3)+1 = 5. */
    {{3, 9, 14, 7}, {3, 3, 3, 3, 0, 1, 1, 0, 1}, 3, 5},
    /* Rectangular kernel and stride, stride 0 = kernel along H. */
    {{2, 13, 11, 5}, {3, 2, 0, 1, 1, 1, 0, 1}, 5, 11},
    {{3, 9, 14, 7}, {2, 3, 1, 3, 0, 1, 1, 1}, 9, 5},
};

std::string describe(const Case &k) {
    const cuseg_pool2d_params &p = k.p;
    return "x " + std::to_string(k.x.n) + "x" + std::to_string(k.x.h) + "x" +
           std::to_string(k.x.w) + "x" + std::to_string(k.x.c) + " k " +
           std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + " s " +
           std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) + " pad " +
           std::to_string(p.pad_top) + "," + std::to_string(p.pad_bottom) + "," +
           std::to_string(p.pad_left) + "," + std::to_string(p.pad_right) + " ceil " +
           std::to_string(p.ceil_mode) + " include_pad " + std::to_string(p.count_include_pad);
}

/* Max pooling with both outputs; compares values and indices exactly. */
void check_max_pool(const Case &k, const std::vector<float> &data) {
    SCOPED_TRACE(describe(k));
    auto outs = run_graph({{k.x, data}}, [&](cuseg_graph *g, const std::vector<int> &in) {
        int y = -1, idx = -1;
        EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", in[0], &k.p, &y, &idx), CUSEG_OK)
            << cuseg_last_error();
        return std::vector<int>{y, idx};
    });
    ASSERT_EQ(outs.size(), 2u);
    std::vector<double> val;
    std::vector<int32_t> idx;
    Shape ys;
    max_pool_ref(k.x, data, k.p, &val, &idx, &ys);
    ASSERT_EQ(ys.h, k.out_h);
    ASSERT_EQ(ys.w, k.out_w);
    for (const Output &o : outs) {
        EXPECT_EQ(o.shape.n, ys.n);
        EXPECT_EQ(o.shape.h, ys.h);
        EXPECT_EQ(o.shape.w, ys.w);
        EXPECT_EQ(o.shape.c, ys.c);
    }
    EXPECT_EQ(outs[0].dtype, CUSEG_F32);
    EXPECT_EQ(outs[1].dtype, CUSEG_I32);
    expect_close(outs[0].f, val, 0.0); /* a max does no arithmetic */
    EXPECT_EQ(outs[1].i, idx);
}

/* Builds a graph, runs it once on the given inputs and returns the status
 * of the run (the message stays in cuseg_last_error()). */
cuseg_status run_status(const std::vector<Input> &inputs, const Builder &build) {
    cuseg_graph *g = nullptr;
    EXPECT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    std::vector<int> in_values;
    for (size_t i = 0; i < inputs.size(); ++i) {
        int v = -1;
        EXPECT_EQ(cuseg_graph_input(g, ("in" + std::to_string(i)).c_str(), inputs[i].shape.c, &v),
                  CUSEG_OK);
        in_values.push_back(v);
    }
    for (int v : build(g, in_values)) EXPECT_EQ(cuseg_graph_output(g, v), CUSEG_OK);
    cuseg_model *m = nullptr;
    EXPECT_EQ(cuseg_model_create(&g, &m), CUSEG_OK) << cuseg_last_error();
    cuseg_context_options opt = {"cpu", 2};
    cuseg_context *ctx = nullptr;
    EXPECT_EQ(cuseg_context_create(&opt, &ctx), CUSEG_OK);
    cuseg_session *s = nullptr;
    EXPECT_EQ(cuseg_session_create(m, ctx, &s), CUSEG_OK) << cuseg_last_error();
    std::vector<cuseg_tensor *> tensors;
    for (const Input &in : inputs) {
        cuseg_tensor *t = nullptr;
        EXPECT_EQ(cuseg_tensor_create(CUSEG_F32, in.shape.n, in.shape.h, in.shape.w, in.shape.c, &t),
                  CUSEG_OK);
        std::copy(in.data.begin(), in.data.end(), (float *)cuseg_tensor_data(t));
        tensors.push_back(t);
    }
    cuseg_status st = cuseg_session_run(s, tensors.data(), (int)tensors.size());
    std::string msg = cuseg_last_error();
    for (cuseg_tensor *t : tensors) cuseg_tensor_release(t);
    cuseg_session_release(s);
    cuseg_context_release(ctx);
    cuseg_model_release(m);
    /* Releasing may reset the message; restore it for the caller's check. */
    if (st != CUSEG_OK && std::string(cuseg_last_error()) != msg) ADD_FAILURE() << "message lost";
    return st;
}

/* A graph with one input of `channels` channels for build-time error tests. */
struct GraphWithInput {
    cuseg_graph *g = nullptr;
    int x = -1;
    explicit GraphWithInput(int channels) {
        EXPECT_EQ(cuseg_graph_create(&g), CUSEG_OK);
        EXPECT_EQ(cuseg_graph_input(g, "x", channels, &x), CUSEG_OK);
    }
    ~GraphWithInput() { cuseg_graph_release(g); }
};

/* Plans one-input graph `g` (consumed) for `dims` and returns the status. */
cuseg_status plan_status(cuseg_graph *g, const int dims[4]) {
    CpuSession session(&g);
    EXPECT_TRUE(session.ok()) << cuseg_last_error();
    const int shapes[1][4] = {{dims[0], dims[1], dims[2], dims[3]}};
    return cuseg_session_plan(session.s, shapes, 1);
}

}  // namespace

/* ------------------------------------------------------------------------ */
/* max_pool2d                                                               */

TEST(MaxPool2d, MatchesReferenceWithIndices) {
    uint32_t seed = 100;
    for (const Case &k : kCases) check_max_pool(k, random_floats(k.x.count(), seed++));
}

TEST(MaxPool2d, PaddingNeverWins) {
    /* All inputs negative: a padded zero would win every border window. */
    uint32_t seed = 200;
    for (const Case &k : kCases)
        check_max_pool(k, random_floats(k.x.count(), seed++, -9.0f, -1.0f));
}

TEST(MaxPool2d, TiesKeepTheFirstMaximum) {
    /* Values from {0, 1, 2}: most windows hold several equal maxima, and the
     * index must be that of the first in row-major window order. */
    uint32_t seed = 300;
    for (const Case &k : kCases) {
        std::vector<float> v = random_floats(k.x.count(), seed++, 0.0f, 3.0f);
        for (float &f : v) f = std::floor(f);
        check_max_pool(k, v);
    }
}

TEST(MaxPool2d, WithoutIndicesGivesTheSameValues) {
    const Case &k = kCases[3];
    Input in = {k.x, random_floats(k.x.count(), 400)};
    Output o = run_op(in, [&](cuseg_graph *g, int x) {
        int y = -1;
        EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", x, &k.p, &y, nullptr), CUSEG_OK);
        return y;
    });
    std::vector<double> val;
    std::vector<int32_t> idx;
    Shape ys;
    max_pool_ref(k.x, in.data, k.p, &val, &idx, &ys);
    EXPECT_EQ(o.shape.h, ys.h);
    EXPECT_EQ(o.shape.w, ys.w);
    expect_close(o.f, val, 0.0);
}

TEST(MaxPool2d, NanPropagatesWithItsIndex) {
    const Shape x = {1, 4, 4, 3};
    std::vector<float> data = random_floats(x.count(), 500);
    data[x.at(0, 1, 2, 1)] = std::numeric_limits<float>::quiet_NaN();
    const cuseg_pool2d_params p = {2, 2};
    auto outs = run_graph({{x, data}}, [&](cuseg_graph *g, const std::vector<int> &in) {
        int y, idx;
        EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", in[0], &p, &y, &idx), CUSEG_OK);
        return std::vector<int>{y, idx};
    });
    ASSERT_EQ(outs.size(), 2u);
    const Shape ys = {1, 2, 2, 3};
    EXPECT_TRUE(std::isnan(outs[0].f[ys.at(0, 0, 1, 1)]));
    EXPECT_EQ(outs[1].i[ys.at(0, 0, 1, 1)], 1 * 4 + 2);
    for (size_t i = 0; i < outs[0].f.size(); ++i)
        EXPECT_EQ(std::isnan(outs[0].f[i]), i == ys.at(0, 0, 1, 1)) << i;
}

TEST(MaxPool2d, CeilModeDropsAWindowStartingInThePadding) {
    /* in 5, k 2, s 2, pad 1: ceil((5+2-2)/2)+1 = 4, but window 3 would start
     * at 6-1 = 5 = the input end, so PyTorch keeps 3 (checked with torch). */
    const Shape x = {2, 5, 5, 3};
    Case k = {x, {2, 2, 2, 2, 1, 1, 1, 1, 1}, 3, 3};
    check_max_pool(k, random_floats(x.count(), 600, -5.0f, -1.0f));
    /* Without padding the half-outside last window is kept: 3x3 from 5x5. */
    k = {x, {2, 2, 2, 2, 0, 0, 0, 0, 1}, 3, 3};
    check_max_pool(k, random_floats(x.count(), 601));
    /* in 6, k 3, s 2, pad 1: floor 3, ceil 4 (torch agrees). */
    const Shape x6 = {1, 6, 6, 2};
    check_max_pool({x6, {3, 3, 2, 2, 1, 1, 1, 1, 0}, 3, 3}, random_floats(x6.count(), 602));
    check_max_pool({x6, {3, 3, 2, 2, 1, 1, 1, 1, 1}, 4, 4}, random_floats(x6.count(), 603));
}

TEST(MaxPool2d, SameResultOnOneAndThreeThreads) {
    const Case &k = kCases[2];
    Input in = {k.x, random_floats(k.x.count(), 700)};
    auto build = [&](cuseg_graph *g, const std::vector<int> &v) {
        int y, idx;
        EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", v[0], &k.p, &y, &idx), CUSEG_OK);
        return std::vector<int>{y, idx};
    };
    auto a = run_graph({in}, build, 1), b = run_graph({in}, build, 3);
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(a[0].f, b[0].f);
    EXPECT_EQ(a[1].i, b[1].i);
}

TEST(MaxPool2d, RejectsBadParameters) {
    GraphWithInput t(4);
    int y, idx;
    cuseg_pool2d_params p = {3, 3, 1, 1, 0, 0, 2, 0};
    expect_error(cuseg_graph_max_pool2d(t.g, "p1", t.x, &p, &y, &idx), CUSEG_ERR_INVALID_ARGUMENT,
                 "max_pool2d 'p1': padding must be at most half the kernel 3x3, got top 0 bottom 0 "
                 "left 2 right 0");
    p = {2, 2, 2, 2, 0, 2, 0, 0};
    expect_error(cuseg_graph_max_pool2d(t.g, "p2", t.x, &p, &y, nullptr),
                 CUSEG_ERR_INVALID_ARGUMENT, "padding must be at most half the kernel 2x2");
    p = {0, 2};
    expect_error(cuseg_graph_max_pool2d(t.g, "p3", t.x, &p, &y, &idx), CUSEG_ERR_INVALID_ARGUMENT,
                 "max_pool2d 'p3': kernel must be in [1, 65536], got 0x2");
    p = {2, -1};
    expect_error(cuseg_graph_max_pool2d(t.g, "p4", t.x, &p, &y, &idx), CUSEG_ERR_INVALID_ARGUMENT,
                 "kernel must be in [1, 65536], got 2x-1");
    p = {2, 2, -1, 1};
    expect_error(cuseg_graph_max_pool2d(t.g, "p5", t.x, &p, &y, &idx), CUSEG_ERR_INVALID_ARGUMENT,
                 "stride must be in [1, 65536] (0 means the kernel size), got -1x1");
    p = {3, 3, 1, 1, -1, 0, 0, 0};
    expect_error(cuseg_graph_max_pool2d(t.g, "p6", t.x, &p, &y, &idx), CUSEG_ERR_INVALID_ARGUMENT,
                 "padding must be >= 0, got top -1 bottom 0 left 0 right 0");
    p = {2, 2, 2, 2, 0, 0, 0, 0, 2};
    expect_error(cuseg_graph_max_pool2d(t.g, "p7", t.x, &p, &y, &idx), CUSEG_ERR_INVALID_ARGUMENT,
                 "ceil_mode must be 0 or 1, got 2");
    expect_error(cuseg_graph_max_pool2d(t.g, "p8", t.x, nullptr, &y, &idx),
                 CUSEG_ERR_INVALID_ARGUMENT, "max_pool2d: params is NULL");
    /* Pads of exactly kernel / 2 are accepted. */
    p = {3, 2, 1, 1, 1, 1, 1, 1};
    EXPECT_EQ(cuseg_graph_max_pool2d(t.g, "ok", t.x, &p, &y, &idx), CUSEG_OK) << cuseg_last_error();
}

TEST(MaxPool2d, RejectsInputSmallerThanTheWindowAtPlanTime) {
    GraphWithInput t(3);
    int y;
    const cuseg_pool2d_params p = {3, 3, 2, 2, 0, 0, 0, 0, 1};
    ASSERT_EQ(cuseg_graph_max_pool2d(t.g, "small", t.x, &p, &y, nullptr), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(t.g, y), CUSEG_OK);
    /* H 1: (1 - 3 + 1) / 2 rounds down to -1, so 0 rows even in ceil mode
     * (H 2 would give 1 in ceil mode, as in PyTorch). */
    const int dims[4] = {1, 1, 7, 3};
    cuseg_graph *g = t.g;
    t.g = nullptr;
    expect_error(plan_status(g, dims), CUSEG_ERR_SHAPE, "max_pool2d 'small'");
    EXPECT_NE(std::string(cuseg_last_error()).find("input too small"), std::string::npos)
        << cuseg_last_error();
}

/* ------------------------------------------------------------------------ */
/* avg_pool2d                                                               */

TEST(AvgPool2d, MatchesReference) {
    uint32_t seed = 1000;
    for (int include_pad = 0; include_pad <= 1; ++include_pad)
        for (const Case &base : kCases) {
            Case k = base;
            k.p.count_include_pad = include_pad;
            SCOPED_TRACE(describe(k));
            Input in = {k.x, random_floats(k.x.count(), seed++, -1.0f, 1.0f)};
            Output o = run_op(in, [&](cuseg_graph *g, int x) {
                int y = -1;
                EXPECT_EQ(cuseg_graph_avg_pool2d(g, "avg", x, &k.p, &y), CUSEG_OK)
                    << cuseg_last_error();
                return y;
            });
            Shape ys;
            std::vector<double> ref = avg_pool_ref(k.x, in.data, k.p, &ys);
            ASSERT_EQ(ys.h, k.out_h);
            ASSERT_EQ(ys.w, k.out_w);
            EXPECT_EQ(o.shape.h, ys.h);
            EXPECT_EQ(o.shape.w, ys.w);
            /* A window sums m <= 9 floats in [-1, 1] and divides by d >= m:
             * error <= (m - 1) * 2^-24 * m / d + 2^-24 <= 6e-7 absolute,
             * while max|ref| >= 0.5 in every case, so 1e-5 relative has
             * margin; a wrong window or divisor errs by >= 10%. */
            expect_close(o.f, ref, 1e-5);
        }
}

TEST(AvgPool2d, CountIncludePadMatchesTorchOnASmallCase) {
    /* torch.nn.functional.avg_pool2d(arange(1, 10).view(1,1,3,3), 2, 2, 1,
     * ceil_mode=True, count_include_pad=True/False). */
    const Shape x = {1, 3, 3, 1};
    std::vector<float> data = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    cuseg_pool2d_params p = {2, 2, 2, 2, 1, 1, 1, 1, 1, 1};
    auto run = [&](const cuseg_pool2d_params &q) {
        return run_op({x, data}, [&](cuseg_graph *g, int v) {
            int y;
            EXPECT_EQ(cuseg_graph_avg_pool2d(g, "avg", v, &q, &y), CUSEG_OK);
            return y;
        });
    };
    EXPECT_EQ(run(p).f, (std::vector<float>{0.25f, 1.25f, 2.75f, 7.0f}));
    p.count_include_pad = 0;
    EXPECT_EQ(run(p).f, (std::vector<float>{1.0f, 2.5f, 5.5f, 7.0f}));
    /* Ceil mode without padding: the last window holds one element and the
     * divisor is 1 either way (torch: [[3, 4.5], [7.5, 9]]). */
    p = {2, 2, 2, 2, 0, 0, 0, 0, 1, 1};
    EXPECT_EQ(run(p).f, (std::vector<float>{3.0f, 4.5f, 7.5f, 9.0f}));
}

TEST(AvgPool2d, RejectsBadParameters) {
    GraphWithInput t(4);
    int y;
    cuseg_pool2d_params p = {2, 2, 2, 2, 0, 0, 0, 0, 0, 3};
    expect_error(cuseg_graph_avg_pool2d(t.g, "a1", t.x, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "avg_pool2d 'a1': count_include_pad must be 0 or 1, got 3");
    p = {2, 3, 1, 1, 0, 0, 0, 2};
    expect_error(cuseg_graph_avg_pool2d(t.g, "a2", t.x, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "avg_pool2d 'a2': padding must be at most half the kernel 2x3, got top 0 bottom 0 "
                 "left 0 right 2");
    p = {-3, 3};
    expect_error(cuseg_graph_avg_pool2d(t.g, "a3", t.x, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "kernel must be in [1, 65536], got -3x3");
}

TEST(AvgPool2d, RejectsIndicesAsInput) {
    GraphWithInput t(4);
    int y, idx, z;
    const cuseg_pool2d_params p = {2, 2};
    ASSERT_EQ(cuseg_graph_max_pool2d(t.g, "mp", t.x, &p, &y, &idx), CUSEG_OK);
    expect_error(cuseg_graph_avg_pool2d(t.g, "avg", idx, &p, &z), CUSEG_ERR_SHAPE,
                 "avg_pool2d 'avg': input must be f32, got i32");
}

/* ------------------------------------------------------------------------ */
/* global_avg_pool                                                          */

std::vector<double> global_avg_ref(const Shape &x, const std::vector<float> &in) {
    std::vector<double> out((size_t)x.n * x.c, 0.0);
    for (int n = 0; n < x.n; ++n)
        for (int h = 0; h < x.h; ++h)
            for (int w = 0; w < x.w; ++w)
                for (int c = 0; c < x.c; ++c) out[(size_t)n * x.c + c] += in[x.at(n, h, w, c)];
    for (double &v : out) v /= (double)x.h * x.w;
    return out;
}

void check_global_avg(const Shape &x, const std::vector<float> &data, double tol) {
    Output o = run_op({x, data}, [](cuseg_graph *g, int v) {
        int y;
        EXPECT_EQ(cuseg_graph_global_avg_pool(g, "gap", v, &y), CUSEG_OK);
        return y;
    });
    EXPECT_EQ(o.shape.n, x.n);
    EXPECT_EQ(o.shape.h, 1);
    EXPECT_EQ(o.shape.w, 1);
    EXPECT_EQ(o.shape.c, x.c);
    expect_close(o.f, global_avg_ref(x, data), tol);
}

TEST(GlobalAvgPool, MatchesReference) {
    /* Small planes, 7 channels (one partial block of channels). */
    const Shape x = {3, 9, 14, 7};
    check_global_avg(x, random_floats(x.count(), 2000), 1e-6);
    const Shape one = {2, 1, 1, 5};
    check_global_avg(one, random_floats(one.count(), 2001), 0.0);
}

TEST(GlobalAvgPool, LargePlaneIsCorrectlyRounded) {
    /* 129x129 = 16641 terms of ~1 and 37 channels (2 full blocks and a
     * partial one): a float running sum would typically be off by ~1e-5
     * relative (sqrt(16641) * 2^-24 * ... up to 16641 * 2^-24 ~ 1e-3). The
     * mean must be within one float rounding (2^-24 relative; the means are
     * ~1 = max|ref|), so 1.2e-7 = 2^-23. */
    const Shape x = {2, 129, 129, 37};
    check_global_avg(x, random_floats(x.count(), 2002, 0.5f, 1.5f), 1.2e-7);
}

TEST(GlobalAvgPool, RejectsIndicesAsInput) {
    GraphWithInput t(4);
    int y, idx, z;
    const cuseg_pool2d_params p = {2, 2};
    ASSERT_EQ(cuseg_graph_max_pool2d(t.g, "mp", t.x, &p, &y, &idx), CUSEG_OK);
    expect_error(cuseg_graph_global_avg_pool(t.g, "gap", idx, &z), CUSEG_ERR_SHAPE,
                 "global_avg_pool 'gap': input must be f32, got i32");
}

/* ------------------------------------------------------------------------ */
/* max_unpool2d                                                             */

/* Zeros of the like's size with v scattered at idx; a later duplicate in
 * row-major order wins. */
std::vector<double> unpool_ref(const Shape &v, const std::vector<float> &vals,
                               const std::vector<int32_t> &idx, int out_h, int out_w) {
    const Shape y = {v.n, out_h, out_w, v.c};
    std::vector<double> out(y.count(), 0.0);
    for (int n = 0; n < v.n; ++n)
        for (int h = 0; h < v.h; ++h)
            for (int w = 0; w < v.w; ++w)
                for (int c = 0; c < v.c; ++c) {
                    int32_t i = idx[v.at(n, h, w, c)];
                    out[y.at(n, i / out_w, i % out_w, c)] = vals[v.at(n, h, w, c)];
                }
    return out;
}

TEST(MaxUnpool2d, RestoresPoolMaximaSegNetStyle) {
    /* SegNet: 2x2/2 ceil max pool with indices, unpool into the pooled
     * layer's input size (13x11 is odd, so ceil gives 7x6). */
    const Shape x = {2, 13, 11, 5};
    const cuseg_pool2d_params p = {2, 2, 2, 2, 0, 0, 0, 0, 1};
    std::vector<float> data = random_floats(x.count(), 3000);
    auto outs = run_graph({{x, data}}, [&](cuseg_graph *g, const std::vector<int> &in) {
        int y, idx, up;
        EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", in[0], &p, &y, &idx), CUSEG_OK);
        EXPECT_EQ(cuseg_graph_max_unpool2d(g, "unpool", y, idx, in[0], &up), CUSEG_OK)
            << cuseg_last_error();
        return std::vector<int>{up};
    });
    ASSERT_EQ(outs.size(), 1u);
    std::vector<double> val;
    std::vector<int32_t> idx;
    Shape ys;
    max_pool_ref(x, data, p, &val, &idx, &ys);
    std::vector<float> valf(val.begin(), val.end());
    std::vector<double> ref = unpool_ref(ys, valf, idx, x.h, x.w);
    EXPECT_EQ(outs[0].shape.n, x.n);
    EXPECT_EQ(outs[0].shape.h, x.h);
    EXPECT_EQ(outs[0].shape.w, x.w);
    EXPECT_EQ(outs[0].shape.c, x.c);
    expect_close(outs[0].f, ref, 0.0);
    /* Each 2x2 window (non-overlapping) keeps exactly its maximum. */
    size_t nonzero = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (outs[0].f[i] != 0.0f) {
            ++nonzero;
            EXPECT_EQ(outs[0].f[i], data[i]);
        }
    }
    EXPECT_EQ(nonzero, ys.count());
}

TEST(MaxUnpool2d, OverlappingWindowsLastDuplicateWins) {
    /* 3x3/2 pad 1 windows overlap, and with values from {0, 1} the same input
     * element is often the (first) maximum of several windows. The values
     * scattered come from a separate input, so duplicates disagree and the
     * row-major last one must win. `like` has other channels (3). */
    const Shape x = {3, 9, 14, 7};
    const cuseg_pool2d_params p = {3, 3, 2, 2, 1, 1, 1, 1};
    Shape ys = ref_pool_shape(x, p);
    ASSERT_EQ(ys.h, 5);
    ASSERT_EQ(ys.w, 7);
    std::vector<float> data = random_floats(x.count(), 3100, 0.0f, 2.0f);
    for (float &f : data) f = std::floor(f);
    const Shape like = {3, 9, 14, 3};
    Input vin = {ys, random_floats(ys.count(), 3101)};
    auto outs = run_graph({{x, data}, vin, {like, random_floats(like.count(), 3102)}},
                          [&](cuseg_graph *g, const std::vector<int> &in) {
                              int y, idx, up;
                              EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", in[0], &p, &y, &idx),
                                        CUSEG_OK);
                              EXPECT_EQ(cuseg_graph_max_unpool2d(g, "unpool", in[1], idx, in[2],
                                                                 &up),
                                        CUSEG_OK)
                                  << cuseg_last_error();
                              return std::vector<int>{up, idx};
                          });
    ASSERT_EQ(outs.size(), 2u);
    std::vector<double> val;
    std::vector<int32_t> idx;
    max_pool_ref(x, data, p, &val, &idx, &ys);
    ASSERT_EQ(outs[1].i, idx);
    /* The test must see duplicates to mean anything. */
    size_t dup = 0;
    for (int n = 0; n < ys.n; ++n)
        for (int c = 0; c < ys.c; ++c) {
            std::vector<int> seen(x.h * x.w, 0);
            for (int h = 0; h < ys.h; ++h)
                for (int w = 0; w < ys.w; ++w) dup += seen[idx[ys.at(n, h, w, c)]]++ > 0;
        }
    EXPECT_GT(dup, 50u);
    EXPECT_EQ(outs[0].shape.c, x.c);
    EXPECT_EQ(outs[0].shape.h, like.h);
    EXPECT_EQ(outs[0].shape.w, like.w);
    expect_close(outs[0].f, unpool_ref(ys, vin.data, idx, like.h, like.w), 0.0);
}

TEST(MaxUnpool2d, LikeSetsTheOutputSize) {
    /* Indices of a 6x8 input scattered into a 7x9 plane: flat index i lands
     * at (i / 9, i % 9), as PyTorch's MaxUnpool2d with output_size does. */
    const Shape x = {2, 6, 8, 5};
    const cuseg_pool2d_params p = {2, 2};
    const Shape like = {2, 7, 9, 1};
    std::vector<float> data = random_floats(x.count(), 3200);
    auto outs = run_graph({{x, data}, {like, random_floats(like.count(), 3201)}},
                          [&](cuseg_graph *g, const std::vector<int> &in) {
                              int y, idx, up;
                              EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", in[0], &p, &y, &idx),
                                        CUSEG_OK);
                              EXPECT_EQ(cuseg_graph_max_unpool2d(g, "up", y, idx, in[1], &up),
                                        CUSEG_OK);
                              return std::vector<int>{up};
                          });
    ASSERT_EQ(outs.size(), 1u);
    std::vector<double> val;
    std::vector<int32_t> idx;
    Shape ys;
    max_pool_ref(x, data, p, &val, &idx, &ys);
    std::vector<float> valf(val.begin(), val.end());
    EXPECT_EQ(outs[0].shape.h, 7);
    EXPECT_EQ(outs[0].shape.w, 9);
    expect_close(outs[0].f, unpool_ref(ys, valf, idx, 7, 9), 0.0);
}

TEST(MaxUnpool2d, RejectsIndexOutsideTheOutputAtRunTime) {
    /* Indices of a 13x11 plane scattered into 5x5: the first index >= 25 in
     * memory order is reported with the bound, and nothing is written out
     * of bounds (the sanitizer build checks that). */
    const Shape x = {2, 13, 11, 5};
    const cuseg_pool2d_params p = {2, 2};
    const Shape like = {2, 5, 5, 2};
    std::vector<float> data = random_floats(x.count(), 3300);
    std::vector<double> val;
    std::vector<int32_t> idx;
    Shape ys;
    max_pool_ref(x, data, p, &val, &idx, &ys);
    size_t first = 0;
    while (first < idx.size() && idx[first] < 25) ++first;
    ASSERT_LT(first, idx.size());
    const int c = (int)(first % ys.c), w = (int)(first / ys.c % ys.w),
              h = (int)(first / ys.c / ys.w % ys.h), n = (int)(first / ys.c / ys.w / ys.h);
    cuseg_status st = run_status({{x, data}, {like, random_floats(like.count(), 3301)}},
                                 [&](cuseg_graph *g, const std::vector<int> &in) {
                                     int y, ind, up;
                                     EXPECT_EQ(cuseg_graph_max_pool2d(g, "pool", in[0], &p, &y,
                                                                      &ind),
                                               CUSEG_OK);
                                     EXPECT_EQ(cuseg_graph_max_unpool2d(g, "up", y, ind, in[1],
                                                                        &up),
                                               CUSEG_OK);
                                     return std::vector<int>{up};
                                 });
    expect_error(st, CUSEG_ERR_INVALID_ARGUMENT,
                 "max_unpool2d 'up': index " + std::to_string(idx[first]) + " at (n " +
                     std::to_string(n) + ", h " + std::to_string(h) + ", w " + std::to_string(w) +
                     ", c " + std::to_string(c) + ") is outside the 5x5 output plane [0, 25)");
}

TEST(MaxUnpool2d, RejectsBadIndicesAtBuildTime) {
    GraphWithInput t(5);
    int y, idx, up, other, y4, idx4;
    const cuseg_pool2d_params p = {2, 2};
    ASSERT_EQ(cuseg_graph_max_pool2d(t.g, "pool", t.x, &p, &y, &idx), CUSEG_OK);
    /* Float values as indices. */
    expect_error(cuseg_graph_max_unpool2d(t.g, "u1", y, y, t.x, &up), CUSEG_ERR_SHAPE,
                 "max_unpool2d 'u1': indices must be i32, got f32");
    /* Indices of a 5-channel pool with 4-channel values. */
    ASSERT_EQ(cuseg_graph_input(t.g, "x4", 4, &other), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_max_pool2d(t.g, "pool4", other, &p, &y4, &idx4), CUSEG_OK);
    expect_error(cuseg_graph_max_unpool2d(t.g, "u2", y4, idx, t.x, &up), CUSEG_ERR_SHAPE,
                 "max_unpool2d 'u2': indices have 5 channels, x has 4");
    /* Indices as the values. */
    expect_error(cuseg_graph_max_unpool2d(t.g, "u3", idx, idx, t.x, &up), CUSEG_ERR_SHAPE,
                 "max_unpool2d 'u3': input x must be f32, got i32");
    expect_error(cuseg_graph_max_unpool2d(t.g, "u4", y, idx, 999, &up), CUSEG_ERR_INVALID_ARGUMENT,
                 "value 999 does not exist");
    /* A like with other channels is fine. */
    EXPECT_EQ(cuseg_graph_max_unpool2d(t.g, "ok", y, idx, other, &up), CUSEG_OK)
        << cuseg_last_error();
}

TEST(MaxUnpool2d, RejectsIndicesOfAnotherSizeAtPlanTime) {
    /* Indices from a 2x2/2 pool, values from a 3x3/3 pool of the same input:
     * channels and dtypes match, the spatial sizes only differ once known. */
    GraphWithInput t(3);
    int y2, idx2, y3, up;
    const cuseg_pool2d_params p2 = {2, 2}, p3 = {3, 3};
    ASSERT_EQ(cuseg_graph_max_pool2d(t.g, "p2", t.x, &p2, &y2, &idx2), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_max_pool2d(t.g, "p3", t.x, &p3, &y3, nullptr), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_max_unpool2d(t.g, "up", y3, idx2, t.x, &up), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(t.g, up), CUSEG_OK);
    const int dims[4] = {1, 12, 12, 3};
    cuseg_graph *g = t.g;
    t.g = nullptr;
    expect_error(plan_status(g, dims), CUSEG_ERR_SHAPE, "max_unpool2d 'up': ");
    EXPECT_NE(std::string(cuseg_last_error())
                  .find("x and indices: batch and spatial sizes differ: 1x4x4x3 f32 vs 1x6x6x3 i32"),
              std::string::npos)
        << cuseg_last_error();
}

/* ---------------------------------------------------------------- gradients */

namespace {

/* Distinct values 0.01 apart in random order: no two window elements are
 * within the finite-difference step of each other, so the max is stable. */
cstest::Input distinct_input(cstest::Shape s, uint32_t seed) {
    std::vector<float> v(s.count());
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * (float)i - 0.005f * (float)v.size();
    std::shuffle(v.begin(), v.end(), std::mt19937(seed));
    return {s, v};
}

/* float64 max or average pooling with PyTorch's window rules. */
cstest::Tensor64 pool64(const cstest::Tensor64 &x, cstest::Shape s, const cuseg_pool2d_params &p, bool avg,
                        cstest::Shape *out) {
    const int sh = p.stride_h ? p.stride_h : p.kernel_h, sw = p.stride_w ? p.stride_w : p.kernel_w;
    auto size = [](int in, int k, int st, int pb, int pe, int ceil) {
        int span = in + pb + pe - k + (ceil ? st - 1 : 0);
        int o = span / st + 1;
        if (ceil && (o - 1) * st >= in + pb) --o;
        return o;
    };
    const int OH = size(s.h, p.kernel_h, sh, p.pad_top, p.pad_bottom, p.ceil_mode);
    const int OW = size(s.w, p.kernel_w, sw, p.pad_left, p.pad_right, p.ceil_mode);
    *out = {s.n, OH, OW, s.c};
    cstest::Tensor64 y(out->count());
    for (int n = 0; n < s.n; ++n)
        for (int oh = 0; oh < OH; ++oh)
            for (int ow = 0; ow < OW; ++ow)
                for (int c = 0; c < s.c; ++c) {
                    int hs = oh * sh - p.pad_top, ws = ow * sw - p.pad_left;
                    int he = std::min(hs + p.kernel_h, s.h + p.pad_bottom), we = std::min(ws + p.kernel_w, s.w + p.pad_right);
                    const int padded = (he - hs) * (we - ws);
                    hs = std::max(hs, 0), ws = std::max(ws, 0), he = std::min(he, s.h), we = std::min(we, s.w);
                    double acc = avg ? 0.0 : -INFINITY;
                    for (int h = hs; h < he; ++h)
                        for (int w = ws; w < we; ++w) {
                            const double v = x[s.at(n, h, w, c)];
                            acc = avg ? acc + v : std::max(acc, v);
                        }
                    if (avg) acc /= p.count_include_pad ? padded : (he - hs) * (we - ws);
                    y[out->at(n, oh, ow, c)] = acc;
                }
    return y;
}

}  // namespace

TEST(MaxPool2d, GradientGoesToTheMaximum) {
    const cstest::Shape s = {2, 7, 6, 3};
    for (cuseg_pool2d_params p : {cuseg_pool2d_params{2, 2, 2, 2, 0, 0, 0, 0, 1, 0},
                                  cuseg_pool2d_params{3, 3, 2, 1, 1, 1, 1, 0, 0, 0}}) {
        cstest::check_grad({distinct_input(s, 61)},
                           [p](cuseg_graph *g, const std::vector<int> &x) {
                               int y = -1;
                               EXPECT_EQ(cuseg_graph_max_pool2d(g, "mp", x[0], &p, &y, nullptr), CUSEG_OK);
                               return y;
                           },
                           {}, [s, p](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &) {
                               cstest::Shape o;
                               return pool64(v[0], s, p, false, &o);
                           });
    }
}

TEST(AvgPool2d, GradientSpreadsOverTheWindow) {
    const cstest::Shape s = {2, 7, 6, 3};
    for (cuseg_pool2d_params p : {cuseg_pool2d_params{3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
                                  cuseg_pool2d_params{3, 2, 1, 2, 1, 0, 0, 1, 0, 0}}) {
        cstest::check_grad({{s, cstest::random_floats(s.count(), 62)}},
                           [p](cuseg_graph *g, const std::vector<int> &x) {
                               int y = -1;
                               EXPECT_EQ(cuseg_graph_avg_pool2d(g, "ap", x[0], &p, &y), CUSEG_OK);
                               return y;
                           },
                           {}, [s, p](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &) {
                               cstest::Shape o;
                               return pool64(v[0], s, p, true, &o);
                           });
    }
}

TEST(GlobalAvgPool, GradientIsUniform) {
    const cstest::Shape s = {2, 5, 3, 4};
    cstest::check_grad({{s, cstest::random_floats(s.count(), 63)}},
                       [](cuseg_graph *g, const std::vector<int> &x) {
                           int y = -1;
                           EXPECT_EQ(cuseg_graph_global_avg_pool(g, "gap", x[0], &y), CUSEG_OK);
                           return y;
                       },
                       {}, [s](const std::vector<cstest::Tensor64> &v, const std::vector<cstest::Tensor64> &) {
                           cstest::Tensor64 y((size_t)s.n * s.c, 0.0);
                           for (int n = 0; n < s.n; ++n)
                               for (int i = 0; i < s.h * s.w; ++i)
                                   for (int c = 0; c < s.c; ++c) y[(size_t)n * s.c + c] += v[0][((size_t)n * s.h * s.w + i) * s.c + c] / (s.h * s.w);
                           return y;
                       });
}
