"""Goldens for the milesial/Pytorch-UNet layout (`unet_bn`, models.md §1.2).
The modules below restate milesial's unet_parts.py / unet_model.py (same
module names, so the state dict keys are the published checkpoint's), with
a `width` and `depth` to keep the committed files small.
Run from the repository root: python3 tests/golden/make_golden_unet_bn.py
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_common import randomize_batchnorm, save_case


class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels, mid_channels=None):
        super().__init__()
        mid_channels = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 3, padding=1, bias=False), nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True))

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, in_channels, out_channels, bilinear):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.size(2) - x1.size(2), x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class OutConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class UNet(nn.Module):
    """milesial's UNet, generalised to width w and depth d (milesial: 64, 4)."""

    def __init__(self, n_channels, n_classes, bilinear, w=64, d=4):
        super().__init__()
        f = 2 if bilinear else 1
        self.d = d
        self.inc = DoubleConv(n_channels, w)
        for k in range(1, d + 1):
            setattr(self, f"down{k}", Down(w << (k - 1), (w << k) // (f if k == d else 1)))
        for k in range(1, d + 1):
            out = w if k == d else (w << (d - k)) // f
            setattr(self, f"up{k}", Up(w << (d - k + 1), out, bilinear))
        self.outc = OutConv(w, n_classes)

    def forward(self, x):
        skips = [self.inc(x)]
        for k in range(1, self.d + 1):
            skips.append(getattr(self, f"down{k}")(skips[-1]))
        x = skips[-1]
        for k in range(1, self.d + 1):
            x = getattr(self, f"up{k}")(x, skips[self.d - k])
        return self.outc(x)


if __name__ == "__main__":
    for name, bilinear, shape in [("unet_bn_transpose", False, (2, 3, 45, 61)), ("unet_bn_bilinear", True, (2, 3, 37, 50))]:
        torch.manual_seed(3)
        model = UNet(3, 3, bilinear, w=4, d=4).eval()
        randomize_batchnorm(model, 4)
        x = torch.rand(*shape)
        with torch.no_grad():
            y = model(x)
        options = f"in_channels=3,classes=3,width=4,depth=4,upsampling={'bilinear' if bilinear else 'transpose'}"
        save_case("unet", name, model, "unet_bn", options, x, [y])
