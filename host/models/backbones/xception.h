/* The modified aligned Xception-65 of jfzhang95/pytorch-deeplab-xception
 * (`AlignedXception`, models.md §4.2.2), parameter names as its state dict
 * (conv1, bn1, conv2, bn2, block1..block20.{rep.<i>.{conv1,bn,pointwise},
 * rep.<i>, skip, skipbn}, conv3..conv5.{conv1,bn,pointwise}, bn3..bn5) under
 * whatever scope the caller has pushed. BN eps 1e-5 (PyTorch's, as
 * jfzhang95; the TF checkpoints use 1e-3). */
#ifndef CS_MODELS_XCEPTION_H
#define CS_MODELS_XCEPTION_H

#include "models/nn.h"

typedef struct cs_xception_features {
    int out;          /* ReLU(bn5(conv5)), stride output_stride */
    int low;          /* ReLU(block1), stride 4: jfzhang95's low-level feature */
    int out_channels; /* 2048 at width 64 */
    int low_channels; /* 128 at width 64 */
} cs_xception_features;

/* output_stride 16 or 8; width 64 gives the published channels, other
 * values scale every channel count by width/64 (rounded down; the names do
 * not change), which keeps test goldens small. */
void cs_xception(cs_nn *b, int x, int output_stride, int width, cs_xception_features *f);

#endif
