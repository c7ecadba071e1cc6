"""The ``vaerobust`` command: parses arguments, then calls the importable functions.

Every known failure (a config typo, an unknown name, a missing or corrupt file, a missing
dataset) is printed as one line ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train, attack and measure (disentangled) VAEs.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: fetch and cache.")
app.add_typer(data_app, name="data")

SET_HELP = "Override a setting with a dotted key, e.g. --set train.steps=2000 (repeatable)."
DEVICE_HELP = "auto (cuda if available), cpu or cuda."


@data_app.command("fetch")
def data_fetch(
    name: str = typer.Argument("mnist", help="Dataset name (mnist)."),
    root: Optional[Path] = typer.Option(None, help="A folder holding the four MNIST IDX files."),
) -> None:
    """Fetch a dataset through its chain of sources, verify checksums, and cache it."""
    if name != "mnist":
        raise ValueError(f"dataset {name!r} cannot be fetched; expected: mnist")
    from vaerobust.data.mnist import fetch_mnist, mnist_fingerprint

    path = fetch_mnist(root=root)
    typer.echo(f"mnist cached at {path} (sha256 of the arrays: {mnist_fingerprint()})")


@app.command()
def presets() -> None:
    """List the study presets and their models."""
    from vaerobust.config import load_study, preset_names

    for name in preset_names():
        typer.echo(f"{name}: {', '.join(f'{name}/{m}' for m in load_study(name).models)}")


@app.command()
def train(
    out: Path = typer.Option(..., help="Run directory to create (or resume)."),
    preset: Optional[str] = typer.Option(None, help="STUDY/MODEL, e.g. sootla2018/disentangled."),
    config: Optional[Path] = typer.Option(None, help="A RunConfig YAML file instead of a preset."),
    quick: bool = typer.Option(False, help="Use the study's --quick budgets."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Train one VAE into a run directory (resumes an interrupted one)."""
    from vaerobust.config import RunConfig, apply_overrides, from_dict, load_yaml, resolve_preset
    from vaerobust.training import train_vae

    if (preset is None) == (config is None):
        raise ValueError("give exactly one of --preset STUDY/MODEL or --config FILE")
    cfg = resolve_preset(preset, quick) if preset else from_dict(RunConfig, load_yaml(config))
    cfg = apply_overrides(cfg, set_)
    train_vae(cfg, out, device=device, progress=progress)
    typer.echo(f"trained: {out}")


