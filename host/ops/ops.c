/* The op table and the shape-rule helpers the op families share. */
#include "ops/ops.h"

#include "core/status.h"

static cuseg_status input_infer(const cs_node *node, const cs_shape *in, cs_shape *out,
                                cs_param_decl *params, int *n_params) {
    (void)in;
    (void)params;
    *n_params = 0;
    if (node->p.input.channels <= 0)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "channels must be > 0, got %d",
                        node->p.input.channels);
    out[0] = (cs_shape){-1, -1, -1, node->p.input.channels, CUSEG_F32};
    return CUSEG_OK;
}

/* Inputs are bound to the caller's tensors by the session; nothing to run. */
const cs_op_def cs_op_input = {.name = "input", .infer = input_infer, .n_outputs = 1};

static const cs_op_def *const table[CS_OP_COUNT] = {
    [CS_OP_INPUT] = &cs_op_input,
    [CS_OP_CONV2D] = &cs_op_conv2d,
    [CS_OP_CONV_TRANSPOSE2D] = &cs_op_conv_transpose2d,
    [CS_OP_BATCH_NORM] = &cs_op_batch_norm,
    [CS_OP_RELU] = &cs_op_relu,
    [CS_OP_RELU6] = &cs_op_relu6,
    [CS_OP_SIGMOID] = &cs_op_sigmoid,
    [CS_OP_DROPOUT] = &cs_op_dropout,
    [CS_OP_ADD] = &cs_op_add,
    [CS_OP_SCALE] = &cs_op_scale,
    [CS_OP_MAX_POOL2D] = &cs_op_max_pool2d,
    [CS_OP_AVG_POOL2D] = &cs_op_avg_pool2d,
    [CS_OP_GLOBAL_AVG_POOL] = &cs_op_global_avg_pool,
    [CS_OP_MAX_UNPOOL2D] = &cs_op_max_unpool2d,
    [CS_OP_RESIZE_BILINEAR] = &cs_op_resize_bilinear,
    [CS_OP_RESIZE_NEAREST] = &cs_op_resize_nearest,
    [CS_OP_CONCAT] = &cs_op_concat,
    [CS_OP_CROP] = &cs_op_crop,
    [CS_OP_PAD] = &cs_op_pad,
    [CS_OP_SOFTMAX] = &cs_op_softmax,
    [CS_OP_ARGMAX] = &cs_op_argmax,
};

const cs_op_def *cs_op(cs_op_id id) { return table[id]; }

cuseg_status cs_expect_dtype(const cs_shape *s, cuseg_dtype dtype, const char *what) {
    static const char *const names[] = {"f32", "i32", "u8"};
    if (s->dtype != dtype)
        return cs_error(CUSEG_ERR_SHAPE, "%s must be %s, got %s", what, names[dtype],
                        names[s->dtype]);
    return CUSEG_OK;
}

static int differ(int a, int b) { return a >= 0 && b >= 0 && a != b; }

cuseg_status cs_expect_same_nhw(const cs_shape *a, const cs_shape *b, const char *what) {
    if (differ(a->n, b->n) || differ(a->h, b->h) || differ(a->w, b->w)) {
        char sa[CS_SHAPE_STR_SIZE], sb[CS_SHAPE_STR_SIZE];
        return cs_error(CUSEG_ERR_SHAPE, "%s: batch and spatial sizes differ: %s vs %s", what,
                        cs_shape_str(a, sa, sizeof sa), cs_shape_str(b, sb, sizeof sb));
    }
    return CUSEG_OK;
}

cuseg_status cs_infer_same_f32(const cs_node *node, const cs_shape *in, cs_shape *out,
                               cs_param_decl *params, int *n_params) {
    (void)node;
    (void)params;
    *n_params = 0;
    CS_CHECK(cs_expect_dtype(&in[0], CUSEG_F32, "input"));
    out[0] = in[0];
    return CUSEG_OK;
}
