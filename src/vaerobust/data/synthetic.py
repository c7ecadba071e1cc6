"""A tiny generated 10-class image set for tests and smoke runs (no download).

Class k is a Gaussian blob (std 2.5 px) centred on one of ten grid positions of a
``size`` x ``size`` canvas, jittered by up to 1.5 px; pixel values in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch

from vaerobust.errors import ConfigError

SIZES = {"train": 2000, "test": 500}


def load_synthetic(split: str, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    if split not in SIZES:
        raise ConfigError(f"split {split!r}: expected one of {sorted(SIZES)}")
    n = SIZES[split]
    rng = np.random.default_rng(1 if split == "train" else 2)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    cx = size * (0.2 + 0.15 * (labels % 5)) + rng.uniform(-1.5, 1.5, n)
    cy = size * (0.3 + 0.4 * (labels // 5)) + rng.uniform(-1.5, 1.5, n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.exp(-((xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2) / (2 * 2.5**2))
    x = torch.from_numpy(img.astype(np.float32)).clamp(0, 1).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))
