"""The sweep's bookkeeping (evaluation.py): pair formation, pair specs, and an end-to-end
``attack_sweep`` with a fake VAE, judge, attack and data set whose outcomes are known in
advance, so every count in examples.csv and summary.json can be checked exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import vaerobust.pipelines.attack as evaluation
from vaerobust.attacks.pairs import make_pairs, parse_pairs
from vaerobust.config import AttackConfig, DataConfig, SweepConfig
from vaerobust.metrics.robustness import success_table
from vaerobust.models import Posterior
from vaerobust.pipelines.attack import attack_sweep

# --------------------------------------------------------------------------- parse_pairs


def test_parse_pairs_all() -> None:
    pairs = parse_pairs("all", (0, 1, 2))
    assert pairs == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    assert len(parse_pairs("all", tuple(range(10)))) == 90


def test_parse_pairs_list() -> None:
    assert parse_pairs("1-7, 3-8", tuple(range(10))) == [(1, 7), (3, 8)]
    assert parse_pairs(" all ", (4, 5)) == [(4, 5), (5, 4)]


@pytest.mark.parametrize("spec", ["1-1", "1-x", "1", "1-2-3", "1-12", "", "1-7,", "seven-one"])
def test_parse_pairs_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_pairs(spec, tuple(range(10)))
    assert "\n" not in str(e.value) and "expected" in str(e.value)


# --------------------------------------------------------------------------- make_pairs

COUNTS = {0: 5, 1: 3, 2: 4, 3: 6}


def _labels(seed: int = 0) -> np.ndarray:
    labels = np.repeat(list(COUNTS), list(COUNTS.values()))
    np.random.default_rng(seed).shuffle(labels)
    return labels


@pytest.mark.parametrize("per_pair", [None, 2, 100])
def test_make_pairs_forms_every_ordered_pair(per_pair: int | None) -> None:
    labels = _labels()
    classes = tuple(COUNTS)
    df = make_pairs(labels, classes, per_pair, seed=0)
    assert list(df.columns) == ["source", "target", "src_index", "tgt_index"]
    groups = df.groupby(["source", "target"])
    assert sorted(groups.groups) == [(s, t) for s in classes for t in classes if s != t]
    for (s, t), g in groups:
        n = min(COUNTS[s], COUNTS[t])
        if per_pair is not None:
            n = min(n, per_pair)
        assert len(g) == n
        assert (labels[g.src_index] == s).all() and (labels[g.tgt_index] == t).all()
        assert g.src_index.is_unique and g.tgt_index.is_unique
    assert len(df) == sum(
        min(COUNTS[s], COUNTS[t], per_pair or 10**9) for s in classes for t in classes if s != t
    )


def test_make_pairs_uses_every_image_of_the_smaller_class() -> None:
    labels = _labels()
    df = make_pairs(labels, tuple(COUNTS), None, seed=0)
    g = df[(df.source == 1) & (df.target == 3)]  # class 1 has 3 images, class 3 has 6
    assert sorted(g.src_index) == sorted(np.flatnonzero(labels == 1))


def test_make_pairs_deterministic_and_seeded() -> None:
    labels = _labels()
    a = make_pairs(labels, tuple(COUNTS), None, seed=0)
    b = make_pairs(labels, tuple(COUNTS), None, seed=0)
    c = make_pairs(labels, tuple(COUNTS), None, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert sorted(map(tuple, a[["source", "target"]].values)) == sorted(map(tuple, c[["source", "target"]].values))


def test_make_pairs_rows_do_not_depend_on_other_pairs() -> None:
    labels = _labels()
    everything = make_pairs(labels, tuple(COUNTS), None, seed=3)
    for spec in ("1-3", "3-1,0-2", "2-0"):
        some = make_pairs(labels, tuple(COUNTS), None, seed=3, pairs=spec)
        for s, t in parse_pairs(spec, tuple(COUNTS)):
            want = everything[(everything.source == s) & (everything.target == t)].reset_index(drop=True)
            got = some[(some.source == s) & (some.target == t)].reset_index(drop=True)
            pd.testing.assert_frame_equal(got, want)
    # a smaller set of classes leaves the rows of the remaining pairs alone too
    fewer = make_pairs(labels, (1, 3), None, seed=3)
    want = everything[(everything.source == 1) & (everything.target == 3)].reset_index(drop=True)
    pd.testing.assert_frame_equal(fewer[fewer.source == 1].reset_index(drop=True), want)


def test_make_pairs_cap_is_a_prefix() -> None:
    labels = _labels()
    full = make_pairs(labels, tuple(COUNTS), None, seed=0)
    capped = make_pairs(labels, tuple(COUNTS), 2, seed=0)
    for (s, t), g in capped.groupby(["source", "target"]):
        f = full[(full.source == s) & (full.target == t)]
        assert list(g.src_index) == list(f.src_index[:2]) and list(g.tgt_index) == list(f.tgt_index[:2])


def test_make_pairs_missing_class_raises() -> None:
    with pytest.raises(ValueError, match=r"\[7\]"):
        make_pairs(_labels(), (0, 1, 7), None, seed=0)


# --------------------------------------------------------------------------- a fake world
#
# Images are 1x2x2: pixel (0,0) encodes the label (label/10 + 0.05), pixel (0,1) a unique id,
# pixel (1,1) is an "adversarial" marker. The judge reads the label back, except that it
# calls a clean (unmarked) image of class 3 a 4, so every source 3 fails the clean filter.
# The VAE reconstructs exactly (identity) and its features are the pixels. The attack
# returns the marked target image for even sources and the source itself for odd ones.

N_PER_CLASS = [3, 4, 5, 3, 4, 5, 3, 4, 5, 3]
CLASSES = tuple(range(10))


def fake_data() -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.tensor(np.repeat(np.arange(10), N_PER_CLASS), dtype=torch.int64)
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    x = torch.zeros(len(y), 1, 2, 2)
    x[:, 0, 0, 0] = y.float() / 10 + 0.05
    x[:, 0, 0, 1] = torch.arange(len(y)).float() / len(y)
    return x, y


def read_label(x: torch.Tensor) -> torch.Tensor:
    return torch.round((x[:, 0, 0, 0] - 0.05) * 10).long()


class FakeJudge:
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        lab = read_label(x)
        lab = torch.where((lab == 3) & (x[:, 0, 1, 1] < 0.5), torch.full_like(lab, 4), lab)
        return torch.nn.functional.one_hot(lab, 10).float() * 5.0


class FakeVAE:
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    def encode(self, x: torch.Tensor) -> Posterior:
        b = x.shape[0]
        return Posterior(x.flatten(1), torch.zeros(b, 4), [])


class FakeAttack:
    def __init__(self) -> None:
        self.calls = 0
        self.evaluations = 0  # the Attack contract: encoder passes spent by the last call

    def __call__(
        self,
        xs: torch.Tensor,
        xt: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.calls += 1
        even = (read_label(xs) % 2 == 0).view(-1, 1, 1, 1)
        marked = xt.clone()
        marked[:, 0, 1, 1] = 1.0
        return torch.where(even, marked, xs)


def _install_fakes(mp: pytest.MonkeyPatch) -> FakeAttack:
    atk = FakeAttack()
    mp.setattr(evaluation, "load_vae", lambda run_dir, dev, **kw: FakeVAE())
    mp.setattr(evaluation, "load_classifier", lambda run_dir, dev, **kw: FakeJudge())
    mp.setattr(evaluation, "load_dataset", lambda cfg, split: fake_data() if split == "test" else pytest.fail("train split"))
    mp.setattr(evaluation, "build_attack", lambda vae, cfg, **kw: atk)
    return atk


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "attacks" / "latent"
    with pytest.MonkeyPatch.context() as mp:
        atk = _install_fakes(mp)
        attack_sweep("fake-vae", "fake-judge", out, AttackConfig(steps=7),
                     SweepConfig(classes=CLASSES, per_pair=None, seed=0, batch_size=16),
                     device="cpu", progress=False, data=DataConfig(name="synthetic"))
        assert atk.calls == math.ceil(_n_attacked() / 16)  # batches of at most 16 pairs
    return out


def _n_formed() -> int:
    return sum(min(N_PER_CLASS[s], N_PER_CLASS[t]) for s in CLASSES for t in CLASSES if s != t)


def _n_attacked() -> int:
    return sum(min(N_PER_CLASS[s], N_PER_CLASS[t]) for s in CLASSES for t in CLASSES if s != t and s != 3)


def test_sweep_writes_its_files(sweep_dir: Path) -> None:
    for name in ("examples.csv", "summary.json", "samples.npz", "complete.json"):
        assert (sweep_dir / name).is_file(), name


def test_examples_csv_rows_and_columns(sweep_dir: Path) -> None:
    df = pd.read_csv(sweep_dir / "examples.csv")
    assert list(df.columns) == ["source", "target", "src_index", "tgt_index", "clean_pred", "kept", "adv_pred",
                                "l2", "linf", "latent_dist", "latent_dist_clean", "out_dist", "out_dist_clean",
                                "out_floor", "src_tgt_dist"]
    assert len(df) == _n_formed()
    counts = df.groupby(["source", "target"]).size()
    for s in CLASSES:
        for t in CLASSES:
            if s != t:
                assert counts[(s, t)] == min(N_PER_CLASS[s], N_PER_CLASS[t])
    x, y = fake_data()
    assert (y.numpy()[df.src_index] == df.source).all() and (y.numpy()[df.tgt_index] == df.target).all()
    # the clean filter: the judge calls every clean 3 a 4
    assert (df.kept == (df.source != 3)).all()
    assert (df.clean_pred == np.where(df.source == 3, 4, df.source)).all()
    skipped = df[~df.kept]
    assert (skipped.adv_pred == -1).all() and skipped[["l2", "linf", "latent_dist", "out_dist", "src_tgt_dist"]].isna().all().all()


def test_examples_csv_values(sweep_dir: Path) -> None:
    df = pd.read_csv(sweep_dir / "examples.csv")
    x, _ = fake_data()
    att = df[df.kept]
    even, odd = att[att.source % 2 == 0], att[att.source % 2 == 1]
    assert (even.adv_pred == even.target).all()  # moved to the target
    assert (odd.adv_pred == odd.source).all()  # did not move
    xs, xt = x[att.src_index.to_numpy().copy()], x[att.tgt_index.to_numpy().copy()]
    clean_dist = (xs - xt).flatten(1).norm(dim=1).numpy()
    np.testing.assert_allclose(att.latent_dist_clean, clean_dist, rtol=1e-5, atol=1e-7)
    # even sources: x_adv = x_t with the marker (1 at a pixel where x_t is 0)
    xe_s, xe_t = x[even.src_index.to_numpy().copy()], x[even.tgt_index.to_numpy().copy()].clone()
    xe_t[:, 0, 1, 1] = 1.0
    np.testing.assert_allclose(even.l2, (xe_t - xe_s).flatten(1).norm(dim=1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(even.linf, (xe_t - xe_s).abs().flatten(1).amax(1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(even.latent_dist, 1.0, rtol=1e-6)
    # odd sources: x_adv = x_s
    assert (odd.l2 == 0).all() and (odd.linf == 0).all()
    np.testing.assert_allclose(odd.latent_dist, odd.latent_dist_clean, rtol=1e-6)
    # output distances (the identity VAE reconstructs exactly): ||x_adv - x_t||, ||x_s - x_t||, 0, ||x_t - x_s||
    np.testing.assert_allclose(att.src_tgt_dist, clean_dist, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(att.out_dist_clean, clean_dist, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(att.out_floor, 0.0, atol=1e-7)
    np.testing.assert_allclose(even.out_dist, 1.0, rtol=1e-6)  # the marker pixel
    np.testing.assert_allclose(odd.out_dist, odd.out_dist_clean, rtol=1e-6)


def _expected_target_rate() -> np.ndarray:
    r = np.full((10, 10), np.nan)
    for s in CLASSES:
        for t in CLASSES:
            if s != t and s != 3:
                r[s, t] = 1.0 if s % 2 == 0 else 0.0
    return r


def _nan_none(a):  # type: ignore[no-untyped-def]
    return np.array([[np.nan if v is None else v for v in row] for row in a], dtype=float)


def test_summary_matrices(sweep_dir: Path) -> None:
    summary = json.loads((sweep_dir / "summary.json").read_text())
    res = summary["results"]
    assert res["classes"] == list(CLASSES)
    n_total = np.array(res["n_pairs_total"])
    n_kept = np.array(res["n_kept"])
    for s in CLASSES:
        for t in CLASSES:
            want = 0 if s == t else min(N_PER_CLASS[s], N_PER_CLASS[t])
            assert n_total[s, t] == want
            assert n_kept[s, t] == (0 if s == 3 else want)
    rate = _expected_target_rate()
    for which in ("target", "ignore"):  # here every move lands on the target, so both agree
        got = _nan_none(res[which]["rate"])
        np.testing.assert_array_equal(np.isnan(got), np.isnan(rate))
        np.testing.assert_allclose(got, rate, equal_nan=True)
        assert np.isnan(np.diag(got)).all()
        assert np.isnan(got[3]).all()  # source 3 filtered out entirely
        np.testing.assert_array_equal(np.array(res[which]["hits"]), np.where(np.isnan(rate), 0, rate * n_kept).astype(int))
        # source marginals: 1 for even sources, 0 for odd ones, NaN (null) for 3
        assert res[which]["source_marginal"] == [1.0, 0.0, 1.0, None, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
        # target marginals: share of even sources among the valid sources s != t, s != 3
        tm = res[which]["target_marginal"]
        for t in CLASSES:
            want = 5 / 9 if t == 3 else (4 / 8 if t % 2 == 0 else 5 / 8)
            assert tm[t] == pytest.approx(want)
        ov = res[which]["overall"]
        assert ov["pairs"] == 81
        assert ov["mean"] == pytest.approx(45 / 81)
        even_kept = sum(n_kept[s].sum() for s in CLASSES if s % 2 == 0)
        assert ov["pooled"] == pytest.approx(even_kept / n_kept.sum())
        assert ov["ci_low"] <= ov["mean"] <= ov["ci_high"]


def test_summary_bookkeeping(sweep_dir: Path) -> None:
    s = json.loads((sweep_dir / "summary.json").read_text())
    assert s["n_pairs_formed"] == _n_formed()
    assert s["n_attacked"] == _n_attacked()
    assert s["image_steps"] == _n_attacked() * 7
    assert s["clean_recon_accuracy"] == pytest.approx(1 - N_PER_CLASS[3] / sum(N_PER_CLASS))
    assert s["attack"]["steps"] == 7 and s["sweep"]["batch_size"] == 16 and s["device"] == "cpu"
    x, y = fake_data()
    from vaerobust.data import fingerprint

    assert s["data_sha256"] == fingerprint(x, y)


def table_from_examples(path: Path, classes: list[int] | None = None):  # type: ignore[no-untyped-def]
    """The success table recomputed from a sweep's ``examples.csv`` alone (no re-attacking)."""
    df = pd.read_csv(path)
    return success_table(df.source, df.target, df.kept, df.adv_pred, classes, cluster=df.src_index.to_numpy())


