"""``evaluate``: disentanglement measures of a trained VAE, on the checkpoint the attacks use.

Writes ``<run>/metrics/disentanglement.json``. What can be measured depends on the data:
- a dataset with a ground-truth factor grid (a :class:`FactorSampler`): the five standard
  scores (beta-VAE, FactorVAE, MIG, DCI, SAP) of the Gaussian posterior means;
- MNIST (digit labels, no factor grid): the agreement of each categorical code's argmax with
  the digit class (normalised mutual information and best one-to-one mapping accuracy) and
  the number of active Gaussian dimensions (mean KL per dimension above a threshold).
A requested measure that does not apply to the run's data is listed under
``not_applicable`` with the reason, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from vaerobust import __version__, io
from vaerobust.data import load_dataset
from vaerobust.evaluation import run_config_of
from vaerobust.metrics.disentanglement import DISENTANGLEMENT
from vaerobust.metrics.disentanglement.codes import active_dims, categorical_agreement
from vaerobust.objectives.terms import kl_gaussian_per_dim
from vaerobust.training import load_vae, resolve_device

CODE_METRICS = ("categorical_agreement", "active_dims")


def known_metrics() -> list[str]:
    return [*DISENTANGLEMENT.names(), *CODE_METRICS]


def parse_metrics(spec: str | Sequence[str]) -> list[str]:
    """``"all"`` or a comma list of names -> names; unknown names are a one-line error."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        return known_metrics()
    bad = [n for n in names if n not in known_metrics()]
    if bad or not names:
        raise ValueError(f"metrics {bad or names!r}: expected 'all' or names out of {', '.join(known_metrics())}")
    return names


@torch.inference_mode()
def encode_all(vae, x: torch.Tensor, batch_size: int = 4096):  # type: ignore[no-untyped-def]
    """Posterior means [N, D], log-variances [N, D] and a list of logits [N, K_j], in large batches."""
    means, logvars, logits = [], [], [[] for _ in vae.spec.categorical]
    for i in range(0, x.shape[0], batch_size):
        post = vae.encode(x[i : i + batch_size])
        means.append(post.mean.cpu())
        logvars.append(post.logvar.cpu())
        for j, lg in enumerate(post.logits):
            logits[j].append(lg.cpu())
    return torch.cat(means), torch.cat(logvars), [torch.cat(lg) for lg in logits]


def evaluate_run(
    run_dir: str | Path,
    metrics: str | Sequence[str] = "all",
    device: str = "auto",
    split: str = "test",
    threshold: float = 0.01,
) -> Path:
    """Measure ``metrics`` on a VAE run; returns the path of ``metrics/disentanglement.json``."""
    names = parse_metrics(metrics)
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    vae = load_vae(run_dir, dev)
    data_cfg = run_config_of(run_dir).data
    x, y = load_dataset(data_cfg, split)
    mean, logvar, logits = encode_all(vae, x.to(dev))
    result: dict = {"run": str(run_dir), "data": data_cfg.name, "split": split, "n": int(x.shape[0]),
                    "version": __version__, "metrics": {}, "not_applicable": {}}
    labels = y.numpy()
    has_labels = labels.ndim == 1
    for name in names:
        if name == "categorical_agreement":
            if not logits:
                result["not_applicable"][name] = "the model has no categorical latent"
            elif not has_labels:
                result["not_applicable"][name] = "the data has no class labels"
            else:
                result["metrics"][name] = [categorical_agreement(lg.argmax(1).numpy(), labels) for lg in logits]
        elif name == "active_dims":
            if mean.shape[1] == 0:
                result["not_applicable"][name] = "the model has no Gaussian latent"
            else:
                kl = kl_gaussian_per_dim(mean, logvar).numpy()
                result["metrics"][name] = {**active_dims(kl, threshold=threshold), "threshold_nats": threshold}
        else:
            result["not_applicable"][name] = (
                f"needs a dataset with a ground-truth factor grid; {data_cfg.name!r} has none"
            )
    out = run_dir / "metrics" / "disentanglement.json"
    io.write_json(out, result)
    return out


__all__ = ["evaluate_run", "parse_metrics", "known_metrics", "encode_all"]
