#ifndef CS_TENSOR_H
#define CS_TENSOR_H

#include "cuseg.h"

/* A host tensor: dense NHWC. `owned` says whether data is freed with it (a
 * session's output views point into the session's arena). */
struct cuseg_tensor {
    cuseg_dtype dtype;
    int dims[4];
    void *data;
    int owned;
};

#endif
