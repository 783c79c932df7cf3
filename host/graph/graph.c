/* Graph building: nodes are appended in a valid topological order and checked
 * with their op's shape rule as they are added. */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/ops.h"

size_t cs_dtype_size(cuseg_dtype dtype) { return dtype == CUSEG_U8 ? 1 : 4; }

size_t cs_shape_count(const cs_shape *s) {
    return (size_t)s->n * (size_t)s->h * (size_t)s->w * (size_t)s->c;
}

size_t cs_shape_bytes(const cs_shape *s) { return cs_shape_count(s) * cs_dtype_size(s->dtype); }

const char *cs_shape_str(const cs_shape *s, char *buf, size_t size) {
    static const char *const dt[] = {"f32", "i32", "u8"};
    char d[4][12];
    const int v[4] = {s->n, s->h, s->w, s->c};
    for (int i = 0; i < 4; ++i) {
        if (v[i] < 0)
            snprintf(d[i], sizeof d[i], "?");
        else
            snprintf(d[i], sizeof d[i], "%d", v[i]);
    }
    snprintf(buf, size, "%sx%sx%sx%s %s", d[0], d[1], d[2], d[3], dt[s->dtype]);
    return buf;
}

cuseg_status cuseg_graph_create(cuseg_graph **out) {
    CS_CHECK_ARG(out, "cuseg_graph_create: out is NULL");
    *out = NULL;
    cuseg_graph *g;
    CS_CHECK(cs_calloc((void **)&g, sizeof *g, "graph"));
    *out = g;
    return CUSEG_OK;
}

void cuseg_graph_release(cuseg_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; ++i) {
        free(g->nodes[i].name);
        free(g->nodes[i].inputs);
    }
    for (int i = 0; i < g->n_params; ++i) {
        free(g->params[i].name);
        free(g->params[i].data);
    }
    free(g->nodes);
    free(g->values);
    free(g->params);
    for (int i = 0; i < 2 * g->n_meta; ++i) free(g->meta[i]);
    free(g->meta);
    free(g->inputs);
    free(g->outputs);
    free(g);
}

/* Grows *arr to hold at least `need` elements of `size` bytes. */
static cuseg_status reserve(void **arr, int *cap, int need, size_t size) {
    if (need <= *cap) return CUSEG_OK;
    int n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *p = realloc(*arr, (size_t)n * size);
    if (!p) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cannot grow the graph to %d entries", n);
    *arr = p;
    *cap = n;
    return CUSEG_OK;
}

cuseg_status cs_graph_check_value(const cuseg_graph *g, int value, const char *what) {
    if (value < 0 || value >= g->n_values)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "%s: value %d does not exist (graph has %d)",
                        what, value, g->n_values);
    return CUSEG_OK;
}

static int find_node(const cuseg_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; ++i)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

