"""Tests of Fashion-MNIST: the user folder, the Debian package (and its .deb reader), the
chain's order, the checksums and the errors.

No test touches the network or runs apt-get: mirrors are disabled through the environment
(tests/conftest.py), ``apt-get download`` is replaced by a fake that copies a generated
.deb, Debian's install folder points at a temporary folder, and the expected split sizes
are shrunk so that generated data sets stay tiny. One test reads the real .deb if a copy
lies in /tmp.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from vaerobust.config import DataConfig
from vaerobust.data import dataset_info, debian, idxsets, load_dataset
from vaerobust.data import fashion_mnist as fm
from vaerobust.data.idx import encode_idx, write_idx
from vaerobust.data.sources import DataSourceError

N = {"train": 20, "test": 10}
REAL_DEB = Path("/tmp/dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb")
DEB_DIR = fm.DEBIAN_FILES_DIR


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Tiny splits, no user folder from the environment, Debian not installed, apt-get
    disabled; returns the list of folders the (fake) apt-get was asked to download into."""
    monkeypatch.delenv("VAEROBUST_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(fm, "SPLIT_SIZES", dict(N))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "not-installed" / DEB_DIR)
    calls: list[Path] = []

    def no_apt(dest: Path) -> Path:
        calls.append(dest)
        raise DataSourceError("apt-get is disabled in tests")

    monkeypatch.setattr(fm, "_apt_download", no_apt)
    return calls


def clothes(seed: int = 0) -> dict[str, np.ndarray]:
    """Random 28x28 images with every class present in each split."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in N.items():
        out[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        out[f"{split}_labels"] = rng.permutation(np.arange(n) % 10).astype(np.int64)
    return out


def idx_bodies(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """Standard file name (no .gz) -> plain IDX bytes, labels stored as uint8 like the real files."""
    return {name: encode_idx(arrays[key].astype(np.uint8)) for key, name in fm.IDX_FILES.items()}


def write_layout(folder: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in fm.IDX_FILES.items():
        write_idx(folder / (f"{name}.gz" if gz else name), arrays[key].astype(np.uint8), gzip=gz)
    return folder


def pin(monkeypatch: pytest.MonkeyPatch, arrays: dict[str, np.ndarray]) -> None:
    """Make ``arrays`` the canonical Fashion-MNIST, as far as every checksum goes."""
    monkeypatch.setattr(fm, "IDX_SHA256", {n: hashlib.sha256(b).hexdigest() for n, b in idx_bodies(arrays).items()})
    monkeypatch.setattr(fm, "CANONICAL_SHA256", idxsets.fingerprint(arrays))


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    """An ``ar`` archive as dpkg-deb writes one (the last name GNU-style, with a trailing /)."""
    out = [debian.AR_MAGIC]
    for i, (name, data) in enumerate(members):
        shown = name + "/" if i == len(members) - 1 else name
        out.append(f"{shown:<16}{1591347949:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode())
        out.append(data + (b"\n" if len(data) % 2 else b""))
    return b"".join(out)


def fake_deb(path: Path, files: dict[str, bytes]) -> Path:
    """A .deb-like archive: debian-binary, an odd-sized control.tar.xz, and a data.tar.xz of ``files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in {"./usr/share/doc/dataset-fashion-mnist/copyright": b"MIT\n", **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(ar_archive([("debian-binary", b"2.0\n"), ("control.tar.xz", b"odd"),
                                 ("data.tar.xz", buf.getvalue())]))
    return path


def deb_of(path: Path, arrays: dict[str, np.ndarray], drop: str | None = None) -> Path:
    """A fake dataset-fashion-mnist .deb holding ``arrays`` as the four recompressed .gz files."""
    files = {f"./{DEB_DIR}/{name}.gz": gzip.compress(body, compresslevel=9)
             for name, body in idx_bodies(arrays).items() if name != drop}
    return fake_deb(path, files)


def serve_deb(monkeypatch: pytest.MonkeyPatch, deb: Path) -> list[Path]:
    """Let the fake apt-get "download" ``deb``; returns the folders it was asked to fill."""
    calls: list[Path] = []

    def fake_apt(dest: Path) -> Path:
        calls.append(dest)
        return Path(shutil.copy(deb, dest / deb.name))

    monkeypatch.setattr(fm, "_apt_download", fake_apt)
    return calls


def one_line_error(info: pytest.ExceptionInfo[DataSourceError], *words: str) -> str:
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    return message


# ----------------------------------------------------------------------------- registry


def test_registered_with_its_class_names() -> None:
    info = dataset_info("fashion_mnist")
    assert info.classes == 10 and info.split_sizes == {"train": 60_000, "test": 10_000}
    assert info.channels == 1 and info.fixed_size is None
    assert info.class_names == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                "Sneaker", "Bag", "Ankle boot")
    assert dataset_info("synthetic").class_names is None


# ----------------------------------------------------------------------------- the user folder


@pytest.mark.parametrize("gz", [True, False])
def test_user_folder_loads_and_fills_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool,
                                               no_downloads: list[Path]) -> None:
    arrays = clothes()
    pin(monkeypatch, arrays)
    folder = write_layout(tmp_path / "fashion", arrays, gz=gz)
    cache = tmp_path / "cache"
    for split in N:
        x, y = fm.load_fashion_mnist(split, folder, cache=cache)
        assert x.shape == (N[split], 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_array_equal(x, arrays[f"{split}_images"])
        np.testing.assert_array_equal(y, arrays[f"{split}_labels"])
    assert (cache / "fashion_mnist" / "fashion_mnist-raw.npz").is_file()
    x, y = fm.load_fashion_mnist("test", cache=cache, sources=())  # the cache answers without the folder
    np.testing.assert_array_equal(y, arrays["test_labels"])
    assert fm.fashion_mnist_fingerprint(cache=cache) == idxsets.fingerprint(arrays)
    assert not no_downloads


def test_study_loader_resizes_like_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaerobust.data import fingerprint, mnist

    arrays = clothes(3)
    pin(monkeypatch, arrays)
    folder = write_layout(tmp_path / "fashion", arrays)
    x, y = load_dataset(DataConfig(name="fashion_mnist", root=str(folder)), "test")
    assert tuple(x.shape) == (N["test"], 1, 32, 32) and str(x.dtype) == "torch.float32"
    expected = mnist.resize_images(arrays["test_images"], 32).astype(np.float32) / 255
    np.testing.assert_allclose(x[:, 0].numpy(), expected, rtol=0, atol=1e-7)
    assert y.tolist() == arrays["test_labels"].tolist()
    assert len(fingerprint(x, y)) == 64  # what a run records
    x28, _ = load_dataset(DataConfig(name="fashion_mnist", image_size=28, root=str(folder)), "test")
    np.testing.assert_allclose(x28[:, 0].numpy(), arrays["test_images"] / 255, atol=1e-7)


def test_folder_from_env_and_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = clothes(1)
    write_layout(tmp_path / "data" / "FashionMNIST" / "raw", arrays, gz=False)
    monkeypatch.setenv("VAEROBUST_FASHION_MNIST_DIR", str(tmp_path / "data"))
    _, y = fm.load_fashion_mnist("train", cache=tmp_path / "c")
    np.testing.assert_array_equal(y, arrays["train_labels"])


def test_other_folder_is_used_but_cached_apart(tmp_path: Path) -> None:
    arrays = clothes(2)  # not the real Fashion-MNIST
    cache = tmp_path / "cache"
    _, y = fm.load_fashion_mnist("test", write_layout(tmp_path / "f", arrays), cache=cache)
    np.testing.assert_array_equal(y, arrays["test_labels"])
    assert not (cache / "fashion_mnist" / "fashion_mnist-raw.npz").exists()
    sha = idxsets.fingerprint(arrays)
    assert (cache / "fashion_mnist" / f"folder-{sha[:16]}" / "fashion_mnist-raw.npz").is_file()


def test_missing_file_names_it_and_writes_nothing(tmp_path: Path, no_downloads: list[Path]) -> None:
    folder = write_layout(tmp_path / "f", clothes())
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(DataSourceError) as info:
        fm.load_fashion_mnist("train", folder, cache=cache)
    message = one_line_error(info, "missing t10k-labels-idx1-ubyte", "expected all four of", "train-images-idx3-ubyte")
    assert "train-images" not in message.split("expected")[0]
    assert not cache.exists() and not no_downloads  # a named folder never falls through to a download


def test_truncated_file_names_it_and_writes_nothing(tmp_path: Path) -> None:
    folder = write_layout(tmp_path / "f", clothes(), gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    cache = tmp_path / "cache"
    with pytest.raises(DataSourceError) as info:
        fm.load_fashion_mnist("train", folder, cache=cache)
    one_line_error(info, "train-images-idx3-ubyte", "truncated IDX data", f"expected {N['train'] * 784} bytes")
    assert not cache.exists()
    path.unlink()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(encode_idx(clothes()["train_images"]))[:-20])
    with pytest.raises(DataSourceError) as info:
        fm.load_fashion_mnist("train", folder, cache=cache)
    one_line_error(info, "train-images-idx3-ubyte.gz", "corrupt or truncated gzip data")
    assert not cache.exists()


def test_wrong_checksum_names_the_file_and_the_expected_sha(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = write_layout(tmp_path / "root" / DEB_DIR, clothes())  # as the installed package, but not the data
    monkeypatch.setattr(fm, "DEBIAN_DIR", installed)
    cache = tmp_path / "cache"
    with pytest.raises(DataSourceError) as info:
        fm.load_fashion_mnist("train", cache=cache)
    one_line_error(info, "debian: checksum mismatch for train-images-idx3-ubyte.gz (decompressed)",
                   f"expected {fm.IDX_SHA256['train-images-idx3-ubyte']}", "VAEROBUST_FASHION_MNIST_DIR")
    assert not cache.exists()


# ----------------------------------------------------------------------------- the Debian package


def test_installed_package_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_downloads: list[Path]) -> None:
    arrays = clothes(4)
    pin(monkeypatch, arrays)
    monkeypatch.setattr(fm, "DEBIAN_DIR", write_layout(tmp_path / "root" / DEB_DIR, arrays))
    _, y = fm.load_fashion_mnist("test", cache=tmp_path / "cache")
    np.testing.assert_array_equal(y, arrays["test_labels"])
    assert not no_downloads  # installed: nothing downloaded


def test_ar_reader_walks_the_members(tmp_path: Path) -> None:
    deb = fake_deb(tmp_path / "x.deb", {"./a/b.txt": b"hello"})
    with open(deb, "rb") as stream:
        names = [(name, size) for name, size in debian.ar_members(stream, deb.name)]
    assert [n for n, _ in names] == ["debian-binary", "control.tar.xz", "data.tar.xz"]
    assert names[1][1] == 3  # an odd size; the padding byte is skipped
    assert debian.read_deb_files(deb, ["a/b.txt", "/a/b.txt"]) == {"a/b.txt": b"hello", "/a/b.txt": b"hello"}
    with pytest.raises(DataSourceError, match=r"x\.deb: data\.tar\.xz has no a/c\.txt, z"):
        debian.read_deb_files(deb, ["a/c.txt", "z"])
    (tmp_path / "no.deb").write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(DataSourceError, match=r"no\.deb: not a \.deb \(ar\) archive"):
        debian.read_deb_files(tmp_path / "no.deb", ["a/b.txt"])
    (tmp_path / "cut.deb").write_bytes(deb.read_bytes()[:-50])
    with pytest.raises(DataSourceError, match=r"cut\.deb: ar member data\.tar\.xz is truncated \(expected \d+ bytes"):
        debian.read_deb_files(tmp_path / "cut.deb", ["a/b.txt"])
    (tmp_path / "short.deb").write_bytes(deb.read_bytes()[:100])
    with pytest.raises(DataSourceError, match=r"short\.deb: truncated or corrupt ar member header at byte 72"):
        debian.read_deb_files(tmp_path / "short.deb", ["a/b.txt"])


def test_downloaded_deb_is_unpacked_checked_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = clothes(5)
    pin(monkeypatch, arrays)
    calls = serve_deb(monkeypatch, deb_of(tmp_path / "dataset-fashion-mnist_1_all.deb", arrays))
    cache = tmp_path / "cache"
    x, y = fm.load_fashion_mnist("train", cache=cache)
    np.testing.assert_array_equal(x, arrays["train_images"])
    np.testing.assert_array_equal(y, arrays["train_labels"])
    assert len(calls) == 1 and not calls[0].exists()  # the .deb went into a temporary folder, now gone
    assert [p.name for p in (cache / "fashion_mnist").iterdir()] == ["fashion_mnist-raw.npz"]
    fm.load_fashion_mnist("test", cache=cache)
    assert len(calls) == 1  # the cache answers from then on


def test_deb_missing_a_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = clothes()
    pin(monkeypatch, arrays)
    serve_deb(monkeypatch, deb_of(tmp_path / "p.deb", arrays, drop="t10k-images-idx3-ubyte"))
    with pytest.raises(DataSourceError) as info:
        fm.load_fashion_mnist("train", cache=tmp_path / "cache")
    one_line_error(info, f"p.deb: data.tar.xz has no {DEB_DIR}/t10k-images-idx3-ubyte.gz")
    assert not (tmp_path / "cache").exists()


# ----------------------------------------------------------------------------- the chain


def test_chain_order_folder_then_mirrors_then_debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_folder, on_mirror, in_deb = clothes(6), clothes(7), clothes(8)
    pin(monkeypatch, in_deb)
    calls = serve_deb(monkeypatch, deb_of(tmp_path / "p.deb", in_deb))
    folder = write_layout(tmp_path / "f", in_folder)
    cache = tmp_path / "cache"
    # 1. A folder wins over everything, the cache included.
    _, y = fm.load_fashion_mnist("train", folder, cache=cache)
    np.testing.assert_array_equal(y, in_folder["train_labels"])
    assert not calls
    # 3. Without a folder, with the mirrors skipped ($VAEROBUST_OFFLINE_MIRRORS=1), Debian answers.
    _, y = fm.load_fashion_mnist("train", cache=cache)
    np.testing.assert_array_equal(y, in_deb["train_labels"])
    assert len(calls) == 1
    # 2. Mirrors come before Debian when they answer (with the content checksum of their files).
    pin(monkeypatch, on_mirror)
    monkeypatch.delenv("VAEROBUST_OFFLINE_MIRRORS")
    served = {f"{name}.gz": gzip.compress(body) for name, body in idx_bodies(on_mirror).items()}
    urls: list[str] = []

    def fake_fetch(url: str, timeout: float, **kw: object) -> bytes:
        urls.append(url)
        return served[url.rsplit("/", 1)[1]]

    monkeypatch.setattr(fm, "fetch_url", fake_fetch)
    _, y = fm.load_fashion_mnist("train", cache=tmp_path / "cache2")
    np.testing.assert_array_equal(y, on_mirror["train_labels"])
    assert len(calls) == 1 and len(urls) == 4 and all(u.startswith(fm.MIRRORS[0]) for u in urls)


def test_all_sources_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError) as info:
        fm.load_fashion_mnist("train", cache=tmp_path / "cache")
    one_line_error(info, "folder: skipped", "mirrors: skipped ($VAEROBUST_OFFLINE_MIRRORS is set)",
                   "debian: apt-get is disabled in tests", "--root (data.root)", "$VAEROBUST_FASHION_MNIST_DIR",
                   "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "each may be .gz")
    with pytest.raises(ValueError, match="kaggle"):
        fm.load_fashion_mnist("train", cache=tmp_path, sources=["kaggle"])
    with pytest.raises(ValueError, match=r"'valid'.*'train', 'test'"):
        fm.load_fashion_mnist("valid", cache=tmp_path)


def test_data_fetch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaerobust.pipelines import data_fetch

    arrays = clothes()
    pin(monkeypatch, arrays)
    monkeypatch.setenv("VAEROBUST_CACHE", str(tmp_path / "cache"))
    line = data_fetch.run("fashion_mnist", write_layout(tmp_path / "f", arrays))
    assert line == (f"fashion_mnist cached at {tmp_path / 'cache' / 'fashion_mnist' / 'fashion_mnist-raw.npz'} "
                    f"(sha256 of the arrays: {idxsets.fingerprint(arrays)})")


@pytest.mark.skipif(not REAL_DEB.is_file(), reason=f"no copy of the real package at {REAL_DEB}")
def test_real_deb_matches_the_pinned_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fm, "SPLIT_SIZES", {"train": 60_000, "test": 10_000})
    serve_deb(monkeypatch, REAL_DEB)
    path, sha = fm.fetch_fashion_mnist(cache=tmp_path / "cache")
    assert sha == fm.CANONICAL_SHA256 and path.is_file()
    for split, per_class in (("train", 6000), ("test", 1000)):
        x, y = fm.load_fashion_mnist(split, cache=tmp_path / "cache", sources=())
        assert x.shape == (10 * per_class, 28, 28)
        assert np.bincount(y, minlength=10).tolist() == [per_class] * 10
