/* Training on the device: the CUDA half of host/train/autodiff.c. Runs a
 * training plan (no fusion) with every activation and its gradient in two
 * device arenas at the plan's offsets, calling each op family's training
 * row (backend.cuh's cs_cuda_train_op, defined beside the forward kernels)
 * or, where the inference forward serves, its inference row.
 *
 * Host <-> device traffic of one step in v1 (simple, and what the next
 * version should trim):
 *   forward:  every parameter up (f32, converted to the storage type on the
 *             device): ~4 bytes x parameters, e.g. 160 MB for a 40M
 *             DeepLab v3+, ~6 ms at 25 GB/s; the input batch up; the outputs
 *             (logits) down for the loss on the host; after the forward,
 *             per batch norm its batch mean and variance down (2 x C
 *             doubles) for the running statistics, which stay the host's.
 *   backward: the logits' gradients up; every parameter gradient down (the
 *             same ~4 bytes x parameters) for the host optimizer.
 * Keeping the parameters and the optimizer on the device removes the two
 * parameter-sized transfers; fp32 master weights stay on the host here. */
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend.cuh"

namespace {

const cs_cuda_train_op *const kTrainRows[CS_OP_COUNT] = {
    /* [CS_OP_INPUT] */ nullptr,
    /* [CS_OP_CONV2D] */ &cs_cuda_train_conv,
    /* [CS_OP_CONV_TRANSPOSE2D] */ &cs_cuda_train_conv,
    /* [CS_OP_BATCH_NORM] */ &cs_cuda_train_batch_norm,
    /* [CS_OP_RELU] */ &cs_cuda_train_relu,
    /* [CS_OP_RELU6] */ &cs_cuda_train_relu6,
    /* [CS_OP_SIGMOID] */ &cs_cuda_train_sigmoid,
    /* [CS_OP_DROPOUT] */ &cs_cuda_train_dropout,
    /* [CS_OP_ADD] */ &cs_cuda_train_add,
    /* [CS_OP_SCALE] */ &cs_cuda_train_scale,
    /* [CS_OP_MAX_POOL2D] */ &cs_cuda_train_max_pool2d,
    /* [CS_OP_AVG_POOL2D] */ &cs_cuda_train_avg_pool2d,
    /* [CS_OP_GLOBAL_AVG_POOL] */ &cs_cuda_train_global_avg_pool,
    /* [CS_OP_MAX_UNPOOL2D] */ &cs_cuda_train_max_unpool2d,
    /* [CS_OP_RESIZE_BILINEAR] */ &cs_cuda_train_resize_bilinear,
    /* [CS_OP_RESIZE_NEAREST] */ &cs_cuda_train_resize_nearest,
    /* [CS_OP_CONCAT] */ &cs_cuda_train_concat,
    /* [CS_OP_CROP] */ &cs_cuda_train_crop,
    /* [CS_OP_PAD] */ &cs_cuda_train_pad,
    /* [CS_OP_SOFTMAX] */ &cs_cuda_train_softmax,
    /* [CS_OP_ARGMAX] */ nullptr, /* no gradient; the inference forward runs */
};
static_assert(CS_OP_ARGMAX == 20 && CS_OP_COUNT == 21, "keep kTrainRows in cs_op_id order");

const cs_cuda_train_op *train_row(const cs_step *st) { return kTrainRows[st->node->op]; }

cuseg_status device_alloc(void **p, size_t bytes, const char *what) {
    *p = nullptr;
    const cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = nullptr;
        cudaGetLastError();
        return cs_error(e == cudaErrorMemoryAllocation ? CUSEG_ERR_OUT_OF_MEMORY : CUSEG_ERR_DEVICE,
                        "training: cannot allocate %zu bytes of device memory for %s: %s", bytes,
                        what, cudaGetErrorString(e));
    }
    return CUSEG_OK;
}

template <class T>
__global__ void add_f32_kernel(const float *__restrict__ src, T *__restrict__ dst, size_t n) {
    CS_GRID_LOOP(i, n) dst[i] = cs_store<T>(cs_load(dst[i]) + src[i]);
}

} // namespace

struct cs_cuda_train {
    cs_cuda *cuda = nullptr;
    /* Per plan. */
    void *act = nullptr, *grad = nullptr; /* arenas at the plan's offsets */
    std::vector<void *> value_ptr, grad_ptr, input_dev;
    std::vector<float *> output_host; /* pinned */
    std::vector<float *> param_grad;  /* device f32, NULL for buffers */
    float *stage = nullptr;           /* f32 staging for inputs, outputs and their gradients */
    std::vector<float> host_grad;     /* one parameter's gradient on its way to the host */
    int uses_flag = 0;                /* the plan has max_unpool2d (checks the error flag) */
};

