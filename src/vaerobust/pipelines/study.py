"""``vaerobust study run | status | collect``: many runs (models x a grid of settings) on a backend.

Layout of ``out``::

    study.yaml                 the resolved study (guarded: another study in the folder is refused;
                               a grid that only gains values, e.g. more seeds, adds jobs)
    judges/<judge id>/         job.json, judge/ (the run), result.json | error.json + traceback.txt
    jobs/<job id>/             job.json, model/ (the VAE run, its metrics/ and attacks/<name>/),
                               result.json | error.json + traceback.txt
    tables/results.csv|.parquet  one tidy row per (job, attack sweep), built from the records alone

Recipe of ``run`` (:func:`run`): resolve the study; expand it into judge jobs and model jobs
(:func:`expand`: every model x every point of ``grid``; a stable id per job, from the model's
name and its grid values); write each job's ``job.json`` before anything runs (a job folder
made with other settings is refused); run the judges, then the models whose judge finished,
on the backend; print one line per job that ends and a progress bar with an ETA. A finished
job (``result.json``) is skipped, a partial one resumes, a failed one is skipped unless
``--retry-failed``; a failing job never stops the others.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaerobust import files
from vaerobust.backends import build_backend
from vaerobust.config import (
    StudyConfig,
    apply_overrides,
    dump_yaml,
    flatten,
    load_study,
    to_dict,
)
from vaerobust.errors import ConfigError, Interrupted, RunDirError
from vaerobust.metrics.bootstrap import Outcomes, hierarchical_interval, paired_difference
from vaerobust.pipelines.attack import check_sweep_fits_data, sweep_classes
from vaerobust.pipelines.job import ERROR, JOB, PREVIOUS, RESULT, has_weights, run_job
from vaerobust.pipelines.margin import JOB_MARGIN, headline_of, job_margin
from vaerobust.progress import progress_bar
from vaerobust.report.correlations import correlations
from vaerobust.report.study_page import is_missing, pooled_pair_tables, rows_at, write_study_report
from vaerobust.rundir import ensure_same_settings, folder_lock, read_config, read_saved

RUN_SECTIONS = ("data", "model", "objective", "train")


# --------------------------------------------------------------------------- expanding a study


@dataclass(frozen=True)
class Job:
    """One job: its id, folder (relative to the study), kind and resolved settings."""

    id: str
    kind: str  # "judge" or "model"
    folder: str
    spec: dict[str, Any]
    settings: dict[str, Any]  # what the folder's job.json is compared on (dataclasses and plain values)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", text).strip("_")


def _value_text(v: Any) -> str:
    if isinstance(v, float):
        return format(v, "g")
    return json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict)) else str(v)


def job_id(model: str, point: dict[str, Any]) -> str:
    """``entangled__train.seed=3`` (grid values in key order); stable across runs of the same study."""
    return "__".join([_slug(model), *(_slug(f"{k}={_value_text(v)}") for k, v in point.items())])


def _split(point: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Grid values by what they set: the model's run, its judge, its attacks and sweeps."""
    out: dict[str, dict[str, Any]] = {"run": {}, "judge": {}, "attack": {}, "sweep": {}}
    for key, value in point.items():
        head = key.split(".", 1)[0]
        if head in RUN_SECTIONS:
            out["run"][key] = value
        elif head in ("judge", "attack", "sweep") and "." in key:
            out[head][key.split(".", 1)[1]] = value
        else:
            raise ConfigError(f"grid key {key!r}: expected a key under data, model, objective, train, judge, attack "
                              "or sweep (e.g. train.seed)")
    return out


def _same_value(have: Any, want: Any) -> bool:
    """A resolved setting ``have`` against a value written in a study file (numbers compared as numbers:
    YAML reads ``1e-4`` as a string)."""
    if isinstance(have, (int, float)) and not isinstance(have, bool) and not isinstance(want, (bool, list, dict)):
        try:
            return float(want) == float(have)
        except (TypeError, ValueError):
            return False
    if isinstance(have, (list, tuple)) and isinstance(want, (list, tuple)):
        return len(have) == len(want) and all(_same_value(h, w) for h, w in zip(have, want))
    return bool(have == want)


def _applies(name: str, only: Any, model: str, run: Any) -> bool:
    """Whether the named attack ``name`` runs on this job: ``only`` (optional) maps ``model`` or a
    dotted setting of the job's resolved run to a value or a list of allowed values (for a setting
    that is itself a list, such as ``model.categorical``, a list of lists)."""
    if only is None:
        return True
    if not isinstance(only, dict) or not only:
        raise ConfigError(f"attacks.{name}.only = {only!r}: expected a mapping such as {{train.temperature: 0.1}}")
    flat = flatten(to_dict(run))
    for key, want in only.items():
        if key == "model":
            have: Any = model
        elif key in flat:
            have = flat[key]
        else:
            raise ConfigError(f"attacks.{name}.only.{key}: not a setting of the job's run (e.g. model, train.seed)")
        if isinstance(have, (list, tuple)):  # a list-valued setting: one list, or a list of allowed lists
            allowed = want if isinstance(want, list) and want and all(isinstance(w, list) for w in want) else [want]
        else:
            allowed = want if isinstance(want, list) else [want]
        if not any(_same_value(have, w) for w in allowed):
            return False
    return True


