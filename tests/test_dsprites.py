"""dSprites: the generated factor grid, the lazy container, DeepMind's file, and training on lazy data.

Everything runs on small subsets of the grid (never the full 737,280 images). The renderer
reduces each angle modulo the shape's symmetry period, so the known symmetries hold exactly:
the tests allow 0 differing pixels for orientation 0 vs 2 pi and at most 2 (a pixel centre on
a boundary, flipped by float rounding) for the square every 90 degrees and the ellipse every 180.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from vaerobust.config import DataConfig
from vaerobust.data import dsprites as ds
from vaerobust.data import fingerprint, has_factor_grid, load_dataset, load_factor_grid, load_factors
from vaerobust.data.sources import DataSourceError

CFG = DataConfig(name="dsprites", image_size=64)


@pytest.fixture
def small_test_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 64-image test split, rendered on demand; the train split never builds the cache."""
    monkeypatch.setattr(ds, "TEST_SIZE", 64)
    monkeypatch.setattr(ds, "CACHE_SPLITS", ())


def _random_factors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, n) for s in ds.FACTOR_SIZES], axis=1)


# --------------------------------------------------------------------------- the grid


def test_factor_grid_sizes_and_values_are_deepminds() -> None:
    assert ds.FACTOR_SIZES == (3, 6, 40, 32, 32) and ds.NUM_IMAGES == 737_280
    v = ds.factor_values()
    assert v["scale"][0] == 0.5 and v["scale"][-1] == 1.0 and len(v["scale"]) == 6
    assert v["orientation"][0] == 0.0 and v["orientation"][-1] == pytest.approx(2 * np.pi) and len(v["orientation"]) == 40
    assert np.allclose(v["posX"], np.linspace(0, 1, 32)) and np.allclose(v["posY"], np.linspace(0, 1, 32))


def test_index_order_has_posy_fastest_and_round_trips() -> None:
    assert ds.index_of([[0, 0, 0, 0, 1]]).tolist() == [1]
    assert ds.index_of([[0, 0, 0, 1, 0]]).tolist() == [32]
    assert ds.index_of([[0, 0, 1, 0, 0]]).tolist() == [32 * 32]
    assert ds.index_of([[0, 1, 0, 0, 0]]).tolist() == [40 * 32 * 32]
    assert ds.index_of([[1, 0, 0, 0, 0]]).tolist() == [6 * 40 * 32 * 32]
    assert ds.index_of([[2, 5, 39, 31, 31]]).tolist() == [ds.NUM_IMAGES - 1]
    s, sc, o, x, y = 2, 3, 17, 9, 30
    assert ds.index_of([[s, sc, o, x, y]]).tolist() == [((((s * 6 + sc) * 40 + o) * 32 + x) * 32 + y)]
    idx = np.random.default_rng(1).integers(0, ds.NUM_IMAGES, 1000)
    assert np.array_equal(ds.index_of(ds.factors_of(idx)), idx)
    assert np.array_equal(ds.factors_of(np.arange(64))[:, 4], np.arange(64) % 32)


def test_bad_factors_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="factor orientation = 40 in row 0: expected 0..39"):
        ds.render([[0, 0, 40, 0, 0]])
    with pytest.raises(ValueError, match=r"expected int \[B, 5\]"):
        ds.render(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="expected 0..737279"):
        ds.factors_of([ds.NUM_IMAGES])


def test_images_are_binary_64x64() -> None:
    img = ds.render(_random_factors(16))
    assert img.shape == (16, 64, 64) and img.dtype == np.uint8
    assert set(np.unique(img).tolist()) == {0, 1}
    assert (img.sum(axis=(1, 2)) > 20).all()


def test_every_factor_step_changes_the_image() -> None:
    base = _random_factors(40, seed=2)
    img = ds.render(base)
    for k, size in enumerate(ds.FACTOR_SIZES):
        step = base.copy()
        step[:, k] = np.where(base[:, k] + 1 < size, base[:, k] + 1, base[:, k] - 1)
        diff = (ds.render(step) != img).sum(axis=(1, 2))
        assert (diff > 0).all(), f"factor {ds.FACTOR_NAMES[k]}: a one-step change left {(diff == 0).sum()} images unchanged"


