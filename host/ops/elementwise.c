/* Element-wise ops: ReLU, ReLU6, sigmoid, dropout (identity at inference),
 * add and scale. Memory-bound loops over the dense NHWC buffers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/cpu.h"
#include "ops/op_math.h"
#include "ops/ops.h"

static cuseg_status add_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                              cs_param_decl *params, int *n_params) {
    (void)node;
    (void)params;
    *n_params = 0;
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input a"));
    CS_CHECK(cs_expect_dtype(&in[1], CUSEG_F32, "input b"));
    if (in[0].c != in[1].c)
        return cs_error(CUSEG_ERR_SHAPE, "channels differ: %d vs %d", in[0].c, in[1].c);
    CS_CHECK(cs_expect_same_nhw(&in[0], &in[1], "inputs a and b"));
    out[0] = in[0];
    return CUSEG_OK;
}

static cuseg_status dropout_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                  cs_param_decl *params, int *n_params) {
    float p = node->p.dropout.p;
    if (!(p >= 0.0f && p < 1.0f))
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "probability must be in [0, 1), got %g", p);
    return cs_infer_same_f32(node, in, out, params, n_params);
}

/* y[i] = expr, and dx[i] += dy[i] * dexpr (x, y: the forward's input and
 * output; the derivative reads whichever is cheaper). */
// clang-format off
#define ELEMENTWISE(name, expr, dexpr)                                                             \
    static cuseg_status name##_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {          \
        const float *x = io->in[0];                                                                \
        float *y = io->out[0];                                                                     \
        const long n = (long)cs_shape_count(&st->out_shape[0]);                                    \
        (void)st;                                                                                  \
        _Pragma("omp parallel for simd num_threads(cpu->n_threads) schedule(static)")             \
        for (long i = 0; i < n; ++i) y[i] = (expr);                                                \
        return CUSEG_OK;                                                                           \
    }                                                                                              \
    static cuseg_status name##_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {    \
        const float *x = io->in[0], *y = io->out[0], *dy = io->dout[0];                            \
        float *dx = io->din[0];                                                                    \
        const long n = (long)cs_shape_count(&st->out_shape[0]);                                    \
        (void)st, (void)x, (void)y;                                                                \
        if (!dx || !dy) return CUSEG_OK;                                                           \
        _Pragma("omp parallel for simd num_threads(cpu->n_threads) schedule(static)")             \
        for (long i = 0; i < n; ++i) dx[i] += dy[i] * (dexpr);                                     \
        return CUSEG_OK;                                                                           \
    }
// clang-format on

ELEMENTWISE(relu, cs_relu(x[i]), x[i] > 0.0f ? 1.0f : 0.0f)
ELEMENTWISE(relu6, cs_relu6(x[i]), x[i] > 0.0f && x[i] < 6.0f ? 1.0f : 0.0f)
ELEMENTWISE(sigmoid, 1.0f / (1.0f + expf(-x[i])), y[i] * (1.0f - y[i]))
/* Dropout: the identity at inference; in training (cs_cpu.training) each
 * element is kept with probability 1 - p and scaled by 1 / (1 - p), as
 * torch.nn.Dropout, by op_math.h's counter-based mask (shared with
 * cuda/elementwise.cu, so both backends draw the same masks). */
typedef struct dropout_state {
    uint64_t key; /* of the last forward, for the backward */
} dropout_state;

static cuseg_status dropout_prepare(cs_step *st, const cuseg_graph *g, cs_cpu *cpu) {
    (void)g;
    if (!cpu->training)
        return CUSEG_OK;
    return cs_calloc(&st->state, sizeof(dropout_state), "dropout state");
}

static cuseg_status dropout_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const float *x = io->in[0];
    float *y = io->out[0];
    const long n = (long)cs_shape_count(&st->out_shape[0]);
    dropout_state *s = st->state;
    const float p = st->node->p.dropout.p;
    if (!s || p == 0.0f) {
        memcpy(y, x, sizeof(float) * (size_t)n);
        return CUSEG_OK;
    }
    s->key = cs_dropout_key(cpu->seed, ++cpu->draws);
    const uint64_t threshold = cs_dropout_threshold(p);
    const float scale = 1.0f / (1.0f - p);
    const uint64_t key = s->key;
#pragma omp parallel for simd num_threads(cpu->n_threads) schedule(static)
    for (long i = 0; i < n; ++i)
        y[i] = cs_dropout_keep(key, (uint64_t)i, threshold) ? x[i] * scale : 0.0f;
    return CUSEG_OK;
}

