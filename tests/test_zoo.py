"""The disentangling zoo: every objective trains; beta-TCVAE's decomposition, DIP-VAE's
penalties and FactorVAE's density-ratio TC against known values; the conv64 and mlp
architectures; the dSprites preset's smoke runs; FactorVAE's exact resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.distributions import Normal

from conftest import objective_for
from vaerobust import files, rundir
from vaerobust.config import (
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    apply_overrides,
    load_study,
    objective_config,
    resolve_preset,
)
from vaerobust.models import VAE, LatentSpec, Posterior, build_vae
from vaerobust.models.decoders import DECODERS, Conv64Decoder
from vaerobust.models.discriminator import Discriminator
from vaerobust.models.encoders import ENCODERS, Conv64Encoder
from vaerobust.models.vae import VAEOutput
from vaerobust.objectives import OBJECTIVES, build_objective
from vaerobust.objectives.factor_vae import permute_dims
from vaerobust.objectives.terms import (
    batch_covariance,
    bernoulli_nll,
    dip_penalties,
    kl_gaussian,
    linear_capacity,
    tc_decomposition,
)
from vaerobust.pipelines.train import build_model, train_vae
from vaerobust.rundir import is_complete

# --------------------------------------------------------------------------- every objective trains


def _tiny_cfg(name: str, **objective: object) -> RunConfig:
    """A 16x16 MLP VAE on the synthetic blobs: a train step takes milliseconds."""
    return RunConfig(
        data=DataConfig(name="synthetic", image_size=16),
        model=ModelConfig(arch="mlp", gaussian_dims=4, categorical=(), hidden=32),
        objective=objective_for(name, capacity_steps=10, disc_hidden=16, disc_layers=2, **objective),
        train=TrainConfig(steps=10, batch_size=32, lr=3e-3, seed=0, log_every=1, checkpoint_every=5),
    )


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_every_objective_trains(name: str, tmp_path: Path, no_figures: None) -> None:
    cfg = _tiny_cfg(name)
    torch.manual_seed(cfg.train.seed)
    init = {k: v.clone() for k, v in build_model(cfg).state_dict().items()}
    run = train_vae(cfg, tmp_path / name, device="cpu", progress=False)
    assert is_complete(run)
    rows = files.read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 11))
    for r in rows:
        assert {"loss", "recon", "kl_gauss", "kl_cat"} <= set(r)
        assert all(math.isfinite(v) for v in r.values()), r
    assert len({r["loss"] for r in rows}) > 1  # the loss moves
    after = load_file(str(run / "model.safetensors"))
    assert all(not torch.equal(after[k], init[k]) for k in init)
    # the reconstruction of a fixed batch (deterministic code) improves
    from vaerobust.data import load_dataset

    x = load_dataset(cfg.data, "test")[0][:64]
    before, trained = build_model(cfg), build_model(cfg)
    before.load_state_dict(init)
    trained.load_state_dict(after)
    with torch.no_grad():
        nll = [bernoulli_nll(m(x, sample=False).recon_logits, x).mean().item() for m in (before, trained)]
    assert nll[1] < nll[0]


# --------------------------------------------------------------------------- beta-TCVAE


def _posterior_sample(m: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(m, d, generator=g, dtype=torch.float64)
    logvar = torch.randn(m, d, generator=g, dtype=torch.float64) * 0.5 - 1
    z = mean + torch.exp(0.5 * logvar) * torch.randn(m, d, generator=g, dtype=torch.float64)
    return z, mean, logvar


@pytest.mark.parametrize("n", [50, 737_280])
def test_tc_decomposition_sums_to_the_sampled_kl(n: int) -> None:
    z, mean, logvar = _posterior_sample(40, 5)
    dec = tc_decomposition(z, mean, logvar, n)
    assert dec.mi.shape == dec.tc.shape == dec.dim_kl.shape == (40,)
    # the same-sample estimate of KL(q(z|x) || p(z)), by torch.distributions
    log_q = Normal(mean, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
    log_p = Normal(torch.zeros_like(z), torch.ones_like(z)).log_prob(z).sum(1)
    torch.testing.assert_close(dec.mi + dec.tc + dec.dim_kl, log_q - log_p, rtol=0, atol=1e-10)


def test_tc_decomposition_constants_at_the_prior() -> None:
    # every posterior is the prior: q(z) = p(z) factorises, and the MWS estimator returns its
    # known bias: MI = log N, TC = (D - 1) log N, dim-KL = -D log N (whatever M)
    m, d, n = 30, 4, 1000
    z = torch.randn(m, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    zeros = torch.zeros(m, d, dtype=torch.float64)
    dec = tc_decomposition(z, zeros, zeros, n)
    ln = math.log(n)
    torch.testing.assert_close(dec.mi, torch.full((m,), ln, dtype=torch.float64))
    torch.testing.assert_close(dec.tc, torch.full((m,), (d - 1) * ln, dtype=torch.float64))
    torch.testing.assert_close(dec.dim_kl, torch.full((m,), -d * ln, dtype=torch.float64))


def test_tc_detects_correlated_codes() -> None:
    # narrow posteriors on k values per dimension, D = 2. Factorised: the full k x k grid;
    # correlated: the diagonal z_1 = z_2. Past MWS's constant (D - 1) log N, TC is ~0 for the
    # grid and ~log k for the diagonal.
    k, n = 6, 500
    vals = torch.arange(k, dtype=torch.float64) * 3.0
    grid = torch.cartesian_prod(vals, vals)  # [k^2, 2]
    diag = torch.stack([vals, vals], dim=1)  # [k, 2]
    tc = {}
    for label, mean in (("grid", grid), ("diag", diag)):
        logvar = torch.full_like(mean, 2 * math.log(1e-2))
        tc[label] = tc_decomposition(mean, mean, logvar, n).tc.mean().item() - math.log(n)
    assert tc["grid"] == pytest.approx(0.0, abs=1e-3)
    assert tc["diag"] == pytest.approx(math.log(k), abs=1e-3)


def _forward(spec: LatentSpec, seed: int = 0, m: int = 8) -> tuple[torch.Tensor, VAEOutput]:
    torch.manual_seed(seed)
    vae = VAE(spec, arch="mlp", hidden=16, image_size=8)
    x = torch.rand(m, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    post = vae.encode(x)
    code = post.sample(0.67, generator=torch.Generator().manual_seed(seed + 1))
    return x, VAEOutput(post, code, vae.decoder(code))


def test_beta_tcvae_loss_weights_its_terms() -> None:
    x, out = _forward(LatentSpec(3, (4,)))
    obj = build_objective(objective_for("beta_tcvae", mi_weight=2.0, beta=6.0, dim_kl_weight=0.5))
    obj.setup(LatentSpec(3, (4,)), dataset_size=1000)
    t = obj(out, x, 0).terms
    dec = tc_decomposition(out.code[:, :3], out.posterior.mean, out.posterior.logvar, 1000)
    torch.testing.assert_close(t["tc"], dec.tc.mean())
    expected = t["recon"] + 2.0 * t["mi"] + 6.0 * t["tc"] + 0.5 * t["dim_kl"] + t["kl_cat"]
    torch.testing.assert_close(obj(out, x, 0).loss, expected)
    # a configured dataset_size wins over the trainer's
    fixed = build_objective(objective_for("beta_tcvae", dataset_size=7))
    fixed.setup(LatentSpec(3, (4,)), dataset_size=1000)
    dec7 = tc_decomposition(out.code[:, :3], out.posterior.mean, out.posterior.logvar, 7)
    torch.testing.assert_close(fixed(out, x, 0).terms["mi"], dec7.mi.mean())


# --------------------------------------------------------------------------- DIP-VAE


def test_dip_penalties_known_values() -> None:
    cov = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, -1.0], [0.0, -1.0, 0.5]], dtype=torch.float64)
    off, diag = dip_penalties(cov)
    assert off.item() == pytest.approx(2 * 0.25 + 2 * 1.0)  # 0.5^2 twice, (-1)^2 twice
    assert diag.item() == pytest.approx(1.0 + 0.0 + 0.25)  # (2-1)^2 + (1-1)^2 + (0.5-1)^2
    assert [v.item() for v in dip_penalties(torch.eye(4))] == [0.0, 0.0]


def _identity_cov_means(d: int) -> torch.Tensor:
    """2d rows +-sqrt(d) e_i: mean 0, E[mu mu^T] = (2 d / 2d) I = I exactly."""
    eye = torch.eye(d, dtype=torch.float64) * math.sqrt(d)
    return torch.cat([eye, -eye])


@pytest.mark.parametrize("dip_type", ["i", "ii"])
def test_dip_vae_regulariser_vanishes_at_identity_covariance(dip_type: str) -> None:
    d = 3
    mu = _identity_cov_means(d)
    torch.testing.assert_close(batch_covariance(mu), torch.eye(d, dtype=torch.float64))
    obj = build_objective(objective_for("dip_vae", dip_type=dip_type, lambda_od=5.0, lambda_d=7.0))
    if dip_type == "i":
        mean, logvar = mu, torch.randn(2 * d, d, dtype=torch.float64)  # type i ignores the variances
    else:  # Cov[mu] = I/2 and E[sigma^2] = 1/2: the aggregate covariance is I
        mean, logvar = mu * math.sqrt(0.5), torch.full((2 * d, d), math.log(0.5), dtype=torch.float64)
    x = torch.rand(2 * d, 1, 2, 2, dtype=torch.float64)
    out = VAEOutput(Posterior(mean, logvar), mean, torch.zeros_like(x))
    res = obj(out, x, 0)
    assert res.terms["dip_offdiag"].item() == pytest.approx(0.0, abs=1e-12)
    assert res.terms["dip_diag"].item() == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(res.loss, res.terms["recon"] + res.terms["kl_gauss"])
    # the other type does see a penalty on the same batch: sum_i (1/2 - 1)^2 = d / 4 for ii's
    # means under type i; for i's batch, type ii adds E[sigma^2] to the diagonal
    other = build_objective(objective_for("dip_vae", dip_type="ii" if dip_type == "i" else "i"))
    assert other(out, x, 0).terms["dip_diag"].item() > 0.1


def test_dip_vae_loss_on_a_hand_made_batch() -> None:
    # two dims, four rows: mu = (a, a) fully correlated, a = (+-1, +-1) -> Cov = [[1, 1], [1, 1]]
    mean = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    logvar = torch.zeros_like(mean)
    x = torch.rand(4, 1, 2, 2, dtype=torch.float64)
    out = VAEOutput(Posterior(mean, logvar), mean, torch.zeros_like(x))
    res = build_objective(objective_for("dip_vae", dip_type="i", lambda_od=3.0, lambda_d=5.0))(out, x, 0)
    assert res.terms["dip_offdiag"].item() == pytest.approx(2.0)  # 1^2 + 1^2
    assert res.terms["dip_diag"].item() == pytest.approx(0.0)
    # type ii adds E[sigma^2] = 1 to the diagonal: (2 - 1)^2 * 2 = 2
    res2 = build_objective(objective_for("dip_vae", dip_type="ii"))(out, x, 0)
    assert res2.terms["dip_diag"].item() == pytest.approx(2.0)
    expected = res.terms["recon"] + kl_gaussian(mean, logvar).mean() + 3.0 * 2.0
    torch.testing.assert_close(res.loss, expected)


# --------------------------------------------------------------------------- FactorVAE


def test_discriminator_log_ratio_is_the_logit_difference() -> None:
    disc = Discriminator(5, hidden=8, layers=2)
    with torch.no_grad():
        for p in disc.parameters():
            p.zero_()
        disc.net[-1].bias.copy_(torch.tensor([1.5, -0.25]))
    z = torch.randn(7, 5)
    torch.testing.assert_close(disc.log_ratio(z), torch.full((7,), 1.75))
    # softmax: D = sigmoid(1.75), log(D / (1 - D)) = 1.75
    p = torch.softmax(disc(z), dim=1)[:, 0]
    torch.testing.assert_close(torch.log(p / (1 - p)), torch.full((7,), 1.75))
    assert len([m for m in disc.net if isinstance(m, torch.nn.Linear)]) == 3  # 2 hidden + output


def test_factor_vae_tc_term_is_gamma_weighted_discriminator_ratio() -> None:
    x, out = _forward(LatentSpec(3, ()))
    obj = build_objective(objective_for("factor_vae", gamma=35.0, disc_hidden=8, disc_layers=2))
    obj.setup(LatentSpec(3, ()), dataset_size=100)
    with torch.no_grad():
        for p in obj.discriminator.parameters():
            p.zero_()
        obj.discriminator.net[-1].bias.copy_(torch.tensor([0.5, 0.0]))
    res = obj(out, x, 0)
    assert res.terms["tc"].item() == pytest.approx(0.5)
    torch.testing.assert_close(res.loss, res.terms["recon"] + res.terms["kl_gauss"] + 35.0 * 0.5)


def test_permute_dims_shuffles_each_variable_across_the_batch() -> None:
    b = 50
    code = torch.cat([torch.arange(b).float()[:, None], 100 + torch.arange(b).float()[:, None],
                      torch.nn.functional.one_hot(torch.arange(b) % 3, 3).float() + torch.arange(b)[:, None]], 1)
    out = permute_dims(code, [1, 1, 3], torch.Generator().manual_seed(0))
    # every column keeps its values; the categorical block moves as whole rows
    for j in range(5):
        assert torch.equal(out[:, j].sort().values, code[:, j].sort().values)
    rows = {tuple(r.tolist()) for r in code[:, 2:]}
    assert all(tuple(r.tolist()) in rows for r in out[:, 2:])
    # the two Gaussian dims were shuffled independently
    assert not torch.equal(out[:, 0], code[:, 0]) and not torch.equal(out[:, 0], out[:, 1] - 100)


@pytest.mark.parametrize("correlated", [True, False])
def test_factor_vae_discriminator_learns_the_total_correlation(correlated: bool) -> None:
    # z_2 = z_1 + 0.1 eps: TC = -1/2 log(1 - rho^2) ~= 2.3 nats; independent z: TC = 0
    torch.manual_seed(0)
    obj = build_objective(objective_for("factor_vae", disc_hidden=64, disc_layers=2, disc_lr=3e-3))
    obj.setup(LatentSpec(2, ()), dataset_size=1)
    g = torch.Generator().manual_seed(0)

    def sample(m: int) -> torch.Tensor:
        a = torch.randn(m, 2, generator=g)
        return torch.stack([a[:, 0], a[:, 0] + 0.1 * a[:, 1]], 1) if correlated else a

    for step in range(300):
        logs = obj.aux_step(sample(256), sample(256), step, g)
    assert set(logs) == {"disc_loss", "disc_acc"}
    with torch.no_grad():
        tc = obj.discriminator.log_ratio(sample(4000)).mean().item()
    if correlated:
        assert tc > 1.0 and logs["disc_acc"] > 0.8
    else:
        assert abs(tc) < 0.3


def test_factor_vae_state_round_trip_and_errors() -> None:
    obj = build_objective(objective_for("factor_vae", disc_hidden=8, disc_layers=1))
    with pytest.raises(RuntimeError, match="setup"):
        obj.aux_step(torch.zeros(4, 2), None, 0)
    assert obj.state_dict() == {} and len(obj.modules()) == 0
    obj.setup(LatentSpec(2, ()), dataset_size=10)
    obj.aux_step(torch.randn(4, 2), None, 0)
    state = obj.state_dict()
    other = build_objective(objective_for("factor_vae", disc_hidden=8, disc_layers=1))
    other.setup(LatentSpec(2, ()), dataset_size=10)
    other.load_state_dict(state)
    for k, v in obj.discriminator.state_dict().items():
        assert torch.equal(other.discriminator.state_dict()[k], v)
    assert other.optimizer.state_dict()["state"][0]["step"] == 1
    with pytest.raises(ValueError, match="keeps no state"):
        build_objective(objective_for("elbo")).load_state_dict({"x": 1})


def test_factor_vae_resumes_exactly(tmp_path: Path, no_figures: None) -> None:
    cfg = _tiny_cfg("factor_vae", gamma=10.0)
    full = train_vae(cfg, tmp_path / "full", device="cpu", progress=False)
    part = tmp_path / "part"
    train_vae(cfg, part, device="cpu", progress=False, stop_at=3)
    assert not is_complete(part) and rundir.load_train_state(part / "train_state.pt")["step"] == 3
    train_vae(cfg, part, device="cpu", progress=False)
    for name in ("model.safetensors", "objective.safetensors"):
        a, b = load_file(str(full / name)), load_file(str(part / name))
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a), name
    assert any(k.startswith("discriminator.") for k in load_file(str(full / "objective.safetensors")))
    sa, sb = rundir.load_train_state(full / "train_state.pt"), rundir.load_train_state(part / "train_state.pt")
    for k, v in sa["objective"]["discriminator"].items():
        assert torch.equal(v, sb["objective"]["discriminator"][k])
    opt_a, opt_b = sa["objective"]["optimizer"]["state"], sb["objective"]["optimizer"]["state"]
    assert all(torch.equal(opt_a[i]["exp_avg_sq"], opt_b[i]["exp_avg_sq"]) for i in opt_a)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "images_per_s"} for r in rows]  # noqa: E731
    assert strip(files.read_jsonl(full / "metrics.jsonl")) == strip(files.read_jsonl(part / "metrics.jsonl"))


# --------------------------------------------------------------------------- capacity (Burgess)


def test_capacity_with_gaussian_latents_only() -> None:
    x, out = _forward(LatentSpec(4, ()))
    res = build_objective(objective_for("capacity", gamma=1000.0, capacity_max=25.0, capacity_steps=100))(out, x, 40)
    kl = kl_gaussian(out.posterior.mean, out.posterior.logvar).mean()
    assert res.terms["kl_cat"].item() == 0.0 and res.terms["capacity"].item() == pytest.approx(10.0)
    torch.testing.assert_close(res.loss, res.terms["recon"] + 1000.0 * (kl - linear_capacity(40, 25.0, 100)).abs())


# --------------------------------------------------------------------------- architectures


def test_conv64_shapes_and_layers() -> None:
    enc, dec = Conv64Encoder(n_params=20, hidden=256), Conv64Decoder(code_size=10, hidden=256)
    assert enc(torch.rand(3, 1, 64, 64)).shape == (3, 20)
    assert dec(torch.rand(3, 10)).shape == (3, 1, 64, 64)
    convs = [m for m in enc.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(32, (4, 4), (2, 2))] * 4
    dense = [m for m in enc.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in dense] == [(512, 256), (256, 256), (256, 20)]
    deconvs = [m for m in dec.deconv if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(deconvs) == 4 and deconvs[-1].out_channels == 1


@pytest.mark.parametrize("size", [16, 28, 64])
def test_mlp_any_size(size: int) -> None:
    vae = VAE(LatentSpec(5, (3,)), arch="mlp", hidden=32, image_size=size)
    assert vae.image_shape == (1, size, size)
    out = vae(torch.rand(2, 1, size, size))
    assert out.recon_logits.shape == (2, 1, size, size) and out.code.shape == (2, 8)


@pytest.mark.parametrize("arch", ENCODERS.names())
def test_every_arch_rebuilds_from_its_description(arch: str) -> None:
    assert arch in DECODERS
    size = {"conv32": 32, "conv64": 64}.get(arch, 20)
    torch.manual_seed(0)
    vae = VAE(LatentSpec(4, (3,)), arch=arch, hidden=16, image_size=size).eval()
    desc = vae.describe()
    assert ("image_size" in desc) == (ENCODERS.get(arch).image_shape is None)
    other = build_vae(io_round_trip(desc))
    other.load_state_dict(vae.state_dict())
    other.eval()
    x = torch.rand(2, *vae.image_shape)
    assert other.image_shape == vae.image_shape
    assert torch.equal(other.reconstruct(x), vae.reconstruct(x))


def io_round_trip(desc: dict) -> dict:
    import json

    return json.loads(json.dumps(desc))


def test_arch_and_image_size_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="arch 'conv64' takes 64x64 images, got image_size=32"):
        VAE(LatentSpec(4, ()), arch="conv64", image_size=32)
    with pytest.raises(ValueError, match="arch 'mlp' takes images of any size"):
        VAE(LatentSpec(4, ()), arch="mlp")
    cfg = RunConfig(data=DataConfig(name="synthetic", image_size=32), model=ModelConfig(arch="conv64", categorical=()))
    with pytest.raises(ValueError, match="data.image_size: 64"):
        build_model(cfg)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "override, key",
    [({"dip_type": "iii"}, "dip_type"), ({"disc_betas": (0.5,)}, "disc_betas"), ({"dataset_size": 0}, "dataset_size"),
     ({"disc_layers": 0}, "disc_layers"), ({"lambda_od": -1.0}, "lambda_od"), ({"mi_weight": -1.0}, "mi_weight")],
)
def test_objective_config_range_checks(override: dict, key: str) -> None:
    owner = {"dip_type": "dip_vae", "disc_betas": "factor_vae", "dataset_size": "beta_tcvae", "disc_layers": "factor_vae",
             "lambda_od": "dip_vae", "mi_weight": "beta_tcvae"}[key]
    with pytest.raises(ConfigError, match=f"objective.{key} = .*expected"):
        objective_config(owner, **override)


# --------------------------------------------------------------------------- the dSprites preset


def test_dsprites_preset_settings() -> None:
    study = load_study("dsprites")
    assert set(study.models) == {"beta_vae", "factor_vae", "beta_tcvae", "capacity", "jointvae"}
    assert study.base.data == DataConfig(name="dsprites", image_size=64)
    for name in study.models:
        rc = study.run_config(name)
        assert rc.objective.name == name and rc.model.arch == "conv64" and rc.model.hidden == 256
        if name != "jointvae":
            assert (rc.model.gaussian_dims, rc.model.categorical) == (10, ())
    r = {m: study.run_config(m).objective for m in study.models}
    assert r["beta_vae"].beta == 4.0 and r["beta_tcvae"].beta == 6.0 and r["factor_vae"].gamma == 35.0
    assert (r["capacity"].gamma, r["capacity"].capacity_max, r["capacity"].capacity_steps) == (1000.0, 25.0, 100_000)
    assert (r["factor_vae"].disc_hidden, r["factor_vae"].disc_layers, r["factor_vae"].disc_betas) == (1000, 6, (0.5, 0.9))
    joint = study.run_config("jointvae")
    assert (joint.model.gaussian_dims, joint.model.categorical) == (6, (3,))
    assert (joint.objective.gamma, joint.objective.cat_capacity_max) == (150.0, 1.1)


@pytest.mark.parametrize("model", sorted(load_study("dsprites").models))
def test_dsprites_preset_smoke_run(model: str, tmp_path: Path, no_figures: None) -> None:
    # quick budgets, on synthetic 64x64 images until dSprites data is at hand
    cfg = resolve_preset(f"dsprites/{model}", quick=True)
    cfg = apply_overrides(cfg, {"data.name": "synthetic", "train.steps": 3, "train.batch_size": 8})
    run = train_vae(cfg, tmp_path / model, device="cpu", progress=False)
    assert is_complete(run)
    assert files.read_json(run / "model.json")["arch"] == "conv64"
    assert rundir.load_train_state(run / "train_state.pt")["step"] == 3


def test_reproduce_refuses_a_study_whose_judge_does_not_see_the_models_data() -> None:
    from vaerobust.config import ConfigError
    from vaerobust.pipelines.reproduce import resolve_study

    with pytest.raises(ConfigError, match="model 'beta_vae' trains on dsprites 64x64 but the judge on mnist 32x32"):
        resolve_study("dsprites")
    resolve_study("sootla2018")  # the study with a judge of its data passes
