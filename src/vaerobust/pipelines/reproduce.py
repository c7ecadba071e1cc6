"""``vaerobust reproduce``: a whole study from raw data to a report, resumable step by step.

Layout of ``out``::

    study.yaml                      the resolved study configuration (with --quick / --set applied)
    judge/                          the judge classifier's run
    models/<name>/                  one VAE run per model of the study
    models/<name>/attacks/<attack>/ the attack sweep on that model
    report/                         report.md, report.html, tables.tex, pairs.csv, summary.json, figures/

Recipe (:func:`reproduce`): resolve and check the study (every name, the pairs, the judge's
data); refuse a folder made with other settings; print the plan with this machine's measured
speed; then judge -> each model (train, evaluate, attack) -> report, skipping every step whose
output is complete, so an interrupted reproduction continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path

import torch

from vaerobust import files
from vaerobust.attacks import ATTACKS, build_attack
from vaerobust.attacks.pairs import parse_pairs
from vaerobust.config import StudyConfig, apply_overrides, dump_yaml, load_study
from vaerobust.data import dataset_info
from vaerobust.devices import resolve_device
from vaerobust.errors import ConfigError
from vaerobust.models import CLASSIFIERS, VAEOutput
from vaerobust.models.encoders import ENCODERS
from vaerobust.objectives import OBJECTIVES, build_objective
from vaerobust.pipelines.attack import attack_sweep
from vaerobust.pipelines.evaluate import evaluate_run
from vaerobust.pipelines.train import build_model, train_vae
from vaerobust.pipelines.train_classifier import train_classifier
from vaerobust.rundir import ensure_same_settings, folder_lock, is_complete, read_config, read_judge_eval, read_summary


def resolve_study(study: str | StudyConfig, quick: bool = False, overrides: Sequence[str] | Mapping = ()) -> StudyConfig:
    """A study preset or file with ``--quick`` budgets and overrides applied, checked (:func:`validate_study`)."""
    cfg = load_study(study, quick=quick) if isinstance(study, str) else study
    if quick and not isinstance(study, str):
        cfg = apply_overrides(cfg, cfg.quick)
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    validate_study(cfg)
    return dataclasses.replace(cfg, sweep=cfg.sweep.resolved(dataset_info(cfg.judge.data).classes))


def validate_study(cfg: StudyConfig) -> None:
    """Check every name, the judge's data and the pair list now, so a typo fails before an hour of training."""
    if not cfg.models:
        raise ConfigError(f"study {cfg.name!r} has no models")
    for name in cfg.models:
        rc = cfg.run_config(name)
        OBJECTIVES.get(rc.objective.name)
        ENCODERS.get(rc.model.arch)
        dataset_info(rc.data)
    info = dataset_info(cfg.judge.data)
    CLASSIFIERS.get(cfg.judge.classifier.arch)
    jd = cfg.judge.data
    for name in cfg.models:
        d = cfg.run_config(name).data
        if (d.name, d.image_size) != (jd.name, jd.image_size):
            raise ConfigError(
                f"study {cfg.name!r}: model {name!r} trains on {d.name} {d.image_size}x{d.image_size} but the judge on "
                f"{jd.name} {jd.image_size}x{jd.image_size}; the attack sweep needs a judge of the models' data "
                "(train its models with `vaerobust train --preset STUDY/MODEL` and measure them with `vaerobust evaluate`)"
            )
    ATTACKS.get(cfg.attack.name)
    cfg.attack.check_sweepable()
    classes = cfg.sweep.resolved(info.classes).classes or ()
    bad = [c for c in classes if not 0 <= c < info.classes]
    if bad:
        raise ConfigError(f"sweep.classes {list(classes)}: {jd.name} has classes 0..{info.classes - 1}, got {bad}")
    try:
        parse_pairs(cfg.sweep.pairs, tuple(classes))
    except ConfigError as e:
        raise ConfigError(f"sweep.pairs: {e}") from None


# wall time of an early-stopped sweep / the fixed one, measured with the default patience and
# min_delta on the published 20k-step models (README, "Early stopping"): a rough planning figure
EARLY_STOP_TIME_RATIO = 0.3


