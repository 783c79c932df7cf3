/* U-Net family (models.md §1).
 *
 * unet:       the original valid-convolution U-Net (§1.1), parameter names
 *             as the widely used PyTorch port jvanvugt/pytorch-unet
 *             (padding=False, batch_norm=False, up_mode='upconv').
 * unet_bn:    the padded U-Net with batch norm of milesial/Pytorch-UNet
 *             (§1.2), parameter names as its state dict.
 * unet_vgg16: the Keras VGG16-encoder U-Net (§1.3); see build_unet_vgg16
 *             for its PyTorch names.
 * smp_unet:   segmentation_models_pytorch's Unet with a resnet34 or vgg16
 *             encoder (§1.4, §7.4), parameter names as smp's state dict. */
#include <stdio.h>

#include "models/backbones/resnet.h"
#include "models/zoo.h"

/* [conv3x3 (no bias) -> BN -> ReLU] x 2, as milesial's DoubleConv. */
static int double_conv(cs_nn *b, int x, int mid, int out) {
    cs_nn_push(b, "double_conv");
    int y = cs_nn_conv_bn_relu(b, "0", "1", x, mid, 3, 1, 1, 1, 1);
    y = cs_nn_conv_bn_relu(b, "3", "4", y, out, 3, 1, 1, 1, 1);
    cs_nn_pop(b);
    return y;
}

static void build_unet_bn(cs_nn *b, cs_opts *o) {
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int classes = cs_nn_opt_int(b, o, "classes", 2, 1, 65536);
    const int w = cs_nn_opt_int(b, o, "width", 64, 1, 4096);
    const int depth = cs_nn_opt_int(b, o, "depth", 4, 1, 8);
    const char *up = cs_nn_opt_choice(b, o, "upsampling", "transpose|bilinear", "transpose");
    const int bilinear = up[0] == 'b', factor = bilinear ? 2 : 1;
    cs_nn_preprocess_unit(b);

    int skip[9];
    int x = cs_nn_input(b, "image", in_ch);
    cs_nn_push(b, "inc");
    x = skip[0] = double_conv(b, x, w, w);
    cs_nn_pop(b);
    for (int k = 1; k <= depth; ++k) { /* Down: max pool 2x2, DoubleConv */
        const int ch = (w << k) / (k == depth ? factor : 1);
        cs_nn_push(b, "down%d.maxpool_conv", k);
        x = cs_nn_max_pool(b, x, 2, 2, 0, 0, NULL);
        cs_nn_push(b, "1");
        x = skip[k] = double_conv(b, x, ch, ch);
        cs_nn_pop(b);
        cs_nn_pop(b);
    }
    for (int k = 1; k <= depth; ++k) { /* Up: upsample, pad to the skip, [skip, up], DoubleConv */
        const int in = w << (depth - k + 1);
        const int out = k == depth ? w : (w << (depth - k)) / factor;
        cs_nn_push(b, "up%d", k);
        int u = bilinear ? cs_nn_resize_scale(b, x, 2.0, 1, 1) : cs_nn_conv_transpose(b, "up", x, in / 2, 2, 2, 0, 1);
        u = cs_nn_pad_to(b, u, skip[depth - k]);
        const int cat = cs_nn_concat2(b, skip[depth - k], u);
        cs_nn_push(b, "conv");
        x = double_conv(b, cat, bilinear ? in / 2 : out, out);
        cs_nn_pop(b);
        cs_nn_pop(b);
    }
    cs_nn_push(b, "outc");
    x = cs_nn_conv(b, "conv", x, classes, 1, 1, 0, 1, 1, 1);
    cs_nn_pop(b);
    cs_nn_output(b, x);
}

/* Two unpadded 3x3 conv + ReLU (jvanvugt's UNetConvBlock: block.0, block.2). */
static int valid_conv_block(cs_nn *b, int x, int ch) {
    cs_nn_push(b, "block");
    x = cs_nn_conv_bn_relu(b, "0", NULL, x, ch, 3, 1, 0, 1, 1);
    x = cs_nn_conv_bn_relu(b, "2", NULL, x, ch, 3, 1, 0, 1, 1);
    cs_nn_pop(b);
    return x;
}

/* The original U-Net. Every skip is centre-cropped to the up-convolution's
 * size; an input whose max-pools would see an odd size (an illegal size,
 * §1.1: legal inputs are 16b + 124 at depth 4) gives an odd crop difference,
 * which the plan rejects. */
