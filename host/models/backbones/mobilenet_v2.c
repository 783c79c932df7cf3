#include <stdio.h>

#include "models/backbones/mobilenet_v2.h"

#define MOBILENET_BN_EPS 1e-5f

/* jfzhang95's InvertedResidual (see the header for its padding rule):
 * conv.{0,1} 1x1 expansion + BN + ReLU6 (absent when t = 1), depthwise 3x3
 * + BN + ReLU6, 1x1 projection + BN; residual when the shape is kept. */
static int inverted_residual(cs_nn *b, int x, int in, int out, int stride, int dilation, int t) {
    const int hidden = in * t;
    cs_nn_push(b, "conv");
    int y = cs_nn_pad(b, x, dilation, dilation, dilation, dilation);
    int i = 0; /* Sequential index: conv, BN, ReLU6 per unit */
    char conv[8], bn[8];
    if (t != 1) {
        y = cs_nn_relu6(b, cs_nn_conv_bn_relu(b, "0", "1", y, hidden, 1, 1, 0, 1, 0));
        i = 3;
    }
    snprintf(conv, sizeof conv, "%d", i);
    snprintf(bn, sizeof bn, "%d", i + 1);
    y = cs_nn_conv(b, conv, y, hidden, 3, stride, 0, dilation, hidden, 0);
    y = cs_nn_relu6(b, cs_nn_bn(b, bn, y, MOBILENET_BN_EPS));
    snprintf(conv, sizeof conv, "%d", i + 3);
    snprintf(bn, sizeof bn, "%d", i + 4);
    y = cs_nn_conv_bn_relu(b, conv, bn, y, out, 1, 1, 0, 1, 0);
    cs_nn_pop(b);
    return stride == 1 && in == out ? cs_nn_add(b, x, y) : y;
}

void cs_mobilenet_v2_jf(cs_nn *b, int x, int output_stride, int width, cs_mobilenet_v2_features *f) {
    if (output_stride != 32 && output_stride != 16 && output_stride != 8) {
        cs_nn_fail(b, CUSEG_ERR_INVALID_ARGUMENT, "mobilenet_v2: output stride must be 32, 16 or 8, got %d",
                   output_stride);
        return;
    }
    if (width < 4) { /* the 16-channel stage would have no channels */
        cs_nn_fail(b, CUSEG_ERR_INVALID_ARGUMENT, "mobilenet_v2: width must be >= 4, got %d", width);
        return;
    }
    /* (t, c, n, s) of the MobileNetV2 paper. */
    static const int settings[7][4] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                       {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
    int in = 32 * width / 64; /* int(c * width_mult) with width_mult = width / 64 */
    cs_nn_push(b, "features.0");
    int y = cs_nn_relu6(b, cs_nn_conv_bn_relu(b, "0", "1", x, in, 3, 2, 1, 1, 0));
    cs_nn_pop(b);
    /* Once the stride reaches the output stride, later stages get stride 1
     * and the previous rate, and the rate grows by the stage's stride. */
    int current_stride = 2, rate = 1, index = 1;
    for (int s = 0; s < 7; ++s) {
        int stride, dilation;
        if (current_stride == output_stride) {
            stride = 1;
            dilation = rate;
            rate *= settings[s][3];
        } else {
            stride = settings[s][3];
            dilation = 1;
            current_stride *= stride;
        }
        const int out = settings[s][1] * width / 64;
        for (int k = 0; k < settings[s][2]; ++k, ++index) {
            cs_nn_push(b, "features.%d", index);
            y = inverted_residual(b, y, in, out, k == 0 ? stride : 1, dilation, settings[s][0]);
            cs_nn_pop(b);
            in = out;
            if (index == 3) {
                f->low = y;
                f->low_channels = out;
            }
        }
    }
    f->out = y;
    f->out_channels = in;
}