extern "C" cuseg_status cs_cuda_train_create(int device, cuseg_precision precision,
                                             cs_cuda_train **out) {
    *out = nullptr;
    cs_cuda_train *t = new (std::nothrow) cs_cuda_train;
    if (!t) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "CUDA training state");
    const cs_cuda_config config = {device, nullptr, precision, 0};
    const cuseg_status st = cs_cuda_create(&config, &t->cuda);
    if (st != CUSEG_OK) {
        delete t;
        return st;
    }
    *out = t;
    return CUSEG_OK;
}

extern "C" void cs_cuda_train_unprepare(cs_cuda_train *t, cs_plan *plan) {
    if (!t) return;
    cs_cuda *cuda = t->cuda;
    cudaSetDevice(cuda->device);
    cudaStreamSynchronize(cuda->stream);
    for (int i = 0; plan && i < plan->n_steps; ++i) {
        cs_step *st = &plan->steps[i];
        const cs_cuda_train_op *r = train_row(st);
        if (st->state && r && r->release) r->release(st->state);
        st->state = nullptr;
    }
    for (void *p : t->input_dev) cudaFree(p);
    for (float *p : t->output_host) cudaFreeHost(p);
    for (float *p : t->param_grad) cudaFree(p);
    cudaFree(t->act);
    cudaFree(t->grad);
    cudaFree(t->stage);
    cudaFree(cuda->workspace);
    cudaGetLastError();
    cuda->workspace = nullptr;
    cuda->workspace_bytes = 0;
    t->act = t->grad = nullptr;
    t->stage = nullptr;
    t->value_ptr.clear();
    t->grad_ptr.clear();
    t->input_dev.clear();
    t->output_host.clear();
    t->param_grad.clear();
    t->uses_flag = 0;
}

extern "C" void cs_cuda_train_release(cs_cuda_train *t) {
    if (!t) return;
    cs_cuda_train_unprepare(t, nullptr);
    cs_cuda_release(t->cuda);
    delete t;
}

static cuseg_status prepare(cs_cuda_train *t, const cuseg_graph *g, cs_plan *plan) {
    cs_cuda *cuda = t->cuda;
    CS_CUDA_CHECK(cudaSetDevice(cuda->device));
    const size_t esize = cs_cuda_storage_bytes(cuda->precision);
    /* The plan sizes every element at 4 bytes: 16-bit storage uses half of each slot. */
    CS_CHECK(device_alloc(&t->act, plan->arena_bytes, "activations"));
    CS_CHECK(device_alloc(&t->grad, plan->arena_bytes, "activation gradients"));
    t->value_ptr.assign((size_t)g->n_values, nullptr);
    t->grad_ptr.assign((size_t)g->n_values, nullptr);
    for (int v = 0; v < g->n_values; ++v) {
        const size_t off = plan->value_offset[v];
        if (off == SIZE_MAX) continue;
        t->value_ptr[v] = (char *)t->act + off;
        if (plan->value_shape[v].dtype == CUSEG_F32) t->grad_ptr[v] = (char *)t->grad + off;
    }
    size_t stage = 1;
    t->input_dev.assign((size_t)g->n_inputs, nullptr);
    for (int i = 0; i < g->n_inputs; ++i) {
        const size_t count = cs_shape_count(&plan->value_shape[g->inputs[i]]);
        CS_CHECK(device_alloc(&t->input_dev[i], count * esize, "an input"));
        t->value_ptr[g->inputs[i]] = t->input_dev[i];
        stage = count > stage ? count : stage;
    }
    t->output_host.assign((size_t)g->n_outputs, nullptr);
    for (int i = 0; i < g->n_outputs; ++i) {
        const size_t count = cs_shape_count(&plan->value_shape[g->outputs[i]]);
        CS_CHECK(cs_cuda_status(cudaMallocHost((void **)&t->output_host[i], count * 4 + 4),
                                "cudaMallocHost (training output)"));
        stage = count > stage ? count : stage;
    }
    CS_CHECK(device_alloc((void **)&t->stage, stage * sizeof(float), "staging"));
    t->param_grad.assign((size_t)g->n_params, nullptr);
    size_t largest = 1;
    for (int i = 0; i < g->n_params; ++i) {
        if (g->params[i].buffer) continue;
        CS_CHECK(device_alloc((void **)&t->param_grad[i], g->params[i].count * sizeof(float),
                              "parameter gradients"));
        largest = g->params[i].count > largest ? g->params[i].count : largest;
    }
    t->host_grad.assign(largest, 0.0f);
    for (int i = 0; i < plan->n_steps; ++i) {
        cs_step *st = &plan->steps[i];
        const cs_cuda_train_op *r = train_row(st);
        const int op = st->node->op;
        t->uses_flag |= op == CS_OP_MAX_UNPOOL2D;
        if (!r && op != CS_OP_ARGMAX)
            return cs_cuda_step_error(cs_error(CUSEG_ERR_UNSUPPORTED, "no CUDA training path"), st);
        if ((!r || !r->forward) && !cs_cuda_row(op))
            return cs_cuda_step_error(cs_error(CUSEG_ERR_UNSUPPORTED, "no CUDA forward"), st);
        if (r && r->prepare) {
            const cuseg_status s = r->prepare(st, g, cuda);
            if (s != CUSEG_OK) return cs_cuda_step_error(s, st);
        }
    }
    return cs_cuda_status(cudaStreamSynchronize(cuda->stream), "training plan");
}

