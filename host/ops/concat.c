/* Channel concatenation: in NHWC every input contributes one contiguous run
 * of its channels per pixel, so the forward pass is a memcpy per input and
 * pixel, in the order the inputs were given. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "ops/cpu.h"
#include "ops/ops.h"

static cuseg_status concat_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                 cs_param_decl *params, int *n_params) {
    (void)params;
    *n_params = 0;
    const int n = node->n_inputs;
    if (n < 1)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "needs at least one input, got %d", n);
    long long channels = 0;
    out[0] = in[0];
    for (int i = 0; i < n; ++i) {
        char what[48];
        snprintf(what, sizeof what, "input %d", i);
        CS_CHECK(cs_expect_dtype(&in[i], CUSEG_F32, what));
        if (i > 0) {
            snprintf(what, sizeof what, "input %d vs input 0", i);
            CS_CHECK(cs_expect_same_nhw(&in[i], &in[0], what));
        }
        /* At build time some inputs may know sizes that others do not yet. */
        if (out[0].n < 0)
            out[0].n = in[i].n;
        if (out[0].h < 0)
            out[0].h = in[i].h;
        if (out[0].w < 0)
            out[0].w = in[i].w;
        channels += in[i].c;
    }
    if (channels > INT_MAX)
        return cs_error(CUSEG_ERR_SHAPE, "%lld output channels exceed the int range", channels);
    out[0].c = (int)channels;
    return CUSEG_OK;
}

static cuseg_status concat_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *os = &st->out_shape[0];
    const long pixels = (long)os->n * os->h * os->w;
    const size_t out_c = (size_t)os->c;
    const int n_in = st->n_in;
    float *y = io->out[0];
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long p = 0; p < pixels; ++p) {
        float *dst = y + (size_t)p * out_c;
        for (int i = 0; i < n_in; ++i) {
            const size_t c = (size_t)st->in_shape[i].c;
            memcpy(dst, (const float *)io->in[i] + (size_t)p * c, c * sizeof(float));
            dst += c;
        }
    }
    return CUSEG_OK;
}

/* Each input's gradient is its channel slice of dy. */
static cuseg_status concat_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *os = &st->out_shape[0];
    const long pixels = (long)os->n * os->h * os->w;
    const float *dy = io->dout[0];
    if (!dy) return CUSEG_OK;
    size_t offset = 0;
    for (int i = 0; i < st->n_in; ++i) {
        const size_t c = (size_t)st->in_shape[i].c;
        float *dx = io->din[i];
        if (dx) {
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
            for (long p = 0; p < pixels; ++p)
                for (size_t k = 0; k < c; ++k)
                    dx[(size_t)p * c + k] += dy[(size_t)p * os->c + offset + k];
        }
        offset += c;
    }
    return CUSEG_OK;
}

const cs_op_def cs_op_concat = {.name = "concat",
                                .infer = concat_infer,
                                .n_outputs = 1,
                                .cpu_forward = concat_forward,
                                .cpu_backward = concat_backward};

cuseg_status cuseg_graph_concat(cuseg_graph *g, const char *name, const int *xs, int n, int *y) {
    const char *shown = name ? name : "(null)";
    CS_CHECK_ARG(y, "concat '%s': output pointer is NULL", shown);
    CS_CHECK_ARG(xs, "concat '%s': input list is NULL", shown);
    CS_CHECK_ARG(n >= 1, "concat '%s': needs at least one input, got %d", shown, n);
    return cs_graph_add_node(g, CS_OP_CONCAT, name, xs, n, NULL, y);
}
