"""Pure maths of the objectives: KL terms, log-likelihoods, capacity schedules.

Every per-example term is summed over latent dimensions (or pixels) and returned with
shape [B]; objectives average over the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def kl_gaussian(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, diag(exp(logvar))) || N(0, I)) per example, [B, D] -> [B].

    Closed form (Kingma & Welling 2014, arXiv 1312.6114, appendix B):
    KL = -1/2 * sum_d (1 + logvar_d - mean_d^2 - exp(logvar_d)).
    """
    return -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=1)


def kl_gaussian_per_dim(mean: Tensor, logvar: Tensor) -> Tensor:
    """The same KL, one value per dimension and example, [B, D]."""
    return -0.5 * (1 + logvar - mean.pow(2) - logvar.exp())


def kl_categorical_uniform(logits: Tensor) -> Tensor:
    """KL(Cat(softmax(logits)) || uniform over K) per example, [B, K] -> [B].

    KL = sum_i q_i (log q_i - log(1/K)) = sum_i q_i log q_i + log K  (thesis eq. 2.10).
    """
    logq = F.log_softmax(logits, dim=1)
    return torch.sum(logq.exp() * logq, dim=1) + math.log(logits.shape[1])


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """-log p(x | logits) for Bernoulli pixels, summed over pixels, [B, ...] -> [B].

    Binary cross-entropy on targets in [0, 1] (the usual continuous relaxation for
    grey-level MNIST), computed from logits for numerical stability.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def linear_capacity(step: int, c_max: float, steps: int) -> float:
    """C(t) = c_max * min(t / steps, 1): linear from 0 to c_max nats, then held.

    Burgess et al. 2018 (arXiv 1804.03599) eq. 8; Dupont 2018 uses the same schedule.
    ``steps <= 0`` means the full capacity from the start.
    """
    if steps <= 0:
        return float(c_max)
    return float(c_max) * min(max(step, 0) / steps, 1.0)