#: Judge settings added after studies were first published, at the value that reproduces the
#: earlier behaviour: left out of the judge's id there, so a study folder made before they existed
#: keeps its judge's id (and its finished judge) after an upgrade.
ID_NEUTRAL_DEFAULTS: dict[str, Any] = {"data.crop": None, "classifier.optimizer": "sgd"}


def judge_id(judge: Any) -> str:
    """The stable id of a judge job: a hash of its settings (:data:`ID_NEUTRAL_DEFAULTS` left out)."""
    settings = to_dict(judge)
    for key, neutral in ID_NEUTRAL_DEFAULTS.items():
        section, name = key.split(".")
        part = settings.get(section)
        if isinstance(part, dict) and name in part and part[name] == neutral:
            part.pop(name)
    return "judge-" + hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def expand(cfg: StudyConfig, device: str = "auto") -> tuple[list[Job], list[Job]]:
    """The study's judge jobs and model jobs (module docstring). Every setting is checked here."""
    if not cfg.models:
        raise ConfigError(f"study {cfg.name!r} has no models")
    keys = list(cfg.grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(cfg.grid[k] for k in keys))] or [{}]
    named = cfg.attacks or {cfg.attack.name: {}}
    judges: dict[str, Job] = {}
    models: list[Job] = []
    used: set[str] = set()  # the named attacks that run on at least one job
    for model in cfg.models:
        for point in points:
            parts = _split(point)
            try:
                run = apply_overrides(cfg.run_config(model), parts["run"])
                judge = apply_overrides(cfg.judge, parts["judge"])
            except ConfigError as e:
                raise ConfigError(f"{job_id(model, point)}: {e}") from None
            jid = judge_id(judge)
            judges.setdefault(jid, Job(jid, "judge", f"judges/{jid}", {
                "id": jid, "kind": "judge", "study": cfg.name, "judge": to_dict(judge), "device": device},
                {"id": jid, "kind": "judge", "judge": judge}))
            if (run.data.name, run.data.image_size) != (judge.data.name, judge.data.image_size):
                raise ConfigError(f"{job_id(model, point)}: the model trains on {run.data.name} but its judge on "
                                  f"{judge.data.name}; the attacks need a judge of the model's data")
            attacks: list[str] = []
            settings: dict[str, Any] = {"run": run}
            for name, ov in named.items():
                try:
                    acfg = apply_overrides(apply_overrides(cfg.attack, {k[7:]: v for k, v in ov.items()
                                                                        if k.startswith("attack.")}), parts["attack"])
                    scfg = apply_overrides(apply_overrides(cfg.sweep, {k[6:]: v for k, v in ov.items()
                                                                       if k.startswith("sweep.")}), parts["sweep"])
                except ConfigError as e:
                    raise ConfigError(f"attacks.{name}: {e}") from None
                acfg.check_sweepable()
                try:
                    check_sweep_fits_data(run.data, scfg)
                except ConfigError as e:
                    raise ConfigError(f"attacks.{name}: {e}") from None
                scfg = scfg.resolved(sweep_classes(run.data, scfg))
                if not _applies(name, ov.get("only"), model, run):
                    continue
                used.add(name)
                attacks.append(_slug(name))
                settings[f"attack:{_slug(name)}"], settings[f"sweep:{_slug(name)}"] = acfg, scfg
            jid_model = job_id(model, point)
            settings.update({"id": jid_model, "kind": "model", "model": model, "grid": point, "judge_id": jid,
                             "attacks": attacks, "steps": list(cfg.steps), "evaluate": dict(cfg.evaluate)})
            spec = {**{k: to_dict(v) for k, v in settings.items()}, "study": cfg.name,
                    "judge_dir": f"../../judges/{jid}/judge", "device": device}
            models.append(Job(jid_model, "model", f"jobs/{jid_model}", spec, settings))
    unused = [n for n in named if n not in used]
    if unused:
        raise ConfigError(f"attacks.{unused[0]}.only = {named[unused[0]].get('only')}: matches no job of the study")
    ids = [j.id for j in models]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"grid values give the same job id twice ({dup[0]}); use values that print differently")
    return list(judges.values()), models


def check_grid_grows(saved: Path, grid: dict[str, list[Any]]) -> None:
    """Refuse a grid that drops an axis or a value of the study saved in ``saved`` (absent: nothing
    to compare); new axes are refused too, since they would change every saved job's id."""
    if not saved.is_file():
        return
    have = read_saved(saved).get("grid") or {}
    if not isinstance(have, dict):
        raise RunDirError(f"{saved} is corrupt (grid: expected a mapping, got {have!r}); delete {saved.parent} "
                          "to start over")
    if set(have) != set(grid):
        raise ConfigError(f"{saved.parent} holds a study with grid axes {sorted(have)}, not {sorted(grid)}; "
                          "a grid may only gain values on its axes: use another output folder")
    for key, values in have.items():
        lost = [v for v in values if not any(_same_value(w, v) for w in grid[key])]
        if lost:
            raise ConfigError(f"{saved.parent} holds a study whose grid {key} has {lost} as well, which "
                              f"{list(grid[key])} drops; a grid may only gain values: add them back or use "
                              "another output folder")


def resolve(study: str | StudyConfig, quick: bool = False, overrides: Sequence[str] = ()) -> StudyConfig:
    cfg = load_study(study, quick=quick) if isinstance(study, str) else study
    return apply_overrides(cfg, overrides) if overrides else cfg


