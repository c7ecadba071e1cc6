"""Training: VAEs (``train_vae``) and the judge classifier (``train_classifier``).

A VAE run directory holds ``config.yaml``, ``model.safetensors`` + ``model.json``,
``train_state.pt`` (weights, optimiser, noise-generator state and step: exact resume),
``metrics.jsonl`` and ``figures/``. Batches are drawn from a per-epoch permutation that
depends only on (seed, epoch), so a resumed run sees the same batches as an
uninterrupted one. An objective with networks of its own (FactorVAE's discriminator; see
:class:`vaerobust.objectives.Objective`) adds ``objective.safetensors`` and keeps its
networks and optimiser in ``train_state.pt`` too.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaerobust import __version__, io
from vaerobust.config import ConfigError, JudgeConfig, RunConfig, diff_keys, dump_yaml, normalized, to_dict
from vaerobust.data import fingerprint, is_lazy, load_dataset
from vaerobust.models import VAE, LatentSpec, LeNet32, VAEOutput, build_vae
from vaerobust.objectives import build_objective

log = logging.getLogger(__name__)

COMPLETE = "complete.json"  # written last: the run finished and its outputs are final
AUX_SEED_OFFSET = 10_007  # seeds the batch schedule of an objective's second batch (FactorVAE)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA device is available; use --device cpu")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"device {device!r}: expected auto, cpu or cuda[:N]")
    return torch.device(device)


def is_complete(run_dir: Path) -> bool:
    return (Path(run_dir) / COMPLETE).is_file()


def ensure_same_settings(saved: Path, requested: Any, what: str) -> None:
    """Refuse to reuse a run folder whose saved settings differ from the requested ones.

    ``saved`` is a YAML or JSON file (a ``meta`` section is ignored); ``requested`` a config
    dataclass or a plain dict. Nothing is written; the error names the differing keys.
    """
    if not saved.is_file():
        return
    import yaml

    try:
        old = yaml.safe_load(saved.read_text()) or {}
    except yaml.YAMLError:
        raise io.RunDirError(f"{saved} is corrupt; delete {saved.parent} to start over") from None
    if isinstance(old, dict):
        old.pop("meta", None)
        old = normalized(type(requested), old)
    new = to_dict(requested)
    diff = diff_keys(old, new)
    if diff:
        shown = ", ".join(diff[:5]) + (" ..." if len(diff) > 5 else "")
        raise ConfigError(
            f"{saved.parent} holds a {what} made with other settings ({shown}); "
            "use another output folder or delete that one"
        )


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> Tensor:
    """Indices of the batch at ``step``: epochs are permutations seeded by (seed, epoch).

    The last partial batch of an epoch is dropped, so every batch has ``batch_size`` items.
    """
    per_epoch = max(n // batch_size, 1)
    epoch, pos = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g)
    return perm[pos * batch_size : (pos + 1) * batch_size]


def check_images(x: Tensor, shape: tuple[int, ...], what: str) -> None:
    """One-line errors for wrong shapes, NaN, or pixels outside [0, 1].

    A lazy container (:func:`vaerobust.data.is_lazy`) is checked on its shape and its first 256 images.
    """
    if len(x.shape) != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{what}: images of shape {tuple(x.shape)}, expected [N, {', '.join(map(str, shape))}]")
    if is_lazy(x):
        x = x[:256]
    if torch.isnan(x).any():
        raise ValueError(f"{what}: images contain NaN")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{what}: pixel values in [{lo:.3g}, {hi:.3g}], expected [0, 1]")


def _progress(total: int, initial: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=None if enabled else True, file=sys.stderr, leave=False)


# --------------------------------------------------------------------------- VAE


def build_model(cfg: RunConfig) -> VAE:
    """The run's VAE; ``data.image_size`` sizes any-size archs (mlp) and is checked against conv archs."""
    spec = LatentSpec(cfg.model.gaussian_dims, tuple(cfg.model.categorical))
    return VAE(spec, arch=cfg.model.arch, hidden=cfg.model.hidden, image_size=cfg.data.image_size)


