"""``reproduce``: a whole study from raw data to a report, resumable step by step.

Layout of ``out``::

    study.yaml                      the resolved study configuration (with --quick / --set applied)
    judge/                          the judge classifier's run
    models/<name>/                  one VAE run per model of the study
    models/<name>/attacks/<attack>/ the attack sweep on that model
    report/                         report.md, tables.tex, pairs.csv, summary.json, figures/

Every step whose output is complete is skipped, so an interrupted reproduction continues
where it stopped (a VAE resumes from its last checkpoint).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
import yaml

from vaerobust import io
from vaerobust.config import (
    ConfigError,
    StudyConfig,
    apply_overrides,
    diff_keys,
    normalized,
    dump_yaml,
    from_dict,
    load_study,
    to_dict,
)
from vaerobust.evaluation import attack_sweep
from vaerobust.training import (
    build_model,
    is_complete,
    resolve_device,
    train_classifier,
    train_vae,
)


def resolve_study(study: str | StudyConfig, quick: bool = False, overrides: Sequence[str] | Mapping = ()) -> StudyConfig:
    cfg = load_study(study) if isinstance(study, str) else study
    if quick:
        cfg = apply_overrides(cfg, cfg.quick)
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    validate_study(cfg)
    return cfg


def validate_study(cfg: StudyConfig) -> None:
    """Check every name and the pair list now, so a typo fails before an hour of training."""
    from vaerobust.attacks import ATTACKS
    from vaerobust.data import DATASETS
    from vaerobust.evaluation import parse_pairs
    from vaerobust.models.encoders import ENCODERS
    from vaerobust.objectives import OBJECTIVES

    if not cfg.models:
        raise ConfigError(f"study {cfg.name!r} has no models")
    for name in cfg.models:
        rc = cfg.run_config(name)
        OBJECTIVES.get(rc.objective.name)
        ENCODERS.get(rc.model.arch)
        DATASETS.get(rc.data.name)
    OBJECTIVES.get(cfg.base.objective.name)
    DATASETS.get(cfg.judge.data.name)
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
    bad = [c for c in cfg.sweep.classes if not 0 <= c <= 9]
    if bad:
        raise ConfigError(f"sweep.classes {list(cfg.sweep.classes)}: expected digit classes in 0..9, got {bad}")
    try:
        parse_pairs(cfg.sweep.pairs, tuple(cfg.sweep.classes))
    except ValueError as e:
        raise ConfigError(f"sweep.pairs: {e}") from None


# wall time of an early-stopped sweep / the fixed one, measured with the default patience and
# min_delta on the published 20k-step models (README, "Early stopping"): a rough planning figure
EARLY_STOP_TIME_RATIO = 0.3


def _calibrate(cfg: StudyConfig, dev: torch.device) -> dict[str, float]:
    """Measure this machine's speed on the study's networks for a few steps (a second or two)."""
    from vaerobust.attacks import build_attack
    from vaerobust.models import LeNet32
    from vaerobust.objectives import build_objective
    from vaerobust.models.vae import VAEOutput

    torch.manual_seed(0)
    rc = cfg.run_config(next(iter(cfg.models)))
    model = build_model(rc).to(dev)
    obj = build_objective(rc.objective)
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

    clf = LeNet32().to(dev)
    copt = torch.optim.SGD(clf.parameters(), lr=0.01)
    yb = torch.zeros(cfg.judge.classifier.batch_size, dtype=torch.long, device=dev)
    xc = torch.rand(cfg.judge.classifier.batch_size, 1, 32, 32, device=dev)

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
                       judge=LeNet32().to(dev))
    t_atk = timed(lambda: atk(xa, xa), 1) / 20
    return {
        "vae_step_s": timed(vae_step, 10),
        "clf_step_s": timed(clf_step, 10),
        "attack_image_step_s": t_atk / b,
    }


def plan(
    cfg: StudyConfig, dev: torch.device, out: Path | None = None, n_test_per_class: float = 1000.0
) -> tuple[str, float]:
    """A description of what will run and an estimate of how long it takes on ``dev``.

    Steps already complete under ``out`` are marked done and left out of the total.
    """
    speed = _calibrate(cfg, dev)

    def done(*parts: str) -> bool:
        return out is not None and is_complete(out.joinpath(*parts))

    j = cfg.judge.classifier
    clf_steps = j.epochs * (60000 // j.batch_size) if j.max_steps is None else j.max_steps
    t_judge = 0.0 if done("judge") else clf_steps * speed["clf_step_s"]
    lines = [f"study {cfg.name!r} on {dev}:",
             f"  judge: LeNet, {j.epochs} epochs ({clf_steps} steps)  "
             + ("done" if done("judge") else f"~{t_judge / 60:.1f} min")]
    total = t_judge
    n_classes = len(cfg.sweep.classes)
    per_pair = n_test_per_class if cfg.sweep.per_pair is None else min(cfg.sweep.per_pair, n_test_per_class)
    pairs = n_classes * (n_classes - 1) if cfg.sweep.pairs == "all" else len(cfg.sweep.pairs.split(","))
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
    """Run a study end to end into ``out``; see the module docstring. Returns ``out``."""
    cfg = resolve_study(study, quick, overrides)
    out = Path(out)
    dev = resolve_device(device)
    study_file = out / "study.yaml"
    if study_file.is_file():
        old = yaml.safe_load(study_file.read_text()) or {}
        if isinstance(old, dict):
            old.pop("meta", None)
        old = normalized(StudyConfig, old)
        new = to_dict(cfg)
        for k in ("meta", "quick"):  # the --quick recipe is not a setting of this run
            old.pop(k, None)
            new.pop(k, None)
        if old != new:
            diff = diff_keys(old, new)
            raise ConfigError(
                f"{out} holds a study run with other settings ({', '.join(diff[:5])}); "
                "choose another --out or delete it"
            )
    text, _ = plan(cfg, dev, out)
    echo(text)
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(study_file, dump_yaml(cfg, {"meta": {"quick": quick}}))

    t0 = time.perf_counter()
    judge_dir = out / "judge"
    if not is_complete(judge_dir):
        echo("training the judge classifier ...")
    train_classifier(cfg.judge, judge_dir, device=device, progress=progress)
    acc = io.read_json(judge_dir / "eval.json")["test_accuracy"]
    echo(f"judge test accuracy: {acc:.2%}")
    for name in cfg.models:
        run = out / "models" / name
        if not is_complete(run):
            echo(f"training {name} ...")
        train_vae(cfg.run_config(name), run, device=device, progress=progress)
        if not (run / "metrics" / "disentanglement.json").is_file():
            from vaerobust.disentanglement import evaluate_run

            echo(f"measuring the latent codes of {name} ...")
            evaluate_run(run, "all", device=device)
        atk_dir = run / "attacks" / cfg.attack.name
        if not is_complete(atk_dir):
            echo(f"attacking {name} ...")
        attack_sweep(run, judge_dir, atk_dir, cfg.attack, cfg.sweep, device=device, progress=progress,
                     data=cfg.run_config(name).data)
        res = io.read_json(atk_dir / "summary.json")["results"]
        ig, tg = res["ignore"]["overall"], res["target"]["overall"]
        echo(
            f"{name}: AS ignore-target {ig['mean']:.2%} [{ig['ci_low']:.2%}, {ig['ci_high']:.2%}],"
            f" AS target {tg['mean']:.2%} [{tg['ci_low']:.2%}, {tg['ci_high']:.2%}]"
        )
    if report:
        from vaerobust.report.report import build_report

        path = build_report(out, out / "report")
        echo(f"report: {path}")
    echo(f"done in {(time.perf_counter() - t0) / 60:.1f} min")
    return out


def load_study_dir(out: str | Path) -> StudyConfig:
    data = yaml.safe_load((Path(out) / "study.yaml").read_text()) or {}
    data.pop("meta", None)
    return from_dict(StudyConfig, data)


__all__ = ["reproduce", "resolve_study", "plan", "load_study_dir"]