def test_table_from_examples_reproduces_summary(sweep_dir: Path) -> None:
    summary = json.loads((sweep_dir / "summary.json").read_text())
    table = table_from_examples(sweep_dir / "examples.csv", list(CLASSES))
    again = json.loads(json.dumps(table.to_json()))
    assert again == summary["results"]
    # and without being told the classes (all ten appear in the file)
    assert json.loads(json.dumps(table_from_examples(sweep_dir / "examples.csv").to_json())) == summary["results"]


def test_samples_line_up_with_examples(sweep_dir: Path) -> None:
    df = pd.read_csv(sweep_dir / "examples.csv")
    x, _ = fake_data()
    with np.load(sweep_dir / "samples.npz") as z:
        rows, xs, xt, xa, ra, rs = (z[k] for k in ("row", "x_src", "x_tgt", "x_adv", "recon_adv", "recon_src"))
    assert len(rows) == 2 * 9  # two per attacked source class
    assert df.kept[rows].all()
    np.testing.assert_array_equal(xs, x[df.src_index[rows].to_numpy().copy()].numpy())
    np.testing.assert_array_equal(xt, x[df.tgt_index[rows].to_numpy().copy()].numpy())
    np.testing.assert_array_equal(ra, xa)  # identity VAE
    np.testing.assert_array_equal(rs, xs)


