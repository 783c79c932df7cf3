/* Bilinear and nearest resize, NHWC float32: one thread per output element,
 * channels fastest so that a warp reads and writes contiguous memory. The
 * coordinate arithmetic is op_math.h's, the same code the CPU ops run. */
#include "backend.cuh"
#include "resize.cuh"

extern "C" {
#include "ops/resize.h"
}

#include "ops/op_math.h" /* static inline: no linkage to declare */

namespace {

template <class T>
__global__ void bilinear_kernel(const T *__restrict__ x, T *__restrict__ y, int h_in, int w_in,
                                int c, int h_out, int w_out, float ratio_h, float ratio_w,
                                int align_corners, size_t count) {
    CS_GRID_LOOP(e, count) {
        int ch, ow, oh;
        size_t b;
        cs_nhwc_split(e, h_out, w_out, c, &b, &oh, &ow, &ch);
        int h0, h1, w0, w1;
        float lh, lw;
        cs_bilinear_taps(oh, h_in, h_out, ratio_h, align_corners, &h0, &h1, &lh);
        cs_bilinear_taps(ow, w_in, w_out, ratio_w, align_corners, &w0, &w1, &lw);
        const T *top = x + (b * h_in + h0) * w_in * c + ch;
        const T *bot = x + (b * h_in + h1) * w_in * c + ch;
        const float lw0 = 1.0f - lw, lh0 = 1.0f - lh;
        const float t = lw0 * cs_load(top[(size_t)w0 * c]) + lw * cs_load(top[(size_t)w1 * c]);
        const float u = lw0 * cs_load(bot[(size_t)w0 * c]) + lw * cs_load(bot[(size_t)w1 * c]);
        y[e] = cs_store<T>(lh0 * t + lh * u);
    }
}

template <class T>
__global__ void nearest_kernel(const T *__restrict__ x, T *__restrict__ y, int h_in, int w_in,
                               int c, int h_out, int w_out, float ratio_h, float ratio_w,
                               size_t count) {
    CS_GRID_LOOP(e, count) {
        int ch, ow, oh;
        size_t b;
        cs_nhwc_split(e, h_out, w_out, c, &b, &oh, &ow, &ch);
        const int ih = cs_nearest_index(oh, h_in, h_out, ratio_h);
        const int iw = cs_nearest_index(ow, w_in, w_out, ratio_w);
        y[e] = x[((b * h_in + ih) * w_in + iw) * c + ch];
    }
}

/* Weight with which output index o reads input index i along one axis. */
__device__ float tap_weight(int o, int i, int in, int out, float ratio, int align_corners) {
    int i0, i1;
    float l;
    cs_bilinear_taps(o, in, out, ratio, align_corners, &i0, &i1, &l);
    return (i0 == i ? 1.0f - l : 0.0f) + (i1 == i ? l : 0.0f);
}

/* One thread per dx element: sums dy over the outputs whose taps read it,
 * [first(i - 1), first(i + 1)) along each axis (op_math.h); dx = or += the
 * sum (accumulate: training, where a value's gradient has several sources). */
template <class T>
__global__ void bilinear_backward_kernel(const T *__restrict__ dy, T *__restrict__ dx,
                                         int h_in, int w_in, int c, int h_out, int w_out,
                                         float ratio_h, float ratio_w, int align_corners,
                                         int accumulate, size_t count) {
    CS_GRID_LOOP(e, count) {
        int ch, iw, ih;
        size_t b;
        cs_nhwc_split(e, h_in, w_in, c, &b, &ih, &iw, &ch);
        const int oh_begin = cs_bilinear_first_output(ih - 1, h_in, h_out, ratio_h, align_corners);
        const int oh_end = cs_bilinear_first_output(ih + 1, h_in, h_out, ratio_h, align_corners);
        const int ow_begin = cs_bilinear_first_output(iw - 1, w_in, w_out, ratio_w, align_corners);
        const int ow_end = cs_bilinear_first_output(iw + 1, w_in, w_out, ratio_w, align_corners);
        float acc = 0.0f;
        for (int oh = oh_begin; oh < oh_end; ++oh) {
            const float wh = tap_weight(oh, ih, h_in, h_out, ratio_h, align_corners);
            const T *g = dy + (b * h_out + oh) * w_out * c + ch;
            for (int ow = ow_begin; ow < ow_end; ++ow)
                acc += wh * tap_weight(ow, iw, w_in, w_out, ratio_w, align_corners) *
                       cs_load(g[(size_t)ow * c]);
        }
        dx[e] = cs_store<T>(accumulate ? cs_load(dx[e]) + acc : acc);
    }
}

/* Nearest: the outputs that copied input (ih, iw) are [first(ih),
 * first(ih + 1)) x [first(iw), first(iw + 1)) (op_math.h). */
template <class T>
__global__ void nearest_backward_kernel(const T *__restrict__ dy, T *__restrict__ dx, int h_in,
                                        int w_in, int c, int h_out, int w_out, float ratio_h,
                                        float ratio_w, size_t count) {
    CS_GRID_LOOP(e, count) {
        int ch, iw, ih;
        size_t b;
        cs_nhwc_split(e, h_in, w_in, c, &b, &ih, &iw, &ch);
        const int oh0 = cs_nearest_first_output(ih, h_in, h_out, ratio_h);
        const int oh1 = cs_nearest_first_output(ih + 1, h_in, h_out, ratio_h);
        const int ow0 = cs_nearest_first_output(iw, w_in, w_out, ratio_w);
        const int ow1 = cs_nearest_first_output(iw + 1, w_in, w_out, ratio_w);
        float acc = 0.0f;
        for (int oh = oh0; oh < oh1; ++oh)
            for (int ow = ow0; ow < ow1; ++ow)
                acc += cs_load(dy[((b * h_out + oh) * w_out + ow) * c + ch]);
        dx[e] = cs_store<T>(cs_load(dx[e]) + acc);
    }
}

cuseg_status check_sizes(const void *a, const void *b, int n, int h_in, int w_in, int c, int h_out,
                         int w_out) {
    CS_CHECK_ARG(a && b, "resize (CUDA): NULL buffer");
    CS_CHECK_ARG(n > 0 && h_in > 0 && w_in > 0 && c > 0 && h_out > 0 && w_out > 0,
                 "resize (CUDA): sizes must be positive, got n=%d, %dx%d -> %dx%d, c=%d", n, h_in,
                 w_in, h_out, w_out, c);
    return CUSEG_OK;
}

} // namespace

