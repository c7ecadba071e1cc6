"""The attack suite: closed-form optima on linear encoders, KL formulas against
torch.distributions, the shared threat model for every registered attack, and the engine's
settings (signed steps, restarts, posterior samples, early stopping, traces, counts)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Independent, Normal, kl_divergence

from vaerobust.attacks import ATTACKS, build_attack, project_box
from vaerobust.attacks.base import l2
from vaerobust.attacks.kl import kl_categorical, kl_normal, kl_posterior
from vaerobust.attacks.latent import source_gradient_norms
from vaerobust.config import AttackConfig, ConfigError
from vaerobust.models import VAE, LatentSpec
from vaerobust.models.latents import Posterior

torch.set_num_threads(1)
DIST = {"latent", "kl", "output"}  # targeted attacks with a known optimum on a linear encoder


class LinearVAE(nn.Module):
    """q(z | x) = N(W x, I) (+ one categorical with logits V x); decode(code) = W^T z.

    With orthonormal rows of W, decode(mode(q(x))) = P x, P the projector onto W's row space.
    """

    image_shape = (1, 4, 4)

    def __init__(self, W: Tensor, V: Tensor | None = None) -> None:
        super().__init__()
        self.W = nn.Parameter(W)
        self.V = None if V is None else nn.Parameter(V)

    def encode(self, x: Tensor) -> Posterior:
        f = x.flatten(1)
        logits = [] if self.V is None else [f @ self.V.T]
        return Posterior(f @ self.W.T, torch.zeros(f.shape[0], self.W.shape[0], dtype=f.dtype), logits)

    def decode(self, code: Tensor) -> Tensor:
        return (code[:, : self.W.shape[0]] @ self.W).view(-1, *self.image_shape)


def _box(x_adv: Tensor, x_src: Tensor, eps: float, l2_eps: float | None = None) -> None:
    assert x_adv.shape == x_src.shape and torch.isfinite(x_adv).all()
    assert (x_adv >= (x_src - eps).clamp_min(0)).all() and (x_adv <= (x_src + eps).clamp_max(1)).all()
    assert (x_adv >= 0).all() and (x_adv <= 1).all()
    if l2_eps is not None:
        assert (l2(x_adv - x_src) <= l2_eps * (1 + 1e-6)).all()


def _distance(name: str, vae: nn.Module, x_adv: Tensor, x_tgt: Tensor) -> Tensor:
    """Each targeted attack's own distance to its target, [B]; 0 at the optimum."""
    q_adv, q_tgt = vae.encode(x_adv), vae.encode(x_tgt)
    if name == "latent":
        return l2(q_adv.features() - q_tgt.features())
    if name == "kl":
        return kl_posterior(q_adv, q_tgt)
    return l2(vae.decode(q_adv.mode()) - x_tgt)


@pytest.fixture
def linear_pairs() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64), torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64)


@pytest.fixture
def tiny() -> tuple[VAE, nn.Module, Tensor, Tensor]:
    """A tiny real VAE (2 Gaussian dims + one 3-way categorical), a linear judge and 3 pairs."""
    torch.manual_seed(0)
    vae = VAE(LatentSpec(2, (3,)), arch="conv32", hidden=8).eval()
    judge = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 10)).eval()
    g = torch.Generator().manual_seed(0)
    xs = torch.rand(3, 1, 32, 32, generator=g)
    xs[0, 0, :4] = 1.0  # pixels at the range's edges, so the [0, 1] clipping matters
    xs[1, 0, :4] = 0.0
    return vae, judge, xs, torch.rand(3, 1, 32, 32, generator=g)


# --------------------------------------------------------------------------- KL formulas


def test_kl_normal_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    m1, lv1, m2, lv2 = (torch.randn(5, 4, generator=g, dtype=torch.float64) for _ in range(4))
    want = kl_divergence(Independent(Normal(m1, (0.5 * lv1).exp()), 1), Independent(Normal(m2, (0.5 * lv2).exp()), 1))
    torch.testing.assert_close(kl_normal(m1, lv1, m2, lv2), want)
    torch.testing.assert_close(kl_normal(m1, lv1, m1, lv1), torch.zeros(5, dtype=torch.float64))


def test_kl_categorical_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)
    torch.testing.assert_close(kl_categorical(a, b), kl_divergence(Categorical(logits=a), Categorical(logits=b)))
    torch.testing.assert_close(kl_categorical(a, a + 3.0), torch.zeros(5, dtype=torch.float64))  # softmax is shift-invariant


