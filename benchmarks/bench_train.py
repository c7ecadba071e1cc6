"""Training throughput: the library's train_vae loop vs. a bare PyTorch loop, same network.

Prints images/s of each and their ratio (goal: library / bare >= 0.9), measured in one run,
alternating the two several times and keeping each one's median.

    python benchmarks/bench_train.py [--steps 300] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vaerobust.config import DataConfig, RunConfig, TrainConfig, objective_config
from vaerobust.files import read_jsonl
from vaerobust.pipelines.train import train_vae


def library(steps: int, device: str) -> float:
    """images/s measured by train_vae's own loop (setup and figures excluded)."""
    cfg = RunConfig(
        data=DataConfig(name="synthetic"),
        objective=objective_config("jointvae", capacity_steps=100_000),
        train=TrainConfig(steps=steps, log_every=steps, checkpoint_every=10 * steps),
    )
    with tempfile.TemporaryDirectory() as d:
        train_vae(cfg, Path(d) / "run", device=device, progress=False, stop_at=steps)
        return float(read_jsonl(Path(d) / "run" / "metrics.jsonl")[-1]["images_per_s"])


def bare(steps: int, device: str, n: int = 2000, batch: int = 64) -> float:
    """The same conv32 JointVAE written inline: no config, registry, Posterior or logging."""
    torch.manual_seed(0)
    dev = torch.device(device)
    enc = nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 30),
    ).to(dev)
    dec = nn.Sequential(
        nn.Linear(20, 128), nn.ReLU(), nn.Linear(128, 1024), nn.ReLU(), nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, 2, 1),
    ).to(dev)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-4)
    x = torch.rand(n, 1, 32, 32, device=dev)
    t0 = time.perf_counter()
    for step in range(steps):
        xb = x[torch.randint(0, n, (batch,), device=dev)]
        h = enc(xb)
        mu, logvar, logits = h[:, :10], h[:, 10:20], h[:, 20:]
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        g = -torch.log(-torch.log(torch.rand_like(logits).clamp(1e-10, 1 - 1e-7)))
        c = F.softmax((logits + g) / 0.67, 1)
        recon = F.binary_cross_entropy_with_logits(dec(torch.cat([z, c], 1)), xb, reduction="sum") / batch
        kl_z = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()
        q = F.log_softmax(logits, 1)
        kl_c = ((q.exp() * q).sum(1) + torch.log(torch.tensor(10.0))).mean()
        cap = 5.0 * min(step / 100_000, 1.0)
        loss = recon + 30 * (kl_z - cap).abs() + 30 * (kl_c - cap).abs()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    bare(20, a.device)  # warm-up
    lib_r, bare_r = [], []
    for _ in range(a.repeats):
        lib_r.append(library(a.steps, a.device))
        bare_r.append(bare(a.steps, a.device))
    lib, b = statistics.median(lib_r), statistics.median(bare_r)
    print(f"device {a.device}, torch threads {torch.get_num_threads()}, batch 64, {a.steps} steps x {a.repeats} repeats")
    print(f"library train_vae : {lib:9.0f} images/s   (runs: {', '.join(f'{v:.0f}' for v in lib_r)})")
    print(f"bare PyTorch loop : {b:9.0f} images/s   (runs: {', '.join(f'{v:.0f}' for v in bare_r)})")
    print(f"ratio library/bare: {lib / b:.3f}   (goal >= 0.9)")


if __name__ == "__main__":
    main()
