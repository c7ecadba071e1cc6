"""A robustness figure that needs no attack: the first-order r-robustness margin of a Gaussian VAE
(Camuto et al., AISTATS 2021, arXiv 2007.07365), from arrays alone.

**r-robustness.** A VAE is r-robust at ``x`` when its stochastic reconstruction ``g(z)``,
``z ~ q(z|x) = N(mu(x), diag sigma(x)^2)``, falls within L2 distance ``r`` of the
maximum-likelihood reconstruction ``g(mu(x))`` with probability above 1/2 (``g``: the decoder's
mean). Call that probability ``p(x) = P(||g(z) - g(mu(x))||_2 <= r)``.

**The margin.** To first order in the perturbation, every input perturbation ``delta`` with

    ||delta||_2 < R(x) = min_i sigma_i(x) * Phi^{-1}(p(x)) / ||J_mu(x)||_F

keeps the VAE r-robust (``J_mu``: the Jacobian of the encoder's mean, d mu_i / d x_j; ``Phi^{-1}``:
the standard normal quantile), whatever the decoder: the decoder whose robust region is a half-space
of the latent space is the worst case, where the bound is tight (Neyman-Pearson). It assumes a
diagonal-Gaussian encoder and that the perturbation moves the mean and not sigma (attacks do move
sigma); it is an approximation (the higher-order terms are dropped, as the authors plot it) computed
from an estimate of ``p(x)``, not a certificate. Where ``p(x) <= 1/2`` the model is not r-robust at
``x`` itself and the margin is 0. Since ``||J||_2 <= ||J||_F``, the same formula with the spectral
norm gives a margin that is never smaller: kept beside it [not the paper's: a variant of ours].

[assumption] ``p(x)`` is estimated from ``S`` samples of ``z`` and clipped to
``[1/(2S), 1 - 1/(2S)]`` so that ``Phi^{-1}`` stays finite: with every sample within ``r``, the
margin is that of ``p = 1 - 1/(2S)`` (a larger ``S`` raises this cap), so it reads
``sigma_min / ||J||`` times a constant of ``S`` and no longer depends on ``r``; ``capped_share``
says how many images are there.

Source of the formula: the first author's summary of the paper (A. Camuto, "The Adversarial
Robustness of VAEs", 2020); the theorem's exact conditions in the paper were not checked here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from vaerobust.errors import InputError


def robust_probability(distances: np.ndarray, radius: float) -> np.ndarray:
    """``p(x)`` per image from ``distances`` [N, S] (``||g(z_s) - g(mu(x))||_2``): the share of the
    ``S`` samples within ``radius``, clipped to ``[1/(2S), 1 - 1/(2S)]``."""
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] < 1:
        raise InputError(f"distances of shape {tuple(d.shape)}: expected [images, samples] with at least 1 sample")
    if not np.isfinite(d).all() or (d < 0).any():
        raise InputError("distances: expected finite values >= 0")
    if not (np.isfinite(radius) and radius > 0):
        raise InputError(f"radius {radius}: expected a finite number > 0")
    s = d.shape[1]
    return np.clip((d <= radius).mean(axis=1), 0.5 / s, 1.0 - 0.5 / s)


def first_order_margin(sigma_min: np.ndarray, p: np.ndarray, jacobian_norm: np.ndarray) -> np.ndarray:
    """``R(x) = max(0, sigma_min * Phi^{-1}(p)) / ||J||`` per image (any norm of the mean's Jacobian:
    the Frobenius norm gives the paper's bound, the spectral norm a larger one)."""
    sigma_min, p, jn = (np.asarray(a, dtype=np.float64) for a in (sigma_min, p, jacobian_norm))
    if not (sigma_min.shape == p.shape == jn.shape):
        raise InputError(f"sigma_min {sigma_min.shape}, p {p.shape}, jacobian_norm {jn.shape}: expected one shape")
    for name, a in (("sigma_min", sigma_min), ("jacobian_norm", jn)):
        if not np.isfinite(a).all() or (a < 0).any():
            raise InputError(f"{name}: expected finite values >= 0")
    if not ((p > 0) & (p < 1)).all():
        raise InputError("p: expected probabilities strictly between 0 and 1")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.maximum(sigma_min * ndtri(p), 0.0) / jn
    return np.where(jn > 0, r, np.where(p > 0.5, np.inf, 0.0))  # an input the mean ignores: nothing moves it


@dataclass(frozen=True)
class MarginSummary:
    """One radius's figures over the images. Medians and quartiles, not means, carry the figure (a few images
    with a tiny Jacobian give huge margins); each is an order statistic (the lower middle value of an even
    count), so it stays defined when some margins are infinite. ``median_p`` (always finite) is the usual median."""

    radius: float
    median: float  # median margin, Frobenius norm (the paper's bound; inf: most images' means ignore their input)
    mean: float  # mean of the finite margins, Frobenius norm
    median_spectral: float  # median margin, spectral norm (never below ``median``)
    quartiles: tuple[float, float]  # 25% and 75% of the margins, Frobenius norm
    robust_share: float  # share of images r-robust at the clean input (p > 1/2)
    capped_share: float  # share of images with every sample within r (p at its cap 1 - 1/(2S))
    unbounded_share: float  # share of images with an infinite margin (r-robust, and the mean ignores the input)
    median_p: float
    n: int

    def to_json(self) -> dict[str, object]:
        """Plain values; an infinite margin is written as None (JSON has no infinity: see ``unbounded_share``)."""
        def plain(v: object) -> object:
            if isinstance(v, tuple):
                return [plain(u) for u in v]
            return None if isinstance(v, float) and not np.isfinite(v) else v
        return {k: plain(getattr(self, k)) for k in self.__dataclass_fields__}


def summarise(radius: float, distances: np.ndarray, sigma_min: np.ndarray, frobenius: np.ndarray,
              spectral: np.ndarray) -> MarginSummary:
    """The figures of one radius from per-image arrays (distances [N, S]; the rest [N])."""
    p = robust_probability(distances, radius)
    cap = 1.0 - 0.5 / np.asarray(distances).shape[1]
    m_f = first_order_margin(sigma_min, p, frobenius)
    m_s = first_order_margin(sigma_min, p, spectral)
    finite = m_f[np.isfinite(m_f)]
    q25, q75 = np.quantile(m_f, [0.25, 0.75], method="lower")
    return MarginSummary(radius=float(radius), median=float(np.quantile(m_f, 0.5, method="lower")),
                         mean=float(finite.mean()) if finite.size else float("nan"),
                         median_spectral=float(np.quantile(m_s, 0.5, method="lower")), quartiles=(float(q25), float(q75)),
                         robust_share=float(np.mean(p > 0.5)), capped_share=float(np.mean(p >= cap)),
                         unbounded_share=float(np.mean(np.isinf(m_f))),
                         median_p=float(np.median(p)), n=int(p.shape[0]))


__all__ = ["MarginSummary", "first_order_margin", "robust_probability", "summarise"]