def test_kl_posterior_sums_every_group() -> None:
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    p = Posterior(r(4, 3), r(4, 3), [r(4, 2), r(4, 5)])
    q = Posterior(r(4, 3), r(4, 3), [r(4, 2), r(4, 5)])
    want = kl_normal(p.mean, p.logvar, q.mean, q.logvar) + sum(kl_categorical(a, b) for a, b in zip(p.logits, q.logits))
    torch.testing.assert_close(kl_posterior(p, q), want)
    empty = Posterior(r(4, 0), r(4, 0), [r(4, 2)])  # no Gaussian group at all
    torch.testing.assert_close(kl_posterior(empty, empty), torch.zeros(4, dtype=torch.float64))


# --------------------------------------------------------------------------- known optima on linear encoders


@pytest.mark.parametrize("name", sorted(DIST))
def test_reachable_target_is_matched(name: str, linear_pairs: tuple[Tensor, Tensor]) -> None:
    """eps = 1 (the whole [0, 1] box), lam = 0: x_t itself is feasible, so the optimum is 0."""
    xs, xt = linear_pairs
    g = torch.Generator().manual_seed(2)
    Q, _ = torch.linalg.qr(torch.cat([xt.flatten(1).T, torch.randn(16, 2, generator=g, dtype=torch.float64)], 1))
    vae = LinearVAE(Q.T.contiguous(), torch.randn(4, 16, generator=g, dtype=torch.float64))  # x_t in W's row space
    with torch.no_grad():
        start = _distance(name, vae, xs, xt)
    x_adv = build_attack(vae, AttackConfig(name=name, eps=1.0, lam=0.0, steps=400, lr=1e-2, noise_std=0.0))(xs, xt)
    with torch.no_grad():
        end = _distance(name, vae, x_adv, xt)
    assert (start > 0.1).all()
    assert (end < 0.01 * start).all(), (start, end)


@pytest.mark.parametrize("name", sorted(DIST))
def test_unreachable_target_gives_the_box_projection(name: str, linear_pairs: tuple[Tensor, Tensor]) -> None:
    """Identity encoder (W = I): every distance is minimised over the box by clamp(x_t, box)."""
    xs, xt = linear_pairs
    vae = LinearVAE(torch.eye(16, dtype=torch.float64))
    x_adv = build_attack(vae, AttackConfig(name=name, eps=0.1, lam=0.0, steps=300, lr=1e-2, noise_std=0.0))(xs, xt)
    optimum = project_box(xt, xs, 0.1)
    assert l2(xt - optimum).min() > 0.1  # the box binds
    torch.testing.assert_close(x_adv, optimum, rtol=0, atol=5e-3)


def test_source_gradient_norms_match_the_closed_form_of_a_linear_encoder(linear_pairs: tuple[Tensor, Tensor]) -> None:
    """phi(x) = W x: grad_x ||W (x - x_t)|| at x_s = W^T u, u = W (x_s - x_t) / ||W (x_s - x_t)||;
    for W = c Q with orthonormal rows its norm is exactly c for every pair."""
    xs, xt = linear_pairs
    g = torch.Generator().manual_seed(4)
    W = torch.randn(5, 16, generator=g, dtype=torch.float64)
    vae = LinearVAE(W.clone(), torch.randn(3, 16, generator=g, dtype=torch.float64))
    V = vae.V.detach()
    full = torch.cat([W, V])  # phi = (W x, V x): the logits are part of phi
    diff = full @ (xs - xt).flatten(1).T  # [8, B]
    want = (full.T @ (diff / diff.norm(dim=0))).norm(dim=0)
    got = source_gradient_norms(vae, xs, xt)
    torch.testing.assert_close(got, want.float(), rtol=1e-5, atol=0)
    Q, _ = torch.linalg.qr(torch.randn(16, 3, generator=g, dtype=torch.float64))
    torch.testing.assert_close(source_gradient_norms(LinearVAE(2.5 * Q.T.contiguous()), xs, xt),
                               torch.full((3,), 2.5), rtol=1e-5, atol=0)
    assert vae.W.requires_grad and vae.V.requires_grad  # restored
    with pytest.raises(ValueError, match="expected the same shape"):
        source_gradient_norms(vae, xs, xt[:2])


