/* CUDA training (cuda/train.cu behind cs_autodiff) against the CPU autodiff,
 * the tested reference (issue 6). These need a GPU and skip without one;
 * the argument checks at the top run everywhere.
 *
 * Per op family: a small graph whose every value carries a gradient to a
 * parameter: the op under test reads the output of a depthwise 1x1
 * convolution with bias ("pre", one per input), so that the op's input
 * gradient reaches pre's weight (sum over pixels of x * dz, per channel)
 * and bias (sum of dz per channel); ops with parameters (conv, BN) also
 * report their own. Forward outputs, every parameter gradient and the BN
 * running statistics are compared.
 *
 * fp32 tolerance, relative 1e-4 (norm-wise and per element against the
 * largest magnitude): cuDNN's algorithms and the gather kernels sum in other
 * orders than oneDNN and the CPU loops (and cuDNN may split a reduction over
 * blocks), each order is within ~sqrt(K) * 2^-24 of exact for K <= a few
 * thousand terms, ~1e-6; 1e-4 leaves two orders of magnitude while a wrong
 * index or a lost accumulation is an O(1) error. */
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "cuda_harness.h"

extern "C" {
#include "graph/graph.h"
#include "train/autodiff.h"
#include "train/loss.h"
#include "train/loss_scale.h"
#include "train/optim.h"
}

using namespace cstest;

namespace {

/* The graph under test on the value `x` (output of the pre convolution);
 * returns the graph outputs. */
using OpBuild = std::function<std::vector<int>(cuseg_graph *, const std::vector<int> &pre)>;

struct TrainResult {
    std::vector<std::vector<float>> outputs, grads, buffers;
    std::vector<std::string> names;
};

/* Builds `n_pre` pre convolutions on one input of C channels, then `build`;
 * random parameters (seed); one forward and backward with random output
 * gradients on `device`. */
TrainResult train_once(const char *device, cuseg_precision precision, const Shape &in, int n_pre,
                       const OpBuild &build, int bn_eval = 0, uint32_t seed = 3) {
    TrainResult r;
    cuseg_graph *g = nullptr;
    EXPECT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x;
    EXPECT_EQ(cuseg_graph_input(g, "x", in.c, &x), CUSEG_OK);
    std::vector<int> pre;
    for (int k = 0; k < n_pre; ++k) {
        cuseg_conv2d_params p = {};
        p.out_channels = in.c;
        p.kernel_h = p.kernel_w = 1;
        p.groups = in.c;
        p.has_bias = 1;
        int y;
        EXPECT_EQ(cuseg_graph_conv2d(g, ("pre" + std::to_string(k)).c_str(), x, &p, &y), CUSEG_OK)
            << cuseg_last_error();
        pre.push_back(y);
    }
    for (int y : build(g, pre))
        EXPECT_EQ(cuseg_graph_output(g, y), CUSEG_OK) << cuseg_last_error();
    randomize_params(g, seed);
    cs_autodiff *ad = nullptr;
    const cuseg_status st = cs_autodiff_create_on(g, device, 2, precision, &ad);
    EXPECT_EQ(st, CUSEG_OK) << cuseg_last_error();
    if (st != CUSEG_OK) {
        cuseg_graph_release(g);
        return r;
    }
    cs_autodiff_set_bn_eval(ad, bn_eval);
    const std::vector<float> xs = random_floats((size_t)in.n * in.h * in.w * in.c, seed + 1);
    const float *inputs[1] = {xs.data()};
    const int dims[1][4] = {{in.n, in.h, in.w, in.c}};
    EXPECT_EQ(cs_autodiff_forward(ad, inputs, dims), CUSEG_OK) << cuseg_last_error();
    std::vector<std::vector<float>> dys(g->n_outputs);
    std::vector<const float *> douts(g->n_outputs, nullptr);
    for (int o = 0; o < g->n_outputs; ++o) {
        cs_shape s;
        const float *y = cs_autodiff_output(ad, o, &s);
        const size_t n = cs_shape_count(&s);
        if (s.dtype != CUSEG_F32 || !y)
            continue; /* indices: compared through their use */
        r.outputs.emplace_back(y, y + n);
        dys[o] = random_floats(n, seed + 10 + o);
        douts[o] = dys[o].data();
    }
    cs_autodiff_zero_grad(ad);
    EXPECT_EQ(cs_autodiff_backward(ad, douts.data()), CUSEG_OK) << cuseg_last_error();
    for (int i = 0; i < g->n_params; ++i) {
        const float *d = g->params[i].buffer ? g->params[i].data : cs_autodiff_param_grad(ad, i);
        (g->params[i].buffer ? r.buffers : r.grads).emplace_back(d, d + g->params[i].count);
        if (!g->params[i].buffer)
            r.names.push_back(g->params[i].name);
    }
    cs_autodiff_release(ad);
    cuseg_graph_release(g);
    return r;
}

void expect_same(const TrainResult &gpu, const TrainResult &cpu, double tol) {
    ASSERT_EQ(gpu.outputs.size(), cpu.outputs.size());
    ASSERT_EQ(gpu.grads.size(), cpu.grads.size());
    ASSERT_EQ(gpu.buffers.size(), cpu.buffers.size());
    auto as_double = [](const std::vector<float> &v) {
        return std::vector<double>(v.begin(), v.end());
    };
    for (size_t o = 0; o < cpu.outputs.size(); ++o) {
        SCOPED_TRACE("output " + std::to_string(o));
        expect_close(gpu.outputs[o], as_double(cpu.outputs[o]), tol);
    }
    for (size_t i = 0; i < cpu.grads.size(); ++i) {
        SCOPED_TRACE("gradient of " + cpu.names[i]);
        expect_close(gpu.grads[i], as_double(cpu.grads[i]), tol);
    }
    for (size_t i = 0; i < cpu.buffers.size(); ++i) {
        SCOPED_TRACE("buffer " + std::to_string(i) + " (running statistics)");
        expect_close(gpu.buffers[i], as_double(cpu.buffers[i]), tol);
    }
}

void check_op(const Shape &in, int n_pre, const OpBuild &build, int bn_eval = 0,
              double tol = 1e-4) {
    const TrainResult cpu = train_once("cpu", CUSEG_PRECISION_FP32, in, n_pre, build, bn_eval);
    const TrainResult gpu = train_once("cuda:0", CUSEG_PRECISION_FP32, in, n_pre, build, bn_eval);
    expect_same(gpu, cpu, tol);
}

void ok(cuseg_status s) { EXPECT_EQ(s, CUSEG_OK) << cuseg_last_error(); }

cuseg_conv2d_params conv(int out, int k, int stride = 1, int pad = 0, int dilation = 1,
                         int groups = 1, int bias = 1) {
    cuseg_conv2d_params p = {};
    p.out_channels = out;
    p.kernel_h = p.kernel_w = k;
    p.stride_h = p.stride_w = stride;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
    p.dilation_h = p.dilation_w = dilation;
    p.groups = groups;
    p.has_bias = bias;
    return p;
}

} // namespace

