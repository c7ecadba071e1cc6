"""The VAE: composes an encoder, a latent specification and a decoder.

Models only encode, sample and decode; losses live in :mod:`vaerobust.objectives`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaerobust.models.decoders import DECODERS
from vaerobust.models.encoders import ENCODERS
from vaerobust.models.latents import LatentSpec, Posterior


@dataclass
class VAEOutput:
    """One forward pass: the posterior, the code fed to the decoder [B, code_size], pixel logits."""

    posterior: Posterior
    code: Tensor
    recon_logits: Tensor

    @property
    def recon(self) -> Tensor:
        """Bernoulli means in [0, 1], [B, C, H, W]."""
        return torch.sigmoid(self.recon_logits)


class VAE(nn.Module):
    """q(z, c | x) by ``encoder``; p(x | z, c) Bernoulli by ``decoder``.

    ``forward(x, sample=True)`` samples the code (reparameterised Gaussian, Concrete
    categorical at ``temperature``); ``sample=False`` uses :meth:`Posterior.mode`.
    """

    def __init__(self, spec: LatentSpec, arch: str = "conv32", hidden: int = 128) -> None:
        super().__init__()
        self.spec = spec
        self.arch = arch
        self.hidden = hidden
        enc_cls = ENCODERS.get(arch)
        self.encoder = enc_cls(spec.n_params, hidden)
        self.decoder = DECODERS.get(arch)(spec.code_size, hidden)
        self.image_shape: tuple[int, int, int] = tuple(enc_cls.image_shape)  # type: ignore[assignment]

    def encode(self, x: Tensor) -> Posterior:
        return self.spec.split(self.encoder(x))

    def decode(self, code: Tensor) -> Tensor:
        """Bernoulli means [B, C, H, W] for codes [B, code_size]."""
        return torch.sigmoid(self.decoder(code))

    def forward(self, x: Tensor, sample: bool = True, temperature: float = 0.67) -> VAEOutput:
        post = self.encode(x)
        code = post.sample(temperature) if sample else post.mode()
        return VAEOutput(post, code, self.decoder(code))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Deterministic reconstruction (means and argmax one-hots), as used by the evaluation."""
        return self.decode(self.encode(x).mode())

    def describe(self) -> dict:
        """What :func:`build_vae` needs to rebuild this network (saved as model.json)."""
        return {
            "kind": "vae",
            "arch": self.arch,
            "hidden": self.hidden,
            "gaussian": self.spec.gaussian,
            "categorical": list(self.spec.categorical),
        }


def build_vae(description: dict) -> VAE:
    spec = LatentSpec(int(description["gaussian"]), tuple(int(k) for k in description["categorical"]))
    return VAE(spec, arch=description["arch"], hidden=int(description["hidden"]))
