"""The output (reconstruction) attack (Kos et al. 2017, arXiv 1702.06832, whose L_VAE attack
matches the target's reconstruction; Gondim-Ribeiro et al. 2018, arXiv 1806.04646).

Objective, per pair (x_s, x_t), with the deterministic reconstruction
r(x) = decode(mode(q(z | x))) (Gaussian means and argmax one-hots):

    min_{x_adv}  lam * ||x_adv - x_s||_2 + ||r(x_adv) - x_t||_2        (pixel-space L2)

The argmax one-hots are piecewise constant, so with ``samples = 1`` the gradient reaches
the encoder through the Gaussian means only; with ``samples = S > 1`` r is replaced by S
reparameterised draws decode(z ~ q) (Concrete categoricals) and the distance averaged.
Threat model: the L-inf box around x_s within [0, 1] (and the L2 ball where ``l2_eps`` is
set), projected onto after every step (:mod:`vaerobust.attacks.engine`).
Shapes: x_src, x_tgt [B, C, H, W] in [0, 1] -> x_adv [B, C, H, W].
"""

from __future__ import annotations

from torch import Tensor

from vaerobust.attacks.base import ATTACKS, l2
from vaerobust.attacks.engine import LossAttack


@ATTACKS.register("output")
class OutputAttack(LossAttack):
    def reconstruct(self, x: Tensor) -> Tensor:
        """r(x) [S * B, C, H, W] (sample-major)."""
        return self.model.decode(self.codes(self.encode(x)))

    def target(self, x_src: Tensor, x_tgt: Tensor) -> Tensor:
        return x_tgt

    def loss(self, x_adv: Tensor, x_src: Tensor, x_tgt: Tensor) -> Tensor:
        """Per-example loss [B]."""
        rec = self.reconstruct(x_adv)
        dist = l2(rec - x_tgt.repeat(self.cfg.samples, *[1] * (x_tgt.dim() - 1)))
        return self.cfg.lam * l2(x_adv - x_src) + self.per_example(dist)
