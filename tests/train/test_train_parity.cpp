/* Training parity with PyTorch (issue #6): a small milesial U-Net and a
 * small smp DeepLab v3+, BN in training mode (and, for the U-Net, in eval and
 * frozen mode, --bn), cross-entropy, five SGD-momentum steps and five AdamW
 * steps from identical weights on an identical batch
 * (tests/golden/make_train_parity_*.py). After every step every parameter
 * and BN running statistic must match PyTorch's within 1e-4 relative,
 * norm-wise and element-wise (to the tensor's largest value): fp32
 * forward/backward differ from PyTorch's by summation order (~1e-6 relative
 * per layer), and five optimizer steps compound that. DeepLab v3+ with AdamW
 * is the exception element-wise, see DeepLabV3PlusAdamW* below. */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "op_harness.h"

extern "C" {
#include "graph/graph.h"
#include "io/safetensors.h"
#include "train/autodiff.h"
#include "train/loss.h"
#include "train/optim.h"
}

using namespace cstest;

namespace {

enum class Bn { Train, Eval, Frozen }; /* cuseg train --bn */

/* `trajectory`: the golden's key prefix ("sgd", "adamw", "adamw64", ...).
 * elem_tol: the element-wise bound, when it differs from the norm-wise one. */
void run_parity(const std::string &golden, const char *arch, const char *options, const std::string &trajectory,
                const cs_optim_config &cfg, float lr, int steps = 5, Bn bn = Bn::Train, double elem_tol = -1) {
    SCOPED_TRACE(golden + " " + trajectory);
    cs_safetensors *st = nullptr;
    const std::string path = std::string(CUSEG_SOURCE_DIR) + "/tests/golden/train/" + golden;
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    cuseg_graph *g = nullptr;
    ASSERT_EQ(cuseg_arch_build(arch, options, &g), CUSEG_OK) << cuseg_last_error();
    for (int i = 0; i < g->n_params; ++i)
        ASSERT_EQ(cs_safetensors_read_f32(st, ("init." + std::string(g->params[i].name)).c_str(), g->params[i].data,
                                          g->params[i].count),
                  CUSEG_OK)
            << cuseg_last_error();
    const cs_st_tensor *xt = cs_safetensors_find(st, "x");
    ASSERT_NE(xt, nullptr);
    std::vector<float> x(xt->numel);
    std::memcpy(x.data(), xt->data, x.size() * 4);
    std::vector<int32_t> labels(cs_safetensors_find(st, "labels")->numel);
    std::memcpy(labels.data(), cs_safetensors_find(st, "labels")->data, labels.size() * 4);
    const int dims[1][4] = {{(int)xt->shape[0], (int)xt->shape[1], (int)xt->shape[2], (int)xt->shape[3]}};

    cs_autodiff *ad = nullptr;
    ASSERT_EQ(cs_autodiff_create(g, 2, &ad), CUSEG_OK) << cuseg_last_error();
    /* The trajectories amplify any change of summation order; the GEMM-based
     * weight gradients reproduce PyTorch's on every ISA (see
     * cs_cpu.exact_weight_grad), and JitWeightGradientsStayCloseToExact
     * bounds how far `cuseg train`'s JIT gradients are from them. */
    cs_autodiff_set_exact_weight_grad(ad, 1);
    cs_autodiff_set_bn_eval(ad, bn != Bn::Train);
    std::vector<unsigned char> bn_affine(g->n_params, 0);
    for (int i = 0; i < g->n_nodes; ++i)
        if (g->nodes[i].op == CS_OP_BATCH_NORM) bn_affine[g->nodes[i].param0] = bn_affine[g->nodes[i].param0 + 1] = 1;
    std::vector<float *> params, grads;
    std::vector<size_t> counts;
    std::vector<unsigned char> frozen; /* --bn frozen: PyTorch's requires_grad False on gamma and beta */
    std::vector<std::vector<float>> init(g->n_params);
    for (int i = 0; i < g->n_params; ++i) {
        init[i].assign(g->params[i].data, g->params[i].data + g->params[i].count);
        if (!g->params[i].buffer) {
            params.push_back(g->params[i].data);
            grads.push_back(cs_autodiff_param_grad(ad, i));
            counts.push_back(g->params[i].count);
            frozen.push_back(bn == Bn::Frozen && bn_affine[i]);
        }
    }
    cs_optimizer *opt = nullptr;
    ASSERT_EQ(cs_optimizer_create(&cfg, (int)params.size(), counts.data(), &opt), CUSEG_OK);
    for (int k = 1; k <= steps; ++k) {
        SCOPED_TRACE("step " + std::to_string(k));
        /* Where the golden is a float64 trajectory (adamw64), allow twice
         * PyTorch's own fp32 deviation from it. */
        double tol = 1e-4;
        const cs_st_tensor *dev =
            cs_safetensors_find(st, (trajectory + "." + std::to_string(k) + ".torch_fp32_deviation").c_str());
        if (dev) tol = std::max(tol, 2 * *(const double *)dev->data);
        const float *in[1] = {x.data()};
        ASSERT_EQ(cs_autodiff_forward(ad, in, dims), CUSEG_OK) << cuseg_last_error();
        cs_shape ys;
        const float *logits = cs_autodiff_output(ad, 0, &ys);
        std::vector<float> dlogits(cs_shape_count(&ys));
        double loss;
        ASSERT_EQ(cs_loss_cross_entropy(logits, labels.data(), labels.size(), ys.c, -100, nullptr, 0.0f,
                                        CS_REDUCE_MEAN, &loss, dlogits.data()),
                  CUSEG_OK);
        const double want_loss = *(const double *)cs_safetensors_find(st, (trajectory + "." + std::to_string(k) + ".loss").c_str())->data;
        EXPECT_NEAR(loss, want_loss, std::max(1e-5, tol) * want_loss);
        cs_autodiff_zero_grad(ad);
        const float *douts[1] = {dlogits.data()};
        ASSERT_EQ(cs_autodiff_backward(ad, douts), CUSEG_OK) << cuseg_last_error();
        ASSERT_EQ(cs_optimizer_step(opt, params.data(), grads.data(), lr, frozen.data(), nullptr), CUSEG_OK);
        double worst = 0, worst_norm = 0; /* expect_close's errors, the largest over all tensors: printed */
        for (int i = 0; i < g->n_params; ++i) {
            if (bn != Bn::Train && g->params[i].buffer) { /* eval mode keeps the running statistics exactly */
                EXPECT_TRUE(std::equal(init[i].begin(), init[i].end(), g->params[i].data)) << g->params[i].name;
                continue;
            }
            if (bn == Bn::Frozen && bn_affine[i]) {
                EXPECT_TRUE(std::equal(init[i].begin(), init[i].end(), g->params[i].data)) << g->params[i].name;
            }
            const std::string key = trajectory + "." + std::to_string(k) + "." + g->params[i].name;
            std::vector<float> want(g->params[i].count);
            ASSERT_EQ(cs_safetensors_read_f32(st, key.c_str(), want.data(), want.size()), CUSEG_OK) << key;
            SCOPED_TRACE(g->params[i].name);
            double err[2] = {0, 0};
            expect_close(std::vector<float>(g->params[i].data, g->params[i].data + g->params[i].count),
                         std::vector<double>(want.begin(), want.end()), tol, elem_tol, err);
            worst_norm = std::max(worst_norm, err[0]);
            worst = std::max(worst, err[1]);
        }
        std::printf("%s step %d: relative deviation norm-wise %.2e, element-wise %.2e (tolerance %.2e / %.2e)\n",
                    trajectory.c_str(), k, worst_norm, worst, tol, elem_tol < 0 ? tol : elem_tol);
    }
    cs_optimizer_release(opt);
    cs_autodiff_release(ad);
    cuseg_graph_release(g);
    cs_safetensors_close(st);
}

const cs_optim_config kSgd = {CS_OPT_SGD, 0.9f, 0.0f, 0, 0, 0, 0, 1e-4f};
const cs_optim_config kAdamW = {CS_OPT_ADAMW, 0, 0, 0, 0.9f, 0.999f, 1e-8f, 0.01f};
const char *const kUnet = "in_channels=3,classes=3,width=2,depth=3";
const char *const kDeepLab = "backbone=resnet18,os=16,classes=3,width=4,decoder_channels=16,aspp_dropout=0";

}  // namespace

