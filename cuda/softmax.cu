/* Softmax and argmax over channels, one thread per pixel: a pixel's C
 * channels are contiguous in NHWC, and C is a class count (a few to a few
 * hundred). Same arithmetic and tie rules as host/ops/softmax.c. */
#include "backend.cuh"

namespace {

template <class T>
__global__ void softmax_kernel(const T *__restrict__ x, T *__restrict__ y, int C, size_t pixels) {
    CS_GRID_LOOP(p, pixels) {
        const T *xp = x + p * C;
        T *yp = y + p * C;
        float m = cs_load(xp[0]);
        for (int c = 1; c < C; ++c) m = fmaxf(m, cs_load(xp[c]));
        float sum = 0.0f;
        for (int c = 0; c < C; ++c) sum += expf(cs_load(xp[c]) - m);
        const float inv = 1.0f / sum;
        for (int c = 0; c < C; ++c) yp[c] = cs_store<T>(expf(cs_load(xp[c]) - m) * inv);
    }
}

/* The first maximum wins; a NaN counts as the maximum (first NaN wins). */
template <class T>
__global__ void argmax_kernel(const T *__restrict__ x, int32_t *__restrict__ y, int C,
                              size_t pixels) {
    CS_GRID_LOOP(p, pixels) {
        const T *xp = x + p * C;
        int best = 0;
        float b = cs_load(xp[0]);
        for (int c = 1; c < C && !isnan(b); ++c) {
            const float v = cs_load(xp[c]);
            if (v > b || isnan(v)) {
                best = c;
                b = v;
            }
        }
        y[p] = best;
    }
}

size_t pixels_of(const cs_shape &s) { return (size_t)s.n * s.h * s.w; }

cuseg_status softmax_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const size_t pixels = pixels_of(st->out_shape[0]);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        softmax_kernel<T><<<cs_grid(pixels), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], st->out_shape[0].c, pixels);
        CS_CUDA_CHECK_LAUNCH("softmax kernel");
        return CUSEG_OK;
    });
}

cuseg_status argmax_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const size_t pixels = pixels_of(st->in_shape[0]);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        argmax_kernel<T><<<cs_grid(pixels), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (int32_t *)io->out[0], st->in_shape[0].c, pixels);
        CS_CUDA_CHECK_LAUNCH("argmax kernel");
        return CUSEG_OK;
    });
}

/* dx += y * (dy - sum_c dy * y), per pixel (host/ops/softmax.c). */
template <class T>
__global__ void softmax_backward_kernel(const T *__restrict__ y, const T *__restrict__ dy,
                                        T *__restrict__ dx, int C, size_t pixels) {
    CS_GRID_LOOP(p, pixels) {
        const T *yp = y + p * C, *gp = dy + p * C;
        T *dp = dx + p * C;
        float dot = 0.0f;
        for (int c = 0; c < C; ++c) dot += cs_load(gp[c]) * cs_load(yp[c]);
        for (int c = 0; c < C; ++c)
            dp[c] = cs_store<T>(cs_load(dp[c]) + cs_load(yp[c]) * (cs_load(gp[c]) - dot));
    }
}

cuseg_status softmax_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const size_t pixels = pixels_of(st->out_shape[0]);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        softmax_backward_kernel<T><<<cs_grid(pixels), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->out[0], (const T *)io->dout[0], (T *)io->din[0], st->out_shape[0].c,
            pixels);
        CS_CUDA_CHECK_LAUNCH("softmax backward kernel");
        return CUSEG_OK;
    });
}

} // namespace

const cs_cuda_op cs_cuda_softmax = {NULL, softmax_forward, NULL, NULL};
const cs_cuda_op cs_cuda_argmax = {NULL, argmax_forward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_softmax = {NULL, NULL, softmax_backward, NULL, NULL};
