/*
 * cuseg.h: the public C API of cuseg, a semantic segmentation engine.
 *
 * This header is the documentation. Conventions that hold for every call:
 *
 *  - Every function that can fail returns a cuseg_status. CUSEG_OK is 0. On
 *    failure, cuseg_last_error() returns a message that names the problem
 *    (node, tensor, shape, file); it is thread-local and stays valid until the
 *    next failing call on the same thread. The library never exits or aborts
 *    on user input.
 *  - Out-parameters are written only on success (handles are set to NULL on
 *    failure where the call creates one).
 *  - Handles are opaque. Whoever receives a handle from a *_create / *_load call
 *    owns it and releases it with the matching *_release, which accepts NULL.
 *  - Thread safety is stated per type:
 *      cuseg_context  immutable after creation; share it freely.
 *      cuseg_graph    a builder; one thread at a time.
 *      cuseg_model    immutable after creation; share it freely, any number of
 *                     sessions on any threads may use one model at once.
 *      cuseg_session  mutable (buffers, plans, streams); one thread at a time.
 *      cuseg_tensor   plain host memory; synchronise access yourself.
 *      cuseg_crf      mutable (buffers, stream); one thread at a time.
 *  - Activations are NHWC (batch, height, width, channels), float32 unless
 *    stated. Weights ("parameters") use PyTorch's layouts and state-dict names,
 *    e.g. a conv weight is [out, in/groups, kh, kw].
 *  - There is no global mutable state; the only thread-local is the message.
 *
 * Thread-safety contract, for embedding in multi-threaded services:
 *  - Load a model once and share it: it is never written after creation, so
 *    any number of sessions on any threads may run it at once.
 *  - Give each thread (and each CUDA stream) its own session; a session
 *    holds the buffers, the plan and any backend form of the weights (packed
 *    for oneDNN, uploaded to the GPU) of its runs.
 *  - A context is immutable too; one context can serve every session.
 *    Per-context settings: device, CPU threads per session, precision, an
 *    optional caller-owned cudaStream_t (cuda_stream; sessions then enqueue
 *    on it and the caller keeps it alive) and an optional budget for each
 *    session's activation memory (memory_budget).
 *  - The library keeps no global mutable state: two models, contexts or
 *    sessions never interact except through a stream the caller shares.
 *    The CPU thread count is applied per call (OpenMP's setting is restored
 *    on return).
 *
 * Compiles as C11 and as C++.
 */
#ifndef CUSEG_H
#define CUSEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUSEG_VERSION_MAJOR 0
#define CUSEG_VERSION_MINOR 1
#define CUSEG_VERSION_PATCH 0
#define CUSEG_VERSION_STRING "0.1.0"

/* The library's version as "MAJOR.MINOR.PATCH"; static storage. */
const char *cuseg_version(void);

/* ------------------------------------------------------------------------ */
/* Status                                                                   */

typedef enum cuseg_status {
    CUSEG_OK = 0,
    CUSEG_ERR_INVALID_ARGUMENT = 1, /* NULL handle, bad parameter value      */
    CUSEG_ERR_SHAPE = 2,            /* shapes that do not fit together       */
    CUSEG_ERR_OUT_OF_MEMORY = 3,    /* host or device allocation failed      */
    CUSEG_ERR_IO = 4,               /* file missing, unreadable, unwritable  */
    CUSEG_ERR_FORMAT = 5,           /* corrupt or unsupported file contents  */
    CUSEG_ERR_NOT_FOUND = 6,        /* unknown name (parameter, node, ...)   */
    CUSEG_ERR_UNSUPPORTED = 7,      /* valid request this build cannot do    */
    CUSEG_ERR_DEVICE = 8,           /* CUDA / cuDNN / cuBLAS failure         */
    CUSEG_ERR_INTERNAL = 9          /* a bug in cuseg; please report it      */
} cuseg_status;

/* Message of the last failing call on this thread ("" if none). */
const char *cuseg_last_error(void);
/* Short name of a status code, e.g. "invalid argument"; static storage. */
const char *cuseg_status_string(cuseg_status status);

/* ------------------------------------------------------------------------ */
/* Tensors: host memory, NHWC                                               */

