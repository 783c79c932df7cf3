#include "models/nn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

void cs_nn_init(cs_nn *b, cuseg_graph *g) {
    memset(b, 0, sizeof *b);
    b->g = g;
}

int cs_nn_fail(cs_nn *b, cuseg_status st, const char *fmt, ...) {
    if (b->status == CUSEG_OK) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        b->status = cs_error(st, "%s", msg);
    }
    return -1;
}

void cs_nn_push(cs_nn *b, const char *fmt, ...) {
    if (b->depth >= CS_NN_MAX_DEPTH) {
        cs_nn_fail(b, CUSEG_ERR_INTERNAL, "model builder: scopes nested too deeply");
        return;
    }
    b->prefix_len[b->depth++] = (int)strlen(b->prefix);
    size_t len = strlen(b->prefix);
    if (len && len + 1 < sizeof b->prefix) b->prefix[len++] = '.';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->prefix + len, sizeof b->prefix - len, fmt, ap);
    va_end(ap);
}

void cs_nn_pop(cs_nn *b) {
    if (b->depth > 0) b->prefix[b->prefix_len[--b->depth]] = '\0';
}

cuseg_status cs_nn_finish(cs_nn *b) {
    if (b->status != CUSEG_OK) cs_error_context(b->status, "building the model");
    return b->status;
}

/* Full node name: prefix + "." + name, or prefix + ".<op>_<n>" when name is NULL. */
static const char *full_name(cs_nn *b, const char *name, const char *op, char *buf, size_t size) {
    const char *sep = b->prefix[0] ? "." : "";
    if (name)
        snprintf(buf, size, "%s%s%s", b->prefix, sep, name);
    else
        snprintf(buf, size, "%s%s%s_%d", b->prefix, sep, op, ++b->counter);
    return buf;
}

/* Runs one builder call unless an error happened already. */
#define NN_CALL(b, call)                                                                           \
    do {                                                                                           \
        if ((b)->status != CUSEG_OK) return -1;                                                    \
        cuseg_status st_ = (call);                                                                 \
        if (st_ != CUSEG_OK) {                                                                     \
            (b)->status = st_;                                                                     \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

int cs_nn_input(cs_nn *b, const char *name, int channels) {
    int v = -1;
    NN_CALL(b, cuseg_graph_input(b->g, name, channels, &v));
    return v;
}

void cs_nn_output(cs_nn *b, int x) {
    if (b->status == CUSEG_OK) b->status = cuseg_graph_output(b->g, x);
}

int cs_nn_channels(cs_nn *b, int x) {
    int c = 0;
    if (b->status == CUSEG_OK) b->status = cuseg_graph_value_channels(b->g, x, &c);
    return b->status == CUSEG_OK ? c : 0;
}

int cs_nn_conv_p(cs_nn *b, const char *name, int x, const cuseg_conv2d_params *p) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_conv2d(b->g, full_name(b, name, "conv", n, sizeof n), x, p, &y));
    return y;
}

int cs_nn_conv(cs_nn *b, const char *name, int x, int out, int k, int s, int p, int d, int groups,
               int bias) {
    const cuseg_conv2d_params q = {.out_channels = out, .kernel_h = k, .kernel_w = k,
                                   .stride_h = s, .stride_w = s, .pad_top = p, .pad_bottom = p,
                                   .pad_left = p, .pad_right = p, .dilation_h = d,
                                   .dilation_w = d, .groups = groups, .has_bias = bias};
    return cs_nn_conv_p(b, name, x, &q);
}

int cs_nn_conv_transpose(cs_nn *b, const char *name, int x, int out, int k, int s, int p,
                         int bias) {
    const cuseg_conv2d_params q = {.out_channels = out, .kernel_h = k, .kernel_w = k,
                                   .stride_h = s, .stride_w = s, .pad_top = p, .pad_bottom = p,
                                   .pad_left = p, .pad_right = p, .has_bias = bias};
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_conv_transpose2d(b->g, full_name(b, name, "deconv", n, sizeof n), x, &q, &y));
    return y;
}

int cs_nn_bn(cs_nn *b, const char *name, int x, float eps) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_batch_norm(b->g, full_name(b, name, "bn", n, sizeof n), x, eps, &y));
    return y;
}

#define NN_UNARY(fn, api, op)                                                                      \
    int fn(cs_nn *b, int x) {                                                                      \
        char n[600];                                                                               \
        int y = -1;                                                                                \
        NN_CALL(b, api(b->g, full_name(b, NULL, op, n, sizeof n), x, &y));                         \
        return y;                                                                                  \
    }
