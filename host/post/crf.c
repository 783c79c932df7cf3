/* Fully connected CRF with permutohedral-lattice mean field (see crf.h).
 *
 * Lattice construction follows densecrf's permutohedral.cpp (SSE path, the
 * one pip builds of pydensecrf run on x86-64) step by step, so the vertices,
 * barycentric weights and blur neighbours are the same. Every vertex sums
 * its points in ascending order, as densecrf's pixel loop does: on the CPU
 * a scatter in point order split by vertex ranges between threads
 * (cs_lattice_splat_points), on the GPU a gather per vertex over a CSR list
 * of its entries (cs_lattice_splat is that gather's reference). Both are
 * deterministic, free of atomics and equal bit for bit. */
#include "post/crf.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "post/crf_math.h"

/* ------------------------------------------------------------------ hashing */

/* Vertices numbered in order of first appearance (keys[v] is vertex v);
 * the embedding, keys and hash function are crf_math.h's, shared with CUDA. */
typedef struct lattice_hash {
    int32_t *table; /* cap slots: vertex index or -1 */
    size_t cap;     /* power of two */
    cs_lattice_key *keys;
    int32_t filled, keys_cap;
} lattice_hash;

/* Slot of `key`, or of the empty slot where it would go. */
static size_t hash_slot(const lattice_hash *hs, const cs_lattice_key *key) {
    size_t mask = hs->cap - 1, s = (size_t)cs_lattice_key_hash(key) & mask;
    for (;;) {
        int32_t e = hs->table[s];
        if (e < 0 || cs_lattice_key_equal(&hs->keys[e], key)) return s;
        s = (s + 1) & mask;
    }
}

static int32_t hash_find(const lattice_hash *hs, const cs_lattice_key *key) {
    return hs->table[hash_slot(hs, key)];
}

static cuseg_status hash_grow(lattice_hash *hs) {
    size_t cap = hs->cap * 2;
    int32_t *table = NULL;
    CS_CHECK(cs_alloc((void **)&table, cap * sizeof *table, "CRF lattice hash table"));
    memset(table, 0xff, cap * sizeof *table);
    free(hs->table);
    hs->table = table;
    hs->cap = cap;
    for (int32_t v = 0; v < hs->filled; ++v) table[hash_slot(hs, &hs->keys[v])] = v;
    return CUSEG_OK;
}

static cuseg_status hash_insert(lattice_hash *hs, const cs_lattice_key *key, int32_t *index) {
    size_t s = hash_slot(hs, key);
    if (hs->table[s] >= 0) {
        *index = hs->table[s];
        return CUSEG_OK;
    }
    if (hs->filled == hs->keys_cap) {
        int32_t cap = hs->keys_cap * 2;
        cs_lattice_key *keys = realloc(hs->keys, (size_t)cap * sizeof *keys);
        if (!keys) return cs_error(CUSEG_ERR_OUT_OF_MEMORY, "CRF lattice: %d vertices", cap);
        hs->keys = keys;
        hs->keys_cap = cap;
    }
    hs->keys[hs->filled] = *key;
    hs->table[s] = hs->filled;
    *index = hs->filled++;
    if ((size_t)hs->filled * 2 >= hs->cap) CS_CHECK(hash_grow(hs));
    return CUSEG_OK;
}

void cs_lattice_free(cs_lattice *lat) {
    if (!lat) return;
    free(lat->offset);
    free(lat->bary);
    free(lat->blur_nbr);
    free(lat->csr_start);
    free(lat->csr_point);
    free(lat->csr_entry);
    memset(lat, 0, sizeof *lat);
}

