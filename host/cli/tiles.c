#include "cli/tiles.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/op_math.h"
#include "ops/resize.h"
#include "train/augment.h"

/* In-place softmax over the last axis of n pixels of c channels. */
static void softmax_rows(float *x, size_t n, int c, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i) {
        float *p = x + i * (size_t)c;
        float m = p[0];
        for (int k = 1; k < c; ++k) m = p[k] > m ? p[k] : m;
        float s = 0.0f;
        for (int k = 0; k < c; ++k) {
            p[k] = expf(p[k] - m);
            s += p[k];
        }
        const float inv = 1.0f / s;
        for (int k = 0; k < c; ++k) p[k] *= inv;
    }
}

/* Mirrors each row of n images of h x w x c in place. */
static void flip_w(float *x, int n, int h, int w, int c) {
    for (size_t r = 0; r < (size_t)n * h; ++r) {
        float *row = x + r * w * c;
        for (int a = 0, b = w - 1; a < b; ++a, --b)
            for (int k = 0; k < c; ++k) {
                const float t = row[(size_t)a * c + k];
                row[(size_t)a * c + k] = row[(size_t)b * c + k];
                row[(size_t)b * c + k] = t;
            }
    }
}

static cuseg_status resize(const float *x, float *y, int n, int h, int w, int c, int oh, int ow, int threads) {
    return cs_resize_bilinear_forward_cpu(x, y, n, h, w, c, oh, ow, cs_bilinear_ratio(h, oh, 0, 0.0),
                                          cs_bilinear_ratio(w, ow, 0, 0.0), 0, threads);
}

/* TTA: augmentation a's probabilities into dst (the first copies, the
 * others add); then scale_by_inverse divides the sums by their count. */
static void accumulate(float *dst, const float *src, size_t count, int a) {
    if (a == 0) memcpy(dst, src, sizeof(float) * count);
    else
        for (size_t k = 0; k < count; ++k) dst[k] += src[k];
}

static void scale_by_inverse(float *const *probs, int n, size_t count, int n_aug) {
    if (n_aug <= 1) return;
    const float inv = 1.0f / (float)n_aug;
    for (int i = 0; i < n; ++i)
        for (size_t k = 0; k < count; ++k) probs[i][k] *= inv;
}

/* Runs the session on `input` (n images) and puts the softmax of output 0
 * into *probs (reallocated); d receives its shape. */
static cuseg_status run_softmax(cs_seg_engine *e, cuseg_tensor *input, int n, float **probs, int d[4]) {
    const cuseg_tensor *inputs[1] = {input}, *out;
    CS_CHECK(cuseg_session_run(e->session, inputs, 1));
    CS_CHECK(cuseg_session_output(e->session, 0, &out));
    cuseg_tensor_shape(out, d);
    if (d[0] != n || d[3] != e->classes || cuseg_tensor_dtype(out) != CUSEG_F32)
        return cs_error(CUSEG_ERR_SHAPE, "model output is %dx%dx%dx%d, expected %d images of %d classes", d[0], d[1],
                        d[2], d[3], n, e->classes);
    const size_t count = (size_t)d[0] * d[1] * d[2] * d[3];
    free(*probs);
    *probs = NULL;
    CS_CHECK(cs_alloc((void **)probs, sizeof(float) * count, "probabilities"));
    memcpy(*probs, cuseg_tensor_data(out), sizeof(float) * count);
    softmax_rows(*probs, count / d[3], d[3], e->threads);
    return CUSEG_OK;
}

cuseg_status cs_seg_resize_from_graph(const cuseg_graph *g, cs_seg_engine *e) {
    const char *v = cuseg_graph_meta(g, "resize");
    e->resize = CS_RESIZE_NONE;
    e->resize_h = e->resize_w = 0;
    if (!v || !strcmp(v, "none")) return CUSEG_OK;
    char kind[16];
    int rw, rh;
    if (sscanf(v, "%15[a-z]:%dx%d", kind, &rw, &rh) != 3 || rw < 1 || rh < 1 ||
        (strcmp(kind, "stretch") && strcmp(kind, "letterbox")))
        return cs_error(CUSEG_ERR_FORMAT, "model metadata resize='%s': expected none, stretch:WxH or letterbox:WxH", v);
    e->resize = strcmp(kind, "stretch") ? CS_RESIZE_LETTERBOX : CS_RESIZE_STRETCH;
    e->resize_h = rh;
    e->resize_w = rw;
    return CUSEG_OK;
}

