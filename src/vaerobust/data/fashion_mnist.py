"""Fashion-MNIST: obtained from a chain of sources, verified, cached, and resized to 32x32.

Zalando's Fashion-MNIST is MNIST's drop-in replacement: the same four IDX file names, the
same shapes (60,000 + 10,000 grayscale 28x28 images, labels 0..9), ten clothing classes
(:data:`CLASS_NAMES`). It goes through MNIST's machinery (:mod:`vaerobust.data.idxsets`):
the same folder rules, cache layout (``<cache>/fashion_mnist/``), fingerprint and resizing;
only the sources after the folder differ.

Where the data comes from
-------------------------
:func:`load_fashion_mnist` tries, in order (the names used by the ``sources`` argument):

1. ``"folder"``: a folder you point at with ``root=`` (``data.root``, the CLI's ``--root``)
   or ``$VAEROBUST_FASHION_MNIST_DIR``, holding ``train-images-idx3-ubyte``,
   ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``
   (each may be ``.gz``; torchvision's ``<root>/FashionMNIST/raw/`` layout is accepted
   too). As for MNIST, a named folder is authoritative, and contents other than the
   canonical Fashion-MNIST are used with a warning and cached apart.
2. ``"mirrors"``: the four ``.gz`` files from Zalando's S3 bucket or the GitHub
   repository, with MNIST's short timeouts; skipped when ``VAEROBUST_OFFLINE_MIRRORS=1``.
3. ``"debian"``: Debian's package ``dataset-fashion-mnist``. If it is installed, its
   files are read from :data:`DEBIAN_DIR`; otherwise ``apt-get download`` fetches the
   ``.deb`` (no root needed) into a temporary folder, and the four files are read
   straight out of it (:mod:`vaerobust.data.debian`; no dpkg, nothing installed).

Debian recompressed the files, so the ``.gz`` bytes differ from Zalando's: every file from
the mirrors or Debian is checked by the sha256 of its *decompressed* IDX content
(:data:`IDX_SHA256`), which both share. If every source fails, one one-line
:class:`~vaerobust.data.sources.DataSourceError` names each source, why it failed, and how
to supply the files.

Importing this module does no work: numpy is the only heavy import.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

import numpy as np

from vaerobust.data import idxsets
from vaerobust.data.debian import read_deb_files
from vaerobust.data.idx import ungzip
from vaerobust.data.idxsets import IDX_FILES, IdxDataset, Source
from vaerobust.data.sources import DataSourceError, check_digest, download_with_tool, fetch_url

if TYPE_CHECKING:
    import torch

PathArg = Union[str, "os.PathLike[str]"]
Arrays = dict[str, np.ndarray]

#: The sizes every Fashion-MNIST copy must have. Read at call time (tests shrink it).
SPLIT_SIZES: dict[str, int] = {"train": 60_000, "test": 10_000}
#: Label -> name, as Zalando publishes them.
CLASS_NAMES: tuple[str, ...] = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                "Sneaker", "Bag", "Ankle boot")

#: sha256 of each file's decompressed IDX bytes (``zcat FILE.gz | sha256sum``), computed from
#: Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1; the IDX content is Zalando's.
IDX_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: sha256 of the canonical Fashion-MNIST arrays (:func:`fashion_mnist_fingerprint`: train
#: images, train labels as int64, test images, test labels), as the files above decode to.
#: Only a folder holding exactly these arrays writes the shared cache.
CANONICAL_SHA256 = "ece172613115fb18b120bec8f6c02271af90b8b8f0a5af5c51cbd5ceed68e619"

#: Source names, in the order they are tried.
SOURCES: tuple[str, ...] = ("folder", "mirrors", "debian")

FASHION_MNIST_DIR_ENV = "VAEROBUST_FASHION_MNIST_DIR"

MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

DEBIAN_PACKAGE = "dataset-fashion-mnist"
#: Where the package keeps the four ``.gz`` files, relative to ``/`` (so also inside the .deb).
DEBIAN_FILES_DIR = "usr/share/datasets/fashion-mnist"
#: Where they are if the package is installed.
DEBIAN_DIR = Path("/", DEBIAN_FILES_DIR)
APT_TIMEOUT_S = 300.0


# --------------------------------------------------------------------------- checks


def _check_content(fname: str, body: bytes) -> bytes:
    """The decompressed IDX bytes of ``fname`` (plain or .gz), if their sha256 is the pinned one."""
    stem = fname.removesuffix(".gz")
    try:
        raw = ungzip(body, fname)
    except ValueError as exc:
        raise DataSourceError(str(exc)) from None
    check_digest(f"{fname} (decompressed)", hashlib.sha256(raw).hexdigest(), IDX_SHA256[stem])
    return raw


def _decode_checked(bodies: dict[str, bytes], where: str) -> Arrays:
    """Check each ``<name>.gz`` body (keyed like :data:`IDX_FILES`) and decode it."""
    raw = {key: _check_content(f"{IDX_FILES[key]}.gz", body) for key, body in bodies.items()}
    return idxsets.decode_files(raw, where)


# --------------------------------------------------------------------------- source 2: mirrors


def _from_mirrors(cache_folder: Path) -> Arrays:
    """Download the four .gz files from the mirrors, checking each one's content."""
    return idxsets.download_from_mirrors(MIRRORS, lambda url, fname, body: _check_content(fname, body),
                                         fetch=fetch_url)


