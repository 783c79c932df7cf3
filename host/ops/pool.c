/* Pooling: max (optionally with PyTorch-style argmax indices), average,
 * global average, and SegNet's max-unpool. All are memory-bound: work is
 * split over (image, output row) or (image, channel block) and the innermost
 * loop runs along the contiguous NHWC channel axis so that it vectorises. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "ops/cpu.h"
#include "ops/op_math.h"
#include "ops/ops.h"

/* Keeps every size computation (in + pads - k + stride - 1) far from int
 * overflow; no real network comes anywhere near it. */
#define POOL_MAX_WINDOW 65536

/* PyTorch's default: a zero stride means stride = kernel. */
static cuseg_pool2d_params normalized(const cuseg_pool2d_params *p) {
    cuseg_pool2d_params q = *p;
    if (q.stride_h == 0)
        q.stride_h = q.kernel_h;
    if (q.stride_w == 0)
        q.stride_w = q.kernel_w;
    return q;
}

static cuseg_status check_params(const cuseg_pool2d_params *raw, int is_avg) {
    const cuseg_pool2d_params p = normalized(raw);
    if (p.kernel_h <= 0 || p.kernel_w <= 0 || p.kernel_h > POOL_MAX_WINDOW ||
        p.kernel_w > POOL_MAX_WINDOW)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "kernel must be in [1, %d], got %dx%d",
                        POOL_MAX_WINDOW, p.kernel_h, p.kernel_w);
    if (p.stride_h <= 0 || p.stride_w <= 0 || p.stride_h > POOL_MAX_WINDOW ||
        p.stride_w > POOL_MAX_WINDOW)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "stride must be in [1, %d] (0 means the kernel size), got %dx%d",
                        POOL_MAX_WINDOW, raw->stride_h, raw->stride_w);
    if (p.pad_top < 0 || p.pad_bottom < 0 || p.pad_left < 0 || p.pad_right < 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "padding must be >= 0, got top %d bottom %d left %d right %d", p.pad_top,
                        p.pad_bottom, p.pad_left, p.pad_right);
    /* As PyTorch: a larger pad could make a window lie entirely in padding. */
    if (p.pad_top > p.kernel_h / 2 || p.pad_bottom > p.kernel_h / 2 ||
        p.pad_left > p.kernel_w / 2 || p.pad_right > p.kernel_w / 2)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "padding must be at most half the kernel %dx%d, got top %d bottom %d "
                        "left %d right %d",
                        p.kernel_h, p.kernel_w, p.pad_top, p.pad_bottom, p.pad_left, p.pad_right);
    if (p.ceil_mode != 0 && p.ceil_mode != 1)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "ceil_mode must be 0 or 1, got %d",
                        p.ceil_mode);
    if (is_avg && p.count_include_pad != 0 && p.count_include_pad != 1)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "count_include_pad must be 0 or 1, got %d",
                        p.count_include_pad);
    return CUSEG_OK;
}

/* Flat plane indices h*W + w are int32 (PyTorch stores int64; int32 is what
 * the I32 dtype holds), so a plane must have at most INT32_MAX elements. */
static cuseg_status check_plane(int h, int w, const char *what) {
    if (h > 0 && w > 0 && (long long)h * w > INT32_MAX)
        return cs_error(CUSEG_ERR_SHAPE, "%s plane %dx%d has more than %d elements (int32 indices)",
                        what, h, w, INT32_MAX);
    return CUSEG_OK;
}

static cuseg_status pool_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                               cs_param_decl *params, int *n_params) {
    (void)params;
    *n_params = 0;
    const int is_avg = node->op == CS_OP_AVG_POOL2D;
    CS_CHECK(check_params(&node->p.pool.w, is_avg));
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    const cuseg_pool2d_params p = normalized(&node->p.pool.w);
    out[0] = (cs_shape){
        in[0].n,
        cs_pool_out_size(in[0].h, p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom, p.ceil_mode),
        cs_pool_out_size(in[0].w, p.kernel_w, p.stride_w, p.pad_left, p.pad_right, p.ceil_mode),
        in[0].c, CUSEG_F32};
    if (!is_avg && node->p.pool.with_indices) {
        CS_CHECK(check_plane(in[0].h, in[0].w, "input"));
        out[1] = out[0];
        out[1].dtype = CUSEG_I32;
    }
    return CUSEG_OK;
}

