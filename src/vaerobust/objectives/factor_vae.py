"""FactorVAE (Kim & Mnih 2018, arXiv 1802.05983): total correlation by a discriminator."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaerobust.config import FactorVAEConfig
from vaerobust.models.discriminator import Discriminator
from vaerobust.models.latents import LatentSpec
from vaerobust.models.vae import VAEOutput
from vaerobust.objectives.base import OBJECTIVES, LossOutput, Objective, standard_terms


def permute_dims(code: Tensor, blocks: list[int], generator: torch.Generator | None = None) -> Tensor:
    """Shuffle each latent variable independently across the batch (Kim & Mnih, Algorithm 1).

    ``code`` [B, sum(blocks)] is cut into consecutive variables of widths ``blocks`` (1 per
    Gaussian dimension, K per K-way categorical); each is permuted over the batch with its own
    random permutation. If the rows are samples of q(z), the result is (approximately) a sample
    of prod_j q(z_j).
    """
    b = code.shape[0]
    parts = code.split(blocks, dim=1)
    return torch.cat([p[torch.randperm(b, generator=generator, device=code.device)] for p in parts], dim=1)


@OBJECTIVES.register("factor_vae")
class FactorVAE(Objective):
    """recon + KL_gauss + KL_cat + gamma * TC  (Kim & Mnih 2018, arXiv 1802.05983, eq. 2).

    TC = KL(q(z) || prod_j q(z_j)) is estimated with the density-ratio trick (eq. 3):

        TC ~= E_q(z)[log D(z) / (1 - D(z))] = E_q(z)[logits_0(z) - logits_1(z)]

    where the discriminator D (:class:`~vaerobust.models.discriminator.Discriminator`,
    ``disc_layers`` x ``disc_hidden``; paper 6 x 1000) is trained in step with the VAE
    (Algorithm 2) by :meth:`aux_step`: cross-entropy between codes of the current batch
    (class 0) and codes of a second, independent batch with every latent variable permuted
    across the batch (class 1), with its own Adam (``disc_lr``, ``disc_betas``; paper 1e-4,
    (0.5, 0.9)). ``gamma`` = ``cfg.gamma`` (the dSprites preset: 35).

    The code is the decoder's input: Gaussian samples and, if configured, relaxed categorical
    one-hots, each categorical permuted as one variable. Terms: ``recon``, ``kl_gauss``,
    ``kl_cat``, ``tc``; :meth:`aux_step` logs ``disc_loss`` and ``disc_acc``.
    """

    needs_aux_batch = True

    def __init__(self, cfg: FactorVAEConfig) -> None:
        self.gamma = cfg.gamma
        self.disc_hidden, self.disc_layers = cfg.disc_hidden, cfg.disc_layers
        self.disc_lr, self.disc_betas = cfg.disc_lr, (float(cfg.disc_betas[0]), float(cfg.disc_betas[1]))
        self.discriminator: Discriminator | None = None
        self.optimizer: torch.optim.Adam | None = None
        self.blocks: list[int] = []

    def setup(self, spec: LatentSpec, dataset_size: int, device: torch.device | str = "cpu") -> None:
        """Build the discriminator (global RNG) and its Adam for codes of ``spec``."""
        self.blocks = [1] * spec.gaussian + list(spec.categorical)
        self.discriminator = Discriminator(spec.code_size, self.disc_hidden, self.disc_layers).to(device)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=self.disc_lr, betas=self.disc_betas)

    def _ready(self, out: VAEOutput) -> Discriminator:
        """The discriminator, set up from the forward pass's latents if the trainer has not."""
        if self.discriminator is None:
            post = out.posterior
            spec = LatentSpec(post.mean.shape[1], tuple(lg.shape[1] for lg in post.logits))
            self.setup(spec, post.batch_size, out.code.device)
        assert self.discriminator is not None
        return self.discriminator

    def modules(self) -> nn.ModuleDict:
        return nn.ModuleDict({} if self.discriminator is None else {"discriminator": self.discriminator})

    def __call__(self, out: VAEOutput, x: Tensor, step: int) -> LossOutput:
        disc = self._ready(out)
        t = standard_terms(out, x)
        t["tc"] = disc.log_ratio(out.code).mean()
        loss = t["recon"] + t["kl_gauss"] + t["kl_cat"] + self.gamma * t["tc"]
        return LossOutput(loss, t)

    def aux_step(self, code: Tensor, code_aux: Tensor | None, step: int,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """One Adam step of the discriminator on ``code`` (class 0) vs permuted ``code_aux`` (class 1).

        ``code_aux`` None permutes ``code`` itself. Loss: 1/2 [CE(D(z), 0) + CE(D(perm(z')), 1)].
        """
        if self.discriminator is None or self.optimizer is None:
            raise RuntimeError("FactorVAE.aux_step before setup(): call setup() or the objective first")
        z = code.detach()
        z_perm = permute_dims((z if code_aux is None else code_aux.detach()), self.blocks, generator)
        logits = self.discriminator(torch.cat([z, z_perm]))
        labels = torch.cat([torch.zeros(z.shape[0], dtype=torch.long), torch.ones(z_perm.shape[0], dtype=torch.long)])
        labels = labels.to(z.device)
        loss = F.cross_entropy(logits, labels)  # the mean over both halves = 1/2 (CE_q + CE_perm)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        acc = (logits.detach().argmax(1) == labels).float().mean()
        return {"disc_loss": loss.detach(), "disc_acc": acc}

    def state_dict(self) -> dict[str, Any]:
        if self.discriminator is None or self.optimizer is None:
            return {}
        return {"discriminator": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if self.discriminator is None or self.optimizer is None:
            raise RuntimeError("FactorVAE.load_state_dict before setup(): the discriminator does not exist yet")
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
