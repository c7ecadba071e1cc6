"""Reading and writing the IDX format, the file format MNIST is distributed in.

An IDX file is a tiny header followed by raw array data, all big-endian::

    byte 0-1   0x00 0x00          magic: two zero bytes
    byte 2     dtype code         0x08 uint8, 0x09 int8, 0x0B int16,
                                  0x0C int32, 0x0D float32, 0x0E float64
    byte 3     ndim               number of dimensions
    then       ndim x uint32      the size of each dimension (big-endian)
    then       the data           prod(dims) items, C order, big-endian

So ``train-images-idx3-ubyte`` starts ``00 00 08 03 | 00 00 EA 60 | 00 00 00 1C |
00 00 00 1C``: uint8, 3 dims, 60000 x 28 x 28. Files are often shipped
gzip-compressed (``.gz``); :func:`read_idx` recognises gzip by its own magic bytes
(``1f 8b``), whatever the file is called.

Every malformed input (bad magic, unknown dtype code, truncated header or data,
bytes left over after the data) raises :class:`ValueError` with a one-line
message naming the file and what was expected, so a user who pointed the loader
at the wrong file learns which file and why.
"""

from __future__ import annotations

import gzip as _gzip
import os
import struct
import zlib
from pathlib import Path
from typing import Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

#: IDX dtype code -> numpy dtype as stored in the file (big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _code_for(dtype: np.dtype) -> int:
    """The IDX dtype code of ``dtype`` (any byte order), or ValueError."""
    for code, idx_dtype in IDX_DTYPES.items():
        if idx_dtype.kind == dtype.kind and idx_dtype.itemsize == dtype.itemsize:
            return code
    names = ", ".join(str(d.newbyteorder("=")) for d in IDX_DTYPES.values())
    raise ValueError(f"dtype {dtype} cannot be stored in IDX (expected one of: {names})")


def ungzip(data: bytes, label: str) -> bytes:
    """``data`` decompressed if it starts with gzip's magic bytes, else ``data`` unchanged.

    Lets callers checksum the IDX content itself, which stays the same when a file is
    recompressed (as Debian does). Raises ValueError naming ``label`` on corrupt gzip data.
    """
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return _gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{label}: corrupt or truncated gzip data ({exc})") from None


def read_idx(source: PathLike | bytes, *, name: str | None = None) -> np.ndarray:
    """Parse an IDX file (plain or gzip-compressed) into a native-endian numpy array.

    Args:
        source: a path to the file, or its raw bytes.
        name: what to call the input in error messages; defaults to the path
            (or ``"<bytes>"`` for raw bytes).

    Returns:
        A freshly allocated, writeable, C-contiguous array with the file's
        shape and dtype (converted to the machine's byte order).

    Raises:
        ValueError: the content is not a well-formed IDX file.
        OSError: the path cannot be read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "<bytes>"
    else:
        label = name or os.fspath(source)
        data = Path(source).read_bytes()

    data = ungzip(data, label)
    if len(data) < 4:
        raise ValueError(f"{label}: too short for an IDX header (expected at least 4 bytes, got {len(data)})")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{label}: not an IDX file (expected magic bytes 00 00 at the start, got {data[:4].hex(' ')})"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        codes = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{label}: unknown IDX dtype code 0x{code:02X} (expected one of {codes})")

    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{label}: truncated IDX header (expected {header_len} bytes for {ndim} dimensions, got {len(data)})"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_len
    if got < expected:
        raise ValueError(
            f"{label}: truncated IDX data (expected {expected} bytes for shape {tuple(shape)} "
            f"{dtype.newbyteorder('=')}, got {got})"
        )
    if got > expected:
        raise ValueError(
            f"{label}: {got - expected} trailing bytes after the IDX data "
            f"(expected exactly {expected} bytes for shape {tuple(shape)})"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    # astype copies: the result is native-endian, writeable, and owns its memory.
    return array.astype(dtype.newbyteorder("="))


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes (uncompressed) of ``array``; the inverse of :func:`read_idx`."""
    array = np.asarray(array)
    code = _code_for(array.dtype)
    if array.ndim > 255:
        raise ValueError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"IDX dimensions must be < 2**32, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    return header + body


def write_idx(path: PathLike, array: np.ndarray, gzip: bool = False) -> Path:
    """Write ``array`` to ``path`` as an IDX file, gzip-compressed if ``gzip``.

    The dtype must be one IDX can hold (uint8, int8, int16, int32, float32,
    float64). The file name is used as given: add ``.gz`` yourself if you want
    the conventional name. Returns the path written.
    """
    payload = encode_idx(array)
    if gzip:
        # mtime=0 makes the output byte-for-byte reproducible.
        payload = _gzip.compress(payload, compresslevel=6, mtime=0)
    out = Path(path)
    out.write_bytes(payload)
    return out
