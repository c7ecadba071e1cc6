"""``vaerobust presets``: the packaged study presets and their models."""

from __future__ import annotations

from vaerobust.config import load_study, preset_names


def run() -> list[str]:
    """One line per preset: ``name: name/model, ...``."""
    return [f"{name}: {', '.join(f'{name}/{m}' for m in load_study(name).models)}" for name in preset_names()]


__all__ = ["run"]
