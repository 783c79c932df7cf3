/* Per-point, per-entry and per-vertex arithmetic of the dense CRF (crf.h),
 * shared by the CPU code (crf.c) and the CUDA kernels (cuda/crf.cu). Every
 * function is `static inline CS_HD`, so the CPU tests run exactly the
 * arithmetic the GPU runs (tests/post/test_crf_gpu_algorithm.cpp runs the GPU
 * build and filter steps serially on the host against crf.c).
 *
 * Products go through cs_crf_mul: under nvcc it is __fmul_rn, which the
 * compiler never fuses into an FMA, so a*b + c rounds twice on the GPU as it
 * does on the host (the host build targets x86-64 without -mfma, so gcc has
 * no FMA to contract into). With that the GPU computes the CPU's lattice,
 * messages and updates bit for bit; only the unary's logf (glibc's against
 * CUDA's, <= 1 ulp) may differ. */
#ifndef CS_POST_CRF_MATH_H
#define CS_POST_CRF_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op_math.h"
#include "post/crf.h"

static inline CS_HD float cs_crf_mul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

/* ------------------------------------------------------------------ keys */

/* A lattice vertex: d coordinates (the (d+1)-th is minus their sum), rest 0. */
typedef struct cs_lattice_key {
    int16_t k[8];
} cs_lattice_key;

static inline CS_HD uint64_t cs_lattice_key_hash(const cs_lattice_key *key) {
    uint64_t a = 0, b = 0;
    for (int i = 3; i >= 0; --i) {
        a = (a << 16) | (uint16_t)key->k[i]; /* the little-endian bytes of k[0..3] */
        b = (b << 16) | (uint16_t)key->k[i + 4];
    }
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    return h;
}

static inline CS_HD int cs_lattice_key_equal(const cs_lattice_key *a, const cs_lattice_key *b) {
    for (int i = 0; i < 8; ++i)
        if (a->k[i] != b->k[i]) return 0;
    return 1;
}

/* ------------------------------------------------------------------ embedding */

/* Per-axis scale of the elevation (densecrf's scale_factor), from the
 * feature dimension d. Host only (double). */
static inline void cs_lattice_scale(int d, float *scale) {
    const double inv_std_dev = sqrt(2.0 / 3.0) * (d + 1);
    for (int i = 0; i < d; ++i) scale[i] = (float)(1.0 / sqrt((double)(i + 2) * (i + 1)) * inv_std_dev);
}

/* Per point: the remainder-0 vertex (rem0), the rank ordering and the
 * barycentric weights of the enclosing simplex. densecrf's SSE init: float
 * arithmetic, round-to-nearest-even for the nearest remainder-0 point.
 * Returns 0 when the coordinates do not fit the int16 keys. */
