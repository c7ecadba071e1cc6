"""Datasets: a registry of loaders returning (images [N, 1, H, W] float in [0, 1], labels [N] int64)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from vaerobust.config import DataConfig
from vaerobust.registry import Registry

if TYPE_CHECKING:
    from vaerobust.data.dsprites import DSpritesImages

Loader = Callable[[DataConfig, str], "tuple[torch.Tensor, torch.Tensor]"]
DATASETS: Registry[Loader] = Registry("dataset")


@DATASETS.register("mnist")
def _mnist(cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from vaerobust.data.mnist import load_mnist_tensors

    return load_mnist_tensors(split, size=cfg.image_size, root=cfg.root)


@DATASETS.register("synthetic")
def _synthetic(cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from vaerobust.data.synthetic import load_synthetic

    return load_synthetic(split, size=cfg.image_size)


@DATASETS.register("dsprites")
def _dsprites(cfg: DataConfig, split: str) -> "tuple[DSpritesImages, torch.Tensor]":
    """dSprites: a *lazy* image container (see :mod:`vaerobust.data.dsprites`); labels = shape index.

    No official split: "train" is all 737,280 images, "test" a fixed seeded subset of 10,000.
    """
    from vaerobust.data.dsprites import check_image_size, labels_of, load_dsprites

    check_image_size(cfg.image_size)
    x = load_dsprites(split, root=cfg.root)
    return x, labels_of(x)


#: Datasets with a ground-truth factor grid: name -> loader of the full grid (image i at grid index i).
FACTOR_GRIDS: Registry[Callable[[DataConfig], "DSpritesImages"]] = Registry("factor grid")


@FACTOR_GRIDS.register("dsprites")
def _dsprites_grid(cfg: DataConfig) -> "DSpritesImages":
    from vaerobust.data.dsprites import check_image_size, load_dsprites_grid

    check_image_size(cfg.image_size)
    return load_dsprites_grid(root=cfg.root)


def load_dataset(cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [N, 1, S, S] float32 in [0, 1] and labels [N] int64 of ``split`` ("train" / "test").

    Large data sets (dsprites) return a lazy container instead of an image tensor: it has
    ``len``, ``.shape`` and indexing (``x[idx]`` -> float32 [B, 1, S, S]), see :func:`is_lazy`.
    """
    return DATASETS.get(cfg.name)(cfg, split)


def is_lazy(x: object) -> bool:
    """True for a lazy image container (decodes rows on indexing), False for an image tensor."""
    return not isinstance(x, torch.Tensor)


def has_factor_grid(cfg: DataConfig) -> bool:
    """Whether the data set has ground-truth factors on a full grid (the five factor metrics apply)."""
    return cfg.name in FACTOR_GRIDS


def load_factor_grid(cfg: DataConfig) -> "DSpritesImages":
    """The full factor grid of a data set (``.factors`` int64 [N, K], ``.factor_sizes``, lazy images)."""
    return FACTOR_GRIDS.get(cfg.name)(cfg)


def load_factors(cfg: DataConfig, split: str) -> np.ndarray:
    """Ground-truth factor indices int64 [N, K] of ``split``, row-aligned with :func:`load_dataset`."""
    if not has_factor_grid(cfg):
        raise ValueError(f"dataset {cfg.name!r} has no ground-truth factors; datasets with factors: {', '.join(FACTOR_GRIDS)}")
    x, _ = load_dataset(cfg, split)
    return np.asarray(x.factors)  # type: ignore[attr-defined]


def fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """sha256 of the exact data a run used (images then labels), for provenance.

    For a lazy container the images enter through its own ``fingerprint`` (the generator's
    parameters or the sha256 of the user's file) and its length, not by decoding every row.
    """
    h = hashlib.sha256()
    if is_lazy(x):
        h.update(f"{type(x).__name__}:{x.fingerprint}:{len(x)}".encode())  # type: ignore[attr-defined]
    else:
        h.update(x.contiguous().numpy().tobytes())
    h.update(y.contiguous().numpy().tobytes())
    return h.hexdigest()
