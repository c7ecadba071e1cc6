"""Intervals that respect shared sources and training seeds (metrics/bootstrap.py), on fake models
whose outcomes are drawn from known rates."""

from __future__ import annotations

import numpy as np
import pytest

from vaerobust.metrics.bootstrap import (
    Outcomes,
    _Clusters,
    cluster_draws,
    cluster_interval,
    hierarchical_interval,
    mean_over_pairs,
    paired_difference,
)
from vaerobust.metrics.robustness import success_table

K = 4  # classes: 12 ordered pairs


def fake_run(rng: np.random.Generator, rate: float, per_class: int = 20, image_effect: float = 0.2,
             all_or_nothing: bool = False) -> Outcomes:
    """Each source image (per_class of each class) is attacked in all K - 1 pairs; its pairs share
    an image effect u ~ U(-image_effect, image_effect) on the success probability (no clipping
    for rates within 0.3..0.7), or, with all_or_nothing, succeed all together with probability rate."""
    cluster, source, target, hit = [], [], [], []
    for c in range(K):
        for i in range(per_class):
            img = c * per_class + i
            u = rng.uniform(-image_effect, image_effect)
            together = rng.random() < rate
            for t in range(K):
                if t != c:
                    cluster.append(img), source.append(c), target.append(t)
                    hit.append(int(together) if all_or_nothing else int(rng.random() < rate + u))
    return Outcomes(*(np.array(a) for a in (cluster, source, target, hit)), n_classes=K)


def test_the_mean_over_pairs_is_the_success_table_s() -> None:
    o = fake_run(np.random.default_rng(0), 0.4)
    table = success_table(o.source, o.target, np.ones(len(o.hit), bool), np.where(o.hit == 1, o.target, o.source),
                          list(range(K)))
    assert mean_over_pairs(o) == pytest.approx(table.overall("target")["mean"], abs=1e-12)


def test_clustering_widens_the_interval_when_pairs_share_their_source() -> None:
    rng = np.random.default_rng(1)
    shared = fake_run(rng, 0.5, per_class=30, all_or_nothing=True)  # an image's pairs hit or miss together
    table = success_table(shared.source, shared.target, np.ones(len(shared.hit), bool),
                          np.where(shared.hit == 1, shared.target, shared.source), list(range(K)))
    ov = table.overall("target")
    naive = ov["ci_high"] - ov["ci_low"]  # pairs treated as independent
    ci = cluster_interval(shared, n_boot=1000, seed=0)
    assert ci.low <= ci.mean <= ci.high
    assert ci.high - ci.low > 1.4 * naive
    independent = fake_run(rng, 0.5, per_class=30, image_effect=0.0)
    ci2 = cluster_interval(independent, n_boot=1000, seed=0)
    ov2 = success_table(independent.source, independent.target, np.ones(len(independent.hit), bool),
                        np.where(independent.hit == 1, independent.target, independent.source),
                        list(range(K))).overall("target")
    assert 0.7 < (ci2.high - ci2.low) / (ov2["ci_high"] - ov2["ci_low"]) < 1.4  # no sharing: about the same


def test_the_hierarchical_bootstrap_covers_the_truth_at_about_its_nominal_rate() -> None:
    """8 seeds per model, each seed shifting the model's rate by U(-0.05, 0.05) around 0.4: the
    truth (the mean over seeds of the expected figure) is 0.4. 150 replications."""
    rng = np.random.default_rng(2)
    covered, widths = 0, []
    reps = 150
    for r in range(reps):
        runs = [fake_run(rng, 0.4 + rng.uniform(-0.05, 0.05), per_class=10) for _ in range(8)]
        ci = hierarchical_interval(runs, n_boot=200, seed=r)
        covered += ci.low <= 0.4 <= ci.high
        widths.append(ci.high - ci.low)
        assert ci.n_seeds == 8 and ci.seed_sd is not None and ci.seed_sd > 0
    assert 0.85 <= covered / reps <= 0.99, covered / reps
    # the interval includes training: one seed alone (image sampling only) is narrower
    one = hierarchical_interval([fake_run(rng, 0.4, per_class=80)], n_boot=200)
    assert one.n_seeds == 1 and one.seed_sd is None


def test_paired_differences_between_models() -> None:
    rng = np.random.default_rng(3)
    same_a = [fake_run(rng, 0.4) for _ in range(5)]
    same_b = [fake_run(rng, 0.4) for _ in range(5)]
    d = paired_difference(same_a, same_b, n_boot=500)
    assert d.low < 0 < d.high
    better = [fake_run(rng, 0.6) for _ in range(5)]
    d2 = paired_difference(better, same_b, n_boot=500)
    assert d2.low > 0.05 and d2.mean == pytest.approx(0.2, abs=0.06)
    with pytest.raises(ValueError, match="seed by seed"):
        paired_difference(better, same_b[:3])


def test_cluster_draws_are_the_cluster_bootstrap_s_draws_all_at_once() -> None:
    o = fake_run(np.random.default_rng(2), 0.4, per_class=15)
    draws = cluster_draws(o, n_boot=300, seed=7)
    rng, one = np.random.default_rng(7), _Clusters(o)
    np.testing.assert_allclose(draws, [one.draw(rng) for _ in range(300)], rtol=0, atol=1e-12)
    assert abs(draws.mean() - mean_over_pairs(o)) < 0.02  # centred on the run's figure
    ci = cluster_interval(o, n_boot=300, seed=7)
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])), abs=1e-12)
    nothing = Outcomes(*(np.array([], dtype=int) for _ in range(4)), n_classes=K)
    assert np.isnan(cluster_draws(nothing, n_boot=5)).all()
    import vaerobust.metrics.bootstrap as bootstrap

    blocks = bootstrap._BLOCK
    try:  # drawn in blocks of a few draws: the same draws
        bootstrap._BLOCK = 3 * len(o.hit)
        np.testing.assert_array_equal(cluster_draws(o, n_boot=300, seed=7), draws)
    finally:
        bootstrap._BLOCK = blocks
    always = Outcomes(o.cluster, o.source, o.target, np.ones_like(o.hit), n_classes=K)
    assert (cluster_draws(always, n_boot=50) == 1.0).all()
