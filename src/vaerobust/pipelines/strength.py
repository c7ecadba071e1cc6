"""``vaerobust attack --sweep KEY=GRID``: one attack run over a grid of its strength -> robustness curves.

Recipe (:func:`strength_sweep`): refuse a folder made with another attack, grid or pairs;
run :func:`~vaerobust.pipelines.attack.attack_sweep` once per grid value of ``key``
(``lam``, ``eps``, ``l2_eps`` or ``steps``) into ``out/points/<key>=<value>/`` (each point
resumable and skipped when complete); then write

- ``curve.json`` (:class:`~vaerobust.rundir.CurveRecord`): per point the value, AS target and
  AS ignore-target (mean over pairs with its 95% interval), the mean distortions and the
  normalised distortion-distortion point (:func:`~vaerobust.metrics.auddc.point_from_means`);
  the curve's AUDDC and the areas under AS-versus-value
  (:func:`~vaerobust.metrics.auddc.summarise_curve`);
- ``curve.csv``: the same points as a table; ``figures/``: the DD curve and AS-versus-value;
- ``complete.json``, last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vaerobust import __version__, files
from vaerobust.attacks import ATTACKS
from vaerobust.config import AttackConfig, DataConfig, SweepConfig, apply_overrides, to_dict
from vaerobust.errors import ConfigError
from vaerobust.metrics.auddc import LOG_KEYS, SWEEP_KEYS, point_from_means, summarise_curve
from vaerobust.pipelines.attack import attack_sweep, check_sweep_fits_data, resolve_attack, sweep_classes
from vaerobust.rundir import (
    CurveRecord,
    already_done,
    claim,
    mark_complete,
    read_curve,
    read_run_config,
    read_summary,
)

MAX_GRID = 200  # grid values of one strength sweep (each one is a whole attack sweep)


def parse_grid(spec: str) -> tuple[str, list[float]]:
    """``KEY=START:STOP:N[:log|:lin]`` or ``KEY=V1,V2,...`` -> (key, sorted values).

    ``lam=1e-3:1e2:13`` is 13 log-spaced values (log is the default for lam and l2_eps, linear
    for eps and steps); ``eps=0:0.3:7`` 7 linear ones; ``eps=0.05,0.1`` the listed values.
    """
    if "=" not in spec:
        raise ConfigError(f"sweep {spec!r}: expected KEY=START:STOP:N or KEY=V1,V2,... (e.g. lam=1e-3:1e2:13)")
    key, _, grid = spec.partition("=")
    key = key.strip().removeprefix("attack.")
    if key not in SWEEP_KEYS:
        raise ConfigError(f"sweep key {key!r}: expected one of {', '.join(SWEEP_KEYS)}")
    try:
        if ":" in grid:
            parts = grid.split(":")
            spacing = parts.pop() if parts[-1] in ("log", "lin") else ("log" if key in LOG_KEYS else "lin")
            if len(parts) != 3:
                raise ValueError
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
            if n < 1:
                raise ValueError
            if n > MAX_GRID:
                raise ConfigError(f"sweep {spec!r}: {n} values; expected at most {MAX_GRID} (each value is a whole sweep)")
            if spacing == "log":
                if start <= 0 or stop <= 0:
                    raise ConfigError(f"sweep {spec!r}: a log grid needs START and STOP > 0 (add ':lin' for a linear one)")
                values = np.geomspace(start, stop, n)
            else:
                values = np.linspace(start, stop, n)
        else:
            values = np.array([float(v) for v in grid.split(",") if v.strip()])
            if key == "steps" and not all(float(v).is_integer() for v in values):
                raise ConfigError(f"sweep {spec!r}: attack.steps values must be whole numbers")
            if values.size > MAX_GRID:
                raise ConfigError(f"sweep {spec!r}: {values.size} values; expected at most {MAX_GRID}")
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(f"sweep {spec!r}: expected KEY=START:STOP:N[:log|:lin] or KEY=V1,V2,... with numbers") from None
    if values.size == 0:
        raise ConfigError(f"sweep {spec!r}: the grid is empty")
    if not np.isfinite(values).all():
        raise ConfigError(f"sweep {spec!r}: the grid has non-finite values")
    vals = sorted({float(f"{v:.6g}") for v in values})  # 6 significant digits: stable folder names
    if key == "steps":
        vals = sorted({float(int(round(v))) for v in vals})
    return key, vals


def point_name(key: str, value: float) -> str:
    return f"{key}={int(value) if key == 'steps' else format(value, 'g')}"


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
        raise ConfigError(f"sweep key {key!r}: expected one of {', '.join(SWEEP_KEYS)}")
    if not values:
        raise ConfigError("strength_sweep: no grid values")
    ATTACKS.get(attack.name)  # an unknown attack fails here, before anything is written
    data = data or read_run_config(vae_dir).data
    check_sweep_fits_data(data, sweep)
    sweep = sweep.resolved(sweep_classes(data, sweep))  # a factor's values, an attribute's two, or the classes
    values = sorted(float(v) for v in values)
    points_cfg = [apply_overrides(attack, {key: int(v) if key == "steps" else v}) for v in values]  # range checks
    for acfg in points_cfg:
        acfg.check_sweepable()
    settings = {"attack": attack, "sweep": sweep, "key": key, "values": values}
    if already_done(out, out / "curve_settings.json", settings, "strength sweep"):
        return out
    with claim(out, out / "curve_settings.json", settings, "strength sweep") as todo:
        if todo:
            _strength(vae_dir, judge_dir, out, attack, sweep, key, values, points_cfg, device, progress, echo, data)
    return out


def _strength(vae_dir: str | Path, judge_dir: str | Path, out: Path, attack: AttackConfig, sweep: SweepConfig, key: str,
              values: list[float], points_cfg: list[AttackConfig], device: str, progress: bool,
              echo: Callable[[str], None] | None, data: DataConfig | None) -> None:
    files.write_json(out / "curve_settings.json", {"attack": to_dict(attack), "sweep": to_dict(sweep), "key": key,
                                                   "values": values})
    points = []
    for i, (v, acfg) in enumerate(zip(values, points_cfg)):
        pdir = out / "points" / point_name(key, v)
        if echo:
            echo(f"[{i + 1}/{len(values)}] {attack.name} attack, {point_name(key, v)} -> {pdir}")
        attack_sweep(vae_dir, judge_dir, pdir, acfg, sweep, device=device, progress=progress, data=data)
        summary = read_summary(pdir)
        point = {"value": v, "directory": str(pdir.relative_to(out)), "n_attacked": summary.n_attacked,
                 "seconds": summary.seconds, **point_from_means(summary.distances)}
        for which in ("ignore", "target"):
            o = summary.overall(which)
            point[which] = {"mean": o["mean"], "ci_low": o["ci_low"], "ci_high": o["ci_high"]}
        points.append(point)
    curve = CurveRecord(vae=str(vae_dir), judge=str(judge_dir), attack=to_dict(attack), sweep=to_dict(sweep),
                        key=key, values=values, version=__version__, points=points,
                        **summarise_curve(key, points))
    files.write_json(out / "curve.json", curve.to_json())
    flat = [{k: v for k, v in p.items() if not isinstance(v, dict)} |
            {f"as_{w}{s}": p[w][k] for w in ("ignore", "target")
             for k, s in (("mean", ""), ("ci_low", "_low"), ("ci_high", "_high"))}
            for p in points]
    files.write_text(out / "curve.csv", pd.DataFrame(flat).to_csv(index=False))
    from vaerobust.report.figures import dd_curves_png, success_curves_png

    label = Path(vae_dir).name
    record = curve.to_json()
    dd_curves_png({label: record}, out / "figures" / "dd_curve.png", f"{attack.name} attack: distortion-distortion")
    success_curves_png({label: record}, out / "figures" / "as_curve.png", f"{attack.name} attack: success vs {key}")
    mark_complete(out)


def run(vae_dir: Path, judge_dir: Path, spec: str, out: Path | None = None, preset: str = "sootla2018",
        pairs: str | None = None, per_pair: int | None = None, attack_name: str | None = None,
        overrides: Sequence[str] = (), device: str = "auto", progress: bool = True,
        echo: Callable[[str], None] | None = None) -> tuple[Path, CurveRecord]:
    """The ``vaerobust attack --sweep`` command: returns the folder and its curve."""
    acfg, sweep = resolve_attack(preset, pairs, per_pair, attack_name, overrides)
    key, values = parse_grid(spec)
    out = out or Path(vae_dir) / "attacks" / f"{acfg.name}-{key}-sweep"
    strength_sweep(vae_dir, judge_dir, out, acfg, sweep, key, values, device=device, progress=progress, echo=echo)
    return out, read_curve(out)


__all__ = ["parse_grid", "point_name", "run", "strength_sweep"]
