"""Configuration: frozen dataclasses, YAML in, resolved YAML out, dotted overrides.

Every setting of a run lives here, so a run directory's ``config.yaml`` is enough to
rebuild it. Values the thesis does not pin down (PROTOCOL.md's **[assumption]** marks)
are ordinary fields with the assumed value as default, and the report prints them.

Overrides use dotted keys, ``train.steps=2000``; values are parsed as YAML scalars and
checked against the field's type. A typo or a wrongly typed value gives a one-line
:class:`ConfigError` naming the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml

C = TypeVar("C")


class ConfigError(ValueError):
    """A configuration problem, stated in one line."""


# --------------------------------------------------------------------------- components


def _check(section: str, **conditions: tuple[object, bool, str]) -> None:
    """Raise a one-line ConfigError for the first setting whose condition is False."""
    for key, (value, ok, expected) in conditions.items():
        if not ok:
            raise ConfigError(f"{section}.{key} = {value!r}: expected {expected}")


@dataclass(frozen=True)
class DataConfig:
    """Which images a run trains on (PROTOCOL §1)."""

    name: str = "mnist"  # a registered dataset: mnist, synthetic
    image_size: int = 32  # 28x28 MNIST is resized bilinearly to image_size x image_size
    root: str | None = None  # a folder of IDX files the user supplies (else the source chain)


@dataclass(frozen=True)
class ModelConfig:
    """The VAE network and its latent specification (PROTOCOL §2)."""

    arch: str = "conv32"  # registered encoder/decoder pair
    gaussian_dims: int = 10  # dimensions of the diagonal Gaussian z
    categorical: tuple[int, ...] = (10,)  # one entry per categorical variable: its class count
    hidden: int = 128  # width of the dense layer on each side

    def __post_init__(self) -> None:
        _check(
            "model",
            gaussian_dims=(self.gaussian_dims, self.gaussian_dims >= 0, "an integer >= 0"),
            categorical=(list(self.categorical), all(k >= 2 for k in self.categorical), "class counts >= 2"),
            hidden=(self.hidden, self.hidden >= 1, "an integer >= 1"),
        )
        if self.gaussian_dims == 0 and not self.categorical:
            raise ConfigError("model has no latent variable: expected gaussian_dims > 0 or a categorical")


@dataclass(frozen=True)
class ObjectiveConfig:
    """The training objective (PROTOCOL §3); ``name`` picks a registered objective.

    - ``elbo``: recon + beta * (KL_gauss + KL_cat)           (beta = 1: plain VAE)
    - ``beta_vae``: the same with the beta-VAE's beta > 1 (Higgins et al. 2017)
    - ``capacity``: recon + gamma * |KL_gauss + KL_cat - C(t)|   (Burgess et al. 2018)
    - ``jointvae``: recon + gamma * |KL_gauss - C_z(t)| + gamma * |KL_cat - C_c(t)|  (Dupont 2018)
    - ``beta_tcvae``: recon + mi_weight * MI + beta * TC + dim_kl_weight * dim-KL (+ KL_cat)
      (Chen et al. 2018: alpha = ``mi_weight``, beta = ``beta``, gamma = ``dim_kl_weight``)
    - ``factor_vae``: recon + KL_gauss + KL_cat + gamma * TC, TC by a discriminator
      (Kim & Mnih 2018; ``disc_*`` configure the discriminator and its Adam)
    - ``dip_vae``: recon + KL_gauss + KL_cat + lambda_od * sum offdiag(Cov)^2
      + lambda_d * sum (diag(Cov) - 1)^2, Cov = Cov[mu] (``dip_type`` i) or
      E[diag sigma^2] + Cov[mu] (ii)  (Kumar et al. 2018)
    C(t) rises linearly from 0 to ``capacity_max`` over ``capacity_steps`` and is then held.
    ``dataset_size`` is beta-TCVAE's N (minibatch-weighted sampling); null = the size of the
    training set, which the trainer passes to the objective.
    """

    name: str = "elbo"
    beta: float = 1.0  # KL weight (elbo, beta_vae); TC weight (beta_tcvae)
    gamma: float = 30.0  # capacity / jointvae weight; TC weight (factor_vae)
    capacity_max: float = 5.0  # nats, Gaussian (or total) capacity
    capacity_steps: int = 100_000
    cat_capacity_max: float | None = None  # nats, categorical capacity; None = capacity_max
    cat_capacity_steps: int | None = None  # None = capacity_steps
    mi_weight: float = 1.0  # beta_tcvae: weight of the index-code mutual information (Chen's alpha)
    dim_kl_weight: float = 1.0  # beta_tcvae: weight of the dimension-wise KL (Chen's gamma)
    dataset_size: int | None = None  # beta_tcvae: N of minibatch-weighted sampling; None = training set size
    disc_hidden: int = 1000  # factor_vae: discriminator width (Kim & Mnih: 1000)
    disc_layers: int = 6  # factor_vae: discriminator hidden layers (Kim & Mnih: 6)
    disc_lr: float = 1e-4  # factor_vae: discriminator Adam learning rate (Kim & Mnih: 1e-4)
    disc_betas: tuple[float, ...] = (0.5, 0.9)  # factor_vae: discriminator Adam betas (Kim & Mnih)
    lambda_od: float = 10.0  # dip_vae: weight of the off-diagonal penalty
    lambda_d: float = 100.0  # dip_vae: weight of the diagonal penalty (paper: 10 * lambda_od for i, lambda_od for ii)
    dip_type: str = "i"  # dip_vae: "i" (Cov[mu]) or "ii" (E[diag sigma^2] + Cov[mu])

    def __post_init__(self) -> None:
        _check(
            "objective",
            beta=(self.beta, self.beta >= 0, "a number >= 0"),
            gamma=(self.gamma, self.gamma >= 0, "a number >= 0"),
            capacity_max=(self.capacity_max, self.capacity_max >= 0, "a number of nats >= 0"),
            capacity_steps=(self.capacity_steps, self.capacity_steps >= 0, "an integer >= 0"),
            mi_weight=(self.mi_weight, self.mi_weight >= 0, "a number >= 0"),
            dim_kl_weight=(self.dim_kl_weight, self.dim_kl_weight >= 0, "a number >= 0"),
            dataset_size=(self.dataset_size, self.dataset_size is None or self.dataset_size >= 1,
                          "null (the training set size) or an integer >= 1"),
            disc_hidden=(self.disc_hidden, self.disc_hidden >= 1, "an integer >= 1"),
            disc_layers=(self.disc_layers, self.disc_layers >= 1, "an integer >= 1"),
            disc_lr=(self.disc_lr, self.disc_lr > 0, "a number > 0"),
            disc_betas=(list(self.disc_betas), len(self.disc_betas) == 2 and all(0 <= b < 1 for b in self.disc_betas),
                        "two numbers in [0, 1), e.g. [0.5, 0.9]"),
            lambda_od=(self.lambda_od, self.lambda_od >= 0, "a number >= 0"),
            lambda_d=(self.lambda_d, self.lambda_d >= 0, "a number >= 0"),
            dip_type=(self.dip_type, self.dip_type in ("i", "ii"), "one of: i, ii"),
        )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of a VAE (PROTOCOL §3: Adam 1e-4, batch 64, 100k iterations)."""

    steps: int = 100_000
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.0  # L2 penalty through Adam's weight_decay (entangled_wd: 1e-4)
    temperature: float = 0.67  # Concrete relaxation temperature [assumption: Dupont's 0.67]
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 2_000

    def __post_init__(self) -> None:
        _check(
            "train",
            steps=(self.steps, self.steps >= 1, "an integer >= 1"),
            batch_size=(self.batch_size, self.batch_size >= 1, "an integer >= 1"),
            lr=(self.lr, self.lr > 0, "a number > 0"),
            weight_decay=(self.weight_decay, self.weight_decay >= 0, "a number >= 0"),
            temperature=(self.temperature, self.temperature > 0, "a number > 0"),
            log_every=(self.log_every, self.log_every >= 1, "an integer >= 1"),
            checkpoint_every=(self.checkpoint_every, self.checkpoint_every >= 1, "an integer >= 1"),
        )


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one trained VAE."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class ClassifierConfig:
    """The judge classifier's training (PROTOCOL §4: SGD 0.01, momentum 0.5, 10 epochs)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.5
    seed: int = 0
    max_steps: int | None = None  # stop early after this many steps (smoke runs)

    def __post_init__(self) -> None:
        _check(
            "classifier",
            epochs=(self.epochs, self.epochs >= 1, "an integer >= 1"),
            batch_size=(self.batch_size, self.batch_size >= 1, "an integer >= 1"),
            lr=(self.lr, self.lr > 0, "a number > 0"),
            momentum=(self.momentum, 0 <= self.momentum < 1, "a number in [0, 1)"),
            max_steps=(self.max_steps, self.max_steps is None or self.max_steps >= 1, "null or an integer >= 1"),
        )


@dataclass(frozen=True)
class JudgeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)


@dataclass(frozen=True)
class AttackConfig:
    """An attack's objective, threat model and optimiser (PROTOCOL §5; the suite in ``attacks/``).

    The defaults are the thesis's latent attack exactly: Adam, one run, deterministic codes,
    every step taken. ``name`` picks a registered attack (latent, output, kl, unsupervised,
    classifier).
    """

    name: str = "latent"
    eps: float = 0.1  # L-inf radius around the source, intersected with [0, 1]
    lam: float = 1.0  # weight of ||x_adv - x_s||_2 in the loss
    steps: int = 1000
    lr: float = 1e-3  # Adam's learning rate, or the signed step's size
    noise_std: float = 0.2  # initial Gaussian noise added to the source
    l2_eps: float | None = None  # L2 radius around the source, projected onto after the box; None = none
    optimizer: str = "adam"  # "adam" (the thesis) or "sign" (PGD-style x -= lr * sign(grad))
    restarts: int = 1  # runs from fresh start noise (the first from the given noise); per example the lowest final loss is kept
    samples: int = 1  # posterior draws the loss is averaged over; 1 = the deterministic code
    record_trace: bool = False  # keep the per-step mean loss as ``attack.trace`` [steps]
    symmetric: bool = False  # kl / unsupervised: KL(q_adv || q_ref) + KL(q_ref || q_adv)
    early_stop: bool = False  # stop an example after ``patience`` steps without relative improvement > min_delta
    patience: int = 10  # 10 / 3e-3: measured on the quick sweep (README, "Early stopping")
    min_delta: float = 3e-3  # relative improvement that counts (early stopping)
    channels_last: bool = True  # 4-D weights in NHWC layout during the attack: speed only, same maths

    def __post_init__(self) -> None:
        _check(
            "attack",
            eps=(self.eps, self.eps >= 0, "a number >= 0"),
            lam=(self.lam, self.lam >= 0, "a number >= 0"),
            steps=(self.steps, self.steps >= 0, "an integer >= 0"),
            lr=(self.lr, self.lr > 0, "a number > 0"),
            noise_std=(self.noise_std, self.noise_std >= 0, "a number >= 0"),
            l2_eps=(self.l2_eps, self.l2_eps is None or self.l2_eps > 0, "null (no L2 budget) or a number > 0"),
            optimizer=(self.optimizer, self.optimizer in ("adam", "sign"), "one of: adam, sign"),
            restarts=(self.restarts, self.restarts >= 1, "an integer >= 1"),
            samples=(self.samples, self.samples >= 1, "an integer >= 1"),
            patience=(self.patience, self.patience >= 1, "an integer >= 1"),
            min_delta=(self.min_delta, self.min_delta >= 0, "a number >= 0"),
        )


@dataclass(frozen=True)
class SweepConfig:
    """Which (source, target) pairs are attacked and how they are batched (PROTOCOL §6)."""

    classes: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
    pairs: str = "all"  # "all" ordered pairs of ``classes``, or a list such as "1-7,3-8"
    per_pair: int | None = None  # cap on images per ordered pair; None = all test images
    seed: int = 0  # shuffles the test images of each class before pairing
    batch_size: int = 1024  # pairs attacked together

    def __post_init__(self) -> None:
        _check(
            "sweep",
            classes=(list(self.classes), len(set(self.classes)) == len(self.classes) >= 2, "at least two distinct classes"),
            per_pair=(self.per_pair, self.per_pair is None or self.per_pair >= 1, "null (all) or an integer >= 1"),
            batch_size=(self.batch_size, self.batch_size >= 1, "an integer >= 1"),
        )


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: several VAEs built from one base, one judge, one attack sweep.

    ``models`` maps a model name to dotted overrides of ``base`` (e.g.
    ``{"objective.name": "jointvae"}``).
    """

    name: str = "study"
    base: RunConfig = field(default_factory=RunConfig)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    quick: dict[str, Any] = field(default_factory=dict)  # dotted overrides for --quick

    def run_config(self, model: str) -> RunConfig:
        """The resolved RunConfig of one of the study's models."""
        if model not in self.models:
            known = ", ".join(self.models) or "(none)"
            raise ConfigError(f"unknown model {model!r} in study {self.name!r}; expected one of: {known}")
        return apply_overrides(self.base, self.models[model])


