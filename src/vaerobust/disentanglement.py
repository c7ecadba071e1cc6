"""``evaluate``: disentanglement measures of a trained VAE, on the checkpoint the attacks use.

Writes ``<run>/metrics/disentanglement.json``. What can be measured depends on the data:
- a dataset with a ground-truth factor grid (dSprites; :func:`vaerobust.data.has_factor_grid`):
  the five standard scores (beta-VAE, FactorVAE, MIG, DCI, SAP) of the deterministic code
  (``Posterior.mode()``: Gaussian means and argmax one-hots), at the metrics' default sample
  sizes (10,000 train / 5,000 eval points; Locatello et al. 2019, arXiv 1811.12359) unless
  given. The metrics draw factor vectors on the grid; each grid image is encoded at most once
  (:class:`GridCodes` caches codes by grid index), so the cost is bounded by the grid size
  (737,280 encodes) however many points the metrics draw (~2.9 million at the defaults);
- MNIST (digit labels, no factor grid): the agreement of each categorical code's argmax with
  the digit class (normalised mutual information and best one-to-one mapping accuracy) and
  the number of active Gaussian dimensions (mean KL per dimension above a threshold).
A requested measure that does not apply to the run's data is listed under
``not_applicable`` with the reason, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from vaerobust import __version__, io
from vaerobust.data import has_factor_grid, load_dataset, load_factor_grid
from vaerobust.evaluation import run_config_of
from vaerobust.metrics.disentanglement import DISENTANGLEMENT, GridSampler, evaluate_all
from vaerobust.metrics.disentanglement.codes import active_dims, categorical_agreement
from vaerobust.models.layout import channels_last
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
def encode_all(vae, x: torch.Tensor, batch_size: int = 4096, device: torch.device | str | None = None):  # type: ignore[no-untyped-def]
    """Posterior means [N, D], log-variances [N, D] and a list of logits [N, K_j], in large batches.

    ``x``: images [N, C, H, W] or a lazy container; with ``device`` each batch is moved there.
    """
    means, logvars, logits = [], [], [[] for _ in vae.spec.categorical]
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        post = vae.encode(xb if device is None else xb.to(device))
        means.append(post.mean.cpu())
        logvars.append(post.logvar.cpu())
        for j, lg in enumerate(post.logits):
            logits[j].append(lg.cpu())
    return torch.cat(means), torch.cat(logvars), [torch.cat(lg) for lg in logits]


class GridCodes:
    """A representation for the factor metrics: flat grid indices int [n] -> codes float32 [n, d].

    The code of grid image i is ``vae.encode(image_i).mode()`` (Gaussian means and argmax
    one-hots: deterministic), computed under ``torch.inference_mode`` with channels-last
    weights (:mod:`vaerobust.models.layout`) in batches of ``batch_size`` the first time i is
    asked for and cached in a table [N_grid, d]
    (737,280 x d float32: 29 MB for d = 10).
    """

    def __init__(self, vae: Any, grid: Any, device: torch.device | str = "cpu", batch_size: int = 1024) -> None:
        self.vae, self.grid, self.device, self.batch_size = vae, grid, torch.device(device), batch_size
        self.table: np.ndarray | None = None  # codes [N_grid, d], allocated on first use
        self.done = np.zeros(len(grid), dtype=bool)
        self.n_encoded = 0  # images encoded so far (each grid image at most once)

    @torch.inference_mode()
    def _encode(self, index: np.ndarray) -> None:
        with channels_last(self.vae):
            for s in range(0, len(index), self.batch_size):
                chunk = index[s : s + self.batch_size]
                z = self.vae.encode(self.grid[chunk].to(self.device)).mode().float().cpu().numpy()  # [b, d]
                if self.table is None:
                    self.table = np.zeros((len(self.grid), z.shape[1]), dtype=np.float32)
                self.table[chunk] = z
                self.done[chunk] = True
                self.n_encoded += len(chunk)

    def encode_all(self) -> None:
        """Encode every grid image not yet encoded (in index order: sequential reads of the cache)."""
        self._encode(np.flatnonzero(~self.done))

    def __call__(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        todo = np.unique(index[~self.done[index]])  # sorted, each missing image once
        if len(todo):
            self._encode(todo)
        assert self.table is not None, "GridCodes called with no indices"
        return self.table[index]


def grid_metrics(
    vae: Any,
    grid: Any,
    names: Sequence[str],
    device: torch.device | str = "cpu",
    seed: int = 0,
    sizes: Mapping[str, int | None] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    codes: GridCodes | None = None,
) -> dict[str, dict[str, float]]:
    """The factor metrics ``names`` of ``vae`` on a full factor grid (``grid.factor_sizes``, image i
    at grid index i): ``{metric: {value name: float}}``.

    ``sizes``: evaluate_all's ``num_train``, ``num_test``, ``batch_size``, ``num_variance_estimate``
    (None or missing: each metric's default). ``codes``: a :class:`GridCodes` to reuse (and fill).
    """
    factor_sizes = tuple(grid.factor_sizes)
    codes = GridCodes(vae, grid, device) if codes is None else codes
    # observations are flat grid indices [n]: the representation looks their codes up
    sampler = GridSampler(factor_sizes, observe=lambda f: np.ravel_multi_index(tuple(f.T), factor_sizes))
    return evaluate_all(codes, sampler, seed, metrics=list(names), options=options, **dict(sizes or {}))


def evaluate_run(
    run_dir: str | Path,
    metrics: str | Sequence[str] = "all",
    device: str = "auto",
    split: str = "test",
    threshold: float = 0.01,
    seed: int = 0,
    sizes: Mapping[str, int | None] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Measure ``metrics`` on a VAE run; returns the path of ``metrics/disentanglement.json``.

    Code measures (``categorical_agreement``, ``active_dims``) use ``split``; the factor metrics
    (on data with a factor grid) draw from the whole grid with ``seed``, ``sizes`` and
    ``options`` as in :func:`grid_metrics`.
    """
    names = parse_metrics(metrics)
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    vae = load_vae(run_dir, dev)
    data_cfg = run_config_of(run_dir).data
    result: dict = {"run": str(run_dir), "data": data_cfg.name, "split": split,
                    "version": __version__, "metrics": {}, "not_applicable": {}}
    factor_names = [n for n in names if n in DISENTANGLEMENT]
    if factor_names and has_factor_grid(data_cfg):
        grid = load_factor_grid(data_cfg)
        codes = GridCodes(vae, grid, dev)
        result["metrics"].update(grid_metrics(vae, grid, factor_names, dev, seed, sizes, options, codes))
        result["factor_metrics"] = {"seed": seed, "sizes": dict(sizes or {}), "grid_images_encoded": codes.n_encoded,
                                    "code": "Posterior.mode(): Gaussian means and argmax one-hots"}
        names = [n for n in names if n not in factor_names]
    if any(n in CODE_METRICS for n in names):
        x, y = load_dataset(data_cfg, split)
        mean, logvar, logits = encode_all(vae, x, device=dev)
        result["n"] = int(x.shape[0])
        labels = y.numpy()
    has_labels = any(n in CODE_METRICS for n in names) and labels.ndim == 1
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


__all__ = ["evaluate_run", "parse_metrics", "known_metrics", "encode_all", "GridCodes", "grid_metrics"]
