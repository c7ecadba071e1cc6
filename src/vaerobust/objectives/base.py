"""The objective contract and its registry."""

from __future__ import annotations

from dataclasses import dataclass, field


from torch import Tensor

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
    """Maps a forward pass, the batch and the step to a :class:`LossOutput`."""

    def __call__(self, out: VAEOutput, x: Tensor, step: int) -> LossOutput:  # pragma: no cover - interface
        raise NotImplementedError


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