cuseg_status cs_graph_add_node(cuseg_graph *g, cs_op_id op, const char *name, const int *inputs,
                               int n_inputs, const cs_op_params *p, int *outs) {
    const cs_op_def *def = cs_op(op);
    CS_CHECK_ARG(g, "%s: graph is NULL", def->name);
    CS_CHECK_ARG(name && name[0], "%s: node name is NULL or empty", def->name);
    if (find_node(g, name) >= 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "%s '%s': a node of that name exists already",
                        def->name, name);
    CS_CHECK_ARG(n_inputs >= 0 && (n_inputs == 0 || inputs), "%s '%s': bad input list", def->name,
                 name);

    cs_node node;
    memset(&node, 0, sizeof node);
    node.op = op;
    node.n_inputs = n_inputs;
    if (p) node.p = *p;

    cs_shape in_local[8], *in = in_local;
    if (n_inputs > 8 && cs_alloc((void **)&in, sizeof *in * (size_t)n_inputs, "shapes"))
        return CUSEG_ERR_OUT_OF_MEMORY;
    cuseg_status st = CUSEG_OK;
    for (int i = 0; i < n_inputs && st == CUSEG_OK; ++i) {
        st = cs_graph_check_value(g, inputs[i], def->name);
        if (st == CUSEG_OK) {
            const cs_value *v = &g->values[inputs[i]];
            in[i] = (cs_shape){-1, -1, -1, v->channels, v->dtype};
        }
    }
    cs_shape out[CS_MAX_OUTPUTS];
    cs_param_decl decl[CS_MAX_PARAMS];
    int n_decl = 0;
    if (st == CUSEG_OK) {
        node.inputs = (int *)inputs; /* borrowed for the shape rule only */
        st = def->infer(&node, in, out, decl, &n_decl);
        node.inputs = NULL;
    }
    if (in != in_local) free(in);
    if (st != CUSEG_OK) return cs_error_context(st, "%s '%s'", def->name, name);
    node.n_outputs = def->n_outputs;
    if (op == CS_OP_MAX_POOL2D && node.p.pool.with_indices) node.n_outputs = 2;

    /* Reserve everything first so that nothing below can fail half-way. */
    CS_CHECK(reserve((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes));
    CS_CHECK(reserve((void **)&g->values, &g->cap_values, g->n_values + node.n_outputs,
                     sizeof *g->values));
    CS_CHECK(reserve((void **)&g->params, &g->cap_params, g->n_params + n_decl, sizeof *g->params));
    cs_param params[CS_MAX_PARAMS];
    memset(params, 0, sizeof params);
    node.name = cs_strdup(name);
    if (n_inputs && cs_alloc((void **)&node.inputs, sizeof(int) * (size_t)n_inputs, "node inputs"))
        goto oom;
    if (n_inputs) memcpy(node.inputs, inputs, sizeof(int) * (size_t)n_inputs);
    if (!node.name) goto oom;
    for (int i = 0; i < n_decl; ++i) {
        cs_param *q = &params[i];
        size_t len = strlen(name) + strlen(decl[i].suffix) + 2;
        q->name = malloc(len);
        if (!q->name) goto oom;
        snprintf(q->name, len, "%s.%s", name, decl[i].suffix);
        q->ndim = decl[i].ndim;
        q->count = 1;
        for (int d = 0; d < q->ndim; ++d) {
            q->dims[d] = decl[i].dims[d];
            q->count *= (size_t)decl[i].dims[d];
        }
        q->data = malloc(q->count * sizeof(float));
        if (!q->data) goto oom;
        for (size_t k = 0; k < q->count; ++k) q->data[k] = decl[i].init;
        q->buffer = decl[i].buffer;
    }

    node.param0 = g->n_params;
    node.n_params = n_decl;
    for (int i = 0; i < n_decl; ++i) g->params[g->n_params++] = params[i];
    for (int i = 0; i < node.n_outputs; ++i) {
        node.outputs[i] = g->n_values;
        g->values[g->n_values++] = (cs_value){out[i].c, out[i].dtype, g->n_nodes};
        if (outs) outs[i] = node.outputs[i];
    }
    g->nodes[g->n_nodes++] = node;
    return CUSEG_OK;

oom:
    free(node.name);
    free(node.inputs);
    for (int i = 0; i < n_decl; ++i) {
        free(params[i].name);
        free(params[i].data);
    }
    return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "%s '%s': cannot allocate its parameters", def->name,
                    name);
}

const cs_param *cs_node_param(const cuseg_graph *g, const cs_node *node, int i) {
    return &g->params[node->param0 + i];
}

cuseg_status cuseg_graph_input(cuseg_graph *g, const char *name, int channels, int *value) {
    CS_CHECK_ARG(g && value, "cuseg_graph_input: NULL argument");
    int *in = realloc(g->inputs, sizeof(int) * (size_t)(g->n_inputs + 1));
    if (!in) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cuseg_graph_input: out of memory");
    g->inputs = in;
    cs_op_params p;
    memset(&p, 0, sizeof p);
    p.input.channels = channels;
    int v;
    CS_CHECK(cs_graph_add_node(g, CS_OP_INPUT, name, NULL, 0, &p, &v));
    g->inputs[g->n_inputs++] = v;
    *value = v;
    return CUSEG_OK;
}

