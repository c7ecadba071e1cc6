"""DIP-VAE I and II (Kumar et al. 2018, arXiv 1711.00848)."""

from __future__ import annotations

import torch
from torch import Tensor

from vaerobust.config import DIPVAEConfig
from vaerobust.models.vae import VAEOutput
from vaerobust.objectives.base import OBJECTIVES, LossOutput, Objective, standard_terms
from vaerobust.objectives.terms import batch_covariance, dip_penalties


@OBJECTIVES.register("dip_vae")
class DIPVAE(Objective):
    """recon + KL + lambda_od * sum_{i!=j} Cov_ij^2 + lambda_d * sum_i (Cov_ii - 1)^2.

    Kumar et al. 2018 (arXiv 1711.00848), eq. 6 (DIP-VAE-I) and eq. 7 (DIP-VAE-II): match the
    covariance of the aggregate posterior q(z) = E_p(x)[q(z|x)] to the prior's identity.
    Over the batch, with mu, sigma^2 the Gaussian posterior's means and variances [B, D]:

        type "i":  Cov = Cov_p(x)[mu(x)]
        type "ii": Cov = E_p(x)[diag sigma^2(x)] + Cov_p(x)[mu(x)]   (the covariance of q(z))

    Settings: ``lambda_od``, ``lambda_d``, ``dip_type`` (the paper pairs lambda_d = 10 lambda_od
    with type i and lambda_d = lambda_od with type ii). Categorical latents, if any, keep their
    plain KL. Terms: ``recon``, ``kl_gauss``, ``kl_cat``, ``dip_offdiag`` and ``dip_diag`` (the
    unweighted penalties).
    """

    def __init__(self, cfg: DIPVAEConfig) -> None:
        self.lambda_od, self.lambda_d, self.dip_type = cfg.lambda_od, cfg.lambda_d, cfg.dip_type

    def covariance(self, mean: Tensor, logvar: Tensor) -> Tensor:
        """The covariance [D, D] that DIP-VAE pushes towards the identity."""
        cov = batch_covariance(mean)
        if self.dip_type == "ii":
            cov = cov + torch.diag_embed(logvar.exp().mean(dim=0))
        return cov

    def __call__(self, out: VAEOutput, x: Tensor, step: int) -> LossOutput:
        t = standard_terms(out, x)
        post = out.posterior
        if post.mean.shape[1]:
            t["dip_offdiag"], t["dip_diag"] = dip_penalties(self.covariance(post.mean, post.logvar))
        else:
            t["dip_offdiag"], t["dip_diag"] = x.new_zeros(()), x.new_zeros(())
        loss = (t["recon"] + t["kl_gauss"] + t["kl_cat"]
                + self.lambda_od * t["dip_offdiag"] + self.lambda_d * t["dip_diag"])
        return LossOutput(loss, t)
