/* Models (immutable graphs) and sessions (plans, buffers and backend state
 * for one thread at a time). */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "core/context.h"
#include "core/status.h"
#include "core/tensor.h"
#include "graph/plan.h"
#include "io/preprocess.h"
#include "ops/cpu.h"

struct cuseg_model {
    cuseg_graph *graph;
};

struct cuseg_session {
    const cuseg_model *model;
    const cuseg_context *ctx;
    cs_cpu cpu;
    cs_cuda *cuda; /* the CUDA backend, or NULL: the session runs on the CPU */
    char device[32];
    cs_plan plan;
    int planned;
    void *arena;
    const void **value_ptr;   /* per value, during a run */
    cuseg_tensor *outputs;    /* views into the arena */
    float *u8_input;          /* CPU run_u8: the normalised input */
    size_t u8_input_count;
};

cuseg_status cuseg_model_create(cuseg_graph **graph, cuseg_model **out) {
    CS_CHECK_ARG(graph && out, "cuseg_model_create: NULL argument");
    *out = NULL;
    cuseg_graph *g = *graph;
    *graph = NULL;
    CS_CHECK_ARG(g, "cuseg_model_create: graph is NULL");
    cuseg_status st = CUSEG_OK;
    if (g->n_inputs == 0)
        st = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "cuseg_model_create: the graph has no input");
    else if (g->n_outputs == 0)
        st = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "cuseg_model_create: the graph has no output");
    cuseg_model *m = NULL;
    if (st == CUSEG_OK) st = cs_alloc((void **)&m, sizeof *m, "model");
    if (st != CUSEG_OK) {
        cuseg_graph_release(g);
        return st;
    }
    m->graph = g;
    *out = m;
    return CUSEG_OK;
}

void cuseg_model_release(cuseg_model *m) {
    if (!m) return;
    cuseg_graph_release(m->graph);
    free(m);
}

const cuseg_graph *cuseg_model_graph(const cuseg_model *m) { return m ? m->graph : NULL; }

/* Ops of the graph that have no CUDA kernel, as "a, b" into buf. */
static int missing_cuda_ops(const cuseg_graph *g, char *buf, size_t size) {
    int n = 0;
    char seen[CS_OP_COUNT] = {0};
    buf[0] = '\0';
    for (int k = 0; k < g->n_nodes; ++k) {
        cs_op_id op = g->nodes[k].op;
        if (cs_cuda_supports(op) || seen[op]) continue;
        seen[op] = 1;
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", n++ ? ", " : "", cs_op(op)->name);
    }
    return n;
}

/* Picks the backend: cuda:N as asked; auto takes CUDA device 0 when the
 * backend runs every op of the model and starts, else the CPU. */
static cuseg_status choose_backend(cuseg_session *s) {
    const cuseg_context *ctx = s->ctx;
    if (ctx->kind == CS_DEVICE_CPU) return CUSEG_OK;
    char missing[512];
    const int n_missing = missing_cuda_ops(s->model->graph, missing, sizeof missing);
    if (n_missing) {
        if (ctx->kind == CS_DEVICE_AUTO) return CUSEG_OK;
        return cs_error(CUSEG_ERR_UNSUPPORTED,
                        "device %s: the CUDA backend cannot run this model (%d op%s without a "
                        "CUDA kernel: %s)",
                        ctx->device, n_missing, n_missing == 1 ? "" : "s", missing);
    }
    const cs_cuda_config config = {.device = ctx->kind == CS_DEVICE_CUDA ? ctx->cuda_index : 0,
                                   .stream = ctx->cuda_stream,
                                   .precision = ctx->precision,
                                   .cudnn_search = ctx->cudnn_search};
    cuseg_status st = cs_cuda_create(&config, &s->cuda);
    if (st != CUSEG_OK) {
        if (ctx->kind == CS_DEVICE_AUTO) return CUSEG_OK; /* auto falls back to the CPU */
        return st;
    }
    snprintf(s->device, sizeof s->device, "cuda:%d", config.device);
    return CUSEG_OK;
}

