/* STUB: replaced by the real implementation. */
#include "core/status.h"
#include "ops/ops.h"

static cuseg_status stub_infer(const cs_node *n, const cs_shape *in, cs_shape *out, cs_param_decl *p, int *np) {
    (void)n; (void)in; (void)out; (void)p; *np = 0;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
static cuseg_status stub_forward(const cs_step *s, const cs_io *io, cs_cpu *c) { (void)s; (void)io; (void)c; return CUSEG_ERR_UNSUPPORTED; }
const cs_op_def cs_op_conv2d = {"conv2d", stub_infer, 1, NULL, stub_forward, NULL, NULL};
const cs_op_def cs_op_conv_transpose2d = {"conv_transpose2d", stub_infer, 1, NULL, stub_forward, NULL, NULL};
cuseg_status cuseg_graph_conv2d(cuseg_graph *g, const char *name, int x, const cuseg_conv2d_params *p, int *y) {
    (void)g;
    (void)name;
    (void)x;
    (void)p;
    (void)y;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
cuseg_status cuseg_graph_conv_transpose2d(cuseg_graph *g, const char *name, int x, const cuseg_conv2d_params *p, int *y) {
    (void)g;
    (void)name;
    (void)x;
    (void)p;
    (void)y;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
