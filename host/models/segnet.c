/* SegNet (Badrinarayanan, Kendall, Cipolla; caffe-segnet / SegNet-Tutorial
 * segnet_inference.prototxt; models.md §5).
 *
 * Encoder: VGG16's 13 convs, each conv (bias) + BN + ReLU, and five 2x2/2
 * max pools (Caffe ceil rounding) that also keep their argmax indices.
 * Decoder: max-unpooling with those indices to the pre-pool size (zeros
 * elsewhere), then the mirrored convs conv<b>_<i>_D + BN + ReLU; the last,
 * conv1_1_D, is the classifier (no BN, no ReLU; softmax is left to the
 * caller).
 *
 * Names are the prototxt's layer names: conv1_1, conv1_1_bn, ...,
 * conv5_3_D, conv5_3_D_bn, ..., conv1_1_D. The BN layers use caffe-segnet's
 * eps 1e-9. A released inference caffemodel has BN folded into scale/shift
 * blobs: import them as weight = scale, bias = shift, running_mean = 0,
 * running_var = 1 (1 - 1e-9 rounds to 1 in float32).
 *
 * width scales the channels (w, 2w, 4w, 8w, 8w; 64 in the paper). */
#include <stdio.h>

#include "models/zoo.h"

static const int vgg_convs[5] = {2, 2, 3, 3, 3};

static int vgg_channels(int width, int block) { return width << (block < 5 ? block - 1 : 3); }

/* conv3x3 "<name>" + BN "<name>_bn" (eps 1e-9) + ReLU. */
static int conv_bn_relu(cs_nn *b, const char *name, int x, int ch) {
    char bn[48];
    snprintf(bn, sizeof bn, "%s_bn", name);
    x = cs_nn_conv(b, name, x, ch, 3, 1, 1, 1, 1, 1);
    return cs_nn_relu(b, cs_nn_bn(b, bn, x, 1e-9f));
}

static void build_segnet(cs_nn *b, cs_opts *o) {
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int classes = cs_nn_opt_int(b, o, "classes", 11, 1, 4096);
    const int width = cs_nn_opt_int(b, o, "width", 64, 1, 1024);
    cs_nn_preprocess_caffe_bgr(b, "0,0,0"); /* BGR 0-255, no mean in the tutorial prototxt */

    int x = cs_nn_input(b, "image", in_ch);
    int indices[5], unpooled_like[5];
    for (int blk = 1; blk <= 5; ++blk) {
        for (int i = 1; i <= vgg_convs[blk - 1]; ++i) {
            char name[32];
            snprintf(name, sizeof name, "conv%d_%d", blk, i);
            x = conv_bn_relu(b, name, x, vgg_channels(width, blk));
        }
        unpooled_like[blk - 1] = x; /* upsample<blk> restores this size */
        x = cs_nn_max_pool(b, x, 2, 2, 0, 1, &indices[blk - 1]);
    }
    for (int blk = 5; blk >= 1; --blk) {
        x = cs_nn_max_unpool(b, x, indices[blk - 1], unpooled_like[blk - 1]);
        for (int i = vgg_convs[blk - 1]; i >= 1; --i) {
            char name[32];
            snprintf(name, sizeof name, "conv%d_%d_D", blk, i);
            if (i > 1)
                x = conv_bn_relu(b, name, x, vgg_channels(width, blk));
            else if (blk > 1)
                x = conv_bn_relu(b, name, x, vgg_channels(width, blk - 1));
            else
                x = cs_nn_conv(b, name, x, classes, 3, 1, 1, 1, 1, 1); /* the classifier */
        }
    }
    cs_nn_output(b, x);
}

const cs_arch cs_archs_segnet[] = {
    {"segnet", "SegNet (caffe-segnet, VGG16 encoder with BN, max-unpooling decoder); options classes, in_channels, width",
     build_segnet},
    {0}};
