"""``vaerobust train-classifier``: the judge that labels reconstructions (PROTOCOL §4).

Recipe (:func:`train_classifier`): refuse a folder made with other settings; lock it; load
and check the training images; train the registered classifier (``classifier.arch``, one
output per class of the dataset) by SGD (or Adam: ``classifier.optimizer``) for ``classifier.epochs``; measure its test
accuracy; write ``model.safetensors``, ``model.json``, ``eval.json``, ``metrics.jsonl`` and,
last, ``complete.json``. Judge training is short and keeps no checkpoint: an interrupted
one starts again from scratch (and says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaerobust import files
from vaerobust.config import JudgeConfig, apply_overrides, load_study, parse_overrides
from vaerobust.data import dataset_info, fingerprint, is_lazy, load_dataset
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
    """One loop for every kind of judge: a classifier of one class per image (cross-entropy), of
    binary attributes (``multilabel``: binary cross-entropy) or of every ground-truth factor
    (``multihead``: one cross-entropy per factor, summed, learnt from the data's judge split)."""
    c = cfg.classifier
    info = dataset_info(cfg.data)
    arch = CLASSIFIERS.get(c.arch)
    multilabel, multihead = bool(getattr(arch, "multilabel", False)), bool(getattr(arch, "multihead", False))
    if multihead:
        if info.factor_sizes is None or info.factor_names is None:
            raise ConfigError(f"classifier.arch = {c.arch}: it reads ground-truth factors, and {cfg.data.name} has none "
                              "(datasets with factors: dsprites)")
    elif multilabel != (info.labels == "attributes"):
        raise ConfigError(
            f"classifier.arch = {c.arch}: it reads {'binary attributes' if multilabel else 'one class per image'} "
            f"but {cfg.data.name} is labelled by {'attributes' if info.labels == 'attributes' else 'classes'}; "
            f"expected {'attr64' if info.labels == 'attributes' else 'lenet32'}")
    x, y = load_dataset(cfg.data, info.judge_split if multihead else "train")
    if multihead:
        y = torch.from_numpy(np.asarray(x.factors, dtype=np.int64))  # type: ignore[attr-defined]
    torch.manual_seed(c.seed)
    model = (arch(factor_sizes=info.factor_sizes) if multihead else arch(n_classes=info.classes)).to(dev)
    check_images(x[:1] if is_lazy(x) else x, tuple(model.image_shape), f"dataset {cfg.data.name!r} for the {c.arch} judge")
    data_hash = fingerprint(x, y)
    opt = (torch.optim.Adam(model.parameters(), lr=c.lr) if c.optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=c.lr, momentum=c.momentum))
    if not is_lazy(x):
        x = x.to(dev)
    y = y.to(dev)
    write_config(out, cfg, "classifier", data_sha256=data_hash)
    files.write_json(out / "model.json", model.describe())
    per_epoch = max(len(x) // c.batch_size, 1)
    total = c.epochs * per_epoch if c.max_steps is None else min(c.max_steps, c.epochs * per_epoch)
    rows, step = [], 0
    bar = progress_bar(total, 0, f"train {out.name}", progress)
    model.train()

    def where() -> str:
        return (f"judge training of {out} interrupted at step {step} of {total}; it keeps no checkpoint, "
                "so running the same command starts it again")

    with interruptible(where):
        while step < total:
            if multihead:
                loss = factor_step(model, opt, x, y, step, c, dev)
            elif multilabel:
                loss = attribute_step(model, opt, x, y, step, c, dev)
            else:
                loss = classifier_step(model, opt, x, y, step, c)
            step += 1
            if step % per_epoch == 0 or step == total:
                value = float(loss.detach())
                if not np.isfinite(value):
                    raise TrainingDiverged(f"judge training diverged: loss {value} at step {step}; suspect "
                                           f"classifier.lr = {c.lr:g}, classifier.momentum = {c.momentum:g}")
                rows.append({"step": step, "epoch": step / per_epoch, "loss": value})
            bar.update(1)
    bar.close()
    model.eval()
    xt, yt = load_dataset(cfg.data, "test")
    if multihead:
        truth, pred = np.asarray(xt.factors, dtype=np.int64), read_factors(model, xt, dev)  # type: ignore[attr-defined]
        per = {name: {"accuracy": float((pred[:, k] == truth[:, k]).mean()), "chance": 1.0 / size}
               for k, (name, size) in enumerate(zip(info.factor_names, info.factor_sizes))}  # type: ignore[arg-type]
        evaluation = {"test_accuracy": float(np.mean([v["accuracy"] for v in per.values()])), "factors": per}
    elif multilabel:
        evaluation = attribute_accuracies(read_attributes(model, xt, dev).cpu().numpy(), yt.numpy(),
                                          info.class_names or tuple(str(i) for i in range(info.classes)))
    else:
        acc = float((predict(model, xt.to(dev)) == yt.to(dev)).float().mean())
        evaluation = {"test_accuracy": acc}
    files.write_jsonl(out / "metrics.jsonl", rows)
    save_weights(out / "model.safetensors", model)
    files.write_json(out / "eval.json", {**evaluation, "n_test": int(len(xt)), "steps": step})
    mark_complete(out, step=step)


def factor_step(model: Any, opt: torch.optim.Optimizer, x: Any, y: torch.Tensor, step: int, c: Any,
                dev: torch.device) -> torch.Tensor:
    """One step of a factor judge: a cross-entropy per factor head, summed."""
    idx = batch_indices(step, len(x), c.batch_size, c.seed)
    xb = x[idx].to(dev) if is_lazy(x) else x[idx.to(x.device)]
    heads = model.split(model(xb))
    yb = y[idx.to(y.device)]
    loss = sum(torch.nn.functional.cross_entropy(h, yb[:, k]) for k, h in enumerate(heads))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


@torch.no_grad()
def read_factors(model: Any, x: Any, dev: torch.device, batch_size: int = 1024) -> np.ndarray:
    """The factor values a factor judge reads, int64 [N, K] (argmax per head), in batches."""
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(dev)
        check_images(xb, tuple(model.image_shape), "read_factors")
        out.append(torch.stack([h.argmax(1) for h in model.split(model(xb))], dim=1).cpu())
    return torch.cat(out).numpy()


def attribute_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: Any, y: torch.Tensor, step: int,
                   c: Any, dev: torch.device) -> torch.Tensor:
    """One SGD step of a multi-label judge (binary cross-entropy over every attribute)."""
    idx = batch_indices(step, len(x), c.batch_size, c.seed)
    xb = x[idx].to(dev) if is_lazy(x) else x[idx.to(x.device)]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xb), y[idx.to(y.device)].float())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


