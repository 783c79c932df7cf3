/* Pooling, NHWC: max (optionally with PyTorch's flat h*W + w indices),
 * average (PyTorch's count_include_pad and ceil-mode windows), global
 * average and max unpool. One thread per output element, channels fastest so
 * that a warp reads contiguous memory. The windows are op_math.h's
 * cs_pool_window, the code the CPU ops (host/ops/pool.c) run. */
#include "backend.cuh"

#include "ops/op_math.h"

namespace {

struct pool_geometry {
    int H, W, C, OH, OW;
    int kh, kw, sh, sw, pt, pb, pl, pr;
    int count_include_pad;
};

pool_geometry geometry(const cs_step *st) {
    const cuseg_pool2d_params &p = st->node->p.pool.w;
    const cs_shape &x = st->in_shape[0], &y = st->out_shape[0];
    return {x.h,        x.w,        x.c,        y.h,        y.w,
            p.kernel_h, p.kernel_w, p.stride_h ? p.stride_h : p.kernel_h,
            p.stride_w ? p.stride_w : p.kernel_w, p.pad_top,  p.pad_bottom,
            p.pad_left, p.pad_right, p.count_include_pad};
}

/* First maximum in scan order (h, then w); NaN counts as the maximum and the
 * first NaN wins; the initial index is the window's first element — exactly
 * host/ops/pool.c's max_window. */
template <class T>
__global__ void max_pool_kernel(const T *__restrict__ x, T *__restrict__ y,
                                int32_t *__restrict__ ind, pool_geometry g, size_t count) {
    CS_GRID_LOOP(e, count) {
        int c, ow, oh;
        size_t n;
        cs_nhwc_split(e, g.OH, g.OW, g.C, &n, &oh, &ow, &c);
        int h0, h1, hp, w0, w1, wp;
        cs_pool_window(oh, g.kh, g.sh, g.pt, g.pb, g.H, &h0, &h1, &hp);
        cs_pool_window(ow, g.kw, g.sw, g.pl, g.pr, g.W, &w0, &w1, &wp);
        const T *xn = x + n * g.H * g.W * g.C + c;
        float m = -INFINITY;
        int32_t at = h0 * g.W + w0;
        for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) {
                const float v = cs_load(xn[((size_t)h * g.W + w) * g.C]);
                if (cs_max_takes(v, m)) {
                    m = v;
                    at = h * g.W + w;
                }
            }
        y[e] = cs_store<T>(m);
        if (ind) ind[e] = at;
    }
}

template <class T>
__global__ void avg_pool_kernel(const T *__restrict__ x, T *__restrict__ y, pool_geometry g,
                                size_t count) {
    CS_GRID_LOOP(e, count) {
        int c, ow, oh;
        size_t n;
        cs_nhwc_split(e, g.OH, g.OW, g.C, &n, &oh, &ow, &c);
        int h0, h1, hp, w0, w1, wp;
        cs_pool_window(oh, g.kh, g.sh, g.pt, g.pb, g.H, &h0, &h1, &hp);
        cs_pool_window(ow, g.kw, g.sw, g.pl, g.pr, g.W, &w0, &w1, &wp);
        const T *xn = x + n * g.H * g.W * g.C + c;
        float sum = 0.0f;
        for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) sum += cs_load(xn[((size_t)h * g.W + w) * g.C]);
        const float div = (float)(g.count_include_pad ? hp * wp : (h1 - h0) * (w1 - w0));
        y[e] = cs_store<T>(sum / div);
    }
}

/* Block (32 channels) x (8 rows of pixels) per (channel chunk, image): each
 * thread sums a strided share of the plane in double (as the CPU op: the
 * mean is within an ulp of exact for any H*W), then the 8 rows combine. */
template <class T>
__global__ void global_avg_kernel(const T *__restrict__ x, T *__restrict__ y, int C, size_t hw) {
    __shared__ double part[8][32];
    const int c = blockIdx.x * 32 + threadIdx.x;
    const size_t n = blockIdx.y;
    double acc = 0.0;
    if (c < C)
        for (size_t i = threadIdx.y; i < hw; i += 8) acc += cs_load(x[(n * hw + i) * C + c]);
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        double s = 0.0;
        for (int r = 0; r < 8; ++r) s += part[r][threadIdx.x];
        y[n * C + c] = cs_store<T>((float)(s / (double)hw));
    }
}

/* Scatter; the output was zeroed. Duplicate indices (overlapping windows)
 * race, as in PyTorch's CUDA kernel; an index outside the plane is skipped
 * and raises the backend's error flag. */
