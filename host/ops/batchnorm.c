/* Inference batch norm, y = (x - running_mean) / sqrt(running_var + eps) *
 * weight + bias, applied as y = x * scale + shift per channel. The session
 * folds it into a preceding convolution where it can (conv.c); this is the
 * path for every other batch norm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/cpu.h"
#include "ops/ops.h"

static cuseg_status bn_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                             cs_param_decl *params, int *n_params) {
    const float eps = node->p.bn.eps;
    *n_params = 0;
    if (!(eps > 0.0f) || !isfinite(eps))
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "eps must be finite and > 0, got %g",
                        (double)eps);
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    out[0] = in[0];
    if (params) {
        const int C = in[0].c;
        /* PyTorch's state-dict names and initial values (nn.BatchNorm2d). */
        params[0] = (cs_param_decl){"weight", {C}, 1, 1.0f, 0};
        params[1] = (cs_param_decl){"bias", {C}, 1, 0.0f, 0};
        params[2] = (cs_param_decl){"running_mean", {C}, 1, 0.0f, 1};
        params[3] = (cs_param_decl){"running_var", {C}, 1, 1.0f, 1};
        *n_params = 4;
    }
    return CUSEG_OK;
}

/* Per channel: scale[c], then shift[c] (2*C floats). */
static cuseg_status bn_prepare(cs_step *st, const cuseg_graph *g, cs_cpu *cpu) {
    (void)cpu;
    const cs_node *node = st->node;
    const int C = st->in_shape[0].c;
    const float *gamma = cs_node_param(g, node, 0)->data, *beta = cs_node_param(g, node, 1)->data;
    const float *mean = cs_node_param(g, node, 2)->data, *var = cs_node_param(g, node, 3)->data;
    const double eps = node->p.bn.eps;
    for (int c = 0; c < C; ++c)
        if (!((double)var[c] + eps > 0.0))
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                            "running_var[%d] + eps = %g is not positive", c, (double)var[c] + eps);
    float *ss;
    CS_CHECK(cs_alloc((void **)&ss, sizeof(float) * 2 * (size_t)C, "batch norm scale and shift"));
    /* In double, so that scale and shift carry one rounding each. */
    for (int c = 0; c < C; ++c) {
        const double s = gamma[c] / sqrt((double)var[c] + eps);
        ss[c] = (float)s;
        ss[C + c] = (float)(beta[c] - mean[c] * s);
    }
    st->state = ss;
    return CUSEG_OK;
}

static cuseg_status bn_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *s = &st->out_shape[0];
    const long pixels = (long)s->n * s->h * s->w;
    const int C = s->c;
    const float *scale = st->state, *shift = scale + C;
    const float *x = io->in[0];
    float *y = io->out[0];
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long p = 0; p < pixels; ++p) {
        const float *xp = x + (size_t)p * C;
        float *yp = y + (size_t)p * C;
        for (int c = 0; c < C; ++c)
            yp[c] = xp[c] * scale[c] + shift[c];
    }
    return CUSEG_OK;
}

const cs_op_def cs_op_batch_norm = {.name = "batch_norm",
                                    .infer = bn_infer,
                                    .n_outputs = 1,
                                    .cpu_prepare = bn_prepare,
                                    .cpu_forward = bn_forward,
                                    .cpu_release = free};

cuseg_status cuseg_graph_batch_norm(cuseg_graph *g, const char *name, int x, float eps, int *y) {
    CS_CHECK_ARG(y, "batch_norm '%s': output pointer is NULL", name ? name : "(null)");
    cs_op_params p;
    memset(&p, 0, sizeof p);
    p.bn.eps = eps;
    return cs_graph_add_node(g, CS_OP_BATCH_NORM, name, &x, 1, &p, y);
}
