"""The attack-free margin (issue 10, part 3, optional): the first-order r-robustness margin of Camuto
et al. 2021 against closed forms on a linear VAE, the Jacobian against autograd's, and the command's
record (written once, reused, refused with other settings, not applicable to categorical latents)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch import nn

from conftest import objective_for
from vaerobust import files
from vaerobust.config import ModelConfig, RunConfig
from vaerobust.errors import ConfigError, InputError
from vaerobust.metrics.margin import first_order_margin, robust_probability, summarise
from vaerobust.models import VAE
from vaerobust.models.latents import LatentSpec, Posterior
from vaerobust.models.sensitivity import mean_jacobians, reconstruction_spread
from vaerobust.pipelines import margin as margin_pipeline
from vaerobust.pipelines.train import train_vae


class LinearVAE(nn.Module):
    """mu(x) = W x (flattened), fixed sigma per dimension; the decoder g(z) = z_0 * e (e a unit image):
    ||g(z) - g(mu)|| = sigma_0 |eps_0|, so p(x) = 2 Phi(r / sigma_0) - 1 and J_mu = W exactly."""

    def __init__(self, w: torch.Tensor, sigma: torch.Tensor) -> None:
        super().__init__()
        self.spec = LatentSpec(w.shape[0], ())
        self.image_shape = (1, 4, 4)
        self.w, self.logvar = w, 2 * torch.log(sigma)
        e = torch.zeros(16)
        e[5] = 1.0
        self.e = e

    def encode(self, x: torch.Tensor) -> Posterior:
        mean = x.flatten(1) @ self.w.T
        return Posterior(mean, self.logvar.expand(x.shape[0], -1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z[:, :1] * self.e).reshape(-1, 1, 4, 4)


def test_robust_probability_counts_samples_within_the_radius_and_clips() -> None:
    d = np.array([[0.5, 1.5, 2.5, 3.5], [0.0, 0.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]])
    assert robust_probability(d, 2.0).tolist() == [0.5, 1 - 1 / 8, 1 / 8]  # clipped to [1/(2S), 1 - 1/(2S)]
    with pytest.raises(InputError, match="radius"):
        robust_probability(d, 0.0)
    with pytest.raises(InputError, match="finite"):
        robust_probability(np.array([[np.nan]]), 1.0)
    with pytest.raises(InputError, match="shape"):
        robust_probability(np.ones(3), 1.0)


def test_first_order_margin_closed_form() -> None:
    p = np.array([norm.cdf(1.0), norm.cdf(2.0), 0.5, 0.3, 0.9])
    r = first_order_margin(np.array([0.5, 0.5, 0.5, 0.5, 0.2]), p, np.array([2.0, 4.0, 1.0, 1.0, 0.0]))
    assert r[:2] == pytest.approx([0.25, 0.25])  # sigma_min * Phi^-1(p) / ||J||
    assert r[2] == 0 and r[3] == 0  # not r-robust at x: no margin
    assert math.isinf(r[4])  # a mean that ignores its input: nothing moves it
    with pytest.raises(InputError, match="strictly between"):
        first_order_margin(np.array([0.5]), np.array([1.0]), np.array([1.0]))
    with pytest.raises(InputError, match="one shape"):
        first_order_margin(np.array([0.5, 0.5]), np.array([0.7]), np.array([1.0]))


def test_summary_medians_and_json_without_infinity() -> None:
    d = np.zeros((4, 10))  # every sample within any radius: p = 1 - 1/20
    s = summarise(1.0, d, np.full(4, 0.1), np.array([1.0, 2.0, 4.0, 0.0]), np.array([0.5, 1.0, 2.0, 0.0]))
    q = norm.ppf(1 - 1 / 20)
    assert s.median == pytest.approx(0.1 * q / 2.0)  # the lower middle of (q/40, q/20, q/10, inf)
    assert s.median_spectral == pytest.approx(2 * s.median) and s.robust_share == 1.0 and s.unbounded_share == 0.25
    assert s.mean == pytest.approx(0.1 * q * (1 + 0.5 + 0.25) / 3)  # the finite ones
    assert s.quartiles == pytest.approx((0.1 * q / 4, 0.1 * q))
    j = summarise(1.0, d, np.full(4, 0.1), np.zeros(4), np.zeros(4)).to_json()  # every margin infinite
    assert j["median"] is None and j["mean"] is None and j["quartiles"] == [None, None] and j["unbounded_share"] == 1.0


def test_linear_vae_matches_the_closed_forms() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 16)
    sigma = torch.tensor([0.3, 0.2, 0.9])
    vae = LinearVAE(w, sigma)
    x = torch.rand(5, 1, 4, 4)
    jac = mean_jacobians(vae, x, batch_size=2)
    assert jac.shape == (5, 3, 16) and torch.allclose(jac, w.expand(5, -1, -1))
    d, smin = reconstruction_spread(vae, x, samples=4000, generator=torch.Generator().manual_seed(0), batch_size=2)
    assert torch.allclose(smin, torch.full((5,), 0.2))
    radius = 0.3
    p = robust_probability(d.numpy(), radius)
    truth = 2 * norm.cdf(radius / 0.3) - 1  # 0.683
    assert np.abs(p - truth).max() < 0.03  # 4000 samples: sd 0.007
    fro = float(torch.linalg.matrix_norm(w))
    margin = first_order_margin(smin.numpy(), p, np.full(5, fro))
    assert margin == pytest.approx(0.2 * norm.ppf(truth) / fro, rel=0.1)


def test_jacobian_of_a_conv_vae_is_autograds_per_image() -> None:
    torch.manual_seed(0)
    vae = VAE(LatentSpec(3, ()), arch="conv32", hidden=16).eval()
    x = torch.rand(3, 1, 32, 32)
    jac = mean_jacobians(vae, x, batch_size=3)
    for n in range(3):
        ref = torch.autograd.functional.jacobian(lambda xi: vae.encode(xi[None]).mean[0], x[n])
        assert torch.allclose(jac[n], ref.reshape(3, -1), atol=1e-5)


class BatchCoupledVAE(LinearVAE):
    """Its mean is scaled by the whole batch's norm (as batch statistics would): images of a batch interact."""

    def encode(self, x: torch.Tensor) -> Posterior:
        post = super().encode(x)
        return Posterior(post.mean / x.norm(), post.logvar)


