"""Intervals for a model's attack success that respect how the data were made (pure functions).

A model's figure is the **mean over ordered pairs** (s, t) of the pair's success rate
(PROTOCOL §6). Two things make the usual interval too narrow:

- **shared sources**: with all test images, each source image is attacked in up to K - 1 pairs,
  so the pairs are not independent samples; resampling *source images* (each with all of its
  pairs) -- a cluster bootstrap -- keeps that dependence;
- **training**: a model is one draw of its training; another seed gives another model. With
  several seeds, a **hierarchical bootstrap** resamples the seeds, then the source images
  within each seed, and recomputes the mean over the resampled seeds of the mean over pairs.

An *outcome table* of one run is four integer arrays over its attacked examples: ``cluster``
(the source image's id), ``source`` and ``target`` (class indices 0..K-1) and ``hit`` (1 if the
attack succeeded by the measure at hand). Intervals are percentile intervals of the bootstrap
distribution. Each bootstrap draw weights each cluster by its multinomial count (the standard
equivalent of drawing clusters with replacement); a pair no draw covers is left out of that draw's
mean, as an empty pair is left out of the point estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: cluster_draws holds about this many numbers at once (blocks of draws)
_BLOCK = 4_000_000


@dataclass(frozen=True)
class Outcomes:
    """One run's attacked examples: cluster (source image id), source, target, hit -- arrays [n]."""

    cluster: np.ndarray
    source: np.ndarray
    target: np.ndarray
    hit: np.ndarray
    n_classes: int

    def __post_init__(self) -> None:
        n = len(self.hit)
        if not all(len(a) == n for a in (self.cluster, self.source, self.target)):
            raise ValueError("cluster, source, target and hit must have one value per attacked example")
        if n and (self.source.max() >= self.n_classes or self.target.max() >= self.n_classes):
            raise ValueError(f"source / target classes must lie in 0..{self.n_classes - 1}")

    @property
    def pair(self) -> np.ndarray:
        return self.source.astype(np.int64) * self.n_classes + self.target.astype(np.int64)


def _pair_mean(pair: np.ndarray, hit: np.ndarray, weight: np.ndarray, n_pairs: int) -> float:
    den = np.bincount(pair, weights=weight, minlength=n_pairs)
    num = np.bincount(pair, weights=weight * hit, minlength=n_pairs)
    ok = den > 0
    return float((num[ok] / den[ok]).mean()) if ok.any() else float("nan")


def mean_over_pairs(o: Outcomes) -> float:
    """The run's figure: the mean over pairs with an attacked example of the pair's hit rate."""
    return _pair_mean(o.pair, o.hit.astype(float), np.ones(len(o.hit)), o.n_classes ** 2)


class _Clusters:
    """A run prepared for cluster resampling: each example's cluster index into 0..C-1."""

    def __init__(self, o: Outcomes) -> None:
        _, self.index = np.unique(o.cluster, return_inverse=True)
        self.n = int(self.index.max()) + 1 if len(self.index) else 0
        self.pair, self.hit, self.n_pairs = o.pair, o.hit.astype(float), o.n_classes ** 2

    def draw(self, rng: np.random.Generator) -> float:
        if self.n == 0:  # nothing attacked (every source failed the clean filter): no figure
            return float("nan")
        counts = rng.multinomial(self.n, np.full(self.n, 1.0 / self.n)).astype(float)
        return _pair_mean(self.pair, self.hit, counts[self.index], self.n_pairs)


@dataclass(frozen=True)
class Interval:
    """A point estimate, its percentile interval and what it rests on."""

    mean: float
    low: float
    high: float
    level: float
    n_boot: int
    n_seeds: int = 1
    seed_sd: float | None = None  # the spread between the seeds' own figures (sample standard deviation)


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if not draws.size:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))


