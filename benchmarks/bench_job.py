"""The cost of one study job at the study's own budgets, so a user can plan a whole study.

Runs the study's judge and the chosen model jobs (default: the first job of each objective of
the study) in a study folder, exactly as `vaerobust study run` would (the same job records:
a later `study run` into the same folder skips what finished here), then prints per job the
wall time of each step (train, evaluate, each attack sweep) from its result record, and the
projected wall time of the whole study on this machine: judge + sum over the study's models of
the measured cost of a job of the same objective (the mean over measured jobs for any other).
A job that had already finished is reported from its record ("recorded").

    python benchmarks/bench_job.py [--study dsprites-robustness] [--out runs/dsprites-robustness]
                                   [--job ID ...] [--set KEY=VALUE ...] [--quick] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vaerobust import files
from vaerobust.pipelines import study
from vaerobust.pipelines.job import RESULT, run_job
from vaerobust.rundir import folder_lock


def _fmt(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", default="dsprites-robustness")
    ap.add_argument("--out", type=Path, default=None, help="study folder (default: runs/<study>)")
    ap.add_argument("--job", action="append", default=[], help="a model job id (repeatable)")
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    cfg = study.resolve(args.study, args.quick, args.overrides)
    out = (args.out or Path("runs") / cfg.name).absolute()
    judges, models = study.expand(cfg, args.device)
    objective = {j.id: j.spec["run"]["objective"]["name"] for j in models}
    if args.job:
        unknown = [j for j in args.job if j not in objective]
        if unknown:
            raise SystemExit(f"--job {unknown[0]}: not a job of {cfg.name} (e.g. {models[0].id})")
        chosen = [j for j in models if j.id in args.job]
    else:
        chosen = [next(j for j in models if objective[j.id] == o) for o in dict.fromkeys(objective.values())]
    with folder_lock(out):
        study.write_jobs(out, cfg, judges, models)
    print(f"study {cfg.name}: {len(judges)} judge job(s), {len(models)} model jobs, in {out}")
    judge_s = 0.0
    for j in judges:
        res = out / j.folder / RESULT
        was = res.is_file()
        t = time.perf_counter()
        r = run_job(str(out / j.folder))
        if r["state"] != "done":
            raise SystemExit(f"judge {j.id}: {r['state']}: {r.get('error')}")
        rec = files.read_json(res)
        judge_s += float(rec.get("seconds") or time.perf_counter() - t)
        print(f"judge {j.id}: {_fmt(judge_s)}{' (recorded)' if was else ''}; test accuracy {rec['test_accuracy']:.3f}; "
              + ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in (rec.get("factors") or {}).items()))
    cost: dict[str, list[float]] = {}
    for j in chosen:
        res = out / j.folder / RESULT
        was = res.is_file()
        r = run_job(str(out / j.folder))
        if r["state"] != "done":
            print(f"{j.id}: {r['state']}: {r.get('error')}")
            continue
        timings = files.read_json(res).get("timings") or {}
        total = sum(timings.values())
        cost.setdefault(objective[j.id], []).append(total)
        print(f"{j.id}: {_fmt(total)}{' (recorded)' if was else ''}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in timings.items()))
    if not cost:
        raise SystemExit("no job finished: nothing to project")
    mean_all = sum(sum(v) for v in cost.values()) / sum(len(v) for v in cost.values())
    per = {o: sum(v) / len(v) for o, v in cost.items()}
    projected = judge_s + sum(per.get(objective[j.id], mean_all) for j in models)
    print(f"measured objectives: {', '.join(f'{o} {_fmt(s)}' for o, s in per.items())}; mean job {_fmt(mean_all)}")
    print(f"projected study wall time on this machine (one worker): {_fmt(projected)} "
          f"= judge {_fmt(judge_s)} + {len(models)} jobs")


if __name__ == "__main__":
    main()
