"""Wall time of a 90-pair attack sweep: fixed steps, early stopping, and early stopping with
continuous batching, on trained models.

For each VAE run given, runs the study's latent attack sweep (1000 steps) into a temporary
folder: fixed steps, then ``early_stop=True`` (batches of ``sweep.batch_size`` = 1024 that shrink
as examples stop), then -- with ``--width W`` -- early stopping with continuous batching
(``attack.width=W``: W examples at once, refilled as others stop, over chunks of ``--chunk``
rows). Prints the wall time, the encoder evaluations actually spent and AS ignore-target / AS
target of each, with the ratios to the fixed loop (the goals: AS within 1 point, wall time
close to the evaluations' ratio).

    python benchmarks/bench_sweep.py --judge runs/X/judge runs/X/models/disentangled runs/X/models/entangled \
        [--per-pair 100] [--patience 10] [--min-delta 3e-3] [--width 1024 --chunk 8192] [--device cpu] [--no-reuse]

A run whose own ``attacks/latent`` sweep has exactly these settings (e.g. made by
``reproduce``) is not attacked again with fixed steps: its recorded results and time are used.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vaerobust import files
from vaerobust.config import AttackConfig, SweepConfig, apply_overrides, normalized, to_dict
from vaerobust.pipelines.attack import attack_sweep


def run(vae: Path, judge: Path, out: Path, attack: AttackConfig, sweep: SweepConfig, device: str) -> dict:
    t0 = time.perf_counter()
    attack_sweep(vae, judge, out, attack, sweep, device=device, progress=False)
    return read(out, time.perf_counter() - t0)


def reusable(vae: Path, attack: AttackConfig, sweep: SweepConfig) -> Path | None:
    """The run's own fixed-step sweep (RUN/attacks/latent) if it was made with exactly these settings."""
    d = vae / "attacks" / attack.name
    if not (d / "complete.json").is_file():
        return None
    s = files.read_json(d / "summary.json")
    same = (normalized(AttackConfig, s.get("attack")) == to_dict(attack)
            and normalized(SweepConfig, s.get("sweep")) == to_dict(sweep))
    return d if same else None


def read(out: Path, seconds: float | None = None) -> dict:
    s = files.read_json(out / "summary.json")
    return {
        "seconds": s["seconds"] if seconds is None else seconds,
        "evaluations": s.get("encoder_evaluations", 0),
        "attacked": s["n_attacked"],
        "ignore": s["results"]["ignore"]["overall"]["mean"],
        "target": s["results"]["target"]["overall"]["mean"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--judge", type=Path, required=True)
    ap.add_argument("--per-pair", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--patience", type=int, default=AttackConfig.patience)
    ap.add_argument("--min-delta", type=float, default=AttackConfig.min_delta)
    ap.add_argument("--width", type=int, default=None, help="Also run continuous batching with this many at once.")
    ap.add_argument("--chunk", type=int, default=8192, help="Rows per call (and saved chunk) with --width.")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-reuse", action="store_true",
                    help="Run the fixed-step sweep even where RUN/attacks/latent holds one with the same settings.")
    a = ap.parse_args()
    sweep = SweepConfig(per_pair=a.per_pair)
    fixed = AttackConfig(steps=a.steps)
    early = apply_overrides(fixed, {"early_stop": True, "patience": a.patience, "min_delta": a.min_delta})
    print(f"90 pairs x {a.per_pair} images per pair, {a.steps} steps, device {a.device}; "
          f"early stopping: patience {a.patience}, min_delta {a.min_delta}")
    for vae in a.runs:
        with tempfile.TemporaryDirectory() as d:
            own = None if a.no_reuse else reusable(vae, fixed, sweep)
            if own is not None:
                print(f"{vae.name}: fixed-step sweep reused from {own} (its recorded time, measured when it ran)")
            f = read(own) if own is not None else run(vae, a.judge, Path(d) / "fixed", fixed, sweep, a.device)
            e = run(vae, a.judge, Path(d) / "early", early, sweep, a.device)
            results = [("fixed", f), ("early-stop", e)]
            if a.width:
                cont = apply_overrides(early, {"width": a.width})
                results.append((f"continuous (width {a.width}, chunks of {a.chunk})",
                                run(vae, a.judge, Path(d) / "continuous", cont,
                                    apply_overrides(sweep, {"batch_size": a.chunk}), a.device)))
        print(f"{vae.name}: {f['attacked']} sources attacked")
        for name, r in results:
            print(f"  {name:10s} {r['seconds'] / 60:7.2f} min  encoder evals {r['evaluations']:>12,d}"
                  f"  AS ignore-target {r['ignore']:.2%}  AS target {r['target']:.2%}")
        for name, r in results[1:]:
            print(f"  {name} / fixed: time {r['seconds'] / f['seconds']:.3f}, evaluations "
                  f"{r['evaluations'] / max(f['evaluations'], 1):.3f}; AS ignore-target diff "
                  f"{100 * (r['ignore'] - f['ignore']):+.2f} pt, AS target diff {100 * (r['target'] - f['target']):+.2f} pt")


if __name__ == "__main__":
    main()
