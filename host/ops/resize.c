/* Bilinear and nearest resize with exactly torch.nn.functional.interpolate's
 * semantics (mode='bilinear' with either align_corners, legacy 'nearest').
 * The per-element arithmetic is in op_math.h, shared with cuda/resize.cu.
 * Also the bilinear backward pass, written as a gather (resize.h). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/cpu.h"
#include "ops/op_math.h"
#include "ops/ops.h"
#include "ops/resize.h"

/* Where a node's output size comes from: the first of these that is set. */
typedef enum size_source { BY_LIKE, BY_SIZE, BY_SCALE } size_source;

static cuseg_status check_params(const cs_node *node, int bilinear, size_source *source) {
    const cuseg_resize_params *p = &node->p.resize;
    if (!bilinear && p->align_corners)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "align_corners is only defined for bilinear resize, got %d for nearest",
                        p->align_corners);
    if (p->out_h < 0 || p->out_w < 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "output size must be positive, got %d x %d",
                        p->out_h, p->out_w);
    /* Written so that NaN fails too. */
    if (!(p->scale_h >= 0.0 && p->scale_w >= 0.0) || isinf(p->scale_h) || isinf(p->scale_w))
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "scale factors must be positive and finite, got %g x %g", p->scale_h,
                        p->scale_w);
    if (node->n_inputs == 2) {
        *source = BY_LIKE;
    } else if (p->out_h > 0 || p->out_w > 0) {
        if (p->out_h == 0 || p->out_w == 0)
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                            "out_h and out_w must both be set, got %d x %d", p->out_h, p->out_w);
        *source = BY_SIZE;
    } else if (p->scale_h > 0.0 || p->scale_w > 0.0) {
        if (p->scale_h == 0.0 || p->scale_w == 0.0)
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                            "scale_h and scale_w must both be set, got %g x %g", p->scale_h,
                            p->scale_w);
        *source = BY_SCALE;
    } else {
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "no output size: set like, out_h and out_w, or scale_h and scale_w");
    }
    const int want_inputs = *source == BY_LIKE ? 2 : 1;
    if (node->n_inputs != want_inputs)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "expected %d inputs, got %d", want_inputs,
                        node->n_inputs);
    return CUSEG_OK;
}

/* floor(in * scale), computed in double as torch.nn.functional.interpolate
 * does; -1 stays -1. */
static cuseg_status scaled_size(int in, double scale, const char *axis, int *out) {
    if (in < 0) {
        *out = -1;
        return CUSEG_OK;
    }
    double size = floor((double)in * scale);
    if (size < 1.0)
        return cs_error(CUSEG_ERR_SHAPE, "%s scale %g of input size %d gives an empty output", axis,
                        scale, in);
    if (size > (double)INT_MAX)
        return cs_error(CUSEG_ERR_SHAPE, "%s scale %g of input size %d gives an output over %d",
                        axis, scale, in, INT_MAX);
    *out = (int)size;
    return CUSEG_OK;
}

/* `like` (in[1]) only lends its H and W: its batch, channels and dtype are
 * not looked at. */
static cuseg_status resize_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                 int *n_params, int bilinear) {
    *n_params = 0;
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    size_source source = BY_LIKE;
    CS_CHECK(check_params(node, bilinear, &source));
    const cuseg_resize_params *p = &node->p.resize;
    out[0] = in[0];
    switch (source) {
    case BY_LIKE:
        out[0].h = in[1].h;
        out[0].w = in[1].w;
        break;
    case BY_SIZE:
        out[0].h = p->out_h;
        out[0].w = p->out_w;
        break;
    case BY_SCALE:
        CS_CHECK(scaled_size(in[0].h, p->scale_h, "height", &out[0].h));
        CS_CHECK(scaled_size(in[0].w, p->scale_w, "width", &out[0].w));
        break;
    }
    return CUSEG_OK;
}

static cuseg_status bilinear_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                   cs_param_decl *params, int *n_params) {
    (void)params;
    return resize_infer(node, in, out, n_params, 1);
}

static cuseg_status nearest_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                  cs_param_decl *params, int *n_params) {
    (void)params;
    return resize_infer(node, in, out, n_params, 0);
}

