"""Strength sweeps: one attack run over a grid of its strength, turned into robustness curves.

``strength_sweep(vae_dir, judge_dir, out, attack, sweep, key, values)`` runs
:func:`vaerobust.evaluation.attack_sweep` once per grid value of ``key`` (``lam``, ``eps``,
``l2_eps`` or ``steps``) into ``out/points/<key>=<value>/`` (each point resumable and
skipped when complete), then writes to ``out``:

- ``curve.json``: per point the value, AS target and AS ignore-target (mean over pairs with
  its 95% interval, from the judge), the mean input distortion (L2, L-inf), the mean output
  distance ``||recon(x_adv) - x_t||_2`` and the normalised distortion-distortion point; the
  curve's AUDDC (:func:`vaerobust.metrics.curves.auddc`) and the areas under AS-versus-value
  (:func:`vaerobust.metrics.curves.success_curve`);
- ``curve.csv``: the same points as a table; ``figures/``: the DD curve and AS-versus-value.

Normalisation of a point (Gondim-Ribeiro et al. 2018, arXiv 1806.04646): over the attacked
examples of that point, with means taken before the ratios (a ratio per example is unstable
where the target's reconstruction is barely better than the source's)

    x = mean ||x_adv - x_s||_2 / mean ||x_t - x_s||_2
    y = (mean ||recon(x_adv) - x_t|| - mean ||recon(x_t) - x_t||) / (mean ||recon(x_s) - x_t|| - mean ||recon(x_t) - x_t||)

and, in latent space, y_latent = mean ||phi(x_adv) - phi(x_t)|| / mean ||phi(x_s) - phi(x_t)||.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from vaerobust import __version__, io
from vaerobust.config import AttackConfig, ConfigError, DataConfig, SweepConfig, apply_overrides, to_dict
from vaerobust.evaluation import RESULT_COLUMNS, attack_sweep
from vaerobust.metrics.curves import auddc, success_curve
from vaerobust.training import COMPLETE

SWEEP_KEYS = ("lam", "eps", "l2_eps", "steps")
LOG_KEYS = ("lam", "l2_eps")  # swept on log grids by default (they span decades)


def parse_grid(spec: str) -> tuple[str, list[float]]:
    """``KEY=START:STOP:N[:log|:lin]`` or ``KEY=V1,V2,...`` -> (key, sorted values).

    ``lam=1e-3:1e2:13`` is 13 log-spaced values (log is the default for lam and l2_eps, linear
    for eps and steps); ``eps=0:0.3:7`` 7 linear ones; ``eps=0.05,0.1`` the listed values.
    """
    if "=" not in spec:
        raise ValueError(f"sweep {spec!r}: expected KEY=START:STOP:N or KEY=V1,V2,... (e.g. lam=1e-3:1e2:13)")
    key, _, grid = spec.partition("=")
    key = key.strip().removeprefix("attack.")
    if key not in SWEEP_KEYS:
        raise ValueError(f"sweep key {key!r}: expected one of {', '.join(SWEEP_KEYS)}")
    try:
        if ":" in grid:
            parts = grid.split(":")
            spacing = parts.pop() if parts[-1] in ("log", "lin") else ("log" if key in LOG_KEYS else "lin")
            if len(parts) != 3:
                raise ValueError
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
            if n < 1:
                raise ValueError
            if spacing == "log":
                if start <= 0 or stop <= 0:
                    raise ValueError(f"sweep {spec!r}: a log grid needs START and STOP > 0 (add ':lin' for a linear one)")
                values = np.geomspace(start, stop, n)
            else:
                values = np.linspace(start, stop, n)
        else:
            values = np.array([float(v) for v in grid.split(",") if v.strip()])
    except ValueError as e:
        if str(e).startswith("sweep"):
            raise
        raise ValueError(f"sweep {spec!r}: expected KEY=START:STOP:N[:log|:lin] or KEY=V1,V2,... with numbers") from None
    if values.size == 0:
        raise ValueError(f"sweep {spec!r}: the grid is empty")
    vals = sorted({float(f"{v:.6g}") for v in values})  # 6 significant digits: stable folder names
    if key == "steps":
        vals = sorted({float(int(round(v))) for v in vals})
    return key, vals


def point_name(key: str, value: float) -> str:
    return f"{key}={int(value) if key == 'steps' else format(value, 'g')}"


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 and math.isfinite(num) else math.nan


MEAN_COLUMNS = tuple(c for c in RESULT_COLUMNS if c != "adv_pred")  # the per-example distances


def point_from_means(mean: Mapping[str, float | None]) -> dict[str, float]:
    """Mean distortions and the normalised DD point from the per-column means over the attacked
    examples (a sweep's ``summary.json["distances"]``; module docstring)."""
    m = {c: math.nan if mean.get(c) is None else float(mean[c]) for c in MEAN_COLUMNS}  # type: ignore[arg-type]
    return {
        "l2": m["l2"],
        "linf": m["linf"],
        "out_dist": m["out_dist"],
        "latent_dist": m["latent_dist"],
        "dd_x": _ratio(m["l2"], m["src_tgt_dist"]),
        "dd_y": _ratio(m["out_dist"] - m["out_floor"], m["out_dist_clean"] - m["out_floor"]),
        "dd_y_latent": _ratio(m["latent_dist"], m["latent_dist_clean"]),
    }


def curve_point(examples: pd.DataFrame) -> dict[str, float]:
    """:func:`point_from_means` of one sweep's ``examples.csv`` rows (only the attacked ones count)."""
    att = examples[examples.kept.astype(bool)]
    return point_from_means({c: float(att[c].mean()) if c in att and len(att) else None for c in MEAN_COLUMNS})


def summarise_curve(key: str, points: Sequence[dict]) -> dict:
    """Areas of one sweep's points: AUDDC (pixel and latent) and AS-versus-value areas."""
    log_x = key in LOG_KEYS
    x = [p["dd_x"] for p in points]
    out: dict = {
        "auddc": _finite(auddc(x, [p["dd_y"] for p in points])) if any(map(math.isfinite, x)) else None,
        "auddc_latent": _finite(auddc(x, [p["dd_y_latent"] for p in points])) if any(map(math.isfinite, x)) else None,
        "log_x": log_x,
    }
    for which in ("ignore", "target"):
        sc = success_curve([p["value"] for p in points], [p[which]["mean"] for p in points], log_x=log_x)
        out[f"as_{which}_area"] = _finite(sc.area)
        out[f"as_{which}_mean"] = _finite(sc.mean)
    return out


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def strength_sweep(
    vae_dir: str | Path,
    judge_dir: str | Path,
    out: str | Path,
    attack: AttackConfig,
    sweep: SweepConfig,
    key: str,
    values: Sequence[float],
    device: str = "auto",
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
    data: DataConfig | None = None,
) -> Path:
    """Run ``attack`` at every ``values`` of ``key`` and write the curve (module docstring); returns ``out``."""
    out = Path(out)
    if key not in SWEEP_KEYS:
        raise ValueError(f"sweep key {key!r}: expected one of {', '.join(SWEEP_KEYS)}")
    if not values:
        raise ValueError("strength_sweep: no grid values")
    from vaerobust.attacks import ATTACKS

    ATTACKS.get(attack.name)  # an unknown attack fails here, before anything is written
    values = sorted(float(v) for v in values)
    settings = json.loads(json.dumps({"attack": to_dict(attack), "sweep": to_dict(sweep), "key": key, "values": values}))
    saved = out / "curve_settings.json"
    if saved.is_file() and io.read_json(saved) != settings:
        raise ConfigError(f"{out} holds a strength sweep with other settings (attack, grid or pairs); "
                          "use another --out or delete that folder")
    io.write_json(saved, settings)
    points = []
    for i, v in enumerate(values):
        acfg = apply_overrides(attack, {key: int(v) if key == "steps" else v})
        pdir = out / "points" / point_name(key, v)
        if echo:
            echo(f"[{i + 1}/{len(values)}] {attack.name} attack, {point_name(key, v)} -> {pdir}")
        attack_sweep(vae_dir, judge_dir, pdir, acfg, sweep, device=device, progress=progress, data=data)
        summary = io.read_json(pdir / "summary.json")
        res = summary["results"]
        point = {"value": v, "directory": str(pdir.relative_to(out)), "n_attacked": summary["n_attacked"],
                 "seconds": summary.get("seconds"),
                 **point_from_means(summary["distances"])}
        for which in ("ignore", "target"):
            o = res[which]["overall"]
            point[which] = {"mean": o["mean"], "ci_low": o["ci_low"], "ci_high": o["ci_high"]}
        points.append(point)
    curve = {"vae": str(vae_dir), "judge": str(judge_dir), "attack": to_dict(attack), "sweep": to_dict(sweep),
             "key": key, "values": values, "version": __version__, "points": points,
             **summarise_curve(key, points)}
    io.write_json(out / "curve.json", curve)
    flat = [{k: v for k, v in p.items() if not isinstance(v, dict)} |
            {f"as_{w}{s}": p[w][k] for w in ("ignore", "target") for k, s in (("mean", ""), ("ci_low", "_low"), ("ci_high", "_high"))}
            for p in points]
    io.write_text(out / "curve.csv", pd.DataFrame(flat).to_csv(index=False))
    from vaerobust.report.figures import dd_curves_png, success_curves_png

    label = Path(vae_dir).name
    dd_curves_png({label: curve}, out / "figures" / "dd_curve.png", f"{attack.name} attack: distortion-distortion")
    success_curves_png({label: curve}, out / "figures" / "as_curve.png", f"{attack.name} attack: success vs {key}")
    io.write_json(out / COMPLETE, {"version": __version__})
    return out


__all__ = ["parse_grid", "strength_sweep", "curve_point", "point_from_means", "summarise_curve", "SWEEP_KEYS"]
