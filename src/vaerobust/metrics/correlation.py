"""Does disentanglement go with robustness? Rank correlations across models, with honest intervals (pure functions).

One row per (model, attack): a disentanglement metric ``x`` (higher = more disentangled), a robustness
figure ``y`` and, optionally, confounds ``z`` (reconstruction error, posterior scale). Everything here is
rank-based, so only the order of the models matters, not the scale of a metric.

- **Spearman's rho** is Pearson's correlation of the average ranks (ties share the mean of the ranks
  they span): ``rho = sum (r_i - mean r)(s_i - mean s) / sqrt(sum (r_i - mean r)^2 sum (s_i - mean s)^2)``.
  It is undefined (NaN) with fewer than 3 models or when either variable is constant.
- **Partial Spearman** given controls ``z_1..z_k``: rank every variable, regress the ranks of ``x`` and of
  ``y`` on the ranks of the controls (least squares with an intercept) and correlate the two residuals.
  With one control this is the classical ``(r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))`` on the
  rank correlations. It asks whether ``x`` and ``y`` still move together once what both share with the
  confounds is taken out. Undefined when ``n < k + 3`` or a residual is constant.
- **Interval**: a percentile bootstrap over models -- or, when models come in clusters (seeds of one
  setting are not independent models), over whole clusters drawn with replacement. Each draw recomputes
  the ranks of the resampled sample, so the interval reflects the rank transform too. A draw is one vector
  of multiplicities ``w`` (how often each row was drawn; a cluster's count is given to each of its rows).
  The resampled sample's average rank of row ``i`` is then ``sum_j w_j ([v_j < v_i] + [v_j = v_i] / 2) + 1/2``
  and its correlation is the ``w``-weighted Pearson correlation (weighted least squares for the partial
  one), exactly what expanding the sample would give -- but for all draws at once, as matrix products.
  Draws where rho is undefined are skipped (their number is reported); with fewer than half the draws
  defined there is no interval.
- **p-value** (two-sided, permutation): the share of permutations of ``y``'s ranks (for the partial
  correlation, of ``y``'s residuals, Kennedy's method) whose ``|rho|`` reaches the observed one, as
  ``(1 + hits) / (1 + permutations)``. Rows within a cluster are not exchangeable, so with clusters no
  p-value is given (``None``): the cluster bootstrap interval is the evidence then.
- **Verdict**: the interval decides. For a figure where higher means less robust (an attack success
  rate), an interval above 0 reads "more disentangled, less robust"; for a figure where higher means more
  robust, "more disentangled, more robust"; an interval covering 0, "no evidence either way"; fewer than
  :data:`MIN_MODELS` models, or with clusters fewer than :data:`MIN_MODELS` clusters (a bootstrap over 3
  settings has at most 10 distinct draws: its percentile interval is not a 95% interval), or no
  interval, "not enough models".

:func:`correlation_table` applies all this to a study table: all models (plain and partial), within each
group (e.g. objective) and across the groups' means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "LESS_ROBUST",
    "MIN_MODELS",
    "MORE_ROBUST",
    "NOT_ENOUGH",
    "NO_EVIDENCE",
    "VERDICTS",
    "Correlation",
    "correlation",
    "correlation_table",
    "partial_spearman",
    "rank",
    "sentence",
    "spearman",
    "verdict",
]

LESS_ROBUST = "more disentangled, less robust"
MORE_ROBUST = "more disentangled, more robust"
NO_EVIDENCE = "no evidence either way"
NOT_ENOUGH = "not enough models"
VERDICTS = (LESS_ROBUST, MORE_ROBUST, NO_EVIDENCE, NOT_ENOUGH)

#: Fewer models than this -- or, when the bootstrap resamples clusters, fewer clusters -- give no verdict,
#: whatever the interval says.
MIN_MODELS = 5
#: With fewer than this share of the bootstrap draws defined, there is no interval.
MIN_DEFINED_SHARE = 0.5
#: A (residual) variable whose spread is below this share of its ranks' spread counts as constant.
_REL_TOL = 1e-12
#: Bootstrap draws processed at once are bounded so that one block holds about this many numbers.
_BLOCK = 2_000_000

TABLE_COLUMNS = ("metric", "figure", "scope", "controls", "n", "rho", "low", "high", "p_value", "verdict", "sentence")


@dataclass(frozen=True)
class Correlation:
    """A rank correlation between a metric and a figure across models.

    ``rho``: the point estimate (NaN if undefined); ``low``, ``high``: the percentile bootstrap interval at
    ``level`` (NaN if none); ``n``: models used (rows with every variable finite); ``n_boot_defined``:
    bootstrap draws where rho was defined; ``controls``: the names controlled for (empty: plain Spearman);
    ``p_value``: two-sided permutation p-value, or None where not computed; ``clusters``: the clusters the
    bootstrap resampled (None: it resampled the ``n`` models themselves).
    """

    rho: float
    low: float
    high: float
    n: int
    n_boot_defined: int
    controls: tuple[str, ...] = ()
    p_value: float | None = None
    level: float = 0.95
    clusters: int | None = None

    @property
    def units(self) -> int:
        """What the bootstrap resampled: clusters if any, else models."""
        return self.n if self.clusters is None else self.clusters

    @property
    def defined(self) -> bool:
        return bool(np.isfinite(self.rho))

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))


# ---------------------------------------------------------------------------------------------------------
# ranks and (weighted, batched) Pearson correlations


def rank(x: Any) -> np.ndarray:
    """Average ranks 1..n of a 1-D array (ties get the mean of the ranks they span); values must be finite."""
    return stats.rankdata(np.asarray(x, dtype=float), method="average")


def _wmean(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean over the rows axis: a [B, n] or [B, n, k], w [B, n] -> [B, 1] or [B, 1, k]."""
    if a.ndim == w.ndim:
        return (w * a).sum(-1, keepdims=True) / w.sum(-1, keepdims=True)
    return (w[..., None] * a).sum(-2, keepdims=True) / w.sum(-1)[..., None, None]


