"""Data sets shipped as the four standard IDX files (MNIST, Fashion-MNIST): one machinery.

MNIST and Fashion-MNIST share their file names, shapes (60,000 + 10,000 images of 28x28
uint8, labels 0..9) and format, so they share everything but where the data comes from:
the chain of sources (a user folder first, then each data set's own downloads), the
validation of what a source delivered, the cache, the fingerprint, and the resizing. A
data set is described by an :class:`IdxDataset`; its module (:mod:`vaerobust.data.mnist`,
:mod:`vaerobust.data.fashion_mnist`) supplies the sources after the folder and wraps the
functions here in its public API.

The chain
---------
:func:`load_raw` first looks at a folder the user named (``root=`` or the data set's
environment variable). A named folder is authoritative: a missing or malformed file is an
error naming that file, never a silent fall-through to a download. Data equal to the
canonical data set (:attr:`IdxDataset.canonical_sha256`) fills the shared cache; other
contents are used with a warning naming their checksum and cached apart
(``<cache>/<key>/folder-<sha>/``), so they never replace the copy other runs rely on.
Without a folder the cache answers, else each source in turn; the first whose arrays pass
:func:`validate` is cached. If all fail, one one-line
:class:`~vaerobust.data.sources.DataSourceError` names each source, why it failed, and how
to supply the files.

The cache
---------
Under ``<cache>/<key>/``: ``<key>-raw.npz`` holds the four raw arrays (``train_images``
uint8 [60000, 28, 28], ``train_labels`` int64 [60000], ``test_images``, ``test_labels``),
and ``<key>-{size}.npz`` the resized images, tagged with the raw data's fingerprint so they
are rebuilt whenever the raw data changes. All cache files are written atomically; one that
fails to load or has the wrong shapes is ignored (with a warning) and rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from vaerobust.data.idx import read_idx
from vaerobust.data.sources import DataSourceError, atomic_save_npz, cache_dir
from vaerobust.errors import ConfigError, RunDirError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

PathArg = Union[str, "os.PathLike[str]"]
Arrays = dict[str, np.ndarray]
#: A source after the folder: given the data set's cache folder, the four raw arrays.
Source = Callable[[Path], Arrays]
#: Checks one downloaded file (url, file name, body) and returns the bytes to decode.
FileCheck = Callable[[str, str, bytes], bytes]
Fetch = Callable[..., bytes]

#: Array key (as stored in the cache) -> standard IDX file name.
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
ARRAY_KEYS: tuple[str, ...] = tuple(IDX_FILES)

OFFLINE_MIRRORS_ENV = "VAEROBUST_OFFLINE_MIRRORS"
MIRROR_TIMEOUT_S = 5.0  # per request (socket timeout, and wall limit of the probe)
MIRROR_BUDGET_S = 15.0  # total time spent probing mirrors before giving up
MIRROR_FILE_WALL_S = 120.0  # wall limit per file once a mirror has answered


@dataclass(frozen=True)
class IdxDataset:
    """What the shared machinery needs to know about one IDX data set.

    Modules build it at call time, so tests that shrink ``split_sizes`` or replace the
    canonical checksum in the module are seen.
    """

    label: str  # in messages: "MNIST"
    key: str  # the cache folder <cache>/<key>/ and its files <key>-raw.npz, <key>-{size}.npz
    dir_env: str  # the environment variable naming the user's folder
    split_sizes: Mapping[str, int]  # images per split
    canonical_sha256: str  # fingerprint of the real data set: only it fills the shared cache
    sources: Mapping[str, Source]  # the sources after "folder", in the order they are tried
    layouts: tuple[str, ...] = ()  # subfolders of a user folder also searched (e.g. "MNIST/raw")
    image_shape: tuple[int, int] = (28, 28)
    num_classes: int = 10

    @property
    def source_names(self) -> tuple[str, ...]:
        """All source names in order, ``"folder"`` first."""
        return ("folder", *self.sources)

    def cache_folder(self, cache: PathArg | None) -> Path:
        """``<cache>/<key>/`` (``<cache>`` defaults to :func:`~vaerobust.data.sources.cache_dir`)."""
        return (Path(cache).expanduser() if cache is not None else cache_dir()) / self.key


class Skipped(Exception):
    """A source that is not configured (reported as 'skipped', not as a failure)."""


# --------------------------------------------------------------------------- checks


def check_split(ds: IdxDataset, split: str) -> None:
    """ConfigError unless ``split`` is one of the data set's splits."""
    if split not in ds.split_sizes:
        expected = ", ".join(repr(s) for s in ds.split_sizes)
        raise ConfigError(f"unknown {ds.label} split {split!r}: expected one of {expected}")