def write_jobs(out: Path, cfg: StudyConfig, judges: list[Job], models: list[Job]) -> None:
    """Write study.yaml and every job.json (each compared with what its folder already holds).

    The grid may grow: a study whose every axis holds the saved values and more (more seeds)
    adds jobs to the folder; any other change of the saved study is refused."""
    ensure_same_settings(out / "study.yaml", cfg, "study", ignore=("meta", "quick", "grid"))
    check_grid_grows(out / "study.yaml", cfg.grid)
    for job in [*judges, *models]:
        ensure_same_settings(out / job.folder / JOB, job.settings, f"study job {job.id!r}")
    text = dump_yaml(cfg)
    if not (out / "study.yaml").is_file() or (out / "study.yaml").read_text() != text:
        files.write_text(out / "study.yaml", text)
    for job in [*judges, *models]:
        path = out / job.folder / JOB
        if not path.is_file() or files.read_json(path) != json.loads(files.dumps_json(job.spec)):
            files.write_json(path, job.spec)


# --------------------------------------------------------------------------- the state of jobs


@dataclass
class JobState:
    id: str
    kind: str
    state: str  # done | failed | running | partial | pending
    progress: str
    seconds: float | None
    error: str | None


def _locked(folder: Path) -> bool:
    """Whether a process holds the lock of ``folder`` (or of the run folders under it) now."""
    import fcntl
    import os

    for lock in [folder / files.LOCK_NAME, *folder.glob(f"*/{files.LOCK_NAME}"), *folder.glob(f"*/*/*/{files.LOCK_NAME}")]:
        if not lock.is_file():
            continue
        fd = os.open(lock, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            return True
        finally:
            os.close(fd)
    return False


def job_state(out: Path, job: Job) -> JobState:
    folder = out / job.folder
    if (folder / RESULT).is_file():
        rec = read_saved(folder / RESULT)
        secs = rec.get("seconds") if job.kind == "judge" else sum((rec.get("timings") or {}).values())
        if job.kind == "judge" and not has_weights(folder / "judge"):
            return JobState(job.id, job.kind, "done", "finished; records only (no weights here: it trains again "
                            "if a model job still needs it)", secs, None)
        return JobState(job.id, job.kind, "done", "finished", secs, None)
    run = folder / ("judge" if job.kind == "judge" else "model")
    progress = _progress_text(job, run)
    if _locked(folder):
        return JobState(job.id, job.kind, "running", progress, None, None)
    if (folder / ERROR).is_file():
        err = read_saved(folder / ERROR)
        return JobState(job.id, job.kind, "failed", progress, None, f"{err.get('type')}: {err.get('message')}")
    return JobState(job.id, job.kind, "partial" if run.exists() else "pending", progress, None, None)


def would_run(out: Path, job: Job, retry_failed: bool = False) -> bool:
    """Whether ``study run`` would run ``job`` now: not finished and, unless ``retry_failed``, not failed."""
    return not (out / job.folder / RESULT).is_file() and (retry_failed or not (out / job.folder / ERROR).is_file())


def judges_without_weights(out: Path, judges: list[Job], models: list[Job], retry_failed: bool = False) -> list[Job]:
    """The judges whose record (``result.json``) has no weights beside it, e.g. a study continued
    from its published records, while a model job that will run now needs them (one neither
    finished nor, unless ``retry_failed``, failed)."""
    waiting = {m.spec["judge_id"] for m in models if would_run(out, m, retry_failed)}
    return [j for j in judges if j.id in waiting and (out / j.folder / RESULT).is_file()
            and not has_weights(out / j.folder / "judge")]


def retrained_text(r: dict[str, Any]) -> str:
    """One line on how a judge trained again compares with its earlier record."""
    def four(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, (int, float)) else "n/a"

    acc = f"test accuracy {four(r.get('test_accuracy'))} (earlier {four(r.get('previous_test_accuracy'))})"
    if r.get("same_weights") is True:
        return f"trained again to the same weights as its earlier record; {acc}"
    if r.get("same_weights") is False:
        return (f"trained again to OTHER weights than its earlier record (another machine, torch or thread count?); "
                f"{acc}: the models attacked before and after are judged by different networks")
    return f"trained again; its earlier record has no weights hash to compare with; {acc}"


def _progress_text(job: Job, run: Path) -> str:
    if job.kind == "judge":
        return "judge trained" if (run / "complete.json").is_file() else "training the judge"
    steps = job.spec["run"]["train"]["steps"]
    rows = files.read_jsonl(run / "metrics.jsonl")
    if not (run / "complete.json").is_file():
        return f"train {rows[-1]['step'] if rows else 0}/{steps}"
    if "evaluate" in job.spec["steps"] and not (run / "metrics" / "disentanglement.json").is_file():
        return "trained; measuring its codes"
    names = list(job.spec["attacks"])  # the names of the job's attack sweeps
    done = [n for n in names if (run / "attacks" / n / "complete.json").is_file()]
    partial = [len(list((run / "attacks" / n / "partial").glob("batch-*.npz"))) for n in names if n not in done]
    text = f"trained; attacks {len(done)}/{len(names)}"
    return text + (f" (+{partial[0]} batches)" if partial and partial[0] else "")


# --------------------------------------------------------------------------- run


def run(study: str | StudyConfig, out: str | Path, backend: str = "local", workers: int | None = None,
        quick: bool = False, overrides: Sequence[str] = (), retry_failed: bool = False, device: str = "auto",
        progress: bool = True, echo: Callable[[str], None] = print,
        backend_options: dict[str, Any] | None = None) -> dict[str, int]:
    """Run a study into ``out`` (module docstring); returns the count of jobs per final state.

    ``backend_options``: the backend's own settings (e.g. slurm's ``partition``, ``timeout_min``).
    """
    cfg = resolve(study, quick, overrides)
    out = Path(out).absolute()
    files.check_folder_path(out)
    judges, models = expand(cfg, device)
    ex = build_backend(backend, workers, **(backend_options or {}))
    with folder_lock(out):
        write_jobs(out, cfg, judges, models)
        echo(f"study {cfg.name!r}: {len(judges)} judge job(s), {len(models)} model job(s) in {out} "
             f"({ex.describe() if hasattr(ex, 'describe') else backend})")
        again = judges_without_weights(out, judges, models, retry_failed)
        for j in again:
            echo(f"{j.id}: its record has no weights beside it (records copied without checkpoints?) and unfinished "
                 f"model jobs need it: it trains again; its first record is kept as {PREVIOUS}")
        counts: dict[str, int] = {}
        all_jobs = [*judges, *models]
        bar = progress_bar(len(all_jobs), 0, f"study {cfg.name}", progress)
        t0 = time.perf_counter()

        def todo(jobs: list[Job]) -> list[Job]:
            keep = []
            for j in jobs:
                st = job_state(out, j)
                if st.state == "done" or (st.state == "failed" and not retry_failed):
                    counts[st.state] = counts.get(st.state, 0) + 1
                    bar.update(1)
                    echo(f"[{_n(counts)}/{len(all_jobs)}] {j.id}: {st.state}" + (f" (earlier: {st.error}; "
                         "--retry-failed runs it again)" if st.state == "failed" else " (already finished)"))
                elif st.state == "running":
                    raise RunDirError(f"{out / j.folder} is being run by another process; wait for it or use "
                                      "another --out")
                else:
                    keep.append(j)
            return keep

        def on_result(result: dict[str, Any]) -> None:
            counts[result["state"]] = counts.get(result["state"], 0) + 1
            bar.update(1)
            line = f"[{_n(counts)}/{len(all_jobs)}] {result['job']}: {result['state']}"
            if result.get("seconds"):
                line += f" in {_fmt(result['seconds'])}"
            if result.get("error"):
                line += f": {result['error']}"
            echo(line)

        try:
            ex.run([str(out / j.folder) for j in [*todo([j for j in judges if j not in again]), *again]], run_job,
                   on_result)
            for j in again:
                if has_weights(out / j.folder / "judge"):
                    echo(f"{j.id}: {retrained_text(files.read_json(out / j.folder / RESULT).get('retrained') or {})}")
            ready = {j.id for j in judges if job_state(out, j).state == "done"
                     and (j not in again or has_weights(out / j.folder / "judge"))}
            # the jobs that would run now, but whose judge is not ready
            blocked = [j for j in models if j.spec["judge_id"] not in ready and would_run(out, j, retry_failed)]
            for j in blocked:
                on_result({"job": j.id, "state": "blocked", "error": f"its judge {j.spec['judge_id']} did not finish"})
            ex.run([str(out / j.folder) for j in todo([j for j in by_point(cfg, models) if j not in blocked])], run_job,
                   on_result)
        except KeyboardInterrupt:
            raise Interrupted(f"study {out} interrupted after {_n(counts)} of {len(all_jobs)} jobs; each job keeps "
                              "what it finished: run the same command to resume") from None
        finally:
            bar.close()
            if hasattr(ex, "close"):
                ex.close()
    echo(f"study {cfg.name!r}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) +
         f" in {_fmt(time.perf_counter() - t0)}; `vaerobust study status {out}` shows each job")
    return counts


def by_point(cfg: StudyConfig, models: list[Job]) -> list[Job]:
    """The model jobs in the order they run: grid point by grid point (every model at the first seed,
    then every model at the next), so a study stopped early holds each model once before any twice."""
    def position(job: Job) -> tuple[int, ...]:
        return tuple(next(i for i, v in enumerate(cfg.grid[k]) if _same_value(job.spec["grid"][k], v)) for k in cfg.grid)

    return sorted(models, key=position)  # stable: the models keep their order within a point


def _n(counts: dict[str, int]) -> int:
    return sum(counts.values())


def _fmt(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{s / 60:.1f} min" if s < 3600 else f"{s / 3600:.2f} h"


# --------------------------------------------------------------------------- status


def load(out: str | Path) -> tuple[StudyConfig, list[Job], list[Job]]:
    """A study folder's settings and jobs (from its study.yaml)."""
    out = Path(out)
    if not (out / "study.yaml").is_file():
        raise RunDirError(f"{out} holds no study (no study.yaml): run `vaerobust study run` first")
    cfg = read_config(out / "study.yaml", StudyConfig)
    judges, models = expand(cfg)
    return cfg, judges, models


def status(out: str | Path) -> list[JobState]:
    """The state of every job of the study in ``out``."""
    _, judges, models = load(out)
    return [job_state(Path(out), j) for j in [*judges, *models]]


def status_table(states: list[JobState]) -> str:
    rows = [[s.id, s.state, s.progress, "" if s.seconds is None else _fmt(s.seconds), s.error or ""] for s in states]
    header = ["job", "state", "progress", "wall time", "error"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header[:4], widths)) + "  " + header[4]]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    counts: dict[str, int] = {}
    for s in states:
        counts[s.state] = counts.get(s.state, 0) + 1
    return "\n".join(lines + ["", ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))])


