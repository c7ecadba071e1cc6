"""Datasets: a registry of loaders returning (images [N, C, H, W] float in [0, 1], labels [N] int64).

Each registered dataset also states what a study needs to know before loading it
(:class:`DatasetInfo`: class count, split sizes, channels), so planning and validation
never hard-code one dataset's numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from vaerobust.config import DataConfig
from vaerobust.data.celeba import ATTRIBUTES as CELEBA_ATTRIBUTES
from vaerobust.data.fashion_mnist import CLASS_NAMES as FASHION_MNIST_CLASSES
from vaerobust.errors import ConfigError
from vaerobust.registry import Registry

if TYPE_CHECKING:
    from vaerobust.data.celeba import CelebAImages
    from vaerobust.data.dsprites import DSpritesImages

Loader = Callable[[DataConfig, str], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class DatasetInfo:
    """What is known about a dataset without loading it.

    ``classes``: number of labels (the label of dSprites is its shape); ``split_sizes``: images
    per split; ``channels``: image channels; ``fixed_size``: the one image size it has (None:
    resized to ``data.image_size``); ``class_names``: a name per label where meaningful.
    """

    loader: Loader
    classes: int
    split_sizes: dict[str, int]
    channels: int = 1
    fixed_size: int | None = None
    class_names: tuple[str, ...] | None = None
    labels: str = "class"  # "class": labels [N] int64; "attributes": [N, classes] in {0, 1} (CelebA)
    #: ground-truth factors (dSprites): their names and sizes; a factor judge reads them all
    factor_names: tuple[str, ...] | None = None
    factor_sizes: tuple[int, ...] | None = None
    judge_split: str = "train"  # the split a judge learns from (dSprites: the grid without the test images)


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def _mnist(cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from vaerobust.data.mnist import load_mnist_tensors

    return load_mnist_tensors(split, size=cfg.image_size, root=cfg.root)


def _fashion_mnist(cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from vaerobust.data.fashion_mnist import load_fashion_mnist_tensors

    return load_fashion_mnist_tensors(split, size=cfg.image_size, root=cfg.root)


def _synthetic(cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from vaerobust.data.synthetic import load_synthetic

    return load_synthetic(split, size=cfg.image_size)


def _celeba(cfg: DataConfig, split: str) -> tuple[CelebAImages, torch.Tensor]:
    """CelebA from the user's folder (``data.root`` or ``$VAEROBUST_CELEBA_DIR``): lazy images
    [N, 3, S, S] of the official split and the 40 attributes [N, 40] in {0, 1}."""
    from vaerobust.data.celeba import load_celeba

    return load_celeba(split, size=cfg.image_size, crop=cfg.crop, root=cfg.root)


def _dsprites(cfg: DataConfig, split: str) -> tuple[DSpritesImages, torch.Tensor]:
    """dSprites: a *lazy* image container (see :mod:`vaerobust.data.dsprites`); labels = shape index.

    No official split: "train" is all 737,280 images, "test" a fixed seeded subset of 10,000.
    """
    from vaerobust.data.dsprites import check_image_size, labels_of, load_dsprites

    check_image_size(cfg.image_size)
    x = load_dsprites(split, root=cfg.root)
    return x, labels_of(x)


DATASETS.register("mnist")(DatasetInfo(_mnist, 10, {"train": 60_000, "test": 10_000},
                                       class_names=tuple(str(d) for d in range(10))))
DATASETS.register("fashion_mnist")(DatasetInfo(_fashion_mnist, 10, {"train": 60_000, "test": 10_000},
                                               class_names=FASHION_MNIST_CLASSES))
DATASETS.register("celeba")(DatasetInfo(_celeba, len(CELEBA_ATTRIBUTES), {"train": 162_770, "test": 19_962},
                                        channels=3, class_names=CELEBA_ATTRIBUTES, labels="attributes"))
DATASETS.register("synthetic")(DatasetInfo(_synthetic, 10, {"train": 2000, "test": 500}))
DATASETS.register("dsprites")(DatasetInfo(_dsprites, 3, {"train": 737_280, "test": 10_000, "judge": 727_280},
                                          fixed_size=64, class_names=("square", "ellipse", "heart"),
                                          factor_names=("shape", "scale", "orientation", "posX", "posY"),
                                          factor_sizes=(3, 6, 40, 32, 32), judge_split="judge"))


def dataset_info(cfg: DataConfig | str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``data.name`` (an unknown name lists the known ones)."""
    return DATASETS.get(cfg if isinstance(cfg, str) else cfg.name)


#: Datasets with a ground-truth factor grid: name -> loader of the full grid (image i at grid index i).
FACTOR_GRIDS: Registry[Callable[[DataConfig], DSpritesImages]] = Registry("factor grid")


@FACTOR_GRIDS.register("dsprites")
def _dsprites_grid(cfg: DataConfig) -> DSpritesImages:
    from vaerobust.data.dsprites import check_image_size, load_dsprites_grid

    check_image_size(cfg.image_size)
    return load_dsprites_grid(root=cfg.root)


def load_dataset(cfg: DataConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [N, C, S, S] float32 in [0, 1] and labels [N] int64 of ``split`` ("train" / "test").

    Large data sets (dsprites) return a lazy container instead of an image tensor: it has
    ``len``, ``.shape`` and indexing (``x[idx]`` -> float32 [B, 1, S, S]), see :func:`is_lazy`.
    """
    return dataset_info(cfg).loader(cfg, split)


def is_lazy(x: object) -> bool:
    """True for a lazy image container (decodes rows on indexing), False for an image tensor."""
    return not isinstance(x, torch.Tensor)


def has_factor_grid(cfg: DataConfig) -> bool:
    """Whether the data set has ground-truth factors on a full grid (the five factor metrics apply)."""
    return cfg.name in FACTOR_GRIDS


def load_factor_grid(cfg: DataConfig) -> DSpritesImages:
    """The full factor grid of a data set (``.factors`` int64 [N, K], ``.factor_sizes``, lazy images)."""
    return FACTOR_GRIDS.get(cfg.name)(cfg)


def load_factors(cfg: DataConfig, split: str) -> np.ndarray:
    """Ground-truth factor indices int64 [N, K] of ``split``, row-aligned with :func:`load_dataset`."""
    if not has_factor_grid(cfg):
        raise ConfigError(f"dataset {cfg.name!r} has no ground-truth factors; datasets with factors: "
                          f"{', '.join(FACTOR_GRIDS)}")
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


__all__ = ["DATASETS", "FACTOR_GRIDS", "DatasetInfo", "dataset_info", "fingerprint", "has_factor_grid", "is_lazy",
           "load_dataset", "load_factor_grid", "load_factors"]
