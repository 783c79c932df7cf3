/* The CUDA backend as host code sees it: plain C, so session.c stays C11.
 * Implemented by cuda/executor.cu when the build has CUDA, else by
 * cuda/no_cuda.c, which reports every call as unsupported. */
#ifndef CS_CUDA_BACKEND_H
#define CS_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

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

/* The same for one input given as 8-bit pixels (cuseg_session_run_u8):
 * the bytes go to the device and one kernel normalises them with
 * mul/add (cs_preprocess_coefficients) into the input buffer. */
cuseg_status cs_cuda_run_u8(cs_cuda *cuda, const cuseg_graph *g, const cs_plan *plan,
                            const uint8_t *pixels, int bgr, const float mul[4],
                            const float add[4], cuseg_tensor *outputs);

/* ------------------------------------------------------------ training
 * The CUDA half of host/train/autodiff.c (cuda/train.cu): runs a training
 * plan (cs_plan_build_training) on one device. Parameters stay the host
 * graph's: every forward uploads them (v1: all of them, every step), the
 * activations and their gradients live on the device, outputs come back to
 * the host for the loss, the output gradients go up, and the parameter
 * gradients come back after the backward, added into host arrays. */
typedef struct cs_cuda_train cs_cuda_train;

cuseg_status cs_cuda_train_create(int device, cuseg_precision precision, cs_cuda_train **out);
void cs_cuda_train_release(cs_cuda_train *t);

/* Device memory and per-step state for `plan` (its steps' state fields). */
cuseg_status cs_cuda_train_prepare(cs_cuda_train *t, const cuseg_graph *g, cs_plan *plan);
void cs_cuda_train_unprepare(cs_cuda_train *t, cs_plan *plan);

/* Training forward on host f32 inputs; the outputs are then readable with
 * cs_cuda_train_output. Dropout draws (seed, ++*draws) as the CPU;
 * bn_momentum 0 means 0.1. Batch norms update the host running statistics,
 * or with bn_eval normalise with them and leave them (cs_cpu.bn_eval). */
cuseg_status cs_cuda_train_forward(cs_cuda_train *t, const cuseg_graph *g, const cs_plan *plan,
                                   const float *const *inputs, uint64_t seed, uint64_t *draws,
                                   float bn_momentum, int bn_eval);
/* Output i of the last forward (host f32, owned by t). */
const float *cs_cuda_train_output(const cs_cuda_train *t, int i);

/* Backward from the host output gradients (NULL: none from that output);
 * adds every parameter's gradient into param_grad[i] (host f32, NULL for
 * buffers). */
cuseg_status cs_cuda_train_backward(cs_cuda_train *t, const cuseg_graph *g, const cs_plan *plan,
                                    const float *const *doutputs, float *const *param_grad);

/* Bench only (bench/cuseg_bench.c's device-resident timing; not part of the
 * API and not used by the library): the plan's steps again, enqueued on the
 * backend's stream and not waited for. The inputs are whatever the device
 * input buffers hold, already in the storage type (what the last cs_cuda_run
 * uploaded and converted), and the outputs stay in the arena in the storage
 * type: no copies, no conversions at either end, no synchronisation, and the
 * max_unpool2d index check (the device error flag) is not read. The caller
 * synchronises the stream and checks its status. */
cuseg_status cs_cuda_run_resident(cs_cuda *cuda, const cs_plan *plan);

/* The same for a session (host/graph/session.c): fails unless the session
 * runs on CUDA and has planned; the caller must have run it once on inputs
 * of the planned shape, so that the device input buffers hold an input. */
cuseg_status cs_session_run_resident(cuseg_session *s);

/* ------------------------------------------------------------------ dense CRF
 * cuda/crf.cu: the CRF of host/post/crf.h on one device, for cuseg_crf
 * handles. Device buffers grow on demand and stay until release. */
typedef struct cs_cuda_crf cs_cuda_crf;
struct cs_crf_params;

/* stream: the caller's cudaStream_t, or NULL: the handle creates one. */
cuseg_status cs_cuda_crf_create(int device, void *stream, cs_cuda_crf **out);
void cs_cuda_crf_release(cs_cuda_crf *crf);
/* As cs_crf_run_batch (parameters and sizes already checked); host
 * buffers; returns when out_prob is written. out_prob may be prob. */
cuseg_status cs_cuda_crf_run(cs_cuda_crf *crf, const struct cs_crf_params *p, const uint8_t *rgb,
                             const float *prob, int n, int h, int w, int labels, float *out_prob);

#endif