/* dst (h x w x C) = bilinear samples of p (rows of pw x C) at ((x + 0.5) *
 * sx - 0.5, (y + 0.5) * sy - 0.5), clamped to its first ph rows and pw
 * columns: the way back from train/augment.c's map of a resize policy,
 * whose canvas pixel centre (ox + 0.5) holds the image point (ox + 0.5) / b.
 * Letterbox: ph x pw is the part of the canvas the image covers (below and
 * right of it the model saw padding). Not ops/resize.c: its ratio is in/out
 * and equal sizes copy, which a letterbox's map (m, not h or w) breaks. */
static void sample_back(const float *p, int ph, int pw, int stride_w, int C, double sx, double sy, int h, int w,
                        float *dst, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int y = 0; y < h; ++y) {
        double fy = (y + 0.5) * sy - 0.5;
        fy = fy < 0 ? 0 : fy;
        const int y0 = (int)fy < ph - 1 ? (int)fy : ph - 1, y1 = y0 + 1 < ph ? y0 + 1 : ph - 1;
        const float ay = (float)(fy - y0 < 1 ? fy - y0 : 1);
        for (int x = 0; x < w; ++x) {
            double fx = (x + 0.5) * sx - 0.5;
            fx = fx < 0 ? 0 : fx;
            const int x0 = (int)fx < pw - 1 ? (int)fx : pw - 1, x1 = x0 + 1 < pw ? x0 + 1 : pw - 1;
            const float ax = (float)(fx - x0 < 1 ? fx - x0 : 1);
            const float *p00 = p + ((size_t)y0 * stride_w + x0) * C, *p01 = p + ((size_t)y0 * stride_w + x1) * C;
            const float *p10 = p + ((size_t)y1 * stride_w + x0) * C, *p11 = p + ((size_t)y1 * stride_w + x1) * C;
            float *o = dst + ((size_t)y * w + x) * C;
            for (int k = 0; k < C; ++k)
                o[k] = (1 - ay) * ((1 - ax) * p00[k] + ax * p01[k]) + ay * ((1 - ax) * p10[k] + ax * p11[k]);
        }
    }
}

/* cs_seg_predict for a model with a resize policy: each augmentation (flip,
 * scale) of the image, then the policy at the scaled size, the model, and
 * the way back to h x w. */
