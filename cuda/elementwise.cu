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

/* ------------------------------------------------------------ training */

namespace {

/* Block (32 channels) x (8 pixel lanes); the grid's y dimension splits the
 * pixels. Each thread sums in double, the 8 lanes combine in shared memory,
 * one atomic add per channel and block. */
template <class T>
__global__ void channel_sums_kernel(const T *__restrict__ x, const T *__restrict__ w,
                                    const double *__restrict__ center, size_t pixels, int C,
                                    double *__restrict__ out) {
    __shared__ double part[8][32];
    const int c = blockIdx.x * 32 + threadIdx.x;
    double acc = 0.0;
    if (c < C)
        for (size_t p = (size_t)blockIdx.y * 8 + threadIdx.y; p < pixels; p += (size_t)gridDim.y * 8) {
            const size_t i = p * C + c;
            const double v = center ? (double)cs_load(x[i]) - center[c] : (double)cs_load(x[i]);
            acc += w ? v * (double)cs_load(w[i]) : v * (center ? v : 1.0);
        }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        double s = 0.0;
        for (int r = 0; r < 8; ++r) s += part[r][threadIdx.x];
        atomicAdd(&out[c], s);
    }
}

__global__ void add_doubles_kernel(const double *__restrict__ x, float *__restrict__ y, size_t n) {
    CS_GRID_LOOP(i, n) y[i] += (float)x[i];
}

template <class T>
__global__ void accumulate_kernel(const T *__restrict__ src, T *__restrict__ dst, size_t n) {
    CS_GRID_LOOP(i, n) dst[i] = cs_store<T>(cs_load(dst[i]) + cs_load(src[i]));
}

/* dx += dy * f'(x or y): the derivatives of host/ops/elementwise.c. */
enum class dunary { relu, relu6, sigmoid, scale, dropout };

struct dunary_args {
    dunary f;
    float scale;        /* scale: the factor; dropout: 1 / (1 - p) */
    uint64_t key, threshold; /* dropout mask */
    int masked;         /* dropout in training with p > 0 */
};

template <class T>
__global__ void dunary_kernel(const T *__restrict__ x, const T *__restrict__ y,
                              const T *__restrict__ dy, T *__restrict__ dx, size_t n,
                              dunary_args a) {
    CS_GRID_LOOP(i, n) {
        float d;
        switch (a.f) {
        case dunary::relu: d = cs_load(x[i]) > 0.0f ? 1.0f : 0.0f; break;
        case dunary::relu6: {
            const float v = cs_load(x[i]);
            d = v > 0.0f && v < 6.0f ? 1.0f : 0.0f;
            break;
        }
        case dunary::sigmoid: {
            const float v = cs_load(y[i]);
            d = v * (1.0f - v);
            break;
        }
        case dunary::scale: d = a.scale; break;
        default: d = !a.masked || cs_dropout_keep(a.key, i, a.threshold) ? a.scale : 0.0f;
        }
        /* dropout multiplies dy by the scale, as the CPU does (d = scale or 0) */
        dx[i] = cs_store<T>(cs_load(dx[i]) + cs_load(dy[i]) * d);
    }
}

template <class T>
__global__ void dropout_train_kernel(const T *__restrict__ x, T *__restrict__ y, size_t n,
                                     uint64_t key, uint64_t threshold, float scale) {
    CS_GRID_LOOP(i, n) y[i] = cs_dropout_keep(key, i, threshold) ? cs_store<T>(cs_load(x[i]) * scale)
                                                                  : cs_store<T>(0.0f);
}

cuseg_status dunary_launch(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda,
                           dunary_args a) {
    if (!io->din[0] || !io->dout[0]) return CUSEG_OK;
    const size_t n = count_of(st);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        dunary_kernel<T><<<cs_grid(n), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (const T *)io->out[0], (const T *)io->dout[0], (T *)io->din[0], n,
            a);
        CS_CUDA_CHECK_LAUNCH("elementwise backward kernel");
        return CUSEG_OK;
    });
}

