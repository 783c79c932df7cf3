#include "train/autodiff.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h" /* cuda/: the device half (cuda/train.cu or the no-CUDA stubs) */
#include "core/status.h"
#include "graph/plan.h"
#include "ops/cpu.h"

struct cs_autodiff {
    cuseg_graph *g;
    cs_cpu cpu;
    cs_plan plan;
    int planned;
    char *arena;      /* activations, at the plan's offsets */
    char *grad_arena; /* their gradients, at the same offsets */
    float **param_grad;
    const void **value_ptr;
    cs_cuda_train *cuda; /* NULL: on the CPU */
};

/* "cuda" or "cuda:N" -> N; -1 for anything else. */
static int cuda_index(const char *device) {
    if (strncmp(device, "cuda", 4) != 0) return -1;
    if (device[4] == '\0') return 0;
    if (device[4] != ':' || device[5] < '0' || device[5] > '9') return -1;
    char *end;
    const long n = strtol(device + 5, &end, 10);
    return *end == '\0' && n < 1024 ? (int)n : -1;
}

cuseg_status cs_autodiff_create(cuseg_graph *g, int threads, cs_autodiff **out) {
    return cs_autodiff_create_on(g, "cpu", threads, CUSEG_PRECISION_FP32, out);
}

int cs_autodiff_on_cuda(const cs_autodiff *ad) { return ad && ad->cuda; }

cuseg_status cs_autodiff_create_on(cuseg_graph *g, const char *device, int threads,
                                   cuseg_precision precision, cs_autodiff **out) {
    CS_CHECK_ARG(g && out && threads > 0 && device, "cs_autodiff_create: bad argument");
    *out = NULL;
    const int on_cpu = strcmp(device, "cpu") == 0, gpu = cuda_index(device);
    if (!on_cpu && gpu < 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "training device '%s': expected cpu, cuda or cuda:N", device);
    if (on_cpu && precision != CUSEG_PRECISION_FP32)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "training on the CPU is fp32 only (bf16 and fp16 need --device cuda:N)");
    if (precision != CUSEG_PRECISION_FP32 && precision != CUSEG_PRECISION_BF16 &&
        precision != CUSEG_PRECISION_FP16)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "training precision must be fp32, bf16 or fp16");
    cs_autodiff *ad;
    CS_CHECK(cs_calloc((void **)&ad, sizeof *ad, "autodiff"));
    ad->g = g;
    ad->cpu.n_threads = threads;
    ad->cpu.training = 1;
    cuseg_status st = CUSEG_OK;
    if (!on_cpu)
        st = cs_cuda_train_create(gpu, precision, &ad->cuda);
    else if (dnnl_engine_create(&ad->cpu.engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&ad->cpu.stream, ad->cpu.engine, dnnl_stream_default_flags) !=
            dnnl_success)
        st = cs_error(CUSEG_ERR_INTERNAL, "cs_autodiff_create: cannot create the oneDNN engine");
    if (st == CUSEG_OK)
        st = cs_calloc((void **)&ad->param_grad, sizeof(float *) * (size_t)(g->n_params + 1),
                       "gradients");
    if (st == CUSEG_OK)
        st = cs_calloc((void **)&ad->value_ptr, sizeof(void *) * (size_t)(g->n_values + 1),
                       "autodiff");
    for (int i = 0; st == CUSEG_OK && i < g->n_params; ++i)
        if (!g->params[i].buffer)
            st = cs_calloc((void **)&ad->param_grad[i], sizeof(float) * g->params[i].count,
                           "gradients");
    if (st != CUSEG_OK) {
        cs_autodiff_release(ad);
        return st;
    }
    *out = ad;
    return CUSEG_OK;
}

static void release_plan(cs_autodiff *ad) {
    if (ad->cuda) cs_cuda_train_unprepare(ad->cuda, &ad->plan); /* the steps' device state */
    for (int i = 0; !ad->cuda && i < ad->plan.n_steps; ++i) {
        cs_step *st = &ad->plan.steps[i];
        if (st->state && cs_op(st->node->op)->cpu_release)
            cs_op(st->node->op)->cpu_release(st->state);
        st->state = NULL;
    }
    cs_plan_free(&ad->plan);
    free(ad->arena);
    free(ad->grad_arena);
    ad->arena = ad->grad_arena = NULL;
    ad->planned = 0;
}

void cs_autodiff_release(cs_autodiff *ad) {
    if (!ad)
        return;
    release_plan(ad);
    if (ad->param_grad)
        for (int i = 0; i < ad->g->n_params; ++i)
            free(ad->param_grad[i]);
    free(ad->param_grad);
    free(ad->value_ptr);
    free(ad->cpu.scratch);
    cs_cuda_train_release(ad->cuda);
    if (ad->cpu.stream)
        dnnl_stream_destroy(ad->cpu.stream);
    if (ad->cpu.engine)
        dnnl_engine_destroy(ad->cpu.engine);
    free(ad);
}

