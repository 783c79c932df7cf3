"""Goldens for `smp_deeplabv3plus` (models.md §4.3.2): segmentation_models_pytorch's
own DeepLabV3Plus modules, with the ResNet encoder and the decoder rebuilt at a
small width (same module names, so the same state-dict keys) to keep the
committed files small. Run from tests/golden: python3 make_golden_smp_deeplabv3plus.py
"""
import segmentation_models_pytorch as smp
import torch
from segmentation_models_pytorch.base.heads import SegmentationHead
from segmentation_models_pytorch.decoders.deeplabv3.decoder import DeepLabV3PlusDecoder
from torchvision.models.resnet import BasicBlock, Bottleneck

from golden_common import randomize_batchnorm, save_case


def narrow(backbone, width, dec, classes, os):
    model = smp.DeepLabV3Plus(backbone, encoder_weights=None, classes=classes, encoder_output_stride=os)
    enc = model.encoder
    block = Bottleneck if backbone in ("resnet50", "resnet101") else BasicBlock
    layers = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3]}[backbone]
    enc.inplanes, enc.dilation = width, 1
    enc.conv1 = torch.nn.Conv2d(3, width, 7, 2, 3, bias=False)
    enc.bn1 = torch.nn.BatchNorm2d(width)
    enc.layer1 = enc._make_layer(block, width, layers[0])
    enc.layer2 = enc._make_layer(block, 2 * width, layers[1], stride=2)
    enc.layer3 = enc._make_layer(block, 4 * width, layers[2], stride=2)
    enc.layer4 = enc._make_layer(block, 8 * width, layers[3], stride=2)
    e = block.expansion
    enc._out_channels = (3, width, width * e, 2 * width * e, 4 * width * e, 8 * width * e)
    enc.make_dilated(os)
    model.decoder = DeepLabV3PlusDecoder(encoder_channels=enc.out_channels, encoder_depth=5, out_channels=dec,
                                         atrous_rates=(12, 24, 36), output_stride=os, aspp_separable=True,
                                         aspp_dropout=0.5)
    model.segmentation_head = SegmentationHead(dec, classes, kernel_size=1, upsampling=4)
    return model


if __name__ == "__main__":
    for case, backbone, os, shape in [("smp_dlv3p_r18_os16", "resnet18", 16, (2, 3, 64, 96)),
                                      ("smp_dlv3p_r50_os8", "resnet50", 8, (2, 3, 48, 80))]:
        torch.manual_seed(5)
        model = narrow(backbone, width=4, dec=16, classes=3, os=os).eval()
        randomize_batchnorm(model, 6)
        x = torch.rand(*shape)
        with torch.no_grad():
            y = model(x)
        options = f"backbone={backbone},os={os},classes=3,width=4,decoder_channels=16"
        save_case("deeplab", case, model, "smp_deeplabv3plus", options, x, [y],
                  meta={"note": "smp DeepLabV3Plus modules at width 4 / 16 decoder channels"})
