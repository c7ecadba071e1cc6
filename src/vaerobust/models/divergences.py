"""Every KL divergence of the package, in closed form: the one set used by objectives and attacks.

Per example, summed over latent dimensions (or classes): [B, D] -> [B].

- :func:`kl_gaussian`: KL(N(mu, diag s^2) || N(0, I)) = -1/2 sum_d (1 + log s_d^2 - mu_d^2 - s_d^2)
  (Kingma & Welling 2014, arXiv 1312.6114, appendix B); :func:`kl_gaussian_per_dim` unsummed;
- :func:`kl_categorical_uniform`: KL(Cat(q) || uniform over K) = sum_i q_i log q_i + log K
  (thesis eq. 2.10);
- :func:`kl_normal`: KL(N(m1, s1^2) || N(m2, s2^2)) = 1/2 sum_d [log s2^2 - log s1^2 + (s1^2 + (m1 - m2)^2) / s2^2 - 1];
- :func:`kl_categorical`: KL(Cat(p) || Cat(q)) = sum_k p_k (log p_k - log q_k);
- :func:`kl_posterior`: KL(p || q) of two posteriors, over the Gaussian group and every categorical.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vaerobust.models.latents import Posterior


def kl_gaussian(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, diag(exp(logvar))) || N(0, I)) per example, [B, D] -> [B]."""
    return -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=1)


def kl_gaussian_per_dim(mean: Tensor, logvar: Tensor) -> Tensor:
    """The same KL, one value per dimension and example, [B, D]."""
    return -0.5 * (1 + logvar - mean.pow(2) - logvar.exp())


def kl_categorical_uniform(logits: Tensor) -> Tensor:
    """KL(Cat(softmax(logits)) || uniform over K) per example, [B, K] -> [B]."""
    logq = F.log_softmax(logits, dim=1)
    return torch.sum(logq.exp() * logq, dim=1) + math.log(logits.shape[1])


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


__all__ = ["kl_categorical", "kl_categorical_uniform", "kl_gaussian", "kl_gaussian_per_dim", "kl_normal",
           "kl_posterior"]
