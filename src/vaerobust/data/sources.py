"""Small helpers shared by the dataset loaders: hashing, atomic writes, the cache
folder, bounded downloads, and the error raised when data cannot be obtained.

Why atomic writes: a cache file is read by later runs without re-checking where
it came from. If a process is killed half-way through writing it, a plain
``open(path, "wb")`` leaves a truncated file under the final name. Writing to a
temporary file in the *same folder* and then calling :func:`os.replace` means
the final name only ever points at a complete file (``os.replace`` is atomic on
one filesystem, on POSIX and Windows alike), and concurrent writers simply race
to install equally complete copies.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import threading
import urllib.request
from pathlib import Path
from typing import Callable, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

#: Environment variable overriding the cache folder.
CACHE_ENV = "VAEROBUST_CACHE"


class DataSourceError(RuntimeError):
    """A dataset could not be obtained (or a source delivered something wrong).

    The message is meant for the person running the program: it says what was
    tried, what went wrong, and how to fix it.
    """


def cache_dir() -> Path:
    """The root cache folder: ``$VAEROBUST_CACHE`` if set (and non-empty), else
    ``~/.cache/vaerobust``. Not created here; writers create what they need."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "vaerobust"


def hash_file(path: PathLike, algorithm: str = "sha256", chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file's bytes with ``algorithm`` (any :mod:`hashlib` name),
    read in chunks so large files need little memory."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: PathLike) -> str:
    """sha256 (hex) of a file's bytes."""
    return hash_file(path, "sha256")


def check_digest(name: str, actual: str, expected: str) -> None:
    """Raise :class:`DataSourceError` unless two hex digests agree (case-insensitively)."""
    if actual.lower() != expected.lower():
        raise DataSourceError(f"checksum mismatch for {name}: expected {expected}, got {actual}")


def _atomic_write(path: PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Create ``path`` atomically: ``write`` fills a temp file beside it, which
    is flushed to disk and renamed over ``path``. The temp file is removed on error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are private (0600), while "xb" (create,
    # fail if it exists) gives the usual umask-based permissions of a cache.
    tmp_name = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp_name, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    return target


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old file or the
    complete new one, never a partial file. Creates parent folders. Returns the path."""
    return _atomic_write(path, lambda f: f.write(data))


def atomic_save_npz(path: PathLike, **arrays: np.ndarray) -> Path:
    """Save ``arrays`` (uncompressed ``.npz``, no pickled objects) atomically to ``path``.

    Writing through a file object keeps numpy from appending ``.npz`` to the
    temp name. Load back with ``np.load(path, allow_pickle=False)``.
    """
    return _atomic_write(path, lambda f: np.savez(f, **arrays))


def fetch_url(
    url: str, timeout: float, *, wall_timeout: float | None = None, max_bytes: int = 64 << 20
) -> bytes:
    """Download ``url`` and return its body, giving up after ``wall_timeout``
    seconds (default: ``timeout``) of wall-clock time whatever the network does.

    ``timeout`` is ``urlopen``'s: it bounds each socket operation (connect, each
    read) but not name resolution (DNS can hang much longer) nor a slow trickle
    of data. So the request runs in a daemon thread, and we stop waiting for it
    at the wall-clock deadline (the thread is abandoned, not killed).

    Raises:
        DataSourceError: on any failure, including the deadline passing and a
            body larger than ``max_bytes``.
    """
    result: dict[str, object] = {}

    def worker() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise DataSourceError(f"{url}: response larger than {max_bytes} bytes")
            result["body"] = body
        except BaseException as exc:  # reported to the caller below
            result["error"] = exc

    thread = threading.Thread(target=worker, name="vaerobust-fetch", daemon=True)
    thread.start()
    wall = timeout if wall_timeout is None else wall_timeout
    thread.join(wall)
    if thread.is_alive():
        raise DataSourceError(f"{url}: no complete answer within {wall:g} s")
    if "error" in result:
        exc = result["error"]
        if isinstance(exc, DataSourceError):
            raise exc
        reason = getattr(exc, "reason", None) or exc
        raise DataSourceError(f"{url}: {type(exc).__name__}: {reason}")
    return result["body"]  # type: ignore[return-value]
