"""DCI: Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018, "A Framework
for the Quantitative Evaluation of Disentangled Representations", ICLR; no arXiv id).

For each factor v_j (j = 1..K) a predictor is trained from the whole code z (d dimensions) to
v_j; its feature importances form column j of the importance matrix R [d, K] (R_ij >= 0: how
much code dimension i matters for factor j). With

    P_ij  = R_ij / sum_k R_ik          (row i as a distribution over the K factors),
    rho_i = sum_j R_ij / sum_ij R_ij   (the relative importance of dimension i),
    P~_ij = R_ij / sum_i R_ij          (column j as a distribution over the d dimensions),
    H_b(p) = -sum p log p / log b      (entropy in base b, 0 log 0 = 0, so H_b in [0, 1]),

    disentanglement D = sum_i rho_i (1 - H_K(P_i.)),
    completeness    C = (1 / K) sum_j (1 - H_d(P~_.j)),
    informativeness  = the predictors' accuracy (the paper reports their error) on held-out points.

Predictor: the paper used Lasso and random forests; Locatello et al. 2019 (arXiv 1811.12359)
used scikit-learn's GradientBoostingClassifier with its defaults (100 stages, learning rate 0.1)
on num_train = 10,000 points, informativeness on num_test = 5,000. That is the default here
(``predictor="reference"``). Boosting grows one tree per class per stage, so on dSprites-sized
factors (40 and 32 values) it costs minutes. ``predictor="fast"``: the same boosting with the
same product of stages and rate (10) in larger steps, 20 stages at 0.5, about 5x cheaper. On a
(3, 6, 10, 8, 8) grid at 3,000 points a noisy mixed code (the factors plus noise, plus 4 noise
dimensions) scored D 0.782 / C 0.747 against the reference's 0.772 / 0.724; cutting to 10 stages
at 0.1 inflates D and C by up to 2x (an under-fit model credits only its first splits), and
scikit-learn's histogram boosting with gain importances scored 0.40-0.66 there (its importances
are not the reference's). Its agreement with the reference on real codes: ``benchmarks/
bench_dci_predictors.py``.
``make_classifier`` takes any factory ``seed -> estimator`` with ``fit``, ``predict`` and
``feature_importances_`` instead.

Conventions where the formulas are undefined: all-zero R (no predictor used any dimension, e.g.
a constant code) gives D = C = 0; a zero row has rho_i = 0; a zero column gives C_j = 0; with a
single factor (K = 1) every D_i = 1; with a single dimension (d = 1) every C_j = 1.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from vaerobust.metrics.disentanglement.base import (
    DEFAULT_BATCH_SIZE,
    DISENTANGLEMENT,
    FactorSampler,
    Representation,
    as_rng,
    check_positive,
    codes_and_factors,
    sub_seed,
    varying_factors,
)


def reference_dci_classifier(seed: int) -> Any:
    """The published setting: GradientBoostingClassifier with sklearn's defaults (100 x 0.1)."""
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(random_state=seed)


#: The default predictor is the reference one (disentanglement_lib's).
default_dci_classifier = reference_dci_classifier


#: Stages and learning rate of the fast predictor: the reference's product (100 x 0.1 = 10) in
#: larger steps (module docstring).
FAST_N_ESTIMATORS = 20
FAST_LEARNING_RATE = 0.5


def fast_dci_classifier(seed: int) -> Any:
    """The fast predictor: GradientBoostingClassifier, 20 stages at learning rate 0.5 (otherwise sklearn's)."""
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=FAST_N_ESTIMATORS, learning_rate=FAST_LEARNING_RATE,
                                      random_state=seed)


#: ``dci(..., predictor=NAME)``: the predictors by name.
DCI_PREDICTORS: dict[str, Callable[[int], Any]] = {"reference": reference_dci_classifier, "fast": fast_dci_classifier}


