"""How a VAE's encoder and stochastic reconstruction respond to their input, per image: what the
attack-free margin of :mod:`vaerobust.metrics.margin` reads.

- :func:`mean_jacobians`: the Jacobian of the encoder's Gaussian mean, d mu_i(x) / d x_j, per image;
- :func:`reconstruction_spread`: L2 distances between sampled reconstructions ``g(z)``,
  ``z ~ q(z|x)``, and the maximum-likelihood one ``g(mu(x))`` (``g``: the decoder's mean).

Both need a Gaussian-only latent (the margin's theorem is for a diagonal-Gaussian encoder).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from vaerobust.errors import InputError
from vaerobust.models.checks import check_images


def _gaussian_only(vae: Any) -> None:
    if getattr(vae.spec, "categorical", ()):
        raise InputError("a VAE with categorical latents: the margin needs a Gaussian-only latent "
                         "(its theorem is for a diagonal-Gaussian encoder)")
    if vae.spec.gaussian < 1:
        raise InputError("a VAE without Gaussian latents: the margin needs at least one Gaussian dimension")


def mean_jacobians(vae: Any, x: Tensor, batch_size: int = 64) -> Tensor:
    """J [N, D, C*H*W]: row i of image n is the gradient of mu_i(x_n) with respect to x_n's pixels.

    One backward pass per latent dimension and batch, in eval mode: the gradient of sum_n mu_i(x_n)
    splits into each image's row only if the images of a batch do not interact (true of this project's
    encoders, which have no batch statistics), so the first image's rows are also computed alone and a
    mismatch is an error rather than a wrong figure."""
    check_images(x, tuple(vae.image_shape), "margin input")
    _gaussian_only(vae)

    def rows_of(xb: Tensor) -> Tensor:
        xb = xb.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            mu = vae.encode(xb).mean
            rows = [torch.autograd.grad(mu[:, d].sum(), xb, retain_graph=d + 1 < mu.shape[1])[0].flatten(1)
                    for d in range(mu.shape[1])]
        return torch.stack(rows, dim=1).detach()

    with _eval(vae):
        out = [rows_of(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        if out[0].shape[0] > 1:
            alone = rows_of(x[:1])[0]
            # in norm, loosely: a batch of one may take other kernels (TF32 convolutions on a GPU differ by ~1e-3),
            # while images that share batch statistics differ by far more
            if float((alone - out[0][0]).norm()) > 1e-2 * float(alone.norm()) + 1e-12:
                raise InputError("the encoder's images interact within a batch (batch statistics?): its "
                                 "per-image Jacobian cannot be read from a batch")
    return torch.cat(out)


@contextmanager
def _eval(module: Any) -> Iterator[None]:
    """Eval mode for a block, the module's mode restored after it."""
    was = bool(getattr(module, "training", False))
    module.eval()
    try:
        yield
    finally:
        module.train(was)


@torch.no_grad()
def reconstruction_spread(vae: Any, x: Tensor, samples: int, generator: torch.Generator | None = None,
                          batch_size: int = 32, decode_batch: int = 2048) -> tuple[Tensor, Tensor]:
    """(distances [N, samples], sigma_min [N]): ``||g(mu + sigma * eps) - g(mu)||_2`` for ``samples`` draws of
    eps ~ N(0, I) per image, and each image's smallest posterior standard deviation (eval mode; at most
    ``decode_batch`` codes decoded at a time, so memory does not grow with ``samples``)."""
    check_images(x, tuple(vae.image_shape), "margin input")
    _gaussian_only(vae)
    if samples < 1:
        raise InputError(f"samples {samples}: expected an integer >= 1")
    dist, smin = [], []
    with _eval(vae):
        for i in range(0, x.shape[0], batch_size):
            post = vae.encode(x[i : i + batch_size])
            mu, sigma = post.mean, torch.exp(0.5 * post.logvar)
            centre = vae.decode(mu).flatten(1)  # [B, P]
            eps = torch.randn((mu.shape[0], samples, mu.shape[1]), generator=generator, device=mu.device,
                              dtype=mu.dtype)
            z = (mu[:, None] + sigma[:, None] * eps).reshape(-1, mu.shape[1])
            image_of = torch.arange(z.shape[0], device=z.device) // samples  # code j belongs to image j // samples
            d = torch.cat([(vae.decode(z[j : j + decode_batch]).flatten(1) - centre[image_of[j : j + decode_batch]])
                           .norm(dim=1) for j in range(0, z.shape[0], decode_batch)])
            dist.append(d.reshape(mu.shape[0], samples))
            smin.append(sigma.min(dim=1).values)
    return torch.cat(dist), torch.cat(smin)


__all__ = ["mean_jacobians", "reconstruction_spread"]
