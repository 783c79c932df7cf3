/* MobileNetV2 as jfzhang95/pytorch-deeplab-xception builds it for DeepLab v3+
 * (models.md §4.2.3): parameter names features.0.{0,1} and
 * features.<n>.conv.{0,1,3,4[,6,7]} (its checkpoints also hold alias copies
 * under low_level_features.* / high_level_features.*, which are not
 * parameters here), ReLU6, output stride set by turning strides into
 * dilation, and its padding rule: each inverted residual zero-pads its input
 * (fixed_padding) and runs every conv with padding 0, so the 1x1 expansion
 * also runs over the border, which then holds ReLU6(BN(0)) rather than zeros
 * when the depthwise conv reads it. */
#ifndef CS_MODELS_MOBILENET_V2_H
#define CS_MODELS_MOBILENET_V2_H

#include "models/nn.h"

typedef struct cs_mobilenet_v2_features {
    int out;          /* features.17, 320 channels at width 64 */
    int low;          /* features.3, stride 4, 24 channels at width 64 */
    int out_channels;
    int low_channels;
} cs_mobilenet_v2_features;

/* output_stride 32, 16 or 8; width 64 is width_mult 1, other values give
 * width_mult = width/64 (channels int(c * width_mult), as jfzhang95). */
void cs_mobilenet_v2_jf(cs_nn *b, int x, int output_stride, int width, cs_mobilenet_v2_features *f);

#endif