# --------------------------------------------------------------------------- collect


RESULT_COLUMNS = ["job", "model", "attack", "as_ignore", "as_ignore_low", "as_ignore_high", "as_target",
                  "as_target_low", "as_target_high", "pairs", "n_attacked", "n_pairs_formed", "clean_recon_accuracy",
                  "judge_accuracy", "test_nll_per_image", "test_mse_per_pixel", "train_seconds", "attack_seconds"]


def records(out: str | Path) -> list[dict[str, Any]]:
    """Every finished model job's result record (``jobs/*/result.json``), in job order."""
    out = Path(out)
    recs = []
    for path in sorted((out / "jobs").glob(f"*/{RESULT}")):
        rec = read_saved(path)
        if not isinstance(rec, dict) or rec.get("kind") != "model" or not isinstance(rec.get("robustness"), dict):
            raise RunDirError(f"{path} is corrupt: expected the result record of a model job")
        if (path.parent / JOB_MARGIN).is_file():  # the attack-free margin (`vaerobust study margin`), measured later
            margin, why = job_margin(path.parent)
            rec = {**rec, "margin": margin} if why is None else {**rec, "margin_unusable": why}
        recs.append(rec)
    return recs


def table(recs: list[dict[str, Any]]) -> pd.DataFrame:
    """One tidy row per (job, attack sweep): grid values as columns, then the figures and measures."""
    rows = []
    grid_keys = sorted({k for r in recs for k in r.get("grid", {})})
    for r in recs:
        metrics = _flat_metrics(r.get("disentanglement") or {})
        for name, rob in r["robustness"].items():
            row: dict[str, Any] = {"job": r["id"], "model": r["model"], "objective": _objective_of(r),
                                   **{k: r["grid"].get(k) for k in grid_keys}, "attack": name}
            for which in ("ignore", "target"):
                o = rob[which]
                row[f"as_{which}"], row[f"as_{which}_low"], row[f"as_{which}_high"] = o["mean"], o["ci_low"], o["ci_high"]
            row.update({"pairs": rob["ignore"].get("pairs"), "n_attacked": rob["n_attacked"],
                        "n_pairs_formed": rob["n_pairs_formed"], "clean_recon_accuracy": rob["clean_recon_accuracy"],
                        "judge_accuracy": (r.get("judge") or {}).get("test_accuracy"),
                        **{k: (r.get("reconstruction") or {}).get(k) for k in ("test_nll_per_image", "test_mse_per_pixel")},
                        "train_seconds": (r.get("timings") or {}).get("train"),
                        "attack_seconds": (r.get("timings") or {}).get(f"attack:{name}"), **metrics,
                        **(headline_of(r["margin"]) if "margin" in r else {}),
                        **({"margin_unusable": r["margin_unusable"]} if "margin_unusable" in r else {}),
                        # factor judges: the share of attacked examples whose judged value of each factor moved
                        **{f"moved.{k}": v for k, v in (rob.get("factors_moved") or {}).items()},
                        # label-free closeness of the adversarial reconstruction to the target (older records: absent)
                        **{f"mean_{k}": v for k, v in (rob.get("distances") or {}).items()
                           if k in ("l2", "linf", "out_dist", "out_dist_clean", "ms_ssim", "ms_ssim_clean")}})
            rows.append(row)
    cols = ["job", "model", "objective", *grid_keys, *RESULT_COLUMNS[2:]]
    df = pd.DataFrame(rows)
    return df[[c for c in cols if c in df] + [c for c in df.columns if c not in cols]] if rows else pd.DataFrame(columns=cols)


