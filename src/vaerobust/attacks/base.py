"""The attack contract: settings in ``__init__``, ``forward(x_src, x_tgt) -> x_adv``.

Threat model shared by every attack: an L-infinity ball of radius ``eps`` around the
source, intersected with the valid pixel range [0, 1]. No evaluation loops live here.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from vaerobust.config import AttackConfig
from vaerobust.registry import Registry

ATTACKS: Registry[type["Attack"]] = Registry("attack")


def project_box(x: Tensor, x_src: Tensor, eps: float) -> Tensor:
    """Project onto max(0, x_src - eps) <= x <= min(1, x_src + eps) (elementwise)."""
    return torch.minimum(torch.maximum(x, (x_src - eps).clamp_min(0.0)), (x_src + eps).clamp_max(1.0))


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
    """Base class. Subclasses implement :meth:`forward`; calling the attack checks inputs."""

    def __init__(self, model: nn.Module, cfg: AttackConfig) -> None:
        if cfg.eps < 0 or cfg.steps < 0 or cfg.lam < 0:
            raise ValueError(f"attack settings eps={cfg.eps}, steps={cfg.steps}, lam={cfg.lam}: expected all >= 0")
        self.model = model
        self.cfg = cfg

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
            if x.dim() != 4 or tuple(x.shape[1:]) != expected:
                raise ValueError(
                    f"{name} images of shape {tuple(x.shape)}: expected [B, {', '.join(map(str, expected))}] for this model"
                )
            if torch.isnan(x).any() or x.min() < 0 or x.max() > 1:
                raise ValueError(f"{name} images must be finite with pixels in [0, 1]")
        if x_src.shape != x_tgt.shape:
            raise ValueError(f"source {tuple(x_src.shape)} and target {tuple(x_tgt.shape)} shapes differ")
        if noise is None:
            noise = torch.randn(x_src.shape, generator=generator, dtype=x_src.dtype)
        elif noise.shape != x_src.shape:
            raise ValueError(f"noise of shape {tuple(noise.shape)}: expected the source's {tuple(x_src.shape)}")
        with frozen(self.model):
            return self.forward(x_src, x_tgt, noise.to(device=x_src.device, dtype=x_src.dtype))

    def forward(self, x_src: Tensor, x_tgt: Tensor, noise: Tensor) -> Tensor:
        """x_adv [B, C, H, W] from sources, targets and standard-normal start noise of the same shape."""
        raise NotImplementedError