cuseg_status cs_lattice_init(cs_lattice *lat, const float *features, int n, int d, int threads) {
    memset(lat, 0, sizeof *lat);
    CS_CHECK_ARG(d >= 1 && d <= CS_LATTICE_MAX_D, "lattice dimension must be in [1, %d], got %d",
                 CS_LATTICE_MAX_D, d);
    CS_CHECK_ARG(n >= 1 && (long long)n * (d + 1) < INT32_MAX,
                 "lattice point count must be in [1, %d], got %d", INT32_MAX / (d + 1), n);
    CS_CHECK_ARG(threads >= 1, "threads must be >= 1, got %d", threads);
    const int dp1 = d + 1;
    const size_t entries = (size_t)n * dp1;

    float scale[CS_LATTICE_MAX_D];
    cs_lattice_scale(d, scale);

    int16_t *rem0 = NULL;
    int8_t *rank = NULL;
    lattice_hash hs = {0};
    cuseg_status st = CUSEG_OK;
    if ((st = cs_alloc((void **)&rem0, entries * sizeof *rem0, "CRF lattice embedding")) ||
        (st = cs_alloc((void **)&rank, entries * sizeof *rank, "CRF lattice embedding")) ||
        (st = cs_alloc((void **)&lat->offset, entries * sizeof *lat->offset, "CRF lattice")) ||
        (st = cs_alloc((void **)&lat->bary, entries * sizeof *lat->bary, "CRF lattice")))
        goto fail;
    lat->d = d;
    lat->n = n;

    int bad = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : bad)
    for (int i = 0; i < n; ++i) {
        size_t e = (size_t)i * dp1;
        if (!cs_lattice_embed_point(features + (size_t)i * d, d, scale, rem0 + e, rank + e, lat->bary + e))
            bad = 1;
    }
    if (bad) {
        st = cs_error(CUSEG_ERR_INVALID_ARGUMENT,
                      "CRF lattice: scaled features exceed the lattice key range "
                      "(a kernel std is too small for these coordinates/colours)");
        goto fail;
    }

    /* Vertices numbered in order of first appearance, point by point, as in
     * densecrf. Serial: it runs once per image and kernel. */
    hs.cap = 64;
    while (hs.cap < (size_t)n * 2) hs.cap *= 2;
    hs.keys_cap = n < 64 ? 64 : n;
    if ((st = cs_alloc((void **)&hs.table, hs.cap * sizeof *hs.table, "CRF lattice hash table")) ||
        (st = cs_alloc((void **)&hs.keys, (size_t)hs.keys_cap * sizeof *hs.keys, "CRF lattice keys")))
        goto fail;
    memset(hs.table, 0xff, hs.cap * sizeof *hs.table);
    /* Neighbouring pixels mostly share their simplex (features change
     * little from one pixel to the next), so the previous point's vertex of
     * the same remainder is checked before the hash table: most lookups end
     * there instead of in a cache-missing probe. */
    cs_lattice_key prev_key[CS_LATTICE_MAX_D + 1];
    int32_t prev_vertex[CS_LATTICE_MAX_D + 1];
    for (int r = 0; r < dp1; ++r) prev_vertex[r] = -1;
    for (size_t e0 = 0; e0 < entries; e0 += dp1) {
        for (int r = 0; r < dp1; ++r) {
            cs_lattice_key key;
            int32_t v = 0;
            cs_lattice_vertex_key(rem0 + e0, rank + e0, d, r, &key);
            if (prev_vertex[r] >= 0 && cs_lattice_key_equal(&key, &prev_key[r])) {
                v = prev_vertex[r];
            } else {
                if ((st = hash_insert(&hs, &key, &v))) goto fail;
                prev_key[r] = key;
                prev_vertex[r] = v;
            }
            lat->offset[e0 + r] = v + 1;
        }
    }
    const int m = hs.filled;
    lat->m = m;

    if ((st = cs_alloc((void **)&lat->blur_nbr, (size_t)dp1 * m * 2 * sizeof *lat->blur_nbr,
                       "CRF lattice neighbours")) ||
        (st = cs_calloc((void **)&lat->csr_start, ((size_t)m + 1) * sizeof *lat->csr_start,
                        "CRF lattice")) ||
        (st = cs_alloc((void **)&lat->csr_point, entries * sizeof *lat->csr_point, "CRF lattice")) ||
        (st = cs_alloc((void **)&lat->csr_entry, entries * sizeof *lat->csr_entry, "CRF lattice")))
        goto fail;

    /* Neighbours along axis j: all coordinates -1 / +1 except j, which moves
     * by +d / -d (densecrf's blur_neighbors_). */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int v = 0; v < m; ++v) {
        const cs_lattice_key *key = &hs.keys[v];
        for (int j = 0; j <= d; ++j) {
            cs_lattice_key n1, n2;
            cs_lattice_neighbor_key(key, d, j, 0, &n1);
            cs_lattice_neighbor_key(key, d, j, 1, &n2);
            int32_t *nb = lat->blur_nbr + ((size_t)j * m + v) * 2;
            nb[0] = hash_find(&hs, &n1) + 1;
            nb[1] = hash_find(&hs, &n2) + 1;
        }
    }

    /* CSR of splat entries per vertex, points ascending (counting sort). */
    for (size_t e = 0; e < entries; ++e) lat->csr_start[lat->offset[e]]++;
    for (int v = 0; v < m; ++v) lat->csr_start[v + 1] += lat->csr_start[v];
    for (size_t e = 0; e < entries; ++e) {
        int32_t pos = lat->csr_start[lat->offset[e] - 1]++;
        lat->csr_point[pos] = (int32_t)(e / dp1);
        lat->csr_entry[pos] = (int32_t)e;
    }
    for (int v = m; v > 0; --v) lat->csr_start[v] = lat->csr_start[v - 1];
    lat->csr_start[0] = 0;

    free(rem0);
    free(rank);
    free(hs.table);
    free(hs.keys);
    return CUSEG_OK;
