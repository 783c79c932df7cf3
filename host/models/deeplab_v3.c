/* DeepLab v3 / v3+ family (models.md §4).
 *
 * smp_deeplabv3plus: segmentation_models_pytorch's DeepLabV3Plus (§4.3.2,
 * §7.5) as smp 0.6 builds it: a ResNet encoder dilated with make_dilated,
 * a separable ASPP with image pooling, 48-channel low-level projection,
 * bilinear (align_corners) upsampling, parameter names as smp's state dict.
 *
 * tv_deeplabv3, tv_fcn: torchvision's deeplabv3_resnet50/101 and
 * fcn_resnet50/101 (§4.3.1, §2.3, §7.2, §7.3), names as torchvision's. */
#include <stdio.h>

#include "models/backbones/resnet.h"
#include "models/zoo.h"

/* Depthwise k x k (dilation d) then pointwise 1x1, no biases: smp's
 * SeparableConv2d, named "<scope>.0" and "<scope>.1". */
static int separable(cs_nn *b, const char *scope, int x, int out, int d) {
    const int c = cs_nn_channels(b, x);
    cs_nn_push(b, "%s", scope);
    int y = cs_nn_conv(b, "0", x, c, 3, 1, d, d, c, 0);
    y = cs_nn_conv(b, "1", y, out, 1, 1, 0, 1, 1, 0);
    cs_nn_pop(b);
    return y;
}

/* ASPP: a 1x1 branch, three atrous branches (dense 3x3 as torchvision's
 * ASPPConv, or separable as smp's ASPPSeparableConv), image pooling; concat
 * and 1x1 projection (+ dropout, identity at inference). Names
 * "convs.<i>.<k>" and "project.*" in both layouts. */
static int aspp(cs_nn *b, int x, int out, const int rates[3], int separable_convs, float dropout) {
    int br[5];
    cs_nn_push(b, "convs");
    br[0] = cs_nn_conv_bn_relu(b, "0.0", "0.1", x, out, 1, 1, 0, 1, 1);
    for (int i = 1; i <= 3; ++i) {
        char conv[16], bn[16];
        snprintf(conv, sizeof conv, "%d.0", i);
        snprintf(bn, sizeof bn, "%d.1", i);
        br[i] =
            separable_convs
                ? cs_nn_relu(b, cs_nn_bn(b, bn, separable(b, conv, x, out, rates[i - 1]), 1e-5f))
                : cs_nn_conv_bn_relu(b, conv, bn, x, out, 3, 1, rates[i - 1], rates[i - 1], 1);
    }
    int pool = cs_nn_global_avg_pool(b, x);
    pool = cs_nn_conv_bn_relu(b, "4.1", "4.2", pool, out, 1, 1, 0, 1, 1);
    br[4] = cs_nn_resize_like(b, pool, x, 1, 0); /* F.interpolate(align_corners=False) */
    cs_nn_pop(b);
    int y = cs_nn_concat(b, br, 5);
    y = cs_nn_conv_bn_relu(b, "project.0", "project.1", y, out, 1, 1, 0, 1, 1);
    return cs_nn_dropout(b, y, dropout);
}

static void build_smp_deeplabv3plus(cs_nn *b, cs_opts *o) {
    const char *backbone =
        cs_nn_opt_choice(b, o, "backbone", "resnet18|resnet34|resnet50|resnet101", "resnet50");
    const int os = cs_nn_opt_int(b, o, "os", 16, 8, 16);
    const int classes = cs_nn_opt_int(b, o, "classes", 1, 1, 65536);
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int width = cs_nn_opt_int(b, o, "width", 64, 1, 4096);           /* encoder base width */
    const int dec = cs_nn_opt_int(b, o, "decoder_channels", 256, 1, 4096); /* smp's default */
    const float drop = (float)cs_nn_opt_float(b, o, "aspp_dropout", 0.5, 0.0, 0.99); /* smp's default */
    if (os != 8 && os != 16)
        cs_nn_fail(b, CUSEG_ERR_INVALID_ARGUMENT, "option os=%d: expected 8 or 16", os);
    const int depth =
        backbone[6] == '1' ? (backbone[7] == '8' ? 18 : 101) : (backbone[6] == '3' ? 34 : 50);
    cs_nn_preprocess_imagenet(b);

    const int x = cs_nn_input(b, "image", in_ch);
    cs_resnet_features f;
    cs_nn_push(b, "encoder");
    cs_resnet(b, x, depth, os, width, CS_DILATION_SMP, &f);
    cs_nn_pop(b);
    if (b->status != CUSEG_OK)
        return;

    cs_nn_push(b, "decoder");
    static const int rates[3] = {12, 24, 36};
    cs_nn_push(b, "aspp.0");
    int y = aspp(b, f.layer[3], dec, rates, 1, drop);
    cs_nn_pop(b);
    cs_nn_push(b, "aspp");
    y = cs_nn_relu(b, cs_nn_bn(b, "2", separable(b, "1", y, dec, 1), 1e-5f));
    cs_nn_pop(b);
    y = cs_nn_resize_scale(b, y, os == 16 ? 4.0 : 2.0, 1, 1);
    const int high = cs_nn_conv_bn_relu(b, "block1.0", "block1.1", f.layer[0], 48, 1, 1, 0, 1, 1);
    y = cs_nn_concat2(b, y, high);
    y = cs_nn_relu(b, cs_nn_bn(b, "block2.1", separable(b, "block2.0", y, dec, 1), 1e-5f));
    cs_nn_pop(b);

    cs_nn_push(b, "segmentation_head");
    y = cs_nn_conv(b, "0", y, classes, 1, 1, 0, 1, 1, 1);
    cs_nn_pop(b);
    cs_nn_output(b, cs_nn_resize_scale(b, y, 4.0, 1, 1)); /* UpsamplingBilinear2d */
}

