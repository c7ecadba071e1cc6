"""metrics/robustness.py: Wilson intervals and the success table on hand-made arrays
whose every count, rate, marginal and mean is worked out by hand below."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vaerobust.metrics.robustness import success_table, wilson_interval

NAN = math.nan

# --------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    "k, n, lo, hi",
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (1, 2, 0.0945, 0.9055),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson_known_values(k: int, n: int, lo: float, hi: float) -> None:
    a, b = wilson_interval(k, n)
    assert float(a) == pytest.approx(lo, abs=1e-3)
    assert float(b) == pytest.approx(hi, abs=1e-3)


def test_wilson_vectorised_and_empty() -> None:
    lo, hi = wilson_interval(np.array([0, 5, 3]), np.array([10, 10, 0]))
    assert lo.shape == hi.shape == (3,)
    np.testing.assert_allclose(lo[:2], [0.0, 0.2366], atol=1e-3)
    np.testing.assert_allclose(hi[:2], [0.2775, 0.7634], atol=1e-3)
    assert np.isnan(lo[2]) and np.isnan(hi[2])


def test_wilson_contains_the_estimate_and_narrows_with_n() -> None:
    k = np.array([3, 30, 300])
    n = np.array([10, 100, 1000])
    lo, hi = wilson_interval(k, n)
    assert (lo < 0.3).all() and (hi > 0.3).all()
    widths = hi - lo
    assert widths[0] > widths[1] > widths[2]


# --------------------------------------------------------------------------- success_table

# Classes 0, 1, 2. One row per formed pair of images: (source, target, kept, adv_pred).
# Rows that are not kept carry adv_pred values that WOULD count as hits, to prove the
# clean filter drops them.
ROWS = [
    # 0 -> 1: 3 formed, 2 kept; preds 1 (target hit), 0 (no move)
    (0, 1, True, 1), (0, 1, True, 0), (0, 1, False, 1),
    # 0 -> 2: 2 kept; preds 1 (moved, not to target), 2 (target hit)
    (0, 2, True, 1), (0, 2, True, 2),
    # 1 -> 0: 2 kept; neither moved
    (1, 0, True, 1), (1, 0, True, 1),
    # 1 -> 2: 1 kept, target hit
    (1, 2, True, 2),
    # 2 -> 0: 2 formed, none kept (would be hits if counted)
    (2, 0, False, 0), (2, 0, False, 0),
    # 2 -> 1: 4 kept; preds 1, 1 (hits), 0 (moved elsewhere), 2 (no move)
    (2, 1, True, 1), (2, 1, True, 1), (2, 1, True, 0), (2, 1, True, 2),
]


def _table(classes=None):  # type: ignore[no-untyped-def]
    s, t, k, p = (np.array(v) for v in zip(*ROWS))
    return success_table(s, t, k, p, classes)


def _eq_nan(a, b) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=0, atol=1e-12, equal_nan=True)


def test_counts() -> None:
    tab = _table()
    assert tab.classes == [0, 1, 2]
    np.testing.assert_array_equal(tab.n_pairs_total, [[0, 3, 2], [2, 0, 1], [2, 4, 0]])
    np.testing.assert_array_equal(tab.n_kept, [[0, 2, 2], [2, 0, 1], [0, 4, 0]])
    np.testing.assert_array_equal(tab.hits_target, [[0, 1, 1], [0, 0, 1], [0, 2, 0]])
    np.testing.assert_array_equal(tab.hits_ignore, [[0, 1, 2], [0, 0, 1], [0, 3, 0]])


def test_rates_with_nan_diagonal_and_empty_pairs() -> None:
    tab = _table()
    _eq_nan(tab.rate("target"), [[NAN, 0.5, 0.5], [0.0, NAN, 1.0], [NAN, 0.5, NAN]])
    _eq_nan(tab.rate("ignore"), [[NAN, 0.5, 1.0], [0.0, NAN, 1.0], [NAN, 0.75, NAN]])
    assert np.isnan(np.diag(tab.rate("target"))).all()


def test_marginals() -> None:
    tab = _table()
    # source s: mean over its targets (NaN pairs left out)
    _eq_nan(tab.source_marginal("target"), [0.5, 0.5, 0.5])
    _eq_nan(tab.source_marginal("ignore"), [0.75, 0.5, 0.75])
    # target t: mean over its sources
    _eq_nan(tab.target_marginal("target"), [0.0, 0.5, 0.75])
    _eq_nan(tab.target_marginal("ignore"), [0.0, 0.625, 1.0])


def test_overall() -> None:
    tab = _table()
    t = tab.overall("target")
    assert t["pairs"] == 5
    assert t["mean"] == pytest.approx((0.5 + 0.5 + 0.0 + 1.0 + 0.5) / 5)
    # Var(mean) = sum_pairs p~(1-p~)/(n+4) / P^2 with Agresti-Coull p~ = (k+2)/(n+4):
    # pairs (k, n) = (1, 2), (1, 2), (0, 2), (1, 1), (2, 4) -> p~ = 1/2, 1/2, 1/3, 3/5, 1/2
    var_terms = [0.25 / 6, 0.25 / 6, (2 / 9) / 6, 0.24 / 5, 0.25 / 8]
    se = math.sqrt(sum(var_terms)) / 5
    assert se == pytest.approx(0.08936, abs=1e-5)
    assert t["ci_low"] == pytest.approx(0.5 - 1.959964 * se)
    assert t["ci_high"] == pytest.approx(0.5 + 1.959964 * se)
    assert t["pooled"] == pytest.approx(5 / 11)
    lo, hi = wilson_interval(5, 11)
    assert (t["pooled_ci_low"], t["pooled_ci_high"]) == pytest.approx((float(lo), float(hi)))
    i = tab.overall("ignore")
    assert i["mean"] == pytest.approx(3.25 / 5) and i["pooled"] == pytest.approx(7 / 11) and i["pairs"] == 5


def test_intervals_per_pair() -> None:
    tab = _table()
    lo, hi = tab.interval("target")
    l01, h01 = wilson_interval(1, 2)
    assert lo[0, 1] == pytest.approx(float(l01)) and hi[0, 1] == pytest.approx(float(h01))
    assert np.isnan(lo[2, 0]) and np.isnan(hi[2, 0])  # nothing kept
    assert np.isnan(np.diag(lo)).all() and np.isnan(np.diag(hi)).all()
    r = tab.rate("target")
    ok = ~np.isnan(r)
    assert (lo[ok] <= r[ok]).all() and (r[ok] <= hi[ok]).all()


def test_absent_class_in_classes_is_nan_and_changes_nothing() -> None:
    tab = _table(classes=[0, 1, 2, 3])
    r = tab.rate("target")
    assert r.shape == (4, 4)
    assert np.isnan(r[3]).all() and np.isnan(r[:, 3]).all()
    _eq_nan(r[:3, :3], _table().rate("target"))
    assert np.isnan(tab.source_marginal("target")[3])
    assert tab.overall("target") == _table().overall("target")


def test_to_json_is_strict_json_with_nulls() -> None:
    out = _table(classes=[0, 1, 2, 3]).to_json()
    text = json.dumps(out, allow_nan=False)  # no bare NaN in the file
    back = json.loads(text)
    assert back["target"]["rate"][0] == [None, 0.5, 0.5, None]
    assert back["ignore"]["source_marginal"] == [0.75, 0.5, 0.75, None]
    assert back["n_kept"][2] == [0, 4, 0, 0]
    assert back["target"]["hits"][2] == [0, 2, 0, 0]


def test_overall_interval_has_width_when_every_pair_is_0_or_1() -> None:
    # every pair rate is 0 or 1: the interval of the mean must still have a width
    s, t = np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])
    tab = success_table(s, t, np.array([True] * 4), np.array([1, 1, 1, 1]))
    o = tab.overall("target")
    assert o["mean"] == pytest.approx(0.5)
    assert o["ci_low"] < 0.5 < o["ci_high"]


def test_empty_table_overall_is_nan() -> None:
    tab = success_table(np.array([0, 1]), np.array([1, 0]), np.array([False, False]), np.array([-1, -1]))
    o = tab.overall("target")
    assert o["pairs"] == 0 and math.isnan(o["mean"])


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="same length"):
        success_table(np.array([0, 1]), np.array([1]), np.array([True, True]), np.array([1, 0]))


def _shared_sources(n_src: int = 60, k: int = 4, seed: int = 0):  # type: ignore[no-untyped-def]
    """Each source image of class s attacked towards every other class; an image's attacks all succeed
    or all fail together (the strongest dependence sharing can make)."""
    rng = np.random.default_rng(seed)
    src_cls = np.repeat(np.arange(k), n_src // k)
    ok = rng.random(len(src_cls)) < 0.4
    rows = [(img, s, t, t if ok[img] else s) for img, s in enumerate(src_cls) for t in range(k) if t != s]
    img, s, t, p = (np.array(v) for v in zip(*rows))
    return img, s, t, p


def test_the_overall_interval_is_clustered_by_source_when_ids_are_given() -> None:
    img, s, t, p = _shared_sources()
    kept = np.ones(len(s), bool)
    plain = success_table(s, t, kept, p).overall("target")
    clustered = success_table(s, t, kept, p, cluster=img).overall("target")
    assert clustered["mean"] == pytest.approx(plain["mean"])
    assert plain["interval"].startswith("independent") and clustered["interval"].startswith("source-clustered")
    assert "60 source images" in clustered["interval"]
    # the independent-pairs interval is still given beside it, unchanged
    assert clustered["ci_low_independent"] == pytest.approx(plain["ci_low"])
    assert clustered["ci_high_independent"] == pytest.approx(plain["ci_high"])
    # three pairs per source that succeed or fail together: the honest interval is about sqrt(3) wider
    ratio = (clustered["ci_high"] - clustered["ci_low"]) / (plain["ci_high"] - plain["ci_low"])
    assert 1.3 < ratio < 2.5
    assert clustered["ci_low"] < clustered["mean"] < clustered["ci_high"]
    # seeded: the same figures every time
    assert success_table(s, t, kept, p, cluster=img).overall("target") == clustered


def test_the_clustered_interval_matches_the_independent_one_when_no_source_repeats() -> None:
    rng = np.random.default_rng(3)
    s = np.repeat([0, 1], 400)
    t = 1 - s
    p = np.where(rng.random(800) < 0.3, t, s)
    kept = np.ones(800, bool)
    plain = success_table(s, t, kept, p).overall("ignore")
    clustered = success_table(s, t, kept, p, cluster=np.arange(800)).overall("ignore")
    ratio = (clustered["ci_high"] - clustered["ci_low"]) / (plain["ci_high"] - plain["ci_low"])
    assert 0.85 < ratio < 1.15


def test_cluster_ids_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="one source image id per row"):
        success_table(np.array([0, 1]), np.array([1, 0]), np.array([True, True]), np.array([1, 0]), cluster=np.array([0]))