static cuseg_status dropout_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const float *dy = io->dout[0];
    float *dx = io->din[0];
    if (!dx || !dy)
        return CUSEG_OK;
    const long n = (long)cs_shape_count(&st->out_shape[0]);
    const dropout_state *s = st->state;
    const float p = st->node->p.dropout.p;
    const uint64_t threshold = cs_dropout_threshold(p);
    const float scale = s && p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
#pragma omp parallel for simd num_threads(cpu->n_threads) schedule(static)
    for (long i = 0; i < n; ++i)
        dx[i] += (!s || p == 0.0f || cs_dropout_keep(s->key, (uint64_t)i, threshold)) ? dy[i] * scale
                                                                                   : 0.0f;
    return CUSEG_OK;
}
ELEMENTWISE(scale, x[i] * st->node->p.scale.scale + st->node->p.scale.shift,
            st->node->p.scale.scale)

static cuseg_status add_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const float *a = io->in[0], *b = io->in[1];
    float *y = io->out[0];
    const long n = (long)cs_shape_count(&st->out_shape[0]);
#pragma omp parallel for simd num_threads(cpu->n_threads) schedule(static)
    for (long i = 0; i < n; ++i)
        y[i] = a[i] + b[i];
    return CUSEG_OK;
}

static cuseg_status add_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const float *dy = io->dout[0];
    const long n = (long)cs_shape_count(&st->out_shape[0]);
    for (int k = 0; k < 2 && dy; ++k) {
        float *d = io->din[k];
        if (!d)
            continue;
#pragma omp parallel for simd num_threads(cpu->n_threads) schedule(static)
        for (long i = 0; i < n; ++i)
            d[i] += dy[i];
    }
    return CUSEG_OK;
}

const cs_op_def cs_op_relu = {.name = "relu",
                              .infer = cs_infer_same_f32,
                              .n_outputs = 1,
                              .cpu_forward = relu_forward,
                              .cpu_backward = relu_backward};
const cs_op_def cs_op_relu6 = {.name = "relu6",
                               .infer = cs_infer_same_f32,
                               .n_outputs = 1,
                               .cpu_forward = relu6_forward,
                               .cpu_backward = relu6_backward};
const cs_op_def cs_op_sigmoid = {.name = "sigmoid",
                                 .infer = cs_infer_same_f32,
                                 .n_outputs = 1,
                                 .cpu_forward = sigmoid_forward,
                                 .cpu_backward = sigmoid_backward};
const cs_op_def cs_op_dropout = {.name = "dropout",
                                 .infer = dropout_infer,
                                 .n_outputs = 1,
                                 .cpu_prepare = dropout_prepare,
                                 .cpu_forward = dropout_forward,
                                 .cpu_release = free,
                                 .cpu_backward = dropout_backward};
const cs_op_def cs_op_scale = {.name = "scale",
                               .infer = cs_infer_same_f32,
                               .n_outputs = 1,
                               .cpu_forward = scale_forward,
                               .cpu_backward = scale_backward};
const cs_op_def cs_op_add = {.name = "add",
                             .infer = add_infer,
                             .n_outputs = 1,
                             .cpu_forward = add_forward,
                             .cpu_backward = add_backward};

static cuseg_status unary(cuseg_graph *g, cs_op_id op, const char *name, int x,
                          const cs_op_params *p, int *y) {
    CS_CHECK_ARG(y, "%s: output pointer is NULL", cs_op(op)->name);
    return cs_graph_add_node(g, op, name, &x, 1, p, y);
}

cuseg_status cuseg_graph_relu(cuseg_graph *g, const char *name, int x, int *y) {
    return unary(g, CS_OP_RELU, name, x, NULL, y);
}

cuseg_status cuseg_graph_relu6(cuseg_graph *g, const char *name, int x, int *y) {
    return unary(g, CS_OP_RELU6, name, x, NULL, y);
}

cuseg_status cuseg_graph_sigmoid(cuseg_graph *g, const char *name, int x, int *y) {
    return unary(g, CS_OP_SIGMOID, name, x, NULL, y);
}

cuseg_status cuseg_graph_dropout(cuseg_graph *g, const char *name, int x, float p, int *y) {
    cs_op_params q = {.dropout = {p}};
    return unary(g, CS_OP_DROPOUT, name, x, &q, y);
}

cuseg_status cuseg_graph_scale(cuseg_graph *g, const char *name, int x, float scale, float shift,
                               int *y) {
    cs_op_params q = {.scale = {scale, shift}};
    return unary(g, CS_OP_SCALE, name, x, &q, y);
}

cuseg_status cuseg_graph_add(cuseg_graph *g, const char *name, int a, int b, int *y) {
    CS_CHECK_ARG(y, "add: output pointer is NULL");
    const int in[2] = {a, b};
    return cs_graph_add_node(g, CS_OP_ADD, name, in, 2, NULL, y);
}
