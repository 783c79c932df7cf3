/* Convolutions through cuDNN (NHWC activations, KRSC filters): forward,
 * dilated, grouped and depthwise as cudnnConvolutionForward, transposed as
 * cudnnConvolutionBackwardData. The CPU twin is host/ops/conv.c; both take
 * their weights from cs_conv_folded_params, so batch norm folding is one
 * piece of code.
 *
 * Per step, at plan time: descriptors, weights folded, repacked to KRSC,
 * converted to the storage type and uploaded; an algorithm chosen by cuDNN's
 * heuristics (or timed, with cudnn_search, and cached per shape) and then
 * run once on the plan's buffers, so that an algorithm cuDNN lists but
 * cannot run is skipped at plan time rather than failing a run. ReLU and
 * bias go into cudnnConvolutionBiasActivationForward where cuDNN accepts
 * that (probed the same way), else into one epilogue kernel. A 1x1 stride-1
 * ungrouped convolution is a GEMM; the timed search also tries cuBLAS for it.
 *
 * Asymmetric padding (TF "SAME") is not expressible in cuDNN: such inputs are
 * zero-padded into a per-step buffer first. */
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "backend.cuh"

#include "ops/op_math.h"

extern "C" {
#include "ops/conv.h"
}

namespace {

/* cublas: a 1x1 stride-1 convolution as one GEMM. cublas_upconv: an
 * ungrouped transposed convolution as one GEMM into a scratch buffer (every
 * input pixel times every kh x kw x C tap), then a gather that sums each
 * output's taps (op_math.h's cs_col2im_taps) with bias and activation: no
 * atomics. It covers U-Net's 2x2/2 up-convolutions (one tap) and FCN's
 * bilinear 16/8 and 4/2 upscoring, where cuDNN's FP32 algorithms are slow. */
enum class conv_path { cudnn, cudnn_fused, cublas, cublas_upconv };

struct conv_choice {
    conv_path path;
    int algo; /* cudnnConvolutionFwdAlgo_t or cudnnConvolutionBwdDataAlgo_t */
    cudnnMathType_t math;
    size_t workspace;
};

} // namespace

/* Timed-search results: (geometry, precision) -> choice. */
struct cs_conv_algo_cache {
    std::map<std::vector<int>, conv_choice> best;
};

namespace {

struct conv_state {
    cudnnTensorDescriptor_t x_desc = nullptr, y_desc = nullptr, bias_desc = nullptr;
    cudnnFilterDescriptor_t w_desc = nullptr;
    cudnnConvolutionDescriptor_t conv_desc = nullptr;
    cudnnActivationDescriptor_t act_desc = nullptr;
    void *weights = nullptr;
    float *bias = nullptr;
    void *padded = nullptr; /* pre-padded input, or NULL */
    void *gemm_out = nullptr; /* cublas_upconv: the GEMM's result before the scatter */
    int pad_top = 0, pad_left = 0, padded_h = 0, padded_w = 0;
    int transposed = 0, epilogue = 0;
    conv_choice choice{};
};

void conv_release(void *p) {
    conv_state *s = (conv_state *)p;
    if (!s) return;
    if (s->x_desc) cudnnDestroyTensorDescriptor(s->x_desc);
    if (s->y_desc) cudnnDestroyTensorDescriptor(s->y_desc);
    if (s->bias_desc) cudnnDestroyTensorDescriptor(s->bias_desc);
    if (s->w_desc) cudnnDestroyFilterDescriptor(s->w_desc);
    if (s->conv_desc) cudnnDestroyConvolutionDescriptor(s->conv_desc);
    if (s->act_desc) cudnnDestroyActivationDescriptor(s->act_desc);
    cudaFree(s->weights);
    cudaFree(s->bias);
    cudaFree(s->padded);
    cudaFree(s->gemm_out);
    delete s;
}

cudnnDataType_t data_type(cs_storage s) {
    return s == cs_storage::f16 ? CUDNN_DATA_HALF
           : s == cs_storage::bf16 ? CUDNN_DATA_BFLOAT16
                                   : CUDNN_DATA_FLOAT;
}

/* FP32 forbids TF32 (FMA only); TF32 is cuDNN's default math for float
 * data; 16-bit data asks for tensor cores. */
cudnnMathType_t math_for(const cs_cuda *cuda) {
    switch (cuda->precision) {
    case CUSEG_PRECISION_FP32: return CUDNN_FMA_MATH;
    case CUSEG_PRECISION_TF32: return CUDNN_DEFAULT_MATH;
    default: return CUDNN_TENSOR_OP_MATH;
    }
}

/* The largest workspace an algorithm may ask for: half of the free memory,
 * at most 4 GiB. */
size_t workspace_cap() {
    size_t free_b = 0, total = 0;
    if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) {
        cudaGetLastError();
        return (size_t)256 << 20;
    }
    return std::min(free_b / 2, (size_t)4 << 30);
}

int gemm_eligible(const cs_step *st, const conv_state *s) {
    const cuseg_conv2d_params &p = st->node->p.conv;
    return !s->transposed && !s->padded && p.kernel_h == 1 && p.kernel_w == 1 &&
           (p.stride_h <= 1) && (p.stride_w <= 1) && p.groups <= 1 && p.pad_top == 0 &&
           p.pad_left == 0;
}

size_t upconv_scratch_bytes(const cs_step *st, const cs_cuda *cuda) {
    const cuseg_conv2d_params &p = st->node->p.conv;
    return cs_shape_count(&st->in_shape[0]) / st->in_shape[0].c * p.kernel_h * p.kernel_w *
           st->out_shape[0].c * cs_cuda_storage_bytes(cuda->precision);
}

/* Ungrouped, undilated, and a scratch buffer of at most 2 GiB. */
int upconv_eligible(const cs_step *st, const conv_state *s, const cs_cuda *cuda) {
    const cuseg_conv2d_params &p = st->node->p.conv;
    return s->transposed && p.groups <= 1 && p.dilation_h <= 1 && p.dilation_w <= 1 &&
           upconv_scratch_bytes(st, cuda) <= ((size_t)2 << 30);
}

