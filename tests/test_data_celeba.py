"""CelebA from a user's folder: layout, splits, attributes, the cache, the lazy container and every error.

All folders are small fakes in the real layout (:mod:`celeba_fixture`): 44 x 54 JPEGs, so the
crop is set to 36 (about 0.83 of the width, like 148 of 178 on the real images).
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from celeba_fixture import (
    DRAWN,
    append_line,
    expected_attributes,
    expected_partition,
    get_line,
    image_name,
    make_celeba_folder,
    replace_image,
    set_line,
    solid_jpeg,
)
from vaerobust.config import DataConfig
from vaerobust.data import celeba as cb
from vaerobust.data import dataset_info, fingerprint, is_lazy, load_dataset
from vaerobust.errors import DataError

CROP = 36
SPLITS = ("train", "valid", "test")


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The cache root of the test (empty); no CelebA folder comes from the environment."""
    root = tmp_path / "cache"
    monkeypatch.setenv("VAEROBUST_CACHE", str(root))
    monkeypatch.delenv(cb.CELEBA_DIR_ENV, raising=False)
    return root


@pytest.fixture
def folder(tmp_path: Path, cache: Path) -> Path:
    """A 20-image CelebA folder: 16 train, 2 valid, 2 test."""
    return make_celeba_folder(tmp_path / "celeba", n=20)


def load(root: Path | str | None, split: str = "train", **kw: object) -> tuple[cb.CelebAImages, torch.Tensor]:
    kw = {"crop": CROP, "progress": False} | kw
    return cb.load_celeba(split, root=None if root is None else str(root), **kw)  # type: ignore[arg-type]


def npy_files(cache: Path) -> list[Path]:
    """The cache's .npy files and any temporary file left by a write."""
    return sorted(p for p in cache.rglob("*") if p.suffix in (".npy", ".tmp"))


# --------------------------------------------------------------------------- the fixture itself


