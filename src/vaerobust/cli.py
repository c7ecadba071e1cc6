"""The ``vaerobust`` command: parse arguments, call one pipeline, print its result.

Each command calls ``run(...)`` of the module of the same name in :mod:`vaerobust.pipelines`
(``attack --sweep`` calls :mod:`~vaerobust.pipelines.strength`). A user error (a bad setting,
an unknown name, a missing, corrupt, locked or unwritable file, data that cannot be obtained)
is printed as one line ``error: ...`` with exit status 2; Ctrl-C prints where the command
stopped and how to resume it, with exit status 130; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import errno
import functools
import logging
import math
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train, attack and measure (disentangled) VAEs.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: fetch and cache.")
app.add_typer(data_app, name="data")
study_app = typer.Typer(no_args_is_help=True, help="Studies: many runs (models x a grid of settings) on a backend.")
app.add_typer(study_app, name="study")



class CommandInterrupted(Exception):
    """Ctrl-C inside a command, carried past typer (which would turn a KeyboardInterrupt into a bare exit code)."""


def command(fn: Callable[..., None]) -> Callable[..., None]:
    """A command body whose interruption reaches :func:`main` with its message (where it stopped, how to resume)."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            fn(*args, **kwargs)
        except KeyboardInterrupt as e:
            raise CommandInterrupted(str(e) or "stopped before anything was finished; files already written are "
                                     "complete: run the same command to start (or resume) it") from None
    return wrapper


SET_HELP = "Override a setting with a dotted key, e.g. --set train.steps=2000 (repeatable)."
DEVICE_HELP = "auto (cuda if available), cpu or cuda."


@data_app.command("fetch")
@command
def data_fetch(
    name: str = typer.Argument("mnist", help="Dataset name (mnist, fashion_mnist, dsprites, celeba: "
                                                      "checks your folder and builds its cache)."),
    root: Optional[Path] = typer.Option(None, help="A folder holding the dataset's files."),
) -> None:
    """Fetch a dataset through its chain of sources, verify checksums, and cache it."""
    from vaerobust.pipelines import data_fetch as pipeline

    typer.echo(pipeline.run(name, root))


@app.command()
@command
def presets() -> None:
    """List the study presets and their models."""
    from vaerobust.pipelines import presets as pipeline

    for line in pipeline.run():
        typer.echo(line)


@app.command()
@command
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
    from vaerobust.pipelines import train as pipeline

    pipeline.run(out, preset=preset, config=config, quick=quick, overrides=set_, device=device, progress=progress)
    typer.echo(f"trained: {out}")


