/* Dense CRF on one CUDA device: the algorithm of host/post/crf.c, step by
 * step, with every per-index body taken from host/post/crf_math.h (which
 * tests/post/test_crf_gpu_algorithm.cpp runs serially on the host against
 * crf.c).
 *
 * Lattice build (per image and kernel; the Gaussian kernel's lattice depends
 * only on the image size and is kept while that stays the same):
 * embed -> hash insert (atomicCAS, smallest entry per key by atomicMin) ->
 * first-appearance flags -> exclusive scan (vertex ids in the CPU's order) ->
 * stable radix sort of (row, entry) -> CSR -> blur neighbours by lookup.
 * The resulting lattice is the CPU's bit for bit; splat (gather per vertex,
 * in point order), blur and slice sum in the CPU's order with unfused
 * products and the update uses crf_math.h's exp, so the GPU differs from the
 * CPU only where CUDA's logf (the unary) rounds differently from glibc's.
 * Device buffers grow on demand and stay in the handle. */
#include <cub/cub.cuh>

#include <new>

#include "common.cuh"

extern "C" {
#include "backend.h"
#include "post/crf.h"
}
#include "post/crf_math.h" /* static inline: no linkage to declare */

namespace {

struct dev_buf {
    void *p = nullptr;
    size_t bytes = 0;
};

/* One kernel's lattice and weights on the device (crf.c's crf_kernel). */
struct dev_lattice {
    int d = 0, n = 0, m = 0;
    dev_buf offset, bary, splat_w, slice_w, csr_start, csr_point, blur_nbr;
};

struct lattice_scale {
    float s[CS_LATTICE_MAX_D];
};

template <class T> T *ptr(const dev_buf &b) { return static_cast<T *>(b.p); }

} // namespace

struct cs_cuda_crf {
    int device;
    cudaStream_t stream;
    int own_stream;
    /* Per run. */
    dev_buf rgb, prob, unary, q, msg, values, scratch, deg, pre;
    /* Lattice build scratch. */
    dev_buf keys, table, slot, first, vid, vertex_entry, sorted_row, iota, sorted_entry, cub_temp,
        info;
    dev_lattice lat[2]; /* [0] Gaussian, [1] bilateral */
    /* lat[0] is valid for this size and these parameters. */
    int gauss_valid, gauss_h, gauss_w, gauss_norm;
    float gauss_theta, gauss_weight;
};