__device__ __forceinline__ float activate(float v, cs_act act) {
    return act == CS_ACT_RELU ? fmaxf(v, 0.0f) : act == CS_ACT_RELU6 ? fminf(fmaxf(v, 0.0f), 6.0f) : v;
}

/* y[n, oh, ow, c] = act(bias[c] + sum over the taps (h, i) x (w, j) that
 * land on (oh, ow) of g[(n, h, w)][(i, j, c)]). */
struct upconv_geometry {
    int H, W, OH, OW, C, kh, kw, sh, sw, ph, pw;
};

template <class T>
__global__ void upconv_gather_kernel(const T *__restrict__ g, T *__restrict__ y,
                                     const float *__restrict__ bias, upconv_geometry d, cs_act act,
                                     size_t count) {
    CS_GRID_LOOP(e, count) {
        int c, ow, oh;
        size_t n;
        cs_nhwc_split(e, d.OH, d.OW, d.C, &n, &oh, &ow, &c);
        int i0, h0, j0, w0;
        const int nh = cs_col2im_taps(oh, d.ph, d.sh, d.kh, d.H, &i0, &h0);
        const int nw = cs_col2im_taps(ow, d.pw, d.sw, d.kw, d.W, &j0, &w0);
        float acc = bias[c];
        for (int a = 0; a < nh; ++a) {
            const size_t row = (n * d.H + (h0 - a)) * d.W;
            const int i = i0 + a * d.sh;
            for (int b = 0; b < nw; ++b)
                acc += cs_load(g[((row + (w0 - b)) * d.kh * d.kw + (size_t)i * d.kw + j0 + b * d.sw) *
                                     d.C +
                                 c]);
        }
        y[e] = cs_store<T>(activate(acc, act));
    }
}

cudaDataType_t blas_type(cs_storage s) {
    return s == cs_storage::f16 ? CUDA_R_16F : s == cs_storage::bf16 ? CUDA_R_16BF : CUDA_R_32F;
}

cuseg_status blas_status(cublasStatus_t r) {
    if (r == CUBLAS_STATUS_SUCCESS) return CUSEG_OK;
    return cs_error(r == CUBLAS_STATUS_ALLOC_FAILED ? CUSEG_ERR_OUT_OF_MEMORY : CUSEG_ERR_DEVICE,
                    "cublasGemmEx: %s", cublasGetStatusString(r));
}

/* Runs the step's convolution (and nothing else) with `c`. */
cuseg_status run_conv(const cs_step *st, const conv_state *s, const conv_choice &c, const void *x,
                      void *y, cs_cuda *cuda) {
    const float one = 1.0f, zero = 0.0f;
    const cublasComputeType_t ct = cuda->precision == CUSEG_PRECISION_TF32
                                       ? CUBLAS_COMPUTE_32F_FAST_TF32
                                       : CUBLAS_COMPUTE_32F;
    const cudaDataType_t t = blas_type(cuda->storage);
    if (c.path == conv_path::cublas) {
        const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
        const int M = is.n * is.h * is.w, K = is.c, N = os.c;
        /* Row-major Y[M][N] = X[M][K] * W[N][K]^T is, column-major,
         * Y^T (N x M) = (W^T)^T (N x K) * X^T (K x M). */
        return blas_status(cublasGemmEx(cuda->cublas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one,
                                        s->weights, t, K, x, t, K, &zero, y, t, N, ct,
                                        CUBLAS_GEMM_DEFAULT));
    }
    if (c.path == conv_path::cublas_upconv) {
        const cuseg_conv2d_params &p = st->node->p.conv;
        const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
        const int M = is.n * is.h * is.w, K = is.c, N = p.kernel_h * p.kernel_w * os.c;
        /* G[M][N] = X[M][K] * B[K][N], B = weights as [Cin][kh][kw][Cout]. */
        CS_CHECK(blas_status(cublasGemmEx(cuda->cublas, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one,
                                          s->weights, t, N, x, t, K, &zero, s->gemm_out, t, N, ct,
                                          CUBLAS_GEMM_DEFAULT)));
        const size_t count = cs_shape_count(&os);
        const upconv_geometry d{is.h,       is.w,       os.h,       os.w,      os.c,     p.kernel_h,
                                p.kernel_w, p.stride_h > 0 ? p.stride_h : 1,
                                p.stride_w > 0 ? p.stride_w : 1, p.pad_top, p.pad_left};
        return cs_with_storage(cuda->storage, [&](auto tag) {
            using T = decltype(tag);
            upconv_gather_kernel<T><<<cs_grid(count), kCsThreads, 0, cuda->stream>>>(
                (const T *)s->gemm_out, (T *)y, s->bias, d, st->act, count);
            CS_CUDA_CHECK_LAUNCH("transposed convolution gather kernel");
            return CUSEG_OK;
        });
    }
    CS_CUDNN_CHECK(cudnnSetConvolutionMathType(s->conv_desc, c.math));
    if (s->transposed)
        return cs_cudnn_status(
            cudnnConvolutionBackwardData(cuda->cudnn, &one, s->w_desc, s->weights, s->x_desc, x,
                                         s->conv_desc, (cudnnConvolutionBwdDataAlgo_t)c.algo,
                                         cuda->workspace, c.workspace, &zero, s->y_desc, y),
            "cudnnConvolutionBackwardData");
    if (c.path == conv_path::cudnn_fused)
        return cs_cudnn_status(
            cudnnConvolutionBiasActivationForward(
                cuda->cudnn, &one, s->x_desc, x, s->w_desc, s->weights, s->conv_desc,
                (cudnnConvolutionFwdAlgo_t)c.algo, cuda->workspace, c.workspace, &zero, s->y_desc,
                y, s->bias_desc, s->bias, s->act_desc, s->y_desc, y),
            "cudnnConvolutionBiasActivationForward");
    return cs_cudnn_status(cudnnConvolutionForward(cuda->cudnn, &one, s->x_desc, x, s->w_desc,
                                                   s->weights, s->conv_desc,
                                                   (cudnnConvolutionFwdAlgo_t)c.algo,
                                                   cuda->workspace, c.workspace, &zero, s->y_desc,
                                                   y),
                           "cudnnConvolutionForward");
}

