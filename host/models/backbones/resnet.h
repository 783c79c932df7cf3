/* ResNet-18/34/50/101/152 in torchvision's layout and parameter names
 * (conv1, bn1, layer1.0.conv1, ..., layerN.0.downsample.{0,1}), used under
 * whatever scope the caller has pushed ("backbone", "encoder", ...). */
#ifndef CS_MODELS_RESNET_H
#define CS_MODELS_RESNET_H

#include "models/nn.h"

typedef enum cs_dilation_style {
    /* torchvision replace_stride_with_dilation: the first block of a dilated
     * stage keeps the previous dilation. */
    CS_DILATION_TORCHVISION,
    /* smp make_dilated: every 3x3 conv of a dilated stage gets the new rate,
     * every conv of it stride 1. */
    CS_DILATION_SMP,
} cs_dilation_style;

typedef struct cs_resnet_features {
    int stem;       /* relu(bn1(conv1(x))), stride 2 */
    int layer[4];   /* layer1..layer4 outputs */
    int stem_channels;
    int channels[4];
} cs_resnet_features;

/* depth: 18, 34, 50, 101 or 152; output_stride: 32 (plain), 16 (layer4
 * dilated) or 8 (layer3 and layer4 dilated); width: the stem's channels and
 * layer1's planes (64 in every published ResNet; smaller values, with the
 * same names, keep test goldens small). */
void cs_resnet(cs_nn *b, int x, int depth, int output_stride, int width, cs_dilation_style style,
               cs_resnet_features *f);

#endif
