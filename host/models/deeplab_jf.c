/* DeepLab v3+ in the layout of jfzhang95/pytorch-deeplab-xception (models.md
 * §4.1-§4.4, §7.6): backbone (ResNet-50/101 with jfzhang95's multi-grid
 * layer4, aligned Xception-65, or MobileNetV2) -> ASPP (1x1, three atrous
 * 3x3, image pooling; concat; 1x1) -> decoder (48-channel low-level
 * projection, concat [ASPP upsampled, low-level], two 3x3 convs, 1x1
 * classifier) -> bilinear upsampling to the input; every resize is bilinear
 * with align_corners=True, as jfzhang95. Parameter names are its state
 * dict's: backbone.*, aspp.aspp{1..4}.{atrous_conv,bn}, aspp.global_avg_pool.{1,2},
 * aspp.{conv1,bn1}, decoder.{conv1,bn1}, decoder.last_conv.{0,1,4,5,8}.
 *
 * separable=1 is the TF/paper variant (§4.3.4 item 3, §4.4): the atrous ASPP
 * convs and both decoder 3x3 convs become depthwise 3x3 + BN + ReLU +
 * pointwise 1x1 (then the module's BN + ReLU as before), with the child names
 * of jfzhang95's own SeparableConv2d: <conv>.conv1 (depthwise), <conv>.bn,
 * <conv>.pointwise. */
#include <stdio.h>
#include <string.h>

#include "models/backbones/mobilenet_v2.h"
#include "models/backbones/xception.h"
#include "models/zoo.h"

#define JF_BN_EPS 1e-5f

/* ---- ResNet of jfzhang95 (modeling/backbone/resnet.py) --------------------
 * torchvision's names, but its own dilation rule: at OS 16 layer4 has stride
 * 1 and dilations 2, 4, 8 (multi-grid 1, 2, 4 on rate 2); at OS 8 layer3 has
 * stride 1 and dilation 2 in every block (the first one included) and layer4
 * 4, 8, 16. layer4 always has three blocks. */

static int jf_bottleneck(cs_nn *b, int x, int inplanes, int planes, int stride, int dilation) {
    int y = cs_nn_conv_bn_relu(b, "conv1", "bn1", x, planes, 1, 1, 0, 1, 1);
    y = cs_nn_conv_bn_relu(b, "conv2", "bn2", y, planes, 3, stride, dilation, dilation, 1);
    y = cs_nn_conv_bn_relu(b, "conv3", "bn3", y, planes * 4, 1, 1, 0, 1, 0);
    int identity = x;
    if (stride != 1 || inplanes != planes * 4) {
        cs_nn_push(b, "downsample");
        identity = cs_nn_conv_bn_relu(b, "0", "1", x, planes * 4, 1, stride, 0, 1, 0);
        cs_nn_pop(b);
    }
    return cs_nn_relu(b, cs_nn_add(b, y, identity));
}

/* Returns layer4; *low = layer1 (stride 4, 4 * width channels). */
static int jf_resnet(cs_nn *b, int x, int depth, int os, int width, int *low) {
    const int blocks[3] = {3, 4, depth == 50 ? 6 : 23};
    const int strides[4] = {1, 2, os == 16 ? 2 : 1, 1};
    const int dilations[4] = {1, 1, os == 16 ? 1 : 2, os == 16 ? 2 : 4};
    static const int multi_grid[3] = {1, 2, 4};
    int y = cs_nn_conv_bn_relu(b, "conv1", "bn1", x, width, 7, 2, 3, 1, 1);
    y = cs_nn_max_pool(b, y, 3, 2, 1, 0, NULL);
    int inplanes = width;
    for (int s = 0; s < 4; ++s) {
        const int planes = width << s, n = s < 3 ? blocks[s] : 3;
        cs_nn_push(b, "layer%d", s + 1);
        for (int k = 0; k < n; ++k) {
            cs_nn_push(b, "%d", k);
            const int d = s < 3 ? dilations[s] : multi_grid[k] * dilations[3];
            y = jf_bottleneck(b, y, inplanes, planes, k == 0 ? strides[s] : 1, d);
            inplanes = planes * 4;
            cs_nn_pop(b);
        }
        cs_nn_pop(b);
        if (s == 0) *low = y;
    }
    return y;
}

/* ---- head ------------------------------------------------------------------ */

/* A 3x3 conv of the head (dilation d): dense (no bias), or TF-style separable
 * named <name>.conv1 / .bn / .pointwise. The caller adds BN + ReLU. */
static int head_conv3x3(cs_nn *b, const char *name, int x, int out, int d, int separable) {
    if (!separable) return cs_nn_conv(b, name, x, out, 3, 1, d, d, 1, 0);
    const int c = cs_nn_channels(b, x);
    cs_nn_push(b, "%s", name);
    int y = cs_nn_conv(b, "conv1", x, c, 3, 1, d, d, c, 0);
    y = cs_nn_relu(b, cs_nn_bn(b, "bn", y, JF_BN_EPS));
    y = cs_nn_conv(b, "pointwise", y, out, 1, 1, 0, 1, 1, 0);
    cs_nn_pop(b);
    return y;
}

