/* Softmax and argmax over channels. In NHWC a pixel's channels are
 * contiguous, so both work pixel by pixel, parallel over pixels. */
#include <math.h>
#include <stdint.h>

#include "core/status.h"
#include "ops/cpu.h"
#include "ops/ops.h"

static cuseg_status argmax_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                 cs_param_decl *params, int *n_params) {
    (void)node;
    (void)params;
    *n_params = 0;
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    out[0] = (cs_shape){in[0].n, in[0].h, in[0].w, 1, CUSEG_I32};
    return CUSEG_OK;
}

static cuseg_status softmax_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *s = &st->out_shape[0];
    const long pixels = (long)s->n * s->h * s->w;
    const int C = s->c;
    const float *x = io->in[0];
    float *y = io->out[0];
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long p = 0; p < pixels; ++p) {
        const float *xp = x + (size_t)p * C;
        float *yp = y + (size_t)p * C;
        /* Subtracting the maximum keeps every exponent <= 0: no overflow for
         * large logits, and the sum is >= 1, so no 0/0 when all underflow. */
        float m = xp[0];
        for (int c = 1; c < C; ++c)
            m = xp[c] > m ? xp[c] : m;
        float sum = 0.0f;
        for (int c = 0; c < C; ++c) {
            yp[c] = expf(xp[c] - m);
            sum += yp[c];
        }
        for (int c = 0; c < C; ++c)
            yp[c] /= sum;
    }
    return CUSEG_OK;
}

static cuseg_status argmax_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *s = &st->in_shape[0];
    const long pixels = (long)s->n * s->h * s->w;
    const int C = s->c;
    const float *x = io->in[0];
    int32_t *y = io->out[0];
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long p = 0; p < pixels; ++p) {
        const float *xp = x + (size_t)p * C;
        int best = 0;
        /* Strictly greater: the first maximum wins. A NaN counts as the
         * maximum and the first NaN wins, as in torch.argmax. */
        for (int c = 1; c < C && !isnan(xp[best]); ++c)
            if (xp[c] > xp[best] || isnan(xp[c]))
                best = c;
        y[p] = best;
    }
    return CUSEG_OK;
}

/* dx = y * (dy - sum_c dy * y), per pixel. */
static cuseg_status softmax_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *s = &st->out_shape[0];
    const long pixels = (long)s->n * s->h * s->w;
    const int C = s->c;
    const float *y = io->out[0], *dy = io->dout[0];
    float *dx = io->din[0];
    if (!dx || !dy) return CUSEG_OK;
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long p = 0; p < pixels; ++p) {
        const float *yp = y + (size_t)p * C, *gp = dy + (size_t)p * C;
        float dot = 0.0f;
        for (int c = 0; c < C; ++c)
            dot += gp[c] * yp[c];
        for (int c = 0; c < C; ++c)
            dx[(size_t)p * C + c] += yp[c] * (gp[c] - dot);
    }
    return CUSEG_OK;
}

const cs_op_def cs_op_softmax = {.name = "softmax",
                                 .infer = cs_infer_same_f32,
                                 .n_outputs = 1,
                                 .cpu_forward = softmax_forward,
                                 .cpu_backward = softmax_backward};
const cs_op_def cs_op_argmax = {
    .name = "argmax", .infer = argmax_infer, .n_outputs = 1, .cpu_forward = argmax_forward};

cuseg_status cuseg_graph_softmax(cuseg_graph *g, const char *name, int x, int *y) {
    CS_CHECK_ARG(y, "softmax '%s': output pointer is NULL", name ? name : "(null)");
    return cs_graph_add_node(g, CS_OP_SOFTMAX, name, &x, 1, NULL, y);
}

cuseg_status cuseg_graph_argmax(cuseg_graph *g, const char *name, int x, int *y) {
    CS_CHECK_ARG(y, "argmax '%s': output pointer is NULL", name ? name : "(null)");
    return cs_graph_add_node(g, CS_OP_ARGMAX, name, &x, 1, NULL, y);
}
