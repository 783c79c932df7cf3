"""Goldens for `deeplabv3plus` (host/models/deeplab_jf.c): DeepLab v3+ in the
jfzhang95/pytorch-deeplab-xception layout (models.md §4.1-§4.4, §7.6).

That repository is not installed, so its modules are rewritten below after
jfzhang95/pytorch-deeplab-xception @ 9135e10 (modeling/{aspp,decoder,deeplab}.py,
modeling/backbone/{resnet,xception,mobilenet}.py), with the same module names
(so the same state-dict keys) and the same forward quirks:
  * Xception: every block that starts with ReLU applies it in place, so the
    shortcut (conv or identity) reads ReLU(input), not the input;
  * MobileNetV2: an inverted residual zero-pads its INPUT (fixed_padding) and
    then runs the whole conv stack with padding 0, so the 1x1 expansion sees
    the zero border and the depthwise conv's border holds ReLU6(BN(0));
  * ResNet: layer4 is a multi-grid unit (1, 2, 4) x base dilation; at OS 8
    every block of layer3 uses dilation 2.
Three knobs that jfzhang95 hard-codes are parameters here so that goldens stay
small with unchanged names: `width` (ResNet base width; Xception and
MobileNetV2 channels scale by width/64), `head` (the 256 ASPP/decoder
channels) and `separable` (TF/paper-style ASPP and decoder: depthwise 3x3 +
BN + ReLU, pointwise 1x1, then the module's own BN + ReLU; the separable conv
keeps jfzhang95's SeparableConv2d child names conv1/bn/pointwise).

Weights: PyTorch default init under a fixed seed, randomized batch-norm
affine parameters, running statistics measured on a random batch (see
calibrate_batchnorm), eval mode, batch 2. Run from anywhere: python3 tests/golden/make_golden_deeplabjf.py
(`--counts` prints the full-size parameter/MAC counts of the reference
configurations instead, by forward hooks with the models.md §0.4 rule).
"""
import sys

import torch
import torch.nn.functional as F
from torch import nn

from golden_common import randomize_batchnorm, save_case

BN = nn.BatchNorm2d  # jfzhang95's SynchronizedBatchNorm2d has the same keys and eps 1e-5


def fixed_padding(x, k, d):
    total = k + (k - 1) * (d - 1) - 1
    beg = total // 2
    return F.pad(x, (beg, total - beg, beg, total - beg))