static inline CS_HD int cs_lattice_embed_point(const float *f, int d, const float *scale,
                                               int16_t *rem0_out, int8_t *rank_out, float *bary_out) {
    float elevated[CS_LATTICE_MAX_D + 1], rem0[CS_LATTICE_MAX_D + 1];
    float barycentric[CS_LATTICE_MAX_D + 2];
    int rank[CS_LATTICE_MAX_D + 1];
    const float inv_dp1 = 1.0f / (float)(d + 1), dp1 = (float)(d + 1);

    float sm = 0.0f;
    for (int j = d; j > 0; --j) {
        float cf = cs_crf_mul(f[j - 1], scale[j - 1]);
        elevated[j] = sm - cs_crf_mul((float)j, cf);
        sm += cf;
    }
    elevated[0] = sm;

    float sum = 0.0f;
    for (int i = 0; i <= d; ++i) {
        if (!(fabsf(elevated[i]) <= 30000.0f)) return 0;
        float v = nearbyintf(cs_crf_mul(inv_dp1, elevated[i]));
        rem0[i] = cs_crf_mul(v, dp1);
        sum += v;
    }
    for (int i = 0; i <= d; ++i) rank[i] = 0;
    for (int i = 0; i < d; ++i) {
        float di = elevated[i] - rem0[i];
        for (int j = i + 1; j <= d; ++j) {
            if (di < elevated[j] - rem0[j])
                rank[i]++;
            else
                rank[j]++;
        }
    }
    for (int i = 0; i <= d; ++i) {
        rank[i] += (int)sum;
        if (rank[i] < 0) {
            rank[i] += d + 1;
            rem0[i] += dp1;
        } else if (rank[i] >= d + 1) {
            rank[i] -= d + 1;
            rem0[i] -= dp1;
        }
    }
    for (int i = 0; i <= d + 1; ++i) barycentric[i] = 0.0f;
    for (int i = 0; i <= d; ++i) {
        float v = cs_crf_mul(elevated[i] - rem0[i], inv_dp1);
        barycentric[d - rank[i]] += v;
        barycentric[d - rank[i] + 1] -= v;
    }
    barycentric[0] += 1.0f + barycentric[d + 1];
    for (int i = 0; i <= d; ++i) {
        rem0_out[i] = (int16_t)rem0[i];
        rank_out[i] = (int8_t)rank[i];
        bary_out[i] = barycentric[i];
    }
    return 1;
}

/* Key of the vertex with the given remainder: rem0 + canonical simplex corner. */
static inline CS_HD void cs_lattice_vertex_key(const int16_t *rem0, const int8_t *rank, int d,
                                               int remainder, cs_lattice_key *key) {
    for (int i = 0; i < 8; ++i) key->k[i] = 0;
    for (int i = 0; i < d; ++i) {
        int c = rank[i] <= d - remainder ? remainder : remainder - (d + 1);
        key->k[i] = (int16_t)(rem0[i] + c);
    }
}

/* Neighbour of `key` along axis j (0..d) in direction dir (0: the "-"
 * neighbour, 1: the "+" one): all coordinates -1 / +1 except j, which moves
 * by +d / -d (densecrf's blur_neighbors_). */
static inline CS_HD void cs_lattice_neighbor_key(const cs_lattice_key *key, int d, int j, int dir,
                                                 cs_lattice_key *out) {
    for (int i = 0; i < 8; ++i) out->k[i] = 0;
    for (int i = 0; i < d; ++i) out->k[i] = (int16_t)(key->k[i] + (dir ? 1 : -1));
    if (j < d) out->k[j] = (int16_t)(key->k[j] + (dir ? -d : d));
}

/* ------------------------------------------------------------------ CRF inputs */

/* Features of pixel (x, y): the Gaussian kernel's (x, y) / theta_pos (d = 2)
 * or, with rgb non-NULL (that pixel's 3 bytes), the bilateral kernel's
 * (x, y) / theta_pos, (r, g, b) / theta_colour (d = 5). */
static inline CS_HD void cs_crf_pixel_features(int x, int y, const uint8_t *rgb, float theta_pos,
                                               float theta_colour, float *f) {
    f[0] = (float)x / theta_pos;
    f[1] = (float)y / theta_pos;
    if (rgb)
        for (int c = 0; c < 3; ++c) f[2 + c] = (float)rgb[c] / theta_colour;
}

/* U = -log(clip(P, 1e-5, 1)); NaN -> 1e-5 (pydensecrf's unary_from_softmax). */
static inline CS_HD float cs_crf_unary_of_prob(float v) {
    v = v >= 1e-5f ? (v <= 1.0f ? v : 1.0f) : 1e-5f;
    return -logf(v);
}

/* Pre- and post-scale of a point with degree `deg` (D = K 1), as
 * DenseKernel::filter applies them, in double as densecrf computes them. */
