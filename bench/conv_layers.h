/* The convolution layers every CPU conv benchmark in bench/ times, and what
 * they share: sizes, FLOP counts, random data, a sampled float64 check of the
 * output, option parsing, timing statistics. conv_torch.py repeats the table
 * (keep the two in step; conv_compare.sh joins them on the layer id). */
#ifndef CUSEG_BENCH_CONV_LAYERS_H
#define CUSEG_BENCH_CONV_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* Batch n, NHWC input h x w x cin, square kernel, same padding on all sides. */
typedef struct conv_layer {
    const char *id;    /* "a".."f": what --layers selects and reports join on */
    const char *what;  /* where such a layer occurs                          */
    int n, h, w, cin, cout, k, stride, pad, dilation, groups;
} conv_layer;

extern const conv_layer conv_layers[];
extern const int conv_layer_count;

int conv_out_h(const conv_layer *l);
int conv_out_w(const conv_layer *l);
/* Multiply-adds of one forward pass (FLOP = 2 x MACs; the bias is not counted). */
double conv_macs(const conv_layer *l);
/* "3x3 d12 512->1024 @64x64" into buf. */
const char *conv_describe(const conv_layer *l, char *buf, size_t size);
/* The same layer with every size shrunk (odd 9x9 images, channels / 16),
 * for smoke tests that only prove the harness runs and computes right. */
conv_layer conv_quick(const conv_layer *l);

/* Uniform in [-scale, scale), deterministic for a seed. */
void conv_fill_random(float *p, size_t n, float scale, uint64_t seed);

/* Compares `samples` output elements, picked at random, with a float64
 * reference computed from x (NHWC), weight (PyTorch [cout, cin/g, k, k]) and
 * bias ([cout] or NULL). The error of each element is divided by
 * sum(|w x|) + |b|: a wrong layout or index gives errors near 1, fp32
 * rounding (any summation order, Winograd too) stays far below 1e-3.
 * Returns the largest such error. */
double conv_check(const conv_layer *l, const float *x, const float *weight, const float *bias,
                  const float *y, int samples, uint64_t seed);
#define CONV_CHECK_TOL 1e-3

/* Median of n timings (sorts t in place). */
double conv_median(double *t, int n);

/* Options common to the C benchmarks. */
typedef struct bench_options {
    int threads;       /* --threads T (default 2)                             */
    int min_reps;      /* --reps N: at least N timed runs (default 5)         */
    double min_time;   /* --min-time S: and at least S seconds (default 1.0)  */
    double peak_time;  /* --peak-time S: per peak measurement (default 0.4)   */
    int quick;         /* --quick: tiny shapes, 1 run, short peak              */
    int json;          /* --json: JSON lines instead of the markdown table     */
    int no_peak;       /* --no-peak: skip the peak measurement                 */
    int selected[16];  /* --layers a,c,d (default all)                         */
    int n_selected;
} bench_options;

/* Parses argv; prints usage and returns -1 on a bad option, 1 for --help. */
int bench_parse(int argc, char **argv, const char *prog, const char *what, bench_options *o);

#endif
