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

/* Inference: per channel scale[c] and shift[c]. Training: the parameters
 * (updated in place: the running statistics), and the batch mean and
 * 1/sqrt(var + eps) that the backward needs. */
typedef struct bn_state {
    float *scale, *shift;
    float *gamma, *beta, *running_mean, *running_var;
    double *mean, *invstd; /* of the batch, or the running ones in eval mode */
    int eval;              /* the last training forward ran in eval mode */
} bn_state;

static void bn_release(void *state) {
    bn_state *s = state;
    if (!s) return;
    free(s->scale);
    free(s->mean);
    free(s);
}

static cuseg_status bn_prepare(cs_step *st, const cuseg_graph *g, cs_cpu *cpu) {
    const cs_node *node = st->node;
    const int C = st->in_shape[0].c;
    float *gamma = cs_node_param(g, node, 0)->data, *beta = cs_node_param(g, node, 1)->data;
    float *mean = cs_node_param(g, node, 2)->data, *var = cs_node_param(g, node, 3)->data;
    const double eps = node->p.bn.eps;
    bn_state *s;
    CS_CHECK(cs_calloc((void **)&s, sizeof *s, "batch norm state"));
    if (cpu->training) {
        *s = (bn_state){.gamma = gamma, .beta = beta, .running_mean = mean, .running_var = var};
        if (cs_alloc((void **)&s->mean, sizeof(double) * 2 * (size_t)C, "batch statistics")) {
            free(s);
            return CUSEG_ERR_OUT_OF_MEMORY;
        }
        s->invstd = s->mean + C;
        st->state = s;
        return CUSEG_OK;
    }
    for (int c = 0; c < C; ++c)
        if (!((double)var[c] + eps > 0.0)) {
            free(s);
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                            "running_var[%d] + eps = %g is not positive", c, (double)var[c] + eps);
        }
    if (cs_alloc((void **)&s->scale, sizeof(float) * 2 * (size_t)C, "batch norm scale and shift")) {
        free(s);
        return CUSEG_ERR_OUT_OF_MEMORY;
    }
    s->shift = s->scale + C;
    /* In double, so that scale and shift carry one rounding each. */
    for (int c = 0; c < C; ++c) {
        const double k = gamma[c] / sqrt((double)var[c] + eps);
        s->scale[c] = (float)k;
        s->shift[c] = (float)(beta[c] - mean[c] * k);
    }
    st->state = s;
    return CUSEG_OK;
}

/* Per-channel sums over all pixels, in double, split across threads. */
static void channel_sums(const float *x, const float *w, const double *center, long pixels, int C,
                         double *out, int threads) {
    for (int c = 0; c < C; ++c)
        out[c] = 0.0;
#pragma omp parallel num_threads(threads)
    {
        double local[1024];
        for (int c0 = 0; c0 < C; c0 += 1024) {
            const int cn = C - c0 < 1024 ? C - c0 : 1024;
            for (int c = 0; c < cn; ++c)
                local[c] = 0.0;
#pragma omp for schedule(static)
            for (long p = 0; p < pixels; ++p)
                for (int c = 0; c < cn; ++c) {
                    const size_t i = (size_t)p * C + c0 + c;
                    const double v = center ? x[i] - center[c0 + c] : x[i];
                    local[c] += w ? v * w[i] : v * (center ? v : 1.0);
                }
#pragma omp critical(cs_bn_sums)
            for (int c = 0; c < cn; ++c)
                out[c0 + c] += local[c];
        }
    }
}