fail:
    free(rem0);
    free(rank);
    free(hs.table);
    free(hs.keys);
    cs_lattice_free(lat);
    return st;
}

/* ------------------------------------------------------------------ filtering */

void cs_lattice_splat(const cs_lattice *lat, const float *in, int stride, const float *csr_weight,
                      float *values, int threads) {
    memset(values, 0, (size_t)stride * sizeof *values);
#pragma omp parallel for num_threads(threads) schedule(static, 256)
    for (int v = 0; v < lat->m; ++v) {
        float *restrict dst = values + ((size_t)v + 1) * stride;
        for (int k = 0; k < stride; ++k) dst[k] = 0.0f;
        for (int32_t e = lat->csr_start[v]; e < lat->csr_start[v + 1]; ++e) {
            const float w = csr_weight[e];
            const float *restrict src = in + (size_t)lat->csr_point[e] * stride;
            for (int k = 0; k < stride; ++k) dst[k] += w * src[k];
        }
    }
}

void cs_lattice_splat_points(const cs_lattice *lat, const float *in, int stride, const float *weight,
                             float *values, int threads) {
    const int dp1 = lat->d + 1, n = lat->n, m = lat->m;
    memset(values, 0, (size_t)stride * sizeof *values);
    /* Each thread owns a contiguous range of vertex rows and scans all
     * points in order, adding only into its rows: every vertex still sums
     * its points in ascending order (the gather's order, so the result does
     * not depend on the thread count), q is read sequentially, and the
     * random writes stay in the smaller vertex array. */
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int32_t lo = 1 + (int32_t)((int64_t)m * t / nt), hi = 1 + (int32_t)((int64_t)m * (t + 1) / nt);
        memset(values + (size_t)lo * stride, 0, (size_t)(hi - lo) * stride * sizeof *values);
        for (int i = 0; i < n; ++i) {
            const float *restrict src = in + (size_t)i * stride;
            for (int r = 0; r < dp1; ++r) {
                const size_t e = (size_t)i * dp1 + r;
                const int32_t row = lat->offset[e];
                if (row < lo || row >= hi) continue;
                const float w = weight[e];
                float *restrict dst = values + (size_t)row * stride;
                for (int k = 0; k < stride; ++k) dst[k] += w * src[k];
            }
        }
    }
}

