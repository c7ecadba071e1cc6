"""The study report: run directories -> Markdown, LaTeX, CSV, JSON and PNG files.

:func:`build_report` reads only run directories (the layout of DESIGN.md):

```
ROOT/                         a study's folder, or a folder holding several studies
  judge/                      eval.json (test_accuracy), config.yaml, model.json {"kind": "classifier"}
  models/<name>/              a VAE run: model.json {"kind": "vae"}, config.yaml, metrics.jsonl, figures/
  models/<name>/attacks/<id>/ summary.json, examples.csv, samples.npz, complete.json
```

VAE runs are found by searching ROOT recursively for ``model.json`` files of kind "vae";
the run directory's name is the model's name, which is also the key to the thesis's
numbers in :mod:`vaerobust.report.references` (``disentangled``, ``entangled``,
``entangled_wd``). Any subset of models and any names work: models the thesis did not
train get "n/a" where its numbers would be.

Every sentence of the report that states a result is generated from the numbers
(:func:`result_statements`, :func:`budget_differences`); none is written in advance.

Uncertainty: a pair's rate carries a Wilson 95 % interval; a model's mean over pairs the
normal-approximation interval of :meth:`vaerobust.metrics.robustness.SuccessTable.overall`
(pairs independent, binomial within), read from summary.json, never recomputed here. The
difference of two models' means gets se = sqrt(se_1^2 + se_2^2), each standard error read
back from its interval as (high - low) / (2 * 1.96) (approximate where an interval is
clipped at 0 or 1).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vaerobust import __version__, io
from vaerobust.report import extras, references, tables

Z95 = 1.959964

#: The thesis's budgets (PROTOCOL §3-6): a smaller one makes a run a reduced reproduction.
THESIS_BUDGETS = {"train.steps": 100_000, "attack.steps": 1000, "sweep.per_pair": None, "judge.epochs": 10}

#: Objective settings that each built-in objective uses (others are shown as "–").
OBJECTIVE_KEYS = {
    "elbo": ("beta",),
    "capacity": ("gamma", "capacity_max", "capacity_steps"),
    "jointvae": ("gamma", "capacity_max", "capacity_steps", "cat_capacity_max", "cat_capacity_steps"),
}
PRESET = "sootla2018"


# --------------------------------------------------------------------------- what is read


@dataclass
class AttackRun:
    """One attack sweep of one VAE: ``models/<model>/attacks/<attack_id>/``."""

    label: str  # display name: the model's name, made unique where needed
    model: str  # the VAE run directory's name (the key to the thesis's numbers)
    attack_id: str
    directory: Path
    summary: dict[str, Any]
    complete: bool
    judge: dict[str, Any] | None = None


@dataclass
class VAERun:
    """One trained VAE run directory and the attacks recorded under it."""

    label: str
    name: str
    directory: Path
    config: dict[str, Any]
    last_metrics: dict[str, Any] | None
    complete: bool
    figures: list[Path] = field(default_factory=list)
    attacks: list[AttackRun] = field(default_factory=list)


def _read_model_json(path: Path) -> dict[str, Any] | None:
    try:
        desc = io.read_json(path)
    except io.RunDirError:
        return None  # an unreadable model.json is not a run we can report on; skip it
    return desc if isinstance(desc, dict) else None


def find_runs(root: Path, kind: str = "vae") -> list[Path]:
    """Directories under ``root`` (itself included) whose ``model.json`` has this ``kind``."""
    root = Path(root)
    found = [p.parent for p in sorted(root.rglob("model.json")) if (_read_model_json(p) or {}).get("kind") == kind]
    return sorted(found)


def load_summary(path: Path) -> dict[str, Any]:
    """Read and check an attack's ``summary.json``; a corrupt one raises a one-line RunDirError."""
    path = Path(path)
    data = io.read_json(path)

    def need(obj: Any, keys: Sequence[str], where: str) -> None:
        if not isinstance(obj, dict):
            raise io.RunDirError(f"{path} is corrupt: {where or 'the file'} is not a JSON object")
        for k in keys:
            if k not in obj:
                raise io.RunDirError(f"{path} is corrupt: it lacks '{where + '.' if where else ''}{k}' "
                                     "(expected the summary written by vaerobust's attack_sweep)")

    need(data, ("results",), "")
    res = data["results"]
    need(res, ("classes", "n_kept", "n_pairs_total", "ignore", "target"), "results")
    k = len(res["classes"]) if isinstance(res["classes"], list) else -1
    for which in ("ignore", "target"):
        part = res[which]
        need(part, ("hits", "rate", "ci_low", "ci_high", "source_marginal", "target_marginal", "overall"), f"results.{which}")
        need(part["overall"], ("mean", "ci_low", "ci_high", "pairs"), f"results.{which}.overall")
        for key in ("hits", "rate", "ci_low", "ci_high"):
            m = part[key]
            if not (isinstance(m, list) and len(m) == k and all(isinstance(r, list) and len(r) == k for r in m)):
                raise io.RunDirError(f"{path} is corrupt: results.{which}.{key} is not a {k}x{k} matrix")
    for key in ("n_kept", "n_pairs_total"):
        m = res[key]
        if not (isinstance(m, list) and len(m) == k and all(isinstance(r, list) and len(r) == k for r in m)):
            raise io.RunDirError(f"{path} is corrupt: results.{key} is not a {k}x{k} matrix")
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise io.RunDirError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    return data if isinstance(data, dict) else {}


