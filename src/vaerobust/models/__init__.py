"""Networks: encoders, decoders, latent posteriors, the VAE and the judge classifier."""

from vaerobust.models.classifier import LeNet32
from vaerobust.models.latents import LatentSpec, Posterior
from vaerobust.models.vae import VAE, VAEOutput, build_vae

__all__ = ["LatentSpec", "Posterior", "VAE", "VAEOutput", "build_vae", "LeNet32"]
