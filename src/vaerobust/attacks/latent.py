"""The latent attack (Sabour et al. 2016, arXiv 1511.05122; Kos et al. 2017, arXiv 1702.06832).

Objective, per pair (x_s, x_t), phi(x) = concat(Gaussian means, categorical logits):

    min_{x_adv}  lam * ||x_adv - x_s||_2 + ||phi(x_adv) - phi(x_t)||_2

Threat model: x_adv in the L-inf box max(0, x_s - eps) <= x_adv <= min(1, x_s + eps).
Optimiser: Adam (lr 1e-3) for ``steps`` steps from x_s + N(0, noise_std^2) clipped to
[0, 1], projecting onto the box after every step (PROTOCOL §5). The loss is summed over
the batch; Adam is elementwise, so each pair is optimised exactly as if alone.
Shapes: x_src, x_tgt [B, C, H, W] in [0, 1] -> x_adv [B, C, H, W].
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaerobust.attacks.base import ATTACKS, Attack, l2, project_box


@ATTACKS.register("latent")
class LatentAttack(Attack):
    def features(self, x: Tensor) -> Tensor:
        return self.model.encode(x).features()

    def loss(self, x_adv: Tensor, x_src: Tensor, f_tgt: Tensor) -> Tensor:
        """Per-example loss [B]."""
        return self.cfg.lam * l2(x_adv - x_src) + l2(self.features(x_adv) - f_tgt)

    def forward(self, x_src: Tensor, x_tgt: Tensor, noise: Tensor) -> Tensor:
        c = self.cfg
        with torch.no_grad():
            f_tgt = self.features(x_tgt)
            x_adv = (x_src + c.noise_std * noise).clamp(0.0, 1.0)
        if c.steps == 0:
            return project_box(x_adv, x_src, c.eps)
        x_adv.requires_grad_(True)
        opt = torch.optim.Adam([x_adv], lr=c.lr)
        self.trace: list[Tensor] = []
        for _ in range(c.steps):
            loss = self.loss(x_adv, x_src, f_tgt).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                x_adv.copy_(project_box(x_adv, x_src, c.eps))
            self.trace.append(loss.detach())
        return x_adv.detach()
