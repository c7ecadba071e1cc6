"""Continuous batching (``attack.width``): the same results as early stopping, with the batch kept full."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from vaerobust.attacks import build_attack
from vaerobust.attacks.engine import RowAdam
from vaerobust.config import AttackConfig, ConfigError
from vaerobust.models import VAE, LatentSpec


@pytest.fixture
def pairs() -> tuple[VAE, Tensor, Tensor, Tensor]:
    # float64, so that a batch's composition (which changes the convolutions' summation order) stays
    # below what Adam, dividing by a near-zero gradient's own scale, or a stopping threshold can amplify
    torch.manual_seed(0)
    vae = VAE(LatentSpec(4, (3,)), arch="conv32", hidden=16).eval().double()
    g = torch.Generator().manual_seed(0)
    xs, xt = (torch.rand(30, 1, 32, 32, generator=g, dtype=torch.float64) for _ in range(2))
    return vae, xs, xt, torch.randn(xs.shape, generator=g, dtype=torch.float64)


BASE = dict(eps=0.1, steps=50, lr=0.01, early_stop=True, patience=5, min_delta=1e-2)


@pytest.mark.parametrize("name, extra", [
    ("latent", {}), ("latent", {"optimizer": "sign"}), ("latent", {"l2_eps": 1.0}),
    ("latent", {"start": "twice_source"}), ("output", {}), ("kl", {}),
])
def test_the_same_results_and_evaluations_as_early_stopping(pairs, name: str, extra: dict) -> None:  # type: ignore[no-untyped-def]
    vae, xs, xt, noise = pairs
    batch = build_attack(vae, AttackConfig(name=name, **{**BASE, **extra}))
    want = batch(xs, xt, noise=noise)
    for width in (1, 7, 30, 64):
        cont = build_attack(vae, AttackConfig(name=name, **{**BASE, **extra}, width=width))
        got = cont(xs, xt, noise=noise)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-9)
        assert cont.evaluations == batch.evaluations  # every example spends what it spent before
    assert batch.evaluations < xs.shape[0] * (BASE["steps"] + 1)  # early stopping did stop some


def test_unzeroed_gradients_too(pairs) -> None:  # type: ignore[no-untyped-def]
    vae, xs, xt, noise = pairs
    want = build_attack(vae, AttackConfig(**BASE, zero_grad=False))(xs, xt, noise=noise)
    got = build_attack(vae, AttackConfig(**BASE, zero_grad=False, width=6))(xs, xt, noise=noise)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-9)


def test_row_adam_is_torch_adam_per_row_whenever_a_row_joins() -> None:
    g = torch.Generator().manual_seed(0)
    grads = torch.randn(12, 3, 5, generator=g)  # step s, row r: grads[s, r]
    x0 = torch.rand(3, 5, generator=g)
    joins = [0, 2, 5]  # row r joins at step joins[r]
    opt, x, live = RowAdam(lr=0.01), x0[:0], []
    for s in range(12):
        for r, j in enumerate(joins):
            if j == s:
                x, live = torch.cat([x, x0[r : r + 1]]), live + [r]
                opt.add(x0[r : r + 1])
        x = opt.step(x, grads[s, live])
    for pos, r in enumerate(live):
        p = x0[r : r + 1].clone().requires_grad_(True)
        ref = torch.optim.Adam([p], lr=0.01)
        for s in range(joins[r], 12):
            p.grad = grads[s, r : r + 1].clone()
            ref.step()
        torch.testing.assert_close(x[pos : pos + 1], p.detach(), rtol=0, atol=1e-7)


@pytest.mark.parametrize("changes", [{"early_stop": False}, {"restarts": 2}, {"samples": 2}, {"record_trace": True}])
def test_width_needs_plain_early_stopping(changes: dict) -> None:
    with pytest.raises(ConfigError, match="width"):
        AttackConfig(**{**BASE, "width": 8, **changes})
    with pytest.raises(ConfigError, match="width"):
        AttackConfig(**{**BASE, "width": 0})
