"""The dSprites judge (issue 10, part 1): a classifier of every ground-truth factor, trained on the
grid without the test images and measured on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vaerobust.config import ClassifierConfig, DataConfig, JudgeConfig
from vaerobust.data import dataset_info, load_dataset
from vaerobust.data import dsprites as ds
from vaerobust.errors import ConfigError
from vaerobust.models import build_classifier
from vaerobust.models.classifier import FactorNet64, FactorView
from vaerobust.pipelines.train_classifier import read_factors, train_classifier
from vaerobust.rundir import load_classifier, read_judge_eval, read_summary


@pytest.fixture
def small_test_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ds, "TEST_SIZE", 64)
    monkeypatch.setattr(ds, "CACHE_SPLITS", ())  # rendered on demand: no 377 MB cache in a test


def test_judge_split_is_the_grid_without_the_test_images(small_test_split: None) -> None:
    test, judge = ds.load_dsprites("test"), ds.load_dsprites("judge")
    ti, ji = ds.index_of(test.factors), ds.index_of(judge.factors)
    assert len(ti) == 64 and len(ji) == ds.NUM_IMAGES - 64
    assert not set(ti.tolist()) & set(ji.tolist())
    assert np.array_equal(np.sort(np.concatenate([ti, ji])), np.arange(ds.NUM_IMAGES))
    assert (np.diff(ji) > 0).all()  # in grid order
    info = dataset_info("dsprites")
    assert info.judge_split == "judge" and info.factor_sizes == ds.FACTOR_SIZES and info.factor_names == ds.FACTOR_NAMES


def test_factor_net_heads_and_view() -> None:
    torch.manual_seed(0)
    net = FactorNet64(factor_sizes=(3, 6, 40, 32, 32)).eval()
    x = torch.rand(5, 1, 64, 64)
    logits = net(x)
    assert logits.shape == (5, 113) and [h.shape[1] for h in net.split(logits)] == [3, 6, 40, 32, 32]
    view = FactorView(net, 2, "orientation")
    assert view.n_classes == 40 and torch.equal(view(x), logits[:, 9:49])
    assert build_classifier(net.describe()).factor_sizes == (3, 6, 40, 32, 32)
    with pytest.raises(ConfigError, match="factor index 5"):
        FactorView(net, 5)
    with pytest.raises(ConfigError, match="sum to 113"):
        FactorNet64(n_classes=10)


def test_train_the_factor_judge_and_measure_it_on_held_out_images(small_test_split: None, tmp_path: Path) -> None:
    cfg = JudgeConfig(data=DataConfig(name="dsprites", image_size=64),
                      classifier=ClassifierConfig(arch="factors64", optimizer="adam", lr=1e-3, batch_size=16, max_steps=3))
    out = train_classifier(cfg, tmp_path / "judge", device="cpu", progress=False)
    ev = read_judge_eval(out)
    assert list(ev.factors) == list(ds.FACTOR_NAMES) and ev.n_test == 64 and ev.steps == 3
    assert ev.factors["shape"]["chance"] == pytest.approx(1 / 3) and ev.factors["posX"]["chance"] == pytest.approx(1 / 32)
    judge = load_classifier(out, "cpu", require_finished=True)
    xt, _ = load_dataset(DataConfig(name="dsprites", image_size=64), "test")
    pred = read_factors(judge, xt, torch.device("cpu"))
    assert pred.shape == (64, 5) and (pred < np.array(ds.FACTOR_SIZES)).all()
    acc = [float((pred[:, k] == xt.factors[:, k]).mean()) for k in range(5)]
    assert [ev.factors[n]["accuracy"] for n in ds.FACTOR_NAMES] == pytest.approx(acc)
    assert json.loads((out / "model.json").read_text())["factor_sizes"] == [3, 6, 40, 32, 32]


def test_a_factor_judge_needs_factors(tmp_path: Path) -> None:
    cfg = JudgeConfig(data=DataConfig(name="synthetic"), classifier=ClassifierConfig(arch="factors64", max_steps=1))
    with pytest.raises(ConfigError, match="reads ground-truth factors, and synthetic has none"):
        train_classifier(cfg, tmp_path / "j", device="cpu", progress=False)


def _tiny_dsprites_vae(tmp_path: Path) -> Path:
    from vaerobust.config import ModelConfig, RunConfig, TrainConfig
    from vaerobust.pipelines.train import train_vae

    cfg = RunConfig(data=DataConfig(name="dsprites", image_size=64),
                    model=ModelConfig(arch="conv64", gaussian_dims=4, categorical=(), hidden=16),
                    train=TrainConfig(steps=2, batch_size=8, checkpoint_every=2, log_every=1))
    return train_vae(cfg, tmp_path / "vae", device="cpu", progress=False)


def _factor_judge(tmp_path: Path) -> Path:
    cfg = JudgeConfig(data=DataConfig(name="dsprites", image_size=64),
                      classifier=ClassifierConfig(arch="factors64", optimizer="adam", lr=1e-3, batch_size=16, max_steps=2))
    return train_classifier(cfg, tmp_path / "judge", device="cpu", progress=False)


def test_dsprites_attack_protocol_over_a_factor(small_test_split: None, tmp_path: Path) -> None:
    """Pairs of held-out images over sweep.factor's values, judged through that factor's head."""
    import pandas as pd

    from vaerobust.config import AttackConfig, SweepConfig
    from vaerobust.pipelines.attack import attack_sweep
    from vaerobust.report import tables
    from vaerobust.rundir import read_summary

    vae, judge = _tiny_dsprites_vae(tmp_path), _factor_judge(tmp_path)
    out = attack_sweep(vae, judge, tmp_path / "shape", AttackConfig(steps=2), SweepConfig(per_pair=2, min_judge_accuracy=0),
                       device="cpu", progress=False)
    s = read_summary(out)
    assert s.results["classes"] == [0, 1, 2] and np.array(s.results["n_pairs_total"]).sum() == 6 * 2  # 6 ordered shape pairs
    assert tables.class_labels(s) == ["square", "ellipse", "heart"]
    ex = pd.read_csv(out / "examples.csv")
    xt, _ = load_dataset(DataConfig(name="dsprites", image_size=64), "test")
    assert (ex.source.to_numpy() == xt.factors[ex.src_index.to_numpy(), 0]).all()
    from vaerobust.models.encoding import reconstruct
    from vaerobust.rundir import load_vae

    recon = reconstruct(load_vae(vae, "cpu"), xt[ex.src_index.to_numpy()])
    clean = read_factors(load_classifier(judge, "cpu"), recon, torch.device("cpu"))
    assert (ex.clean_pred.to_numpy() == clean[:, 0]).all()  # the clean filter reads the shape head
    scale = attack_sweep(vae, judge, tmp_path / "scale", AttackConfig(steps=2),
                         SweepConfig(factor="scale", per_pair=1, min_judge_accuracy=0), device="cpu", progress=False)
    s2 = read_summary(scale)
    assert s2.results["classes"] == list(range(6)) and np.array(s2.results["n_pairs_total"]).sum() == 30
    assert tables.class_labels(s2)[:2] == ["scale 0", "scale 1"]
    strict = read_summary(attack_sweep(vae, judge, tmp_path / "strict", AttackConfig(steps=2),
                                       SweepConfig(factor="scale", per_pair=1, min_judge_accuracy=1.0, pairs="0-1,1-0"),
                                       device="cpu", progress=False))
    if read_judge_eval(judge).factors["scale"]["accuracy"] < 1.0:
        assert strict.n_attacked == 0 and "not used for attack success" in strict.warnings[0]


def test_factor_settings_are_checked(small_test_split: None, tmp_path: Path) -> None:
    from vaerobust.config import AttackConfig, SweepConfig
    from vaerobust.pipelines.attack import attack_sweep

    with pytest.raises(ConfigError, match="sweep.factor = colour: expected one of dsprites's factors"):
        attack_sweep(tmp_path / "none", tmp_path / "none", tmp_path / "a", AttackConfig(steps=1),
                     SweepConfig(factor="colour"), data=DataConfig(name="dsprites", image_size=64))
    with pytest.raises(ConfigError, match="sweep.factor = shape: synthetic has no ground-truth factors"):
        attack_sweep(tmp_path / "none", tmp_path / "none", tmp_path / "b", AttackConfig(steps=1),
                     SweepConfig(factor="shape"), data=DataConfig(name="synthetic"))
    with pytest.raises(ConfigError, match="sweep.factor"):
        SweepConfig(factor="shape", attribute="Smiling")


class _IdentityVAE:
    """A fake VAE whose reconstruction is its input (the outcome of every attack is then known)."""

    class spec:  # noqa: N801 - mimics VAESpec's field
        categorical: tuple = ()

    image_shape = (1, 64, 64)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    def encode(self, x: torch.Tensor):  # noqa: ANN201 - a posterior-like object with features()
        class _Post:
            def features(self_inner) -> torch.Tensor:  # noqa: N805
                return x.flatten(1)[:, :8]
        return _Post()


class _OracleFactorJudge(torch.nn.Module):
    """Reads every factor exactly: the factors of the held-out image an input equals (one-hot logits)."""

    multihead = True

    def __init__(self, images: torch.Tensor, factors: np.ndarray) -> None:
        super().__init__()
        self.factor_sizes = tuple(ds.FACTOR_SIZES)
        self.image_shape = (1, 64, 64)
        self.images, self.factors = images.flatten(1), torch.as_tensor(factors, dtype=torch.long)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = torch.cdist(x.flatten(1), self.images).argmin(1)
        return torch.cat([torch.nn.functional.one_hot(self.factors[idx, k], n).float()
                          for k, n in enumerate(self.factor_sizes)], dim=1)

    def split(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(logits, list(self.factor_sizes), dim=1))


@pytest.mark.parametrize("outcome", ["target", "source"])
def test_factor_protocol_with_known_outcomes(small_test_split: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             outcome: str) -> None:
    """An identity VAE, an oracle judge and an 'attack' returning the target (or the source) image:
    every source is kept, AS target = AS ignore-target = 1 (0), and each factor moved exactly where
    the target's value differs from the source's (nowhere)."""
    import pandas as pd

    from vaerobust.config import AttackConfig, SweepConfig
    from vaerobust.pipelines import attack as attack_mod
    from vaerobust.rundir import read_summary

    data = DataConfig(name="dsprites", image_size=64)
    xt, _ = load_dataset(data, "test")
    judge = FactorView(_OracleFactorJudge(xt[np.arange(len(xt))], xt.factors), 0, "shape")

    class _Copy:
        evaluations = 0

        def __call__(self, xs: torch.Tensor, xg: torch.Tensor, noise: object = None) -> torch.Tensor:
            return (xg if outcome == "target" else xs).clone()

    monkeypatch.setattr(attack_mod, "build_attack", lambda vae, cfg, judge=None: _Copy())
    out = tmp_path / outcome
    attack_mod._sweep(_IdentityVAE(), judge, tmp_path / "vae", tmp_path / "judge", out, AttackConfig(steps=1),
                      SweepConfig(per_pair=3, min_judge_accuracy=0).resolved(3), data, torch.device("cpu"), False,
                      attr_index=0)
    s = read_summary(out)
    assert s.n_attacked == s.n_pairs_formed == 18 and s.clean_recon_accuracy == 1.0
    assert s.overall("target")["mean"] == s.overall("ignore")["mean"] == (1.0 if outcome == "target" else 0.0)
    ex = pd.read_csv(out / "examples.csv")
    f = xt.factors
    for k, name in enumerate(ds.FACTOR_NAMES):
        differs = (f[ex.src_index.to_numpy(), k] != f[ex.tgt_index.to_numpy(), k]).astype(int)
        expect = differs if outcome == "target" else np.zeros_like(differs)
        assert (ex[f"moved_{name}"].to_numpy() == expect).all()
        assert s.factors_moved[name] == pytest.approx(expect.mean())
    assert s.factors_moved["shape"] == (1.0 if outcome == "target" else 0.0)  # the attacked factor itself


def test_strength_curve_over_a_factor_with_auddc(small_test_split: None, tmp_path: Path) -> None:
    """A strength sweep on dSprites pairs over sweep.factor's values (6 scales: 30 ordered pairs) and
    writes a curve with one point per value and its AUDDC."""
    from vaerobust.config import AttackConfig, SweepConfig
    from vaerobust.pipelines.strength import strength_sweep
    from vaerobust.rundir import read_curve

    vae, judge = _tiny_dsprites_vae(tmp_path), _factor_judge(tmp_path)
    out = strength_sweep(vae, judge, tmp_path / "curve", AttackConfig(steps=2),
                         SweepConfig(factor="scale", per_pair=1, min_judge_accuracy=0), "eps", [0.05, 0.2],
                         device="cpu", progress=False)
    curve = read_curve(out)
    assert [p["value"] for p in curve.points] == [0.05, 0.2]
    assert json.loads((out / "curve_settings.json").read_text())["sweep"]["classes"] == list(range(6))
    s = read_summary(out / "points" / "eps=0.05")
    assert np.array(s.results["n_pairs_total"]).sum() == 30 and set(s.factors_moved) == set(ds.FACTOR_NAMES)
    assert np.isfinite(curve.auddc)