static void build_unet(cs_nn *b, cs_opts *o) {
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 1, 1, 4096);
    const int classes = cs_nn_opt_int(b, o, "classes", 2, 1, 65536);
    const int w = cs_nn_opt_int(b, o, "width", 64, 1, 4096);
    const int depth = cs_nn_opt_int(b, o, "depth", 4, 1, 8);
    cs_nn_preprocess_unit(b);

    int skip[9];
    int x = cs_nn_input(b, "image", in_ch);
    for (int k = 0; k <= depth; ++k) { /* contracting path */
        cs_nn_push(b, "down_path.%d", k);
        x = valid_conv_block(b, x, w << k);
        cs_nn_pop(b);
        if (k < depth) {
            skip[k] = x;
            x = cs_nn_max_pool(b, x, 2, 2, 0, 0, NULL);
        }
    }
    for (int j = 0; j < depth; ++j) { /* expansive path: up-conv, [up, cropped skip], convs */
        const int level = depth - 1 - j, ch = w << level;
        cs_nn_push(b, "up_path.%d", j);
        const int up = cs_nn_conv_transpose(b, "up", x, ch, 2, 2, 0, 1);
        const int cat = cs_nn_concat2(b, up, cs_nn_crop_center(b, skip[level], up));
        cs_nn_push(b, "conv_block");
        x = valid_conv_block(b, cat, ch);
        cs_nn_pop(b);
        cs_nn_pop(b);
    }
    cs_nn_output(b, cs_nn_conv(b, "last", x, classes, 1, 1, 0, 1, 1, 1));
}

/* Conv 3x3 'same' + bias + ReLU. */
static int conv3_relu(cs_nn *b, const char *name, int x, int ch) {
    return cs_nn_conv_bn_relu(b, name, NULL, x, ch, 3, 1, 1, 1, 1);
}

/* The Keras VGG16-encoder U-Net (§1.3; the tutorial in shared/seeds/002 minus
 * its BatchNormalization layers and third conv9, as §1.3's table and counts
 * have it). Keras names do not exist in PyTorch; the reference module of
 * tests/golden/make_golden_unet.py uses these, and a Keras file converts as
 *   VGG16 layer blockB_convI (kernel, bias)  -> blockB_convI.{weight,bias}
 *   decoder stage s = 6..9 (filters 512, 256, 128, 64):
 *     the 2x2 conv after UpSampling2D        -> up<s>.{weight,bias}
 *     its two 3x3 convs                      -> conv<s>_1, conv<s>_2
 *   the 1x1 sigmoid conv                     -> conv10
 * with kernels permuted HWIO -> OIHW (3,2,0,1). Dropout (inference: identity)
 * is left out. Skips and up-samplings meet only when H and W are multiples
 * of 16; otherwise the concat rejects the sizes at plan time, like Keras. */
static void build_unet_vgg16(cs_nn *b, cs_opts *o) {
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int classes = cs_nn_opt_int(b, o, "classes", 1, 1, 65536);
    const int w = cs_nn_opt_int(b, o, "width", 64, 1, 4096);
    cs_nn_preprocess_caffe_bgr(b, "103.939,116.779,123.68"); /* vgg16.preprocess_input */

    static const int convs[5] = {2, 2, 3, 3, 3};
    int skip[4];
    int x = cs_nn_input(b, "image", in_ch);
    for (int blk = 1; blk <= 5; ++blk) {
        if (blk > 1) x = cs_nn_max_pool(b, x, 2, 2, 0, 0, NULL);
        for (int i = 1; i <= convs[blk - 1]; ++i) {
            char name[32];
            snprintf(name, sizeof name, "block%d_conv%d", blk, i);
            x = conv3_relu(b, name, x, w << (blk < 5 ? blk - 1 : 3));
        }
        if (blk < 5) skip[blk - 1] = x;
    }
    /* Keras Conv2D(f, 2, padding='same'): TF puts the one pixel of padding
     * bottom/right. */
    cuseg_conv2d_params up2 = {.kernel_h = 2, .kernel_w = 2, .stride_h = 1, .stride_w = 1,
                               .pad_bottom = 1, .pad_right = 1, .dilation_h = 1, .dilation_w = 1,
                               .groups = 1, .has_bias = 1};
    for (int s = 6; s <= 9; ++s) {
        char name[32];
        up2.out_channels = w << (9 - s);
        snprintf(name, sizeof name, "up%d", s);
        const int up = cs_nn_relu(b, cs_nn_conv_p(b, name, cs_nn_resize_scale(b, x, 2.0, 0, 0), &up2));
        x = cs_nn_concat2(b, skip[9 - s], up);
        snprintf(name, sizeof name, "conv%d_1", s);
        x = conv3_relu(b, name, x, w << (9 - s));
        snprintf(name, sizeof name, "conv%d_2", s);
        x = conv3_relu(b, name, x, w << (9 - s));
    }
    cs_nn_output(b, cs_nn_sigmoid(b, cs_nn_conv(b, "conv10", x, classes, 1, 1, 0, 1, 1, 1)));
}

