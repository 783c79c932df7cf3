"""Goldens for `tv_deeplabv3` and `tv_fcn` (models.md §4.3.1, §2.3): the
torchvision segmentation models, built by torchvision and then narrowed
(ResNet base width 4, ASPP 16 channels) with torchvision's own modules so
that the names stay torchvision's. Outputs: out and aux, batch 2, an input
size that is not a multiple of 8.
Run from tests/golden: python3 make_golden_torchvision.py
"""
import torch
from torch import nn
from torchvision.models import segmentation
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.models.segmentation.deeplabv3 import ASPP
from torchvision.models.segmentation.fcn import FCNHead

from golden_common import randomize_batchnorm, save_case


def narrow_backbone(model, width):
    """Rebuild the ResNet-50 stages of model.backbone at base width `width`, OS 8."""
    bb = model.backbone
    res = ResNet(Bottleneck, [3, 4, 6, 3], replace_stride_with_dilation=[False, True, True])
    res.inplanes, res.dilation = width, 1
    res.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
    res.bn1 = nn.BatchNorm2d(width)
    res.layer1 = res._make_layer(Bottleneck, width, 3)
    res.layer2 = res._make_layer(Bottleneck, 2 * width, 4, stride=2, dilate=False)
    res.layer3 = res._make_layer(Bottleneck, 4 * width, 6, stride=2, dilate=True)
    res.layer4 = res._make_layer(Bottleneck, 8 * width, 3, stride=2, dilate=True)
    for name in ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]:
        setattr(bb, name, getattr(res, name))
    return 32 * width, 16 * width  # layer4, layer3 channels


if __name__ == "__main__":
    W, HEAD, C = 4, 16, 3
    for case, deeplab in [("tv_deeplabv3_aux", True), ("tv_fcn_aux", False)]:
        torch.manual_seed(7)
        if deeplab:
            model = segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=C, aux_loss=True)
        else:
            model = segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=C, aux_loss=True)
        c4, c3 = narrow_backbone(model, W)
        if deeplab:
            model.classifier = nn.Sequential(ASPP(c4, [12, 24, 36], out_channels=HEAD),
                                             nn.Conv2d(HEAD, HEAD, 3, padding=1, bias=False), nn.BatchNorm2d(HEAD),
                                             nn.ReLU(), nn.Conv2d(HEAD, C, 1))
        else:
            model.classifier = FCNHead(c4, C)
        model.aux_classifier = FCNHead(c3, C)
        model.eval()
        randomize_batchnorm(model, 8)
        x = torch.rand(2, 3, 52, 37)
        with torch.no_grad():
            out = model(x)
        arch = "tv_deeplabv3" if deeplab else "tv_fcn"
        options = f"classes={C},aux=1,width={W}" + (f",head_channels={HEAD}" if deeplab else "")
        save_case("deeplab", case, model, arch, options, x, [out["out"], out["aux"]])
