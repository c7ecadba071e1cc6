"""The Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in
Variational Autoencoders", arXiv 1802.04942, section 4.1).

    MIG = (1 / K) * sum_k ( I(z_{j(k)}; v_k) - max_{j != j(k)} I(z_j; v_k) ) / H(v_k),
    j(k) = argmax_j I(z_j; v_k),

for K factors v_k and code dimensions z_j: the gap between the two code dimensions most
informative about a factor, normalised by the factor's entropy, so it lies in [0, 1].

Estimator (Locatello et al. 2019, arXiv 1811.12359; Chen et al. instead estimate I(z_j; v_k)
from the encoder's distribution q(z | x) over the whole data set): ``num_train`` i.i.d. points;
each code dimension is discretised into ``num_bins`` = 20 equal-width bins over its observed
range (``np.histogram``); I and H are the plug-in (empirical) values in nats from
``sklearn.metrics.mutual_info_score``; H(v_k) = I(v_k; v_k) on the same sample.
Defaults: num_train = 10,000, num_bins = 20. With a single code dimension the runner-up is 0.
Single-valued factors (H = 0) are left out of the mean.
"""

from __future__ import annotations

import numpy as np

from vaerobust.metrics.disentanglement.base import (
    DEFAULT_BATCH_SIZE,
    DISENTANGLEMENT,
    FactorSampler,
    Representation,
    as_rng,
    check_positive,
    codes_and_factors,
    varying_factors,
)


def discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Each column of codes [n, d] -> its equal-width histogram bin, int [n, d] in 1..num_bins.

    A constant column falls into a single bin.
    """
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=num_bins)  # [num_bins + 1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])  # the maximum lands in the last bin
    return out


def mutual_information_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Plug-in I(z_j; v_k) in nats for discrete codes [n, d] and factors [n, K]: [d, K]."""
    from sklearn.metrics import mutual_info_score

    d, k = discrete_codes.shape[1], factors.shape[1]
    return np.array([[mutual_info_score(factors[:, b], discrete_codes[:, a]) for b in range(k)] for a in range(d)]).reshape(d, k)


def mig_from_codes(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """MIG of codes [n, d] against factors int [n, K] (factors constant in the sample are skipped)."""
    from sklearn.metrics import mutual_info_score

    mi = mutual_information_matrix(discretize(codes, num_bins), factors)  # [d, K]
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])  # H(v_k): [K]
    keep = entropy > 0
    if not keep.any():
        raise ValueError("every factor is constant in the sample: MIG is undefined")
    top = -np.sort(-mi[:, keep], axis=0)  # descending over code dimensions: [d, K']
    runner_up = top[1] if len(top) > 1 else np.zeros(top.shape[1])
    return float(np.mean((top[0] - runner_up) / entropy[keep]))


@DISENTANGLEMENT.register("mig")
def mig(
    representation: Representation,
    sampler: FactorSampler,
    rng: np.random.Generator | int,
    *,
    num_train: int = 10_000,
    num_bins: int = 20,
    encode_batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, float]:
    """Mutual Information Gap on ``num_train`` points. Returns ``{"mig"}``."""
    check_positive(num_train=num_train, num_bins=num_bins)
    rng = as_rng(rng)
    codes, factors = codes_and_factors(representation, sampler, num_train, rng, encode_batch_size)
    return {"mig": mig_from_codes(codes, factors[:, varying_factors(sampler)], num_bins)}
