/* U-Net family (models.md §1).
 *
 * unet_bn: the padded U-Net with batch norm of milesial/Pytorch-UNet (§1.2),
 * parameter names as its state dict.
 * smp_unet: segmentation_models_pytorch's Unet with a ResNet encoder (§1.4,
 * §7.4) as smp 0.6 builds it, names as its state dict. */
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
        int u = bilinear ? cs_nn_resize_scale(b, x, 2.0, 1, 1)
                         : cs_nn_conv_transpose(b, "up", x, in / 2, 2, 2, 0, 1);
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

/* smp Unet: the decoder upsamples (nearest, to the exact size of the next
 * feature) and concatenates [up, skip] before two conv-BN-ReLU; the last
 * block reaches the input size with no skip; a 3x3 head gives the logits. */
static void build_smp_unet(cs_nn *b, cs_opts *o) {
    const char *backbone =
        cs_nn_opt_choice(b, o, "backbone", "resnet18|resnet34|resnet50|resnet101", "resnet34");
    const int classes = cs_nn_opt_int(b, o, "classes", 1, 1, 65536);
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int width = cs_nn_opt_int(b, o, "width", 64, 1, 4096);
    /* smp's default decoder_channels (256, 128, 64, 32, 16), divided by this. */
    const int div = cs_nn_opt_int(b, o, "decoder_div", 1, 1, 16);
    const int depth =
        backbone[6] == '1' ? (backbone[7] == '8' ? 18 : 101) : (backbone[6] == '3' ? 34 : 50);
    cs_nn_preprocess_imagenet(b);
    const int x = cs_nn_input(b, "image", in_ch);
    cs_resnet_features f;
    cs_nn_push(b, "encoder");
    cs_resnet(b, x, depth, 32, width, CS_DILATION_TORCHVISION, &f);
    cs_nn_pop(b);
    if (b->status != CUSEG_OK)
        return;
    /* Skips from deep to shallow, then the input's size with no skip. */
    const int targets[5] = {f.layer[2], f.layer[1], f.layer[0], f.stem, x};
    int y = f.layer[3];
    cs_nn_push(b, "decoder.blocks");
    for (int i = 0; i < 5; ++i) {
        cs_nn_push(b, "%d", i);
        y = cs_nn_resize_like(b, y, targets[i], 0, 0);
        if (i < 4)
            y = cs_nn_concat2(b, y, targets[i]);
        const int out = (256 >> i) / div;
        y = cs_nn_conv_bn_relu(b, "conv1.0", "conv1.1", y, out, 3, 1, 1, 1, 1);
        y = cs_nn_conv_bn_relu(b, "conv2.0", "conv2.1", y, out, 3, 1, 1, 1, 1);
        cs_nn_pop(b);
    }
    cs_nn_pop(b);
    cs_nn_push(b, "segmentation_head");
    cs_nn_output(b, cs_nn_conv(b, "0", y, classes, 3, 1, 1, 1, 1, 1));
    cs_nn_pop(b);
}

const cs_arch cs_archs_unet[] = {{"unet_bn",
                                  "padded U-Net with BN (milesial); options in_channels, classes, "
                                  "width, depth, upsampling=transpose|bilinear",
                                  build_unet_bn},
                                 {"smp_unet",
                                  "segmentation_models_pytorch Unet, ResNet encoder; options "
                                  "backbone=resnet18|34|50|101, classes, "
                                  "in_channels, width, decoder_div",
                                  build_smp_unet},
                                 {0}};
