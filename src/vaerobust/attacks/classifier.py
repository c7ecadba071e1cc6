"""The end-to-end classifier attack: a targeted attack on judge(decode(mode(q(x)))) itself,
the baseline the latent-space attacks are compared with (cf. Gondim-Ribeiro et al. 2018,
arXiv 1806.04646, and the targeted attacks of Carlini & Wagner 2017, arXiv 1608.04644).

Objective, per pair (x_s, x_t), with r(x) = decode(mode(q(z | x))) and the judge's logits g:

    min_{x_adv}  lam * ||x_adv - x_s||_2 + CE(g(r(x_adv)), y_t)

The target label is not an input: y_t = argmax g(r(x_t)), the judge's label of the
target's clean reconstruction (the label the sweep's success is measured against when the
judge reads the target as its class). The judge is required (``build_attack(model, cfg,
judge=...)``) and frozen, in eval mode, during the attack. With ``samples = S > 1``, r is
replaced by S reparameterised draws and the cross-entropy averaged over them.
Threat model: the L-inf box around x_s within [0, 1] (and the L2 ball where ``l2_eps`` is
set), projected onto after every step (:mod:`vaerobust.attacks.engine`).
Shapes: x_src, x_tgt [B, C, H, W] in [0, 1] -> x_adv [B, C, H, W]; y_t [B] (long).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from vaerobust.attacks.base import ATTACKS, l2
from vaerobust.attacks.engine import LossAttack
from vaerobust.config import AttackConfig
from vaerobust.errors import ConfigError


@ATTACKS.register("classifier")
class ClassifierAttack(LossAttack):
    judge: nn.Module

    def __init__(self, model: nn.Module, cfg: AttackConfig, judge: nn.Module | None = None) -> None:
        if judge is None:
            raise ConfigError("the classifier attack needs a judge: build_attack(model, cfg, judge=classifier)")
        super().__init__(model, cfg, judge)

    def target(self, x_src: Tensor, x_tgt: Tensor) -> Tensor:
        """y_t [B]: the judge's label of the target's deterministic reconstruction."""
        return self.judge(self.model.decode(self.encode(x_tgt).mode())).argmax(dim=1)

    def loss(self, x_adv: Tensor, x_src: Tensor, y_tgt: Tensor) -> Tensor:
        """Per-example loss [B]."""
        logits = self.judge(self.model.decode(self.codes(self.encode(x_adv))))
        ce = F.cross_entropy(logits, y_tgt.repeat(self.cfg.samples), reduction="none")
        return self.cfg.lam * l2(x_adv - x_src) + self.per_example(ce)
