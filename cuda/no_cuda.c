/* Built in place of the CUDA sources when the CUDA backend is off. */
#include "core/context.h"

int cs_cuda_device_count(void) { return 0; }