def test_fixture_layout_and_format(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    root = make_celeba_folder(tmp_path / "c", n=240)
    took = time.perf_counter() - t0
    assert took < 5.0, f"240 fake images took {took:.2f} s"
    assert sorted(p.name for p in (root / cb.IMAGE_DIR).iterdir()) == [image_name(i) for i in range(240)]
    lines = (root / cb.ATTR_FILE).read_text().splitlines()
    assert lines[0] == "240" and tuple(lines[1].split()) == cb.ATTRIBUTES and len(lines) == 242
    assert lines[2].startswith("000001.jpg") and len(lines[2]) == 10 + 3 * 40
    assert {lines[2][10 + 3 * j: 10 + 3 * j + 3] for j in range(40)} <= {" -1", "  1"}
    part = (root / cb.PARTITION_FILE).read_text().splitlines()
    assert part[0] == "000001.jpg 0" and part[-1] == "000240.jpg 2"
    codes = [int(ln.split()[1]) for ln in part]
    assert codes == sorted(codes) and [codes.count(c) for c in (0, 1, 2)] == [192, 24, 24]
    with Image.open(root / cb.IMAGE_DIR / "000001.jpg") as img:
        assert img.format == "JPEG" and img.size == (44, 54) and img.mode == "RGB"
    _, names, values = expected_attributes(root)
    drawn = values[:, [names.index(a) for a in DRAWN]]
    assert np.all((drawn.mean(0) >= 0.3) & (drawn.mean(0) <= 0.7))
    corr = np.corrcoef(drawn.T.astype(float)) - np.eye(len(DRAWN))
    assert np.abs(corr).max() < 0.25  # drawn independently


def test_fixture_drawn_attributes_are_visible_after_preprocessing(tmp_path: Path, cache: Path) -> None:
    """A ridge-regression probe on the train pixels (64 x 64 after the crop and JPEG) reads each drawn
    attribute off the held-out images, and none of the others."""
    root = make_celeba_folder(tmp_path / "c", n=240)
    x_tr, y_tr = load(root, "train")
    x_ev = torch.cat([load(root, s)[0][:] for s in ("valid", "test")])
    y_ev = torch.cat([load(root, s)[1] for s in ("valid", "test")])
    f_tr, f_ev = x_tr[:].flatten(1).double(), x_ev.flatten(1).double()
    mu = f_tr.mean(0)
    f_tr, f_ev = f_tr - mu, f_ev - mu
    t = 2.0 * y_tr.double() - 1
    coef = torch.linalg.solve(f_tr @ f_tr.T + 10.0 * torch.eye(len(f_tr), dtype=torch.float64), t - t.mean(0))
    acc = (((f_ev @ f_tr.T @ coef + t.mean(0)) > 0).long() == y_ev).double().mean(0)
    drawn = [cb.ATTRIBUTES.index(a) for a in DRAWN]
    assert acc[drawn].min() >= 0.95, dict(zip(DRAWN, acc[drawn].tolist()))
    others = [j for j in range(40) if j not in drawn]
    assert acc[others].mean() < 0.75


def test_fixture_is_seeded(tmp_path: Path) -> None:
    a, b = make_celeba_folder(tmp_path / "a", n=6), make_celeba_folder(tmp_path / "b", n=6)
    c = make_celeba_folder(tmp_path / "c", n=6, seed=1)
    for name in (cb.ATTR_FILE, f"{cb.IMAGE_DIR}/000003.jpg"):
        assert (a / name).read_bytes() == (b / name).read_bytes() != (c / name).read_bytes()


# --------------------------------------------------------------------------- loading


def test_splits_counts_shapes_and_range(folder: Path) -> None:
    for split, n in zip(SPLITS, (16, 2, 2)):
        x, y = load(folder, split)
        assert len(x) == n and x.shape == (n, 3, 64, 64) and x.split == split
        batch = x[:]
        assert isinstance(batch, torch.Tensor) and batch.shape == (n, 3, 64, 64) and batch.dtype == torch.float32
        assert batch.min() >= 0 and batch.max() <= 1 and batch.std() > 0.05
        assert y.shape == (n, 40) and y.dtype == torch.int64
        assert x.names == cb.ATTRIBUTES


def test_attributes_and_split_equal_the_files(folder: Path) -> None:
    files, names, values = expected_attributes(folder)
    codes = expected_partition(folder)
    assert tuple(names) == cb.ATTRIBUTES
    for split, code in cb.SPLIT_CODES.items():
        x, y = load(folder, split)
        rows = [i for i, f in enumerate(files) if codes[f] == code]
        assert list(x.files) == [files[i] for i in rows]
        assert torch.equal(y, torch.from_numpy(values[rows]))
        assert set(y.unique().tolist()) <= {0, 1}
    data = cb.load_celeba_data(str(folder), crop=CROP, progress=False)
    assert data.files == tuple(files) and list(data.split) == [codes[f] for f in files]


def test_windows_line_endings_and_extra_blank_lines(tmp_path: Path, cache: Path) -> None:
    unix = make_celeba_folder(tmp_path / "unix", n=10)
    dos = make_celeba_folder(tmp_path / "dos", n=10, newline="\r\n")
    assert b"\r\n" in (dos / cb.ATTR_FILE).read_bytes()
    append_line(dos / cb.ATTR_FILE, "")
    append_line(dos / cb.PARTITION_FILE, "")
    for split in SPLITS:
        (xu, yu), (xd, yd) = load(unix, split), load(dos, split)
        assert torch.equal(yu, yd) and xu.files == xd.files and torch.equal(xu[:], xd[:])


def test_centred_crop_and_resize(folder: Path) -> None:
    x, _ = load(folder, "train", size=CROP)  # no resize: exactly the centred square of the JPEG
    with Image.open(folder / cb.IMAGE_DIR / "000003.jpg") as img:
        pixels = np.asarray(img.convert("RGB"))
    top, left = (54 - CROP) // 2, (44 - CROP) // 2
    expected = torch.from_numpy(pixels[top:top + CROP, left:left + CROP].copy()).permute(2, 0, 1).float() / 255
    assert torch.equal(x[2], expected)
    small, _ = load(folder, "train", size=16)
    assert small.shape == (16, 3, 16, 16)
    assert torch.allclose(small[2], torch.nn.functional.interpolate(expected[None], size=16, mode="area")[0], atol=0.12)


def test_zip_gives_the_same_images(tmp_path: Path, cache: Path) -> None:
    plain = make_celeba_folder(tmp_path / "plain", n=12)
    zipped = make_celeba_folder(tmp_path / "zipped", n=12, zipped=True)
    assert not (zipped / cb.IMAGE_DIR).exists()
    assert cb.locate(zipped).images == zipped / f"{cb.IMAGE_DIR}.zip"
    with zipfile.ZipFile(zipped / f"{cb.IMAGE_DIR}.zip") as z:
        assert f"{cb.IMAGE_DIR}/000001.jpg" in z.namelist()
    for split in SPLITS:
        (xp, yp), (xz, yz) = load(plain, split), load(zipped, split)
        assert torch.equal(xp[:], xz[:]) and torch.equal(yp, yz) and xp.files == xz.files
    assert cb.load_celeba_data(zipped, crop=CROP, progress=False).manifest["images"].endswith(".zip")


def test_the_folder_wins_over_the_zip(tmp_path: Path, cache: Path) -> None:
    root = make_celeba_folder(tmp_path / "c", n=6)
    (root / f"{cb.IMAGE_DIR}.zip").write_bytes(b"not a zip")
    assert cb.locate(root).images == root / cb.IMAGE_DIR
    assert len(load(root)[0]) == 5


def test_load_dataset_registry(folder: Path) -> None:
    info = dataset_info("celeba")
    assert info.labels == "attributes" and info.classes == 40 and info.channels == 3 and info.class_names == cb.ATTRIBUTES
    cfg = DataConfig(name="celeba", image_size=64, root=str(folder), crop=CROP)
    x, y = load_dataset(cfg, "train")
    assert is_lazy(x) and x.shape == (16, 3, 64, 64) and y.shape == (16, 40)
    x2, y2 = load_dataset(cfg, "train")
    assert fingerprint(x, y) == fingerprint(x2, y2)
    xt, yt = load_dataset(cfg, "test")
    assert fingerprint(x, y) != fingerprint(xt, yt)
    xc, yc = load_dataset(DataConfig(name="celeba", image_size=64, root=str(folder), crop=CROP - 4), "train")
    assert fingerprint(x, y) != fingerprint(xc, yc)


# --------------------------------------------------------------------------- the cache


def test_cache_is_a_read_only_memmap_and_is_reused(folder: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = cb.load_celeba_data(str(folder), crop=CROP, progress=False)
    npy = Path(data.manifest["cache"])
    assert npy.suffix == ".npy" and npy.is_file() and npy.is_relative_to(cache / "celeba")
    assert isinstance(data.images, np.memmap) and data.images.mode == "r" and not data.images.flags.writeable
    assert data.images.shape == (20, 64, 64, 3) and data.images.dtype == np.uint8
    with pytest.raises(ValueError):
        data.images[0, 0, 0, 0] = 1
    assert np.load(npy).shape == (20, 64, 64, 3)
    assert (npy.parent / "manifest.json").is_file() and npy_files(cache) == [npy]
    mtime = npy.stat().st_mtime_ns

    def no_rebuild(*a: object, **k: object) -> None:
        raise AssertionError("the cache was rebuilt")

    monkeypatch.setattr(cb, "_build", no_rebuild)
    again = cb.load_celeba_data(folder, crop=CROP, progress=False)
    assert again.manifest["cache"] == str(npy) and npy.stat().st_mtime_ns == mtime
    assert np.array_equal(again.images, data.images)
    x, _ = load(folder, "valid")  # every split reads the one cache
    assert torch.equal(x[:], torch.from_numpy(np.array(data.images[16:18])).permute(0, 3, 1, 2).float() / 255)


def test_crop_and_size_change_the_cache(folder: Path, cache: Path) -> None:
    a = cb.load_celeba_data(folder, crop=CROP, progress=False)
    b = cb.load_celeba_data(folder, crop=CROP - 6, progress=False)
    c = cb.load_celeba_data(folder, crop=CROP, size=32, progress=False)
    paths = {a.manifest["cache"], b.manifest["cache"], c.manifest["cache"]}
    assert len(paths) == 3 and all(Path(p).is_file() for p in paths)
    assert not np.array_equal(a.images, b.images)
    assert c.images.shape == (20, 32, 32, 3) and b.manifest["crop"] == CROP - 6


def test_edited_attribute_file_rebuilds_nothing_stale(folder: Path, cache: Path) -> None:
    a = cb.load_celeba_data(folder, crop=CROP, progress=False)
    line = get_line(folder / cb.ATTR_FILE, 3)
    flipped = line[:-2] + (" 1" if line.endswith("-1") else "-1")
    set_line(folder / cb.ATTR_FILE, 3, flipped)
    b = cb.load_celeba_data(folder, crop=CROP, progress=False)
    assert a.manifest["cache"] != b.manifest["cache"] and a.attributes[0, -1] != b.attributes[0, -1]


def test_a_corrupt_cache_is_rebuilt_when_its_manifest_disagrees(folder: Path) -> None:
    a = cb.load_celeba_data(folder, crop=CROP, progress=False)
    npy = Path(a.manifest["cache"])
    first = np.array(a.images[0])
    del a
    (npy.parent / "manifest.json").write_text("{}")
    npy.write_bytes(b"garbage")
    b = cb.load_celeba_data(folder, crop=CROP, progress=False)
    assert np.array_equal(b.images[0], first)


def test_a_truncated_cache_with_a_valid_manifest_is_an_error(folder: Path) -> None:
    a = cb.load_celeba_data(folder, crop=CROP, progress=False)
    npy = Path(a.manifest["cache"])
    del a
    npy.write_bytes(npy.read_bytes()[:1000])
    with pytest.raises(DataError, match="corrupt|holds") as e:
        cb.load_celeba_data(folder, crop=CROP, progress=False)
    assert "\n" not in str(e.value) and str(npy.parent) in str(e.value)


# --------------------------------------------------------------------------- errors


def expect_error(cache: Path, fragments: tuple[str, ...], root: Path | None, split: str = "train", **kw: object) -> str:
    """Loading raises a one-line DataError naming every fragment, and no cache file is left behind
    (no new .npy file, no temporary file)."""
    before = npy_files(cache)
    with pytest.raises(DataError) as e:
        load(root, split, **kw)
    msg = str(e.value)
    assert "\n" not in msg, msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    assert npy_files(cache) == before, npy_files(cache)
    return msg


def test_crop_larger_than_the_images(folder: Path, cache: Path) -> None:
    expect_error(cache, ("data.crop = 148", "44x54", "at most 44"), folder, crop=148)  # an explicit crop is kept
    expect_error(cache, ("data.crop = 45",), folder, crop=45)
    assert len(load(folder, crop=44)[0]) == 16  # the full width is allowed
    # the default (null): 148, or the largest centred square of smaller images
    data = cb.load_celeba_data(folder, crop=None, progress=False)
    assert data.manifest["crop"] == 44
    assert np.array_equal(data.images, cb.load_celeba_data(folder, crop=44, progress=False).images)
    x, _ = load_dataset(DataConfig(name="celeba", image_size=64, root=str(folder)), "train")
    assert len(x) == 16


def test_crop_and_size_below_one(folder: Path, cache: Path) -> None:
    expect_error(cache, ("data.crop = 0",), folder, crop=0)
    expect_error(cache, ("data.image_size = 0",), folder, size=0)


def test_folder_errors(tmp_path: Path, folder: Path, cache: Path) -> None:
    expect_error(cache, (str(tmp_path / "nowhere"), "does not exist", "data.root"), tmp_path / "nowhere")
    (tmp_path / "a_file").write_text("x")
    expect_error(cache, (str(tmp_path / "a_file"), "not a folder"), tmp_path / "a_file")
    (folder / cb.IMAGE_DIR).rename(tmp_path / "moved")
    expect_error(cache, (str(folder), "img_align_celeba/", "img_align_celeba.zip"), folder)
    (tmp_path / "moved").rename(folder / cb.IMAGE_DIR)
    for name in (cb.ATTR_FILE, cb.PARTITION_FILE):
        (folder / name).rename(tmp_path / name)
        expect_error(cache, (str(folder / name), "is missing"), folder)
        (tmp_path / name).rename(folder / name)
    assert len(load(folder)[0]) == 16


def test_not_a_zip(tmp_path: Path, cache: Path) -> None:
    root = make_celeba_folder(tmp_path / "c", n=6, zipped=True)
    (root / f"{cb.IMAGE_DIR}.zip").write_bytes(b"PK but not really a zip file")
    expect_error(cache, (str(root / f"{cb.IMAGE_DIR}.zip"), "not a readable zip"), root)


def test_root_from_the_environment(folder: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    msg = expect_error(cache, ("cannot be downloaded", "data.root", cb.CELEBA_DIR_ENV, cb.ATTR_FILE), None)
    assert cb.IMAGE_DIR in msg
    monkeypatch.setenv(cb.CELEBA_DIR_ENV, "   ")
    expect_error(cache, ("data.root", cb.CELEBA_DIR_ENV), None)
    monkeypatch.setenv(cb.CELEBA_DIR_ENV, str(folder))
    x, y = load(None, "test")
    assert len(x) == 2 and x.files == ("000019.jpg", "000020.jpg")
    x, _ = load_dataset(DataConfig(name="celeba", image_size=64, crop=CROP), "valid")
    assert x.files == ("000017.jpg", "000018.jpg")
    assert load(folder, "train")[0].source == str(folder / cb.IMAGE_DIR)  # an explicit root wins
    monkeypatch.setenv(cb.CELEBA_DIR_ENV, str(tmp_path / "elsewhere"))
    expect_error(cache, (str(tmp_path / "elsewhere"), "does not exist"), None)


ATTR = cb.ATTR_FILE


@pytest.mark.parametrize("edit, fragments", [
    pytest.param(lambda line: line + "  1", ("line 5", "40 values of -1 or 1", "000003.jpg"), id="one value too many"),
    pytest.param(lambda line: line[:-3], ("line 5", "40 values", "000003.jpg"), id="one value too few"),
    pytest.param(lambda line: line[:-2] + " 0", ("line 5", "-1 or 1", "000003.jpg"), id="a value of 0"),
    pytest.param(lambda line: line[:-2] + " 2", ("line 5", "-1 or 1", "000003.jpg"), id="a value of 2"),
    pytest.param(lambda line: line[:13] + "x" + line[14:], ("line 5", "000003.jpg"), id="a value that is no number"),
    pytest.param(lambda line: line[10:], ("line 5", "an image name and 40 values"), id="no image name"),
])
def test_malformed_attribute_line(folder: Path, cache: Path, edit, fragments: tuple[str, ...]) -> None:
    path = folder / ATTR
    set_line(path, 5, edit(get_line(path, 5)))
    expect_error(cache, (str(path),) + fragments, folder)


def test_malformed_line_after_a_blank_line_names_its_own_line(folder: Path, cache: Path) -> None:
    path = folder / ATTR
    lines = path.read_text().splitlines()
    lines.insert(4, "")
    lines[6] = lines[6][:-2] + " 0"  # now line 7 of the file, 000004.jpg
    path.write_text("\n".join(lines) + "\n")
    expect_error(cache, (f"{path} line 7:", "000004.jpg"), folder)


def test_attribute_header_errors(folder: Path, cache: Path) -> None:
    path = folder / ATTR
    set_line(path, 1, "21")
    expect_error(cache, (str(path), "line 1 says 21 images but 20 lines follow"), folder)
    set_line(path, 1, "19")
    expect_error(cache, ("line 1 says 19 images but 20",), folder)
    set_line(path, 1, "twenty")
    expect_error(cache, (str(path), "line 1", "number of images", "twenty"), folder)
    set_line(path, 1, "20")
    names = get_line(path, 2)
    set_line(path, 2, names.replace("Young", "Smiling"))
    expect_error(cache, (str(path), "line 2", "repeat", "Smiling"), folder)
    set_line(path, 2, " ")
    expect_error(cache, (str(path), "line 2", "attribute names"), folder)
    set_line(path, 2, names + "Extra")
    expect_error(cache, (str(path), "line 3", "41 values"), folder)
    set_line(path, 2, names)
    set_line(path, 4, get_line(path, 3))
    expect_error(cache, (str(path), "listed twice"), folder)
    path.write_bytes(b"\xff\xfe\x00binary")
    expect_error(cache, (str(path), "not a text file"), folder)
    path.write_text("")
    expect_error(cache, (str(path), "line 1", "nothing"), folder)


def test_partition_errors(folder: Path, cache: Path) -> None:
    path = folder / cb.PARTITION_FILE
    good = path.read_bytes()
    append_line(path, "000099.jpg 0")
    expect_error(cache, (str(path), "1 image(s) not in list_attr_celeba.txt", "000099.jpg"), folder)
    path.write_bytes(good)
    set_line(path, 7, None)
    expect_error(cache, (str(path), "no split for 1 image(s)", "000007.jpg"), folder)
    path.write_bytes(good)
    set_line(path, 7, "000007.jpg 3")
    expect_error(cache, (str(path), "line 7", "0, 1 or 2", "000007.jpg 3"), folder)
    set_line(path, 7, "000007.jpg")
    expect_error(cache, (str(path), "line 7", "000007.jpg"), folder)
    path.write_bytes(good)
    append_line(path, "000007.jpg 1")
    expect_error(cache, (str(path), "line 21", "000007.jpg is listed twice"), folder)


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_image_errors(tmp_path: Path, cache: Path, zipped: bool) -> None:
    root = make_celeba_folder(tmp_path / "c", n=8, zipped=zipped)
    where = str(root / (f"{cb.IMAGE_DIR}.zip" if zipped else cb.IMAGE_DIR))
    good = solid_jpeg((44, 54))
    replace_image(root, "000004.jpg", None)
    expect_error(cache, ("1 image(s) listed in list_attr_celeba.txt", where, "000004.jpg"), root)
    replace_image(root, "000004.jpg", good)
    assert len(load(root)[0]) == 6
    for cache_file in npy_files(cache):  # a different image does not change the cache key: start afresh
        cache_file.unlink()
    replace_image(root, "000005.jpg", solid_jpeg((40, 50)))
    expect_error(cache, ("000005.jpg", "is 40x50", "expected 44x54", "000001.jpg"), root)
    replace_image(root, "000005.jpg", b"GIF89a this is not an image at all")
    expect_error(cache, ("000005.jpg", "not a readable image"), root)
    replace_image(root, "000005.jpg", good[: len(good) // 2])  # a truncated JPEG
    expect_error(cache, ("000005.jpg", "not a readable image"), root)
    replace_image(root, "000001.jpg", b"")  # the first image, read before the cache file is opened
    expect_error(cache, ("000001.jpg", "not a readable image"), root)


def test_an_image_of_another_size_early_in_a_long_build_leaves_no_cache(tmp_path: Path, cache: Path) -> None:
    root = make_celeba_folder(tmp_path / "c", n=1100)  # more than one chunk of 1024 is written first
    replace_image(root, "001050.jpg", solid_jpeg((54, 44)))
    expect_error(cache, ("001050.jpg", "is 54x44", "expected 44x54"), root)


def test_grey_images_are_read_as_rgb(folder: Path) -> None:
    img = Image.open(folder / cb.IMAGE_DIR / "000002.jpg").convert("L")
    img.save(folder / cb.IMAGE_DIR / "000002.jpg", "JPEG")
    x, _ = load(folder)
    assert x.shape[1] == 3 and torch.equal(x[1][0], x[1][1]) and torch.equal(x[1][1], x[1][2])


def test_a_split_with_no_images(folder: Path, cache: Path) -> None:
    path = folder / cb.PARTITION_FILE
    path.write_text("".join(f"{image_name(i)} {0 if i < 18 else 2}\n" for i in range(20)))
    expect_error(cache, (str(path), "no image to the valid split", "code 1"), folder, "valid")
    assert len(load(folder, "test")[0]) == 2


def test_unknown_split(folder: Path, cache: Path) -> None:
    expect_error(cache, ("'validation'", "train, valid, test"), folder, "validation")


# --------------------------------------------------------------------------- the lazy container


def test_lazy_container_indexing(folder: Path) -> None:
    x, y = load(folder, "train")
    full = x[:]
    assert full.shape == (16, 3, 64, 64) and repr(x).startswith("CelebAImages(split='train', n=16")
    assert torch.equal(x[3], full[3]) and x[3].shape == (3, 64, 64)
    assert torch.equal(x[np.int64(3)], full[3]) and torch.equal(x[-1], full[15]) and torch.equal(x[-16], full[0])
    assert torch.equal(x[2:7], full[2:7]) and torch.equal(x[::5], full[::5]) and torch.equal(x[10:100], full[10:])
    assert x[5:5].shape == (0, 3, 64, 64)
    idx = np.array([9, 0, 3, 3, 15])
    assert torch.equal(x[idx], full[idx]) and torch.equal(x[[9, 0, 3]], full[[9, 0, 3]])
    assert torch.equal(x[torch.tensor([9, 0, -2])], full[[9, 0, 14]])
    assert torch.equal(x[np.array([-1, -16])], full[[15, 0]])
    assert x[np.array([], dtype=np.int64)].shape == (0, 3, 64, 64)
    mask = np.zeros(16, dtype=bool)
    mask[[1, 4, 11]] = True
    assert torch.equal(x[mask], full[[1, 4, 11]]) and torch.equal(x[torch.from_numpy(mask)], full[[1, 4, 11]])
    assert torch.equal(x[y[:, cb.ATTRIBUTES.index("Male")] == 1], full[y[:, cb.ATTRIBUTES.index("Male")] == 1])
    for bad in (16, -17, np.array([0, 16]), torch.tensor([-17]), [3, 99]):
        with pytest.raises(IndexError, match="out of range for 16 CelebA images"):
            x[bad]


def test_lazy_container_subset(folder: Path) -> None:
    x, y = load(folder, "train")
    sub = x.subset(np.array([5, 2, 9]))
    assert isinstance(sub, cb.CelebAImages) and len(sub) == 3 and sub.shape == (3, 3, 64, 64) and sub.split == "train"
    assert torch.equal(sub[:], x[[5, 2, 9]]) and sub.files == (x.files[5], x.files[2], x.files[9])
    assert np.array_equal(sub.attributes, y[[5, 2, 9]].numpy()) and sub.names == x.names
    assert sub.fingerprint == x.fingerprint and sub.source == x.source
    subsub = sub.subset([2, 0])
    assert torch.equal(subsub[:], x[[9, 5]]) and subsub.files == (x.files[9], x.files[5])
    assert torch.equal(x.subset(torch.tensor([1, 0]))[:], x[[1, 0]])
    with pytest.raises(IndexError):
        x.subset([16])
    with pytest.raises(IndexError, match="out of range for 3"):
        sub[3]


def test_lazy_container_uint8(folder: Path) -> None:
    x, _ = load(folder, "valid")
    raw = x.uint8(np.array([1, 0]))
    assert raw.dtype == np.uint8 and raw.shape == (2, 64, 64, 3)
    assert torch.equal(torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255, x[[1, 0]])
    assert np.array_equal(x.uint8(slice(None)), raw[::-1])


def test_attribute_names_must_be_celebas(tmp_path: Path, cache: Path) -> None:
    """The judge reads CelebA's 40 attributes in their order: another header is one line."""
    from celeba_fixture import get_line, set_line

    root = make_celeba_folder(tmp_path / "renamed", n=20)
    names = get_line(root / cb.ATTR_FILE, 2).split()
    set_line(root / cb.ATTR_FILE, 2, " ".join(["Five_OClock_Shadow"] + names[1:]))
    expect_error(cache, (cb.ATTR_FILE, "line 2", "attribute 1 is Five_OClock_Shadow", "5_o_Clock_Shadow there"), root)
    swapped = names[:3] + [names[4], names[3]] + names[5:]
    set_line(root / cb.ATTR_FILE, 2, " ".join(swapped))
    expect_error(cache, ("attribute 4 is Bald", "Bags_Under_Eyes there"), root)