def _objective_of(rec: dict[str, Any]) -> str | None:
    """The objective a job's model trained with (its run's ``objective.name``)."""
    return (((rec.get("settings") or {}).get("run") or {}).get("objective") or {}).get("name")


def _flat_metrics(m: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of the disentanglement measures, as ``metric.value`` columns."""
    out: dict[str, float] = {}
    for name, v in m.items():
        if name == "active_dims" and isinstance(v, dict):
            out["active_dims"] = v.get("active")
            if v.get("mean_sigma_active") is not None:  # the posterior's scale (a confound of latent attacks)
                out["mean_sigma_active"] = v["mean_sigma_active"]
        elif name == "categorical_agreement" and isinstance(v, list):
            for j, a in enumerate(v):
                out[f"cat{j}.nmi"], out[f"cat{j}.accuracy"] = a.get("nmi"), a.get("best_map_accuracy")
        elif isinstance(v, dict):
            for k, x in v.items():
                if isinstance(x, (int, float)) and not isinstance(x, bool):
                    out[f"{name}.{k}"] = x
    return out


def outcomes_of(out: Path, job: str, attack: str, classes: Sequence[int], measure: str) -> Outcomes | None:
    """A job's attacked examples for one measure (``ignore`` or ``target_hit``), or None if it has no file."""
    path = out / "jobs" / job / f"outcomes-{attack}.csv.gz"
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path, compression="gzip")
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path} is corrupt ({type(e).__name__}); run the job again to rebuild it") from None
    index = {c: i for i, c in enumerate(classes)}
    return Outcomes(df.src_index.to_numpy(), df.source.map(index).to_numpy(), df.target.map(index).to_numpy(),
                    df[measure].to_numpy(), n_classes=len(classes))