def test_an_encoder_whose_images_interact_is_refused() -> None:
    torch.manual_seed(0)
    vae = BatchCoupledVAE(torch.randn(3, 16), torch.tensor([0.3, 0.2, 0.9]))
    with pytest.raises(InputError, match="interact within a batch"):
        mean_jacobians(vae, torch.rand(4, 1, 4, 4))
    assert mean_jacobians(vae, torch.rand(1, 1, 4, 4)).shape == (1, 3, 16)  # alone, nothing to compare


def test_margin_columns_and_their_labels() -> None:
    import pandas as pd

    from vaerobust.report.correlations import label, margin_figures

    cols = ["margin_r4", "margin_r0.5", "margin_robust_share", "margin_r1e", "margin_r1e-05", "margin"]
    assert margin_figures(pd.DataFrame(columns=cols)) == ["margin_r1e-05", "margin_r0.5", "margin_r4"]
    assert label("margin_r0.5") == "median margin, r = 0.5" and label("as_ignore") == "AS ignore-target"


def test_an_unbounded_median_is_said_not_a_crash() -> None:
    rec = {"radii": {"4": {"median": None, "robust_share": 1.0, "capped_share": 1.0}}, "seconds": 2.0}
    assert margin_pipeline._said(rec, 4.0).startswith("median margin unbounded (the mean ignores the input) at r = 4")
    assert "n/a at the sample cap" in margin_pipeline._said({"radii": {"4": {"median": 0.1}}}, 4.0)


def test_categorical_latents_and_bad_images_are_refused(tiny_vae: VAE, images: torch.Tensor) -> None:
    with pytest.raises(InputError, match="categorical"):
        mean_jacobians(tiny_vae, images)
    vae = VAE(LatentSpec(3, ()), arch="conv32", hidden=16).eval()
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        reconstruction_spread(vae, images * 2, samples=4)


@pytest.fixture
def gaussian_run(tmp_path: Path, tiny_run_cfg: RunConfig, no_figures: None) -> Path:
    cfg = dataclasses.replace(tiny_run_cfg, model=ModelConfig(gaussian_dims=4, categorical=(), hidden=16),
                              objective=objective_for("elbo"))
    train_vae(cfg, tmp_path / "run", progress=False)
    return tmp_path / "run"