@torch.no_grad()
def read_attributes(model: torch.nn.Module, x: Any, dev: torch.device, batch_size: int = 512) -> torch.Tensor:
    """The attributes a multi-label judge reads, uint8 [N, K] (logit > 0), in batches (lazy images too)."""
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(dev)
        check_images(xb, tuple(model.image_shape), "read_attributes")
        out.append((model(xb) > 0).to(torch.uint8).cpu())
    return torch.cat(out)


def attribute_accuracies(pred: np.ndarray, truth: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Per attribute: accuracy, balanced accuracy (mean of the accuracies on the images with and
    without it; 0.5 for a constant guess however rare the attribute) and the positive rate."""
    per: dict[str, dict[str, float | None]] = {}
    for k, name in enumerate(names):
        p, t = pred[:, k].astype(bool), truth[:, k].astype(bool)
        rates = [float((p[t == v] == v).mean()) for v in (True, False) if (t == v).any()]
        per[name] = {"accuracy": float((p == t).mean()), "balanced_accuracy": float(np.mean(rates)),
                     "positive_rate": float(t.mean())}
    return {"test_accuracy": float(np.mean([v["accuracy"] for v in per.values()])),
            "test_balanced_accuracy": float(np.mean([v["balanced_accuracy"] for v in per.values()])),
            "attributes": per}


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


__all__ = ["attribute_accuracies", "attribute_step", "batch_indices", "read_attributes", "read_factors", "run", "train_classifier"]