cuseg_status cuseg_graph_output(cuseg_graph *g, int value) {
    CS_CHECK_ARG(g, "cuseg_graph_output: graph is NULL");
    CS_CHECK(cs_graph_check_value(g, value, "cuseg_graph_output"));
    for (int i = 0; i < g->n_outputs; ++i)
        CS_CHECK_ARG(g->outputs[i] != value, "cuseg_graph_output: value %d is an output already",
                     value);
    int *o = realloc(g->outputs, sizeof(int) * (size_t)(g->n_outputs + 1));
    if (!o) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cuseg_graph_output: out of memory");
    g->outputs = o;
    g->outputs[g->n_outputs++] = value;
    return CUSEG_OK;
}

cuseg_status cuseg_graph_value_channels(const cuseg_graph *g, int value, int *channels) {
    CS_CHECK_ARG(g && channels, "cuseg_graph_value_channels: NULL argument");
    CS_CHECK(cs_graph_check_value(g, value, "cuseg_graph_value_channels"));
    *channels = g->values[value].channels;
    return CUSEG_OK;
}

int cuseg_graph_param_count(const cuseg_graph *g) { return g ? g->n_params : 0; }

cuseg_status cuseg_graph_param_info(const cuseg_graph *g, int index, const char **name,
                                    int dims[4], int *ndim) {
    CS_CHECK_ARG(g, "cuseg_graph_param_info: graph is NULL");
    CS_CHECK_ARG(index >= 0 && index < g->n_params,
                 "cuseg_graph_param_info: index %d out of range (%d parameters)", index,
                 g->n_params);
    const cs_param *q = &g->params[index];
    if (name) *name = q->name;
    if (dims)
        for (int d = 0; d < 4; ++d) dims[d] = d < q->ndim ? q->dims[d] : 1;
    if (ndim) *ndim = q->ndim;
    return CUSEG_OK;
}

cuseg_status cuseg_graph_set_param(cuseg_graph *g, const char *name, const float *data,
                                   size_t count) {
    CS_CHECK_ARG(g && name && data, "cuseg_graph_set_param: NULL argument");
    for (int i = 0; i < g->n_params; ++i) {
        cs_param *q = &g->params[i];
        if (strcmp(q->name, name) != 0) continue;
        if (count != q->count)
            return cs_error(CUSEG_ERR_SHAPE, "parameter '%s' has %zu elements, %zu were given", name,
                            q->count, count);
        memcpy(q->data, data, count * sizeof(float));
        return CUSEG_OK;
    }
    return cs_error(CUSEG_ERR_NOT_FOUND, "no parameter named '%s'", name);
}

cuseg_status cuseg_graph_set_meta(cuseg_graph *g, const char *key, const char *value) {
    CS_CHECK_ARG(g && key && value, "cuseg_graph_set_meta: NULL argument");
    CS_CHECK_ARG(key[0], "cuseg_graph_set_meta: empty key");
    char *v = cs_strdup(value);
    if (!v) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cuseg_graph_set_meta: out of memory");
    for (int i = 0; i < g->n_meta; ++i)
        if (strcmp(g->meta[2 * i], key) == 0) {
            free(g->meta[2 * i + 1]);
            g->meta[2 * i + 1] = v;
            return CUSEG_OK;
        }
    char *k = cs_strdup(key);
    char **m = k ? realloc(g->meta, sizeof(char *) * (size_t)(2 * g->n_meta + 2)) : NULL;
    if (!m) {
        free(k);
        free(v);
        return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cuseg_graph_set_meta: out of memory");
    }
    g->meta = m;
    g->meta[2 * g->n_meta] = k;
    g->meta[2 * g->n_meta + 1] = v;
    g->n_meta++;
    return CUSEG_OK;
}

const char *cuseg_graph_meta(const cuseg_graph *g, const char *key) {
    if (!g || !key) return NULL;
    for (int i = 0; i < g->n_meta; ++i)
        if (strcmp(g->meta[2 * i], key) == 0) return g->meta[2 * i + 1];
    return NULL;
}
