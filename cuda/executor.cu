/* The CUDA executor: device, stream and library handles of one session; the
 * device memory of a plan; running the plan's steps on the stream. All
 * device memory is allocated when a session plans (cs_cuda_prepare), none
 * while it runs. */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backend.cuh"

extern "C" {
#include "core/tensor.h"
}

namespace {

const cs_cuda_op *const kRows[CS_OP_COUNT] = {
    /* [CS_OP_INPUT] */ nullptr,
    /* [CS_OP_CONV2D] */ &cs_cuda_conv2d,
    /* [CS_OP_CONV_TRANSPOSE2D] */ &cs_cuda_conv_transpose2d,
    /* [CS_OP_BATCH_NORM] */ &cs_cuda_batch_norm,
    /* [CS_OP_RELU] */ &cs_cuda_relu,
    /* [CS_OP_RELU6] */ &cs_cuda_relu6,
    /* [CS_OP_SIGMOID] */ &cs_cuda_sigmoid,
    /* [CS_OP_DROPOUT] */ &cs_cuda_dropout,
    /* [CS_OP_ADD] */ &cs_cuda_add,
    /* [CS_OP_SCALE] */ &cs_cuda_scale,
    /* [CS_OP_MAX_POOL2D] */ &cs_cuda_max_pool2d,
    /* [CS_OP_AVG_POOL2D] */ &cs_cuda_avg_pool2d,
    /* [CS_OP_GLOBAL_AVG_POOL] */ &cs_cuda_global_avg_pool,
    /* [CS_OP_MAX_UNPOOL2D] */ &cs_cuda_max_unpool2d,
    /* [CS_OP_RESIZE_BILINEAR] */ &cs_cuda_resize_bilinear,
    /* [CS_OP_RESIZE_NEAREST] */ &cs_cuda_resize_nearest,
    /* [CS_OP_CONCAT] */ &cs_cuda_concat,
    /* [CS_OP_CROP] */ &cs_cuda_crop,
    /* [CS_OP_PAD] */ &cs_cuda_pad,
    /* [CS_OP_SOFTMAX] */ &cs_cuda_softmax,
    /* [CS_OP_ARGMAX] */ &cs_cuda_argmax,
};
static_assert(CS_OP_ARGMAX == 20 && CS_OP_COUNT == 21, "keep kRows in cs_op_id order");

const cs_cuda_op *row_of(const cs_step *st) { return kRows[st->node->op]; }

cs_storage storage_of(cuseg_precision p) {
    return p == CUSEG_PRECISION_FP16   ? cs_storage::f16
           : p == CUSEG_PRECISION_BF16 ? cs_storage::bf16
                                       : cs_storage::f32;
}

/* The calling thread's current device is per thread: every entry point sets it. */
cuseg_status use_device(const cs_cuda *cuda) {
    return cs_cuda_status(cudaSetDevice(cuda->device), "cudaSetDevice");
}

template <class T> cuseg_status device_array(T **p, size_t n, const char *what) {
    *p = nullptr;
    return cs_calloc((void **)p, sizeof(T) * (n + 1), what);
}

cuseg_status device_alloc(void **p, size_t bytes, const char *what) {
    *p = nullptr;
    const cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = nullptr;
        cudaGetLastError();
        return cs_error(e == cudaErrorMemoryAllocation ? CUSEG_ERR_OUT_OF_MEMORY : CUSEG_ERR_DEVICE,
                        "cannot allocate %zu bytes of device memory for %s: %s", bytes, what,
                        cudaGetErrorString(e));
    }
    return CUSEG_OK;
}

} // namespace

cuseg_status cs_cuda_take_error_flag(cs_cuda *cuda) {
    int flag = 0;
    CS_CUDA_CHECK(cudaMemcpy(&flag, cuda->error_flag, sizeof flag, cudaMemcpyDeviceToHost));
    if (!flag) return CUSEG_OK;
    CS_CUDA_CHECK(cudaMemset(cuda->error_flag, 0, sizeof(int)));
    return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                    "max_unpool2d (CUDA): an index lies outside the output plane");
}

const cs_cuda_op *cs_cuda_row(int op) { return op > 0 && op < CS_OP_COUNT ? kRows[op] : nullptr; }

