#include "train/augment.h"

#include <math.h>
#include <string.h>

#include "core/status.h"

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

cs_rng cs_rng_for(uint64_t seed, uint64_t a, uint64_t b) {
    cs_rng r = {mix64(mix64(mix64(seed + 0x9e3779b97f4a7c15ull) + a) + b)};
    return r;
}

uint64_t cs_rng_next(cs_rng *r) {
    r->state += 0x9e3779b97f4a7c15ull;
    return mix64(r->state);
}

double cs_rng_uniform(cs_rng *r) { return (double)(cs_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

static void base_size(const cs_augment *a, int h, int w, int *bh, int *bw) {
    if (a->resize == CS_RESIZE_NONE) {
        *bh = h;
        *bw = w;
    } else {
        *bh = a->resize_h;
        *bw = a->resize_w;
    }
}

void cs_augment_out_size(const cs_augment *a, int h, int w, int *out_h, int *out_w) {
    base_size(a, h, w, out_h, out_w);
    if (a->crop_h > 0 && a->crop_w > 0) {
        *out_h = a->crop_h;
        *out_w = a->crop_w;
    }
}

static float clamp255(float v) { return v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v; }

cuseg_status cs_augment_apply(const cs_augment *a, const cs_sample *in, int random, uint64_t seed,
                              uint64_t epoch, uint64_t index, float *image, int32_t *label, int out_h,
                              int out_w) {
    CS_CHECK_ARG(a && in && image && out_h > 0 && out_w > 0 && (!label || in->label), "cs_augment_apply: bad argument");
    const int h = in->h, w = in->w, c = in->c;
    int bh, bw;
    base_size(a, h, w, &bh, &bw);
    CS_CHECK_ARG(bh > 0 && bw > 0, "augment: resize size must be positive (got %dx%d)", bw, bh);
    /* base -> source scale per axis */
    double bx = 1.0, by = 1.0;
    if (a->resize == CS_RESIZE_STRETCH) {
        bx = (double)bw / w;
        by = (double)bh / h;
    } else if (a->resize == CS_RESIZE_LETTERBOX) {
        const int m = h > w ? h : w;
        bx = (double)bw / m;
        by = (double)bh / m;
    }
    /* Every draw is made whether or not its augmentation is on, so that
     * turning one on does not change the others. */
    cs_rng rng = cs_rng_for(seed, epoch, index);
    const double u_scale = cs_rng_uniform(&rng), u_angle = cs_rng_uniform(&rng);
    const int hflip = (cs_rng_next(&rng) >> 63) != 0, vflip = (cs_rng_next(&rng) >> 63) != 0;
    const double u_offx = cs_rng_uniform(&rng), u_offy = cs_rng_uniform(&rng);
    const double u_b = cs_rng_uniform(&rng), u_c = cs_rng_uniform(&rng), u_s = cs_rng_uniform(&rng);

    double s = 1.0, angle = 0.0;
    int do_h = 0, do_v = 0;
    if (random) {
        if (a->scale_max > a->scale_min) s = a->scale_min + (a->scale_max - a->scale_min) * u_scale;
        else if (a->scale_min > 0) s = a->scale_min;
        angle = a->rotate_deg * (2.0 * u_angle - 1.0) * (3.14159265358979323846 / 180.0);
        do_h = a->hflip && hflip;
        do_v = a->vflip && vflip;
    }
    int cw = (int)lround(bw * s), ch = (int)lround(bh * s);
    if (cw < 1) cw = 1;
    if (ch < 1) ch = 1;
    int offx = 0, offy = 0;
    if (random) {
        if (cw > out_w) offx = (int)(u_offx * (cw - out_w + 1));
        if (ch > out_h) offy = (int)(u_offy * (ch - out_h + 1));
    }
    const double cosa = cos(angle), sina = sin(angle), cx0 = cw * 0.5, cy0 = ch * 0.5;
    for (int oy = 0; oy < out_h; ++oy)
        for (int ox = 0; ox < out_w; ++ox) {
            float *px = image + ((size_t)oy * out_w + ox) * c;
            int32_t *lb = label ? label + (size_t)oy * out_w + ox : NULL;
            double x = ox + 0.5 + offx, y = oy + 0.5 + offy; /* canvas */
            int inside = x <= cw && y <= ch;
            if (do_h) x = cw - x;
            if (do_v) y = ch - y;
            if (angle != 0.0) { /* the canvas turned by +angle: sample at -angle */
                const double dx = x - cx0, dy = y - cy0;
                x = cx0 + cosa * dx + sina * dy;
                y = cy0 - sina * dx + cosa * dy;
            }
            const double u = x / s / bx, v = y / s / by; /* source, continuous */
            inside = inside && u >= 0.0 && v >= 0.0 && u < w && v < h;
            if (!inside) {
                for (int k = 0; k < c; ++k) px[k] = 0.0f;
                if (lb) *lb = a->ignore;
                continue;
            }
            if (lb) *lb = in->label[(size_t)(int)v * w + (int)u];
            /* bilinear at pixel coordinates (u - 0.5, v - 0.5), edges clamped */
            double fx = u - 0.5, fy = v - 0.5;
            if (fx < 0) fx = 0;
            if (fy < 0) fy = 0;
            int x0 = (int)fx, y0 = (int)fy;
            if (x0 > w - 1) x0 = w - 1;
            if (y0 > h - 1) y0 = h - 1;
            const int x1 = x0 + 1 < w ? x0 + 1 : w - 1, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
            const double ax = fx - x0 > 1 ? 1 : fx - x0, ay = fy - y0 > 1 ? 1 : fy - y0;
            const uint8_t *p00 = in->image + ((size_t)y0 * w + x0) * c, *p01 = in->image + ((size_t)y0 * w + x1) * c;
            const uint8_t *p10 = in->image + ((size_t)y1 * w + x0) * c, *p11 = in->image + ((size_t)y1 * w + x1) * c;
            for (int k = 0; k < c; ++k)
                px[k] = (float)((1 - ay) * ((1 - ax) * p00[k] + ax * p01[k]) + ay * ((1 - ax) * p10[k] + ax * p11[k]));
        }
    if (!random) return CUSEG_OK;
    const size_t n = (size_t)out_h * out_w;
    if (a->brightness > 0) {
        const float f = (float)(1.0 + a->brightness * (2.0 * u_b - 1.0));
        for (size_t i = 0; i < n * c; ++i) image[i] = clamp255(image[i] * f);
    }
    if (a->contrast > 0) { /* towards the mean gray level, as torchvision's adjust_contrast */
        const float f = (float)(1.0 + a->contrast * (2.0 * u_c - 1.0));
        double mean = 0;
        for (size_t i = 0; i < n; ++i)
            mean += c == 3 ? 0.299 * image[3 * i] + 0.587 * image[3 * i + 1] + 0.114 * image[3 * i + 2] : image[i];
        const float m = (float)(mean / (double)n);
        for (size_t i = 0; i < n * c; ++i) image[i] = clamp255((image[i] - m) * f + m);
    }
    if (a->saturation > 0 && c == 3) { /* towards each pixel's gray level */
        const float f = (float)(1.0 + a->saturation * (2.0 * u_s - 1.0));
        for (size_t i = 0; i < n; ++i) {
            float *p = image + 3 * i;
            const float g = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
            for (int k = 0; k < 3; ++k) p[k] = clamp255((p[k] - g) * f + g);
        }
    }
    return CUSEG_OK;
}
