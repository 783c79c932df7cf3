/* resize_bilinear and resize_nearest: against a float64 reference of
 * PyTorch's formulas written here, against torch itself (a golden file made
 * by tests/golden/make_resize_golden.py), and the bilinear backward against
 * its adjoint and a float64 scatter reference. */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "grad_harness.h"
#include "op_harness.h"
#include "ops/op_math.h" /* static inline, no linkage: included as C++ */

extern "C" {
#include "ops/ops.h"
#include "ops/resize.h"
}

using namespace cstest;

namespace {

cuseg_resize_params size_params(int h, int w, int align_corners = 0) {
    return {h, w, 0.0, 0.0, align_corners};
}

cuseg_resize_params scale_params(double sh, double sw, int align_corners = 0) {
    return {0, 0, sh, sw, align_corners};
}

/* ---------------------------------------------------------------- float64 reference */

/* One axis of PyTorch's bilinear mapping (UpSample.h: area_pixel_compute_scale,
 * area_pixel_compute_source_index, and the copy when sizes are equal), in
 * double. */
struct Taps1d {
    int i0, i1;
    double w0, w1;
};

Taps1d ref_bilinear_taps(int o, int in, int out, bool align_corners, double scale) {
    if (out == in)
        return {o, o, 1.0, 0.0};
    double src;
    if (align_corners) {
        src = out > 1 ? (double)(in - 1) / (out - 1) * o : 0.0;
    } else {
        const double ratio = scale > 0 ? 1.0 / scale : (double)in / out;
        src = std::max(ratio * (o + 0.5) - 0.5, 0.0);
    }
    const int lo = std::min((int)std::floor(src), in - 1);
    const double l = std::min(src - lo, 1.0);
    return {lo, lo + (lo < in - 1 ? 1 : 0), 1.0 - l, l};
}

std::vector<double> ref_bilinear(const Input &x, int h_out, int w_out, bool align_corners,
                                 double scale_h = 0, double scale_w = 0) {
    const Shape &s = x.shape;
    Shape o = {s.n, h_out, w_out, s.c};
    std::vector<double> y(o.count());
    for (int n = 0; n < s.n; ++n)
        for (int oh = 0; oh < h_out; ++oh) {
            Taps1d th = ref_bilinear_taps(oh, s.h, h_out, align_corners, scale_h);
            for (int ow = 0; ow < w_out; ++ow) {
                Taps1d tw = ref_bilinear_taps(ow, s.w, w_out, align_corners, scale_w);
                for (int c = 0; c < s.c; ++c) {
                    auto v = [&](int h, int w) { return (double)x.data[s.at(n, h, w, c)]; };
                    y[o.at(n, oh, ow, c)] =
                        th.w0 * (tw.w0 * v(th.i0, tw.i0) + tw.w1 * v(th.i0, tw.i1)) +
                        th.w1 * (tw.w0 * v(th.i1, tw.i0) + tw.w1 * v(th.i1, tw.i1));
                }
            }
        }
    return y;
}

/* Legacy 'nearest' (UpSample.h nearest_idx). The float arithmetic IS the
 * definition here: floorf(o * float_ratio) and floor(o * in / out) in exact
 * arithmetic disagree where o * in / out is an integer and the rounded ratio
 * is just below it, and torch follows the float one. */
int ref_nearest_index(int o, int in, int out, double scale) {
    if (out == in)
        return o;
    if (out == 2 * in)
        return o >> 1;
    const float ratio = scale > 0 ? (float)(1.0 / scale) : (float)in / (float)out;
    return std::min((int)std::floor((float)o * ratio), in - 1);
}

std::vector<double> ref_nearest(const Input &x, int h_out, int w_out, double scale_h = 0,
                                double scale_w = 0) {
    const Shape &s = x.shape;
    Shape o = {s.n, h_out, w_out, s.c};
    std::vector<double> y(o.count());
    for (int n = 0; n < s.n; ++n)
        for (int oh = 0; oh < h_out; ++oh)
            for (int ow = 0; ow < w_out; ++ow)
                for (int c = 0; c < s.c; ++c)
                    y[o.at(n, oh, ow, c)] =
                        x.data[s.at(n, ref_nearest_index(oh, s.h, h_out, scale_h),
                                    ref_nearest_index(ow, s.w, w_out, scale_w), c)];
    return y;
}

/* Bound on |cuseg - float64 reference| for bilinear on values in [-m, m].
 * cuseg computes the source coordinate in float, as PyTorch does: the ratio
 * is one rounding (2^-24 relative) and the coordinate one more (the fused
 * multiply-add, or the product), so |d src| <= 2^-24 * (2 * src + 0.5) <=
 * 2^-23 * (in + 1). The output is continuous and piecewise linear in each
 * coordinate (also across a change of the floor index and at the clamps),
 * with slope at most 2m, so that moves it by at most 2m * (d src_h + d src_w).
 * The blend adds at most ~8 roundings of magnitude <= m. For 33 -> 65 this is
 * ~1.6e-5; an off-by-one tap or a wrong formula errs by O(m / in). */
double bilinear_bound(int h_in, int w_in, double m) {
    return 2 * m * (std::ldexp(h_in + 1, -23) + std::ldexp(w_in + 1, -23)) + 8 * std::ldexp(m, -24);
}

void expect_within(const std::vector<float> &got, const std::vector<double> &ref, double bound) {
    ASSERT_EQ(got.size(), ref.size());
    double worst = 0;
    int reported = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double err = std::fabs(got[i] - ref[i]);
        worst = std::max(worst, err);
        if (!(err <= bound) && reported++ < 5)
            ADD_FAILURE() << "element " << i << ": got " << got[i] << ", expected " << ref[i]
                          << " (bound " << bound << ")";
    }
    testing::Test::RecordProperty("max_abs_error", (std::ostringstream() << worst).str());
}