/* Runs `c` once (after growing the workspace) and waits: 0 if it works. */
int try_choice(const cs_step *st, const conv_state *s, const conv_choice &c, const void *x,
               void *y, cs_cuda *cuda) {
    if (cs_cuda_reserve_workspace(cuda, c.workspace) != CUSEG_OK) return 0;
    const int ok = run_conv(st, s, c, x, y, cuda) == CUSEG_OK &&
                   cudaStreamSynchronize(cuda->stream) == cudaSuccess;
    cudaGetLastError();
    return ok;
}

/* Milliseconds per run of `c` (median of 3 after a warm-up); < 0 if it fails. */
float time_choice(const cs_step *st, const conv_state *s, const conv_choice &c, const void *x,
                  void *y, cs_cuda *cuda) {
    if (!try_choice(st, s, c, x, y, cuda)) return -1.0f;
    cudaEvent_t a, b;
    if (cudaEventCreate(&a) != cudaSuccess || cudaEventCreate(&b) != cudaSuccess) {
        cudaGetLastError();
        return -1.0f;
    }
    float t[3];
    for (float &ms : t) {
        cudaEventRecord(a, cuda->stream);
        run_conv(st, s, c, x, y, cuda);
        cudaEventRecord(b, cuda->stream);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&ms, a, b);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(t, t + 3);
    return t[1];
}

/* Candidate choices in cuDNN's heuristic order, the workspace each needs. */
std::vector<conv_choice> candidates(const conv_state *s, cs_cuda *cuda,
                                    size_t cap) {
    std::vector<conv_choice> out;
    const int max_algos = 16;
    int returned = 0;
    if (s->transposed) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[max_algos];
        if (cudnnGetConvolutionBackwardDataAlgorithm_v7(cuda->cudnn, s->w_desc, s->x_desc,
                                                        s->conv_desc, s->y_desc, max_algos,
                                                        &returned, perf) != CUDNN_STATUS_SUCCESS)
            returned = 0;
        for (int i = 0; i < returned; ++i) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
            conv_choice c{conv_path::cudnn, (int)perf[i].algo, math_for(cuda), 0};
            cudnnSetConvolutionMathType(s->conv_desc, c.math);
            if (cudnnGetConvolutionBackwardDataWorkspaceSize(cuda->cudnn, s->w_desc, s->x_desc,
                                                             s->conv_desc, s->y_desc, perf[i].algo,
                                                             &c.workspace) != CUDNN_STATUS_SUCCESS ||
                c.workspace > cap)
                continue;
            out.push_back(c);
        }
    } else {
        cudnnConvolutionFwdAlgoPerf_t perf[max_algos];
        if (cudnnGetConvolutionForwardAlgorithm_v7(cuda->cudnn, s->x_desc, s->w_desc, s->conv_desc,
                                                   s->y_desc, max_algos, &returned,
                                                   perf) != CUDNN_STATUS_SUCCESS)
            returned = 0;
        for (int i = 0; i < returned; ++i) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
            conv_choice c{conv_path::cudnn, (int)perf[i].algo, math_for(cuda), 0};
            cudnnSetConvolutionMathType(s->conv_desc, c.math);
            if (cudnnGetConvolutionForwardWorkspaceSize(cuda->cudnn, s->x_desc, s->w_desc,
                                                        s->conv_desc, s->y_desc, perf[i].algo,
                                                        &c.workspace) != CUDNN_STATUS_SUCCESS ||
                c.workspace > cap)
                continue;
            out.push_back(c);
        }
    }
    return out;
}

std::vector<int> cache_key(const cs_step *st, const cs_cuda *cuda) {
    const cuseg_conv2d_params &p = st->node->p.conv;
    const cs_shape &x = st->in_shape[0], &y = st->out_shape[0];
    return {st->node->op, (int)cuda->precision, (int)st->act, x.n, x.h, x.w, x.c, y.h, y.w, y.c,
            p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_top, p.pad_bottom, p.pad_left,
            p.pad_right, p.dilation_h, p.dilation_w, p.groups};
}

/* Picks the path and algorithm: cuDNN's heuristic order, or the fastest by
 * timing (cudnn_search, cached per shape). The fused bias+ReLU call is used
 * where it runs (float storage; cuDNN takes it with any algorithm for ReLU). */
cuseg_status choose(const cs_step *st, conv_state *s, const void *x, void *y, cs_cuda *cuda) {
    const std::vector<int> key = cache_key(st, cuda);
    if (cuda->cudnn_search) {
        auto hit = cuda->algo_cache->best.find(key);
        if (hit != cuda->algo_cache->best.end() && try_choice(st, s, hit->second, x, y, cuda)) {
            s->choice = hit->second;
            return CUSEG_OK;
        }
    }
    const std::vector<conv_choice> list = candidates(s, cuda, workspace_cap());
    const int fusable = !s->transposed && st->act == CS_ACT_RELU && cuda->storage == cs_storage::f32;
    /* Heuristics: cuDNN's first pick that runs. Search: the fastest. */
    int found = 0;
    float best_ms = -1.0f;
    auto consider = [&](const conv_choice &c, bool timed) {
        const float ms = timed ? time_choice(st, s, c, x, y, cuda) : try_choice(st, s, c, x, y, cuda) ? 0.0f : -1.0f;
        if (ms >= 0.0f && (!found || ms < best_ms)) s->choice = c, best_ms = ms, found = 1;
    };
    for (const conv_choice &c0 : list) {
        conv_choice c = c0;
        if (fusable) {
            c.path = conv_path::cudnn_fused;
            if (!try_choice(st, s, c, x, y, cuda)) c.path = conv_path::cudnn;
        }
        consider(c, cuda->cudnn_search);
        if (found && !cuda->cudnn_search) break;
    }
    /* The GEMM forms race cuDNN's pick in every mode: a few runs at plan
     * time decide (bench/results has the figures). */
    if (gemm_eligible(st, s) || (upconv_eligible(st, s, cuda) && s->gemm_out)) {
        if (found && !cuda->cudnn_search) best_ms = time_choice(st, s, s->choice, x, y, cuda);
        consider({s->transposed ? conv_path::cublas_upconv : conv_path::cublas, 0,
                  CUDNN_DEFAULT_MATH, 0},
                 true);
    }
    if (!found)
        return cs_error(CUSEG_ERR_UNSUPPORTED,
                        "cuDNN offers no working algorithm for this convolution (%zu candidates "
                        "within the workspace limit)",
                        list.size());
    if (cuda->cudnn_search) cuda->algo_cache->best[key] = s->choice;
    return CUSEG_OK;
}

