/* Every op on CUDA against the CPU reference, on random inputs with odd
 * sizes and batch 2, in the four precisions. Skipped without a CUDA device. */
#include <gtest/gtest.h>

#include <vector>

#include "cuda_harness.h"

using namespace cstest;

namespace {

#define OK(call) EXPECT_EQ((call), CUSEG_OK) << cuseg_last_error()

Input random_input(Shape s, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    return {s, random_floats(s.count(), seed, lo, hi)};
}

cuseg_conv2d_params conv_params(int out, int k, int stride = 1, int pad = 0, int dilation = 1,
                                int groups = 1, int bias = 1) {
    cuseg_conv2d_params p{};
    p.out_channels = out;
    p.kernel_h = p.kernel_w = k;
    p.stride_h = p.stride_w = stride;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
    p.dilation_h = p.dilation_w = dilation;
    p.groups = groups;
    p.has_bias = bias;
    return p;
}

/* One conv (+ optional BN and activation, which the planner fuses). */
Builder conv_builder(cuseg_conv2d_params p, bool transposed = false, bool bn = false,
                     int act = 0) {
    return [=](cuseg_graph *g, const std::vector<int> &in) {
        int y = -1;
        OK(transposed ? cuseg_graph_conv_transpose2d(g, "conv", in[0], &p, &y)
                      : cuseg_graph_conv2d(g, "conv", in[0], &p, &y));
        if (bn) {
            OK(cuseg_graph_batch_norm(g, "bn", y, 1e-5f, &y));
        }
        if (act == 1) {
            OK(cuseg_graph_relu(g, "act", y, &y));
        } else if (act == 2) {
            OK(cuseg_graph_relu6(g, "act", y, &y));
        }
        return std::vector<int>{y};
    };
}

class CudaOps : public ::testing::TestWithParam<cuseg_precision> {
  protected:
    void SetUp() override { CUSEG_REQUIRE_CUDA(); }
    void check(const std::vector<Input> &in, const Builder &b, double tol = -1) {
        expect_cuda_matches_cpu(in, b, GetParam(), 7, tol);
    }
};

TEST_P(CudaOps, Conv2dPaddedWithBias) {
    check({random_input({2, 13, 11, 5}, 1)}, conv_builder(conv_params(7, 3, 1, 1)));
}

TEST_P(CudaOps, Conv2dStridedDilatedGrouped) {
    check({random_input({2, 17, 15, 6}, 2)}, conv_builder(conv_params(8, 3, 2, 2, 2, 2, 0)));
}

TEST_P(CudaOps, Conv2dDepthwise) {
    check({random_input({2, 12, 9, 16}, 3)}, conv_builder(conv_params(16, 3, 1, 1, 1, 16)));
}

TEST_P(CudaOps, Conv2dAtrousRate12) {
    check({random_input({1, 30, 29, 8}, 4)}, conv_builder(conv_params(12, 3, 1, 12, 12)));
}

TEST_P(CudaOps, Conv2dFoldedBatchNormRelu) {
    check({random_input({2, 10, 9, 8}, 5)}, conv_builder(conv_params(16, 3, 1, 1), false, true, 1));
}

TEST_P(CudaOps, Conv2dFoldedBatchNormRelu6) {
    check({random_input({2, 10, 9, 8}, 6)}, conv_builder(conv_params(16, 3, 1, 1), false, true, 2));
}

TEST_P(CudaOps, Conv2dBiasRelu) {
    check({random_input({2, 10, 9, 8}, 7)}, conv_builder(conv_params(24, 3, 1, 1), false, false, 1));
}

TEST_P(CudaOps, Conv2dPointwise) {
    check({random_input({2, 9, 7, 64}, 8)}, conv_builder(conv_params(48, 1)));
}

/* TF "SAME" for an even kernel: the extra pixel bottom/right. */
TEST_P(CudaOps, Conv2dAsymmetricPadding) {
    cuseg_conv2d_params p = conv_params(6, 2);
    p.pad_bottom = p.pad_right = 1;
    check({random_input({2, 11, 8, 4}, 9)}, conv_builder(p));
}

TEST_P(CudaOps, ConvTranspose2dUpsampling) {
    cuseg_conv2d_params p = conv_params(5, 4, 2, 1);
    check({random_input({2, 7, 6, 6}, 10)}, conv_builder(p, true));
}

/* Kernel == stride, no padding (U-Net's up-convolution): the GEMM + scatter
 * form races cuDNN at plan time, so either may run; both must match. */
TEST_P(CudaOps, ConvTranspose2dKernelEqualsStride) {
    check({random_input({2, 9, 7, 32}, 25)}, conv_builder(conv_params(16, 2, 2), true, true, 2));
}

TEST_P(CudaOps, ConvTranspose2dOutputPaddingGrouped) {
    cuseg_conv2d_params p = conv_params(6, 3, 2, 1, 1, 2);
    p.output_padding_h = p.output_padding_w = 1;
    check({random_input({2, 5, 7, 4}, 11)}, conv_builder(p, true, true, 1));
}

/* A batch norm nothing can fold (its input is an add). */
TEST_P(CudaOps, BatchNormAfterAdd) {
    check({random_input({2, 6, 5, 7}, 12), random_input({2, 6, 5, 7}, 13)},
          [](cuseg_graph *g, const std::vector<int> &in) {
              int s = -1, y = -1;
              OK(cuseg_graph_add(g, "add", in[0], in[1], &s));
              OK(cuseg_graph_batch_norm(g, "bn", s, 1e-3f, &y));
              return std::vector<int>{y};
          });
}

TEST_P(CudaOps, Elementwise) {
    check({random_input({2, 7, 5, 9}, 14, -8.0f, 8.0f), random_input({2, 7, 5, 9}, 15)},
          [](cuseg_graph *g, const std::vector<int> &in) {
              int r = -1, r6 = -1, sg = -1, d = -1, sc = -1, a = -1;
              OK(cuseg_graph_relu(g, "relu", in[0], &r));
              OK(cuseg_graph_relu6(g, "relu6", in[0], &r6));
              OK(cuseg_graph_sigmoid(g, "sigmoid", in[0], &sg));
              OK(cuseg_graph_dropout(g, "dropout", in[1], 0.5f, &d));
              OK(cuseg_graph_scale(g, "scale", in[1], 1.5f, -0.25f, &sc));
              OK(cuseg_graph_add(g, "add", in[0], in[1], &a));
              return std::vector<int>{r, r6, sg, d, sc, a};
          });
}

TEST_P(CudaOps, MaxPoolIndicesAndUnpool) {
    check({random_input({2, 13, 11, 6}, 16)}, [](cuseg_graph *g, const std::vector<int> &in) {
        cuseg_pool2d_params p{};
        p.kernel_h = p.kernel_w = 2;
        int y = -1, idx = -1, up = -1, y3 = -1;
        OK(cuseg_graph_max_pool2d(g, "pool", in[0], &p, &y, &idx));
        OK(cuseg_graph_max_unpool2d(g, "unpool", y, idx, in[0], &up));
        cuseg_pool2d_params q{};
        q.kernel_h = q.kernel_w = 3;
        q.stride_h = q.stride_w = 2;
        q.pad_top = q.pad_bottom = q.pad_left = q.pad_right = 1;
        q.ceil_mode = 1;
        OK(cuseg_graph_max_pool2d(g, "pool3", in[0], &q, &y3, nullptr));
        return std::vector<int>{y, idx, up, y3};
    });
}

TEST_P(CudaOps, AvgPoolAndGlobalAvgPool) {
    check({random_input({2, 33, 31, 5}, 17)}, [](cuseg_graph *g, const std::vector<int> &in) {
        cuseg_pool2d_params p{};
        p.kernel_h = p.kernel_w = 3;
        p.stride_h = p.stride_w = 2;
        p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
        p.ceil_mode = 1;
        int a = -1, b = -1, gap = -1;
        OK(cuseg_graph_avg_pool2d(g, "avg", in[0], &p, &a));
        p.count_include_pad = 1;
        OK(cuseg_graph_avg_pool2d(g, "avg_incl", in[0], &p, &b));
        OK(cuseg_graph_global_avg_pool(g, "gap", in[0], &gap));
        return std::vector<int>{a, b, gap};
    });
}

TEST_P(CudaOps, Resize) {
    check({random_input({2, 7, 9, 5}, 18), random_input({2, 19, 12, 1}, 19)},
          [](cuseg_graph *g, const std::vector<int> &in) {
              cuseg_resize_params up{};
              up.scale_h = up.scale_w = 2.5;
              cuseg_resize_params like{};
              cuseg_resize_params ac{};
              ac.out_h = 23, ac.out_w = 4, ac.align_corners = 1;
              int a = -1, b = -1, c = -1, n1 = -1, n2 = -1;
              OK(cuseg_graph_resize_bilinear(g, "bl_scale", in[0], -1, &up, &a));
              OK(cuseg_graph_resize_bilinear(g, "bl_like", in[0], in[1], &like, &b));
              OK(cuseg_graph_resize_bilinear(g, "bl_ac", in[0], -1, &ac, &c));
              OK(cuseg_graph_resize_nearest(g, "nn_scale", in[0], -1, &up, &n1));
              OK(cuseg_graph_resize_nearest(g, "nn_like", in[0], in[1], &like, &n2));
              return std::vector<int>{a, b, c, n1, n2};
          });
}

TEST_P(CudaOps, ConcatCropPad) {
    check({random_input({2, 9, 8, 3}, 20), random_input({2, 9, 8, 5}, 21),
           random_input({2, 5, 4, 1}, 22), random_input({2, 12, 13, 1}, 23)},
          [](cuseg_graph *g, const std::vector<int> &in) {
              const int xs[3] = {in[0], in[1], in[0]};
              int cat = -1, crop = -1, center = -1, pad = -1, pad_to = -1;
              OK(cuseg_graph_concat(g, "cat", xs, 3, &cat));
              OK(cuseg_graph_crop(g, "crop", cat, -1, 4, 6, 3, 1, &crop));
              OK(cuseg_graph_crop_center(g, "center", cat, in[2], &center));
              OK(cuseg_graph_pad(g, "pad", in[1], 2, 1, 0, 3, &pad));
              OK(cuseg_graph_pad_to(g, "pad_to", in[1], in[3], &pad_to));
              return std::vector<int>{cat, crop, center, pad, pad_to};
          });
}

TEST_P(CudaOps, SoftmaxArgmax) {
    check({random_input({2, 11, 13, 7}, 24, -6.0f, 6.0f)},
          [](cuseg_graph *g, const std::vector<int> &in) {
              int sm = -1, am = -1;
              OK(cuseg_graph_softmax(g, "softmax", in[0], &sm));
              OK(cuseg_graph_argmax(g, "argmax", in[0], &am));
              return std::vector<int>{sm, am};
          });
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaOps, ::testing::ValuesIn(kAllPrecisions),
                         [](const ::testing::TestParamInfo<cuseg_precision> &i) {
                             return std::string(precision_name(i.param));
                         });

} // namespace
