/* The CPU backend of one session: thread count, the oneDNN engine and stream
 * its convolutions run on, and one scratch buffer shared by every step
 * (sized while planning, so running allocates nothing). Owned by the
 * session, used by one thread at a time. */
#ifndef CS_CPU_H
#define CS_CPU_H

#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "cuseg.h"

struct cs_cpu {
    int n_threads;
    /* Training: steps are prepared for forward_training and backward (no
     * folding, parameters read in place each run, batch statistics). */
    int training;
    float bn_momentum; /* running-statistics momentum in training; 0: PyTorch's 0.1 */
    /* Training with batch norms in eval mode (PyTorch's bn.eval() inside
     * model.train()): normalise with the running statistics, which stay as
     * they are; gamma and beta still get gradients. */
    int bn_eval;
    /* Training: weight gradients from oneDNN's plain-layout (GEMM-based)
     * kernel instead of the JIT kernel for the ISA: ~20x slower. The two
     * agree within ~2e-6 norm-wise (tests/train/test_train_parity.cpp), but
     * the PyTorch parity goldens follow 5-step trajectories that amplify any
     * change of summation order (Adam's first step is a sign function of the
     * gradient), and only the GEMM-based order reproduces them within 1e-4
     * on every ISA (AVX2's JIT order does not). For those tests only. */
    int exact_weight_grad;
    /* Dropout masks in training: a counter-based hash of (seed, draw, element),
     * so masks are reproducible from the seed, independent of the thread
     * count, and the backward pass recomputes them instead of storing them. */
    uint64_t seed;
    uint64_t draws; /* incremented by every training-mode dropout forward */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    void *scratch;
    size_t scratch_bytes;
    /* Inference: each convolution's weights and bias as its kernel takes
     * them (BN folded, reordered), by graph node, kept across plans: a new
     * input shape prepares again only the convolutions whose kernel asks
     * for another weight layout (host/ops/conv.c). NULL until first used. */
    struct cs_conv_weights *conv_weights;
    int n_conv_weights;
};

/* Grows the shared scratch buffer to at least `bytes` (prepare time only). */
cuseg_status cs_cpu_reserve_scratch(struct cs_cpu *cpu, size_t bytes);

/* Frees conv_weights; the plans that used them must be released first. */
void cs_cpu_free_conv_weights(struct cs_cpu *cpu);

#endif