TEST(TrainParity, UnetSgdMomentumMatchesPyTorchEveryStep) {
    run_parity("unet_parity.safetensors", "unet_bn", kUnet, "sgd", kSgd, 0.05f);
}

TEST(TrainParity, UnetAdamWMatchesPyTorchEveryStep) {
    run_parity("unet_parity.safetensors", "unet_bn", kUnet, "adamw", kAdamW, 2e-3f);
}

/* --bn eval and --bn frozen (tests/golden/make_train_parity_bn_modes.py):
 * three SGD-momentum steps of a depth-2 U-Net whose BN running statistics
 * are random, so that eval mode differs from training mode everywhere. */
TEST(TrainParity, UnetBnEvalMatchesPyTorchEveryStep) {
    run_parity("unet_bn_modes_parity.safetensors", "unet_bn", "in_channels=3,classes=3,width=2,depth=2", "eval", kSgd,
               0.05f, 3, Bn::Eval);
}

TEST(TrainParity, UnetBnFrozenMatchesPyTorchEveryStep) {
    run_parity("unet_bn_modes_parity.safetensors", "unet_bn", "in_channels=3,classes=3,width=2,depth=2", "frozen",
               kSgd, 0.05f, 3, Bn::Frozen);
}

TEST(TrainParity, DeepLabV3PlusSgdMomentumMatchesPyTorchEveryStep) {
    run_parity("deeplab_parity.safetensors", "smp_deeplabv3plus", kDeepLab, "sgd", kSgd, 0.05f);
}