def check_sources(ds: IdxDataset, sources: Sequence[str] | None) -> tuple[str, ...]:
    """The source names to try (all by default); ConfigError on an unknown one."""
    if sources is None:
        return ds.source_names
    if isinstance(sources, str):
        sources = (sources,)
    unknown = [s for s in sources if s not in ds.source_names]
    if unknown:
        raise ConfigError(f"unknown {ds.label} source(s) {unknown}: expected names from {list(ds.source_names)}")
    return tuple(sources)


def check_size(size: int) -> None:
    """ConfigError unless ``size`` (``data.image_size``) is an integer >= 1."""
    if int(size) != size or size < 1:
        raise ConfigError(f"data.image_size = {size!r}: expected an integer >= 1")


def validate(ds: IdxDataset, arrays: Arrays, where: str) -> Arrays:
    """Check the four arrays have the data set's shapes, dtypes and label range.

    Returns them with labels as int64 (images must already be uint8).
    Raises DataSourceError naming ``where`` and the first problem found.
    """
    out: Arrays = {}
    top = ds.num_classes - 1
    for split, n in ds.split_sizes.items():
        images, labels = arrays.get(f"{split}_images"), arrays.get(f"{split}_labels")
        if images is None or labels is None:
            raise DataSourceError(f"{where}: the {split} images or labels are missing")
        want = (n, *ds.image_shape)
        if images.shape != want or images.dtype != np.uint8:
            raise DataSourceError(
                f"{where}: {split} images are {images.dtype} {images.shape}, expected uint8 {want}"
            )
        if labels.shape != (n,) or labels.dtype.kind not in "iu":
            raise DataSourceError(
                f"{where}: {split} labels are {labels.dtype} {labels.shape}, expected integers ({n},)"
            )
        if n and (labels.min() < 0 or labels.max() > top):
            raise DataSourceError(f"{where}: {split} labels span {labels.min()}..{labels.max()}, expected 0..{top}")
        out[f"{split}_images"] = np.ascontiguousarray(images)
        out[f"{split}_labels"] = np.ascontiguousarray(labels, dtype=np.int64)
    return out


def fingerprint(arrays: Arrays) -> str:
    """sha256 of train images, train labels, test images, test labels (in that
    order); images as uint8 and labels as little-endian int64, C order."""
    h = hashlib.sha256()
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        dtype = np.uint8 if key.endswith("images") else np.dtype("<i8")
        h.update(np.ascontiguousarray(arrays[key], dtype=dtype).tobytes())
    return h.hexdigest()


