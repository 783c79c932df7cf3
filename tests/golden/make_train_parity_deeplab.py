"""Training parity golden (issue #6) for DeepLab v3+: smp's DeepLabV3Plus
(ResNet-18 encoder, OS 16) at width 4 / 16 decoder channels, BN in training
mode, cross-entropy, five SGD-momentum and five AdamW steps. The ASPP dropout
is 0 here: the parity runs compare deterministic steps.
Writes tests/golden/train/deeplab_parity.safetensors like the U-Net one.

AdamW divides each update by the gradient's running RMS, so a weight whose
gradient is at the level of its own fp32 rounding moves by up to +-lr in a
direction rounding decides: on this model PyTorch's own fp32 run drifts from
its fp64 run by 5e-4 (steps 1-4) to 1.6e-2 (step 5), element-wise relative to
each tensor's largest weight. So the AdamW trajectory is stored twice: from
PyTorch fp32 ("adamw.<k>.*", which the test matches norm-wise within 1e-4)
and from a float64 run ("adamw64.<k>.*", with the deviation of PyTorch's fp32
run from it in "adamw64.<k>.torch_fp32_deviation"; the test allows cuseg
twice that deviation).
Run from tests/golden: python3 make_train_parity_deeplab.py
With --drift-survey it writes nothing and prints that deviation per step for
wider models too (it grows with the tensors' size: more weights whose
gradient is below its own fp32 rounding).
"""
import sys

import torch
from safetensors.torch import save_file

from golden_common import randomize_batchnorm
from make_golden_smp_deeplabv3plus import narrow
from segmentation_models_pytorch.decoders.deeplabv3.decoder import DeepLabV3PlusDecoder

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
    "adamw": lambda p: torch.optim.AdamW(p, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
}


def make(width=4, dec=16):
    m = narrow("resnet18", width=width, dec=dec, classes=3, os=16)
    m.decoder = DeepLabV3PlusDecoder(encoder_channels=m.encoder.out_channels, encoder_depth=5, out_channels=dec,
                                     atrous_rates=(12, 24, 36), output_stride=16, aspp_separable=True, aspp_dropout=0.0)
    return m


def train(init, x, labels, opt_name, dtype, width=4, dec=16):
    model = make(width, dec)
    model.load_state_dict(init.state_dict())
    model = model.to(dtype)
    model.train()
    opt = OPTIMIZERS[opt_name](model.parameters())
    steps = []
    for k in range(1, 6):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x.to(dtype)), labels)
        loss.backward()
        opt.step()
        steps.append(({n: v.detach().double().clone() for n, v in model.state_dict().items()
                       if "num_batches" not in n}, loss.detach().double()))
    return steps


def deviation(a, b):
    """The test's metric: max over tensors of norm-wise and element-wise relative error."""
    worst = 0.0
    for n in b:
        ref = b[n]
        scale = ref.abs().max().item()
        if scale == 0:
            continue
        d = a[n] - ref
        worst = max(worst, (d.norm() / ref.norm()).item(), d.abs().max().item() / scale)
    return worst


def adamw_fp32_deviation(init, x, labels, width=4, dec=16):
    """Per step: PyTorch fp32 AdamW against PyTorch fp64; and both trajectories."""
    steps32 = train(init, x, labels, "adamw", torch.float32, width, dec)
    steps64 = train(init, x, labels, "adamw", torch.float64, width, dec)
    return [deviation(p32, p64) for (p32, _), (p64, _) in zip(steps32, steps64)], steps32, steps64


def drift_survey():
    for width, dec, shape in [(4, 16, (8, 3, 48, 64)), (8, 16, (8, 3, 48, 64)), (16, 32, (4, 3, 64, 96))]:
        torch.manual_seed(21)
        init = make(width, dec)
        randomize_batchnorm(init, 22)
        x = torch.rand(*shape)
        labels = torch.randint(0, 3, (shape[0],) + shape[2:])
        dev, _, _ = adamw_fp32_deviation(init, x, labels, width, dec)
        print(f"width {width}, decoder {dec}, input {shape}: PyTorch fp32 vs fp64 after steps 1-5:",
              " ".join(f"{v:.1e}" for v in dev))


if __name__ == "__main__":
    if "--drift-survey" in sys.argv[1:]:
        drift_survey()
        sys.exit(0)
    torch.manual_seed(21)
    init = make()
    randomize_batchnorm(init, 22)
    x = torch.rand(8, 3, 48, 64)
    labels = torch.randint(0, 3, (8, 48, 64))
    T = {f"init.{k}": v.detach().float().clone() for k, v in init.state_dict().items() if "num_batches" not in k}
    T["x"] = x.permute(0, 2, 3, 1).contiguous()
    T["labels"] = labels.int().contiguous()
    dev, steps32, steps64 = adamw_fp32_deviation(init, x, labels)
    trajectories = {"sgd": train(init, x, labels, "sgd", torch.float32), "adamw": steps32, "adamw64": steps64}
    for prefix, steps in trajectories.items():
        for k, (params, loss) in enumerate(steps, 1):
            for name, v in params.items():
                T[f"{prefix}.{k}.{name}"] = v.float()
            T[f"{prefix}.{k}.loss"] = loss.reshape(1)
    for k, v in enumerate(dev, 1):
        T[f"adamw64.{k}.torch_fp32_deviation"] = torch.tensor([v], dtype=torch.float64)
    save_file(T, "train/deeplab_parity.safetensors", metadata={"torch": torch.__version__})
    print(len(T), "tensors;", "AdamW fp32 deviation per step:", [round(v, 6) for v in dev])
