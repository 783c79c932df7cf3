/* Spatial crop (Caffe's Crop layer on H and W) and asymmetric zero padding.
 * Both move whole rows of W*C contiguous floats (NHWC), so the forward passes
 * are row copies and fills, parallel over output rows. */
#include <limits.h>
#include <string.h>

#include "core/status.h"
#include "ops/cpu.h"
#include "ops/ops.h"

/* Crop: the window's size comes from the second input ("like", Caffe's
 * reference blob) when the node has one, else from out_h x out_w. N and C
 * stay those of x. */
static cuseg_status crop_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                               cs_param_decl *params, int *n_params) {
    (void)params;
    *n_params = 0;
    const int off_h = node->p.crop.offset_h, off_w = node->p.crop.offset_w;
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    if (off_h < 0 || off_w < 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "offsets must be >= 0, got (%d, %d)", off_h,
                        off_w);
    int out_h, out_w;
    if (node->p.crop.center) {
        const int dh = in[0].h - in[1].h, dw = in[0].w - in[1].w;
        if (in[0].h >= 0 && in[1].h >= 0 && (dh < 0 || dw < 0 || dh % 2 || dw % 2))
            return cs_error(CUSEG_ERR_SHAPE,
                            "cannot centre-crop %dx%d to %dx%d: the size differences must be even "
                            "and >= 0",
                            in[0].h, in[0].w, in[1].h, in[1].w);
        out[0] = (cs_shape){in[0].n, in[1].h, in[1].w, in[0].c, CUSEG_F32};
        return CUSEG_OK;
    }
    if (node->n_inputs == 2) {
        out_h = in[1].h;
        out_w = in[1].w;
    } else {
        out_h = node->p.crop.out_h;
        out_w = node->p.crop.out_w;
        if (out_h <= 0 || out_w <= 0)
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                            "output size must be > 0 (or give a 'like' value), got %dx%d", out_h,
                            out_w);
    }
    /* Only checkable once both sizes are known (plan time); long long keeps
     * offset + size from overflowing. */
    if ((in[0].h >= 0 && out_h >= 0 && (long long)off_h + out_h > in[0].h) ||
        (in[0].w >= 0 && out_w >= 0 && (long long)off_w + out_w > in[0].w))
        return cs_error(CUSEG_ERR_SHAPE,
                        "crop window %dx%d at offset (%d, %d) does not fit in the %dx%d input",
                        out_h, out_w, off_h, off_w, in[0].h, in[0].w);
    out[0] = (cs_shape){in[0].n, out_h, out_w, in[0].c, CUSEG_F32};
    return CUSEG_OK;
}

/* The node's offsets, or for a centre crop half of each size difference. */
static void crop_offsets(const cs_step *st, int *off_h, int *off_w) {
    if (st->node->p.crop.center) {
        *off_h = (st->in_shape[0].h - st->out_shape[0].h) / 2;
        *off_w = (st->in_shape[0].w - st->out_shape[0].w) / 2;
    } else {
        *off_h = st->node->p.crop.offset_h;
        *off_w = st->node->p.crop.offset_w;
    }
}

static cuseg_status crop_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *is = &st->in_shape[0], *os = &st->out_shape[0];
    int off_h, off_w;
    crop_offsets(st, &off_h, &off_w);
    const size_t C = (size_t)os->c, row = (size_t)os->w * C;
    const long rows = (long)os->n * os->h;
    const float *x = io->in[0];
    float *y = io->out[0];
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long r = 0; r < rows; ++r) {
        const long n = r / os->h, oh = r % os->h;
        const float *src = x + (((size_t)n * is->h + (size_t)(oh + off_h)) * is->w + off_w) * C;
        memcpy(y + (size_t)r * row, src, row * sizeof(float));
    }
    return CUSEG_OK;
}

static cuseg_status pad_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                              cs_param_decl *params, int *n_params) {
    (void)params;
    *n_params = 0;
    const int t = node->p.pad.top, b = node->p.pad.bottom, l = node->p.pad.left,
              r = node->p.pad.right;
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    if (t < 0 || b < 0 || l < 0 || r < 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "padding must be >= 0, got top %d, bottom %d, left %d, right %d", t, b, l,
                        r);
    if (node->n_inputs == 2) { /* pad to the size of `like`, the floor half top/left */
        if (in[0].h >= 0 && in[1].h >= 0 && (in[1].h < in[0].h || in[1].w < in[0].w))
            return cs_error(CUSEG_ERR_SHAPE, "cannot pad %dx%d up to the smaller %dx%d", in[0].h, in[0].w,
                            in[1].h, in[1].w);
        out[0] = (cs_shape){in[0].n, in[1].h, in[1].w, in[0].c, CUSEG_F32};
        return CUSEG_OK;
    }
    const long long h = in[0].h < 0 ? -1 : (long long)in[0].h + t + b;
    const long long w = in[0].w < 0 ? -1 : (long long)in[0].w + l + r;
    if (h > INT_MAX || w > INT_MAX)
        return cs_error(CUSEG_ERR_SHAPE, "padded size %lldx%lld exceeds the int range", h, w);
    out[0] = (cs_shape){in[0].n, (int)h, (int)w, in[0].c, CUSEG_F32};
    return CUSEG_OK;
}

/* Top and left padding: the node's, or for pad-to-like the floor half of
 * the difference (milesial U-Net's F.pad). */
static void pad_offsets(const cs_step *st, int *top, int *left) {
    if (st->node->n_inputs == 2) {
        *top = (st->out_shape[0].h - st->in_shape[0].h) / 2;
        *left = (st->out_shape[0].w - st->in_shape[0].w) / 2;
    } else {
        *top = st->node->p.pad.top;
        *left = st->node->p.pad.left;
    }
}

