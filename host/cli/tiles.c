#include "cli/tiles.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "ops/op_math.h"
#include "ops/resize.h"

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

cuseg_status cs_seg_predict(cs_seg_engine *e, const uint8_t *const *img, int n, int h, int w,
                            float *const *probs) {
    CS_CHECK_ARG(n >= 1 && h > 0 && w > 0, "cs_seg_predict: bad batch %d of %dx%d", n, h, w);
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
        const cuseg_tensor *inputs[1] = {input};
        if ((st = cuseg_session_run(e->session, inputs, 1)) != CUSEG_OK) break;
        const cuseg_tensor *out;
        if ((st = cuseg_session_output(e->session, 0, &out)) != CUSEG_OK) break;
        int d[4];
        cuseg_tensor_shape(out, d);
        if (d[0] != n || d[3] != C || cuseg_tensor_dtype(out) != CUSEG_F32) {
            st = cs_error(CUSEG_ERR_SHAPE, "model output is %dx%dx%dx%d, expected %d images of %d classes", d[0],
                          d[1], d[2], d[3], n, C);
            break;
        }
        const size_t out_plane = (size_t)d[1] * d[2];
        free(scaled);
        if ((st = cs_alloc((void **)&scaled, sizeof(float) * out_plane * C * n, "probabilities")) != CUSEG_OK) break;
        memcpy(scaled, cuseg_tensor_data(out), sizeof(float) * out_plane * C * n);
        softmax_rows(scaled, out_plane * n, C, e->threads);
        if (flip) flip_w(scaled, n, d[1], d[2], C);
        const float *p = scaled;
        if (d[1] != h || d[2] != w) { /* other scale, or a model whose output is not at input size */
            if (!back && (st = cs_alloc((void **)&back, sizeof(float) * plane * C * n, "probabilities")) != CUSEG_OK)
                break;
            if ((st = resize(scaled, back, n, d[1], d[2], C, h, w, e->threads)) != CUSEG_OK) break;
            p = back;
        }
        for (int i = 0; i < n; ++i) {
            float *dst = probs[i];
            const float *src = p + plane * C * i;
            if (a == 0) memcpy(dst, src, sizeof(float) * plane * C);
            else
                for (size_t k = 0; k < plane * C; ++k) dst[k] += src[k];
        }
    }
    if (st == CUSEG_OK && n_aug > 1) {
        const float inv = 1.0f / (float)n_aug;
        for (int i = 0; i < n; ++i)
            for (size_t k = 0; k < plane * C; ++k) probs[i][k] *= inv;
    }
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