/* The scale factors the coordinate mapping uses: PyTorch passes them to its
 * kernels only when the caller gave scale_factor, else the ratio is in/out. */
void cs_resize_mapping_scales(const cs_node *node, double *scale_h, double *scale_w) {
    const cuseg_resize_params *p = &node->p.resize;
    const int by_scale = node->n_inputs == 1 && p->out_h <= 0 && p->out_w <= 0;
    *scale_h = by_scale ? p->scale_h : 0.0;
    *scale_w = by_scale ? p->scale_w : 0.0;
}

static cuseg_status check_sizes(const void *a, const void *b, int n, int h_in, int w_in, int c,
                                int h_out, int w_out) {
    CS_CHECK_ARG(a && b, "resize: NULL buffer");
    CS_CHECK_ARG(n > 0 && h_in > 0 && w_in > 0 && c > 0 && h_out > 0 && w_out > 0,
                 "resize: sizes must be positive, got n=%d, %dx%d -> %dx%d, c=%d", n, h_in, w_in,
                 h_out, w_out, c);
    return CUSEG_OK;
}

typedef struct tap {
    int i0, i1;
    float lambda;
} tap;

static cuseg_status make_taps(tap **taps, int in, int out, float ratio, int align_corners) {
    CS_CHECK(cs_alloc((void **)taps, sizeof **taps * (size_t)out, "resize taps"));
    for (int o = 0; o < out; ++o) {
        tap *t = &(*taps)[o];
        cs_bilinear_taps(o, in, out, ratio, align_corners, &t->i0, &t->i1, &t->lambda);
    }
    return CUSEG_OK;
}

cuseg_status cs_resize_bilinear_forward_cpu(const float *x, float *y, int n, int h_in, int w_in,
                                            int c, int h_out, int w_out, float ratio_h,
                                            float ratio_w, int align_corners, int n_threads) {
    CS_CHECK(check_sizes(x, y, n, h_in, w_in, c, h_out, w_out));
    tap *cols = NULL;
    CS_CHECK(make_taps(&cols, w_in, w_out, ratio_w, align_corners));
    const long rows = (long)n * h_out;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (long r = 0; r < rows; ++r) {
        const int b = (int)(r / h_out), oh = (int)(r % h_out);
        tap th;
        cs_bilinear_taps(oh, h_in, h_out, ratio_h, align_corners, &th.i0, &th.i1, &th.lambda);
        const float *top = x + ((size_t)b * h_in + th.i0) * w_in * c;
        const float *bot = x + ((size_t)b * h_in + th.i1) * w_in * c;
        const float lh1 = th.lambda, lh0 = 1.0f - lh1;
        float *out = y + (size_t)r * w_out * c;
        for (int ow = 0; ow < w_out; ++ow, out += c) {
            const tap *tw = &cols[ow];
            const float lw1 = tw->lambda, lw0 = 1.0f - lw1;
            const float *t0 = top + (size_t)tw->i0 * c, *t1 = top + (size_t)tw->i1 * c;
            const float *b0 = bot + (size_t)tw->i0 * c, *b1 = bot + (size_t)tw->i1 * c;
#pragma omp simd
            for (int ch = 0; ch < c; ++ch)
                out[ch] = lh0 * (lw0 * t0[ch] + lw1 * t1[ch]) + lh1 * (lw0 * b0[ch] + lw1 * b1[ch]);
        }
    }
    free(cols);
    return CUSEG_OK;
}

/* Weight with which output tap t reads input index i (both taps may be i). */
static float tap_weight(const tap *t, int i) {
    return (t->i0 == i ? 1.0f - t->lambda : 0.0f) + (t->i1 == i ? t->lambda : 0.0f);
}

/* first[k] = first output whose first tap is >= k - 1, k = 0 .. in + 1, so
 * input index i is read by outputs [first[i], first[i + 2]). */
static cuseg_status make_first_outputs(int **first, int in, int out, float ratio,
                                       int align_corners) {
    CS_CHECK(cs_alloc((void **)first, sizeof **first * (size_t)(in + 2), "resize ranges"));
    for (int k = 0; k < in + 2; ++k)
        (*first)[k] = cs_bilinear_first_output(k - 1, in, out, ratio, align_corners);
    return CUSEG_OK;
}