static cuseg_status global_avg_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                     cs_param_decl *params, int *n_params) {
    (void)node;
    (void)params;
    *n_params = 0;
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    out[0] = (cs_shape){in[0].n, 1, 1, in[0].c, CUSEG_F32};
    return CUSEG_OK;
}

/* Inputs: x, indices (same shape as x), like (gives the output H and W). */
static cuseg_status unpool_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                 cs_param_decl *params, int *n_params) {
    (void)node;
    (void)params;
    *n_params = 0;
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input x"));
    CS_CHECK(cs_expect_dtype(&in[1], CUSEG_I32, "indices"));
    if (in[1].c != in[0].c)
        return cs_error(CUSEG_ERR_SHAPE, "indices have %d channels, x has %d", in[1].c, in[0].c);
    CS_CHECK(cs_expect_same_nhw(&in[0], &in[1], "x and indices"));
    if (in[0].n >= 0 && in[2].n >= 0 && in[0].n != in[2].n)
        return cs_error(CUSEG_ERR_SHAPE, "like has batch %d, x has %d", in[2].n, in[0].n);
    CS_CHECK(check_plane(in[2].h, in[2].w, "output"));
    out[0] = (cs_shape){in[0].n, in[2].h, in[2].w, in[0].c, CUSEG_F32};
    return CUSEG_OK;
}

/* Max over the window [h0, h1) x [w0, w1) of image x (H x W x C), per
 * channel. Scanning h then w and replacing only on a strictly greater value
 * keeps the first maximum, as PyTorch and Caffe do. NaN counts as the
 * maximum (it propagates, as in PyTorch); the first NaN's index is kept
 * (PyTorch CPU keeps the last one, a difference only for several NaNs). The
 * initial index is the window's first element, as PyTorch's, which matters
 * only when every value is -inf. */
static void max_window(const float *x, int W, int C, int h0, int h1, int w0, int w1, float *y,
                       int32_t *ind) {
    for (int c = 0; c < C; ++c)
        y[c] = -INFINITY;
    if (ind) {
        const int32_t first = h0 * W + w0;
        for (int c = 0; c < C; ++c)
            ind[c] = first;
    }
    for (int h = h0; h < h1; ++h)
        for (int w = w0; w < w1; ++w) {
            const float *xp = x + ((size_t)h * W + w) * C;
            if (ind) {
                const int32_t idx = h * W + w;
#pragma omp simd
                for (int c = 0; c < C; ++c) {
                    const float v = xp[c], m = y[c];
                    const int take = v > m || (v != v && m == m);
                    y[c] = take ? v : m;
                    ind[c] = take ? idx : ind[c];
                }
            } else {
#pragma omp simd
                for (int c = 0; c < C; ++c) {
                    const float v = xp[c], m = y[c];
                    y[c] = (v > m || (v != v && m == m)) ? v : m;
                }
            }
        }
}

static cuseg_status max_pool_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *xs = &st->in_shape[0], *ys = &st->out_shape[0];
    const cuseg_pool2d_params p = normalized(&st->node->p.pool.w);
    const float *x = io->in[0];
    float *y = io->out[0];
    int32_t *ind = st->n_out > 1 ? io->out[1] : NULL;
    const int N = xs->n, H = xs->h, W = xs->w, C = xs->c, OH = ys->h, OW = ys->w;
