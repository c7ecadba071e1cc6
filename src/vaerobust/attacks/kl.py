"""The KL attack (Kuzina et al. 2021, arXiv 2103.06701: attacks measured by the KL between posteriors).

Objective, per pair (x_s, x_t), over every latent group of q (diagonal Gaussian z and
categoricals c_j):

    min_{x_adv}  lam * ||x_adv - x_s||_2 + KL(q(z, c | x_adv) || q(z, c | x_t))
    (``symmetric``:  ... + KL(q(. | x_adv) || q(. | x_t)) + KL(q(. | x_t) || q(. | x_adv)))

with the closed forms of :mod:`vaerobust.models.divergences`
    KL(N(m1, s1^2) || N(m2, s2^2)) = 1/2 sum_d [log s2^2 - log s1^2 + (s1^2 + (m1 - m2)^2) / s2^2 - 1]
    KL(Cat(p) || Cat(q)) = sum_k p_k (log p_k - log q_k),  p = softmax(logits_1), q = softmax(logits_2).
The KL is already an exact expectation over the posterior, so ``samples`` has no effect here.
Threat model: the L-inf box around x_s within [0, 1] (and the L2 ball where ``l2_eps`` is
set), projected onto after every step (:mod:`vaerobust.attacks.engine`).
Shapes: x_src, x_tgt [B, C, H, W] in [0, 1] -> x_adv [B, C, H, W]; each KL term [B].
"""

from __future__ import annotations

from torch import Tensor

from vaerobust.attacks.base import ATTACKS, l2
from vaerobust.attacks.engine import LossAttack
from vaerobust.models.divergences import kl_categorical, kl_normal, kl_posterior
from vaerobust.models.latents import Posterior

__all__ = ["KLAttack", "kl_categorical", "kl_normal", "kl_posterior"]


@ATTACKS.register("kl")
class KLAttack(LossAttack):
    def divergence(self, q_adv: Posterior, q_ref: Posterior) -> Tensor:
        """KL(q_adv || q_ref), plus KL(q_ref || q_adv) when ``symmetric``: [B]."""
        d = kl_posterior(q_adv, q_ref)
        return d + kl_posterior(q_ref, q_adv) if self.cfg.symmetric else d

    def target(self, x_src: Tensor, x_tgt: Tensor) -> Posterior:
        return self.encode(x_tgt)

    def loss(self, x_adv: Tensor, x_src: Tensor, q_tgt: Posterior) -> Tensor:
        """Per-example loss [B]."""
        return self.cfg.lam * l2(x_adv - x_src) + self.divergence(self.encode(x_adv), q_tgt)
