"""Run folders -> typed records for the report (the report reads nothing else).

:func:`collect` finds every VAE run under a root (a folder whose ``model.json`` has kind
"vae"; the folder's name is the model's name), with its attack sweeps
(:class:`~vaerobust.rundir.AttackSummary`), their judge, its latent-code measures and its
strength curves. :func:`study_of` tells which study the runs belong to (``study.yaml`` at the
root, else the runs' ``meta.study``), whose reference numbers the report prints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaerobust import files
from vaerobust.errors import RunDirError
from vaerobust.rundir import COMPLETE, AttackSummary, read_curve, read_judge_eval, read_saved, read_summary
from vaerobust.studies import AttackFacts, RunFacts, Study, get_study


@dataclass
class JudgeInfo:
    directory: Path
    test_accuracy: float | None
    n_test: int | None
    steps: int | None
    config: dict[str, Any]


@dataclass
class AttackRun:
    """One attack sweep of one VAE: ``models/<model>/attacks/<attack_id>/``."""

    label: str  # display name: the model's name, made unique where needed
    model: str  # the VAE run directory's name (the key to the study's reference numbers)
    attack_id: str
    directory: Path
    summary: AttackSummary
    complete: bool
    judge: JudgeInfo | None = None


@dataclass
class VAERun:
    """One trained VAE run directory and what was recorded under it."""

    label: str
    name: str
    directory: Path
    config: dict[str, Any]
    last_metrics: dict[str, Any] | None
    complete: bool
    figures: list[Path] = field(default_factory=list)
    attacks: list[AttackRun] = field(default_factory=list)
    codes: dict[str, Any] | None = None  # metrics/disentanglement.json
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)  # attack id -> curve.json


def _kind(folder: Path) -> str | None:
    try:
        return read_saved(folder / "model.json").get("kind")
    except (RunDirError, AttributeError):
        return None  # an unreadable model.json is not a run we can report on; skip it


def find_runs(root: Path, kind: str = "vae") -> list[Path]:
    """Directories under ``root`` (itself included) whose ``model.json`` has this ``kind``."""
    return sorted(p.parent for p in sorted(Path(root).rglob("model.json")) if _kind(p.parent) == kind)


def read_yaml(path: Path) -> dict[str, Any]:
    """A run's saved settings as plain data, meta included ({} if absent), read by :func:`vaerobust.rundir.read_saved`."""
    data = read_saved(path)
    return data if isinstance(data, dict) else {}


def _judge_info(directory: Path) -> JudgeInfo:
    ev = read_judge_eval(directory) if (directory / "eval.json").is_file() else None
    return JudgeInfo(directory, ev and ev.test_accuracy, ev and ev.n_test, ev and ev.steps,
                     read_yaml(directory / "config.yaml"))


def _find_judge(summary: AttackSummary, run_dir: Path, root: Path, judges: list[Path]) -> Path | None:
    """The judge of an attack: the recorded path where it lies under ``root``, else the study's
    own ``judge/`` (a moved or copied study), else the recorded path elsewhere, else the only one."""
    recorded: list[Path] = []
    if isinstance(summary.judge, str):
        p = Path(summary.judge)
        recorded = [p] if p.is_absolute() else [root / p, p]
    inside = [p for p in recorded if p.resolve().is_relative_to(root.resolve())]
    for c in inside + [run_dir.parent.parent / "judge"] + recorded + (judges if len(judges) == 1 else []):
        if (c / "eval.json").is_file():
            return c
    return None


def read_codes(run_dir: Path) -> dict[str, Any] | None:
    """A run's ``metrics/disentanglement.json`` (None where it has none); a malformed one is a one-line RunDirError."""
    path = Path(run_dir) / "metrics" / "disentanglement.json"
    if not path.is_file():
        return None
    data = files.read_json(path)
    problem = _codes_problem(data)
    if problem:
        raise RunDirError(f"{path} is corrupt: {problem} (expected what `vaerobust evaluate` writes)")
    return data


def _num(x: Any) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def _codes_problem(data: Any) -> str | None:
    """What is wrong with a disentanglement.json, or None."""
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        return "it has no metrics object"
    if not isinstance(data.get("not_applicable", {}), dict):
        return "not_applicable is not an object"
    m = data["metrics"]
    a = m.get("active_dims")
    if a is not None and not (isinstance(a, dict) and isinstance(a.get("active"), int)):
        return "metrics.active_dims is not an object with an integer 'active'"
    c = m.get("categorical_agreement")
    if c is not None and not (isinstance(c, list) and all(isinstance(x, dict) and _num(x.get("nmi"))
                                                          and _num(x.get("best_map_accuracy")) for x in c)):
        return "metrics.categorical_agreement is not a list of {nmi, best_map_accuracy}"
    for name, v in m.items():
        if name not in ("active_dims", "categorical_agreement") and not (
                isinstance(v, dict) and all(_num(x) for x in v.values() if not isinstance(x, (list, dict)))):
            return f"metrics.{name} is not an object of numbers"
    return None


