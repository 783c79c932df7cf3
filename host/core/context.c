#include "core/context.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

int cuseg_cuda_device_count(void) { return cs_cuda_device_count(); }

cuseg_status cuseg_context_create(const cuseg_context_options *options, cuseg_context **out) {
    CS_CHECK_ARG(out, "cuseg_context_create: out is NULL");
    *out = NULL;
    const char *dev = options && options->device ? options->device : "auto";
    int threads = options ? options->cpu_threads : 0;
    CS_CHECK_ARG(threads >= 0, "cuseg_context_create: cpu_threads must be >= 0, got %d", threads);
    cuseg_context c;
    memset(&c, 0, sizeof c);
    c.cpu_threads = threads ? threads : omp_get_num_procs();
    if (options) {
        CS_CHECK_ARG(options->precision >= CUSEG_PRECISION_FP32 &&
                         options->precision <= CUSEG_PRECISION_FP16,
                     "cuseg_context_create: unknown precision %d", (int)options->precision);
        c.precision = options->precision;
        c.cuda_stream = options->cuda_stream;
        c.cudnn_search = options->cudnn_search;
        c.memory_budget = options->memory_budget;
    }
    int n_cuda = cs_cuda_device_count();
    if (strcmp(dev, "cpu") == 0) {
        c.kind = CS_DEVICE_CPU;
        snprintf(c.device, sizeof c.device, "cpu");
    } else if (strcmp(dev, "auto") == 0) {
        c.kind = n_cuda > 0 ? CS_DEVICE_AUTO : CS_DEVICE_CPU;
        snprintf(c.device, sizeof c.device, n_cuda > 0 ? "auto" : "cpu");
    } else if (strncmp(dev, "cuda", 4) == 0) {
        char *end = NULL;
        long idx = 0;
        if (dev[4] == ':') idx = strtol(dev + 5, &end, 10);
        if ((dev[4] != '\0' && dev[4] != ':') || (end && (*end != '\0' || end == dev + 5)) ||
            idx < 0)
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                            "device '%s': expected \"auto\", \"cpu\" or \"cuda:N\"", dev);
        if (idx >= n_cuda)
            return cs_error(CUSEG_ERR_DEVICE, "device '%s': %d CUDA device(s) visible%s", dev,
                            n_cuda, n_cuda == 0 ? " (no driver, no GPU, or built without CUDA)" : "");
        c.kind = CS_DEVICE_CUDA;
        c.cuda_index = (int)idx;
        snprintf(c.device, sizeof c.device, "cuda:%d", c.cuda_index);
    } else {
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "device '%s': expected \"auto\", \"cpu\" or \"cuda:N\"", dev);
    }
    cuseg_context *ctx;
    CS_CHECK(cs_alloc((void **)&ctx, sizeof *ctx, "context"));
    *ctx = c;
    *out = ctx;
    return CUSEG_OK;
}

void cuseg_context_release(cuseg_context *ctx) { free(ctx); }

const char *cuseg_context_device(const cuseg_context *ctx) { return ctx ? ctx->device : ""; }