NN_UNARY(cs_nn_relu, cuseg_graph_relu, "relu")
NN_UNARY(cs_nn_relu6, cuseg_graph_relu6, "relu6")
NN_UNARY(cs_nn_sigmoid, cuseg_graph_sigmoid, "sigmoid")
NN_UNARY(cs_nn_global_avg_pool, cuseg_graph_global_avg_pool, "gap")

int cs_nn_dropout(cs_nn *b, int x, float p) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_dropout(b->g, full_name(b, NULL, "dropout", n, sizeof n), x, p, &y));
    return y;
}

int cs_nn_add(cs_nn *b, int a, int c) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_add(b->g, full_name(b, NULL, "add", n, sizeof n), a, c, &y));
    return y;
}

static cuseg_pool2d_params pool_params(int k, int s, int p, int ceil_mode, int count_include_pad) {
    return (cuseg_pool2d_params){k, k, s, s, p, p, p, p, ceil_mode, count_include_pad};
}

int cs_nn_max_pool(cs_nn *b, int x, int k, int s, int p, int ceil_mode, int *indices) {
    char n[600];
    int y = -1;
    const cuseg_pool2d_params q = pool_params(k, s, p, ceil_mode, 0);
    NN_CALL(b, cuseg_graph_max_pool2d(b->g, full_name(b, NULL, "maxpool", n, sizeof n), x, &q, &y,
                                      indices));
    return y;
}

int cs_nn_avg_pool(cs_nn *b, int x, int k, int s, int p, int ceil_mode, int count_include_pad) {
    char n[600];
    int y = -1;
    const cuseg_pool2d_params q = pool_params(k, s, p, ceil_mode, count_include_pad);
    NN_CALL(b, cuseg_graph_avg_pool2d(b->g, full_name(b, NULL, "avgpool", n, sizeof n), x, &q, &y));
    return y;
}

int cs_nn_max_unpool(cs_nn *b, int x, int indices, int like) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_max_unpool2d(b->g, full_name(b, NULL, "unpool", n, sizeof n), x, indices,
                                        like, &y));
    return y;
}

static int resize(cs_nn *b, int x, int like, const cuseg_resize_params *q, int bilinear) {
    char n[600];
    int y = -1;
    full_name(b, NULL, bilinear ? "upsample" : "upsample_nearest", n, sizeof n);
    NN_CALL(b, bilinear ? cuseg_graph_resize_bilinear(b->g, n, x, like, q, &y)
                        : cuseg_graph_resize_nearest(b->g, n, x, like, q, &y));
    return y;
}

int cs_nn_resize_like(cs_nn *b, int x, int like, int bilinear, int align_corners) {
    const cuseg_resize_params q = {.align_corners = align_corners};
    return resize(b, x, like, &q, bilinear);
}

int cs_nn_resize_scale(cs_nn *b, int x, double scale, int bilinear, int align_corners) {
    const cuseg_resize_params q = {.scale_h = scale, .scale_w = scale, .align_corners = align_corners};
    return resize(b, x, -1, &q, bilinear);
}

int cs_nn_concat(cs_nn *b, const int *xs, int count) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_concat(b->g, full_name(b, NULL, "cat", n, sizeof n), xs, count, &y));
    return y;
}

int cs_nn_concat2(cs_nn *b, int a, int c) {
    const int xs[2] = {a, c};
    return cs_nn_concat(b, xs, 2);
}

int cs_nn_crop(cs_nn *b, int x, int like, int offset_h, int offset_w) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_crop(b->g, full_name(b, NULL, "crop", n, sizeof n), x, like, 0, 0,
                                offset_h, offset_w, &y));
    return y;
}

int cs_nn_crop_center(cs_nn *b, int x, int like) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_crop_center(b->g, full_name(b, NULL, "crop", n, sizeof n), x, like, &y));
    return y;
}

int cs_nn_pad(cs_nn *b, int x, int top, int bottom, int left, int right) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_pad(b->g, full_name(b, NULL, "pad", n, sizeof n), x, top, bottom, left,
                               right, &y));
    return y;
}

int cs_nn_pad_to(cs_nn *b, int x, int like) {
    char n[600];
    int y = -1;
    NN_CALL(b, cuseg_graph_pad_to(b->g, full_name(b, NULL, "pad", n, sizeof n), x, like, &y));
    return y;
}

