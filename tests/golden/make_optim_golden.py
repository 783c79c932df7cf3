"""Goldens for host/train/optim.c: torch.optim updates, lr schedules and
clip_grad_norm_. Writes tests/golden/train/optim.safetensors:
  "<case>.p0"          initial parameters (two tensors: .a and .b)
  "<case>.grads"       [steps, n] gradients fed at each step (a then b, flattened)
  "<case>.params"      [steps, n] parameters after each step
and "sched.<name>" [60] learning rates, "clip.*" inputs and outputs.
Tensor b is excluded from weight decay (as BN/bias are in training).
Run: python3 tests/golden/make_optim_golden.py
"""
from pathlib import Path

import torch
from safetensors.torch import save_file

torch.manual_seed(1)
OUT = Path(__file__).resolve().parent / "train"
OUT.mkdir(exist_ok=True)
T = {}
STEPS, NA, NB = 5, 37, 11


def run(name, make):
    a = torch.nn.Parameter(torch.randn(NA))
    b = torch.nn.Parameter(torch.randn(NB))
    T[f"{name}.p0"] = torch.cat([a.detach(), b.detach()]).clone()
    opt = make([{"params": [a]}, {"params": [b], "weight_decay": 0.0}])
    grads, params = [], []
    for _ in range(STEPS):
        ga, gb = torch.randn(NA), torch.randn(NB)
        a.grad, b.grad = ga.clone(), gb.clone()
        opt.step()
        grads.append(torch.cat([ga, gb]))
        params.append(torch.cat([a.detach(), b.detach()]).clone())
    T[f"{name}.grads"] = torch.stack(grads)
    T[f"{name}.params"] = torch.stack(params)


run("sgd_nesterov", lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3))
run("sgd_dampening", lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3))
run("sgd_plain", lambda g: torch.optim.SGD(g, lr=0.1))
run("adam", lambda g: torch.optim.Adam(g, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-3))
run("adamw", lambda g: torch.optim.AdamW(g, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05))


def lrs(make, n=60):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return torch.tensor(out, dtype=torch.float64)


S = torch.optim.lr_scheduler
T["sched.poly"] = lrs(lambda o: S.PolynomialLR(o, total_iters=50, power=0.9))
T["sched.cosine"] = lrs(lambda o: S.CosineAnnealingLR(o, T_max=50, eta_min=1e-4))
T["sched.step"] = lrs(lambda o: S.StepLR(o, step_size=7, gamma=0.5))
T["sched.warmup_poly"] = lrs(lambda o: S.SequentialLR(
    o, [S.LinearLR(o, start_factor=0.1, total_iters=10), S.PolynomialLR(o, total_iters=50, power=0.9)], milestones=[10]))

g1, g2 = torch.randn(30) * 3, torch.randn(7) * 3
T["clip.in"] = torch.cat([g1, g2])
p1, p2 = torch.nn.Parameter(torch.zeros(30)), torch.nn.Parameter(torch.zeros(7))
p1.grad, p2.grad = g1.clone(), g2.clone()
norm = torch.nn.utils.clip_grad_norm_([p1, p2], max_norm=2.0)
T["clip.out"] = torch.cat([p1.grad, p2.grad])
T["clip.norm"] = norm.reshape(1).double()
save_file(T, str(OUT / "optim.safetensors"), metadata={"torch": torch.__version__})
print(len(T), "tensors")
