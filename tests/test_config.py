"""Configuration: dotted overrides, type checks, YAML round trips, the sootla2018 preset."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import pytest
import yaml

from vaerobust.config import (
    AttackConfig,
    ConfigError,
    RunConfig,
    StudyConfig,
    SweepConfig,
    TrainConfig,
    apply_overrides,
    dump_yaml,
    from_dict,
    load_study,
    load_yaml,
    objective_config,
    parse_overrides,
    preset_names,
    resolve_preset,
    to_dict,
)

# --------------------------------------------------------------------------- overrides


def test_apply_overrides_dotted_keys() -> None:
    cfg = apply_overrides(RunConfig(), ["train.steps=2000", "objective.name=jointvae", "model.categorical=[4, 3]",
                                       "train.lr=1e-3", "data.root=/tmp/mnist"])
    assert cfg.train.steps == 2000
    assert cfg.objective.name == "jointvae"
    assert cfg.model.categorical == (4, 3)  # list -> tuple
    assert cfg.train.lr == pytest.approx(1e-3) and isinstance(cfg.train.lr, float)  # YAML 1.1 "1e-3" string
    assert cfg.data.root == "/tmp/mnist"
    # everything else is untouched
    assert cfg.train.batch_size == RunConfig().train.batch_size
    assert cfg.model.gaussian_dims == RunConfig().model.gaussian_dims


def test_apply_overrides_mapping_and_int_to_float() -> None:
    cfg = apply_overrides(RunConfig(), {"train.weight_decay": 1, "objective.name": "jointvae",
                                        "objective.cat_capacity_max": None})
    assert cfg.train.weight_decay == 1.0 and isinstance(cfg.train.weight_decay, float)
    assert cfg.objective.cat_capacity_max is None


def test_apply_overrides_returns_a_copy() -> None:
    base = RunConfig()
    new = apply_overrides(base, ["train.steps=7"])
    assert base.train.steps == 100_000 and new.train.steps == 7


@pytest.mark.parametrize("key", ["train.stepz", "trian.steps", "model.gaussian_dims.x", "nope"])
def test_unknown_key_is_a_config_error_naming_it(key: str) -> None:
    with pytest.raises(ConfigError) as e:
        apply_overrides(RunConfig(), [f"{key}=3"])
    assert repr(key) in str(e.value) or key in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_key_lists_known_keys() -> None:
    with pytest.raises(ConfigError, match="steps"):
        apply_overrides(RunConfig(), ["train.stepz=3"])


@pytest.mark.parametrize(
    "item, key",
    [
        ("train.steps=abc", "train.steps"),
        ("train.steps=1.5", "train.steps"),
        ("train.steps=true", "train.steps"),
        ("train.lr=fast", "train.lr"),
        ("model.categorical=3", "model.categorical"),
        ("model.categorical=[a]", "model.categorical[0]"),
        ("objective.name=3", "objective.name"),
        ("data=5", "data"),
    ],
)
def test_wrong_type_is_a_config_error(item: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        apply_overrides(RunConfig(), [item])
    msg = str(e.value)
    assert msg.startswith(key + ":") or repr(key) in msg
    assert "expected" in msg and "\n" not in msg


def test_parse_overrides() -> None:
    assert parse_overrides(["a.b=2", "c=[1, 2]", "d=x=y", "e="]) == {"a.b": 2, "c": [1, 2], "d": "x=y", "e": ""}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["train.steps"])
    with pytest.raises(ConfigError, match="empty key"):
        parse_overrides(["=3"])


def test_from_dict_rejects_unknown_key() -> None:
    with pytest.raises(ConfigError, match="'train.bogus'"):
        from_dict(RunConfig, {"train": {"bogus": 1}})


# --------------------------------------------------------------------------- YAML


def test_yaml_round_trip_run_config() -> None:
    cfg = apply_overrides(RunConfig(), ["model.categorical=[10, 3]", "train.lr=3e-4", "objective.name=jointvae",
                                       "objective.cat_capacity_max=2.5", "data.root=/some/where"])
    back = from_dict(RunConfig, yaml.safe_load(dump_yaml(cfg)))
    assert back == cfg


def test_yaml_round_trip_study_preset() -> None:
    study = load_study("sootla2018")
    back = from_dict(StudyConfig, yaml.safe_load(dump_yaml(study)))
    assert back == study
    assert to_dict(back) == to_dict(study)


def test_dump_yaml_extra_section() -> None:
    data = yaml.safe_load(dump_yaml(TrainConfig(), {"meta": {"version": "x"}}))
    assert data["meta"] == {"version": "x"}
    assert data["steps"] == 100_000


def test_load_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(lst)


def test_load_study_from_a_file(tmp_path: Path) -> None:
    p = tmp_path / "mine.yaml"
    p.write_text(dump_yaml(apply_overrides(load_study("sootla2018"), ["name=mine", "sweep.per_pair=3"])))
    study = load_study(str(p))
    assert study.name == "mine" and study.sweep.per_pair == 3


# --------------------------------------------------------------------------- the preset


def test_preset_names() -> None:
    assert "sootla2018" in preset_names()


def test_disentangled_preset() -> None:
    cfg = resolve_preset("sootla2018/disentangled")
    assert cfg.objective.name == "jointvae"
    assert cfg.objective.gamma == 30.0
    assert cfg.objective.capacity_max == 5.0
    assert cfg.objective.capacity_steps == 100_000
    # the shared base: PROTOCOL §2-3
    assert cfg.model.gaussian_dims == 10 and cfg.model.categorical == (10,)
    assert (cfg.train.steps, cfg.train.batch_size, cfg.train.lr) == (100_000, 64, 1e-4)
    assert cfg.train.weight_decay == 0.0
    assert cfg.data.name == "mnist" and cfg.data.image_size == 32


def test_entangled_presets() -> None:
    ent = resolve_preset("sootla2018/entangled")
    wd = resolve_preset("sootla2018/entangled_wd")
    assert ent.objective.name == "elbo" and ent.objective.beta == 1.0 and ent.train.weight_decay == 0.0
    assert wd.objective.name == "elbo" and wd.train.weight_decay == pytest.approx(1e-4)
    # the three models differ only where the protocol says
    assert apply_overrides(wd, ["train.weight_decay=0.0"]) == ent


def test_quick_budgets_are_smaller() -> None:
    for model in ("disentangled", "entangled", "entangled_wd"):
        full, quick = resolve_preset(f"sootla2018/{model}"), resolve_preset(f"sootla2018/{model}", quick=True)
        assert quick.train.steps < full.train.steps
        assert quick.train.checkpoint_every <= quick.train.steps
    q = resolve_preset("sootla2018/disentangled", quick=True)
    # the capacity schedule is shortened with the training, so 5 nats are reached
    assert q.objective.name == "jointvae" and q.objective.capacity_steps <= q.train.steps
    study = load_study("sootla2018")
    qstudy = apply_overrides(study, study.quick)
    assert qstudy.sweep.per_pair is not None and study.sweep.per_pair is None  # all test images -> a few
    assert qstudy.judge.classifier.epochs <= study.judge.classifier.epochs
    assert qstudy.attack.steps <= study.attack.steps


def test_preset_attack_and_sweep_follow_protocol() -> None:
    study = load_study("sootla2018")
    assert study.attack == AttackConfig(name="latent", eps=0.1, lam=1.0, steps=1000, lr=1e-3, noise_std=0.2)
    assert study.sweep.classes == tuple(range(10)) and study.sweep.pairs == "all"
    assert study.judge.classifier.epochs == 10 and study.judge.classifier.lr == 0.01
    assert study.judge.classifier.momentum == 0.5 and study.judge.classifier.batch_size == 64
    assert isinstance(study.sweep, SweepConfig)


def test_unknown_preset_lists_sootla2018() -> None:
    with pytest.raises(ConfigError) as e:
        resolve_preset("nope/disentangled")
    assert "nope" in str(e.value) and "sootla2018" in str(e.value)


def test_unknown_model_of_a_preset() -> None:
    with pytest.raises(ConfigError) as e:
        resolve_preset("sootla2018/nope")
    assert "nope" in str(e.value) and "disentangled" in str(e.value)


def test_preset_spec_needs_a_slash() -> None:
    with pytest.raises(ConfigError, match="STUDY/MODEL"):
        resolve_preset("sootla2018")


def test_study_model_overrides_into_free_dict() -> None:
    study = apply_overrides(load_study("sootla2018"), ["models.mine={objective.name: capacity, train.steps: 9}"])
    cfg = study.run_config("mine")
    assert cfg.objective.name == "capacity" and cfg.train.steps == 9
    bad = apply_overrides(study, ["models.typo={objective.nme: elbo}"])
    with pytest.raises(ConfigError, match="objective.nme"):
        bad.run_config("typo")


# --------------------------------------------------------------------------- every setting, checked


def _settings_classes() -> list[type]:
    import vaerobust.config.schema as schema
    from vaerobust.config.coerce import Checked

    return [c for c in vars(schema).values()
            if isinstance(c, type) and issubclass(c, Checked) and dataclasses.is_dataclass(c) and c is not Checked]


def _float_fields() -> list[tuple[type, str]]:
    out = []
    for cls in _settings_classes():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in (float, float | None):
                out.append((cls, f.name))
    return out


@pytest.mark.parametrize("cls, name", _float_fields(), ids=lambda v: v if isinstance(v, str) else v.__name__)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_every_float_setting_must_be_finite(cls: type, name: str, bad: float) -> None:
    section = cls.SECTION or "x"
    with pytest.raises(ConfigError, match=rf"{section}\.{name} = (nan|inf|-inf): expected .*finite"):
        cls(**{name: bad})
    with pytest.raises(ConfigError, match=rf"^{section}\.{name} = "):  # through YAML text too, naming the key
        from_dict(cls, {name: str(bad)}, prefix=section)


def test_every_objective_has_a_settings_class_and_back() -> None:
    from vaerobust.config import OBJECTIVE_SETTINGS
    from vaerobust.objectives import OBJECTIVES

    assert OBJECTIVE_SETTINGS.names() == OBJECTIVES.names()
    for name in OBJECTIVES.names():
        cfg = objective_config(name)
        assert cfg.name == name and type(cfg) is OBJECTIVE_SETTINGS.get(name)


def test_switching_objective_starts_from_its_defaults_and_rejects_foreign_keys() -> None:
    base = apply_overrides(RunConfig(), ["objective.beta=4"])
    joint = apply_overrides(base, ["objective.name=jointvae", "objective.gamma=7"])
    assert joint.objective == objective_config("jointvae", gamma=7.0)
    with pytest.raises(ConfigError, match=r"'objective.beta'; known keys of 'jointvae'"):
        apply_overrides(base, ["objective.name=jointvae", "objective.beta=2"])


def test_a_flat_objective_section_of_version_0_1_0_is_upgraded() -> None:
    from vaerobust.config import upgrade_legacy

    flat = {"name": "elbo", "beta": 1.0, "gamma": 30.0, "capacity_max": 5.0, "capacity_steps": 100000,
            "cat_capacity_max": None, "cat_capacity_steps": None, "mi_weight": 1.0, "dim_kl_weight": 1.0,
            "dataset_size": None, "disc_hidden": 1000, "disc_layers": 6, "disc_lr": 1e-4, "disc_betas": [0.5, 0.9],
            "lambda_od": 10.0, "lambda_d": 100.0, "dip_type": "i"}
    data = {"objective": flat, "train": {"steps": 5}}
    cfg = from_dict(RunConfig, upgrade_legacy(RunConfig, data))
    assert cfg.objective == objective_config("elbo", beta=1.0) and cfg.train.steps == 5
    with pytest.raises(ConfigError, match="objective.gamma"):  # user input stays strict
        from_dict(RunConfig, data)
