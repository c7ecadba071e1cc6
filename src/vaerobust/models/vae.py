"""The VAE: composes an encoder, a latent specification and a decoder.

Models only encode, sample and decode; losses live in :mod:`vaerobust.objectives`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaerobust.errors import ConfigError
from vaerobust.models.checks import check_images
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

    ``arch`` names a registered encoder/decoder pair. A conv arch takes one image shape
    (``conv32``: 1x32x32, ``conv64``: 1x64x64; ``image_size``, if given, must match); an
    any-size arch (``mlp``) takes 1 x ``image_size`` x ``image_size``. ``image_shape`` is the
    input shape [C, H, W] either way.

    ``forward(x, sample=True)`` samples the code (reparameterised Gaussian, Concrete
    categorical at ``temperature``); ``sample=False`` uses :meth:`Posterior.mode`.
    """

    def __init__(self, spec: LatentSpec, arch: str = "conv32", hidden: int = 128, image_size: int | None = None,
                 channels: int = 1) -> None:
        super().__init__()
        if channels < 1:
            raise ConfigError(f"channels = {channels}: expected an integer >= 1 (1 grey, 3 colour)")
        self.spec = spec
        self.arch = arch
        self.hidden = hidden
        self.channels = channels
        enc_cls, dec_cls = ENCODERS.get(arch), DECODERS.get(arch)
        fixed = enc_cls.image_shape  # a conv arch's one input shape; None: any size (mlp)
        if fixed is None:
            if image_size is None or image_size < 1:
                raise ConfigError(f"arch {arch!r} takes images of any size: expected image_size >= 1, got {image_size!r}")
            shape = (channels, image_size, image_size)
            self.encoder = enc_cls(spec.n_params, hidden, image_shape=shape)
            self.decoder = dec_cls(spec.code_size, hidden, image_shape=shape)
        else:
            if image_size is not None and image_size != fixed[-1]:
                raise ConfigError(
                    f"arch {arch!r} takes {fixed[-2]}x{fixed[-1]} images, got image_size={image_size}; "
                    f"set data.image_size: {fixed[-1]} or pick another model.arch"
                )
            shape = (channels, *tuple(fixed)[1:])
            self.encoder = enc_cls(spec.n_params, hidden, channels=channels)
            self.decoder = dec_cls(spec.code_size, hidden, channels=channels)
        self.image_shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self._free_size = fixed is None

    def encode(self, x: Tensor) -> Posterior:
        """q(z, c | x) [B, ...] (unchecked: the inner loops of training and attacks call it;
        :meth:`reconstruct` and :meth:`forward` check their input)."""
        return self.spec.split(self.encoder(x))

    def decode(self, code: Tensor) -> Tensor:
        """Bernoulli means [B, C, H, W] for codes [B, code_size]."""
        return torch.sigmoid(self.decoder(code))

    def forward(self, x: Tensor, sample: bool = True, temperature: float = 0.67) -> VAEOutput:
        """A forward pass; ``x`` is checked (shape, dtype, range, finite, non-empty)."""
        check_images(x, self.image_shape, "VAE input")
        post = self.encode(x)
        code = post.sample(temperature) if sample else post.mode()
        return VAEOutput(post, code, self.decoder(code))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Deterministic reconstruction (means and argmax one-hots), as used by the evaluation.

        ``x`` [B, C, H, W] in [0, 1] is checked: a wrong shape or dtype, NaN, infinite or
        out-of-range pixels, or an empty batch is a one-line :class:`~vaerobust.errors.InputError`.
        """
        check_images(x, self.image_shape, "reconstruct")
        return self.decode(self.encode(x).mode())

    def describe(self) -> dict:
        """What :func:`build_vae` needs to rebuild this network (saved as model.json)."""
        desc = {
            "kind": "vae",
            "arch": self.arch,
            "hidden": self.hidden,
            "gaussian": self.spec.gaussian,
            "categorical": list(self.spec.categorical),
        }
        if self._free_size:  # only archs without a fixed input shape need it (keeps conv32's model.json)
            desc["image_size"] = self.image_shape[-1]
        if self.channels != 1:  # colour images (CelebA); grey runs keep their model.json
            desc["channels"] = self.channels
        return desc


def build_vae(description: dict) -> VAE:
    """The network :meth:`VAE.describe` described (``image_size`` only for any-size archs)."""
    spec = LatentSpec(int(description["gaussian"]), tuple(int(k) for k in description["categorical"]))
    size = description.get("image_size")
    return VAE(spec, arch=description["arch"], hidden=int(description["hidden"]),
               image_size=None if size is None else int(size), channels=int(description.get("channels", 1)))
