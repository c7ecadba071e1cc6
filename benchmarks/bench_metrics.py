"""Seconds per disentanglement metric at the default sample sizes on one dSprites model.

    python benchmarks/bench_metrics.py [RUN_DIR] [--device cpu] [--threads N] [--metrics beta_vae,mig]

RUN_DIR: a VAE run trained on dsprites (its config picks the data; DeepMind's file if its
``data.root`` names one). Without it: an untrained VAE with the registered ``conv64``
architecture if there is one, else a stand-in 64x64 encoder defined here (the conv encoder of
Burgess et al. 2018 / Locatello et al. 2019: four 4x4 stride-2 convolutions 32-32-64-64, dense
256, 10 Gaussian dimensions), and the generated grid.

Prints, in seconds: building / opening the packed cache (a one-time cost), encoding the
whole 737,280-image grid once (codes are then looked up by grid index: the metrics draw about
2.9 million images at the defaults, ~98% of the grid) beside a bare inference loop over the same
images (goal: the library at 0.9x its speed or better), each metric on the cached codes at its
default sizes (10,000 train / 5,000 eval points; batch 64), and the total. Goal: under 120 s
for the metrics on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from vaerobust.config import DataConfig
from vaerobust.data import load_factor_grid
from vaerobust.data.dsprites import build_generated_cache
from vaerobust.metrics.disentanglement import DISENTANGLEMENT
from vaerobust.models import LatentSpec, Posterior
from vaerobust.models.encoding import GridCodes
from vaerobust.pipelines.evaluate import grid_metrics


class StandInVAE(nn.Module):
    """An untrained 1x64x64 encoder -> 10 Gaussian dims (used only when no conv64 arch exists)."""

    def __init__(self, latent: int = 10) -> None:
        super().__init__()
        self.spec = LatentSpec(latent, ())
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(), nn.Linear(256, 2 * latent),
        )

    def encode(self, x: torch.Tensor) -> Posterior:
        return self.spec.split(self.encoder(x))


def model_and_data(run: Path | None, device: str) -> tuple[object, DataConfig, str]:
    if run is not None:
        from vaerobust.pipelines.attack import run_config_of
        from vaerobust.rundir import load_vae

        return load_vae(run, device), run_config_of(run).data, f"run {run}"
    from vaerobust.models.encoders import ENCODERS

    torch.manual_seed(0)
    cfg = DataConfig(name="dsprites", image_size=64)
    if "conv64" in ENCODERS:
        from vaerobust.models import VAE

        return VAE(LatentSpec(10, ()), arch="conv64", hidden=256).to(device).eval(), cfg, "untrained VAE, arch conv64, hidden 256"
    return StandInVAE().to(device).eval(), cfg, "untrained stand-in 64x64 conv encoder (no 'conv64' arch registered yet)"


@torch.inference_mode()
def bare_encode(vae: object, grid: object, device: str, batch: int) -> float:
    """Seconds of a bare loop: each batch of grid images through the encoder, means kept, nothing else."""
    import numpy as np

    t = time.perf_counter()
    out = []
    for s in range(0, len(grid), batch):
        out.append(vae.encode(grid[np.arange(s, min(s + batch, len(grid)))].to(device)).mean.cpu())  # type: ignore[attr-defined]
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", type=Path, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--metrics", default=",".join(DISENTANGLEMENT.names()))
    ap.add_argument("--encode-batch", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="grid encodes of each kind, alternated (best kept)")
    ap.add_argument("--dci-predictor", default="reference", help="reference (disentanglement_lib's) or fast")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    vae, data_cfg, what = model_and_data(args.run, args.device)
    print(f"model: {what}; device {args.device}; torch threads {torch.get_num_threads()}")

    t = time.perf_counter()
    if data_cfg.root is None:
        build_generated_cache()
    grid = load_factor_grid(data_cfg)
    t_cache = time.perf_counter() - t
    print(f"grid: {grid!r}; cache ready in {t_cache:.1f} s (one-time)")

    # the grid encode (GridCodes) against a bare inference loop over the same images and batches,
    # alternated; each one's best of --repeats (the machine's noise only slows a run down)
    lib_s, bare_s = [], []
    for _ in range(args.repeats):
        codes = GridCodes(vae, grid, args.device, batch_size=args.encode_batch)
        t = time.perf_counter()
        codes.encode_all()
        lib_s.append(time.perf_counter() - t)
        bare_s.append(bare_encode(vae, grid, args.device, args.encode_batch))
    t_encode, t_bare = min(lib_s), min(bare_s)
    n = codes.n_encoded
    ratio = (n / t_encode) / (n / t_bare)
    print(f"encode grid: {t_encode:8.1f} s  ({n / t_encode:,.0f} images/s); bare inference loop {t_bare:.1f} s "
          f"({n / t_bare:,.0f} images/s); ratio {ratio:.2f}x (goal >= 0.9x: {'met' if ratio >= 0.9 else 'not met'})")

    times: dict[str, float] = {}
    for name in [n.strip() for n in args.metrics.split(",") if n.strip()]:
        t = time.perf_counter()
        opts = {"dci": {"predictor": args.dci_predictor}} if args.dci_predictor != "reference" else None
        res = grid_metrics(vae, grid, [name], args.device, args.seed, options=opts, codes=codes)[name]
        times[name] = time.perf_counter() - t
        shown = ", ".join(f"{k}={v:.3f}" for k, v in res.items())
        print(f"{name:>11}: {times[name]:8.1f} s  ({shown})")
    total = sum(times.values())
    print(f"DCI predictor: {args.dci_predictor}; goal with the fast predictor: the five metrics within 60 s "
          f"({'met' if total <= 60 else 'not met'})")
    print(f"metrics total: {total:.1f} s; with the grid encode: {total + t_encode:.1f} s; "
          f"goal < 120 s: {'met' if total + t_encode < 120 else 'not met'} (metrics alone: {'met' if total < 120 else 'not met'})")


if __name__ == "__main__":
    main()
