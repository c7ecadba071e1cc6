"""Networks: encoders, decoders, latent posteriors, the VAE and the judge classifiers."""

from vaerobust.models.checks import check_images
from vaerobust.models.classifier import CLASSIFIERS, LeNet32, build_classifier
from vaerobust.models.latents import LatentSpec, Posterior
from vaerobust.models.vae import VAE, VAEOutput, build_vae

__all__ = ["CLASSIFIERS", "VAE", "LatentSpec", "LeNet32", "Posterior", "VAEOutput", "build_classifier", "build_vae",
           "check_images"]