cuseg_status cs_resize_bilinear_backward_cpu(const float *dy, float *dx, int n, int h_in, int w_in,
                                             int c, int h_out, int w_out, float ratio_h,
                                             float ratio_w, int align_corners, int accumulate,
                                             int n_threads) {
    CS_CHECK(check_sizes(dy, dx, n, h_in, w_in, c, h_out, w_out));
    tap *rows_t = NULL, *cols_t = NULL;
    int *first_h = NULL, *first_w = NULL;
    cuseg_status st = make_taps(&rows_t, h_in, h_out, ratio_h, align_corners);
    if (st == CUSEG_OK)
        st = make_taps(&cols_t, w_in, w_out, ratio_w, align_corners);
    if (st == CUSEG_OK)
        st = make_first_outputs(&first_h, h_in, h_out, ratio_h, align_corners);
    if (st == CUSEG_OK)
        st = make_first_outputs(&first_w, w_in, w_out, ratio_w, align_corners);
    if (st == CUSEG_OK) {
        const long rows = (long)n * h_in;
#pragma omp parallel for num_threads(n_threads) schedule(static)
        for (long r = 0; r < rows; ++r) {
            const int b = (int)(r / h_in), ih = (int)(r % h_in);
            float *out = dx + (size_t)r * w_in * c;
            for (int iw = 0; iw < w_in; ++iw, out += c) {
                if (!accumulate)
                    for (int ch = 0; ch < c; ++ch)
                        out[ch] = 0.0f;
                for (int oh = first_h[ih]; oh < first_h[ih + 2]; ++oh) {
                    const float wh = tap_weight(&rows_t[oh], ih);
                    const float *g_row = dy + ((size_t)b * h_out + oh) * w_out * c;
                    for (int ow = first_w[iw]; ow < first_w[iw + 2]; ++ow) {
                        const float w = wh * tap_weight(&cols_t[ow], iw);
                        const float *g = g_row + (size_t)ow * c;
#pragma omp simd
                        for (int ch = 0; ch < c; ++ch)
                            out[ch] += w * g[ch];
                    }
                }
            }
        }
    }
    free(rows_t);
    free(cols_t);
    free(first_h);
    free(first_w);
    return st;
}

static cuseg_status bilinear_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *is = &st->in_shape[0], *os = &st->out_shape[0];
    const cuseg_resize_params *p = &st->node->p.resize;
    const int ac = p->align_corners != 0;
    double scale_h, scale_w;
    cs_resize_mapping_scales(st->node, &scale_h, &scale_w);
    return cs_resize_bilinear_forward_cpu(io->in[0], io->out[0], is->n, is->h, is->w, is->c, os->h,
                                          os->w, cs_bilinear_ratio(is->h, os->h, ac, scale_h),
                                          cs_bilinear_ratio(is->w, os->w, ac, scale_w), ac,
                                          cpu->n_threads);
}

static cuseg_status nearest_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *is = &st->in_shape[0], *os = &st->out_shape[0];
    const int h_in = is->h, w_in = is->w, c = is->c, h_out = os->h, w_out = os->w;
    double scale_h, scale_w;
    cs_resize_mapping_scales(st->node, &scale_h, &scale_w);
    const float ratio_h = cs_resize_ratio(h_in, h_out, scale_h);
    const float ratio_w = cs_resize_ratio(w_in, w_out, scale_w);
    const float *x = io->in[0];
    float *y = io->out[0];
    int *cols = NULL;
    CS_CHECK(cs_alloc((void **)&cols, sizeof *cols * (size_t)w_out, "resize columns"));
    for (int ow = 0; ow < w_out; ++ow)
        cols[ow] = cs_nearest_index(ow, w_in, w_out, ratio_w);
    const long rows = (long)os->n * h_out;
    const size_t pixel = sizeof(float) * (size_t)c;
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long r = 0; r < rows; ++r) {
        const int b = (int)(r / h_out), oh = (int)(r % h_out);
        const int ih = cs_nearest_index(oh, h_in, h_out, ratio_h);
        const float *src = x + ((size_t)b * h_in + ih) * w_in * c;
        float *out = y + (size_t)r * w_out * c;
        for (int ow = 0; ow < w_out; ++ow)
            memcpy(out + (size_t)ow * c, src + (size_t)cols[ow] * c, pixel);
    }
    free(cols);
    return CUSEG_OK;
}