/* ---------------------------------------------------- runs everywhere */

TEST(CudaTrain, DeviceAndPrecisionArgumentsAreChecked) {
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_graph_create(&g), CUSEG_OK);
    int x;
    ASSERT_EQ(cuseg_graph_input(g, "x", 3, &x), CUSEG_OK);
    ASSERT_EQ(cuseg_graph_output(g, x), CUSEG_OK);
    cs_autodiff *ad = nullptr;
    expect_error(cs_autodiff_create_on(g, "gpu0", 1, CUSEG_PRECISION_FP32, &ad),
                 CUSEG_ERR_INVALID_ARGUMENT, "expected cpu, cuda or cuda:N");
    expect_error(cs_autodiff_create_on(g, "cuda:x", 1, CUSEG_PRECISION_FP32, &ad),
                 CUSEG_ERR_INVALID_ARGUMENT, "expected cpu, cuda or cuda:N");
    expect_error(cs_autodiff_create_on(g, "cpu", 1, CUSEG_PRECISION_BF16, &ad),
                 CUSEG_ERR_INVALID_ARGUMENT, "fp32 only");
    expect_error(cs_autodiff_create_on(g, "cuda:0", 1, CUSEG_PRECISION_TF32, &ad),
                 CUSEG_ERR_INVALID_ARGUMENT, "fp32, bf16 or fp16");
    EXPECT_EQ(ad, nullptr);
    if (cuseg_cuda_device_count() == 0) {
        /* No device (or no CUDA in this build): a clear error, not a crash. */
        EXPECT_NE(cs_autodiff_create_on(g, "cuda:0", 1, CUSEG_PRECISION_FP32, &ad), CUSEG_OK);
        EXPECT_EQ(ad, nullptr);
        EXPECT_STRNE(cuseg_last_error(), "");
    }
    ASSERT_EQ(cs_autodiff_create_on(g, "cpu", 1, CUSEG_PRECISION_FP32, &ad), CUSEG_OK);
    EXPECT_FALSE(cs_autodiff_on_cuda(ad));
    cs_autodiff_release(ad);
    cuseg_graph_release(g);
}

