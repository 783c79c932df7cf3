"""Goldens for the VGG16-based families: FCN-32s/16s/8s (`fcn32s`, `fcn16s`,
`fcn8s`, models.md §2.1/§2.2), DeepLab v1 LargeFOV and MSc-LargeFOV
(`deeplab_v1`, `deeplab_v1_msc`, §3.1/§3.2) and SegNet (`segnet`, §5).

None of these is in torchvision or smp, so the reference modules are written
here, layer by layer from models.md and the original code:
  * FCN follows wkentaro/pytorch-fcn (torchfcn/models/fcn{32,16,8}s.py):
    Caffe layer names as attributes (conv1_1 .. conv5_3, fc6, fc7, score_fr,
    score_pool4, score_pool3, upscore*), ceil-mode pooling, conv1_1 pad 100,
    Caffe crops written as slices. The transposed convs hold the frozen
    bilinear kernels (§0.6); the C++ test checks that the builder's kernels
    equal the ones stored here. pad100=False is §2.2's padded variant.
  * DeepLab v1 follows the PyTorch ports of the released prototxts that
    models.md §3 reads (features.N / classifier.N / score for LargeFOV;
    features1..5, MSc1..5, classifier, score for MSc-LargeFOV), with
    Dropout after fc6 as in the prototxt (so fc7 is classifier.4 in both)
    and the main score included in the MSc sum (§3.2). The stride-8 logits
    are resized to the input size with align_corners=True, as the ports do;
    for 8k+1 inputs this is exactly Caffe's Interp x8 ((in-1)*8+1).
  * SegNet follows caffe-segnet's SegNet-Tutorial prototxt: conv<b>_<i> +
    conv<b>_<i>_bn (BN eps 1e-9) + ReLU, ceil-mode max pools with indices,
    max-unpooling to the pre-pool size, decoder conv<b>_<i>_D (+ _bn), the
    classifier conv1_1_D without BN/ReLU.
Widths are reduced (the `width` option) to keep the files small; weights are
He-normal with small random biases so that activations neither vanish nor
explode, BN gets random statistics (randomize_batchnorm).
Run from the repository root: python3 tests/golden/make_golden_vgg.py
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_common import randomize_batchnorm, save_case

VGG_CONVS = (2, 2, 3, 3, 3)


def vgg_channels(width, block):
    """Output channels of VGG16 block 1..5: w, 2w, 4w, 8w, 8w."""
    return width << min(block - 1, 3)


def bilinear_kernel(channels, k):
    """§0.6: k = 2f - f mod 2; taps 1 - |i - center| / c on the channel diagonal."""
    c = (k + 1) // 2
    center = c - 1 if k % 2 == 1 else c - 0.5
    taps = 1 - (torch.arange(k, dtype=torch.float64) - center).abs() / c
    w = torch.zeros(channels, channels, k, k, dtype=torch.float64)
    for ch in range(channels):
        w[ch, ch] = taps[:, None] * taps[None, :]
    return w.float()


# ----------------------------------------------------------------------- FCN

class FCN(nn.Module):
    def __init__(self, stride, classes=21, width=64, pad100=True, in_channels=3):
        super().__init__()
        self.stride, self.pad100 = stride, pad100
        prev = in_channels
        for b, n in enumerate(VGG_CONVS, start=1):
            for i in range(1, n + 1):
                pad = 100 if (b, i) == (1, 1) and pad100 else 1
                setattr(self, f"conv{b}_{i}", nn.Conv2d(prev, vgg_channels(width, b), 3, padding=pad))
                prev = vgg_channels(width, b)
        fc = 64 * width
        self.fc6 = nn.Conv2d(prev, fc, 7, padding=0 if pad100 else 3)
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.score_fr = nn.Conv2d(fc, classes, 1)
        self.ups = []

        def up(name, f):
            k = 2 * f - f % 2
            m = nn.ConvTranspose2d(classes, classes, k, stride=f, padding=0 if pad100 else f // 2, bias=False)
            setattr(self, name, m)
            self.ups.append((m, k, classes))

        if stride == 32:
            up("upscore", 32)
        else:
            up("upscore2", 2)
            self.score_pool4 = nn.Conv2d(vgg_channels(width, 4), classes, 1)
            if stride == 16:
                up("upscore16", 16)
            else:
                up("upscore_pool4", 2)
                self.score_pool3 = nn.Conv2d(vgg_channels(width, 3), classes, 1)
                up("upscore8", 8)

    def set_bilinear(self):
        with torch.no_grad():
            for m, k, c in self.ups:
                m.weight.copy_(bilinear_kernel(c, k))

    def crop(self, x, like, offset):
        if not self.pad100:
            return x
        return x[:, :, offset:offset + like.shape[2], offset:offset + like.shape[3]]

    def forward(self, x):
        image = x
        for b, n in enumerate(VGG_CONVS, start=1):
            for i in range(1, n + 1):
                x = F.relu(getattr(self, f"conv{b}_{i}")(x))
            x = F.max_pool2d(x, 2, 2, ceil_mode=self.pad100)
            if b == 3:
                pool3 = x
            if b == 4:
                pool4 = x
        x = F.dropout(F.relu(self.fc6(x)), 0.5, self.training)
        x = F.dropout(F.relu(self.fc7(x)), 0.5, self.training)
        x = self.score_fr(x)
        if self.stride == 32:
            return self.crop(self.upscore(x), image, 19)
        up2 = self.upscore2(x)
        x = up2 + self.crop(self.score_pool4(pool4), up2, 5)
        if self.stride == 16:
            return self.crop(self.upscore16(x), image, 27)
        up4 = self.upscore_pool4(x)
        x = up4 + self.crop(self.score_pool3(pool3), up4, 9)
        return self.crop(self.upscore8(x), image, 31)


# ---------------------------------------------------------------- DeepLab v1

def dl_block(prev, ch, n, dilation, pool_stride):
    """n x (conv3x3 + ReLU), then max 3x3 (stride pool_stride, pad 1, ceil)."""
    layers = []
    for _ in range(n):
        layers += [nn.Conv2d(prev, ch, 3, padding=dilation, dilation=dilation), nn.ReLU()]
        prev = ch
    layers.append(nn.MaxPool2d(3, stride=pool_stride, padding=1, ceil_mode=True))
    return layers


def dl_classifier(prev, fc):
    """pool5a avg 3x3/1 (count_include_pad), fc6 3x3 dil 12, fc7 1x1."""
    return nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), nn.Conv2d(prev, fc, 3, padding=12, dilation=12),
                         nn.ReLU(), nn.Dropout(0.5), nn.Conv2d(fc, fc, 1), nn.ReLU(), nn.Dropout(0.5))


BLOCK_SETUP = ((1, 2), (1, 2), (1, 2), (1, 1), (2, 1))  # (dilation, pool stride) per VGG block


class DeepLabLargeFOV(nn.Module):
    def __init__(self, classes=21, width=64, in_channels=3):
        super().__init__()
        layers, prev = [], in_channels
        for b, (n, (d, s)) in enumerate(zip(VGG_CONVS, BLOCK_SETUP), start=1):
            layers += dl_block(prev, vgg_channels(width, b), n, d, s)
            prev = vgg_channels(width, b)
        self.features = nn.Sequential(*layers)
        self.classifier = dl_classifier(prev, 16 * width)
        self.score = nn.Conv2d(16 * width, classes, 1)

    def forward(self, x):
        y = self.score(self.classifier(self.features(x)))
        return F.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=True)


class DeepLabMScLargeFOV(nn.Module):
    def __init__(self, classes=21, width=64, in_channels=3):
        super().__init__()
        msc = 2 * width
        prev = in_channels
        for b, (n, (d, s)) in enumerate(zip(VGG_CONVS, BLOCK_SETUP), start=1):
            # Branch k taps the input of block k (image, pool1..pool4); its
            # first conv's stride brings it to the stride-8 grid.
            stride = (8, 4, 2, 1, 1)[b - 1]
            setattr(self, f"MSc{b}", nn.Sequential(
                nn.Conv2d(prev, msc, 3, stride=stride, padding=1), nn.ReLU(), nn.Dropout(0.5),
                nn.Conv2d(msc, msc, 1), nn.ReLU(), nn.Dropout(0.5), nn.Conv2d(msc, classes, 1)))
            setattr(self, f"features{b}", nn.Sequential(*dl_block(prev, vgg_channels(width, b), n, d, s)))
            prev = vgg_channels(width, b)
        self.classifier = dl_classifier(prev, 16 * width)
        self.score = nn.Conv2d(16 * width, classes, 1)

    def forward(self, x):
        h = x
        fused = 0
        for b in range(1, 6):
            fused = fused + getattr(self, f"MSc{b}")(h)
            h = getattr(self, f"features{b}")(h)
        y = self.score(self.classifier(h)) + fused
        return F.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=True)


# -------------------------------------------------------------------- SegNet

class SegNet(nn.Module):
    def __init__(self, classes=11, width=64, in_channels=3):
        super().__init__()
        prev = in_channels
        for b, n in enumerate(VGG_CONVS, start=1):
            for i in range(1, n + 1):
                ch = vgg_channels(width, b)
                setattr(self, f"conv{b}_{i}", nn.Conv2d(prev, ch, 3, padding=1))
                setattr(self, f"conv{b}_{i}_bn", nn.BatchNorm2d(ch, eps=1e-9))
                prev = ch
        for b in range(5, 0, -1):
            for i in range(VGG_CONVS[b - 1], 0, -1):
                if i > 1:
                    out = vgg_channels(width, b)
                else:
                    out = vgg_channels(width, b - 1) if b > 1 else classes
                setattr(self, f"conv{b}_{i}_D", nn.Conv2d(prev, out, 3, padding=1))
                if (b, i) != (1, 1):
                    setattr(self, f"conv{b}_{i}_D_bn", nn.BatchNorm2d(out, eps=1e-9))
                prev = out

    def forward(self, x):
        stack = []
        for b, n in enumerate(VGG_CONVS, start=1):
            for i in range(1, n + 1):
                x = F.relu(getattr(self, f"conv{b}_{i}_bn")(getattr(self, f"conv{b}_{i}")(x)))
            size = x.shape[2:]
            x, idx = F.max_pool2d(x, 2, 2, ceil_mode=True, return_indices=True)
            stack.append((idx, size))
        for b in range(5, 0, -1):
            idx, size = stack.pop()
            x = F.max_unpool2d(x, idx, 2, 2, output_size=size)
            for i in range(VGG_CONVS[b - 1], 0, -1):
                x = getattr(self, f"conv{b}_{i}_D")(x)
                if (b, i) != (1, 1):
                    x = F.relu(getattr(self, f"conv{b}_{i}_D_bn")(x))
        return x


# ---------------------------------------------------------------------------

def he_init(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.1, 0.1)


def small_variances(model, seed):
    """Gives every BN's first channel a variance of ~1e-4 (gamma scaled down
    to keep its output's size), so that eps matters: caffe-segnet's 1e-9 vs
    PyTorch's default 1e-5 changes that channel by ~5%."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var[0] = 1e-4 * (1 + torch.rand(1, generator=g).item())
                m.weight[0] *= 0.01