@app.command("train-classifier")
def train_classifier_cmd(
    out: Path = typer.Option(..., help="Run directory of the judge."),
    preset: str = typer.Option("sootla2018", help="Study whose judge settings are used."),
    quick: bool = typer.Option(False, help="Use the study's --quick budgets."),
    set_: List[str] = typer.Option([], "--set", help="e.g. --set classifier.epochs=2"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = typer.Option(True),
) -> None:
    """Train the LeNet judge that labels reconstructions."""
    from vaerobust import io
    from vaerobust.config import apply_overrides
    from vaerobust.experiments.runner import resolve_study
    from vaerobust.training import train_classifier

    cfg = apply_overrides(resolve_study(preset, quick).judge, set_)
    train_classifier(cfg, out, device=device, progress=progress)
    acc = io.read_json(out / "eval.json")["test_accuracy"]
    typer.echo(f"judge test accuracy: {acc:.2%} ({out})")


@app.command()
def attack(
    run: Path = typer.Argument(..., help="A trained VAE run directory."),
    judge: Path = typer.Option(..., help="The judge classifier's run directory."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default RUN/attacks/NAME)."),
    pairs: str = typer.Option("all", help="'all' ordered class pairs, or e.g. '1-7,3-8'."),
    per_pair: Optional[int] = typer.Option(None, help="Images per pair (default: all test images)."),
    preset: str = typer.Option("sootla2018", help="Study whose attack settings are the defaults."),
    attack_name: Optional[str] = typer.Option(None, "--attack", help="latent, output, kl, unsupervised or classifier."),
    sweep_spec: Optional[str] = typer.Option(
        None, "--sweep", help="A strength grid: KEY=START:STOP:N[:log|:lin] or KEY=V1,V2 (KEY: lam, eps, l2_eps, steps)."),
    set_: List[str] = typer.Option([], "--set", help="e.g. --set attack.steps=200 --set sweep.seed=1"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = typer.Option(True),
) -> None:
    """Attack a VAE over (source, target) pairs of the test split; judge the reconstructions.

    With --sweep, the attack runs once per grid value and the robustness curves (AS versus the
    value, the distortion-distortion curve and its AUDDC) are written to OUT/curve.json.
    """
    from vaerobust import io
    from vaerobust.config import apply_overrides, parse_overrides
    from vaerobust.evaluation import attack_sweep
    from vaerobust.experiments.runner import resolve_study

    study = resolve_study(preset)
    sweep = apply_overrides(study.sweep, {"pairs": pairs, "per_pair": per_pair})
    ov = parse_overrides(set_)
    bad = [k for k in ov if k.split(".")[0] not in ("attack", "sweep")]
    if bad:
        raise ValueError(f"override {bad[0]!r}: expected a key under attack. or sweep.")
    acfg = apply_overrides(study.attack, {k[7:]: v for k, v in ov.items() if k.startswith("attack.")})
    if attack_name is not None:
        acfg = apply_overrides(acfg, {"name": attack_name})
    sweep = apply_overrides(sweep, {k[6:]: v for k, v in ov.items() if k.startswith("sweep.")})
    if sweep_spec is not None:
        from vaerobust.curves import parse_grid, strength_sweep

        key, values = parse_grid(sweep_spec)
        out = out or run / "attacks" / f"{acfg.name}-{key}-sweep"
        strength_sweep(run, judge, out, acfg, sweep, key, values, device=device, progress=progress, echo=typer.echo)
        curve = io.read_json(out / "curve.json")
        for p in curve["points"]:
            typer.echo(f"{key}={p['value']:g}: AS ignore-target {p['ignore']['mean']:.2%}, AS target "
                       f"{p['target']['mean']:.2%}, L2 {p['l2']:.3f}, output distance {p['out_dist']:.3f}")
        auddc = curve["auddc"]
        typer.echo(f"AUDDC {auddc:.4f} (output), {curve['auddc_latent']:.4f} (latent) ({out})" if auddc is not None
                   else f"AUDDC: no attacked example ({out})")
        return
    out = out or run / "attacks" / acfg.name
    attack_sweep(run, judge, out, acfg, sweep, device=device, progress=progress)
    ov_ig = io.read_json(out / "summary.json")["results"]["ignore"]["overall"]
    ov_t = io.read_json(out / "summary.json")["results"]["target"]["overall"]
    typer.echo(f"AS ignore-target {ov_ig['mean']:.2%}, AS target {ov_t['mean']:.2%} ({out})")


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="A trained VAE run directory."),
    metrics: str = typer.Option("all", help="'all' or a comma list of metric names."),
    num_train: Optional[int] = typer.Option(None, help="Factor metrics' training points (default: each metric's, 10,000)."),
    num_test: Optional[int] = typer.Option(None, help="Factor metrics' held-out points (default: each metric's, 5,000)."),
    seed: int = typer.Option(0, help="Seed of the factor metrics' sampling."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Measure disentanglement on a run; writes RUN/metrics/disentanglement.json.

    On data with a factor grid (dSprites): beta-VAE, FactorVAE, MIG, DCI and SAP scores; on
    labelled data (MNIST): agreement of the categorical codes with the class and the number of
    active Gaussian dimensions. Smaller --num-train/--num-test give a quicker, noisier estimate.
    """
    import json

    from vaerobust import io
    from vaerobust.disentanglement import evaluate_run

    for name, v in (("--num-train", num_train), ("--num-test", num_test)):
        if v is not None and v < 1:
            raise ValueError(f"{name} {v}: expected an integer >= 1")
    sizes = {k: v for k, v in (("num_train", num_train), ("num_test", num_test)) if v is not None}
    path = evaluate_run(run, metrics, device=device, seed=seed, sizes=sizes or None)
    res = io.read_json(path)
    for name, value in res["metrics"].items():
        typer.echo(f"{name}: {json.dumps(value)}")
    for name, why in res["not_applicable"].items():
        typer.echo(f"{name}: not applicable ({why})")
    typer.echo(f"written: {path}")


@app.command()
def report(
    root: Path = typer.Argument(..., help="A folder of run directories (e.g. runs/sootla2018)."),
    out: Path = typer.Option(Path("report"), help="Where report.md, tables and figures go."),
) -> None:
    """Write the Markdown/LaTeX report, tables and figures from run directories."""
    from vaerobust.report.report import build_report

    typer.echo(f"report: {build_report(root, out)}")


@app.command()
def reproduce(
    study: str = typer.Argument("sootla2018", help="A study preset name or YAML file."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default runs/STUDY or runs/STUDY-quick)."),
    quick: bool = typer.Option(False, help="Same code path, budgets that fit ~15 min on 2 CPU cores."),
    set_: List[str] = typer.Option([], "--set", help="e.g. --set base.train.steps=5000 --set sweep.per_pair=50"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = typer.Option(True),
) -> None:
    """Run a whole study: judge, every VAE, the attack sweeps, the report (finished steps skipped)."""
    from vaerobust.experiments.runner import reproduce as run_study

    out = out or Path("runs") / (Path(study).stem + ("-quick" if quick else ""))
    run_study(study, out, quick=quick, device=device, overrides=set_, progress=progress, echo=typer.echo)


def main() -> None:
    """Entry point: run the app and turn known errors into one line and exit status 2."""
    from vaerobust.config import ConfigError
    from vaerobust.io import RunDirError
    from vaerobust.registry import UnknownNameError

    known: tuple[type[BaseException], ...] = (ConfigError, RunDirError, UnknownNameError, ValueError, FileNotFoundError)
    try:
        from vaerobust.data.sources import DataSourceError

        known = known + (DataSourceError,)
    except ImportError:  # pragma: no cover
        pass
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        app(standalone_mode=False)
    except known as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except Exception as e:
        # click's usage errors (typer bundles its own click): show them as click would
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