/* ---------------------------------------------------------------- running the op */

Output run_resize(bool bilinear, const Input &x, const cuseg_resize_params &p) {
    return run_op(x, [&](cuseg_graph *g, int v) {
        int y = -1;
        cuseg_status st = bilinear ? cuseg_graph_resize_bilinear(g, "resize", v, -1, &p, &y)
                                   : cuseg_graph_resize_nearest(g, "resize", v, -1, &p, &y);
        EXPECT_EQ(st, CUSEG_OK) << cuseg_last_error();
        return y;
    });
}

struct SizeCase {
    Shape in;
    int h_out, w_out;
};

/* Up and down by 2, odd ratios both ways, to and from size 1, and the
 * 33 -> 65 / 17 -> 32 sizes of align_corners decoders; H and W differ so that
 * the axes cannot be swapped unnoticed. Batch > 1 and odd channel counts. */
const SizeCase kSizeCases[] = {
    {{2, 8, 6, 3}, 16, 12},   {{2, 16, 12, 3}, 8, 6},   {{3, 7, 13, 5}, 13, 7},
    {{1, 13, 7, 3}, 7, 13},   {{2, 5, 1, 3}, 1, 5},     {{1, 1, 5, 7}, 5, 1},
    {{2, 17, 33, 3}, 32, 65}, {{1, 33, 17, 1}, 65, 32}, {{2, 9, 9, 3}, 9, 9},
    {{1, 40, 6, 2}, 3, 11},
};

/* ---------------------------------------------------------------- golden file */

struct Golden {
    struct Case {
        std::string mode;
        int align_corners;
        Shape in;
        std::string kind;
        double a, b;
        std::vector<float> x, y;
    };
    std::vector<std::string> taps, nearest;
    std::vector<Case> cases;
};

