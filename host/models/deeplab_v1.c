/* DeepLab v1 (Chen et al., ICLR 2015; models.md §3.1, §3.2).
 *
 * deeplab_v1:     VGG16-LargeFOV: atrous VGG16 at output stride 8 (Caffe
 *                 ceil-mode 3x3 pools with pad 1; pool4/pool5 stride 1;
 *                 conv5 dilation 2), pool5a avg 3x3/1, fc6 3x3 dilation 12
 *                 (1024 channels), fc7 1x1, the score 1x1.
 * deeplab_v1_msc: MSc-LargeFOV: the same trunk plus five two-layer MLP
 *                 branches on the image and pool1..pool4 (first conv strides
 *                 8, 4, 2, 1, 1), each ending in its own score conv; the six
 *                 score maps are summed (§3.2).
 *
 * Names are those of the PyTorch ports of the released train.prototxts that
 * models.md §3 reads: features.N (LargeFOV; the indices of torchvision's
 * vgg16.features) or features1..5 (MSc), MSc1..5.{0,3,6}, classifier.1
 * (fc6), classifier.4 (fc7; Dropout follows fc6 as in the prototxt) and
 * score (the prototxt's fc8).
 *
 * Output: the stride-8 logits resized to the input size, bilinear with
 * align_corners (as the ports do). For 8k+1 inputs (the design sizes 321,
 * 513) this is exactly Caffe's Interp zoom 8, out = (in-1)*8+1; other sizes
 * get a slightly different ratio (models.md: "resize or crop"). MSc needs
 * 8k+1 inputs: elsewhere the image branch's stride-8 conv misses the trunk's
 * grid by one and the sum fails at planning.
 *
 * width scales VGG's channels (w, 2w, 4w, 8w, 8w), fc6/fc7 (16w: 1024 at the
 * default 64) and the MSc branches (2w: 128). */
#include <stdio.h>

#include "models/zoo.h"

static const int vgg_convs[5] = {2, 2, 3, 3, 3};

static int vgg_channels(int width, int block) { return width << (block < 5 ? block - 1 : 3); }

/* VGG block `block` (1..5) inside the current scope, its layers numbered as
 * an nn.Sequential from *index: n x (conv + ReLU), then the max pool. */
static int atrous_block(cs_nn *b, int x, int width, int block, int *index) {
    const int dilation = block == 5 ? 2 : 1, pool_stride = block >= 4 ? 1 : 2;
    for (int i = 0; i < vgg_convs[block - 1]; ++i) {
        char name[32];
        snprintf(name, sizeof name, "%d", *index);
        x = cs_nn_relu(b, cs_nn_conv(b, name, x, vgg_channels(width, block), 3, 1, dilation, dilation, 1, 1));
        *index += 2;
    }
    *index += 1;
    return cs_nn_max_pool(b, x, 3, pool_stride, 1, 1, NULL);
}

/* classifier: pool5a (avg 3x3/1, padded zeros counted as in Caffe), fc6, fc7. */
static int classifier(cs_nn *b, int x, int fc) {
    cs_nn_push(b, "classifier");
    x = cs_nn_avg_pool(b, x, 3, 1, 1, 0, 1);
    x = cs_nn_dropout(b, cs_nn_relu(b, cs_nn_conv(b, "1", x, fc, 3, 1, 12, 12, 1, 1)), 0.5f);
    x = cs_nn_dropout(b, cs_nn_relu(b, cs_nn_conv(b, "4", x, fc, 1, 1, 0, 1, 1, 1)), 0.5f);
    cs_nn_pop(b);
    return x;
}

/* MSc<k>: conv3x3/stride + ReLU + Dropout, conv1x1 + ReLU + Dropout, score 1x1. */
static int msc_branch(cs_nn *b, int k, int x, int ch, int stride, int classes) {
    cs_nn_push(b, "MSc%d", k);
    x = cs_nn_dropout(b, cs_nn_relu(b, cs_nn_conv(b, "0", x, ch, 3, stride, 1, 1, 1, 1)), 0.5f);
    x = cs_nn_dropout(b, cs_nn_relu(b, cs_nn_conv(b, "3", x, ch, 1, 1, 0, 1, 1, 1)), 0.5f);
    x = cs_nn_conv(b, "6", x, classes, 1, 1, 0, 1, 1, 1);
    cs_nn_pop(b);
    return x;
}

static void build_deeplab_v1(cs_nn *b, cs_opts *o, int msc) {
    const int in_ch = cs_nn_opt_int(b, o, "in_channels", 3, 1, 4096);
    const int classes = cs_nn_opt_int(b, o, "classes", 21, 1, 4096);
    const int width = cs_nn_opt_int(b, o, "width", 64, 1, 1024);
    cs_nn_preprocess_caffe_bgr(b, "104.008,116.669,122.675");

    const int image = cs_nn_input(b, "image", in_ch);
    int x = image, index = 0, fused = -1;
    if (!msc) cs_nn_push(b, "features");
    for (int block = 1; block <= 5; ++block) {
        if (msc) {
            const int branch = msc_branch(b, block, x, 2 * width, 8 >> (block < 4 ? block - 1 : 3), classes);
            fused = block == 1 ? branch : cs_nn_add(b, fused, branch);
            cs_nn_push(b, "features%d", block);
            index = 0;
        }
        x = atrous_block(b, x, width, block, &index);
        if (msc) cs_nn_pop(b);
    }
    if (!msc) cs_nn_pop(b);
    x = cs_nn_conv(b, "score", classifier(b, x, 16 * width), classes, 1, 1, 0, 1, 1, 1);
    if (msc) x = cs_nn_add(b, x, fused);
    cs_nn_output(b, cs_nn_resize_like(b, x, image, 1, 1));
}

static void build_largefov(cs_nn *b, cs_opts *o) { build_deeplab_v1(b, o, 0); }
static void build_msc_largefov(cs_nn *b, cs_opts *o) { build_deeplab_v1(b, o, 1); }

const cs_arch cs_archs_deeplab_v1[] = {
    {"deeplab_v1", "DeepLab v1 VGG16-LargeFOV (OS 8, fc6 dilation 12), logits resized to the input; "
                   "options classes, in_channels, width",
     build_largefov},
    {"deeplab_v1_msc", "DeepLab v1 MSc-LargeFOV (LargeFOV + 5 multi-scale score branches, summed; "
                       "inputs 8k+1); options classes, in_channels, width",
     build_msc_largefov},
    {0}};