extern "C" cuseg_status cs_cuda_train_prepare(cs_cuda_train *t, const cuseg_graph *g,
                                              cs_plan *plan) {
    const cuseg_status st = prepare(t, g, plan);
    if (st != CUSEG_OK) cs_cuda_train_unprepare(t, plan);
    return st;
}

extern "C" cuseg_status cs_cuda_train_forward(cs_cuda_train *t, const cuseg_graph *g,
                                              const cs_plan *plan, const float *const *inputs,
                                              uint64_t seed, uint64_t *draws, float bn_momentum,
                                              int bn_eval) {
    cs_cuda *cuda = t->cuda;
    cudaStream_t stream = cuda->stream;
    CS_CUDA_CHECK(cudaSetDevice(cuda->device));
    const int f32 = cuda->storage == cs_storage::f32;
    for (int i = 0; i < g->n_inputs; ++i) {
        const size_t count = cs_shape_count(&plan->value_shape[g->inputs[i]]);
        float *dst = f32 ? (float *)t->input_dev[i] : t->stage;
        CS_CUDA_CHECK(cudaMemcpyAsync(dst, inputs[i], count * sizeof(float),
                                      cudaMemcpyHostToDevice, stream));
        if (!f32) CS_CHECK(cs_cuda_to_storage(cuda->storage, t->stage, t->input_dev[i], count, stream));
    }
    cs_cuda_train_ctx ctx = {g, seed, draws, bn_momentum, bn_eval};
    for (int i = 0; i < plan->n_steps; ++i) {
        const cs_step *st = &plan->steps[i];
        std::vector<const void *> in((size_t)st->n_in + 1);
        void *out[CS_MAX_OUTPUTS];
        for (int j = 0; j < st->n_in; ++j) in[j] = t->value_ptr[st->in_values[j]];
        for (int o = 0; o < st->n_out; ++o) out[o] = t->value_ptr[st->out_values[o]];
        const cs_io io = {in.data(), out};
        const cs_cuda_train_op *r = train_row(st);
        const cuseg_status s = r && r->forward ? r->forward(st, &io, cuda, &ctx)
                                               : cs_cuda_row(st->node->op)->forward(st, &io, cuda);
        if (s != CUSEG_OK) return cs_cuda_step_error(s, st);
    }
    for (int i = 0; i < g->n_outputs; ++i) {
        const cs_shape *s = &plan->value_shape[g->outputs[i]];
        const size_t count = cs_shape_count(s);
        const void *src = t->value_ptr[g->outputs[i]];
        if (s->dtype == CUSEG_F32 && !f32) {
            CS_CHECK(cs_cuda_from_storage(cuda->storage, src, t->stage, count, stream));
            src = t->stage;
        }
        CS_CUDA_CHECK(cudaMemcpyAsync(t->output_host[i], src, count * 4, cudaMemcpyDeviceToHost,
                                      stream));
        /* stage is reused by the next output: in stream order, after this copy */
    }
    CS_CHECK(cs_cuda_status(cudaStreamSynchronize(stream), "training forward"));
    if (t->uses_flag) CS_CHECK(cs_cuda_take_error_flag(cuda));
    for (int i = 0; i < plan->n_steps; ++i) {
        const cs_step *st = &plan->steps[i];
        const cs_cuda_train_op *r = train_row(st);
        if (r && r->after_forward) {
            const cuseg_status s = r->after_forward(st, &ctx);
            if (s != CUSEG_OK) return cs_cuda_step_error(s, st);
        }
    }
    return CUSEG_OK;
}