cuseg_status relu_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    return dunary_launch(st, io, cuda, {dunary::relu, 1.0f, 0, 0, 0});
}
cuseg_status relu6_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    return dunary_launch(st, io, cuda, {dunary::relu6, 1.0f, 0, 0, 0});
}
cuseg_status sigmoid_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    return dunary_launch(st, io, cuda, {dunary::sigmoid, 1.0f, 0, 0, 0});
}
cuseg_status scale_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    return dunary_launch(st, io, cuda, {dunary::scale, st->node->p.scale.scale, 0, 0, 0});
}

/* Dropout's key of the last forward, for the backward. */
struct dropout_train_state {
    uint64_t key;
};

cuseg_status dropout_train_prepare(cs_step *st, const cuseg_graph *g, cs_cuda *cuda) {
    (void)g, (void)cuda;
    return cs_calloc(&st->state, sizeof(dropout_train_state), "dropout state");
}

/* The CPU's masks: key (seed, ++draws), op_math.h's hash of the element index. */
cuseg_status dropout_train_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda,
                                   cs_cuda_train_ctx *ctx) {
    const float p = st->node->p.dropout.p;
    if (p == 0.0f) return dropout_forward(st, io, cuda);
    dropout_train_state *s = (dropout_train_state *)st->state;
    s->key = cs_dropout_key(ctx->seed, ++*ctx->draws);
    const size_t n = count_of(st);
    const uint64_t threshold = cs_dropout_threshold(p);
    const float scale = 1.0f / (1.0f - p);
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        dropout_train_kernel<T><<<cs_grid(n), kCsThreads, 0, cuda->stream>>>(
            (const T *)io->in[0], (T *)io->out[0], n, s->key, threshold, scale);
        CS_CUDA_CHECK_LAUNCH("dropout kernel");
        return CUSEG_OK;
    });
}

cuseg_status dropout_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    const float p = st->node->p.dropout.p;
    const dropout_train_state *s = (const dropout_train_state *)st->state;
    return dunary_launch(st, io, cuda,
                         {dunary::dropout, p > 0.0f ? 1.0f / (1.0f - p) : 1.0f, s->key,
                          cs_dropout_threshold(p), p > 0.0f});
}

cuseg_status add_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    for (int k = 0; k < 2 && io->dout[0]; ++k)
        if (io->din[k])
            CS_CHECK(cs_cuda_accumulate(cuda->storage, io->dout[0], io->din[k], count_of(st),
                                        cuda->stream));
    return CUSEG_OK;
}

/* Training batch norm (host/ops/batchnorm.c's arithmetic, in double): the
 * batch mean and 1/sqrt(var + eps) per channel, y = (x - mean) * invstd *
 * gamma + beta; the running statistics are updated on the host from the
 * batch mean and variance copied back after the forward (after_forward). */
struct bn_train_state {
    double *stats = nullptr; /* device: mean[C], var[C] (then sum (x - mean)^2), invstd[C], sums[2C] */
    float *gamma_beta = nullptr; /* device: gamma[C], beta[C], uploaded every forward */
    float *gamma_host = nullptr, *beta_host = nullptr, *running_mean = nullptr, *running_var = nullptr;
    double pixels = 0;
    std::vector<double> host; /* batch mean, var after the forward; eval mode: mean, -, invstd up */
    int eval = 0;             /* the last forward ran in eval mode */
};

void bn_train_release(void *p) {
    bn_train_state *s = (bn_train_state *)p;
    if (!s) return;
    cudaFree(s->stats);
    cudaFree(s->gamma_beta);
    delete s;
}

