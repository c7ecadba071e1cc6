"""Files out of a Debian package (``.deb``) without root and without dpkg.

Debian packages some data sets (``dataset-fashion-mnist``). ``apt-get download NAME`` fetches
the ``.deb`` as any user; installing it needs root, but the files can be read straight out
of it. A ``.deb`` is an ``ar`` archive::

    !<arch>\\n                     the global header (8 bytes)
    then per member: a 60-byte header, ASCII, space-padded:
        name 16 | mtime 12 | uid 6 | gid 6 | mode 8 | size 10 (decimal) | "`\\n"
    then size bytes of data, padded with one "\\n" to an even offset

whose members are ``debian-binary``, ``control.tar.*`` and ``data.tar.*``; the last is a tar
(xz, gzip, bzip2 or uncompressed here; zstd where Python's tarfile reads it, from 3.14) of
the files as installed, relative to ``/``. Nothing is extracted to disk: the wanted members
are read into memory, so no path in the archive can write anywhere.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Union

from vaerobust.data.sources import DataSourceError

PathLike = Union[str, "os.PathLike[str]"]

AR_MAGIC = b"!<arch>\n"
_HEADER_LEN = 60
_HEADER_END = b"`\n"


def ar_members(stream: BinaryIO, label: str) -> Iterator[tuple[str, int]]:
    """Walk an ``ar`` archive: yield each member's name and size, with ``stream`` positioned
    at the start of its data (read it, or not, before asking for the next member).

    Names lose the trailing ``/`` GNU ar writes. Raises :class:`DataSourceError` naming
    ``label`` if the archive is not an ``ar`` archive, or a header or member is cut short.
    """
    total = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if stream.read(len(AR_MAGIC)) != AR_MAGIC:
        raise DataSourceError(f"{label}: not a .deb (ar) archive (expected it to start with {AR_MAGIC!r})")
    offset = len(AR_MAGIC)
    while offset < total:
        stream.seek(offset)
        header = stream.read(_HEADER_LEN)
        if len(header) < _HEADER_LEN or header[58:60] != _HEADER_END:
            raise DataSourceError(f"{label}: truncated or corrupt ar member header at byte {offset}")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise DataSourceError(f"{label}: ar member {name!r} has a malformed size field {header[48:58]!r}") from None
        start = offset + _HEADER_LEN
        if start + size > total:
            raise DataSourceError(f"{label}: ar member {name} is truncated (expected {size} bytes, got {total - start})")
        yield name, size
        offset = start + size + (size % 2)


def _data_tar(stream: BinaryIO, label: str) -> tuple[str, bytes]:
    """The name and bytes of the ``data.tar*`` member of a .deb."""
    for name, size in ar_members(stream, label):
        if name.startswith("data.tar"):
            return name, stream.read(size)
    raise DataSourceError(f"{label}: no data.tar member (expected data.tar.xz, .zst or .gz)")


def read_deb_files(deb: PathLike, paths: Sequence[str]) -> dict[str, bytes]:
    """The contents of the installed files ``paths`` (e.g. ``"usr/share/x/f.gz"``) in a .deb.

    Raises:
        DataSourceError: one line naming the .deb and the problem: not a .deb, a truncated
            or unreadable data tar, or a missing path (all missing ones are named).
    """
    label = Path(deb).name
    try:
        with open(deb, "rb") as stream:
            member, body = _data_tar(stream, label)
    except OSError as exc:
        raise DataSourceError(f"cannot read {deb}: {exc}") from None
    wanted = {p.lstrip("/") for p in paths}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
            for info in tar:
                name = info.name[2:] if info.name.startswith("./") else info.name.lstrip("/")
                if name in wanted and info.isfile():
                    extracted = tar.extractfile(info)
                    assert extracted is not None  # a regular file always has a stream
                    found[name] = extracted.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataSourceError(f"{label}: cannot read {member} ({type(exc).__name__}: {exc}); this Python "
                              f"reads data.tar.xz, .gz and .bz2 (.zst from Python 3.14)") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise DataSourceError(f"{label}: {member} has no {', '.join(missing)}")
    return {p: found[p.lstrip("/")] for p in paths}


__all__ = ["AR_MAGIC", "ar_members", "read_deb_files"]