const Golden &golden() {
    static Golden g = [] {
        Golden r;
        std::ifstream f(CUSEG_SOURCE_DIR "/tests/golden/resize_cases.txt");
        EXPECT_TRUE(f.good()) << "missing " CUSEG_SOURCE_DIR "/tests/golden/resize_cases.txt";
        std::string line;
        auto floats = [&](std::vector<float> &v) {
            std::getline(f, line);
            std::istringstream s(line);
            std::string tok;
            while (s >> tok)
                v.push_back((float)std::strtod(tok.c_str(), nullptr));
        };
        while (std::getline(f, line)) {
            if (line.rfind("taps ", 0) == 0)
                r.taps.push_back(line);
            if (line.rfind("nearest ", 0) == 0)
                r.nearest.push_back(line);
            if (line.rfind("case ", 0) == 0) {
                Golden::Case c;
                std::istringstream s(line.substr(5));
                s >> c.mode >> c.align_corners >> c.in.n >> c.in.c >> c.in.h >> c.in.w >> c.kind >>
                    c.a >> c.b;
                floats(c.x);
                floats(c.y);
                r.cases.push_back(std::move(c));
            }
        }
        return r;
    }();
    return g;
}

} // namespace

/* ---------------------------------------------------------------- forward */

TEST(ResizeBilinear, MatchesReferenceForSizes) {
    uint32_t seed = 100;
    for (const SizeCase &t : kSizeCases)
        for (int ac = 0; ac < 2; ++ac) {
            SCOPED_TRACE(testing::Message() << t.in.h << "x" << t.in.w << " -> " << t.h_out << "x"
                                            << t.w_out << " align_corners " << ac);
            Input x = {t.in, random_floats(t.in.count(), seed++)};
            Output o = run_resize(true, x, size_params(t.h_out, t.w_out, ac));
            ASSERT_EQ(o.shape.n, t.in.n);
            ASSERT_EQ(o.shape.h, t.h_out);
            ASSERT_EQ(o.shape.w, t.w_out);
            ASSERT_EQ(o.shape.c, t.in.c);
            expect_within(o.f, ref_bilinear(x, t.h_out, t.w_out, ac),
                          bilinear_bound(t.in.h, t.in.w, 1));
        }
}

/* With scale_factor the output is floor(in * scale) and the ratio 1 / scale
 * (not in / out): 7 * 1.5 = 10.5 -> 10 with ratio 2/3, not 0.7; 4 * 1.1 -> 4
 * copies (PyTorch's equal-size shortcut) although the ratio is not 1. */
TEST(ResizeBilinear, MatchesReferenceForScaleFactors) {
    struct {
        Shape in;
        double sh, sw;
        int h_out, w_out;
    } cases[] = {
        {{2, 7, 5, 3}, 1.5, 1.5, 10, 7},
        {{1, 13, 10, 5}, 0.3, 0.3, 3, 3},
        {{2, 4, 9, 3}, 1.1, 0.3, 4, 2},
        {{1, 6, 7, 1}, 2.0, 2.5, 12, 17},
    };
    uint32_t seed = 200;
    for (const auto &t : cases)
        for (int ac = 0; ac < 2; ++ac) {
            SCOPED_TRACE(testing::Message() << t.in.h << "x" << t.in.w << " scale " << t.sh << "x"
                                            << t.sw << " align_corners " << ac);
            Input x = {t.in, random_floats(t.in.count(), seed++)};
            Output o = run_resize(true, x, scale_params(t.sh, t.sw, ac));
            ASSERT_EQ(o.shape.h, t.h_out);
            ASSERT_EQ(o.shape.w, t.w_out);
            expect_within(o.f, ref_bilinear(x, t.h_out, t.w_out, ac, t.sh, t.sw),
                          bilinear_bound(t.in.h, t.in.w, 1));
        }
}

/* `like` lends only its H and W: a batch of 1 and other channels are fine. */
TEST(ResizeBilinear, TakesSizeFromLikeValue) {
    Input x = {{3, 7, 9, 5}, random_floats(3 * 7 * 9 * 5, 300)};
    Input like = {{1, 12, 4, 2}, random_floats(12 * 4 * 2, 301)};
    for (int ac = 0; ac < 2; ++ac) {
        auto outs = run_graph({x, like}, [&](cuseg_graph *g, const std::vector<int> &in) {
            cuseg_resize_params p = {0, 0, 0.0, 0.0, ac};
            int y = -1;
            EXPECT_EQ(cuseg_graph_resize_bilinear(g, "up", in[0], in[1], &p, &y), CUSEG_OK)
                << cuseg_last_error();
            return std::vector<int>{y};
        });
        ASSERT_EQ(outs.size(), 1u);
        const Shape &s = outs[0].shape;
        EXPECT_TRUE(s.n == 3 && s.h == 12 && s.w == 4 && s.c == 5)
            << s.n << "x" << s.h << "x" << s.w << "x" << s.c;
        expect_within(outs[0].f, ref_bilinear(x, 12, 4, ac), bilinear_bound(7, 9, 1));
    }
}

