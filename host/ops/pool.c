/* STUB: replaced by the real implementation. */
#include "core/status.h"
#include "ops/ops.h"

static cuseg_status stub_infer(const cs_node *n, const cs_shape *in, cs_shape *out, cs_param_decl *p, int *np) {
    (void)n; (void)in; (void)out; (void)p; *np = 0;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
static cuseg_status stub_forward(const cs_step *s, const cs_io *io, cs_cpu *c) { (void)s; (void)io; (void)c; return CUSEG_ERR_UNSUPPORTED; }
const cs_op_def cs_op_max_pool2d = {"max_pool2d", stub_infer, 1, NULL, stub_forward, NULL, NULL};
const cs_op_def cs_op_avg_pool2d = {"avg_pool2d", stub_infer, 1, NULL, stub_forward, NULL, NULL};
const cs_op_def cs_op_global_avg_pool = {"global_avg_pool", stub_infer, 1, NULL, stub_forward, NULL, NULL};
const cs_op_def cs_op_max_unpool2d = {"max_unpool2d", stub_infer, 1, NULL, stub_forward, NULL, NULL};
cuseg_status cuseg_graph_max_pool2d(cuseg_graph *g, const char *name, int x, const cuseg_pool2d_params *p, int *y, int *indices) {
    (void)g;
    (void)name;
    (void)x;
    (void)p;
    (void)y;
    (void)indices;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
cuseg_status cuseg_graph_avg_pool2d(cuseg_graph *g, const char *name, int x, const cuseg_pool2d_params *p, int *y) {
    (void)g;
    (void)name;
    (void)x;
    (void)p;
    (void)y;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
cuseg_status cuseg_graph_global_avg_pool(cuseg_graph *g, const char *name, int x, int *y) {
    (void)g;
    (void)name;
    (void)x;
    (void)y;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
cuseg_status cuseg_graph_max_unpool2d(cuseg_graph *g, const char *name, int x, int indices, int like, int *y) {
    (void)g;
    (void)name;
    (void)x;
    (void)indices;
    (void)like;
    (void)y;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
