/* Elementwise ops (relu, relu6, sigmoid, dropout, add, scale), inference
 * batch norm as a per-channel affine map, and the precision conversions at
 * the session's boundary. The scalar functions are op_math.h's, shared with
 * host/ops/elementwise.c. */
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend.cuh"

#include "ops/op_math.h"

namespace {

__device__ __forceinline__ float activate(float v, cs_act act) {
    return act == CS_ACT_RELU ? cs_relu(v) : act == CS_ACT_RELU6 ? cs_relu6(v) : v;
}

template <class T>
__global__ void to_storage_kernel(const float *__restrict__ x, T *__restrict__ y, size_t n) {
    CS_GRID_LOOP(i, n) y[i] = cs_store<T>(x[i]);
}

template <class T>
__global__ void from_storage_kernel(const T *__restrict__ x, float *__restrict__ y, size_t n) {
    CS_GRID_LOOP(i, n) y[i] = cs_load(x[i]);
}

template <class T>
__global__ void affine_kernel(const T *__restrict__ x, T *__restrict__ y,
                              const float *__restrict__ scale, const float *__restrict__ shift,
                              size_t count, int channels, cs_act act) {
    CS_GRID_LOOP(i, count) {
        const int c = (int)(i % channels);
        float v = cs_load(x[i]);
        v = scale ? fmaf(v, scale[c], shift[c]) : v + shift[c];
        y[i] = cs_store<T>(activate(v, act));
    }
}

enum class unary { relu, relu6, sigmoid };

template <class T>
__global__ void unary_kernel(const T *__restrict__ x, T *__restrict__ y, size_t n, unary f) {
    CS_GRID_LOOP(i, n) {
        const float v = cs_load(x[i]);
        /* expf, as the CPU op: one formula on both backends. */
        y[i] = cs_store<T>(f == unary::relu    ? cs_relu(v)
                           : f == unary::relu6 ? cs_relu6(v)
                                               : 1.0f / (1.0f + expf(-v)));
    }
}

template <class T>
__global__ void add_kernel(const T *__restrict__ a, const T *__restrict__ b, T *__restrict__ y,
                           size_t n) {
    CS_GRID_LOOP(i, n) y[i] = cs_store<T>(cs_load(a[i]) + cs_load(b[i]));
}

template <class T>
__global__ void scale_kernel(const T *__restrict__ x, T *__restrict__ y, size_t n, float scale,
                             float shift) {
    CS_GRID_LOOP(i, n) y[i] = cs_store<T>(cs_load(x[i]) * scale + shift);
}

size_t count_of(const cs_step *st) { return cs_shape_count(&st->out_shape[0]); }

cuseg_status unary_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda, unary f) {
    const size_t n = count_of(st);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        unary_kernel<T><<<cs_grid(n), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], n, f);
        CS_CUDA_CHECK_LAUNCH("unary kernel");
        return CUSEG_OK;
    });
}

cuseg_status relu_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    return unary_forward(st, io, cuda, unary::relu);
}
cuseg_status relu6_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    return unary_forward(st, io, cuda, unary::relu6);
}
cuseg_status sigmoid_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    return unary_forward(st, io, cuda, unary::sigmoid);
}

/* Identity at inference. */
cuseg_status dropout_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const size_t bytes = count_of(st) * cs_cuda_storage_bytes(cuda->precision);
    if (io->out[0] != io->in[0])
        CS_CUDA_CHECK(cudaMemcpyAsync(io->out[0], io->in[0], bytes, cudaMemcpyDeviceToDevice,
                                      cuda->stream));
    return CUSEG_OK;
}

cuseg_status add_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const size_t n = count_of(st);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        add_kernel<T><<<cs_grid(n), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (const T *)io->in[1], (T *)io->out[0], n);
        CS_CUDA_CHECK_LAUNCH("add kernel");
        return CUSEG_OK;
    });
}

cuseg_status scale_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const size_t n = count_of(st);
    const float scale = st->node->p.scale.scale, shift = st->node->p.scale.shift;
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        scale_kernel<T><<<cs_grid(n), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], n, scale, shift);
        CS_CUDA_CHECK_LAUNCH("scale kernel");
        return CUSEG_OK;
    });
}

/* Batch norm state: s = gamma / sqrt(var + eps) and t = beta - mean * s,
 * computed in double on the host (as the CPU op and the conv folding do). */
struct bn_state {
    float *scale_shift; /* [2C] on the device */
};

void bn_release(void *state) {
    bn_state *s = (bn_state *)state;
    if (!s) return;
    cudaFree(s->scale_shift);
    free(s);
}