cuseg_status make_descriptors(const cs_step *st, conv_state *s, cs_cuda *cuda) {
    const cuseg_conv2d_params &p = st->node->p.conv;
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    const cudnnDataType_t dt = data_type(cuda->storage);
    const int G = p.groups > 0 ? p.groups : 1;
    const int sh = p.stride_h > 0 ? p.stride_h : 1, sw = p.stride_w > 0 ? p.stride_w : 1;
    const int dh = p.dilation_h > 0 ? p.dilation_h : 1, dw = p.dilation_w > 0 ? p.dilation_w : 1;
    const int asymmetric = p.pad_top != p.pad_bottom || p.pad_left != p.pad_right;
    if (asymmetric && s->transposed)
        return cs_error(CUSEG_ERR_UNSUPPORTED,
                        "asymmetric padding of a transposed convolution has no CUDA path");
    int ph = p.pad_top, pw = p.pad_left, xh = is.h, xw = is.w;
    if (asymmetric) {
        s->pad_top = p.pad_top;
        s->pad_left = p.pad_left;
        s->padded_h = xh = is.h + p.pad_top + p.pad_bottom;
        s->padded_w = xw = is.w + p.pad_left + p.pad_right;
        ph = pw = 0;
        CS_CUDA_CHECK(cudaMalloc(&s->padded, (size_t)is.n * xh * xw * is.c *
                                                 cs_cuda_storage_bytes(cuda->precision)));
    }
    CS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&s->x_desc));
    CS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&s->y_desc));
    CS_CUDNN_CHECK(cudnnCreateFilterDescriptor(&s->w_desc));
    CS_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&s->conv_desc));
    CS_CUDNN_CHECK(cudnnSetTensor4dDescriptor(s->x_desc, CUDNN_TENSOR_NHWC, dt, is.n, is.c, xh, xw));
    CS_CUDNN_CHECK(cudnnSetTensor4dDescriptor(s->y_desc, CUDNN_TENSOR_NHWC, dt, os.n, os.c, os.h, os.w));
    /* Filters are K x R x S x C: K = output channels of the convolution cuDNN
     * sees (for a transposed one, its input channels). */
    const cs_shape &k_side = s->transposed ? is : os, &c_side = s->transposed ? os : is;
    CS_CUDNN_CHECK(cudnnSetFilter4dDescriptor(s->w_desc, dt, CUDNN_TENSOR_NHWC, k_side.c,
                                              c_side.c / G, p.kernel_h, p.kernel_w));
    CS_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(s->conv_desc, ph, pw, sh, sw, dh, dw,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CS_CUDNN_CHECK(cudnnSetConvolutionGroupCount(s->conv_desc, G));
    /* The forward convolution cuDNN sees maps (x side) -> (y side); for a
     * transposed convolution that is our output -> our input. */
    int n, c, h, w;
    CS_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(
        s->conv_desc, s->transposed ? s->y_desc : s->x_desc, s->w_desc, &n, &c, &h, &w));
    const cs_shape &expect = s->transposed ? is : os;
    if (n != expect.n || c != expect.c || h != expect.h || w != expect.w)
        return cs_error(CUSEG_ERR_INTERNAL,
                        "cuDNN computes a %dx%dx%dx%d result where %dx%dx%dx%d was planned", n, h,
                        w, c, expect.n, expect.h, expect.w, expect.c);
    if (!s->transposed && st->act == CS_ACT_RELU && cuda->storage == cs_storage::f32) {
        CS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&s->bias_desc));
        CS_CUDNN_CHECK(cudnnSetTensor4dDescriptor(s->bias_desc, CUDNN_TENSOR_NHWC,
                                                  CUDNN_DATA_FLOAT, 1, os.c, 1, 1));
        CS_CUDNN_CHECK(cudnnCreateActivationDescriptor(&s->act_desc));
        CS_CUDNN_CHECK(cudnnSetActivationDescriptor(s->act_desc, CUDNN_ACTIVATION_RELU,
                                                    CUDNN_NOT_PROPAGATE_NAN, 0.0));
    }
    return CUSEG_OK;
}

/* Weights [d0][d1][kh][kw] (PyTorch) -> [d0][kh][kw][d1] (cuDNN's KRSC). */
std::vector<float> to_krsc(const float *w, int d0, int d1, int kh, int kw) {
    std::vector<float> out((size_t)d0 * d1 * kh * kw);
    for (int a = 0; a < d0; ++a)
        for (int b = 0; b < d1; ++b)
            for (int r = 0; r < kh; ++r)
                for (int t = 0; t < kw; ++t)
                    out[(((size_t)a * kh + r) * kw + t) * d1 + b] =
                        w[(((size_t)a * d1 + b) * kh + r) * kw + t];
    return out;
}

cuseg_status upload_params(const cs_step *st, const cuseg_graph *g, conv_state *s, cs_cuda *cuda) {
    const cuseg_conv2d_params &p = st->node->p.conv;
    const cs_param *w = cs_node_param(g, st->node, 0);
    float *weights = NULL, *bias = NULL;
    CS_CHECK(cs_conv_folded_params(st, g, &weights, &bias));
    const std::vector<float> krsc = to_krsc(weights, w->dims[0], w->dims[1], p.kernel_h, p.kernel_w);
    free(weights);
    cuseg_status r = cs_cuda_upload(cuda->storage, krsc.data(), krsc.size(), &s->weights,
                                    cuda->stream);
    const size_t bias_bytes = (size_t)p.out_channels * sizeof(float);
    if (r == CUSEG_OK) r = cs_cuda_status(cudaMalloc((void **)&s->bias, bias_bytes), "conv bias");
    if (r == CUSEG_OK)
        r = cs_cuda_status(cudaMemcpy(s->bias, bias, bias_bytes, cudaMemcpyHostToDevice),
                           "conv bias upload");
    free(bias);
    return r;
}