cuseg_status bn_train_prepare(cs_step *st, const cuseg_graph *g, cs_cuda *cuda) {
    (void)cuda;
    bn_train_state *s = new (std::nothrow) bn_train_state;
    if (!s) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "batch norm state");
    st->state = s;
    const int C = st->in_shape[0].c;
    const cs_node *nd = st->node;
    s->gamma_host = cs_node_param(g, nd, 0)->data;
    s->beta_host = cs_node_param(g, nd, 1)->data;
    s->running_mean = cs_node_param(g, nd, 2)->data;
    s->running_var = cs_node_param(g, nd, 3)->data;
    const cs_shape &sh = st->in_shape[0];
    s->pixels = (double)sh.n * sh.h * sh.w;
    s->host.resize(3 * (size_t)C);
    CS_CUDA_CHECK(cudaMalloc((void **)&s->stats, 5 * (size_t)C * sizeof(double)));
    CS_CUDA_CHECK(cudaMalloc((void **)&s->gamma_beta, 2 * (size_t)C * sizeof(float)));
    return CUSEG_OK;
}

/* stats = [mean | var | invstd]: mean from the sums, or var and invstd. */
__global__ void bn_mean_kernel(double *stats, int C, double M) {
    CS_GRID_LOOP(c, (size_t)C) stats[c] /= M;
}
__global__ void bn_var_kernel(double *stats, int C, double M, double eps) {
    CS_GRID_LOOP(c, (size_t)C) {
        const double var = stats[C + c] / M;
        stats[C + c] = var;
        stats[2 * C + c] = 1.0 / sqrt(var + eps);
    }
}

template <class T>
__global__ void bn_normalize_kernel(const T *__restrict__ x, T *__restrict__ y,
                                    const double *__restrict__ stats, const float *__restrict__ gb,
                                    int C, size_t count) {
    CS_GRID_LOOP(i, count) {
        const int c = (int)(i % C);
        y[i] = cs_store<T>((float)(((double)cs_load(x[i]) - stats[c]) * stats[2 * C + c] * gb[c] +
                                   gb[C + c]));
    }
}

/* dx += gamma * invstd * (dy - sum_dy / M - xh * sum_dy_xc * invstd / M);
 * in eval mode (constant statistics) dx += gamma * invstd * dy. */
template <class T>
__global__ void bn_dx_kernel(const T *__restrict__ x, const T *__restrict__ dy, T *__restrict__ dx,
                             const double *__restrict__ stats, const float *__restrict__ gb, int C,
                             double M, int eval, size_t count) {
    const double *mean = stats, *invstd = stats + 2 * C, *sum_dy = stats + 3 * C,
                 *sum_dy_xc = stats + 4 * C;
    CS_GRID_LOOP(i, count) {
        const int c = (int)(i % C);
        if (eval) {
            dx[i] = cs_store<T>(cs_load(dx[i]) + (float)(gb[c] * invstd[c] * (double)cs_load(dy[i])));
            continue;
        }
        const double xh = ((double)cs_load(x[i]) - mean[c]) * invstd[c];
        const double d = gb[c] * invstd[c] *
                         ((double)cs_load(dy[i]) - sum_dy[c] / M - xh * sum_dy_xc[c] * invstd[c] / M);
        dx[i] = cs_store<T>(cs_load(dx[i]) + (float)d);
    }
}

/* dgamma += sum_dy_xc * invstd, dbeta += sum_dy (as the CPU: rounded once). */
__global__ void bn_dparam_kernel(const double *__restrict__ stats, float *dgamma, float *dbeta,
                                 int C) {
    CS_GRID_LOOP(c, (size_t)C) {
        if (dgamma) dgamma[c] += (float)(stats[4 * C + c] * stats[2 * C + c]);
        if (dbeta) dbeta[c] += (float)stats[3 * C + c];
    }
}

