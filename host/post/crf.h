/* Fully connected CRF (Krähenbühl & Koltun 2011) as DeepLab v1 uses it
 * (models.md §3.3): Potts compatibility, a bilateral appearance kernel and a
 * Gaussian smoothness kernel, mean-field inference with permutohedral-lattice
 * message passing. The numerics follow pydensecrf / densecrf v2 (2013):
 *
 *   U = -log(clip(P, 1e-5, 1))            (pydensecrf.utils.unary_from_softmax)
 *   Q = softmax(-U)
 *   repeat T times:  Q = softmax(-U + w1 K̂1 Q + w2 K̂2 Q)
 *
 * where K̂ is the lattice filter normalised as chosen (default symmetric:
 * D^-1/2 K D^-1/2 with D = K 1). As in densecrf the filter keeps each pixel's
 * own contribution (the lattice has no way to drop it; densecrf does not
 * subtract it).
 *
 * The lattice functions are separate so that a CUDA port can mirror them one
 * by one: embed + hash (build), splat (gather per vertex), blur (per vertex,
 * one pass per lattice axis), slice (gather per pixel). */
#ifndef CS_POST_CRF_H
#define CS_POST_CRF_H

#include <stdint.h>

#include "cuseg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pydensecrf's NormalizationType, same meaning (densecrf pairwise.cpp). */
typedef enum cs_crf_normalization {
    CS_CRF_NORMALIZE_SYMMETRIC = 0, /* D^-1/2 K D^-1/2 (pydensecrf default) */
    CS_CRF_NORMALIZE_AFTER = 1,     /* D^-1 K (the 2011 release's behaviour) */
    CS_CRF_NORMALIZE_BEFORE = 2,    /* K D^-1 */
    CS_CRF_NO_NORMALIZATION = 3,    /* K as the lattice computes it */
} cs_crf_normalization;

typedef struct cs_crf_params {
    float w1;          /* bilateral (appearance) weight, pydensecrf compat */
    float theta_alpha; /* bilateral position std, pixels (pydensecrf sxy) */
    float theta_beta;  /* bilateral colour std, 0..255 units (srgb) */
    float w2;          /* Gaussian (smoothness) weight */
    float theta_gamma; /* Gaussian position std, pixels */
    int iterations;    /* mean-field iterations T */
    cs_crf_normalization normalization;
} cs_crf_params;

/* DeepLab-LargeFOV's released defaults: (w1, θα, θβ, w2, θγ, T) =
 * (4, 121, 5, 3, 3, 10), symmetric normalisation. */
cs_crf_params cs_crf_default_params(void);

/* Checks every field; the message names the field and the value. */
cuseg_status cs_crf_check_params(const cs_crf_params *p);

/* Parameters, buffers (non-NULL) and sizes of a run of n images; the
 * messages name the problem and the values. */
cuseg_status cs_crf_check_sizes(const cs_crf_params *p, const void *rgb, const void *in, int n,
                                int h, int w, int labels, int threads, const void *out);

/* rgb: h*w*3 uint8 (row-major, RGB); prob: h*w*labels softmax probabilities
 * (NHWC without N); out_prob: h*w*labels marginals Q. out_prob may be prob.
 * threads >= 1 (OpenMP threads for this call). */
cuseg_status cs_crf_run(const cs_crf_params *p, const uint8_t *rgb, const float *prob, int h,
                        int w, int labels, int threads, float *out_prob);

/* The same from raw unary energies U (h*w*labels, -log of a probability or
 * any finite energy); nothing is clipped. out_prob may be unary. */
cuseg_status cs_crf_run_unary(const cs_crf_params *p, const uint8_t *rgb, const float *unary,
                              int h, int w, int labels, int threads, float *out_prob);

/* n images of the same size, one after the other (each uses all threads). */
cuseg_status cs_crf_run_batch(const cs_crf_params *p, const uint8_t *rgb, const float *prob,
                              int n, int h, int w, int labels, int threads, float *out_prob);

/* ------------------------------------------------------------------ lattice */

#define CS_LATTICE_MAX_D 7

/* A permutohedral lattice over n points with d-dimensional features
 * (Adams et al. 2010, densecrf's variant). Vertex values are stored as rows
 * of `stride` floats with row 0 reserved as the all-zero "missing neighbour",
 * so vertex v lives in row v + 1. */
typedef struct cs_lattice {
    int d, n, m;         /* feature dimension, points, lattice vertices */
    int32_t *offset;     /* n*(d+1): row (vertex + 1) of each (point, remainder) */
    float *bary;         /* n*(d+1): barycentric weight of each (point, remainder) */
    int32_t *blur_nbr;   /* (d+1)*m*2: rows of the -/+ neighbours along axis j (0 = none) */
    int32_t *csr_start;  /* m+1: splat entries of vertex v are [csr_start[v], csr_start[v+1]) */
    int32_t *csr_point;  /* n*(d+1): the point of each entry, ascending within a vertex */
    int32_t *csr_entry;  /* n*(d+1): the (point, remainder) index of each entry */
} cs_lattice;

/* features: n*d floats (point-major), already divided by the kernel stds. */
cuseg_status cs_lattice_init(cs_lattice *lat, const float *features, int n, int d, int threads);
void cs_lattice_free(cs_lattice *lat);

/* values[(v+1)*stride + k] = Σ_entries weight * in[point*stride + k];
 * csr_weight is in CSR order (n*(d+1)), row 0 is zeroed. */
void cs_lattice_splat(const cs_lattice *lat, const float *in, int stride, const float *csr_weight,
                      float *values, int threads);
/* The same sums with the weights in (point, remainder) order, as a scatter
 * in point order: equal to cs_lattice_splat bit for bit, and faster on a CPU
 * (sequential reads of `in`). */
void cs_lattice_splat_points(const cs_lattice *lat, const float *in, int stride, const float *weight,
                             float *values, int threads);
/* d+1 passes of v + 0.5 (v_prev + v_next) along each axis (reverse order when
 * `reverse`), ping-ponging between values and scratch (both (m+1)*stride,
 * row 0 zero). Returns the buffer that holds the result. */
float *cs_lattice_blur(const cs_lattice *lat, float *values, float *scratch, int stride,
                       int reverse, int threads);
/* out[i*stride + k] (+)= Σ_r weight[i*(d+1)+r] * values[offset[i*(d+1)+r]*stride + k]. */
void cs_lattice_slice(const cs_lattice *lat, const float *values, const float *weight,
                      int stride, float *out, int accumulate, int threads);

#ifdef __cplusplus
}
#endif

#endif
