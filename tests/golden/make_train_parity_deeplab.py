"""Training parity golden (issue #6) for DeepLab v3+: smp's DeepLabV3Plus
(ResNet-18 encoder, OS 16) at width 4 / 16 decoder channels, BN in training
mode, cross-entropy, five SGD-momentum and five AdamW steps. The ASPP dropout
is 0 here: cuseg's dropout is the identity (no training-mode masks yet).
Writes tests/golden/train/deeplab_parity.safetensors like the U-Net one.

AdamW divides each update by the gradient's running RMS, which amplifies the
fp32 rounding of small gradients: on this model PyTorch's own fp32 run drifts
from its fp64 run by ~1.5e-3 relative after five steps. So the AdamW
trajectory is stored from a float64 run ("adamw.<k>.*"), with the deviation of
PyTorch's fp32 run from it ("adamw.<k>.torch_fp32_deviation"); the test
allows cuseg twice that deviation (and at least 1e-4).
Run from tests/golden: python3 make_train_parity_deeplab.py
"""
import torch
from safetensors.torch import save_file

from golden_common import randomize_batchnorm
from make_golden_smp_deeplabv3plus import narrow
from segmentation_models_pytorch.decoders.deeplabv3.decoder import DeepLabV3PlusDecoder

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
    "adamw": lambda p: torch.optim.AdamW(p, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
}


def make():
    m = narrow("resnet18", width=4, dec=16, classes=3, os=16)
    m.decoder = DeepLabV3PlusDecoder(encoder_channels=m.encoder.out_channels, encoder_depth=5, out_channels=16,
                                     atrous_rates=(12, 24, 36), output_stride=16, aspp_separable=True, aspp_dropout=0.0)
    return m


if __name__ == "__main__":
    torch.manual_seed(21)
    init = make()
    randomize_batchnorm(init, 22)
    x = torch.rand(8, 3, 48, 64)
    labels = torch.randint(0, 3, (8, 48, 64))
    T = {f"init.{k}": v.detach().float().clone() for k, v in init.state_dict().items() if "num_batches" not in k}
    T["x"] = x.permute(0, 2, 3, 1).contiguous()
    T["labels"] = labels.int().contiguous()
    def train(opt_name, dtype):
        model = make()
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

    for opt_name in OPTIMIZERS:
        steps = train(opt_name, torch.float32)
        if opt_name == "adamw":
            steps64 = train(opt_name, torch.float64)
            for k, ((p32, _), (p64, _)) in enumerate(zip(steps, steps64), 1):
                T[f"adamw.{k}.torch_fp32_deviation"] = torch.tensor([deviation(p32, p64)], dtype=torch.float64)
            steps = steps64
        for k, (params, loss) in enumerate(steps, 1):
            for name, v in params.items():
                T[f"{opt_name}.{k}.{name}"] = v.float()
            T[f"{opt_name}.{k}.loss"] = loss.reshape(1)
    save_file(T, "train/deeplab_parity.safetensors", metadata={"torch": torch.__version__})
    print(len(T), "tensors;", "AdamW fp32 deviation per step:",
          [round(T[f"adamw.{k}.torch_fp32_deviation"].item(), 6) for k in range(1, 6)])