namespace {

cuseg_status use_device(const cs_cuda_crf *c) {
    return cs_cuda_status(cudaSetDevice(c->device), "cudaSetDevice");
}

void free_buf(dev_buf *b) {
    cudaFree(b->p);
    b->p = nullptr;
    b->bytes = 0;
}

/* At least `bytes` in b; the old contents are dropped. */
cuseg_status ensure(cs_cuda_crf *c, dev_buf *b, size_t bytes, const char *what) {
    if (bytes <= b->bytes && b->p) return CUSEG_OK;
    if (b->p) {
        CS_CUDA_CHECK(cudaStreamSynchronize(c->stream)); /* nothing may still use it */
        free_buf(b);
    }
    const cudaError_t e = cudaMalloc(&b->p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        b->p = nullptr;
        cudaGetLastError();
        return cs_error(e == cudaErrorMemoryAllocation ? CUSEG_ERR_OUT_OF_MEMORY : CUSEG_ERR_DEVICE,
                        "CRF: cannot allocate %zu bytes of device memory for %s: %s", bytes, what,
                        cudaGetErrorString(e));
    }
    b->bytes = bytes;
    return CUSEG_OK;
}

/* ------------------------------------------------------------------ build kernels */

__global__ void k_embed(int32_t n, int w, int d, const uint8_t *rgb, float theta_pos,
                        float theta_colour, lattice_scale scale, cs_lattice_key *keys, float *bary,
                        int32_t *bad) {
    CS_GRID_LOOP(i, (size_t)n) {
        float f[CS_LATTICE_MAX_D];
        const int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
        cs_crf_pixel_features(x, y, rgb ? rgb + i * 3 : nullptr, theta_pos, theta_colour, f);
        if (!cs_lattice_build_embed((int32_t)i, f, d, scale.s, keys, bary)) *bad = 1;
    }
}

__global__ void k_insert(int32_t entries, const cs_lattice_key *keys, int32_t *table,
                         uint64_t mask, uint64_t *slot) {
    CS_GRID_LOOP(e, (size_t)entries) slot[e] = cs_lattice_build_insert((int32_t)e, keys, table, mask);
}

__global__ void k_first(int32_t entries, const uint64_t *slot, const int32_t *table,
                        int32_t *first) {
    CS_GRID_LOOP(e, (size_t)entries) first[e] = cs_lattice_build_first((int32_t)e, slot, table);
}

/* info[1] = vertex count (the scan's total). */
__global__ void k_count(int32_t entries, const int32_t *first, const int32_t *vid, int32_t *info) {
    if (blockIdx.x == 0 && threadIdx.x == 0) info[1] = vid[entries - 1] + first[entries - 1];
}

__global__ void k_vertex(int32_t entries, const uint64_t *slot, const int32_t *table,
                         const int32_t *vid, int32_t *offset, int32_t *vertex_entry,
                         int32_t *iota) {
    CS_GRID_LOOP(e, (size_t)entries) {
        cs_lattice_build_vertex((int32_t)e, slot, table, vid, offset, vertex_entry);
        iota[e] = (int32_t)e;
    }
}

__global__ void k_csr(int32_t entries, int d, const int32_t *sorted_row,
                      const int32_t *sorted_entry, int32_t *csr_start, int32_t *csr_point,
                      int32_t *csr_entry) {
    CS_GRID_LOOP(k, (size_t)entries)
    cs_lattice_build_csr((int32_t)k, entries, d, sorted_row, sorted_entry, csr_start, csr_point,
                         csr_entry);
}

__global__ void k_neighbors(int32_t m, int d, const int32_t *vertex_entry,
                            const cs_lattice_key *keys, const int32_t *table, uint64_t mask,
                            const int32_t *offset, int32_t *blur_nbr) {
    CS_GRID_LOOP(t, (size_t)m * (d + 1)) {
        const int32_t v = (int32_t)(t % (size_t)m);
        const int j = (int)(t / (size_t)m);
        cs_lattice_build_neighbors(v, j, m, d, vertex_entry, keys, table, mask, offset, blur_nbr);
    }
}

/* Unnormalised weights: splat in CSR order, slice with alpha (crf_kernel_init). */
__global__ void k_weights(int32_t entries, const float *bary, const int32_t *csr_entry, float alpha,
                          float *splat_w, float *slice_w) {
    CS_GRID_LOOP(e, (size_t)entries) {
        splat_w[e] = bary[csr_entry[e]];
        slice_w[e] = cs_crf_mul(bary[e], alpha);
    }
}

__global__ void k_fill(size_t count, float v, float *x) {
    CS_GRID_LOOP(i, count) x[i] = v;
}

/* Per point: pre-scale into pre[], post-scale and Potts weight into slice_w. */
__global__ void k_norm(int32_t n, int d, const float *deg, int normalization, float weight,
                       float *pre, float *slice_w) {
    CS_GRID_LOOP(i, (size_t)n) {
        float pr, post;
        cs_crf_norm_factors(deg[i], normalization, &pr, &post);
        pre[i] = pr;
        const float s = cs_crf_mul(post, weight);
        for (int r = 0; r <= d; ++r) slice_w[i * (d + 1) + r] = cs_crf_mul(slice_w[i * (d + 1) + r], s);
    }
}

__global__ void k_splat_pre(int32_t entries, const int32_t *csr_point, const float *pre,
                            float *splat_w) {
    CS_GRID_LOOP(e, (size_t)entries) splat_w[e] = cs_crf_mul(splat_w[e], pre[csr_point[e]]);
}

/* ------------------------------------------------------------------ filter kernels */

__global__ void k_splat(int32_t m, int stride, const int32_t *csr_start, const int32_t *csr_point,
                        const float *csr_w, const float *in, float *values) {
    CS_GRID_LOOP(t, (size_t)m * stride) {
        const int32_t v = (int32_t)(t / (size_t)stride);
        const int k = (int)(t % (size_t)stride);
        values[((size_t)v + 1) * stride + k] =
            cs_lattice_splat_value(v, k, csr_start, csr_point, csr_w, in, stride);
    }
}

__global__ void k_blur(int32_t m, int stride, const int32_t *nbr, const float *src, float *dst) {
    CS_GRID_LOOP(t, (size_t)m * stride) {
        const int32_t v = (int32_t)(t / (size_t)stride);
        const int k = (int)(t % (size_t)stride);
        dst[((size_t)v + 1) * stride + k] = cs_lattice_blur_value(v, k, nbr, src, stride);
    }
}

__global__ void k_slice(int32_t n, int d, int stride, const int32_t *offset, const float *weight,
                        const float *values, float *out, int accumulate) {
    CS_GRID_LOOP(t, (size_t)n * stride) {
        const int32_t i = (int32_t)(t / (size_t)stride);
        const int k = (int)(t % (size_t)stride);
        out[t] = cs_lattice_slice_value(i, k, d, offset, weight, values, stride,
                                        accumulate ? out[t] : 0.0f);
    }
}

__global__ void k_unary(int32_t n, int labels, int stride, const float *prob, float *unary) {
    CS_GRID_LOOP(t, (size_t)n * stride) {
        const size_t i = t / (size_t)stride;
        const int k = (int)(t % (size_t)stride);
        unary[t] = k < labels ? cs_crf_unary_of_prob(prob[i * labels + k]) : 0.0f;
    }
}

/* q = softmax(msg - u) per point; msg NULL: the start, softmax(-u) (crf.c's
 * crf_init_q and crf_slice_update). */
__global__ void k_update(int32_t n, int labels, int stride, const float *unary, const float *msg,
                         float *q) {
    CS_GRID_LOOP(i, (size_t)n) {
        float *qi = q + i * stride;
        if (!msg)
            for (int k = 0; k < stride; ++k) qi[k] = 0.0f;
        cs_crf_softmax_row(unary + i * stride, msg ? msg + i * stride : qi, qi, labels, stride);
    }
}

__global__ void k_pack(int32_t n, int labels, int stride, const float *q, float *out) {
    CS_GRID_LOOP(t, (size_t)n * labels) out[t] = q[(t / (size_t)labels) * stride + t % (size_t)labels];
}

#define LAUNCH(kernel, count, ...)                                                                 \
    do {                                                                                           \
        kernel<<<cs_grid(count), kCsThreads, 0, c->stream>>>(__VA_ARGS__);                         \
        CS_CUDA_CHECK_LAUNCH(#kernel);                                                             \
    } while (0)

/* ------------------------------------------------------------------ filtering */

void splat(cs_cuda_crf *c, const dev_lattice *L, const float *in, int stride, const float *csr_w,
           float *values, cuseg_status *st) {
    *st = cs_cuda_status(cudaMemsetAsync(values, 0, (size_t)stride * sizeof(float), c->stream),
                         "cudaMemsetAsync");
    if (*st) return;
    k_splat<<<cs_grid((size_t)L->m * stride), kCsThreads, 0, c->stream>>>(
        L->m, stride, ptr<int32_t>(L->csr_start), ptr<int32_t>(L->csr_point), csr_w, in, values);
    *st = cs_cuda_status(cudaGetLastError(), "k_splat");
}

/* d+1 passes ping-ponging between values and scratch; the result's buffer. */
float *blur(cs_cuda_crf *c, const dev_lattice *L, float *values, float *scratch, int stride,
            cuseg_status *st) {
    *st = cs_cuda_status(cudaMemsetAsync(values, 0, (size_t)stride * sizeof(float), c->stream),
                         "cudaMemsetAsync");
    if (!*st)
        *st = cs_cuda_status(cudaMemsetAsync(scratch, 0, (size_t)stride * sizeof(float), c->stream),
                             "cudaMemsetAsync");
    float *src = values, *dst = scratch;
    for (int j = 0; j <= L->d && !*st; ++j) {
        const int32_t *nbr = ptr<int32_t>(L->blur_nbr) + (size_t)j * L->m * 2;
        k_blur<<<cs_grid((size_t)L->m * stride), kCsThreads, 0, c->stream>>>(L->m, stride, nbr, src, dst);
        *st = cs_cuda_status(cudaGetLastError(), "k_blur");
        float *t = src;
        src = dst;
        dst = t;
    }
    return src;
}

cuseg_status slice(cs_cuda_crf *c, const dev_lattice *L, const float *values, const float *weight,
                   int stride, float *out, int accumulate) {
    LAUNCH(k_slice, (size_t)L->n * stride, L->n, L->d, stride, ptr<int32_t>(L->offset), weight,
           values, out, accumulate);
    return CUSEG_OK;
}

/* values and scratch hold at least (m + 1) * stride floats. */
cuseg_status ensure_values(cs_cuda_crf *c, int m, int stride) {
    const size_t bytes = ((size_t)m + 1) * stride * sizeof(float);
    CS_CHECK(ensure(c, &c->values, bytes, "CRF lattice values"));
    return ensure(c, &c->scratch, bytes, "CRF lattice values");
}

/* ------------------------------------------------------------------ build */

/* The lattice of one kernel over the h x w pixels (rgb: the bilateral
 * kernel's image on the device, or NULL for the Gaussian one), with the
 * normalised, weighted splat/slice weights (crf.c's crf_kernel_init). */
cuseg_status build_kernel(cs_cuda_crf *c, dev_lattice *L, int h, int w, const uint8_t *rgb,
                          float theta_pos, float theta_colour, float weight,
                          cs_crf_normalization norm) {
    const int d = rgb ? 5 : 2, dp1 = d + 1;
    const int32_t n = h * w, entries = n * dp1; /* < INT32_MAX: cs_crf_check_sizes */
    uint64_t cap = 64;
    while (cap < (uint64_t)entries * 2) cap *= 2;
    const uint64_t mask = cap - 1;
    L->d = d;
    L->n = n;
    L->m = 0;

    CS_CHECK(ensure(c, &c->keys, (size_t)entries * sizeof(cs_lattice_key), "CRF lattice keys"));
    CS_CHECK(ensure(c, &c->table, cap * sizeof(int32_t), "CRF lattice hash table"));
    CS_CHECK(ensure(c, &c->slot, (size_t)entries * sizeof(uint64_t), "CRF lattice slots"));
    CS_CHECK(ensure(c, &c->first, (size_t)entries * sizeof(int32_t), "CRF lattice build"));
    CS_CHECK(ensure(c, &c->vid, (size_t)entries * sizeof(int32_t), "CRF lattice build"));
    CS_CHECK(ensure(c, &c->vertex_entry, (size_t)entries * sizeof(int32_t), "CRF lattice build"));
    CS_CHECK(ensure(c, &c->iota, (size_t)entries * sizeof(int32_t), "CRF lattice build"));
    CS_CHECK(ensure(c, &c->sorted_row, (size_t)entries * sizeof(int32_t), "CRF lattice build"));
    CS_CHECK(ensure(c, &c->sorted_entry, (size_t)entries * sizeof(int32_t), "CRF lattice build"));
    CS_CHECK(ensure(c, &c->info, 2 * sizeof(int32_t), "CRF lattice build"));
    CS_CHECK(ensure(c, &L->offset, (size_t)entries * sizeof(int32_t), "CRF lattice"));
    CS_CHECK(ensure(c, &L->bary, (size_t)entries * sizeof(float), "CRF lattice"));
    CS_CHECK(ensure(c, &L->splat_w, (size_t)entries * sizeof(float), "CRF lattice weights"));
    CS_CHECK(ensure(c, &L->slice_w, (size_t)entries * sizeof(float), "CRF lattice weights"));
    CS_CHECK(ensure(c, &L->csr_point, (size_t)entries * sizeof(int32_t), "CRF lattice"));
    CS_CHECK(ensure(c, &c->deg, (size_t)n * sizeof(float), "CRF degrees"));
    CS_CHECK(ensure(c, &c->pre, (size_t)n * sizeof(float), "CRF degrees"));

    cs_lattice_key *keys = ptr<cs_lattice_key>(c->keys);
    int32_t *table = ptr<int32_t>(c->table), *first = ptr<int32_t>(c->first),
            *vid = ptr<int32_t>(c->vid), *info = ptr<int32_t>(c->info);
    uint64_t *slot = ptr<uint64_t>(c->slot);

    /* 1-4: embed, insert, first appearances, vertex ids. */
    lattice_scale scale;
    cs_lattice_scale(d, scale.s);
    CS_CUDA_CHECK(cudaMemsetAsync(table, 0xff, cap * sizeof(int32_t), c->stream));
    CS_CUDA_CHECK(cudaMemsetAsync(info, 0, 2 * sizeof(int32_t), c->stream));
    LAUNCH(k_embed, (size_t)n, n, w, d, rgb, theta_pos, theta_colour, scale, keys,
           ptr<float>(L->bary), info);
    LAUNCH(k_insert, (size_t)entries, entries, keys, table, mask, slot);
    LAUNCH(k_first, (size_t)entries, entries, slot, table, first);

    size_t scan_bytes = 0, sort_bytes = 0;
    CS_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, first, vid, entries, c->stream));
    CS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, ptr<int32_t>(L->offset),
                                                  ptr<int32_t>(c->sorted_row), ptr<int32_t>(c->iota),
                                                  ptr<int32_t>(c->sorted_entry), entries, 0, 32,
                                                  c->stream));
    CS_CHECK(ensure(c, &c->cub_temp, scan_bytes > sort_bytes ? scan_bytes : sort_bytes,
                    "CRF scan/sort scratch"));
    scan_bytes = c->cub_temp.bytes;
    CS_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(c->cub_temp.p, scan_bytes, first, vid, entries, c->stream));
    k_count<<<1, 1, 0, c->stream>>>(entries, first, vid, info);
    CS_CUDA_CHECK_LAUNCH("k_count");
    int32_t host_info[2] = {0, 0};
    CS_CUDA_CHECK(cudaMemcpyAsync(host_info, info, sizeof host_info, cudaMemcpyDeviceToHost, c->stream));
    CS_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (host_info[0])
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                        "CRF lattice: scaled features exceed the lattice key range "
                        "(a kernel std is too small for these coordinates/colours)");
    const int32_t m = host_info[1];
    if (m < 1 || m > entries)
        return cs_error(CUSEG_ERR_INTERNAL, "CRF lattice: %d vertices for %d entries", m, entries);
    L->m = m;
    CS_CHECK(ensure(c, &L->csr_start, ((size_t)m + 1) * sizeof(int32_t), "CRF lattice"));
    CS_CHECK(ensure(c, &L->blur_nbr, (size_t)dp1 * m * 2 * sizeof(int32_t), "CRF lattice neighbours"));

    /* 5-8: rows, CSR by a stable sort, neighbours. */
    int32_t *offset = ptr<int32_t>(L->offset), *vertex_entry = ptr<int32_t>(c->vertex_entry);
    LAUNCH(k_vertex, (size_t)entries, entries, slot, table, vid, offset, vertex_entry,
           ptr<int32_t>(c->iota));
    int end_bit = 1;
    while (end_bit < 32 && ((int64_t)1 << end_bit) <= m) ++end_bit; /* rows are 1..m */
    sort_bytes = c->cub_temp.bytes;
    CS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(c->cub_temp.p, sort_bytes, offset,
                                                  ptr<int32_t>(c->sorted_row), ptr<int32_t>(c->iota),
                                                  ptr<int32_t>(c->sorted_entry), entries, 0, end_bit,
                                                  c->stream));
    int32_t *csr_entry = first; /* free since the scan */
    LAUNCH(k_csr, (size_t)entries, entries, d, ptr<int32_t>(c->sorted_row),
           ptr<int32_t>(c->sorted_entry), ptr<int32_t>(L->csr_start), ptr<int32_t>(L->csr_point),
           csr_entry);
    LAUNCH(k_neighbors, (size_t)m * dp1, m, d, vertex_entry, keys, table, mask, offset,
           ptr<int32_t>(L->blur_nbr));

    /* Weights: D = K 1, then the normalisation folded in (crf_kernel_init). */
    LAUNCH(k_weights, (size_t)entries, entries, ptr<float>(L->bary), csr_entry, cs_crf_alpha(d),
           ptr<float>(L->splat_w), ptr<float>(L->slice_w));
    CS_CHECK(ensure_values(c, m, 1));
    float *ones = ptr<float>(c->pre), *deg = ptr<float>(c->deg);
    LAUNCH(k_fill, (size_t)n, (size_t)n, 1.0f, ones);
    cuseg_status st;
    splat(c, L, ones, 1, ptr<float>(L->splat_w), ptr<float>(c->values), &st);
    CS_CHECK(st);
    const float *blurred = blur(c, L, ptr<float>(c->values), ptr<float>(c->scratch), 1, &st);
    CS_CHECK(st);
    CS_CHECK(slice(c, L, blurred, ptr<float>(L->slice_w), 1, deg, 0));
    LAUNCH(k_norm, (size_t)n, n, d, deg, (int)norm, weight, ptr<float>(c->pre), ptr<float>(L->slice_w));
    LAUNCH(k_splat_pre, (size_t)entries, entries, ptr<int32_t>(L->csr_point), ptr<float>(c->pre),
           ptr<float>(L->splat_w));
    return CUSEG_OK;
}

