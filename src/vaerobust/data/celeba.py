"""CelebA from the user's folder (Liu et al. 2015): 202,599 aligned faces, 40 binary attributes.

No copy of CelebA reaches vaerobust's machines, so there is no download chain: the user points
``data.root`` (or ``$VAEROBUST_CELEBA_DIR``) at a folder in the standard layout::

    img_align_celeba/000001.jpg ...     (or img_align_celeba.zip holding that folder)
    list_attr_celeba.txt                line 1: the image count; line 2: the attribute names;
                                        then "000001.jpg -1 1 1 -1 ..." (one value per attribute)
    list_eval_partition.txt             "000001.jpg 0" (0 train, 1 valid, 2 test: the official split)

Attributes are mapped to 0/1 (-1 -> 0). Preprocessing (settings): a centred square crop of
``data.crop`` pixels (default :data:`DEFAULT_CROP` = 148, the usual choice of beta-VAE
reimplementations on the 178x218 aligned images; images smaller than that are cropped to their
largest centred square) resized to ``data.image_size`` (64) with
PIL's antialiased bilinear filter. The result is built once into a uint8 ``.npy`` file
[N, S, S, 3] under the cache folder (with a progress bar; written chunk by chunk through a
temporary file, so an interruption leaves nothing) and read back as a read-only memory map:
the 2.5 GB of 64x64 images never sit in memory. Its ``manifest.json`` records the sha256 of
the attribute and partition files, the crop, the size and the image count.

Every check runs before the cache is written: a missing file, a malformed attribute or
partition line, a partition file that names other images than the attribute file, a listed
image missing from the folder, images of differing sizes or smaller than the crop: one line
naming the file and what was expected (:class:`vaerobust.errors.DataError`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaerobust.data.sources import cache_dir, lazy_index, sha256_file
from vaerobust.errors import DataError
from vaerobust.files import atomic_write

#: The 40 attributes in the order of ``list_attr_celeba.txt``.
ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
)
#: The official split sizes of the full data set (train / valid / test).
SPLIT_SIZES = {"train": 162_770, "valid": 19_867, "test": 19_962}
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
DEFAULT_CROP = 148
CELEBA_DIR_ENV = "VAEROBUST_CELEBA_DIR"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGE_DIR = "img_align_celeba"
HOW = (f"point data.root (or ${CELEBA_DIR_ENV}) at a folder holding {IMAGE_DIR}/ (or {IMAGE_DIR}.zip), "
       f"{ATTR_FILE} and {PARTITION_FILE}, as distributed by the CelebA authors")
CACHE_VERSION = 1


# --------------------------------------------------------------------------- the folder


@dataclass(frozen=True)
class CelebAFolder:
    """The three parts of a CelebA folder; ``images`` is the image folder or the zip."""

    root: Path
    images: Path
    attr_file: Path
    partition_file: Path


def locate(root: str | os.PathLike[str] | None) -> CelebAFolder:
    """The CelebA folder at ``root`` (else ``$VAEROBUST_CELEBA_DIR``), every part present."""
    where = root if root is not None else os.environ.get(CELEBA_DIR_ENV, "").strip() or None
    if where is None:
        raise DataError(f"CelebA cannot be downloaded by vaerobust: {HOW}")
    base = Path(where).expanduser()
    if not base.is_dir():
        raise DataError(f"CelebA folder {base} does not exist or is not a folder: {HOW}")
    images = base / IMAGE_DIR
    if not images.is_dir():
        zipped = base / f"{IMAGE_DIR}.zip"
        if not zipped.is_file():
            raise DataError(f"{base} has neither {IMAGE_DIR}/ nor {IMAGE_DIR}.zip: {HOW}")
        images = zipped
    for name in (ATTR_FILE, PARTITION_FILE):
        if not (base / name).is_file():
            raise DataError(f"{base / name} is missing: {HOW}")
    return CelebAFolder(base, images, base / ATTR_FILE, base / PARTITION_FILE)


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text file: expected CelebA's plain-text format") from None
    return [ln.strip() for ln in text.splitlines()]


def read_attributes(path: Path) -> tuple[tuple[str, ...], list[str], np.ndarray]:
    """(attribute names, image file names, values uint8 [N, K] in {0, 1}) of an attribute file."""
    lines = _lines(path)
    if len(lines) < 2 or not lines[0].isdigit():
        raise DataError(f"{path} line 1: expected the number of images, got {lines[0][:40] if lines else 'nothing'!r}")
    n = int(lines[0])
    names = tuple(lines[1].split())
    if not names:
        raise DataError(f"{path} line 2: expected the attribute names, got an empty line")
    if len(set(names)) != len(names):
        raise DataError(f"{path} line 2: attribute names repeat ({', '.join(sorted({a for a in names if names.count(a) > 1}))})")
    body = [(i + 1, ln) for i, ln in enumerate(lines) if i >= 2 and ln]  # (line number, line)
    if len(body) != n:
        raise DataError(f"{path}: line 1 says {n} images but {len(body)} lines follow the attribute names")
    k = len(names)
    files: list[str] = []
    values = np.empty((n, k), dtype=np.uint8)
    for row, (lineno, ln) in enumerate(body):
        parts = ln.split()
        if len(parts) != k + 1 or any(p not in ("-1", "1") for p in parts[1:]):
            raise DataError(f"{path} line {lineno}: expected an image name and {k} values of -1 or 1, got {ln[:60]!r}")
        files.append(parts[0])
        values[row] = [p == "1" for p in parts[1:]]
    if len(set(files)) != n:
        raise DataError(f"{path}: an image name is listed twice")
    return names, files, values


def read_partition(path: Path, files: Sequence[str]) -> np.ndarray:
    """The split code uint8 [N] (0 train, 1 valid, 2 test) of each of ``files`` (attribute-file order)."""
    split: dict[str, int] = {}
    for i, ln in enumerate(_lines(path)):
        if not ln:
            continue
        parts = ln.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataError(f"{path} line {i + 1}: expected an image name and 0, 1 or 2, got {ln[:60]!r}")
        if parts[0] in split:
            raise DataError(f"{path} line {i + 1}: {parts[0]} is listed twice")
        split[parts[0]] = int(parts[1])
    extra = sorted(set(split) - set(files))
    missing = [f for f in files if f not in split]
    if extra or missing:
        what = (f"{len(extra)} image(s) not in {ATTR_FILE} (e.g. {extra[0]})" if extra else
                f"no split for {len(missing)} image(s) of {ATTR_FILE} (e.g. {missing[0]})")
        raise DataError(f"{path} disagrees with {ATTR_FILE}: {what}")
    return np.asarray([split[f] for f in files], dtype=np.uint8)


class ImageReader:
    """Reads the listed images from the image folder or the zip (``img_align_celeba/NAME`` inside)."""

    def __init__(self, images: Path) -> None:
        self.images = images
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        if images.suffix == ".zip":
            try:
                self._zip = zipfile.ZipFile(images)
            except (zipfile.BadZipFile, OSError) as e:
                raise DataError(f"{images} is not a readable zip file ({e})") from None
            self._members = {Path(m).name: m for m in self._zip.namelist() if not m.endswith("/")}

    def missing(self, names: Sequence[str]) -> list[str]:
        if self._zip is not None:
            return [n for n in names if n not in self._members]
        present = set(os.listdir(self.images))
        return [n for n in names if n not in present]

    def where(self, name: str) -> str:
        return f"{self.images}:{self._members.get(name, name)}" if self._zip is not None else str(self.images / name)

    def open(self, name: str) -> Any:
        from PIL import Image, UnidentifiedImageError

        try:
            if self._zip is not None:
                img = Image.open(io.BytesIO(self._zip.read(self._members[name])))
            else:
                img = Image.open(self.images / name)
            img.load()
        except (OSError, UnidentifiedImageError, zipfile.BadZipFile) as e:
            raise DataError(f"{self.where(name)} is not a readable image ({str(e).splitlines()[0][:80]})") from None
        return img

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def preprocess(img: Any, crop: int, size: int) -> np.ndarray:
    """A centred ``crop`` x ``crop`` square of a PIL image resized to ``size`` x ``size``: uint8 [S, S, 3]."""
    from PIL import Image

    w, h = img.size
    left, top = (w - crop) // 2, (h - crop) // 2
    out = img.convert("RGB").crop((left, top, left + crop, top + crop))
    if crop != size:
        out = out.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(out, dtype=np.uint8)


# --------------------------------------------------------------------------- the cache


@dataclass(frozen=True)
class CelebAData:
    """The whole data set: images uint8 [N, S, S, 3] (a read-only memory map), attributes,
    split codes, image names, and provenance (``manifest``)."""

    images: np.ndarray
    attributes: np.ndarray
    split: np.ndarray
    files: tuple[str, ...]
    names: tuple[str, ...]
    manifest: dict[str, Any]


def default_crop(folder: CelebAFolder, first: str) -> int:
    """``data.crop: null``: :data:`DEFAULT_CROP` (148), or the largest centred square of smaller
    images (a folder of small test images in CelebA's layout); an explicit crop is never changed."""
    reader = ImageReader(folder.images)
    try:
        if reader.missing([first]):
            return DEFAULT_CROP  # the build names the missing images
        w, h = reader.open(first).size
    finally:
        reader.close()
    return min(DEFAULT_CROP, w, h)


def cache_key(folder: CelebAFolder, crop: int, size: int, attr_sha: str, part_sha: str) -> str:
    key = json.dumps({"v": CACHE_VERSION, "attr": attr_sha, "partition": part_sha, "crop": crop, "size": size,
                      "images": str(folder.images.resolve())}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def load_celeba_data(root: str | os.PathLike[str] | None, crop: int | None = None, size: int = 64,
                     progress: bool = True, cache: Path | None = None, need: str | None = None) -> CelebAData:
    """Check the folder and return its preprocessed images (built into the cache the first time).

    ``need``: a split ("train", "valid", "test") that must have images, checked before the cache is built.
    """
    folder = locate(root)
    names, files, values = read_attributes(folder.attr_file)
    if names != ATTRIBUTES:  # the judge reads CelebA's 40 attributes, in the file's order
        bad = next((i for i, (a, b) in enumerate(zip(names, ATTRIBUTES)) if a != b), min(len(names), len(ATTRIBUTES)))
        got = names[bad] if bad < len(names) else "nothing"
        want = ATTRIBUTES[bad] if bad < len(ATTRIBUTES) else "no further name"
        raise DataError(f"{folder.attr_file} line 2: attribute {bad + 1} is {got}; expected CelebA's 40 attribute "
                        f"names in their order ({want} there)")
    split = read_partition(folder.partition_file, files)
    if need is not None and not np.any(split == SPLIT_CODES[need]):
        raise DataError(f"{folder.partition_file} assigns no image to the {need} split (code {SPLIT_CODES[need]})")
    crop = default_crop(folder, files[0]) if crop is None else int(crop)
    attr_sha, part_sha = sha256_file(folder.attr_file), sha256_file(folder.partition_file)
    where = (cache or cache_dir() / "celeba") / cache_key(folder, crop, size, attr_sha, part_sha)
    npy, manifest_path = where / "images.npy", where / "manifest.json"
    manifest = {"attr_sha256": attr_sha, "partition_sha256": part_sha, "crop": crop, "size": size, "n": len(files),
                "images": str(folder.images), "attributes": list(names), "cache_version": CACHE_VERSION}
    if not (npy.is_file() and manifest_path.is_file() and _manifest_matches(manifest_path, manifest)):
        _build(folder, files, crop, size, npy, progress)
        atomic_write(manifest_path, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    try:
        images = np.load(npy, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise DataError(f"{npy} is corrupt ({e}); delete {where} to rebuild it") from None
    if images.shape != (len(files), size, size, 3) or images.dtype != np.uint8:
        raise DataError(f"{npy} holds {images.shape} {images.dtype}: expected ({len(files)}, {size}, {size}, 3) uint8; "
                        f"delete {where} to rebuild it")
    return CelebAData(images, values, split, tuple(files), names, manifest | {"cache": str(npy)})


def _manifest_matches(path: Path, manifest: dict[str, Any]) -> bool:
    try:
        return json.loads(path.read_text()) == manifest
    except (OSError, ValueError):
        return False


def _build(folder: CelebAFolder, files: Sequence[str], crop: int, size: int, npy: Path, progress: bool) -> None:
    """Write the preprocessed images to ``npy`` (all checks first; nothing left on an error)."""
    from vaerobust.progress import progress_bar

    if crop < 1 or size < 1:
        raise DataError(f"data.crop = {crop}, data.image_size = {size}: expected integers >= 1")
    reader = ImageReader(folder.images)
    try:
        missing = reader.missing(files)
        if missing:
            raise DataError(f"{len(missing)} image(s) listed in {ATTR_FILE} are not in {folder.images} "
                            f"(e.g. {missing[0]})")
        first = reader.open(files[0])
        w, h = first.size
        if crop > min(w, h):
            raise DataError(f"data.crop = {crop}: the images in {folder.images} are {w}x{h}; expected a crop of at "
                            f"most {min(w, h)} pixels (set data.crop)")
        header = {"descr": "|u1", "fortran_order": False, "shape": (len(files), size, size, 3)}
        bar = progress_bar(len(files), desc=f"CelebA -> {size}x{size} cache", enabled=progress)

        def write(f: Any) -> None:
            np.lib.format.write_array_header_1_0(f, header)
            chunk: list[np.ndarray] = []
            for name in files:
                img = reader.open(name)
                if img.size != (w, h):
                    raise DataError(f"{reader.where(name)} is {img.size[0]}x{img.size[1]}: expected {w}x{h} like "
                                    f"{files[0]} (every image of the folder has one size)")
                chunk.append(preprocess(img, crop, size))
                if len(chunk) == 1024:
                    f.write(np.stack(chunk).tobytes())
                    bar.update(len(chunk))
                    chunk = []
            if chunk:
                f.write(np.stack(chunk).tobytes())
                bar.update(len(chunk))

        try:
            atomic_write(npy, write)
        finally:
            bar.close()
    finally:
        reader.close()


# --------------------------------------------------------------------------- the lazy container


class CelebAImages:
    """One split's images, read from the memory map only when indexed; behaves like a float
    tensor [N, 3, S, S] in [0, 1]. ``attributes`` uint8 [N, K]; ``names`` the K attribute names."""

    def __init__(self, data: CelebAData, rows: np.ndarray, split: str) -> None:
        self._data = data
        self._rows = rows
        self.split = split
        self.attributes = data.attributes[rows]
        self.names = data.names
        self.files = tuple(data.files[i] for i in rows)
        self.fingerprint = hashlib.sha256(json.dumps(
            {k: data.manifest[k] for k in ("attr_sha256", "partition_sha256", "crop", "size", "n")}, sort_keys=True
        ).encode() + split.encode()).hexdigest()
        self.source = data.manifest["images"]

    def __len__(self) -> int:
        return int(self._rows.shape[0])

    @property
    def shape(self) -> tuple[int, int, int, int]:
        s = self._data.images.shape[1]
        return (len(self), 3, s, s)

    def __repr__(self) -> str:
        return f"CelebAImages(split={self.split!r}, n={len(self)}, source={self.source!r})"

    def uint8(self, positions: Any) -> np.ndarray:
        """Images uint8 [B, S, S, 3] at ``positions`` (int array or slice)."""
        pos = np.arange(len(self))[positions] if isinstance(positions, slice) else np.asarray(positions, np.int64).reshape(-1)
        rows = self._rows[pos]
        order = np.argsort(rows, kind="stable")  # a memory map reads faster in ascending order
        out = np.empty((len(rows),) + self._data.images.shape[1:], dtype=np.uint8)
        out[order] = self._data.images[rows[order]]
        return out

    def __getitem__(self, key: Any) -> Any:
        import torch

        if isinstance(key, (int, np.integer)):
            return self[np.asarray([key])][0]
        key = lazy_index(key, len(self), "CelebA images")
        return torch.from_numpy(self.uint8(key)).permute(0, 3, 1, 2).contiguous().float().div_(255.0)

    def subset(self, positions: Any) -> CelebAImages:
        """The images at ``positions`` (int array [B]) as a new lazy container."""
        return CelebAImages(self._data, self._rows[np.asarray(positions, dtype=np.int64)], self.split)


def load_celeba(split: str, size: int = 64, crop: int | None = None, root: str | None = None,
                progress: bool = True) -> tuple[CelebAImages, Any]:
    """(lazy images [N, 3, S, S], attributes int64 [N, K] in {0, 1}) of the official ``split``.

    ``split``: "train", "valid" or "test". An empty split is an error (a partition file whose
    split names no image).
    """
    import torch

    if split not in SPLIT_CODES:
        raise DataError(f"CelebA split {split!r}: expected one of {', '.join(SPLIT_CODES)}")
    data = load_celeba_data(root, crop=crop, size=size, progress=progress, need=split)
    rows = np.flatnonzero(data.split == SPLIT_CODES[split])
    x = CelebAImages(data, rows, split)
    return x, torch.from_numpy(x.attributes.astype(np.int64))


__all__ = ["ATTRIBUTES", "CELEBA_DIR_ENV", "DEFAULT_CROP", "SPLIT_SIZES", "CelebAData", "CelebAFolder",
           "CelebAImages", "ImageReader", "load_celeba", "load_celeba_data", "locate", "preprocess",
           "read_attributes", "read_partition"]