static cuseg_status predict_resized(cs_seg_engine *e, const uint8_t *const *img, int n, int h, int w,
                                    float *const *probs) {
    const int c = e->in_c, C = e->classes, m = h > w ? h : w;
    const size_t plane = (size_t)h * w;
    uint8_t *flipped = NULL;
    float *scaled = NULL, *back = NULL;
    cuseg_tensor *input = NULL;
    cuseg_status st = CUSEG_OK;
    if ((st = cs_alloc((void **)&flipped, plane * c, "flipped image")) ||
        (st = cs_alloc((void **)&back, sizeof(float) * plane * C, "probabilities")))
        goto done;
    const int n_aug = e->n_scales * (e->flip ? 2 : 1);
    for (int a = 0; st == CUSEG_OK && a < n_aug; ++a) {
        const double s = e->scales[a / (e->flip ? 2 : 1)];
        const int flip = e->flip && (a & 1);
        cs_augment policy = {.resize = e->resize, .scale_min = 1, .scale_max = 1};
        policy.resize_h = (int)lround(e->resize_h * s);
        policy.resize_w = (int)lround(e->resize_w * s);
        if (policy.resize_h < 1 || policy.resize_w < 1) {
            st = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "scale %g makes the model's %dx%d input empty", s,
                          e->resize_w, e->resize_h);
            break;
        }
        const int sh = policy.resize_h, sw = policy.resize_w;
        int have[4] = {0, 0, 0, 0};
        if (input) cuseg_tensor_shape(input, have);
        if (have[1] != sh || have[2] != sw) { /* the first augmentation, or another scale */
            cuseg_tensor_release(input);
            input = NULL;
            if ((st = cuseg_tensor_create(CUSEG_F32, n, sh, sw, c, &input)) != CUSEG_OK) break;
        }
        float *in = cuseg_tensor_data(input);
        for (int i = 0; st == CUSEG_OK && i < n; ++i) {
            const uint8_t *src = img[i];
            if (flip) {
                for (int y = 0; y < h; ++y)
                    for (int x = 0; x < w; ++x)
                        memcpy(flipped + ((size_t)y * w + x) * c, src + ((size_t)y * w + (w - 1 - x)) * c, c);
                src = flipped;
            }
            const cs_sample smp = {h, w, c, (uint8_t *)src, NULL};
            float *dst = in + (size_t)sh * sw * c * i;
            st = cs_augment_apply(&policy, &smp, 0, 0, 0, 0, dst, NULL, sh, sw);
            if (st == CUSEG_OK) cs_preprocess_float(&e->pre, dst, (size_t)sh * sw, c);
        }
        if (st != CUSEG_OK) break;
        int d[4];
        if ((st = run_softmax(e, input, n, &scaled, d)) != CUSEG_OK) break;
        const size_t out_plane = (size_t)d[1] * d[2];
        /* canvas pixels per image pixel, times output pixels per canvas pixel */
        const double sx = (e->resize == CS_RESIZE_STRETCH ? (double)sw / w : (double)sw / m) * d[2] / sw;
        const double sy = (e->resize == CS_RESIZE_STRETCH ? (double)sh / h : (double)sh / m) * d[1] / sh;
        /* output rows and columns the image covers: those whose centre maps inside it */
        const int vh = (int)fmin(d[1], fmax(1, ceil(h * sy - 0.5))), vw = (int)fmin(d[2], fmax(1, ceil(w * sx - 0.5)));
        for (int i = 0; i < n; ++i) {
            sample_back(scaled + out_plane * C * i, vh, vw, d[2], C, sx, sy, h, w, back, e->threads);
            if (flip) flip_w(back, 1, h, w, C);
            accumulate(probs[i], back, plane * C, a);
        }
    }
    if (st == CUSEG_OK) scale_by_inverse(probs, n, plane * C, n_aug);
done:
    cuseg_tensor_release(input);
    free(flipped);
    free(scaled);
    free(back);
    return st;
}

