"""``vaerobust evaluate``: disentanglement measures of a trained VAE, on the checkpoint the attacks use.

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

from vaerobust import __version__, files
from vaerobust.data import has_factor_grid, load_dataset, load_factor_grid
from vaerobust.devices import resolve_device
from vaerobust.errors import ConfigError, NothingToMeasure
from vaerobust.metrics.disentanglement import DISENTANGLEMENT, GridSampler, evaluate_all
from vaerobust.metrics.disentanglement.codes import active_dims, categorical_agreement
from vaerobust.models.divergences import kl_gaussian_per_dim
from vaerobust.models.encoding import GridCodes, encode_all
from vaerobust.rundir import folder_lock, is_complete, load_vae
from vaerobust.rundir import read_run_config as run_config_of  # the VAE run's settings

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
        raise ConfigError(f"metrics {bad or names!r}: expected 'all' or names out of {', '.join(known_metrics())}")
    return names


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
    vae = load_vae(run_dir, dev)  # an unfinished run is measured at its last checkpoint (recorded below)
    data_cfg = run_config_of(run_dir).data
    result: dict = {"run": str(run_dir), "data": data_cfg.name, "split": split, "version": __version__,
                    "training_complete": is_complete(run_dir), "metrics": {}, "not_applicable": {}}
    factor_names = [n for n in names if n in DISENTANGLEMENT]
    if factor_names and has_factor_grid(data_cfg):
        grid = load_factor_grid(data_cfg)
        codes = GridCodes(vae, grid, dev)
        key = code_cache_key(run_dir, grid)
        reused = load_code_cache(run_dir / CODE_CACHE, key, codes)
        try:
            result["metrics"].update(grid_metrics(vae, grid, factor_names, dev, seed, sizes, options, codes))
        except ValueError as e:
            if not sizes:
                raise  # at the published sizes a failure is a bug, not a user's choice
            raise NothingToMeasure(f"factor metrics at sizes {dict(sizes)}: {e}; use larger --num-train / --num-test") \
                from None
        if key is not None and codes.n_encoded:
            save_code_cache(run_dir / CODE_CACHE, key, codes)
        result["factor_metrics"] = {"seed": seed, "sizes": dict(sizes or {}), "grid_images_encoded": codes.n_encoded,
                                    "grid_codes_reused": reused,
                                    "code": "Posterior.mode(): Gaussian means and argmax one-hots",
                                    "dci_predictor": _dci_predictor_name(options)}
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
                result["metrics"][name] = {**active_dims(kl, threshold=threshold, logvar=logvar.numpy()),
                                           "threshold_nats": threshold}
        else:
            result["not_applicable"][name] = (
                f"needs a dataset with a ground-truth factor grid; {data_cfg.name!r} has none"
            )
    out = run_dir / "metrics" / "disentanglement.json"
    with folder_lock(out.parent):
        files.write_json(out, result)
    return out


#: The grid codes of a checkpoint, kept in its run folder so a second ``evaluate`` reads them
#: instead of encoding the grid again (issue 10: encode the grid once per checkpoint).
CODE_CACHE = "metrics/grid_codes.npz"


def code_cache_key(run_dir: Path, grid: Any) -> str | None:
    """What the cached codes belong to: the checkpoint's weights (sha256 of ``model.safetensors``)
    and the grid (its fingerprint and size); None without a weights file (nothing to key on)."""
    import hashlib

    weights = Path(run_dir) / "model.safetensors"
    if not weights.is_file():
        return None
    h = hashlib.sha256(weights.read_bytes())
    h.update(f"{getattr(grid, 'fingerprint', '')}:{len(grid)}".encode())
    return h.hexdigest()


def load_code_cache(path: Path, key: str | None, codes: GridCodes) -> int:
    """Fill ``codes`` from the cache at ``path`` if it belongs to ``key``; returns the codes reused
    (0: none; an unreadable or stale cache is ignored and rewritten later)."""
    if key is None or not path.is_file():
        return 0
    try:
        with np.load(path) as f:
            if str(f["key"]) != key or f["done"].shape != codes.done.shape:
                return 0
            codes.table, codes.done = f["table"].astype(np.float32), f["done"].astype(bool)
    except (OSError, ValueError, KeyError):
        return 0
    return int(codes.done.sum())


def save_code_cache(path: Path, key: str, codes: GridCodes) -> None:
    """Write the codes encoded so far (atomically; the table and which rows hold codes)."""
    import io

    if codes.table is None:
        return
    buf = io.BytesIO()
    np.savez(buf, key=np.array(key), table=codes.table, done=codes.done)
    files.write_bytes(path, buf.getvalue())


def _dci_predictor_name(options: Mapping[str, Mapping[str, Any]] | None) -> str:
    """Which DCI predictor the options pick: reference, fast, or custom (a ``make_classifier``)."""
    dci = dict((options or {}).get("dci") or {})
    return "custom" if dci.get("make_classifier") is not None else str(dci.get("predictor", "reference"))


def dci_options(predictor: str | None) -> dict[str, dict[str, Any]] | None:
    """The metric options of ``--dci-predictor`` (None: the reference predictor); an unknown name is one line."""
    from vaerobust.metrics.disentanglement.dci import DCI_PREDICTORS

    if predictor in (None, "reference"):
        return None
    if predictor not in DCI_PREDICTORS:
        raise ConfigError(f"dci predictor {predictor!r}: expected one of {', '.join(DCI_PREDICTORS)}")
    return {"dci": {"predictor": predictor}}


def run(run_dir: Path, metrics: str = "all", num_train: int | None = None, num_test: int | None = None,
        seed: int = 0, device: str = "auto", dci_predictor: str = "reference") -> dict:
    """The ``vaerobust evaluate`` command: returns what was written to ``metrics/disentanglement.json``."""
    for name, v in (("--num-train", num_train), ("--num-test", num_test)):
        if v is not None and v < 1:
            raise ConfigError(f"{name} {v}: expected an integer >= 1")
    if seed < 0:
        raise ConfigError(f"--seed {seed}: expected an integer >= 0")
    sizes = {k: v for k, v in (("num_train", num_train), ("num_test", num_test)) if v is not None}
    path = evaluate_run(run_dir, metrics, device=device, seed=seed, sizes=sizes or None,
                        options=dci_options(dci_predictor))
    return {"path": path, **files.read_json(path)}


__all__ = ["CODE_CACHE", "GridCodes", "code_cache_key", "dci_options", "encode_all", "evaluate_run", "grid_metrics",
           "known_metrics", "load_code_cache", "parse_metrics", "run", "save_code_cache"]