def cluster_draws(o: Outcomes, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``n_boot`` bootstrap draws [n_boot] of one run's mean over pairs, each resampling the source
    images (each with all its pairs), all at once; NaN throughout if nothing was attacked. The same
    draws as :func:`cluster_interval` takes its percentiles of (the same ``seed``)."""
    c = _Clusters(o)
    if c.n == 0:
        return np.full(n_boot, np.nan)
    rng = np.random.default_rng(seed)
    used, pair = np.unique(c.pair, return_inverse=True)  # the pairs attacked at all
    onehot = np.zeros((len(pair), len(used)))
    onehot[np.arange(len(pair)), pair] = 1.0
    out = np.empty(n_boot)
    block = max(1, _BLOCK // max(len(pair), c.n))  # draws at once: about _BLOCK numbers in memory
    for start in range(0, n_boot, block):
        m = min(block, n_boot - start)
        w = rng.multinomial(c.n, np.full(c.n, 1.0 / c.n), size=m).astype(float)[:, c.index]  # [m, n]
        den, num = w @ onehot, (w * c.hit) @ onehot  # [m, pairs]
        rate = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        out[start : start + m] = np.nanmean(rate, axis=1)
    return out


def cluster_interval(o: Outcomes, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """One run: resample source images (each with all its pairs) -> interval of the mean over pairs."""
    lo, hi = _percentiles(cluster_draws(o, n_boot, seed), level)
    return Interval(mean_over_pairs(o), lo, hi, level, n_boot)


def hierarchical_interval(runs: Sequence[Outcomes], n_boot: int = 2000, seed: int = 0,
                          level: float = 0.95) -> Interval:
    """Several training seeds of one model: resample the seeds, then the source images within each.

    The point estimate is the mean over seeds of each seed's mean over pairs; ``seed_sd`` their
    standard deviation (the spread between seeds). With one seed this is :func:`cluster_interval`.
    """
    if not runs:
        raise ValueError("hierarchical_interval needs at least one run")
    rng = np.random.default_rng(seed)
    prepared = [_Clusters(o) for o in runs]
    figures = np.array([mean_over_pairs(o) for o in runs])
    draws = np.empty(n_boot)
    for b in range(n_boot):
        picks = rng.integers(0, len(runs), len(runs)) if len(runs) > 1 else np.zeros(1, dtype=int)
        draws[b] = np.mean([prepared[i].draw(rng) for i in picks])
    lo, hi = _percentiles(draws, level)
    sd = float(figures.std(ddof=1)) if len(runs) > 1 else None
    return Interval(float(figures.mean()), lo, hi, level, n_boot, len(runs), sd)


def paired_difference(a: Sequence[Outcomes], b: Sequence[Outcomes], n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> Interval:
    """Model A minus model B, seeds paired by position (seed i of A with seed i of B): resample the
    seed indices jointly, then source images within each run; interval of mean(A) - mean(B)."""
    if len(a) != len(b) or not a:
        raise ValueError("paired_difference needs the same number (>= 1) of runs of each model, seed by seed")
    rng = np.random.default_rng(seed)
    pa, pb = [_Clusters(o) for o in a], [_Clusters(o) for o in b]
    diffs = np.array([mean_over_pairs(x) - mean_over_pairs(y) for x, y in zip(a, b)])
    draws = np.empty(n_boot)
    for k in range(n_boot):
        picks = rng.integers(0, len(a), len(a)) if len(a) > 1 else np.zeros(1, dtype=int)
        draws[k] = np.mean([pa[i].draw(rng) - pb[i].draw(rng) for i in picks])
    lo, hi = _percentiles(draws, level)
    sd = float(diffs.std(ddof=1)) if len(a) > 1 else None
    return Interval(float(diffs.mean()), lo, hi, level, n_boot, len(a), sd)


__all__ = ["Interval", "Outcomes", "cluster_draws", "cluster_interval", "hierarchical_interval", "mean_over_pairs", "paired_difference"]
