"""Goldens for the DeepLab v3 family (tests/models/test_deeplab.cpp):

  tv_deeplabv3, tv_fcn   torchvision's deeplabv3_resnet50/101 and fcn_resnet50/101
                         (models.md §4.3.1, §2.3)
  smp_deeplabv3plus      segmentation_models_pytorch 0.6 DeepLabV3Plus (§4.3.2)

Each reference is built by torchvision / smp at full size and then narrowed
(ResNet base width 4, 16 head/decoder channels) by rebuilding the stages with
the library's own modules (torchvision's ResNet._make_layer, ASPP, FCNHead;
smp's DeepLabV3PlusDecoder, SegmentationHead), so that the state-dict keys stay
the library's and each case stays well under 1.5 MB. Batch 2; inputs whose
sizes are not multiples of 32 (torchvision takes any size; smp needs
multiples of the output stride).

Run from anywhere: python3 tests/golden/make_golden_deeplab.py
(the full-size check is tests/golden/check_torchvision_deeplabv3.py).
"""
import torch
from torch import nn
from torchvision.models import segmentation
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.models.segmentation.deeplabv3 import ASPP
from torchvision.models.segmentation.fcn import FCNHead

from golden_common import randomize_batchnorm, save_case
from make_golden_smp_deeplabv3plus import narrow as narrow_smp

STAGES = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}


def narrow_backbone(model, depth, width):
    """Rebuilds the ResNet stages of model.backbone at base width `width`, OS 8
    (replace_stride_with_dilation=[False, True, True], as torchvision's
    segmentation builders); returns the layer4 and layer3 channels."""
    bb, blocks = model.backbone, STAGES[depth]
    res = ResNet(Bottleneck, blocks, replace_stride_with_dilation=[False, True, True])
    res.inplanes, res.dilation = width, 1
    res.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
    res.bn1 = nn.BatchNorm2d(width)
    res.layer1 = res._make_layer(Bottleneck, width, blocks[0])
    res.layer2 = res._make_layer(Bottleneck, 2 * width, blocks[1], stride=2, dilate=False)
    res.layer3 = res._make_layer(Bottleneck, 4 * width, blocks[2], stride=2, dilate=True)
    res.layer4 = res._make_layer(Bottleneck, 8 * width, blocks[3], stride=2, dilate=True)
    for name in ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]:
        setattr(bb, name, getattr(res, name))
    return 32 * width, 16 * width


def torchvision_case(case, deeplab, depth, aux, classes, shape, width=4, head=16):
    torch.manual_seed(7)
    builders = {(True, 50): segmentation.deeplabv3_resnet50, (True, 101): segmentation.deeplabv3_resnet101,
                (False, 50): segmentation.fcn_resnet50, (False, 101): segmentation.fcn_resnet101}
    model = builders[deeplab, depth](weights=None, weights_backbone=None, num_classes=classes, aux_loss=aux)
    c4, c3 = narrow_backbone(model, depth, width)
    if deeplab:  # DeepLabHead(c4, classes) with `head` channels instead of 256
        model.classifier = nn.Sequential(ASPP(c4, [12, 24, 36], out_channels=head),
                                         nn.Conv2d(head, head, 3, padding=1, bias=False), nn.BatchNorm2d(head),
                                         nn.ReLU(), nn.Conv2d(head, classes, 1))
    else:
        model.classifier = FCNHead(c4, classes)
    if aux:
        model.aux_classifier = FCNHead(c3, classes)
    model.eval()
    randomize_batchnorm(model, 8)
    x = torch.rand(*shape)
    with torch.no_grad():
        out = model(x)
    options = f"backbone=resnet{depth},classes={classes},aux={int(aux)},width={width}"
    if deeplab:
        options += f",head_channels={head}"
    outputs = [out["out"], out["aux"]] if aux else [out["out"]]
    save_case("deeplab", case, model, "tv_deeplabv3" if deeplab else "tv_fcn", options, x, outputs)


def smp_case(case, backbone, os, shape, classes=3):
    torch.manual_seed(5)
    model = narrow_smp(backbone, width=4, dec=16, classes=classes, os=os).eval()
    randomize_batchnorm(model, 6)
    x = torch.rand(*shape)
    with torch.no_grad():
        y = model(x)  # smp checks that H and W are multiples of the output stride
    options = f"backbone={backbone},os={os},classes={classes},width=4,decoder_channels=16"
    save_case("deeplab", case, model, "smp_deeplabv3plus", options, x, [y],
              meta={"note": "smp DeepLabV3Plus modules at width 4 / 16 decoder channels"})


if __name__ == "__main__":
    torchvision_case("tv_deeplabv3_aux", True, 50, True, 3, (2, 3, 52, 37))
    torchvision_case("tv_fcn_aux", False, 50, True, 3, (2, 3, 52, 37))
    torchvision_case("tv_deeplabv3_r101", True, 101, False, 5, (2, 3, 65, 49))
    torchvision_case("tv_fcn_r101", False, 101, False, 4, (2, 3, 49, 65))
    smp_case("smp_dlv3p_r18_os16", "resnet18", 16, (2, 3, 64, 96))
    smp_case("smp_dlv3p_r50_os8", "resnet50", 8, (2, 3, 48, 80))
    smp_case("smp_dlv3p_r34_os16", "resnet34", 16, (2, 3, 80, 48), classes=2)
    smp_case("smp_dlv3p_r34_os8", "resnet34", 8, (2, 3, 72, 56), classes=2)
