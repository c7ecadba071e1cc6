"""The objective contract and its registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from vaerobust.models.latents import LatentSpec
from vaerobust.models.vae import VAEOutput
from vaerobust.objectives.terms import bernoulli_nll, kl_categorical_uniform, kl_gaussian
from vaerobust.registry import Registry


@dataclass
class LossOutput:
    """The scalar to minimise and every term, as floats-ready tensors for logging."""

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)

    def scalars(self) -> dict[str, float]:
        return {"loss": float(self.loss.detach()), **{k: float(v.detach()) for k, v in self.terms.items()}}


def standard_terms(out: VAEOutput, x: Tensor) -> dict[str, Tensor]:
    """Batch means of the reconstruction NLL and of the Gaussian and categorical KLs."""
    post = out.posterior
    recon = bernoulli_nll(out.recon_logits, x).mean()
    kl_z = kl_gaussian(post.mean, post.logvar).mean() if post.mean.shape[1] else x.new_zeros(())
    kl_c = x.new_zeros(())
    for lg in post.logits:
        kl_c = kl_c + kl_categorical_uniform(lg).mean()
    return {"recon": recon, "kl_gauss": kl_z, "kl_cat": kl_c}


class Objective:
    """Maps a forward pass, the batch and the step to a :class:`LossOutput`.

    Most objectives are pure functions of the forward pass. One that owns networks of its own
    (FactorVAE's discriminator) also overrides the optional hooks, which the trainer
    (:class:`vaerobust.training.VAETrainer`, driven by :func:`vaerobust.pipelines.train.train_vae`) calls in this order:

    1. ``setup(spec, dataset_size, device)`` once, before anything is resumed: build the
       networks for the model's latents, and their optimisers, on ``device``;
    2. every step: ``__call__`` (the VAE's loss) -> the VAE's backward -> ``aux_step(code,
       code_aux, step, generator)`` (the objective's own optimisation step, while the VAE's
       parameters are still those the loss was computed with) -> the VAE's optimiser step.
       ``code_aux`` is the code of a second, independent batch when ``needs_aux_batch``;
    3. checkpoints: ``modules()`` is saved beside the VAE (``objective.safetensors``) and
       ``state_dict()`` (networks and optimisers) in ``train_state.pt``, restored on resume
       with ``load_state_dict``, so an interrupted run resumes exactly.
    """

    needs_aux_batch: bool = False

    def __call__(self, out: VAEOutput, x: Tensor, step: int) -> LossOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def setup(self, spec: LatentSpec, dataset_size: int, device: torch.device | str = "cpu") -> None:
        """Prepare for training a model with latents ``spec`` on ``dataset_size`` examples."""

    def modules(self) -> nn.ModuleDict:
        """The objective's own networks (empty for most objectives)."""
        return nn.ModuleDict()

    def aux_step(self, code: Tensor, code_aux: Tensor | None, step: int,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """One optimisation step of the objective's own networks; returns scalars to log."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`load_state_dict` needs to resume exactly (networks, optimisers)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got keys {sorted(state)}")


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


