"""The SAP score, Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference
of Disentangled Latent Concepts from Unlabeled Observations", arXiv 1711.00848, section 5).

Score matrix S [d, K]: S_ij = how well factor j is predicted from code dimension i *alone*
(for a discrete factor, the accuracy of a classifier fit on the single input z_i). Then

    SAP = (1 / K) * sum_j ( S_{(1)j} - S_{(2)j} ),

the mean over factors of the gap between the best and the second-best dimension's score. With a
single code dimension the runner-up is 0.

Classifier (``classifier=``):
- ``"linear_svc"`` (default): scikit-learn ``LinearSVC(C=0.01, class_weight="balanced")``, as in
  the study of Locatello et al. 2019 (arXiv 1811.12359), so values compare with theirs. A
  one-vs-rest linear rule on one input cannot isolate the middle values of a many-valued factor,
  so even a perfect code scores low on such factors (identity code on dSprites: ~0.25). Its
  value also depends on the code's scale and on num_train (C = 0.01 weighs a *sum* of hinge
  losses, so fewer points or smaller codes mean stronger shrinkage): keep the default sizes.
- ``"threshold"``: a threshold classifier on z_i, K_j - 1 thresholds (a one-input decision tree
  with at most K_j leaves): Kumar et al.'s threshold rule generalised to K_j values. A perfect
  code then reaches the ceiling (1 / K) sum_j (1 - 1 / K_j) for uniform factors.
Score = plain accuracy on ``num_test`` held-out points (equal to balanced accuracy on the
uniform grids used here). Defaults: num_train = 10,000, num_test = 5,000.
"""

from __future__ import annotations

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


def _linear_svc(n_values: int, seed: int) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=0.01, class_weight="balanced", random_state=seed)


def _threshold(n_values: int, seed: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_leaf_nodes=max(2, n_values), random_state=seed)


#: classifier name -> factory (number of factor values, seed) -> unfitted classifier
SAP_CLASSIFIERS: dict[str, Callable[[int, int], Any]] = {"linear_svc": _linear_svc, "threshold": _threshold}


def sap_score_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    classifier: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """S [d, K]: test accuracy of predicting factor j from code dimension i alone."""
    if classifier not in SAP_CLASSIFIERS:
        raise ValueError(f"unknown SAP classifier {classifier!r}; expected one of: {', '.join(SAP_CLASSIFIERS)}")
    make = SAP_CLASSIFIERS[classifier]
    d, k = codes_train.shape[1], factors_train.shape[1]
    s = np.zeros((d, k))
    for j in range(k):
        n_values = len(np.unique(factors_train[:, j]))
        for i in range(d):
            clf = make(n_values, sub_seed(rng)).fit(codes_train[:, i : i + 1], factors_train[:, j])
            s[i, j] = np.mean(clf.predict(codes_test[:, i : i + 1]) == factors_test[:, j])
    return s


def sap_from_scores(scores: np.ndarray) -> float:
    """Mean over factors of the gap between the two highest scores of S [d, K]."""
    top = -np.sort(-np.asarray(scores, dtype=np.float64), axis=0)  # descending: [d, K]
    runner_up = top[1] if len(top) > 1 else np.zeros(top.shape[1])
    return float(np.mean(top[0] - runner_up))


@DISENTANGLEMENT.register("sap")
def sap(
    representation: Representation,
    sampler: FactorSampler,
    rng: np.random.Generator | int,
    *,
    num_train: int = 10_000,
    num_test: int = 5_000,
    classifier: str = "linear_svc",
    encode_batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, float]:
    """SAP score on ``num_train`` / ``num_test`` i.i.d. points. Returns ``{"sap"}``."""
    check_positive(num_train=num_train, num_test=num_test)
    if classifier not in SAP_CLASSIFIERS:
        raise ValueError(f"unknown SAP classifier {classifier!r}; expected one of: {', '.join(SAP_CLASSIFIERS)}")
    rng = as_rng(rng)
    keep = varying_factors(sampler)
    z_train, f_train = codes_and_factors(representation, sampler, num_train, rng, encode_batch_size)
    z_test, f_test = codes_and_factors(representation, sampler, num_test, rng, encode_batch_size)
    scores = sap_score_matrix(z_train, f_train[:, keep], z_test, f_test[:, keep], classifier, rng)
    return {"sap": sap_from_scores(scores)}