# --------------------------------------------------------------------------- dict <-> dataclass


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (list -> tuple, int -> float)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} settings, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        elem = args[0] if args else Any
        return tuple(_coerce(v, elem, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
    """Build dataclass ``cls`` from a nested mapping; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            where = f" under {prefix!r}" if prefix else ""
            raise ConfigError(f"unknown config key {key!r}; known keys{where}: {', '.join(sorted(names))}")
        kwargs[k] = _coerce(v, hints[k], key)
    return cls(**kwargs)


def to_dict(cfg: Any) -> Any:
    """A plain nested dict (tuples become lists) ready for YAML or JSON."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def diff_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            out += diff_keys(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [prefix or "(all)"]


def normalized(cls: type, data: Any) -> Any:
    """A saved settings dict rebuilt through ``cls`` and back, so fields added to ``cls`` since
    it was saved take their defaults (a run made before a new setting existed used its default).
    Unreadable data is returned as it was (and will then compare unequal)."""
    if not isinstance(data, Mapping):
        return data
    try:
        return to_dict(from_dict(cls, data))
    except (ConfigError, TypeError):
        return data


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["train.steps=2000", "model.categorical=[10]"]`` -> ``{"train.steps": 2000, ...}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. train.steps=2000")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r}: empty key")
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key] = raw
    return out


