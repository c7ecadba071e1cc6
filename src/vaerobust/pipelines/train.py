"""``vaerobust train``: one VAE into a run folder; an interrupted run resumes exactly.

The recipe, top to bottom (:func:`train_vae`):

1. refuse a folder made with other settings; a finished run is left untouched;
2. lock the folder; load and check the training images; build the network (seeded);
3. resume from ``train_state.pt`` if there is one (a checkpoint of another network or
   trainer is a one-line error), else start a fresh ``metrics.jsonl``;
4. write ``config.yaml`` and ``model.json``; step the :class:`~vaerobust.training.VAETrainer`,
   logging every ``log_every`` and checkpointing every ``checkpoint_every`` steps;
5. at the end: figures, then ``complete.json`` (written last).

A non-finite loss stops the run with a one-line error before anything non-finite is saved.
Ctrl-C (or SIGTERM) checkpoints at the end of the current step and exits with 130, saying
where it stopped; running the same command again resumes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vaerobust import files
from vaerobust.config import RunConfig, apply_overrides, from_dict, load_yaml, resolve_preset
from vaerobust.data import dataset_info, fingerprint, load_dataset
from vaerobust.devices import resolve_device
from vaerobust.errors import ConfigError, Interrupted, RunDirError, TrainingDiverged
from vaerobust.interrupts import interruptible, stop_requests
from vaerobust.models import VAE, LatentSpec, check_images
from vaerobust.objectives import build_objective
from vaerobust.progress import progress_bar
from vaerobust.rundir import (
    CONFIG,
    already_done,
    claim,
    load_train_state,
    mark_complete,
    save_weights,
    torch_save,
    write_config,
)
from vaerobust.training import VAETrainer, finite_scalars


def build_model(cfg: RunConfig) -> VAE:
    """The run's VAE; ``data.image_size`` sizes any-size archs (mlp) and is checked against conv archs."""
    spec = LatentSpec(cfg.model.gaussian_dims, tuple(cfg.model.categorical))
    return VAE(spec, arch=cfg.model.arch, hidden=cfg.model.hidden, image_size=cfg.data.image_size,
               channels=dataset_info(cfg.data).channels)


def write_vae_figures(model: VAE, cfg: RunConfig, out: Path, dev: torch.device) -> None:
    """Reconstructions, prior samples and latent traversals of a trained VAE."""
    from vaerobust.report import figures

    xt, _ = load_dataset(cfg.data, "test")
    figures.vae_figures(model, xt[:64].to(dev), out / "figures", seed=cfg.train.seed)


def train_vae(cfg: RunConfig, out: str | Path, device: str = "auto", progress: bool = True,
              stop_at: int | None = None, meta: Mapping[str, Any] | None = None) -> Path:
    """Train a VAE into run folder ``out`` (module docstring); returns ``out``.

    ``stop_at`` ends the loop after that many total steps without marking the run complete
    (to test interruption and resume). ``meta`` is recorded in ``config.yaml`` (e.g. the
    study and model names).
    """
    out = Path(out)
    if already_done(out, out / CONFIG, cfg, "VAE run"):
        return out
    dev = resolve_device(device)
    with claim(out, out / CONFIG, cfg, "VAE run") as todo:
        if todo:
            _train(cfg, out, dev, progress, stop_at, dict(meta or {}))
    return out


