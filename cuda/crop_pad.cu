/* Crop and zero padding, NHWC, one thread per output element. The offsets
 * are the CPU ops' (host/ops/crop_pad.c): the node's, or for the centre crop
 * and the pad-to-like the floor half of the size difference. */
#include "backend.cuh"

namespace {

/* y[n, h, w, c] = x[n, h + dh, w + dw, c], or 0 where that lies outside x
 * (a crop has dh, dw >= 0 and never leaves x; a pad has dh, dw <= 0). */
template <class T>
__global__ void shift_kernel(const T *__restrict__ x, T *__restrict__ y, int h_in, int w_in,
                             int h_out, int w_out, int c, int dh, int dw, size_t count) {
    CS_GRID_LOOP(e, count) {
        int ch, ow, oh;
        size_t n;
        cs_nhwc_split(e, h_out, w_out, c, &n, &oh, &ow, &ch);
        const int ih = oh + dh, iw = ow + dw;
        y[e] = ih >= 0 && ih < h_in && iw >= 0 && iw < w_in
                   ? x[((n * h_in + ih) * w_in + iw) * c + ch]
                   : cs_store<T>(0.0f);
    }
}

cuseg_status shift_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda, int dh, int dw) {
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    const size_t count = cs_shape_count(&os);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        shift_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], is.h, is.w, os.h, os.w, os.c, dh, dw, count);
        CS_CUDA_CHECK_LAUNCH("crop/pad kernel");
        return CUSEG_OK;
    });
}

} // namespace

cuseg_status cs_cuda_pad_copy(cs_storage s, const void *x, void *y, int n, int h_in, int w_in,
                              int h_out, int w_out, int c, int top, int left, cudaStream_t stream) {
    const size_t count = (size_t)n * h_out * w_out * c;
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        shift_kernel<T><<<cs_grid(count), kCsThreads, 0, stream>>>(
            (const T *)x, (T *)y, h_in, w_in, h_out, w_out, c, -top, -left, count);
        CS_CUDA_CHECK_LAUNCH("pad kernel");
        return CUSEG_OK;
    });
}

namespace {

/* The (dh, dw) of y[h, w] = x[h + dh, w + dw] for a crop and a pad. */
void crop_shift(const cs_step *st, int *dh, int *dw) {
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    const auto &p = st->node->p.crop;
    *dh = p.center ? (is.h - os.h) / 2 : p.offset_h;
    *dw = p.center ? (is.w - os.w) / 2 : p.offset_w;
}

void pad_shift(const cs_step *st, int *dh, int *dw) {
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    const auto &p = st->node->p.pad;
    const int to_like = st->node->n_inputs == 2;
    *dh = -(to_like ? (os.h - is.h) / 2 : p.top);
    *dw = -(to_like ? (os.w - is.w) / 2 : p.left);
}

cuseg_status crop_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    int dh, dw;
    crop_shift(st, &dh, &dw);
    return shift_forward(st, io, cuda, dh, dw);
}

cuseg_status pad_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    int dh, dw;
    pad_shift(st, &dh, &dw);
    return shift_forward(st, io, cuda, dh, dw);
}

/* The adjoint of the shift: dx[h, w] += dy[h - dh, w - dw] where that lies
 * inside dy (one thread per dx element, no atomics). */
template <class T>
__global__ void shift_backward_kernel(const T *__restrict__ dy, T *__restrict__ dx, int h_in,
                                      int w_in, int h_out, int w_out, int c, int dh, int dw,
                                      size_t count) {
    CS_GRID_LOOP(e, count) {
        int ch, iw, ih;
        size_t n;
        cs_nhwc_split(e, h_in, w_in, c, &n, &ih, &iw, &ch);
        const int oh = ih - dh, ow = iw - dw;
        if (oh >= 0 && oh < h_out && ow >= 0 && ow < w_out)
            dx[e] = cs_store<T>(cs_load(dx[e]) +
                                cs_load(dy[((n * h_out + oh) * w_out + ow) * c + ch]));
    }
}

cuseg_status shift_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda, int dh,
                            int dw) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    const size_t count = cs_shape_count(&is);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        shift_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->dout[0], (T *)io->din[0], is.h, is.w, os.h, os.w, os.c, dh, dw, count);
        CS_CUDA_CHECK_LAUNCH("crop/pad backward kernel");
        return CUSEG_OK;
    });
}

cuseg_status crop_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    int dh, dw;
    crop_shift(st, &dh, &dw);
    return shift_backward(st, io, cuda, dh, dw);
}

cuseg_status pad_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    int dh, dw;
    pad_shift(st, &dh, &dw);
    return shift_backward(st, io, cuda, dh, dw);
}

} // namespace

const cs_cuda_op cs_cuda_crop = {NULL, crop_forward, NULL, NULL};
const cs_cuda_op cs_cuda_pad = {NULL, pad_forward, NULL, NULL};
cuseg_status cs_cuda_pad_copy_backward(cs_storage s, const void *dy, void *dx, int n, int h_in,
                                       int w_in, int h_out, int w_out, int c, int top, int left,
                                       cudaStream_t stream) {
    const size_t count = (size_t)n * h_in * w_in * c;
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        shift_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, stream>>>(
            (const T *)dy, (T *)dx, h_in, w_in, h_out, w_out, c, -top, -left, count);
        CS_CUDA_CHECK_LAUNCH("pad backward kernel");
        return CUSEG_OK;
    });
}

const cs_cuda_train_op cs_cuda_train_crop = {NULL, NULL, crop_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_pad = {NULL, NULL, pad_backward, NULL, NULL};
