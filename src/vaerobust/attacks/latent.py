"""The latent attack (Sabour et al. 2016, arXiv 1511.05122; Kos et al. 2017, arXiv 1702.06832).

Objective, per pair (x_s, x_t), phi(x) = concat(Gaussian means, categorical logits):

    min_{x_adv}  lam * ||x_adv - x_s||_2 + ||phi(x_adv) - phi(x_t)||_2

Threat model: x_adv in the L-inf box max(0, x_s - eps) <= x_adv <= min(1, x_s + eps)
(and the L2 ball ||x_adv - x_s||_2 <= l2_eps where set).
Optimiser (defaults, PROTOCOL §5): Adam (lr 1e-3) for ``steps`` steps from x_s +
N(0, noise_std^2) clipped to [0, 1], projecting onto the box after every step; see
:mod:`vaerobust.attacks.engine` for the other settings. The loss is summed over the batch;
Adam is elementwise, so each pair is optimised exactly as if alone.
With ``samples = S > 1`` the Gaussian means of phi(x_adv) are replaced by S reparameterised
draws mean + exp(logvar / 2) * e (the logits stay: a categorical draw has no logit-space
form) and the distance is averaged over the draws; phi(x_t) stays deterministic.
Shapes: x_src, x_tgt [B, C, H, W] in [0, 1] -> x_adv [B, C, H, W]; phi [B, D + sum K_j].
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaerobust.attacks.base import ATTACKS, frozen, l2
from vaerobust.attacks.engine import LossAttack
from vaerobust.models.latents import Posterior


@ATTACKS.register("latent")
class LatentAttack(LossAttack):
    def features(self, x: Tensor) -> Tensor:
        """phi(x) [B, D + sum K_j]."""
        return self.encode(x).features()

    def sampled_features(self, post: Posterior) -> Tensor:
        """S draws of phi with z sampled: [S * B, D + sum K_j], sample-major."""
        draws = []
        for _ in range(self.cfg.samples):
            e = torch.randn(post.mean.shape, generator=self.sampler, device=post.mean.device, dtype=post.mean.dtype)
            draws.append(torch.cat([post.mean + torch.exp(0.5 * post.logvar) * e, *post.logits], dim=1))
        return torch.cat(draws)

    def target(self, x_src: Tensor, x_tgt: Tensor) -> Tensor:
        return self.features(x_tgt)

    def loss(self, x_adv: Tensor, x_src: Tensor, f_tgt: Tensor) -> Tensor:
        """Per-example loss [B]."""
        if self.cfg.samples == 1:
            return self.cfg.lam * l2(x_adv - x_src) + l2(self.features(x_adv) - f_tgt)
        f = self.sampled_features(self.encode(x_adv))
        return self.cfg.lam * l2(x_adv - x_src) + self.per_example(l2(f - f_tgt.repeat(self.cfg.samples, 1)))


def source_gradient_norms(vae: torch.nn.Module, x_src: Tensor, x_tgt: Tensor, batch_size: int = 1024) -> Tensor:
    """||grad_x D(x)|| at x = x_s per pair [B], D(x) = ||phi(x) - phi(x_t)||_2 the latent attack's distance.

    A first-order test of whether the latent attack can leave its source at all: the penalty
    lam * ||x - x_s||_2 has at x_s the subgradients of norm <= lam, so where this norm is
    below lam, x_s is a stationary point of the attack's loss (a local minimum for a smooth
    encoder): an attack that starts at or falls back to x_s stays there, whatever its box, as
    long as its gradient is zeroed each step (``zero_grad=false`` follows the running sum of
    gradients and can leave: measured in docs/results/sootla2018-fidelity/). With lam = 1
    (PROTOCOL §5) and lam = 20 (the author's stored script, §9) it says which pairs can move.
    Pairs with phi(x_s) = phi(x_t) have D not differentiable there and give 0.
    The encoder is used in eval mode and its parameters get no gradient.
    Shapes: x_src, x_tgt [B, C, H, W] -> [B] (on x_src's device, float32).
    """
    if x_src.shape != x_tgt.shape:
        raise ValueError(f"x_src has shape {tuple(x_src.shape)} and x_tgt {tuple(x_tgt.shape)}: expected the same shape")
    out = []
    with frozen(vae):
        for i in range(0, x_src.shape[0], batch_size):
            xs, xt = x_src[i : i + batch_size], x_tgt[i : i + batch_size]
            with torch.no_grad():
                f_t = vae.encode(xt).features()
            x = xs.detach().clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(l2(vae.encode(x).features() - f_t).sum(), x)
            out.append(l2(grad).float())
    return torch.cat(out) if out else torch.zeros(0)
