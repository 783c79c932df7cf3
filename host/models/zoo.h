/* The architecture registry: each model family file defines a table of
 * {name, description, builder} rows ending with a zero row. */
#ifndef CS_MODELS_ZOO_H
#define CS_MODELS_ZOO_H

#include "models/nn.h"

typedef struct cs_arch {
    const char *name;
    const char *description;
    /* Builds the graph; reads its options from o (cs_opts_finish is checked
     * by the caller). */
    void (*build)(cs_nn *b, cs_opts *o);
} cs_arch;

extern const cs_arch cs_archs_unet[], cs_archs_fcn[], cs_archs_deeplab_v1[], cs_archs_deeplab_v3[],
    cs_archs_deeplab_jf[], cs_archs_segnet[];

/* Reads a builder option; on a bad value records the error in b. */
int cs_nn_opt_int(cs_nn *b, cs_opts *o, const char *key, int def, int lo, int hi);
double cs_nn_opt_float(cs_nn *b, cs_opts *o, const char *key, double def, double lo, double hi);
const char *cs_nn_opt_choice(cs_nn *b, cs_opts *o, const char *key, const char *choices,
                             const char *def);

/* Preprocessing metadata that weight sources expect (models.md §0.7). */
void cs_nn_preprocess_imagenet(cs_nn *b); /* RGB, /255, ImageNet mean/std */
void cs_nn_preprocess_caffe_bgr(cs_nn *b, const char *mean); /* BGR, 0-255, minus mean */
void cs_nn_preprocess_unit(cs_nn *b); /* RGB, /255, no normalisation */

#endif
