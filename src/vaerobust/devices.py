"""Which torch device a command runs on."""

from __future__ import annotations

import torch

from vaerobust.errors import ConfigError


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda[:N]`` without a GPU is a one-line error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"device {device!r}: expected auto, cpu or cuda[:N]")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but no CUDA device is available; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device {device!r}: expected auto, cpu or cuda[:N]") from None
