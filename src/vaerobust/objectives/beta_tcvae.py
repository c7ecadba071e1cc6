"""beta-TCVAE: the KL split into mutual information, total correlation and dimension-wise KL."""

from __future__ import annotations

import torch
from torch import Tensor

from vaerobust.config import BetaTCVAEConfig
from vaerobust.models.latents import LatentSpec
from vaerobust.models.vae import VAEOutput
from vaerobust.objectives.base import OBJECTIVES, LossOutput, Objective, standard_terms
from vaerobust.objectives.terms import tc_decomposition


@OBJECTIVES.register("beta_tcvae")
class BetaTCVAE(Objective):
    """recon + alpha * MI + beta * TC + gamma * dim-KL  (Chen et al. 2018, arXiv 1802.04942, eq. 4).

    The Gaussian part of the ELBO's KL, averaged over the data, decomposes as (eq. 2)

        E_p(n)[KL(q(z|n) || p(z))] = I_q(z; n)                       (index-code MI)
                                   + KL(q(z) || prod_d q(z_d))       (total correlation)
                                   + sum_d KL(q(z_d) || p(z_d))      (dimension-wise KL)

    each estimated on the minibatch by minibatch-weighted sampling
    (:func:`~vaerobust.objectives.terms.tc_decomposition`) at the code sample ``out.code``.
    alpha = ``cfg.mi_weight``, beta = ``cfg.beta`` (the TC weight; Chen et al. use 6 on
    dSprites), gamma = ``cfg.dim_kl_weight``; alpha = gamma = 1 is the paper's beta-TCVAE.

    N, the data-set size, is ``cfg.dataset_size`` or else the training set's size that the
    trainer passes to :meth:`setup`; used directly without setup, N = the batch size.

    Categorical latents, if configured, are not decomposed: their KL to the uniform prior is
    added unweighted (as in the ELBO), so the objective runs on any latent specification.

    Terms: ``recon``, ``kl_gauss`` (closed form), ``kl_cat``, ``mi``, ``tc``, ``dim_kl``
    (batch means, nats); ``mi + tc + dim_kl`` is the sampled estimate of ``kl_gauss``.
    """

    def __init__(self, cfg: BetaTCVAEConfig) -> None:
        self.alpha, self.beta, self.gamma = cfg.mi_weight, cfg.beta, cfg.dim_kl_weight
        self.dataset_size = cfg.dataset_size

    def setup(self, spec: LatentSpec, dataset_size: int, device: torch.device | str = "cpu") -> None:
        if self.dataset_size is None:
            self.dataset_size = int(dataset_size)

    def __call__(self, out: VAEOutput, x: Tensor, step: int) -> LossOutput:
        t = standard_terms(out, x)
        post = out.posterior
        d = post.mean.shape[1]
        zero = x.new_zeros(())
        if d:
            n = self.dataset_size if self.dataset_size is not None else post.batch_size
            dec = tc_decomposition(out.code[:, :d], post.mean, post.logvar, n)
            t["mi"], t["tc"], t["dim_kl"] = dec.mi.mean(), dec.tc.mean(), dec.dim_kl.mean()
        else:
            t["mi"], t["tc"], t["dim_kl"] = zero, zero, zero
        loss = t["recon"] + self.alpha * t["mi"] + self.beta * t["tc"] + self.gamma * t["dim_kl"] + t["kl_cat"]
        return LossOutput(loss, t)