#pragma omp parallel for collapse(2) num_threads(cpu->n_threads) schedule(static)
    for (int n = 0; n < N; ++n)
        for (int oh = 0; oh < OH; ++oh) {
            int h0, h1, hp, w0, w1, wp;
            cs_pool_window(oh, p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom, H, &h0, &h1, &hp);
            const float *xn = x + (size_t)n * H * W * C;
            for (int ow = 0; ow < OW; ++ow) {
                cs_pool_window(ow, p.kernel_w, p.stride_w, p.pad_left, p.pad_right, W, &w0, &w1,
                               &wp);
                const size_t o = (((size_t)n * OH + oh) * OW + ow) * C;
                max_window(xn, W, C, h0, h1, w0, w1, y + o, ind ? ind + o : NULL);
            }
        }
    return CUSEG_OK;
}

static cuseg_status avg_pool_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *xs = &st->in_shape[0], *ys = &st->out_shape[0];
    const cuseg_pool2d_params p = normalized(&st->node->p.pool.w);
    const float *x = io->in[0];
    float *y = io->out[0];
    const int N = xs->n, H = xs->h, W = xs->w, C = xs->c, OH = ys->h, OW = ys->w;
#pragma omp parallel for collapse(2) num_threads(cpu->n_threads) schedule(static)
    for (int n = 0; n < N; ++n)
        for (int oh = 0; oh < OH; ++oh) {
            int h0, h1, hp, w0, w1, wp;
            cs_pool_window(oh, p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom, H, &h0, &h1, &hp);
            const float *xn = x + (size_t)n * H * W * C;
            for (int ow = 0; ow < OW; ++ow) {
                cs_pool_window(ow, p.kernel_w, p.stride_w, p.pad_left, p.pad_right, W, &w0, &w1,
                               &wp);
                /* PyTorch: the padded window clipped to input + padding, or
                 * only the input elements. Never 0 (pads <= kernel / 2). */
                const float div = (float)(p.count_include_pad ? hp * wp : (h1 - h0) * (w1 - w0));
                float *yo = y + (((size_t)n * OH + oh) * OW + ow) * C;
                /* A window has at most kernel_h*kernel_w terms: a float sum
                 * in PyTorch's order (h, then w) is accurate enough. */
                for (int c = 0; c < C; ++c)
                    yo[c] = 0.0f;
                for (int h = h0; h < h1; ++h)
                    for (int w = w0; w < w1; ++w) {
                        const float *xp = xn + ((size_t)h * W + w) * C;
#pragma omp simd
                        for (int c = 0; c < C; ++c)
                            yo[c] += xp[c];
                    }
#pragma omp simd
                for (int c = 0; c < C; ++c)
                    yo[c] /= div;
            }
        }
    return CUSEG_OK;
}

/* Channels per task of the per-channel reductions and scatters below: 64
 * bytes of f32, one cache line of every pixel per task. */
#define POOL_CBLOCK 16

static cuseg_status global_avg_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *xs = &st->in_shape[0];
    const float *x = io->in[0];
    float *y = io->out[0];
    const int N = xs->n, C = xs->c;
    const size_t HW = (size_t)xs->h * xs->w;
    const int n_blocks = (C + POOL_CBLOCK - 1) / POOL_CBLOCK;
    /* The sum runs in double: its rounding error is at most HW * 2^-53 times
     * the sum of |x|, so the mean comes out as the float nearest the exact
     * one (within 1 ulp) for any H*W (ASPP's image pooling sees 65x65 and
     * more). A float running sum's error bound grows like HW * 2^-24 (1e-3
     * at 129x129, ~1e-5 typically). The loop is memory-bound, so the wider
     * adds cost nothing measurable. */
#pragma omp parallel for collapse(2) num_threads(cpu->n_threads) schedule(static)
    for (int n = 0; n < N; ++n)
        for (int b = 0; b < n_blocks; ++b) {
            const int c0 = b * POOL_CBLOCK;
            const int cn = C - c0 < POOL_CBLOCK ? C - c0 : POOL_CBLOCK;
            double acc[POOL_CBLOCK] = {0};
            const float *xn = x + (size_t)n * HW * C + c0;
            for (size_t i = 0; i < HW; ++i) {
                const float *xp = xn + i * C;
#pragma omp simd
                for (int c = 0; c < cn; ++c)
                    acc[c] += xp[c];
            }
            for (int c = 0; c < cn; ++c)
                y[(size_t)n * C + c0 + c] = (float)(acc[c] / (double)HW);
        }
    return CUSEG_OK;
}

