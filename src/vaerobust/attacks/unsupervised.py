"""The unsupervised attack (Kuzina et al. 2021, arXiv 2103.06701): move the posterior as far as
possible from the source's own, with no target.

Objective, per source x_s (x_tgt is ignored: pass any images of the same shape):

    min_{x_adv}  lam * ||x_adv - x_s||_2 - KL(q(z, c | x_adv) || q(z, c | x_s))
    (``symmetric``: the KL replaced by KL(q_adv || q_s) + KL(q_s || q_adv))

i.e. maximise the KL within the budget; KL terms as in :mod:`vaerobust.attacks.kl`.
The KL and its gradient are zero at x_adv = x_s, so the start noise (``noise_std > 0``)
is what lets the attack leave the source. ``samples`` has no effect (the KL is exact).
Threat model: the L-inf box around x_s within [0, 1] (and the L2 ball where ``l2_eps`` is
set), projected onto after every step (:mod:`vaerobust.attacks.engine`).
Shapes: x_src [B, C, H, W] in [0, 1] -> x_adv [B, C, H, W].
"""

from __future__ import annotations

from torch import Tensor

from vaerobust.attacks.base import ATTACKS, l2
from vaerobust.attacks.kl import KLAttack
from vaerobust.models.latents import Posterior


@ATTACKS.register("unsupervised")
class UnsupervisedAttack(KLAttack):
    def target(self, x_src: Tensor, x_tgt: Tensor) -> Posterior:
        return self.encode(x_src)

    def loss(self, x_adv: Tensor, x_src: Tensor, q_src: Posterior) -> Tensor:
        """Per-example loss [B] (negative where the KL outweighs the distortion)."""
        return self.cfg.lam * l2(x_adv - x_src) - self.divergence(self.encode(x_adv), q_src)
