/* Parameter and MAC counts (models.md §0.4: the convention of torchvision's
 * _ops, which counts conv and transposed-conv multiply-accumulates only). */
#include <stdlib.h>

#include "core/status.h"
#include "graph/graph.h"

int64_t cs_node_macs(const cs_node *node, const cs_shape *in, const cs_shape *out) {
    const cuseg_conv2d_params *p = &node->p.conv;
    const int64_t k = (int64_t)p->kernel_h * p->kernel_w;
    if (node->op == CS_OP_CONV2D)
        return (int64_t)out->n * out->h * out->w * out->c * (in->c / p->groups) * k;
    if (node->op == CS_OP_CONV_TRANSPOSE2D)
        return (int64_t)in->n * in->h * in->w * in->c * (out->c / p->groups) * k;
    return 0;
}

cuseg_status cuseg_graph_summarize(const cuseg_graph *g, const int (*shapes)[4], int n_inputs,
                                   cuseg_graph_summary *out) {
    CS_CHECK_ARG(g && shapes && out, "cuseg_graph_summarize: NULL argument");
    CS_CHECK_ARG(n_inputs == g->n_inputs, "cuseg_graph_summarize: the graph has %d input(s), %d given",
                 g->n_inputs, n_inputs);
    cs_shape *shape;
    CS_CHECK(cs_calloc((void **)&shape, sizeof *shape * (size_t)(g->n_values + 1), "shapes"));
    cuseg_status st = cs_plan_infer_shapes(g, shapes, shape);
    if (st == CUSEG_OK) {
        cuseg_graph_summary s = {0, 0};
        for (int i = 0; i < g->n_params; ++i)
            if (!g->params[i].buffer) s.params += (int64_t)g->params[i].count;
        for (int k = 0; k < g->n_nodes; ++k) {
            const cs_node *nd = &g->nodes[k];
            if (nd->n_inputs > 0)
                s.macs += cs_node_macs(nd, &shape[nd->inputs[0]], &shape[nd->outputs[0]]);
        }
        *out = s;
    }
    free(shape);
    return st;
}