float *cs_lattice_blur(const cs_lattice *lat, float *values, float *scratch, int stride,
                       int reverse, int threads) {
    const int d = lat->d, m = lat->m;
    memset(values, 0, (size_t)stride * sizeof *values);
    memset(scratch, 0, (size_t)stride * sizeof *scratch);
    float *src = values, *dst = scratch;
    for (int jj = 0; jj <= d; ++jj) {
        const int j = reverse ? d - jj : jj;
        const int32_t *nbr = lat->blur_nbr + (size_t)j * m * 2;
#pragma omp parallel for num_threads(threads) schedule(static, 256)
        for (int v = 0; v < m; ++v) {
            const float *restrict old = src + ((size_t)v + 1) * stride;
            const float *restrict n1 = src + (size_t)nbr[2 * v] * stride;
            const float *restrict n2 = src + (size_t)nbr[2 * v + 1] * stride;
            float *restrict out = dst + ((size_t)v + 1) * stride;
            for (int k = 0; k < stride; ++k) out[k] = old[k] + 0.5f * (n1[k] + n2[k]);
        }
        float *t = src;
        src = dst;
        dst = t;
    }
    return src;
}

/* Four floats of a row (the CRF's rows are multiples of 4 floats; the vector
 * extension keeps the per-element arithmetic, and -ffp-contract=off keeps
 * a*b + c unfused, so results equal the scalar loops' bit for bit). */
typedef float crf_v4 __attribute__((vector_size(16)));

static inline crf_v4 crf_load4(const float *p) {
    crf_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* dst (+)= Σ_r weight * vertex row, for point i: four columns at a time
 * summed over the d + 1 rows in registers, in the order r = 0..d as
 * cs_lattice_slice_value sums them. (A loop over r outside the columns
 * made GCC interleave pairs of rows in scalar code.) */
static inline void lattice_slice_point(const cs_lattice *lat, const float *values, const float *weight,
                                       int stride, int i, float *restrict dst) {
    const int dp1 = lat->d + 1;
    const int32_t *offset = lat->offset + (size_t)i * dp1;
    const float *w = weight + (size_t)i * dp1;
    int k = 0;
    for (; k + 4 <= stride; k += 4) {
        crf_v4 acc = crf_load4(dst + k);
        for (int r = 0; r < dp1; ++r) acc += w[r] * crf_load4(values + (size_t)offset[r] * stride + k);
        memcpy(dst + k, &acc, sizeof acc);
    }
    for (; k < stride; ++k) /* stride 1: the degree computation */
        for (int r = 0; r < dp1; ++r) dst[k] += w[r] * values[(size_t)offset[r] * stride + k];
}

void cs_lattice_slice(const cs_lattice *lat, const float *values, const float *weight,
                      int stride, float *out, int accumulate, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static, 256)
    for (int i = 0; i < lat->n; ++i) {
        float *restrict dst = out + (size_t)i * stride;
        if (!accumulate)
            for (int k = 0; k < stride; ++k) dst[k] = 0.0f;
        lattice_slice_point(lat, values, weight, stride, i, dst);
    }
}

/* ------------------------------------------------------------------ CRF */

cs_crf_params cs_crf_default_params(void) {
    cs_crf_params p;
    p.w1 = 4.0f;
    p.theta_alpha = 121.0f;
    p.theta_beta = 5.0f;
    p.w2 = 3.0f;
    p.theta_gamma = 3.0f;
    p.iterations = 10;
    p.normalization = CS_CRF_NORMALIZE_SYMMETRIC;
    return p;
}

cuseg_status cs_crf_check_params(const cs_crf_params *p) {
    CS_CHECK_ARG(p, "CRF parameters are NULL");
    CS_CHECK_ARG(isfinite(p->w1) && p->w1 >= 0.0f, "CRF w1 (bilateral weight) must be finite and >= 0, got %g", p->w1);
    CS_CHECK_ARG(isfinite(p->w2) && p->w2 >= 0.0f, "CRF w2 (Gaussian weight) must be finite and >= 0, got %g", p->w2);
    CS_CHECK_ARG(isfinite(p->theta_alpha) && p->theta_alpha > 0.0f,
                 "CRF theta_alpha (bilateral position std) must be finite and > 0, got %g", p->theta_alpha);
    CS_CHECK_ARG(isfinite(p->theta_beta) && p->theta_beta > 0.0f,
                 "CRF theta_beta (bilateral colour std) must be finite and > 0, got %g", p->theta_beta);
    CS_CHECK_ARG(isfinite(p->theta_gamma) && p->theta_gamma > 0.0f,
                 "CRF theta_gamma (Gaussian position std) must be finite and > 0, got %g", p->theta_gamma);
    CS_CHECK_ARG(p->iterations >= 0, "CRF iterations must be >= 0, got %d", p->iterations);
    CS_CHECK_ARG(p->normalization >= CS_CRF_NORMALIZE_SYMMETRIC && p->normalization <= CS_CRF_NO_NORMALIZATION,
                 "CRF normalization must be 0..3 (symmetric, after, before, none), got %d",
                 (int)p->normalization);
    return CUSEG_OK;
}

