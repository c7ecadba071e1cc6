"""The attack contract: settings in ``__init__``, ``forward(x_src, x_tgt, noise) -> x_adv``.

Threat model shared by every attack: an L-infinity ball of radius ``eps`` around the
source, intersected with the valid pixel range [0, 1], and, where ``l2_eps`` is set, an L2
ball of that radius around the source (projected onto after the box; the box contains the
source and is convex, so the result lies in both). No evaluation loops live here: the
shared optimisation loop is :mod:`vaerobust.attacks.engine`.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from vaerobust.config import AttackConfig
from vaerobust.errors import ConfigError, InputError
from vaerobust.models.checks import check_images
from vaerobust.models.latents import Posterior
from vaerobust.models.layout import channels_last
from vaerobust.registry import Registry

ATTACKS: Registry[type[Attack]] = Registry("attack")


def project_box(x: Tensor, x_src: Tensor, eps: float) -> Tensor:
    """Project onto max(0, x_src - eps) <= x <= min(1, x_src + eps) (elementwise)."""
    return torch.minimum(torch.maximum(x, (x_src - eps).clamp_min(0.0)), (x_src + eps).clamp_max(1.0))


def project_l2(x: Tensor, x_src: Tensor, radius: float) -> Tensor:
    """Project onto ||x - x_src||_2 <= radius per example; points already inside are returned bit for bit."""
    delta = x - x_src
    norm = l2(delta).view(-1, *([1] * (x.dim() - 1)))
    return torch.where(norm > radius, x_src + delta * (radius / norm.clamp_min(1e-30)), x)


def project(x: Tensor, x_src: Tensor, cfg: AttackConfig) -> Tensor:
    """The threat model of ``cfg``: the L-inf box, then the L2 ball when ``cfg.l2_eps`` is set."""
    x = project_box(x, x_src, cfg.eps)
    return x if cfg.l2_eps is None else project_l2(x, x_src, cfg.l2_eps)


def l2(v: Tensor) -> Tensor:
    """Per-example Euclidean norm [B, ...] -> [B]; differentiable at 0 (gradient 0 there)."""
    sq = v.flatten(1).pow(2).sum(1)
    return torch.where(sq > 0, sq.clamp_min(1e-30).sqrt(), torch.zeros_like(sq))


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients for the duration; restores both afterwards."""
    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)
        model.train(was_training)


class Attack:
    """Base class. Subclasses implement :meth:`forward`; calling the attack checks inputs.

    ``judge`` (optional) is a classifier of images that attacks aimed at it use; it is frozen
    with the VAE during an attack. After a call, ``evaluations`` holds the number of
    example-forward passes of the encoder made (via :meth:`encode`), and ``trace`` the
    per-step mean loss [steps] where ``cfg.record_trace`` asks for it (else None).
    """

    def __init__(self, model: nn.Module, cfg: AttackConfig, judge: nn.Module | None = None) -> None:
        if cfg.eps < 0 or cfg.steps < 0 or cfg.lam < 0:  # AttackConfig checks these too; a duck-typed cfg may not
            raise ConfigError(f"attack settings eps={cfg.eps}, steps={cfg.steps}, lam={cfg.lam}: expected all >= 0")
        self.model = model
        self.cfg = cfg
        self.judge = judge
        self.evaluations = 0
        self.trace: Tensor | None = None

    def encode(self, x: Tensor) -> Posterior:
        """q(z, c | x) [B, ...], counted in ``evaluations``."""
        self.evaluations += x.shape[0]
        return self.model.encode(x)

    def __call__(
        self,
        x_src: Tensor,
        x_tgt: Tensor,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        """Attack a batch. The start noise is ``noise`` [B, C, H, W] (standard normal, scaled by
        ``noise_std``) if given, else drawn from ``generator`` (CPU) for the whole batch."""
        expected = tuple(getattr(self.model, "image_shape", x_src.shape[1:]))
        for name, x in (("source", x_src), ("target", x_tgt)):
            if not isinstance(x, Tensor):
                raise InputError(f"{name} images of type {type(x).__name__}: expected a tensor [B, "
                                 f"{', '.join(map(str, expected))}]")
            check_images(x, expected, f"{name} images for this model", batch="B")
        if x_src.shape != x_tgt.shape:
            raise InputError(f"source {tuple(x_src.shape)} and target {tuple(x_tgt.shape)} shapes differ")
        if noise is None:
            noise = torch.randn(x_src.shape, generator=generator, dtype=x_src.dtype)
        elif noise.shape != x_src.shape:
            raise InputError(f"noise of shape {tuple(noise.shape)}: expected the source's {tuple(x_src.shape)}")
        elif not bool(torch.isfinite(noise).all()):
            raise InputError("start noise contains NaN or infinite values")
        self.evaluations, self.trace = 0, None
        with ExitStack() as stack:
            for m in (self.model, self.judge):
                if isinstance(m, nn.Module):  # a plain callable judge has nothing to freeze
                    stack.enter_context(frozen(m))
                    stack.enter_context(channels_last(m, self.cfg.channels_last))
            return self.forward(x_src, x_tgt, noise.to(device=x_src.device, dtype=x_src.dtype))

    def forward(self, x_src: Tensor, x_tgt: Tensor, noise: Tensor) -> Tensor:
        """x_adv [B, C, H, W] from sources, targets and standard-normal start noise of the same shape."""
        raise NotImplementedError