TEST(CudaTrain, CliPrecisionAndDeviceAreChecked) {
    const std::string out = fresh_dir("cuda_train", "cli");
    const std::string recipe = "train --arch unet_bn --arch-opts classes=2,width=2,depth=1 --train "
                               "'" +
                               out + "/none.txt' --out '" + out + "/run'";
    CliResult r = run_cli(recipe + " --precision fp8");
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.out.find("bad value 'fp8' for --precision"), std::string::npos) << r.out;
    r = run_cli(recipe + " --precision bf16"); /* --device defaults to the CPU */
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("training on the CPU is fp32 only"), std::string::npos) << r.out;
    if (cuseg_cuda_device_count() == 0) {
        r = run_cli(recipe + " --device cuda:0");
        EXPECT_NE(r.rc, 0);
        EXPECT_NE(r.out.find("CUDA"), std::string::npos) << r.out;
    }
}

/* ---------------------------------------------------- op families (GPU) */

TEST(CudaTrain, Conv2dPlainStridedDilatedGroupedAsymmetricMatchCpu) {
    CUSEG_REQUIRE_CUDA();
    const Shape in{2, 9, 11, 4};
    /* Keras 'same' for a 2x2 kernel: one pixel bottom/right only (zhixuhao U-Net). */
    cuseg_conv2d_params keras = conv(5, 2);
    keras.pad_bottom = keras.pad_right = 1;
    for (const cuseg_conv2d_params &p :
         {conv(5, 3, 1, 1), conv(6, 3, 2, 1, 1, 1, 0), conv(4, 3, 1, 2, 2), conv(8, 3, 1, 1, 1, 2),
          conv(4, 3, 1, 1, 1, 4), conv(7, 1), keras}) {
        SCOPED_TRACE("k " + std::to_string(p.kernel_h) + " stride " + std::to_string(p.stride_h) +
                     " dilation " + std::to_string(p.dilation_h) + " groups " +
                     std::to_string(p.groups));
        check_op(in, 1, [&](cuseg_graph *g, const std::vector<int> &x) {
            int y;
            ok(cuseg_graph_conv2d(g, "conv", x[0], &p, &y));
            return std::vector<int>{y};
        });
    }
}

TEST(CudaTrain, ConvTranspose2dMatchesCpu) {
    CUSEG_REQUIRE_CUDA();
    const Shape in{2, 5, 7, 4};
    cuseg_conv2d_params up = conv(3, 2, 2);
    cuseg_conv2d_params up3 = conv(5, 3, 2, 1);
    up3.output_padding_h = up3.output_padding_w = 1;
    for (const cuseg_conv2d_params &p : {up, up3}) {
        check_op(in, 1, [&](cuseg_graph *g, const std::vector<int> &x) {
            int y;
            ok(cuseg_graph_conv_transpose2d(g, "up", x[0], &p, &y));
            return std::vector<int>{y};
        });
    }
}

TEST(CudaTrain, BatchNormTrainingMatchesCpu) {
    CUSEG_REQUIRE_CUDA();
    /* Gradients, and the running statistics (momentum update from the batch
     * mean and unbiased variance, in double on both sides); in eval mode
     * (--bn eval|frozen) the running statistics normalise and stay. */
    for (int eval = 0; eval <= 1; ++eval) {
        SCOPED_TRACE(eval ? "eval mode" : "training mode");
        check_op(
            {3, 7, 5, 6}, 1,
            [](cuseg_graph *g, const std::vector<int> &x) {
                int y;
                ok(cuseg_graph_batch_norm(g, "bn", x[0], 1e-5f, &y));
                return std::vector<int>{y};
            },
            eval);
    }
}