static cuseg_status unpool_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *xs = &st->in_shape[0], *ys = &st->out_shape[0];
    const float *x = io->in[0];
    const int32_t *ind = io->in[1];
    float *y = io->out[0];
    const int N = xs->n, H = xs->h, W = xs->w, C = xs->c, OH = ys->h, OW = ys->w;
    const uint32_t plane = (uint32_t)OH * (uint32_t)OW; /* <= INT32_MAX (checked by infer) */
    const size_t row = (size_t)OW * C;
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long r = 0; r < (long)N * OH; ++r)
        memset(y + (size_t)r * row, 0, row * sizeof *y);

    /* Tasks own whole channels, so no two write the same element; within a
     * channel plane the scan is row-major and a later duplicate index wins,
     * as in PyTorch's serial CPU loop. Bad indices are skipped (never
     * written) and the first one in memory order is reported. */
    const int n_blocks = (C + POOL_CBLOCK - 1) / POOL_CBLOCK;
    size_t bad_at = SIZE_MAX;
    int32_t bad_index = 0;
#pragma omp parallel for collapse(2) num_threads(cpu->n_threads) schedule(static)
    for (int n = 0; n < N; ++n)
        for (int b = 0; b < n_blocks; ++b) {
            const int c0 = b * POOL_CBLOCK;
            const int cn = C - c0 < POOL_CBLOCK ? C - c0 : POOL_CBLOCK;
            float *yn = y + (size_t)n * plane * C + c0;
            size_t my_bad_at = SIZE_MAX;
            for (size_t i = 0; i < (size_t)H * W; ++i) {
                const size_t at = ((size_t)n * H * W + i) * C + c0;
                for (int c = 0; c < cn; ++c) {
                    const int32_t idx = ind[at + c];
                    if ((uint32_t)idx < plane)
                        yn[(size_t)idx * C + c] = x[at + c];
                    else if (my_bad_at == SIZE_MAX)
                        my_bad_at = at + c;
                }
            }
            if (my_bad_at != SIZE_MAX) {
#pragma omp critical(cs_unpool_bad_index)
                if (my_bad_at < bad_at) {
                    bad_at = my_bad_at;
                    bad_index = ind[my_bad_at];
                }
            }
        }
    if (bad_at != SIZE_MAX) {
        const int c = (int)(bad_at % (size_t)C);
        const size_t pix = bad_at / (size_t)C;
        const int w = (int)(pix % (size_t)W), h = (int)(pix / (size_t)W % (size_t)H);
        const int n = (int)(pix / ((size_t)W * H));
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "index %d at (n %d, h %d, w %d, c %d) is outside the %dx%d output plane "
                        "[0, %u)",
                        (int)bad_index, n, h, w, c, OH, OW, (unsigned)plane);
    }
    return CUSEG_OK;
}

/* ---------------------------------------------------------------- backward
 * Pooling windows overlap, so gradients scatter; tasks own (image, channel
 * block) pairs so that no two threads add to the same element. */

static cuseg_status max_pool_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *xs = &st->in_shape[0], *ys = &st->out_shape[0];
    const cuseg_pool2d_params p = normalized(&st->node->p.pool.w);
    const float *x = io->in[0], *dy = io->dout[0];
    float *dx = io->din[0];
    if (!dx || !dy)
        return CUSEG_OK;
    const int N = xs->n, H = xs->h, W = xs->w, C = xs->c, OH = ys->h, OW = ys->w;
    const int n_blocks = (C + POOL_CBLOCK - 1) / POOL_CBLOCK;