/* One image: rgb and prob already on the device (c->rgb, c->prob); the
 * marginals end packed (h*w*labels) in c->prob. */
cuseg_status run_image(cs_cuda_crf *c, const cs_crf_params *p, int h, int w, int labels) {
    const int32_t n = h * w;
    const int stride = (labels + 3) & ~3; /* as crf.c */
    const size_t plane = (size_t)n * stride;
    CS_CHECK(ensure(c, &c->unary, plane * sizeof(float), "CRF unary"));
    CS_CHECK(ensure(c, &c->q, plane * sizeof(float), "CRF marginals"));
    CS_CHECK(ensure(c, &c->msg, plane * sizeof(float), "CRF messages"));
    float *unary = ptr<float>(c->unary), *q = ptr<float>(c->q), *msg = ptr<float>(c->msg);
    LAUNCH(k_unary, plane, n, labels, stride, ptr<float>(c->prob), unary);
    LAUNCH(k_update, (size_t)n, n, labels, stride, unary, nullptr, q);

    /* Gaussian kernel first, then bilateral, as crf.c; a zero weight drops one. */
    const dev_lattice *kernels[2];
    int n_kernels = 0;
    if (p->w2 > 0.0f && p->iterations > 0) {
        if (!(c->gauss_valid && c->gauss_h == h && c->gauss_w == w && c->gauss_theta == p->theta_gamma &&
              c->gauss_weight == p->w2 && c->gauss_norm == (int)p->normalization)) {
            c->gauss_valid = 0;
            CS_CHECK(build_kernel(c, &c->lat[0], h, w, nullptr, p->theta_gamma, 0.0f, p->w2,
                                  p->normalization));
            c->gauss_valid = 1, c->gauss_h = h, c->gauss_w = w, c->gauss_theta = p->theta_gamma;
            c->gauss_weight = p->w2, c->gauss_norm = (int)p->normalization;
        }
        kernels[n_kernels++] = &c->lat[0];
    }
    if (p->w1 > 0.0f && p->iterations > 0) {
        CS_CHECK(build_kernel(c, &c->lat[1], h, w, ptr<uint8_t>(c->rgb), p->theta_alpha,
                              p->theta_beta, p->w1, p->normalization));
        kernels[n_kernels++] = &c->lat[1];
    }
    int max_m = 0;
    for (int k = 0; k < n_kernels; ++k) max_m = kernels[k]->m > max_m ? kernels[k]->m : max_m;
    if (n_kernels) CS_CHECK(ensure_values(c, max_m, stride));
    for (int it = 0; it < p->iterations && n_kernels > 0; ++it) { /* none: Q stays softmax(-U) */
        for (int k = 0; k < n_kernels; ++k) {
            const dev_lattice *L = kernels[k];
            cuseg_status st;
            splat(c, L, q, stride, ptr<float>(L->splat_w), ptr<float>(c->values), &st);
            CS_CHECK(st);
            const float *blurred = blur(c, L, ptr<float>(c->values), ptr<float>(c->scratch), stride, &st);
            CS_CHECK(st);
            CS_CHECK(slice(c, L, blurred, ptr<float>(L->slice_w), stride, msg, k > 0));
        }
        LAUNCH(k_update, (size_t)n, n, labels, stride, unary, msg, q);
    }
    LAUNCH(k_pack, (size_t)n * labels, n, labels, stride, q, ptr<float>(c->prob));
    return CUSEG_OK;
}

} // namespace

