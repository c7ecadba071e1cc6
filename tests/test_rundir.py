"""The run-folder contract (rundir.py): the one settings guard, the one config reader, typed records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vaerobust import files, rundir
from vaerobust.config import AttackConfig, DataConfig, RunConfig, SweepConfig, objective_config, to_dict
from vaerobust.errors import ConfigError, RunDirError


def test_the_guard_names_the_differing_keys_and_writes_nothing(tmp_path: Path) -> None:
    cfg = RunConfig(objective=objective_config("jointvae"))
    rundir.write_config(tmp_path, cfg, "vae")
    before = (tmp_path / "config.yaml").read_bytes()
    rundir.ensure_same_settings(tmp_path / "config.yaml", cfg, "VAE run")  # the same settings pass
    other = RunConfig(objective=objective_config("jointvae", gamma=3.0))
    with pytest.raises(ConfigError, match=r"holds a VAE run made with other settings \(objective.gamma\)"):
        rundir.ensure_same_settings(tmp_path / "config.yaml", other, "VAE run")
    assert (tmp_path / "config.yaml").read_bytes() == before


def test_the_guard_fills_settings_added_since_a_folder_was_written(tmp_path: Path) -> None:
    """An old sweep folder lacks a newer AttackConfig field: it still compares equal (at the default)."""
    saved = {"attack": {k: v for k, v in to_dict(AttackConfig()).items() if k != "channels_last"},
             "sweep": to_dict(SweepConfig()), "key": "lam", "values": [0.1, 1.0]}
    files.write_json(tmp_path / "curve_settings.json", saved)
    rundir.ensure_same_settings(tmp_path / "curve_settings.json",
                                {"attack": AttackConfig(), "sweep": SweepConfig(), "key": "lam", "values": [0.1, 1.0]},
                                "strength sweep")
    with pytest.raises(ConfigError, match=r"other settings \(values\)"):
        rundir.ensure_same_settings(tmp_path / "curve_settings.json",
                                    {"attack": AttackConfig(), "sweep": SweepConfig(), "key": "lam", "values": [1.0]},
                                    "strength sweep")


def test_a_summary_holding_more_than_the_settings_is_compared_on_them(tmp_path: Path) -> None:
    files.write_json(tmp_path / "summary.json", {"attack": to_dict(AttackConfig()), "sweep": to_dict(SweepConfig()),
                                                 "data": to_dict(DataConfig()), "results": {"anything": 1}})
    rundir.ensure_same_settings(tmp_path / "summary.json",
                                {"attack": AttackConfig(), "sweep": SweepConfig(), "data": DataConfig()}, "sweep")


def test_the_config_reader_drops_meta_upgrades_and_errs_in_one_line(tmp_path: Path) -> None:
    flat = {"name": "jointvae", "beta": 1.0, "gamma": 30.0, "capacity_max": 5.0, "capacity_steps": 3000,
            "lambda_od": 10.0, "dip_type": "i"}  # 0.1.0's flat section: beta, lambda_od, dip_type had no effect
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"objective": flat, "meta": {"kind": "vae"}}))
    cfg = rundir.read_config(tmp_path, RunConfig)
    assert cfg.objective == objective_config("jointvae", capacity_steps=3000)
    assert rundir.read_meta(tmp_path) == {"kind": "vae"}
    (tmp_path / "config.yaml").write_text("objective: {name: jointvae, gamma: -1}")
    with pytest.raises(RunDirError, match=r"config.yaml does not hold valid settings \(objective.gamma = -1.0") as e:
        rundir.read_config(tmp_path, RunConfig)
    assert "\n" not in str(e.value)
    (tmp_path / "config.yaml").write_text("objective: [unclosed")
    with pytest.raises(RunDirError, match="corrupt"):
        rundir.read_config(tmp_path, RunConfig)
    with pytest.raises(RunDirError, match="does not exist"):
        rundir.read_config(tmp_path / "nowhere", RunConfig)


def test_typed_summary_round_trip_and_corruption(tmp_path: Path) -> None:
    from vaerobust.metrics.robustness import success_table

    res = success_table([0, 1], [1, 0], [True, True], [1, 1], [0, 1]).to_json()
    s = rundir.AttackSummary(results=res, n_attacked=2, attack=to_dict(AttackConfig()), warnings=["w"])
    files.write_json(tmp_path / "summary.json", s.to_json())
    back = rundir.read_summary(tmp_path)
    assert back == rundir.AttackSummary.from_json(json.loads((tmp_path / "summary.json").read_text()))
    assert back.overall("ignore")["mean"] == 0.5 and back.classes == [0, 1] and back.warnings == ["w"]
    del res["ignore"]["rate"]
    files.write_json(tmp_path / "summary.json", {"results": res})
    with pytest.raises(RunDirError, match=r"lacks 'results.ignore.rate'"):
        rundir.read_summary(tmp_path)
    files.write_json(tmp_path / "curve.json", {"key": "lam"})
    with pytest.raises(RunDirError, match="curve.json is corrupt"):
        rundir.read_curve(tmp_path)


def test_require_complete(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="does not exist"):
        rundir.require_complete(tmp_path / "x", "VAE training run", "train it")
    (tmp_path / "x").mkdir()
    with pytest.raises(RunDirError, match="unfinished VAE training run.*train it"):
        rundir.require_complete(tmp_path / "x", "VAE training run", "train it")
    rundir.mark_complete(tmp_path / "x", step=3)
    rundir.require_complete(tmp_path / "x", "VAE training run", "train it")