def test_known_symmetries_hold_and_nothing_else_coincides() -> None:
    # orientation 0 and 2 pi (index 39) are the same image, exactly
    f0 = _random_factors(60, seed=3)
    f0[:, 2] = 0
    f39 = f0.copy()
    f39[:, 2] = 39
    assert np.array_equal(ds.render(f0), ds.render(f39))
    # square every 90 degrees, ellipse every 180, at arbitrary angles (<= 2 boundary pixels)
    theta = np.random.default_rng(4).uniform(0, 2 * np.pi, 50)
    for shape, period in ((0, np.pi / 2), (1, np.pi)):
        a = ds.render_continuous(shape, 1.0, theta, 0.4, 0.6)
        b = ds.render_continuous(shape, 1.0, theta + period, 0.4, 0.6)
        assert (a != b).sum(axis=(1, 2)).max() <= 2
    # ... but the heart is not symmetric under a half turn, nor the ellipse under a quarter turn
    heart = ds.render_continuous(2, 1.0, theta, 0.5, 0.5) != ds.render_continuous(2, 1.0, theta + np.pi, 0.5, 0.5)
    assert (heart.sum(axis=(1, 2)) > 20).all()
    ell = ds.render_continuous(1, 1.0, theta, 0.5, 0.5) != ds.render_continuous(1, 1.0, theta + np.pi / 2, 0.5, 0.5)
    assert (ell.sum(axis=(1, 2)) > 20).all()
    # the three shapes differ from one another at the same other factors
    f = _random_factors(20, seed=5)
    imgs = [ds.render(np.column_stack([np.full(20, s), f[:, 1:]])) for s in range(3)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert ((imgs[a] != imgs[b]).sum(axis=(1, 2)) > 3).all()


def test_sprite_area_grows_with_scale() -> None:
    for shape in range(3):
        for orientation in (0, 13, 27):
            f = np.array([[shape, sc, orientation, 16, 16] for sc in range(6)])
            area = ds.render(f).sum(axis=(1, 2))
            assert (np.diff(area) > 0).all(), (shape, orientation, area)


@pytest.mark.parametrize("axis", [3, 4])
def test_centroid_moves_linearly_with_position(axis: int) -> None:
    """Centroid column (posX) / row (posY) vs position index: slope 36/31 px, residuals < 0.3 px."""
    rows, cols = np.mgrid[0:64, 0:64]
    coord = cols if axis == 3 else rows
    for shape in range(3):
        for scale, orientation in ((0, 0), (5, 7), (2, 22)):
            f = np.tile([shape, scale, orientation, 16, 16], (32, 1))
            f[:, axis] = np.arange(32)
            img = ds.render(f).astype(np.float64)
            centroid = (img * coord).sum(axis=(1, 2)) / img.sum(axis=(1, 2))
            slope, icpt = np.polyfit(np.arange(32), centroid, 1)
            resid = centroid - (slope * np.arange(32) + icpt)
            assert slope == pytest.approx(36 / 31, abs=0.01)
            assert np.abs(resid).max() < 0.3


def test_nothing_touches_the_border_at_extreme_factors() -> None:
    grid = np.array(np.meshgrid([0, 1, 2], [5], np.arange(40), [0, 31], [0, 31], indexing="ij")).reshape(5, -1).T
    img = ds.render(grid)  # [480, 64, 64]: the largest scale at every corner and orientation
    for edge in (img[:, :2, :], img[:, -2:, :], img[:, :, :2], img[:, :, -2:]):
        assert edge.sum() == 0
    assert img.sum(axis=(1, 2)).min() > 50


# --------------------------------------------------------------------------- lazy container and loaders


def test_lazy_container_returns_the_rendered_images(tmp_path: Path) -> None:
    f = _random_factors(50, seed=6)
    want = ds.render(f)
    path = tmp_path / "packed.npy"
    ds._write_packed_npy(path, 50, iter([ds.pack(want[:20]), ds.pack(want[20:])]))
    packed = ds._open_packed(path, 50)
    assert isinstance(packed, np.memmap)
    for backend in (packed, None):  # memory-mapped packed rows, and render-on-demand
        x = ds.DSpritesImages(f, backend, None, "fp", "test")
        assert len(x) == 50 and x.shape == (50, 1, 64, 64)
        idx = torch.tensor([7, 3, 3, 49, 0])
        got = x[idx]
        assert got.dtype == torch.float32 and got.shape == (5, 1, 64, 64)
        assert torch.equal(got[:, 0], torch.from_numpy(want[idx.numpy()]).float())
        assert torch.equal(x[10:13][:, 0], torch.from_numpy(want[10:13]).float())
        assert torch.equal(x[-1], torch.from_numpy(want[-1:]).float())
        sub = x.subset(np.array([4, 2]))
        assert np.array_equal(sub.factors, f[[4, 2]]) and torch.equal(sub[1][0], torch.from_numpy(want[2]).float())
        with pytest.raises(IndexError, match="out of range for 50"):
            x[np.array([50])]


def test_generated_splits_without_a_cache_render_on_demand(small_test_split: None) -> None:
    xt, yt = load_dataset(CFG, "test")
    assert xt.shape == (64, 1, 64, 64) and yt.shape == (64,) and yt.dtype == torch.int64
    assert torch.equal(yt, torch.from_numpy(xt.factors[:, 0]))
    assert torch.equal(xt[:8][:, 0], torch.from_numpy(ds.render(xt.factors[:8])).float())
    again, _ = load_dataset(CFG, "test")  # the fixed seeded subset
    assert np.array_equal(again.factors, xt.factors)
    assert np.array_equal(load_factors(CFG, "test"), xt.factors)
    x, y = load_dataset(CFG, "train")
    assert len(x) == ds.NUM_IMAGES and len(y) == ds.NUM_IMAGES
    assert set(ds.index_of(xt.factors)) <= set(range(ds.NUM_IMAGES))
    assert has_factor_grid(CFG) and not has_factor_grid(DataConfig(name="synthetic"))
    grid = load_factor_grid(CFG)
    assert np.array_equal(grid.factors[[0, 1, 32, 737279]], ds.factors_of([0, 1, 32, 737279]))
    # provenance: the generator's fingerprint, not a hash of every pixel
    assert fingerprint(xt, yt) == fingerprint(again, yt) != fingerprint(x, y)


def test_image_size_other_than_64_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="image_size=32 for dsprites.*set data.image_size=64"):
        load_dataset(DataConfig(name="dsprites"), "test")


