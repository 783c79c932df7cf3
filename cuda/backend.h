/* The CUDA backend as host code sees it: plain C, so session.c stays C11.
 * Implemented by cuda/executor.cu when the build has CUDA, else by
 * cuda/no_cuda.c, which reports every call as unsupported. */
#ifndef CS_CUDA_BACKEND_H
#define CS_CUDA_BACKEND_H

#include <stddef.h>

#include "cuseg.h"
#include "graph/plan.h"

typedef struct cs_cuda cs_cuda;

typedef struct cs_cuda_config {
    int device;
    void *stream; /* the caller's cudaStream_t, or NULL: the backend creates one */
    cuseg_precision precision;
    int cudnn_search; /* time cuDNN's algorithms per convolution shape */
} cs_cuda_config;

/* Whether the CUDA backend runs op `op` (in inference). */
int cs_cuda_supports(int op);

/* Bytes per element of an f32-typed activation in the device arena. */
size_t cs_cuda_storage_bytes(cuseg_precision precision);

cuseg_status cs_cuda_create(const cs_cuda_config *config, cs_cuda **out);
void cs_cuda_release(cs_cuda *cuda);

/* Allocates the plan's device memory (arena, input staging, cuDNN workspace,
 * pinned output buffers) and prepares every step (weights folded, converted
 * and uploaded; cuDNN descriptors and algorithms). Nothing is allocated on
 * the device after this. On failure everything it made is released. */
cuseg_status cs_cuda_prepare(cs_cuda *cuda, const cuseg_graph *g, cs_plan *plan);
void cs_cuda_unprepare(cs_cuda *cuda, cs_plan *plan);

/* One run: inputs (host, f32) to the device, every step on the backend's
 * stream, outputs back into host buffers owned by the backend, to which
 * outputs[i].data then points. Returns when the outputs are on the host. */
cuseg_status cs_cuda_run(cs_cuda *cuda, const cuseg_graph *g, const cs_plan *plan,
                         const cuseg_tensor *const *inputs, cuseg_tensor *outputs);

#endif
