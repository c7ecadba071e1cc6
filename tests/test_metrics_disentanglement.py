"""metrics/disentanglement: the five factor-grid metrics and the MNIST code metrics.

Known values: on a small factor grid an identity code (the standardised factor values, the
scale of a VAE's posterior means under an N(0, 1) prior) scores near 1 on every metric, a
constant or pure-noise code near 0 / chance (disentanglement_lib's own checks); DCI's formulas
on hand-made importance matrices; the code-agreement metrics on hand-made labellings.
Sample sizes are cut to a few hundred points so the whole file runs in seconds.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest

from vaerobust.metrics.disentanglement import (
    DISENTANGLEMENT,
    METRICS,
    FactorSampler,
    GridSampler,
    active_dims,
    beta_vae_score,
    categorical_agreement,
    dci,
    dci_from_importance,
    evaluate_all,
    factor_vae_score,
    mig,
    represent,
    sap,
)
from vaerobust.registry import UnknownNameError

GRID = (3, 4, 5)
K = len(GRID)
CHANCE = 1 / K
# Reduced sizes (the defaults are 10,000 / 5,000 points).
SIZES = {"num_train": 600, "num_test": 300, "num_variance_estimate": 600}
SMALL = {  # per metric, in each metric's own keywords
    "beta_vae": {"num_train": 400, "num_eval": 300},
    "factor_vae": {"num_train": 400, "num_eval": 300, "num_variance_estimate": 600},
    "mig": {"num_train": 2000},
    "dci": {"num_train": 600, "num_test": 300},
    "sap": {"num_train": 600, "num_test": 300},
}


def identity(x: np.ndarray) -> np.ndarray:
    """Codes = factor values standardised per factor (uniform on 0..n-1: mean (n-1)/2, var (n^2-1)/12)."""
    n = np.array(GRID, dtype=float)
    return (x - (n - 1) / 2) / np.sqrt((n**2 - 1) / 12)


def constant(x: np.ndarray) -> np.ndarray:
    return np.full((len(x), 4), 0.7)


class Noise:
    """Pure noise: N(0, 1) codes [n, d] that ignore the observations (own seeded stream)."""

    def __init__(self, d: int = 4, seed: int = 123) -> None:
        self.d, self.rng = d, np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.rng.normal(size=(len(x), self.d))


@pytest.fixture
def grid() -> GridSampler:
    return GridSampler(GRID)


# --------------------------------------------------------------------------- contract


def test_registry_lists_the_five_metrics() -> None:
    assert set(METRICS) == {"beta_vae", "factor_vae", "mig", "dci", "sap"} == set(DISENTANGLEMENT.names())
    assert METRICS["mig"] is mig and METRICS["dci"] is dci and METRICS["sap"] is sap
    assert METRICS["beta_vae"] is beta_vae_score and METRICS["factor_vae"] is factor_vae_score


def test_grid_sampler_ranges_and_observe() -> None:
    s = GridSampler(GRID)
    assert isinstance(s, FactorSampler)
    f = s.sample_factors(500, np.random.default_rng(0))
    assert f.shape == (500, K) and f.dtype.kind == "i"
    assert all(f[:, k].min() == 0 and f[:, k].max() == n - 1 for k, n in enumerate(GRID))
    np.testing.assert_array_equal(s.observations(f), f.astype(float))
    doubled = GridSampler(GRID, observe=lambda v: np.repeat(v, 2, axis=1) * 2.0)
    assert doubled.observations(f).shape == (500, 2 * K)
    with pytest.raises(ValueError, match="factor_sizes"):
        GridSampler((3, 0))
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        s.observations(np.zeros((4, 2), dtype=int))


def test_represent_batches_and_checks_shape() -> None:
    calls: list[int] = []

    def fn(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x[:, :2] * 3.0

    x = np.arange(60, dtype=float).reshape(20, 3)
    np.testing.assert_array_equal(represent(fn, x, batch_size=7), x[:, :2] * 3.0)
    assert calls == [7, 7, 6]
    with pytest.raises(ValueError, match=r"codes \[n, d\]"):
        represent(lambda b: b[:, 0], x)
    with pytest.raises(ValueError, match="non-finite"):
        represent(lambda b: np.full((len(b), 2), np.nan), x)


@pytest.mark.parametrize("name", DISENTANGLEMENT.names())
def test_every_metric_named_floats_and_reproducible(name: str, grid: GridSampler) -> None:
    """Every registered metric: a dict of finite floats; the same seed gives the same values."""
    metric = DISENTANGLEMENT.get(name)
    a = metric(Noise(), grid, 7, **SMALL[name])
    b = metric(Noise(), grid, np.random.default_rng(7), **SMALL[name])
    assert a and all(isinstance(v, float) and math.isfinite(v) for v in a.values())
    assert a == b


@pytest.mark.parametrize("name", DISENTANGLEMENT.names())
def test_every_metric_rejects_a_bad_representation(name: str, grid: GridSampler) -> None:
    with pytest.raises(ValueError, match="codes"):
        DISENTANGLEMENT.get(name)(lambda x: x[:, 0], grid, 0, **SMALL[name])


# --------------------------------------------------------------------------- identity ~ 1


def test_identity_scores_near_one(grid: GridSampler) -> None:
    # SAP at its default 10,000 / 5,000 points (0.1 s): the LinearSVC's C = 0.01 weighs a *sum*
    # of hinge losses, so on a few hundred points the shrinkage is stronger and the score lower
    out = evaluate_all(identity, grid, 0, options={"sap": {"num_train": 10_000, "num_test": 5_000}}, **SIZES)
    assert out["beta_vae"]["eval_accuracy"] >= 0.95
    assert out["factor_vae"]["eval_accuracy"] >= 0.95
    assert out["factor_vae"]["num_active_dims"] == K
    assert out["mig"]["mig"] > 0.9
    assert out["dci"]["disentanglement"] > 0.9 and out["dci"]["completeness"] > 0.9
    assert out["dci"]["informativeness_test"] > 0.95
    # SAP's best is a gap S_(1)j - S_(2)j <= 1 - 1/K_j (the runner-up dimension, independent of
    # factor j, scores chance 1/K_j), so its ceiling here is mean(2/3, 3/4, 4/5) = 0.739. The
    # default one-vs-rest LinearSVC(C=0.01) on one input separates the 3- and 4-valued factors
    # exactly but only ~80% of the 5-valued one, so the identity gives ~0.67-0.74 over seeds:
    # > 0.5 holds with room for sampling noise (~0.01 at 5,000 test points).
    assert out["sap"]["sap"] > 0.5


def test_sap_threshold_classifier_reaches_its_ceiling(grid: GridSampler) -> None:
    """A threshold (1-D tree) classifier is perfect on the identity, so SAP ~ mean_j (1 - 1/K_j),
    whatever affine scale the code has (the LinearSVC variant is scale-dependent)."""
    ceiling = np.mean([1 - 1 / n for n in GRID])  # 0.739
    for fn in (identity, lambda x: 40.0 * x - 3.0):
        value = sap(fn, grid, 0, classifier="threshold", **SMALL["sap"])["sap"]
        assert 0.9 * ceiling <= value <= ceiling + 0.05
    with pytest.raises(ValueError, match="unknown SAP classifier"):
        sap(identity, grid, 0, classifier="forest", **SMALL["sap"])


# --------------------------------------------------------------------------- constant / noise ~ 0


@pytest.mark.parametrize("representation", [constant, Noise()], ids=["constant", "noise"])
def test_uninformative_codes_score_near_zero_or_chance(representation, grid: GridSampler) -> None:
    out = evaluate_all(representation, grid, 0, **SIZES)
    # labels are uniform over K = 3 factors; +0.1 is > 3 binomial sd at 300 eval points
    assert out["beta_vae"]["eval_accuracy"] <= CHANCE + 0.1
    assert out["factor_vae"]["eval_accuracy"] <= CHANCE + 0.1
    assert out["mig"]["mig"] < 0.05
    assert out["sap"]["sap"] < 0.05
    assert out["dci"]["disentanglement"] < 0.1


def test_constant_code_exact_zeros(grid: GridSampler) -> None:
    out = evaluate_all(constant, grid, 0, **SIZES)
    assert out["factor_vae"] == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}
    assert out["mig"]["mig"] == 0.0
    assert out["dci"]["disentanglement"] == 0.0 and out["dci"]["completeness"] == 0.0


# --------------------------------------------------------------------------- duplicated latents


def test_duplicated_latents_kill_mig_but_not_factor_vae(grid: GridSampler) -> None:
    """Each factor copied into two dims: the top two MIs per factor are equal (MIG ~ 0), while
    FactorVAE's argmin-variance vote still names one dimension per factor (score ~ 1)."""
    duplicated = lambda x: np.repeat(identity(x), 2, axis=1)  # [n, 2K]: z_2k = z_2k+1 = factor k
    assert mig(duplicated, grid, 0, **SMALL["mig"])["mig"] < 0.05
    assert factor_vae_score(duplicated, grid, 0, **SMALL["factor_vae"])["eval_accuracy"] >= 0.95
    assert mig(identity, grid, 0, **SMALL["mig"])["mig"] > 0.9


