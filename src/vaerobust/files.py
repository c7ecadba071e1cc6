"""Writing files so that a killed process, a full disk or a second writer never corrupts them.

- :func:`atomic_write` is the one writer of the package: a temporary file beside the target,
  flushed and fsynced, then renamed over it (``os.replace`` is atomic on one filesystem). A
  killed process leaves the previous good file, never half of one. Files get the normal mode
  for the user's umask (``open(..., "xb")``, not ``mkstemp``'s private 0600).
- Every ``OSError`` of a write (read-only filesystem, full disk, permission, a path component
  that is a file) becomes a one-line :class:`~vaerobust.errors.RunDirError` naming the path;
  the temporary file is removed and the target is left as it was.
- :func:`folder_lock` holds an exclusive ``flock`` on ``<folder>/.lock`` while a process writes
  the folder; a second writer gets a one-line error naming the holder (pid, host, command,
  start time). The kernel drops the lock when the holder dies, so a killed run never leaves a
  stale lock behind; the next holder removes the temporary files a killed writer left.
- JSON is written strictly (NaN and infinities become ``null``), and JSON-lines files are
  rewritten whole through the atomic writer, so no reader ever meets a torn last line.

Used by the run-folder contract (:mod:`vaerobust.rundir`) and the dataset caches.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import errno
import json
import math
import os
import secrets
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vaerobust.errors import FolderBusy, RunDirError

LOCK_NAME = ".lock"

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
}


def os_error(path: Path | str, exc: OSError, doing: str = "write") -> RunDirError:
    """A one-line RunDirError for an OSError met while writing ``path``."""
    reason = _REASONS.get(exc.errno or -1) or exc.strerror or exc.__class__.__name__
    return RunDirError(f"cannot {doing} {path}: {reason}; files already there are unchanged")


def check_folder_path(path: Path | str) -> Path:
    """A one-line RunDirError now if ``path`` (or a folder above it) is a file; creates nothing."""
    path = Path(path)
    for q in (path, *path.parents):
        if q.exists():
            if not q.is_dir():
                where = "" if q == path else f" ({q} is a file)"
                raise RunDirError(f"{path} cannot be an output folder{where}: expected a folder, or a path that "
                                  "does not exist yet")
            break
    return path


def ensure_folder(path: Path | str) -> Path:
    """Create folder ``path`` (and its parents) if needed; a file in its place is a one-line error."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} is a file: expected a folder, or a path that does not exist yet")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunDirError(f"{path}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise os_error(path, exc, "create the folder") from None
    return path


def atomic_write(path: Path | str, write: Callable[[IO[bytes]], Any]) -> Path:
    """Create or replace ``path`` atomically: ``write(f)`` fills a temporary file beside it."""
    path = Path(path)
    ensure_folder(path.parent)
    if path.is_dir():
        raise RunDirError(f"cannot write {path}: it is a folder")
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise os_error(path, exc) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return path


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_bytes(path: Path | str, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: Path | str, text: str) -> Path:
    return write_bytes(path, text.encode())


def jsonable(x: Any) -> Any:
    """NaN and infinities -> None, dataclasses -> dicts, Paths -> str, tuples -> lists, recursively."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", None) == 0:  # numpy / torch scalars
        return jsonable(x.item())
    return x


def dumps_json(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"


def write_json(path: Path | str, obj: Any) -> Path:
    """``obj`` as strict, indented JSON (non-finite numbers are written as null)."""
    return write_text(path, dumps_json(obj))


def read_json(path: Path | str) -> Any:
    """A JSON file; missing or unreadable is a one-line RunDirError naming it."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path} is not valid JSON ({e.__class__.__name__}: {e})") from None
    except OSError as exc:
        raise os_error(path, exc, "read") from None


def read_jsonl(path: Path | str) -> list[dict]:
    """The rows of a JSON-lines file ([] if absent); a torn or bad line (an older writer's) is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def write_jsonl(path: Path | str, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Replace ``path`` by ``rows``, one strict JSON object per line, atomically."""
    text = "".join(json.dumps(jsonable(dict(r)), allow_nan=False) + "\n" for r in rows)
    return write_text(path, text)


def append_jsonl(path: Path | str, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Add ``rows`` to a JSON-lines file by rewriting it atomically (never a torn last line)."""
    rows = list(rows)
    if not rows and Path(path).is_file():
        return Path(path)
    return write_jsonl(path, [*read_jsonl(path), *rows])


# --------------------------------------------------------------------------- folder locks

try:  # POSIX; elsewhere the lock is a no-op (documented in README)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_HELD: dict[Path, list[int]] = {}  # resolved folder -> [fd, depth]: the locks this process holds


def _holder_text(raw: str) -> str:
    try:
        h = json.loads(raw)
        return f"pid {h['pid']} on {h['host']} since {h['since']}: {h['command']}"
    except (ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def folder_lock(folder: Path | str) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed) for the block.

    Re-entrant within one process (a reproduction that locks a model folder the training
    step locks again). A folder locked by another live process is a one-line :class:`FolderBusy`
    (a RunDirError). If the block fails before anything but the lock is in a folder this call
    created, the folder is removed again: a failed command leaves no empty run folder behind.
    """
    folder = Path(folder)
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # made here; removed if left empty
    folder = ensure_folder(folder)
    key = folder.resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield folder
        finally:
            _HELD[key][1] -= 1
        return
    if fcntl is None:  # pragma: no cover
        yield folder
        return
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise os_error(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 4096, 0).decode(errors="replace")
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise FolderBusy(f"{folder} is being written by {_holder_text(holder)}; wait for it to finish "
                              "or use another output folder") from None
        raise os_error(path, exc, "lock") from None
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "since": _dt.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv)) or "python"}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
    except OSError:
        pass  # the holder's description is a courtesy; the flock is what excludes
    _HELD[key] = [fd, 1]
    for stale in folder.glob(".*.tmp"):  # a killed writer's temporary files: nobody else writes here now
        _unlink_quietly(stale)
    failed = True
    try:
        yield folder
        failed = False
    finally:
        del _HELD[key]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        if failed and created and [p.name for p in folder.iterdir()] == [LOCK_NAME]:
            _unlink_quietly(path)  # the command failed before writing anything: leave no trace
            for p in created:
                try:
                    p.rmdir()
                except OSError:
                    break


__all__ = ["LOCK_NAME", "append_jsonl", "atomic_write", "check_folder_path", "dumps_json", "ensure_folder", "folder_lock", "jsonable",
           "os_error", "read_json", "read_jsonl", "write_bytes", "write_json", "write_jsonl", "write_text"]
