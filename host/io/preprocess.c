#include "io/preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/op_math.h"

int cs_parse_floats(const char *s, float *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        out[n++] = strtof(s, &end);
        if (end == s) return -1;
        s = end;
        if (*s == ',') ++s;
        else if (*s) return -1;
    }
    return *s ? -1 : n;
}

cuseg_status cs_preprocess_from_graph(const cuseg_graph *g, cs_preprocess *out) {
    CS_CHECK_ARG(g && out, "cs_preprocess_from_graph: NULL argument");
    cs_preprocess p = {0, 1.0f / 255.0f, {0, 0, 0, 0}, {1, 1, 1, 1}};
    const char *order = cuseg_graph_meta(g, "channel_order");
    if (order) {
        if (strcmp(order, "BGR") != 0 && strcmp(order, "RGB") != 0)
            return cs_error(CUSEG_ERR_FORMAT, "metadata channel_order='%s': expected RGB or BGR", order);
        p.bgr = order[0] == 'B';
    }
    const char *scale = cuseg_graph_meta(g, "input_scale");
    if (scale && cs_parse_floats(scale, &p.scale, 1) != 1)
        return cs_error(CUSEG_ERR_FORMAT, "metadata input_scale='%s': expected a number", scale);
    const char *keys[2] = {"mean", "std"};
    float *dst[2] = {p.mean, p.std};
    for (int k = 0; k < 2; ++k) {
        const char *v = cuseg_graph_meta(g, keys[k]);
        if (!v) continue;
        float vals[4];
        const int n = cs_parse_floats(v, vals, 4);
        if (n < 1)
            return cs_error(CUSEG_ERR_FORMAT, "metadata %s='%s': expected comma-separated numbers", keys[k], v);
        for (int c = 0; c < 4; ++c) dst[k][c] = vals[c < n ? c : n - 1];
    }
    for (int c = 0; c < 4; ++c)
        if (!(p.std[c] != 0.0f)) return cs_error(CUSEG_ERR_FORMAT, "metadata std: channel %d is zero", c);
    *out = p;
    return CUSEG_OK;
}

void cs_preprocess_coefficients(const cs_preprocess *p, int c, float mul[4], float add[4]) {
    for (int k = 0; k < c && k < 4; ++k) { /* (v * scale - mean) / std as one multiply-add */
        mul[k] = p->scale / p->std[k];
        add[k] = -p->mean[k] / p->std[k];
    }
}

void cs_preprocess_image(const cs_preprocess *p, const uint8_t *src, int h, int w, int c, float *dst) {
    float mul[4], add[4];
    cs_preprocess_coefficients(p, c, mul, add);
    const size_t n = (size_t)h * w;
    for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < c; ++k)
            dst[i * c + k] = cs_normalize_u8(src + i * c, k, c, p->bgr, mul, add);
}

void cs_preprocess_float(const cs_preprocess *p, float *img, size_t n, int c) {
    float mul[4], add[4];
    cs_preprocess_coefficients(p, c, mul, add);
    for (size_t i = 0; i < n; ++i) {
        float *px = img + i * c;
        if (p->bgr && c == 3) {
            const float t = px[0];
            px[0] = px[2];
            px[2] = t;
        }
        for (int k = 0; k < c; ++k) px[k] = px[k] * mul[k] + add[k];
    }
}
