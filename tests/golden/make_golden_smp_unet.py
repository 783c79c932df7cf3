"""Goldens for `smp_unet` (models.md §1.4): segmentation_models_pytorch's Unet
with a ResNet-34 encoder, narrowed with smp's and torchvision's own modules
(encoder base width 4, decoder channels (16, 8, 4, 2, 1)) so that the names
stay smp's. Run from tests/golden: python3 make_golden_smp_unet.py
"""
import segmentation_models_pytorch as smp
import torch
from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder
from torchvision.models.resnet import BasicBlock

from golden_common import randomize_batchnorm, save_case

if __name__ == "__main__":
    W, DEC, C = 4, (16, 8, 4, 2, 1), 3
    torch.manual_seed(9)
    model = smp.Unet("resnet34", encoder_weights=None, classes=C, decoder_channels=DEC)
    enc = model.encoder
    enc.inplanes, enc.dilation = W, 1
    enc.conv1 = torch.nn.Conv2d(3, W, 7, 2, 3, bias=False)
    enc.bn1 = torch.nn.BatchNorm2d(W)
    enc.layer1 = enc._make_layer(BasicBlock, W, 3)
    enc.layer2 = enc._make_layer(BasicBlock, 2 * W, 4, stride=2)
    enc.layer3 = enc._make_layer(BasicBlock, 4 * W, 6, stride=2)
    enc.layer4 = enc._make_layer(BasicBlock, 8 * W, 3, stride=2)
    enc._out_channels = (3, W, W, 2 * W, 4 * W, 8 * W)
    model.decoder = UnetDecoder(encoder_channels=enc.out_channels, decoder_channels=DEC, n_blocks=5)
    model.eval()
    randomize_batchnorm(model, 10)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        y = model(x)
    save_case("unet", "smp_unet_r34", model, "smp_unet", f"backbone=resnet34,classes={C},width={W},decoder_div=16", x, [y])
