/* Built instead of cuda/*.cu when the CUDA backend is off. */
#include "core/context.h"

int cs_cuda_device_count(void) { return 0; }