# ---- ResNet (modeling/backbone/resnet.py) ---------------------------------------------------------

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = BN(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn2 = BN(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = BN(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + residual)


class ResNet(nn.Module):
    def __init__(self, layers, output_stride, width=64):
        super().__init__()
        strides, dilations = {16: ([1, 2, 2, 1], [1, 1, 1, 2]), 8: ([1, 2, 1, 1], [1, 1, 2, 4])}[output_stride]
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = BN(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(width, [dilations[0]] * layers[0], strides[0])
        self.layer2 = self._make_layer(2 * width, [dilations[1]] * layers[1], strides[1])
        self.layer3 = self._make_layer(4 * width, [dilations[2]] * layers[2], strides[2])
        self.layer4 = self._make_layer(8 * width, [g * dilations[3] for g in (1, 2, 4)], strides[3])  # MG unit

    def _make_layer(self, planes, block_dilations, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False), BN(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, block_dilations[0], downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, 1, d) for d in block_dilations[1:]]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low = x = self.layer1(x)
        x = self.layer4(self.layer3(self.layer2(x)))
        return x, low


# ---- Aligned Xception (modeling/backbone/xception.py) ---------------------------------------------

class SeparableConv2d(nn.Module):
    def __init__(self, inplanes, planes, kernel_size=3, stride=1, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, inplanes, kernel_size, stride, 0, dilation, groups=inplanes, bias=False)
        self.bn = BN(inplanes)
        self.pointwise = nn.Conv2d(inplanes, planes, 1, bias=False)

    def forward(self, x):
        x = fixed_padding(x, self.conv1.kernel_size[0], self.conv1.dilation[0])
        return self.pointwise(self.bn(self.conv1(x)))


class Block(nn.Module):
    def __init__(self, inplanes, planes, reps, stride=1, dilation=1, start_with_relu=True, grow_first=True,
                 is_last=False):
        super().__init__()
        if planes != inplanes or stride != 1:
            self.skip = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
            self.skipbn = BN(planes)
        else:
            self.skip = None
        self.relu = nn.ReLU(inplace=True)  # in place: the shortcut below sees ReLU(inp) (jfzhang95's behaviour)
        rep = []
        filters = inplanes
        if grow_first:
            rep += [self.relu, SeparableConv2d(inplanes, planes, 3, 1, dilation), BN(planes)]
            filters = planes
        for _ in range(reps - 1):
            rep += [self.relu, SeparableConv2d(filters, filters, 3, 1, dilation), BN(filters)]
        if not grow_first:
            rep += [self.relu, SeparableConv2d(inplanes, planes, 3, 1, dilation), BN(planes)]
        if stride != 1:
            rep += [self.relu, SeparableConv2d(planes, planes, 3, 2), BN(planes)]
        if stride == 1 and is_last:
            rep += [self.relu, SeparableConv2d(planes, planes, 3, 1), BN(planes)]
        if not start_with_relu:
            rep = rep[1:]
        self.rep = nn.Sequential(*rep)

    def forward(self, inp):
        x = self.rep(inp)
        skip = self.skipbn(self.skip(inp)) if self.skip is not None else inp
        return x + skip


class AlignedXception(nn.Module):
    def __init__(self, output_stride, width=64):
        super().__init__()
        c = lambda n: n * width // 64  # noqa: E731
        entry3_stride, middle_d, exit_d = {16: (2, 1, (1, 2)), 8: (1, 2, (2, 4))}[output_stride]
        self.conv1 = nn.Conv2d(3, c(32), 3, 2, 1, bias=False)
        self.bn1 = BN(c(32))
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c(32), c(64), 3, 1, 1, bias=False)
        self.bn2 = BN(c(64))
        self.block1 = Block(c(64), c(128), 2, 2, start_with_relu=False)
        self.block2 = Block(c(128), c(256), 2, 2, start_with_relu=False, grow_first=True)
        self.block3 = Block(c(256), c(728), 2, entry3_stride, start_with_relu=True, grow_first=True, is_last=True)
        for i in range(4, 20):
            setattr(self, f"block{i}", Block(c(728), c(728), 3, 1, middle_d, start_with_relu=True, grow_first=True))
        self.block20 = Block(c(728), c(1024), 2, 1, exit_d[0], start_with_relu=True, grow_first=False,
                             is_last=True)
        self.conv3 = SeparableConv2d(c(1024), c(1536), 3, 1, exit_d[1])
        self.bn3 = BN(c(1536))
        self.conv4 = SeparableConv2d(c(1536), c(1536), 3, 1, exit_d[1])
        self.bn4 = BN(c(1536))
        self.conv5 = SeparableConv2d(c(1536), c(2048), 3, 1, exit_d[1])
        self.bn5 = BN(c(2048))

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.relu(self.block1(x))
        low = x
        for i in range(2, 21):
            x = getattr(self, f"block{i}")(x)
        x = self.relu(x)
        x = self.relu(self.bn3(self.conv3(x)))
        x = self.relu(self.bn4(self.conv4(x)))
        return self.relu(self.bn5(self.conv5(x))), low


# ---- MobileNetV2 (modeling/backbone/mobilenet.py) -------------------------------------------------

class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, dilation, expand_ratio):
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        self.dilation = dilation
        if expand_ratio == 1:
            self.conv = nn.Sequential(
                nn.Conv2d(hidden, hidden, 3, stride, 0, dilation, groups=hidden, bias=False), BN(hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, oup, 1, 1, 0, 1, 1, bias=False), BN(oup))
        else:
            self.conv = nn.Sequential(
                nn.Conv2d(inp, hidden, 1, 1, 0, 1, bias=False), BN(hidden), nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, hidden, 3, stride, 0, dilation, groups=hidden, bias=False), BN(hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, oup, 1, 1, 0, 1, bias=False), BN(oup))

    def forward(self, x):
        x_pad = fixed_padding(x, 3, self.dilation)
        return x + self.conv(x_pad) if self.use_res_connect else self.conv(x_pad)


