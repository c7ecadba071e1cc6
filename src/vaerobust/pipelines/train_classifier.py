"""``vaerobust train-classifier``: the judge that labels reconstructions (PROTOCOL §4).

Recipe (:func:`train_classifier`): refuse a folder made with other settings; lock it; load
and check the training images; train the registered classifier (``classifier.arch``, one
output per class of the dataset) by SGD for ``classifier.epochs``; measure its test
accuracy; write ``model.safetensors``, ``model.json``, ``eval.json``, ``metrics.jsonl`` and,
last, ``complete.json``. Judge training is short and keeps no checkpoint: an interrupted
one starts again from scratch (and says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from vaerobust import files
from vaerobust.config import JudgeConfig, apply_overrides, load_study, parse_overrides
from vaerobust.data import dataset_info, fingerprint, load_dataset
from vaerobust.devices import resolve_device
from vaerobust.errors import ConfigError, TrainingDiverged
from vaerobust.interrupts import interruptible
from vaerobust.models import CLASSIFIERS, check_images
from vaerobust.models.encoding import predict
from vaerobust.progress import progress_bar
from vaerobust.rundir import (
    CONFIG,
    already_done,
    claim,
    mark_complete,
    read_judge_eval,
    save_weights,
    write_config,
)
from vaerobust.training import batch_indices, classifier_step


def train_classifier(cfg: JudgeConfig, out: str | Path, device: str = "auto", progress: bool = True) -> Path:
    """Train the judge into ``out`` (module docstring); returns ``out``."""
    out = Path(out)
    if already_done(out, out / CONFIG, cfg, "judge run"):
        return out
    dev = resolve_device(device)
    with claim(out, out / CONFIG, cfg, "judge run") as todo:
        if todo:
            _train(cfg, out, dev, progress)
    return out


def _train(cfg: JudgeConfig, out: Path, dev: torch.device, progress: bool) -> None:
    c = cfg.classifier
    info = dataset_info(cfg.data)
    x, y = load_dataset(cfg.data, "train")
    torch.manual_seed(c.seed)
    model = CLASSIFIERS.get(c.arch)(n_classes=info.classes).to(dev)
    check_images(x, tuple(model.image_shape), f"dataset {cfg.data.name!r} for the {c.arch} judge")
    data_hash = fingerprint(x, y)
    opt = torch.optim.SGD(model.parameters(), lr=c.lr, momentum=c.momentum)
    x, y = x.to(dev), y.to(dev)
    write_config(out, cfg, "classifier", data_sha256=data_hash)
    files.write_json(out / "model.json", model.describe())
    per_epoch = max(x.shape[0] // c.batch_size, 1)
    total = c.epochs * per_epoch if c.max_steps is None else min(c.max_steps, c.epochs * per_epoch)
    rows, step = [], 0
    bar = progress_bar(total, 0, f"train {out.name}", progress)
    model.train()

    def where() -> str:
        return (f"judge training of {out} interrupted at step {step} of {total}; it keeps no checkpoint, "
                "so running the same command starts it again")

    with interruptible(where):
        while step < total:
            loss = classifier_step(model, opt, x, y, step, c)
            step += 1
            if step % per_epoch == 0 or step == total:
                value = float(loss)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(f"judge training diverged: loss {value} at step {step}; suspect "
                                           f"classifier.lr = {c.lr:g}, classifier.momentum = {c.momentum:g}")
                rows.append({"step": step, "epoch": step / per_epoch, "loss": value})
            bar.update(1)
    bar.close()
    model.eval()
    xt, yt = load_dataset(cfg.data, "test")
    acc = float((predict(model, xt.to(dev)) == yt.to(dev)).float().mean())
    files.write_jsonl(out / "metrics.jsonl", rows)
    save_weights(out / "model.safetensors", model)
    files.write_json(out / "eval.json", {"test_accuracy": acc, "n_test": int(yt.shape[0]), "steps": step})
    mark_complete(out, step=step)


def run(out: Path, preset: str = "sootla2018", quick: bool = False, overrides: Sequence[str] = (),
        device: str = "auto", progress: bool = True) -> float:
    """The ``vaerobust train-classifier`` command: the study's judge settings, then overrides; returns accuracy."""
    study = load_study(preset, quick=quick)
    ov = parse_overrides(overrides)
    bad = [k for k in ov if not k.startswith(("classifier.", "data."))]
    if bad:
        raise ConfigError(f"override {bad[0]!r}: expected a key under classifier. or data. (e.g. classifier.epochs=2)")
    cfg = apply_overrides(study, {f"judge.{k}": v for k, v in ov.items()}).judge
    train_classifier(cfg, out, device=device, progress=progress)
    return read_judge_eval(out).test_accuracy


__all__ = ["batch_indices", "run", "train_classifier"]
