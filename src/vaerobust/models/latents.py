"""Latent specification and the Posterior contract.

A posterior q(z, c | x) factorises into a diagonal Gaussian over ``z`` (``mean``,
``logvar``: [B, D]) and independent categorical variables ``c_j`` (``logits[j]``: [B, K_j]),
as in JointVAE (Dupont 2018, arXiv 1804.00104). Attacks, metrics and traversals all go
through :class:`Posterior`, so a new latent type is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from vaerobust.errors import ConfigError


@dataclass(frozen=True)
class LatentSpec:
    """``gaussian`` Gaussian dimensions plus one categorical variable per entry of ``categorical``."""

    gaussian: int = 10
    categorical: tuple[int, ...] = (10,)

    def __post_init__(self) -> None:
        if self.gaussian < 0 or any(k < 2 for k in self.categorical):
            raise ConfigError(
                f"latent spec gaussian={self.gaussian}, categorical={list(self.categorical)}: "
                "expected gaussian >= 0 and every categorical size >= 2"
            )
        if self.gaussian == 0 and not self.categorical:
            raise ConfigError("latent spec has no latent variable: expected gaussian > 0 or a categorical")

    @property
    def n_params(self) -> int:
        """Encoder outputs: mean and log-variance per Gaussian dim, one logit per class."""
        return 2 * self.gaussian + sum(self.categorical)

    @property
    def code_size(self) -> int:
        """Decoder inputs: z concatenated with the one-hot (or relaxed) codes."""
        return self.gaussian + sum(self.categorical)

    def split(self, params: Tensor) -> Posterior:
        """Cut the encoder's flat output [B, n_params] into a Posterior."""
        d = self.gaussian
        mean, logvar = params[:, :d], params[:, d : 2 * d]
        logits, start = [], 2 * d
        for k in self.categorical:
            logits.append(params[:, start : start + k])
            start += k
        return Posterior(mean=mean, logvar=logvar, logits=logits)


@dataclass
class Posterior:
    """q(z, c | x) for a batch: Gaussian ``mean``/``logvar`` [B, D], categorical ``logits`` list of [B, K_j]."""

    mean: Tensor
    logvar: Tensor
    logits: list[Tensor] = field(default_factory=list)

    def sample(self, temperature: float = 0.67, generator: torch.Generator | None = None) -> Tensor:
        """A reparameterised sample [B, code_size].

        Gaussian: z = mean + exp(logvar / 2) * eps, eps ~ N(0, I).
        Categorical: the Concrete / Gumbel-softmax relaxation (Maddison et al. 2017,
        Jang et al. 2017): softmax((logits + g) / temperature), g ~ Gumbel(0, 1).
        """
        parts = []
        if self.mean.shape[1] > 0:
            eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
            parts.append(self.mean + torch.exp(0.5 * self.logvar) * eps)
        for lg in self.logits:
            u = torch.rand(lg.shape, generator=generator, device=lg.device, dtype=lg.dtype)
            u = u.clamp(1e-10, 1.0 - 1e-7)  # keep both logs finite
            g = -torch.log(-torch.log(u))  # Gumbel(0, 1)
            parts.append(F.softmax((lg + g) / temperature, dim=1))
        return torch.cat(parts, dim=1)

    def sampled_mode(self, generator: torch.Generator | None = None) -> Tensor:
        """Gaussian means and, per categorical variable, a one-hot class drawn with the posterior's
        probabilities (a hard Gumbel-softmax draw: argmax(logits + g), g ~ Gumbel(0, 1)) -- the
        code the thesis author's evaluation decoded (PROTOCOL §9). Without categorical variables
        this is :meth:`mode`."""
        parts = [self.mean] if self.mean.shape[1] > 0 else []
        for lg in self.logits:
            u = torch.rand(lg.shape, generator=generator, device=lg.device, dtype=lg.dtype).clamp(1e-10, 1.0 - 1e-7)
            parts.append(F.one_hot((lg - torch.log(-torch.log(u))).argmax(dim=1), lg.shape[1]).to(lg.dtype))
        return torch.cat(parts, dim=1)

    def mode(self) -> Tensor:
        """The deterministic code used for evaluation: Gaussian means and argmax one-hots."""
        parts = [self.mean] if self.mean.shape[1] > 0 else []
        for lg in self.logits:
            parts.append(F.one_hot(lg.argmax(dim=1), lg.shape[1]).to(lg.dtype))
        return torch.cat(parts, dim=1)

    def features(self) -> Tensor:
        """Gaussian means concatenated with categorical logits: what the latent attack matches."""
        return torch.cat([self.mean, *self.logits], dim=1)

    def detach(self) -> Posterior:
        return Posterior(self.mean.detach(), self.logvar.detach(), [lg.detach() for lg in self.logits])

    @property
    def batch_size(self) -> int:
        return self.mean.shape[0]