cuseg_status conv_prepare(cs_step *st, const cuseg_graph *g, cs_cuda *cuda) {
    conv_state *s = new (std::nothrow) conv_state;
    if (!s) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "conv state");
    st->state = s; /* released by the executor, also on failure */
    s->transposed = st->node->op == CS_OP_CONV_TRANSPOSE2D;
    s->epilogue = st->node->p.conv.has_bias || st->bn || st->act != CS_ACT_NONE;
    CS_CHECK(make_descriptors(st, s, cuda));
    CS_CHECK(upload_params(st, g, s, cuda));
    if (upconv_eligible(st, s, cuda) &&
        cudaMalloc(&s->gemm_out, upconv_scratch_bytes(st, cuda)) != cudaSuccess) {
        cudaGetLastError(); /* no room for the GEMM form: cuDNN alone */
        s->gemm_out = nullptr;
    }
    const void *x = s->padded ? s->padded : cuda->value_ptr[st->in_values[0]];
    return choose(st, s, x, cuda->value_ptr[st->out_values[0]], cuda);
}

void conv_describe(const cs_step *st, char *buf, size_t size) {
    const conv_state *s = (const conv_state *)st->state;
    static const char *const paths[] = {"cudnn", "cudnn_fused", "cublas", "cublas_upconv"};
    snprintf(buf, size, "[%s algo %d math %d ws %zu]", paths[(int)s->choice.path], s->choice.algo,
             (int)s->choice.math, s->choice.workspace);
}

cuseg_status conv_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda) {
    const conv_state *s = (const conv_state *)st->state;
    const void *x = io->in[0];
    if (s->padded) {
        const cs_shape &is = st->in_shape[0];
        CS_CHECK(cs_cuda_pad_copy(cuda->storage, x, s->padded, is.n, is.h, is.w, s->padded_h,
                                  s->padded_w, is.c, s->pad_top, s->pad_left, cuda->stream));
        x = s->padded;
    }
    CS_CHECK(run_conv(st, s, s->choice, x, io->out[0], cuda));
    if (s->epilogue && s->choice.path != conv_path::cudnn_fused &&
        s->choice.path != conv_path::cublas_upconv)
        CS_CHECK(cs_cuda_channel_affine(cuda->storage, io->out[0], io->out[0], NULL, s->bias,
                                        cs_shape_count(&st->out_shape[0]), st->out_shape[0].c,
                                        st->act, cuda->stream));
    return CUSEG_OK;
}

} // namespace

cs_conv_algo_cache *cs_conv_algo_cache_create() { return new (std::nothrow) cs_conv_algo_cache; }
void cs_conv_algo_cache_release(cs_conv_algo_cache *c) { delete c; }

const cs_cuda_op cs_cuda_conv2d = {conv_prepare, conv_forward, conv_release, conv_describe};
const cs_cuda_op cs_cuda_conv_transpose2d = {conv_prepare, conv_forward, conv_release,
                                              conv_describe};

/* ------------------------------------------------------------ training
 * Convolutions in a training plan: no folding, no fused activation (the
 * training plan fuses nothing), parameters uploaded every forward (the
 * optimizer changes them on the host), and the three cuDNN passes. The
 * convolution cuDNN sees maps cx -> cy with filters w: for conv2d cx is the
 * op's input; for a transposed convolution cx is the op's output (the op's
 * forward is cuDNN's backward-data). So, with the op's x, y, dy:
 *   conv2d:      y = Fwd(x),    dx += BwdData(dy), dW = BwdFilter(x, dy)
 *   transposed:  y = BwdData(x), dx += Fwd(dy),    dW = BwdFilter(dy, x)
 * Algorithms: cuDNN's heuristic order, deterministic ones first (so that a
 * run repeats bit for bit), the first that runs within the workspace cap.
 * Asymmetric padding (Keras 'same'), which cuDNN cannot express, pads the
 * input into a per-step buffer as inference does; the backward-data result
 * then lands in a padded gradient buffer whose interior is added to dx. */

namespace {

struct conv_train_state {
    cudnnTensorDescriptor_t x_desc = nullptr, y_desc = nullptr;
    cudnnFilterDescriptor_t w_desc = nullptr;
    cudnnConvolutionDescriptor_t conv_desc = nullptr;
    cudnnTensorDescriptor_t cx = nullptr, cy = nullptr; /* aliases of x_desc / y_desc */
    float *w_plain = nullptr; /* device f32, PyTorch layout, uploaded every forward */
    void *w = nullptr;        /* device KRSC, storage type */
    void *dw = nullptr;       /* device KRSC gradient, storage type */
    float *bias = nullptr;    /* device f32 (NULL without bias) */
    double *bias_sums = nullptr;
    void *padded = nullptr, *dpadded = nullptr; /* asymmetric padding: input and its gradient */
    int pad_top = 0, pad_left = 0, padded_h = 0, padded_w = 0;
    const float *w_host = nullptr, *b_host = nullptr;
    int d0 = 0, d1 = 0, kh = 0, kw = 0;
    size_t w_count = 0;
    int transposed = 0;
    cudnnMathType_t math = CUDNN_DEFAULT_MATH;
    cudnnConvolutionFwdAlgo_t fwd{};
    cudnnConvolutionBwdDataAlgo_t bwd_data{};
    cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
    size_t ws_fwd = 0, ws_bwd_data = 0, ws_bwd_filter = 0;
};

void conv_train_release(void *p) {
    conv_train_state *s = (conv_train_state *)p;
    if (!s) return;
    if (s->x_desc) cudnnDestroyTensorDescriptor(s->x_desc);
    if (s->y_desc) cudnnDestroyTensorDescriptor(s->y_desc);
    if (s->w_desc) cudnnDestroyFilterDescriptor(s->w_desc);
    if (s->conv_desc) cudnnDestroyConvolutionDescriptor(s->conv_desc);
    cudaFree(s->w_plain);
    cudaFree(s->w);
    cudaFree(s->dw);
    cudaFree(s->bias);
    cudaFree(s->bias_sums);
    cudaFree(s->padded);
    cudaFree(s->dpadded);
    delete s;
}

/* [d0][d1][kh][kw] f32 -> [d0][kh][kw][d1] storage type, and the gradient
 * back (accumulated into f32): to_krsc's index map on the device. */
template <class T>
__global__ void to_krsc_kernel(const float *__restrict__ w, T *__restrict__ out, int d1, int kh,
                               int kw, size_t count) {
    CS_GRID_LOOP(e, count) {
        const int t = (int)(e % kw), r = (int)(e / kw % kh), b = (int)(e / kw / kh % d1);
        const size_t a = e / kw / kh / d1;
        out[((a * kh + r) * kw + t) * d1 + b] = cs_store<T>(w[e]);
    }
}

template <class T>
__global__ void from_krsc_add_kernel(const T *__restrict__ g, float *__restrict__ out, int d1,
                                     int kh, int kw, size_t count) {
    CS_GRID_LOOP(e, count) {
        const int t = (int)(e % kw), r = (int)(e / kw % kh), b = (int)(e / kw / kh % d1);
        const size_t a = e / kw / kh / d1;
        out[e] += cs_load(g[((a * kh + r) * kw + t) * d1 + b]);
    }
}

/* Candidates of one pass in the order tried: cuDNN's heuristic order,
 * deterministic algorithms first, within the workspace cap. */
template <class Perf> std::vector<Perf> ordered(const Perf *perf, int n, size_t cap) {
    std::vector<Perf> out;
    for (int det = 1; det >= 0; --det)
        for (int i = 0; i < n; ++i)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= cap &&
                (perf[i].determinism == CUDNN_DETERMINISTIC) == (det == 1))
                out.push_back(perf[i]);
    return out;
}

