#define _POSIX_C_SOURCE 200809L
#include "conv_layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Representative layers of the bundled model families (batch 1, fp32). */
const conv_layer conv_layers[] = {
    /* id   where                               n  h    w    cin   cout  k  s  pad d   groups */
    {"a", "U-Net / VGG stage 1 3x3",            1, 256, 256, 64,   64,   3, 1, 1,  1,  1},
    {"b", "DeepLab ASPP 3x3 dilation 12",       1, 64,  64,  512,  1024, 3, 1, 12, 12, 1},
    {"c", "ResNet bottleneck 1x1 reduce",       1, 64,  64,  2048, 256,  1, 1, 0,  1,  1},
    {"d", "MobileNetV2 depthwise 3x3",          1, 128, 128, 256,  256,  3, 1, 1,  1,  256},
    {"e", "U-Net / VGG stage 2 3x3",            1, 128, 128, 128,  128,  3, 1, 1,  1,  1},
    {"f", "ResNet downsampling 3x3 stride 2",   1, 64,  64,  256,  512,  3, 2, 1,  1,  1},
};
const int conv_layer_count = (int)(sizeof conv_layers / sizeof conv_layers[0]);

static int out_size(int in, const conv_layer *l) {
    return (in + 2 * l->pad - l->dilation * (l->k - 1) - 1) / l->stride + 1;
}
int conv_out_h(const conv_layer *l) { return out_size(l->h, l); }
int conv_out_w(const conv_layer *l) { return out_size(l->w, l); }

double conv_macs(const conv_layer *l) {
    return (double)l->n * conv_out_h(l) * conv_out_w(l) * l->cout * (l->cin / l->groups) * l->k * l->k;
}

const char *conv_describe(const conv_layer *l, char *buf, size_t size) {
    char extra[64] = "";
    if (l->dilation > 1) snprintf(extra, sizeof extra, " d%d", l->dilation);
    if (l->stride > 1) snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " s%d", l->stride);
    if (l->groups == l->cin && l->groups > 1)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " dw");
    else if (l->groups > 1)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " g%d", l->groups);
    snprintf(buf, size, "%dx%d%s %d->%d @%dx%d", l->k, l->k, extra, l->cin, l->cout, l->h, l->w);
    return buf;
}

conv_layer conv_quick(const conv_layer *l) {
    conv_layer q = *l;
    q.h = q.w = 9;
    q.cin = l->cin / 16 > 0 ? l->cin / 16 : 1;
    q.cout = l->cout / 16 > 0 ? l->cout / 16 : 1;
    if (l->groups == l->cin) q.groups = q.cout = q.cin; /* keep depthwise depthwise */
    return q;
}

