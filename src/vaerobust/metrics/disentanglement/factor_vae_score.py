"""The FactorVAE disentanglement score (Kim & Mnih 2018, "Disentangling by Factorising",
arXiv 1802.05983, section 4).

1. Scale: s_j = std of code dimension j over ``num_variance_estimate`` i.i.d. points. Dimensions
   with s_j < ``prune_std`` (0.05) have collapsed (a posterior mean that ignores the input) and
   are pruned: they would otherwise always have the smallest variance.
2. One training point: draw a factor k uniformly and one value for it; draw L = ``batch_size``
   factor vectors with factor k fixed at that value, the others free; encode, divide each
   active dimension by s_j, and take the empirical variance over the batch (ddof = 1):

       d* = argmin_j Var_l[ z_lj / s_j ]        (one point: (d*, k)).

3. Classifier: majority vote. From the training points, the vote matrix V[j, k] = #{points
   with d* = j and label k}; dimension j predicts argmax_k V[j, k] (ties: the lowest k; a
   dimension never chosen in training predicts factor 0). Score = accuracy on ``num_eval``
   fresh points; train accuracy = sum_j max_k V[j, k] / num_train.

Defaults (Kim & Mnih; Locatello et al. 2019, arXiv 1811.12359): batch_size = 64,
num_train = 10,000, num_eval = 5,000, num_variance_estimate = 10,000. Chance is 1 / K.
With no active dimension at all (a constant representation) the scores are 0.
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
    represent,
    varying_factors,
)


def _votes(
    representation: Representation,
    sampler: FactorSampler,
    n_points: int,
    batch_size: int,
    scale: np.ndarray,
    active: np.ndarray,
    rng: np.random.Generator,
    encode_batch_size: int,
) -> np.ndarray:
    """Vote matrix V [d, K'] over n_points (argmin dimension, label) pairs."""
    choices = varying_factors(sampler)  # [K']
    d = len(scale)
    votes = np.zeros((d, len(choices)), dtype=np.int64)
    points_per_chunk = max(1, encode_batch_size // batch_size)
    for start in range(0, n_points, points_per_chunk):
        m = min(points_per_chunk, n_points - start)
        label = rng.integers(0, len(choices), size=m)  # [m]
        k = choices[label]  # the fixed factor of each point
        value = sampler.sample_factors(m, rng)[np.arange(m), k]  # its fixed value: [m]
        v = sampler.sample_factors(m * batch_size, rng)  # [m * L, K]
        v[np.arange(m * batch_size), np.repeat(k, batch_size)] = np.repeat(value, batch_size)
        z = represent(representation, sampler.observations(v), encode_batch_size)  # [m * L, d]
        z = z[:, active] / scale[active]  # [m * L, d_active]
        var = z.reshape(m, batch_size, -1).var(axis=1, ddof=1)  # [m, d_active]
        dim = active[np.argmin(var, axis=1)]  # back to indices of all dimensions: [m]
        np.add.at(votes, (dim, label), 1)
    return votes


@DISENTANGLEMENT.register("factor_vae")
def factor_vae_score(
    representation: Representation,
    sampler: FactorSampler,
    rng: np.random.Generator | int,
    *,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_std: float = 0.05,
    encode_batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, float]:
    """FactorVAE score: majority-vote accuracy of argmin-normalised-variance dimension -> factor.

    Returns ``{"train_accuracy", "eval_accuracy", "num_active_dims"}``; ``eval_accuracy`` is
    the score.
    """
    check_positive(batch_size=batch_size, num_train=num_train, num_eval=num_eval, num_variance_estimate=num_variance_estimate)
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (a variance over the batch), got {batch_size}")
    rng = as_rng(rng)
    codes, _ = codes_and_factors(representation, sampler, num_variance_estimate, rng, encode_batch_size)
    scale = codes.std(axis=0)  # s_j: [d]
    active = np.flatnonzero(scale >= prune_std)
    if len(active) == 0:
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}
    v_train = _votes(representation, sampler, num_train, batch_size, scale, active, rng, encode_batch_size)
    v_eval = _votes(representation, sampler, num_eval, batch_size, scale, active, rng, encode_batch_size)
    predict = v_train.argmax(axis=1)  # factor predicted by each dimension: [d]
    rows = np.arange(len(scale))
    return {
        "train_accuracy": float(v_train[rows, predict].sum() / num_train),
        "eval_accuracy": float(v_eval[rows, predict].sum() / num_eval),
        "num_active_dims": float(len(active)),
    }
