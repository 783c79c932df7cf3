/* Internal view of the CUDA backend shared by its .cu files: the backend
 * state of one session and the CUDA row of each op. */
#ifndef CS_CUDA_BACKEND_CUH
#define CS_CUDA_BACKEND_CUH

#include <cublas_v2.h>

#include "common.cuh"

extern "C" {
#include "backend.h"
#include "ops/ops.h"
}

/* Storage type of f32-typed activations. */
enum class cs_storage { f32, f16, bf16 };

struct cs_conv_algo_cache; /* conv.cu: timed-search results by shape */
cs_conv_algo_cache *cs_conv_algo_cache_create();
void cs_conv_algo_cache_release(cs_conv_algo_cache *cache);

struct cs_cuda {
    int device;
    cudaStream_t stream;
    int own_stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    cuseg_precision precision;
    cs_storage storage;
    int cudnn_search;
    cs_conv_algo_cache *algo_cache;

    /* Per plan (prepare/unprepare). */
    void *arena;
    void *workspace; /* cuDNN scratch shared by every step (steps run in order) */
    size_t workspace_bytes;
    void **input_dev;     /* per graph input: its device buffer (storage type) */
    uint8_t *input_u8;    /* input 0 as 8-bit pixels (cuseg_session_run_u8) */
    float **input_stage;  /* per graph input: f32 staging for 16-bit storage, else NULL */
    void **output_host;   /* per graph output: pinned host buffer (f32 or i32) */
    float **output_stage; /* per graph output: f32 staging for 16-bit storage, else NULL */
    void **value_ptr;     /* per value: its device address */
    int *error_flag;      /* device int set by kernels that find bad data (unpool indices) */
    int profile;          /* CUSEG_CUDA_PROFILE=1: time every step, print to stderr */
};

/* The CUDA row of an op. prepare runs at plan time with the device buffers
 * allocated; it may grow cuda->workspace_bytes (the executor allocates the
 * workspace after every prepare). */
struct cs_cuda_op {
    cuseg_status (*prepare)(cs_step *step, const cuseg_graph *g, cs_cuda *cuda);
    cuseg_status (*forward)(const cs_step *step, const cs_io *io, cs_cuda *cuda);
    void (*release)(void *state);
    /* Optional: what the step runs as (algorithm, path), for profiles. */
    void (*describe)(const cs_step *step, char *buf, size_t size);
};

/* Rows, defined in each op family's .cu (named as in host/ops/ops.h). */
extern const cs_cuda_op cs_cuda_conv2d, cs_cuda_conv_transpose2d, cs_cuda_batch_norm,
    cs_cuda_relu, cs_cuda_relu6, cs_cuda_sigmoid, cs_cuda_dropout, cs_cuda_add, cs_cuda_scale,
    cs_cuda_max_pool2d, cs_cuda_avg_pool2d, cs_cuda_global_avg_pool, cs_cuda_max_unpool2d,
    cs_cuda_resize_bilinear, cs_cuda_resize_nearest, cs_cuda_concat, cs_cuda_crop, cs_cuda_pad,
    cs_cuda_softmax, cs_cuda_argmax;

/* Calls f with a value of the storage type (float, __half, __nv_bfloat16),
 * so that one templated launcher serves the three precisions. */
template <class F> cuseg_status cs_with_storage(cs_storage s, F &&f) {
    switch (s) {
    case cs_storage::f16: return f(__half{});
    case cs_storage::bf16: return f(__nv_bfloat16{});
    default: return f(float{});
    }
}

/* Converts n floats to the storage type and back (the session's boundary). */
cuseg_status cs_cuda_to_storage(cs_storage s, const float *x, void *y, size_t n,
                                cudaStream_t stream);
cuseg_status cs_cuda_from_storage(cs_storage s, const void *x, float *y, size_t n,
                                  cudaStream_t stream);

/* y (storage type) = the normalised 8-bit pixels x (op_math.h's
 * cs_normalize_u8, the CPU's arithmetic), count = pixels * c. */
cuseg_status cs_cuda_normalize_u8(cs_storage s, const uint8_t *x, void *y, size_t count, int c,
                                  int bgr, const float mul[4], const float add[4],
                                  cudaStream_t stream);

/* y = act(x * scale[c] + shift[c]) over NHWC with C channels; scale may be
 * NULL (1). Used by batch norm and by the convolutions' bias epilogue. */
cuseg_status cs_cuda_channel_affine(cs_storage s, const void *x, void *y, const float *scale,
                                    const float *shift, size_t count, int channels, cs_act act,
                                    cudaStream_t stream);

/* Zero padding of an NHWC tensor: y (n x h_out x w_out x c) holds x
 * (n x h_in x w_in x c) at (top, left), zeros elsewhere. */
