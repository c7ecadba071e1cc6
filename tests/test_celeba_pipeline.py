"""CelebA through the pipelines: the attribute judge, the attribute attack protocol, MS-SSIM, the
``celeba-sootla`` preset end to end on a generated folder in CelebA's layout (tests/celeba_fixture.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from celeba_fixture import DRAWN, make_celeba_folder
from vaerobust.config import AttackConfig, ClassifierConfig, DataConfig, JudgeConfig, ModelConfig, RunConfig, SweepConfig, TrainConfig
from vaerobust.errors import ConfigError
from vaerobust.models import VAE, LatentSpec, build_vae
from vaerobust.models.classifier import AttributeNet64, AttributeView
from vaerobust.pipelines.attack import attack_sweep, ms_ssim_rows
from vaerobust.pipelines.train import train_vae
from vaerobust.pipelines.train_classifier import attribute_accuracies, train_classifier
from vaerobust.rundir import read_judge_eval, read_summary

CROP = 36  # the fixture's images are 44 x 54


@pytest.fixture
def celeba(tmp_path: Path) -> Path:
    return make_celeba_folder(tmp_path / "celeba", n=200)


def _data(root: Path) -> DataConfig:
    return DataConfig(name="celeba", image_size=64, root=str(root), crop=CROP)


def test_attribute_view_reads_one_attribute_as_two_classes() -> None:
    torch.manual_seed(0)
    judge = AttributeNet64(40).eval()
    x = torch.rand(6, 3, 64, 64)
    view = AttributeView(judge, 7, "Big_Nose")
    logits = view(x)
    assert logits.shape == (6, 2) and view.n_classes == 2
    assert torch.equal(logits[:, 0], torch.zeros(6))
    assert torch.equal(logits.argmax(1), (judge(x)[:, 7] > 0).long())
    with pytest.raises(ConfigError, match="attribute index 40"):
        AttributeView(judge, 40)


def test_attribute_accuracies_known_values() -> None:
    truth = np.array([[1, 0], [1, 0], [0, 0], [0, 1]])
    pred = np.array([[1, 0], [0, 0], [0, 0], [0, 0]])
    ev = attribute_accuracies(pred, truth, ["a", "b"])
    assert ev["attributes"]["a"] == {"accuracy": 0.75, "balanced_accuracy": 0.75, "positive_rate": 0.5}
    # b: always "absent": accuracy 3/4 but balanced accuracy (1 + 0) / 2, a constant guess's 0.5
    assert ev["attributes"]["b"]["accuracy"] == 0.75 and ev["attributes"]["b"]["balanced_accuracy"] == 0.5
    assert ev["test_accuracy"] == 0.75 and ev["test_balanced_accuracy"] == 0.625


def test_ms_ssim_rows() -> None:
    torch.manual_seed(0)
    a = torch.rand(3, 3, 64, 64)
    same = ms_ssim_rows(a, a)
    assert np.allclose(same, 1.0, atol=1e-5)
    other = ms_ssim_rows(a, torch.rand(3, 3, 64, 64))
    assert (other < 0.5).all()
    assert np.isnan(ms_ssim_rows(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))).all()  # grey: not measured


def test_colour_vae_round_trips_its_description() -> None:
    vae = VAE(LatentSpec(4, (3,)), arch="conv64", hidden=16, channels=3)
    assert vae.image_shape == (3, 64, 64) and vae.describe()["channels"] == 3
    assert build_vae(vae.describe()).image_shape == (3, 64, 64)
    assert "channels" not in VAE(LatentSpec(4, ()), arch="conv32", hidden=16).describe()  # grey runs keep their model.json


def _judge(celeba: Path, out: Path, steps: int = 12) -> Path:
    cfg = JudgeConfig(data=_data(celeba), classifier=ClassifierConfig(arch="attr64", epochs=2, batch_size=16,
                                                                      lr=1e-3, optimizer="adam", max_steps=steps))
    return train_classifier(cfg, out, device="cpu", progress=False)


def _vae(celeba: Path, out: Path) -> Path:
    cfg = RunConfig(data=_data(celeba), model=ModelConfig(arch="conv64", gaussian_dims=4, categorical=(3,), hidden=16),
                    train=TrainConfig(steps=6, batch_size=16, checkpoint_every=6, log_every=3))
    return train_vae(cfg, out, device="cpu", progress=False)


def test_attribute_judge_and_sweep_on_a_celeba_folder(celeba: Path, tmp_path: Path) -> None:
    judge = _judge(celeba, tmp_path / "judge")
    ev = read_judge_eval(judge)
    assert set(ev.attributes) >= set(DRAWN) and len(ev.attributes) == 40
    assert all(0 <= v["balanced_accuracy"] <= 1 for v in ev.attributes.values())
    vae = _vae(celeba, tmp_path / "vae")
    out = attack_sweep(vae, judge, tmp_path / "atk", AttackConfig(steps=3),
                       SweepConfig(attribute="Smiling", per_pair=4, min_judge_accuracy=0.0), device="cpu", progress=False)
    s = read_summary(out)
    assert s.results["classes"] == [0, 1] and s.sweep["classes"] == [0, 1]
    n_total = np.array(s.results["n_pairs_total"])
    assert n_total[0, 1] == 4 and n_total[1, 0] == 4 and n_total[0, 0] == 0
    import pandas as pd

    ex = pd.read_csv(out / "examples.csv")
    attrs = np.array([ln.split()[1:] for ln in (celeba / "list_attr_celeba.txt").read_text().splitlines()[2:]], dtype=int)
    smiling = (attrs[:, list(json.loads(json.dumps(ev.attributes))).index("Smiling")] == 1).astype(int)
    test_rows = np.flatnonzero([ln.split()[1] == "2" for ln in (celeba / "list_eval_partition.txt").read_text().split("\n") if ln])
    assert (ex.source.to_numpy() == smiling[test_rows][ex.src_index.to_numpy()]).all()  # the source's own value
    assert (ex.target.to_numpy() == 1 - ex.source.to_numpy()).all()  # pairs differ in the attribute
    kept = ex[ex.kept]
    assert s.n_attacked == len(kept) and (kept.clean_pred == kept.source).all()
    if len(kept):
        assert kept.ms_ssim.between(-1, 1).all() and kept.ms_ssim_clean.notna().all()
        assert s.distances["ms_ssim"] == pytest.approx(float(kept.ms_ssim.mean()))
    from vaerobust.report import tables

    assert tables.class_labels(s) == ["not Smiling", "Smiling"]
    assert tables.pair_table(s).header == ["source \\ target", "not Smiling", "Smiling"]


def test_unreliable_attribute_is_not_used(celeba: Path, tmp_path: Path) -> None:
    judge, vae = _judge(celeba, tmp_path / "judge", steps=2), _vae(celeba, tmp_path / "vae")
    out = attack_sweep(vae, judge, tmp_path / "atk", AttackConfig(steps=3),
                       SweepConfig(attribute="Eyeglasses", per_pair=4, min_judge_accuracy=1.0), device="cpu", progress=False)
    s = read_summary(out)
    bal = read_judge_eval(judge).attributes["Eyeglasses"]["balanced_accuracy"]
    if bal < 1.0:
        assert s.n_attacked == 0 and s.results["ignore"]["overall"]["mean"] is None
        assert "not used for attack success" in s.warnings[0] and "Eyeglasses" in s.warnings[0]


def test_attribute_settings_are_checked(celeba: Path, tmp_path: Path, tiny_run_cfg: RunConfig) -> None:
    judge, vae = _judge(celeba, tmp_path / "judge", steps=1), _vae(celeba, tmp_path / "vae")
    with pytest.raises(ConfigError, match="sweep.attribute = Smilling: expected one of"):
        attack_sweep(vae, judge, tmp_path / "a1", AttackConfig(steps=1), SweepConfig(attribute="Smilling"), device="cpu")
    with pytest.raises(ConfigError, match="sweep.attribute = null: celeba is labelled by attributes"):
        attack_sweep(vae, judge, tmp_path / "a2", AttackConfig(steps=1), SweepConfig(), device="cpu")
    assert not (tmp_path / "a1").exists() or not any((tmp_path / "a1").glob("summary.json"))
    mnist_like = train_vae(tiny_run_cfg, tmp_path / "grey", device="cpu", progress=False)
    from vaerobust.pipelines.train_classifier import train_classifier as tc

    grey_judge = tc(JudgeConfig(data=DataConfig(name="synthetic"), classifier=ClassifierConfig(max_steps=2)),
                    tmp_path / "grey_judge", device="cpu", progress=False)
    with pytest.raises(ConfigError, match="sweep.attribute = Smiling: synthetic is labelled by classes"):
        attack_sweep(mnist_like, grey_judge, tmp_path / "a3", AttackConfig(steps=1), SweepConfig(attribute="Smiling"),
                     device="cpu")
    with pytest.raises(ConfigError, match="classifier.arch = lenet32"):
        train_classifier(JudgeConfig(data=_data(celeba), classifier=ClassifierConfig(max_steps=1)), tmp_path / "j2",
                         device="cpu", progress=False)
    with pytest.raises(ConfigError, match="sweep.classes"):
        SweepConfig(attribute="Smiling", classes=(0, 1, 2))


def test_celeba_sootla_end_to_end_on_the_fixture(celeba: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The preset, through the same command as a user's: judge, both models, five attribute sweeps,
    tables and report (tiny budgets; the judge may not learn, so every attribute is used)."""
    from vaerobust.pipelines import reproduce

    monkeypatch.setenv("VAEROBUST_CELEBA_DIR", str(celeba))
    out = tmp_path / "run"
    reproduce.run("celeba-sootla", out, device="cpu", progress=False, echo=lambda s: None, overrides=[
        f"base.data.crop={CROP}", f"judge.data.crop={CROP}", "base.train.steps=4", "base.train.checkpoint_every=4",
        "base.model.hidden=16", "judge.classifier.max_steps=4", "sweep.per_pair=3", "attack.steps=2",
        "sweep.min_judge_accuracy=0"], workers=1)
    import pandas as pd

    res = pd.read_csv(out / "tables" / "results.csv")
    assert sorted(res.attack.unique()) == sorted(DRAWN) and sorted(res.model.unique()) == ["disentangled", "entangled"]
    assert (res.n_pairs_formed == 6).all()
    report = (out / "report.md").read_text()
    assert "## The judge" in report and "| Wearing_Hat |" in report
    assert "MS-SSIM to target" in report
    assert "| source \\ target | not Smiling | Smiling |" in report  # pooled pair tables, named values
    pics = sorted(p.name for p in (out / "figures" / "examples").glob("*.png"))
    assert "entangled__Smiling.png" in pics and f"figures/examples/{pics[0]}" in report
    judge_rec = json.loads(next((out / "judges").glob("*/result.json")).read_text())
    assert len(judge_rec["attributes"]) == 40


