"""Training parity golden for `cuseg train --bn eval|frozen` (issue #6): three
SGD-momentum steps of a small milesial U-Net (width 2, depth 2) in PyTorch
with every BatchNorm in eval mode inside model.train() (running statistics
normalise and stay fixed, gamma/beta learn), and three with BN "frozen" (eval
mode and gamma/beta requires_grad False, so the optimizer never sees them).
Random running statistics, so that eval mode differs from training mode.
Writes tests/golden/train/unet_bn_modes_parity.safetensors: "init.<name>"
(state dict), "x" (NHWC), "labels" (int32 NHW), "<mode>.<k>.<name>" for every
parameter after step k = 1..3 (buffers do not change: checked here) and
"<mode>.<k>.loss".
Run from tests/golden: python3 make_train_parity_bn_modes.py
"""
import torch
from safetensors.torch import save_file

from golden_common import randomize_batchnorm
from make_golden_unet_bn import UNet

torch.manual_seed(21)
init = UNet(3, 3, False, w=2, d=2)
randomize_batchnorm(init, 22)
x = torch.rand(2, 3, 21, 26)
labels = torch.randint(0, 3, (2, 21, 26))
T = {f"init.{k}": v.detach().float().clone() for k, v in init.state_dict().items() if "num_batches" not in k}
T["x"] = x.permute(0, 2, 3, 1).contiguous()
T["labels"] = labels.int().contiguous()
for mode in ("eval", "frozen"):
    model = UNet(3, 3, False, w=2, d=2)
    model.load_state_dict(init.state_dict())
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
            if mode == "frozen":
                m.weight.requires_grad_(False)
                m.bias.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9,
                          weight_decay=1e-4)
    for k in range(1, 4):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        for name, v in model.named_parameters():
            T[f"{mode}.{k}.{name}"] = v.detach().float().clone()
        T[f"{mode}.{k}.loss"] = loss.detach().reshape(1).double()
    for name, v in model.named_buffers():
        if "running" in name:
            assert torch.equal(v, init.state_dict()[name]), name
save_file(T, "train/unet_bn_modes_parity.safetensors", metadata={"torch": torch.__version__})
print(len(T), "tensors")
