/* Built in place of the CUDA sources when the CUDA backend is off: no
 * devices, and every backend call reports that this build has no CUDA. */
#include "backend.h"
#include "core/context.h"
#include "core/status.h"

int cs_cuda_device_count(void) { return 0; }

int cs_cuda_supports(int op) {
    (void)op;
    return 0;
}

size_t cs_cuda_storage_bytes(cuseg_precision precision) {
    (void)precision;
    return 4;
}

cuseg_status cs_cuda_create(const cs_cuda_config *config, cs_cuda **out) {
    (void)config;
    *out = NULL;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

void cs_cuda_release(cs_cuda *cuda) { (void)cuda; }

cuseg_status cs_cuda_prepare(cs_cuda *cuda, const cuseg_graph *g, cs_plan *plan) {
    (void)cuda, (void)g, (void)plan;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

void cs_cuda_unprepare(cs_cuda *cuda, cs_plan *plan) { (void)cuda, (void)plan; }

cuseg_status cs_cuda_run(cs_cuda *cuda, const cuseg_graph *g, const cs_plan *plan,
                         const cuseg_tensor *const *inputs, cuseg_tensor *outputs) {
    (void)cuda, (void)g, (void)plan, (void)inputs, (void)outputs;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

cuseg_status cs_cuda_run_u8(cs_cuda *cuda, const cuseg_graph *g, const cs_plan *plan,
                            const uint8_t *pixels, int bgr, const float mul[4],
                            const float add[4], cuseg_tensor *outputs) {
    (void)cuda, (void)g, (void)plan, (void)pixels, (void)bgr, (void)mul, (void)add, (void)outputs;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

cuseg_status cs_cuda_train_create(int device, cuseg_precision precision, cs_cuda_train **out) {
    (void)device, (void)precision;
    *out = NULL;
    return cs_error(CUSEG_ERR_UNSUPPORTED,
                    "this build of cuseg has no CUDA backend: training on a GPU needs a build "
                    "with CUDA (CUSEG_CUDA=ON)");
}

void cs_cuda_train_release(cs_cuda_train *t) { (void)t; }

cuseg_status cs_cuda_train_prepare(cs_cuda_train *t, const cuseg_graph *g, cs_plan *plan) {
    (void)t, (void)g, (void)plan;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

void cs_cuda_train_unprepare(cs_cuda_train *t, cs_plan *plan) { (void)t, (void)plan; }

cuseg_status cs_cuda_train_forward(cs_cuda_train *t, const cuseg_graph *g, const cs_plan *plan,
                                   const float *const *inputs, uint64_t seed, uint64_t *draws,
                                   float bn_momentum, int bn_eval) {
    (void)t, (void)g, (void)plan, (void)inputs, (void)seed, (void)draws, (void)bn_momentum;
    (void)bn_eval;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

const float *cs_cuda_train_output(const cs_cuda_train *t, int i) {
    (void)t, (void)i;
    return NULL;
}

cuseg_status cs_cuda_train_backward(cs_cuda_train *t, const cuseg_graph *g, const cs_plan *plan,
                                    const float *const *doutputs, float *const *param_grad) {
    (void)t, (void)g, (void)plan, (void)doutputs, (void)param_grad;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

cuseg_status cs_cuda_run_resident(cs_cuda *cuda, const cs_plan *plan) {
    (void)cuda, (void)plan;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

cuseg_status cs_cuda_crf_create(int device, void *stream, cs_cuda_crf **out) {
    (void)device, (void)stream;
    *out = NULL;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}

void cs_cuda_crf_release(cs_cuda_crf *crf) { (void)crf; }

cuseg_status cs_cuda_crf_run(cs_cuda_crf *crf, const struct cs_crf_params *p, const uint8_t *rgb,
                             const float *prob, int n, int h, int w, int labels, float *out_prob) {
    (void)crf, (void)p, (void)rgb, (void)prob, (void)n, (void)h, (void)w, (void)labels, (void)out_prob;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}
