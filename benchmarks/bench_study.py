"""The study engine's cost: the same jobs run by hand against `vaerobust study run`, and 1 vs 2 workers.

Prints, in one run on this machine:
- the wall time of a 4-job study (2 models x 2 training seeds, one judge) run by hand, in this
  process, step by step (train_classifier, then per job train_vae, evaluate_run, attack_sweep);
- the same study through `vaerobust.pipelines.study.run` with 1 worker (torch threads = cores):
  the engine's overhead = (study - by hand) / by hand (goal < 5%), which includes starting the
  worker process (importing torch) and writing the job and result records (both sides do the
  same work: the by-hand path also measures the reconstruction quality that a job records);
- the same study with ``workers=0`` (its jobs one after another in this process, like the by-hand
  loop): the engine's own bookkeeping (job and result records, state checks) without a worker
  process to start;
- the same study with 2 workers (threads = cores / 2): the speed-up of running jobs side by side.

    python benchmarks/bench_study.py [--steps 600] [--attack-steps 60] [--per-pair 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vaerobust.config import StudyConfig, from_dict, to_dict
from vaerobust.pipelines import study


def spec(steps: int, attack_steps: int, per_pair: int) -> StudyConfig:
    return from_dict(StudyConfig, {
        "name": "bench",
        "base": {"data": {"name": "synthetic"}, "model": {"gaussian_dims": 10, "categorical": [10], "hidden": 128},
                 "objective": {"name": "elbo"},
                 "train": {"steps": steps, "batch_size": 64, "lr": 1e-3, "log_every": 100, "checkpoint_every": 200}},
        "models": {"entangled": {}, "disentangled": {"objective.name": "jointvae", "objective.capacity_steps": steps}},
        "judge": {"data": {"name": "synthetic"}, "classifier": {"epochs": 3}},
        "attack": {"steps": attack_steps}, "sweep": {"per_pair": per_pair},
        "grid": {"train.seed": [0, 1]}, "evaluate": {"metrics": "active_dims"},
    })


PHASES = ("judge", "train", "evaluate", "attack", "rest")
JOB_STEPS = {"train": "train", "evaluate": "evaluate", "attack": "attack:latent"}  # phase -> a model job's `timings` key


def by_hand(cfg: StudyConfig, root: Path) -> dict[str, float]:
    """Seconds per step of the study run by hand in this process: {judge, train, evaluate, attack, rest, total}."""
    from vaerobust.pipelines.attack import attack_sweep
    from vaerobust.pipelines.evaluate import evaluate_run
    from vaerobust.pipelines.job import _reconstruction
    from vaerobust.pipelines.train import train_vae
    from vaerobust.pipelines.train_classifier import train_classifier

    torch.set_num_threads(os.cpu_count() or 1)
    judges, models = study.expand(cfg, "cpu")
    t: dict[str, float] = dict.fromkeys(PHASES, 0.0)
    t0 = time.perf_counter()

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        t[name] += now - since
        return now

    train_classifier(judges[0].settings["judge"], root / "judge", device="cpu", progress=False)
    s = lap("judge", t0)
    for job in models:
        run = root / job.id
        train_vae(job.settings["run"], run, device="cpu", progress=False)
        s = lap("train", s)
        evaluate_run(run, "active_dims", device="cpu")
        s = lap("evaluate", s)
        attack_sweep(run, root / "judge", run / "attacks" / "latent", job.settings["attack:latent"],
                     job.settings["sweep:latent"], device="cpu", progress=False)
        s = lap("attack", s)
        _reconstruction(run, job.settings["run"], "cpu")  # a job measures this too: the same work
        s = lap("rest", s)
    t["total"] = time.perf_counter() - t0
    return t


def through_study(cfg: StudyConfig, root: Path, workers: int) -> dict[str, float]:
    """Seconds per step from the jobs' own records ({judge, train, evaluate, attack, rest: the rest of
    each job's wall time}), their sum ``jobs``, and the study's wall time ``total``."""
    from vaerobust import files

    t0 = time.perf_counter()
    counts = study.run(cfg, root, workers=workers, device="cpu", progress=False, echo=lambda s: None)
    assert counts == {"done": 5}, counts
    t: dict[str, float] = dict.fromkeys(PHASES, 0.0)
    t["total"] = time.perf_counter() - t0
    for p in root.glob("judges/*/result.json"):
        t["judge"] += files.read_json(p)["seconds"]
    for p in root.glob("jobs/*/result.json"):
        rec = files.read_json(p)
        steps = rec["timings"]
        for phase, step in JOB_STEPS.items():
            t[phase] += steps[step]
        t["rest"] += rec["seconds"] - sum(steps.values())
    t["jobs"] = sum(t[k] for k in PHASES)
    return t


def _pct(value: float, base: float) -> float:
    return 100 * (value - base) / max(base, 1e-9)


def _paired(study_runs: list[dict[str, float]], hand_runs: list[dict[str, float]]) -> str:
    pct = [_pct(s["total"], h["total"]) for s, h in zip(study_runs, hand_runs)]
    return " / ".join(f"{p:+.1f}%" for p in pct) + f" (median {statistics.median(pct):+.1f}%)"


def _list(runs: list[dict[str, float]]) -> str:
    return ", ".join(f"{r['total']:.1f}" for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--attack-steps", type=int, default=60)
    ap.add_argument("--per-pair", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1, help="alternate by-hand and study runs; report the best of each")
    args = ap.parse_args()
    cfg = spec(args.steps, args.attack_steps, args.per_pair)
    tmp = Path(tempfile.mkdtemp(prefix="bench_study_"))
    os.environ.setdefault("VAEROBUST_CACHE", str(tmp / "_cache"))
    try:
        print(f"4 model jobs + 1 judge: {args.steps} training steps, {args.attack_steps} attack steps, "
              f"{args.per_pair} images per pair, {os.cpu_count()} cores; settings {to_dict(cfg.base.train)}")
        hands, ones, heres = [], [], []
        for r in range(args.repeats):  # alternate, so that a change of the machine's load hits every path
            hands.append(by_hand(cfg, tmp / f"hand{r}"))
            ones.append(through_study(cfg, tmp / f"w1_{r}", 1))
            heres.append(through_study(cfg, tmp / f"w0_{r}", 0))
        hand = min(hands, key=lambda t: t["total"])
        one = min(ones, key=lambda t: t["total"])
        here = min(heres, key=lambda t: t["total"])
        print(f"runs: by hand {_list(hands)} s; study (1 worker) {_list(ones)} s; study (in this process) "
              f"{_list(heres)} s; best of each below")
        if args.repeats > 1:  # each study run against the by-hand run just before it (the same load, roughly)
            print(f"paired by run, study against by hand: 1 worker {_paired(ones, hands)}; in this process "
                  f"{_paired(heres, hands)}")
        print(f"by hand (one process, {torch.get_num_threads()} threads): {hand['total']:8.1f} s")
        print(f"study, 1 worker                      : {one['total']:8.1f} s   engine overhead "
              f"{_pct(one['total'], hand['total']):+.1f}% (goal < 5%)")
        print(f"  of which the jobs themselves       : {one['jobs']:8.1f} s   ({_pct(one['jobs'], hand['total']):+.1f}% "
              f"against by hand); outside the jobs (starting the worker, records): {one['total'] - one['jobs']:.1f} s")
        print("per step, summed over the jobs (the best run of each; 'rest' = a job's wall time outside its steps:")
        print("the reconstruction measure, records, outcomes; by hand: the reconstruction measure only)")
        print(f"  {'step':10s} {'by hand':>9s} {'study':>9s} {'study - hand':>13s}")
        for k in PHASES:
            d = one[k] - hand[k]
            print(f"  {k:10s} {hand[k]:8.1f}s {one[k]:8.1f}s {d:+12.1f}s ({_pct(one[k], hand[k]):+.0f}%)")
        print(f"study, in this process (workers=0)   : {here['total']:8.1f} s   engine overhead "
              f"{_pct(here['total'], hand['total']):+.1f}% (the records and state checks alone; "
              f"outside the jobs: {here['total'] - here['jobs']:.1f} s)")
        two = through_study(cfg, tmp / "w2", 2)["total"]
        print(f"study, 2 workers                     : {two:8.1f} s   speed-up over 1 worker {one['total'] / two:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