/* The first candidate that runs (once, on scratch buffers): an algorithm
 * cuDNN lists but cannot run is skipped at plan time, as in inference.
 * run(algo, workspace bytes) launches the pass; size(algo, &bytes). */
template <class Perf, class Size, class Run>
cuseg_status first_that_runs(const std::vector<Perf> &list, cs_cuda *cuda, const char *pass,
                             Size size, Run run, decltype(Perf::algo) *algo, size_t *ws) {
    for (const Perf &c : list) {
        size_t bytes = 0;
        if (size(c.algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;
        if (cs_cuda_reserve_workspace(cuda, bytes) != CUSEG_OK) continue;
        const int ok = run(c.algo, bytes) == CUDNN_STATUS_SUCCESS &&
                       cudaStreamSynchronize(cuda->stream) == cudaSuccess;
        cudaGetLastError();
        if (ok) {
            *algo = c.algo;
            *ws = bytes;
            return CUSEG_OK;
        }
    }
    return cs_error(CUSEG_ERR_UNSUPPORTED,
                    "cuDNN offers no working %s algorithm for this convolution (%zu candidates)",
                    pass, list.size());
}

cuseg_status choose_train_algos(conv_train_state *s, cs_cuda *cuda) {
    const size_t cap = workspace_cap();
    const int max_algos = 16;
    int n = 0;
    cudnnHandle_t h = cuda->cudnn;
    /* Scratch tensors of the shapes cuDNN sees (contents irrelevant). */
    size_t x_bytes = 0, y_bytes = 0;
    CS_CUDNN_CHECK(cudnnGetTensorSizeInBytes(s->cx, &x_bytes));
    CS_CUDNN_CHECK(cudnnGetTensorSizeInBytes(s->cy, &y_bytes));
    void *x = nullptr, *y = nullptr;
    cuseg_status st = cs_cuda_status(cudaMalloc(&x, x_bytes), "convolution scratch");
    if (st == CUSEG_OK) st = cs_cuda_status(cudaMalloc(&y, y_bytes), "convolution scratch");
    if (st == CUSEG_OK) st = cs_cuda_status(cudaMemsetAsync(x, 0, x_bytes, cuda->stream), "convolution scratch");
    if (st == CUSEG_OK) st = cs_cuda_status(cudaMemsetAsync(y, 0, y_bytes, cuda->stream), "convolution scratch");
    const float one = 1.0f, zero = 0.0f;
    if (st == CUSEG_OK) {
        cudnnConvolutionFwdAlgoPerf_t perf[max_algos];
        st = cs_cudnn_status(cudnnGetConvolutionForwardAlgorithm_v7(h, s->cx, s->w_desc, s->conv_desc,
                                                                    s->cy, max_algos, &n, perf),
                             "cudnnGetConvolutionForwardAlgorithm_v7");
        if (st == CUSEG_OK)
            st = first_that_runs(
                ordered(perf, n, cap), cuda, "forward",
                [&](cudnnConvolutionFwdAlgo_t a, size_t *b) {
                    return cudnnGetConvolutionForwardWorkspaceSize(h, s->cx, s->w_desc,
                                                                   s->conv_desc, s->cy, a, b);
                },
                [&](cudnnConvolutionFwdAlgo_t a, size_t b) {
                    return cudnnConvolutionForward(h, &one, s->cx, x, s->w_desc, s->w, s->conv_desc,
                                                   a, cuda->workspace, b, &zero, s->cy, y);
                },
                &s->fwd, &s->ws_fwd);
    }
    if (st == CUSEG_OK) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[max_algos];
        st = cs_cudnn_status(cudnnGetConvolutionBackwardDataAlgorithm_v7(
                                 h, s->w_desc, s->cy, s->conv_desc, s->cx, max_algos, &n, perf),
                             "cudnnGetConvolutionBackwardDataAlgorithm_v7");
        if (st == CUSEG_OK)
            st = first_that_runs(
                ordered(perf, n, cap), cuda, "backward-data",
                [&](cudnnConvolutionBwdDataAlgo_t a, size_t *b) {
                    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, s->w_desc, s->cy,
                                                                        s->conv_desc, s->cx, a, b);
                },
                [&](cudnnConvolutionBwdDataAlgo_t a, size_t b) {
                    /* beta = 1 as the backward runs it (accumulating) */
                    return cudnnConvolutionBackwardData(h, &one, s->w_desc, s->w, s->cy, y,
                                                        s->conv_desc, a, cuda->workspace, b, &one,
                                                        s->cx, x);
                },
                &s->bwd_data, &s->ws_bwd_data);
    }
    if (st == CUSEG_OK) {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[max_algos];
        st = cs_cudnn_status(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                                 h, s->cx, s->cy, s->conv_desc, s->w_desc, max_algos, &n, perf),
                             "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
        if (st == CUSEG_OK)
            st = first_that_runs(
                ordered(perf, n, cap), cuda, "backward-filter",
                [&](cudnnConvolutionBwdFilterAlgo_t a, size_t *b) {
                    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, s->cx, s->cy,
                                                                          s->conv_desc, s->w_desc,
                                                                          a, b);
                },
                [&](cudnnConvolutionBwdFilterAlgo_t a, size_t b) {
                    return cudnnConvolutionBackwardFilter(h, &one, s->cx, x, s->cy, y, s->conv_desc,
                                                          a, cuda->workspace, b, &zero, s->w_desc,
                                                          s->dw);
                },
                &s->bwd_filter, &s->ws_bwd_filter);
    }
    cudaFree(x);
    cudaFree(y);
    cudaGetLastError();
    return st;
}