/* One pairwise term: its lattice and the per-entry weights with the
 * normalisation and the Potts weight folded in. */
typedef struct crf_kernel {
    cs_lattice lat;
    float *splat_w; /* (point, remainder) order */
    float *slice_w; /* (point, remainder) order */
} crf_kernel;

static void crf_kernel_free(crf_kernel *k) {
    cs_lattice_free(&k->lat);
    free(k->splat_w);
    free(k->slice_w);
    memset(k, 0, sizeof *k);
}

static cuseg_status crf_kernel_init(crf_kernel *k, const float *features, int n, int d,
                                    float weight, cs_crf_normalization norm, int threads) {
    memset(k, 0, sizeof *k);
    CS_CHECK(cs_lattice_init(&k->lat, features, n, d, threads));
    const cs_lattice *lat = &k->lat;
    const size_t entries = (size_t)n * (d + 1);
    const float alpha = cs_crf_alpha(d);
    float *values = NULL, *scratch = NULL, *deg = NULL;
    cuseg_status st;
    if ((st = cs_alloc((void **)&k->splat_w, entries * sizeof(float), "CRF kernel weights")) ||
        (st = cs_alloc((void **)&k->slice_w, entries * sizeof(float), "CRF kernel weights")) ||
        (st = cs_alloc((void **)&values, ((size_t)lat->m + 1) * sizeof(float), "CRF kernel")) ||
        (st = cs_alloc((void **)&scratch, ((size_t)lat->m + 1) * sizeof(float), "CRF kernel")) ||
        (st = cs_alloc((void **)&deg, (size_t)n * sizeof(float), "CRF kernel"))) {
        free(values);
        free(scratch);
        free(deg);
        crf_kernel_free(k);
        return st;
    }
    /* D = K 1 (densecrf: lattice_.compute(ones), alpha included). */
    memcpy(k->splat_w, lat->bary, entries * sizeof(float));
    for (size_t e = 0; e < entries; ++e) k->slice_w[e] = lat->bary[e] * alpha;
    float *ones = deg; /* reused: the input is read by splat before slice writes deg */
    for (int i = 0; i < n; ++i) ones[i] = 1.0f;
    cs_lattice_splat_points(lat, ones, 1, k->splat_w, values, threads);
    float *blurred = cs_lattice_blur(lat, values, scratch, 1, 0, threads);
    cs_lattice_slice(lat, blurred, k->slice_w, 1, deg, 0, threads);

    /* Pre- and post-scale per point, as in DenseKernel::filter (not transposed). */
    for (int i = 0; i < n; ++i) {
        float pre, post;
        cs_crf_norm_factors(deg[i], norm, &pre, &post);
        deg[i] = pre; /* the post factor goes straight into slice_w */
        for (int r = 0; r <= d; ++r) k->slice_w[(size_t)i * (d + 1) + r] *= post * weight;
    }
    for (size_t e = 0; e < entries; ++e) k->splat_w[e] *= deg[e / (size_t)(d + 1)];
    free(values);
    free(scratch);
    free(deg);
    return CUSEG_OK;
}