extern "C" void cs_cuda_crf_release(cs_cuda_crf *c) {
    if (!c) return;
    cudaSetDevice(c->device);
    if (c->stream) cudaStreamSynchronize(c->stream);
    dev_buf *bufs[] = {&c->rgb,  &c->prob,       &c->unary,        &c->q,          &c->msg,
                       &c->values, &c->scratch,  &c->deg,          &c->pre,        &c->keys,
                       &c->table, &c->slot,      &c->first,        &c->vid,        &c->vertex_entry,
                       &c->sorted_row, &c->iota, &c->sorted_entry, &c->cub_temp,   &c->info};
    for (dev_buf *b : bufs) free_buf(b);
    for (dev_lattice &L : c->lat) {
        dev_buf *lb[] = {&L.offset, &L.bary, &L.splat_w, &L.slice_w, &L.csr_start, &L.csr_point,
                         &L.blur_nbr};
        for (dev_buf *b : lb) free_buf(b);
    }
    if (c->own_stream && c->stream) cudaStreamDestroy(c->stream);
    cudaGetLastError();
    delete c;
}

extern "C" cuseg_status cs_cuda_crf_create(int device, void *stream, cs_cuda_crf **out) {
    *out = nullptr;
    cs_cuda_crf *c = new (std::nothrow) cs_cuda_crf();
    if (!c) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "out of memory for the CUDA CRF");
    c->device = device;
    cuseg_status st = use_device(c);
    if (st == CUSEG_OK && stream) {
        c->stream = static_cast<cudaStream_t>(stream);
    } else if (st == CUSEG_OK) {
        st = cs_cuda_status(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking),
                            "cudaStreamCreate");
        c->own_stream = st == CUSEG_OK;
    }
    if (st != CUSEG_OK) {
        cs_cuda_crf_release(c);
        return cs_error_context(st, "CUDA device %d", device);
    }
    *out = c;
    return CUSEG_OK;
}

