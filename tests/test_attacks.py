"""Attacks: the threat-model box, eps = 0, the loss going down, the model left untouched,
input checks, batching invariance, and every registered attack."""

from __future__ import annotations

import pytest
import torch

from vaerobust.attacks import ATTACKS, build_attack, project_box
from vaerobust.attacks.base import l2
from vaerobust.config import AttackConfig
from vaerobust.models import VAE


def _pair(images: torch.Tensor, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    return images[:n].clone(), images[n : 2 * n].clone()


def _in_box(x_adv: torch.Tensor, x_src: torch.Tensor, eps: float) -> None:
    lo = (x_src - eps).clamp_min(0.0)
    hi = (x_src + eps).clamp_max(1.0)
    assert x_adv.shape == x_src.shape
    assert torch.isfinite(x_adv).all()
    assert (x_adv >= lo).all() and (x_adv <= hi).all()
    assert (x_adv >= 0).all() and (x_adv <= 1).all()


# --------------------------------------------------------------------------- pieces


def test_project_box_known_values() -> None:
    src = torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0])
    x = torch.tensor([-1.0, 0.5, 0.55, 0.0, 2.0])
    # box: [0, 0.1], [0, 0.15], [0.4, 0.6], [0.85, 1], [0.9, 1]
    torch.testing.assert_close(project_box(x, src, 0.1), torch.tensor([0.0, 0.15, 0.55, 0.85, 1.0]))


def test_l2_per_example_and_gradient_at_zero() -> None:
    v = torch.tensor([[[[3.0, 4.0]]], [[[0.0, 0.0]]]], requires_grad=True)
    n = l2(v)
    torch.testing.assert_close(n, torch.tensor([5.0, 0.0]))
    n.sum().backward()
    assert torch.isfinite(v.grad).all()
    torch.testing.assert_close(v.grad[0].flatten(), torch.tensor([0.6, 0.8]))
    assert torch.equal(v.grad[1], torch.zeros_like(v.grad[1]))


# --------------------------------------------------------------------------- the latent attack


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3])
def test_latent_attack_stays_in_the_box(tiny_vae: VAE, images: torch.Tensor, eps: float) -> None:
    xs, xt = _pair(images)
    # push some source pixels to the range edges so the [0, 1] clipping matters
    xs[0, 0, :4] = 1.0
    xs[1, 0, :4] = 0.0
    atk = build_attack(tiny_vae, AttackConfig(eps=eps, steps=15, lr=0.05, noise_std=0.5))
    x_adv = atk(xs, xt, generator=torch.Generator().manual_seed(0))
    _in_box(x_adv, xs, eps)
    assert not x_adv.requires_grad


def test_zero_steps_is_the_projected_noisy_start(tiny_vae: VAE, images: torch.Tensor) -> None:
    xs, xt = _pair(images)
    cfg = AttackConfig(eps=0.1, steps=0, noise_std=0.2)
    x_adv = build_attack(tiny_vae, cfg)(xs, xt, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(3))
    expected = project_box((xs + 0.2 * noise).clamp(0, 1), xs, 0.1)
    assert torch.equal(x_adv, expected)
    _in_box(x_adv, xs, 0.1)


@pytest.mark.parametrize("steps", [0, 5])
def test_eps_zero_returns_the_source_exactly(tiny_vae: VAE, images: torch.Tensor, steps: int) -> None:
    xs, xt = _pair(images)
    x_adv = build_attack(tiny_vae, AttackConfig(eps=0.0, steps=steps, lr=0.1))(xs, xt, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x_adv, xs)