cuseg_status cs_seg_predict(cs_seg_engine *e, const uint8_t *const *img, int n, int h, int w,
                            float *const *probs) {
    CS_CHECK_ARG(n >= 1 && h > 0 && w > 0, "cs_seg_predict: bad batch %d of %dx%d", n, h, w);
    if (e->resize != CS_RESIZE_NONE) return predict_resized(e, img, n, h, w, probs);
    const int c = e->in_c, C = e->classes;
    const size_t plane = (size_t)h * w;
    float *base = NULL, *scaled = NULL, *back = NULL;
    cuseg_tensor *input = NULL;
    cuseg_status st = cs_alloc((void **)&base, sizeof(float) * plane * c * n, "preprocessed batch");
    for (int i = 0; st == CUSEG_OK && i < n; ++i) cs_preprocess_image(&e->pre, img[i], h, w, c, base + plane * c * i);
    const int n_aug = e->n_scales * (e->flip ? 2 : 1);
    for (int a = 0; st == CUSEG_OK && a < n_aug; ++a) {
        const double s = e->scales[a / (e->flip ? 2 : 1)];
        const int flip = e->flip && (a & 1);
        const int sh = s == 1.0 ? h : (int)lround(h * s), sw = s == 1.0 ? w : (int)lround(w * s);
        if (sh < 1 || sw < 1) {
            st = cs_error(CUSEG_ERR_INVALID_ARGUMENT, "scale %g makes a %dx%d image empty", s, w, h);
            break;
        }
        if (!input || cuseg_tensor_bytes(input) != sizeof(float) * (size_t)n * sh * sw * c) {
            cuseg_tensor_release(input);
            input = NULL;
            if ((st = cuseg_tensor_create(CUSEG_F32, n, sh, sw, c, &input)) != CUSEG_OK) break;
        }
        float *in = cuseg_tensor_data(input);
        if (sh == h && sw == w) memcpy(in, base, sizeof(float) * plane * c * n);
        else if ((st = resize(base, in, n, h, w, c, sh, sw, e->threads)) != CUSEG_OK) break;
        if (flip) flip_w(in, n, sh, sw, c);
        int d[4];
        if ((st = run_softmax(e, input, n, &scaled, d)) != CUSEG_OK) break;
        if (flip) flip_w(scaled, n, d[1], d[2], C);
        const float *p = scaled;
        if (d[1] != h || d[2] != w) { /* other scale, or a model whose output is not at input size */
            if (!back && (st = cs_alloc((void **)&back, sizeof(float) * plane * C * n, "probabilities")) != CUSEG_OK)
                break;
            if ((st = resize(scaled, back, n, d[1], d[2], C, h, w, e->threads)) != CUSEG_OK) break;
            p = back;
        }
        for (int i = 0; i < n; ++i) accumulate(probs[i], p + plane * C * i, plane * C, a);
    }
    if (st == CUSEG_OK) scale_by_inverse(probs, n, plane * C, n_aug);
    cuseg_tensor_release(input);
    free(base);
    free(scaled);
    free(back);
    return st;
}

/* Start positions of tiles along an axis of length n: 0, s, 2s, ... until a
 * tile reaches the end; the last one is n - start long. */
static int tile_starts(int n, int tile, int stride, int *starts) {
    int k = 0;
    for (int x = 0;; x += stride) {
        starts[k++] = x;
        if (x + tile >= n) break;
    }
    return k;
}

/* Blend weight at index i of a tile of length len: ramps from 1/(ov+1) up to 1
 * across the overlap on each side that borders another tile, so that the
 * weights of overlapping tiles cross-fade and no seam is visible. */
static float ramp(int i, int len, int ov, int lo_inner, int hi_inner) {
    float v = 1.0f;
    if (lo_inner && i < ov) v = fminf(v, (float)(i + 1) / (float)(ov + 1));
    if (hi_inner && len - i <= ov) v = fminf(v, (float)(len - i) / (float)(ov + 1));
    return v;
}

