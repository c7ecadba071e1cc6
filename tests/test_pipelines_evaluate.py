"""`evaluate_run`: MNIST-style code measures on a fake VAE whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vaerobust.config import DataConfig, RunConfig
from vaerobust.models import LatentSpec, Posterior
from vaerobust.pipelines import evaluate as dis


class FakeVAE:
    """Categorical logits = 5 * one-hot of (label + 3) mod 10; Gaussian dim 0 carries the label, dim 1 is N(0, 1)."""

    spec = LatentSpec(2, (10,))

    def __init__(self, labels: torch.Tensor) -> None:
        self.labels = labels

    def encode(self, x: torch.Tensor) -> Posterior:
        lab = x[:, 0, 0, 0].round().long()  # the label is written into pixel (0, 0) / 10
        mean = torch.stack([lab.float(), torch.zeros_like(lab, dtype=torch.float)], 1)
        logvar = torch.zeros_like(mean)
        return Posterior(mean, logvar, [5.0 * torch.nn.functional.one_hot((lab + 3) % 10, 10).float()])


@pytest.fixture
def fake_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    labels = torch.arange(200) % 10
    x = torch.zeros(200, 1, 32, 32)
    x[:, 0, 0, 0] = labels.float()  # not an image in [0, 1], but the fake encoder reads it
    monkeypatch.setattr(dis, "load_vae", lambda run, dev: FakeVAE(labels))
    monkeypatch.setattr(dis, "run_config_of", lambda run: RunConfig(data=DataConfig(name="synthetic")))
    monkeypatch.setattr(dis, "load_dataset", lambda cfg, split: (x, labels))
    return tmp_path / "run"


def test_codes_of_a_permuted_labelling_agree_perfectly(fake_run: Path) -> None:
    out = json.loads(dis.evaluate_run(fake_run, "all", device="cpu").read_text())
    agree = out["metrics"]["categorical_agreement"][0]
    assert agree["nmi"] == pytest.approx(1.0) and agree["best_map_accuracy"] == pytest.approx(1.0)


def test_active_dims_count_the_informative_dimension(fake_run: Path) -> None:
    out = json.loads(dis.evaluate_run(fake_run, ["active_dims"], device="cpu").read_text())
    act = out["metrics"]["active_dims"]
    # dim 0: KL = mean(label^2) / 2 = mean(0,1,4,...,81) / 2 = 28.5 / 2 = 14.25 nats; dim 1: KL = 0
    assert act["active"] == 1
    assert act["mean_kl_per_dim"] == pytest.approx([14.25, 0.0])
    assert "categorical_agreement" not in out["metrics"]


def test_factor_metrics_are_listed_as_not_applicable_without_a_factor_grid(fake_run: Path) -> None:
    out = json.loads(dis.evaluate_run(fake_run, "mig,dci", device="cpu").read_text())
    assert set(out["not_applicable"]) == {"mig", "dci"} and out["metrics"] == {}
    assert "factor grid" in out["not_applicable"]["mig"]


def test_unknown_metric_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'nope'.*expected 'all' or names"):
        dis.parse_metrics("mig,nope")
    assert set(dis.parse_metrics("all")) >= {"beta_vae", "factor_vae", "mig", "dci", "sap", "active_dims"}