cuseg_status bn_train_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda,
                              cs_cuda_train_ctx *ctx) {
    bn_train_state *s = (bn_train_state *)st->state;
    const int C = st->in_shape[0].c;
    const size_t count = count_of(st), pixels = count / (size_t)C;
    cudaStream_t stream = cuda->stream;
    /* The parameters change every step (pageable copies: the host buffers may be reused at once). */
    CS_CUDA_CHECK(cudaMemcpyAsync(s->gamma_beta, s->gamma_host, C * sizeof(float),
                                  cudaMemcpyHostToDevice, stream));
    CS_CUDA_CHECK(cudaMemcpyAsync(s->gamma_beta + C, s->beta_host, C * sizeof(float),
                                  cudaMemcpyHostToDevice, stream));
    s->eval = ctx->bn_eval;
    if (s->eval) {
        /* The running statistics normalise (host/ops/batchnorm.c's eval
         * mode): mean and invstd in double on the host, then up. */
        for (int c = 0; c < C; ++c) {
            const double var = (double)s->running_var[c] + st->node->p.bn.eps;
            if (!(var > 0.0))
                return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                                "running_var[%d] + eps = %g is not positive", c, var);
            s->host[c] = s->running_mean[c];
            s->host[C + c] = var;
            s->host[2 * C + c] = 1.0 / sqrt(var);
        }
        /* pageable: staged before the call returns, so host may change after */
        CS_CUDA_CHECK(cudaMemcpyAsync(s->stats, s->host.data(), 3 * (size_t)C * sizeof(double),
                                      cudaMemcpyHostToDevice, stream));
    } else {
        CS_CUDA_CHECK(cudaMemsetAsync(s->stats, 0, 2 * (size_t)C * sizeof(double), stream));
        CS_CHECK(cs_cuda_channel_sums(cuda->storage, io->in[0], NULL, NULL, pixels, C, s->stats,
                                      stream));
        bn_mean_kernel<<<cs_grid(C), kCsThreads, 0, stream>>>(s->stats, C, s->pixels);
        CS_CUDA_CHECK_LAUNCH("batch norm mean");
        CS_CHECK(cs_cuda_channel_sums(cuda->storage, io->in[0], NULL, s->stats, pixels, C,
                                      s->stats + C, stream));
        bn_var_kernel<<<cs_grid(C), kCsThreads, 0, stream>>>(s->stats, C, s->pixels,
                                                             (double)st->node->p.bn.eps);
        CS_CUDA_CHECK_LAUNCH("batch norm variance");
    }
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        bn_normalize_kernel<T><<<cs_grid(count), kCsThreads, 0, stream>>>(
            (const T *)io->in[0], (T *)io->out[0], s->stats, s->gamma_beta, C, count);
        CS_CUDA_CHECK_LAUNCH("batch norm normalize");
        return CUSEG_OK;
    });
}

/* The CPU's running-statistics update, from the batch mean and (biased)
 * variance of this forward. */
cuseg_status bn_train_after_forward(const cs_step *st, cs_cuda_train_ctx *ctx) {
    bn_train_state *s = (bn_train_state *)st->state;
    if (s->eval) return CUSEG_OK; /* the running statistics stay */
    const int C = st->in_shape[0].c;
    /* The forward's stream has finished: a plain copy, no stall inside it. */
    CS_CUDA_CHECK(cudaMemcpy(s->host.data(), s->stats, 2 * (size_t)C * sizeof(double),
                             cudaMemcpyDeviceToHost));
    const double M = s->pixels;
    const double momentum = ctx->bn_momentum > 0 ? ctx->bn_momentum : 0.1; /* PyTorch's default */
    for (int c = 0; c < C; ++c) {
        const double mean = s->host[c], var = s->host[C + c];
        s->running_mean[c] = (float)((1 - momentum) * s->running_mean[c] + momentum * mean);
        s->running_var[c] = (float)((1 - momentum) * s->running_var[c] +
                                    momentum * (M > 1 ? var * M / (M - 1) : var));
    }
    return CUSEG_OK;
}

