"""Attack throughput: the library's LatentAttack vs. a bare PyTorch loop, same encoder.

Prints image-steps/s (images in the batch x optimisation steps per second) of each and
their ratio (goal: library / bare >= 0.9), measured in one run, alternating the two. Both
are measured in both memory layouts of the weights: contiguous (NCHW, PyTorch's default) and
channels-last (NHWC, the library's default during attacks, ``attack.channels_last``), so the
ratio compares like with like and the layout's own gain is printed beside it.

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
from vaerobust.models.layout import channels_last


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def library(model: VAE, xs: torch.Tensor, xt: torch.Tensor, steps: int, nhwc: bool) -> float:
    atk = build_attack(model, AttackConfig(steps=steps, channels_last=nhwc))
    _sync(xs.device)
    t0 = time.perf_counter()
    atk(xs, xt, generator=torch.Generator().manual_seed(0))
    _sync(xs.device)
    return xs.shape[0] * steps / (time.perf_counter() - t0)


def bare(encoder: nn.Module, xs: torch.Tensor, xt: torch.Tensor, steps: int, nhwc: bool) -> float:
    """The thesis's attack written inline against the bare encoder (features = its first 10 + last 10 outputs)."""
    with channels_last(encoder, nhwc):
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
        rate = xs.shape[0] * steps / (time.perf_counter() - t0)
        for p in encoder.parameters():
            p.requires_grad_(True)
    return rate


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
    for nhwc in (False, True):
        bare(model.encoder, xs, xt, 5, nhwc)  # warm-up
    runs: dict[tuple[str, bool], list[float]] = {(k, n): [] for k in ("library", "bare") for n in (False, True)}
    for _ in range(a.repeats):
        for nhwc in (False, True):
            runs["library", nhwc].append(library(model, xs, xt, a.steps, nhwc))
            runs["bare", nhwc].append(bare(model.encoder, xs, xt, a.steps, nhwc))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"device {a.device}, torch threads {torch.get_num_threads()}, batch {a.batch}, {a.steps} steps x {a.repeats} repeats")
    for nhwc, layout in ((False, "contiguous (NCHW)"), (True, "channels-last (NHWC)")):
        lib, b = med["library", nhwc], med["bare", nhwc]
        print(f"weights {layout}:")
        print(f"  library LatentAttack: {lib:10.0f} image-steps/s   (runs: {', '.join(f'{v:.0f}' for v in runs['library', nhwc])})")
        print(f"  bare PyTorch loop   : {b:10.0f} image-steps/s   (runs: {', '.join(f'{v:.0f}' for v in runs['bare', nhwc])})")
        print(f"  ratio library/bare  : {lib / b:.3f}   (goal >= 0.9)")
    lib = med["library", True]
    print(f"channels-last gain (library): {lib / med['library', False]:.2f}x")
    full = 90 * 1000 * 0.95 * 1000  # about 90 pairs x ~1000 test images x 1000 steps
    print(f"full protocol sweep at the library's default rate: ~{full / lib / 60:.0f} min per model "
          "(1000 steps, all test images, no early stopping)")


if __name__ == "__main__":
    main()