extern "C" const float *cs_cuda_train_output(const cs_cuda_train *t, int i) {
    return t && i >= 0 && (size_t)i < t->output_host.size() ? t->output_host[i] : nullptr;
}

extern "C" cuseg_status cs_cuda_train_backward(cs_cuda_train *t, const cuseg_graph *g,
                                               const cs_plan *plan, const float *const *doutputs,
                                               float *const *param_grad) {
    cs_cuda *cuda = t->cuda;
    cudaStream_t stream = cuda->stream;
    CS_CUDA_CHECK(cudaSetDevice(cuda->device));
    CS_CUDA_CHECK(cudaMemsetAsync(t->grad, 0, plan->arena_bytes, stream));
    for (int i = 0; i < g->n_params; ++i)
        if (t->param_grad[i])
            CS_CUDA_CHECK(cudaMemsetAsync(t->param_grad[i], 0,
                                          g->params[i].count * sizeof(float), stream));
    for (int i = 0; i < g->n_outputs; ++i) {
        void *d = t->grad_ptr[g->outputs[i]];
        if (!d || !doutputs[i]) continue;
        const size_t count = cs_shape_count(&plan->value_shape[g->outputs[i]]);
        CS_CUDA_CHECK(cudaMemcpyAsync(t->stage, doutputs[i], count * sizeof(float),
                                      cudaMemcpyHostToDevice, stream));
        CS_CHECK(cs_with_storage(cuda->storage, [&](auto tag) {
            using T = decltype(tag);
            add_f32_kernel<T><<<cs_grid(count), kCsThreads, 0, stream>>>(t->stage, (T *)d, count);
            CS_CUDA_CHECK_LAUNCH("output gradient kernel");
            return CUSEG_OK;
        }));
    }
    for (int i = plan->n_steps - 1; i >= 0; --i) {
        const cs_step *st = &plan->steps[i];
        if (!cs_op(st->node->op)->cpu_backward) continue; /* argmax: nothing flows back */
        const cs_cuda_train_op *r = train_row(st);
        std::vector<const void *> in((size_t)st->n_in + 1);
        std::vector<void *> din((size_t)st->n_in + 1);
        const void *out[CS_MAX_OUTPUTS], *dout[CS_MAX_OUTPUTS];
        float *dparam[CS_MAX_PARAMS + 1] = {nullptr};
        for (int j = 0; j < st->n_in; ++j) {
            in[j] = t->value_ptr[st->in_values[j]];
            din[j] = t->grad_ptr[st->in_values[j]];
        }
        for (int o = 0; o < st->n_out; ++o) {
            out[o] = t->value_ptr[st->out_values[o]];
            dout[o] = t->grad_ptr[st->out_values[o]];
        }
        for (int k = 0; k < st->node->n_params && k < CS_MAX_PARAMS; ++k)
            dparam[k] = t->param_grad[st->node->param0 + k];
        const cs_cuda_grad_io io = {in.data(), out, dout, din.data(), dparam};
        const cuseg_status s = r->backward(st, &io, cuda);
        if (s != CUSEG_OK) return cs_error_context(s, "backward of %s '%s' (CUDA)",
                                                    cs_op(st->node->op)->name, st->node->name);
    }
    /* The parameter gradients to the host, added as the CPU's backward adds. */
    for (int i = 0; i < g->n_params; ++i) {
        if (!t->param_grad[i] || !param_grad[i]) continue;
        const size_t n = g->params[i].count;
        CS_CUDA_CHECK(cudaMemcpyAsync(t->host_grad.data(), t->param_grad[i], n * sizeof(float),
                                      cudaMemcpyDeviceToHost, stream));
        CS_CHECK(cs_cuda_status(cudaStreamSynchronize(stream), "training backward"));
        float *dst = param_grad[i];
        for (size_t k = 0; k < n; ++k) dst[k] += t->host_grad[k];
    }
    return cs_cuda_status(cudaStreamSynchronize(stream), "training backward");
}