typedef enum cuseg_dtype {
    CUSEG_F32 = 0,
    CUSEG_I32 = 1, /* max-pool indices, argmax class maps */
    CUSEG_U8 = 2
} cuseg_dtype;

typedef struct cuseg_tensor cuseg_tensor;

/* Allocates a zero-filled n*h*w*c tensor. Caller releases it. */
cuseg_status cuseg_tensor_create(cuseg_dtype dtype, int n, int h, int w, int c,
                                 cuseg_tensor **out);
void cuseg_tensor_release(cuseg_tensor *t);
/* Pointer to the n*h*w*c elements (NHWC, densely packed); owned by t. */
void *cuseg_tensor_data(const cuseg_tensor *t);
/* Writes {n, h, w, c} into dims. */
void cuseg_tensor_shape(const cuseg_tensor *t, int dims[4]);
cuseg_dtype cuseg_tensor_dtype(const cuseg_tensor *t);
size_t cuseg_tensor_bytes(const cuseg_tensor *t);

/* ------------------------------------------------------------------------ */
/* Context: where and how to compute                                        */

typedef struct cuseg_context cuseg_context;

/* Arithmetic of CUDA sessions. CPU sessions always compute in float32 and
 * ignore this. Reduced precisions store activations and weights in 16 bits
 * and accumulate in float32 (tensor cores, NHWC); inputs and outputs of a
 * session stay float32 (int32 for class maps) whatever the precision. */
typedef enum cuseg_precision {
    CUSEG_PRECISION_FP32 = 0, /* IEEE float32 throughout (no TF32)          */
    CUSEG_PRECISION_TF32 = 1, /* float32 storage, TF32 tensor-core convs    */
    CUSEG_PRECISION_BF16 = 2, /* bfloat16 storage, float32 accumulation     */
    CUSEG_PRECISION_FP16 = 3  /* float16 storage, float32 accumulation      */
} cuseg_precision;

/* Zero-initialise and set what you need: every zero field means the default. */
typedef struct cuseg_context_options {
    /* "auto" (or NULL): CUDA when a device is present and the backend
     * implements every op a model needs, else the CPU. "cpu". "cuda:N". */
    const char *device;
    /* CPU worker threads; 0 means one per available core. */
    int cpu_threads;
    cuseg_precision precision;
    /* A cudaStream_t on which every session of this context enqueues its
     * work, or NULL: each session creates its own stream. A shared stream
     * serialises the sessions' GPU work; cuseg_session_run still returns
     * only once its outputs are on the host. The caller keeps it alive for
     * as long as sessions of this context exist. */
    void *cuda_stream;
    /* Non-zero: time cuDNN's convolution algorithms once per shape when a
     * session plans (slower planning, sometimes faster runs); zero: cuDNN's
     * heuristics choose. */
    int cudnn_search;
    /* Bytes a session's activation arena may take (host memory on the CPU,
     * device memory on CUDA), or 0: no limit. Checked when a session plans
     * (explicitly or on the first run of a new shape): a plan whose arena
     * exceeds it fails with CUSEG_ERR_OUT_OF_MEMORY naming both sizes, and
     * nothing is allocated. Weights and backend workspaces (cuDNN, oneDNN
     * scratch) are not counted; cuseg_session_memory reports the arena. */
    size_t memory_budget;
} cuseg_context_options;

/* options may be NULL (auto device, all cores). Caller releases ctx. */
cuseg_status cuseg_context_create(const cuseg_context_options *options,
                                  cuseg_context **out);
void cuseg_context_release(cuseg_context *ctx);
/* The resolved device, e.g. "cpu" or "cuda:0"; owned by ctx. */
const char *cuseg_context_device(const cuseg_context *ctx);
/* Number of CUDA devices visible to this process (0 when built without CUDA
 * or when no driver/device is present). Never fails. */
int cuseg_cuda_device_count(void);

/* ------------------------------------------------------------------------ */
/* Graph building                                                           */
/*
 * A graph is a list of nodes; each node reads values produced earlier and
 * produces new ones, so insertion order is a topological order. Values are
 * identified by non-negative ints returned from the builder calls. Channel
 * counts are fixed when the graph is built; batch size and spatial size are
 * chosen per run. Node names must be unique; a node's parameters are named
 * "<node>.<param>" (e.g. "enc1.0.weight") so that PyTorch state dicts map
 * onto them. Every builder checks its parameters and the channel counts at
 * once and reports the node by name when something does not fit; spatial
 * shapes are checked when a session plans a run.
 */