cuseg_status cs_cuda_step_error(cuseg_status st, const cs_step *step) {
    char in[CS_SHAPE_STR_SIZE], out[CS_SHAPE_STR_SIZE];
    return cs_error_context(st, "%s '%s' (CUDA, input %s -> output %s)", cs_op(step->node->op)->name,
                            step->node->name,
                            step->n_in ? cs_shape_str(&step->in_shape[0], in, sizeof in) : "-",
                            cs_shape_str(&step->out_shape[0], out, sizeof out));
}

cuseg_status cs_cuda_reserve_workspace(cs_cuda *cuda, size_t bytes) {
    if (bytes <= cuda->workspace_bytes) return CUSEG_OK;
    CS_CUDA_CHECK(cudaStreamSynchronize(cuda->stream)); /* the old one may be in use */
    cudaFree(cuda->workspace);
    cuda->workspace = nullptr;
    cuda->workspace_bytes = 0;
    CS_CHECK(device_alloc(&cuda->workspace, bytes, "the cuDNN workspace"));
    cuda->workspace_bytes = bytes;
    return CUSEG_OK;
}

extern "C" int cs_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* no driver or no GPU (CI): 0 devices, never an error */
        return 0;
    }
    return n;
}

extern "C" int cs_cuda_supports(int op) {
    return op == CS_OP_INPUT || (op > 0 && op < CS_OP_COUNT && kRows[op] != nullptr);
}

extern "C" size_t cs_cuda_storage_bytes(cuseg_precision precision) {
    return storage_of(precision) == cs_storage::f32 ? 4 : 2;
}

extern "C" void cs_cuda_release(cs_cuda *cuda) {
    if (!cuda) return;
    cudaSetDevice(cuda->device);
    if (cuda->stream) cudaStreamSynchronize(cuda->stream);
    if (cuda->cudnn) cudnnDestroy(cuda->cudnn);
    if (cuda->cublas) cublasDestroy(cuda->cublas);
    if (cuda->own_stream && cuda->stream) cudaStreamDestroy(cuda->stream);
    cudaFree(cuda->error_flag);
    cudaFree(cuda->workspace);
    cs_conv_algo_cache_release(cuda->algo_cache);
    cudaGetLastError();
    free(cuda);
}

extern "C" cuseg_status cs_cuda_create(const cs_cuda_config *config, cs_cuda **out) {
    *out = nullptr;
    cs_cuda *c;
    CS_CHECK(cs_calloc((void **)&c, sizeof *c, "CUDA backend"));
    c->device = config->device;
    c->precision = config->precision;
    c->storage = storage_of(config->precision);
    c->cudnn_search = config->cudnn_search;
    /* A diagnostic switch, read once per session (not global state). */
    const char *profile = getenv("CUSEG_CUDA_PROFILE");
    c->profile = profile && profile[0] == '1';
    cuseg_status st = use_device(c);
    if (st == CUSEG_OK && config->stream) {
        c->stream = (cudaStream_t)config->stream;
    } else if (st == CUSEG_OK) {
        st = cs_cuda_status(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking),
                            "cudaStreamCreate");
        c->own_stream = st == CUSEG_OK;
    }
    if (st == CUSEG_OK) st = cs_cudnn_status(cudnnCreate(&c->cudnn), "cudnnCreate");
    if (st == CUSEG_OK) st = cs_cudnn_status(cudnnSetStream(c->cudnn, c->stream), "cudnnSetStream");
    if (st == CUSEG_OK && cublasCreate(&c->cublas) != CUBLAS_STATUS_SUCCESS) {
        c->cublas = nullptr;
        st = cs_error(CUSEG_ERR_DEVICE, "cublasCreate failed");
    }
    if (st == CUSEG_OK && cublasSetStream(c->cublas, c->stream) != CUBLAS_STATUS_SUCCESS)
        st = cs_error(CUSEG_ERR_DEVICE, "cublasSetStream failed");
    if (st == CUSEG_OK) st = device_alloc((void **)&c->error_flag, sizeof(int), "the error flag");
    if (st == CUSEG_OK)
        st = cs_cuda_status(cudaMemset(c->error_flag, 0, sizeof(int)), "cudaMemset");
    if (st == CUSEG_OK && !(c->algo_cache = cs_conv_algo_cache_create()))
        st = cs_error(CUSEG_ERR_OUT_OF_MEMORY, "the algorithm cache");
    if (st != CUSEG_OK) {
        cs_cuda_release(c);
        return cs_error_context(st, "CUDA device %d", config->device);
    }
    *out = c;
    return CUSEG_OK;
}

