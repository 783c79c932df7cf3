#include "graph/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

void cs_plan_free(cs_plan *plan) {
    for (int i = 0; i < plan->n_steps; ++i) free((void *)plan->steps[i].in_shape);
    free(plan->steps);
    free(plan->value_shape);
    free(plan->value_offset);
    free(plan->input_dims);
    memset(plan, 0, sizeof *plan);
}

/* Concrete shapes of every value, node by node; messages name the node. */
cuseg_status cs_plan_infer_shapes(const cuseg_graph *g, const int (*dims)[4], cs_shape *shape) {
    for (int i = 0; i < g->n_inputs; ++i) {
        const int *d = dims[i];
        const cs_value *v = &g->values[g->inputs[i]];
        if (d[0] <= 0 || d[1] <= 0 || d[2] <= 0 || d[3] != v->channels)
            return cs_error(CUSEG_ERR_SHAPE,
                            "input '%s': expected Nx?x?x%d with positive sizes, got %dx%dx%dx%d",
                            g->nodes[v->producer].name, v->channels, d[0], d[1], d[2], d[3]);
        shape[g->inputs[i]] = (cs_shape){d[0], d[1], d[2], d[3], CUSEG_F32};
    }
    cs_shape local[8];
    for (int k = 0; k < g->n_nodes; ++k) {
        const cs_node *nd = &g->nodes[k];
        if (nd->op == CS_OP_INPUT) continue;
        cs_shape *in = local;
        if (nd->n_inputs > 8 && cs_alloc((void **)&in, sizeof *in * (size_t)nd->n_inputs, "shapes"))
            return CUSEG_ERR_OUT_OF_MEMORY;
        for (int i = 0; i < nd->n_inputs; ++i) in[i] = shape[nd->inputs[i]];
        cs_shape out[CS_MAX_OUTPUTS];
        int n_decl = 0;
        cuseg_status st = cs_op(nd->op)->infer(nd, in, out, NULL, &n_decl);
        for (int o = 0; st == CUSEG_OK && o < nd->n_outputs; ++o) {
            if (out[o].n <= 0 || out[o].h <= 0 || out[o].w <= 0) {
                char s[CS_SHAPE_STR_SIZE];
                st = cs_error(CUSEG_ERR_SHAPE, "output would be %s: input too small",
                              cs_shape_str(&out[o], s, sizeof s));
            }
            shape[nd->outputs[o]] = out[o];
        }
        if (st != CUSEG_OK && nd->n_inputs > 0) {
            char s[CS_SHAPE_STR_SIZE];
            cs_error_context(st, "input %s", cs_shape_str(&in[0], s, sizeof s));
        }
        if (in != local) free(in);
        if (st != CUSEG_OK) return cs_error_context(st, "%s '%s'", cs_op(nd->op)->name, nd->name);
    }
    return CUSEG_OK;
}

/* consumers[v] = number of live nodes reading value v (+1 if it is an output). */
static void count_consumers(const cuseg_graph *g, const char *live, int *consumers) {
    memset(consumers, 0, sizeof(int) * (size_t)g->n_values);
    for (int k = 0; k < g->n_nodes; ++k)
        if (live[k])
            for (int i = 0; i < g->nodes[k].n_inputs; ++i) consumers[g->nodes[k].inputs[i]]++;
    for (int i = 0; i < g->n_outputs; ++i) consumers[g->outputs[i]]++;
}

/* The only live reader of value v, if it has exactly one and v is no output. */
static int sole_reader(const cuseg_graph *g, const char *live, const int *consumers, int v) {
    if (consumers[v] != 1) return -1;
    for (int i = 0; i < g->n_outputs; ++i)
        if (g->outputs[i] == v) return -1;
    for (int k = g->values[v].producer + 1; k < g->n_nodes; ++k)
        if (live[k])
            for (int i = 0; i < g->nodes[k].n_inputs; ++i)
                if (g->nodes[k].inputs[i] == v) return k;
    return -1;
}

