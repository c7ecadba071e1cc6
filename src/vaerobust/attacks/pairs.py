"""Which (source, target) pairs an attack sweep forms (PROTOCOL §6), as pure functions.

- :func:`parse_pairs`: ``"all"`` or ``"1-7,3-8"`` -> ordered class pairs;
- :func:`make_pairs`: the test images of s and of t, each shuffled, paired one to one;
- :func:`row_noise`: each pair's start noise from its own seeded generator (batching-invariant);
- :func:`sample_rows`: the rows kept for pictures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from vaerobust.errors import ConfigError


def parse_pairs(spec: str, classes: tuple[int, ...]) -> list[tuple[int, int]]:
    """``"all"`` -> every ordered pair s != t of ``classes``; ``"1-7,3-8"`` -> those pairs."""
    if spec.strip() == "all":
        return [(s, t) for s in classes for t in classes if s != t]
    out = []
    for item in spec.split(","):
        try:
            s, t = (int(v) for v in item.strip().split("-"))
        except ValueError:
            raise ConfigError(f"pair {item.strip()!r} in {spec!r}: expected 'all' or SOURCE-TARGET items like "
                              "'1-7,3-8'") from None
        if s == t or s not in classes or t not in classes:
            raise ConfigError(f"pair {item.strip()!r}: expected two different classes out of {list(classes)}")
        if (s, t) in out:
            raise ConfigError(f"pair {item.strip()!r} is listed twice in {spec!r}: each ordered pair once")
        out.append((s, t))
    return out


def make_pairs(
    labels: np.ndarray, classes: tuple[int, ...], per_pair: int | None, seed: int, pairs: str = "all"
) -> pd.DataFrame:
    """Every ordered pair (s, t), s != t: shuffle the images of s and of t, pair them 1:1.

    n = min(#s, #t), capped at ``per_pair``. Each pair's shuffles use their own seeded
    generator, so a pair's rows do not depend on which other pairs are asked for.
    Returns columns source, target, src_index, tgt_index.
    """
    labels = np.asarray(labels)
    present = set(np.unique(labels).tolist())
    missing = [c for c in classes if c not in present]
    if missing:
        raise ConfigError(f"sweep.classes: classes {missing} have no test images; labels present: {sorted(present)}")
    frames = []
    for s, t in parse_pairs(pairs, tuple(classes)):
        rng = np.random.default_rng([seed, s, t])
        src = rng.permutation(np.flatnonzero(labels == s))
        tgt = rng.permutation(np.flatnonzero(labels == t))
        n = min(len(src), len(tgt), per_pair if per_pair is not None else len(src))
        frames.append(pd.DataFrame({"source": s, "target": t, "src_index": src[:n], "tgt_index": tgt[:n]}))
    return pd.concat(frames, ignore_index=True)


def row_noise(pairs: pd.DataFrame, rows: np.ndarray, shape: tuple[int, ...], seed: int) -> Tensor:
    """Standard-normal start noise [len(rows), *shape], each row's drawn from its own generator
    seeded by (seed, source index, target index): results do not depend on batching."""
    src = pairs.src_index.to_numpy()[rows]
    tgt = pairs.tgt_index.to_numpy()[rows]
    out = np.stack([np.random.default_rng([seed, int(s), int(t)]).standard_normal(shape) for s, t in zip(src, tgt)])
    return torch.from_numpy(out.astype(np.float32))


def sample_rows(pairs: pd.DataFrame, rows: np.ndarray, per_source: int = 2) -> np.ndarray:
    """Rows kept for pictures: the first ``per_source`` attacked rows of each source class."""
    kept = pairs.iloc[rows]
    return kept.groupby("source", sort=True).head(per_source).index.to_numpy()


__all__ = ["make_pairs", "parse_pairs", "row_noise", "sample_rows"]