cuseg_status cs_crf_check_sizes(const cs_crf_params *p, const void *rgb, const void *in,
                                int n, int h, int w, int labels, int threads, const void *out) {
    CS_CHECK(cs_crf_check_params(p));
    CS_CHECK_ARG(rgb && in && out, "CRF: NULL image, input or output buffer");
    CS_CHECK_ARG(n >= 1, "CRF: batch must be >= 1, got %d", n);
    CS_CHECK_ARG(h >= 1 && w >= 1, "CRF: image size must be positive, got %dx%d", h, w);
    CS_CHECK_ARG((long long)h * w * (CS_LATTICE_MAX_D + 1) < INT32_MAX,
                 "CRF: image %dx%d has too many pixels for the lattice (max %d)", h, w,
                 INT32_MAX / (CS_LATTICE_MAX_D + 1));
    CS_CHECK_ARG(labels >= 1 && labels <= 4096, "CRF: labels must be in [1, 4096], got %d", labels);
    CS_CHECK_ARG(threads >= 1, "CRF: threads must be >= 1, got %d", threads);
    return CUSEG_OK;
}

/* Q = softmax(-U): the mean-field start. */
static void crf_init_q(const float *unary, float *q, int n, int labels, int stride, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < n; ++i) {
        float *qi = q + (size_t)i * stride;
        for (int k = 0; k < stride; ++k) qi[k] = 0.0f;
        cs_crf_softmax_row(unary + (size_t)i * stride, qi, qi, labels, stride);
    }
}

/* The last kernel's slice fused with the update: Q_i = softmax(-U_i +
 * msg_i + slice_i), written straight into Q (the splats that read Q are
 * done), so the message of the last kernel never goes through memory.
 * msg: the other kernels' messages, or NULL. */
static void crf_slice_update(const cs_lattice *lat, const float *values, const float *weight,
                             const float *msg, const float *unary, float *q, int labels, int stride,
                             int threads) {
#pragma omp parallel for num_threads(threads) schedule(static, 256)
    for (int i = 0; i < lat->n; ++i) {
        float *restrict qi = q + (size_t)i * stride;
        if (msg)
            memcpy(qi, msg + (size_t)i * stride, (size_t)stride * sizeof *qi);
        else
            for (int k = 0; k < stride; ++k) qi[k] = 0.0f;
        lattice_slice_point(lat, values, weight, stride, i, qi);
        cs_crf_softmax_row(unary + (size_t)i * stride, qi, qi, labels, stride);
    }
}

