#include "models/backbones/resnet.h"

/* Blocks per stage and whether the block is a bottleneck (expansion 4). */
static int stage_blocks(int depth, int stage) {
    static const int d18[4] = {2, 2, 2, 2}, d34[4] = {3, 4, 6, 3}, d101[4] = {3, 4, 23, 3},
                     d152[4] = {3, 8, 36, 3};
    switch (depth) {
    case 18: return d18[stage];
    case 34:
    case 50: return d34[stage];
    case 101: return d101[stage];
    default: return d152[stage];
    }
}

static int block(cs_nn *b, int x, int planes, int stride, int dilation, int bottleneck,
                 int downsample) {
    int y;
    if (bottleneck) {
        y = cs_nn_conv_bn_relu(b, "conv1", "bn1", x, planes, 1, 1, 0, 1, 1);
        y = cs_nn_conv_bn_relu(b, "conv2", "bn2", y, planes, 3, stride, dilation, dilation, 1);
        y = cs_nn_conv_bn_relu(b, "conv3", "bn3", y, planes * 4, 1, 1, 0, 1, 0);
    } else {
        y = cs_nn_conv_bn_relu(b, "conv1", "bn1", x, planes, 3, stride, dilation, dilation, 1);
        y = cs_nn_conv_bn_relu(b, "conv2", "bn2", y, planes, 3, 1, dilation, dilation, 0);
    }
    int identity = x;
    if (downsample) {
        cs_nn_push(b, "downsample");
        identity = cs_nn_conv_bn_relu(b, "0", "1", x, planes * (bottleneck ? 4 : 1), 1, stride, 0, 1, 0);
        cs_nn_pop(b);
    }
    return cs_nn_relu(b, cs_nn_add(b, y, identity));
}

void cs_resnet(cs_nn *b, int x, int depth, int output_stride, int width, cs_dilation_style style,
               cs_resnet_features *f) {
    if (depth != 18 && depth != 34 && depth != 50 && depth != 101 && depth != 152) {
        cs_nn_fail(b, CUSEG_ERR_INVALID_ARGUMENT, "resnet: depth must be 18, 34, 50, 101 or 152, got %d", depth);
        return;
    }
    if (output_stride != 8 && output_stride != 16 && output_stride != 32) {
        cs_nn_fail(b, CUSEG_ERR_INVALID_ARGUMENT, "resnet: output stride must be 8, 16 or 32, got %d",
                   output_stride);
        return;
    }
    const int bottleneck = depth >= 50, expansion = bottleneck ? 4 : 1;
    int y = cs_nn_conv_bn_relu(b, "conv1", "bn1", x, width, 7, 2, 3, 1, 1);
    f->stem = y;
    f->stem_channels = width;
    y = cs_nn_max_pool(b, y, 3, 2, 1, 0, NULL);
    int inplanes = width, dilation = 1;
    for (int s = 0; s < 4; ++s) {
        const int planes = width << s;
        int stride = s == 0 ? 1 : 2;
        /* Stage 3 (layer4) is dilated below OS 32, stage 2 (layer3) below OS 16. */
        const int dilate = (s == 3 && output_stride <= 16) || (s == 2 && output_stride == 8);
        const int previous = dilation;
        if (dilate) {
            dilation *= stride;
            stride = 1;
        }
        cs_nn_push(b, "layer%d", s + 1);
        for (int k = 0; k < stage_blocks(depth, s); ++k) {
            cs_nn_push(b, "%d", k);
            const int first = k == 0;
            const int d = first && style == CS_DILATION_TORCHVISION ? previous : dilation;
            y = block(b, y, planes, first ? stride : 1, d, bottleneck,
                      first && (stride != 1 || inplanes != planes * expansion));
            cs_nn_pop(b);
            inplanes = planes * expansion;
        }
        cs_nn_pop(b);
        f->layer[s] = y;
        f->channels[s] = planes * expansion;
    }
}