static cuseg_status bilinear_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *is = &st->in_shape[0], *os = &st->out_shape[0];
    if (!io->din[0] || !io->dout[0])
        return CUSEG_OK;
    const int ac = st->node->p.resize.align_corners != 0;
    double scale_h, scale_w;
    cs_resize_mapping_scales(st->node, &scale_h, &scale_w);
    return cs_resize_bilinear_backward_cpu(
        io->dout[0], io->din[0], is->n, is->h, is->w, is->c, os->h, os->w,
        cs_bilinear_ratio(is->h, os->h, ac, scale_h), cs_bilinear_ratio(is->w, os->w, ac, scale_w),
        ac, 1, cpu->n_threads);
}

/* Nearest: each output copies one input pixel, so the gradient scatters
 * back; tasks own channel blocks, so no two threads add to one element. */
static cuseg_status nearest_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *is = &st->in_shape[0], *os = &st->out_shape[0];
    const float *dy = io->dout[0];
    float *dx = io->din[0];
    if (!dx || !dy)
        return CUSEG_OK;
    double scale_h, scale_w;
    cs_resize_mapping_scales(st->node, &scale_h, &scale_w);
    const float ratio_h = cs_resize_ratio(is->h, os->h, scale_h);
    const float ratio_w = cs_resize_ratio(is->w, os->w, scale_w);
    const int C = is->c, blocks = (C + 15) / 16;
#pragma omp parallel for collapse(2) num_threads(cpu->n_threads) schedule(static)
    for (int b = 0; b < is->n; ++b)
        for (int k = 0; k < blocks; ++k) {
            const int c0 = k * 16, c1 = c0 + 16 < C ? c0 + 16 : C;
            for (int oh = 0; oh < os->h; ++oh) {
                const int ih = cs_nearest_index(oh, is->h, os->h, ratio_h);
                for (int ow = 0; ow < os->w; ++ow) {
                    const int iw = cs_nearest_index(ow, is->w, os->w, ratio_w);
                    const float *g = dy + (((size_t)b * os->h + oh) * os->w + ow) * C;
                    float *d = dx + (((size_t)b * is->h + ih) * is->w + iw) * C;
                    for (int c = c0; c < c1; ++c)
                        d[c] += g[c];
                }
            }
        }
    return CUSEG_OK;
}

const cs_op_def cs_op_resize_bilinear = {.name = "resize_bilinear",
                                         .infer = bilinear_infer,
                                         .n_outputs = 1,
                                         .cpu_forward = bilinear_forward,
                                         .cpu_backward = bilinear_backward};
const cs_op_def cs_op_resize_nearest = {.name = "resize_nearest",
                                        .infer = nearest_infer,
                                        .n_outputs = 1,
                                        .cpu_forward = nearest_forward,
                                        .cpu_backward = nearest_backward};

static cuseg_status add_resize(cuseg_graph *g, cs_op_id op, const char *name, int x, int like,
                               const cuseg_resize_params *p, int *y) {
    CS_CHECK_ARG(p, "%s: parameter pointer is NULL", cs_op(op)->name);
    CS_CHECK_ARG(y, "%s: output pointer is NULL", cs_op(op)->name);
    cs_op_params q;
    memset(&q, 0, sizeof q);
    q.resize = *p;
    /* `like` travels as a second input so that the planner sees its size. */
    const int in[2] = {x, like};
    return cs_graph_add_node(g, op, name, in, like >= 0 ? 2 : 1, &q, y);
}

cuseg_status cuseg_graph_resize_bilinear(cuseg_graph *g, const char *name, int x, int like,
                                         const cuseg_resize_params *p, int *y) {
    return add_resize(g, CS_OP_RESIZE_BILINEAR, name, x, like, p, y);
}

cuseg_status cuseg_graph_resize_nearest(cuseg_graph *g, const char *name, int x, int like,
                                        const cuseg_resize_params *p, int *y) {
    return add_resize(g, CS_OP_RESIZE_NEAREST, name, x, like, p, y);
}