TEST(ResizeNearest, MatchesReference) {
    uint32_t seed = 400;
    for (const SizeCase &t : kSizeCases) {
        SCOPED_TRACE(testing::Message()
                     << t.in.h << "x" << t.in.w << " -> " << t.h_out << "x" << t.w_out);
        Input x = {t.in, random_floats(t.in.count(), seed++)};
        Output o = run_resize(false, x, size_params(t.h_out, t.w_out));
        ASSERT_EQ(o.shape.h, t.h_out);
        ASSERT_EQ(o.shape.w, t.w_out);
        expect_close(o.f, ref_nearest(x, t.h_out, t.w_out), 0.0); /* copies */
    }
    const struct {
        Shape in;
        double sh, sw;
    } scaled[] = {{{2, 7, 5, 3}, 1.5, 0.3}, {{1, 5, 4, 3}, 2.1, 3.3}, {{1, 6, 9, 1}, 0.51, 1.01}};
    for (const auto &t : scaled) {
        SCOPED_TRACE(testing::Message() << "scale " << t.sh << "x" << t.sw);
        Input x = {t.in, random_floats(t.in.count(), seed++)};
        Output o = run_resize(false, x, scale_params(t.sh, t.sw));
        const int h = (int)std::floor(t.in.h * t.sh), w = (int)std::floor(t.in.w * t.sw);
        ASSERT_EQ(o.shape.h, h);
        ASSERT_EQ(o.shape.w, w);
        expect_close(o.f, ref_nearest(x, h, w, t.sh, t.sw), 0.0);
    }
}

/* ---------------------------------------------------------------- against torch */

/* Torch's own per-axis weights (one-hot rows pushed through interpolate)
 * equal the taps of op_math.h bit for bit: the fused multiply-add and the
 * equal-size copy are both needed for that. */
TEST(ResizeBilinear, TapsEqualTorchBitwise) {
    ASSERT_GE(golden().taps.size(), 90u);
    for (const std::string &line : golden().taps) {
        std::istringstream s(line.substr(5));
        int in, out, ac;
        double scale;
        s >> in >> out >> ac >> scale;
        SCOPED_TRACE(line.substr(0, 40));
        std::vector<float> want((size_t)in * out, 0.0f), got((size_t)in * out, 0.0f);
        std::string item;
        while (s >> item) {
            int o, j;
            char hex[64];
            ASSERT_EQ(std::sscanf(item.c_str(), "%d:%d:%63s", &o, &j, hex), 3);
            want[(size_t)o * in + j] = (float)std::strtod(hex, nullptr);
        }
        const float ratio = cs_bilinear_ratio(in, out, ac, scale);
        for (int o = 0; o < out; ++o) {
            int i0, i1;
            float l;
            cs_bilinear_taps(o, in, out, ratio, ac, &i0, &i1, &l);
            got[(size_t)o * in + i0] += 1.0f - l;
            got[(size_t)o * in + i1] += l;
        }
        for (size_t k = 0; k < want.size(); ++k)
            EXPECT_EQ(got[k], want[k]) << "output " << k / in << ", input " << k % in;
    }
}

TEST(ResizeNearest, IndicesEqualTorch) {
    ASSERT_GT(golden().nearest.size(), 30u);
    for (const std::string &line : golden().nearest) {
        std::istringstream s(line.substr(8));
        int in, out;
        double scale;
        s >> in >> out >> scale;
        const float ratio = cs_resize_ratio(in, out, scale);
        for (int o = 0; o < out; ++o) {
            int want = -1;
            s >> want;
            EXPECT_EQ(cs_nearest_index(o, in, out, ratio), want) << line << " at " << o;
        }
    }
}