/* smp's Conv2dReLU: conv (no bias) "0", BN "1", ReLU. */
static int smp_conv_bn_relu(cs_nn *b, const char *name, int x, int ch) {
    cs_nn_push(b, "%s", name);
    x = cs_nn_conv_bn_relu(b, "0", "1", x, ch, 3, 1, 1, 1, 1);
    cs_nn_pop(b);
    return x;
}

/* torchvision vgg16.features (cfg 'D', no BN) under "encoder": smp's taps
 * are the ReLU before each max-pool (f0..f4, strides 1..16) and pool5 (f5). */
static void smp_vgg16_encoder(cs_nn *b, int x, int feats[6], int channels[6]) {
    static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    int index = 0, n = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; ++i) {
        if (cfg[i] == 0) { /* MaxPool2d(2, 2) */
            feats[n] = x;
            channels[n++] = cfg[i - 1];
            x = cs_nn_max_pool(b, x, 2, 2, 0, 0, NULL);
            index += 1;
        } else { /* Conv2d 3x3 pad 1 + ReLU: two indices */
            char name[32];
            snprintf(name, sizeof name, "features.%d", index);
            x = conv3_relu(b, name, x, cfg[i]);
            index += 2;
        }
    }
    feats[5] = x;
    channels[5] = 512;
}

static void build_smp_unet(cs_nn *b, cs_opts *o) {
    const char *backbone =
        cs_nn_opt_choice(b, o, "backbone", "resnet18|resnet34|resnet50|resnet101|vgg16", "resnet34");
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int classes = cs_nn_opt_int(b, o, "classes", 1, 1, 65536);
    const int width = cs_nn_opt_int(b, o, "width", 64, 1, 4096); /* ResNet base width */
    /* smp's default decoder_channels (256, 128, 64, 32, 16), divided by this. */
    const int div = cs_nn_opt_int(b, o, "decoder_div", 1, 1, 16);
    const int vgg = backbone[0] == 'v';
    const int depth = vgg ? 0 : backbone[6] == '1' ? (backbone[7] == '8' ? 18 : 101) : (backbone[6] == '3' ? 34 : 50);
    cs_nn_preprocess_imagenet(b);

    int f[6], ch[6]; /* encoder features f0..f5, strides 1, 2, 4, 8, 16, 32 */
    const int image = cs_nn_input(b, "image", in_ch);
    cs_nn_push(b, "encoder");
    if (vgg) {
        smp_vgg16_encoder(b, image, f, ch);
    } else {
        cs_resnet_features r;
        cs_resnet(b, image, depth, 32, width, CS_DILATION_TORCHVISION, &r);
        f[0] = image;
        f[1] = r.stem;
        for (int k = 0; k < 4; ++k) f[k + 2] = r.layer[k];
    }
    cs_nn_pop(b);

    /* UnetDecoder: f0 is dropped as a skip (its size still sets the last
     * block's); vgg encoders get a CenterBlock on f5. */
    cs_nn_push(b, "decoder");
    int x = f[5];
    if (vgg) {
        cs_nn_push(b, "center");
        x = smp_conv_bn_relu(b, "0", x, ch[5]);
        x = smp_conv_bn_relu(b, "1", x, ch[5]);
        cs_nn_pop(b);
    }
    for (int i = 0; i < 5; ++i) { /* nearest to the skip's size, [up, skip], 2 x Conv2dReLU */
        const int target = f[4 - i], out = (256 >> i) / div;
        cs_nn_push(b, "blocks.%d", i);
        x = cs_nn_resize_like(b, x, target, 0, 0);
        if (i < 4) x = cs_nn_concat2(b, x, target);
        x = smp_conv_bn_relu(b, "conv1", x, out);
        x = smp_conv_bn_relu(b, "conv2", x, out);
        cs_nn_pop(b);
    }
    cs_nn_pop(b);
    cs_nn_push(b, "segmentation_head");
    x = cs_nn_conv(b, "0", x, classes, 3, 1, 1, 1, 1, 1);
    cs_nn_pop(b);
    cs_nn_output(b, x);
}

const cs_arch cs_archs_unet[] = {
    {"unet", "original U-Net, valid convolutions and centre-cropped skips; options in_channels, classes, width, depth",
     build_unet},
    {"unet_bn", "padded U-Net with BN (milesial); options in_channels, classes, width, depth, upsampling=transpose|bilinear",
     build_unet_bn},
    {"unet_vgg16", "Keras-style U-Net on a VGG16 encoder, sigmoid head; options in_channels, classes, width",
     build_unet_vgg16},
    {"smp_unet", "segmentation_models_pytorch Unet; options backbone=resnet18|34|50|101|vgg16, in_channels, classes, "
     "width (ResNet), decoder_div",
     build_smp_unet},
    {0}};