def _wpearson(a: np.ndarray, b: np.ndarray, w: np.ndarray, scale_a: np.ndarray, scale_b: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation of each row of a and b [B, n] with weights w [B, n]; NaN where a or b has a
    weighted spread of at most _REL_TOL times its reference (scale_a / scale_b [B], weighted sums of squares)."""
    ca = a - _wmean(a, w)
    cb = b - _wmean(b, w)
    saa = (w * ca * ca).sum(-1)
    sbb = (w * cb * cb).sum(-1)
    sab = (w * ca * cb).sum(-1)
    ok = (saa > _REL_TOL * scale_a) & (sbb > _REL_TOL * scale_b) & (saa > 0) & (sbb > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sab / np.sqrt(saa * sbb)
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


def _spread(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted sum of squares about the weighted mean, per row: [B, n] -> [B]."""
    c = a - _wmean(a, w)
    return (w * c * c).sum(-1)


def _residuals(r: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Residuals of r [B, n] after weighted least squares on z [B, n, k] with an intercept (weighted centring,
    then a pseudo-inverse of the weighted design: constant or collinear controls are harmless)."""
    rc = r - _wmean(r, w)
    zc = z - _wmean(z, w)
    sq = np.sqrt(w)
    pinv = np.linalg.pinv(sq[..., None] * zc, rcond=1e-10)  # [B, k, n]
    beta = pinv @ (sq * rc)[..., None]  # [B, k, 1]
    return rc - (zc @ beta)[..., 0]


def _rho_from_ranks(rx: np.ndarray, ry: np.ndarray, rz: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    """Plain (rz None) or partial Spearman from ranks, batched: rx, ry [B, n], rz [B, n, k], w [B, n] -> [B]."""
    if rz is None or rz.shape[-1] == 0:
        return _wpearson(rx, ry, w, _spread(rx, w), _spread(ry, w))
    ex, ey = _residuals(rx, rz, w), _residuals(ry, rz, w)
    return _wpearson(ex, ey, w, _spread(rx, w), _spread(ry, w))


def _as_columns(controls: Any, n: int) -> np.ndarray:
    """Controls as a float array [n, k] (k = 0 for None)."""
    if controls is None:
        return np.zeros((n, 0))
    z = np.asarray(controls, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.shape[0] != n:
        raise ValueError(f"controls must be an array [n, k] with one row per model (n = {n}); got shape {z.shape}")
    return z


def _vectors(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have one value per model each; got {x.size} and {y.size}")
    return x, y


def spearman(x: Any, y: Any) -> float:
    """Spearman's rho over the finite pairs; NaN with fewer than 3 of them or a constant variable."""
    x, y = _vectors(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    rx, ry = rank(x[keep])[None], rank(y[keep])[None]
    return float(_rho_from_ranks(rx, ry, None, np.ones_like(rx))[0])


def partial_spearman(x: Any, y: Any, controls: Any) -> float:
    """Rank partial correlation of x and y given the controls ([n] or [n, k]) over the rows where all are finite.

    NaN when fewer than k + 3 rows remain or a residual is constant. No controls: plain Spearman.
    """
    x, y = _vectors(x, y)
    z = _as_columns(controls, x.size)
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(z).all(1)
    k = z.shape[1]
    if keep.sum() < k + 3:
        return float("nan")
    rx, ry = rank(x[keep])[None], rank(y[keep])[None]
    rz = np.stack([rank(c) for c in z[keep].T], axis=-1)[None] if k else None
    return float(_rho_from_ranks(rx, ry, rz, np.ones_like(rx))[0])


# ---------------------------------------------------------------------------------------------------------
# bootstrap and permutation


def _below_half(v: np.ndarray) -> np.ndarray:
    """[n, n] with [j, i] = [v_j < v_i] + [v_j = v_i] / 2: w @ it + 1/2 is the average rank of each row in the
    sample that repeats row j w_j times."""
    return (v[:, None] < v[None, :]) + 0.5 * (v[:, None] == v[None, :])


def _cluster_codes(clusters: Any, n: int) -> np.ndarray:
    """Integer codes 0..G-1 of the cluster labels (a missing label is a cluster of its own)."""
    labels = np.asarray(clusters, dtype=object).ravel()
    if labels.size != n:
        raise ValueError(f"clusters must give one label per model (n = {n}); got {labels.size}")
    codes, uniques = pd.factorize(labels)
    missing = codes < 0
    codes[missing] = len(uniques) + np.arange(int(missing.sum()))
    return codes


def _bootstrap(x: np.ndarray, y: np.ndarray, z: np.ndarray, codes: np.ndarray, n_boot: int,
               rng: np.random.Generator) -> np.ndarray:
    """rho of each of n_boot draws of the clusters (codes [n]) with replacement: [n_boot], NaN where undefined."""
    n, k = z.shape
    g = int(codes.max()) + 1
    lx, ly = _below_half(x), _below_half(y)
    lz = np.stack([_below_half(c) for c in z.T]) if k else None  # [k, n, n]
    out = np.empty(n_boot)
    block = max(1, _BLOCK // (n * (k + 2)))
    for start in range(0, n_boot, block):
        m = min(block, n_boot - start)
        counts = rng.multinomial(g, np.full(g, 1.0 / g), size=m)  # [m, g]
        w = counts[:, codes].astype(float)  # [m, n]
        rx, ry = w @ lx + 0.5, w @ ly + 0.5
        rz = np.einsum("bj,kji->bik", w, lz) + 0.5 if k else None
        out[start : start + m] = _rho_from_ranks(rx, ry, rz, w)
    return out


def _permutation_p(x: np.ndarray, y: np.ndarray, z: np.ndarray, rho: float, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided permutation p-value of rho: permute y's ranks (plain) or y's residuals on the controls (partial)."""
    n, k = z.shape
    rx, ry = rank(x)[None], rank(y)[None]
    ones = np.ones((1, n))
    if k:
        rz = np.stack([rank(c) for c in z.T], axis=-1)[None]
        a, b = _residuals(rx, rz, ones), _residuals(ry, rz, ones)
    else:
        a, b = rx, ry
    perms = rng.permuted(np.broadcast_to(b, (n_perm, n)).copy(), axis=1)
    w = np.ones((n_perm, n))
    ref_a, ref_b = np.full(n_perm, _spread(rx, ones)[0]), np.full(n_perm, _spread(ry, ones)[0])
    r = _wpearson(np.broadcast_to(a, (n_perm, n)), perms, w, ref_a, ref_b)
    hits = int(np.sum(np.abs(r) >= abs(rho) - 1e-12))
    return (1 + hits) / (1 + n_perm)


def _control_names(controls: Any, names: Sequence[str] | None, k: int) -> tuple[str, ...]:
    if names is not None:
        if len(names) != k:
            raise ValueError(f"{len(names)} control names for {k} controls")
        return tuple(str(s) for s in names)
    if isinstance(controls, pd.DataFrame):
        return tuple(str(c) for c in controls.columns)
    if isinstance(controls, pd.Series) and controls.name is not None:
        return (str(controls.name),)
    return tuple(f"z{i + 1}" for i in range(k))


def correlation(x: Any, y: Any, controls: Any = None, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                clusters: Any = None, n_perm: int = 2000, control_names: Sequence[str] | None = None) -> Correlation:
    """Spearman's rho of x and y (partial on ``controls`` [n] or [n, k] if given) with a bootstrap interval.

    Rows with any non-finite value are dropped. The bootstrap resamples rows -- or, with ``clusters`` (one
    label per row), whole clusters -- with replacement ``n_boot`` times; undefined draws are skipped. The
    permutation p-value uses ``n_perm`` permutations (0: none); with clusters it is not computed (None).
    Bootstrap and permutations draw from ``numpy.random.default_rng(seed)``, in that order.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    x, y = _vectors(x, y)
    z = _as_columns(controls, x.size)
    names = _control_names(controls, control_names, z.shape[1])
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(z).all(1)
    codes = _cluster_codes(clusters, x.size)[keep] if clusters is not None else None
    x, y, z = x[keep], y[keep], z[keep]
    n = int(x.size)
    rho = partial_spearman(x, y, z) if z.shape[1] else spearman(x, y)
    if not np.isfinite(rho):
        return Correlation(float("nan"), float("nan"), float("nan"), n, 0, names, None, level,
                           None if codes is None else int(pd.unique(codes).size))
    rng = np.random.default_rng(seed)
    low = high = float("nan")
    n_defined = 0
    if n_boot > 0:
        if codes is None:
            codes_used = np.arange(n)
        else:
            codes_used = pd.factorize(codes)[0]  # renumber 0..G-1 after dropping rows
        draws = _bootstrap(x, y, z, codes_used, n_boot, rng)
        defined = draws[np.isfinite(draws)]
        n_defined = int(defined.size)
        if n_defined and n_defined >= MIN_DEFINED_SHARE * n_boot:
            tail = (1.0 - level) / 2.0
            low, high = (float(v) for v in np.quantile(defined, [tail, 1.0 - tail]))
    p = _permutation_p(x, y, z, rho, n_perm, rng) if (n_perm > 0 and clusters is None) else None
    return Correlation(float(rho), low, high, n, n_defined, names, p, level,
                       None if codes is None else int(pd.unique(codes).size))


# ---------------------------------------------------------------------------------------------------------
# words


def verdict(c: Correlation, higher_is_less_robust: bool) -> str:
    """One of :data:`VERDICTS`, read from the interval (the metric: higher = more disentangled)."""
    if min(c.n, c.units) < MIN_MODELS or not c.defined or not c.has_interval:
        return NOT_ENOUGH
    if c.low <= 0.0 <= c.high:
        return NO_EVIDENCE
    positive = c.low > 0.0
    return LESS_ROBUST if positive == higher_is_less_robust else MORE_ROBUST


def _and(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _models(n: int) -> str:
    return f"{n} model" if n == 1 else f"{n} models"


def sentence(metric: str, figure: str, c: Correlation, higher_is_less_robust: bool, scope: str) -> str:
    """A sentence from the numbers, e.g. "Across all 57 models, models with a higher mig.mig have a higher
    as_ignore (Spearman rho = +0.42 [+0.18, +0.61]): more disentangled, less robust."

    ``scope``: "all models", "within <group value>", "across <groups>" (one point per group: the groups'
    mean metric against their mean figure) or any other text.
    """
    words = scope.strip()
    unit, mean = "models", ""
    if words == "all models":
        lead = f"Across all {_models(c.n)}"
    elif words.startswith("within "):
        lead = f"Within {words[len('within '):]} ({_models(c.n)})"
    elif words.startswith("across "):
        unit, mean = words[len("across "):], "mean "
        lead = f"Across {c.n} {unit}"
    else:
        lead = f"{words[:1].upper()}{words[1:]} ({_models(c.n)})"
    if c.controls:
        lead += f", controlling for {_and(c.controls)}"
    v = verdict(c, higher_is_less_robust)
    if not c.defined:
        return f"{lead}, {metric} and {figure} cannot be correlated (too few {unit} or a constant variable): {v}."
    if c.rho > 0:
        trend = f"{unit} with a higher {mean}{metric} have a higher {mean}{figure}"
    elif c.rho < 0:
        trend = f"{unit} with a higher {mean}{metric} have a lower {mean}{figure}"
    else:
        trend = f"the {mean}{figure} of {unit} shows no trend with their {mean}{metric}"
    kind = "partial Spearman" if c.controls else "Spearman"
    interval = f"[{c.low:+.2f}, {c.high:+.2f}]" if c.has_interval else "(no interval)"
    why = (f" (the bootstrap resamples {c.units} clusters of models; a verdict needs at least {MIN_MODELS})"
           if c.n >= MIN_MODELS > c.units else "")
    return f"{lead}, {trend} ({kind} rho = {c.rho:+.2f} {interval}): {v}{why}."


# ---------------------------------------------------------------------------------------------------------
# a study table


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    try:
        return pd.to_numeric(df[column], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {column!r} is not numeric: {exc}") from None


def _check_columns(df: pd.DataFrame, wanted: Sequence[str], role: str) -> None:
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise ValueError(f"{role} column(s) {', '.join(map(repr, missing))} not in the table; "
                         f"columns available: {', '.join(map(str, df.columns))}")


def _row(metric: str, figure: str, scope: str, c: Correlation, less_robust: bool) -> dict[str, Any]:
    return {
        "metric": metric, "figure": figure, "scope": scope, "controls": ", ".join(c.controls), "n": c.n,
        "rho": c.rho, "low": c.low, "high": c.high, "p_value": float("nan") if c.p_value is None else c.p_value,
        "verdict": verdict(c, less_robust), "sentence": sentence(metric, figure, c, less_robust, scope),
    }


def _round(v: np.ndarray, digits: int = 12) -> np.ndarray:
    """``v`` to ``digits`` significant digits (finite values; 0 stays 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(v != 0, np.floor(np.log10(np.abs(v))), 0.0)
    scale = 10.0 ** (digits - 1 - mag)
    return np.where(np.isfinite(v), np.round(v * scale) / scale, v)


def correlation_table(df: pd.DataFrame, metrics: Sequence[str], figures: Sequence[str], controls: Sequence[str] = (),
                      group: str | None = "objective", cluster: str | None = None,
                      higher_is_less_robust: Mapping[str, bool] | None = None, n_boot: int = 2000,
                      seed: int = 0, more_controls: Sequence[str] = (), scope: str = "all models") -> pd.DataFrame:
    """For each (metric, figure): rows for all models (plain, then partial on ``controls`` if any, then
    partial on ``controls`` and ``more_controls`` together if ``more_controls``), within
    each value of ``group`` (plain, that group's rows) and across the groups (Spearman of the groups' mean
    metric against their mean figure; a group whose either mean is undefined is left out).

    ``higher_is_less_robust`` maps a figure to True when a higher value means less robust; figures it does
    not name: True for names starting with "as_" (attack success rates), False otherwise. With ``cluster``
    (a column, e.g. the setting that seeds share) the all-models and within-group bootstraps resample that
    column's clusters. Each correlation drops its own rows with a NaN among the variables it uses and uses
    the same ``seed``. ``scope`` names the rows over every row of ``df`` (e.g. a subset's name in a
    sensitivity check). Columns: see :data:`TABLE_COLUMNS`.
    """
    metrics, figures, controls = list(metrics), list(figures), list(controls)
    wider = [*controls, *more_controls] if more_controls else []
    _check_columns(df, metrics, "metric")
    _check_columns(df, figures, "figure")
    _check_columns(df, wider or controls, "control")
    if group is not None:
        _check_columns(df, [group], "group")
    if cluster is not None:
        _check_columns(df, [cluster], "cluster")
    given = dict(higher_is_less_robust or {})
    clusters = df[cluster].to_numpy(dtype=object) if cluster is not None else None
    # the partial correlations: on ``controls``, then on ``controls`` and ``more_controls`` together
    control_sets = [(names, np.column_stack([_numeric(df, c) for c in names])) for names in (controls, wider) if names]
    labels = df[group] if group is not None else None
    values = sorted(labels.dropna().unique(), key=str) if labels is not None else []
    rows: list[dict[str, Any]] = []
    for metric in metrics:
        x = _numeric(df, metric)
        for figure in figures:
            y = _numeric(df, figure)
            less = bool(given.get(figure, figure.startswith("as_")))
            c = correlation(x, y, n_boot=n_boot, seed=seed, clusters=clusters)
            rows.append(_row(metric, figure, scope, c, less))
            for names, z in control_sets:
                c = correlation(x, y, z, n_boot=n_boot, seed=seed, clusters=clusters, control_names=names)
                rows.append(_row(metric, figure, scope, c, less))
            if labels is None:
                continue
            for value in values:
                inside = (labels == value).to_numpy()
                c = correlation(x[inside], y[inside], n_boot=n_boot, seed=seed,
                                clusters=clusters[inside] if clusters is not None else None)
                rows.append(_row(metric, figure, f"within {value}", c, less))
            means = (pd.DataFrame({"g": labels.to_numpy(), "x": x, "y": y}).dropna(subset=["g"])
                     .groupby("g", sort=True).mean().dropna())
            # means of equal values can differ in the last bits: rounded, equal groups tie in rank
            mx, my = (_round(means[k].to_numpy()) for k in ("x", "y"))
            c = correlation(mx, my, n_boot=n_boot, seed=seed)
            rows.append(_row(metric, figure, f"across {group}s", c, less))
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