typedef struct cuseg_graph cuseg_graph;

cuseg_status cuseg_graph_create(cuseg_graph **out);
void cuseg_graph_release(cuseg_graph *g);

/* Declares a float32 input with `channels` channels. */
cuseg_status cuseg_graph_input(cuseg_graph *g, const char *name, int channels,
                               int *value);
/* Marks a value as a graph output (outputs are numbered in call order). */
cuseg_status cuseg_graph_output(cuseg_graph *g, int value);

/* Convolution and transposed convolution. A zero stride, dilation or groups
 * means 1. Padding may be asymmetric (TF "SAME"). For a transposed
 * convolution, padding and output_padding follow torch.nn.ConvTranspose2d:
 * out = (in-1)*stride - pad_begin - pad_end + dilation*(k-1) + output_padding + 1.
 * Parameters: "weight" [out, in/groups, kh, kw] for conv2d,
 * [in, out/groups, kh, kw] for conv_transpose2d; "bias" [out] if has_bias. */
typedef struct cuseg_conv2d_params {
    int out_channels;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_top, pad_bottom, pad_left, pad_right;
    int dilation_h, dilation_w;
    int groups;
    int has_bias;
    int output_padding_h, output_padding_w; /* transposed only */
} cuseg_conv2d_params;

cuseg_status cuseg_graph_conv2d(cuseg_graph *g, const char *name, int x,
                                const cuseg_conv2d_params *p, int *y);
cuseg_status cuseg_graph_conv_transpose2d(cuseg_graph *g, const char *name, int x,
                                          const cuseg_conv2d_params *p, int *y);

/* Inference batch norm: y = (x - running_mean) / sqrt(running_var + eps) *
 * weight + bias. Parameters "weight", "bias", "running_mean", "running_var",
 * each [channels], initialised to 1, 0, 0, 1. A session folds it into a
 * preceding convolution when nothing else reads the convolution's output. */
cuseg_status cuseg_graph_batch_norm(cuseg_graph *g, const char *name, int x,
                                    float eps, int *y);

cuseg_status cuseg_graph_relu(cuseg_graph *g, const char *name, int x, int *y);
cuseg_status cuseg_graph_relu6(cuseg_graph *g, const char *name, int x, int *y);
cuseg_status cuseg_graph_sigmoid(cuseg_graph *g, const char *name, int x, int *y);
/* Identity at inference (the probability matters only in training). */
cuseg_status cuseg_graph_dropout(cuseg_graph *g, const char *name, int x,
                                 float p, int *y);
/* y = a + b (same shape). */
cuseg_status cuseg_graph_add(cuseg_graph *g, const char *name, int a, int b, int *y);
/* y = x * scale + shift. */
cuseg_status cuseg_graph_scale(cuseg_graph *g, const char *name, int x,
                               float scale, float shift, int *y);

/* Pooling. Zero stride means stride = kernel (PyTorch's default). With
 * ceil_mode the output size follows PyTorch (a last window that would start
 * in the right padding is dropped). max_pool2d with `indices` non-NULL also
 * produces an int32 value holding, per output element, the flat index
 * h*W + w of the maximum in its input channel plane (PyTorch's convention). */
typedef struct cuseg_pool2d_params {
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_top, pad_bottom, pad_left, pad_right;
    int ceil_mode;
    int count_include_pad; /* average pooling only */
} cuseg_pool2d_params;

cuseg_status cuseg_graph_max_pool2d(cuseg_graph *g, const char *name, int x,
                                    const cuseg_pool2d_params *p, int *y,
                                    int *indices);
cuseg_status cuseg_graph_avg_pool2d(cuseg_graph *g, const char *name, int x,
                                    const cuseg_pool2d_params *p, int *y);
/* Mean over H and W: output is N x 1 x 1 x C. */
cuseg_status cuseg_graph_global_avg_pool(cuseg_graph *g, const char *name, int x,
                                         int *y);