extern "C" void cs_cuda_unprepare(cs_cuda *cuda, cs_plan *plan) {
    cudaSetDevice(cuda->device);
    cudaStreamSynchronize(cuda->stream);
    for (int i = 0; i < plan->n_steps; ++i) {
        cs_step *st = &plan->steps[i];
        const cs_cuda_op *r = row_of(st);
        if (st->state && r && r->release) r->release(st->state);
        st->state = nullptr;
    }
    const int n_in = plan->n_inputs;
    for (int i = 0; cuda->input_dev && i < n_in; ++i) {
        cudaFree(cuda->input_dev[i]);
        cudaFree(cuda->input_stage ? cuda->input_stage[i] : nullptr);
    }
    /* Outputs: the count is the graph's, which value_ptr's owner knows; the
     * arrays are NULL-terminated by their extra slot. */
    for (int i = 0; cuda->output_host && cuda->output_host[i]; ++i) {
        cudaFreeHost(cuda->output_host[i]);
        cudaFree(cuda->output_stage[i]);
    }
    cudaFree(cuda->input_u8);
    cuda->input_u8 = nullptr;
    free(cuda->input_dev);
    free(cuda->input_stage);
    free(cuda->output_host);
    free(cuda->output_stage);
    free(cuda->value_ptr);
    cudaFree(cuda->arena);
    cudaFree(cuda->workspace);
    cudaGetLastError();
    cuda->input_dev = nullptr;
    cuda->input_stage = nullptr;
    cuda->output_host = nullptr;
    cuda->output_stage = nullptr;
    cuda->value_ptr = nullptr;
    cuda->arena = nullptr;
    cuda->workspace = nullptr;
    cuda->workspace_bytes = 0;
}

static cuseg_status prepare(cs_cuda *cuda, const cuseg_graph *g, cs_plan *plan) {
    CS_CHECK(use_device(cuda));
    const size_t esize = cs_cuda_storage_bytes(cuda->precision);
    const int f32_storage = cuda->storage == cs_storage::f32;
    CS_CHECK(device_array(&cuda->value_ptr, (size_t)g->n_values, "value pointers"));
    CS_CHECK(device_array(&cuda->input_dev, (size_t)g->n_inputs, "inputs"));
    CS_CHECK(device_array(&cuda->input_stage, (size_t)g->n_inputs, "inputs"));
    CS_CHECK(device_array(&cuda->output_host, (size_t)g->n_outputs, "outputs"));
    CS_CHECK(device_array(&cuda->output_stage, (size_t)g->n_outputs, "outputs"));
    char what[96];
    snprintf(what, sizeof what, "the activation arena (input %dx%dx%dx%d)", plan->input_dims[0][0],
             plan->input_dims[0][1], plan->input_dims[0][2], plan->input_dims[0][3]);
    CS_CHECK(device_alloc(&cuda->arena, plan->arena_bytes, what));
    for (int v = 0; v < g->n_values; ++v)
        cuda->value_ptr[v] =
            plan->value_offset[v] == SIZE_MAX ? nullptr : (char *)cuda->arena + plan->value_offset[v];
    for (int i = 0; i < g->n_inputs; ++i) {
        const size_t count = cs_shape_count(&plan->value_shape[g->inputs[i]]);
        CS_CHECK(device_alloc(&cuda->input_dev[i], count * esize, "an input"));
        if (!f32_storage)
            CS_CHECK(device_alloc((void **)&cuda->input_stage[i], count * sizeof(float), "an input"));
        cuda->value_ptr[g->inputs[i]] = cuda->input_dev[i];
        if (i == 0 && g->n_inputs == 1)
            CS_CHECK(device_alloc((void **)&cuda->input_u8, count, "the 8-bit input"));
    }
    for (int i = 0; i < g->n_outputs; ++i) {
        const cs_shape *s = &plan->value_shape[g->outputs[i]];
        const size_t count = cs_shape_count(s);
        /* Host outputs are f32 or i32: 4 bytes an element either way. */
        CS_CHECK(cs_cuda_status(cudaMallocHost(&cuda->output_host[i], count * 4 + 1),
                                "cudaMallocHost (output buffer)"));
        if (s->dtype == CUSEG_F32 && !f32_storage)
            CS_CHECK(device_alloc((void **)&cuda->output_stage[i], count * sizeof(float), "an output"));
    }
    for (int i = 0; i < plan->n_steps; ++i) {
        cs_step *st = &plan->steps[i];
        const cs_cuda_op *r = row_of(st);
        if (!r)
            return cs_cuda_step_error(
                cs_error(CUSEG_ERR_UNSUPPORTED, "no CUDA kernel for this op"), st);
        if (r->prepare) {
            const cuseg_status s = r->prepare(st, g, cuda);
            if (s != CUSEG_OK) return cs_cuda_step_error(s, st);
        }
    }
    return cs_cuda_status(cudaStreamSynchronize(cuda->stream), "plan");
}

