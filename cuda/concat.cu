/* Channel concatenation, NHWC: input i fills channels [offset_i,
 * offset_i + C_i) of every pixel. One launch per input; each thread copies
 * one element, so a warp reads contiguous memory (host/ops/concat.c). */
#include "backend.cuh"

namespace {

template <class T>
__global__ void concat_kernel(const T *__restrict__ x, T *__restrict__ y, int c_in, int c_out,
                              int offset, size_t count) {
    CS_GRID_LOOP(e, count) {
        const size_t p = e / c_in;
        y[p * c_out + offset + (e % c_in)] = x[e];
    }
}

cuseg_status concat_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const int c_out = st->out_shape[0].c;
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        int offset = 0;
        for (int i = 0; i < st->n_in; ++i) {
            const size_t count = cs_shape_count(&st->in_shape[i]);
            const int c_in = st->in_shape[i].c;
            concat_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
                (const T *)io->in[i], (T *)io->out[0], c_in, c_out, offset, count);
            CS_CUDA_CHECK_LAUNCH("concat kernel");
            offset += c_in;
        }
        return CUSEG_OK;
    });
}

/* Each input's gradient is its channel slice of dy. */
template <class T>
__global__ void concat_backward_kernel(const T *__restrict__ dy, T *__restrict__ dx, int c_in,
                                       int c_out, int offset, size_t count) {
    CS_GRID_LOOP(e, count) {
        const size_t p = e / c_in;
        dx[e] = cs_store<T>(cs_load(dx[e]) + cs_load(dy[p * c_out + offset + (e % c_in)]));
    }
}

cuseg_status concat_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    if (!io->dout[0]) return CUSEG_OK;
    const int c_out = st->out_shape[0].c;
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        int offset = 0;
        for (int i = 0; i < st->n_in; ++i) {
            const size_t count = cs_shape_count(&st->in_shape[i]);
            const int c_in = st->in_shape[i].c;
            if (io->din[i]) {
                concat_backward_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
                    (const T *)io->dout[0], (T *)io->din[i], c_in, c_out, offset, count);
                CS_CUDA_CHECK_LAUNCH("concat backward kernel");
            }
            offset += c_in;
        }
        return CUSEG_OK;
    });
}

} // namespace

const cs_cuda_op cs_cuda_concat = {NULL, concat_forward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_concat = {NULL, NULL, concat_backward, NULL, NULL};