template <class T>
__global__ void unpool_kernel(const T *__restrict__ x, const int32_t *__restrict__ ind,
                              T *__restrict__ y, int C, size_t hw_in, unsigned plane, size_t count,
                              int *error_flag) {
    CS_GRID_LOOP(e, count) {
        const size_t c = e % C, n = e / C / hw_in;
        const int32_t idx = ind[e];
        if ((unsigned)idx < plane)
            y[(n * plane + (size_t)idx) * C + c] = x[e];
        else
            *error_flag = 1;
    }
}

cuseg_status max_pool_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const pool_geometry g = geometry(st);
    const size_t count = cs_shape_count(&st->out_shape[0]);
    int32_t *ind = st->n_out > 1 ? (int32_t *)io->out[1] : NULL;
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        max_pool_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], ind, g, count);
        CS_CUDA_CHECK_LAUNCH("max_pool2d kernel");
        return CUSEG_OK;
    });
}

cuseg_status avg_pool_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const pool_geometry g = geometry(st);
    const size_t count = cs_shape_count(&st->out_shape[0]);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        avg_pool_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], g, count);
        CS_CUDA_CHECK_LAUNCH("avg_pool2d kernel");
        return CUSEG_OK;
    });
}

cuseg_status global_avg_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const cs_shape &x = st->in_shape[0];
    const dim3 grid((unsigned)((x.c + 31) / 32), (unsigned)x.n), block(32, 8);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        global_avg_kernel<T><<<grid, block, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], x.c, (size_t)x.h * x.w);
        CS_CUDA_CHECK_LAUNCH("global_avg_pool kernel");
        return CUSEG_OK;
    });
}

cuseg_status unpool_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const cs_shape &x = st->in_shape[0], &y = st->out_shape[0];
    const size_t count = cs_shape_count(&x);
    CS_CUDA_CHECK(cudaMemsetAsync(io->out[0], 0,
                                  cs_shape_count(&y) * cs_cuda_storage_bytes(cuda->precision),
                                  cuda->stream));
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        unpool_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (const int32_t *)io->in[1], (T *)io->out[0], x.c,
            (size_t)x.h * x.w, (unsigned)y.h * (unsigned)y.w, count, cuda->error_flag);
        CS_CUDA_CHECK_LAUNCH("max_unpool2d kernel");
        return CUSEG_OK;
    });
}

/* ------------------------------------------------------------ backward
 * Gathers, one thread per dx element, over the outputs whose windows hold
 * it (op_math.h's cs_pool_covering): no atomics, every element's sum in a
 * fixed order. */

/* Max pool: each covering window's maximum is found again (the forward's
 * scan and tie rule, cs_max_takes) and dy flows to it. */
template <class T>
__global__ void max_pool_backward_kernel(const T *__restrict__ x, const T *__restrict__ dy,
                                         T *__restrict__ dx, pool_geometry g, size_t count) {
    CS_GRID_LOOP(e, count) {
        int c, iw, ih;
        size_t n;
        cs_nhwc_split(e, g.H, g.W, g.C, &n, &ih, &iw, &c);
        int oh0, oh1, ow0, ow1;
        cs_pool_covering(ih, g.kh, g.sh, g.pt, g.OH, &oh0, &oh1);
        cs_pool_covering(iw, g.kw, g.sw, g.pl, g.OW, &ow0, &ow1);
        const T *xn = x + n * g.H * g.W * g.C + c;
        const int32_t self = ih * g.W + iw;
        float acc = 0.0f;
        for (int oh = oh0; oh < oh1; ++oh) {
            int h0, h1, hp;
            cs_pool_window(oh, g.kh, g.sh, g.pt, g.pb, g.H, &h0, &h1, &hp);
            for (int ow = ow0; ow < ow1; ++ow) {
                int w0, w1, wp;
                cs_pool_window(ow, g.kw, g.sw, g.pl, g.pr, g.W, &w0, &w1, &wp);
                float m = -INFINITY;
                int32_t at = h0 * g.W + w0;
                for (int h = h0; h < h1; ++h)
                    for (int w = w0; w < w1; ++w) {
                        const float v = cs_load(xn[((size_t)h * g.W + w) * g.C]);
                        if (cs_max_takes(v, m)) {
                            m = v;
                            at = h * g.W + w;
                        }
                    }
                if (at == self) acc += cs_load(dy[((n * g.OH + oh) * g.OW + ow) * g.C + c]);
            }
        }
        dx[e] = cs_store<T>(cs_load(dx[e]) + acc);
    }
}