def _calibrate(cfg: StudyConfig, dev: torch.device) -> dict[str, float]:
    """Measure this machine's speed on the study's networks for a few steps (a second or two)."""
    torch.manual_seed(0)
    rc = cfg.run_config(next(iter(cfg.models)))
    model = build_model(rc).to(dev)
    obj = build_objective(rc.objective, total_steps=rc.train.steps)
    obj.setup(model.spec, dataset_size=1000, device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(rc.train.batch_size, *model.image_shape, device=dev)

    def timed(fn: Callable[[], None], n: int) -> float:
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t) / n

    def vae_step() -> None:
        post = model.encode(x)
        code = post.sample(rc.train.temperature)
        loss = obj(VAEOutput(post, code, model.decoder(code)), x, 0).loss
        opt.zero_grad()
        loss.backward()
        opt.step()

    info = dataset_info(cfg.judge.data)
    clf = CLASSIFIERS.get(cfg.judge.classifier.arch)(n_classes=info.classes).to(dev)
    copt = torch.optim.SGD(clf.parameters(), lr=0.01)
    yb = torch.zeros(cfg.judge.classifier.batch_size, dtype=torch.long, device=dev)
    xc = torch.rand(cfg.judge.classifier.batch_size, *clf.image_shape, device=dev)

    def clf_step() -> None:
        loss = torch.nn.functional.cross_entropy(clf(xc), yb)
        copt.zero_grad()
        loss.backward()
        copt.step()

    b = min(cfg.sweep.batch_size, 256 if dev.type == "cpu" else cfg.sweep.batch_size)
    xa = torch.rand(b, *model.image_shape, device=dev)
    # 20 fixed steps: long enough that the per-call work (target encoding, start noise) is a
    # small share, as it is over the 1000 steps of a real attack (5 steps over-estimated ~1.5x)
    atk = build_attack(model, apply_overrides(cfg.attack, {"steps": 20, "restarts": 1, "early_stop": False}),
                       judge=clf.eval() if clf.image_shape == model.image_shape else None)
    t_atk = timed(lambda: atk(xa, xa), 1) / 20
    return {"vae_step_s": timed(vae_step, 10), "clf_step_s": timed(clf_step, 10), "attack_image_step_s": t_atk / b}