cuseg_status cuseg_session_create(const cuseg_model *model, const cuseg_context *ctx,
                                  cuseg_session **out) {
    CS_CHECK_ARG(out, "cuseg_session_create: out is NULL");
    *out = NULL;
    CS_CHECK_ARG(model && ctx, "cuseg_session_create: model or context is NULL");
    cuseg_session *s;
    CS_CHECK(cs_calloc((void **)&s, sizeof *s, "session"));
    s->model = model;
    s->ctx = ctx;
    s->cpu.n_threads = ctx->cpu_threads;
    snprintf(s->device, sizeof s->device, "cpu");
    cuseg_status st = choose_backend(s);
    if (st == CUSEG_OK && !s->cuda &&
        (dnnl_engine_create(&s->cpu.engine, dnnl_cpu, 0) != dnnl_success ||
         dnnl_stream_create(&s->cpu.stream, s->cpu.engine, dnnl_stream_default_flags) !=
             dnnl_success))
        st = cs_error(CUSEG_ERR_INTERNAL, "cuseg_session_create: cannot create the oneDNN engine");
    if (st == CUSEG_OK)
        st = cs_calloc((void **)&s->value_ptr, sizeof(void *) * (size_t)(model->graph->n_values + 1),
                       "session");
    if (st == CUSEG_OK)
        st = cs_calloc((void **)&s->outputs,
                       sizeof(cuseg_tensor) * (size_t)(model->graph->n_outputs + 1), "session");
    if (st != CUSEG_OK) {
        cuseg_session_release(s);
        return st;
    }
    *out = s;
    return CUSEG_OK;
}

const char *cuseg_session_device(const cuseg_session *s) { return s ? s->device : ""; }

static void release_plan(cuseg_session *s) {
    if (s->cuda) cs_cuda_unprepare(s->cuda, &s->plan);
    for (int i = 0; i < s->plan.n_steps; ++i) {
        cs_step *st = &s->plan.steps[i];
        const cs_op_def *def = cs_op(st->node->op);
        if (st->state && def->cpu_release) def->cpu_release(st->state);
        st->state = NULL;
    }
    cs_plan_free(&s->plan);
    free(s->arena);
    s->arena = NULL;
    s->planned = 0;
}

cuseg_status cs_cpu_reserve_scratch(cs_cpu *cpu, size_t bytes) {
    if (bytes <= cpu->scratch_bytes) return CUSEG_OK;
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of scratch", bytes);
    free(cpu->scratch);
    cpu->scratch = p;
    cpu->scratch_bytes = bytes;
    return CUSEG_OK;
}

void cuseg_session_release(cuseg_session *s) {
    if (!s) return;
    release_plan(s);
    cs_cpu_free_conv_weights(&s->cpu);
    cs_cuda_release(s->cuda);
    free(s->cpu.scratch);
    if (s->cpu.stream) dnnl_stream_destroy(s->cpu.stream);
    if (s->cpu.engine) dnnl_engine_destroy(s->cpu.engine);
    free(s->value_ptr);
    free(s->outputs);
    free(s->u8_input);
    free(s);
}

/* Runs `body` with the session's thread count for OpenMP (and so oneDNN),
 * restoring the caller's setting afterwards. */
static int push_threads(const cuseg_session *s) {
    int old = omp_get_max_threads();
    omp_set_num_threads(s->cpu.n_threads);
    return old;
}

/* The context's memory_budget, checked before anything is allocated. */
static cuseg_status check_budget(cuseg_session *s, const int (*shapes)[4]) {
    const size_t budget = s->ctx->memory_budget;
    if (!budget || s->plan.arena_bytes <= budget) return CUSEG_OK;
    const size_t need = s->plan.arena_bytes;
    cs_plan_free(&s->plan);
    return cs_error(CUSEG_ERR_OUT_OF_MEMORY,
                    "input %dx%dx%dx%d needs a %zu-byte activation arena, over the context's "
                    "memory budget of %zu bytes",
                    shapes[0][0], shapes[0][1], shapes[0][2], shapes[0][3], need, budget);
}