static inline CS_HD void cs_crf_norm_factors(float deg, int normalization, float *pre, float *post) {
    *pre = *post = 1.0f;
    if (normalization == CS_CRF_NORMALIZE_SYMMETRIC) {
        *pre = *post = (float)(1.0 / sqrt((double)deg + 1e-20));
    } else if (normalization == CS_CRF_NORMALIZE_AFTER) {
        *post = (float)(1.0 / ((double)deg + 1e-20));
    } else if (normalization == CS_CRF_NORMALIZE_BEFORE) {
        *pre = (float)(1.0 / ((double)deg + 1e-20));
    }
}

/* The lattice filter's constant factor 1 / (1 + 2^-d) (densecrf's alpha). */
static inline float cs_crf_alpha(int d) { return 1.0f / (1.0f + powf(2.0f, (float)-d)); }

/* ------------------------------------------------------------------ GPU lattice build
 *
 * The CPU numbers vertices in order of first appearance with a serial hash
 * (crf.c). The GPU builds the same lattice in parallel steps, one thread per
 * index:
 *   1. embed    per point: keys[e] and bary[e] of its d+1 entries
 *               (entry e = point * (d+1) + remainder)
 *   2. insert   per entry: an open-addressing table of entry indices
 *               (atomicCAS claims an empty slot; equal keys share a slot, and
 *               atomicMin leaves the smallest entry index of each key there)
 *   3. first    per entry: 1 when the entry is its key's smallest
 *   4. (exclusive scan of first -> vid: vertex ids in order of first
 *      appearance, which is the CPU's numbering)
 *   5. vertex   per entry: offset[e] = vid[smallest entry of its key] + 1;
 *               vertex_entry[v] = that smallest entry
 *   6. (stable sort of (offset[e], e) pairs by offset: each vertex's entries
 *      in ascending entry, hence point, order: the CPU's CSR)
 *   7. csr      per sorted position: csr_entry, csr_point, csr_start
 *   8. nbr      per (vertex, axis): blur neighbours by lookups in the table
 * The steps below are those per-index bodies. On the host (tests) the
 * atomics are GCC builtins. */

static inline CS_HD int32_t cs_crf_atomic_cas(int32_t *p, int32_t expected, int32_t desired) {
#ifdef __CUDA_ARCH__
    return (int32_t)atomicCAS((int *)p, (int)expected, (int)desired);
#else
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected; /* the old value either way */
#endif
}