extern "C" cuseg_status cs_cuda_prepare(cs_cuda *cuda, const cuseg_graph *g, cs_plan *plan) {
    const cuseg_status st = prepare(cuda, g, plan);
    if (st != CUSEG_OK) cs_cuda_unprepare(cuda, plan);
    return st;
}

static cuseg_status run_steps(cs_cuda *cuda, const cuseg_graph *g, const cs_plan *plan,
                              cuseg_tensor *outputs);
static cuseg_status enqueue_steps(cs_cuda *cuda, const cs_plan *plan, int *uses_flag);

extern "C" cuseg_status cs_cuda_run_resident(cs_cuda *cuda, const cs_plan *plan) {
    CS_CHECK(use_device(cuda));
    int uses_flag = 0; /* not checked here: see backend.h */
    return enqueue_steps(cuda, plan, &uses_flag);
}

extern "C" cuseg_status cs_cuda_run_u8(cs_cuda *cuda, const cuseg_graph *g, const cs_plan *plan,
                                       const uint8_t *pixels, int bgr, const float mul[4],
                                       const float add[4], cuseg_tensor *outputs) {
    CS_CHECK(use_device(cuda));
    CS_CHECK_ARG(cuda->input_u8, "8-bit input: the model must have exactly one input");
    const cs_shape *in = &plan->value_shape[g->inputs[0]];
    const size_t count = cs_shape_count(in);
    CS_CUDA_CHECK(cudaMemcpyAsync(cuda->input_u8, pixels, count, cudaMemcpyHostToDevice, cuda->stream));
    CS_CHECK(cs_cuda_normalize_u8(cuda->storage, cuda->input_u8, cuda->input_dev[0], count, in->c,
                                  bgr, mul, add, cuda->stream));
    return run_steps(cuda, g, plan, outputs);
}

extern "C" cuseg_status cs_cuda_run(cs_cuda *cuda, const cuseg_graph *g, const cs_plan *plan,
                                    const cuseg_tensor *const *inputs, cuseg_tensor *outputs) {
    CS_CHECK(use_device(cuda));
    cudaStream_t stream = cuda->stream;
    for (int i = 0; i < g->n_inputs; ++i) {
        const size_t count = cs_shape_count(&plan->value_shape[g->inputs[i]]);
        if (cuda->input_stage[i]) {
            CS_CUDA_CHECK(cudaMemcpyAsync(cuda->input_stage[i], inputs[i]->data,
                                          count * sizeof(float), cudaMemcpyHostToDevice, stream));
            CS_CHECK(cs_cuda_to_storage(cuda->storage, cuda->input_stage[i], cuda->input_dev[i],
                                        count, stream));
        } else {
            CS_CUDA_CHECK(cudaMemcpyAsync(cuda->input_dev[i], inputs[i]->data,
                                          count * sizeof(float), cudaMemcpyHostToDevice, stream));
        }
    }
    return run_steps(cuda, g, plan, outputs);
}

