/* Per-element arithmetic shared by the CPU ops (C) and the CUDA kernels (nvcc).
 * Everything here is `static inline CS_HD`, so the CPU tests exercise exactly
 * the arithmetic the GPU runs. Sizes of -1 mean "not known yet" (the graph is
 * checked before the spatial size of a run is chosen) and propagate. */
#ifndef CS_OP_MATH_H
#define CS_OP_MATH_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define CS_HD __host__ __device__
#else
#define CS_HD
#endif

/* floor((in + pads - dilation*(k-1) - 1) / stride) + 1; <= 0 means too small. */
static inline CS_HD int cs_conv_out_size(int in, int k, int stride, int pad_begin, int pad_end,
                                         int dilation) {
    if (in < 0) return -1;
    int span = in + pad_begin + pad_end - dilation * (k - 1) - 1;
    if (span < 0) return 0;
    return span / stride + 1;
}

/* torch.nn.ConvTranspose2d output size. */
static inline CS_HD int cs_conv_transpose_out_size(int in, int k, int stride, int pad_begin,
                                                   int pad_end, int dilation, int output_padding) {
    if (in < 0) return -1;
    return (in - 1) * stride - pad_begin - pad_end + dilation * (k - 1) + output_padding + 1;
}

/* PyTorch's pooling_output_shape_pad_lr (dilation 1): in ceil mode a last
 * window that would start inside the end padding is dropped. */
static inline CS_HD int cs_pool_out_size(int in, int k, int stride, int pad_begin, int pad_end,
                                         int ceil_mode) {
    if (in < 0) return -1;
    int span = in + pad_begin + pad_end - k + (ceil_mode ? stride - 1 : 0);
    if (span < 0) return 0;
    int out = span / stride + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
    return out;
}

/* Pooling window of output index o along one axis: [*start, *end) clipped to
 * the input, and the window size counted with padding (for count_include_pad),
 * as PyTorch's avg_pool2d computes it. */
static inline CS_HD void cs_pool_window(int o, int k, int stride, int pad_begin, int pad_end,
                                        int in, int *start, int *end, int *padded_size) {
    int s = o * stride - pad_begin;
    int e = s + k;
    if (e > in + pad_end) e = in + pad_end;
    *padded_size = e - s;
    *start = s < 0 ? 0 : s;
    *end = e > in ? in : e;
}

/* Input/output ratio as PyTorch's compute_scales_value: 1/scale when the
 * caller gave a scale factor, else in/out, in float as PyTorch computes it. */
static inline CS_HD float cs_resize_ratio(int in, int out, double scale) {
    return scale > 0.0 ? (float)(1.0 / scale) : (float)in / (float)out;
}

/* Bilinear: PyTorch's area_pixel_compute_scale for linear modes. */
static inline CS_HD float cs_bilinear_ratio(int in, int out, int align_corners, double scale) {
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return cs_resize_ratio(in, out, scale);
}

/* Bilinear source taps of output index o, as PyTorch's
 * compute_source_index_and_lambda: indices i0 <= i1 and the weight of i1 (the
 * weight of i0 is 1 - *lambda). Equal sizes copy (PyTorch's shortcut; it
 * matters when a scale factor gives out == in with a ratio != 1). Otherwise
 * the half-pixel source coordinate is one fused multiply-add: PyTorch's CPU
 * build and nvcc both contract ratio * (o + 0.5) - 0.5, and only fmaf
 * reproduces their float results bit for bit (checked against torch 2.x). */
static inline CS_HD void cs_bilinear_taps(int o, int in, int out, float ratio, int align_corners,
                                          int *i0, int *i1, float *lambda) {
    if (out == in) {
        *i0 = *i1 = o;
        *lambda = 0.0f;
        return;
    }
    float src = align_corners ? ratio * (float)o : fmaf(ratio, (float)o + 0.5f, -0.5f);
    if (src < 0.0f) src = 0.0f;
    int lo = (int)src; /* src >= 0: truncation is floor */
    if (lo > in - 1) lo = in - 1;
    float l = src - (float)lo;
    *i0 = lo;
    *i1 = lo + (lo < in - 1 ? 1 : 0);
    *lambda = l < 1.0f ? l : 1.0f; /* PyTorch clamps it to [0, 1] */
}

/* First output index o in [0, out] whose first tap i0(o) is >= i (out when
 * none). i0 is non-decreasing in o (every step above is monotonic), so a
 * binary search finds it. The outputs that read input index i are
 * [first(i - 1), first(i + 1)): those with i0 in {i - 1, i}. The backward
 * pass gathers over that range instead of scattering with atomics. */
