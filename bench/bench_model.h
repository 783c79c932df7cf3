#ifndef CUSEG_BENCH_MODEL_H
#define CUSEG_BENCH_MODEL_H

#include "cuseg.h"

/* spec: a model file (.safetensors), or "arch:a=1;b=2" (arch "arch", options
 * "a=1,b=2") with its parameters from `weights` (a safetensors file holding
 * exactly the graph's parameters) or, when weights is NULL, random ones
 * scaled down with fan-in. */
cuseg_status bench_build_model(const char *spec, const char *weights, cuseg_model **out);

#endif
