"""The beta-VAE disentanglement score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual
Concepts with a Constrained Variational Framework", ICLR; no arXiv id).

One training point: draw a factor k uniformly at random; draw L = ``batch_size`` pairs of factor
vectors (v1_l, v2_l), independent except that [v1_l]_k = [v2_l]_k; encode their observations
(z1_l = r(x(v1_l)), z2_l = r(x(v2_l)), codes [d]) and average the absolute differences

    z_diff = (1 / L) * sum_l |z1_l - z2_l|        (one point [d], label k).

A dimension that encodes only factor k has z_diff ~ 0 on that point, so a *linear* classifier
p(k | z_diff) (here scikit-learn's multinomial LogisticRegression, the model of the paper's
linear softmax classifier) predicts k well. Score = accuracy on ``num_eval`` fresh points.

Defaults (Locatello et al. 2019, arXiv 1811.12359): batch_size = 64, num_train = 10,000,
num_eval = 5,000 points (each point costs 2 * batch_size observations).
Chance level is 1 / K for K factors (labels are uniform).
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
    represent,
    sub_seed,
    varying_factors,
)


def _beta_vae_points(
    representation: Representation,
    sampler: FactorSampler,
    n_points: int,
    batch_size: int,
    rng: np.random.Generator,
    encode_batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """n_points (z_diff [n, d], label k [n]); labels index the varying factors only."""
    choices = varying_factors(sampler)  # factors with >= 2 values: [K']
    points_per_chunk = max(1, encode_batch_size // (2 * batch_size))
    feats, labels = [], []
    for start in range(0, n_points, points_per_chunk):
        m = min(points_per_chunk, n_points - start)
        label = rng.integers(0, len(choices), size=m)  # [m]
        k = np.repeat(choices[label], batch_size)  # fixed factor per pair: [m * L]
        v1 = sampler.sample_factors(m * batch_size, rng)  # [m * L, K]
        v2 = sampler.sample_factors(m * batch_size, rng)
        rows = np.arange(m * batch_size)
        v2[rows, k] = v1[rows, k]  # [v1]_k = [v2]_k
        z1 = represent(representation, sampler.observations(v1), encode_batch_size)  # [m * L, d]
        z2 = represent(representation, sampler.observations(v2), encode_batch_size)
        feats.append(np.abs(z1 - z2).reshape(m, batch_size, -1).mean(axis=1))  # [m, d]
        labels.append(label)
    return np.concatenate(feats), np.concatenate(labels)


@DISENTANGLEMENT.register("beta_vae")
def beta_vae_score(
    representation: Representation,
    sampler: FactorSampler,
    rng: np.random.Generator | int,
    *,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    encode_batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, float]:
    """beta-VAE score: accuracy of a linear classifier predicting the fixed factor from z_diff.

    Returns ``{"train_accuracy", "eval_accuracy"}``; ``eval_accuracy`` is the score.
    Factors with a single value are never chosen as the fixed factor (they carry no label).
    """
    from sklearn.linear_model import LogisticRegression

    check_positive(batch_size=batch_size, num_train=num_train, num_eval=num_eval)
    rng = as_rng(rng)
    x_train, y_train = _beta_vae_points(representation, sampler, num_train, batch_size, rng, encode_batch_size)
    x_eval, y_eval = _beta_vae_points(representation, sampler, num_eval, batch_size, rng, encode_batch_size)
    if len(np.unique(y_train)) < 2:  # K' = 1 (or a tiny num_train): the constant rule is the classifier
        majority = int(np.bincount(y_train).argmax())
        train_acc, eval_acc = float(np.mean(y_train == majority)), float(np.mean(y_eval == majority))
    else:
        # max_iter above the default 100 so lbfgs converges on unscaled codes
        clf = LogisticRegression(max_iter=1000, random_state=sub_seed(rng)).fit(x_train, y_train)
        train_acc = float(np.mean(clf.predict(x_train) == y_train))
        eval_acc = float(np.mean(clf.predict(x_eval) == y_eval))
    return {"train_accuracy": train_acc, "eval_accuracy": eval_acc}