class _Runs:
    """The jobs' outcome files, each read once per collect: ``runs(rows, measure)`` is the list of
    :class:`Outcomes` of the table's ``rows`` (job, attack), or None if any of them has no file."""

    def __init__(self, out: Path, recs: Sequence[dict]) -> None:
        self.out = out
        self.classes = {(r["id"], name): rob["classes"] for r in recs for name, rob in r["robustness"].items()}
        self.cache: dict[tuple[str, str, str], Outcomes | None] = {}

    def runs(self, rows: pd.DataFrame, measure: str) -> list[Outcomes] | None:
        got = []
        for job, attack in zip(rows.job, rows.attack):
            key = (job, attack, measure)
            if key not in self.cache:
                self.cache[key] = outcomes_of(self.out, job, attack, self.classes[(job, attack)], measure)
            got.append(self.cache[key])
        return None if any(r is None for r in got) else got  # type: ignore[return-value]


def summary(df: pd.DataFrame, group: Sequence[str], out: Path | None = None, recs: Sequence[dict] = (),
            n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per group (model and attack, and grid keys other than seeds): the mean over its jobs (seeds)
    of each figure, the spread between them, and -- where the jobs' outcome files are there -- a 95%
    interval from the hierarchical bootstrap (resample the seeds, then the source images with all
    their pairs; :func:`vaerobust.metrics.bootstrap.hierarchical_interval`), which includes training."""
    figures = ["as_ignore", "as_target", "clean_recon_accuracy"]
    g = df.groupby(list(group), dropna=False)[figures]
    res = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd")).join(g.size().rename("jobs")).reset_index()
    if out is None:
        return res
    loader = _Runs(out, recs)
    for i, row in res.iterrows():
        sel = rows_at(df, {k: row[k] for k in group})
        for col, measure in (("as_ignore", "ignore"), ("as_target", "target_hit")):
            runs = loader.runs(sel, measure)
            if runs:
                ci = hierarchical_interval(runs, n_boot=n_boot, seed=seed)  # type: ignore[arg-type]
                res.loc[i, f"{col}_boot_low"], res.loc[i, f"{col}_boot_high"] = ci.low, ci.high
    return res


def differences(df: pd.DataFrame, group: Sequence[str], seeds: Sequence[str], out: Path, recs: Sequence[dict],
                reference_order: Sequence[str] = (), n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every pair of models, seed by seed (jobs matched on their seed values), per attack and other
    grid values: the mean paired difference A - B of each figure with its bootstrap interval
    (:func:`vaerobust.metrics.bootstrap.paired_difference`), the seeds where A is above B, and --
    where the study claims an ordering of its models -- how many seeds order them that way."""
    loader = _Runs(out, recs)
    rows = []
    for key, part in df.groupby([g for g in group if g != "model"], dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        by_model = {m: p.set_index(list(seeds)) if seeds else p for m, p in part.groupby("model")}
        models = list(by_model)
        base = dict(zip([g for g in group if g != "model"], key))
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                common = by_model[a].index.intersection(by_model[b].index) if seeds else by_model[a].index[:1]
                if not len(common):
                    continue
                row: dict[str, Any] = {**base, "model_a": a, "model_b": b, "seeds": len(common)}
                for col, measure in (("as_ignore", "ignore"), ("as_target", "target_hit")):
                    ja, jb = by_model[a].loc[common], by_model[b].loc[common]
                    row[f"{col}_a_above_b"] = int((_floats(ja[col]) > _floats(jb[col])).sum())  # undefined: not above
                    ra, rb = loader.runs(ja, measure), loader.runs(jb, measure)
                    if ra and rb:
                        d = paired_difference(ra, rb, n_boot=n_boot, seed=seed)
                        row[f"{col}_diff"], row[f"{col}_diff_low"], row[f"{col}_diff_high"] = d.mean, d.low, d.high
                rows.append(row)
        order = [m for m in reference_order if m in by_model]
        if len(order) >= 2 and seeds:
            common = by_model[order[0]].index
            for m in order[1:]:
                common = common.intersection(by_model[m].index)
            row = {**base, "model_a": " > ".join(order), "model_b": "(the reference's ordering)", "seeds": len(common)}
            for col in ("as_ignore", "as_target"):
                vals = np.array([_floats(by_model[m].loc[common, col]) for m in order])
                defined = np.isfinite(vals).all(axis=0)  # seeds where every model has a figure
                row[f"{col}_seeds_defined"] = int(defined.sum())
                row[f"{col}_seeds_in_reference_order"] = int(
                    sum(all(vals[k][s] > vals[k + 1][s] for k in range(len(vals) - 1)) for s in np.flatnonzero(defined))
                ) if defined.any() else None
            rows.append(row)
    return pd.DataFrame(rows)


def _floats(col: pd.Series) -> np.ndarray:
    """A figure's column as floats, an undefined figure (nothing attacked) as NaN."""
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)


def _equal(a: Any, b: Any) -> bool:
    """Grid values as tables hold them (a null becomes NaN)."""
    return (is_missing(a) and is_missing(b)) or (not is_missing(a) and not is_missing(b) and a == b)


def effects(df: pd.DataFrame, cfg: StudyConfig, seeds: Sequence[str], out: Path, recs: Sequence[dict],
            references: Callable[[str, str], float | None] | None = None, n_boot: int = 2000,
            seed: int = 0) -> pd.DataFrame:
    """What each setting does, per model: every (attack, grid point) against the model's baseline --
    the study's first named attack at the first value of every grid axis other than the seeds --
    seed by seed (the same checkpoints where only the attack differs). Per figure: both means over
    the seeds, the paired difference with its bootstrap interval and, where ``references(model,
    which)`` gives the reference's mean (a fraction), the distance to it before and after and whether
    the setting moves the figure ``towards`` or ``away from`` it (the interval excludes 0) or makes
    ``no clear move``."""
    axes = [k for k in cfg.grid if not k.endswith(".seed") and k in df.columns]
    attack_names = list(cfg.attacks) or [cfg.attack.name]
    base_attack = _slug(attack_names[0])
    base_point = {k: cfg.grid[k][0] for k in axes}
    loader = _Runs(out, recs)
    rows = []
    for model, part in df.groupby("model"):
        keyed = part.set_index(list(seeds)) if seeds else part
        base = rows_at(keyed[keyed.attack == base_attack], base_point)
        if base.empty:
            continue
        for key, grp in part.groupby(["attack", *axes], dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            setting = dict(zip(["attack", *axes], key))
            if setting["attack"] == base_attack and all(_equal(setting[k], base_point[k]) for k in axes):
                continue
            g = grp.set_index(list(seeds)) if seeds else grp
            common = g.index.intersection(base.index) if seeds else g.index[:1]
            if not len(common):
                continue
            changed = [f"{k}={_value_text(setting[k])}" for k in axes if not _equal(setting[k], base_point[k])]
            if setting["attack"] != base_attack:
                changed.append(f"attack={setting['attack']}")
            row: dict[str, Any] = {"model": model, "setting": ", ".join(changed), **setting, "seeds": len(common)}
            gs, bs = g.loc[common], base.loc[common] if seeds else base.iloc[:1]
            for col, measure, which in (("as_ignore", "ignore", "ignore"), ("as_target", "target_hit", "target")):
                row[f"{col}_setting"], row[f"{col}_baseline"] = float(gs[col].mean()), float(bs[col].mean())
                ra, rb = loader.runs(gs, measure), loader.runs(bs, measure)
                lo = hi = None
                if ra and rb:
                    d = paired_difference(ra, rb, n_boot=n_boot, seed=seed)
                    row[f"{col}_diff"], lo, hi = d.mean, d.low, d.high
                else:
                    row[f"{col}_diff"] = row[f"{col}_setting"] - row[f"{col}_baseline"]
                row[f"{col}_diff_low"], row[f"{col}_diff_high"] = lo, hi
                ref = references(str(model), which) if references else None
                row[f"{col}_reference"] = ref
                if ref is not None:
                    before, after = abs(row[f"{col}_baseline"] - ref), abs(row[f"{col}_setting"] - ref)
                    row[f"{col}_gap_baseline"], row[f"{col}_gap_setting"] = before, after
                    clear = lo is not None and hi is not None and (lo > 0 or hi < 0)
                    row[f"{col}_move"] = ("no clear move" if not clear else
                                          "towards" if after < before else "away from")
            rows.append(row)
    return pd.DataFrame(rows)


#: Above this many models, collect skips the paired differences of every pair of models.
MAX_PAIRED_MODELS = 6

RECORD_PATTERNS = ("study.yaml", "judges/*/job.json", "judges/*/result.json", f"judges/*/{PREVIOUS}", "judges/*/error.json",
                   "jobs/*/job.json", "jobs/*/result.json", "jobs/*/error.json", "jobs/*/outcomes-*.csv.gz", f"jobs/*/{JOB_MARGIN}",
                   "tables/*.csv",
                   "figures/examples/*.png")


def export(out: str | Path, dest: str | Path) -> list[Path]:
    """Copy a study's small records (never a checkpoint) to ``dest``, e.g. ``docs/results/<name>/``:
    ``collect`` on ``dest`` rebuilds the same tables. Returns the files written."""
    out, dest = Path(out), Path(dest)
    if not (out / "study.yaml").is_file():
        raise RunDirError(f"{out} holds no study (no study.yaml)")
    files.check_folder_path(dest)
    written = []
    with folder_lock(dest):
        for pattern in RECORD_PATTERNS:
            for src in sorted(out.glob(pattern)):
                if src.name == JOB_MARGIN and job_margin(src.parent)[1] is not None:
                    (dest / src.relative_to(out)).unlink(missing_ok=True)  # a stale margin is never published
                    continue
                written.append(files.write_bytes(dest / src.relative_to(out), src.read_bytes()))
    return written


def draw_examples(out: Path, recs: Sequence[dict[str, Any]], attacks: Sequence[str]) -> list[Path]:
    """``figures/examples/<model>__<attack>.png``: the attack's pictures (source, target, adversarial
    input, reconstructions) from the first job of each model whose sweep kept its ``samples.npz``
    (a study's own folder; an exported one keeps the pictures drawn before)."""
    from vaerobust.report import figures, tables

    drawn, seen = [], set()
    for r in recs:
        for name in attacks:
            npz = out / "jobs" / r["id"] / "model" / "attacks" / name / "samples.npz"
            if (r["model"], name) in seen or not npz.is_file():
                continue
            seen.add((r["model"], name))
            rob = r["robustness"].get(name, {})
            settings = r.get("settings") or {}
            labels = tables.class_labels({"results": {"classes": list(range(max(rob.get("classes", [0])) + 1)),
                                                      "ignore": {}, "target": {}},
                                          "data": (settings.get("run") or {}).get("data", {}),
                                          "sweep": ((settings.get("attacks") or {}).get(name) or {}).get("sweep", {})})
            drawn.append(figures.adversarial_examples_png(npz, out / "figures" / "examples" / f"{r['model']}__{name}.png",
                                                          f"{r['model']} ({r['id']}), attack {name}",
                                                          class_names=labels))
    return drawn


def collect(out: str | Path) -> dict[str, Path]:
    """Rebuild the study's tables and report from its records alone (``jobs/*/result.json`` and the
    compact ``jobs/*/outcomes-<attack>.csv.gz``): ``tables/results.csv`` and ``.parquet`` (one row per
    job and attack), ``tables/summary.csv`` (per model and attack over the seeds, with the
    hierarchical bootstrap's 95% interval), ``tables/differences.csv`` (paired differences between
    models), ``tables/effects.csv`` (each setting against each model's baseline) and ``report.md`` /
    ``report.html`` with ``figures/seeds.png`` (:mod:`vaerobust.report.study_page`)."""
    out = Path(out)
    cfg = read_config(out / "study.yaml", StudyConfig) if (out / "study.yaml").is_file() else None
    recs = records(out)
    if not recs:
        raise RunDirError(f"no finished job under {out / 'jobs'}: nothing to collect (see `vaerobust study status`)")
    df = table(recs)
    seedless = [c for c in df.columns if c in (cfg.grid if cfg else {}) and not c.endswith(".seed")]
    summ = summary(df, ["model", "attack", *seedless], out=out, recs=recs)
    seed_keys = [c for c in df.columns if c in (cfg.grid if cfg else {}) and c.endswith(".seed")]
    from vaerobust.studies import get_study

    study = get_study(cfg.name if cfg else None)
    n_models = df.model.nunique()
    # every pair of models is a paired bootstrap: with many models the correlations answer instead
    diffs = (differences(df, ["model", "attack", *seedless], seed_keys, out, recs, study.reference_order)
             if n_models <= MAX_PAIRED_MODELS else pd.DataFrame())
    corr = correlations(df)

    def reference(model: str, which: str) -> float | None:
        v = study.reference_overall(model, which)
        scale = 100.0 if study.reference_unit == "percent" else 1.0
        return None if v is None else float(v) / scale  # as a fraction, like the study's own figures

    effs = effects(df, cfg, seed_keys, out, recs, reference) if cfg is not None else pd.DataFrame()
    paths = {"results.csv": out / "tables" / "results.csv", "results.parquet": out / "tables" / "results.parquet",
             "summary.csv": out / "tables" / "summary.csv", "differences.csv": out / "tables" / "differences.csv",
             "effects.csv": out / "tables" / "effects.csv"}
    with folder_lock(out / "tables"):
        files.write_text(paths["results.csv"], df.to_csv(index=False))
        files.atomic_write(paths["results.parquet"], lambda f: df.to_parquet(f, index=False))
        files.write_text(paths["summary.csv"], summ.to_csv(index=False))
        files.write_text(paths["differences.csv"], diffs.to_csv(index=False))
        files.write_text(paths["effects.csv"], effs.to_csv(index=False))
        if not corr.empty:
            paths["correlations.csv"] = files.write_text(out / "tables" / "correlations.csv", corr.to_csv(index=False))
    if cfg is not None:
        _, model_jobs = expand(cfg)
        baseline = {"attack": _slug(next(iter(cfg.attacks), cfg.attack.name)),
                    **{k: cfg.grid[k][0] for k in seedless}}
        judges = [j for j in (read_saved(p) for p in sorted((out / "judges").glob(f"*/{RESULT}")))
                  if isinstance(j, dict) and j.get("kind") == "judge"]
        notes = [(r["model"], name, w) for r in recs for name, rob in r["robustness"].items()
                 for w in rob.get("warnings") or []]
        names = [_slug(n) for n in (cfg.attacks or {cfg.attack.name: {}})]
        small = [n for n in names if all(len(r["robustness"].get(n, {}).get("classes", [])) <= 2 for r in recs)]
        shown = list(dict.fromkeys(names[:1] + small))  # the baseline attack, and every small (2 x 2) one
        pictured = recs
        if n_models > MAX_PAIRED_MODELS:  # many models: the pictures and pair tables of one setting per objective
            first = set(df.drop_duplicates("objective").model)  # each objective's first setting
            pictured = [r for r in recs if r["model"] in first]
        draw_examples(out, recs=pictured, attacks=shown)
        pair_tables = pooled_pair_tables(pictured, shown)
        paths.update(write_study_report(out, cfg.name, df, summ, diffs, effs, seedless, study,
                                        n_jobs=len(model_jobs), n_done=len(recs), baseline=baseline, judges=judges,
                                        notes=notes, pair_tables=pair_tables, correlations=corr,
                                        min_judge_accuracy=cfg.sweep.min_judge_accuracy,
                                        paired=n_models <= MAX_PAIRED_MODELS))
    return paths


__all__ = ["Job", "JobState", "collect", "effects", "expand", "export", "job_id", "load", "records", "run", "status", "status_table",
           "summary", "table", "write_jobs"]
