#include <stdio.h>

#include "models/backbones/xception.h"

#define XCEPTION_BN_EPS 1e-5f

/* jfzhang95's SeparableConv2d: depthwise 3x3 (fixed_padding, which for
 * k = 3 is the symmetric padding d) + BN "bn" + pointwise 1x1, no biases,
 * no ReLU inside. */
static int separable(cs_nn *b, int x, int out, int stride, int dilation) {
    const int c = cs_nn_channels(b, x);
    int y = cs_nn_conv(b, "conv1", x, c, 3, stride, dilation, dilation, c, 0);
    y = cs_nn_bn(b, "bn", y, XCEPTION_BN_EPS);
    return cs_nn_conv(b, "pointwise", y, out, 1, 1, 0, 1, 1, 0);
}

/* jfzhang95's Block: up to three [ReLU] -> SeparableConv2d -> BN units in
 * `rep` plus a shortcut. Its leading ReLU is in place, so the shortcut (conv
 * or identity) reads ReLU(x) in blocks that start with ReLU. */
static int block(cs_nn *b, int x, int in, int planes, int reps, int stride, int dilation,
                 int start_with_relu, int grow_first, int is_last) {
    int cout[4], cs[4], cd[4], n = 0;
    int filters = in;
    if (grow_first) {
        cout[n] = planes, cs[n] = 1, cd[n++] = dilation;
        filters = planes;
    }
    for (int i = 0; i < reps - 1; ++i) cout[n] = filters, cs[n] = 1, cd[n++] = dilation;
    if (!grow_first) cout[n] = planes, cs[n] = 1, cd[n++] = dilation;
    if (stride != 1) cout[n] = planes, cs[n] = 2, cd[n++] = 1;
    if (stride == 1 && is_last) cout[n] = planes, cs[n] = 1, cd[n++] = 1; /* dilation 1: jfzhang95 */

    const int input = start_with_relu ? cs_nn_relu(b, x) : x;
    int y = input;
    /* rep indices: ReLU at 3j, separable at 3j+1, BN at 3j+2, all one less
     * when the leading ReLU is dropped. */
    const int shift = start_with_relu ? 0 : -1;
    for (int j = 0; j < n; ++j) {
        if (j > 0) y = cs_nn_relu(b, y);
        cs_nn_push(b, "rep.%d", 3 * j + 1 + shift);
        y = separable(b, y, cout[j], cs[j], cd[j]);
        cs_nn_pop(b);
        char bn[16];
        snprintf(bn, sizeof bn, "rep.%d", 3 * j + 2 + shift);
        y = cs_nn_bn(b, bn, y, XCEPTION_BN_EPS);
    }
    int skip = input;
    if (planes != in || stride != 1) {
        skip = cs_nn_conv(b, "skip", input, planes, 1, stride, 0, 1, 1, 0);
        skip = cs_nn_bn(b, "skipbn", skip, XCEPTION_BN_EPS);
    }
    return cs_nn_add(b, y, skip);
}

void cs_xception(cs_nn *b, int x, int output_stride, int width, cs_xception_features *f) {
    if (output_stride != 16 && output_stride != 8) {
        cs_nn_fail(b, CUSEG_ERR_INVALID_ARGUMENT, "xception: output stride must be 16 or 8, got %d",
                   output_stride);
        return;
    }
    if (width < 2) { /* the 32-channel stem would have no channels */
        cs_nn_fail(b, CUSEG_ERR_INVALID_ARGUMENT, "xception: width must be >= 2, got %d", width);
        return;
    }
#define C(n) ((n) * width / 64)
    const int entry3_stride = output_stride == 16 ? 2 : 1;
    const int middle_d = output_stride == 16 ? 1 : 2;
    const int exit_d0 = output_stride == 16 ? 1 : 2, exit_d1 = output_stride == 16 ? 2 : 4;

    /* Entry flow. */
    int y = cs_nn_conv_bn_relu(b, "conv1", "bn1", x, C(32), 3, 2, 1, 1, 1);
    y = cs_nn_conv_bn_relu(b, "conv2", "bn2", y, C(64), 3, 1, 1, 1, 1);
    cs_nn_push(b, "block1");
    y = block(b, y, C(64), C(128), 2, 2, 1, 0, 1, 0);
    cs_nn_pop(b);
    y = cs_nn_relu(b, y);
    f->low = y;
    f->low_channels = C(128);
    cs_nn_push(b, "block2");
    y = block(b, y, C(128), C(256), 2, 2, 1, 0, 1, 0);
    cs_nn_pop(b);
    cs_nn_push(b, "block3");
    y = block(b, y, C(256), C(728), 2, entry3_stride, 1, 1, 1, 1);
    cs_nn_pop(b);

    /* Middle flow: 16 identity-shortcut blocks. */
    for (int i = 4; i <= 19; ++i) {
        cs_nn_push(b, "block%d", i);
        y = block(b, y, C(728), C(728), 3, 1, middle_d, 1, 1, 0);
        cs_nn_pop(b);
    }

    /* Exit flow. */
    cs_nn_push(b, "block20");
    y = block(b, y, C(728), C(1024), 2, 1, exit_d0, 1, 0, 1);
    cs_nn_pop(b);
    y = cs_nn_relu(b, y);
    static const char *const conv[3] = {"conv3", "conv4", "conv5"}, *const bn[3] = {"bn3", "bn4", "bn5"};
    const int out[3] = {C(1536), C(1536), C(2048)};
    for (int i = 0; i < 3; ++i) {
        cs_nn_push(b, "%s", conv[i]);
        y = separable(b, y, out[i], 1, exit_d1);
        cs_nn_pop(b);
        y = cs_nn_relu(b, cs_nn_bn(b, bn[i], y, XCEPTION_BN_EPS));
    }
    f->out = y;
    f->out_channels = C(2048);
#undef C
}
