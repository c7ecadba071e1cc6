"""Datasets: a registry of loaders returning (images [N, 1, H, W] float in [0, 1], labels [N] int64)."""

from __future__ import annotations

import hashlib
from typing import Callable

import torch

from vaerobust.config import DataConfig
from vaerobust.registry import Registry

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


def load_dataset(cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [N, 1, S, S] float32 in [0, 1] and labels [N] int64 of ``split`` ("train" / "test")."""
    return DATASETS.get(cfg.name)(cfg, split)


def fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """sha256 of the exact tensors a run used (images then labels), for provenance."""
    h = hashlib.sha256()
    h.update(x.contiguous().numpy().tobytes())
    h.update(y.contiguous().numpy().tobytes())
    return h.hexdigest()
