"""Can the latent attack leave its source? ||grad_x D(x_s)|| against the penalty's lam, per pair of a sweep.

The latent attack minimises lam * ||x - x_s||_2 + D(x), D(x) = ||phi(x) - phi(x_t)||_2. Where
||grad_x D(x_s)|| < lam, x_s is a local minimum of that loss (the penalty's subgradients at x_s
reach norm lam): an attack that falls back to x_s stays there and cannot succeed, whatever its
box (:func:`vaerobust.attacks.latent.source_gradient_norms`). It is a local test: an attack that
starts (x_s + noise) outside that minimum's basin can end elsewhere. For each model job of a study folder
whose checkpoints are still there, this prints, for the sweep ATTACK's kept pairs: the median
and 90th percentile of that norm, the share of pairs under lam (read from the sweep's settings),
the attack's median L2 and attack success (ignore-target) among pairs under and over lam, and
the median L2 of the successful pairs under lam (near 0: they succeed at x_s itself; large:
they never came back).

    python benchmarks/source_gradients.py runs/sootla2018-fidelity [--attack script_attack] [--job SUBSTRING]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vaerobust.attacks.latent import source_gradient_norms
from vaerobust.data import load_dataset
from vaerobust.rundir import load_vae, read_run_config, read_summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--attack", default="script_attack")
    ap.add_argument("--job", default="", help="only jobs whose id contains this")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cache: dict[str, torch.Tensor] = {}
    print(f"{'job':52s} {'lam':>5s} {'pairs':>5s} {'median':>7s} {'p90':>7s} {'< lam':>6s} "
          f"{'L2 <':>6s} {'L2 >=':>6s} {'AS <':>6s} {'AS >=':>6s} {'L2 hit <':>8s}")
    for job in sorted((args.study / "jobs").iterdir()):
        sweep = job / "model" / "attacks" / args.attack
        if args.job not in job.name or not (sweep / "examples.csv").is_file() or not (job / "model" / "model.safetensors").is_file():
            continue
        lam = float(read_summary(sweep).attack["lam"])  # the sweep's own record of its settings
        data = read_run_config(job / "model").data
        key = repr(data)
        if key not in cache:
            cache[key] = load_dataset(data, "test")[0]
        x = cache[key]
        ex = pd.read_csv(sweep / "examples.csv")
        ex = ex[ex.kept.astype(bool)]
        vae = load_vae(job / "model")
        n = source_gradient_norms(vae, x[torch.as_tensor(ex.src_index.to_numpy().copy())],
                                  x[torch.as_tensor(ex.tgt_index.to_numpy().copy())]).numpy()
        under = n < lam
        hit = (ex.adv_pred != ex.source).to_numpy()
        l2 = ex.l2.to_numpy()
        print(f"{job.name:52s} {lam:5g} {len(n):5d} {np.median(n):7.2f} {np.percentile(n, 90):7.2f} "
              f"{100 * under.mean():5.1f}% {_median(l2, under)} {_median(l2, ~under)} {_rate(hit, under)} "
              f"{_rate(hit, ~under)} {_median(l2, under & hit):>8s}")


def _median(v: np.ndarray, m: np.ndarray) -> str:
    return f"{np.median(v[m]):6.3f}" if m.any() else "     -"


def _rate(hit: np.ndarray, m: np.ndarray) -> str:
    return f"{100 * hit[m].mean():5.1f}%" if m.any() else "     -"


if __name__ == "__main__":
    main()