cuseg_status cuseg_session_plan(cuseg_session *s, const int (*shapes)[4], int n_inputs) {
    CS_CHECK_ARG(s && shapes, "cuseg_session_plan: NULL argument");
    const cuseg_graph *g = s->model->graph;
    release_plan(s);
    if (s->cuda) {
        CS_CHECK(cs_plan_build_stored(g, shapes, n_inputs, cs_cuda_storage_bytes(s->ctx->precision),
                                      &s->plan));
        CS_CHECK(check_budget(s, shapes));
        cuseg_status st = cs_cuda_prepare(s->cuda, g, &s->plan);
        if (st != CUSEG_OK) {
            cs_plan_free(&s->plan);
            return st;
        }
        s->planned = 1;
        return CUSEG_OK;
    }
    CS_CHECK(cs_plan_build(g, shapes, n_inputs, &s->plan));
    CS_CHECK(check_budget(s, shapes));
    cuseg_status st = CUSEG_OK;
    if (s->plan.arena_bytes) {
        s->arena = aligned_alloc(64, (s->plan.arena_bytes + 63) / 64 * 64);
        if (!s->arena)
            st = cs_error(CUSEG_ERR_OUT_OF_MEMORY,
                          "cannot allocate the %zu-byte activation arena for input %dx%dx%dx%d",
                          s->plan.arena_bytes, shapes[0][0], shapes[0][1], shapes[0][2],
                          shapes[0][3]);
    }
    int old = push_threads(s);
    for (int i = 0; st == CUSEG_OK && i < s->plan.n_steps; ++i) {
        cs_step *step = &s->plan.steps[i];
        const cs_op_def *def = cs_op(step->node->op);
        if (def->cpu_prepare) {
            st = def->cpu_prepare(step, g, &s->cpu);
            if (st != CUSEG_OK) cs_error_context(st, "%s '%s'", def->name, step->node->name);
        }
    }
    omp_set_num_threads(old);
    if (st != CUSEG_OK) {
        release_plan(s);
        return st;
    }
    s->planned = 1;
    return CUSEG_OK;
}

cuseg_status cuseg_session_run(cuseg_session *s, const cuseg_tensor *const *inputs, int n_inputs) {
    CS_CHECK_ARG(s, "cuseg_session_run: session is NULL");
    const cuseg_graph *g = s->model->graph;
    CS_CHECK_ARG(n_inputs == g->n_inputs && (n_inputs == 0 || inputs),
                 "cuseg_session_run: the model has %d input(s), %d given", g->n_inputs, n_inputs);
    int dims[16][4];
    CS_CHECK_ARG(n_inputs <= 16, "cuseg_session_run: at most 16 inputs");
    for (int i = 0; i < n_inputs; ++i) {
        CS_CHECK_ARG(inputs[i], "cuseg_session_run: input %d is NULL", i);
        CS_CHECK_ARG(inputs[i]->dtype == CUSEG_F32, "cuseg_session_run: input %d must be f32", i);
        memcpy(dims[i], inputs[i]->dims, sizeof dims[i]);
    }
    if (!s->planned || memcmp(dims, s->plan.input_dims, sizeof(int[4]) * (size_t)n_inputs) != 0)
        CS_CHECK(cuseg_session_plan(s, (const int (*)[4])dims, n_inputs));
    if (s->cuda) return cs_cuda_run(s->cuda, g, &s->plan, inputs, s->outputs);

    for (int v = 0; v < g->n_values; ++v)
        s->value_ptr[v] = s->plan.value_offset[v] == SIZE_MAX
                              ? NULL
                              : (const char *)s->arena + s->plan.value_offset[v];
    for (int i = 0; i < n_inputs; ++i) s->value_ptr[g->inputs[i]] = inputs[i]->data;

    cuseg_status st = CUSEG_OK;
    int old = push_threads(s);
    for (int i = 0; st == CUSEG_OK && i < s->plan.n_steps; ++i) {
        const cs_step *step = &s->plan.steps[i];
        const cs_op_def *def = cs_op(step->node->op);
        const void *in_local[8], **in = in_local;
        if (step->n_in > 8 &&
            cs_alloc((void **)&in, sizeof(void *) * (size_t)step->n_in, "step inputs")) {
            st = CUSEG_ERR_OUT_OF_MEMORY;
            break;
        }
        for (int j = 0; j < step->n_in; ++j) in[j] = s->value_ptr[step->in_values[j]];
        void *out[CS_MAX_OUTPUTS];
        for (int o = 0; o < step->n_out; ++o) out[o] = (void *)s->value_ptr[step->out_values[o]];
        const cs_io io = {in, out};
        st = def->cpu_forward(step, &io, &s->cpu);
        if (st != CUSEG_OK) cs_error_context(st, "%s '%s'", def->name, step->node->name);
        if (in != in_local) free(in);
    }
    omp_set_num_threads(old);
    if (st != CUSEG_OK) return st;

    for (int i = 0; i < g->n_outputs; ++i) {
        const cs_shape *sh = &s->plan.value_shape[g->outputs[i]];
        cuseg_tensor *t = &s->outputs[i];
        t->dtype = sh->dtype;
        t->dims[0] = sh->n, t->dims[1] = sh->h, t->dims[2] = sh->w, t->dims[3] = sh->c;
        t->data = (void *)s->value_ptr[g->outputs[i]];
        t->owned = 0;
    }
    return CUSEG_OK;
}

