/* The public dense CRF (cuseg_crf_*): picks the CPU (crf.c) or the CUDA
 * implementation (cuda/crf.cu) from the context, as sessions pick their
 * backend (host/graph/session.c). */
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "core/context.h"
#include "core/status.h"
#include "post/crf.h"

struct cuseg_crf {
    cs_crf_params params;
    int threads;       /* CPU runs */
    cs_cuda_crf *cuda; /* NULL: the CPU */
    char device[32];
};

cuseg_crf_params cuseg_crf_default_params(void) {
    const cs_crf_params d = cs_crf_default_params();
    cuseg_crf_params p = {d.w1, d.theta_alpha, d.theta_beta, d.w2, d.theta_gamma, d.iterations,
                          (cuseg_crf_normalization)d.normalization};
    return p;
}

cuseg_status cuseg_crf_create(const cuseg_context *ctx, const cuseg_crf_params *params,
                              cuseg_crf **out) {
    CS_CHECK_ARG(out, "cuseg_crf_create: out is NULL");
    *out = NULL;
    CS_CHECK_ARG(ctx && params, "cuseg_crf_create: context or parameters are NULL");
    const cs_crf_params p = {params->w1,          params->theta_alpha, params->theta_beta,
                             params->w2,          params->theta_gamma, params->iterations,
                             (cs_crf_normalization)params->normalization};
    CS_CHECK(cs_crf_check_params(&p));
    cuseg_crf *c;
    CS_CHECK(cs_calloc((void **)&c, sizeof *c, "CRF"));
    c->params = p;
    c->threads = ctx->cpu_threads >= 1 ? ctx->cpu_threads : 1;
    snprintf(c->device, sizeof c->device, "cpu");
    if (ctx->kind != CS_DEVICE_CPU) {
        const int device = ctx->kind == CS_DEVICE_CUDA ? ctx->cuda_index : 0;
        cuseg_status st = cs_cuda_crf_create(device, ctx->cuda_stream, &c->cuda);
        if (st == CUSEG_OK) {
            snprintf(c->device, sizeof c->device, "cuda:%d", device);
        } else if (ctx->kind == CS_DEVICE_CUDA) { /* auto falls back to the CPU */
            free(c);
            return cs_error_context(st, "cuseg_crf_create on %s", ctx->device);
        }
    }
    *out = c;
    return CUSEG_OK;
}

void cuseg_crf_release(cuseg_crf *crf) {
    if (!crf) return;
    cs_cuda_crf_release(crf->cuda);
    free(crf);
}

const char *cuseg_crf_device(const cuseg_crf *crf) { return crf ? crf->device : ""; }

cuseg_status cuseg_crf_run(cuseg_crf *crf, const uint8_t *rgb, const float *prob, int n, int h,
                           int w, int labels, float *out_prob) {
    CS_CHECK_ARG(crf, "cuseg_crf_run: the CRF handle is NULL");
    CS_CHECK(cs_crf_check_sizes(&crf->params, rgb, prob, n, h, w, labels, crf->threads, out_prob));
    if (!crf->cuda)
        return cs_crf_run_batch(&crf->params, rgb, prob, n, h, w, labels, crf->threads, out_prob);
    const cuseg_status st =
        cs_cuda_crf_run(crf->cuda, &crf->params, rgb, prob, n, h, w, labels, out_prob);
    return st == CUSEG_OK ? st : cs_error_context(st, "CRF on %s", crf->device);
}