cuseg_status bn_train_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    bn_train_state *s = (bn_train_state *)st->state;
    if (!io->dout[0]) return CUSEG_OK;
    const int C = st->in_shape[0].c;
    const size_t count = count_of(st), pixels = count / (size_t)C;
    cudaStream_t stream = cuda->stream;
    double *sums = s->stats + 3 * (size_t)C;
    CS_CUDA_CHECK(cudaMemsetAsync(sums, 0, 2 * (size_t)C * sizeof(double), stream));
    CS_CHECK(cs_cuda_channel_sums(cuda->storage, io->dout[0], NULL, NULL, pixels, C, sums, stream));
    CS_CHECK(cs_cuda_channel_sums(cuda->storage, io->in[0], io->dout[0], s->stats, pixels, C,
                                  sums + C, stream));
    float *dgamma = io->dparam ? io->dparam[0] : NULL, *dbeta = io->dparam ? io->dparam[1] : NULL;
    if (dgamma || dbeta) {
        bn_dparam_kernel<<<cs_grid(C), kCsThreads, 0, stream>>>(s->stats, dgamma, dbeta, C);
        CS_CUDA_CHECK_LAUNCH("batch norm parameter gradients");
    }
    if (!io->din[0]) return CUSEG_OK;
    return cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        bn_dx_kernel<T><<<cs_grid(count), kCsThreads, 0, stream>>>(
            (const T *)io->in[0], (const T *)io->dout[0], (T *)io->din[0], s->stats, s->gamma_beta,
            C, s->pixels, s->eval, count);
        CS_CUDA_CHECK_LAUNCH("batch norm backward");
        return CUSEG_OK;
    });
}

} // namespace

cuseg_status cs_cuda_channel_sums(cs_storage s, const void *x, const void *w, const double *center,
                                  size_t pixels, int channels, double *out, cudaStream_t stream) {
    if (pixels == 0 || channels <= 0) return CUSEG_OK;
    size_t rows = (pixels + 8 * 64 - 1) / (8 * 64); /* >= 64 pixels per thread */
    if (rows > 1024) rows = 1024;
    const dim3 grid((unsigned)((channels + 31) / 32), (unsigned)(rows ? rows : 1)), block(32, 8);
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        channel_sums_kernel<T><<<grid, block, 0, stream>>>((const T *)x, (const T *)w, center,
                                                           pixels, channels, out);
        CS_CUDA_CHECK_LAUNCH("channel sums kernel");
        return CUSEG_OK;
    });
}

cuseg_status cs_cuda_add_doubles(const double *x, float *y, size_t n, cudaStream_t stream) {
    add_doubles_kernel<<<cs_grid(n), kCsThreads, 0, stream>>>(x, y, n);
    CS_CUDA_CHECK_LAUNCH("add doubles kernel");
    return CUSEG_OK;
}

cuseg_status cs_cuda_accumulate(cs_storage s, const void *src, void *dst, size_t n,
                                cudaStream_t stream) {
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        accumulate_kernel<T><<<cs_grid(n), kCsThreads, 0, stream>>>((const T *)src, (T *)dst, n);
        CS_CUDA_CHECK_LAUNCH("accumulate kernel");
        return CUSEG_OK;
    });
}

const cs_cuda_train_op cs_cuda_train_relu = {NULL, NULL, relu_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_relu6 = {NULL, NULL, relu6_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_sigmoid = {NULL, NULL, sigmoid_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_scale = {NULL, NULL, scale_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_add = {NULL, NULL, add_backward, NULL, NULL};
const cs_cuda_train_op cs_cuda_train_dropout = {dropout_train_prepare, dropout_train_forward,
                                                dropout_backward, NULL, free};
const cs_cuda_train_op cs_cuda_train_batch_norm = {bn_train_prepare, bn_train_forward,
                                                   bn_train_backward, bn_train_after_forward,
                                                   bn_train_release};