# --------------------------------------------------------------------------- source 3: debian


def _apt_download(dest: Path) -> Path:
    """Run ``apt-get download`` for the package into ``dest``; return the .deb's path."""
    cmd = ["apt-get", "download", "-q", DEBIAN_PACKAGE]
    return download_with_tool(cmd, f"apt-get download {DEBIAN_PACKAGE}", dest, "*.deb", APT_TIMEOUT_S)


def read_deb(deb: PathArg) -> Arrays:
    """The four Fashion-MNIST arrays out of a ``dataset-fashion-mnist`` .deb, each file's
    decompressed content checked against :data:`IDX_SHA256` (DataSourceError otherwise)."""
    paths = {key: f"{DEBIAN_FILES_DIR}/{name}.gz" for key, name in IDX_FILES.items()}
    files = read_deb_files(deb, list(paths.values()))
    return _decode_checked({key: files[path] for key, path in paths.items()}, Path(deb).name)


def _from_installed(folder: Path) -> Arrays:
    """The four .gz files of the installed package, checked."""
    bodies = {}
    for key, name in IDX_FILES.items():
        path = folder / f"{name}.gz"
        try:
            bodies[key] = path.read_bytes()
        except OSError as exc:
            raise DataSourceError(f"{DEBIAN_PACKAGE} is installed but {path} cannot be read ({exc.strerror or exc})") from None
    return _decode_checked(bodies, str(folder))


def _from_debian(cache_folder: Path) -> Arrays:
    """The installed package's files, else those of a freshly downloaded .deb (not kept:
    the checked arrays are cached instead)."""
    if DEBIAN_DIR.is_dir():
        return _from_installed(DEBIAN_DIR)
    with tempfile.TemporaryDirectory(prefix="vaerobust-apt-") as tmp:
        return read_deb(_apt_download(Path(tmp)))


# --------------------------------------------------------------------------- the chain

_SOURCE_FUNCS: dict[str, Source] = {
    "mirrors": lambda c: _from_mirrors(c),
    "debian": lambda c: _from_debian(c),
}  # lambdas look the functions up at call time, so tests can monkeypatch them


def _dataset() -> IdxDataset:
    """Fashion-MNIST for :mod:`vaerobust.data.idxsets`, built at call time (tests shrink
    :data:`SPLIT_SIZES` and replace :data:`CANONICAL_SHA256`)."""
    return IdxDataset(label="Fashion-MNIST", key="fashion_mnist", dir_env=FASHION_MNIST_DIR_ENV,
                      split_sizes=SPLIT_SIZES, canonical_sha256=CANONICAL_SHA256, sources=_SOURCE_FUNCS,
                      layouts=("FashionMNIST/raw",), num_classes=len(CLASS_NAMES))


# --------------------------------------------------------------------------- public API


def load_fashion_mnist(split: str, root: PathArg | None = None, *, cache: PathArg | None = None,
                       sources: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images and labels of one split (``"train"``: 60,000, ``"test"``: 10,000),
    as :func:`~vaerobust.data.mnist.load_mnist` gives MNIST's: uint8 ``[N, 28, 28]`` and int64
    ``[N]`` in 0..9 (named by :data:`CLASS_NAMES`).

    ``root`` defaults to ``$VAEROBUST_FASHION_MNIST_DIR``; files are cached in
    ``<cache>/fashion_mnist/``; ``sources`` picks which of ``"folder"``, ``"mirrors"``,
    ``"debian"`` to try, in that order (default: all three; the cache is always consulted).
    Raises ValueError on an unknown split or source name, DataSourceError if the named folder
    is unusable or no source worked.
    """
    return idxsets.load_split(_dataset(), split, root, cache, sources)


def load_fashion_mnist_tensors(
    split: str, size: int = 32, root: PathArg | None = None, cache: PathArg | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as float32 ``[N, 1, size, size]`` in [0, 1] and int64 labels ``[N]``; the
    28x28 images are resized bilinearly exactly as MNIST's (:func:`~vaerobust.data.idxsets.resize_images`)."""
    return idxsets.load_tensors(_dataset(), split, size, root, cache)


def fetch_fashion_mnist(root: PathArg | None = None, cache: PathArg | None = None) -> tuple[Path, str]:
    """Make sure ``<cache>/fashion_mnist/fashion_mnist-raw.npz`` holds Fashion-MNIST; return
    its path and the sha256 of its arrays. DataSourceError if no source works."""
    return idxsets.fetch(_dataset(), root, cache)


def fashion_mnist_fingerprint(root: PathArg | None = None, cache: PathArg | None = None) -> str:
    """The run's "data hash": sha256 of the raw arrays, hashed as MNIST's are."""
    return idxsets.fingerprint(idxsets.load_raw(_dataset(), root, cache, None)[0])


__all__ = ["CLASS_NAMES", "FASHION_MNIST_DIR_ENV", "IDX_SHA256", "SOURCES", "SPLIT_SIZES", "fashion_mnist_fingerprint",
           "fetch_fashion_mnist", "load_fashion_mnist", "load_fashion_mnist_tensors", "read_deb"]
