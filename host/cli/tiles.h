/* Inference for `cuseg segment`: softmax probabilities of same-size image
 * batches with test-time augmentation (horizontal flip, scales), and
 * sliding-window inference of large images with weighted blending in row
 * bands, so that memory grows with the image width, not its area. */
#ifndef CS_CLI_TILES_H
#define CS_CLI_TILES_H

#include <stdint.h>

#include "cuseg.h"
#include "io/preprocess.h"
#include "train/augment.h"

#define CS_SEG_MAX_SCALES 8

typedef struct cs_seg_engine {
    cuseg_session *session;
    cs_preprocess pre;
    int in_c;     /* model input channels: 1 (gray) or 3 (RGB) */
    int classes;  /* channels of output 0 */
    int flip;     /* also run on the horizontally flipped input */
    int n_scales; /* 1 and scales[0] = 1 without multi-scale */
    double scales[CS_SEG_MAX_SCALES];
    int batch;    /* most images (or tiles) per session run */
    int threads;  /* CPU threads for softmax and resizing */
    /* The model's resize policy (its "resize" metadata, from `cuseg train
     * --resize/--letterbox`): images go to the model as training saw them
     * (train/augment.c's own resampling) and the probabilities come back
     * to the image's size. CS_RESIZE_NONE: images as they are. */
    cs_resize_policy resize;
    int resize_h, resize_w;
} cs_seg_engine;

/* Sets e->resize and its size from the model's "resize" metadata ("none",
 * "stretch:WxH" or "letterbox:WxH"; absent: none). */
cuseg_status cs_seg_resize_from_graph(const cuseg_graph *g, cs_seg_engine *e);

/* probs[i] (h*w*classes floats) = softmax of the model on img[i] (h*w*in_c
 * bytes), averaged over the augmentations; n <= e->batch. With a resize
 * policy each augmentation (flip, scale) is applied to the image before the
 * policy and undone after it. */
cuseg_status cs_seg_predict(cs_seg_engine *e, const uint8_t *const *img, int n, int h, int w,
                            float *const *probs);

/* Tile geometry: the stride is tile - overlap rounded down to a multiple of
 * `align` (at least align) so that every tile starts on the model's pooling
 * grid; the last tile in a row or column is narrower rather than shifted. */
typedef struct cs_tiling {
    int tile, overlap, align;
} cs_tiling;

/* Receives finished rows [y0, y1) of an image: (y1-y0)*w*classes blended
 * probabilities. Returns nonzero to stop (the error is then the caller's). */
typedef int (*cs_rows_fn)(void *user, int y0, int y1, const float *probs);

/* Sliding-window inference of one h x w image (models without a resize
 * policy). Overlapping tiles are blended
 * with weights that ramp linearly across the overlap (and stay 1 at the image
 * border), then normalised. Rows are handed to `fn` top to bottom as soon as
 * no later tile touches them; memory is O(tile * w * classes). */
cuseg_status cs_seg_predict_tiled(cs_seg_engine *e, const uint8_t *img, int h, int w, const cs_tiling *t,
                                  cs_rows_fn fn, void *user);

#endif