static inline CS_HD int cs_bilinear_first_output(int i, int in, int out, float ratio,
                                                 int align_corners) {
    int lo = 0, hi = out;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, i0, i1;
        float l;
        cs_bilinear_taps(mid, in, out, ratio, align_corners, &i0, &i1, &l);
        if (i0 >= i)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Legacy 'nearest' (PyTorch nearest_idx): exact shortcuts for equal size and
 * 2x, else min(floor(o * ratio), in - 1) in float. */
static inline CS_HD int cs_nearest_index(int o, int in, int out, float ratio) {
    if (out == in) return o;
    if (out == 2 * in) return o >> 1;
    int i = (int)(ratio * (float)o); /* o, ratio >= 0: truncation is floor */
    return i < in - 1 ? i : in - 1;
}

/* Transposed convolution (dilation 1) as a GEMM then a gather ("col2im"):
 * output index o along one axis receives input index h through kernel tap i
 * where h * stride - pad + i == o. Those pairs are i = *i_first + t * stride,
 * h = *h_first - t for t = 0 .. count - 1 (count returned, 0 when none),
 * restricted to 0 <= h < in and 0 <= i < k. Requires o, pad >= 0. */
static inline CS_HD int cs_col2im_taps(int o, int pad, int stride, int k, int in, int *i_first,
                                       int *h_first) {
    const int r = o + pad, i0 = r % stride, h0 = r / stride;
    const int t_lo = h0 - (in - 1) > 0 ? h0 - (in - 1) : 0;
    int t_hi = i0 < k ? (k - 1 - i0) / stride : -1;
    if (t_hi > h0) t_hi = h0;
    *i_first = i0 + t_lo * stride;
    *h_first = h0 - t_lo;
    return t_hi >= t_lo ? t_hi - t_lo + 1 : 0;
}

/* Channel k of a normalised 8-bit pixel px (c channels, interleaved):
 * px[from] * mul[k] + add[k], from = 2 - k when bgr reverses a 3-channel
 * pixel. One rounded multiply then one rounded add, never a fused one, so
 * the CPU and the GPU give the same float bit for bit. */
static inline CS_HD float cs_normalize_u8(const unsigned char *px, int k, int c, int bgr,
                                          const float *mul, const float *add) {
    const int from = bgr && c == 3 ? 2 - k : k;
#ifdef __CUDA_ARCH__
    return __fadd_rn(__fmul_rn((float)px[from], mul[k]), add[k]);
#else
    volatile float product = (float)px[from] * mul[k]; /* no contraction into an FMA */
    return product + add[k];
#endif
}

static inline CS_HD float cs_relu(float x) { return x > 0.0f ? x : 0.0f; }
static inline CS_HD float cs_relu6(float x) { return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x); }

/* Max pooling's selection rule: v replaces the running maximum m when it is
 * larger, or when it is the first NaN (NaN propagates, the first one wins).
 * The forward kernels and both backward passes pick the same element. */
static inline CS_HD int cs_max_takes(float v, float m) { return v > m || (v != v && m == m); }

/* Output indices [*o_begin, *o_end) along one axis whose pooling window
 * (cs_pool_window: start o * stride - pad_begin, k wide) contains input index
 * i, 0 <= i < in; empty when none. Backward passes gather over it instead of
 * scattering. */
static inline CS_HD void cs_pool_covering(int i, int k, int stride, int pad_begin, int out,
                                          int *o_begin, int *o_end) {
    const int hi = i + pad_begin;       /* o * stride <= hi */
    const int lo = i + pad_begin - k + 1; /* o * stride >= lo */
    int b = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    int e = hi < 0 ? 0 : hi / stride + 1;
    if (e > out) e = out;
    *o_begin = b;
    *o_end = e > b ? e : b;
}

/* First output index o in [0, out] with cs_nearest_index(o) >= i (out when
 * none): the index is non-decreasing in o, so the outputs that copy input
 * index i are [first(i), first(i + 1)). */
static inline CS_HD int cs_nearest_first_output(int i, int in, int out, float ratio) {
    int lo = 0, hi = out;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (cs_nearest_index(mid, in, out, ratio) >= i)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Training-mode dropout masks: element i of draw d is kept when a
 * splitmix64 hash of (key, i) is >= threshold (output bits are uniform), the
 * key being cs_dropout_key(seed, d). Counter-based, so masks are
 * reproducible from the seed, independent of thread count and backend, and
 * the backward recomputes them instead of storing them. */
static inline CS_HD uint64_t cs_dropout_key(uint64_t seed, uint64_t draw) {
    return seed * 0x2545f4914f6cdd1dull + draw;
}
static inline CS_HD int cs_dropout_keep(uint64_t key, uint64_t i, uint64_t threshold) {
    uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (z ^ (z >> 31)) >= threshold;
}
/* p in [0, 1) as a fraction of 2^64. */
static inline CS_HD uint64_t cs_dropout_threshold(float p) {
    return (uint64_t)((double)p * 18446744073709551616.0);
}

#endif
