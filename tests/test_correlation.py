"""Rank correlations of disentanglement with robustness (metrics/correlation.py): planted correlations,
independence, a confound removed by the partial correlation, cluster bootstraps and the study table."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vaerobust.metrics import correlation as corr
from vaerobust.metrics.correlation import (
    LESS_ROBUST,
    MORE_ROBUST,
    NO_EVIDENCE,
    NOT_ENOUGH,
    Correlation,
    correlation,
    correlation_table,
    partial_spearman,
    rank,
    sentence,
    spearman,
    verdict,
)

N_BOOT = 400


def planted(n: int = 60, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """y = x + noise of equal variance: Pearson 1/sqrt(2), population Spearman (6/pi) asin(1/(2 sqrt 2)) ~ 0.690."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, x + rng.normal(size=n)


TRUE_RHO = 6 / math.pi * math.asin(1 / (2 * math.sqrt(2)))


def test_rank_averages_ties() -> None:
    assert rank([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_spearman_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.integers(0, 6, 40).astype(float)
        y = x + rng.integers(0, 4, 40)
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_undefined_for_constant_or_too_few() -> None:
    assert math.isnan(spearman([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]))
    assert math.isnan(spearman([1.0, 2.0], [2.0, 1.0]))
    assert math.isnan(spearman([1.0, 2.0, np.nan, 4.0], [2.0, 1.0, 3.0, np.nan]))  # two finite pairs left
    assert spearman([1.0, 2.0, 3.0, np.nan], [3.0, 2.0, 1.0, 0.0]) == pytest.approx(-1.0)


def test_planted_correlation_interval_and_verdicts() -> None:
    x, y = planted()
    c = correlation(x, y, n_boot=N_BOOT, seed=0, n_perm=500)
    assert c.n == 60 and c.n_boot_defined == N_BOOT and c.controls == ()
    assert c.low <= TRUE_RHO <= c.high
    assert c.low > 0 and c.low <= c.rho <= c.high
    assert c.p_value is not None and c.p_value < 0.01
    assert verdict(c, higher_is_less_robust=True) == LESS_ROBUST
    assert verdict(c, higher_is_less_robust=False) == MORE_ROBUST
    neg = correlation(x, -(y ** 3), n_boot=N_BOOT, seed=0, n_perm=0)  # monotone: same ranks, reversed
    assert neg.rho == pytest.approx(-c.rho) and neg.high < 0 and neg.p_value is None
    assert verdict(neg, higher_is_less_robust=True) == MORE_ROBUST
    assert verdict(neg, higher_is_less_robust=False) == LESS_ROBUST


def test_independent_variables_give_no_evidence() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=60), rng.normal(size=60)
    c = correlation(x, y, n_boot=N_BOOT, seed=0, n_perm=500)
    assert c.low < 0 < c.high
    assert c.p_value is not None and c.p_value > 0.05
    assert verdict(c, True) == NO_EVIDENCE and verdict(c, False) == NO_EVIDENCE
    # and over many independent data sets, the 95 % interval covers 0 about 95 % of the time
    covered = 0
    for s in range(40):
        r = np.random.default_rng(100 + s)
        c = correlation(r.normal(size=60), r.normal(size=60), n_boot=300, seed=s, n_perm=0)
        covered += c.low <= 0 <= c.high
    assert covered >= 32


def test_non_finite_rows_are_dropped() -> None:
    x, y = planted()
    x2, y2 = x.copy(), y.copy()
    x2[:5], y2[5:8] = np.nan, np.inf
    c = correlation(x2, y2, n_boot=100, seed=0, n_perm=0)
    ref = correlation(x[8:], y[8:], n_boot=100, seed=0, n_perm=0)
    assert c == ref and c.n == 52


def test_partial_with_one_control_is_the_closed_form() -> None:
    rng = np.random.default_rng(5)
    z = rng.integers(0, 10, 50).astype(float)
    x = z + rng.normal(size=50)
    y = 0.5 * z + rng.integers(0, 3, 50)
    rxy, rxz, ryz = spearman(x, y), spearman(x, z), spearman(y, z)
    closed = (rxy - rxz * ryz) / math.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    assert partial_spearman(x, y, z) == pytest.approx(closed, abs=1e-12)
    assert partial_spearman(x, y, z[:, None]) == pytest.approx(closed, abs=1e-12)


def test_partial_undefined_cases() -> None:
    x, y = planted(n=6)
    z = np.random.default_rng(0).normal(size=(6, 4))
    assert math.isnan(partial_spearman(x, y, z))  # n = 6 < 4 + 3
    assert not math.isnan(partial_spearman(x, y, z[:, :3]))
    assert math.isnan(partial_spearman(x, x, x))  # the residual of x on itself is constant
    assert partial_spearman(x, y, np.ones(6)) == pytest.approx(spearman(x, y))  # a constant control takes nothing out


def test_partial_removes_a_confound() -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(size=60)
    x, y = z + 0.5 * rng.normal(size=60), z + 0.5 * rng.normal(size=60)
    plain = correlation(x, y, n_boot=N_BOOT, seed=0, n_perm=0)
    part = correlation(x, y, z, n_boot=N_BOOT, seed=0, n_perm=500, control_names=["z"])
    assert plain.rho > 0.6 and plain.low > 0.4
    assert abs(part.rho) < 0.25 and part.low < 0 < part.high
    assert part.controls == ("z",) and part.n_boot_defined == N_BOOT
    assert part.p_value is not None and part.p_value > 0.05
    assert verdict(part, True) == NO_EVIDENCE
    frame = correlation(x, y, pd.DataFrame({"mse": z}), n_boot=50, seed=0, n_perm=0)
    assert frame.controls == ("mse",)


def test_weighted_ranks_equal_the_expanded_resample() -> None:
    """One bootstrap draw as multiplicities w gives exactly rho of the sample that repeats row i w_i times."""
    rng = np.random.default_rng(4)
    n = 30
    x = rng.integers(0, 7, n).astype(float)
    y = x + rng.normal(size=n)
    z = np.column_stack([rng.integers(0, 5, n).astype(float), rng.normal(size=n)])
    w = rng.multinomial(n, np.full(n, 1 / n), size=6).astype(float)
    rx, ry = w @ corr._below_half(x) + 0.5, w @ corr._below_half(y) + 0.5
    rz = np.einsum("bj,kji->bik", w, np.stack([corr._below_half(c) for c in z.T])) + 0.5
    plain, part = corr._rho_from_ranks(rx, ry, None, w), corr._rho_from_ranks(rx, ry, rz, w)
    for b in range(len(w)):
        idx = np.repeat(np.arange(n), w[b].astype(int))
        assert plain[b] == pytest.approx(spearman(x[idx], y[idx]), abs=1e-10)
        assert part[b] == pytest.approx(partial_spearman(x[idx], y[idx], z[idx]), abs=1e-10)


def test_the_full_size_bootstrap_is_defined_and_reproducible() -> None:
    """At the study's sizes (2000 draws, 2000 permutations) every draw is defined, the interval holds the
    estimate, and the same seed gives the same figures (speed belongs to benchmarks, not tests)."""
    x, y = planted()
    c = correlation(x, y, n_boot=2000, seed=0, n_perm=2000)
    assert c.n_boot_defined == 2000 and c.low <= c.rho <= c.high
    assert correlation(x, y, n_boot=2000, seed=0, n_perm=2000) == c


def test_clusters() -> None:
    x, y = planted()
    rows = correlation(x, y, n_boot=N_BOOT, seed=0, n_perm=0)
    singletons = correlation(x, y, n_boot=N_BOOT, seed=0, n_perm=0, clusters=np.arange(60))
    assert singletons.clusters == 60 and rows.clusters is None
    assert dataclasses.replace(singletons, clusters=None) == rows  # one row per cluster: the row bootstrap itself
    seeds = correlation(x, y, n_boot=N_BOOT, seed=0, clusters=np.arange(60) // 3)
    assert seeds.n_boot_defined == N_BOOT and seeds.low <= seeds.rho <= seeds.high and seeds.low > 0
    assert seeds.p_value is None  # rows within a cluster are not exchangeable
    # Three identical copies of each of 20 models: the row bootstrap takes them for 60 independent
    # models; resampling the 20 clusters gives back the width of 20 models.
    x20, y20 = planted(n=20, seed=8)
    xs, ys, labels = np.repeat(x20, 3), np.repeat(y20, 3), np.repeat(np.arange(20), 3)
    naive = correlation(xs, ys, n_boot=N_BOOT, seed=0, n_perm=0)
    clustered = correlation(xs, ys, n_boot=N_BOOT, seed=0, n_perm=0, clusters=labels)
    assert clustered.rho == naive.rho
    assert clustered.high - clustered.low > 1.3 * (naive.high - naive.low)
    with pytest.raises(ValueError, match="one label per model"):
        correlation(x, y, clusters=np.arange(10))


def test_verdict_needs_models_and_an_interval() -> None:
    assert verdict(Correlation(0.9, 0.5, 0.99, 4, 100), True) == NOT_ENOUGH
    assert verdict(Correlation(0.9, float("nan"), float("nan"), 30, 10), True) == NOT_ENOUGH
    assert verdict(Correlation(float("nan"), float("nan"), float("nan"), 2, 0), False) == NOT_ENOUGH
    assert verdict(Correlation(-0.3, -0.5, -0.1, 30, 100), True) == MORE_ROBUST
    assert verdict(Correlation(0.1, 0.0, 0.3, 30, 100), True) == NO_EVIDENCE
    too_few = correlation([1.0, 2.0], [2.0, 3.0], n_boot=10)
    assert too_few.n == 2 and math.isnan(too_few.rho) and too_few.n_boot_defined == 0


def test_a_bootstrap_over_fewer_than_5_clusters_gives_no_verdict() -> None:
    # 9 models in 3 settings of 3 seeds, perfectly ordered: an interval comes out, but it resamples 3 units
    x = np.arange(9.0)
    y = x + 0.5
    settings = np.repeat(["a", "b", "c"], 3)
    c = correlation(x, y, clusters=settings, n_boot=500)
    assert c.n == 9 and c.clusters == 3 and c.units == 3 and c.has_interval and c.low > 0
    assert verdict(c, True) == NOT_ENOUGH
    assert sentence("mig.mig", "as_ignore", c, True, "within capacity").endswith(
        ": not enough models (the bootstrap resamples 3 clusters of models; a verdict needs at least 5).")
    five = correlation(np.arange(15.0), np.arange(15.0), clusters=np.repeat(list("abcde"), 3), n_boot=500)
    assert five.units == 5 and verdict(five, True) == LESS_ROBUST
    plain = correlation(x, y, n_boot=500)  # no clusters: the 9 models are the units
    assert plain.clusters is None and plain.units == 9 and verdict(plain, True) == LESS_ROBUST


def test_sentences() -> None:
    c = Correlation(0.42, 0.18, 0.61, 57, 2000)
    assert sentence("mig.mig", "as_ignore", c, True, "all models") == (
        "Across all 57 models, models with a higher mig.mig have a higher as_ignore "
        "(Spearman rho = +0.42 [+0.18, +0.61]): more disentangled, less robust.")
    c = Correlation(-0.05, -0.31, 0.22, 57, 2000, ("test_mse_per_pixel", "mean_sigma_active"))
    s = sentence("mig.mig", "as_ignore", c, True, "all models")
    assert "controlling for test_mse_per_pixel and mean_sigma_active" in s
    assert s.endswith("(partial Spearman rho = -0.05 [-0.31, +0.22]): no evidence either way.")
    s = sentence("sap.sap", "auddc", Correlation(-0.5, -0.8, -0.2, 7, 2000), False, "across objectives")
    assert s.startswith("Across 7 objectives, objectives with a higher mean sap.sap have a lower mean auddc")
    assert s.endswith(": more disentangled, less robust.")
    s = sentence("sap.sap", "auddc", Correlation(float("nan"), float("nan"), float("nan"), 2, 0), False, "within elbo")
    assert s.startswith("Within elbo (2 models)") and s.endswith("not enough models.")


def study_table() -> pd.DataFrame:
    """Three objectives of 10 models (dis_vae: metric and figure planted together, others independent), one of
    2 models, one whose metric is all NaN; two NaN cells; a confound; settings shared by pairs of seeds."""
    rng = np.random.default_rng(7)
    rows = []
    sizes = {"beta_vae": 10, "factor_vae": 10, "dip_vae": 10, "elbo": 2, "jointvae": 3}
    for objective, size in sizes.items():
        for i in range(size):
            m = rng.normal() + {"beta_vae": 1.0, "factor_vae": 0.0, "dip_vae": 2.0}.get(objective, 0.5)
            rows.append({"job": f"{objective}-{i}", "model": f"{objective}_s{i // 2}", "objective": objective,
                         "mig.mig": np.nan if objective == "jointvae" else m,
                         "as_ignore": 0.5 + 0.1 * m + 0.05 * rng.normal(), "auddc": rng.normal(),
                         "test_mse_per_pixel": rng.normal()})
    df = pd.DataFrame(rows)
    df.loc[0, "mig.mig"] = np.nan
    df.loc[1, "as_ignore"] = np.nan
    return df


def test_correlation_table_scopes_and_counts() -> None:
    df = study_table()
    t = correlation_table(df, ["mig.mig"], ["as_ignore", "auddc"], controls=["test_mse_per_pixel"], n_boot=200)
    assert list(t.columns) == list(corr.TABLE_COLUMNS)
    one = t[t.figure == "as_ignore"]
    assert one.scope.tolist() == ["all models", "all models", "within beta_vae", "within dip_vae", "within elbo",
                                  "within factor_vae", "within jointvae", "across objectives"]
    assert one.controls.tolist() == ["", "test_mse_per_pixel"] + [""] * 6
    n = dict(zip(one.scope + "|" + one.controls, one.n))
    assert n["all models|"] == 32 - 2  # 35 rows, 3 all-NaN jointvae, 2 NaN cells
    assert n["all models|test_mse_per_pixel"] == 30
    assert n["within beta_vae|"] == 8 and n["within dip_vae|"] == 10 and n["within elbo|"] == 2
    assert n["within jointvae|"] == 0
    assert n["across objectives|"] == 4  # jointvae's metric has no mean
    elbo = one[one.scope == "within elbo"].iloc[0]
    assert math.isnan(elbo.rho) and elbo.verdict == NOT_ENOUGH
    across = one[one.scope == "across objectives"].iloc[0]
    assert across.verdict == NOT_ENOUGH  # 4 group means < 5 models
    top = one.iloc[0]
    assert top.rho > 0.5 and top.verdict == LESS_ROBUST  # as_*: higher = less robust
    assert f"{top.rho:+.2f}" in top.sentence and f"{top.low:+.2f}" in top.sentence
    assert 0 < top.p_value < 0.01
    # the group means reproduce by hand
    means = df.groupby("objective")[["mig.mig", "as_ignore"]].mean().dropna()
    assert across.rho == pytest.approx(spearman(means["mig.mig"], means["as_ignore"]))
    # auddc: higher = more robust unless told otherwise
    aud = t[(t.figure == "auddc") & (t.scope == "all models") & (t.controls == "")].iloc[0]
    assert aud.verdict in (NO_EVIDENCE, MORE_ROBUST, LESS_ROBUST)
    flipped = correlation_table(df, ["mig.mig"], ["as_ignore"], group=None, higher_is_less_robust={"as_ignore": False},
                                n_boot=200)
    assert flipped.scope.tolist() == ["all models"] and flipped.verdict.iloc[0] == MORE_ROBUST


def test_correlation_table_adds_a_wider_partial_row_with_more_controls() -> None:
    df = study_table()
    df["clean"] = np.random.default_rng(5).random(len(df))
    t = correlation_table(df, ["mig.mig"], ["as_ignore"], controls=["test_mse_per_pixel"], more_controls=["clean"],
                          group=None, n_boot=200)
    assert t.controls.tolist() == ["", "test_mse_per_pixel", "test_mse_per_pixel, clean"]
    keep = df[["mig.mig", "as_ignore", "test_mse_per_pixel", "clean"]].dropna()
    wider = t.iloc[2]
    assert wider.rho == pytest.approx(partial_spearman(keep["mig.mig"], keep["as_ignore"],
                                                       keep[["test_mse_per_pixel", "clean"]].to_numpy()))
    assert wider.n == len(keep) and "clean" in wider.sentence
    with pytest.raises(ValueError, match="clean2"):
        correlation_table(df, ["mig.mig"], ["as_ignore"], controls=["test_mse_per_pixel"], more_controls=["clean2"])


def test_correlation_table_clusters_and_errors() -> None:
    df = study_table()
    t = correlation_table(df, ["mig.mig"], ["as_ignore"], cluster="model", n_boot=200)
    top = t.iloc[0]
    assert top.scope == "all models" and top.low <= top.rho <= top.high and math.isnan(top.p_value)
    with pytest.raises(ValueError, match=r"'sap\.sap'.*columns available: job, model, objective"):
        correlation_table(df, ["sap.sap"], ["as_ignore"])
    with pytest.raises(ValueError, match="'as_target'"):
        correlation_table(df, ["mig.mig"], ["as_target"])
    with pytest.raises(ValueError, match="'mean_sigma_active'"):
        correlation_table(df, ["mig.mig"], ["as_ignore"], controls=["mean_sigma_active"])


def test_groups_with_equal_means_tie_across_groups() -> None:
    """Means of equal values that differ in their last bits are one tie, not an order (a constant figure)."""
    import pandas as pd

    from vaerobust.metrics.correlation import correlation_table

    g = np.repeat(list("abcdefg"), 3)
    y = np.full(21, 0.2)
    y[[3, 9, 15]] = 0.3 - 0.1  # 0.19999999999999998 in groups b, d, f: their means differ in the last bits
    means = pd.Series(y).groupby(g).mean().to_numpy()
    assert len(set(means.tolist())) > 1  # the case: unrounded, the means would be ranked
    df = pd.DataFrame({"objective": g, "m": np.arange(21.0), "as_ignore": y})
    t = correlation_table(df, ["m"], ["as_ignore"], group="objective", n_boot=50)
    across = t[t.scope == "across objectives"].iloc[0]
    assert np.isnan(across.rho) and across.verdict == "not enough models"
