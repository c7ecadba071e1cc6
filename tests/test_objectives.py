"""Objectives: the pure KL / likelihood / schedule terms against closed forms and
torch.distributions, and every registered objective on a tiny VAE forward pass."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from conftest import objective_for
from vaerobust.models import VAE, LatentSpec
from vaerobust.objectives import OBJECTIVES, LossOutput, build_objective
from vaerobust.objectives.terms import (
    bernoulli_nll,
    kl_categorical_uniform,
    kl_gaussian,
    kl_gaussian_per_dim,
    linear_capacity,
)
from vaerobust.registry import UnknownNameError

# --------------------------------------------------------------------------- kl_gaussian


def test_kl_gaussian_hand_computed() -> None:
    # row 0: mu = (1, 0), logvar = (0, 0): KL = 1/2 * (mu^2) summed = 0.5
    # row 1: mu = (0, 2), logvar = (log 2, 0): KL = -1/2 * [(1 + log2 - 0 - 2) + (1 + 0 - 4 - 1)]
    #                                          = -1/2 * (log 2 - 1 - 4) = 2.5 - log(2) / 2
    mean = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, 0.0], [math.log(2.0), 0.0]], dtype=torch.float64)
    kl = kl_gaussian(mean, logvar)
    assert kl.shape == (2,)
    torch.testing.assert_close(kl, torch.tensor([0.5, 2.5 - 0.5 * math.log(2.0)], dtype=torch.float64))
    # the per-dimension version sums to the same thing
    torch.testing.assert_close(kl_gaussian_per_dim(mean, logvar).sum(1), kl)


def test_kl_gaussian_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(1)
    mean = torch.randn(7, 5, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(7, 5, generator=g, dtype=torch.float64)
    std = torch.exp(0.5 * logvar)
    ref = kl_divergence(Normal(mean, std), Normal(torch.zeros_like(mean), torch.ones_like(mean))).sum(1)
    torch.testing.assert_close(kl_gaussian(mean, logvar), ref, rtol=1e-10, atol=1e-10)


def test_kl_gaussian_zero_at_prior() -> None:
    kl = kl_gaussian(torch.zeros(3, 4), torch.zeros(3, 4))
    assert torch.equal(kl, torch.zeros(3))


def test_kl_gaussian_positive_off_prior() -> None:
    g = torch.Generator().manual_seed(2)
    mean, logvar = torch.randn(50, 3, generator=g), torch.randn(50, 3, generator=g)
    assert (kl_gaussian(mean, logvar) > 0).all()


# --------------------------------------------------------------------------- kl_categorical_uniform


def test_kl_categorical_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 10, generator=g, dtype=torch.float64) * 3
    uniform = Categorical(probs=torch.full((6, 10), 0.1, dtype=torch.float64))
    ref = kl_divergence(Categorical(logits=logits), uniform)
    torch.testing.assert_close(kl_categorical_uniform(logits), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_kl_categorical_peaked_is_log_k(k: int) -> None:
    logits = torch.zeros(4, k, dtype=torch.float64)
    logits[torch.arange(4), torch.arange(4) % k] = 100.0  # one-hot-like posterior
    torch.testing.assert_close(
        kl_categorical_uniform(logits), torch.full((4,), math.log(k), dtype=torch.float64), rtol=0, atol=1e-9
    )


def test_kl_categorical_uniform_logits_is_zero() -> None:
    # any constant row of logits is the uniform distribution
    logits = torch.tensor([[0.0] * 5, [3.0] * 5, [-7.0] * 5])
    torch.testing.assert_close(kl_categorical_uniform(logits), torch.zeros(3), rtol=0, atol=1e-6)


def test_kl_categorical_hand_computed() -> None:
    # q = (1/2, 1/4, 1/4): KL = sum q log(q K) = 1/2 log(3/2) + 2 * 1/4 log(3/4)
    q = torch.tensor([[0.5, 0.25, 0.25]], dtype=torch.float64)
    expected = 0.5 * math.log(1.5) + 0.5 * math.log(0.75)
    torch.testing.assert_close(kl_categorical_uniform(q.log()), torch.tensor([expected], dtype=torch.float64))


# --------------------------------------------------------------------------- bernoulli_nll


def test_bernoulli_nll_hand_computed() -> None:
    # pixels with p = sigmoid(logit): -[x log p + (1 - x) log(1 - p)], summed per example
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]], [[[0.5, -0.5], [0.0, 0.0]]]], dtype=torch.float64)
    x = torch.tensor([[[[1.0, 0.0], [0.25, 1.0]]], [[[0.0, 1.0], [0.5, 0.0]]]], dtype=torch.float64)
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    expected = []
    for b in range(2):
        total = 0.0
        for lv, xv in zip(logits[b].flatten().tolist(), x[b].flatten().tolist()):
            p = sig(lv)
            total += -(xv * math.log(p) + (1 - xv) * math.log(1 - p))
        expected.append(total)
    out = bernoulli_nll(logits, x)
    assert out.shape == (2,)
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))
    # first example by hand: log 2 + log(1 + e^2) + [0.25 log(1 + e) + 0.75 log(1 + e^-1)] + log(1 + e^-3)
    first = (
        math.log(2)
        + math.log(1 + math.e**2)
        + 0.25 * math.log(1 + math.e) + 0.75 * math.log(1 + math.exp(-1))
        + math.log(1 + math.exp(-3))
    )
    assert out[0].item() == pytest.approx(first, rel=1e-12)


def test_bernoulli_nll_stable_for_large_logits() -> None:
    logits = torch.tensor([[[[200.0, -200.0]]]])
    x = torch.tensor([[[[1.0, 0.0]]]])
    out = bernoulli_nll(logits, x)
    assert torch.isfinite(out).all() and out.item() == pytest.approx(0.0, abs=1e-6)


# --------------------------------------------------------------------------- linear_capacity


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.0), (-5, 0.0), (25, 1.25), (50, 2.5), (100, 5.0), (101, 5.0), (10_000, 5.0)],
)
def test_linear_capacity(step: int, expected: float) -> None:
    assert linear_capacity(step, 5.0, 100) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("steps", [0, -1])
def test_linear_capacity_without_schedule_is_max(steps: int) -> None:
    assert linear_capacity(0, 5.0, steps) == 5.0
    assert linear_capacity(123, 5.0, steps) == 5.0


# --------------------------------------------------------------------------- the registry


def _forward(spec: LatentSpec, seed: int = 0):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    vae = VAE(spec, hidden=16)
    x = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(seed))
    post = vae.encode(x)
    code = post.sample(0.67, generator=torch.Generator().manual_seed(seed + 1))
    from vaerobust.models.vae import VAEOutput

    return vae, x, VAEOutput(post, code, vae.decoder(code))


@pytest.mark.parametrize("spec", [LatentSpec(10, (10,)), LatentSpec(6, ()), LatentSpec(0, (4, 3))],
                         ids=["joint", "gauss-only", "cat-only"])
@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_every_objective_gives_finite_scalar_with_encoder_gradients(name: str, spec: LatentSpec) -> None:
    vae, x, out = _forward(spec)
    obj = build_objective(objective_for(name, capacity_steps=10))
    for step in (0, 5, 50):  # before, during and after the capacity schedule
        res = obj(out, x, step)
        assert isinstance(res, LossOutput)
        assert res.loss.dim() == 0 and torch.isfinite(res.loss)
        for k in ("recon", "kl_gauss", "kl_cat"):
            assert k in res.terms and torch.isfinite(res.terms[k])
        scalars = res.scalars()
        assert scalars["loss"] == pytest.approx(float(res.loss.detach()))
    vae.zero_grad()
    obj(out, x, 0).loss.backward()
    first_conv = vae.encoder.features[0].weight.grad
    head = vae.encoder.head[-1].weight.grad
    assert first_conv is not None and head is not None
    assert torch.isfinite(first_conv).all() and first_conv.abs().sum() > 0
    assert torch.isfinite(head).all() and head.abs().sum() > 0


def _independent_terms(out, x):  # type: ignore[no-untyped-def]
    """recon, kl_gauss, kl_cat recomputed from the pure terms (batch means)."""
    recon = bernoulli_nll(out.recon_logits, x).mean()
    klz = kl_gaussian(out.posterior.mean, out.posterior.logvar).mean()
    klc = sum(kl_categorical_uniform(lg).mean() for lg in out.posterior.logits)
    return recon, klz, klc


def test_elbo_beta_one_is_sum_of_terms() -> None:
    _, x, out = _forward(LatentSpec(10, (10,)))
    res = build_objective(objective_for("elbo", beta=1.0))(out, x, 0)
    recon, klz, klc = _independent_terms(out, x)
    assert torch.equal(res.terms["recon"], recon)
    assert torch.equal(res.terms["kl_gauss"], klz)
    assert torch.equal(res.terms["kl_cat"], klc)
    assert torch.equal(res.loss, recon + (klz + klc))
    assert res.loss.item() == pytest.approx(recon.item() + klz.item() + klc.item(), rel=1e-6)


def test_elbo_beta_scales_kl() -> None:
    _, x, out = _forward(LatentSpec(10, (10,)))
    r1 = build_objective(objective_for("elbo", beta=1.0))(out, x, 0)
    r4 = build_objective(objective_for("elbo", beta=4.0))(out, x, 0)
    kl = r1.terms["kl_gauss"] + r1.terms["kl_cat"]
    torch.testing.assert_close(r4.loss - r1.loss, 3.0 * kl, rtol=0, atol=1e-3)


@pytest.mark.parametrize("gamma", [1.0, 30.0])
def test_jointvae_at_step_zero(gamma: float) -> None:
    _, x, out = _forward(LatentSpec(10, (10,)))
    res = build_objective(objective_for("jointvae", gamma=gamma, capacity_max=5.0, capacity_steps=100))(out, x, 0)
    recon, klz, klc = _independent_terms(out, x)
    expected = recon + gamma * klz.abs() + gamma * klc.abs()
    assert torch.equal(res.loss, expected)
    assert res.terms["capacity_gauss"].item() == 0.0 and res.terms["capacity_cat"].item() == 0.0


def test_jointvae_capacities_follow_their_schedules() -> None:
    _, x, out = _forward(LatentSpec(10, (10,)))
    cfg = objective_for("jointvae", gamma=2.0, capacity_max=4.0, capacity_steps=100,
                          cat_capacity_max=1.0, cat_capacity_steps=10)
    res = build_objective(cfg)(out, x, 50)
    recon, klz, klc = _independent_terms(out, x)
    # C_z(50) = 4 * 50/100 = 2; C_c(50) = 1 (its schedule of 10 steps has ended)
    assert res.terms["capacity_gauss"].item() == pytest.approx(2.0)
    assert res.terms["capacity_cat"].item() == pytest.approx(1.0)
    torch.testing.assert_close(res.loss, recon + 2.0 * (klz - 2.0).abs() + 2.0 * (klc - 1.0).abs(), rtol=1e-6, atol=0)


def test_capacity_objective_uses_total_kl() -> None:
    _, x, out = _forward(LatentSpec(10, (10,)))
    res = build_objective(objective_for("capacity", gamma=3.0, capacity_max=5.0, capacity_steps=10))(out, x, 4)
    recon, klz, klc = _independent_terms(out, x)
    assert res.terms["capacity"].item() == pytest.approx(2.0)
    torch.testing.assert_close(res.loss, recon + 3.0 * (klz + klc - 2.0).abs(), rtol=1e-6, atol=0)


def test_unknown_objective_names_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as e:
        build_objective(objective_for("no-such-objective"))
    msg = str(e.value)
    assert "no-such-objective" in msg
    for name in OBJECTIVES.names():
        assert name in msg
    assert "\n" not in msg
