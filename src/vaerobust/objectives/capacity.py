"""Controlled-capacity objectives: Burgess et al. 2018 and JointVAE (Dupont 2018)."""

from __future__ import annotations

from torch import Tensor

from vaerobust.config import CapacityConfig, JointVAEConfig
from vaerobust.models.vae import VAEOutput
from vaerobust.objectives.base import OBJECTIVES, LossOutput, Objective, standard_terms
from vaerobust.objectives.terms import linear_capacity


@OBJECTIVES.register("capacity")
class Capacity(Objective):
    """recon + gamma * |KL_gauss + KL_cat - C(t)|  (Burgess et al. 2018, arXiv 1804.03599, eq. 8).

    Works with any latents: with Gaussian latents only, KL_cat is 0 and this is exactly
    Burgess et al.'s L = E[log p(x|z)] - gamma * |KL(q(z|x) || p(z)) - C|. C(t) rises
    linearly from 0 to ``capacity_max`` nats over ``capacity_steps`` (dSprites: gamma = 1000,
    25 nats over 100,000 steps).
    """

    def __init__(self, cfg: CapacityConfig) -> None:
        self.gamma, self.c_max, self.c_steps = cfg.gamma, cfg.capacity_max, cfg.capacity_steps

    def __call__(self, out: VAEOutput, x: Tensor, step: int) -> LossOutput:
        t = standard_terms(out, x)
        c = linear_capacity(step, self.c_max, self.c_steps)
        loss = t["recon"] + self.gamma * (t["kl_gauss"] + t["kl_cat"] - c).abs()
        t["capacity"] = x.new_tensor(c)
        return LossOutput(loss, t)


@OBJECTIVES.register("jointvae")
class JointVAE(Objective):
    """recon + gamma * |KL_gauss - C_z(t)| + gamma * |KL_cat - C_c(t)|.

    Dupont 2018 (arXiv 1804.00104) eq. 7 / thesis eq. 2.14. The study's ``disentangled``
    model: gamma = 30, both capacities rising to 5 nats over 100,000 steps.
    """

    def __init__(self, cfg: JointVAEConfig) -> None:
        self.gamma = cfg.gamma
        self.cz = (cfg.capacity_max, cfg.capacity_steps)
        self.cc = (
            cfg.capacity_max if cfg.cat_capacity_max is None else cfg.cat_capacity_max,
            cfg.capacity_steps if cfg.cat_capacity_steps is None else cfg.cat_capacity_steps,
        )

    def __call__(self, out: VAEOutput, x: Tensor, step: int) -> LossOutput:
        t = standard_terms(out, x)
        cz = linear_capacity(step, *self.cz)
        cc = linear_capacity(step, *self.cc)
        loss = t["recon"]
        if out.posterior.mean.shape[1]:
            loss = loss + self.gamma * (t["kl_gauss"] - cz).abs()
        if out.posterior.logits:
            loss = loss + self.gamma * (t["kl_cat"] - cc).abs()
        t["capacity_gauss"] = x.new_tensor(cz)
        t["capacity_cat"] = x.new_tensor(cc)
        return LossOutput(loss, t)
