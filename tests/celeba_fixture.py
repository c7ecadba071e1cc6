"""A small CelebA folder in the exact layout of the real one, drawn so that five attributes are visible.

:func:`make_celeba_folder` writes ``img_align_celeba/000001.jpg ...`` (or ``img_align_celeba.zip``
holding that folder), ``list_attr_celeba.txt`` and ``list_eval_partition.txt`` in CelebA's own
format (see :mod:`vaerobust.data.celeba`). Every image is a cartoon face on a plain, low-saturation
background; the five attributes of :data:`DRAWN` are big, high-contrast functions of what is drawn,
placed inside the centred square of 0.8 x the width, so they survive a centred crop of ~0.83 of the
width (148 of 178 on the real images), a resize to 64 x 64 and JPEG compression:

* ``Wearing_Hat``: a saturated red or blue block above the head (else background there);
* ``Blond_Hair``: a yellow band across the top of the face (else a dark brown one);
* ``Eyeglasses``: two large near-black rectangles and a bridge at eye height (else two small eye dots);
* ``Smiling``: a wide, bright white mouth bar (else a thin dark red line);
* ``Male``: a darker face with square corners (else a lighter, round one).

The five are drawn independently, each with a fixed share of positives (30-70 %, exact over the
whole folder); the other 35 attributes are random -1/1 with fixed per-attribute rates (the same
for every seed). The split is 80 / 10 / 10 % in file order, like the official one.

The helpers below corrupt a folder for the error tests; :func:`expected_attributes` and
:func:`expected_partition` read the text files back with a parser independent of the module.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vaerobust.data.celeba import ATTR_FILE, ATTRIBUTES, IMAGE_DIR, PARTITION_FILE

#: The attributes that are drawn, and the share of positives of each (exact over the folder).
DRAWN_RATES: dict[str, float] = {"Smiling": 0.5, "Male": 0.45, "Eyeglasses": 0.4, "Blond_Hair": 0.4, "Wearing_Hat": 0.35}
DRAWN: tuple[str, ...] = tuple(DRAWN_RATES)
#: Fixed rates of positives for every other attribute (independent of the seed).
OTHER_RATES: dict[str, float] = {a: float(r) for a, r in zip(ATTRIBUTES, np.random.default_rng(2015).uniform(0.1, 0.9, len(ATTRIBUTES)))}

_FEMALE_SKIN = np.array([205.0, 150.0, 125.0])
_MALE_SKIN = np.array([125.0, 85.0, 65.0])
_BLOND = np.array([240.0, 205.0, 50.0])
_BROWN = np.array([70.0, 40.0, 20.0])
_HAT = np.array([225.0, 20.0, 40.0])
_DARK = np.array([15.0, 15.0, 20.0])
_WHITE = np.array([252.0, 252.0, 245.0])
_LIPS = np.array([120.0, 20.0, 30.0])


def image_name(i: int) -> str:
    """The file name of image ``i`` (0-based): ``000001.jpg`` for 0."""
    return f"{i + 1:06d}.jpg"


def partition_codes(n: int) -> np.ndarray:
    """Split codes of ``n`` images in file order: about 80 % train (0), 10 % valid (1), the rest test (2)."""
    n_train, n_valid = int(round(0.8 * n)), int(round(0.1 * n))
    return np.repeat(np.array([0, 1, 2], dtype=np.int64), [n_train, n_valid, n - n_train - n_valid])


def draw_face(rng: np.random.Generator, size: tuple[int, int], on: dict[str, bool]) -> np.ndarray:
    """One face uint8 [H, W, 3] of an image of ``size`` = (width, height) with the attributes ``on``."""
    w, h = size
    u = float(w)
    jitter = max(1, int(round(0.02 * u)))
    cx = w / 2 + rng.integers(-jitter, jitter + 1)
    cy = h / 2 + rng.integers(-jitter, jitter + 1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5

    def box(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        return (xx >= cx + x0 * u) & (xx < cx + x1 * u) & (yy >= cy + y0 * u) & (yy < cy + y1 * u)

    grey = rng.uniform(90, 200)
    img = np.empty((h, w, 3))
    img[:] = grey + rng.uniform(-12, 12, 3)  # a plain background of low saturation
    # the face: a disc (female) or a square-cornered superellipse (male), centred a little low
    fy, r = cy + 0.08 * u, 0.28 * u
    dx, dy = np.abs(xx - cx) / r, np.abs(yy - fy) / r
    face = (dx**4 + dy**4 <= 1) if on["Male"] else (dx**2 + dy**2 <= 1)
    img[face] = (_MALE_SKIN if on["Male"] else _FEMALE_SKIN) + rng.uniform(-10, 10, 3)
    img[box(-0.26, 0.26, -0.215, -0.12)] = _BLOND if on["Blond_Hair"] else _BROWN
    if on["Wearing_Hat"]:
        img[box(-0.36, 0.36, -0.40, -0.225)] = _HAT + rng.uniform(-15, 15, 3)
    if on["Eyeglasses"]:
        img[box(-0.24, -0.03, -0.06, 0.07) | box(0.03, 0.24, -0.06, 0.07) | box(-0.03, 0.03, -0.04, 0.0)] = _DARK
    else:
        img[box(-0.14, -0.09, -0.02, 0.03) | box(0.09, 0.14, -0.02, 0.03)] = _DARK
    if on["Smiling"]:
        img[box(-0.16, 0.16, 0.17, 0.26)] = _WHITE
    else:
        img[box(-0.10, 0.10, 0.20, 0.20 + max(0.03, 1.0 / u))] = _LIPS
    img += rng.normal(0.0, 4.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """``pixels`` uint8 [H, W, 3] as JPEG bytes."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_celeba_folder(root: Path, n: int = 240, size: tuple[int, int] = (44, 54), zipped: bool = False, seed: int = 0,
                       attributes: Sequence[str] = ATTRIBUTES, newline: str = "\n", quality: int = 90) -> Path:
    """Write a CelebA folder of ``n`` images of ``size`` = (width, height) at ``root``; returns ``root``.

    ``zipped``: the images go into ``img_align_celeba.zip`` (holding ``img_align_celeba/``) instead
    of the folder. ``attributes``: the names of line 2 (a drawn attribute left out is still drawn).
    ``newline``: the line ending of the two text files ("\\r\\n" for Windows-style files).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    values = np.empty((n, len(attributes)), dtype=np.int64)
    drawn: dict[str, np.ndarray] = {}
    for a, rate in DRAWN_RATES.items():
        drawn[a] = rng.permutation(n) < int(round(rate * n))
    for j, a in enumerate(attributes):
        col = drawn[a] if a in drawn else rng.random(n) < OTHER_RATES.get(a, 0.5)
        values[:, j] = np.where(col, 1, -1)
    blobs = [jpeg(draw_face(rng, size, {a: bool(drawn[a][i]) for a in DRAWN}), quality) for i in range(n)]
    names = [image_name(i) for i in range(n)]
    if zipped:
        with zipfile.ZipFile(root / f"{IMAGE_DIR}.zip", "w", zipfile.ZIP_STORED) as z:
            z.writestr(f"{IMAGE_DIR}/", b"")
            for name, blob in zip(names, blobs):
                z.writestr(f"{IMAGE_DIR}/{name}", blob)
    else:
        (root / IMAGE_DIR).mkdir(exist_ok=True)
        for name, blob in zip(names, blobs):
            (root / IMAGE_DIR / name).write_bytes(blob)
    # CelebA's format: the count, the names (single spaces, a trailing one), then each value
    # right-aligned in a field of 3 ("000001.jpg -1  1  1 -1 ..."); the partition: "000001.jpg 0".
    lines = [str(n), " ".join(attributes) + " "]
    lines += [name + "".join(f"{v:3d}" for v in row) for name, row in zip(names, values)]
    (root / ATTR_FILE).write_bytes(newline.join(lines).encode() + newline.encode())
    part = [f"{name} {code}" for name, code in zip(names, partition_codes(n))]
    (root / PARTITION_FILE).write_bytes(newline.join(part).encode() + newline.encode())
    return root


# --------------------------------------------------------------------------- reading back


def expected_attributes(root: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(image names, attribute names, values int64 [N, K] in {0, 1}) read from the attribute file."""
    lines = (Path(root) / ATTR_FILE).read_text().splitlines()
    names = lines[1].split()
    rows = [ln.split() for ln in lines[2:] if ln.strip()]
    return [r[0] for r in rows], names, np.array([[int(v) for v in r[1:]] for r in rows], dtype=np.int64).clip(0, 1)