/* torchvision's FCNHead: 3x3 conv (in/4 channels) + BN + ReLU + dropout 0.1 +
 * 1x1 conv; names "<scope>.0", ".1", ".4". */
static int fcn_head(cs_nn *b, const char *scope, int x, int inter, int classes) {
    cs_nn_push(b, "%s", scope);
    int y = cs_nn_conv_bn_relu(b, "0", "1", x, inter, 3, 1, 1, 1, 1);
    y = cs_nn_dropout(b, y, 0.1f);
    y = cs_nn_conv(b, "4", y, classes, 1, 1, 0, 1, 1, 1);
    cs_nn_pop(b);
    return y;
}

/* torchvision segmentation models on a ResNet with OS 8
 * (replace_stride_with_dilation=[False, True, True]); logits upsampled to
 * the input (bilinear, align_corners=False); the aux head reads layer3. */
static void build_torchvision(cs_nn *b, cs_opts *o, int deeplab) {
    const char *backbone = cs_nn_opt_choice(b, o, "backbone", "resnet50|resnet101", "resnet50");
    const int classes = cs_nn_opt_int(b, o, "classes", 21, 1, 65536);
    const int aux = cs_nn_opt_int(b, o, "aux", 1, 0, 1);
    const int width = cs_nn_opt_int(b, o, "width", 64, 1, 4096);
    /* ASPP / DeepLabHead channels; FCNHead has no such option (in/4). */
    const int head = deeplab ? cs_nn_opt_int(b, o, "head_channels", 256, 1, 4096) : 0;
    cs_nn_preprocess_imagenet(b);
    const int x = cs_nn_input(b, "image", 3);
    cs_resnet_features f;
    cs_nn_push(b, "backbone");
    cs_resnet(b, x, backbone[6] == '5' ? 50 : 101, 8, width, CS_DILATION_TORCHVISION, &f);
    cs_nn_pop(b);
    if (b->status != CUSEG_OK)
        return;
    int y;
    if (deeplab) {
        static const int rates[3] = {12, 24, 36};
        cs_nn_push(b, "classifier");
        cs_nn_push(b, "0");
        y = aspp(b, f.layer[3], head, rates, 0, 0.5f);
        cs_nn_pop(b);
        y = cs_nn_conv_bn_relu(b, "1", "2", y, head, 3, 1, 1, 1, 1);
        y = cs_nn_conv(b, "4", y, classes, 1, 1, 0, 1, 1, 1);
        cs_nn_pop(b);
    } else {
        y = fcn_head(b, "classifier", f.layer[3], f.channels[3] / 4, classes);
    }
    cs_nn_output(b, cs_nn_resize_like(b, y, x, 1, 0));
    if (aux) {
        const int a = fcn_head(b, "aux_classifier", f.layer[2], f.channels[2] / 4, classes);
        cs_nn_output(b, cs_nn_resize_like(b, a, x, 1, 0));
    }
}

static void build_tv_deeplabv3(cs_nn *b, cs_opts *o) { build_torchvision(b, o, 1); }
static void build_tv_fcn(cs_nn *b, cs_opts *o) { build_torchvision(b, o, 0); }

const cs_arch cs_archs_deeplab_v3[] = {{"smp_deeplabv3plus",
                                        "segmentation_models_pytorch DeepLabV3Plus; options "
                                        "backbone=resnet18|34|50|101, os=16|8, classes, "
                                        "in_channels, width, decoder_channels, aspp_dropout",
                                        build_smp_deeplabv3plus},
                                       {"tv_deeplabv3",
                                        "torchvision deeplabv3_resnet50/101 (v3, OS 8, outputs out "
                                        "and aux); options backbone, classes, aux=0|1, "
                                        "width, head_channels",
                                        build_tv_deeplabv3},
                                       {"tv_fcn",
                                        "torchvision fcn_resnet50/101 (OS 8, outputs out and aux); "
                                        "options backbone, classes, aux=0|1, width",
                                        build_tv_fcn},
                                       {0}};
