"""Goldens for the original U-Net (`unet`, models.md §1.1) and the Keras-style
VGG16-encoder U-Net (`unet_vgg16`, §1.3). (milesial's `unet_bn` has its own
generator, make_golden_unet_bn.py; smp's Unet is checked at full size by
check_smp_unet.py, its encoder weights being too large to commit.)

Neither reference exists in torchvision or smp, so the modules are written
here:
  * UNet restates the layout of the PyTorch port jvanvugt/pytorch-unet with
    padding=False, batch_norm=False, up_mode='upconv' (module names
    down_path.K.block.{0,2}, up_path.J.up, up_path.J.conv_block.block.{0,2},
    last; concat [up, centre-cropped skip]). `width` is its 2**wf, `depth`
    the number of max-pools (its depth - 1).
  * VGG16UNet follows §1.3 with Keras layer names (see host/models/unet.c
    for the mapping from a Keras file).
Widths are reduced to keep the files small.
Run from the repository root: python3 tests/golden/make_golden_unet.py
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_common import save_case


class UNetConvBlock(nn.Module):
    def __init__(self, in_size, out_size):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(in_size, out_size, 3), nn.ReLU(),
                                   nn.Conv2d(out_size, out_size, 3), nn.ReLU())

    def forward(self, x):
        return self.block(x)


class UNetUpBlock(nn.Module):
    def __init__(self, in_size, out_size):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_size, out_size, kernel_size=2, stride=2)
        self.conv_block = UNetConvBlock(in_size, out_size)

    def forward(self, x, bridge):
        up = self.up(x)
        dy, dx = bridge.shape[2] - up.shape[2], bridge.shape[3] - up.shape[3]
        assert dy % 2 == 0 and dx % 2 == 0, "illegal input size for the valid U-Net"
        crop = bridge[:, :, dy // 2:dy // 2 + up.shape[2], dx // 2:dx // 2 + up.shape[3]]
        return self.conv_block(torch.cat([up, crop], 1))


class UNet(nn.Module):
    def __init__(self, in_channels=1, n_classes=2, width=64, depth=4):
        super().__init__()
        self.down_path = nn.ModuleList()
        prev = in_channels
        for k in range(depth + 1):
            self.down_path.append(UNetConvBlock(prev, width << k))
            prev = width << k
        self.up_path = nn.ModuleList()
        for k in reversed(range(depth)):
            self.up_path.append(UNetUpBlock(prev, width << k))
            prev = width << k
        self.last = nn.Conv2d(prev, n_classes, kernel_size=1)

    def forward(self, x):
        skips = []
        for i, down in enumerate(self.down_path):
            x = down(x)
            if i != len(self.down_path) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for i, up in enumerate(self.up_path):
            x = up(x, skips[-i - 1])
        return self.last(x)


class VGG16UNet(nn.Module):
    """§1.3 with encoder width w (Keras: 64): encoder w, 2w, 4w, 8w, 8w."""

    CONVS = (2, 2, 3, 3, 3)

    def __init__(self, in_channels=3, classes=1, w=64):
        super().__init__()
        prev = in_channels
        for b, n in enumerate(self.CONVS, start=1):
            ch = w << min(b - 1, 3)
            for i in range(1, n + 1):
                setattr(self, f"block{b}_conv{i}", nn.Conv2d(prev, ch, 3, padding=1))
                prev = ch
        for s in range(6, 10):
            f = w << (9 - s)
            setattr(self, f"up{s}", nn.Conv2d(prev, f, 2))
            setattr(self, f"conv{s}_1", nn.Conv2d(2 * f, f, 3, padding=1))
            setattr(self, f"conv{s}_2", nn.Conv2d(f, f, 3, padding=1))
            prev = f
        self.conv10 = nn.Conv2d(prev, classes, 1)

    def forward(self, x):
        skips = []
        for b, n in enumerate(self.CONVS, start=1):
            if b > 1:
                x = F.max_pool2d(x, 2)
            for i in range(1, n + 1):
                x = F.relu(getattr(self, f"block{b}_conv{i}")(x))
            skips.append(x)
        for s in range(6, 10):
            # UpSampling2D(2), then Conv2D(f, 2, padding='same'): TF pads bottom/right.
            up = F.pad(F.interpolate(x, scale_factor=2, mode="nearest"), (0, 1, 0, 1))
            up = F.relu(getattr(self, f"up{s}")(up))
            x = torch.cat([skips[9 - s], up], 1)
            x = F.relu(getattr(self, f"conv{s}_1")(x))
            x = F.relu(getattr(self, f"conv{s}_2")(x))
        return torch.sigmoid(self.conv10(x))


def he_init(model):
    """He-normal weights (the U-Net paper's Gaussian with std sqrt(2/fan_in),
    the Keras tutorial's he_normal) and small random biases, so that the
    activations neither vanish nor saturate the sigmoid and the outputs vary
    across pixels."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.uniform_(m.bias, -0.1, 0.1)


def run(case, model, arch, options, shape):
    he_init(model)
    model = model.eval()
    x = torch.rand(*shape)
    with torch.no_grad():
        y = model(x)
    save_case("unet", case, model, arch, options, x, [y])


if __name__ == "__main__":
    torch.manual_seed(11)
    # Legal sizes (16b + 124 at depth 4): 204 = b 5, 220 = b 6 -> 20 x 36 out.
    run("unet", UNet(1, 2, width=4, depth=4), "unet", "in_channels=1,classes=2,width=4,depth=4",
        (2, 1, 204, 220))
    torch.manual_seed(12)
    # Depth 2 with 3 classes and RGB: legal sizes are 4b + 28 -> 4b - 12 out (b >= 3).
    run("unet_d2", UNet(3, 3, width=6, depth=2), "unet", "in_channels=3,classes=3,width=6,depth=2",
        (3, 3, 52, 68))
    torch.manual_seed(13)
    # Multiples of 16 (Keras needs them), not of 32.
    run("unet_vgg16", VGG16UNet(3, 1, w=4), "unet_vgg16", "in_channels=3,classes=1,width=4",
        (2, 3, 48, 80))
    torch.manual_seed(14)
    run("unet_vgg16_c2", VGG16UNet(3, 2, w=3), "unet_vgg16", "in_channels=3,classes=2,width=3",
        (2, 3, 80, 48))
