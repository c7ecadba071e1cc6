"""Robustness curves: one attack swept over its strength, summarised by areas (pure functions).

One attack at one strength is one point; the papers on attacks against VAEs compare whole
curves (Gondim-Ribeiro et al. 2018, arXiv 1806.04646; Kuzina et al. 2021, arXiv 2103.06701).

**Distortion-distortion curve** (Gondim-Ribeiro et al. 2018, Sec. 4). A penalised attack

    min_{x_adv}  lam * ||x_adv - x_s||_2 + Delta(x_adv, x_t)

run for a grid of ``lam`` gives one point per value: the input distortion
d_in = ||x_adv - x_s||_2 (x-axis) and the output distance d_out (y-axis; the paper's is
||recon(x_adv) - x_t||_2). Both axes are normalised as in the authors' code
(``normalize_results.py`` of github.com/gondimribeiro/adv-attacks-vae):

    x = d_in / ||x_t - x_s||_2                                   (0: no change; 1: as far as the target is)
    y = (d_out - d_floor) / (d_clean - d_floor)                  (1: no attack; 0: as close as it can be)

where d_clean is the no-attack output distance (the paper: ||recon(x_s) - x_t||) and d_floor
the best reachable one (the paper: ||recon(x_t) - x_t||, the target's own reconstruction
error; 0 for a latent distance, as phi(x_t) matches itself exactly). The curve starts at the
no-attack baseline (0, 1), is sorted by x and integrated by the trapezoid rule over the
fixed range 0 <= x <= 1 (``x_max``); past the last point the curve is held at the lowest
y it reached, as the authors' ``metrics_auc`` does. **AUDDC** is that area: 1 for a model that
no attack moves, near 0 for one whose output reaches the target for free; lower = less robust.
Two deliberate differences from the authors' code, both documented at :func:`auddc`: the
baseline point is always included (their curve starts at its first measured point), and a
point beyond ``x_max`` is not dropped but the curve is cut at ``x_max`` by linear interpolation.

**Attack success versus strength** (Kuzina et al. 2021 plot their measures against the attack
radius eps): the AS rate at each grid value, and the area under it over the grid
(:func:`success_curve`, trapezoid; over log10(value) for ``lam``, whose grids are log-spaced),
with its mean height = area / width, which compares grids of different widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoid-rule area sum_i (x_{i+1} - x_i) * (y_i + y_{i+1}) / 2 (0 for fewer than two points)."""
    if x.size < 2:
        return 0.0
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def _finite_pairs(a: ArrayLike, b: ArrayLike, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} has {a.size} values and {names[1]} {b.size}: expected one per point")
    keep = np.isfinite(a) & np.isfinite(b)  # a point with no measurement (no attacked source) is left out
    return a[keep], b[keep]


