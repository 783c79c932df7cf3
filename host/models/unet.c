/* U-Net family (models.md §1).
 *
 * unet_bn: the padded U-Net with batch norm of milesial/Pytorch-UNet (§1.2),
 * parameter names as its state dict. */
#include <stdio.h>

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

const cs_arch cs_archs_unet[] = {
    {"unet_bn", "padded U-Net with BN (milesial); options in_channels, classes, width, depth, upsampling=transpose|bilinear",
     build_unet_bn},
    {0}};
