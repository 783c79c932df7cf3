#include "core/tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "graph/graph.h"

cuseg_status cuseg_tensor_create(cuseg_dtype dtype, int n, int h, int w, int c, cuseg_tensor **out) {
    CS_CHECK_ARG(out, "cuseg_tensor_create: out is NULL");
    *out = NULL;
    CS_CHECK_ARG(dtype == CUSEG_F32 || dtype == CUSEG_I32 || dtype == CUSEG_U8,
                 "cuseg_tensor_create: unknown dtype %d", (int)dtype);
    CS_CHECK_ARG(n > 0 && h > 0 && w > 0 && c > 0,
                 "cuseg_tensor_create: every size must be > 0, got %dx%dx%dx%d", n, h, w, c);
    const cs_shape s = {n, h, w, c, dtype};
    size_t count = cs_shape_count(&s);
    if (count / (size_t)n / (size_t)h / (size_t)w != (size_t)c || count > SIZE_MAX / 8)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "cuseg_tensor_create: %dx%dx%dx%d overflows", n,
                        h, w, c);
    cuseg_tensor *t;
    CS_CHECK(cs_alloc((void **)&t, sizeof *t, "tensor"));
    /* 64-byte alignment: whole cache lines for the vector loads of the ops. */
    const size_t bytes = (cs_shape_bytes(&s) + 63) / 64 * 64;
    t->data = aligned_alloc(64, bytes);
    if (!t->data) {
        free(t);
        return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes for a %dx%dx%dx%d tensor",
                        bytes, n, h, w, c);
    }
    memset(t->data, 0, bytes);
    t->dtype = dtype;
    t->dims[0] = n, t->dims[1] = h, t->dims[2] = w, t->dims[3] = c;
    t->owned = 1;
    *out = t;
    return CUSEG_OK;
}

void cuseg_tensor_release(cuseg_tensor *t) {
    if (!t) return;
    if (t->owned) free(t->data);
    free(t);
}

void *cuseg_tensor_data(const cuseg_tensor *t) { return t ? t->data : NULL; }

void cuseg_tensor_shape(const cuseg_tensor *t, int dims[4]) {
    for (int i = 0; i < 4; ++i) dims[i] = t ? t->dims[i] : 0;
}

cuseg_dtype cuseg_tensor_dtype(const cuseg_tensor *t) { return t ? t->dtype : CUSEG_F32; }

size_t cuseg_tensor_bytes(const cuseg_tensor *t) {
    if (!t) return 0;
    const cs_shape s = {t->dims[0], t->dims[1], t->dims[2], t->dims[3], t->dtype};
    return cs_shape_bytes(&s);
}
