"""Attack-success bookkeeping (PROTOCOL §6), as pure functions of per-example arrays.

For an ordered pair of classes (s, t), over the kept sources (clean reconstruction
classified s):
- AS target (s, t)        = fraction whose adversarial reconstruction is classified t;
- AS ignore-target (s, t) = fraction classified anything but s.
Source marginal of s = mean over the targets of the pair rates; target marginal of t =
mean over the sources; a model's overall figure = mean over the pairs. Pairs with no kept
source are NaN and left out of the means (their count is reported).

The overall figure's interval: when the source images' ids are given (``success_table(...,
cluster=...)``), a source-clustered bootstrap (each source image resampled with all of its pairs:
with all test images one source is attacked in up to K - 1 pairs, so the pairs are not
independent); otherwise, and always as ``ci_*_independent`` beside it, the normal approximation
that treats the pairs as independent binomials.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from vaerobust.metrics.bootstrap import Outcomes, cluster_interval

N_BOOT = 2000  # bootstrap draws of the source-clustered interval (seeded: the same figures every time)


def wilson_interval(k: np.ndarray | int, n: np.ndarray | int, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k / n (95% by default).

    centre = (p + z^2 / 2n) / (1 + z^2 / n),  half = z / (1 + z^2 / n) * sqrt(p(1-p)/n + z^2 / 4n^2).
    n = 0 gives NaN bounds.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


@dataclass
class SuccessTable:
    """Per-pair counts and rates; matrices are [n_classes, n_classes], indexed [source, target]."""

    classes: list[int]
    n_pairs_total: np.ndarray  # pairs formed (before the clean filter)
    n_kept: np.ndarray  # sources whose clean reconstruction was classified correctly
    hits_target: np.ndarray
    hits_ignore: np.ndarray
    # the kept examples, for the source-clustered interval: cluster (source image id), source and
    # target (class positions), hit_target, hit_ignore -- arrays [n_kept_examples]; None without ids
    kept_rows: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def pair_mask(self) -> np.ndarray:
        """True on off-diagonal cells (the ordered pairs s != t)."""
        return ~np.eye(len(self.classes), dtype=bool)

    def rate(self, which: str) -> np.ndarray:
        hits = {"target": self.hits_target, "ignore": self.hits_ignore}[which]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = hits / self.n_kept
        r = np.where(self.n_kept > 0, r, np.nan)
        r[~self.pair_mask] = np.nan
        return r

    def interval(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        hits = {"target": self.hits_target, "ignore": self.hits_ignore}[which]
        lo, hi = wilson_interval(hits, self.n_kept)
        lo[~self.pair_mask] = np.nan
        hi[~self.pair_mask] = np.nan
        return lo, hi

    def source_marginal(self, which: str) -> np.ndarray:
        return _nanmean(self.rate(which), axis=1)

    def target_marginal(self, which: str) -> np.ndarray:
        return _nanmean(self.rate(which), axis=0)

    def overall(self, which: str) -> dict[str, float]:
        """Mean over pairs with its 95% interval, and the pooled rate over all kept examples.

        ``ci_low``/``ci_high``: the source-clustered bootstrap when the table has its source
        ids (``interval`` says which), else the independent-pairs interval. That one is always
        given too (``ci_low_independent``/``ci_high_independent``): Var(mean) = (1/P^2) * sum_pairs
        Var(p_pair), each pair's variance the Agresti-Coull p~(1-p~)/(n+4), p~ = (k+2)/(n+4), which
        stays positive when a pair's rate is 0 or 1. ``pooled``: hits / kept with its Wilson interval.
        """
        r = self.rate(which)
        valid = ~np.isnan(r)
        p, n = r[valid], self.n_kept[valid]
        hits = {"target": self.hits_target, "ignore": self.hits_ignore}[which][self.pair_mask].sum()
        kept = self.n_kept[self.pair_mask].sum()
        plo, phi = wilson_interval(hits, kept)
        if p.size == 0:
            return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "pairs": 0,
                    "interval": "none (no pair kept)", "ci_low_independent": math.nan,
                    "ci_high_independent": math.nan,
                    "pooled": math.nan, "pooled_ci_low": math.nan, "pooled_ci_high": math.nan}
        mean = float(p.mean())
        k_pair = {"target": self.hits_target, "ignore": self.hits_ignore}[which][valid]
        p_ac = (k_pair + 2) / (n + 4)
        se = float(np.sqrt(np.sum(p_ac * (1 - p_ac) / (n + 4))) / p.size)
        ind_lo, ind_hi = max(0.0, mean - 1.959964 * se), min(1.0, mean + 1.959964 * se)
        lo, hi, how = ind_lo, ind_hi, "independent pairs (normal approximation)"
        if self.kept_rows is not None:
            kr = self.kept_rows
            ci = cluster_interval(Outcomes(kr["cluster"], kr["source"], kr["target"], kr[f"hit_{which}"],
                                           len(self.classes)), n_boot=N_BOOT, seed=0)
            lo, hi = ci.low, ci.high
            how = f"source-clustered bootstrap ({N_BOOT} draws, {len(np.unique(kr['cluster']))} source images)"
        return {
            "mean": mean,
            "ci_low": lo,
            "ci_high": hi,
            "pairs": int(p.size),
            "interval": how,
            "ci_low_independent": ind_lo,
            "ci_high_independent": ind_hi,
            "pooled": float(hits / kept) if kept else math.nan,
            "pooled_ci_low": float(plo),
            "pooled_ci_high": float(phi),
        }

    def to_json(self) -> dict:
        def m(a: np.ndarray) -> list:
            return [[None if (isinstance(v, float) and math.isnan(v)) else v for v in row] for row in a.tolist()]

        out: dict = {"classes": self.classes, "n_pairs_total": m(self.n_pairs_total), "n_kept": m(self.n_kept)}
        for which in ("ignore", "target"):
            lo, hi = self.interval(which)
            out[which] = {
                "hits": m(self.hits_target if which == "target" else self.hits_ignore),
                "rate": m(self.rate(which)),
                "ci_low": m(lo),
                "ci_high": m(hi),
                "source_marginal": _nan_list(self.source_marginal(which)),
                "target_marginal": _nan_list(self.target_marginal(which)),
                "overall": self.overall(which),
            }
        return out


def success_table(
    source: np.ndarray,
    target: np.ndarray,
    kept: np.ndarray,
    adv_pred: np.ndarray,
    classes: list[int] | None = None,
    cluster: np.ndarray | None = None,
) -> SuccessTable:
    """Count per ordered pair from per-example arrays (one row per formed pair of images).

    ``source``/``target``: the pair's classes; ``kept``: passed the clean filter;
    ``adv_pred``: the judge's label of the adversarial reconstruction (ignored where not kept);
    ``cluster``: each row's source image id (gives the overall figures a source-clustered interval).
    """
    source, target = np.asarray(source, int), np.asarray(target, int)
    kept, adv_pred = np.asarray(kept, bool), np.asarray(adv_pred, int)
    if not (source.shape == target.shape == kept.shape == adv_pred.shape):
        raise ValueError("source, target, kept and adv_pred must have the same length")
    classes = sorted(set(source.tolist()) | set(target.tolist())) if classes is None else list(classes)
    pos = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    shape = (k, k)
    n_total, n_kept, h_t, h_i = (np.zeros(shape, dtype=np.int64) for _ in range(4))
    si = np.array([pos[c] for c in source.tolist()], dtype=int)
    ti = np.array([pos[c] for c in target.tolist()], dtype=int)
    np.add.at(n_total, (si, ti), 1)
    np.add.at(n_kept, (si[kept], ti[kept]), 1)
    np.add.at(h_t, (si[kept], ti[kept]), (adv_pred[kept] == target[kept]).astype(np.int64))
    np.add.at(h_i, (si[kept], ti[kept]), (adv_pred[kept] != source[kept]).astype(np.int64))
    rows = None
    if cluster is not None:
        cluster = np.asarray(cluster)
        if cluster.shape != source.shape:
            raise ValueError("cluster must have one source image id per row")
        rows = {"cluster": cluster[kept], "source": si[kept], "target": ti[kept],
                "hit_target": (adv_pred[kept] == target[kept]).astype(np.int64),
                "hit_ignore": (adv_pred[kept] != source[kept]).astype(np.int64)}
    return SuccessTable(classes, n_total, n_kept, h_t, h_i, rows)


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, as intended
        return np.nanmean(a, axis=axis)


def _nan_list(a: np.ndarray) -> list:
    return [None if math.isnan(v) else float(v) for v in a.tolist()]