def _write_deepmind_npz(path: Path, factors: np.ndarray) -> np.ndarray:
    imgs = ds.render(factors)
    classes = np.column_stack([np.zeros(len(factors), dtype=np.int64), factors])
    values = np.column_stack([np.ones(len(factors))] + [ds.FACTOR_VALUES[n][factors[:, k]] for k, n in enumerate(ds.FACTOR_NAMES)])
    np.savez_compressed(path, imgs=imgs, latents_classes=classes, latents_values=values)
    return imgs


def test_deepmind_npz_is_read_from_a_folder_or_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = _random_factors(30, seed=7)
    imgs = _write_deepmind_npz(tmp_path / ds.NPZ_NAME, f)
    for root in (tmp_path, tmp_path / ds.NPZ_NAME):
        x, y = load_dataset(DataConfig(name="dsprites", image_size=64, root=str(root)), "train")
        assert len(x) == 30 and str(tmp_path / ds.NPZ_NAME) == x.source
        assert torch.equal(x[np.arange(30)][:, 0], torch.from_numpy(imgs).float())
        assert torch.equal(y, torch.from_numpy(f[:, 0]))
        assert np.array_equal(x.factors, f)
    # the packed copy is cached, keyed by the file's sha256
    assert len(list((tmp_path / "_cache" / "dsprites").glob("dsprites-npz-*.npy"))) == 2
    xt, _ = load_dataset(DataConfig(name="dsprites", image_size=64, root=str(tmp_path)), "test")
    assert len(xt) == 30  # test = a seeded subset of at most TEST_SIZE images
    packed, factors = ds.read_deepmind_npz(tmp_path / ds.NPZ_NAME, chunk=7)  # several chunks
    assert np.array_equal(ds.unpack(packed), imgs) and np.array_equal(factors, f)
    with pytest.raises(DataSourceError, match="not in DeepMind's grid order.*need all 737280"):
        load_factor_grid(DataConfig(name="dsprites", image_size=64, root=str(tmp_path)))