int cs_nn_conv_bn_relu(cs_nn *b, const char *conv_name, const char *bn_name, int x, int out,
                       int k, int s, int p, int d, int relu) {
    int y = cs_nn_conv(b, conv_name, x, out, k, s, p, d, 1, bn_name == NULL);
    if (bn_name) y = cs_nn_bn(b, bn_name, y, 1e-5f);
    return relu ? cs_nn_relu(b, y) : y;
}

void cs_nn_meta(cs_nn *b, const char *key, const char *value) {
    if (b->status == CUSEG_OK) b->status = cuseg_graph_set_meta(b->g, key, value);
}

void cs_nn_set_bilinear_kernel(cs_nn *b, const char *param, int channels, int k) {
    if (b->status != CUSEG_OK) return;
    char name[600];
    full_name(b, param, "", name, sizeof name);
    const size_t count = (size_t)channels * channels * k * k;
    float *w = calloc(count, sizeof *w);
    if (!w) {
        cs_nn_fail(b, CUSEG_ERR_OUT_OF_MEMORY, "cannot allocate the bilinear kernel of %s", name);
        return;
    }
    const int c = (k + 1) / 2;
    const double center = k % 2 == 1 ? c - 1 : c - 0.5;
    for (int ch = 0; ch < channels; ++ch)
        for (int i = 0; i < k; ++i)
            for (int j = 0; j < k; ++j) {
                double ti = 1.0 - (i > center ? i - center : center - i) / c;
                double tj = 1.0 - (j > center ? j - center : center - j) / c;
                w[(((size_t)ch * channels + ch) * k + i) * k + j] = (float)(ti * tj);
            }
    b->status = cuseg_graph_set_param(b->g, name, w, count);
    free(w);
}

/* ---------------------------------------------------------------- options */

cuseg_status cs_opts_parse(cs_opts *o, const char *text) {
    memset(o, 0, sizeof *o);
    if (!text || !text[0]) return CUSEG_OK;
    if (strlen(text) >= sizeof o->buf)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "options: longer than %zu characters",
                        sizeof o->buf - 1);
    strcpy(o->buf, text);
    for (char *save = NULL, *tok = strtok_r(o->buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "options: '%s' is not key=value", tok);
        if (o->n == CS_OPTS_MAX)
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "options: more than %d entries", CS_OPTS_MAX);
        *eq = '\0';
        for (int i = 0; i < o->n; ++i)
            if (strcmp(o->key[i], tok) == 0)
                return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "options: '%s' given twice", tok);
        o->key[o->n] = tok;
        o->value[o->n++] = eq + 1;
    }
    return CUSEG_OK;
}

static const char *find(cs_opts *o, const char *key) {
    for (int i = 0; i < o->n; ++i)
        if (strcmp(o->key[i], key) == 0) {
            o->used[i] = 1;
            return o->value[i];
        }
    return NULL;
}

cuseg_status cs_opts_int(cs_opts *o, const char *key, int def, int lo, int hi, int *out) {
    const char *v = find(o, key);
    if (!v) {
        *out = def;
        return CUSEG_OK;
    }
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi)
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "option %s=%s: expected an integer in [%d, %d]",
                        key, v, lo, hi);
    *out = (int)x;
    return CUSEG_OK;
}

cuseg_status cs_opts_float(cs_opts *o, const char *key, double def, double lo, double hi, double *out) {
    const char *v = find(o, key);
    if (!v) {
        *out = def;
        return CUSEG_OK;
    }
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= lo && x <= hi))
        return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "option %s=%s: expected a number in [%g, %g]", key, v, lo, hi);
    *out = x;
    return CUSEG_OK;
}

cuseg_status cs_opts_choice(cs_opts *o, const char *key, const char *choices, const char *def,
                            const char **out) {
    const char *v = find(o, key);
    if (!v) {
        *out = def;
        return CUSEG_OK;
    }
    size_t len = strlen(v);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && strncmp(c, v, n) == 0) {
            *out = v;
            return CUSEG_OK;
        }
        c += n + (bar ? 1 : 0);
    }
    return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "option %s=%s: expected one of %s", key, v, choices);
}

cuseg_status cs_opts_finish(const cs_opts *o, const char *arch) {
    for (int i = 0; i < o->n; ++i)
        if (!o->used[i])
            return cs_error(CUSEG_ERR_INVALID_ARGUMENT, "%s: unknown option '%s'", arch, o->key[i]);
    return CUSEG_OK;
}