void cs_autodiff_set_exact_weight_grad(cs_autodiff *ad, int exact) {
    if (ad->cpu.exact_weight_grad == exact) return;
    release_plan(ad);
    ad->cpu.exact_weight_grad = exact;
}

void cs_autodiff_set_bn_eval(cs_autodiff *ad, int eval) {
    if (ad) ad->cpu.bn_eval = eval;
}

static cuseg_status plan(cs_autodiff *ad, const int (*dims)[4]) {
    release_plan(ad);
    const cuseg_graph *g = ad->g;
    CS_CHECK(cs_plan_build_training(g, dims, g->n_inputs, &ad->plan));
    if (ad->cuda) {
        cuseg_status st = CUSEG_OK;
        for (int i = 0; st == CUSEG_OK && i < ad->plan.n_steps; ++i) {
            const cs_step *s = &ad->plan.steps[i];
            if (!cs_op(s->node->op)->cpu_backward && s->node->op != CS_OP_ARGMAX)
                st = cs_error(CUSEG_ERR_UNSUPPORTED, "%s '%s' has no backward",
                              cs_op(s->node->op)->name, s->node->name);
        }
        if (st == CUSEG_OK) st = cs_cuda_train_prepare(ad->cuda, g, &ad->plan);
        if (st != CUSEG_OK) {
            cs_plan_free(&ad->plan);
            return st;
        }
        ad->planned = 1;
        return CUSEG_OK;
    }
    const size_t bytes = ad->plan.arena_bytes ? ad->plan.arena_bytes : 64;
    ad->arena = aligned_alloc(64, (bytes + 63) / 64 * 64);
    ad->grad_arena = aligned_alloc(64, (bytes + 63) / 64 * 64);
    cuseg_status st = CUSEG_OK;
    if (!ad->arena || !ad->grad_arena)
        st = cs_error(CUSEG_ERR_OUT_OF_MEMORY,
                      "training needs 2 x %zu bytes of activations for input %dx%dx%dx%d", bytes,
                      dims[0][0], dims[0][1], dims[0][2], dims[0][3]);
    for (int i = 0; st == CUSEG_OK && i < ad->plan.n_steps; ++i) {
        cs_step *s = &ad->plan.steps[i];
        const cs_op_def *def = cs_op(s->node->op);
        if (!def->cpu_backward && s->node->op != CS_OP_ARGMAX)
            st = cs_error(CUSEG_ERR_UNSUPPORTED, "%s '%s' has no backward", def->name,
                          s->node->name);
        else if (def->cpu_prepare && (st = def->cpu_prepare(s, g, &ad->cpu)) != CUSEG_OK)
            cs_error_context(st, "%s '%s'", def->name, s->node->name);
    }
    if (st != CUSEG_OK) {
        release_plan(ad);
        return st;
    }
    ad->planned = 1;
    return CUSEG_OK;
}

cuseg_status cs_autodiff_forward(cs_autodiff *ad, const float *const *inputs,
                                 const int (*dims)[4]) {
    CS_CHECK_ARG(ad && inputs && dims, "cs_autodiff_forward: NULL argument");
    const cuseg_graph *g = ad->g;
    if (!ad->planned ||
        memcmp(dims, ad->plan.input_dims, sizeof(int[4]) * (size_t)g->n_inputs) != 0)
        CS_CHECK(plan(ad, dims));
    if (ad->cuda)
        return cs_cuda_train_forward(ad->cuda, g, &ad->plan, inputs, ad->cpu.seed, &ad->cpu.draws,
                                     ad->cpu.bn_momentum, ad->cpu.bn_eval);
    for (int v = 0; v < g->n_values; ++v)
        ad->value_ptr[v] =
            ad->plan.value_offset[v] == SIZE_MAX ? NULL : ad->arena + ad->plan.value_offset[v];
    for (int i = 0; i < g->n_inputs; ++i)
        ad->value_ptr[g->inputs[i]] = inputs[i];
    const int old = omp_get_max_threads();
    omp_set_num_threads(ad->cpu.n_threads);
    cuseg_status st = CUSEG_OK;
    for (int i = 0; st == CUSEG_OK && i < ad->plan.n_steps; ++i) {
        const cs_step *s = &ad->plan.steps[i];
        const void *in[16];
        void *out[CS_MAX_OUTPUTS];
        if (s->n_in > 16) {
            st = cs_error(CUSEG_ERR_UNSUPPORTED, "training: more than 16 inputs to '%s'",
                          s->node->name);
            break;
        }
        for (int j = 0; j < s->n_in; ++j)
            in[j] = ad->value_ptr[s->in_values[j]];
        for (int o = 0; o < s->n_out; ++o)
            out[o] = (void *)ad->value_ptr[s->out_values[o]];
        const cs_io io = {in, out};
        st = cs_op(s->node->op)->cpu_forward(s, &io, &ad->cpu);
        if (st != CUSEG_OK)
            cs_error_context(st, "%s '%s'", cs_op(s->node->op)->name, s->node->name);
    }
    omp_set_num_threads(old);
    return st;
}