extern "C" cuseg_status cs_cuda_crf_run(cs_cuda_crf *c, const cs_crf_params *p, const uint8_t *rgb,
                                        const float *prob, int n, int h, int w, int labels,
                                        float *out_prob) {
    CS_CHECK(use_device(c));
    const size_t pix = (size_t)h * w;
    CS_CHECK(ensure(c, &c->rgb, pix * 3, "the CRF's image"));
    CS_CHECK(ensure(c, &c->prob, pix * labels * sizeof(float), "the CRF's probabilities"));
    for (int b = 0; b < n; ++b) {
        /* The previous image's results are on the host before its inputs are overwritten. */
        CS_CUDA_CHECK(cudaMemcpyAsync(c->rgb.p, rgb + b * pix * 3, pix * 3, cudaMemcpyHostToDevice,
                                      c->stream));
        CS_CUDA_CHECK(cudaMemcpyAsync(c->prob.p, prob + b * pix * labels, pix * labels * sizeof(float),
                                      cudaMemcpyHostToDevice, c->stream));
        cuseg_status st = run_image(c, p, h, w, labels);
        if (st == CUSEG_OK)
            st = cs_cuda_status(cudaMemcpyAsync(out_prob + b * pix * labels, c->prob.p,
                                                pix * labels * sizeof(float), cudaMemcpyDeviceToHost,
                                                c->stream),
                                "cudaMemcpyAsync");
        if (st == CUSEG_OK) st = cs_cuda_status(cudaStreamSynchronize(c->stream), "CRF kernels");
        if (st != CUSEG_OK) {
            cudaStreamSynchronize(c->stream);
            c->gauss_valid = 0;
            return cs_error_context(st, "image %d of %d", b, n);
        }
    }
    return CUSEG_OK;
}