def _one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """1 - H_base of each row of the (row-normalised) distributions p [m, base]."""
    if base < 2:
        return np.ones(p.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    return 1.0 + plogp.sum(axis=1) / np.log(base)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) from an importance matrix R [d, K], R >= 0."""
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or min(r.shape) < 1:
        raise ValueError(f"importance must be a matrix [d, K] with d, K >= 1, got shape {r.shape}")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("importance must be finite and non-negative")
    d, k = r.shape
    total = r.sum()
    if total == 0:
        return 0.0, 0.0
    row, col = r.sum(axis=1), r.sum(axis=0)  # [d], [K]
    p = np.divide(r, row[:, None], out=np.zeros_like(r), where=row[:, None] > 0)  # P_ij
    rho = row / total  # [d]
    disentanglement = float(np.sum(rho * _one_minus_entropy(p, k)))
    p_tilde = np.divide(r, col[None, :], out=np.zeros_like(r), where=col[None, :] > 0)  # P~_ij
    c_j = np.where(col > 0, _one_minus_entropy(p_tilde.T, d), 0.0)  # [K]
    return disentanglement, float(np.mean(c_j))


def importance_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    make_classifier: Callable[[int], Any],
    rng: np.random.Generator,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R [d, K] = |feature_importances_| of one predictor per factor, with its train and test
    accuracies [K] each.

    The K predictors are independent: they are fitted on ``n_jobs`` threads (None: one per CPU
    core, at most K; scikit-learn's tree building releases the GIL). Each factor's seed is drawn
    from ``rng`` in factor order before any fit, so the result does not depend on ``n_jobs``.
    """
    d, k = codes_train.shape[1], factors_train.shape[1]
    seeds = [sub_seed(rng) for _ in range(k)]

    def fit(j: int) -> tuple[np.ndarray, float, float]:
        clf = make_classifier(seeds[j])
        clf.fit(codes_train, factors_train[:, j])
        return (np.abs(clf.feature_importances_),
                float(np.mean(clf.predict(codes_train) == factors_train[:, j])),
                float(np.mean(clf.predict(codes_test) == factors_test[:, j])))

    workers = max(1, min(k, n_jobs if n_jobs is not None else (os.cpu_count() or 1)))
    if workers == 1:
        results = [fit(j) for j in range(k)]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(fit, range(k)))
    r = np.zeros((d, k))
    train_acc, test_acc = np.zeros(k), np.zeros(k)
    for j, (imp, tr, te) in enumerate(results):
        r[:, j], train_acc[j], test_acc[j] = imp, tr, te
    return r, train_acc, test_acc


@DISENTANGLEMENT.register("dci")
def dci(
    representation: Representation,
    sampler: FactorSampler,
    rng: np.random.Generator | int,
    *,
    num_train: int = 10_000,
    num_test: int = 5_000,
    make_classifier: Callable[[int], Any] | None = None,
    encode_batch_size: int = DEFAULT_BATCH_SIZE,
    n_jobs: int | None = None,
    predictor: str = "reference",
) -> dict[str, float]:
    """DCI on ``num_train`` / ``num_test`` i.i.d. points (``n_jobs``: see :func:`importance_matrix`).
    ``predictor``: "reference" (default) or "fast" (module docstring); ``make_classifier`` overrides it.

    Returns ``{"disentanglement", "completeness", "informativeness_train",
    "informativeness_test"}`` (informativeness = mean accuracy over the factors).
    """
    check_positive(num_train=num_train, num_test=num_test)
    if predictor not in DCI_PREDICTORS:
        raise ValueError(f"dci predictor {predictor!r}: expected one of {', '.join(DCI_PREDICTORS)}")
    rng = as_rng(rng)
    keep = varying_factors(sampler)
    z_train, f_train = codes_and_factors(representation, sampler, num_train, rng, encode_batch_size)
    z_test, f_test = codes_and_factors(representation, sampler, num_test, rng, encode_batch_size)
    r, train_acc, test_acc = importance_matrix(
        z_train, f_train[:, keep], z_test, f_test[:, keep], make_classifier or DCI_PREDICTORS[predictor], rng, n_jobs
    )
    disentanglement, completeness = dci_from_importance(r)
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness_train": float(train_acc.mean()),
        "informativeness_test": float(test_acc.mean()),
    }