#pragma omp parallel for collapse(2) num_threads(cpu->n_threads) schedule(static)
    for (int n = 0; n < N; ++n)
        for (int b = 0; b < n_blocks; ++b) {
            const int c0 = b * POOL_CBLOCK, cn = C - c0 < POOL_CBLOCK ? C - c0 : POOL_CBLOCK;
            const float *xn = x + (size_t)n * H * W * C;
            float *dxn = dx + (size_t)n * H * W * C;
            float m[POOL_CBLOCK];
            int32_t at[POOL_CBLOCK];
            for (int oh = 0; oh < OH; ++oh) {
                int h0, h1, hp, w0, w1, wp;
                cs_pool_window(oh, p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom, H, &h0, &h1,
                               &hp);
                for (int ow = 0; ow < OW; ++ow) {
                    cs_pool_window(ow, p.kernel_w, p.stride_w, p.pad_left, p.pad_right, W, &w0, &w1,
                                   &wp);
                    /* The same selection as the forward (first maximum, NaN wins). */
                    for (int c = 0; c < cn; ++c) {
                        m[c] = -INFINITY;
                        at[c] = h0 * W + w0;
                    }
                    for (int h = h0; h < h1; ++h)
                        for (int w = w0; w < w1; ++w)
                            for (int c = 0; c < cn; ++c) {
                                const float v = xn[((size_t)h * W + w) * C + c0 + c];
                                if (cs_max_takes(v, m[c])) {
                                    m[c] = v;
                                    at[c] = h * W + w;
                                }
                            }
                    const float *g = dy + (((size_t)n * OH + oh) * OW + ow) * C + c0;
                    for (int c = 0; c < cn; ++c)
                        dxn[(size_t)at[c] * C + c0 + c] += g[c];
                }
            }
        }
    return CUSEG_OK;
}

static cuseg_status avg_pool_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *xs = &st->in_shape[0], *ys = &st->out_shape[0];
    const cuseg_pool2d_params p = normalized(&st->node->p.pool.w);
    const float *dy = io->dout[0];
    float *dx = io->din[0];
    if (!dx || !dy)
        return CUSEG_OK;
    const int N = xs->n, H = xs->h, W = xs->w, C = xs->c, OH = ys->h, OW = ys->w;
    const int n_blocks = (C + POOL_CBLOCK - 1) / POOL_CBLOCK;
#pragma omp parallel for collapse(2) num_threads(cpu->n_threads) schedule(static)
    for (int n = 0; n < N; ++n)
        for (int b = 0; b < n_blocks; ++b) {
            const int c0 = b * POOL_CBLOCK, cn = C - c0 < POOL_CBLOCK ? C - c0 : POOL_CBLOCK;
            float *dxn = dx + (size_t)n * H * W * C + c0;
            for (int oh = 0; oh < OH; ++oh) {
                int h0, h1, hp, w0, w1, wp;
                cs_pool_window(oh, p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom, H, &h0, &h1,
                               &hp);
                for (int ow = 0; ow < OW; ++ow) {
                    cs_pool_window(ow, p.kernel_w, p.stride_w, p.pad_left, p.pad_right, W, &w0, &w1,
                                   &wp);
                    const float div =
                        (float)(p.count_include_pad ? hp * wp : (h1 - h0) * (w1 - w0));
                    const float *g = dy + (((size_t)n * OH + oh) * OW + ow) * C + c0;
                    for (int h = h0; h < h1; ++h)
                        for (int w = w0; w < w1; ++w)
                            for (int c = 0; c < cn; ++c)
                                dxn[((size_t)h * W + w) * C + c] += g[c] / div;
                }
            }
        }
    return CUSEG_OK;
}

static cuseg_status global_avg_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *xs = &st->in_shape[0];
    const float *dy = io->dout[0];
    float *dx = io->din[0];
    if (!dx || !dy)
        return CUSEG_OK;
    const size_t HW = (size_t)xs->h * xs->w, C = (size_t)xs->c;
    const float inv = (float)(1.0 / (double)HW);
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long r = 0; r < (long)(xs->n * HW); ++r) {
        const float *g = dy + (size_t)(r / (long)HW) * C;
        for (size_t c = 0; c < C; ++c)
            dx[(size_t)r * C + c] += g[c] * inv;
    }
    return CUSEG_OK;
}

