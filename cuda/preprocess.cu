/* Input preprocessing on the GPU: 8-bit interleaved pixels (gray or RGB)
 * to the model's normalised input in the session's storage type. The
 * arithmetic is op_math.h's cs_normalize_u8, the CPU's (host/io/preprocess.c),
 * rounded the same way: both give the same floats. */
#include "backend.cuh"

#include "ops/op_math.h"

namespace {

struct coefficients {
    float mul[4], add[4];
};

template <class T>
__global__ void normalize_kernel(const uint8_t *__restrict__ x, T *__restrict__ y, size_t pixels,
                                 int c, int bgr, coefficients k) {
    CS_GRID_LOOP(p, pixels) {
        const uint8_t *px = x + p * c;
        for (int ch = 0; ch < c; ++ch)
            y[p * c + ch] = cs_store<T>(cs_normalize_u8(px, ch, c, bgr, k.mul, k.add));
    }
}

} // namespace

cuseg_status cs_cuda_normalize_u8(cs_storage s, const uint8_t *x, void *y, size_t count, int c,
                                  int bgr, const float mul[4], const float add[4],
                                  cudaStream_t stream) {
    CS_CHECK_ARG(c >= 1 && c <= 4, "normalize (CUDA): %d channels, expected 1 to 4", c);
    coefficients k{};
    for (int i = 0; i < c; ++i) k.mul[i] = mul[i], k.add[i] = add[i];
    const size_t pixels = count / (size_t)c;
    return cs_with_storage(s, [&](auto t) {
        using T = decltype(t);
        normalize_kernel<T><<<cs_grid(pixels), kCsThreads, 0, stream>>>(x, (T *)y, pixels, c, bgr, k);
        CS_CUDA_CHECK_LAUNCH("input normalisation kernel");
        return CUSEG_OK;
    });
}