class MobileNetV2(nn.Module):
    def __init__(self, output_stride, width_mult=1.0):
        super().__init__()
        settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                    [6, 320, 1, 1]]
        input_channel = int(32 * width_mult)
        features = [nn.Sequential(nn.Conv2d(3, input_channel, 3, 2, 1, bias=False), BN(input_channel),
                                  nn.ReLU6(inplace=True))]
        current_stride, rate = 2, 1
        for t, c, n, s in settings:
            if current_stride == output_stride:
                stride, dilation, rate = 1, rate, rate * s
            else:
                stride, dilation, current_stride = s, 1, current_stride * s
            out = int(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, out, stride if i == 0 else 1, dilation, t))
                input_channel = out
        self.features = nn.Sequential(*features)
        # jfzhang95 also keeps self.low_level_features = features[0:4] and
        # self.high_level_features = features[4:], which duplicate every key in
        # its state dict; the slices are taken in forward here instead.

    def forward(self, x):
        low = self.features[0:4](x)
        return self.features[4:](low), low


# ---- ASPP and decoder (modeling/aspp.py, modeling/decoder.py) -------------------------------------

class SeparableConvTF(nn.Module):
    """TF DeepLab's _split_separable_conv2d: depthwise + BN + ReLU, then the
    pointwise conv (its BN + ReLU belong to the enclosing module)."""

    def __init__(self, inplanes, planes, dilation):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, inplanes, 3, 1, dilation, dilation, groups=inplanes, bias=False)
        self.bn = BN(inplanes)
        self.relu = nn.ReLU()
        self.pointwise = nn.Conv2d(inplanes, planes, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.relu(self.bn(self.conv1(x))))


def conv3x3(inplanes, planes, dilation, separable):
    if separable:
        return SeparableConvTF(inplanes, planes, dilation)
    return nn.Conv2d(inplanes, planes, 3, 1, dilation, dilation, bias=False)


class _ASPPModule(nn.Module):
    def __init__(self, inplanes, planes, kernel_size, dilation, separable):
        super().__init__()
        self.atrous_conv = (nn.Conv2d(inplanes, planes, 1, bias=False) if kernel_size == 1
                            else conv3x3(inplanes, planes, dilation, separable))
        self.bn = BN(planes)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.atrous_conv(x)))


class ASPP(nn.Module):
    def __init__(self, inplanes, output_stride, planes, separable):
        super().__init__()
        d = {16: [1, 6, 12, 18], 8: [1, 12, 24, 36]}[output_stride]
        self.aspp1 = _ASPPModule(inplanes, planes, 1, 1, separable)
        self.aspp2 = _ASPPModule(inplanes, planes, 3, d[1], separable)
        self.aspp3 = _ASPPModule(inplanes, planes, 3, d[2], separable)
        self.aspp4 = _ASPPModule(inplanes, planes, 3, d[3], separable)
        self.global_avg_pool = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Conv2d(inplanes, planes, 1, bias=False),
                                             BN(planes), nn.ReLU())
        self.conv1 = nn.Conv2d(5 * planes, planes, 1, bias=False)
        self.bn1 = BN(planes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        x1, x2, x3, x4 = self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x)
        x5 = F.interpolate(self.global_avg_pool(x), size=x4.size()[2:], mode="bilinear", align_corners=True)
        x = torch.cat((x1, x2, x3, x4, x5), dim=1)
        return self.dropout(self.relu(self.bn1(self.conv1(x))))


class Decoder(nn.Module):
    def __init__(self, num_classes, low_level_inplanes, planes, separable):
        super().__init__()
        self.conv1 = nn.Conv2d(low_level_inplanes, 48, 1, bias=False)
        self.bn1 = BN(48)
        self.relu = nn.ReLU()
        self.last_conv = nn.Sequential(conv3x3(planes + 48, planes, 1, separable), BN(planes), nn.ReLU(),
                                       nn.Dropout(0.5),
                                       conv3x3(planes, planes, 1, separable), BN(planes), nn.ReLU(), nn.Dropout(0.1),
                                       nn.Conv2d(planes, num_classes, 1, 1))

    def forward(self, x, low):
        low = self.relu(self.bn1(self.conv1(low)))
        x = F.interpolate(x, size=low.size()[2:], mode="bilinear", align_corners=True)
        return self.last_conv(torch.cat((x, low), dim=1))


