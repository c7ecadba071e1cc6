"""Disentanglement metrics as pure functions of a representation and a factor sampler.

Five standard metrics, each registered in :data:`DISENTANGLEMENT` (and listed in
:data:`METRICS`): ``beta_vae`` (Higgins et al. 2017), ``factor_vae`` (Kim & Mnih 2018),
``mig`` (Chen et al. 2018), ``dci`` (Eastwood & Williams 2018), ``sap`` (Kumar et al. 2018);
plus code-agreement metrics for MNIST (:mod:`.codes`). Sample sizes default to those of
Locatello et al. 2019 (arXiv 1811.12359). scikit-learn is imported when a metric runs, not here.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from vaerobust.metrics.disentanglement.base import (
    DISENTANGLEMENT,
    FactorSampler,
    GridSampler,
    Metric,
    Representation,
    as_rng,
    represent,
)
from vaerobust.metrics.disentanglement.beta_vae_score import beta_vae_score
from vaerobust.metrics.disentanglement.codes import active_dims, categorical_agreement
from vaerobust.metrics.disentanglement.dci import dci, dci_from_importance
from vaerobust.metrics.disentanglement.factor_vae_score import factor_vae_score
from vaerobust.metrics.disentanglement.mig import mig
from vaerobust.metrics.disentanglement.sap import sap

#: name -> metric function (the registry's entries, as a plain dict)
METRICS: dict[str, Metric] = {name: DISENTANGLEMENT.get(name) for name in DISENTANGLEMENT}

# Which shared sample sizes each metric takes: evaluate_all's name -> the metric's keyword.
_SIZE_KEYWORDS: dict[str, dict[str, str]] = {
    "beta_vae": {"num_train": "num_train", "num_test": "num_eval", "batch_size": "batch_size"},
    "factor_vae": {
        "num_train": "num_train",
        "num_test": "num_eval",
        "batch_size": "batch_size",
        "num_variance_estimate": "num_variance_estimate",
    },
    "mig": {"num_train": "num_train"},
    "dci": {"num_train": "num_train", "num_test": "num_test"},
    "sap": {"num_train": "num_train", "num_test": "num_test"},
}


def evaluate_all(
    representation: Representation,
    sampler: FactorSampler,
    rng: np.random.Generator | int,
    *,
    metrics: Sequence[str] | None = None,
    num_train: int | None = None,
    num_test: int | None = None,
    batch_size: int | None = None,
    num_variance_estimate: int | None = None,
    encode_batch_size: int | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, float]]:
    """Run the registered metrics (all, or ``metrics``) -> ``{metric name: {value name: float}}``.

    Shared sizes left as None keep each metric's default; ``num_test`` is the held-out size
    (beta_vae's and factor_vae's ``num_eval``). ``options`` adds per-metric keywords, e.g.
    ``{"sap": {"classifier": "threshold"}, "dci": {"make_classifier": factory}}``.
    Each metric gets its own seed drawn from ``rng`` in the registry's (sorted) order, whichever
    subset runs, so a metric's value does not depend on which others ran.
    """
    names = list(DISENTANGLEMENT) if metrics is None else list(metrics)
    for name in names:
        DISENTANGLEMENT.get(name)  # one-line UnknownNameError for a bad name
    for name in options or {}:
        DISENTANGLEMENT.get(name)
    rng = as_rng(rng)
    seeds = {name: int(rng.integers(0, 2**63 - 1)) for name in DISENTANGLEMENT}
    shared = {"num_train": num_train, "num_test": num_test, "batch_size": batch_size, "num_variance_estimate": num_variance_estimate}
    results: dict[str, dict[str, float]] = {}
    for name in names:
        kwargs: dict[str, Any] = {
            keyword: shared[size] for size, keyword in _SIZE_KEYWORDS.get(name, {}).items() if shared[size] is not None
        }
        if encode_batch_size is not None:
            kwargs["encode_batch_size"] = encode_batch_size
        kwargs.update((options or {}).get(name, {}))
        results[name] = DISENTANGLEMENT.get(name)(representation, sampler, np.random.default_rng(seeds[name]), **kwargs)
    return results


__all__ = [
    "DISENTANGLEMENT",
    "METRICS",
    "FactorSampler",
    "GridSampler",
    "Representation",
    "active_dims",
    "beta_vae_score",
    "categorical_agreement",
    "dci",
    "dci_from_importance",
    "evaluate_all",
    "factor_vae_score",
    "mig",
    "represent",
    "sap",
]