static inline CS_HD void cs_crf_atomic_min(int32_t *p, int32_t v) {
#ifdef __CUDA_ARCH__
    atomicMin((int *)p, (int)v);
#else
    int32_t old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v < old &&
           !__atomic_compare_exchange_n(p, &old, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
#endif
}

/* Step 1 for point i with features f: keys and barycentric weights of its
 * entries i*(d+1) .. i*(d+1)+d. Returns 0 when out of the key range. */
static inline CS_HD int cs_lattice_build_embed(int32_t i, const float *f, int d, const float *scale,
                                               cs_lattice_key *keys, float *bary) {
    int16_t rem0[CS_LATTICE_MAX_D + 1] = {0};
    int8_t rank[CS_LATTICE_MAX_D + 1] = {0}; /* defined keys even when out of range */
    const int64_t e0 = (int64_t)i * (d + 1);
    const int ok = cs_lattice_embed_point(f, d, scale, rem0, rank, bary + e0);
    for (int r = 0; r <= d; ++r) cs_lattice_vertex_key(rem0, rank, d, r, &keys[e0 + r]);
    return ok;
}

/* Step 2 for entry e: the slot of keys[e] in `table` (mask + 1 slots, -1 =
 * empty, at least one empty slot always left). Returns the slot. */
static inline CS_HD uint64_t cs_lattice_build_insert(int32_t e, const cs_lattice_key *keys,
                                                     int32_t *table, uint64_t mask) {
    const cs_lattice_key *key = &keys[e];
    uint64_t s = cs_lattice_key_hash(key) & mask;
    for (;;) {
        /* A stale read is harmless: -1 goes through the CAS, and a slot's
         * non-negative value only ever changes to another entry of its key. */
        int32_t cur = table[s];
        if (cur < 0) {
            cur = cs_crf_atomic_cas(&table[s], -1, e);
            if (cur < 0) return s;
        }
        if (cs_lattice_key_equal(&keys[cur], key)) {
            cs_crf_atomic_min(&table[s], e);
            return s;
        }
        s = (s + 1) & mask;
    }
}

/* The smallest entry with this key, or -1. */
static inline CS_HD int32_t cs_lattice_build_find(const cs_lattice_key *key,
                                                  const cs_lattice_key *keys,
                                                  const int32_t *table, uint64_t mask) {
    uint64_t s = cs_lattice_key_hash(key) & mask;
    for (;;) {
        const int32_t cur = table[s];
        if (cur < 0 || cs_lattice_key_equal(&keys[cur], key)) return cur;
        s = (s + 1) & mask;
    }
}

/* Step 3 for entry e (slot from step 2). */
static inline CS_HD int32_t cs_lattice_build_first(int32_t e, const uint64_t *slot,
                                                   const int32_t *table) {
    return table[slot[e]] == e;
}

/* Step 5 for entry e: vid is the exclusive scan of step 3. */
static inline CS_HD void cs_lattice_build_vertex(int32_t e, const uint64_t *slot,
                                                 const int32_t *table, const int32_t *vid,
                                                 int32_t *offset, int32_t *vertex_entry) {
    const int32_t smallest = table[slot[e]];
    offset[e] = vid[smallest] + 1;
    if (smallest == e) vertex_entry[vid[e]] = e;
}

/* Step 7 for position k of the sorted pairs (sorted_row = offset, ascending;
 * sorted_entry = the entries, ascending within a row); `entries` = n*(d+1). */
static inline CS_HD void cs_lattice_build_csr(int32_t k, int32_t entries, int d,
                                              const int32_t *sorted_row, const int32_t *sorted_entry,
                                              int32_t *csr_start, int32_t *csr_point,
                                              int32_t *csr_entry) {
    csr_entry[k] = sorted_entry[k];
    csr_point[k] = sorted_entry[k] / (d + 1);
    if (k == 0 || sorted_row[k] != sorted_row[k - 1]) csr_start[sorted_row[k] - 1] = k;
    if (k == entries - 1) csr_start[sorted_row[k]] = entries; /* the last row is m */
}

/* Step 8 for vertex v and axis j (m vertices): rows of its two neighbours
 * (0 = absent) at blur_nbr[(j*m + v)*2 + 0/1], as crf.h lays them out. */
static inline CS_HD void cs_lattice_build_neighbors(int32_t v, int j, int32_t m, int d,
                                                    const int32_t *vertex_entry,
                                                    const cs_lattice_key *keys,
                                                    const int32_t *table, uint64_t mask,
                                                    const int32_t *offset, int32_t *blur_nbr) {
    const cs_lattice_key *key = &keys[vertex_entry[v]];
    for (int dir = 0; dir < 2; ++dir) {
        cs_lattice_key nk;
        cs_lattice_neighbor_key(key, d, j, dir, &nk);
        const int32_t e = cs_lattice_build_find(&nk, keys, table, mask);
        blur_nbr[((int64_t)j * m + v) * 2 + dir] = e < 0 ? 0 : offset[e];
    }
}

/* ------------------------------------------------------------------ GPU filter steps
 * One value (row, k) each; the sums run in the CPU's order (crf.c). */

/* Splat: row v + 1 of the values, column k. */
static inline CS_HD float cs_lattice_splat_value(int32_t v, int k, const int32_t *csr_start,
                                                 const int32_t *csr_point, const float *csr_weight,
                                                 const float *in, int stride) {
    float acc = 0.0f;
    for (int32_t e = csr_start[v]; e < csr_start[v + 1]; ++e)
        acc += cs_crf_mul(csr_weight[e], in[(int64_t)csr_point[e] * stride + k]);
    return acc;
}

/* One blur pass: row v + 1 along the axis whose neighbours are nbr. */
static inline CS_HD float cs_lattice_blur_value(int32_t v, int k, const int32_t *nbr,
                                                const float *src, int stride) {
    const float old = src[((int64_t)v + 1) * stride + k];
    const float n1 = src[(int64_t)nbr[2 * v] * stride + k];
    const float n2 = src[(int64_t)nbr[2 * v + 1] * stride + k];
    return old + cs_crf_mul(0.5f, n1 + n2);
}

/* Slice: point i, column k, starting from `start` (0 or the previous sum). */
static inline CS_HD float cs_lattice_slice_value(int32_t i, int k, int d, const int32_t *offset,
                                                 const float *weight, const float *values,
                                                 int stride, float start) {
    float acc = start;
    for (int r = 0; r <= d; ++r) {
        const int64_t e = (int64_t)i * (d + 1) + r;
        acc += cs_crf_mul(weight[e], values[(int64_t)offset[e] * stride + k]);
    }
    return acc;
}

/* exp(x) for x <= 0 (a softmax's max-subtracted arguments): Cephes' expf
 * (range reduction by ln 2 in two parts, degree-6 polynomial, 2^n put into
 * the exponent bits); checked against exp() in double over every float in
 * [-87, 0]: under 1 ulp. libm's expf was a quarter of the CPU CRF's time;
 * this has no calls and no float compares (GCC will not if-convert those
 * unless told that they cannot trap), so the CPU loop over labels
 * vectorises; on the GPU it gives the CPU's bits (unfused products). Below
 * -87 the result (< 2e-38) is flushed to 0, where 2^n would leave the
 * normal range. */
static inline CS_HD float cs_crf_exp_nonpos(float x) {
    uint32_t mag;
    memcpy(&mag, &x, sizeof mag);
    mag &= 0x7fffffffu;                 /* |x|: x <= 0 */
    const uint32_t limit = 0x42ae0000u; /* 87.0f */
    const int flush = mag > limit;
    mag = flush ? limit : mag;
    float abs_x;
    memcpy(&abs_x, &mag, sizeof abs_x);
    const float xc = -abs_x;
    const float n = (cs_crf_mul(xc, 1.44269504088896341f) + 12582912.0f) - 12582912.0f; /* round(xc / ln 2) */
    const float r = (xc - cs_crf_mul(n, 0.693359375f)) + cs_crf_mul(n, 2.12194440e-4f);
    float p = 1.9875691500e-4f;
    p = cs_crf_mul(p, r) + 1.3981999507e-3f;
    p = cs_crf_mul(p, r) + 8.3334519073e-3f;
    p = cs_crf_mul(p, r) + 4.1665795894e-2f;
    p = cs_crf_mul(p, r) + 1.6666665459e-1f;
    p = cs_crf_mul(p, r) + 5.0000001201e-1f;
    p = cs_crf_mul(p, cs_crf_mul(r, r)) + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23; /* 2^n */
    bits = flush ? 0 : bits;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return cs_crf_mul(p, scale);
}

/* Mean-field update of one point: q = softmax(msg - u) over the first
 * `labels` of `stride` (rest 0); msg may be q itself (the start, Q =
 * softmax(-U), passes a zeroed q). */
static inline CS_HD void cs_crf_softmax_row(const float *u, const float *msg, float *q, int labels,
                                            int stride) {
    for (int k = 0; k < labels; ++k) q[k] = msg[k] - u[k];
    float mx = -INFINITY;
    for (int k = 0; k < labels; ++k) mx = q[k] > mx ? q[k] : mx;
    for (int k = 0; k < labels; ++k) q[k] = cs_crf_exp_nonpos(q[k] - mx);
    float sum = 0.0f;
    for (int k = 0; k < labels; ++k) sum += q[k];
    for (int k = 0; k < labels; ++k) q[k] /= sum;
    for (int k = labels; k < stride; ++k) q[k] = 0.0f;
}

#endif
