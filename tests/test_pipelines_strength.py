"""Robustness curves: AUDDC and AS-area known values, grid parsing, the strength sweep's files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_pipelines_attack import CLASSES, _install_fakes
from vaerobust import files
from vaerobust.config import AttackConfig, ConfigError, DataConfig, SweepConfig
from vaerobust.metrics.auddc import DISTANCE_COLUMNS, auddc, dd_curve, point_from_means, success_curve, summarise_curve
from vaerobust.pipelines.strength import parse_grid, strength_sweep
from vaerobust.registry import UnknownNameError

# --------------------------------------------------------------------------- AUDDC


def test_auddc_of_the_diagonal_is_one_half() -> None:
    assert auddc([1.0], [0.0]) == pytest.approx(0.5)
    assert auddc([0.25, 0.5, 0.75, 1.0], [0.75, 0.5, 0.25, 0.0]) == pytest.approx(0.5)


def test_auddc_single_points_known_values() -> None:
    assert auddc([1.0], [0.5]) == pytest.approx(0.75)  # trapezoid (0, 1) -> (1, 0.5)
    assert auddc([0.5], [0.5], x_max=None) == pytest.approx(0.375)  # observed range only
    assert auddc([0.5], [0.5]) == pytest.approx(0.375 + 0.5 * 0.5)  # held at 0.5 out to x = 1


def test_auddc_cuts_a_point_beyond_x_max_by_interpolation() -> None:
    # (0, 1) -> (2, 0): at x = 1 the line is at 0.5; area over [0, 1] = 0.75
    assert auddc([2.0], [0.0]) == pytest.approx(0.75)


def test_auddc_normalises_with_scale_baseline_and_floor() -> None:
    # raw: d_in = 3 of a scale 3 -> x = 1; d_out = 2 between floor 2 and baseline 6 -> y = 0
    assert auddc([3.0], [2.0], input_scale=3.0, output_baseline=6.0, output_floor=2.0) == pytest.approx(0.5)


def test_auddc_of_an_unmoved_model_is_x_max_and_order_does_not_matter() -> None:
    assert auddc([0.2, 0.9, 0.5], [1.0, 1.0, 1.0]) == pytest.approx(1.0)
    a = auddc([0.2, 0.6, 1.0], [0.9, 0.4, 0.1])
    b = auddc([1.0, 0.2, 0.6], [0.1, 0.9, 0.4])
    assert a == b
    # hand trapezoids: (0,1)-(.2,.9): .19; (.2,.9)-(.6,.4): .26; (.6,.4)-(1,.1): .1
    assert a == pytest.approx(0.19 + 0.26 + 0.10)


def test_dd_curve_rejects_bad_scales() -> None:
    with pytest.raises(ValueError, match="input_scale"):
        dd_curve([1.0], [1.0], input_scale=0.0)
    with pytest.raises(ValueError, match="baseline > floor"):
        dd_curve([1.0], [1.0], output_baseline=1.0, output_floor=1.0)


def test_success_curve_area_in_log_space() -> None:
    sc = success_curve([100.0, 1.0, 10.0], [0.0, 1.0, 0.5], log_x=True)
    np.testing.assert_array_equal(sc.values, [1.0, 10.0, 100.0])
    assert sc.area == pytest.approx(0.75 + 0.25)  # two decades, trapezoids (1 + .5)/2 and (.5 + 0)/2
    assert sc.mean == pytest.approx(0.5)
    lin = success_curve([0.0, 0.1, 0.3], [0.0, 0.5, 0.5])
    assert lin.area == pytest.approx(0.025 + 0.1) and lin.mean == pytest.approx(0.125 / 0.3)
    with pytest.raises(ValueError, match="> 0"):
        success_curve([0.0, 1.0], [0.1, 0.2], log_x=True)


# --------------------------------------------------------------------------- grids


def test_parse_grid_log_and_linear() -> None:
    key, v = parse_grid("lam=1e-3:1e2:13")
    assert key == "lam" and len(v) == 13
    assert v[0] == pytest.approx(1e-3) and v[-1] == pytest.approx(100.0)
    np.testing.assert_allclose(np.diff(np.log10(v)), 5 / 12, rtol=1e-5)  # geometric
    assert parse_grid("eps=0:0.3:4") == ("eps", [0.0, 0.1, 0.2, 0.3])
    assert parse_grid("eps=0.2,0.05,0.1") == ("eps", [0.05, 0.1, 0.2])
    assert parse_grid("lam=0.5:2:2:lin") == ("lam", [0.5, 2.0])
    assert parse_grid("steps=10:30:3") == ("steps", [10.0, 20.0, 30.0])


@pytest.mark.parametrize("spec, match", [
    ("lam", "KEY=START:STOP:N"),
    ("beta=1:2:3", "sweep key 'beta'"),
    ("lam=0:1:5", "log grid needs START and STOP > 0"),
    ("eps=a:b:3", "with numbers"),
    ("eps=0:1", "with numbers"),
    ("eps=", "empty"),
])
def test_parse_grid_errors(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_grid(spec)


# --------------------------------------------------------------------------- points


def curve_point(examples: pd.DataFrame) -> dict:
    """The DD point of one sweep's ``examples.csv``: means over its attacked rows, then the ratios."""
    att = examples[examples.kept.astype(bool)]
    return point_from_means({c: float(att[c].mean()) for c in DISTANCE_COLUMNS})