cuseg_status bn_prepare(cs_step *st, const cuseg_graph *g, cs_cuda *cuda) {
    const cs_node *nd = st->node;
    const int C = st->in_shape[0].c;
    const float *gamma = cs_node_param(g, nd, 0)->data, *beta = cs_node_param(g, nd, 1)->data,
                *mean = cs_node_param(g, nd, 2)->data, *var = cs_node_param(g, nd, 3)->data;
    std::vector<float> host(2 * (size_t)C);
    for (int c = 0; c < C; ++c) {
        const double v = (double)var[c] + nd->p.bn.eps;
        if (!(v > 0.0))
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "running_var[%d] + eps = %g is not positive",
                            c, v);
        const double s = gamma[c] / sqrt(v);
        host[c] = (float)s;
        host[C + c] = (float)(beta[c] - mean[c] * s);
    }
    bn_state *s;
    CS_CHECK(cs_calloc((void **)&s, sizeof *s, "batch norm state"));
    st->state = s;
    CS_CUDA_CHECK(cudaMalloc((void **)&s->scale_shift, host.size() * sizeof(float)));
    CS_CUDA_CHECK(cudaMemcpyAsync(s->scale_shift, host.data(), host.size() * sizeof(float),
                                  cudaMemcpyHostToDevice, cuda->stream));
    return cs_cuda_status(cudaStreamSynchronize(cuda->stream), "batch norm upload");
}

cuseg_status bn_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const bn_state *s = (const bn_state *)st->state;
    const int C = st->in_shape[0].c;
    return cs_cuda_channel_affine(cuda->storage, io->in[0], io->out[0], s->scale_shift,
                                  s->scale_shift + C, count_of(st), C, CS_ACT_NONE, cuda->stream);
}

} // namespace

cuseg_status cs_cuda_to_storage(cs_storage s, const float *x, void *y, size_t n,
                                cudaStream_t stream) {
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        to_storage_kernel<T><<<cs_grid(n), kCsThreads, 0, stream>>>(x, (T *)y, n);
        CS_CUDA_CHECK_LAUNCH("conversion to the storage type");
        return CUSEG_OK;
    });
}

cuseg_status cs_cuda_from_storage(cs_storage s, const void *x, float *y, size_t n,
                                  cudaStream_t stream) {
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        from_storage_kernel<T><<<cs_grid(n), kCsThreads, 0, stream>>>((const T *)x, y, n);
        CS_CUDA_CHECK_LAUNCH("conversion from the storage type");
        return CUSEG_OK;
    });
}

cuseg_status cs_cuda_channel_affine(cs_storage s, const void *x, void *y, const float *scale,
                                    const float *shift, size_t count, int channels, cs_act act,
                                    cudaStream_t stream) {
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        affine_kernel<T><<<cs_grid(count), kCsThreads, 0, stream>>>(
            (const T *)x, (T *)y, scale, shift, count, channels, act);
        CS_CUDA_CHECK_LAUNCH("channel affine kernel");
        return CUSEG_OK;
    });
}

cuseg_status cs_cuda_upload(cs_storage s, const float *host, size_t n, void **dev,
                            cudaStream_t stream) {
    *dev = NULL;
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        std::vector<T> conv(n);
        for (size_t i = 0; i < n; ++i) conv[i] = (T)host[i]; /* round to nearest even */
        void *p = NULL;
        CS_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
        cuseg_status st = cs_cuda_status(
            cudaMemcpyAsync(p, conv.data(), n * sizeof(T), cudaMemcpyHostToDevice, stream),
            "weight upload");
        /* The host copy dies with this scope: wait for the transfer. */
        if (st == CUSEG_OK) st = cs_cuda_status(cudaStreamSynchronize(stream), "weight upload");
        if (st != CUSEG_OK) {
            cudaFree(p);
            return st;
        }
        *dev = p;
        return CUSEG_OK;
    });
}

const cs_cuda_op cs_cuda_relu = {NULL, relu_forward, NULL, NULL};
const cs_cuda_op cs_cuda_relu6 = {NULL, relu6_forward, NULL, NULL};
const cs_cuda_op cs_cuda_sigmoid = {NULL, sigmoid_forward, NULL, NULL};
const cs_cuda_op cs_cuda_dropout = {NULL, dropout_forward, NULL, NULL};
const cs_cuda_op cs_cuda_add = {NULL, add_forward, NULL, NULL};
const cs_cuda_op cs_cuda_scale = {NULL, scale_forward, NULL, NULL};
const cs_cuda_op cs_cuda_batch_norm = {bn_prepare, bn_forward, bn_release, NULL};