extern "C" cuseg_status cs_cuda_resize_bilinear_backward(const float *dy, float *dx, int n,
                                                         int h_in, int w_in, int c, int h_out,
                                                         int w_out, float ratio_h, float ratio_w,
                                                         int align_corners, cudaStream_t stream) {
    CS_CHECK(check_sizes(dy, dx, n, h_in, w_in, c, h_out, w_out));
    const size_t count = (size_t)n * h_in * w_in * c;
    bilinear_backward_kernel<float><<<cs_grid(count), kCsThreads, 0, stream>>>(
        dy, dx, h_in, w_in, c, h_out, w_out, ratio_h, ratio_w, align_corners != 0, 0, count);
    CS_CUDA_CHECK_LAUNCH("resize_bilinear backward kernel");
    return CUSEG_OK;
}

namespace {

cuseg_status bilinear_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    const int ac = st->node->p.resize.align_corners != 0;
    double scale_h, scale_w;
    cs_resize_mapping_scales(st->node, &scale_h, &scale_w);
    const float ratio_h = cs_bilinear_ratio(is.h, os.h, ac, scale_h);
    const float ratio_w = cs_bilinear_ratio(is.w, os.w, ac, scale_w);
    const size_t count = cs_shape_count(&os);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        bilinear_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], is.h, is.w, is.c, os.h, os.w, ratio_h, ratio_w,
            ac, count);
        CS_CUDA_CHECK_LAUNCH("resize_bilinear kernel");
        return CUSEG_OK;
    });
}

cuseg_status nearest_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    double scale_h, scale_w;
    cs_resize_mapping_scales(st->node, &scale_h, &scale_w);
    const float ratio_h = cs_resize_ratio(is.h, os.h, scale_h);
    const float ratio_w = cs_resize_ratio(is.w, os.w, scale_w);
    const size_t count = cs_shape_count(&os);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        nearest_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], is.h, is.w, is.c, os.h, os.w, ratio_h, ratio_w,
            count);
        CS_CUDA_CHECK_LAUNCH("resize_nearest kernel");
        return CUSEG_OK;
    });
}

cuseg_status bilinear_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    const int ac = st->node->p.resize.align_corners != 0;
    double scale_h, scale_w;
    cs_resize_mapping_scales(st->node, &scale_h, &scale_w);
    const float ratio_h = cs_bilinear_ratio(is.h, os.h, ac, scale_h);
    const float ratio_w = cs_bilinear_ratio(is.w, os.w, ac, scale_w);
    const size_t count = cs_shape_count(&is);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        bilinear_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->dout[0], (T *)io->din[0], is.h, is.w, is.c, os.h, os.w, ratio_h,
            ratio_w, ac, 1, count);
        CS_CUDA_CHECK_LAUNCH("resize_bilinear backward kernel");
        return CUSEG_OK;
    });
}

cuseg_status nearest_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    double scale_h, scale_w;
    cs_resize_mapping_scales(st->node, &scale_h, &scale_w);
    const float ratio_h = cs_resize_ratio(is.h, os.h, scale_h);
    const float ratio_w = cs_resize_ratio(is.w, os.w, scale_w);
    const size_t count = cs_shape_count(&is);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        nearest_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->dout[0], (T *)io->din[0], is.h, is.w, is.c, os.h, os.w, ratio_h,
            ratio_w, count);
        CS_CUDA_CHECK_LAUNCH("resize_nearest backward kernel");
        return CUSEG_OK;
    });
}

} // namespace

const cs_cuda_op cs_cuda_resize_bilinear = {NULL, bilinear_forward, NULL, NULL};
const cs_cuda_op cs_cuda_resize_nearest = {NULL, nearest_forward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_resize_bilinear = {NULL, NULL, bilinear_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_resize_nearest = {NULL, NULL, nearest_backward, NULL, NULL};
