/* STUB: replaced by the real implementation. */
#include "core/status.h"
#include "ops/ops.h"

static cuseg_status stub_infer(const cs_node *n, const cs_shape *in, cs_shape *out, cs_param_decl *p, int *np) {
    (void)n; (void)in; (void)out; (void)p; *np = 0;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
static cuseg_status stub_forward(const cs_step *s, const cs_io *io, cs_cpu *c) { (void)s; (void)io; (void)c; return CUSEG_ERR_UNSUPPORTED; }
const cs_op_def cs_op_crop = {"crop", stub_infer, 1, NULL, stub_forward, NULL, NULL};
const cs_op_def cs_op_pad = {"pad", stub_infer, 1, NULL, stub_forward, NULL, NULL};
cuseg_status cuseg_graph_crop(cuseg_graph *g, const char *name, int x, int like, int out_h, int out_w, int offset_h, int offset_w, int *y) {
    (void)g;
    (void)name;
    (void)x;
    (void)like;
    (void)out_h;
    (void)out_w;
    (void)offset_h;
    (void)offset_w;
    (void)y;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
cuseg_status cuseg_graph_pad(cuseg_graph *g, const char *name, int x, int top, int bottom, int left, int right, int *y) {
    (void)g;
    (void)name;
    (void)x;
    (void)top;
    (void)bottom;
    (void)left;
    (void)right;
    (void)y;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "not implemented yet");
}
