"""The command line: known failures are one line ``error: ...`` with exit status 2 (through
``vaerobust.cli.main``, in process and once through the installed script); the commands
parse their options and call the library (CliRunner on ``vaerobust.cli.app``)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vaerobust import files
from vaerobust.cli import app, main

VAEROBUST = Path(sys.executable).parent / "vaerobust"


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``vaerobust ARGS`` through main() in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["vaerobust", *args])
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: None)  # keep the root logger of this process alone
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


OUT = ["--out", "{tmp}/out"]
PRESET = ["--preset", "sootla2018/disentangled"]
ERROR_CASES = {
    "unknown-preset": (["train", *OUT, "--preset", "nope/disentangled"], ["'nope'", "sootla2018"]),
    "unknown-model": (["train", *OUT, "--preset", "sootla2018/nope"], ["'nope'", "disentangled"]),
    "unknown-key": (["train", *OUT, *PRESET, "--set", "train.stepz=3"], ["train.stepz"]),
    "unknown-section": (["train", *OUT, *PRESET, "--set", "trian.steps=3"], ["trian.steps"]),
    "int-typed": (["train", *OUT, *PRESET, "--set", "train.steps=abc"], ["train.steps", "'abc'"]),
    "float-typed": (["train", *OUT, *PRESET, "--set", "train.lr=fast"], ["train.lr", "'fast'"]),
    "no-equals": (["train", *OUT, *PRESET, "--set", "train.steps"], ["train.steps", "KEY=VALUE"]),
    "bad-device": (["train", *OUT, *PRESET, "--device", "tpu"], ["'tpu'"]),
    "no-preset-no-config": (["train", *OUT], ["--preset", "--config"]),
    "missing-config": (["train", *OUT, "--config", "{tmp}/missing.yaml"], ["missing.yaml"]),
    "reproduce-unknown-preset": (["reproduce", "nope", *OUT], ["'nope'", "sootla2018"]),
    "reproduce-unknown-key": (["reproduce", "sootla2018", *OUT, "--set", "base.train.stepz=1"], ["base.train.stepz"]),
    "reproduce-typed": (["reproduce", "sootla2018", *OUT, "--set", "sweep.per_pair=many"], ["sweep.per_pair", "'many'"]),
    "judge-unknown-key": (["train-classifier", *OUT, "--set", "classifier.epochz=1"], ["classifier.epochz"]),
    "attack-missing-run": (["attack", "{tmp}/no-run", "--judge", "{tmp}/no-judge", *OUT], ["no-run", "does not exist"]),
    "attack-bad-override": (["attack", "{tmp}/no-run", "--judge", "{tmp}/no-judge", "--set", "foo.bar=1"], ["'foo.bar'"]),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_known_errors_exit_2_with_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    template, needles = ERROR_CASES[case]
    args = [a.replace("{tmp}", str(tmp_path)) for a in template]
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2, (args, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err + out
    assert not (tmp_path / "out").exists()  # nothing was written


def test_installed_script_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAEROBUST_OFFLINE_MIRRORS": "1"}
    for args, needle in (
        (["train", "--out", str(tmp_path / "o"), "--preset", "nope/disentangled"], "'nope'"),
        (["train", "--out", str(tmp_path / "o"), "--preset", "sootla2018/disentangled", "--set", "train.steps=abc"], "'abc'"),
    ):
        proc = subprocess.run([str(VAEROBUST), *args], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr


@pytest.mark.parametrize("args", [["bogus-command"], ["train"]], ids=["unknown-command", "missing-option"])
def test_usage_errors_exit_2_without_traceback(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2
    assert "Traceback" not in err + out


# --------------------------------------------------------------------------- commands that work


def test_presets_lists_the_study_models() -> None:
    res = CliRunner().invoke(app, ["presets"])
    assert res.exit_code == 0, res.output
    assert "sootla2018: sootla2018/disentangled, sootla2018/entangled, sootla2018/entangled_wd" in res.output


def test_train_train_classifier_and_attack(tmp_path: Path, no_figures: None) -> None:
    runner = CliRunner()
    vae = tmp_path / "vae"
    res = runner.invoke(app, [
        "train", "--out", str(vae), "--preset", "sootla2018/disentangled", "--quick",
        "--set", "data.name=synthetic", "--set", "train.steps=3", "--set", "train.batch_size=8",
        "--set", "train.checkpoint_every=3", "--set", "model.hidden=16", "--device", "cpu", "--no-progress",
    ])
    assert res.exit_code == 0, res.output
    assert f"trained: {vae}" in res.output
    cfg = yaml.safe_load((vae / "config.yaml").read_text())
    assert cfg["train"]["steps"] == 3 and cfg["model"]["hidden"] == 16
    assert cfg["objective"]["name"] == "jointvae" and cfg["objective"]["capacity_steps"] == 3000  # the --quick preset
    assert (vae / "complete.json").is_file()

    judge = tmp_path / "judge"
    res = runner.invoke(app, [
        "train-classifier", "--out", str(judge), "--quick", "--set", "data.name=synthetic",
        "--set", "classifier.max_steps=3", "--device", "cpu", "--no-progress",
    ])
    assert res.exit_code == 0, res.output
    acc = files.read_json(judge / "eval.json")["test_accuracy"]
    assert f"judge test accuracy: {acc:.2%}" in res.output

    res = runner.invoke(app, [
        "attack", str(vae), "--judge", str(judge), "--pairs", "1-7,3-8", "--per-pair", "2",
        "--set", "attack.steps=2", "--set", "sweep.seed=1", "--device", "cpu", "--no-progress",
    ])
    assert res.exit_code == 0, res.output
    out = vae / "attacks" / "latent"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attack"]["steps"] == 2 and summary["sweep"]["seed"] == 1
    assert summary["sweep"]["pairs"] == "1-7,3-8" and summary["n_pairs_formed"] == 4
    assert summary["data"]["name"] == "synthetic"  # taken from the VAE run's config.yaml
    assert "AS ignore-target" in res.output

    # a strength sweep of another attack: one sweep per grid value, then the curve
    res = runner.invoke(app, [
        "attack", str(vae), "--judge", str(judge), "--pairs", "1-7", "--per-pair", "2", "--attack", "output",
        "--sweep", "lam=0.1,10", "--set", "attack.steps=2", "--device", "cpu", "--no-progress",
    ])
    assert res.exit_code == 0, res.output
    curve = json.loads((vae / "attacks" / "output-lam-sweep" / "curve.json").read_text())
    assert curve["attack"]["name"] == "output" and curve["values"] == [0.1, 10.0]
    assert [p["directory"] for p in curve["points"]] == ["points/lam=0.1", "points/lam=10"]
    assert "lam=0.1: AS ignore-target" in res.output and "AUDDC" in res.output

    # disentanglement measures of the same run
    res = runner.invoke(app, ["evaluate", str(vae), "--metrics", "active_dims", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    saved = json.loads((vae / "metrics" / "disentanglement.json").read_text())
    assert set(saved["metrics"]) == {"active_dims"}
    assert f"written: {vae / 'metrics' / 'disentanglement.json'}" in res.output