/* Scatters x into zeros at `indices` (from max_pool2d). The output takes the
 * spatial size of `like` (the pooled layer's input, as SegNet does). */
cuseg_status cuseg_graph_max_unpool2d(cuseg_graph *g, const char *name, int x,
                                      int indices, int like, int *y);

/* Resizing, exactly as torch.nn.functional.interpolate. The output size is
 * the H x W of value `like` when like >= 0 (pass -1 otherwise), else out_h x
 * out_w when both are > 0, else floor(in * scale) with the coordinate ratio
 * 1/scale, as PyTorch does when given scale_factor. */
typedef struct cuseg_resize_params {
    int out_h, out_w;
    double scale_h, scale_w;
    int align_corners; /* bilinear only */
} cuseg_resize_params;

cuseg_status cuseg_graph_resize_bilinear(cuseg_graph *g, const char *name, int x, int like,
                                         const cuseg_resize_params *p, int *y);
cuseg_status cuseg_graph_resize_nearest(cuseg_graph *g, const char *name, int x, int like,
                                        const cuseg_resize_params *p, int *y);

/* Channel concatenation of n values with equal N, H, W, in the given order. */
cuseg_status cuseg_graph_concat(cuseg_graph *g, const char *name, const int *xs,
                                int n, int *y);
/* Crops a window starting at (offset_h, offset_w) whose size is that of
 * `like` (Caffe's Crop layer) or out_h x out_w when like < 0. */
cuseg_status cuseg_graph_crop(cuseg_graph *g, const char *name, int x, int like,
                              int out_h, int out_w, int offset_h, int offset_w,
                              int *y);
/* Centre crop of x to the H x W of `like`: (H_x - H_like) / 2 rows off the
 * top and as many off the bottom (likewise for W); the differences must be
 * even and >= 0. The original U-Net's "copy and crop" of its skips. */
cuseg_status cuseg_graph_crop_center(cuseg_graph *g, const char *name, int x, int like, int *y);
/* Zero padding, possibly asymmetric; all amounts >= 0. */
cuseg_status cuseg_graph_pad(cuseg_graph *g, const char *name, int x, int top,
                             int bottom, int left, int right, int *y);
/* Zero padding up to the H x W of `like` (at least x's size), the floor half
 * of each difference at the top/left: milesial U-Net's alignment of an
 * upsampled feature with its skip connection. */
cuseg_status cuseg_graph_pad_to(cuseg_graph *g, const char *name, int x, int like, int *y);

/* Softmax over channels (float32), and argmax over channels (int32, C = 1;
 * the first maximum wins, as torch.argmax). */
cuseg_status cuseg_graph_softmax(cuseg_graph *g, const char *name, int x, int *y);
cuseg_status cuseg_graph_argmax(cuseg_graph *g, const char *name, int x, int *y);

/* Channels of a value (fixed when the graph is built). */
cuseg_status cuseg_graph_value_channels(const cuseg_graph *g, int value,
                                        int *channels);

/* Parameters: enumerate, inspect and set (data is copied, float32). */
int cuseg_graph_param_count(const cuseg_graph *g);
/* name: owned by g. dims: up to 4, PyTorch order; *ndim receives the rank. */
cuseg_status cuseg_graph_param_info(const cuseg_graph *g, int index,
                                    const char **name, int dims[4], int *ndim);
cuseg_status cuseg_graph_set_param(cuseg_graph *g, const char *name,
                                   const float *data, size_t count);

/* Metadata: string key/value pairs stored with the graph and saved in model
 * files (the architecture, its options, preprocessing, class names, palette;
 * see cuseg_model_load). Both strings are copied; a key set twice is
 * replaced. cuseg_graph_meta returns NULL for an absent key; the string is
 * owned by g. */
cuseg_status cuseg_graph_set_meta(cuseg_graph *g, const char *key, const char *value);
const char *cuseg_graph_meta(const cuseg_graph *g, const char *key);

/* Size and cost for inputs of the given shapes ({n, h, w, c} per input):
 * learnable parameters (weights, biases, BN gamma/beta; not BN running
 * statistics) and multiply-accumulates of the convolutions (models.md §0.4,
 * torchvision's convention). */