cuseg_status conv_train_prepare(cs_step *st, const cuseg_graph *g, cs_cuda *cuda) {
    conv_train_state *s = new (std::nothrow) conv_train_state;
    if (!s) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "conv state");
    st->state = s; /* released by the caller, also on failure */
    const cuseg_conv2d_params &p = st->node->p.conv;
    const cs_shape &is = st->in_shape[0], &os = st->out_shape[0];
    s->transposed = st->node->op == CS_OP_CONV_TRANSPOSE2D;
    const int asymmetric = p.pad_top != p.pad_bottom || p.pad_left != p.pad_right;
    if (asymmetric && s->transposed)
        return cs_error(CUSEG_ERR_UNSUPPORTED,
                        "asymmetric padding of a transposed convolution has no CUDA path");
    const size_t esize = cs_cuda_storage_bytes(cuda->precision);
    int ph = p.pad_top, pw = p.pad_left, xh = is.h, xw = is.w;
    if (asymmetric) {
        s->pad_top = p.pad_top;
        s->pad_left = p.pad_left;
        s->padded_h = xh = is.h + p.pad_top + p.pad_bottom;
        s->padded_w = xw = is.w + p.pad_left + p.pad_right;
        ph = pw = 0;
        const size_t bytes = (size_t)is.n * xh * xw * is.c * esize;
        CS_CUDA_CHECK(cudaMalloc(&s->padded, bytes));
        CS_CUDA_CHECK(cudaMalloc(&s->dpadded, bytes));
    }
    const cudnnDataType_t dt = data_type(cuda->storage);
    const int G = p.groups > 0 ? p.groups : 1;
    const int sh = p.stride_h > 0 ? p.stride_h : 1, sw = p.stride_w > 0 ? p.stride_w : 1;
    const int dh = p.dilation_h > 0 ? p.dilation_h : 1, dw = p.dilation_w > 0 ? p.dilation_w : 1;
    CS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&s->x_desc));
    CS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&s->y_desc));
    CS_CUDNN_CHECK(cudnnCreateFilterDescriptor(&s->w_desc));
    CS_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&s->conv_desc));
    CS_CUDNN_CHECK(cudnnSetTensor4dDescriptor(s->x_desc, CUDNN_TENSOR_NHWC, dt, is.n, is.c, xh, xw));
    CS_CUDNN_CHECK(cudnnSetTensor4dDescriptor(s->y_desc, CUDNN_TENSOR_NHWC, dt, os.n, os.c, os.h, os.w));
    s->cx = s->transposed ? s->y_desc : s->x_desc;
    s->cy = s->transposed ? s->x_desc : s->y_desc;
    const cs_shape &k_side = s->transposed ? is : os, &c_side = s->transposed ? os : is;
    CS_CUDNN_CHECK(cudnnSetFilter4dDescriptor(s->w_desc, dt, CUDNN_TENSOR_NHWC, k_side.c,
                                              c_side.c / G, p.kernel_h, p.kernel_w));
    CS_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(s->conv_desc, ph, pw, sh, sw, dh, dw,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CS_CUDNN_CHECK(cudnnSetConvolutionGroupCount(s->conv_desc, G));
    /* fp32: FMA only (no TF32), so that gradients match the CPU's to fp32 rounding. */
    s->math = math_for(cuda);
    CS_CUDNN_CHECK(cudnnSetConvolutionMathType(s->conv_desc, s->math));
    int n, c, h, w;
    CS_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(s->conv_desc, s->cx, s->w_desc, &n, &c, &h, &w));
    const cs_shape &expect = s->transposed ? is : os;
    if (n != expect.n || c != expect.c || h != expect.h || w != expect.w)
        return cs_error(CUSEG_ERR_INTERNAL,
                        "cuDNN computes a %dx%dx%dx%d result where %dx%dx%dx%d was planned", n, h,
                        w, c, expect.n, expect.h, expect.w, expect.c);
    const cs_param *wp = cs_node_param(g, st->node, 0);
    s->w_host = wp->data;
    s->d0 = wp->dims[0], s->d1 = wp->dims[1], s->kh = p.kernel_h, s->kw = p.kernel_w;
    s->w_count = wp->count;
    CS_CUDA_CHECK(cudaMalloc((void **)&s->w_plain, s->w_count * sizeof(float)));
    CS_CUDA_CHECK(cudaMalloc(&s->w, s->w_count * esize));
    CS_CUDA_CHECK(cudaMalloc(&s->dw, s->w_count * esize));
    CS_CUDA_CHECK(cudaMemsetAsync(s->w, 0, s->w_count * esize, cuda->stream)); /* read by the trials */
    if (p.has_bias) {
        s->b_host = cs_node_param(g, st->node, 1)->data;
        CS_CUDA_CHECK(cudaMalloc((void **)&s->bias, (size_t)os.c * sizeof(float)));
        CS_CUDA_CHECK(cudaMalloc((void **)&s->bias_sums, (size_t)os.c * sizeof(double)));
    }
    return choose_train_algos(s, cuda);
}