def test_curve_point_uses_means_before_ratios() -> None:
    df = pd.DataFrame({
        "kept": [True, True, False],
        "l2": [1.0, 3.0, 99.0], "linf": [0.1, 0.3, 9.0],
        "latent_dist": [1.0, 1.0, 9.0], "latent_dist_clean": [4.0, 4.0, 9.0],
        "out_dist": [3.0, 5.0, 9.0], "out_dist_clean": [6.0, 8.0, 9.0], "out_floor": [1.0, 1.0, 9.0],
        "src_tgt_dist": [4.0, 4.0, 9.0],
    })
    p = curve_point(df)
    assert p["l2"] == 2.0 and p["linf"] == pytest.approx(0.2)
    assert p["dd_x"] == pytest.approx(2.0 / 4.0)
    assert p["dd_y"] == pytest.approx((4.0 - 1.0) / (7.0 - 1.0))
    assert p["dd_y_latent"] == pytest.approx(0.25)


def test_summarise_curve_areas() -> None:
    pts = [
        {"value": 0.1, "dd_x": 1.0, "dd_y": 0.0, "dd_y_latent": 0.5,
         "ignore": {"mean": 1.0}, "target": {"mean": 0.5}},
        {"value": 10.0, "dd_x": 0.5, "dd_y": 0.5, "dd_y_latent": 0.75,
         "ignore": {"mean": 0.0}, "target": {"mean": 0.0}},
    ]
    s = summarise_curve("lam", pts)
    assert s["log_x"] is True
    assert s["auddc"] == pytest.approx(auddc([1.0, 0.5], [0.0, 0.5]))
    assert s["auddc"] == pytest.approx(0.375 + 0.125)  # (0,1)-(.5,.5)-(1,0)
    assert s["as_ignore_area"] == pytest.approx(1.0) and s["as_ignore_mean"] == pytest.approx(0.5)
    assert s["as_target_area"] == pytest.approx(0.5)


# --------------------------------------------------------------------------- the sweep


def test_strength_sweep_writes_one_sweep_per_value_and_the_curve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vaerobust.pipelines.attack as evaluation

    _install_fakes(monkeypatch)
    out = tmp_path / "curve"
    sweep = SweepConfig(classes=CLASSES, per_pair=2, seed=0, batch_size=64)
    strength_sweep("fake-vae", "fake-judge", out, AttackConfig(steps=3), sweep, "lam", [1.0, 0.1],
                   device="cpu", progress=False, data=DataConfig(name="synthetic"))
    curve = files.read_json(out / "curve.json")
    assert curve["key"] == "lam" and curve["values"] == [0.1, 1.0]
    for p, v in zip(curve["points"], (0.1, 1.0)):
        pdir = out / p["directory"]
        assert pdir.name == f"lam={v:g}"
        summary = files.read_json(pdir / "summary.json")
        assert summary["attack"]["lam"] == v
        assert p["ignore"]["mean"] == summary["results"]["ignore"]["overall"]["mean"]
        ex = pd.read_csv(pdir / "examples.csv")
        assert p["dd_x"] == pytest.approx(curve_point(ex)["dd_x"])
        # the fake attack returns the marked target for even sources: the output distance is the marker
        att = ex[ex.kept & (ex.source % 2 == 0)]
        np.testing.assert_allclose(att.out_dist, 1.0, atol=1e-6)
        np.testing.assert_allclose(att.out_floor, 0.0, atol=1e-6)  # the identity VAE reconstructs exactly
    assert curve["auddc"] == pytest.approx(auddc([p["dd_x"] for p in curve["points"]],
                                                 [p["dd_y"] for p in curve["points"]]))
    for f in ("curve.csv", "figures/dd_curve.png", "figures/as_curve.png", "complete.json"):
        assert (out / f).is_file(), f
    assert len(pd.read_csv(out / "curve.csv")) == 2
    # the same grid again reuses every point; another grid in the same folder is refused
    monkeypatch.setattr(evaluation, "build_attack", lambda *a, **k: pytest.fail("a finished point was attacked again"))
    strength_sweep("fake-vae", "fake-judge", out, AttackConfig(steps=3), sweep, "lam", [0.1, 1.0],
                   device="cpu", progress=False, data=DataConfig(name="synthetic"))
    with pytest.raises(ConfigError, match="other settings"):
        strength_sweep("fake-vae", "fake-judge", out, AttackConfig(steps=3), sweep, "lam", [0.1, 1.0, 10.0],
                       device="cpu", progress=False, data=DataConfig(name="synthetic"))
    assert json.loads((out / "curve.json").read_text())["values"] == [0.1, 1.0]  # nothing overwritten


def test_strength_sweep_unknown_attack_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown attack 'nope'"):
        strength_sweep("vae", "judge", tmp_path / "c", AttackConfig(name="nope"), SweepConfig(), "eps", [0.1])
    assert not (tmp_path / "c").exists()
