/* The op table: one row per op, the only list the graph, the planner, the
 * backends and the tests iterate over (design.md §3). */
#ifndef CS_OPS_H
#define CS_OPS_H

#include "graph/graph.h"

/* Fused activation applied by an op after its own result. */
typedef enum cs_act { CS_ACT_NONE, CS_ACT_RELU, CS_ACT_RELU6 } cs_act;

/* One unit of execution: a node, possibly with a batch norm and an
 * activation folded in (set by the session's fusion pass). */
typedef struct cs_step {
    const cs_node *node;
    const cs_node *bn; /* folded batch norm, or NULL */
    cs_act act;
    int n_in;
    const int *in_values;
    int n_out;
    int out_values[CS_MAX_OUTPUTS];
    const cs_shape *in_shape; /* n_in shapes */
    cs_shape out_shape[CS_MAX_OUTPUTS];
    void *state; /* backend state created by prepare, released by release */
} cs_step;

typedef struct cs_cpu cs_cpu; /* CPU backend of a session (host/ops/cpu.h) */

/* The data an op reads and writes in one run. */
typedef struct cs_io {
    const void *const *in;
    void *const *out;
} cs_io;

/* Gradients of one step (training). Each gradient buffer has the shape of
 * its tensor. din and dparam are ACCUMULATED into (+=) so that a value read
 * by several nodes sums its gradients; an entry is NULL when no gradient is
 * wanted (the image input, int32 indices, frozen parameters). */
typedef struct cs_grad_io {
    const void *const *in;    /* forward inputs */
    const void *const *out;   /* forward outputs */
    const float *const *dout; /* gradients of the outputs (NULL: none flows) */
    float *const *din;        /* gradients of the inputs */
    float *const *dparam;     /* gradients of the node's parameters, in declaration order */
} cs_grad_io;

typedef struct cs_op_def {
    const char *name;
    /* Shape rule and parameter check. `in` holds the input shapes (spatial or
     * batch sizes may be -1); writes the output shapes and, if `params` is
     * non-NULL, declares the node's parameters and returns their number in
     * *n_params. Messages name the problem; the caller adds the node name. */
    cuseg_status (*infer)(const cs_node *node, const cs_shape *in, cs_shape *out,
                          cs_param_decl *params, int *n_params);
    int n_outputs; /* outputs produced (max_pool2d: 1 or 2, see infer) */
    /* Optional: build backend state for concrete shapes (weights repacked,
     * primitives created). */
    cuseg_status (*cpu_prepare)(cs_step *step, const cuseg_graph *g, cs_cpu *cpu);
    cuseg_status (*cpu_forward)(const cs_step *step, const cs_io *io, cs_cpu *cpu);
    void (*cpu_release)(void *state);
    /* Training: gradients of the inputs and parameters; NULL where an op has
     * no backward yet (or none: argmax). */
    cuseg_status (*cpu_backward)(const cs_step *step, const cs_grad_io *io, cs_cpu *cpu);
    /* The CUDA rows are cuda/backend.cuh's cs_cuda_op, one per op family
     * file in cuda/ (conv.cu beside conv.c, ...). */
} cs_op_def;

const cs_op_def *cs_op(cs_op_id id);

/* Rows of the table, defined in each op family's file. */
extern const cs_op_def cs_op_input, cs_op_conv2d, cs_op_conv_transpose2d, cs_op_batch_norm,
    cs_op_relu, cs_op_relu6, cs_op_sigmoid, cs_op_dropout, cs_op_add, cs_op_scale,
    cs_op_max_pool2d, cs_op_avg_pool2d, cs_op_global_avg_pool, cs_op_max_unpool2d,
    cs_op_resize_bilinear, cs_op_resize_nearest, cs_op_concat, cs_op_crop, cs_op_pad,
    cs_op_softmax, cs_op_argmax;

/* Shared shape-rule helpers. */
cuseg_status cs_expect_dtype(const cs_shape *s, cuseg_dtype dtype, const char *what);
/* Shape rule of ops whose f32 output has the shape of their f32 input. */
cuseg_status cs_infer_same_f32(const cs_node *node, const cs_shape *in, cs_shape *out,
                               cs_param_decl *params, int *n_params);
/* Equal N, H, W where known. */
cuseg_status cs_expect_same_nhw(const cs_shape *a, const cs_shape *b, const char *what);

#endif