static cuseg_status pad_forward(const cs_step *st, const cs_io *io, cs_cpu *cpu) {
    const cs_shape *is = &st->in_shape[0], *os = &st->out_shape[0];
    int top, left;
    pad_offsets(st, &top, &left);
    const size_t C = (size_t)os->c, out_row = (size_t)os->w * C, in_row = (size_t)is->w * C;
    const size_t left_n = (size_t)left * C, right_n = out_row - in_row - left_n;
    const long rows = (long)os->n * os->h;
    const float *x = io->in[0];
    float *y = io->out[0];
#pragma omp parallel for num_threads(cpu->n_threads) schedule(static)
    for (long r = 0; r < rows; ++r) {
        const long n = r / os->h, ih = r % os->h - top;
        float *dst = y + (size_t)r * out_row;
        if (ih < 0 || ih >= is->h) {
            memset(dst, 0, out_row * sizeof(float));
            continue;
        }
        memset(dst, 0, left_n * sizeof(float));
        memcpy(dst + left_n, x + ((size_t)n * is->h + (size_t)ih) * in_row, in_row * sizeof(float));
        memset(dst + left_n + in_row, 0, right_n * sizeof(float));
    }
    return CUSEG_OK;
}

/* Crop and pad are adjoint: the gradient of a crop is dy placed at the
 * crop's offset (zeros elsewhere), the gradient of a pad is the crop of dy. */
static void add_window(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w,
                       int n, int c, int off_h, int off_w, int src_is_big, int threads) {
    /* Copies the overlap of the small tensor with the big one at (off_h, off_w). */
    const int h = src_is_big ? dst_h : src_h, w = src_is_big ? dst_w : src_w;
    const long rows = (long)n * h;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long r = 0; r < rows; ++r) {
        const long b = r / h, y = r % h;
        const float *s = src_is_big ? src + (((size_t)b * src_h + (size_t)(y + off_h)) * src_w + off_w) * c
                                    : src + ((size_t)b * src_h + (size_t)y) * src_w * c;
        float *d = src_is_big ? dst + ((size_t)b * dst_h + (size_t)y) * dst_w * c
                              : dst + (((size_t)b * dst_h + (size_t)(y + off_h)) * dst_w + off_w) * c;
        for (size_t k = 0; k < (size_t)w * c; ++k)
            d[k] += s[k];
    }
}

static cuseg_status crop_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *is = &st->in_shape[0], *os = &st->out_shape[0];
    int off_h, off_w;
    crop_offsets(st, &off_h, &off_w);
    if (io->din[0] && io->dout[0])
        add_window(io->dout[0], os->h, os->w, io->din[0], is->h, is->w, os->n, os->c, off_h, off_w,
                   0, cpu->n_threads);
    return CUSEG_OK;
}

static cuseg_status pad_backward(const cs_step *st, const cs_grad_io *io, cs_cpu *cpu) {
    const cs_shape *is = &st->in_shape[0], *os = &st->out_shape[0];
    int top, left;
    pad_offsets(st, &top, &left);
    if (io->din[0] && io->dout[0])
        add_window(io->dout[0], os->h, os->w, io->din[0], is->h, is->w, os->n, os->c,
                   top, left, 1, cpu->n_threads);
    return CUSEG_OK;
}

const cs_op_def cs_op_crop = {.name = "crop",
                              .infer = crop_infer,
                              .n_outputs = 1,
                              .cpu_forward = crop_forward,
                              .cpu_backward = crop_backward};
const cs_op_def cs_op_pad = {.name = "pad",
                             .infer = pad_infer,
                             .n_outputs = 1,
                             .cpu_forward = pad_forward,
                             .cpu_backward = pad_backward};

cuseg_status cuseg_graph_crop(cuseg_graph *g, const char *name, int x, int like, int out_h,
                              int out_w, int offset_h, int offset_w, int *y) {
    CS_CHECK_ARG(y, "crop '%s': output pointer is NULL", name ? name : "(null)");
    cs_op_params p;
    memset(&p, 0, sizeof p);
    p.crop.out_h = out_h;
    p.crop.out_w = out_w;
    p.crop.offset_h = offset_h;
    p.crop.offset_w = offset_w;
    const int in[2] = {x, like};
    return cs_graph_add_node(g, CS_OP_CROP, name, in, like >= 0 ? 2 : 1, &p, y);
}

cuseg_status cuseg_graph_crop_center(cuseg_graph *g, const char *name, int x, int like, int *y) {
    CS_CHECK_ARG(y, "crop '%s': output pointer is NULL", name ? name : "(null)");
    cs_op_params p;
    memset(&p, 0, sizeof p);
    p.crop.center = 1;
    const int in[2] = {x, like};
    return cs_graph_add_node(g, CS_OP_CROP, name, in, 2, &p, y);
}

cuseg_status cuseg_graph_pad(cuseg_graph *g, const char *name, int x, int top, int bottom, int left,
                             int right, int *y) {
    CS_CHECK_ARG(y, "pad '%s': output pointer is NULL", name ? name : "(null)");
    cs_op_params p;
    memset(&p, 0, sizeof p);
    p.pad.top = top;
    p.pad.bottom = bottom;
    p.pad.left = left;
    p.pad.right = right;
    return cs_graph_add_node(g, CS_OP_PAD, name, &x, 1, &p, y);
}

cuseg_status cuseg_graph_pad_to(cuseg_graph *g, const char *name, int x, int like, int *y) {
    CS_CHECK_ARG(y, "pad '%s': output pointer is NULL", name ? name : "(null)");
    const int in[2] = {x, like};
    return cs_graph_add_node(g, CS_OP_PAD, name, in, 2, NULL, y);
}
