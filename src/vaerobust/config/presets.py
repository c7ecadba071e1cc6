"""Study presets: YAML files that live with their study (``vaerobust/studies/<name>/preset.yaml``).

``load_study("sootla2018")`` reads a packaged preset, ``load_study("my.yaml")`` a file;
``resolve_preset("sootla2018/disentangled")`` is one model's resolved RunConfig.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vaerobust.config.coerce import apply_overrides, from_dict, to_dict
from vaerobust.config.schema import RunConfig, StudyConfig
from vaerobust.errors import ConfigError

STUDIES_FOLDER = "studies"  # vaerobust/studies/<name>/preset.yaml (read as package data, not imported)
PRESET_FILE = "preset.yaml"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file; a missing, unreadable or non-mapping file is a one-line ConfigError."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {str(p)!r} is a folder: expected a YAML file")
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {str(e).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {str(p)!r} cannot be read: {e.__class__.__name__}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r}: expected a mapping at top level")
    return data


def dump_yaml(cfg: Any, extra: Mapping[str, Any] | None = None) -> str:
    data = to_dict(cfg)
    if extra:
        data = {**data, **to_dict(dict(extra))}
    return yaml.safe_dump(data, sort_keys=False)


def _preset_files() -> dict[str, Any]:
    root = resources.files("vaerobust") / STUDIES_FOLDER
    return {p.name: p / PRESET_FILE for p in root.iterdir() if p.is_dir() and (p / PRESET_FILE).is_file()}


def preset_names() -> list[str]:
    """The packaged studies that have a preset."""
    return sorted(_preset_files())


def load_study(name_or_path: str, quick: bool = False) -> StudyConfig:
    """A study preset by name (``sootla2018``) or a YAML file path; ``quick``: with its ``--quick`` budgets."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        study = from_dict(StudyConfig, load_yaml(p))
    else:
        files = _preset_files()
        if name_or_path not in files:
            raise ConfigError(f"unknown preset {name_or_path!r}; expected one of: {', '.join(sorted(files))} "
                              "(or a study YAML file)")
        study = from_dict(StudyConfig, yaml.safe_load(files[name_or_path].read_text()) or {})
    return apply_overrides(study, study.quick) if quick else study


def resolve_preset(spec: str, quick: bool = False) -> RunConfig:
    """``sootla2018/disentangled`` -> that model's RunConfig (``--quick`` budgets if asked)."""
    if "/" not in spec:
        raise ConfigError(f"preset {spec!r}: expected STUDY/MODEL, e.g. sootla2018/disentangled")
    study_name, model = spec.split("/", 1)
    return load_study(study_name, quick=quick).run_config(model)


__all__ = ["dump_yaml", "load_study", "load_yaml", "preset_names", "resolve_preset"]