/* splitmix64: small, good enough, and the same on every platform. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void conv_fill_random(float *p, size_t n, float scale, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; ++i)
        p[i] = scale * (float)((double)(next_u64(&s) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

double conv_check(const conv_layer *l, const float *x, const float *weight, const float *bias,
                  const float *y, int samples, uint64_t seed) {
    const int ho = conv_out_h(l), wo = conv_out_w(l);
    const int cin_g = l->cin / l->groups, cout_g = l->cout / l->groups;
    const size_t total = (size_t)l->n * ho * wo * l->cout;
    uint64_t s = seed;
    double worst = 0;
    for (int i = 0; i < samples; ++i) {
        size_t e = (size_t)(next_u64(&s) % total);
        const int co = (int)(e % (size_t)l->cout);
        const int ow = (int)(e / (size_t)l->cout % (size_t)wo);
        const int oh = (int)(e / ((size_t)l->cout * wo) % (size_t)ho);
        const int b = (int)(e / ((size_t)l->cout * wo * ho));
        const int g = co / cout_g;
        double sum = bias ? bias[co] : 0.0, mag = bias ? fabs(bias[co]) : 0.0;
        for (int kh = 0; kh < l->k; ++kh) {
            const int ih = oh * l->stride - l->pad + kh * l->dilation;
            if (ih < 0 || ih >= l->h) continue;
            for (int kw = 0; kw < l->k; ++kw) {
                const int iw = ow * l->stride - l->pad + kw * l->dilation;
                if (iw < 0 || iw >= l->w) continue;
                const float *xp = x + (((size_t)b * l->h + ih) * l->w + iw) * l->cin + (size_t)g * cin_g;
                for (int ci = 0; ci < cin_g; ++ci) {
                    const double t = (double)weight[(((size_t)co * cin_g + ci) * l->k + kh) * l->k + kw] *
                                     (double)xp[ci];
                    sum += t;
                    mag += fabs(t);
                }
            }
        }
        const double err = fabs((double)y[e] - sum) / (mag > 0 ? mag : 1.0);
        if (!(err <= worst)) worst = err; /* NaN propagates as the worst */
    }
    return worst;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double conv_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void usage(FILE *f, const char *prog, const char *what) {
    fprintf(f,
            "usage: %s [--threads T] [--reps N] [--min-time S] [--layers a,b,...] [--json]\n"
            "          [--quick] [--peak-time S] [--no-peak]\n"
            "%s\n"
            "  --threads T    worker threads (default 2)\n"
            "  --reps N       at least N timed runs per layer (default 5)\n"
            "  --min-time S   and at least S seconds of runs per layer (default 1.0)\n"
            "  --layers LIST  comma-separated layer ids (default all):\n",
            prog, what);
    for (int i = 0; i < conv_layer_count; ++i) {
        char d[96];
        fprintf(f, "                   %s  %-28s %s\n", conv_layers[i].id,
                conv_describe(&conv_layers[i], d, sizeof d), conv_layers[i].what);
    }
    fprintf(f,
            "  --json         print JSON lines instead of a markdown table\n"
            "  --quick        smoke test: tiny shapes, one run, short peak measurement\n"
            "  --peak-time S  seconds per FMA-peak measurement (default 0.4)\n"
            "  --no-peak      do not measure the FMA peak\n");
}

static int parse_layers(const char *list, bench_options *o) {
    o->n_selected = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < conv_layer_count; ++i)
            if (strcmp(tok, conv_layers[i].id) == 0) found = i;
        if (found < 0 || o->n_selected >= (int)(sizeof o->selected / sizeof o->selected[0])) {
            fprintf(stderr, "unknown layer '%s'\n", tok);
            return -1;
        }
        o->selected[o->n_selected++] = found;
    }
    return o->n_selected > 0 ? 0 : -1;
}

int bench_parse(int argc, char **argv, const char *prog, const char *what, bench_options *o) {
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->min_reps = 5;
    o->min_time = 1.0;
    o->peak_time = 0.4;
    for (int i = 0; i < conv_layer_count; ++i) o->selected[i] = i;
    o->n_selected = conv_layer_count;
    const char *a = "";
    for (int i = 1; i < argc; ++i) {
        a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, prog, what);
            return 1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = 1;
        } else if (!strcmp(a, "--no-peak")) {
            o->no_peak = 1;
        } else if (!strcmp(a, "--threads") && v) {
            o->threads = (int)strtol(v, &end, 10);
            if (*end || o->threads < 1) goto bad;
            ++i;
        } else if (!strcmp(a, "--reps") && v) {
            o->min_reps = (int)strtol(v, &end, 10);
            if (*end || o->min_reps < 1) goto bad;
            ++i;
        } else if (!strcmp(a, "--min-time") && v) {
            o->min_time = strtod(v, &end);
            if (*end || !(o->min_time >= 0)) goto bad;
            ++i;
        } else if (!strcmp(a, "--peak-time") && v) {
            o->peak_time = strtod(v, &end);
            if (*end || !(o->peak_time > 0)) goto bad;
            ++i;
        } else if (!strcmp(a, "--layers") && v) {
            if (parse_layers(v, o)) goto bad;
            ++i;
        } else {
            goto bad;
        }
    }
    if (o->quick) {
        o->min_reps = 1;
        o->min_time = 0;
        o->peak_time = 0.01;
    }
    return 0;
bad:
    fprintf(stderr, "%s: bad or incomplete option '%s'\n", prog, a);
    usage(stderr, prog, what);
    return -1;
}