/* Whole resizes of data in [-1, 1]: bilinear within 1e-6 of torch (the blend
 * may round in another order: a few ulps of 1), nearest exactly. */
void expect_golden_cases(const std::string &mode) {
    int n = 0;
    for (const Golden::Case &c : golden().cases) {
        if (c.mode != mode)
            continue;
        const bool bilinear = c.mode == "bilinear";
        SCOPED_TRACE(testing::Message()
                     << c.mode << " ac " << c.align_corners << " " << c.in.h << "x" << c.in.w << " "
                     << c.kind << " " << c.a << "x" << c.b);
        ASSERT_EQ(c.x.size(), c.in.count());
        cuseg_resize_params p = c.kind == "size" ? size_params((int)c.a, (int)c.b, c.align_corners)
                                                 : scale_params(c.a, c.b, c.align_corners);
        Output o = run_resize(bilinear, {c.in, c.x}, p);
        ASSERT_EQ(o.f.size(), c.y.size());
        const double tol = bilinear ? 1e-6 : 0.0;
        for (size_t i = 0; i < c.y.size(); ++i)
            ASSERT_LE(std::fabs(o.f[i] - c.y[i]), tol) << "element " << i;
        ++n;
    }
    EXPECT_GE(n, 3);
}

TEST(ResizeBilinear, MatchesTorchGolden) { expect_golden_cases("bilinear"); }

TEST(ResizeNearest, MatchesTorchGolden) { expect_golden_cases("nearest"); }

/* ---------------------------------------------------------------- backward */

namespace {

struct BackwardCase {
    Shape in;
    int h_out, w_out;
    double sh, sw; /* 0: sizes given */
};

const BackwardCase kBackwardCases[] = {
    {{2, 7, 13, 3}, 13, 7, 0, 0},    {{2, 5, 1, 3}, 1, 5, 0, 0},   {{1, 8, 6, 5}, 16, 12, 0, 0},
    {{1, 33, 17, 2}, 65, 32, 0, 0},  {{2, 40, 6, 3}, 3, 11, 0, 0}, {{1, 10, 13, 3}, 3, 3, 0.3, 0.3},
    {{2, 4, 7, 3}, 4, 10, 1.1, 1.5},
};

} // namespace

/* The gather equals a float64 scatter of dy through the same (float) taps,
 * PyTorch's backward formula: each dx element is a float sum of K products,
 * so it is within ~(K + 2) * 2^-24 * sum |w * dy| of the exact sum. It also
 * writes every element (dx starts as NaN) and the pair is adjoint:
 * <dy, resize(x)> == <backward(dy), x> within the forward's and backward's
 * rounding bounds. */