def expected_partition(root: Path) -> dict[str, int]:
    """Image name -> split code, read from the partition file."""
    lines = (Path(root) / PARTITION_FILE).read_text().splitlines()
    return {ln.split()[0]: int(ln.split()[1]) for ln in lines if ln.strip()}


# --------------------------------------------------------------------------- corrupting


def set_line(path: Path, lineno: int, text: str | None) -> None:
    """Replace line ``lineno`` (1-based) of a text file by ``text``, or delete it (None)."""
    raw = Path(path).read_bytes().decode()
    newline = "\r\n" if "\r\n" in raw else "\n"
    lines = raw.splitlines()
    if text is None:
        del lines[lineno - 1]
    else:
        lines[lineno - 1] = text
    Path(path).write_bytes((newline.join(lines) + newline).encode())


def get_line(path: Path, lineno: int) -> str:
    """Line ``lineno`` (1-based) of a text file."""
    return Path(path).read_text().splitlines()[lineno - 1]


def append_line(path: Path, text: str) -> None:
    """Add a line at the end of a text file."""
    raw = Path(path).read_bytes().decode()
    newline = "\r\n" if "\r\n" in raw else "\n"
    Path(path).write_bytes((raw + text + newline).encode())


def replace_image(root: Path, name: str, data: bytes | None) -> None:
    """Replace (or add) image ``name`` by ``data`` (any bytes), or remove it (None), in the folder or the zip."""
    root = Path(root)
    folder, zpath = root / IMAGE_DIR, root / f"{IMAGE_DIR}.zip"
    if folder.is_dir():
        if data is None:
            (folder / name).unlink()
        else:
            (folder / name).write_bytes(data)
        return
    member = f"{IMAGE_DIR}/{name}"
    with zipfile.ZipFile(zpath) as z:
        members = {m: z.read(m) for m in z.namelist()}
    if data is None:
        del members[member]
    else:
        members[member] = data
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as z:
        for m, blob in members.items():
            z.writestr(m, blob)


def solid_jpeg(size: tuple[int, int], colour: tuple[int, int, int] = (128, 128, 128)) -> bytes:
    """A one-colour JPEG of ``size`` = (width, height)."""
    return jpeg(np.full((size[1], size[0], 3), colour, dtype=np.uint8))


__all__ = ["DRAWN", "DRAWN_RATES", "OTHER_RATES", "append_line", "draw_face", "expected_attributes", "expected_partition",
           "get_line", "image_name", "jpeg", "make_celeba_folder", "partition_codes", "replace_image", "set_line",
           "solid_jpeg"]