def _train(cfg: RunConfig, out: Path, dev: torch.device, progress: bool, stop_at: int | None,
           meta: dict[str, Any]) -> None:
    tc = cfg.train
    x, y = load_dataset(cfg.data, "train")
    torch.manual_seed(tc.seed)
    model = build_model(cfg)
    check_images(x, model.image_shape, f"dataset {cfg.data.name!r}")
    data_hash = fingerprint(x, y)
    trainer = VAETrainer(model, build_objective(cfg.objective, total_steps=cfg.train.steps), cfg.objective, x, tc, dev)

    state_path = out / "train_state.pt"
    if state_path.is_file():
        state = load_train_state(state_path, VAETrainer.STATE_KEYS)
        try:
            trainer.load_state_dict(state)
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise RunDirError(f"{state_path} does not fit this run's network or objective "
                              f"({str(e).splitlines()[0][:160]}); delete it to start over") from None
        rows = [r for r in files.read_jsonl(out / "metrics.jsonl") if r.get("step", 0) <= trainer.step_count]
        files.write_jsonl(out / "metrics.jsonl", rows)  # drop lines logged after that checkpoint
    else:
        files.write_jsonl(out / "metrics.jsonl", [])
    write_config(out, cfg, "vae", data_sha256=data_hash, **meta)
    files.write_json(out / "model.json", model.describe())

    saved = trainer.step_count

    def checkpoint(pending: list[dict]) -> None:
        nonlocal saved
        trainer.check_finite()
        files.append_jsonl(out / "metrics.jsonl", pending)
        save_weights(out / "model.safetensors", model)
        if len(trainer.objective.modules()):  # e.g. FactorVAE's discriminator
            save_weights(out / "objective.safetensors", trainer.objective.modules())
        torch_save(state_path, trainer.state_dict())
        saved = trainer.step_count
        pending.clear()

    def where() -> str:
        return (f"training of {out} interrupted at step {trainer.step_count} of {tc.steps}; the last checkpoint "
                f"(step {saved}) is kept: run the same command to resume")

    end = tc.steps if stop_at is None else min(stop_at, tc.steps)
    model.train()
    bar = progress_bar(tc.steps, trainer.step_count, f"train {out.name}", progress)
    t0, seen = time.perf_counter(), 0
    pending: list[dict] = []
    try:
        with stop_requests() as stop, interruptible(where):
            while trainer.step_count < end:
                terms, aux = trainer.step()
                step = trainer.step_count
                seen += tc.batch_size
                if step % tc.log_every == 0 or step == tc.steps:
                    trainer.check_finite(terms)
                    row = {"step": step, **finite_scalars(terms), **{k: float(v) for k, v in aux.items()},
                           "images_per_s": seen / max(time.perf_counter() - t0, 1e-9)}
                    pending.append(row)
                    bar.set_postfix(loss=f"{row['loss']:.1f}", recon=f"{row['recon']:.1f}")
                if step % tc.checkpoint_every == 0 or step == end:
                    checkpoint(pending)
                bar.update(1)
                if stop.requested:
                    checkpoint(pending)
                    raise Interrupted(f"training of {out} stopped at step {step} of {tc.steps} (checkpoint saved); "
                                      "run the same command to resume")
    except TrainingDiverged as e:
        raise TrainingDiverged(f"{e}; nothing non-finite was saved: the last checkpoint of {out} is step {saved}") \
            from None
    finally:
        bar.close()
    if trainer.step_count >= tc.steps:
        model.eval()
        write_vae_figures(model, cfg, out, dev)
        mark_complete(out, step=trainer.step_count)


def resolve_run_config(preset: str | None, config: str | Path | None, quick: bool,
                       overrides: Sequence[str]) -> tuple[RunConfig, dict[str, Any]]:
    """The settings of ``vaerobust train``: a preset (STUDY/MODEL) or a RunConfig YAML file, then overrides."""
    if (preset is None) == (config is None):
        raise ConfigError("give exactly one of --preset STUDY/MODEL or --config FILE")
    if preset:
        cfg = resolve_preset(preset, quick)
        study, model = preset.split("/", 1)
        meta = {"study": study, "model": model}
    else:
        cfg, meta = from_dict(RunConfig, load_yaml(config)), {}  # type: ignore[arg-type]
    return apply_overrides(cfg, overrides), meta


def run(out: Path, preset: str | None = None, config: Path | None = None, quick: bool = False,
        overrides: Sequence[str] = (), device: str = "auto", progress: bool = True) -> Path:
    """The ``vaerobust train`` command."""
    cfg, meta = resolve_run_config(preset, config, quick, overrides)
    return train_vae(cfg, out, device=device, progress=progress, meta=meta)


__all__ = ["build_model", "resolve_run_config", "run", "train_vae", "write_vae_figures"]