def _judge_info(directory: Path) -> dict[str, Any]:
    ev = io.read_json(directory / "eval.json") if (directory / "eval.json").is_file() else {}
    cfg = _read_yaml(directory / "config.yaml")
    return {"directory": directory, "test_accuracy": ev.get("test_accuracy"), "n_test": ev.get("n_test"),
            "steps": ev.get("steps"), "config": cfg}


def _find_judge(summary: Mapping[str, Any], run_dir: Path, root: Path, judges: list[Path]) -> Path | None:
    """The judge of an attack: the recorded path where it lies under ``root``, else the study's
    own ``judge/`` (a moved or copied study), else the recorded path elsewhere, else the only one."""
    recorded: list[Path] = []
    if isinstance(summary.get("judge"), str):
        p = Path(summary["judge"])
        recorded = [p] if p.is_absolute() else [root / p, p]
    inside = [p for p in recorded if p.resolve().is_relative_to(root.resolve())]
    cands = inside + [run_dir.parent.parent / "judge"] + recorded + (judges if len(judges) == 1 else [])
    for c in cands:
        if (c / "eval.json").is_file():
            return c
    return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def collect(root: Path) -> list[VAERun]:
    """Every VAE run under ``root`` with its attacks; raises RunDirError if there is none."""
    root = Path(root)
    if not root.is_dir():
        raise io.RunDirError(f"report root {str(root)!r} does not exist or is not a folder")
    dirs = find_runs(root, "vae")
    if not dirs:
        raise io.RunDirError(f"no VAE run under {str(root)!r}: expected model.json files with kind 'vae' "
                             "(e.g. ROOT/models/<name>/model.json, written by train_vae)")
    judges = find_runs(root, "classifier")
    names = [d.name for d in dirs]
    runs = []
    for d in dirs:
        if names.count(d.name) > 1:  # several studies under one root: prefix the study folder
            rel = d.relative_to(root).parts
            label = "/".join(p for p in rel if p != "models")
        else:
            label = d.name
        metrics = io.read_jsonl(d / "metrics.jsonl")
        run = VAERun(label=label, name=d.name, directory=d, config=_read_yaml(d / "config.yaml"),
                     last_metrics=metrics[-1] if metrics else None, complete=(d / "complete.json").is_file(),
                     figures=sorted((d / "figures").glob("*.png")) if (d / "figures").is_dir() else [])
        paths = sorted((d / "attacks").glob("*/summary.json")) if (d / "attacks").is_dir() else []
        for p in paths:
            summary = load_summary(p)
            a_label = label if len(paths) == 1 else f"{label} [{p.parent.name}]"
            jdir = _find_judge(summary, d, root, judges)
            run.attacks.append(AttackRun(label=a_label, model=d.name, attack_id=p.parent.name, directory=p.parent,
                                         summary=summary, complete=(p.parent / "complete.json").is_file(),
                                         judge=_judge_info(jdir) if jdir else None))
        runs.append(run)
    return runs


# --------------------------------------------------------------------------- statements


def _se(row: Mapping[str, Any]) -> float | None:
    """Standard error of a mean over pairs, read back from its 95 % interval."""
    if row["ci_low"] is None or row["ci_high"] is None or row["mean"] is None:
        return None
    return (row["ci_high"] - row["ci_low"]) / (2 * Z95)


def _order_text(names: Sequence[str], means: Sequence[float] | None = None) -> str:
    """"a > b > c", with "=" between equal means."""
    if not names:
        return ""
    out = names[0]
    for i in range(1, len(names)):
        tie = means is not None and math.isclose(means[i - 1], means[i], rel_tol=0.0, abs_tol=1e-12)
        out += (" = " if tie else " > ") + names[i]
    return out