/* Adam's first steps are close to lr * sign(gradient), so a weight whose
 * gradient is at the level of its own fp32 rounding (~1e-5 of the tensor's
 * largest) takes a step that rounding decides; the bigger a tensor, the more
 * such weights it has (make_train_parity_deeplab.py --drift-survey). On this
 * model they are single weights of the ResNet's layer3/4 convolutions:
 * norm-wise cuseg matches PyTorch's fp32 run within 1e-4 (measured 6.6e-5
 * at worst), element-wise only within 3.1e-4 of the tensor's largest
 * weight: 1.5e-5 absolute, under 1% of one step (lr = 2e-3). The
 * element-wise bound, 1e-3 of the largest weight (0.07-0.09 in those
 * tensors), is 3-5% of one step: a wrong update rule or gradient moves a
 * weight by whole steps and fails it. This holds with oneDNN's AVX2 and
 * AVX-512 kernels (every CI machine); forced down to SSE4.1
 * (ONEDNN_MAX_CPU_ISA=SSE41) their other summation order flips other
 * near-zero gradients, and from step 3 both DeepLab AdamW tests fail
 * (2.6e-2 element-wise), while SGD and the U-Net still match. */
TEST(TrainParity, DeepLabV3PlusAdamWMatchesPyTorchEveryStep) {
    run_parity("deeplab_parity.safetensors", "smp_deeplabv3plus", kDeepLab, "adamw", kAdamW, 2e-3f, 5, Bn::Train,
               1e-3);
}

/* The same steps against PyTorch's float64 run: cuseg must be as close to
 * the exact trajectory as PyTorch's fp32 run is (within twice its
 * deviation, 5e-4 at steps 1-4 and 1.6e-2 at step 5, when the rounding of a
 * few gradients near zero flips the sign of their steps in both fp32 runs). */
TEST(TrainParity, DeepLabV3PlusAdamWAsCloseToFloat64AsPyTorch) {
    run_parity("deeplab_parity.safetensors", "smp_deeplabv3plus", kDeepLab, "adamw64", kAdamW, 2e-3f);
}

