/* Image preprocessing as a model's weight source expects it (models.md §0.7):
 * channel order, scaling and mean/std normalisation, from the model's
 * metadata ("channel_order" RGB|BGR, "input_scale", "mean", "std"). */
#ifndef CS_IO_PREPROCESS_H
#define CS_IO_PREPROCESS_H

#include <stdint.h>

#include "cuseg.h"

typedef struct cs_preprocess {
    int bgr;          /* reverse the channel order of 3-channel input */
    float scale;      /* multiplies the 0-255 value first */
    float mean[4];    /* then (v * scale - mean) / std per channel */
    float std[4];
} cs_preprocess;

/* "a,b,c" into out[0..max-1]; returns the count, or -1 on a malformed list. */
int cs_parse_floats(const char *s, float *out, int max);

/* Reads the metadata of g; absent keys mean RGB, scale 1/255, mean 0, std 1.
 * Malformed values are errors naming the key. */
cuseg_status cs_preprocess_from_graph(const cuseg_graph *g, cs_preprocess *out);

/* The per-channel multiply and add of (v * scale - mean) / std. */
void cs_preprocess_coefficients(const cs_preprocess *p, int c, float mul[4], float add[4]);

/* uint8 HWC image with c channels (1 or 3) into one NHWC float plane of the
 * batch tensor (`dst`, h*w*c floats). */
void cs_preprocess_image(const cs_preprocess *p, const uint8_t *src, int h, int w, int c, float *dst);

/* The same normalisation in place on n pixels of c floats in 0..255 (a
 * resampled image: training batches, resize policies at inference). */
void cs_preprocess_float(const cs_preprocess *p, float *img, size_t n, int c);

#endif