template <class T>
__global__ void avg_pool_backward_kernel(const T *__restrict__ dy, T *__restrict__ dx,
                                         pool_geometry g, size_t count) {
    CS_GRID_LOOP(e, count) {
        int c, iw, ih;
        size_t n;
        cs_nhwc_split(e, g.H, g.W, g.C, &n, &ih, &iw, &c);
        int oh0, oh1, ow0, ow1;
        cs_pool_covering(ih, g.kh, g.sh, g.pt, g.OH, &oh0, &oh1);
        cs_pool_covering(iw, g.kw, g.sw, g.pl, g.OW, &ow0, &ow1);
        float acc = 0.0f;
        for (int oh = oh0; oh < oh1; ++oh) {
            int h0, h1, hp;
            cs_pool_window(oh, g.kh, g.sh, g.pt, g.pb, g.H, &h0, &h1, &hp);
            for (int ow = ow0; ow < ow1; ++ow) {
                int w0, w1, wp;
                cs_pool_window(ow, g.kw, g.sw, g.pl, g.pr, g.W, &w0, &w1, &wp);
                const float div = (float)(g.count_include_pad ? hp * wp : (h1 - h0) * (w1 - w0));
                acc += cs_load(dy[((n * g.OH + oh) * g.OW + ow) * g.C + c]) / div;
            }
        }
        dx[e] = cs_store<T>(cs_load(dx[e]) + acc);
    }
}

template <class T>
__global__ void global_avg_backward_kernel(const T *__restrict__ dy, T *__restrict__ dx, int C,
                                           size_t hw, float inv, size_t count) {
    CS_GRID_LOOP(e, count) {
        const size_t c = e % C, n = e / C / hw;
        dx[e] = cs_store<T>(cs_load(dx[e]) + cs_load(dy[n * C + c]) * inv);
    }
}

/* The forward copied x[e] to y[ind[e]]: the gradient gathers it back. */
template <class T>
__global__ void unpool_backward_kernel(const int32_t *__restrict__ ind, const T *__restrict__ dy,
                                       T *__restrict__ dx, int C, size_t hw_in, unsigned plane,
                                       size_t count) {
    CS_GRID_LOOP(e, count) {
        const size_t c = e % C, n = e / C / hw_in;
        const int32_t idx = ind[e];
        if ((unsigned)idx < plane) /* the forward flagged any other */
            dx[e] = cs_store<T>(cs_load(dx[e]) + cs_load(dy[(n * plane + (size_t)idx) * C + c]));
    }
}

cuseg_status max_pool_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const pool_geometry g = geometry(st);
    const size_t count = cs_shape_count(&st->in_shape[0]);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        max_pool_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (const T *)io->dout[0], (T *)io->din[0], g, count);
        CS_CUDA_CHECK_LAUNCH("max_pool2d backward kernel");
        return CUSEG_OK;
    });
}

cuseg_status avg_pool_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const pool_geometry g = geometry(st);
    const size_t count = cs_shape_count(&st->in_shape[0]);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        avg_pool_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->dout[0], (T *)io->din[0], g, count);
        CS_CUDA_CHECK_LAUNCH("avg_pool2d backward kernel");
        return CUSEG_OK;
    });
}

cuseg_status global_avg_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const cs_shape &x = st->in_shape[0];
    const size_t count = cs_shape_count(&x), hw = (size_t)x.h * x.w;
    const float inv = (float)(1.0 / (double)hw); /* as the CPU */
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        global_avg_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->dout[0], (T *)io->din[0], x.c, hw, inv, count);
        CS_CUDA_CHECK_LAUNCH("global_avg_pool backward kernel");
        return CUSEG_OK;
    });
}

cuseg_status unpool_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const cs_shape &x = st->in_shape[0], &y = st->out_shape[0];
    const size_t count = cs_shape_count(&x);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        unpool_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
            (const int32_t *)io->in[1], (const T *)io->dout[0], (T *)io->din[0], x.c,
            (size_t)x.h * x.w, (unsigned)y.h * (unsigned)y.w, count);
        CS_CUDA_CHECK_LAUNCH("max_unpool2d backward kernel");
        return CUSEG_OK;
    });
}

} // namespace

const cs_cuda_op cs_cuda_max_pool2d = {NULL, max_pool_forward, NULL, NULL};
const cs_cuda_op cs_cuda_avg_pool2d = {NULL, avg_pool_forward, NULL, NULL};
const cs_cuda_op cs_cuda_global_avg_pool = {NULL, global_avg_forward, NULL, NULL};
const cs_cuda_op cs_cuda_max_unpool2d = {NULL, unpool_forward, NULL, NULL};

const cs_cuda_train_op cs_cuda_train_max_pool2d = {NULL, NULL, max_pool_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_avg_pool2d = {NULL, NULL, avg_pool_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_global_avg_pool = {NULL, NULL, global_avg_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_max_unpool2d = {NULL, NULL, unpool_backward, NULL, NULL};
