"""The negative ELBO with a KL weight: the plain VAE (beta = 1); beta-VAE lives in beta_vae.py."""

from __future__ import annotations

from torch import Tensor

from vaerobust.config import BetaVAEConfig, ELBOConfig
from vaerobust.models.vae import VAEOutput
from vaerobust.objectives.base import OBJECTIVES, LossOutput, Objective, standard_terms


@OBJECTIVES.register("elbo")
class ELBO(Objective):
    """recon + beta * (KL_gauss + KL_cat).

    beta = 1 is the negative ELBO of Kingma & Welling (2014); beta > 1 is the beta-VAE of
    Higgins et al. (2017). The study's ``entangled`` models use beta = 1.
    """

    def __init__(self, cfg: ELBOConfig | BetaVAEConfig) -> None:
        self.beta = cfg.beta

    def __call__(self, out: VAEOutput, x: Tensor, step: int) -> LossOutput:
        t = standard_terms(out, x)
        loss = t["recon"] + self.beta * (t["kl_gauss"] + t["kl_cat"])
        return LossOutput(loss, t)