TEST(CudaTrain, ElementwiseMatchesCpu) {
    CUSEG_REQUIRE_CUDA();
    check_op({2, 6, 7, 5}, 2, [](cuseg_graph *g, const std::vector<int> &x) {
        int a, b, c, d, e, s;
        ok(cuseg_graph_relu(g, "relu", x[0], &a));
        ok(cuseg_graph_relu6(g, "relu6", x[1], &b));
        ok(cuseg_graph_scale(g, "scale", a, 4.0f, 0.5f, &c));
        ok(cuseg_graph_sigmoid(g, "sigmoid", c, &d));
        ok(cuseg_graph_add(g, "add", d, b, &s));
        /* Dropout in training: the GPU must draw the CPU's masks. */
        ok(cuseg_graph_dropout(g, "drop", s, 0.3f, &e));
        return std::vector<int>{e};
    });
}

TEST(CudaTrain, PoolsAndUnpoolMatchCpu) {
    CUSEG_REQUIRE_CUDA();
    const cuseg_pool2d_params p2 = {2, 2, 2, 2, 0, 0, 0, 0, 1, 0};
    const cuseg_pool2d_params p3 = {3, 3, 2, 2, 1, 1, 1, 1, 0, 1}; /* overlapping windows */
    const cuseg_pool2d_params p3x = {3, 3, 2, 2, 1, 1, 1, 1, 1, 0};
    check_op({2, 9, 11, 3}, 3, [&](cuseg_graph *g, const std::vector<int> &x) {
        int m, idx, u, a, a2, ga, m2;
        ok(cuseg_graph_max_pool2d(g, "max", x[0], &p2, &m, &idx));
        ok(cuseg_graph_max_unpool2d(g, "unpool", m, idx, x[0], &u));
        ok(cuseg_graph_avg_pool2d(g, "avg", x[1], &p3, &a));
        ok(cuseg_graph_avg_pool2d(g, "avg_ceil", x[1], &p3x, &a2));
        ok(cuseg_graph_global_avg_pool(g, "gap", x[2], &ga));
        ok(cuseg_graph_max_pool2d(g, "max3", x[2], &p3, &m2, nullptr));
        return std::vector<int>{u, a, a2, ga, m2};
    });
}

TEST(CudaTrain, ResizeMatchesCpu) {
    CUSEG_REQUIRE_CUDA();
    check_op({2, 5, 7, 3}, 2, [](cuseg_graph *g, const std::vector<int> &x) {
        cuseg_resize_params up = {}, ac = {}, down = {}, nn = {};
        up.scale_h = up.scale_w = 2.0;
        ac.out_h = 13, ac.out_w = 9, ac.align_corners = 1;
        down.out_h = 3, down.out_w = 4;
        nn.out_h = 11, nn.out_w = 16;
        int a, b, c, d;
        ok(cuseg_graph_resize_bilinear(g, "up", x[0], -1, &up, &a));
        ok(cuseg_graph_resize_bilinear(g, "ac", x[0], -1, &ac, &b));
        ok(cuseg_graph_resize_bilinear(g, "down", x[1], -1, &down, &c));
        ok(cuseg_graph_resize_nearest(g, "nearest", x[1], -1, &nn, &d));
        return std::vector<int>{a, b, c, d};
    });
}

TEST(CudaTrain, ConcatCropPadSoftmaxMatchCpu) {
    CUSEG_REQUIRE_CUDA();
    check_op({2, 8, 9, 3}, 2, [](cuseg_graph *g, const std::vector<int> &x) {
        int c, cr, p, s;
        const int both[2] = {x[0], x[1]};
        ok(cuseg_graph_concat(g, "cat", both, 2, &c));
        ok(cuseg_graph_crop(g, "crop", c, -1, 5, 6, 2, 1, &cr));
        ok(cuseg_graph_pad(g, "pad", cr, 1, 2, 3, 0, &p));
        ok(cuseg_graph_softmax(g, "softmax", p, &s));
        return std::vector<int>{s};
    });
}

/* ---------------------------------------------------- whole models (GPU) */