@app.command("train-classifier")
@command
def train_classifier(
    out: Path = typer.Option(..., help="Run directory of the judge."),
    preset: str = typer.Option("sootla2018", help="Study whose judge settings are used."),
    quick: bool = typer.Option(False, help="Use the study's --quick budgets."),
    set_: List[str] = typer.Option([], "--set", help="e.g. --set classifier.epochs=2"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = typer.Option(True),
) -> None:
    """Train the judge that labels reconstructions."""
    from vaerobust.pipelines import train_classifier as pipeline

    acc = pipeline.run(out, preset=preset, quick=quick, overrides=set_, device=device, progress=progress)
    typer.echo(f"judge test accuracy: {acc:.2%} ({out})")


@app.command()
@command
def attack(
    run: Path = typer.Argument(..., help="A trained VAE run directory."),
    judge: Path = typer.Option(..., help="The judge classifier's run directory."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default RUN/attacks/NAME)."),
    pairs: Optional[str] = typer.Option(None, help="'all' ordered class pairs, or e.g. '1-7,3-8' (default: the study's)."),
    per_pair: Optional[int] = typer.Option(None, help="Images per pair (default: the study's; its null = all test images)."),
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
    common = dict(out=out, preset=preset, pairs=pairs, per_pair=per_pair, attack_name=attack_name, overrides=set_,
                  device=device, progress=progress)
    if sweep_spec is not None:
        from vaerobust.pipelines import strength

        folder, curve = strength.run(run, judge, sweep_spec, echo=typer.echo, **common)  # type: ignore[arg-type]
        for p in curve.points:
            typer.echo(f"{curve.key}={p['value']:g}: AS ignore-target {_pct(p['ignore']['mean'])}, AS target "
                       f"{_pct(p['target']['mean'])}, L2 {_num(p['l2'])}, output distance {_num(p['out_dist'])}")
        typer.echo(f"AUDDC {curve.auddc:.4f} (output), {_num(curve.auddc_latent)} (latent) ({folder})"
                   if curve.auddc is not None else f"AUDDC: no attacked example ({folder})")
        return
    from vaerobust.pipelines import attack as pipeline

    folder, summary = pipeline.run(run, judge, **common)  # type: ignore[arg-type]
    for w in summary.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"AS ignore-target {_pct(summary.overall('ignore')['mean'])}, "
               f"AS target {_pct(summary.overall('target')['mean'])} ({folder})")


def _pct(x: object) -> str:
    return f"{x:.2%}" if isinstance(x, (int, float)) and math.isfinite(x) else "n/a"


def _num(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) and math.isfinite(x) else "n/a"


def _g(x: object) -> str:
    return f"{x:.4g}" if isinstance(x, (int, float)) and math.isfinite(x) else "n/a"


@app.command()
@command
def evaluate(
    run: Path = typer.Argument(..., help="A trained VAE run directory."),
    metrics: str = typer.Option("all", help="'all' or a comma list of metric names."),
    num_train: Optional[int] = typer.Option(None, help="Factor metrics' training points (default: each metric's, 10,000)."),
    num_test: Optional[int] = typer.Option(None, help="Factor metrics' held-out points (default: each metric's, 5,000)."),
    seed: int = typer.Option(0, help="Seed of the factor metrics' sampling."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    dci_predictor: str = typer.Option("reference", help="DCI's predictor: reference (disentanglement_lib's gradient "
                                                        "boosting) or fast (histogram boosting)."),
) -> None:
    """Measure disentanglement on a run; writes RUN/metrics/disentanglement.json.

    On data with a factor grid (dSprites): beta-VAE, FactorVAE, MIG, DCI and SAP scores; on
    labelled data (MNIST): agreement of the categorical codes with the class and the number of
    active Gaussian dimensions. Smaller --num-train/--num-test give a quicker, noisier estimate.
    """
    import json

    from vaerobust.pipelines import evaluate as pipeline

    res = pipeline.run(run, metrics, num_train=num_train, num_test=num_test, seed=seed, device=device,
                       dci_predictor=dci_predictor)
    for name, value in res["metrics"].items():
        typer.echo(f"{name}: {json.dumps(value)}")
    for name, why in res["not_applicable"].items():
        typer.echo(f"{name}: not applicable ({why})")
    typer.echo(f"written: {res['path']}")


# the options `margin` and `study margin` share (the defaults of vaerobust.pipelines.margin, which this
# module does not import before a command runs)
MARGIN_IMAGES = typer.Option(500, help="Held-out test images measured per model (a seeded draw).")
MARGIN_SAMPLES = typer.Option(64, help="Sampled reconstructions per image (p(x) is estimated from them).")
MARGIN_RADIUS = typer.Option([], help="An L2 radius between reconstructions (pixels in [0, 1]); repeatable "
                                      "(default 1, 2, 4, 8).")
MARGIN_HEADLINE = typer.Option(None, help="The radius whose median margin is the headline figure (default 4, or "
                                          "the only --radius).")
MARGIN_SEED = typer.Option(0, help="Seed of the image draw and the latent samples.")


@app.command()
@command
def margin(
    run: Path = typer.Argument(..., help="A finished VAE run directory."),
    images: int = MARGIN_IMAGES,
    samples: int = MARGIN_SAMPLES,
    radius: List[float] = MARGIN_RADIUS,
    headline: Optional[float] = MARGIN_HEADLINE,
    seed: int = MARGIN_SEED,
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """An attack-free robustness figure: the first-order r-robustness margin (Camuto et al. 2021) per image.

    Writes RUN/metrics/margin.json: per radius r, the median over images of a first-order estimate
    of a lower bound on the L2 input perturbation below which a sampled reconstruction stays within
    r of the clean one with probability > 1/2 (sigma taken as unmoved; higher = more robust), and
    the share of images r-robust at the clean input.
    """
    from vaerobust.pipelines import margin as pipeline
    from vaerobust.rundir import read_saved

    path = pipeline.margin_run(run, images, samples, radius or pipeline.RADII, headline, seed, device)
    rec = read_saved(path)
    if "not_applicable" in rec:
        typer.echo(f"margin: not applicable ({rec['not_applicable']})")
    for r, s in (rec.get("radii") or {}).items():
        typer.echo(f"r = {r}: median margin {_g(s['median'])} (spectral {_g(s['median_spectral'])}), "
                   f"{_pct(s.get('robust_share'))} r-robust at the clean input, {_pct(s.get('capped_share'))} at the sample cap")
    typer.echo(f"written: {path}")


@app.command()
@command
def report(
    root: Path = typer.Argument(..., help="A folder of run directories (e.g. runs/sootla2018)."),
    out: Path = typer.Option(Path("report"), help="Where report.md, tables and figures go."),
    study: Optional[str] = typer.Option(None, help="The study whose reference numbers to show (default: the runs')."),
) -> None:
    """Write the Markdown/HTML/LaTeX report, tables and figures from run directories."""
    from vaerobust.pipelines import report as pipeline

    typer.echo(f"report: {pipeline.run(root, out, study=study)}")


@app.command()
@command
def reproduce(
    study: str = typer.Argument("sootla2018", help="A study preset name or YAML file."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default runs/STUDY or runs/STUDY-quick)."),
    quick: bool = typer.Option(False, help="Same code path, budgets that fit ~15 min on 2 CPU cores."),
    set_: List[str] = typer.Option([], "--set", help="e.g. --set base.train.steps=5000 --set sweep.per_pair=50"),
    seeds: Optional[int] = typer.Option(None, help="Train every model with seeds 0..N-1 (a study: intervals include "
                                                   "training)."),
    workers: Optional[int] = typer.Option(None, help="With --seeds: jobs at a time (default 2)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = typer.Option(True),
) -> None:
    """Run a whole study: judge, every VAE, the attack sweeps, the report (finished steps skipped)."""
    from vaerobust.pipelines import reproduce as pipeline

    pipeline.run(study, out, quick=quick, overrides=set_, device=device, progress=progress, echo=typer.echo,
                 seeds=seeds, workers=workers)


@study_app.command("run")
@command
def study_run(
    study: str = typer.Argument(..., help="A study preset name or YAML file (with models, grid, attacks, steps)."),
    out: Optional[Path] = typer.Option(None, help="Study folder (default runs/STUDY)."),
    backend: str = typer.Option("local", help="Where jobs run: local (a process pool on this machine), ray (Ray "
                                              "tasks; pip install 'vaerobust[ray]') or slurm (a submitit job "
                                              "array; pip install 'vaerobust[slurm]')."),
    backend_option: List[str] = typer.Option([], "--backend-option",
                                             help="A backend setting, e.g. partition=gpu, timeout_min=600 (slurm), "
                                                  "address=auto, num_cpus=8, gpus_per_job=1 (ray); repeatable."),
    workers: Optional[int] = typer.Option(None, help="Jobs at a time (local: processes; default 2, at most the cores; "
                                                     "0: one at a time in this process)."),
    quick: bool = typer.Option(False, help="Use the study's --quick budgets."),
    set_: List[str] = typer.Option([], "--set", help="e.g. --set 'grid={train.seed: [0, 1, 2]}'"),
    retry_failed: bool = typer.Option(False, help="Run the failed jobs again (they are skipped otherwise)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = typer.Option(True),
) -> None:
    """Run every job of a study; finished jobs are skipped, partial ones resume, a failing one never stops the rest."""
    from vaerobust.pipelines import study as pipeline

    out = out or Path("runs") / (Path(study).stem + ("-quick" if quick else ""))
    from vaerobust.config import parse_overrides

    counts = pipeline.run(study, out, backend=backend, workers=workers, quick=quick, overrides=set_,
                          retry_failed=retry_failed, device=device, progress=progress, echo=typer.echo,
                          backend_options=parse_overrides(backend_option))
    if counts.get("failed") or counts.get("blocked"):
        sys.exit(1)


@study_app.command("status")
@command
def study_status(out: Path = typer.Argument(..., help="A study folder.")) -> None:
    """A table of the study's jobs: state, progress, wall time, error."""
    from vaerobust.pipelines import study as pipeline

    typer.echo(pipeline.status_table(pipeline.status(out)))


@study_app.command("collect")
@command
def study_collect(out: Path = typer.Argument(..., help="A study folder.")) -> None:
    """Rebuild the study's tables (CSV and Parquet) and its report (report.md, report.html) from its job records alone."""
    from vaerobust.pipelines import study as pipeline

    for name, path in pipeline.collect(out).items():
        typer.echo(f"{name}: {path}")


@study_app.command("margin")
@command
def study_margin(
    out: Path = typer.Argument(..., help="A study folder."),
    images: int = MARGIN_IMAGES,
    samples: int = MARGIN_SAMPLES,
    radius: List[float] = MARGIN_RADIUS,
    headline: Optional[float] = MARGIN_HEADLINE,
    seed: int = MARGIN_SEED,
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """The attack-free margin of every finished model job that has its checkpoint (jobs/<id>/margin.json);
    `study collect` then correlates it with the disentanglement metrics."""
    from vaerobust.pipelines import margin as pipeline

    counts = pipeline.study_margin(out, images, samples, radius or pipeline.RADII, headline, seed, device,
                                   echo=typer.echo)
    typer.echo(", ".join(f"{n} {k}" for k, n in counts.items()))
    if counts["failed"]:
        sys.exit(1)


@study_app.command("export")
@command
def study_export(out: Path = typer.Argument(..., help="A study folder."),
                 dest: Path = typer.Argument(..., help="Where to copy its records (e.g. docs/results/NAME).")) -> None:
    """Copy a study's small records (job settings, results, outcomes, tables; no checkpoint) to DEST."""
    from vaerobust.pipelines import study as pipeline

    paths = pipeline.export(out, dest)
    typer.echo(f"{len(paths)} files, {sum(p.stat().st_size for p in paths) / 1e6:.2f} MB -> {dest}")


#: OS errors about the user's machine (a full disk, a read-only or forbidden path), not bugs: one line.
USER_OS_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)


def main() -> None:
    """Entry point: run the app; user errors -> one line and exit status 2, Ctrl-C -> 130."""
    from vaerobust.errors import Interrupted, UserError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # other libraries: warnings only
    logging.getLogger("vaerobust").setLevel(logging.INFO)
    try:
        _import_quietly()
        code = app(standalone_mode=False)
    except UserError as e:
        typer.echo(f"error: {' '.join(str(e).split())}", err=True)
        sys.exit(2)
    except (CommandInterrupted, Interrupted) as e:
        _exit_interrupted(f"interrupted: {e}")
    except (KeyboardInterrupt, typer.Abort):
        _exit_interrupted("interrupted: files already written are complete; run the same command to resume")
    except OSError as e:
        if e.errno in USER_OS_ERRORS and (e.filename or e.strerror):
            typer.echo(f"error: {e.strerror or e.__class__.__name__}: {e.filename or ''}".rstrip(": "), err=True)
            sys.exit(2)
        raise
    except Exception as e:
        # click's usage errors (typer bundles its own click): one line, as every user error
        if type(e).__name__ == "NoArgsIsHelpError" and hasattr(e, "show"):
            e.show()  # `vaerobust` or a group alone: its help
            sys.exit(0)
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            ctx = getattr(e, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {' '.join(e.format_message().split())}{where}", err=True)
            sys.exit(e.exit_code)
        raise
    if isinstance(code, int) and code:  # typer returns the code of an interruption outside a command (130)
        if code == 130:
            _exit_interrupted("interrupted: nothing was started; run the command again")
        sys.exit(code)


def _import_quietly() -> None:
    """Import the heavy libraries with Ctrl-C and SIGTERM held back, then let them through.

    A KeyboardInterrupt raised inside ``import numpy`` or ``import torch`` leaves a half-initialised
    module behind (a later import fails with a traceback). Held back, a signal sent during start-up
    arrives just after, at a safe point, and stops the command as any Ctrl-C does (exit 130).
    SIGTERM (a scheduler, ``kill``) is made to stop a command as Ctrl-C does.
    """
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError):  # not POSIX, or not the main thread
        held = set()
    try:
        import numpy  # noqa: F401
        import pandas  # noqa: F401
        import torch  # noqa: F401
    finally:
        try:
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        except ValueError:  # not the main thread
            pass
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _exit_interrupted(message: str) -> None:
    """Say where the command stopped and exit with 130, always.

    Everything is cleaned up by now (locks released, files complete). ``os._exit`` because a
    signal that landed while a library ran code through CPython's ``PyRun_*`` API (during an
    import) leaves CPython's "unhandled KeyboardInterrupt" flag set, and it would then kill the
    process with SIGINT at exit (-2 to a parent process) instead of exiting with 130.
    """
    typer.echo(message, err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


if __name__ == "__main__":
    main()
