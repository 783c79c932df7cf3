/* A small layer-building vocabulary for the model builders, so that each
 * builder reads like its architecture table.
 *
 * Errors are sticky: after the first failure every call returns -1 and does
 * nothing, and cs_nn_finish() returns the first error (whose message names
 * the node). Names are hierarchical like PyTorch's module paths:
 * cs_nn_push(b, "layer1.0") makes cs_nn_conv(b, "conv1", ...) create the node
 * "layer1.0.conv1" with parameters "layer1.0.conv1.weight". Ops without
 * parameters (ReLU, pooling, ...) get unique generated names. */
#ifndef CS_MODELS_NN_H
#define CS_MODELS_NN_H

#include "cuseg.h"

#define CS_NN_MAX_DEPTH 16

typedef struct cs_nn {
    cuseg_graph *g;
    cuseg_status status;
    int depth;
    int prefix_len[CS_NN_MAX_DEPTH + 1];
    char prefix[512];
    int counter; /* for generated names */
} cs_nn;

void cs_nn_init(cs_nn *b, cuseg_graph *g);
/* Enters / leaves a module scope; the name may contain dots. printf-style. */
void cs_nn_push(cs_nn *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cs_nn_pop(cs_nn *b);
cuseg_status cs_nn_finish(cs_nn *b);
/* Records an error (first one wins) and returns -1. */
int cs_nn_fail(cs_nn *b, cuseg_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int cs_nn_input(cs_nn *b, const char *name, int channels);
void cs_nn_output(cs_nn *b, int x);
/* Channels of a value (0 after an error). */
int cs_nn_channels(cs_nn *b, int x);

/* Square kernel k, stride s, symmetric padding p, dilation d, groups. */
int cs_nn_conv(cs_nn *b, const char *name, int x, int out, int k, int s, int p, int d, int groups,
               int bias);
/* Any cuseg_conv2d_params (asymmetric padding, rectangular kernels). */
int cs_nn_conv_p(cs_nn *b, const char *name, int x, const cuseg_conv2d_params *p);
int cs_nn_conv_transpose(cs_nn *b, const char *name, int x, int out, int k, int s, int p,
                         int bias);
int cs_nn_bn(cs_nn *b, const char *name, int x, float eps);
int cs_nn_relu(cs_nn *b, int x);
int cs_nn_relu6(cs_nn *b, int x);
int cs_nn_sigmoid(cs_nn *b, int x);
int cs_nn_dropout(cs_nn *b, int x, float p);
int cs_nn_add(cs_nn *b, int a, int c);
int cs_nn_max_pool(cs_nn *b, int x, int k, int s, int p, int ceil_mode, int *indices);
int cs_nn_avg_pool(cs_nn *b, int x, int k, int s, int p, int ceil_mode, int count_include_pad);
int cs_nn_global_avg_pool(cs_nn *b, int x);
int cs_nn_max_unpool(cs_nn *b, int x, int indices, int like);
/* Bilinear / nearest to the size of `like`, to out_h x out_w, or by scale. */
int cs_nn_resize_like(cs_nn *b, int x, int like, int bilinear, int align_corners);
int cs_nn_resize_scale(cs_nn *b, int x, double scale, int bilinear, int align_corners);
int cs_nn_concat(cs_nn *b, const int *xs, int n);
int cs_nn_concat2(cs_nn *b, int a, int c);
int cs_nn_crop(cs_nn *b, int x, int like, int offset_h, int offset_w);
/* Centre crop to like's H x W (cuseg_graph_crop_center). */
int cs_nn_crop_center(cs_nn *b, int x, int like);
int cs_nn_pad(cs_nn *b, int x, int top, int bottom, int left, int right);
/* Zero padding up to like's H x W, floor half top/left (cuseg_graph_pad_to). */
int cs_nn_pad_to(cs_nn *b, int x, int like);

/* "conv + BN + ReLU" as PyTorch models spell it, with the BN named bn_name
 * (NULL: no BN; the conv then has a bias) and ReLU when relu != 0. */
int cs_nn_conv_bn_relu(cs_nn *b, const char *conv_name, const char *bn_name, int x, int out,
                       int k, int s, int p, int d, int relu);

/* Sets graph metadata (ignored after an error). */
void cs_nn_meta(cs_nn *b, const char *key, const char *value);

/* Frozen bilinear-interpolation kernel of a transposed conv with C -> C
 * channels and kernel k on the channel diagonal (FCN, models.md §0.6). */
void cs_nn_set_bilinear_kernel(cs_nn *b, const char *param, int channels, int k);

/* Options "key=value,key=value": parsed once, read by typed getters with
 * defaults; cs_opts_finish reports keys nobody read (typos). */
#define CS_OPTS_MAX 32
typedef struct cs_opts {
    char buf[1024];
    const char *key[CS_OPTS_MAX], *value[CS_OPTS_MAX];
    int used[CS_OPTS_MAX];
    int n;
} cs_opts;

cuseg_status cs_opts_parse(cs_opts *o, const char *text);
/* Integer option within [lo, hi]; returns def when absent. */
cuseg_status cs_opts_int(cs_opts *o, const char *key, int def, int lo, int hi, int *out);
/* Number within [lo, hi]; returns def when absent. */
cuseg_status cs_opts_float(cs_opts *o, const char *key, double def, double lo, double hi, double *out);
/* One of the '|'-separated choices, e.g. "resnet50|resnet101"; def when absent. */
cuseg_status cs_opts_choice(cs_opts *o, const char *key, const char *choices, const char *def,
                            const char **out);
cuseg_status cs_opts_finish(const cs_opts *o, const char *arch);

#endif