def result_statements(summaries: Mapping[str, Mapping[str, Any]],
                      reference_names: Mapping[str, str | None] | None = None) -> list[str]:
    """Sentences about the results, each computed from the numbers (Markdown, one per item).

    ``summaries``: display name -> attack summary. They say which model has the highest and
    the lowest mean of each measure; whether the ordering of the models the thesis trained
    agrees with its ordering (disentangled > entangled > entangled_wd); whether each pair of
    models' 95 % intervals overlap, with the difference and its approximate interval;
    whether the thesis's value lies inside ours; and which source class is the easiest and
    the hardest to move, beside the thesis's.
    """
    refs = dict(reference_names or {})
    rows = tables.means_rows(summaries, refs)
    out: list[str] = []
    for which in tables.WHICH:
        meas = tables.WHICH_LABEL[which]
        valid = [r for r in rows if r[which]["mean"] is not None]
        if not valid:
            out.append(f"No model has a measurable mean {meas} (no kept source in any pair).")
            continue
        ranked = sorted(valid, key=lambda r: -r[which]["mean"])
        if len(ranked) == 1:
            r = ranked[0]
            out.append(f"Only one model was attacked: **{r['model']}** has a mean {meas} of "
                       f"{tables.fmt_ci(r[which]['mean'], r[which]['ci_low'], r[which]['ci_high'])}.")
        elif math.isclose(ranked[0][which]["mean"], ranked[-1][which]["mean"], rel_tol=0.0, abs_tol=1e-12):
            out.append(f"All {len(ranked)} models have the same mean {meas}, "
                       f"{tables.fmt_pct(ranked[0][which]['mean'], 1)}: no model is more attackable than another.")
        else:
            hi, lo = ranked[0], ranked[-1]
            out.append(f"**{hi['model']}** has the highest mean {meas} "
                       f"({tables.fmt_ci(hi[which]['mean'], hi[which]['ci_low'], hi[which]['ci_high'])}) and "
                       f"**{lo['model']}** the lowest "
                       f"({tables.fmt_ci(lo[which]['mean'], lo[which]['ci_low'], lo[which]['ci_high'])}); "
                       f"ordering: {_order_text([r['model'] for r in ranked], [r[which]['mean'] for r in ranked])}.")
        # ordering of the thesis's models
        with_ref = [r for r in ranked if r["reference"] in references.THESIS_ORDER]
        ref_names = [r["reference"] for r in with_ref]
        if len(set(ref_names)) >= 2 and len(set(ref_names)) == len(ref_names):
            ours = [r["reference"] for r in with_ref]
            ours_means = [r[which]["mean"] for r in with_ref]
            ours_text = _order_text(ours, ours_means)
            thesis = [m for m in references.THESIS_ORDER if m in ref_names]
            verdict = "agrees with" if ours_text == _order_text(thesis) else "does not agree with"
            out.append(f"{meas}: our ordering of the thesis's models, {ours_text}, {verdict} the thesis's "
                       f"ordering {_order_text(thesis)}.")
        elif len(set(ref_names)) >= 2:
            out.append(f"{meas}: the thesis's ordering {_order_text(references.THESIS_ORDER)} is not checked, as a "
                       "model name appears more than once (several studies or attack sweeps); compare the rows of "
                       "the means table.")
        elif with_ref:
            out.append(f"{meas}: fewer than two distinct models of the thesis were attacked, so its ordering "
                       f"{_order_text(references.THESIS_ORDER)} cannot be checked.")
        # interval overlaps and differences
        for i in range(len(ranked)):
            for j in range(i + 1, len(ranked)):
                a, b = ranked[i][which], ranked[j][which]
                if None in (a["ci_low"], a["ci_high"], b["ci_low"], b["ci_high"]):
                    continue
                overlap = a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"]
                d = 100 * (a["mean"] - b["mean"])
                se = 100 * math.sqrt((_se(a) or 0.0) ** 2 + (_se(b) or 0.0) ** 2)
                out.append(
                    f"{meas}, {ranked[i]['model']} vs {ranked[j]['model']}: the 95% intervals "
                    f"{'overlap' if overlap else 'do not overlap'}; difference {d:+.1f} pp, approx. 95% CI "
                    f"[{d - Z95 * se:+.1f}, {d + Z95 * se:+.1f}] pp"
                    f"{' (excludes 0)' if abs(d) > Z95 * se else ' (includes 0)'}.")
        for r in valid:
            w = r[which]
            if w["thesis"] is not None and w["thesis_in_ci"] is not None:
                where = "inside" if w["thesis_in_ci"] else "outside"
                out.append(f"{meas}, {r['model']}: the thesis's {tables.fmt_ref_pct(w['thesis'])} lies {where} our "
                           f"95% interval {tables.fmt_ci(w['mean'], w['ci_low'], w['ci_high'])} "
                           f"(ours − thesis = {tables.fmt_pp(w['diff_pp'])} pp).")
    # coverage and class structure
    for name, summary in summaries.items():
        res = tables.results_of(summary)
        k = len(res["classes"])
        n_pairs = int(res["ignore"]["overall"].get("pairs") or 0)
        if n_pairs < k * (k - 1):
            out.append(f"{name}: only {n_pairs} of the {k * (k - 1)} ordered pairs had a kept source (the judge "
                       "misclassified the clean reconstructions of the others); its means are over those pairs.")
        marg = [(c, v) for c, v in zip(res["classes"], res["ignore"]["source_marginal"]) if not tables.is_missing(v)]
        if len(marg) < 2:
            continue
        easy, hard = max(marg, key=lambda cv: cv[1]), min(marg, key=lambda cv: cv[1])
        text = (f"{name}: source {easy[0]} is the easiest to move ({tables.fmt_pct(easy[1])} AS ignore-target), "
                f"source {hard[0]} the hardest ({tables.fmt_pct(hard[1])})")
        ref = references.reference_marginal(refs.get(name, name) or "", "ignore")
        if ref is not None:
            ec = max(range(len(ref)), key=lambda c: ref[c])
            hc = min(range(len(ref)), key=lambda c: ref[c])
            same = "the same classes as" if (ec, hc) == (easy[0], hard[0]) else "unlike"
            text += (f"; {same} the thesis, whose easiest is {ec} ({tables.fmt_ref_pct(ref[ec])}) and hardest "
                     f"{hc} ({tables.fmt_ref_pct(ref[hc])})")
        out.append(text + ".")
    return out