typedef struct cuseg_graph_summary {
    int64_t params;
    int64_t macs;
} cuseg_graph_summary;
cuseg_status cuseg_graph_summarize(const cuseg_graph *g, const int (*shapes)[4], int n_inputs,
                                   cuseg_graph_summary *out);

/* Loads every parameter of g from a safetensors file by name (F32, F16 or
 * BF16), checking shapes. The file must hold exactly g's parameters (plus
 * PyTorch's num_batches_tracked counters, which are ignored); anything
 * missing, extra or of the wrong shape is an error naming the tensor. */
cuseg_status cuseg_graph_load_weights(cuseg_graph *g, const char *path);

/* ------------------------------------------------------------------------ */
/* The model zoo                                                            */
/*
 * Builds the graph of a named architecture ("unet", "fcn8s", "deeplabv3plus",
 * ...; cuseg_arch_name lists them) with options given as "key=value,..."
 * (NULL or "" for the defaults), e.g. "classes=21,backbone=resnet50,os=16".
 * Unknown keys or values are errors. Parameters start at PyTorch's default
 * values for BN and zero elsewhere: load weights before running. The graph
 * carries the metadata "arch" and "options" so that cuseg_model_save can
 * write a complete model.
 */
cuseg_status cuseg_arch_build(const char *arch, const char *options, cuseg_graph **out);
int cuseg_arch_count(void);
/* Name and one-line description of architecture i (static storage). */
const char *cuseg_arch_name(int i);
const char *cuseg_arch_description(int i);

/* ------------------------------------------------------------------------ */
/* Models and sessions                                                      */

typedef struct cuseg_model cuseg_model;
typedef struct cuseg_session cuseg_session;

/* Turns a finished graph into an immutable model. Takes ownership of *graph
 * and sets it to NULL, on success and on failure alike. */
cuseg_status cuseg_model_create(cuseg_graph **graph, cuseg_model **out);
void cuseg_model_release(cuseg_model *m);
/* The model's graph, for inspection (value channels, parameters). */
const cuseg_graph *cuseg_model_graph(const cuseg_model *m);

/* A model file is one safetensors file: the parameters (PyTorch names) and,
 * in __metadata__, "arch" and "options" (rebuilt with cuseg_arch_build) plus
 * any other metadata of the graph (preprocessing, class names, palette).
 * Loading validates the file strictly; errors name the file and tensor. */
cuseg_status cuseg_model_load(const char *path, cuseg_model **out);
/* Writes all parameters as F32 with the graph's metadata, atomically
 * (temporary file, then rename). The graph must have "arch" metadata. */
cuseg_status cuseg_model_save(const cuseg_model *m, const char *path);

/* A session keeps a reference to model and ctx: both must outlive it. */
cuseg_status cuseg_session_create(const cuseg_model *model, const cuseg_context *ctx,
                                  cuseg_session **out);
void cuseg_session_release(cuseg_session *s);

/* Plans buffers for inputs of these shapes ({n, h, w, c} per graph input)
 * without running. Running plans by itself when the shapes change. */
cuseg_status cuseg_session_plan(cuseg_session *s, const int (*shapes)[4], int n_inputs);
/* Runs the model on the graph's inputs, in the order they were declared. */
cuseg_status cuseg_session_run(cuseg_session *s, const cuseg_tensor *const *inputs,
                               int n_inputs);
/* Runs a one-input model on n 8-bit images of h x w pixels with c channels
 * (interleaved, the n images contiguous: n*h*w*c bytes), normalised as the
 * model's metadata says (channel_order, input_scale, mean, std; defaults
 * RGB, 1/255, 0, 1). A CUDA session normalises on the GPU, so only the bytes
 * cross the bus. The result equals normalising on the host and calling
 * cuseg_session_run. c must be the model input's channel count. */
cuseg_status cuseg_session_run_u8(cuseg_session *s, const uint8_t *pixels, int n, int h, int w,
                                  int c);
/* The i-th output of the last run: a view owned by the session, valid until
 * the next run or plan on it. */
cuseg_status cuseg_session_output(const cuseg_session *s, int i,
                                  const cuseg_tensor **out);
