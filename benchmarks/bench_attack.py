"""Attack throughput: the library's LatentAttack vs. a bare PyTorch loop, same encoder.

Prints image-steps/s (images in the batch x optimisation steps per second) of each and
their ratio (goal: library / bare >= 0.9), measured in one run, alternating the two.

    python benchmarks/bench_attack.py [--batch 256] [--steps 100] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from vaerobust.attacks import build_attack
from vaerobust.config import AttackConfig
from vaerobust.models import VAE, LatentSpec


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def library(model: VAE, xs: torch.Tensor, xt: torch.Tensor, steps: int) -> float:
    atk = build_attack(model, AttackConfig(steps=steps))
    _sync(xs.device)
    t0 = time.perf_counter()
    atk(xs, xt, generator=torch.Generator().manual_seed(0))
    _sync(xs.device)
    return xs.shape[0] * steps / (time.perf_counter() - t0)


def bare(encoder: nn.Module, xs: torch.Tensor, xt: torch.Tensor, steps: int) -> float:
    """The thesis's attack written inline against the bare encoder (features = its first 10 + last 10 outputs)."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    _sync(xs.device)
    t0 = time.perf_counter()
    with torch.no_grad():
        h = encoder(xt)
        ft = torch.cat([h[:, :10], h[:, 20:]], 1)
        x = (xs + 0.2 * torch.randn_like(xs)).clamp(0, 1)
        lo, hi = (xs - 0.1).clamp_min(0), (xs + 0.1).clamp_max(1)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=1e-3)
    for _ in range(steps):
        h = encoder(x)
        f = torch.cat([h[:, :10], h[:, 20:]], 1)
        loss = ((x - xs).flatten(1).norm(dim=1) + (f - ft).norm(dim=1)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.copy_(torch.minimum(torch.maximum(x, lo), hi))
    _sync(xs.device)
    for p in encoder.parameters():
        p.requires_grad_(True)
    return xs.shape[0] * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(0)
    model = VAE(LatentSpec(10, (10,))).to(dev).eval()
    xs = torch.rand(a.batch, 1, 32, 32, device=dev)
    xt = torch.rand(a.batch, 1, 32, 32, device=dev)
    bare(model.encoder, xs, xt, 5)  # warm-up
    lib_r, bare_r = [], []
    for _ in range(a.repeats):
        lib_r.append(library(model, xs, xt, a.steps))
        bare_r.append(bare(model.encoder, xs, xt, a.steps))
    lib, b = statistics.median(lib_r), statistics.median(bare_r)
    print(f"device {a.device}, torch threads {torch.get_num_threads()}, batch {a.batch}, {a.steps} steps x {a.repeats} repeats")
    print(f"library LatentAttack: {lib:10.0f} image-steps/s   (runs: {', '.join(f'{v:.0f}' for v in lib_r)})")
    print(f"bare PyTorch loop   : {b:10.0f} image-steps/s   (runs: {', '.join(f'{v:.0f}' for v in bare_r)})")
    print(f"ratio library/bare  : {lib / b:.3f}   (goal >= 0.9)")
    full = 90 * 1000 * 0.95 * 1000  # about 90 pairs x ~1000 test images x 1000 steps
    print(f"full protocol sweep at this rate: ~{full / lib / 60:.0f} min per model (1000 steps, all test images)")


if __name__ == "__main__":
    main()
