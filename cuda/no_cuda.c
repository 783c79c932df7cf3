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

cuseg_status cs_cuda_run_resident(cs_cuda *cuda, const cs_plan *plan) {
    (void)cuda, (void)plan;
    return cs_error(CUSEG_ERR_UNSUPPORTED, "this build of cuseg has no CUDA backend");
}