/* The JIT weight gradients `cuseg train` uses against the GEMM-based ones
 * the parity tests use, one backward of the DeepLab parity batch: each
 * weight gradient sums K = N*H*W products per tap (K = 8*48*64 = 24576 at
 * full resolution), and any fp32 order of K terms is within K * 2^-24 =
 * 1.5e-3 of the exact sum relative to the terms' magnitudes: the bound
 * checked, norm-wise per tensor. (Measured: 1.6e-6 with AVX2 and AVX-512
 * kernels, so the trajectories' divergence is amplification, not error.
 * Before strided 1x1 layers left the AVX2 JIT kernel (see conv.c), this
 * test failed about two runs in three under ONEDNN_MAX_CPU_ISA=AVX2.) */
TEST(TrainParity, JitWeightGradientsStayCloseToExact) {
    cs_safetensors *st = nullptr;
    const std::string path = std::string(CUSEG_SOURCE_DIR) + "/tests/golden/train/deeplab_parity.safetensors";
    ASSERT_EQ(cs_safetensors_open(path.c_str(), &st), CUSEG_OK) << cuseg_last_error();
    std::vector<std::vector<float>> grads[2];
    for (int exact = 0; exact < 2; ++exact) {
        cuseg_graph *g = nullptr;
        ASSERT_EQ(cuseg_arch_build("smp_deeplabv3plus", kDeepLab, &g), CUSEG_OK) << cuseg_last_error();
        for (int i = 0; i < g->n_params; ++i)
            ASSERT_EQ(cs_safetensors_read_f32(st, ("init." + std::string(g->params[i].name)).c_str(),
                                              g->params[i].data, g->params[i].count),
                      CUSEG_OK);
        const cs_st_tensor *xt = cs_safetensors_find(st, "x");
        const float *in[1] = {(const float *)xt->data};
        const int dims[1][4] = {{(int)xt->shape[0], (int)xt->shape[1], (int)xt->shape[2], (int)xt->shape[3]}};
        cs_autodiff *ad = nullptr;
        ASSERT_EQ(cs_autodiff_create(g, 2, &ad), CUSEG_OK);
        cs_autodiff_set_exact_weight_grad(ad, exact);
        ASSERT_EQ(cs_autodiff_forward(ad, in, dims), CUSEG_OK) << cuseg_last_error();
        cs_shape ys;
        const float *logits = cs_autodiff_output(ad, 0, &ys);
        std::vector<float> dl(cs_shape_count(&ys));
        for (size_t i = 0; i < dl.size(); ++i) dl[i] = logits[i] * 1e-3f; /* any fixed upstream gradient */
        cs_autodiff_zero_grad(ad);
        const float *douts[1] = {dl.data()};
        ASSERT_EQ(cs_autodiff_backward(ad, douts), CUSEG_OK) << cuseg_last_error();
        for (int i = 0; i < g->n_params; ++i) {
            const float *gr = cs_autodiff_param_grad(ad, i);
            if (gr && g->params[i].ndim == 4) grads[exact].emplace_back(gr, gr + g->params[i].count);
        }
        cs_autodiff_release(ad);
        cuseg_graph_release(g);
    }
    ASSERT_EQ(grads[0].size(), grads[1].size());
    double worst = 0;
    for (size_t t = 0; t < grads[0].size(); ++t) {
        double num = 0, den = 0;
        for (size_t i = 0; i < grads[0][t].size(); ++i) {
            const double d = (double)grads[0][t][i] - grads[1][t][i];
            num += d * d;
            den += (double)grads[1][t][i] * grads[1][t][i];
        }
        worst = std::max(worst, std::sqrt(num / (den + 1e-300)));
    }
    RecordProperty("worst_relative_difference", std::to_string(worst));
    std::printf("worst norm-wise relative difference JIT vs exact: %.3g\n", worst);
    EXPECT_LE(worst, 1.5e-3);
    cs_safetensors_close(st);
}