/* Unpooling copies x[i] to out[ind[i]]: the gradient gathers it back (the
 * indices have none). */
static cuseg_status unpool_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *xs = &st->in_shape[0], *ys = &st->out_shape[0];
    const int32_t *ind = io->in[1];
    const float *dy = io->dout[0];
    float *dx = io->din[0];
    if (!dx || !dy)
        return CUSEG_OK;
    const size_t HW = (size_t)xs->h * xs->w, C = (size_t)xs->c, plane = (size_t)ys->h * ys->w;
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long r = 0; r < (long)(xs->n * HW); ++r) {
        const size_t n = (size_t)r / HW;
        for (size_t c = 0; c < C; ++c) {
            const int32_t idx = ind[(size_t)r * C + c]; /* checked by the forward */
            dx[(size_t)r * C + c] += dy[(n * plane + (size_t)idx) * C + c];
        }
    }
    return CUSEG_OK;
}

const cs_op_def cs_op_max_pool2d = {.name = "max_pool2d",
                                    .infer = pool_infer,
                                    .n_outputs = 1,
                                    .cpu_forward = max_pool_forward,
                                    .cpu_backward = max_pool_backward};
const cs_op_def cs_op_avg_pool2d = {.name = "avg_pool2d",
                                    .infer = pool_infer,
                                    .n_outputs = 1,
                                    .cpu_forward = avg_pool_forward,
                                    .cpu_backward = avg_pool_backward};
const cs_op_def cs_op_global_avg_pool = {.name = "global_avg_pool",
                                         .infer = global_avg_infer,
                                         .n_outputs = 1,
                                         .cpu_forward = global_avg_forward,
                                         .cpu_backward = global_avg_backward};
const cs_op_def cs_op_max_unpool2d = {.name = "max_unpool2d",
                                      .infer = unpool_infer,
                                      .n_outputs = 1,
                                      .cpu_forward = unpool_forward,
                                      .cpu_backward = unpool_backward};

static cuseg_status pool_node(cuseg_graph *g, cs_op_id op, const char *name, int x,
                              const cuseg_pool2d_params *p, int with_indices, int *outs) {
    CS_CHECK_ARG(p, "%s: params is NULL", cs_op(op)->name);
    cs_op_params q;
    memset(&q, 0, sizeof q);
    q.pool.w = *p;
    q.pool.with_indices = with_indices;
    return cs_graph_add_node(g, op, name, &x, 1, &q, outs);
}

cuseg_status cuseg_graph_max_pool2d(cuseg_graph *g, const char *name, int x,
                                    const cuseg_pool2d_params *p, int *y, int *indices) {
    CS_CHECK_ARG(y, "max_pool2d: output pointer is NULL");
    int outs[CS_MAX_OUTPUTS];
    CS_CHECK(pool_node(g, CS_OP_MAX_POOL2D, name, x, p, indices != NULL, outs));
    *y = outs[0];
    if (indices)
        *indices = outs[1];
    return CUSEG_OK;
}

cuseg_status cuseg_graph_avg_pool2d(cuseg_graph *g, const char *name, int x,
                                    const cuseg_pool2d_params *p, int *y) {
    CS_CHECK_ARG(y, "avg_pool2d: output pointer is NULL");
    return pool_node(g, CS_OP_AVG_POOL2D, name, x, p, 0, y);
}

cuseg_status cuseg_graph_global_avg_pool(cuseg_graph *g, const char *name, int x, int *y) {
    CS_CHECK_ARG(y, "global_avg_pool: output pointer is NULL");
    return cs_graph_add_node(g, CS_OP_GLOBAL_AVG_POOL, name, &x, 1, NULL, y);
}

cuseg_status cuseg_graph_max_unpool2d(cuseg_graph *g, const char *name, int x, int indices,
                                      int like, int *y) {
    CS_CHECK_ARG(y, "max_unpool2d: output pointer is NULL");
    const int in[3] = {x, indices, like};
    return cs_graph_add_node(g, CS_OP_MAX_UNPOOL2D, name, in, 3, NULL, y);
}
