"""The KL attack (Kuzina et al. 2021, arXiv 2103.06701: attacks measured by the KL between posteriors).

Objective, per pair (x_s, x_t), over every latent group of q (diagonal Gaussian z and
categoricals c_j):

    min_{x_adv}  lam * ||x_adv - x_s||_2 + KL(q(z, c | x_adv) || q(z, c | x_t))
    (``symmetric``:  ... + KL(q(. | x_adv) || q(. | x_t)) + KL(q(. | x_t) || q(. | x_adv)))

with the closed forms
    KL(N(m1, s1^2) || N(m2, s2^2)) = 1/2 sum_d [log s2^2 - log s1^2 + (s1^2 + (m1 - m2)^2) / s2^2 - 1]
    KL(Cat(p) || Cat(q)) = sum_k p_k (log p_k - log q_k),  p = softmax(logits_1), q = softmax(logits_2).
The KL is already an exact expectation over the posterior, so ``samples`` has no effect here.
Threat model: the L-inf box around x_s within [0, 1] (and the L2 ball where ``l2_eps`` is
set), projected onto after every step (:mod:`vaerobust.attacks.engine`).
Shapes: x_src, x_tgt [B, C, H, W] in [0, 1] -> x_adv [B, C, H, W]; each KL term [B].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vaerobust.attacks.base import ATTACKS, l2
from vaerobust.attacks.engine import LossAttack
from vaerobust.models.latents import Posterior


def kl_normal(mean_p: Tensor, logvar_p: Tensor, mean_q: Tensor, logvar_q: Tensor) -> Tensor:
    """KL(N(mean_p, diag exp(logvar_p)) || N(mean_q, diag exp(logvar_q))), [B, D] x 4 -> [B]."""
    ratio = torch.exp(logvar_p - logvar_q)  # s1^2 / s2^2
    return 0.5 * torch.sum(logvar_q - logvar_p + ratio + (mean_p - mean_q).pow(2) * torch.exp(-logvar_q) - 1.0, dim=1)


def kl_categorical(logits_p: Tensor, logits_q: Tensor) -> Tensor:
    """KL(Cat(softmax(logits_p)) || Cat(softmax(logits_q))), [B, K] x 2 -> [B]."""
    logp, logq = F.log_softmax(logits_p, dim=1), F.log_softmax(logits_q, dim=1)
    return torch.sum(logp.exp() * (logp - logq), dim=1)


def kl_posterior(p: Posterior, q: Posterior) -> Tensor:
    """KL(p || q) summed over the Gaussian group and every categorical group, [B]."""
    total = kl_normal(p.mean, p.logvar, q.mean, q.logvar)
    for lp, lq in zip(p.logits, q.logits, strict=True):
        total = total + kl_categorical(lp, lq)
    return total


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