class DeepLab(nn.Module):
    def __init__(self, backbone="resnet101", output_stride=16, num_classes=21, width=64, head=256, separable=False):
        super().__init__()
        if backbone.startswith("resnet"):
            self.backbone = ResNet({"resnet50": [3, 4, 6, 3], "resnet101": [3, 4, 23, 3]}[backbone], output_stride,
                                   width)
            high, low = 32 * width, 4 * width
        elif backbone == "xception":
            self.backbone = AlignedXception(output_stride, width)
            high, low = 2048 * width // 64, 128 * width // 64
        else:
            self.backbone = MobileNetV2(output_stride, width / 64)
            high, low = int(320 * width / 64), int(24 * width / 64)
        self.aspp = ASPP(high, output_stride, head, separable)
        self.decoder = Decoder(num_classes, low, head, separable)

    def forward(self, x):
        y, low = self.backbone(x)
        y = self.decoder(self.aspp(y), low)
        return F.interpolate(y, size=x.size()[2:], mode="bilinear", align_corners=True)


# ---- goldens and counts ---------------------------------------------------------------------------

def calibrate_batchnorm(model, x):
    """Running statistics from one training-mode pass over x (cumulative
    average), plus 0.1 on every variance. With PyTorch's default init and
    arbitrary statistics the deep path fades: the logits hardly depend on the
    backbone's last stages (undilating its last three 3x3 convs moves them by
    1e-4, a wrong multi-grid rate in the C builder by ~1e-5, next to the 1e-5
    test tolerance). Measured statistics keep every layer O(1) (that change
    then moves them by 3e-2..1e-1); the 0.1 floor keeps near-constant
    channels from amplifying fp32 rounding (exact statistics: 1e-5..5e-4
    between fp32 and fp64 PyTorch; with the floor 1e-7..4e-7). The affine
    parameters stay randomized."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var += 0.1


def case(name, backbone, os, shape, width, head=16, classes=5, separable=False, seed=11):
    torch.manual_seed(seed)
    model = DeepLab(backbone, os, classes, width, head, separable).eval()
    randomize_batchnorm(model, seed + 1)
    x = torch.rand(*shape)
    calibrate_batchnorm(model, torch.rand(*shape))
    with torch.no_grad():
        y = model(x)
    options = (f"backbone={backbone},os={os},classes={classes},width={width},head_channels={head},"
               f"separable={int(separable)}")
    save_case("deeplabjf", name, model, "deeplabv3plus", options, x, [y],
              meta={"note": "jfzhang95 DeepLab v3+ modules (rewritten in make_golden_deeplabjf.py), narrowed"})


def counts(backbone, os, separable=False, size=512):
    model = DeepLab(backbone, os, 21, separable=separable).eval()
    params = sum(p.numel() for p in model.parameters())
    macs = [0]

    def hook(m, inp, out):
        macs[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    print(f"{backbone} os={os} separable={int(separable)}: params {params:,}, MACs {macs[0]:,} "
          f"({macs[0] / 1e9:.2f} G)")


if __name__ == "__main__":
    if "--counts" in sys.argv:
        for args in [("resnet101", 16), ("resnet101", 8), ("resnet101", 16, True), ("resnet50", 16),
                     ("xception", 16), ("xception", 8), ("mobilenet", 16), ("mobilenet", 8)]:
            counts(*args)
        sys.exit(0)
    case("r101_os16", "resnet101", 16, (2, 3, 65, 49), width=4)
    case("r50_os8", "resnet50", 8, (2, 3, 48, 64), width=4, classes=3)
    case("r50_os16_sep", "resnet50", 16, (2, 3, 49, 65), width=4, separable=True)
    case("xception_os16", "xception", 16, (2, 3, 65, 49), width=4)
    case("xception_os8_sep", "xception", 8, (2, 3, 48, 64), width=4, classes=3, separable=True)
    case("mobilenet_os16", "mobilenet", 16, (2, 3, 65, 49), width=8)
    case("mobilenet_os8", "mobilenet", 8, (2, 3, 64, 48), width=8, classes=3)
    case("mobilenet_os16_sep", "mobilenet", 16, (2, 3, 48, 80), width=8, separable=True)