const float *cs_autodiff_output(const cs_autodiff *ad, int i, cs_shape *shape) {
    if (!ad || !ad->planned || i < 0 || i >= ad->g->n_outputs)
        return NULL;
    if (shape)
        *shape = ad->plan.value_shape[ad->g->outputs[i]];
    if (ad->cuda) return cs_cuda_train_output(ad->cuda, i);
    return ad->value_ptr[ad->g->outputs[i]];
}

/* Gradient buffer of value v, or NULL when none is kept (graph inputs,
 * int32 values). */
static float *grad_of(const cs_autodiff *ad, int v) {
    const size_t off = ad->plan.value_offset[v];
    if (off == SIZE_MAX || ad->plan.value_shape[v].dtype != CUSEG_F32)
        return NULL;
    return (float *)(ad->grad_arena + off);
}

cuseg_status cs_autodiff_backward(cs_autodiff *ad, const float *const *doutputs) {
    CS_CHECK_ARG(ad && doutputs, "cs_autodiff_backward: NULL argument");
    CS_CHECK_ARG(ad->planned, "cs_autodiff_backward: no forward has run");
    const cuseg_graph *g = ad->g;
    if (ad->cuda) return cs_cuda_train_backward(ad->cuda, g, &ad->plan, doutputs, ad->param_grad);
    memset(ad->grad_arena, 0, ad->plan.arena_bytes);
    for (int i = 0; i < g->n_outputs; ++i) {
        float *d = grad_of(ad, g->outputs[i]);
        if (d && doutputs[i]) {
            const size_t n = cs_shape_count(&ad->plan.value_shape[g->outputs[i]]);
            for (size_t k = 0; k < n; ++k)
                d[k] += doutputs[i][k];
        }
    }
    const int old = omp_get_max_threads();
    omp_set_num_threads(ad->cpu.n_threads);
    cuseg_status st = CUSEG_OK;
    for (int i = ad->plan.n_steps - 1; st == CUSEG_OK && i >= 0; --i) {
        const cs_step *s = &ad->plan.steps[i];
        const cs_op_def *def = cs_op(s->node->op);
        if (!def->cpu_backward)
            continue; /* argmax: nothing flows back */
        const void *in[16], *out[CS_MAX_OUTPUTS];
        const float *dout[CS_MAX_OUTPUTS];
        float *din[16], *dparam[CS_MAX_PARAMS];
        for (int j = 0; j < s->n_in; ++j) {
            in[j] = ad->value_ptr[s->in_values[j]];
            din[j] = grad_of(ad, s->in_values[j]);
        }
        for (int o = 0; o < s->n_out; ++o) {
            out[o] = ad->value_ptr[s->out_values[o]];
            dout[o] = grad_of(ad, s->out_values[o]);
        }
        for (int k = 0; k < s->node->n_params; ++k)
            dparam[k] = ad->param_grad[s->node->param0 + k];
        const cs_grad_io io = {in, out, dout, din, dparam};
        st = def->cpu_backward(s, &io, &ad->cpu);
        if (st != CUSEG_OK)
            cs_error_context(st, "backward of %s '%s'", def->name, s->node->name);
    }
    omp_set_num_threads(old);
    return st;
}

float *cs_autodiff_param_grad(const cs_autodiff *ad, int i) {
    return ad && i >= 0 && i < ad->g->n_params ? ad->param_grad[i] : NULL;
}

void cs_autodiff_zero_grad(cs_autodiff *ad) {
    for (int i = 0; ad && i < ad->g->n_params; ++i)
        if (ad->param_grad[i])
            memset(ad->param_grad[i], 0, sizeof(float) * ad->g->params[i].count);
}

void cs_autodiff_set_dropout_rng(cs_autodiff *ad, uint64_t seed, uint64_t draws) {
    if (!ad) return;
    ad->cpu.seed = seed;
    ad->cpu.draws = draws;
}

uint64_t cs_autodiff_dropout_draws(const cs_autodiff *ad) { return ad ? ad->cpu.draws : 0; }
