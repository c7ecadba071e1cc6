"""Pure maths of the objectives: log-likelihoods, capacity schedules, the beta-TCVAE and
DIP-VAE terms. The KL terms are the package's one set in :mod:`vaerobust.models.divergences`
(re-exported here).

Every per-example term is summed over latent dimensions (or pixels) and returned with
shape [B]; objectives average over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vaerobust.models.divergences import kl_categorical_uniform, kl_gaussian, kl_gaussian_per_dim

__all__ = ["LOG_2PI", "TCDecomposition", "batch_covariance", "bernoulli_nll", "dip_penalties",
           "gaussian_log_density", "kl_categorical_uniform", "kl_gaussian", "kl_gaussian_per_dim", "linear_capacity",
           "tc_decomposition"]


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


# --------------------------------------------------------------------------- beta-TCVAE


LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_density(z: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mean, exp(logvar)) elementwise (broadcasting), no sum over dimensions.

    log N = -1/2 * (log 2 pi + logvar + (z - mean)^2 / exp(logvar)).
    """
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) * torch.exp(-logvar))


@dataclass
class TCDecomposition:
    """Per-example terms [B] of the decomposed KL (Chen et al. 2018, arXiv 1802.04942, eq. 2).

    ``mi + tc + dim_kl == log q(z|n) - log p(z)`` for every example, exactly.
    """

    mi: Tensor  # log q(z|n) - log q(z)                   index-code mutual information
    tc: Tensor  # log q(z) - sum_d log q(z_d)             total correlation
    dim_kl: Tensor  # sum_d log q(z_d) - log p(z_d)       dimension-wise KL


def tc_decomposition(z: Tensor, mean: Tensor, logvar: Tensor, dataset_size: int) -> TCDecomposition:
    """Minibatch-weighted-sampling estimate of the beta-TCVAE decomposition.

    ``z``, ``mean``, ``logvar``: [M, D] (a sample z_i ~ q(z | n_i) and its posterior). With N =
    ``dataset_size``, Chen et al. 2018 (arXiv 1802.04942, section 3 / appendix C.1) estimate

        log q(z_i)   ~= logsumexp_j  log q(z_i | n_j)           - log(N M)
        log q(z_id)  ~= logsumexp_j  log q(z_id | n_j)          - log(N M)

    so that E[log q(z|n) - log p(z)] = MI + TC + dim-KL holds term by term. The estimator is
    biased by constants (all posteriors equal to the prior give MI = log N, TC = (D - 1) log N,
    dim-KL = -D log N) that do not change the gradients.
    """
    m = z.shape[0]
    log_norm = math.log(dataset_size * m)
    # log q(z_id | n_j) for every pair (i, j): [M, M, D]
    pair = gaussian_log_density(z.unsqueeze(1), mean.unsqueeze(0), logvar.unsqueeze(0))
    log_qz_n = gaussian_log_density(z, mean, logvar).sum(1)  # [M]
    log_qz = torch.logsumexp(pair.sum(2), dim=1) - log_norm  # [M]
    log_qz_dims = (torch.logsumexp(pair, dim=1) - log_norm).sum(1)  # [M]
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)  # [M]
    return TCDecomposition(mi=log_qz_n - log_qz, tc=log_qz - log_qz_dims, dim_kl=log_qz_dims - log_pz)


# --------------------------------------------------------------------------- DIP-VAE


def batch_covariance(x: Tensor) -> Tensor:
    """Biased covariance of the rows of ``x`` [M, D] -> [D, D]: E[x x^T] - E[x] E[x]^T."""
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / x.shape[0]


def dip_penalties(cov: Tensor) -> tuple[Tensor, Tensor]:
    """DIP-VAE's two penalties on a covariance [D, D] (Kumar et al. 2018, arXiv 1711.00848, eq. 6-7).

    off-diagonal: sum_{i != j} Cov_ij^2;   diagonal: sum_i (Cov_ii - 1)^2.
    Both are 0 exactly when ``cov`` is the identity.
    """
    diag = torch.diagonal(cov)
    off = cov - torch.diag_embed(diag)
    return off.pow(2).sum(), (diag - 1).pow(2).sum()