/* Where the session runs: "cpu" or "cuda:N" ("auto" contexts resolve per
 * session); owned by the session. */
const char *cuseg_session_device(const cuseg_session *s);
/* Bytes of the activation arena of the current plan (its peak), and the sum
 * of every activation's size, which is what a plan without reuse would need. */
cuseg_status cuseg_session_memory(const cuseg_session *s, size_t *arena_bytes,
                                  size_t *unplanned_bytes);

/* ------------------------------------------------------------------------ */
/* Dense CRF post-processing                                                */
/*
 * DeepLab v1's fully connected CRF (Krähenbühl & Koltun 2011): Potts
 * compatibility, a bilateral appearance kernel (position and colour) and a
 * Gaussian smoothness kernel (position), mean-field inference with
 * permutohedral-lattice filtering, numerically as pydensecrf does it:
 *   U = -log(clip(P, 1e-5, 1)),  Q = softmax(-U),
 *   T times: Q = softmax(-U + w1 K1 Q + w2 K2 Q)  (K normalised).
 * A handle runs where its context says: on the CPU (OpenMP, the context's
 * thread count) or on the context's CUDA device ("auto": CUDA when a device
 * is present and the backend starts, else the CPU). The GPU computes the
 * CPU's arithmetic except CUDA's logf in U, so its marginals differ from the
 * CPU's by that rounding, amplified by the iterations, and labels only at
 * near-ties (docs/crf.md).
 */

typedef enum cuseg_crf_normalization {
    CUSEG_CRF_NORMALIZE_SYMMETRIC = 0, /* D^-1/2 K D^-1/2, D = K 1 (pydensecrf's default) */
    CUSEG_CRF_NORMALIZE_AFTER = 1,     /* D^-1 K (densecrf 2011) */
    CUSEG_CRF_NORMALIZE_BEFORE = 2,    /* K D^-1 */
    CUSEG_CRF_NO_NORMALIZATION = 3     /* K as the lattice computes it */
} cuseg_crf_normalization;

typedef struct cuseg_crf_params {
    float w1;          /* bilateral (appearance) weight, >= 0; 0 drops the kernel */
    float theta_alpha; /* bilateral position std in pixels, > 0 (pydensecrf's sxy) */
    float theta_beta;  /* bilateral colour std in 0..255 units, > 0 (pydensecrf's srgb) */
    float w2;          /* Gaussian (smoothness) weight, >= 0; 0 drops the kernel */
    float theta_gamma; /* Gaussian position std in pixels, > 0 */
    int iterations;    /* mean-field iterations, >= 0 */
    cuseg_crf_normalization normalization;
} cuseg_crf_params;

/* DeepLab-LargeFOV's values: (w1, theta_alpha, theta_beta, w2, theta_gamma,
 * iterations) = (4, 121, 5, 3, 3, 10), symmetric normalisation. */
cuseg_crf_params cuseg_crf_default_params(void);

typedef struct cuseg_crf cuseg_crf;

/* A CRF runner: the parameters and the buffers of its runs (on a CUDA
 * device: device memory grown on demand and kept, and a stream). Mutable:
 * one thread at a time; give each thread its own. It keeps no reference to
 * ctx, but a caller's cuda_stream in ctx must outlive it. Parameters are
 * checked here (the message names the field). Caller releases *out. */
cuseg_status cuseg_crf_create(const cuseg_context *ctx, const cuseg_crf_params *params,
                              cuseg_crf **out);
void cuseg_crf_release(cuseg_crf *crf);
/* Where it runs: "cpu" or "cuda:N"; owned by crf. */
const char *cuseg_crf_device(const cuseg_crf *crf);
/* n images of h x w: rgb is n*h*w*3 bytes (RGB, interleaved, images
 * contiguous), prob n*h*w*labels softmax probabilities (NHWC); out_prob
 * receives the marginals Q in the same layout and may equal prob. Host
 * memory on every device; returns when out_prob is written. labels in
 * [1, 4096]. */
cuseg_status cuseg_crf_run(cuseg_crf *crf, const uint8_t *rgb, const float *prob, int n, int h,
                           int w, int labels, float *out_prob);

#ifdef __cplusplus
}
#endif

#endif /* CUSEG_H */