def apply_overrides(cfg: C, overrides: Mapping[str, Any] | Sequence[str]) -> C:
    """Return a copy of ``cfg`` with dotted-key overrides applied and type-checked."""
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    data = to_dict(cfg)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
                raise ConfigError(f"unknown config key {dotted!r}: {'.'.join(parts[: i + 1])!r} is not a section")
            node = node[part]
        if parts[-1] not in node and not _is_free_dict(cfg, parts[:-1]):
            known = ", ".join(sorted(node)) if isinstance(node, dict) else ""
            raise ConfigError(f"unknown config key {dotted!r}; known keys here: {known}")
        node[parts[-1]] = value
    return from_dict(type(cfg), data)


def _is_free_dict(cfg: Any, path: list[str]) -> bool:
    """True where ``path`` names a ``dict[str, Any]`` field (any key is allowed there)."""
    node = cfg
    for part in path:
        if not dataclasses.is_dataclass(node):
            return isinstance(node, dict)
        node = getattr(node, part, None)
    return isinstance(node, dict)


# --------------------------------------------------------------------------- YAML files


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {str(e).splitlines()[0]}") from None
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


def preset_names() -> list[str]:
    folder = resources.files("vaerobust.experiments") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_study(name_or_path: str) -> StudyConfig:
    """A study preset by name (``sootla2018``) or a YAML file path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        return from_dict(StudyConfig, load_yaml(p))
    folder = resources.files("vaerobust.experiments") / "presets"
    f = folder / f"{name_or_path}.yaml"
    if not f.is_file():
        raise ConfigError(f"unknown preset {name_or_path!r}; expected one of: {', '.join(preset_names())}")
    return from_dict(StudyConfig, yaml.safe_load(f.read_text()) or {})


def resolve_preset(spec: str, quick: bool = False) -> RunConfig:
    """``sootla2018/disentangled`` -> that model's RunConfig (``--quick`` budgets if asked)."""
    if "/" not in spec:
        raise ConfigError(f"preset {spec!r}: expected STUDY/MODEL, e.g. sootla2018/disentangled")
    study_name, model = spec.split("/", 1)
    study = load_study(study_name)
    if quick:
        study = apply_overrides(study, study.quick)
    return study.run_config(model)