/* The plan's steps on the stream, not waited for; *uses_flag is set when a
 * step may raise the device error flag. */
static cuseg_status enqueue_steps(cs_cuda *cuda, const cs_plan *plan, int *uses_flag) {
    cudaStream_t stream = cuda->stream;
    for (int i = 0; i < plan->n_steps; ++i) {
        const cs_step *st = &plan->steps[i];
        const void *in_local[8], **in = in_local;
        if (st->n_in > 8 && cs_alloc((void **)&in, sizeof(void *) * (size_t)st->n_in, "step inputs"))
            return CUSEG_ERR_OUT_OF_MEMORY;
        for (int j = 0; j < st->n_in; ++j) in[j] = cuda->value_ptr[st->in_values[j]];
        void *out[CS_MAX_OUTPUTS];
        for (int o = 0; o < st->n_out; ++o) out[o] = cuda->value_ptr[st->out_values[o]];
        const cs_io io = {in, out};
        cudaEvent_t ev[2] = {nullptr, nullptr};
        if (cuda->profile && cudaEventCreate(&ev[0]) == cudaSuccess &&
            cudaEventCreate(&ev[1]) == cudaSuccess)
            cudaEventRecord(ev[0], stream);
        const cuseg_status s = row_of(st)->forward(st, &io, cuda);
        if (in != in_local) free(in);
        if (ev[1]) {
            float ms = 0.0f;
            char what[160] = "", shape_in[CS_SHAPE_STR_SIZE], shape_out[CS_SHAPE_STR_SIZE];
            cudaEventRecord(ev[1], stream);
            cudaEventSynchronize(ev[1]);
            cudaEventElapsedTime(&ms, ev[0], ev[1]);
            if (row_of(st)->describe) row_of(st)->describe(st, what, sizeof what);
            fprintf(stderr, "cuseg profile: %3d %-16s %-28s %8.3f ms  %s -> %s %s\n", i,
                    cs_op(st->node->op)->name, st->node->name, ms,
                    st->n_in ? cs_shape_str(&st->in_shape[0], shape_in, sizeof shape_in) : "-",
                    cs_shape_str(&st->out_shape[0], shape_out, sizeof shape_out), what);
        }
        if (ev[0]) cudaEventDestroy(ev[0]);
        if (ev[1]) cudaEventDestroy(ev[1]);
        if (s != CUSEG_OK) return cs_cuda_step_error(s, st);
        *uses_flag |= st->node->op == CS_OP_MAX_UNPOOL2D;
    }
    return CUSEG_OK;
}

/* The plan's steps on the stream, then the outputs to the host. */
static cuseg_status run_steps(cs_cuda *cuda, const cuseg_graph *g, const cs_plan *plan,
                              cuseg_tensor *outputs) {
    cudaStream_t stream = cuda->stream;
    int uses_flag = 0;
    CS_CHECK(enqueue_steps(cuda, plan, &uses_flag));
    for (int i = 0; i < g->n_outputs; ++i) {
        const cs_shape *s = &plan->value_shape[g->outputs[i]];
        const size_t count = cs_shape_count(s);
        const void *src = cuda->value_ptr[g->outputs[i]];
        if (cuda->output_stage[i]) {
            CS_CHECK(cs_cuda_from_storage(cuda->storage, src, cuda->output_stage[i], count, stream));
            src = cuda->output_stage[i];
        }
        CS_CUDA_CHECK(cudaMemcpyAsync(cuda->output_host[i], src, count * 4, cudaMemcpyDeviceToHost,
                                      stream));
    }
    CS_CHECK(cs_cuda_status(cudaStreamSynchronize(stream), "running the plan"));
    if (uses_flag) CS_CHECK(cs_cuda_take_error_flag(cuda));
    for (int i = 0; i < g->n_outputs; ++i) {
        const cs_shape *s = &plan->value_shape[g->outputs[i]];
        cuseg_tensor *t = &outputs[i];
        t->dtype = s->dtype;
        t->dims[0] = s->n, t->dims[1] = s->h, t->dims[2] = s->w, t->dims[3] = s->c;
        t->data = cuda->output_host[i];
        t->owned = 0;
    }
    return CUSEG_OK;
}