def test_missing_or_corrupt_npz_is_a_one_line_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError) as err:
        load_dataset(DataConfig(name="dsprites", image_size=64, root=str(tmp_path / "nowhere")), "train")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "nowhere") in msg
    assert "no such file" in msg and ds.NPZ_NAME in msg and "'imgs'" in msg
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(DataSourceError, match=r"bad.npz: not a readable \.npz"):
        ds.read_deepmind_npz(bad)
    np.savez(tmp_path / "nokeys.npz", images=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(DataSourceError, match=r"nokeys.npz: missing key\(s\) 'imgs', 'latents_classes'"):
        ds.read_deepmind_npz(tmp_path / "nokeys.npz")
    np.savez(tmp_path / "gray.npz", imgs=np.full((2, 64, 64), 255, np.uint8), latents_classes=np.zeros((2, 6), np.int64))
    with pytest.raises(DataSourceError, match="gray.npz: 'imgs' holds pixel values up to 255"):
        ds.read_deepmind_npz(tmp_path / "gray.npz")
    # a truncated member
    good = tmp_path / "good.npz"
    _write_deepmind_npz(good, _random_factors(4))
    with zipfile.ZipFile(good) as z, zipfile.ZipFile(tmp_path / "cut.npz", "w") as out:
        out.writestr("latents_classes.npy", z.read("latents_classes.npy"))
        out.writestr("imgs.npy", z.read("imgs.npy")[:3000])
    with pytest.raises(DataSourceError, match="cut.npz: 'imgs' is truncated"):
        ds.read_deepmind_npz(tmp_path / "cut.npz")


# --------------------------------------------------------------------------- training on lazy data


def test_train_vae_runs_on_the_lazy_container(
    tmp_path: Path, tiny_run_cfg, no_figures: None, small_test_split: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conv32 VAE behind a 2x average-pool (and a 2x upsample after its decoder) takes 64x64 sprites."""
    import dataclasses

    from torch import nn

    import vaerobust.pipelines.train as training
    from vaerobust.files import read_jsonl
    from vaerobust.models import VAE, LatentSpec
    from vaerobust.rundir import is_complete

    def build_model(cfg):  # type: ignore[no-untyped-def]
        vae = VAE(LatentSpec(cfg.model.gaussian_dims, tuple(cfg.model.categorical)), hidden=cfg.model.hidden)
        vae.encoder = nn.Sequential(nn.AvgPool2d(2), vae.encoder)
        vae.decoder = nn.Sequential(vae.decoder, nn.Upsample(scale_factor=2))
        vae.image_shape = (1, 64, 64)
        return vae

    monkeypatch.setattr(training, "build_model", build_model)
    cfg = dataclasses.replace(tiny_run_cfg, data=CFG,
                              train=dataclasses.replace(tiny_run_cfg.train, steps=2, log_every=1, checkpoint_every=2))
    out = training.train_vae(cfg, tmp_path / "run", device="cpu", progress=False)
    rows = read_jsonl(out / "metrics.jsonl")
    assert rows and rows[-1]["step"] == 2 and np.isfinite(rows[-1]["loss"])
    assert "data_sha256" in (out / "config.yaml").read_text()
    assert is_complete(out)