/* unary_is_prob: the input is P (clipped to [1e-5, 1], U = -log P) or U. */
static cuseg_status crf_run_one(const cs_crf_params *p, const uint8_t *rgb, const float *input,
                                int unary_is_prob, int h, int w, int labels, int threads,
                                float *out) {
    const int n = h * w;
    const int stride = (labels + 3) & ~3; /* 16-byte rows for the vector loops */
    float *unary = NULL, *q = NULL, *msg = NULL, *values = NULL, *scratch = NULL, *feat = NULL;
    crf_kernel kernels[2];
    int n_kernels = 0;
    cuseg_status st;
    memset(kernels, 0, sizeof kernels);

    const size_t plane = (size_t)n * stride;
    if ((st = cs_alloc((void **)&unary, plane * sizeof(float), "CRF unary")) ||
        (st = cs_alloc((void **)&q, plane * sizeof(float), "CRF marginals")) ||
        (st = cs_alloc((void **)&msg, plane * sizeof(float), "CRF messages")) ||
        (st = cs_alloc((void **)&feat, (size_t)n * 5 * sizeof(float), "CRF features")))
        goto done;

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < n; ++i) {
        const float *src = input + (size_t)i * labels;
        float *u = unary + (size_t)i * stride;
        for (int k = 0; k < labels; ++k) {
            float v = src[k];
            if (unary_is_prob) v = cs_crf_unary_of_prob(v);
            u[k] = v;
        }
        for (int k = labels; k < stride; ++k) u[k] = 0.0f;
    }
    if (!unary_is_prob) {
        int bad = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : bad)
        for (size_t i = 0; i < plane; ++i) bad |= !isfinite(unary[i]);
        if (bad) {
            st = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "CRF: unary energies must be finite");
            goto done;
        }
    }
    crf_init_q(unary, q, n, labels, stride, threads);

    /* Gaussian (smoothness) kernel first, then bilateral, as DeepLab's and
     * pydensecrf's examples add them. A zero weight drops the kernel. */
    if (p->w2 > 0.0f && p->iterations > 0) {
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                cs_crf_pixel_features(x, y, NULL, p->theta_gamma, 0.0f, feat + ((size_t)y * w + x) * 2);
            }
        if ((st = crf_kernel_init(&kernels[n_kernels], feat, n, 2, p->w2, p->normalization, threads)))
            goto done;
        n_kernels++;
    }
    if (p->w1 > 0.0f && p->iterations > 0) {
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const size_t i = (size_t)y * w + x;
                cs_crf_pixel_features(x, y, rgb + i * 3, p->theta_alpha, p->theta_beta, feat + i * 5);
            }
        if ((st = crf_kernel_init(&kernels[n_kernels], feat, n, 5, p->w1, p->normalization, threads)))
            goto done;
        n_kernels++;
    }
    if (n_kernels > 0) {
        int max_m = 0;
        for (int k = 0; k < n_kernels; ++k) max_m = kernels[k].lat.m > max_m ? kernels[k].lat.m : max_m;
        const size_t vbytes = ((size_t)max_m + 1) * stride * sizeof(float);
        if ((st = cs_alloc((void **)&values, vbytes, "CRF lattice values")) ||
            (st = cs_alloc((void **)&scratch, vbytes, "CRF lattice values")))
            goto done;
    }
    for (int it = 0; it < p->iterations; ++it) {
        if (n_kernels == 0) break; /* Q stays softmax(-U) */
        for (int k = 0; k < n_kernels; ++k) {
            const crf_kernel *ker = &kernels[k];
            cs_lattice_splat_points(&ker->lat, q, stride, ker->splat_w, values, threads);
            float *blurred = cs_lattice_blur(&ker->lat, values, scratch, stride, 0, threads);
            if (k + 1 < n_kernels)
                cs_lattice_slice(&ker->lat, blurred, ker->slice_w, stride, msg, k > 0, threads);
            else
                crf_slice_update(&ker->lat, blurred, ker->slice_w, k > 0 ? msg : NULL, unary, q, labels,
                                 stride, threads);
        }
    }

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < n; ++i)
        memcpy(out + (size_t)i * labels, q + (size_t)i * stride, (size_t)labels * sizeof(float));
    st = CUSEG_OK;
done:
    for (int k = 0; k < 2; ++k) crf_kernel_free(&kernels[k]);
    free(unary);
    free(q);
    free(msg);
    free(values);
    free(scratch);
    free(feat);
    return st;
}

cuseg_status cs_crf_run(const cs_crf_params *p, const uint8_t *rgb, const float *prob, int h,
                        int w, int labels, int threads, float *out_prob) {
    CS_CHECK(cs_crf_check_sizes(p, rgb, prob, 1, h, w, labels, threads, out_prob));
    return crf_run_one(p, rgb, prob, 1, h, w, labels, threads, out_prob);
}

cuseg_status cs_crf_run_unary(const cs_crf_params *p, const uint8_t *rgb, const float *unary,
                              int h, int w, int labels, int threads, float *out_prob) {
    CS_CHECK(cs_crf_check_sizes(p, rgb, unary, 1, h, w, labels, threads, out_prob));
    return crf_run_one(p, rgb, unary, 0, h, w, labels, threads, out_prob);
}

cuseg_status cs_crf_run_batch(const cs_crf_params *p, const uint8_t *rgb, const float *prob,
                              int n, int h, int w, int labels, int threads, float *out_prob) {
    CS_CHECK(cs_crf_check_sizes(p, rgb, prob, n, h, w, labels, threads, out_prob));
    const size_t pix = (size_t)h * w;
    for (int b = 0; b < n; ++b) {
        cuseg_status st = crf_run_one(p, rgb + (size_t)b * pix * 3, prob + (size_t)b * pix * labels,
                                      1, h, w, labels, threads, out_prob + (size_t)b * pix * labels);
        if (st != CUSEG_OK) return cs_error_context(st, "image %d of %d", b, n);
    }
    return CUSEG_OK;
}