namespace {

/* `steps` SGD-momentum steps with cross-entropy on a fixed batch on
 * `device`; the parameters (and running statistics) after each step. */
std::vector<std::vector<float>> sgd_steps(const char *device, cuseg_precision precision,
                                          const char *arch, const char *opts, int steps,
                                          std::vector<double> *losses = nullptr) {
    std::vector<std::vector<float>> after;
    cuseg_graph *g = nullptr;
    EXPECT_EQ(cuseg_arch_build(arch, opts, &g), CUSEG_OK) << cuseg_last_error();
    if (!g)
        return after;
    randomize_params(g, 11);
    cs_autodiff *ad = nullptr;
    EXPECT_EQ(cs_autodiff_create_on(g, device, 2, precision, &ad), CUSEG_OK) << cuseg_last_error();
    if (!ad) {
        cuseg_graph_release(g);
        return after;
    }
    const int N = 2, H = 32, W = 32, C = g->values[g->inputs[0]].channels;
    const std::vector<float> x = random_floats((size_t)N * H * W * C, 5);
    std::vector<int32_t> labels((size_t)N * H * W);
    for (size_t i = 0; i < labels.size(); ++i)
        labels[i] = (int32_t)((i * 7 + i / 13) % 3);
    std::vector<float *> params, grads;
    std::vector<size_t> counts;
    for (int i = 0; i < g->n_params; ++i)
        if (!g->params[i].buffer) {
            params.push_back(g->params[i].data);
            grads.push_back(cs_autodiff_param_grad(ad, i));
            counts.push_back(g->params[i].count);
        }
    const cs_optim_config sgd = {CS_OPT_SGD, 0.9f, 0.0f, 0, 0, 0, 0, 1e-4f};
    cs_optimizer *opt = nullptr;
    EXPECT_EQ(cs_optimizer_create(&sgd, (int)params.size(), counts.data(), &opt), CUSEG_OK);
    const int dims[1][4] = {{N, H, W, C}};
    for (int k = 0; k < steps && opt; ++k) {
        const float *in[1] = {x.data()};
        EXPECT_EQ(cs_autodiff_forward(ad, in, dims), CUSEG_OK) << cuseg_last_error();
        cs_shape ys;
        const float *logits = cs_autodiff_output(ad, 0, &ys);
        std::vector<float> dlogits(cs_shape_count(&ys));
        double loss = 0;
        EXPECT_EQ(cs_loss_cross_entropy(logits, labels.data(), labels.size(), ys.c, -100, nullptr,
                                        0.0f, CS_REDUCE_MEAN, &loss, dlogits.data()),
                  CUSEG_OK);
        if (losses)
            losses->push_back(loss);
        std::vector<const float *> douts(g->n_outputs, nullptr);
        douts[0] = dlogits.data();
        cs_autodiff_zero_grad(ad);
        EXPECT_EQ(cs_autodiff_backward(ad, douts.data()), CUSEG_OK) << cuseg_last_error();
        for (size_t i = 0; i < grads.size(); ++i)
            for (size_t j = 0; j < counts[i]; ++j)
                EXPECT_TRUE(std::isfinite(grads[i][j])) << "gradient " << i << "[" << j << "]";
        EXPECT_EQ(cs_optimizer_step(opt, params.data(), grads.data(), 0.05f, nullptr, nullptr),
                  CUSEG_OK);
        std::vector<float> all;
        for (int i = 0; i < g->n_params; ++i)
            all.insert(all.end(), g->params[i].data, g->params[i].data + g->params[i].count);
        after.push_back(all);
    }
    cs_optimizer_release(opt);
    cs_autodiff_release(ad);
    cuseg_graph_release(g);
    return after;
}

/* Parameters after each of 3 SGD steps within 1e-3 relative: each step's
 * gradients differ from the CPU's by ~1e-6 relative (summation order, see
 * the top), the BN batch statistics of a 2x32x32 batch amplify that through
 * 1/sqrt(var) and the trajectories compound it over steps (the PyTorch
 * parity test sees ~1e-5 after five steps between two CPUs' orders); 1e-3
 * is an order of magnitude above that and far below any real error. */
void check_model(const char *arch, const char *opts) {
    const auto cpu = sgd_steps("cpu", CUSEG_PRECISION_FP32, arch, opts, 3);
    const auto gpu = sgd_steps("cuda:0", CUSEG_PRECISION_FP32, arch, opts, 3);
    ASSERT_EQ(cpu.size(), 3u);
    ASSERT_EQ(gpu.size(), 3u);
    for (int k = 0; k < 3; ++k) {
        SCOPED_TRACE("after step " + std::to_string(k + 1));
        expect_close(gpu[k], std::vector<double>(cpu[k].begin(), cpu[k].end()), 1e-3);
    }
}

const char *const kUnet = "in_channels=3,classes=3,width=4,depth=3";
const char *const kDeepLab =
    "backbone=resnet18,os=16,classes=3,width=4,decoder_channels=16,aspp_dropout=0";

} // namespace