cuseg_status cs_plan_offsets(const size_t *size, const int *first, const int *last, int n,
                             size_t align, size_t *offset, size_t *peak) {
    int *order = NULL, *placed = NULL;
    if (cs_alloc((void **)&order, sizeof(int) * (size_t)(n + 1), "plan") ||
        cs_alloc((void **)&placed, sizeof(int) * (size_t)(n + 1), "plan")) {
        free(order);
        return CUSEG_ERR_OUT_OF_MEMORY;
    }
    int m = 0;
    for (int i = 0; i < n; ++i) {
        offset[i] = SIZE_MAX;
        if (size[i] > 0) order[m++] = i;
    }
    /* Largest first (insertion sort: graphs have hundreds of values at most). */
    for (int i = 1; i < m; ++i)
        for (int j = i; j > 0 && size[order[j]] > size[order[j - 1]]; --j) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t top = 0;
    for (int a = 0; a < m; ++a) {
        int v = order[a];
        size_t need = (size[v] + align - 1) / align * align;
        /* Buffers already placed whose lifetimes overlap v's, by offset. */
        int k = 0;
        for (int b = 0; b < a; ++b) {
            int u = order[b];
            if (first[u] <= last[v] && first[v] <= last[u]) placed[k++] = u;
        }
        for (int i = 1; i < k; ++i)
            for (int j = i; j > 0 && offset[placed[j]] < offset[placed[j - 1]]; --j) {
                int t = placed[j];
                placed[j] = placed[j - 1];
                placed[j - 1] = t;
            }
        /* Best fit: the smallest gap between conflicting buffers that holds v. */
        size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
        for (int i = 0; i <= k; ++i) {
            size_t gap_end = i < k ? offset[placed[i]] : SIZE_MAX;
            if (gap_end > cursor && gap_end - cursor >= need &&
                (best == SIZE_MAX || gap_end - cursor < best_gap)) {
                best = cursor;
                best_gap = gap_end - cursor;
            }
            if (i < k) {
                size_t end = offset[placed[i]] + (size[placed[i]] + align - 1) / align * align;
                if (end > cursor) cursor = end;
            }
        }
        offset[v] = best;
        if (best + need > top) top = best + need;
    }
    free(order);
    free(placed);
    *peak = top;
    return CUSEG_OK;
}

static cuseg_status build(const cuseg_graph *g, const int (*input_dims)[4], int n_inputs,
                          size_t f32_bytes, cs_plan *plan, int training) {
    memset(plan, 0, sizeof *plan);
    if (n_inputs != g->n_inputs)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "the graph has %d input(s), %d shape(s) given",
                        g->n_inputs, n_inputs);
    const int nv = g->n_values, nn = g->n_nodes;
    char *live = NULL;
    int *consumers = NULL, *first = NULL, *last = NULL;
    size_t *size = NULL;
    cuseg_status st = CUSEG_OK;
