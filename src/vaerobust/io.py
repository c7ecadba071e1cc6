"""Run-directory files, all written through a temporary file and an atomic rename.

A killed process leaves the previous good file, never half of one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors.torch import load_file
from safetensors.torch import save as st_save
from torch import nn


class RunDirError(RuntimeError):
    """A run directory is missing, incomplete or corrupt; stated in one line."""


def _atomic_write(path: Path, write: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n")


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path} is not valid JSON ({e.__class__.__name__}: {e})") from None


def append_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with open(path, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a kill: keep what came before
    return rows


def save_weights(path: Path, module: nn.Module) -> None:
    """Weights as safetensors (never a pickled module)."""
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    write_bytes(path, st_save(state))


def load_weights(path: Path, module: nn.Module) -> nn.Module:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing: the run has no saved weights (was it trained to the end?)")
    try:
        state = load_file(str(path))
    except Exception as e:  # safetensors raises several types for a corrupt header
        raise RunDirError(f"{path} is corrupt or not a safetensors file ({e})") from None
    missing = set(module.state_dict()) - set(state)
    if missing:
        raise RunDirError(f"{path} lacks weights {sorted(missing)[:3]}: does it belong to another network?")
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise RunDirError(f"{path} does not fit the network of model.json: {str(e).splitlines()[0]}") from None
    return module


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(path, buf.getvalue())


def torch_save(path: Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RunDirError(f"{path} is corrupt ({e.__class__.__name__}): delete it to start over") from None
