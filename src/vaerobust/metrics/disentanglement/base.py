"""The contract shared by the disentanglement metrics: factor samplers and representations.

A metric is a pure function of
- a ground-truth *factor sampler* (a finite grid of K discrete factors, factor k taking
  ``factor_sizes[k]`` values; it draws factor values and renders the observations for them), and
- a *representation* ``r(x) -> z``: a batch of observations [n, ...] to codes [n, d] (float).
  The real caller wraps an encoder's posterior means (``Posterior.mode()`` / ``mean``) under
  ``torch.inference_mode``; tests pass the factor values themselves.

Every metric takes ``rng`` (a ``numpy.random.Generator`` or an int seed) and returns a dict of
named floats. Sample sizes default to those of the large study of Locatello et al. 2019
(arXiv 1811.12359): 10,000 training and 5,000 evaluation points.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from vaerobust.registry import Registry

#: A batch of observations [n, ...] -> codes [n, d] (float).
Representation = Callable[[np.ndarray], np.ndarray]

#: A metric: ``fn(representation, sampler, rng, **sizes) -> {name: float}``.
Metric = Callable[..., dict[str, float]]

#: name -> metric function; each metric module registers itself with ``@DISENTANGLEMENT.register``.
DISENTANGLEMENT: Registry[Metric] = Registry("disentanglement metric")

#: Observations per call of the representation in :func:`represent` (and per chunk of the
#: batch-based metrics): 64x64 float32 images at this size are ~64 MiB.
DEFAULT_BATCH_SIZE = 4096


@runtime_checkable
class FactorSampler(Protocol):
    """A finite grid of ground-truth factors and the observations they generate."""

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """Number of values of each factor, (K,)."""
        ...

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n factor vectors, int [n, K], column k in {0, ..., factor_sizes[k] - 1}."""
        ...

    def observations(self, factors: np.ndarray) -> np.ndarray:
        """The observations (any shape [n, ...], float) for factor vectors int [n, K]."""
        ...


class GridSampler:
    """A :class:`FactorSampler` on the full grid ``factor_sizes``, factors drawn uniformly.

    ``observe`` maps factors int [n, K] to observations; by default the identity (the factor
    values as floats), so a representation can be any function of the factors.
    """

    def __init__(self, factor_sizes: Sequence[int], observe: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        sizes = tuple(int(s) for s in factor_sizes)
        if not sizes or any(s < 1 for s in sizes):
            raise ValueError(f"factor_sizes must be a non-empty sequence of positive ints, got {tuple(factor_sizes)!r}")
        self._factor_sizes = sizes
        self._observe = observe

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return self._factor_sizes

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        # each column uniform on its range: [n, K]
        return np.stack([rng.integers(0, s, size=n) for s in self._factor_sizes], axis=1).astype(np.int64)

    def observations(self, factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != len(self._factor_sizes):
            raise ValueError(f"factors must be int [n, {len(self._factor_sizes)}], got shape {factors.shape}")
        if self._observe is None:
            return factors.astype(np.float64)
        return np.asarray(self._observe(factors))

    def __repr__(self) -> str:
        return f"GridSampler(factor_sizes={self._factor_sizes})"


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A Generator from a Generator (used as is, so it advances) or a seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def sub_seed(rng: np.random.Generator) -> int:
    """An int seed drawn from ``rng`` for scikit-learn's ``random_state``."""
    return int(rng.integers(0, 2**31 - 1))


def represent(fn: Representation, observations: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """``fn`` applied in batches of ``batch_size`` observations; codes float64 [n, d].

    Checks that each call returns a finite 2-D array with one row per observation.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(observations)
    chunks = []
    for start in range(0, n, batch_size):
        batch = observations[start : start + batch_size]
        z = np.asarray(fn(batch), dtype=np.float64)
        if z.ndim != 2 or z.shape[0] != len(batch):
            raise ValueError(f"representation must return codes [n, d] = [{len(batch)}, d], got shape {z.shape}")
        if not np.all(np.isfinite(z)):
            raise ValueError("representation returned non-finite codes (NaN or inf)")
        chunks.append(z)
    if not chunks:
        raise ValueError("represent() got no observations")
    return np.concatenate(chunks, axis=0)


def codes_and_factors(
    representation: Representation,
    sampler: FactorSampler,
    n: int,
    rng: np.random.Generator,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """n i.i.d. points: codes float [n, d] and their factors int [n, K]."""
    check_positive(n=n)
    factors = sampler.sample_factors(n, rng)
    codes = np.concatenate(
        [represent(representation, sampler.observations(factors[s : s + batch_size]), batch_size) for s in range(0, n, batch_size)]
    )
    return codes, factors


def check_positive(**values: Any) -> None:
    """One-line ValueError for a sample size that is not a positive int."""
    for name, v in values.items():
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")


def varying_factors(sampler: FactorSampler) -> np.ndarray:
    """Indices of the factors with at least 2 values (a single-valued factor is no factor of
    variation: it has zero entropy and no label to predict), int [K']."""
    sizes = np.asarray(sampler.factor_sizes)
    idx = np.flatnonzero(sizes >= 2)
    if len(idx) == 0:
        raise ValueError(f"need at least one factor with >= 2 values, got factor_sizes={tuple(sizes.tolist())}")
    return idx
