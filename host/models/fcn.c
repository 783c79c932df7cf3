/* FCN-32s / 16s / 8s on VGG16 (Long, Shelhamer, Darrell; models.md §2.1, §2.2).
 *
 * Parameter names are wkentaro/pytorch-fcn's (torchfcn/models/fcn{32,16,8}s.py),
 * which are the Caffe layer names: conv1_1 .. conv5_3, fc6, fc7, score_fr,
 * score_pool4, score_pool3 and the bias-free transposed convs upscore
 * (32s), upscore2 + upscore16 (16s), upscore2 + upscore_pool4 + upscore8
 * (8s). The transposed convs are frozen bilinear kernels in the released
 * nets (lr_mult 0), so the builder sets them (§0.6); a state dict holds the
 * same values.
 *
 * pad100=1 (default): the original Caffe net. conv1_1 has pad 100, pooling
 * rounds up, fc6 is a valid 7x7 conv, and the score maps are aligned by
 * Caffe crops at the offsets §2.1 derives (5 / 9 / 31 for 8s, 5 / 27 for
 * 16s, 19 for 32s), which hold for any input size.
 * pad100=0: the "modern" padded variant (§2.2): pad 1 everywhere, floor
 * pooling, fc6 pad 3, transposed convs with padding (exact x2 / x8 / x16 /
 * x32), sums without crops. Inputs must be multiples of 32, otherwise the
 * sums see different sizes and planning fails.
 *
 * width scales VGG's channels (width, 2, 4, 8, 8 x width) and the fc layers
 * (64 x width: 4096 at the default 64). */
#include <stdio.h>

#include "models/zoo.h"

typedef struct fcn_trunk {
    int pool3, pool4, score_fr;
} fcn_trunk;

/* VGG16 conv1_1 .. pool5, then fc6, fc7 and score_fr. */
static fcn_trunk vgg16_fc(cs_nn *b, int x, int width, int classes, int pad100) {
    static const int convs[5] = {2, 2, 3, 3, 3};
    fcn_trunk t = {-1, -1, -1};
    for (int blk = 1; blk <= 5; ++blk) {
        const int ch = width << (blk < 5 ? blk - 1 : 3);
        for (int i = 1; i <= convs[blk - 1]; ++i) {
            char name[32];
            snprintf(name, sizeof name, "conv%d_%d", blk, i);
            /* The 100-px pad keeps fc6's valid 7x7 conv and every crop legal
             * for small inputs (§2.1). */
            const int pad = blk == 1 && i == 1 && pad100 ? 100 : 1;
            x = cs_nn_relu(b, cs_nn_conv(b, name, x, ch, 3, 1, pad, 1, 1, 1));
        }
        x = cs_nn_max_pool(b, x, 2, 2, 0, pad100, NULL); /* Caffe rounds up */
        if (blk == 3) t.pool3 = x;
        if (blk == 4) t.pool4 = x;
    }
    const int fc = 64 * width;
    x = cs_nn_dropout(b, cs_nn_relu(b, cs_nn_conv(b, "fc6", x, fc, 7, 1, pad100 ? 0 : 3, 1, 1, 1)), 0.5f);
    x = cs_nn_dropout(b, cs_nn_relu(b, cs_nn_conv(b, "fc7", x, fc, 1, 1, 0, 1, 1, 1)), 0.5f);
    t.score_fr = cs_nn_conv(b, "score_fr", x, classes, 1, 1, 0, 1, 1, 1);
    return t;
}

/* Frozen bilinear up-sampling by `factor` (k = 2f - f mod 2, §0.6); the
 * padded variant pads f/2 so that the output is exactly f times larger. */
static int upscore(cs_nn *b, const char *name, int x, int classes, int factor, int pad100) {
    const int k = 2 * factor - factor % 2;
    const int y = cs_nn_conv_transpose(b, name, x, classes, k, factor, pad100 ? 0 : factor / 2, 0);
    char param[32];
    snprintf(param, sizeof param, "%s.weight", name);
    cs_nn_set_bilinear_kernel(b, param, classes, k);
    return y;
}

/* Caffe's Crop (offset on H and W) to like's size, or nothing when padded. */
static int align(cs_nn *b, int x, int like, int offset, int pad100) {
    return pad100 ? cs_nn_crop(b, x, like, offset, offset) : x;
}

static void build_fcn(cs_nn *b, cs_opts *o, int stride) {
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int classes = cs_nn_opt_int(b, o, "classes", 21, 1, 4096);
    const int width = cs_nn_opt_int(b, o, "width", 64, 1, 1024);
    const int pad100 = cs_nn_opt_int(b, o, "pad100", 1, 0, 1);
    cs_nn_preprocess_caffe_bgr(b, "104.00699,116.66877,122.67892");

    const int image = cs_nn_input(b, "image", in_ch);
    const fcn_trunk t = vgg16_fc(b, image, width, classes, pad100);
    int x;
    if (stride == 32) {
        x = align(b, upscore(b, "upscore", t.score_fr, classes, 32, pad100), image, 19, pad100);
    } else {
        const int up2 = upscore(b, "upscore2", t.score_fr, classes, 2, pad100);
        const int p4 = cs_nn_conv(b, "score_pool4", t.pool4, classes, 1, 1, 0, 1, 1, 1);
        x = cs_nn_add(b, up2, align(b, p4, up2, 5, pad100)); /* fuse_pool4 */
        if (stride == 16) {
            x = align(b, upscore(b, "upscore16", x, classes, 16, pad100), image, 27, pad100);
        } else {
            const int up4 = upscore(b, "upscore_pool4", x, classes, 2, pad100);
            const int p3 = cs_nn_conv(b, "score_pool3", t.pool3, classes, 1, 1, 0, 1, 1, 1);
            x = cs_nn_add(b, up4, align(b, p3, up4, 9, pad100)); /* fuse_pool3 */
            x = align(b, upscore(b, "upscore8", x, classes, 8, pad100), image, 31, pad100);
        }
    }
    cs_nn_output(b, x);
}

static void build_fcn8s(cs_nn *b, cs_opts *o) { build_fcn(b, o, 8); }
static void build_fcn16s(cs_nn *b, cs_opts *o) { build_fcn(b, o, 16); }
static void build_fcn32s(cs_nn *b, cs_opts *o) { build_fcn(b, o, 32); }

#define FCN_OPTIONS "options classes, in_channels, width, pad100=1 (Caffe: pad 100 + crops) | 0 (padded, sizes multiple of 32)"

const cs_arch cs_archs_fcn[] = {
    {"fcn8s", "FCN-8s on VGG16 (Caffe voc-fcn8s, wkentaro names); " FCN_OPTIONS, build_fcn8s},
    {"fcn16s", "FCN-16s on VGG16 (Caffe voc-fcn16s, wkentaro names); " FCN_OPTIONS, build_fcn16s},
    {"fcn32s", "FCN-32s on VGG16 (Caffe voc-fcn32s, wkentaro names); " FCN_OPTIONS, build_fcn32s},
    {0}};
