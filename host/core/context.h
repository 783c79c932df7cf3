#ifndef CS_CONTEXT_H
#define CS_CONTEXT_H

#include "cuseg.h"

typedef enum cs_device_kind { CS_DEVICE_AUTO, CS_DEVICE_CPU, CS_DEVICE_CUDA } cs_device_kind;

struct cuseg_context {
    cs_device_kind kind; /* AUTO resolves per session (see cuseg_context_options) */
    int cuda_index;
    int cpu_threads;
    cuseg_precision precision;
    void *cuda_stream;
    int cudnn_search;
    size_t memory_budget; /* 0: none */
    char device[32];
};

/* Implemented by the CUDA backend when it is built, else returns 0. */
int cs_cuda_device_count(void);

#endif