static int aspp(cs_nn *b, int x, int os, int planes, int separable) {
    const int rates[3] = {os == 16 ? 6 : 12, os == 16 ? 12 : 24, os == 16 ? 18 : 36};
    int br[5];
    cs_nn_push(b, "aspp");
    br[0] = cs_nn_conv_bn_relu(b, "aspp1.atrous_conv", "aspp1.bn", x, planes, 1, 1, 0, 1, 1);
    for (int i = 0; i < 3; ++i) {
        cs_nn_push(b, "aspp%d", i + 2);
        br[i + 1] = cs_nn_relu(b, cs_nn_bn(b, "bn", head_conv3x3(b, "atrous_conv", x, planes, rates[i], separable),
                                           JF_BN_EPS));
        cs_nn_pop(b);
    }
    int pool = cs_nn_global_avg_pool(b, x);
    pool = cs_nn_conv_bn_relu(b, "global_avg_pool.1", "global_avg_pool.2", pool, planes, 1, 1, 0, 1, 1);
    br[4] = cs_nn_resize_like(b, pool, x, 1, 1);
    int y = cs_nn_concat(b, br, 5);
    y = cs_nn_conv_bn_relu(b, "conv1", "bn1", y, planes, 1, 1, 0, 1, 1);
    y = cs_nn_dropout(b, y, 0.5f);
    cs_nn_pop(b);
    return y;
}

static int decoder(cs_nn *b, int x, int low, int planes, int classes, int separable) {
    cs_nn_push(b, "decoder");
    low = cs_nn_conv_bn_relu(b, "conv1", "bn1", low, 48, 1, 1, 0, 1, 1);
    int y = cs_nn_concat2(b, cs_nn_resize_like(b, x, low, 1, 1), low);
    cs_nn_push(b, "last_conv");
    y = cs_nn_relu(b, cs_nn_bn(b, "1", head_conv3x3(b, "0", y, planes, 1, separable), JF_BN_EPS));
    y = cs_nn_dropout(b, y, 0.5f);
    y = cs_nn_relu(b, cs_nn_bn(b, "5", head_conv3x3(b, "4", y, planes, 1, separable), JF_BN_EPS));
    y = cs_nn_dropout(b, y, 0.1f);
    y = cs_nn_conv(b, "8", y, classes, 1, 1, 0, 1, 1, 1);
    cs_nn_pop(b);
    cs_nn_pop(b);
    return y;
}

static void build_deeplabv3plus(cs_nn *b, cs_opts *o) {
    /* jfzhang95's defaults: ResNet-101, OS 16, 21 classes (VOC). */
    const char *backbone =
        cs_nn_opt_choice(b, o, "backbone", "resnet50|resnet101|xception|mobilenet", "resnet101");
    const int os = cs_nn_opt_int(b, o, "os", 16, 8, 16);
    const int classes = cs_nn_opt_int(b, o, "classes", 21, 1, 65536);
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int width = cs_nn_opt_int(b, o, "width", 64, 1, 4096);
    const int head = cs_nn_opt_int(b, o, "head_channels", 256, 1, 4096);
    const int separable = cs_nn_opt_int(b, o, "separable", 0, 0, 1);
    if (b->status == CUSEG_OK && os != 8 && os != 16)
        cs_nn_fail(b, CUSEG_ERR_INVALID_ARGUMENT, "option os=%d: expected 8 or 16", os);
    if (b->status != CUSEG_OK) return;
    cs_nn_preprocess_imagenet(b); /* §0.7: jfzhang95 normalises like torchvision */

    const int x = cs_nn_input(b, "image", in_ch);
    int high, low;
    cs_nn_push(b, "backbone");
    if (strcmp(backbone, "xception") == 0) {
        cs_xception_features f;
        cs_xception(b, x, os, width, &f);
        high = f.out, low = f.low;
    } else if (strcmp(backbone, "mobilenet") == 0) {
        cs_mobilenet_v2_features f;
        cs_mobilenet_v2_jf(b, x, os, width, &f);
        high = f.out, low = f.low;
    } else {
        high = jf_resnet(b, x, strcmp(backbone, "resnet50") == 0 ? 50 : 101, os, width, &low);
    }
    cs_nn_pop(b);
    if (b->status != CUSEG_OK) return;
    const int y = decoder(b, aspp(b, high, os, head, separable), low, head, classes, separable);
    cs_nn_output(b, cs_nn_resize_like(b, y, x, 1, 1));
}

const cs_arch cs_archs_deeplab_jf[] = {
    {"deeplabv3plus",
     "DeepLab v3+ in the jfzhang95/pytorch-deeplab-xception layout; options "
     "backbone=resnet101|resnet50|xception|mobilenet, os=16|8, classes (21), separable=0|1 "
     "(TF-style separable ASPP/decoder), width (64; Xception/MobileNetV2 channels scale by "
     "width/64), head_channels (256), in_channels",
     build_deeplabv3plus},
    {0}};