TEST(CudaTrain, UnetBnThreeSgdStepsMatchCpu) {
    CUSEG_REQUIRE_CUDA();
    check_model("unet_bn", kUnet);
}

TEST(CudaTrain, DeepLabV3PlusThreeSgdStepsMatchCpu) {
    CUSEG_REQUIRE_CUDA();
    check_model("smp_deeplabv3plus", kDeepLab);
}

/* 16-bit storage: no exact comparison (8 or 11 significant bits per
 * stored activation and gradient); every step's gradients finite and the
 * loss on a fixed batch going down over 8 steps, as it does in fp32. */
TEST(CudaTrain, Bf16AndFp16StepsAreFiniteAndLossDecreases) {
    CUSEG_REQUIRE_CUDA();
    for (cuseg_precision p : {CUSEG_PRECISION_BF16, CUSEG_PRECISION_FP16}) {
        SCOPED_TRACE(precision_name(p));
        std::vector<double> losses;
        const auto after = sgd_steps("cuda:0", p, "unet_bn", kUnet, 8, &losses);
        ASSERT_EQ(losses.size(), 8u);
        for (double l : losses)
            EXPECT_TRUE(std::isfinite(l));
        EXPECT_LT(losses.back(), losses.front());
    }
}

/* fp16 with the loss scaler: a forced overflow (a loss gradient of 1e30,
 * inf in fp16 storage) gives non-finite gradients; the scaler reports it,
 * the caller skips the step and the scale backs off. */
TEST(CudaTrain, Fp16ScalerSkipsAStepOnOverflow) {
    CUSEG_REQUIRE_CUDA();
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_arch_build("unet_bn", kUnet, &g), CUSEG_OK) << cuseg_last_error();
    randomize_params(g, 11);
    cs_autodiff *ad = nullptr;
    ASSERT_EQ(cs_autodiff_create_on(g, "cuda:0", 2, CUSEG_PRECISION_FP16, &ad), CUSEG_OK)
        << cuseg_last_error();
    const int dims[1][4] = {{1, 16, 16, 3}};
    const std::vector<float> x = random_floats(16 * 16 * 3, 5);
    const float *in[1] = {x.data()};
    ASSERT_EQ(cs_autodiff_forward(ad, in, dims), CUSEG_OK) << cuseg_last_error();
    cs_shape ys;
    ASSERT_NE(cs_autodiff_output(ad, 0, &ys), nullptr);
    std::vector<float> dlogits(cs_shape_count(&ys), 1e30f);
    std::vector<const float *> douts(g->n_outputs, nullptr);
    douts[0] = dlogits.data();
    cs_autodiff_zero_grad(ad);
    ASSERT_EQ(cs_autodiff_backward(ad, douts.data()), CUSEG_OK) << cuseg_last_error();
    std::vector<float *> grads;
    std::vector<size_t> counts;
    std::vector<std::vector<float>> before;
    for (int i = 0; i < g->n_params; ++i)
        if (!g->params[i].buffer) {
            grads.push_back(cs_autodiff_param_grad(ad, i));
            counts.push_back(g->params[i].count);
        }
    cs_loss_scaler s;
    cs_loss_scaler_init(&s);
    const int finite = cs_loss_scaler_unscale(&s, grads.data(), counts.data(), (int)grads.size());
    EXPECT_EQ(finite, 0) << "fp16 gradients of a 1e30 loss gradient must overflow";
    cs_loss_scaler_update(&s, finite);
    EXPECT_EQ(s.scale, 32768.0f);
    cs_autodiff_release(ad);
    cuseg_graph_release(g);
}