cuseg_status cs_session_run_resident(cuseg_session *s) {
    CS_CHECK_ARG(s, "cs_session_run_resident: session is NULL");
    CS_CHECK_ARG(s->cuda, "cs_session_run_resident: the session runs on the CPU");
    CS_CHECK_ARG(s->planned, "cs_session_run_resident: run the session once first");
    return cs_cuda_run_resident(s->cuda, &s->plan);
}

cuseg_status cuseg_session_run_u8(cuseg_session *s, const uint8_t *pixels, int n, int h, int w,
                                  int c) {
    CS_CHECK_ARG(s && pixels, "cuseg_session_run_u8: NULL argument");
    const cuseg_graph *g = s->model->graph;
    CS_CHECK_ARG(g->n_inputs == 1, "cuseg_session_run_u8: the model has %d inputs, expected 1",
                 g->n_inputs);
    const int channels = g->values[g->inputs[0]].channels;
    CS_CHECK_ARG(n > 0 && h > 0 && w > 0 && c == channels && c <= 4,
                 "cuseg_session_run_u8: images %dx%dx%dx%d, the model takes Nx?x?x%d", n, h, w, c,
                 channels);
    cs_preprocess pre;
    CS_CHECK(cs_preprocess_from_graph(g, &pre));
    float mul[4], add[4];
    cs_preprocess_coefficients(&pre, c, mul, add);
    const int dims[1][4] = {{n, h, w, c}};
    if (!s->planned || memcmp(dims, s->plan.input_dims, sizeof dims) != 0)
        CS_CHECK(cuseg_session_plan(s, dims, 1));
    if (s->cuda) return cs_cuda_run_u8(s->cuda, g, &s->plan, pixels, pre.bgr, mul, add, s->outputs);
    const size_t count = (size_t)n * h * w * c;
    if (count > s->u8_input_count) {
        float *p = NULL;
        CS_CHECK(cs_alloc((void **)&p, count * sizeof(float), "the normalised input"));
        free(s->u8_input);
        s->u8_input = p;
        s->u8_input_count = count;
    }
    for (int i = 0; i < n; ++i)
        cs_preprocess_image(&pre, pixels + (size_t)i * h * w * c, h, w, c,
                            s->u8_input + (size_t)i * h * w * c);
    cuseg_tensor t = {CUSEG_F32, {n, h, w, c}, s->u8_input, 0};
    const cuseg_tensor *in[1] = {&t};
    return cuseg_session_run(s, in, 1);
}

cuseg_status cuseg_session_output(const cuseg_session *s, int i, const cuseg_tensor **out) {
    CS_CHECK_ARG(s && out, "cuseg_session_output: NULL argument");
    const cuseg_graph *g = s->model->graph;
    CS_CHECK_ARG(i >= 0 && i < g->n_outputs, "cuseg_session_output: index %d out of range (%d outputs)",
                 i, g->n_outputs);
    CS_CHECK_ARG(s->planned && s->outputs[i].data,
                 "cuseg_session_output: no run has completed on this session");
    *out = &s->outputs[i];
    return CUSEG_OK;
}

cuseg_status cuseg_session_memory(const cuseg_session *s, size_t *arena_bytes,
                                  size_t *unplanned_bytes) {
    CS_CHECK_ARG(s, "cuseg_session_memory: session is NULL");
    CS_CHECK_ARG(s->planned, "cuseg_session_memory: nothing planned yet");
    if (arena_bytes) *arena_bytes = s->plan.arena_bytes;
    if (unplanned_bytes) *unplanned_bytes = s->plan.unplanned_bytes;
    return CUSEG_OK;
}