def train_vae(
    cfg: RunConfig,
    out: str | Path,
    device: str = "auto",
    progress: bool = True,
    stop_at: int | None = None,
) -> Path:
    """Train a VAE into run directory ``out``; resume from ``train_state.pt`` if present.

    ``stop_at`` ends the process-local loop early (after that many total steps) without
    marking the run complete: used to test interruption and resume.
    Returns the run directory. A complete run is left untouched.
    """
    out = Path(out)
    ensure_same_settings(out / "config.yaml", cfg, "VAE run")
    if is_complete(out):
        log.info("%s is complete; nothing to do", out)
        return out
    dev = resolve_device(device)
    out.mkdir(parents=True, exist_ok=True)
    tc = cfg.train

    x, _ = load_dataset(cfg.data, "train")
    torch.manual_seed(tc.seed)
    model = build_model(cfg)
    check_images(x, model.image_shape, f"dataset {cfg.data.name!r}")
    data_hash = fingerprint(x, _)
    lazy = is_lazy(x)  # a lazy container stays on the CPU; each batch is decoded and moved
    if not lazy:
        x = x.to(dev)
    model.to(dev)
    objective = build_objective(cfg.objective)
    objective.setup(model.spec, dataset_size=int(x.shape[0]), device=dev)  # its own networks, if any
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    noise = torch.Generator(device=dev).manual_seed(tc.seed + 1)

    step = 0
    state_path = out / "train_state.pt"
    if state_path.is_file():
        state = io.torch_load(state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        noise.set_state(state["noise_rng"])
        objective.load_state_dict(state.get("objective", {}))
        step = int(state["step"])
        # drop log lines written after the checkpoint we resume from
        rows = [r for r in io.read_jsonl(out / "metrics.jsonl") if r["step"] <= step]
        io.write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        log.info("resuming %s from step %d", out, step)
    else:
        io.write_text(out / "metrics.jsonl", "")
    io.write_text(
        out / "config.yaml",
        dump_yaml(cfg, {"meta": {"kind": "vae", "version": __version__, "data_sha256": data_hash}}),
    )
    io.write_json(out / "model.json", model.describe())

    def checkpoint() -> None:
        io.save_weights(out / "model.safetensors", model)
        if len(objective.modules()):  # e.g. FactorVAE's discriminator
            io.save_weights(out / "objective.safetensors", objective.modules())
        io.torch_save(
            state_path,
            {"model": model.state_dict(), "optimizer": opt.state_dict(), "noise_rng": noise.get_state(), "step": step,
             "objective": objective.state_dict()},
        )

    end = tc.steps if stop_at is None else min(stop_at, tc.steps)
    model.train()
    bar = _progress(tc.steps, step, f"train {out.name}", progress)
    t0, seen = time.perf_counter(), 0
    pending: list[dict] = []
    while step < end:
        idx = batch_indices(step, x.shape[0], tc.batch_size, tc.seed)
        xb = x[idx].to(dev) if lazy else x[idx.to(dev)]
        post = model.encode(xb)
        code = post.sample(tc.temperature, generator=noise)
        res = objective(VAEOutput(post, code, model.decoder(code)), xb, step)
        opt.zero_grad(set_to_none=True)
        res.loss.backward()
        code_aux = None
        if objective.needs_aux_batch:  # the code of a second, independent batch (FactorVAE)
            ia = batch_indices(step, x.shape[0], tc.batch_size, tc.seed + AUX_SEED_OFFSET)
            with torch.no_grad():
                code_aux = model.encode(x[ia].to(dev) if lazy else x[ia.to(dev)]).sample(tc.temperature, generator=noise)
        # the objective's own step, while the VAE still has the parameters its loss used
        aux = {k: float(v) for k, v in objective.aux_step(code.detach(), code_aux, step, noise).items()}
        opt.step()
        step += 1
        seen += xb.shape[0]
        if step % tc.log_every == 0 or step == tc.steps:
            row = {"step": step, **res.scalars(), **aux, "images_per_s": seen / max(time.perf_counter() - t0, 1e-9)}
            pending.append(row)
            bar.set_postfix(loss=f"{row['loss']:.1f}", recon=f"{row['recon']:.1f}")
        if step % tc.checkpoint_every == 0 or step == end:
            io.append_jsonl(out / "metrics.jsonl", pending)
            pending = []
            checkpoint()
        bar.update(1)
    bar.close()
    if step >= tc.steps:
        model.eval()
        write_vae_figures(model, cfg, out, dev)
        io.write_json(out / COMPLETE, {"step": step, "version": __version__})
    return out


def write_vae_figures(model: VAE, cfg: RunConfig, out: Path, dev: torch.device) -> None:
    """Reconstructions, prior samples and latent traversals of a trained VAE."""
    from vaerobust.report import figures

    xt, _ = load_dataset(cfg.data, "test")
    figures.vae_figures(model, xt[:64].to(dev), out / "figures", seed=cfg.train.seed)


def _load_run(run_dir: str | Path, kind: str, build: Callable[[dict], nn.Module], device: str | torch.device) -> Any:
    """Rebuild a network of ``kind`` from ``model.json`` + ``model.safetensors``, in eval mode."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise io.RunDirError(f"run directory {str(run_dir)!r} does not exist")
    desc = io.read_json(run_dir / "model.json")
    if desc.get("kind") != kind:
        expected = {"vae": "a VAE run", "classifier": "a classifier run"}.get(kind, f"a {kind} run")
        raise io.RunDirError(f"{run_dir} holds a {desc.get('kind')!r} model, expected {expected}")
    model = build(desc)
    io.load_weights(run_dir / "model.safetensors", model)
    return model.to(device).eval()


def load_vae(run_dir: str | Path, device: str | torch.device = "cpu") -> VAE:
    """Rebuild a trained VAE from its run directory, in eval mode."""
    return _load_run(run_dir, "vae", build_vae, device)


# --------------------------------------------------------------------------- judge


def train_classifier(cfg: JudgeConfig, out: str | Path, device: str = "auto", progress: bool = True) -> Path:
    """Train the LeNet judge (PROTOCOL §4) into ``out``; writes ``eval.json`` with test accuracy."""
    out = Path(out)
    ensure_same_settings(out / "config.yaml", cfg, "judge run")
    if is_complete(out):
        return out
    dev = resolve_device(device)
    out.mkdir(parents=True, exist_ok=True)
    c = cfg.classifier
    x, y = load_dataset(cfg.data, "train")
    check_images(x, (1, 32, 32), f"dataset {cfg.data.name!r}")
    data_hash = fingerprint(x, y)
    torch.manual_seed(c.seed)
    model = LeNet32().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=c.lr, momentum=c.momentum)
    x, y = x.to(dev), y.to(dev)
    io.write_text(out / "config.yaml", dump_yaml(cfg, {"meta": {"kind": "classifier", "version": __version__, "data_sha256": data_hash}}))
    io.write_json(out / "model.json", {"kind": "classifier", "arch": "lenet32", "classes": 10})
    per_epoch = x.shape[0] // c.batch_size
    total = c.epochs * per_epoch if c.max_steps is None else min(c.max_steps, c.epochs * per_epoch)
    rows, step = [], 0
    bar = _progress(total, 0, f"train {out.name}", progress)
    model.train()
    while step < total:
        idx = batch_indices(step, x.shape[0], c.batch_size, c.seed).to(dev)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % per_epoch == 0 or step == total:
            rows.append({"step": step, "epoch": step / per_epoch, "loss": float(loss.detach())})
        bar.update(1)
    bar.close()
    model.eval()
    xt, yt = load_dataset(cfg.data, "test")
    acc = float((predict(model, xt.to(dev)) == yt.to(dev)).float().mean())
    io.write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    io.save_weights(out / "model.safetensors", model)
    io.write_json(out / "eval.json", {"test_accuracy": acc, "n_test": int(yt.shape[0]), "steps": step})
    io.write_json(out / COMPLETE, {"step": step, "version": __version__})
    return out


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 4096) -> Tensor:
    """Argmax labels [N] of a classifier, in batches."""
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])


def load_classifier(run_dir: str | Path, device: str | torch.device = "cpu") -> LeNet32:
    """Rebuild the trained judge from its run directory, in eval mode."""
    return _load_run(run_dir, "classifier", lambda desc: LeNet32(), device)