cuseg_status conv_train_forward(const cs_step *st, const cs_io *io, cs_cuda *cuda,
                                cs_cuda_train_ctx *ctx) {
    (void)ctx;
    conv_train_state *s = (conv_train_state *)st->state;
    cudaStream_t stream = cuda->stream;
    const int C = st->out_shape[0].c;
    /* v1: every parameter goes up every step (pageable copies, which return
     * once the host data is staged). */
    CS_CUDA_CHECK(cudaMemcpyAsync(s->w_plain, s->w_host, s->w_count * sizeof(float),
                                  cudaMemcpyHostToDevice, stream));
    if (s->bias)
        CS_CUDA_CHECK(cudaMemcpyAsync(s->bias, s->b_host, (size_t)C * sizeof(float),
                                      cudaMemcpyHostToDevice, stream));
    CS_CHECK(cs_with_storage(cuda->storage, [&](auto t) {
        using T = decltype(t);
        to_krsc_kernel<T><<<cs_grid(s->w_count), kCsThreads, 0, stream>>>(s->w_plain, (T *)s->w,
                                                                         s->d1, s->kh, s->kw,
                                                                         s->w_count);
        CS_CUDA_CHECK_LAUNCH("weight layout kernel");
        return CUSEG_OK;
    }));
    const float one = 1.0f, zero = 0.0f;
    const void *x = io->in[0];
    if (s->padded) {
        const cs_shape &is = st->in_shape[0];
        CS_CHECK(cs_cuda_pad_copy(cuda->storage, x, s->padded, is.n, is.h, is.w, s->padded_h,
                                  s->padded_w, is.c, s->pad_top, s->pad_left, stream));
        x = s->padded; /* kept for the backward's weight gradient */
    }
    if (s->transposed)
        CS_CUDNN_CHECK(cudnnConvolutionBackwardData(cuda->cudnn, &one, s->w_desc, s->w, s->cy,
                                                    x, s->conv_desc, s->bwd_data,
                                                    cuda->workspace, s->ws_bwd_data, &zero, s->cx,
                                                    io->out[0]));
    else
        CS_CUDNN_CHECK(cudnnConvolutionForward(cuda->cudnn, &one, s->cx, x, s->w_desc, s->w,
                                               s->conv_desc, s->fwd, cuda->workspace, s->ws_fwd,
                                               &zero, s->cy, io->out[0]));
    if (s->bias)
        CS_CHECK(cs_cuda_channel_affine(cuda->storage, io->out[0], io->out[0], NULL, s->bias,
                                        cs_shape_count(&st->out_shape[0]), C, CS_ACT_NONE, stream));
    return CUSEG_OK;
}

cuseg_status conv_train_backward(const cs_step *st, const cs_cuda_grad_io *io, cs_cuda *cuda) {
    conv_train_state *s = (conv_train_state *)st->state;
    const void *dy = io->dout[0], *x = s->padded ? s->padded : io->in[0];
    if (!dy) return CUSEG_OK;
    cudaStream_t stream = cuda->stream;
    const float one = 1.0f, zero = 0.0f;
    if (io->din[0] && s->dpadded) { /* into the padded gradient, then its interior added */
        const cs_shape &is = st->in_shape[0];
        CS_CUDNN_CHECK(cudnnConvolutionBackwardData(cuda->cudnn, &one, s->w_desc, s->w, s->cy, dy,
                                                    s->conv_desc, s->bwd_data, cuda->workspace,
                                                    s->ws_bwd_data, &zero, s->cx, s->dpadded));
        CS_CHECK(cs_cuda_pad_copy_backward(cuda->storage, s->dpadded, io->din[0], is.n, is.h, is.w,
                                           s->padded_h, s->padded_w, is.c, s->pad_top,
                                           s->pad_left, stream));
    } else if (io->din[0]) { /* beta = 1: accumulate into the input's gradient */
        if (s->transposed)
            CS_CUDNN_CHECK(cudnnConvolutionForward(cuda->cudnn, &one, s->cx, dy, s->w_desc, s->w,
                                                   s->conv_desc, s->fwd, cuda->workspace,
                                                   s->ws_fwd, &one, s->cy, io->din[0]));
        else
            CS_CUDNN_CHECK(cudnnConvolutionBackwardData(cuda->cudnn, &one, s->w_desc, s->w, s->cy,
                                                        dy, s->conv_desc, s->bwd_data,
                                                        cuda->workspace, s->ws_bwd_data, &one,
                                                        s->cx, io->din[0]));
    }
    float *dweight = io->dparam ? io->dparam[0] : NULL;
    if (dweight) {
        CS_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
            cuda->cudnn, &one, s->cx, s->transposed ? dy : x, s->cy, s->transposed ? x : dy,
            s->conv_desc, s->bwd_filter, cuda->workspace, s->ws_bwd_filter, &zero, s->w_desc, s->dw));
        CS_CHECK(cs_with_storage(cuda->storage, [&](auto t) {
            using T = decltype(t);
            from_krsc_add_kernel<T><<<cs_grid(s->w_count), kCsThreads, 0, stream>>>(
                (const T *)s->dw, dweight, s->d1, s->kh, s->kw, s->w_count);
            CS_CUDA_CHECK_LAUNCH("weight gradient layout kernel");
            return CUSEG_OK;
        }));
    }
    float *dbias = s->bias && io->dparam ? io->dparam[1] : NULL;
    if (dbias) {
        const cs_shape &os = st->out_shape[0];
        CS_CUDA_CHECK(cudaMemsetAsync(s->bias_sums, 0, (size_t)os.c * sizeof(double), stream));
        CS_CHECK(cs_cuda_channel_sums(cuda->storage, dy, NULL, NULL, cs_shape_count(&os) / os.c,
                                      os.c, s->bias_sums, stream));
        CS_CHECK(cs_cuda_add_doubles(s->bias_sums, dbias, (size_t)os.c, stream));
    }
    return CUSEG_OK;
}

} // namespace

const cs_cuda_train_op cs_cuda_train_conv = {conv_train_prepare, conv_train_forward,
                                             conv_train_backward, NULL, conv_train_release};