def read_curves(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``{attack id: curve.json}`` over a run's ``attacks/*/curve.json`` (unreadable ones skipped)."""
    found = {}
    for p in sorted((Path(run_dir) / "attacks").glob("*/curve.json")):
        try:
            curve = read_curve(p)
        except RunDirError:
            continue
        if curve.points:
            found[p.parent.name] = curve.to_json()
    return found


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def collect(root: Path) -> list[VAERun]:
    """Every VAE run under ``root`` with its attacks; raises RunDirError if there is none."""
    root = Path(root)
    if not root.is_dir():
        raise RunDirError(f"report root {str(root)!r} does not exist or is not a folder")
    dirs = find_runs(root, "vae")
    if not dirs:
        raise RunDirError(f"no VAE run under {str(root)!r}: expected model.json files with kind 'vae' "
                          "(e.g. ROOT/models/<name>/model.json, written by vaerobust train)")
    judges = find_runs(root, "classifier")
    names = [d.name for d in dirs]
    runs = []
    for d in dirs:
        if names.count(d.name) > 1:  # several studies under one root: prefix the study folder
            label = "/".join(p for p in d.relative_to(root).parts if p != "models")
        else:
            label = d.name
        metrics = files.read_jsonl(d / "metrics.jsonl")
        config = read_yaml(d / "config.yaml")
        bad = [k for k in ("data", "model", "objective", "train", "meta") if k in config and not isinstance(config[k], dict)]
        if bad:
            raise RunDirError(f"{d / 'config.yaml'} is corrupt: {bad[0]} is not a mapping of settings")
        run = VAERun(label=label, name=d.name, directory=d, config=config,
                     last_metrics=metrics[-1] if metrics else None, complete=(d / COMPLETE).is_file(),
                     figures=sorted((d / "figures").glob("*.png")) if (d / "figures").is_dir() else [],
                     codes=read_codes(d), curves=read_curves(d))
        paths = sorted((d / "attacks").glob("*/summary.json")) if (d / "attacks").is_dir() else []
        for p in paths:
            summary = read_summary(p)
            jdir = _find_judge(summary, d, root, judges)
            run.attacks.append(AttackRun(label=label if len(paths) == 1 else f"{label} [{p.parent.name}]",
                                         model=d.name, attack_id=p.parent.name, directory=p.parent, summary=summary,
                                         complete=(p.parent / COMPLETE).is_file(),
                                         judge=_judge_info(jdir) if jdir else None))
        runs.append(run)
    return runs


def study_of(root: Path, runs: list[VAERun]) -> Study:
    """The study of a report: ``root/study.yaml``'s name, else the one name in the runs' ``meta.study``."""
    name = read_yaml(Path(root) / "study.yaml").get("name")
    if not name:
        metas = [r.config.get("meta") for r in runs]
        named = {m.get("study") for m in metas if isinstance(m, dict)} - {None}
        name = named.pop() if len(named) == 1 else None
    return get_study(name if isinstance(name, str) else None)


def rel(p: Path, root: Path) -> str:
    try:
        return Path(p).resolve().relative_to(Path(root).resolve()).as_posix() or "."
    except ValueError:
        return str(p)


def facts(runs: list[VAERun], root: Path) -> list[RunFacts]:
    """What a study's protocol check reads of the runs."""
    return [RunFacts(r.label, r.name, r.config,
                     [AttackFacts(a.label, dict(a.summary.attack), dict(a.summary.sweep),
                                  None if a.judge is None else rel(a.judge.directory, root),
                                  None if a.judge is None else (a.judge.config or {}).get("classifier") or {})
                      for a in r.attacks])
            for r in runs]


def summaries_of(runs: list[VAERun]) -> Mapping[str, AttackSummary]:
    return {a.label: a.summary for r in runs for a in r.attacks}


__all__ = ["AttackRun", "JudgeInfo", "VAERun", "collect", "facts", "find_runs", "read_codes", "read_curves",
           "read_yaml", "rel", "slug", "study_of", "summaries_of"]