def test_margin_run_writes_one_record_and_reuses_it(gaussian_run: Path) -> None:
    path = margin_pipeline.margin_run(gaussian_run, images=20, samples=8, radii=(1.0, 2.0), headline=2.0, device="cpu")
    rec = files.read_json(path)
    assert rec["n_images"] == 20 and set(rec["radii"]) == {"1", "2"} and rec["settings"]["samples"] == 8
    s1, s2 = rec["radii"]["1"], rec["radii"]["2"]
    for s in (s1, s2):
        assert s["unbounded_share"] == 0 and s["median_spectral"] >= s["median"] >= 0 and s["n"] == 20
        assert 0 <= s["capped_share"] <= s["robust_share"] <= 1
    assert max(s1["median"], s2["median"]) > 0  # a trained conv VAE is r-robust somewhere, with a positive margin
    assert rec["median_jacobian_spectral"] <= rec["median_jacobian_frobenius"] and rec["median_sigma_min"] > 0
    before = path.read_bytes()
    assert margin_pipeline.margin_run(gaussian_run, images=20, samples=8, radii=(2.0, 1.0), headline=2.0,
                                      device="cpu") == path and path.read_bytes() == before  # nothing measured again
    margin_pipeline.margin_run(gaussian_run, images=20, samples=8, radii=(1.0, 2.0), headline=1.0, device="cpu")
    assert files.read_json(path)["radii"] == rec["radii"] and files.read_json(path)["settings"]["headline_radius"] == 1.0
    assert margin_pipeline.headline_of(files.read_json(path))["margin"] == s1["median"]
    with pytest.raises(ConfigError, match="other settings"):
        margin_pipeline.margin_run(gaussian_run, images=10, samples=8, radii=(1.0, 2.0), headline=2.0, device="cpu")
    assert files.read_json(path)["radii"] == rec["radii"]  # the refused run kept the record

    # measured again: a record of other weights, an unreadable one, and one of an earlier version (no capped_share)
    old = files.read_json(path)
    stale = [{**old, "weights_sha256": "another checkpoint", "settings": {**old["settings"], "images": 3}}, "{not json",
             {**old, "radii": {k: {f: v for f, v in r.items() if f != "capped_share"} for k, r in old["radii"].items()}}]
    for bad in stale:
        path.write_text(bad if isinstance(bad, str) else files.dumps_json(bad))
        margin_pipeline.margin_run(gaussian_run, images=20, samples=8, radii=(1.0, 2.0), headline=1.0, device="cpu")
        assert files.read_json(path)["radii"] == old["radii"]  # the same seeds: the same figures


@pytest.mark.parametrize("kw, match", [({"images": 0}, "--images"), ({"samples": 1}, "--samples"),
                                       ({"radii": (1.0, -2.0)}, "--radius"), ({"headline": 3.0}, "--headline"),
                                       ({"radii": (1.0, 1.0000001)}, "print alike"),
                                       ({"radii": (1.0, 2.0), "headline": None}, "give --headline")])
def test_bad_settings_are_one_line(kw: dict, match: str) -> None:
    args = {"images": 5, "samples": 4, "radii": (1.0, 2.0), "headline": 2.0, **kw}
    with pytest.raises(ConfigError, match=match):
        margin_pipeline.check_settings(**args)


def test_the_headline_radius_defaults_to_4_or_the_only_radius() -> None:
    assert margin_pipeline.check_settings(5, 4, (8.0, 4.0, 1.0))[1] == 4.0
    assert margin_pipeline.check_settings(5, 4, (1.5,)) == ([1.5], 1.5)


def test_the_tight_case_gives_the_exact_margin() -> None:
    """One latent, mu = w x, a decoder whose robust region is the half-space z <= tau (the worst case):
    P(z' <= tau) > 1/2 for z' ~ N(w (x + delta), sigma^2) exactly while w delta < tau - w x, and with
    p = Phi((tau - w x) / sigma) the formula gives that margin exactly."""
    sigma, w, wx, tau = 0.4, 2.5, 0.1, 0.9
    p = norm.cdf((tau - wx) / sigma)
    exact = (tau - wx) / w
    assert first_order_margin(np.array([sigma]), np.array([p]), np.array([w]))[0] == pytest.approx(exact)


@pytest.mark.parametrize("r", [1.5, 3.0])
def test_a_two_sided_robust_region_gets_a_margin_below_the_exact_one(r: float) -> None:
    """g(z) = z e, sigma = 1: robust while P(|z' - mu| <= r) > 1/2 for z' ~ N(mu + t, 1); the exact margin t*
    solves Phi(r - t) - Phi(-r - t) = 1/2. The first-order margin is a lower bound of it (not tight here)."""
    from scipy.optimize import brentq

    exact = brentq(lambda t: norm.cdf(r - t) - norm.cdf(-r - t) - 0.5, 0.0, r)
    p = 2 * norm.cdf(r) - 1
    bound = first_order_margin(np.array([1.0]), np.array([p]), np.array([1.0]))[0]
    assert 0 < bound < exact
    assert bound == pytest.approx(norm.ppf(p))