#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((st = (x)) != CUSEG_OK) goto fail;                                                     \
    } while (0)
    TRY(cs_alloc((void **)&plan->input_dims, sizeof(int[4]) * (size_t)(n_inputs + 1), "plan"));
    memcpy(plan->input_dims, input_dims, sizeof(int[4]) * (size_t)n_inputs);
    plan->n_inputs = n_inputs;
    TRY(cs_calloc((void **)&plan->value_shape, sizeof(cs_shape) * (size_t)nv, "plan"));
    TRY(cs_alloc((void **)&plan->value_offset, sizeof(size_t) * (size_t)nv, "plan"));
    TRY(cs_calloc((void **)&live, (size_t)nn + 1, "plan"));
    TRY(cs_alloc((void **)&consumers, sizeof(int) * (size_t)nv + 1, "plan"));
    TRY(cs_alloc((void **)&first, sizeof(int) * (size_t)nv + 1, "plan"));
    TRY(cs_alloc((void **)&last, sizeof(int) * (size_t)nv + 1, "plan"));
    TRY(cs_alloc((void **)&size, sizeof(size_t) * (size_t)nv + 1, "plan"));
    TRY(cs_calloc((void **)&plan->steps, sizeof(cs_step) * (size_t)nn + 1, "plan"));
    TRY(cs_plan_infer_shapes(g, input_dims, plan->value_shape));

    /* Dead-node removal: only what the outputs depend on runs. */
    for (int i = 0; i < g->n_outputs; ++i) live[g->values[g->outputs[i]].producer] = 1;
    for (int k = nn - 1; k >= 0; --k)
        if (live[k])
            for (int i = 0; i < g->nodes[k].n_inputs; ++i)
                live[g->values[g->nodes[k].inputs[i]].producer] = 1;
    count_consumers(g, live, consumers);

    /* Steps, with conv -> batch_norm -> relu/relu6 fused into the conv. */
    char *absorbed = live; /* reuse: 2 marks a node folded into an earlier step */
    for (int k = 0; k < nn; ++k) {
        const cs_node *nd = &g->nodes[k];
        if (!live[k] || absorbed[k] == 2 || nd->op == CS_OP_INPUT) continue;
        cs_step *s = &plan->steps[plan->n_steps];
        s->node = nd;
        s->n_in = nd->n_inputs;
        s->in_values = nd->inputs;
        s->n_out = nd->n_outputs;
        memcpy(s->out_values, nd->outputs, sizeof s->out_values);
        if (!training && (nd->op == CS_OP_CONV2D || nd->op == CS_OP_CONV_TRANSPOSE2D)) {
            int r = sole_reader(g, live, consumers, s->out_values[0]);
            if (r >= 0 && g->nodes[r].op == CS_OP_BATCH_NORM) {
                s->bn = &g->nodes[r];
                absorbed[r] = 2;
                s->out_values[0] = g->nodes[r].outputs[0];
                r = sole_reader(g, live, consumers, s->out_values[0]);
            }
            if (r >= 0 && (g->nodes[r].op == CS_OP_RELU || g->nodes[r].op == CS_OP_RELU6)) {
                s->act = g->nodes[r].op == CS_OP_RELU ? CS_ACT_RELU : CS_ACT_RELU6;
                absorbed[r] = 2;
                s->out_values[0] = g->nodes[r].outputs[0];
            }
        }
        cs_shape *in = NULL;
        TRY(cs_alloc((void **)&in, sizeof *in * (size_t)(s->n_in + 1), "plan"));
        for (int i = 0; i < s->n_in; ++i) in[i] = plan->value_shape[s->in_values[i]];
        s->in_shape = in;
        for (int o = 0; o < s->n_out; ++o) s->out_shape[o] = plan->value_shape[s->out_values[o]];
        plan->n_steps++;
    }

    /* Liveness of every buffer the arena holds (graph inputs stay in the
     * caller's tensors; outputs live to the end). */
    for (int v = 0; v < nv; ++v) {
        first[v] = INT32_MAX;
        last[v] = -1;
        size[v] = 0;
    }
    for (int i = 0; i < plan->n_steps; ++i) {
        const cs_step *s = &plan->steps[i];
        for (int o = 0; o < s->n_out; ++o) {
            first[s->out_values[o]] = i;
            if (last[s->out_values[o]] < i) last[s->out_values[o]] = i;
            const cs_shape *sh = &s->out_shape[o];
            size[s->out_values[o]] =
                sh->dtype == CUSEG_F32 ? cs_shape_count(sh) * f32_bytes : cs_shape_bytes(sh);
        }
        for (int j = 0; j < s->n_in; ++j)
            if (last[s->in_values[j]] < i) last[s->in_values[j]] = i;
    }
    for (int i = 0; i < g->n_outputs; ++i) last[g->outputs[i]] = plan->n_steps;
    /* The backward pass reads every forward activation: nothing is reused. */
    if (training)
        for (int v = 0; v < nv; ++v) last[v] = plan->n_steps;
    for (int v = 0; v < nv; ++v) plan->unplanned_bytes += size[v];
    TRY(cs_plan_offsets(size, first, last, nv, 64, plan->value_offset, &plan->arena_bytes));

fail:
#undef TRY
    free(live);
    free(consumers);
    free(first);
    free(last);
    free(size);
    if (st != CUSEG_OK) cs_plan_free(plan);
    return st;
}

cuseg_status cs_plan_build(const cuseg_graph *g, const int (*input_dims)[4], int n_inputs,
                           cs_plan *plan) {
    return build(g, input_dims, n_inputs, sizeof(float), plan, 0);
}

cuseg_status cs_plan_build_stored(const cuseg_graph *g, const int (*input_dims)[4], int n_inputs,
                                  size_t f32_bytes, cs_plan *plan) {
    return build(g, input_dims, n_inputs, f32_bytes, plan, 0);
}

cuseg_status cs_plan_build_training(const cuseg_graph *g, const int (*input_dims)[4], int n_inputs,
                                    cs_plan *plan) {
    return build(g, input_dims, n_inputs, sizeof(float), plan, 1);
}
