"""beta-VAE (Higgins et al. 2017, ICLR, openreview.net/forum?id=Sy2fzU9gl)."""

from __future__ import annotations

from vaerobust.objectives.base import OBJECTIVES
from vaerobust.objectives.elbo import ELBO


@OBJECTIVES.register("beta_vae")
class BetaVAE(ELBO):
    """recon + beta * (KL_gauss + KL_cat), beta > 1  (Higgins et al. 2017, eq. 4).

    L(x) = -E_q(z|x)[log p(x|z)] + beta * KL(q(z|x) || p(z)): the ELBO's maths with the KL
    up-weighted, which pressures the posterior towards the factorised prior. ``beta`` comes from
    ``BetaVAEConfig.beta`` (the dSprites preset uses Higgins et al.'s beta = 4). Terms:
    ``recon``, ``kl_gauss``, ``kl_cat`` (batch means, nats).
    """