def dd_curve(
    input_distortion: ArrayLike,
    output_distance: ArrayLike,
    input_scale: float = 1.0,
    output_baseline: float = 1.0,
    output_floor: float = 0.0,
    include_baseline: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The normalised distortion-distortion curve (x, y), sorted by x, as :func:`auddc` integrates it.

    x = input_distortion / input_scale; y = (output_distance - output_floor) / (output_baseline - output_floor).
    With ``include_baseline`` the no-attack point (0, 1) comes first. Ties in x are ordered by
    decreasing y, so a vertical drop is drawn downwards. Non-finite points are left out.
    Shapes: [P] and [P] -> [P (+1)] and [P (+1)].
    """
    if not input_scale > 0:
        raise ValueError(f"input_scale = {input_scale!r}: expected a number > 0 (e.g. ||x_t - x_s||_2)")
    if not output_baseline > output_floor:
        raise ValueError(f"output_baseline = {output_baseline!r}, output_floor = {output_floor!r}: "
                         "expected baseline > floor (the no-attack distance above the best reachable one)")
    d_in, d_out = _finite_pairs(input_distortion, output_distance, ("input_distortion", "output_distance"))
    x = d_in / input_scale
    y = (d_out - output_floor) / (output_baseline - output_floor)
    if np.any(x < 0):
        raise ValueError(f"input_distortion has negative values ({float(x.min()):g} after scaling): expected norms >= 0")
    if include_baseline:
        x, y = np.concatenate([[0.0], x]), np.concatenate([[1.0], y])
    order = np.lexsort((-y, x))  # by x, then by decreasing y
    return x[order], y[order]


def auddc(
    input_distortion: ArrayLike,
    output_distance: ArrayLike,
    input_scale: float = 1.0,
    output_baseline: float = 1.0,
    output_floor: float = 0.0,
    x_max: float | None = 1.0,
    include_baseline: bool = True,
) -> float:
    """Area under the distortion-distortion curve (Gondim-Ribeiro et al. 2018, arXiv 1806.04646).

    Points (d_in_p, d_out_p), one per attack strength p (e.g. a lambda grid), are normalised
    (:func:`dd_curve`): x = d_in / ``input_scale`` (the paper: ||x_t - x_s||_2), y =
    (d_out - ``output_floor``) / (``output_baseline`` - ``output_floor``) (the paper: baseline
    ||recon(x_s) - x_t||, floor ||recon(x_t) - x_t||). Already-normalised inputs go in with the
    defaults (scale 1, baseline 1, floor 0). The curve starts at the no-attack point (0, 1)
    (``include_baseline``), is sorted by x and integrated by the trapezoid rule:

        AUDDC = sum_i (x_{i+1} - x_i) (y_i + y_{i+1}) / 2   over 0 <= x <= x_max.

    With ``x_max`` (default 1: as far from the source as the target is) the range is fixed:
    the curve is cut at x_max (linear interpolation between the points either side), and if
    it ends before x_max it is extended there at the lowest y it reached (as in the authors'
    code: the attacker can always spend the distortion that reached that y). ``x_max=None``
    integrates over the observed range only. Lower = the output moves towards the target for
    less input distortion = less robust; a model no attack moves scores x_max.

    Examples: the line (0, 1) -> (1, 0) gives 0.5; a single point (1, 0.5) gives the baseline-to-
    point trapezoid 0.75; a single point (0.5, 0.5) gives 0.375 over the observed range and
    0.375 + 0.5 * 0.5 = 0.625 held out to x_max = 1. No finite point and no baseline -> NaN.
    """
    x, y = dd_curve(input_distortion, output_distance, input_scale, output_baseline, output_floor, include_baseline)
    if x.size == 0:
        return math.nan
    if x_max is None:
        return _trapezoid(y, x)
    if not x_max > 0:
        raise ValueError(f"x_max = {x_max!r}: expected a number > 0 or None (the observed range)")
    inside = x <= x_max
    xs, ys = x[inside], y[inside]
    if (~inside).any():  # cut at x_max between the last point inside and the first beyond
        j = int(np.argmax(~inside))
        if j == 0:  # without a baseline every point may lie beyond: nothing to integrate from
            return math.nan
        x0, y0, x1, y1 = x[j - 1], y[j - 1], x[j], y[j]
        y_cut = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        xs, ys = np.append(xs, x_max), np.append(ys, y_cut)
    elif xs[-1] < x_max:  # held at the lowest level reached, out to x_max
        low = float(ys.min())
        xs, ys = np.append(xs, [xs[-1], x_max]), np.append(ys, [low, low])
    return _trapezoid(ys, xs)


@dataclass(frozen=True)
class SuccessCurve:
    """Attack success versus strength: sorted grid values [P], rates [P], area and mean height."""

    values: np.ndarray
    rates: np.ndarray
    area: float  # trapezoid area under rate(value) (over log10(value) when log_x)
    mean: float  # area / width of the grid: the average rate over the grid (the rate itself for P = 1)
    log_x: bool


def success_curve(values: ArrayLike, as_rates: ArrayLike, log_x: bool = False) -> SuccessCurve:
    """The attack-success-versus-strength curve and the area under it over the grid.

    ``values`` [P]: the strengths (eps, or lambda); ``as_rates`` [P]: the AS rate at each, in
    [0, 1]. Points are sorted by value; points with a non-finite rate are left out. Area:

        A = sum_i (u_{i+1} - u_i) (r_i + r_{i+1}) / 2,   u = log10(value) if ``log_x`` else value,

    log-space for lambda grids (log-spaced, spanning decades; then every value must be > 0).
    ``mean`` = A / (u_max - u_min), the average rate over the grid, comparable across grids
    of different widths (the single rate when the grid has one point; NaN with none).
    For lambda, success falls as lambda grows (the distortion penalty wins); for eps it rises.
    """
    v, r = _finite_pairs(values, as_rates, ("values", "as_rates"))
    if log_x and np.any(v <= 0):
        raise ValueError(f"values {v[v <= 0].tolist()}: a log-space curve needs every value > 0")
    order = np.argsort(v, kind="stable")
    v, r = v[order], r[order]
    u = np.log10(v) if log_x else v
    area = _trapezoid(r, u)
    width = float(u[-1] - u[0]) if u.size else 0.0
    if u.size == 0:
        mean = math.nan
    elif width > 0:
        mean = area / width
    else:
        mean = float(r.mean())
    return SuccessCurve(values=v, rates=r, area=area, mean=mean, log_x=log_x)


# --------------------------------------------------------------------------- one sweep's points

#: Per attacked example, the distances a sweep records (``examples.csv``) and whose means make a
#: curve point: ||x_adv - x_s||_2 and _inf; the latent feature distance to the target after
#: and before the attack; the output distance ||recon(x_adv) - x_t||_2, its no-attack value
#: ||recon(x_s) - x_t||_2 and its floor ||recon(x_t) - x_t||_2; and ||x_t - x_s||_2.
DISTANCE_COLUMNS = ("l2", "linf", "latent_dist", "latent_dist_clean", "out_dist", "out_dist_clean", "out_floor",
                    "src_tgt_dist")

#: Attack settings a strength sweep can run over, and those swept on log grids by default.
SWEEP_KEYS = ("lam", "eps", "l2_eps", "steps")
LOG_KEYS = ("lam", "l2_eps")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 and math.isfinite(num) else math.nan


def _num(v: object) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def point_from_means(mean: dict) -> dict[str, float]:
    """Mean distortions and the normalised DD point from the per-column means over the attacked
    examples of one strength (``summary.json["distances"]``).

    Means are taken before the ratios (a ratio per example is unstable where the target's
    reconstruction is barely better than the source's)::

        x = mean ||x_adv - x_s|| / mean ||x_t - x_s||
        y = (mean ||recon(x_adv) - x_t|| - mean floor) / (mean ||recon(x_s) - x_t|| - mean floor)
        y_latent = mean ||phi(x_adv) - phi(x_t)|| / mean ||phi(x_s) - phi(x_t)||
    """
    m = {c: _num(mean.get(c)) for c in DISTANCE_COLUMNS}
    return {
        "l2": m["l2"],
        "linf": m["linf"],
        "out_dist": m["out_dist"],
        "latent_dist": m["latent_dist"],
        "dd_x": _ratio(m["l2"], m["src_tgt_dist"]),
        "dd_y": _ratio(m["out_dist"] - m["out_floor"], m["out_dist_clean"] - m["out_floor"]),
        "dd_y_latent": _ratio(m["latent_dist"], m["latent_dist_clean"]),
    }


def _finite_or_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def summarise_curve(key: str, points: list[dict]) -> dict:
    """Areas of one sweep's points: AUDDC (pixel and latent) and AS-versus-value areas.

    Each point holds ``value``, ``dd_x``, ``dd_y``, ``dd_y_latent`` and ``ignore`` / ``target``
    ``{"mean": ...}``; a missing (None) number counts as not measured. The AS areas are over
    log10(value) for the keys swept on log grids (``LOG_KEYS``) when every value is > 0, else
    over the value itself (a linear grid that starts at 0).
    """
    log_x = key in LOG_KEYS and all(p["value"] > 0 for p in points)
    x = [_num(p.get("dd_x")) for p in points]
    any_x = any(map(math.isfinite, x))
    out: dict = {
        "auddc": _finite_or_none(auddc(x, [_num(p.get("dd_y")) for p in points])) if any_x else None,
        "auddc_latent": _finite_or_none(auddc(x, [_num(p.get("dd_y_latent")) for p in points])) if any_x else None,
        "log_x": log_x,
    }
    for which in ("ignore", "target"):
        sc = success_curve([p["value"] for p in points], [_num(p[which]["mean"]) for p in points], log_x=log_x)
        out[f"as_{which}_area"] = _finite_or_none(sc.area)
        out[f"as_{which}_mean"] = _finite_or_none(sc.mean)
    return out


__all__ = ["DISTANCE_COLUMNS", "LOG_KEYS", "SWEEP_KEYS", "SuccessCurve", "auddc", "dd_curve", "point_from_means",
           "success_curve", "summarise_curve"]