def short(exc: BaseException, limit: int = 400) -> str:
    """One line describing ``exc`` for the combined failure message."""
    text = str(exc) if isinstance(exc, DataSourceError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_files(bodies: Mapping[str, bytes], where: str) -> Arrays:
    """The arrays of IDX file contents (plain or gzip) keyed like :data:`IDX_FILES`;
    DataSourceError naming ``where`` and the file if one is malformed."""
    try:
        return {key: read_idx(body, name=IDX_FILES[key]) for key, body in bodies.items()}
    except ValueError as exc:
        raise DataSourceError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- the cache


def read_raw_cache(ds: IdxDataset, path: Path) -> Arrays | None:
    """The cached raw arrays, or None if the file is absent, unreadable or wrong."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ARRAY_KEYS}
        return validate(ds, arrays, where=str(path))
    except Exception as exc:  # any defect in a cache file just means "rebuild it"
        logger.warning("ignoring %s cache %s (%s); rebuilding it", ds.label, path, short(exc))
        return None


def write_cache(ds: IdxDataset, path: Path, **arrays: np.ndarray) -> None:
    """Write a cache file atomically; failure to write is a warning, not an error."""
    try:
        atomic_save_npz(path, **arrays)
    except (OSError, RunDirError) as exc:
        logger.warning("could not write the %s cache %s (%s)", ds.label, path, exc)


# --------------------------------------------------------------------------- source 1: folder


def resolve_folder(ds: IdxDataset, root: PathArg | None) -> Path | None:
    """``root`` if given, else the data set's environment variable if set, else None."""
    if root is not None and os.fspath(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(ds.dir_env, "").strip()
    return Path(env).expanduser() if env else None


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever exists first; None if neither does."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_folder(ds: IdxDataset, folder: Path) -> Arrays:
    """Read the four IDX files of a user-supplied folder (errors name the file)."""
    label = f"{ds.label} folder {folder}"
    if not folder.is_dir():
        raise DataSourceError(f"{label} (from --root or ${ds.dir_env}) does not exist or is not a folder")
    for where in (folder, *(folder / sub for sub in ds.layouts)):
        found = {key: find_file(where, name) for key, name in IDX_FILES.items()}
        if all(found.values()):
            break
    else:
        found = {key: find_file(folder, name) for key, name in IDX_FILES.items()}
        missing = [IDX_FILES[k] for k, p in found.items() if p is None]
        raise DataSourceError(
            f"{label}: missing {', '.join(missing)} (plain or .gz); "
            f"expected all four of {', '.join(IDX_FILES.values())}"
        )
    arrays: Arrays = {}
    for key, path in found.items():
        assert path is not None
        try:
            arrays[key] = read_idx(path)
        except (ValueError, OSError) as exc:
            raise DataSourceError(f"{label}: cannot read {path.name}: {exc}") from None
    return validate(ds, arrays, where=label)


# --------------------------------------------------------------------------- mirrors


def mirrors_disabled() -> bool:
    """Whether ``$VAEROBUST_OFFLINE_MIRRORS`` asks to skip every download from a mirror."""
    return os.environ.get(OFFLINE_MIRRORS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def download_from_mirrors(mirrors: Sequence[str], check: FileCheck, fetch: Fetch) -> Arrays:
    """The four ``<name>.gz`` files from the first mirrors that serve them, each passed
    through ``check`` (which raises DataSourceError on a wrong checksum), decoded.

    Each mirror is probed with the smallest file first, with a 5 s limit, so an offline
    machine gives up within ~10 s (15 s at most). ``fetch`` is
    :func:`~vaerobust.data.sources.fetch_url` or a test's fake.
    """
    if mirrors_disabled():
        raise Skipped(f"${OFFLINE_MIRRORS_ENV} is set")
    # Smallest first: the first request doubles as a cheap probe of the mirror.
    order = sorted(IDX_FILES, key=lambda k: ("labels" not in k, k != "test_labels", k))
    bodies: dict[str, bytes] = {}
    errors: list[str] = []
    start = time.monotonic()
    for base in mirrors:
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
                body = fetch(url, MIRROR_TIMEOUT_S, wall_timeout=wall, max_bytes=32 << 20)
                bodies[key] = check(url, fname, body)
                answered = True
        except DataSourceError as exc:
            errors.append(str(exc))
        if len(bodies) == len(IDX_FILES):
            break
    if len(bodies) < len(IDX_FILES):
        raise DataSourceError("; ".join(errors) or "no mirror answered")
    return decode_files(bodies, "mirror file is malformed")


# --------------------------------------------------------------------------- the chain


def all_failed_message(ds: IdxDataset, failures: list[tuple[str, str]]) -> str:
    """One line: each source with why it failed, and how to supply the files."""
    tried = "; ".join(f"{name}: {why}" for name, why in failures) or "no sources were tried"
    files = ", ".join(IDX_FILES.values())
    return (
        f"could not obtain {ds.label} from any source ({tried}). To provide the data yourself, put the "
        f"four {ds.label} files ({files}; each may be .gz) in a folder and point --root (data.root) "
        f"or ${ds.dir_env} at it"
    )


def load_raw(
    ds: IdxDataset, root: PathArg | None, cache: PathArg | None, sources: Sequence[str] | None
) -> tuple[Arrays, Path]:
    """The four validated raw arrays and the raw cache file's path (see the module's docstring)."""
    names = check_sources(ds, sources)
    raw_path = ds.cache_folder(cache) / f"{ds.key}-raw.npz"

    folder = resolve_folder(ds, root) if "folder" in names else None
    if folder is not None:
        arrays = read_folder(ds, folder)
        sha = fingerprint(arrays)
        if sha != ds.canonical_sha256:
            logger.warning("%s folder %s is not the canonical %s (sha256 of its arrays %s, expected %s); "
                           "using it for this run, cached apart from the canonical copy", ds.label, folder,
                           ds.label, sha, ds.canonical_sha256)
            raw_path = raw_path.parent / f"folder-{sha[:16]}" / raw_path.name
        else:
            logger.info("%s read from folder %s", ds.label, folder)
        cached = read_raw_cache(ds, raw_path)
        if cached is None or any(not np.array_equal(cached[k], arrays[k]) for k in ARRAY_KEYS):
            write_cache(ds, raw_path, **arrays)
        return arrays, raw_path

    cached = read_raw_cache(ds, raw_path)
    if cached is not None:
        logger.debug("%s read from cache %s", ds.label, raw_path)
        return cached, raw_path

    failures: list[tuple[str, str]] = []
    for name in names:
        if name == "folder":
            failures.append((name, f"skipped (no folder given with --root or ${ds.dir_env})"))
            continue
        try:
            arrays = validate(ds, ds.sources[name](raw_path.parent), where=f"source {name!r}")
        except Skipped as exc:
            failures.append((name, f"skipped ({exc})"))
            continue
        except Exception as exc:  # a failing source falls through to the next one
            logger.info("%s source %r failed: %s", ds.label, name, short(exc))
            failures.append((name, short(exc)))
            continue
        logger.info("%s obtained from source %r; caching it at %s", ds.label, name, raw_path)
        write_cache(ds, raw_path, **arrays)
        return arrays, raw_path
    raise DataSourceError(all_failed_message(ds, failures))


def load_split(
    ds: IdxDataset, split: str, root: PathArg | None, cache: PathArg | None, sources: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split: uint8 ``[N, 28, 28]`` and int64 ``[N]``."""
    check_split(ds, split)
    arrays, _ = load_raw(ds, root, cache, sources)
    return arrays[f"{split}_images"], arrays[f"{split}_labels"]


def fetch(ds: IdxDataset, root: PathArg | None, cache: PathArg | None) -> tuple[Path, str]:
    """Make sure the raw cache file holds the data set; return its path and the arrays' fingerprint.

    Raises DataSourceError if no source works or the cache cannot be written.
    """
    arrays, raw_path = load_raw(ds, root, cache, None)
    if not raw_path.is_file():
        raise DataSourceError(f"{ds.label} was obtained but the cache file {raw_path} could not be written")
    return raw_path, fingerprint(arrays)


# --------------------------------------------------------------------------- resizing and tensors


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
    check_size(size)
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


def resized(ds: IdxDataset, arrays: Arrays, size: int, folder: Path) -> Arrays:
    """Both splits' images resized to ``size``, from ``<folder>/<key>-{size}.npz`` or rebuilt."""
    path = folder / f"{ds.key}-{size}.npz"
    raw_hash = fingerprint(arrays)
    splits = tuple(ds.split_sizes)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                tag = str(npz["raw_sha256"])
                out = {s: npz[f"{s}_images"] for s in splits}
            ok = tag == raw_hash and all(
                out[s].dtype == np.uint8 and out[s].shape == (len(arrays[f"{s}_labels"]), size, size)
                for s in splits
            )
            if ok:
                return out
            logger.info("%s resize cache %s is stale; rebuilding it", ds.label, path)
        except Exception as exc:  # a defective cache file is rebuilt
            logger.warning("ignoring %s resize cache %s (%s); rebuilding it", ds.label, path, short(exc))
    out = {s: resize_images(arrays[f"{s}_images"], size) for s in splits}
    write_cache(ds, path, raw_sha256=np.array(raw_hash), **{f"{s}_images": v for s, v in out.items()})
    return out


def load_tensors(
    ds: IdxDataset, split: str, size: int, root: PathArg | None, cache: PathArg | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as tensors ready for a model: float32 ``[N, 1, size, size]`` equal to the
    (resized) uint8 pixels divided by 255, so in [0, 1]; and int64 labels ``[N]``.

    The resized uint8 images of both splits are cached in ``<cache>/<key>/<key>-{size}.npz``
    (the first call resizes all 70,000).
    """
    import torch

    check_split(ds, split)
    check_size(size)
    arrays, raw_path = load_raw(ds, root, cache, None)
    if size == ds.image_shape[0]:
        images = arrays[f"{split}_images"]
    else:
        images = resized(ds, arrays, int(size), raw_path.parent)[split]
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0).unsqueeze(1)
    y = torch.from_numpy(np.array(arrays[f"{split}_labels"], dtype=np.int64))
    return x.contiguous(), y


__all__ = ["ARRAY_KEYS", "IDX_FILES", "OFFLINE_MIRRORS_ENV", "IdxDataset", "Skipped", "check_split",
           "decode_files", "download_from_mirrors", "fetch", "fingerprint", "load_raw", "load_split", "load_tensors",
           "resize_images"]