@pytest.mark.slow
def test_celeba_sootla_larger_fixture_judge_learns_and_attacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A larger generated folder (600 images): the preset's judge settings read the five drawn
    attributes, every sweep uses its attribute, and the report gives attack success per attribute."""
    from vaerobust.pipelines import reproduce

    root = make_celeba_folder(tmp_path / "celeba", n=600)
    monkeypatch.setenv("VAEROBUST_CELEBA_DIR", str(root))
    out = tmp_path / "run"
    reproduce.run("celeba-sootla", out, device="cpu", progress=False, echo=lambda s: None, overrides=[
        f"base.data.crop={CROP}", f"judge.data.crop={CROP}", "base.train.steps=300", "base.train.checkpoint_every=100",
        "judge.classifier.max_steps=300", "judge.classifier.epochs=100", "sweep.per_pair=10", "attack.steps=100"], workers=2)
    judge = json.loads(next((out / "judges").glob("*/result.json")).read_text())
    assert all(judge["attributes"][a]["balanced_accuracy"] >= 0.9 for a in DRAWN), judge["attributes"]
    import pandas as pd

    res = pd.read_csv(out / "tables" / "results.csv")
    report = (out / "report.md").read_text()
    assert "not used for attack success" not in report and (res.n_attacked > 0).all()
    assert res.as_ignore.between(0, 1).all() and np.allclose(res.as_ignore, res.as_target)  # binary: the same event
    assert "inconclusive" in report or "attackable" in report


def test_study_refuses_an_unknown_attribute_before_any_training() -> None:
    from vaerobust.pipelines.study import expand, resolve

    cfg = resolve("celeba-sootla", overrides=["attacks={Smiling: {sweep.attribute: Smilling}}"])
    with pytest.raises(ConfigError, match="attacks.Smiling: sweep.attribute = Smilling: expected one of celeba's"):
        expand(cfg)
    judges, models = expand(resolve("celeba-sootla"))
    assert len(judges) == 1 and [m.id for m in models] == ["disentangled", "entangled"]
    assert models[0].spec["attacks"] == ["Smiling", "Male", "Eyeglasses", "Blond_Hair", "Wearing_Hat"]