# --------------------------------------------------------------------------- budgets


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, Mapping):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(_flat(v, key) if isinstance(v, Mapping) else {key: v})
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def budget_differences(runs: Sequence[VAERun], root: Path | None = None) -> tuple[list[str], list[str]]:
    """(reduced, other): how the runs differ from the thesis's protocol, computed from configs.

    ``reduced`` lists budgets below the thesis's (training steps < 100000, attack steps <
    1000, a cap per pair, a judge trained for fewer than 10 epochs, data other than MNIST,
    fewer pairs or classes): any entry makes the study a reduced reproduction. ``other``
    lists every further setting that differs from the ``sootla2018`` preset, for the models
    the preset names. ``root`` only shortens the judges' paths in the text.
    """
    from vaerobust.config import load_study, to_dict

    study = load_study(PRESET)
    reduced: list[str] = []
    other: list[str] = []
    judges_seen: set[Path] = set()
    for run in runs:
        cfg = run.config
        steps = _flat(cfg).get("train.steps")
        if isinstance(steps, int) and steps < THESIS_BUDGETS["train.steps"]:
            reduced.append(f"{run.label}: train.steps = {steps} (thesis: {THESIS_BUDGETS['train.steps']})")
        data_name = _flat(cfg).get("data.name")
        if data_name is not None and data_name != "mnist":
            reduced.append(f"{run.label}: data.name = {data_name} (thesis: mnist)")
        if run.name in study.models:
            want = _flat(to_dict(study.run_config(run.name)))
            have = _flat({k: v for k, v in cfg.items() if k != "meta"})
            skip = {"train.steps", "data.name", "train.log_every", "train.checkpoint_every"}
            for key in sorted(set(want) | set(have)):
                if key in skip or _same(want.get(key), have.get(key)):
                    continue
                other.append(f"{run.label}: {key} = {have.get(key, 'absent')} (preset: {want.get(key, 'absent')})")
        for atk in run.attacks:
            s = atk.summary
            a_steps = (s.get("attack") or {}).get("steps")
            if isinstance(a_steps, int) and a_steps < THESIS_BUDGETS["attack.steps"]:
                reduced.append(f"{atk.label}: attack.steps = {a_steps} (thesis: {THESIS_BUDGETS['attack.steps']})")
            sweep = s.get("sweep") or {}
            if sweep.get("per_pair") is not None:
                reduced.append(f"{atk.label}: sweep.per_pair = {sweep['per_pair']} (thesis: all test images)")
            if sweep.get("pairs", "all") != "all":
                reduced.append(f"{atk.label}: sweep.pairs = {sweep['pairs']} (thesis: all 90 ordered pairs)")
            if "classes" in sweep and list(sweep["classes"]) != list(range(10)):
                reduced.append(f"{atk.label}: sweep.classes = {sweep['classes']} (thesis: 0-9)")
            want_a = _flat(to_dict(study.attack))
            have_a = _flat(s.get("attack") or {})
            for key in sorted(set(want_a) | set(have_a)):
                if key != "steps" and not _same(want_a.get(key), have_a.get(key)):
                    other.append(f"{atk.label}: attack.{key} = {have_a.get(key, 'absent')} "
                                 f"(preset: {want_a.get(key, 'absent')})")
            if atk.judge is not None and atk.judge["directory"] not in judges_seen:
                judges_seen.add(atk.judge["directory"])
                clf = (atk.judge["config"] or {}).get("classifier") or {}
                jname = _rel(atk.judge["directory"], root) if root is not None else atk.judge["directory"].name
                ep = clf.get("epochs")
                if isinstance(ep, int) and ep < THESIS_BUDGETS["judge.epochs"]:
                    reduced.append(f"judge at {jname}/: classifier.epochs = {ep} "
                                   f"(thesis: {THESIS_BUDGETS['judge.epochs']})")
                if clf.get("max_steps") is not None:
                    reduced.append(f"judge at {jname}/: classifier.max_steps = {clf['max_steps']} "
                                   "(thesis: no cap)")
    return reduced, other


# --------------------------------------------------------------------------- formatting helpers


def _fmt_seconds(s: Any) -> str:
    if not isinstance(s, (int, float)) or math.isnan(s):
        return tables.NA
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def _v(x: Any) -> str:
    if x is None:
        return "none"
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_v(v) for v in x) + "]"
    return str(x)


def _rel(p: Path, root: Path) -> str:
    try:
        return Path(p).resolve().relative_to(Path(root).resolve()).as_posix() or "."
    except ValueError:
        return str(p)


def _short_hash(h: Any) -> str:
    return f"`{h[:12]}…`" if isinstance(h, str) and h else tables.NA


