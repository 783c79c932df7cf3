"""Training parity golden (issue #6): five SGD-momentum steps and five AdamW
steps of a small milesial U-Net (width 2, depth 3) in PyTorch, BN in training
mode, cross-entropy loss, from identical weights on an identical batch.
Writes tests/golden/train/unet_parity.safetensors: "init.<name>" (state dict),
"x" (NHWC), "labels" (int32 NHW), "<opt>.<k>.<name>" after step k = 1..5.
Run from tests/golden: python3 make_train_parity_unet.py
"""
import torch
from safetensors.torch import save_file

from golden_common import randomize_batchnorm
from make_golden_unet_bn import UNet

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
    "adamw": lambda p: torch.optim.AdamW(p, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
}

torch.manual_seed(11)
init = UNet(3, 3, False, w=2, d=3)
randomize_batchnorm(init, 12)
x = torch.rand(2, 3, 29, 38)
labels = torch.randint(0, 3, (2, 29, 38))
T = {f"init.{k}": v.detach().float().clone() for k, v in init.state_dict().items() if "num_batches" not in k}
T["x"] = x.permute(0, 2, 3, 1).contiguous()
T["labels"] = labels.int().contiguous()
for opt_name, make in OPTIMIZERS.items():
    model = UNet(3, 3, False, w=2, d=3)
    model.load_state_dict(init.state_dict())
    model.train()
    opt = make(model.parameters())
    for k in range(1, 6):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        for name, v in model.state_dict().items():
            if "num_batches" not in name:
                T[f"{opt_name}.{k}.{name}"] = v.detach().float().clone()
        T[f"{opt_name}.{k}.loss"] = loss.detach().reshape(1).double()
save_file(T, "train/unet_parity.safetensors", metadata={"torch": torch.__version__})
print(len(T), "tensors")
