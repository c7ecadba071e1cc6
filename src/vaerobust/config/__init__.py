"""Configuration: frozen dataclasses, YAML in, resolved YAML out, dotted overrides.

- :mod:`~vaerobust.config.schema`: the settings of every component (one class per objective);
- :mod:`~vaerobust.config.coerce`: dict <-> dataclass, dotted overrides, the range checks;
- :mod:`~vaerobust.config.presets`: the packaged study presets and YAML files.

Overrides use dotted keys, ``train.steps=2000``; values are parsed as YAML scalars and
checked against the field's type and range. A typo or a bad value gives a one-line
:class:`ConfigError` naming the key and what was expected.
"""

from vaerobust.config.coerce import (
    apply_overrides,
    diff_keys,
    flatten,
    from_dict,
    normalized,
    parse_overrides,
    to_dict,
    upgrade_legacy,
)
from vaerobust.config.presets import dump_yaml, load_study, load_yaml, preset_names, resolve_preset
from vaerobust.config.schema import (
    OBJECTIVE_SETTINGS,
    AttackConfig,
    BetaTCVAEConfig,
    BetaVAEConfig,
    CapacityConfig,
    ClassifierConfig,
    DataConfig,
    DIPVAEConfig,
    ELBOConfig,
    FactorVAEConfig,
    JointVAEConfig,
    JudgeConfig,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    StudyConfig,
    SweepConfig,
    TrainConfig,
    objective_config,
)
from vaerobust.errors import ConfigError

__all__ = [
    "OBJECTIVE_SETTINGS", "AttackConfig", "BetaTCVAEConfig", "BetaVAEConfig", "CapacityConfig", "ClassifierConfig",
    "ConfigError", "DIPVAEConfig", "DataConfig", "ELBOConfig", "FactorVAEConfig", "JointVAEConfig", "JudgeConfig",
    "ModelConfig", "ObjectiveConfig", "RunConfig", "StudyConfig", "SweepConfig", "TrainConfig", "apply_overrides",
    "diff_keys", "dump_yaml", "flatten", "from_dict", "load_study", "load_yaml", "normalized", "objective_config",
    "parse_overrides", "preset_names", "resolve_preset", "to_dict", "upgrade_legacy",
]
