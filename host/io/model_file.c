/* Model files: a safetensors file holding a graph's parameters under their
 * PyTorch names, and its metadata (arch, options, preprocessing, classes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"
#include "io/safetensors.h"

static int is_batch_counter(const char *name) {
    const char *suffix = ".num_batches_tracked";
    size_t n = strlen(name), m = strlen(suffix);
    return n >= m && strcmp(name + n - m, suffix) == 0;
}

static int has_param(const cuseg_graph *g, const char *name) {
    for (int i = 0; i < g->n_params; ++i)
        if (strcmp(g->params[i].name, name) == 0) return 1;
    return 0;
}

/* Checks every name, shape and dtype before changing anything, so that a bad
 * file leaves the graph as it was. */
static cuseg_status load_weights(cuseg_graph *g, const cs_safetensors *st, const char *path) {
    for (int i = 0; i < g->n_params; ++i) {
        const cs_param *q = &g->params[i];
        const cs_st_tensor *t = cs_safetensors_find(st, q->name);
        if (!t) return cs_error(CUSEG_ERR_NOT_FOUND, "%s: tensor '%s' is missing", path, q->name);
        int same = t->ndim == q->ndim;
        for (int d = 0; same && d < q->ndim; ++d) same = t->shape[d] == q->dims[d];
        if (!same) {
            char want[64] = "", got[64] = "";
            for (int d = 0; d < q->ndim; ++d)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "," : "", q->dims[d]);
            for (int d = 0; d < t->ndim; ++d)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                         (long long)t->shape[d]);
            return cs_error(CUSEG_ERR_SHAPE, "%s: tensor '%s' has shape [%s], the model needs [%s]",
                            path, q->name, got, want);
        }
        if (t->dtype != CS_ST_F32 && t->dtype != CS_ST_F16 && t->dtype != CS_ST_BF16)
            return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s' is %s; weights must be F32, F16 or BF16",
                            path, q->name, cs_st_dtype_name(t->dtype));
    }
    for (int i = 0; i < cs_safetensors_count(st); ++i) {
        const char *name = cs_safetensors_at(st, i)->name;
        if (!has_param(g, name) && !is_batch_counter(name))
            return cs_error(CUSEG_ERR_FORMAT, "%s: tensor '%s' is not a parameter of this model (%s)",
                            path, name, cuseg_graph_meta(g, "arch") ? cuseg_graph_meta(g, "arch") : "graph");
    }
    for (int i = 0; i < g->n_params; ++i)
        CS_CHECK(cs_safetensors_read_f32(st, g->params[i].name, g->params[i].data, g->params[i].count));
    return CUSEG_OK;
}

cuseg_status cuseg_graph_load_weights(cuseg_graph *g, const char *path) {
    CS_CHECK_ARG(g && path, "cuseg_graph_load_weights: NULL argument");
    cs_safetensors *st;
    CS_CHECK(cs_safetensors_open(path, &st));
    cuseg_status s = load_weights(g, st, path);
    cs_safetensors_close(st);
    return s;
}

cuseg_status cuseg_model_load(const char *path, cuseg_model **out) {
    CS_CHECK_ARG(path && out, "cuseg_model_load: NULL argument");
    *out = NULL;
    cs_safetensors *st;
    CS_CHECK(cs_safetensors_open(path, &st));
    const char *arch = cs_safetensors_metadata(st, "arch");
    cuseg_graph *g = NULL;
    cuseg_status s = CUSEG_OK;
    if (!arch)
        s = cs_error(CUSEG_ERR_FORMAT,
                     "%s: no \"arch\" in __metadata__: not a cuseg model (convert PyTorch weights "
                     "with tests/golden/convert_state_dict.py)",
                     path);
    if (s == CUSEG_OK) {
        s = cuseg_arch_build(arch, cs_safetensors_metadata(st, "options"), &g);
        if (s != CUSEG_OK) cs_error_context(s, "%s", path);
    }
    for (int i = 0; s == CUSEG_OK && i < cs_safetensors_metadata_count(st); ++i) {
        const char *k, *v;
        cs_safetensors_metadata_at(st, i, &k, &v);
        s = cuseg_graph_set_meta(g, k, v);
    }
    if (s == CUSEG_OK) s = load_weights(g, st, path);
    cs_safetensors_close(st);
    if (s == CUSEG_OK) return cuseg_model_create(&g, out);
    cuseg_graph_release(g);
    return s;
}

cuseg_status cuseg_model_save(const cuseg_model *m, const char *path) {
    CS_CHECK_ARG(m && path, "cuseg_model_save: NULL argument");
    const cuseg_graph *g = cuseg_model_graph(m);
    CS_CHECK_ARG(cuseg_graph_meta(g, "arch"),
                 "cuseg_model_save: the graph has no \"arch\" metadata (build it with cuseg_arch_build)");
    cs_st_tensor_in *t = NULL;
    const char **kv = NULL;
    cuseg_status s = cs_calloc((void **)&t, sizeof *t * (size_t)(g->n_params + 1), "model file");
    if (s == CUSEG_OK)
        s = cs_calloc((void **)&kv, sizeof *kv * (size_t)(2 * g->n_meta + 1), "model file");
    if (s == CUSEG_OK) {
        for (int i = 0; i < g->n_params; ++i) {
            const cs_param *q = &g->params[i];
            t[i].name = q->name;
            t[i].dtype = CS_ST_F32;
            t[i].ndim = q->ndim;
            for (int d = 0; d < q->ndim; ++d) t[i].dims[d] = q->dims[d];
            t[i].data = q->data;
        }
        for (int i = 0; i < 2 * g->n_meta; ++i) kv[i] = g->meta[i];
        s = cs_safetensors_write(path, t, g->n_params, kv);
    }
    free(t);
    free(kv);
    return s;
}