def _jsonable(x: Any) -> Any:
    """NaN -> None and Paths -> str, recursively (strict JSON)."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _training_table(runs: Sequence[VAERun], root: Path) -> str:
    header = ["setting"] + [r.label for r in runs]
    flat = [_flat(r.config) for r in runs]

    def obj(i: int, key: str) -> str:
        name = flat[i].get("objective.name")
        used = OBJECTIVE_KEYS.get(name)  # type: ignore[arg-type]
        if used is not None and key not in used:
            return tables.DASH
        return _v(flat[i].get(f"objective.{key}"))

    def row(label: str, fn: Any) -> list[str]:
        return [label] + [fn(i) for i in range(len(runs))]

    def last(i: int, key: str) -> str:
        m = runs[i].last_metrics or {}
        return f"{m[key]:.2f}" if isinstance(m.get(key), (int, float)) else tables.NA

    rows = [
        row("run directory", lambda i: f"`{_rel(runs[i].directory, root)}`"),
        row("training complete", lambda i: "yes" if runs[i].complete else "**no**"),
        row("data", lambda i: f"{_v(flat[i].get('data.name'))} ({_v(flat[i].get('data.image_size'))} px)"),
        row("latents (Gaussian dims, categorical)",
            lambda i: f"{_v(flat[i].get('model.gaussian_dims'))}, {_v(flat[i].get('model.categorical'))}"),
        row("objective", lambda i: _v(flat[i].get("objective.name"))),
        row("beta", lambda i: obj(i, "beta")),
        row("gamma", lambda i: obj(i, "gamma")),
        row("capacity max (nats)", lambda i: obj(i, "capacity_max")),
        row("capacity steps", lambda i: obj(i, "capacity_steps")),
        row("categorical capacity max (none = same)", lambda i: obj(i, "cat_capacity_max")),
        row("categorical capacity steps (none = same)", lambda i: obj(i, "cat_capacity_steps")),
        row("training steps", lambda i: _v(flat[i].get("train.steps"))),
        row("batch size", lambda i: _v(flat[i].get("train.batch_size"))),
        row("learning rate (Adam)", lambda i: _v(flat[i].get("train.lr"))),
        row("weight decay", lambda i: _v(flat[i].get("train.weight_decay"))),
        row("Concrete temperature", lambda i: _v(flat[i].get("train.temperature"))),
        row("seed", lambda i: _v(flat[i].get("train.seed"))),
        row("last logged step", lambda i: _v((runs[i].last_metrics or {}).get("step", tables.NA))),
        row("last logged loss", lambda i: last(i, "loss")),
        row("last logged reconstruction term", lambda i: last(i, "recon")),
        row("training throughput (images/s, last log)", lambda i: last(i, "images_per_s")),
        row("training data sha256", lambda i: _short_hash(flat[i].get("meta.data_sha256"))),
        row("package version", lambda i: _v(flat[i].get("meta.version"))),
    ]
    return tables.markdown_table(header, rows, "l" * len(header))


def _attack_table(attacks: Sequence[AttackRun], root: Path) -> str:
    header = ["setting"] + [a.label for a in attacks]

    def row(label: str, fn: Any) -> list[str]:
        return [label] + [fn(a) for a in attacks]

    def at(a: AttackRun, key: str) -> str:
        return _v((a.summary.get("attack") or {}).get(key, tables.NA))

    def sw(a: AttackRun, key: str) -> str:
        return _v((a.summary.get("sweep") or {}).get(key, tables.NA))

    def per_pair(a: AttackRun) -> str:
        sweep = a.summary.get("sweep") or {}
        if "per_pair" not in sweep:
            return tables.NA
        return "all test images" if sweep["per_pair"] is None else str(sweep["per_pair"])

    def judge(a: AttackRun) -> str:
        if a.judge is None:
            return "not found"
        return f"`{_rel(a.judge['directory'], root)}` (test accuracy {tables.fmt_pct(a.judge['test_accuracy'])})"

    rows = [
        row("attack directory", lambda a: f"`{_rel(a.directory, root)}`"),
        row("attack complete", lambda a: "yes" if a.complete else "**no**"),
        row("attack", lambda a: at(a, "name")),
        row("eps (L-inf)", lambda a: at(a, "eps")),
        row("lambda", lambda a: at(a, "lam")),
        row("optimiser steps", lambda a: at(a, "steps")),
        row("learning rate (Adam)", lambda a: at(a, "lr")),
        row("initial noise std", lambda a: at(a, "noise_std")),
        row("pairs", lambda a: sw(a, "pairs")),
        row("classes", lambda a: sw(a, "classes")),
        row("images per pair", per_pair),
        row("sweep seed", lambda a: sw(a, "seed")),
        row("pairs of images formed", lambda a: _v(a.summary.get("n_pairs_formed", tables.NA))),
        row("sources attacked (clean recon. correct)", lambda a: _v(a.summary.get("n_attacked", tables.NA))),
        row("judge's accuracy on clean reconstructions", lambda a: tables.fmt_pct(a.summary.get("clean_recon_accuracy"))),
        row("judge", judge),
        row("test data", lambda a: _v((a.summary.get("data") or {}).get("name", tables.NA))),
        row("test data sha256", lambda a: _short_hash(a.summary.get("data_sha256"))),
        row("package version", lambda a: _v(a.summary.get("version", tables.NA))),
        row("device", lambda a: _v(a.summary.get("device", tables.NA))),
        row("wall time of the sweep", lambda a: _fmt_seconds(a.summary.get("seconds"))),
    ]
    return tables.markdown_table(header, rows, "l" * len(header))


# --------------------------------------------------------------------------- the report


def build_report(root: str | Path, out: str | Path, html: bool = True) -> Path:
    """Write the study report of the run directories under ``root`` into ``out``; return report.md's path.

    Files written (all atomically):

    - ``report.md``: what was run (models, judge, attacks, budgets, differences from the
      thesis's protocol), the means table beside the thesis with generated statements, then
      per model its source marginals beside the thesis, the 10x10 pair table, heatmaps and
      adversarial examples, then each model's reconstructions, samples and traversals;
    - ``tables.tex``: the same tables as LaTeX (``\\resizebox`` needs ``graphicx``);
    - ``pairs.csv``: per-pair counts, rates and Wilson intervals of every model (long format);
    - ``summary.json``: per model the overall means with intervals, marginals, counts,
      settings and provenance, plus the statements and budget differences;
    - ``figures/*.png``: the figures that report.md links (relative links);
    - ``report.html`` (unless ``html=False``): report.md as one HTML page (:func:`report_html`).

    Raises :class:`vaerobust.io.RunDirError` (one line) if ``root`` holds no VAE run or a
    ``summary.json`` is corrupt.
    """
    root, out = Path(root), Path(out)
    runs = collect(root)
    from vaerobust.report import figures as F

    attacks = [a for r in runs for a in r.attacks]
    summaries = {a.label: a.summary for a in attacks}
    ref_names = {a.label: a.model for a in attacks}
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    reduced, other = budget_differences(runs, root)
    statements = result_statements(summaries, ref_names) if attacks else []

    # ---- figures
    attack_figs: dict[str, dict[str, Path]] = {}
    for a in attacks:
        res = tables.results_of(a.summary)
        slug = _slug(a.label)
        figs = {}
        for which in tables.WHICH:
            figs[which] = F.heatmap_png(res[which]["rate"], fig_dir / f"{slug}_heatmap_{which}.png",
                                        f"{a.label}: {tables.WHICH_LABEL[which]} (%)", list(res["classes"]))
        npz = a.directory / "samples.npz"
        if npz.is_file():
            figs["examples"] = F.adversarial_examples_png(npz, fig_dir / f"{slug}_examples.png",
                                                          f"{a.label}: latent attack examples")
        attack_figs[a.label] = figs
    marginal_figs = {}
    if attacks:
        for which in tables.WHICH:
            marginal_figs[which] = F.marginals_png(summaries, fig_dir / f"marginals_{which}.png", which,
                                                   reference_names=ref_names)
    model_figs: dict[str, list[Path]] = {}
    for r in runs:
        copied = []
        for f in r.figures:
            dst = fig_dir / f"{_slug(r.label)}__{f.name}"
            io.write_bytes(dst, f.read_bytes())
            copied.append(dst)
        model_figs[r.label] = copied

    def link(p: Path) -> str:
        return p.relative_to(out).as_posix()

    # ---- report.md
    md: list[str] = []
    md.append("# Robustness of (dis)entangled VAEs to latent adversarial attacks: reproduction report\n")
    md.append(f"Reproduces Sootla (2018), *Investigating the robustness of disentangled VAEs to adversarial "
              f"examples* (UCL MSc thesis). Generated by vaerobust {__version__} on "
              f"{_dt.date.today().isoformat()} from `{root}`: {len(runs)} VAE run(s), {len(attacks)} attack sweep(s).\n")
    if reduced:
        md.append("> **This is a reduced reproduction.** Its budgets or data differ from the thesis's, so its "
                  "numbers are not expected to match the thesis's and its intervals are wider:\n>")
        md += [f"> - {line}" for line in reduced]
        md.append("")
    else:
        md.append("Budgets match the thesis's protocol: 100000 training steps, 1000 attack steps, all test "
                  "images of every ordered pair, a judge trained for 10 epochs, MNIST.\n")
    if statements:
        md.append("## Findings (generated from the numbers below)\n")
        md += [f"- {s}" for s in statements]
        md.append("")

    md.append("## What was run\n")
    md.append("### Models (read from each run's config.yaml)\n")
    md.append(_training_table(runs, root))
    judges = {a.judge["directory"]: a.judge for a in attacks if a.judge is not None}
    md.append("### Judge classifier\n")
    if judges:
        for j in judges.values():
            clf = (j["config"] or {}).get("classifier") or {}
            md.append(f"- `{_rel(j['directory'], root)}`: test accuracy **{tables.fmt_pct(j['test_accuracy'])}** on "
                      f"{_v(j['n_test'])} test images after {_v(j['steps'])} steps ({_v(clf.get('epochs'))} epochs, "
                      f"lr {_v(clf.get('lr'))}, momentum {_v(clf.get('momentum'))}, batch {_v(clf.get('batch_size'))}).")
        md.append("")
    else:
        md.append("No judge run was found (no eval.json at the paths the attacks recorded).\n")
    md.append("### Attacks (read from each summary.json)\n")
    if attacks:
        md.append(_attack_table(attacks, root))
    else:
        md.append(f"No attack results under `{root}` yet (no `attacks/*/summary.json`).\n")
    untested = [r.label for r in runs if not r.attacks]
    if untested and attacks:
        md.append(f"Models without attack results (not in the tables below): {', '.join(untested)}.\n")
    md.append("### Differences from the thesis's protocol\n")
    md += [f"- budget: {line}" for line in reduced] or ["- no budget below the thesis's."]
    md += [f"- setting: {line}" for line in other] or ["- no other setting differs from the `sootla2018` preset "
                                                       "(checked for the models it names)."]
    md.append("")

    if attacks:
        md.append("## Attack success: means over the ordered pairs\n")
        md.append("Ours with a 95% interval (normal approximation over pairs, binomial within); the thesis's "
                  "means from Tables 5.1-5.3 of its draft and from a later draft (another run); the difference "
                  f"in percentage points. Source: {references.SOURCE}.\n")
        md.append(tables.means_table_markdown(summaries, ref_names))
        md.append(f"![source marginals, AS ignore-target]({link(marginal_figs['ignore'])})\n")
        md.append(f"![source marginals, AS target]({link(marginal_figs['target'])})\n")
        for a in attacks:
            md.append(f"## {a.label}\n")
            md.append("### Source marginals (mean over the targets), beside the thesis\n")
            md.append(tables.marginal_table_markdown(a.summary, a.model))
            md.append("### Every pair: AS ignore-target (AS target), row = source, column = target\n")
            md.append(tables.pair_table_markdown(a.summary))
            figs = attack_figs[a.label]
            md.append(f"![{a.label} AS ignore-target heatmap]({link(figs['ignore'])}) "
                      f"![{a.label} AS target heatmap]({link(figs['target'])})\n")
            if "examples" in figs:
                md.append("### Adversarial examples\n")
                md.append(f"![{a.label} adversarial examples]({link(figs['examples'])})\n")
            else:
                md.append("No samples.npz: no source was attacked.\n")

    codes = {r.label: c for r in runs if (c := extras.read_codes(r.directory)) is not None}
    if codes:
        md.append("## Latent codes: disentanglement measures of the attacked checkpoints\n")
        md.append("Written by `vaerobust evaluate RUN` (`metrics/disentanglement.json` in each run directory).\n")
        md += extras.codes_table_markdown(codes, {r.label: (r.config.get("model") or {}).get("gaussian_dims")
                                                  for r in runs})
    curves = extras.collect_curves({r.label: r.directory for r in runs})
    md += extras.curves_section(curves, fig_dir, link, _slug)

    md.append("## Model figures\n")
    for r in runs:
        md.append(f"### {r.label}\n")
        if model_figs[r.label]:
            md += [f"![{r.label} {p.stem.split('__', 1)[-1]}]({link(p)})\n" for p in model_figs[r.label]]
        else:
            md.append("No figures (the run is not complete).\n")
    md.append("## Files\n")
    md.append("`tables.tex` (LaTeX tables), `pairs.csv` (every pair: counts, rates, Wilson 95% intervals), "
              "`summary.json` (numbers, settings, provenance), `figures/`.\n")
    io.write_text(out / "report.md", "\n".join(md))

    # ---- tables.tex
    tex = ["% Tables of the vaerobust report; \\resizebox needs \\usepackage{graphicx}.",
           f"% Generated by vaerobust {__version__} from {root}.", ""]
    if attacks:
        tex.append(tables.latex_table(tables.means_table_latex(summaries, ref_names),
                                      "Mean attack success over the ordered pairs, with 95% intervals, beside the thesis",
                                      "tab:means", resize=True))
        for a in attacks:
            slug = _slug(a.label)
            tex.append(tables.latex_table(tables.marginal_table_latex(a.summary, a.model),
                                          f"{a.label}: source marginals beside the thesis", f"tab:marginals-{slug}",
                                          resize=True))
            tex.append(tables.latex_table(tables.pair_table_latex(a.summary),
                                          f"{a.label}: AS ignore-target (AS target) per pair; rows: source, columns: target",
                                          f"tab:pairs-{slug}", resize=True))
    io.write_text(out / "tables.tex", "\n".join(tex))

    # ---- pairs.csv
    io.write_text(out / "pairs.csv", tables.pairs_frame(summaries).to_csv(index=False))

    # ---- summary.json
    rows = {r["model"]: r for r in tables.means_rows(summaries, ref_names)}
    models_json: dict[str, Any] = {}
    for r in runs:
        for a in r.attacks:
            res = tables.results_of(a.summary)
            models_json[a.label] = {
                "model": a.model,
                "attack_id": a.attack_id,
                "run_dir": _rel(r.directory, root),
                "attack_dir": _rel(a.directory, root),
                "complete": {"training": r.complete, "attack": a.complete},
                "overall": {w: res[w]["overall"] for w in tables.WHICH},
                "source_marginal": {w: res[w]["source_marginal"] for w in tables.WHICH},
                "target_marginal": {w: res[w]["target_marginal"] for w in tables.WHICH},
                "counts": {"n_pairs_formed": a.summary.get("n_pairs_formed"), "n_attacked": a.summary.get("n_attacked"),
                           "pairs_with_kept_sources": res["ignore"]["overall"].get("pairs"),
                           "clean_recon_accuracy": a.summary.get("clean_recon_accuracy")},
                "thesis": None if rows[a.label]["reference"] is None else {
                    w: {k: rows[a.label][w][k] for k in ("thesis", "thesis_later", "diff_pp", "thesis_in_ci")}
                    for w in tables.WHICH} | {"unit": references.UNIT, "source": references.SOURCE},
                "settings": {"objective": r.config.get("objective"), "train": r.config.get("train"),
                             "model": r.config.get("model"), "attack": a.summary.get("attack"),
                             "sweep": a.summary.get("sweep")},
                "provenance": {"version": a.summary.get("version"), "device": a.summary.get("device"),
                               "seconds": a.summary.get("seconds"), "test_data_sha256": a.summary.get("data_sha256"),
                               "train_data_sha256": (r.config.get("meta") or {}).get("data_sha256"),
                               "train_version": (r.config.get("meta") or {}).get("version"),
                               "judge_dir": None if a.judge is None else _rel(a.judge["directory"], root),
                               "judge_test_accuracy": None if a.judge is None else a.judge["test_accuracy"]},
            }
    doc = {
        "generated_by": f"vaerobust {__version__}",
        "root": str(root),
        "units": "fractions in [0, 1] for our numbers; thesis values in percent",
        "reduced_reproduction": bool(reduced),
        "budget_differences": reduced,
        "other_differences": other,
        "statements": statements,
        "models": models_json,
        "untested_models": [r.label for r in runs if not r.attacks],
        "latent_codes": codes,
        "curves": {aid: {label: {k: c.get(k) for k in ("key", "values", "auddc", "auddc_latent", "as_ignore_area",
                                                        "as_ignore_mean", "as_target_area", "as_target_mean", "points")}
                         for label, c in by_model.items()} for aid, by_model in curves.items()},
    }
    io.write_json(out / "summary.json", _jsonable(doc))
    if html:
        report_html(out)
    return out / "report.md"


# --------------------------------------------------------------------------- HTML


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
blockquote {{ border-left: 4px solid #c60; margin: 1em 0; padding: 0.2em 1em; background: #fff6ee; }}
img {{ max-width: 100%; margin: 0.3em; vertical-align: top; }}
code {{ background: #f3f3f3; padding: 0 0.2em; }}
</style></head><body>
{body}
</body></html>
"""


def _inline(text: str) -> str:
    """Escape, then the inline Markdown the report uses: images, **bold**, `code`, *em*."""
    import html

    t = html.escape(text, quote=True)
    t = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", r'<img alt="\1" src="\2">', t)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<em>\1</em>", t)
    return t


def _cells(line: str) -> list[str]:
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def markdown_to_html(md: str, title: str = "vaerobust report") -> str:
    """Convert the subset of Markdown that :func:`build_report` writes into one HTML page.

    Headings (#..####), pipe tables, "- " lists, "> " block quotes, paragraphs, images and
    inline bold / code / emphasis; no other Markdown is needed, so no dependency is taken.
    """
    import html

    lines = md.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = re.match(r"^(#{1,4}) (.*)$", line)
        if m:
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
            i += 1
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            rows = [_cells(b) for b in block if not re.match(r"^\|[\s:|-]+\|$", b)]
            head, body = rows[0], rows[1:]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body]
            out.append("</tbody></table>")
        elif line.startswith(">"):
            block = []
            while i < len(lines) and lines[i].startswith(">"):
                block.append(lines[i][1:].strip())
                i += 1
            out.append("<blockquote>" + markdown_to_html("\n".join(block)).split("<body>\n", 1)[-1]
                       .rsplit("\n</body>", 1)[0] + "</blockquote>")
        elif line.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("</ul>")
        else:
            block = []
            while i < len(lines) and lines[i].strip() and not re.match(r"^(#{1,4} |\||>|- )", lines[i]):
                block.append(lines[i])
                i += 1
            out.append(f"<p>{_inline(' '.join(block))}</p>")
    return _HTML_PAGE.format(title=html.escape(title), body="\n".join(out))


def report_html(out: str | Path) -> Path:
    """Write ``out/report.html`` from ``out/report.md`` (same relative figure links); return its path."""
    out = Path(out)
    md_path = out / "report.md"
    if not md_path.is_file():
        raise io.RunDirError(f"{md_path} is missing: run build_report first")
    md = md_path.read_text()
    title = md.splitlines()[0].lstrip("# ").strip() if md else "vaerobust report"
    io.write_text(out / "report.html", markdown_to_html(md, title))
    return out / "report.html"