def test_complete_sweep_is_not_redone(sweep_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (sweep_dir / "summary.json").stat().st_mtime_ns
    monkeypatch.setattr(evaluation, "load_vae", lambda *a, **k: pytest.fail("a complete sweep was redone"))
    same = dict(attack=AttackConfig(steps=7), sweep=SweepConfig(classes=CLASSES, per_pair=None, seed=0, batch_size=16),
                data=DataConfig(name="synthetic"))
    assert attack_sweep("fake-vae", "fake-judge", sweep_dir, progress=False, **same) == sweep_dir
    assert (sweep_dir / "summary.json").stat().st_mtime_ns == before


def test_sweep_on_a_subset_of_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fakes(monkeypatch)
    out = attack_sweep("v", "j", tmp_path / "a", AttackConfig(steps=1),
                       SweepConfig(classes=CLASSES, pairs="0-1,5-2,3-8", per_pair=2, seed=0, batch_size=1024),
                       device="cpu", progress=False, data=DataConfig(name="synthetic"))
    df = pd.read_csv(out / "examples.csv")
    assert df.groupby(["source", "target"]).size().to_dict() == {(0, 1): 2, (3, 8): 2, (5, 2): 2}
    res = json.loads((out / "summary.json").read_text())["results"]
    rate = _nan_none(res["target"]["rate"])
    assert rate[0, 1] == 1.0 and rate[5, 2] == 0.0 and np.isnan(rate[3, 8])
    assert np.isnan(rate).sum() == 100 - 2
    assert res["target"]["overall"]["pairs"] == 2 and res["target"]["overall"]["mean"] == pytest.approx(0.5)


def test_complete_sweep_with_other_settings_is_not_reused(
    sweep_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from vaerobust.config import ConfigError
    from vaerobust.errors import RunDirError

    out = tmp_path / "copy"
    shutil.copytree(sweep_dir, out)
    _install_fakes(monkeypatch)
    try:
        attack_sweep("fake-vae", "fake-judge", out, AttackConfig(steps=99),
                     SweepConfig(classes=CLASSES, per_pair=1, seed=0, batch_size=16),
                     device="cpu", progress=False, data=DataConfig(name="synthetic"))
    except (ConfigError, RunDirError, ValueError):
        return  # refusing is fine
    summary = json.loads((out / "summary.json").read_text())  # so is redoing the sweep
    assert summary["attack"]["steps"] == 99 and summary["sweep"]["per_pair"] == 1



# --------------------------------------------------------------------------- batching of the sweep


class IdentityReconVAE(torch.nn.Module):
    """A real (tiny, random) encoder for the attack, but an exact reconstruction."""

    def __init__(self) -> None:
        super().__init__()
        from vaerobust.models import VAE, LatentSpec

        torch.manual_seed(0)
        self.vae = VAE(LatentSpec(4, (10,)), hidden=16)

    def encode(self, x: torch.Tensor) -> Posterior:
        return self.vae.encode(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


class NearestJudge:
    """Labels an image by its nearest test image: exact on clean images."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x.flatten(1), y

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        lab = self.y[torch.cdist(q.flatten(1), self.x).argmin(1)]
        return torch.nn.functional.one_hot(lab, 10).float()


def _real_attack_sweep(out: Path, mp: pytest.MonkeyPatch, batch_size: int, pairs: str = "all") -> pd.DataFrame:
    from vaerobust.data import load_dataset

    x, y = load_dataset(DataConfig(name="synthetic"), "test")
    keep = torch.isin(y, torch.tensor([0, 1, 2]))
    x, y = x[keep][:30], y[keep][:30]
    vae = IdentityReconVAE()
    mp.setattr(evaluation, "load_vae", lambda run_dir, dev, **kw: vae)
    mp.setattr(evaluation, "load_classifier", lambda run_dir, dev, **kw: NearestJudge(x, y))
    mp.setattr(evaluation, "load_dataset", lambda cfg, split: (x, y))
    attack_sweep("v", "j", out, AttackConfig(steps=3, lr=1e-2, noise_std=0.2),
                 SweepConfig(classes=(0, 1, 2), pairs=pairs, per_pair=3, seed=0, batch_size=batch_size),
                 device="cpu", progress=False, data=DataConfig(name="synthetic"))
    return pd.read_csv(out / "examples.csv")


def test_real_attack_sweep_keeps_everything_with_an_exact_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    df = _real_attack_sweep(tmp_path / "a", monkeypatch, batch_size=1024)
    assert len(df) == 6 * 3 and df.kept.all()
    assert (df.linf <= 0.1 + 1e-6).all()  # the threat model holds through the sweep
    assert (df.l2 > 0).all()


def test_sweep_results_do_not_depend_on_batch_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = _real_attack_sweep(tmp_path / "big", monkeypatch, batch_size=1024)
    small = _real_attack_sweep(tmp_path / "small", monkeypatch, batch_size=4)
    pd.testing.assert_frame_equal(big[["source", "target", "src_index", "tgt_index"]],
                                  small[["source", "target", "src_index", "tgt_index"]])
    np.testing.assert_allclose(small.l2, big.l2, rtol=1e-4)
    np.testing.assert_allclose(small.latent_dist, big.latent_dist, rtol=1e-4)


def test_interrupted_sweep_resumes_with_identical_results(sweep_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep killed after some batches keeps them under partial/ and finishes the rest only."""
    atk = _install_fakes(monkeypatch)
    args = ("fake-vae", "fake-judge", tmp_path / "a", AttackConfig(steps=7),
            SweepConfig(classes=CLASSES, per_pair=None, seed=0, batch_size=16))
    kw = dict(device="cpu", progress=False, data=DataConfig(name="synthetic"))
    real_call = FakeAttack.__call__

    def dying(self, *a, **k):  # type: ignore[no-untyped-def]
        if self.calls == 3:
            raise KeyboardInterrupt
        return real_call(self, *a, **k)

    monkeypatch.setattr(FakeAttack, "__call__", dying)
    with pytest.raises(KeyboardInterrupt):
        attack_sweep(*args, **kw)
    assert len(list((tmp_path / "a" / "partial").glob("batch-*.npz"))) == 3
    assert not (tmp_path / "a" / "summary.json").exists()
    monkeypatch.setattr(FakeAttack, "__call__", real_call)
    atk.calls = 0
    attack_sweep(*args, **kw)
    assert atk.calls == math.ceil(_n_attacked() / 16) - 3  # only the batches not saved
    assert not (tmp_path / "a" / "partial").exists()
    resumed = pd.read_csv(tmp_path / "a" / "examples.csv")
    pd.testing.assert_frame_equal(resumed, pd.read_csv(sweep_dir / "examples.csv"))


def test_partial_sweep_with_other_settings_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaerobust import files
    from vaerobust.config import ConfigError

    files.write_json(tmp_path / "a" / "partial" / "settings.json", {"attack": {"steps": 3}, "sweep": {}, "data": {}})
    _install_fakes(monkeypatch)
    with pytest.raises(ConfigError, match="other settings"):
        attack_sweep("v", "j", tmp_path / "a", AttackConfig(steps=7), SweepConfig(classes=CLASSES),
                     device="cpu", progress=False, data=DataConfig(name="synthetic"))
