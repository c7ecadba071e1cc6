"""A tiny CPU smoke run of the sootla2018 study end to end (``reproduce``) on the built-in
synthetic data: every run directory complete, a second call a no-op, other settings on the
same folder refused, and (where the report module exists) the report written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vaerobust import files, rundir
from vaerobust.config import ConfigError
from vaerobust.pipelines.reproduce import load_study_dir, reproduce, resolve_study

MODELS = ("disentangled", "entangled", "entangled_wd")
OVERRIDES = [
    "base.data.name=synthetic",
    "judge.data.name=synthetic",
    "base.train.steps=30",
    "base.train.batch_size=32",
    "base.train.checkpoint_every=30",
    "base.model.hidden=32",
    "models.disentangled={objective.name: jointvae, objective.capacity_steps: 30}",
    "judge.classifier.max_steps=60",
    "judge.classifier.lr=0.05",
    "judge.classifier.momentum=0.9",
    "attack.steps=10",
    "sweep.per_pair=2",
    "sweep.batch_size=64",
]


def _run(out: Path, overrides: list[str] = OVERRIDES, report: bool = False) -> list[str]:
    lines: list[str] = []
    reproduce("sootla2018", out, quick=True, device="cpu", overrides=overrides, progress=False,
              echo=lines.append, report=report)
    return lines


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("study") / "r"
    _run(out)
    return out


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "study.yaml"}


def test_study_yaml_is_the_resolved_study(study_dir: Path) -> None:
    cfg = resolve_study("sootla2018", quick=True, overrides=OVERRIDES)
    assert load_study_dir(study_dir) == cfg
    meta = yaml.safe_load((study_dir / "study.yaml").read_text())["meta"]
    assert meta == {"quick": True}


def test_judge_run_is_complete(study_dir: Path) -> None:
    judge = study_dir / "judge"
    for f in ("complete.json", "config.yaml", "model.json", "model.safetensors", "eval.json", "metrics.jsonl"):
        assert (judge / f).is_file(), f
    ev = files.read_json(judge / "eval.json")
    assert ev["steps"] == 60 and ev["n_test"] == 500 and 0.0 <= ev["test_accuracy"] <= 1.0


@pytest.mark.parametrize("model", MODELS)
def test_model_run_and_sweep_are_complete(study_dir: Path, model: str) -> None:
    run = study_dir / "models" / model
    for f in ("complete.json", "config.yaml", "model.json", "model.safetensors", "train_state.pt", "metrics.jsonl"):
        assert (run / f).is_file(), f
    assert (run / "figures" / "reconstructions.png").is_file()
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["train"]["steps"] == 30 and cfg["data"]["name"] == "synthetic"
    assert rundir.load_train_state(run / "train_state.pt")["step"] == 30
    want = {
        "disentangled": ("jointvae", 0.0),
        "entangled": ("elbo", 0.0),
        "entangled_wd": ("elbo", 1e-4),
    }[model]
    assert (cfg["objective"]["name"], cfg["train"]["weight_decay"]) == want
    if model == "disentangled":
        assert cfg["objective"]["capacity_steps"] == 30 and cfg["objective"]["gamma"] == 30.0

    atk = run / "attacks" / "latent"
    for f in ("complete.json", "summary.json", "examples.csv"):
        assert (atk / f).is_file(), f
    summary = json.loads((atk / "summary.json").read_text())
    assert summary["n_pairs_formed"] == 90 * 2
    assert summary["attack"]["steps"] == 10 and summary["sweep"]["per_pair"] == 2
    assert summary["image_steps"] == summary["n_attacked"] * 10
    res = summary["results"]
    n_kept = sum(map(sum, res["n_kept"]))
    assert n_kept == summary["n_attacked"] <= 180
    for which in ("ignore", "target"):
        ov = res[which]["overall"]
        if ov["pairs"]:
            assert 0.0 <= ov["mean"] <= 1.0 and ov["ci_low"] <= ov["mean"] <= ov["ci_high"]
    # AS target can never exceed AS ignore-target (a hit on t != s is also a move away from s)
    hits_t, hits_i = res["target"]["hits"], res["ignore"]["hits"]
    assert all(a <= b for rt, ri in zip(hits_t, hits_i) for a, b in zip(rt, ri))


def test_second_call_is_a_no_op(study_dir: Path) -> None:
    before = _mtimes(study_dir)
    lines = _run(study_dir)
    assert _mtimes(study_dir) == before  # nothing retrained, re-attacked or rewritten
    assert not [ln for ln in lines if ln.startswith(("training", "attacking"))], lines
    assert sum(ln.startswith(MODELS) and "AS ignore-target" in ln for ln in lines) == 3


@pytest.mark.parametrize(
    "extra, section",
    [("attack.steps=11", "attack"), ("base.train.steps=31", "base"), ("sweep.seed=1", "sweep")],
)
def test_other_settings_on_the_same_folder_are_refused(study_dir: Path, extra: str, section: str) -> None:
    before = _mtimes(study_dir)
    study_yaml = (study_dir / "study.yaml").read_text()
    with pytest.raises(ConfigError) as e:
        _run(study_dir, OVERRIDES + [extra])
    assert section in str(e.value) and str(study_dir) in str(e.value)
    assert (study_dir / "study.yaml").read_text() == study_yaml
    assert _mtimes(study_dir) == before


def test_reproduce_with_report(study_dir: Path) -> None:
    lines = _run(study_dir, report=True)
    report = study_dir / "report" / "report.md"
    assert report.is_file() and report.stat().st_size > 0
    assert any(ln.startswith("report:") for ln in lines)
    text = report.read_text()
    for model in MODELS:
        assert model in text


@pytest.mark.parametrize(
    "override",
    [
        "attack.name=nope",
        "base.objective.name=nope",
        "models.entangled={objective.name: elbow}",
        "base.model.arch=nope",
        "base.data.name=nope",
        "sweep.pairs=1-1",
        "sweep.pairs=1-x",
        "sweep.classes=[0, 11]",
    ],
)
def test_typos_fail_when_the_study_is_resolved(override: str) -> None:
    from vaerobust.registry import UnknownNameError

    with pytest.raises((ConfigError, UnknownNameError, ValueError)):
        resolve_study("sootla2018", quick=True, overrides=[override])


def test_reproduce_with_seeds_reports_the_spread_and_the_interval_over_seeds(tmp_path: Path) -> None:
    from vaerobust.pipelines.reproduce import reproduce_seeds

    lines: list[str] = []
    out = reproduce_seeds("sootla2018", tmp_path / "s", 2, quick=True, device="cpu", progress=False,
                          overrides=OVERRIDES, echo=lines.append)
    summ = pd.read_csv(out / "tables" / "summary.csv")
    assert sorted(summ.model) == ["disentangled", "entangled", "entangled_wd"] and set(summ.jobs) == {2}
    assert {p.name for p in (out / "jobs").iterdir()} == {f"{m}__train.seed={s}" for m in summ.model for s in (0, 1)}
    assert len(list((out / "judges").iterdir())) == 1  # one judge for every seed
    assert any(ln.startswith("entangled (2 seeds): AS ignore-target") and "spread between seeds" in ln for ln in lines)
    assert any("of 2 seeds order the models disentangled > entangled > entangled_wd" in ln for ln in lines)