cuseg_status cs_cuda_pad_copy(cs_storage s, const void *x, void *y, int n, int h_in, int w_in,
                              int h_out, int w_out, int c, int top, int left, cudaStream_t stream);

/* Its adjoint: dx (n x h_in x w_in x c) += the window of dy (n x h_out x
 * w_out x c) at (top, left). */
cuseg_status cs_cuda_pad_copy_backward(cs_storage s, const void *dy, void *dx, int n, int h_in,
                                       int w_in, int h_out, int w_out, int c, int top, int left,
                                       cudaStream_t stream);

/* Grows the shared cuDNN workspace to at least `bytes` (prepare time only). */
cuseg_status cs_cuda_reserve_workspace(cs_cuda *cuda, size_t bytes);

/* Uploads n floats as a new device buffer of the storage type (weights). */
cuseg_status cs_cuda_upload(cs_storage s, const float *host, size_t n, void **dev,
                            cudaStream_t stream);

/* "conv2d 'name': input 1x64x64x3 f32 -> output 1x64x64x16 f32" context for
 * a failing step's message. */
cuseg_status cs_cuda_step_error(cuseg_status st, const cs_step *step);

/* ------------------------------------------------------------ training
 * cuda/train.cu runs a training plan (no fusion) on the device: every
 * activation and its gradient stay there. Per op family, beside its
 * forward, a training row: a training forward where inference's does not
 * serve (parameters re-read every step, batch statistics, dropout masks) and
 * the backward. Gradients have the storage type; like cs_grad_io, din and
 * dparam are ACCUMULATED into (+=), and an entry is NULL when no gradient is
 * wanted or flows. dparam are f32 device buffers in the host parameter's
 * layout (PyTorch's), NULL for buffers (running statistics). */
struct cs_cuda_train_ctx {
    const cuseg_graph *g; /* parameters (host, read every forward; BN running stats updated) */
    uint64_t seed;        /* dropout (op_math.h's cs_dropout_key) */
    uint64_t *draws;
    float bn_momentum;    /* 0: PyTorch's 0.1 */
    int bn_eval;          /* BN normalises with the running statistics, kept (cs_cpu.bn_eval) */
};

struct cs_cuda_grad_io {
    const void *const *in;
    const void *const *out;
    const void *const *dout;
    void *const *din;
    float *const *dparam;
};

struct cs_cuda_train_op {
    cuseg_status (*prepare)(cs_step *step, const cuseg_graph *g, cs_cuda *cuda); /* NULL: none */
    /* NULL: the inference row's forward (cs_cuda_row) serves. */
    cuseg_status (*forward)(const cs_step *step, const cs_io *io, cs_cuda *cuda,
                            cs_cuda_train_ctx *ctx);
    cuseg_status (*backward)(const cs_step *step, const cs_cuda_grad_io *io, cs_cuda *cuda);
    /* After the forward's stream has been synchronised (BN: running statistics to the host). */
    cuseg_status (*after_forward)(const cs_step *step, cs_cuda_train_ctx *ctx);
    void (*release)(void *state);
};

extern const cs_cuda_train_op cs_cuda_train_conv, cs_cuda_train_batch_norm, cs_cuda_train_relu,
    cs_cuda_train_relu6, cs_cuda_train_sigmoid, cs_cuda_train_dropout, cs_cuda_train_add,
    cs_cuda_train_scale, cs_cuda_train_max_pool2d, cs_cuda_train_avg_pool2d,
    cs_cuda_train_global_avg_pool, cs_cuda_train_max_unpool2d, cs_cuda_train_resize_bilinear,
    cs_cuda_train_resize_nearest, cs_cuda_train_concat, cs_cuda_train_crop, cs_cuda_train_pad,
    cs_cuda_train_softmax;

/* After a synchronised run: an error if a kernel raised the error flag
 * (max_unpool2d's index check), which it then clears. */
cuseg_status cs_cuda_take_error_flag(cs_cuda *cuda);

/* The inference row of op `op` (executor.cu), or NULL. */
const cs_cuda_op *cs_cuda_row(int op);

/* out[c] (double, accumulated) += sum over the pixels of v * (w ? w : (center ? v : 1)),
 * v = x - (center ? center[c] : 0): host/ops/batchnorm.c's channel_sums on
 * the device (double partial sums, combined with atomics: the order varies
 * between runs, at double precision). x, w: NHWC of the storage type. */
cuseg_status cs_cuda_channel_sums(cs_storage s, const void *x, const void *w, const double *center,
                                  size_t pixels, int channels, double *out, cudaStream_t stream);

/* y[i] += (float)x[i] (n doubles into floats). */
cuseg_status cs_cuda_add_doubles(const double *x, float *y, size_t n, cudaStream_t stream);

/* dst (storage type) += src (storage type), n elements. */
cuseg_status cs_cuda_accumulate(cs_storage s, const void *src, void *dst, size_t n,
                                cudaStream_t stream);

#endif