def test_margin_run_on_a_linear_vae_gives_the_closed_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end (the pipeline's own norms and medians): J = W for every image, so the Frobenius and
    spectral medians are ||W||_F and its largest singular value, and the margin at r is
    0.2 * Phi^-1(2 Phi(r / 0.3) - 1) / ||W||_F."""
    torch.manual_seed(1)
    w = torch.randn(3, 16)
    vae = LinearVAE(w, torch.tensor([0.3, 0.2, 0.9]))
    x = torch.rand(40, 1, 4, 4)
    monkeypatch.setattr(margin_pipeline, "load_vae", lambda *a, **k: vae)
    monkeypatch.setattr(margin_pipeline, "load_dataset", lambda *a, **k: (x, torch.zeros(40)))
    monkeypatch.setattr(margin_pipeline, "read_run_config", lambda *a, **k: type("C", (), {"data": None})())
    monkeypatch.setattr(margin_pipeline, "_weights_sha256", lambda *a: "w")
    rec = files.read_json(margin_pipeline.margin_run(tmp_path, images=40, samples=2000, radii=(0.3, 0.6),
                                                     headline=0.3, device="cpu", batch_size=16))
    fro, spec = float(torch.linalg.matrix_norm(w)), float(torch.linalg.svdvals(w)[0])
    assert rec["median_jacobian_frobenius"] == pytest.approx(fro, rel=1e-5)
    assert rec["median_jacobian_spectral"] == pytest.approx(spec, rel=1e-5)
    assert rec["median_sigma_min"] == pytest.approx(0.2)
    for r in (0.3, 0.6):
        s = rec["radii"][f"{r:g}"]
        truth = 0.2 * norm.ppf(2 * norm.cdf(r / 0.3) - 1)
        assert s["median"] == pytest.approx(truth / fro, rel=0.05)
        assert s["median_spectral"] == pytest.approx(truth / spec, rel=0.05)
        assert s["robust_share"] == 1.0 and s["capped_share"] == 0.0


def test_categorical_run_gets_a_not_applicable_record(tmp_path: Path, tiny_run_cfg: RunConfig, no_figures: None) -> None:
    train_vae(tiny_run_cfg, tmp_path / "run", progress=False)
    rec = files.read_json(margin_pipeline.margin_run(tmp_path / "run", images=5, samples=4, device="cpu"))
    assert "categorical" in rec["not_applicable"] and "radii" not in rec
    assert margin_pipeline.headline_of(rec) == {"margin_not_applicable": rec["not_applicable"]}  # no figure


def test_a_study_measures_its_finished_jobs_that_have_checkpoints(tmp_path: Path) -> None:
    """Gaussian jobs measured, a categorical one not applicable, one without its checkpoint counted;
    measuring again changes nothing; collect reads the margin into the results table."""
    import os

    from vaerobust.config import StudyConfig, from_dict
    from vaerobust.pipelines import study

    os.environ["VAEROBUST_CACHE"] = str(tmp_path / "_cache")
    spec = from_dict(StudyConfig, {
        "name": "tiny-margin",
        "base": {"data": {"name": "synthetic"}, "model": {"gaussian_dims": 3, "categorical": [], "hidden": 16},
                 "objective": {"name": "elbo"},
                 "train": {"steps": 10, "batch_size": 16, "lr": 1e-3, "log_every": 5, "checkpoint_every": 10}},
        "models": {"gauss": {}, "joint": {"model.categorical": [10], "objective.name": "jointvae",
                                          "objective.capacity_steps": 10}},
        "judge": {"data": {"name": "synthetic"}, "classifier": {"epochs": 1, "max_steps": 10}},
        "attack": {"steps": 2}, "sweep": {"per_pair": 1, "pairs": "0-1,1-0"},
        "grid": {"train.seed": [0, 1]}, "evaluate": {"metrics": "active_dims"},
    })
    out = tmp_path / "s"
    assert study.run(spec, out, workers=1, device="cpu", progress=False, echo=lambda s: None) == {"done": 5}
    (out / "jobs" / "gauss__train.seed=1" / "model" / "model.safetensors").unlink()
    lines: list[str] = []
    kw = {"images": 8, "samples": 4, "radii": (1.0, 2.0), "headline": 2.0, "device": "cpu"}
    counts = margin_pipeline.study_margin(out, echo=lines.append, **kw)
    assert counts == {"measured": 1, "updated": 0, "unchanged": 0, "not applicable": 2, "no checkpoint": 1,
                      "unfinished": 0, "failed": 0}
    measured = out / "jobs" / "gauss__train.seed=0"
    assert (measured / "margin.json").read_bytes() == (measured / "model" / "metrics" / "margin.json").read_bytes()
    assert any(ln.startswith("gauss__train.seed=0: measured: median margin") for ln in lines)
    again = margin_pipeline.study_margin(out, echo=lines.append, **kw)
    assert again["unchanged"] == 1 and again["measured"] == 0
    assert margin_pipeline.study_margin(out, echo=lines.append, **{**kw, "headline": 1.0})["updated"] == 1
    rows = study.table(study.records(out)).drop_duplicates("job").set_index("job")
    assert np.isfinite(rows.loc["gauss__train.seed=0", "margin_r1"]) and rows.margin_headline.dropna().tolist() == ["1"]
    assert rows[["margin"]].isna().sum().iloc[0] == 3  # categorical (not applicable) and the checkpoint-less job
    assert rows.margin_not_applicable.notna().sum() == 2
    from vaerobust.report.correlations import margin_text

    assert margin_text(study.table(study.records(out))).startswith("1 of 4 model jobs have a margin; to 2 it does not "
                                                                   "apply (the model has categorical latents")

    # a job run again after it was measured: its old copy is not read as the new checkpoint's
    weights = measured / "model" / "model.safetensors"
    saved = weights.read_bytes()
    weights.write_bytes(saved + b" ")
    rows = study.table(study.records(out)).drop_duplicates("job").set_index("job")
    assert rows.loc["gauss__train.seed=0", "margin_unusable"] == "measured on other weights than the job's checkpoint"
    assert "margin" not in rows.columns  # the only measured job's copy is not used
    exported = study.export(out, tmp_path / "published")
    published = {p.parent.name for p in exported if p.name == "margin.json"}
    assert published == {"joint__train.seed=0", "joint__train.seed=1"}  # a stale margin is never published
    import unittest.mock

    with unittest.mock.patch.object(margin_pipeline, "margin_run", side_effect=RuntimeError("disk")):
        assert margin_pipeline.study_margin(out, echo=lines.append, **kw)["failed"] == 3  # every job with a checkpoint
    assert not (measured / "margin.json").exists()  # a failed re-measure leaves no stale copy behind
    weights.write_bytes(saved)

    # one job failing (here: any error, not only a user's) is counted, and the others still run
    real = margin_pipeline.margin_run

    def flaky(run_dir: Path, *a: object, **k: object) -> Path:
        if "joint__train.seed=0" in str(run_dir):
            raise RuntimeError("out of memory")
        return real(run_dir, *a, **k)

    with unittest.mock.patch.object(margin_pipeline, "margin_run", flaky):
        counts = margin_pipeline.study_margin(out, echo=lines.append, **kw)
    assert counts["failed"] == 1 and counts["not applicable"] == 1 and counts["updated"] == 1
    assert "joint__train.seed=0: failed: RuntimeError: out of memory" in lines


def test_the_margin_command_prints_each_radius_and_refuses_bad_input(gaussian_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from test_cli import run_main

    code, out, _ = run_main(monkeypatch, capsys, "margin", str(gaussian_run), "--images", "6", "--samples", "4",
                            "--radius", "1", "--radius", "2", "--headline", "2", "--device", "cpu")
    assert code == 0 and "r = 1: median margin" in out and "r = 2: median margin" in out and "written:" in out
    code, _, err = run_main(monkeypatch, capsys, "margin", str(gaussian_run), "--radius", "nan", "--device", "cpu")
    assert code == 2 and "--radius" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_main(monkeypatch, capsys, "margin", str(gaussian_run.parent / "nowhere"), "--device", "cpu")
    assert code == 2 and "nowhere" in err


def test_the_commands_defaults_are_the_pipelines() -> None:
    """The CLI states its defaults without importing the pipeline (no work at import): they must agree."""
    from vaerobust import cli

    assert (cli.MARGIN_IMAGES.default, cli.MARGIN_SAMPLES.default, cli.MARGIN_SEED.default) == \
        (margin_pipeline.IMAGES, margin_pipeline.SAMPLES, 0)
    assert margin_pipeline.check_settings(1, 2, margin_pipeline.RADII, cli.MARGIN_HEADLINE.default)[1] == \
        margin_pipeline.HEADLINE