TEST(ResizeBilinear, BackwardIsGatherOfScatter) {
    uint32_t seed = 500;
    for (const BackwardCase &t : kBackwardCases)
        for (int ac = 0; ac < 2; ++ac) {
            SCOPED_TRACE(testing::Message() << t.in.h << "x" << t.in.w << " -> " << t.h_out << "x"
                                            << t.w_out << " align_corners " << ac);
            const Shape &s = t.in;
            const Shape so = {s.n, t.h_out, t.w_out, s.c};
            const float rh = cs_bilinear_ratio(s.h, t.h_out, ac, t.sh);
            const float rw = cs_bilinear_ratio(s.w, t.w_out, ac, t.sw);
            std::vector<float> x = random_floats(s.count(), seed++);
            std::vector<float> dy = random_floats(so.count(), seed++);
            std::vector<float> dx(s.count(), std::numeric_limits<float>::quiet_NaN());
            std::vector<float> y(so.count());
            ASSERT_EQ(cs_resize_bilinear_backward_cpu(dy.data(), dx.data(), s.n, s.h, s.w, s.c,
                                                      t.h_out, t.w_out, rh, rw, ac, 0, 3),
                      CUSEG_OK)
                << cuseg_last_error();
            ASSERT_EQ(cs_resize_bilinear_forward_cpu(x.data(), y.data(), s.n, s.h, s.w, s.c,
                                                     t.h_out, t.w_out, rh, rw, ac, 2),
                      CUSEG_OK);

            /* Scatter in double, with the magnitude and term count of each sum. */
            std::vector<double> ref(s.count(), 0.0), mag(s.count(), 0.0);
            std::vector<int> terms(s.count(), 0);
            for (int n = 0; n < s.n; ++n)
                for (int oh = 0; oh < t.h_out; ++oh) {
                    int h[2], w[2];
                    float lh, lw;
                    cs_bilinear_taps(oh, s.h, t.h_out, rh, ac, &h[0], &h[1], &lh);
                    const double wh[2] = {1.0 - lh, lh};
                    for (int ow = 0; ow < t.w_out; ++ow) {
                        cs_bilinear_taps(ow, s.w, t.w_out, rw, ac, &w[0], &w[1], &lw);
                        const double ww[2] = {1.0 - lw, lw};
                        for (int a = 0; a < 2; ++a)
                            for (int b = 0; b < 2; ++b)
                                for (int c = 0; c < s.c; ++c) {
                                    const size_t i = s.at(n, h[a], w[b], c);
                                    const double term = wh[a] * ww[b] * dy[so.at(n, oh, ow, c)];
                                    ref[i] += term;
                                    mag[i] += std::fabs(term);
                                    terms[i] += 1;
                                }
                    }
                }
            double worst = 0, adjoint_bound = 0;
            for (size_t i = 0; i < ref.size(); ++i) {
                const double bound = (terms[i] + 2) * std::ldexp(mag[i], -24);
                ASSERT_TRUE(std::fabs(dx[i] - ref[i]) <= bound)
                    << "dx[" << i << "] = " << dx[i] << ", scatter gives " << ref[i];
                worst = std::max(worst, std::fabs(dx[i] - ref[i]));
                adjoint_bound += std::fabs(x[i]) * bound;
            }
            /* Forward: 3 float lerps of magnitudes <= 1, <= 8 roundings of 1 each. */
            double lhs = 0, rhs = 0, fwd_bound = 0;
            for (size_t k = 0; k < y.size(); ++k) {
                lhs += (double)dy[k] * y[k];
                fwd_bound += std::fabs(dy[k]) * 8 * std::ldexp(1.0, -24);
            }
            for (size_t i = 0; i < x.size(); ++i)
                rhs += (double)dx[i] * x[i];
            EXPECT_LE(std::fabs(lhs - rhs), adjoint_bound + fwd_bound)
                << "<dy, Rx> = " << lhs << ", <R'dy, x> = " << rhs;
            testing::Test::RecordProperty("max_abs_error", (std::ostringstream() << worst).str());
        }
}

TEST(ResizeBilinear, BackwardRejectsBadSizes) {
    float a = 0, b = 0;
    expect_error(cs_resize_bilinear_backward_cpu(&a, &b, 1, 0, 1, 1, 1, 1, 1.0f, 1.0f, 0, 0, 1),
                 CUSEG_ERR_INVALID_ARGUMENT, "sizes must be positive");
    expect_error(cs_resize_bilinear_backward_cpu(nullptr, &b, 1, 1, 1, 1, 1, 1, 1.0f, 1.0f, 0, 0, 1),
                 CUSEG_ERR_INVALID_ARGUMENT, "NULL buffer");
}

/* ---------------------------------------------------------------- shape rules, errors */