def test_a_penalty_above_the_source_gradient_keeps_the_latent_attack_at_its_source(linear_pairs) -> None:  # type: ignore[no-untyped-def]
    """W = c Q: loss(x_s + d) >= D(x_s) + (lam - c) ||d||, so with lam > c the optimum is x_s itself and the
    attack stays there (up to Adam's step size), while with lam < c it moves towards the target."""
    xs, xt = linear_pairs
    g = torch.Generator().manual_seed(5)
    Q, _ = torch.linalg.qr(torch.randn(16, 3, generator=g, dtype=torch.float64))
    c = 2.0
    vae = LinearVAE(c * Q.T.contiguous())
    assert (source_gradient_norms(vae, xs, xt) - c).abs().max() < 1e-5
    cfg = AttackConfig(name="latent", eps=1.0, steps=300, lr=1e-3, noise_std=0.0)
    stay = build_attack(vae, replace(cfg, lam=1.1 * c))(xs, xt)
    move = build_attack(vae, replace(cfg, lam=0.9 * c))(xs, xt)
    assert l2(stay - xs).max() < 0.005  # a few Adam steps of size lr around x_s
    assert l2(move - xs).min() > 0.1  # the threshold is c itself


def test_classifier_attack_hits_the_judges_target_label(linear_pairs: tuple[Tensor, Tensor]) -> None:
    xs, xt = linear_pairs
    g = torch.Generator().manual_seed(3)
    vae = LinearVAE(torch.eye(16, dtype=torch.float64))
    judge = nn.Linear(16, 4).double()
    with torch.no_grad():
        judge.weight.copy_(torch.randn(4, 16, generator=g, dtype=torch.float64))
        judge.bias.copy_(-0.5 * judge.weight.sum(1))  # centred on the grey image: labels vary
    clf = nn.Sequential(nn.Flatten(), judge)
    label = lambda x: clf(vae.decode(vae.encode(x).mode())).argmax(1)  # noqa: E731
    with torch.no_grad():
        y_s, y_t = label(xs), label(xt)
    assert (y_s != y_t).any()
    x_adv = build_attack(vae, AttackConfig(name="classifier", eps=1.0, lam=0.0, steps=200, lr=1e-2, noise_std=0.0), judge=clf)(xs, xt)
    with torch.no_grad():
        assert torch.equal(label(x_adv), y_t)


def test_classifier_attack_needs_a_judge(tiny) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="judge"):
        build_attack(tiny[0], AttackConfig(name="classifier"))


# --------------------------------------------------------------------------- every registered attack


@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_attack_keeps_the_threat_model(name: str, tiny) -> None:  # type: ignore[no-untyped-def]
    vae, judge, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    settings = [
        dict(),
        dict(optimizer="sign", lr=0.05),
        dict(l2_eps=0.5),
        dict(l2_eps=0.5, optimizer="sign", lr=0.05, restarts=2),
        dict(samples=2, early_stop=True, patience=1),
    ]
    for extra in settings:
        cfg = AttackConfig(**{"name": name, "eps": 0.1, "steps": 4, "lr": 0.05, "noise_std": 0.5, **extra})
        x_adv = build_attack(vae, cfg, judge=judge)(xs, xt, noise=noise)
        _box(x_adv, xs, 0.1, cfg.l2_eps)
        assert not x_adv.requires_grad and not torch.equal(x_adv, xs), extra
        zero = build_attack(vae, replace(cfg, eps=0.0), judge=judge)(xs, xt, noise=noise)
        assert torch.equal(zero, xs), extra
    assert all(p.grad is None for p in [*vae.parameters(), *judge.parameters()])