def test_single_valued_factor_is_ignored() -> None:
    """A factor with one value has no entropy and no label: the metrics use the others."""
    s = GridSampler((1, 3, 4))
    assert mig(lambda x: x[:, 1:], s, 0, **SMALL["mig"])["mig"] > 0.9
    assert beta_vae_score(lambda x: x[:, 1:], s, 0, **SMALL["beta_vae"])["eval_accuracy"] >= 0.95


# --------------------------------------------------------------------------- DCI formulas


def test_dci_from_importance_known_values() -> None:
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    # one code dim carries all three factors equally: row uniform -> D = 0; each factor's
    # column lives on that one dim -> C = 1
    one_dim = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert dci_from_importance(one_dim) == pytest.approx((0.0, 1.0))
    assert dci_from_importance(np.ones((3, 3))) == pytest.approx((0.0, 0.0))
    assert dci_from_importance(np.ones((4, 2))) == pytest.approx((0.0, 0.0))
    # R = [[1, 1], [0, 2]] (rows = code dims, columns = factors), sum R = 4:
    #   row 0: P = (1/2, 1/2), H_2 = 1 -> D_0 = 0; row 1: P = (0, 1) -> D_1 = 1
    #   rho = (2/4, 2/4) -> D = 0.5 * 0 + 0.5 * 1 = 0.5
    #   column 0: P~ = (1, 0) -> C_0 = 1
    #   column 1: P~ = (1/3, 2/3), H_2 = log2(3) - 2/3 = 1.5849625 - 0.6666667 = 0.9182958
    #             -> C_1 = 0.0817042;  C = (1 + 0.0817042) / 2 = 0.5408521
    d, c = dci_from_importance(np.array([[1.0, 1.0], [0.0, 2.0]]))
    assert d == pytest.approx(0.5)
    assert c == pytest.approx(1 - (math.log2(3) - 2 / 3) / 2) and c == pytest.approx(0.5408521, abs=1e-7)
    # scale-free: importances need not sum to 1
    assert dci_from_importance(7.0 * np.array([[1.0, 1.0], [0.0, 2.0]])) == pytest.approx((d, c))
    assert dci_from_importance(np.zeros((3, 2))) == (0.0, 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        dci_from_importance(np.array([[1.0, -0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"\[d, K\]"):
        dci_from_importance(np.ones(3))


def test_dci_accepts_another_predictor(grid: GridSampler) -> None:
    from sklearn.ensemble import RandomForestClassifier

    forest = lambda seed: RandomForestClassifier(n_estimators=10, max_depth=4, max_features=None, random_state=seed)
    out = dci(identity, grid, 0, make_classifier=forest, **SMALL["dci"])
    assert out["disentanglement"] > 0.9 and out["completeness"] > 0.9


def test_dci_threads_do_not_change_the_result(grid: GridSampler) -> None:
    """The per-factor predictors on 1 thread or 3 give the same importances and accuracies."""
    def code() -> Callable[[np.ndarray], np.ndarray]:  # the factors plus noise dims, same stream each time
        noise = Noise(d=2)
        return lambda x: np.concatenate([identity(x) + 0.3 * noise(x)[:, :1], noise(x)], axis=1)

    one = dci(code(), grid, 3, n_jobs=1, **SMALL["dci"])
    many = dci(code(), grid, 3, n_jobs=3, **SMALL["dci"])
    assert one == many
    assert 0.0 < one["disentanglement"] < 1.0  # a non-trivial code, so equality is informative


# --------------------------------------------------------------------------- evaluate_all


def test_evaluate_all_reproducible_and_subset_independent(grid: GridSampler) -> None:
    sizes = {"num_train": 300, "num_test": 200, "num_variance_estimate": 300}
    a = evaluate_all(Noise(), grid, 3, metrics=["mig", "sap", "beta_vae"], **sizes)
    b = evaluate_all(Noise(), grid, np.random.default_rng(3), metrics=["mig", "sap", "beta_vae"], **sizes)
    assert a == b
    assert set(a) == {"mig", "sap", "beta_vae"}
    # mig alone sees the same seed as mig among others (the Noise stream restarts too)
    assert evaluate_all(Noise(), grid, 3, metrics=["mig"], **sizes)["mig"] == a["mig"]
    with pytest.raises(UnknownNameError, match="disentanglement metric 'nope'"):
        evaluate_all(identity, grid, 0, metrics=["nope"])


def test_evaluate_all_passes_options(grid: GridSampler) -> None:
    out = evaluate_all(identity, grid, 0, metrics=["sap"], options={"sap": {"classifier": "threshold"}}, **SIZES)
    assert out["sap"]["sap"] > 0.9 * np.mean([1 - 1 / n for n in GRID])


# --------------------------------------------------------------------------- MNIST codes


def test_categorical_agreement_permuted_and_constant() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=1000)
    permuted = rng.permutation(10)[labels] + 20  # a relabelling (values need not be 0..9)
    out = categorical_agreement(permuted, labels)
    assert out["nmi"] == pytest.approx(1.0) and out["best_map_accuracy"] == 1.0
    out = categorical_agreement(np.zeros(1000, dtype=int), labels)
    assert out["nmi"] == pytest.approx(0.0, abs=1e-12)
    assert out["best_map_accuracy"] == np.bincount(labels).max() / 1000


def test_categorical_agreement_hand_made() -> None:
    # contingency: code 0 -> {5: 2}; code 1 -> {5: 1, 7: 2}; code 2 -> {9: 1}
    # best one-to-one map 0->5, 1->7, 2->9 agrees on 2 + 2 + 1 = 5 of 6
    out = categorical_agreement(np.array([0, 0, 1, 1, 1, 2]), np.array([5, 5, 5, 7, 7, 9]))
    assert out["best_map_accuracy"] == pytest.approx(5 / 6)
    assert 0 < out["nmi"] < 1
    # more code values than labels: only one code value can claim each label
    assert categorical_agreement(np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1]))["best_map_accuracy"] == 0.5
    with pytest.raises(ValueError, match="same non-zero length"):
        categorical_agreement(np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match="1-D int"):
        categorical_agreement(np.array([0.5, 1.0]), np.array([0, 1]))


def test_active_dims_hand_made() -> None:
    kl = np.array([[0.0, 0.5, 0.02, 0.005], [0.0, 1.5, 0.0, 0.013]])  # [n=2, d=4] nats
    # means (0, 1.0, 0.01, 0.009): only dim 1 is strictly above 0.01
    out = active_dims(kl)
    assert out["active"] == 1
    assert out["mean_kl_per_dim"] == pytest.approx([0.0, 1.0, 0.01, 0.009])
    assert active_dims(kl, threshold=0.005)["active"] == 3
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        active_dims(np.ones(4))


def test_dci_default_is_the_reference_predictor() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    from vaerobust.metrics.disentanglement.dci import DCI_PREDICTORS, default_dci_classifier

    ref = default_dci_classifier(3)
    assert isinstance(ref, GradientBoostingClassifier)
    assert ref.get_params() == GradientBoostingClassifier(random_state=3).get_params()  # sklearn's defaults: 100 x 0.1
    assert DCI_PREDICTORS["reference"] is default_dci_classifier


def test_fast_predictor_scores_like_the_reference(grid: GridSampler) -> None:
    fast = dci(identity, grid, 0, predictor="fast", **SMALL["dci"])
    assert fast["disentanglement"] > 0.9 and fast["completeness"] > 0.9 and fast["informativeness_test"] > 0.95
    noise = Noise(d=4)
    mixed = lambda x: np.concatenate([identity(x) + 0.5 * noise(x)[:, : identity(x).shape[1]], noise(x)], axis=1)
    ref_m = dci(mixed, grid, 1, num_train=3000, num_test=1500)
    fast_m = dci(mixed, grid, 1, predictor="fast", num_train=3000, num_test=1500)
    assert 0.3 < ref_m["disentanglement"] < 0.95  # a code where the predictor matters
    assert abs(ref_m["disentanglement"] - fast_m["disentanglement"]) < 0.03
    assert abs(ref_m["completeness"] - fast_m["completeness"]) < 0.03
    with pytest.raises(ValueError, match="dci predictor 'quick'"):
        dci(identity, grid, 0, predictor="quick", **SMALL["dci"])


def test_posterior_scale_over_active_dimensions() -> None:
    kl = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 2.0]])  # dims 0 and 2 active
    logvar = np.log(np.array([[0.25, 1.0, 0.04], [0.25, 1.0, 0.16]]))  # sigma 0.5; 1; 0.2 and 0.4
    out = active_dims(kl, logvar=logvar)
    assert out["active"] == 2
    assert out["mean_sigma_per_dim"] == pytest.approx([0.5, 1.0, 0.3])
    assert out["mean_sigma_active"] == pytest.approx((0.5 + 0.3) / 2)
    assert active_dims(np.zeros((2, 3)), logvar=np.zeros((2, 3)))["mean_sigma_active"] is None  # nothing active
    assert "mean_sigma_active" not in active_dims(kl)
    with pytest.raises(ValueError, match="logvar"):
        active_dims(kl, logvar=np.zeros((2, 2)))