TEST(ResizeBilinear, ShapeRulePropagatesUnknownSizes) {
    cs_node node;
    std::memset(&node, 0, sizeof node);
    node.op = CS_OP_RESIZE_BILINEAR;
    node.n_inputs = 1;
    node.p.resize = scale_params(2.0, 0.5);
    const cs_op_def *def = cs_op(CS_OP_RESIZE_BILINEAR);
    cs_shape in[2] = {{-1, -1, -1, 4, CUSEG_F32}, {-1, -1, -1, 2, CUSEG_F32}};
    cs_shape out[2];
    cs_param_decl decl[4];
    int n_decl = -1;
    ASSERT_EQ(def->infer(&node, in, out, decl, &n_decl), CUSEG_OK) << cuseg_last_error();
    EXPECT_EQ(n_decl, 0);
    EXPECT_TRUE(out[0].n == -1 && out[0].h == -1 && out[0].w == -1 && out[0].c == 4);
    in[0] = {2, 7, 9, 4, CUSEG_F32};
    ASSERT_EQ(def->infer(&node, in, out, decl, &n_decl), CUSEG_OK);
    EXPECT_TRUE(out[0].n == 2 && out[0].h == 14 && out[0].w == 4 && out[0].c == 4);
    /* like: its unknown size propagates; its batch does not matter. */
    node.n_inputs = 2;
    ASSERT_EQ(def->infer(&node, in, out, decl, &n_decl), CUSEG_OK);
    EXPECT_TRUE(out[0].n == 2 && out[0].h == -1 && out[0].w == -1 && out[0].c == 4);
    in[1] = {5, 3, 8, 2, CUSEG_F32};
    ASSERT_EQ(def->infer(&node, in, out, decl, &n_decl), CUSEG_OK);
    EXPECT_TRUE(out[0].n == 2 && out[0].h == 3 && out[0].w == 8 && out[0].c == 4);
}

