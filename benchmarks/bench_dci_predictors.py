"""DCI's fast predictor against the reference on real codes: the same points, both predictors.

    python benchmarks/bench_dci_predictors.py RUN_DIR [RUN_DIR ...] [--device cpu] [--num-train 10000] [--num-test 5000]

Each RUN_DIR is a VAE run trained on dsprites (e.g. `vaerobust train --preset dsprites/beta_tcvae
--quick --out runs/dsp-btc`). Its grid is encoded once; DCI is computed with the reference
predictor (scikit-learn's GradientBoostingClassifier defaults, disentanglement_lib's) and with the
fast one (20 stages at 0.5) on the same sampled points (same seed). Prints per run D, C and test
informativeness of both, their absolute differences and seconds, and the largest difference
over the runs against the goal (0.02).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vaerobust.data import load_factor_grid
from vaerobust.models.encoding import GridCodes
from vaerobust.pipelines.attack import run_config_of
from vaerobust.pipelines.evaluate import grid_metrics
from vaerobust.rundir import load_vae

KEYS = ("disentanglement", "completeness", "informativeness_test")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--num-train", type=int, default=10_000)
    ap.add_argument("--num-test", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    sizes = {"num_train": a.num_train, "num_test": a.num_test}
    worst = 0.0
    for run in a.runs:
        vae = load_vae(run, a.device)
        grid = load_factor_grid(run_config_of(run).data)
        codes = GridCodes(vae, grid, a.device)
        out, secs = {}, {}
        for name in ("reference", "fast"):
            t = time.perf_counter()
            opts = None if name == "reference" else {"dci": {"predictor": "fast"}}
            out[name] = grid_metrics(vae, grid, ["dci"], a.device, a.seed, sizes, opts, codes)["dci"]
            secs[name] = time.perf_counter() - t
        diffs = {k: abs(out["reference"][k] - out["fast"][k]) for k in KEYS}
        worst = max(worst, *diffs.values())
        print(f"{run}: " + "; ".join(f"{k} ref {out['reference'][k]:.3f} fast {out['fast'][k]:.3f} (|diff| {diffs[k]:.3f})"
                                     for k in KEYS)
              + f"; seconds ref {secs['reference']:.1f} fast {secs['fast']:.1f} ({secs['reference'] / secs['fast']:.1f}x)")
    print(f"largest |fast - reference| over {len(a.runs)} run(s): {worst:.3f}; goal 0.02: {'met' if worst <= 0.02 else 'not met'}")


if __name__ == "__main__":
    main()
