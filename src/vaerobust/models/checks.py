"""Input checks of the public API: one-line errors before anything reaches torch's kernels."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vaerobust.errors import InputError

SPOT_CHECK = 256  # images of a lazy container whose values are checked


def check_images(x: Any, shape: tuple[int, ...], what: str = "images", batch: str = "N") -> None:
    """Images [N, *shape], floating point, finite, pixels in [0, 1], N >= 1; else one-line InputError.

    A lazy container (anything that is not a tensor but has ``shape`` and indexing, e.g.
    dSprites' :class:`~vaerobust.data.dsprites.DSpritesImages`) is checked on its shape and
    its first 256 images.
    """
    got = tuple(getattr(x, "shape", ()))
    if len(got) != 4 or tuple(got[1:]) != tuple(shape):
        raise InputError(f"{what}: images of shape {got}, expected [{batch}, {', '.join(map(str, shape))}]")
    if got[0] == 0:
        raise InputError(f"{what}: an empty batch (0 images), expected at least one image")
    if not isinstance(x, Tensor):
        x = x[:SPOT_CHECK]
    if not x.is_floating_point():
        raise InputError(f"{what}: images of dtype {x.dtype}, expected floating point pixels in [0, 1] "
                         "(divide uint8 images by 255)")
    if bool(torch.isnan(x).any()):
        raise InputError(f"{what}: images contain NaN, expected finite pixels in [0, 1]")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{what}: images contain infinite values, expected finite pixels in [0, 1]")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise InputError(f"{what}: pixel values in [{lo:.3g}, {hi:.3g}], expected [0, 1]")


__all__ = ["check_images"]
