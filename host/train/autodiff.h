/* Reverse-mode differentiation of a graph on the CPU: a training forward
 * (no fusion, batch statistics, every activation kept) and a backward pass
 * that walks the steps in reverse, calling each op's cpu_backward.
 *
 * Parameter gradients accumulate across backward calls until
 * cs_autodiff_zero_grad; activation gradients are per backward. The graph is
 * the trainer's own (mutable): forward reads the parameters in place, so an
 * optimizer that updates them is seen by the next forward, and batch norms
 * update their running statistics. One thread uses an autodiff at a time. */
#ifndef CS_TRAIN_AUTODIFF_H
#define CS_TRAIN_AUTODIFF_H

#include <stdint.h>

#include "graph/graph.h"

typedef struct cs_autodiff cs_autodiff;

/* On the CPU (fp32): cs_autodiff_create_on(g, "cpu", threads, CUSEG_PRECISION_FP32, out). */
cuseg_status cs_autodiff_create(cuseg_graph *g, int threads, cs_autodiff **out);
/* device: "cpu" or "cuda[:N]" (cuda/train.cu; the parameters and their
 * gradients stay host arrays, see docs/training.md). precision: fp32 on the
 * CPU; fp32, bf16 or fp16 on CUDA (activations and gradients stored in 16
 * bits, fp32 accumulation; fp16 wants a loss scaler, train/loss_scale.h).
 * threads: CPU compute threads (unused on CUDA). */
cuseg_status cs_autodiff_create_on(cuseg_graph *g, const char *device, int threads,
                                   cuseg_precision precision, cs_autodiff **out);
/* Whether it runs on a CUDA device. */
int cs_autodiff_on_cuda(const cs_autodiff *ad);
void cs_autodiff_release(cs_autodiff *ad);

/* Runs the training forward on the graph's inputs ({n, h, w, c} each). */
cuseg_status cs_autodiff_forward(cs_autodiff *ad, const float *const *inputs, const int (*dims)[4]);
/* Output i of the last forward (NHWC) and its shape. */
const float *cs_autodiff_output(const cs_autodiff *ad, int i, cs_shape *shape);
/* Backpropagates d(loss)/d(output i) = doutputs[i] (NULL: no gradient from
 * that output) and adds the parameter gradients. */
cuseg_status cs_autodiff_backward(cs_autodiff *ad, const float *const *doutputs);
/* Gradient of graph parameter i (NULL for buffers: BN running statistics). */
float *cs_autodiff_param_grad(const cs_autodiff *ad, int i);
void cs_autodiff_zero_grad(cs_autodiff *ad);
/* Training-mode dropout masks come from (seed, draw counter); checkpoints
 * save the counter so that a resumed run draws the same masks. */
void cs_autodiff_set_dropout_rng(cs_autodiff *ad, uint64_t seed, uint64_t draws);
uint64_t cs_autodiff_dropout_draws(const cs_autodiff *ad);
/* Exact weight gradients (see cs_cpu.exact_weight_grad): for parity tests
 * against PyTorch; takes effect at the next forward. */
void cs_autodiff_set_exact_weight_grad(cs_autodiff *ad, int exact);
/* Batch norms in eval mode while training (PyTorch: bn.eval() after
 * model.train()): the running statistics normalise and stay unchanged;
 * gamma and beta still get gradients. Takes effect at the next forward. */
void cs_autodiff_set_bn_eval(cs_autodiff *ad, int eval);

#endif