def test_judge_is_frozen_during_the_attack_and_restored(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, judge, xs, xt = tiny
    judge.train()
    seen = []
    forward = judge.forward

    def spy(x: Tensor) -> Tensor:
        seen.append((judge.training, any(p.requires_grad for p in judge.parameters())))
        return forward(x)

    judge.forward = spy  # type: ignore[method-assign]
    build_attack(vae, AttackConfig(name="classifier", steps=2), judge=judge)(xs, xt)
    assert seen and all(s == (False, False) for s in seen)
    assert judge.training and all(p.requires_grad for p in judge.parameters())


# --------------------------------------------------------------------------- the default path is the thesis's


def _protocol_5(vae: VAE, xs: Tensor, xt: Tensor, noise: Tensor, steps: int, lr: float = 1e-3, eps: float = 0.1) -> Tensor:
    """PROTOCOL §5 written out: Adam on lam * ||x - x_s|| + ||phi(x) - phi(x_t)|| (lam = 1), box after each step."""
    with torch.no_grad():
        f_t = vae.encode(xt).features()
    x = (xs + 0.2 * noise).clamp(0, 1).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        loss = (l2(x - xs) + l2(vae.encode(x).features() - f_t)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.copy_(torch.minimum(torch.maximum(x, (xs - eps).clamp_min(0)), (xs + eps).clamp_max(1)))
    return x.detach()


def test_default_latent_attack_is_protocol_5_exactly(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, _, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(5))
    reference = _protocol_5(vae, xs, xt, noise, steps=30, lr=1e-2)
    atk = build_attack(vae, AttackConfig(steps=30, lr=1e-2, channels_last=False))
    assert torch.equal(atk(xs, xt, noise=noise), reference)
    assert atk.trace is None
    assert atk.evaluations == 3 * (30 + 1)  # the target once, then every step
    # the default NHWC weight layout changes summation order only (Adam can amplify that where a
    # gradient is near 0), and restores the layout after
    fast = build_attack(vae, AttackConfig(steps=30, lr=1e-2))
    assert fast.cfg.channels_last
    torch.testing.assert_close(fast(xs, xt, noise=noise), reference, atol=1e-3, rtol=0)  # a tenth of one step (lr)
    assert all(p.is_contiguous() for p in vae.parameters())


# --------------------------------------------------------------------------- engine settings


def test_signed_steps_have_size_lr_and_differ_from_adam(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, _, xs, xt = tiny
    cfg = AttackConfig(eps=1.0, steps=1, lr=0.01, noise_std=0.0, optimizer="sign")
    x1 = build_attack(vae, cfg)(xs, xt)
    x = xs.clone().requires_grad_(True)
    with torch.no_grad():
        f_t = vae.encode(xt).features()
    (l2(x - xs) + l2(vae.encode(x).features() - f_t)).sum().backward()
    torch.testing.assert_close(x1, (xs - 0.01 * x.grad.sign()).clamp(0, 1), rtol=0, atol=1e-7)
    sign = build_attack(vae, AttackConfig(eps=0.1, steps=10, lr=0.01, optimizer="sign"))(xs, xt, generator=torch.Generator().manual_seed(0))
    adam = build_attack(vae, AttackConfig(eps=0.1, steps=10, lr=0.01))(xs, xt, generator=torch.Generator().manual_seed(0))
    _box(sign, xs, 0.1)
    assert not torch.equal(sign, adam)


@pytest.mark.parametrize("name", ["latent", "output", "kl"])
def test_restarts_are_never_worse_than_one_run(name: str, tiny) -> None:  # type: ignore[no-untyped-def]
    vae, _, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    base = dict(name=name, eps=0.1, steps=8, lr=0.02, noise_std=0.3)
    one = build_attack(vae, AttackConfig(**base))
    three = build_attack(vae, AttackConfig(**base, restarts=3))
    x1, x3 = one(xs, xt, noise=noise), three(xs, xt, noise=noise)
    per_target = 0 if name == "output" else 3  # the output attack compares pixels: no encoder pass for x_t
    assert three.evaluations == per_target + 3 * 3 * (8 + 1)  # per run: the steps and the final loss
    with torch.no_grad():
        ctx = one.target(xs, xt)
        l1, l3 = one.loss(x1, xs, ctx), one.loss(x3, xs, ctx)
    assert (l3 <= l1).all()
    assert (l3 < l1).any()  # the fresh starts found something better for some pair
    assert torch.equal(three(xs, xt, noise=noise), x3)  # the restart noise is reproducible


def test_unsupervised_attack_increases_the_kl_from_its_start(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, _, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    cfg = AttackConfig(name="unsupervised", eps=0.1, lam=0.0, steps=20, lr=0.01, noise_std=0.05)
    x_adv = build_attack(vae, cfg)(xs, xt, noise=noise)
    start = project_box((xs + 0.05 * noise).clamp(0, 1), xs, 0.1)
    with torch.no_grad():
        q_s = vae.encode(xs)
        before, after = kl_posterior(vae.encode(start), q_s), kl_posterior(vae.encode(x_adv), q_s)
    assert (after > 2 * before).all(), (before, after)
    other = build_attack(vae, cfg)(xs, xt.flip(0), noise=noise)  # the target plays no part
    assert torch.equal(other, x_adv)


def test_symmetric_kl_changes_the_objective(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, _, xs, xt = tiny
    one = build_attack(vae, AttackConfig(name="kl", steps=0))
    two = build_attack(vae, AttackConfig(name="kl", steps=0, symmetric=True))
    with torch.no_grad():
        q_s, q_t = vae.encode(xs), vae.encode(xt)
        torch.testing.assert_close(two.divergence(q_s, q_t), kl_posterior(q_s, q_t) + kl_posterior(q_t, q_s))
        torch.testing.assert_close(one.divergence(q_s, q_t), kl_posterior(q_s, q_t))


def test_record_trace(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, _, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    for extra in (dict(), dict(early_stop=True, patience=2), dict(restarts=2)):
        atk = build_attack(vae, AttackConfig(steps=12, lr=0.01, record_trace=True, **extra))
        atk(xs, xt, noise=noise)
        assert atk.trace is not None and atk.trace.shape == (12,) and torch.isfinite(atk.trace).all()
        if "restarts" not in extra:  # with restarts, the trace is that of each pair's kept run
            with torch.no_grad():
                start = atk.loss((xs + 0.2 * noise).clamp(0, 1), xs, atk.target(xs, xt))
            torch.testing.assert_close(atk.trace[0], start.mean())
    atk = build_attack(vae, AttackConfig(steps=0, record_trace=True))
    atk(xs, xt, noise=noise)
    assert atk.trace is not None and atk.trace.shape == (0,)


def test_posterior_samples_are_reproducible_and_change_the_result(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, judge, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    for name in ("latent", "output", "classifier"):
        cfg = AttackConfig(name=name, eps=0.1, steps=5, lr=0.01, samples=3)
        a = build_attack(vae, cfg, judge=judge)(xs, xt, noise=noise)
        b = build_attack(vae, cfg, judge=judge)(xs, xt, noise=noise)
        det = build_attack(vae, replace(cfg, samples=1), judge=judge)(xs, xt, noise=noise)
        assert torch.equal(a, b) and not torch.equal(a, det), name
    atk = build_attack(vae, AttackConfig(steps=2, samples=3))
    atk(xs, xt, noise=noise)
    assert atk.evaluations == 3 * (2 + 1)  # one encoder pass per example and step, whatever S


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_drops_finished_examples_and_leaves_the_rest_as_they_were(linear_pairs) -> None:  # type: ignore[no-untyped-def]
    xs, xt = linear_pairs
    xt = torch.cat([xs[:1], xt[1:]])  # pair 0 starts at its optimum (distance 0, gradient 0): it stalls
    vae = LinearVAE(torch.eye(16, dtype=torch.float64))
    base = dict(eps=0.3, lam=0.0, steps=40, lr=1e-3, noise_std=0.0, record_trace=True)
    fixed = build_attack(vae, AttackConfig(**base))
    early = build_attack(vae, AttackConfig(**base, early_stop=True, patience=5, min_delta=1e-6))
    xf, xe = fixed(xs, xt), early(xs, xt)
    assert torch.equal(xe[0], xs[0])
    torch.testing.assert_close(xe[1:], xf[1:], rtol=0, atol=1e-12)  # Adam's state was carried over the shrink
    assert fixed.evaluations == 3 + 40 * 3
    assert early.evaluations == 3 + 40 * 2 + (5 + 2)  # pair 0: steps 0 .. patience + 1
    torch.testing.assert_close(early.trace, fixed.trace)  # pair 0 holds its best loss, 0, as it did anyway


def test_early_stopping_saves_evaluations_at_a_similar_loss(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, _, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    base = dict(eps=0.1, steps=120, lr=0.02, noise_std=0.2)
    fixed = build_attack(vae, AttackConfig(**base))
    early = build_attack(vae, AttackConfig(**base, early_stop=True, patience=10, min_delta=1e-3))
    xf, xe = fixed(xs, xt, noise=noise), early(xs, xt, noise=noise)
    assert early.evaluations < fixed.evaluations == 3 * 121
    _box(xe, xs, 0.1)
    with torch.no_grad():
        ctx = fixed.target(xs, xt)
        lf, le = fixed.loss(xf, xs, ctx), fixed.loss(xe, xs, ctx)
    assert (le <= lf * 1.10).all(), (lf, le)  # stops on a plateau: within 10% of the full run's loss


def test_early_stopping_with_endless_patience_is_the_fixed_run(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, _, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    base = dict(eps=0.1, steps=10, lr=0.02)
    fixed = build_attack(vae, AttackConfig(**base))
    early = build_attack(vae, AttackConfig(**base, early_stop=True, patience=100))
    assert torch.equal(early(xs, xt, noise=noise), fixed(xs, xt, noise=noise))
    assert early.evaluations == fixed.evaluations


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "key, value",
    [("restarts", 0), ("samples", 0), ("patience", 0), ("optimizer", "sgd"), ("l2_eps", 0.0), ("l2_eps", -1.0), ("min_delta", -0.1)],
)
def test_bad_settings_name_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"attack.{key}"):
        AttackConfig(**{key: value})  # type: ignore[arg-type]


def test_defaults_are_the_thesis_attack() -> None:
    c = AttackConfig()
    assert (c.l2_eps, c.optimizer, c.restarts, c.samples, c.record_trace, c.symmetric, c.early_stop) == (
        None, "adam", 1, 1, False, False, False
    )
