/* The layer graph: values, nodes and their parameters (internal view). */
#ifndef CS_GRAPH_H
#define CS_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "cuseg.h"

/* A concrete or partly known NHWC shape. -1 marks a size that is only known
 * once a run's input size is chosen; shape rules propagate it. */
typedef struct cs_shape {
    int n, h, w, c;
    cuseg_dtype dtype;
} cs_shape;

size_t cs_dtype_size(cuseg_dtype dtype);
size_t cs_shape_count(const cs_shape *s);
size_t cs_shape_bytes(const cs_shape *s);
/* "2x17x17x64 f32" into buf; returns buf. */
const char *cs_shape_str(const cs_shape *s, char *buf, size_t size);
#define CS_SHAPE_STR_SIZE 64

typedef enum cs_op_id {
    CS_OP_INPUT,
    CS_OP_CONV2D,
    CS_OP_CONV_TRANSPOSE2D,
    CS_OP_BATCH_NORM,
    CS_OP_RELU,
    CS_OP_RELU6,
    CS_OP_SIGMOID,
    CS_OP_DROPOUT,
    CS_OP_ADD,
    CS_OP_SCALE,
    CS_OP_MAX_POOL2D,
    CS_OP_AVG_POOL2D,
    CS_OP_GLOBAL_AVG_POOL,
    CS_OP_MAX_UNPOOL2D,
    CS_OP_RESIZE_BILINEAR,
    CS_OP_RESIZE_NEAREST,
    CS_OP_CONCAT,
    CS_OP_CROP,
    CS_OP_PAD,
    CS_OP_SOFTMAX,
    CS_OP_ARGMAX,
    CS_OP_COUNT
} cs_op_id;

/* Typed parameters of a node; which member is used depends on the op. */
typedef union cs_op_params {
    cuseg_conv2d_params conv;
    struct { cuseg_pool2d_params w; int with_indices; } pool; /* with_indices: max pool only */
    cuseg_resize_params resize;
    struct { float eps; } bn;
    struct { float scale, shift; } scale;
    struct { float p; } dropout;
    struct { int out_h, out_w, offset_h, offset_w, center; } crop; /* center: offsets from the sizes */
    struct { int top, bottom, left, right; } pad;
    struct { int channels; } input;
} cs_op_params;

/* A learnable tensor, PyTorch layout, float32, owned by the graph. */
typedef struct cs_param {
    char *name;
    int dims[4];
    int ndim;
    size_t count;
    float *data;
    int buffer; /* running statistics: stored and loaded, but not learnable */
} cs_param;

#define CS_MAX_OUTPUTS 2
#define CS_MAX_PARAMS 4

typedef struct cs_node {
    cs_op_id op;
    char *name;
    int *inputs; /* value ids, n_inputs of them */
    int n_inputs;
    int outputs[CS_MAX_OUTPUTS];
    int n_outputs;
    cs_op_params p;
    int param0;   /* index of the first of this node's parameters in the graph */
    int n_params; /* consecutive parameters, in the order the op declared them */
} cs_node;

typedef struct cs_value {
    int channels;
    cuseg_dtype dtype;
    int producer; /* node index */
} cs_value;

struct cuseg_graph {
    cs_node *nodes;
    int n_nodes, cap_nodes;
    cs_value *values;
    int n_values, cap_values;
    cs_param *params;
    int n_params, cap_params;
    int *inputs; /* value ids of the graph inputs, in declaration order */
    int n_inputs;
    int *outputs;
    int n_outputs;
    char **meta; /* key, value, key, value, ... (2 * n_meta strings) */
    int n_meta;
};

/* What an op's shape rule declares about a parameter. */
typedef struct cs_param_decl {
    const char *suffix; /* "weight", "bias", ... */
    int dims[4];
    int ndim;
    float init; /* initial value of every element */
    int buffer; /* not learnable (BN running statistics) */
} cs_param_decl;

/* Adds a node after checking it with its op's shape rule on the partly known
 * input shapes; allocates the output values and the parameters the rule
 * declares. On failure the graph is unchanged and the message names the node.
 * outs receives the output value ids (up to CS_MAX_OUTPUTS; may be NULL). */
cuseg_status cs_graph_add_node(cuseg_graph *g, cs_op_id op, const char *name, const int *inputs,
                               int n_inputs, const cs_op_params *p, int *outs);

/* The i-th parameter of a node. */
const cs_param *cs_node_param(const cuseg_graph *g, const cs_node *node, int i);

/* Shapes of every value for concrete input shapes (plan.c). */
cuseg_status cs_plan_infer_shapes(const cuseg_graph *g, const int (*input_dims)[4], cs_shape *shape);

/* Multiply-accumulates of one node (convolutions only; 0 for other ops). */
int64_t cs_node_macs(const cs_node *node, const cs_shape *in, const cs_shape *out);

/* Checks a value id; the message names `what`. */
cuseg_status cs_graph_check_value(const cuseg_graph *g, int value, const char *what);

#endif