static cuseg_status bn_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *sh = &st->out_shape[0];
    const long pixels = (long)sh->n * sh->h * sh->w;
    const int C = sh->c;
    bn_state *s = st->state;
    const float *x = io->in[0];
    float *y = io->out[0];
    if (s->mean && cpu->bn_eval) { /* training, BN in eval mode: the running statistics, kept */
        s->eval = 1;
        for (int c = 0; c < C; ++c) {
            const double var = (double)s->running_var[c] + st->node->p.bn.eps;
            if (!(var > 0.0))
                return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "running_var[%d] + eps = %g is not positive", c, var);
            s->mean[c] = s->running_mean[c];
            s->invstd[c] = 1.0 / sqrt(var);
        }
    } else if (s->mean) { /* training: normalise with this batch's statistics */
        s->eval = 0;
        const double M = (double)pixels, eps = st->node->p.bn.eps;
        const double momentum = cpu->bn_momentum > 0 ? cpu->bn_momentum : 0.1; /* PyTorch's default */
        channel_sums(x, NULL, NULL, pixels, C, s->mean, cpu->n_threads);
        for (int c = 0; c < C; ++c)
            s->mean[c] /= M;
        channel_sums(x, NULL, s->mean, pixels, C, s->invstd, cpu->n_threads); /* sum (x - mean)^2 */
        for (int c = 0; c < C; ++c) {
            const double var = s->invstd[c] / M;
            /* PyTorch keeps the unbiased variance in running_var. */
            s->running_mean[c] = (float)((1 - momentum) * s->running_mean[c] + momentum * s->mean[c]);
            s->running_var[c] = (float)((1 - momentum) * s->running_var[c] +
                                        momentum * (M > 1 ? var * M / (M - 1) : var));
            s->invstd[c] = 1.0 / sqrt(var + eps);
        }
    }
    if (s->mean) {
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
        for (long p = 0; p < pixels; ++p)
            for (int c = 0; c < C; ++c) {
                const size_t i = (size_t)p * C + c;
                y[i] = (float)((x[i] - s->mean[c]) * s->invstd[c] * s->gamma[c] + s->beta[c]);
            }
        return CUSEG_OK;
    }
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long p = 0; p < pixels; ++p) {
        const float *xp = x + (size_t)p * C;
        float *yp = y + (size_t)p * C;
        for (int c = 0; c < C; ++c)
            yp[c] = xp[c] * s->scale[c] + s->shift[c];
    }
    return CUSEG_OK;
}

/* Training-mode gradients (batch statistics), per channel with M pixels and
 * xh = (x - mean) * invstd:
 *   dbeta = sum dy, dgamma = sum dy * xh,
 *   dx = gamma * invstd * (dy - dbeta / M - xh * dgamma / M).
 * In eval mode mean and invstd are constants (the running statistics), so
 * BN is a per-channel affine map: dx = gamma * invstd * dy. */
static cuseg_status bn_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const bn_state *s = st->state;
    if (!s->mean) return cs_error(CUSEG_ERR_INTERNAL, "backward on a step prepared for inference");
    const cs_shape *sh = &st->out_shape[0];
    const long pixels = (long)sh->n * sh->h * sh->w;
    const int C = sh->c;
    const float *x = io->in[0], *dy = io->dout[0];
    if (!dy) return CUSEG_OK;
    double *sums;
    CS_CHECK(cs_alloc((void **)&sums, sizeof(double) * 2 * (size_t)C, "batch norm gradient"));
    double *sum_dy = sums, *sum_dy_xc = sums + C;
    channel_sums(dy, NULL, NULL, pixels, C, sum_dy, cpu->n_threads);
    channel_sums(x, dy, s->mean, pixels, C, sum_dy_xc, cpu->n_threads); /* sum dy * (x - mean) */
    float *dgamma = io->dparam ? io->dparam[0] : NULL, *dbeta = io->dparam ? io->dparam[1] : NULL;
    for (int c = 0; c < C; ++c) {
        if (dgamma) dgamma[c] += (float)(sum_dy_xc[c] * s->invstd[c]);
        if (dbeta) dbeta[c] += (float)sum_dy[c];
    }
    float *dx = io->din[0];
    if (dx) {
        const double M = (double)pixels;
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
        for (long p = 0; p < pixels; ++p)
            for (int c = 0; c < C; ++c) {
                const size_t i = (size_t)p * C + c;
                if (s->eval) {
                    dx[i] += (float)(s->gamma[c] * s->invstd[c] * dy[i]);
                    continue;
                }
                const double xh = (x[i] - s->mean[c]) * s->invstd[c];
                dx[i] += (float)(s->gamma[c] * s->invstd[c] *
                                 (dy[i] - sum_dy[c] / M - xh * sum_dy_xc[c] * s->invstd[c] / M));
            }
    }
    free(sums);
    return CUSEG_OK;
}

const cs_op_def cs_op_batch_norm = {.name = "batch_norm",
                                    .infer = bn_infer,
                                    .n_outputs = 1,
                                    .cpu_prepare = bn_prepare,
                                    .cpu_forward = bn_forward,
                                    .cpu_release = bn_release,
                                    .cpu_backward = bn_backward};

cuseg_status cuseg_graph_batch_norm(cuseg_graph *g, const char *name, int x, float eps, int *y) {
    CS_CHECK_ARG(y, "batch_norm '%s': output pointer is NULL", name ? name : "(null)");
    cs_op_params p;
    memset(&p, 0, sizeof p);
    p.bn.eps = eps;
    return cs_graph_add_node(g, CS_OP_BATCH_NORM, name, &x, 1, &p, y);
}