def plan(cfg: StudyConfig, dev: torch.device, out: Path | None = None) -> tuple[str, float]:
    """A description of what will run and an estimate of how long it takes on ``dev``.

    Steps already complete under ``out`` are marked done and left out of the total. Sizes come
    from the dataset's :class:`~vaerobust.data.DatasetInfo` (training images, test images per class).
    """
    speed = _calibrate(cfg, dev)

    def done(*parts: str) -> bool:
        return out is not None and is_complete(out.joinpath(*parts))

    info = dataset_info(cfg.judge.data)
    j = cfg.judge.classifier
    per_epoch = max(info.split_sizes["train"] // j.batch_size, 1)
    clf_steps = j.epochs * per_epoch if j.max_steps is None else min(j.max_steps, j.epochs * per_epoch)
    t_judge = 0.0 if done("judge") else clf_steps * speed["clf_step_s"]
    lines = [f"study {cfg.name!r} on {dev}:",
             f"  judge: {j.arch}, {j.epochs} epochs ({clf_steps} steps)  "
             + ("done" if done("judge") else f"~{t_judge / 60:.1f} min")]
    total = t_judge
    n_test_per_class = info.split_sizes["test"] / info.classes
    per_pair = n_test_per_class if cfg.sweep.per_pair is None else min(cfg.sweep.per_pair, n_test_per_class)
    pairs = len(parse_pairs(cfg.sweep.pairs, tuple(cfg.sweep.resolved(info.classes).classes or ())))
    for name in cfg.models:
        rc = cfg.run_config(name)
        trained, attacked = done("models", name), done("models", name, "attacks", cfg.attack.name)
        t_train = 0.0 if trained else rc.train.steps * speed["vae_step_s"]
        n_atk = pairs * per_pair * 0.95  # about 5% of sources fail the clean filter
        t_atk = 0.0 if attacked else n_atk * cfg.attack.steps * speed["attack_image_step_s"] * cfg.attack.restarts
        if cfg.attack.early_stop:
            t_atk *= EARLY_STOP_TIME_RATIO
        total += t_train + t_atk
        lines.append(
            f"  {name}: {rc.objective.name}, {rc.train.steps} steps  "
            + ("done" if trained else f"~{t_train / 60:.1f} min")
            + f"; attack {pairs} pairs x {'all' if cfg.sweep.per_pair is None else int(per_pair)} images x"
            f" {cfg.attack.steps} steps  " + ("done" if attacked else f"~{t_atk / 60:.1f} min")
        )
    lines.append(f"  estimated time left: ~{total / 60:.0f} min (from this machine's speed, measured just now)")
    return "\n".join(lines), total


def reproduce(
    study: str | StudyConfig,
    out: str | Path,
    quick: bool = False,
    device: str = "auto",
    overrides: Sequence[str] | Mapping = (),
    progress: bool = True,
    echo: Callable[[str], None] = print,
    report: bool = True,
) -> Path:
    """Run a study end to end into ``out`` (module docstring); returns ``out``."""
    cfg = resolve_study(study, quick, overrides)
    out = Path(out)
    dev = resolve_device(device)
    study_file = out / "study.yaml"
    ensure_same_settings(study_file, cfg, "study run", ignore=("meta", "quick"))  # --quick is not a setting
    text, _ = plan(cfg, dev, out)
    echo(text)
    # a reproduction with every step finished writes nothing (and so needs no lock) unless it reports
    with folder_lock(out) if report or not _all_done(cfg, out) else nullcontext():
        study_text = dump_yaml(cfg, {"meta": {"quick": quick}})
        if not study_file.is_file() or study_file.read_text() != study_text:
            files.write_text(study_file, study_text)
        t0 = time.perf_counter()
        judge_dir = out / "judge"
        if not is_complete(judge_dir):
            echo("training the judge classifier ...")
        train_classifier(cfg.judge, judge_dir, device=device, progress=progress)
        echo(f"judge test accuracy: {read_judge_eval(judge_dir).test_accuracy:.2%}")
        for name in cfg.models:
            run = out / "models" / name
            if not is_complete(run):
                echo(f"training {name} ...")
            train_vae(cfg.run_config(name), run, device=device, progress=progress,
                      meta={"study": cfg.name, "model": name})
            if not (run / "metrics" / "disentanglement.json").is_file():
                echo(f"measuring the latent codes of {name} ...")
                evaluate_run(run, "all", device=device)
            atk_dir = run / "attacks" / cfg.attack.name
            if not is_complete(atk_dir):
                echo(f"attacking {name} ...")
            attack_sweep(run, judge_dir, atk_dir, cfg.attack, cfg.sweep, device=device, progress=progress,
                         data=cfg.run_config(name).data)
            s = read_summary(atk_dir)
            for w in s.warnings:
                echo(f"warning: {name}: {w}")
            echo(f"{name}: AS ignore-target {_ci(s.overall('ignore'))}, AS target {_ci(s.overall('target'))}")
        from vaerobust.report.statements import inconclusive_reasons

        doubts = inconclusive_reasons({m: read_summary(out / "models" / m / "attacks" / cfg.attack.name)
                                       for m in cfg.models})
        for line in doubts if len(cfg.models) > 1 else []:
            echo(f"warning: this run cannot conclude which model is more robust: {line}")
        if report:
            from vaerobust.report.build import build_report

            path = build_report(out, out / "report", study=cfg.name)
            echo(f"report: {path}")
        echo(f"done in {(time.perf_counter() - t0) / 60:.1f} min")
    return out


def run(study: str, out: Path | None = None, quick: bool = False, overrides: Sequence[str] = (), device: str = "auto",
        progress: bool = True, echo: Callable[[str], None] = print, seeds: int | None = None,
        workers: int | None = None) -> Path:
    """The ``vaerobust reproduce`` command (default ``--out``: runs/STUDY[-seeds][-quick]).

    ``seeds``: train every model with seeds 0..N-1 (:func:`reproduce_seeds`) instead of once. A
    study with named attack sweeps (``attacks:``, e.g. one per CelebA attribute) runs through the
    study engine too, with one training seed unless ``seeds`` says more.
    """
    suffix = ("-seeds" if seeds else "") + ("-quick" if quick else "")
    out = out or Path("runs") / (Path(study).stem + suffix)
    if not seeds and resolve_study(study, quick, overrides).attacks:
        seeds = 1
    if seeds:
        return reproduce_seeds(study, out, seeds, quick=quick, device=device, overrides=overrides,
                               progress=progress, echo=echo, workers=workers)
    return reproduce(study, out, quick=quick, device=device, overrides=overrides, progress=progress, echo=echo)


def reproduce_seeds(study: str | StudyConfig, out: str | Path, seeds: int, quick: bool = False, device: str = "auto",
                    overrides: Sequence[str] | Mapping = (), progress: bool = True, echo: Callable[[str], None] = print,
                    workers: int | None = None) -> Path:
    """Every model of the study trained with training seeds 0..seeds-1, attacked and measured, as a
    study (:mod:`vaerobust.pipelines.study`: resumable job by job), then collected: per model the mean
    over seeds, the spread between them and a 95% interval from the hierarchical bootstrap, and how
    many seeds order the models as the study's reference does.

    One judge for every seed: the judge is the measuring instrument, so holding it fixed keeps its
    own training noise out of the spread between the models' seeds (a grid over
    ``judge.classifier.seed`` in a study file measures that separately).
    """
    from vaerobust.pipelines import study as studies

    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: expected an integer >= 1")
    cfg = resolve_study(study, quick, overrides)
    cfg = dataclasses.replace(cfg, grid={**cfg.grid, "train.seed": list(range(seeds))})
    counts = studies.run(cfg, out, workers=workers, device=device, progress=progress, echo=echo)
    studies.collect(out)
    import pandas as pd

    summ = pd.read_csv(Path(out) / "tables" / "summary.csv")
    for _, r in summ.iterrows():
        for col, label in (("as_ignore", "AS ignore-target"), ("as_target", "AS target")):
            lo, hi = r.get(f"{col}_boot_low"), r.get(f"{col}_boot_high")
            ci = f", 95% CI [{lo:.2%}, {hi:.2%}] (seeds and images)" if pd.notna(lo) else ""
            sd = f", spread between seeds (sd) {100 * r[f'{col}_sd']:.1f} pt" if pd.notna(r[f"{col}_sd"]) else ""
            what = r["model"] if summ["attack"].nunique() < 2 else f"{r['model']} / {r['attack']}"
            mean = f"{r[f'{col}_mean']:.2%}" if pd.notna(r[f"{col}_mean"]) else "n/a (nothing attacked)"
            echo(f"{what} ({int(r['jobs'])} seeds): {label} {mean}{sd}{ci}")
    diffs = pd.read_csv(Path(out) / "tables" / "differences.csv")
    for _, r in diffs[diffs.model_b == "(the reference's ordering)"].iterrows():
        for col, label in (("as_ignore", "AS ignore-target"), ("as_target", "AS target")):
            n = r.get(f"{col}_seeds_in_reference_order")
            defined = r.get(f"{col}_seeds_defined", r["seeds"])
            if pd.notna(n):
                at = f" ({r['attack']})" if "attack" in r and diffs["attack"].nunique() > 1 else ""
                echo(f"{label}{at}: {int(n)} of {int(defined)} seeds order the models {r['model_a']}")
    if counts.get("failed") or counts.get("blocked"):
        echo(f"warning: {counts.get('failed', 0) + counts.get('blocked', 0)} job(s) did not finish: "
             f"`vaerobust study status {out}`")
    echo(f"tables: {Path(out) / 'tables'}")
    return Path(out)


def _ci(o: Mapping) -> str:
    """"30.1% [28.0%, 32.2%]", or n/a where no pair had a kept source."""
    if not isinstance(o.get("mean"), (int, float)):
        return "n/a"
    return f"{o['mean']:.2%} [{o['ci_low']:.2%}, {o['ci_high']:.2%}]"


def _all_done(cfg: StudyConfig, out: Path) -> bool:
    """Whether every step of the study (judge, each model's training, measures and attack) is finished."""
    return is_complete(out / "judge") and all(
        is_complete(out / "models" / m) and (out / "models" / m / "metrics" / "disentanglement.json").is_file()
        and is_complete(out / "models" / m / "attacks" / cfg.attack.name) for m in cfg.models)


def load_study_dir(out: str | Path) -> StudyConfig:
    """The settings of a reproduction folder (its ``study.yaml``)."""
    return read_config(Path(out) / "study.yaml", StudyConfig)


__all__ = ["load_study_dir", "plan", "reproduce", "reproduce_seeds", "resolve_study", "run", "validate_study"]