TEST(ResizeBilinear, RejectsBadParameters) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 3, &x), CUSEG_OK);
    cuseg_resize_params none = {0, 0, 0.0, 0.0, 0};
    expect_error(cuseg_graph_resize_bilinear(g, "r", x, -1, &none, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "resize_bilinear 'r': no output size: set like, out_h and out_w, or scale_h and "
                 "scale_w");
    cuseg_resize_params neg_scale = scale_params(-2.0, 2.0);
    expect_error(cuseg_graph_resize_bilinear(g, "r", x, -1, &neg_scale, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "scale factors must be positive and finite, got -2 x 2");
    cuseg_resize_params nan_scale = scale_params(std::nan(""), 2.0);
    expect_error(cuseg_graph_resize_bilinear(g, "r", x, -1, &nan_scale, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "scale factors must be positive and finite");
    cuseg_resize_params neg_size = size_params(-4, 4);
    expect_error(cuseg_graph_resize_bilinear(g, "r", x, -1, &neg_size, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "output size must be positive, got -4 x 4");
    cuseg_resize_params half_size = size_params(5, 0);
    expect_error(cuseg_graph_resize_bilinear(g, "r", x, -1, &half_size, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "out_h and out_w must both be set, got 5 x 0");
    cuseg_resize_params half_scale = scale_params(0.0, 1.5);
    expect_error(cuseg_graph_resize_bilinear(g, "r", x, -1, &half_scale, &y),
                 CUSEG_ERR_INVALID_ARGUMENT, "scale_h and scale_w must both be set, got 0 x 1.5");
    cuseg_resize_params bad_like = {0, 0, 0.0, 0.0, 0};
    EXPECT_NE(cuseg_graph_resize_bilinear(g, "r", x, 57, &bad_like, &y), CUSEG_OK);
    expect_error(cuseg_graph_resize_bilinear(g, "r", x, -1, nullptr, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "parameter pointer is NULL");
    cuseg_graph_release(g);
}

TEST(ResizeNearest, RejectsAlignCorners) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 3, &x), CUSEG_OK);
    cuseg_resize_params p = size_params(8, 8, 1);
    expect_error(cuseg_graph_resize_nearest(g, "up", x, -1, &p, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "resize_nearest 'up': align_corners is only defined for bilinear resize, got 1");
    cuseg_resize_params none = {0, 0, 0.0, 0.0, 0};
    expect_error(cuseg_graph_resize_nearest(g, "up", x, -1, &none, &y), CUSEG_ERR_INVALID_ARGUMENT,
                 "no output size");
    cuseg_graph_release(g);
}

/* A scale that floors to 0 for the run's input size is found at plan time. */
TEST(ResizeBilinear, RejectsScaleThatEmptiesTheOutputAtPlanTime) {
    cuseg_graph *g;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x, y;
    ASSERT_EQ(cuseg_graph_input(g, "x", 2, &x), CUSEG_OK);
    cuseg_resize_params p = scale_params(0.1, 1.0);
    ASSERT_EQ(cuseg_graph_resize_bilinear(g, "down", x, -1, &p, &y), CUSEG_OK) << cuseg_last_error();
    ASSERT_EQ(cuseg_graph_output(g, y), CUSEG_OK);
    CpuSession session(&g);
    ASSERT_TRUE(session.ok()) << cuseg_last_error();
    cuseg_session *s = session.s;
    const int small[1][4] = {{1, 5, 5, 2}};
    expect_error(cuseg_session_plan(s, small, 1), CUSEG_ERR_SHAPE,
                 "height scale 0.1 of input size 5 gives an empty output");
    EXPECT_NE(std::string(cuseg_last_error()).find("resize_bilinear 'down'"), std::string::npos)
        << cuseg_last_error();
    const int big[1][4] = {{1, 20, 5, 2}};
    EXPECT_EQ(cuseg_session_plan(s, big, 1), CUSEG_OK) << cuseg_last_error();
}

/* ---------------------------------------------------------------- gradients */

TEST(ResizeBilinear, GradientMatchesFiniteDifferences) {
    const Shape s = {2, 5, 4, 3};
    for (int ac = 0; ac < 2; ++ac) {
        const cuseg_resize_params p = size_params(9, 7, ac);
        check_grad({{s, random_floats(s.count(), 71 + ac)}},
                   [p](cuseg_graph *g, const std::vector<int> &x) {
                       int y = -1;
                       EXPECT_EQ(cuseg_graph_resize_bilinear(g, "up", x[0], -1, &p, &y), CUSEG_OK);
                       return y;
                   },
                   {}, [s, ac](const std::vector<Tensor64> &v, const std::vector<Tensor64> &) {
                       Tensor64 y((size_t)s.n * 9 * 7 * s.c);
                       const float rh = cs_bilinear_ratio(s.h, 9, ac, 0.0), rw = cs_bilinear_ratio(s.w, 7, ac, 0.0);
                       for (int n = 0; n < s.n; ++n)
                           for (int oh = 0; oh < 9; ++oh)
                               for (int ow = 0; ow < 7; ++ow) {
                                   int h0, h1, w0, w1;
                                   float lh, lw;
                                   cs_bilinear_taps(oh, s.h, 9, rh, ac, &h0, &h1, &lh);
                                   cs_bilinear_taps(ow, s.w, 7, rw, ac, &w0, &w1, &lw);
                                   for (int c = 0; c < s.c; ++c)
                                       y[(((size_t)n * 9 + oh) * 7 + ow) * s.c + c] =
                                           (1 - lh) * ((1 - lw) * v[0][s.at(n, h0, w0, c)] + lw * v[0][s.at(n, h0, w1, c)]) +
                                           lh * ((1 - lw) * v[0][s.at(n, h1, w0, c)] + lw * v[0][s.at(n, h1, w1, c)]);
                               }
                       return y;
                   });
    }
}

TEST(ResizeNearest, GradientScattersToTheSource) {
    const Shape s = {2, 5, 4, 3};
    const cuseg_resize_params p = size_params(7, 9);
    check_grad({{s, random_floats(s.count(), 73)}},
               [p](cuseg_graph *g, const std::vector<int> &x) {
                   int y = -1;
                   EXPECT_EQ(cuseg_graph_resize_nearest(g, "up", x[0], -1, &p, &y), CUSEG_OK);
                   return y;
               },
               {}, [s](const std::vector<Tensor64> &v, const std::vector<Tensor64> &) {
                   Tensor64 y((size_t)s.n * 7 * 9 * s.c);
                   for (int n = 0; n < s.n; ++n)
                       for (int oh = 0; oh < 7; ++oh)
                           for (int ow = 0; ow < 9; ++ow)
                               for (int c = 0; c < s.c; ++c)
                                   y[(((size_t)n * 7 + oh) * 9 + ow) * s.c + c] =
                                       v[0][s.at(n, cs_nearest_index(oh, s.h, 7, cs_resize_ratio(s.h, 7, 0.0)),
                                                 cs_nearest_index(ow, s.w, 9, cs_resize_ratio(s.w, 9, 0.0)), c)];
                   return y;
               });
}
