/* Execution plan of a session for one set of input shapes: the steps to run
 * (after the fusion pass) and where every activation lives in one arena. */
#ifndef CS_PLAN_H
#define CS_PLAN_H

#include <stddef.h>

#include "ops/ops.h"

typedef struct cs_plan {
    int n_inputs;
    int (*input_dims)[4]; /* the shapes this plan was made for */
    cs_shape *value_shape;  /* per value */
    size_t *value_offset;   /* per value: offset in the arena; SIZE_MAX if none */
    cs_step *steps;
    int n_steps;
    size_t arena_bytes;     /* peak of the planned arena */
    size_t unplanned_bytes; /* sum of all planned activations */
} cs_plan;

/* Shape inference over the whole graph for concrete input shapes, dead-node
 * removal, conv+BN+activation fusion, liveness and offset assignment. */
cuseg_status cs_plan_build(const cuseg_graph *g, const int (*input_dims)[4], int n_inputs,
                           cs_plan *plan);
/* The same with f32 activations stored in f32_bytes each (2 for the CUDA
 * backend's 16-bit precisions). */
cuseg_status cs_plan_build_stored(const cuseg_graph *g, const int (*input_dims)[4], int n_inputs,
                                  size_t f32_bytes, cs_plan *plan);
/* For training: no fusion (each op's backward needs its own output) and no
 * buffer reuse (the backward pass reads every forward activation). */
cuseg_status cs_plan_build_training(const cuseg_graph *g, const int (*input_dims)[4], int n_inputs,
                                    cs_plan *plan);
void cs_plan_free(cs_plan *plan);

/* Greedy best-fit placement of buffers with lifetimes [first, last] (step
 * indices, inclusive): buffers whose lifetimes overlap never overlap in
 * memory. Writes offsets (aligned to `align`) and returns the peak. */
cuseg_status cs_plan_offsets(const size_t *size, const int *first, const int *last, int n,
                             size_t align, size_t *offset, size_t *peak);

#endif