def run(case, model, arch, options, shape, seed):
    torch.manual_seed(seed)
    he_init(model)
    if isinstance(model, FCN):
        model.set_bilinear()
    randomize_batchnorm(model, seed)
    small_variances(model, seed)
    model = model.eval()
    x = torch.rand(*shape)
    with torch.no_grad():
        y = model(x)
    print(f"  {case}: output std {y.std().item():.3g}, mean |y| {y.abs().mean().item():.3g}")
    save_case("vgg", case, model, arch, options, x, [y])


if __name__ == "__main__":
    # FCN, original (pad 100, crops): any size; odd sizes exercise ceil pooling.
    run("fcn8s", FCN(8, classes=4, width=2), "fcn8s", "classes=4,width=2", (2, 3, 45, 77), 21)
    run("fcn16s", FCN(16, classes=3, width=2), "fcn16s", "classes=3,width=2", (2, 3, 61, 40), 22)
    run("fcn32s", FCN(32, classes=3, width=2), "fcn32s", "classes=3,width=2", (3, 3, 38, 53), 23)
    # Padded FCN-8s: the sums need multiples of 32.
    run("fcn8s_padded", FCN(8, classes=4, width=2, pad100=False), "fcn8s", "classes=4,width=2,pad100=0",
        (2, 3, 64, 96), 24)
    # DeepLab v1: 8k+1 sizes (the design sizes, Interp x8 lands on the input
    # size) and, for LargeFOV, a size that is not (resized to the input).
    run("deeplab_v1", DeepLabLargeFOV(classes=5, width=4), "deeplab_v1", "classes=5,width=4", (2, 3, 65, 97), 31)
    run("deeplab_v1_any", DeepLabLargeFOV(classes=3, width=3), "deeplab_v1", "classes=3,width=3",
        (2, 3, 50, 75), 32)
    run("deeplab_v1_msc", DeepLabMScLargeFOV(classes=4, width=4), "deeplab_v1_msc", "classes=4,width=4",
        (2, 3, 57, 89), 33)
    # SegNet: ceil pooling and unpooling on odd sizes.
    run("segnet", SegNet(classes=11, width=4), "segnet", "width=4", (2, 3, 72, 90), 41)
    run("segnet_odd", SegNet(classes=5, width=3, in_channels=1), "segnet", "classes=5,width=3,in_channels=1",
        (2, 1, 61, 47), 42)