cuseg_status cs_seg_predict_tiled(cs_seg_engine *e, const uint8_t *img, int h, int w, const cs_tiling *t,
                                  cs_rows_fn fn, void *user) {
    CS_CHECK_ARG(t->tile > 0 && t->overlap >= 0 && t->align > 0 && t->overlap < t->tile,
                 "tiling: tile %d, overlap %d, align %d: need 0 <= overlap < tile", t->tile, t->overlap, t->align);
    int stride = (t->tile - t->overlap) / t->align * t->align;
    if (stride < t->align) stride = t->align;
    const int tile = t->tile, ov = tile - stride, C = e->classes, c = e->in_c;
    CS_CHECK_ARG(stride <= tile, "tiling: tile %d is smaller than the alignment %d", tile, t->align);
    int *xs = malloc(sizeof(int) * ((size_t)w / stride + 2)), *ys = malloc(sizeof(int) * ((size_t)h / stride + 2));
    const int nx = xs ? tile_starts(w, tile, stride, xs) : 0, ny = ys ? tile_starts(h, tile, stride, ys) : 0;
    const int bmax = e->batch > 0 ? e->batch : 1;
    float *acc = NULL, *wsum = NULL, **probs = NULL;
    uint8_t **tiles = NULL;
    const uint8_t **tile_ptr = NULL;
    const size_t tile_px = (size_t)tile * tile;
    cuseg_status st = xs && ys ? CUSEG_OK : cs_error(CUSEG_ERR_OUT_OF_MEMORY, "tiling: out of memory");
    if (st == CUSEG_OK) st = cs_calloc((void **)&acc, sizeof(float) * (size_t)tile * w * C, "tile accumulator");
    if (st == CUSEG_OK) st = cs_calloc((void **)&wsum, sizeof(float) * (size_t)tile * w, "tile weights");
    if (st == CUSEG_OK) st = cs_calloc((void **)&probs, sizeof(float *) * bmax, "tile batch");
    if (st == CUSEG_OK) st = cs_calloc((void **)&tiles, sizeof(uint8_t *) * bmax, "tile batch");
    if (st == CUSEG_OK) st = cs_calloc((void **)&tile_ptr, sizeof(uint8_t *) * bmax, "tile batch");
    for (int b = 0; st == CUSEG_OK && b < bmax; ++b) {
        st = cs_alloc((void **)&probs[b], sizeof(float) * tile_px * C, "tile probabilities");
        if (st == CUSEG_OK) st = cs_alloc((void **)&tiles[b], tile_px * c, "tile pixels");
        tile_ptr[b] = tiles ? tiles[b] : NULL;
    }
    for (int r = 0; st == CUSEG_OK && r < ny; ++r) {
        const int y0 = ys[r], th = y0 + tile < h ? tile : h - y0; /* acc row 0 is image row y0 */
        for (int first = 0; st == CUSEG_OK && first < nx;) {
            /* A batch of tiles of equal width: all but the last column. */
            const int tw0 = xs[first] + tile < w ? tile : w - xs[first];
            int n = 0;
            while (first + n < nx && n < bmax && (xs[first + n] + tile < w ? tile : w - xs[first + n]) == tw0) ++n;
            for (int b = 0; b < n; ++b)
                for (int y = 0; y < th; ++y)
                    memcpy(tiles[b] + (size_t)y * tw0 * c, img + ((size_t)(y0 + y) * w + xs[first + b]) * c,
                           (size_t)tw0 * c);
            if ((st = cs_seg_predict(e, tile_ptr, n, th, tw0, probs)) != CUSEG_OK) break;
            for (int b = 0; b < n; ++b) {
                const int x0 = xs[first + b], col = first + b;
                for (int y = 0; y < th; ++y) {
                    const float wy = ramp(y, th, ov, r > 0, r + 1 < ny);
                    for (int x = 0; x < tw0; ++x) {
                        const float wt = wy * ramp(x, tw0, ov, col > 0, col + 1 < nx);
                        const float *p = probs[b] + ((size_t)y * tw0 + x) * C;
                        float *a = acc + ((size_t)y * w + x0 + x) * C;
                        for (int k = 0; k < C; ++k) a[k] += wt * p[k];
                        wsum[(size_t)y * w + x0 + x] += wt;
                    }
                }
            }
            first += n;
        }
        if (st != CUSEG_OK) break;
        /* Rows above the next band's start are final: normalised in place. */
        const int done = r + 1 < ny ? ys[r + 1] - y0 : th;
        for (size_t i = 0; i < (size_t)done * w; ++i) {
            const float inv = 1.0f / wsum[i];
            for (int k = 0; k < C; ++k) acc[i * C + k] *= inv;
        }
        if (fn(user, y0, y0 + done, acc) != 0) {
            st = CUSEG_ERR_IO;
            break;
        }
        const size_t keep = (size_t)(tile - done) * w;
        memmove(acc, acc + (size_t)done * w * C, sizeof(float) * keep * C);
        memmove(wsum, wsum + (size_t)done * w, sizeof(float) * keep);
        memset(acc + keep * C, 0, sizeof(float) * (size_t)done * w * C);
        memset(wsum + keep, 0, sizeof(float) * (size_t)done * w);
    }
    for (int b = 0; b < bmax && probs && tiles; ++b) {
        free(probs[b]);
        free(tiles[b]);
    }
    free(probs);
    free(tiles);
    free(tile_ptr);
    free(acc);
    free(wsum);
    free(xs);
    free(ys);
    return st;
}
