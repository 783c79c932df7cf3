/* Training augmentation and resize policies. One geometric map per sample
 * (resize policy, random scale, rotation about the centre, flips, crop) is
 * applied to the image with bilinear sampling and to the label with nearest
 * sampling through the same inverse transform, so the two always agree;
 * pixels that come from outside the image (crop padding, rotation corners,
 * letterbox borders) are 0 in the image and `ignore` in the label.
 *
 * Randomness is a counter-based hash of (seed, epoch, sample index): a
 * sample's augmentation does not depend on which thread made it, on the
 * order of loading, or on whether training was resumed. */
#ifndef CS_TRAIN_AUGMENT_H
#define CS_TRAIN_AUGMENT_H

#include <stdint.h>

#include "cuseg.h"
#include "train/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_resize_policy {
    CS_RESIZE_NONE,      /* native size */
    CS_RESIZE_STRETCH,   /* to resize_h x resize_w, aspect not kept */
    CS_RESIZE_LETTERBOX, /* keep_image_size: pad to a square at the top left, then resize to resize_h x resize_w */
} cs_resize_policy;

typedef struct cs_augment {
    cs_resize_policy resize;
    int resize_h, resize_w;
    float scale_min, scale_max; /* random scale after the resize (1, 1: off) */
    float rotate_deg;           /* uniform in [-rotate_deg, rotate_deg] */
    int hflip, vflip;           /* each with probability 1/2 */
    int crop_h, crop_w;         /* random crop (0: none); smaller images are padded bottom/right */
    float brightness, contrast, saturation; /* jitter factors uniform in [1-j, 1+j] (0: off) */
    int ignore;                 /* label value of padding */
} cs_augment;

/* splitmix64-based stream for (seed, a, b). */
typedef struct cs_rng {
    uint64_t state;
} cs_rng;
cs_rng cs_rng_for(uint64_t seed, uint64_t a, uint64_t b);
uint64_t cs_rng_next(cs_rng *r);
double cs_rng_uniform(cs_rng *r); /* [0, 1) */

/* Output size for an input of h x w under the policy and crop. */
void cs_augment_out_size(const cs_augment *a, int h, int w, int *out_h, int *out_w);

/* Transforms one sample. image: out_h*out_w*c floats in 0..255 (the caller
 * applies the model's normalisation); label: out_h*out_w int32, or NULL for
 * the image alone (in->label may then be NULL too). random = 0 applies only
 * the resize policy (validation, and inference with a trained model). */
cuseg_status cs_augment_apply(const cs_augment *a, const cs_sample *in, int random, uint64_t seed,
                              uint64_t epoch, uint64_t index, float *image, int32_t *label, int out_h,
                              int out_w);

#ifdef __cplusplus
}
#endif

#endif