def test_loss_decreases(tiny_vae: VAE, images: torch.Tensor) -> None:
    xs, xt = _pair(images)
    cfg = AttackConfig(eps=0.1, steps=100, lr=1e-2, noise_std=0.2, record_trace=True)
    atk = build_attack(tiny_vae, cfg)
    x_adv = atk(xs, xt, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    start = (xs + 0.2 * noise).clamp(0, 1)
    with torch.no_grad():
        f_tgt = tiny_vae.encode(xt).features()
        loss_start = atk.loss(start, xs, f_tgt)
        loss_start_in_box = atk.loss(project_box(start, xs, 0.1), xs, f_tgt)
        loss_end = atk.loss(x_adv, xs, f_tgt)
    assert loss_end.shape == (4,)
    assert (loss_end < loss_start).all()
    assert (loss_end < loss_start_in_box).all()  # not just the projection: the optimiser helped
    # the recorded trace (the batch mean per step) went down as well
    assert atk.trace.shape == (100,)
    assert atk.trace[-1] < atk.trace[0]
    torch.testing.assert_close(atk.trace[0], loss_start.mean(), rtol=1e-5, atol=1e-5)


def test_latent_distance_shrinks_with_a_large_budget(tiny_vae: VAE, images: torch.Tensor) -> None:
    xs, xt = _pair(images)
    atk = build_attack(tiny_vae, AttackConfig(eps=1.0, lam=0.0, steps=60, lr=2e-2, noise_std=0.0))
    x_adv = atk(xs, xt, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        f_t = tiny_vae.encode(xt).features()
        before = l2(tiny_vae.encode(xs).features() - f_t)
        after = l2(tiny_vae.encode(x_adv).features() - f_t)
    assert (after < before).all()


def test_model_untouched_and_flags_restored(tiny_vae: VAE, images: torch.Tensor) -> None:
    xs, xt = _pair(images)
    tiny_vae.train()
    tiny_vae.decoder.requires_grad_(False)  # a mixed pattern of flags must come back as it was
    flags = {n: p.requires_grad for n, p in tiny_vae.named_parameters()}
    before = {k: v.clone() for k, v in tiny_vae.state_dict().items()}
    seen_training = []
    orig_encode = tiny_vae.encode

    def spy(x):  # type: ignore[no-untyped-def]
        seen_training.append((tiny_vae.training, any(p.requires_grad for p in tiny_vae.parameters())))
        return orig_encode(x)

    tiny_vae.encode = spy  # type: ignore[method-assign]
    build_attack(tiny_vae, AttackConfig(steps=5, lr=0.1))(xs, xt, generator=torch.Generator().manual_seed(0))
    del tiny_vae.encode
    assert seen_training and all(s == (False, False) for s in seen_training)  # eval, frozen during the attack
    for k, v in tiny_vae.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert {n: p.requires_grad for n, p in tiny_vae.named_parameters()} == flags
    assert tiny_vae.training
    assert all(p.grad is None for p in tiny_vae.parameters())


def test_flags_restored_after_an_error(tiny_vae: VAE, images: torch.Tensor) -> None:
    xs, xt = _pair(images)
    atk = build_attack(tiny_vae, AttackConfig(steps=2))

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    atk.forward = boom  # type: ignore[method-assign]
    tiny_vae.train()
    with pytest.raises(RuntimeError, match="boom"):
        atk(xs, xt)
    assert tiny_vae.training and all(p.requires_grad for p in tiny_vae.parameters())


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda xs, xt: (torch.where(xs > 0.5, torch.nan, xs), xt), "finite"),
        (lambda xs, xt: (xs, xt + 1.5), r"\[0, 1\]"),
        (lambda xs, xt: (xs - 0.5, xt), r"\[0, 1\]"),
        (lambda xs, xt: (xs, xt[:2]), "shapes differ"),
        (lambda xs, xt: (xs[:, 0], xt[:, 0]), r"\[B, 1, 32, 32\]"),
    ],
    ids=["nan", "above-one", "below-zero", "batch-mismatch", "three-dims"],
)
def test_bad_inputs_raise(tiny_vae: VAE, images: torch.Tensor, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    xs, xt = mutate(*_pair(images))
    atk = build_attack(tiny_vae, AttackConfig(steps=1))
    with pytest.raises(ValueError, match=match):
        atk(xs, xt)


@pytest.mark.parametrize("field", ["eps", "steps", "lam"])
def test_negative_settings_raise(tiny_vae: VAE, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build_attack(tiny_vae, AttackConfig(**{field: -1}))


def test_batching_invariance_without_noise(tiny_vae: VAE, images: torch.Tensor) -> None:
    # float64, so that the batched and single convolutions agree to rounding: Adam divides
    # by the gradient's own scale, which turns float32 noise on near-zero gradients into ~1e-5
    tiny_vae.double()
    xs, xt = (v.double() for v in _pair(images))
    cfg = AttackConfig(eps=0.1, steps=20, lr=1e-2, noise_std=0.0)
    atk = build_attack(tiny_vae, cfg)
    batch = atk(xs, xt, generator=torch.Generator().manual_seed(0))
    single = torch.cat([atk(xs[i : i + 1], xt[i : i + 1], generator=torch.Generator().manual_seed(i)) for i in range(4)])
    assert not torch.equal(batch, xs)  # the attack did move the images
    torch.testing.assert_close(batch, single, rtol=0, atol=1e-9)


def test_same_generator_same_result(tiny_vae: VAE, images: torch.Tensor) -> None:
    xs, xt = _pair(images)
    atk = build_attack(tiny_vae, AttackConfig(steps=5, lr=1e-2))
    a = atk(xs, xt, generator=torch.Generator().manual_seed(7))
    b = atk(xs, xt, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_registered_attack_respects_the_box(tiny_vae: VAE, images: torch.Tensor, name: str) -> None:
    from vaerobust.models import LeNet32

    xs, xt = _pair(images)
    judge = LeNet32().eval()  # the classifier attack needs one; the others ignore it
    atk = build_attack(tiny_vae, AttackConfig(name=name, eps=0.1, steps=10, lr=0.05), judge=judge)
    x_adv = atk(xs, xt, generator=torch.Generator().manual_seed(0))
    _in_box(x_adv, xs, 0.1)
    assert not torch.equal(x_adv, xs)


def test_unknown_attack_names_the_known_ones(tiny_vae: VAE) -> None:
    from vaerobust.registry import UnknownNameError

    with pytest.raises(UnknownNameError, match="latent"):
        build_attack(tiny_vae, AttackConfig(name="nope"))


def test_wrong_image_size_for_the_model_is_a_clear_error(tiny_vae: VAE) -> None:
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"28, 28"):
        build_attack(tiny_vae, AttackConfig(steps=1))(x, x.flip(0))
