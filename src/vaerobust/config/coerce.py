"""dict <-> frozen dataclass, dotted overrides, and the one check of every setting's value.

A settings class is a frozen dataclass deriving from :class:`Checked`; its fields are
declared with :func:`setting`, which records the allowed range. Construction checks every
field (:func:`validate`): floats must be finite, numbers must lie in their range, strings in
their choices. A failure is a one-line :class:`~vaerobust.errors.ConfigError` naming the
dotted key, the value and what was expected, e.g.
``train.lr = inf: expected a finite number > 0``. Built from YAML under a prefix (a study's
``base.train``), the key carries the prefix.

A *tagged union* is a settings base class with a ``VARIANTS`` registry (the objectives): a
mapping is built into the variant its ``name`` selects, and switching ``name`` with an
override starts the section from that variant's defaults.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import yaml

from vaerobust.errors import ConfigError, UnknownNameError

C = TypeVar("C")


# --------------------------------------------------------------------------- ranges


@dataclass(frozen=True)
class Range:
    """What a numeric or string setting may hold; ``expected`` overrides the generated text."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] | None = None
    expected: str | None = None

    def ok(self, v: Any) -> bool:
        if self.choices is not None:
            return v in self.choices
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return True  # a non-number here is a type error, caught by the coercion
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))

    def text(self, kind: str) -> str:
        if self.expected:
            return self.expected
        if self.choices is not None:
            return "one of: " + ", ".join(self.choices)
        def n(v: float) -> str:
            return str(v) if isinstance(v, int) else f"{v:g}"
        lo = (f">= {n(self.ge)}" if self.ge is not None else f"> {n(self.gt)}" if self.gt is not None else None)
        hi = (f"<= {n(self.le)}" if self.le is not None else f"< {n(self.lt)}" if self.lt is not None else None)
        if self.ge is not None and self.le is not None:
            return f"{kind} in [{n(self.ge)}, {n(self.le)}]"
        return " and ".join([kind + " " + lo] + ([hi] if hi else [])) if lo else (f"{kind} {hi}" if hi else kind)


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
            choices: Sequence[str] | None = None, expected: str | None = None) -> Any:
    """A dataclass field with its allowed range (checked by :func:`validate`)."""
    rng = Range(ge, gt, le, lt, tuple(choices) if choices is not None else None, expected)
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata={"range": rng})
    return field(default=default, metadata={"range": rng})


def _kind(tp: Any) -> str:
    """"a finite number" / "an integer" / ... for a field annotation (Optional unwrapped)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if _is_union(tp) else [tp]
    base = args[0] if args else tp
    if typing.get_origin(base) is tuple:
        return "a list of " + _kind(typing.get_args(base)[0] if typing.get_args(base) else Any)[2:] + "s"
    return {float: "a finite number", int: "an integer", str: "a string", bool: "true or false"}.get(base, "a value")


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _optional(tp: Any) -> bool:
    return _is_union(tp) and type(None) in typing.get_args(tp)


def _finite(v: Any) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, (list, tuple)):
        return all(_finite(x) for x in v)
    return True


class UnknownVariant(ConfigError, UnknownNameError):
    """An unknown name of a tagged-union section (``objective.name``): a setting error and an unknown name."""


class Checked:
    """Mixin of every settings dataclass: its fields are checked on construction.

    ``SECTION`` is the key the class sits under in a run's configuration (``train``); errors
    of a directly constructed object name ``SECTION.field``. :meth:`check` adds checks that
    involve several fields.
    """

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        validate(self)
        self.check()

    def check(self) -> None:
        """Cross-field checks; raise :func:`field_error`."""

    def fail(self, name: str, expected: str) -> None:
        raise field_error(self, name, getattr(self, name, None), expected)


class FieldError(ConfigError):
    """A ConfigError of one field; carries it so a prefix can be added by the caller."""

    def __init__(self, section: str, name: str, value: Any, expected: str) -> None:
        self.section, self.name, self.value, self.expected = section, name, value, expected
        key = f"{section}.{name}" if section else name
        super().__init__(f"{key} = {_show(value)}: expected {expected}")

    def under(self, prefix: str) -> FieldError:
        return FieldError(prefix, self.name, self.value, self.expected)


def _show(v: Any) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, tuple):
        v = list(v)
    return repr(v)


def field_error(obj: Any, name: str, value: Any, expected: str) -> FieldError:
    return FieldError(getattr(obj, "SECTION", ""), name, value, expected)


def validate(obj: Any) -> None:
    """Check every field of a settings dataclass against its type's finiteness and its range."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if v is None:
            continue
        rng: Range | None = f.metadata.get("range")
        kind = _kind(hints.get(f.name, Any))
        null = "null or " if _optional(hints.get(f.name)) else ""
        if not _finite(v):
            raise field_error(obj, f.name, v, null + (rng.text(kind) if rng else kind))
        if rng is not None:
            items = list(v) if isinstance(v, (list, tuple)) else [v]
            if not all(rng.ok(x) for x in items):
                raise field_error(obj, f.name, v, null + rng.text(kind))


# --------------------------------------------------------------------------- dict <-> dataclass


def variant_of(tp: Any, value: Mapping[str, Any], key: str) -> type:
    """The variant of tagged union ``tp`` that ``value['name']`` selects."""
    name = value.get("name", tp.DEFAULT)
    if not isinstance(name, str):
        raise ConfigError(f"{key}.name: expected a string, got {_show(name)}")
    if name not in tp.VARIANTS:
        known = ", ".join(tp.VARIANTS.names())
        raise UnknownVariant(f"{key}.name = {_show(name)}: unknown {tp.VARIANTS.kind}; expected one of: {known}")
    return tp.VARIANTS.get(name)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (list -> tuple, int -> float)."""
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except FieldError:
                raise
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {'null or ' if type(None) in args else ''}"
                          f"{_kind([a for a in args if a is not type(None)][0])}, got {_show(value)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} settings, got {_show(value)}")
        return from_dict(tp, value, prefix=key)
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {_show(value)}")
        elem = args[0] if args else Any
        return tuple(_coerce(v, elem, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {_show(value)}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {_show(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {_show(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {_show(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {_show(value)}")
    return value


def from_dict(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
    """Build dataclass ``cls`` from a nested mapping; unknown keys and bad values are one-line errors.

    ``cls`` a tagged-union base (it defines ``VARIANTS``): the variant ``data['name']`` selects.
    """
    if "VARIANTS" in vars(cls):
        cls = variant_of(cls, data, prefix or getattr(cls, "SECTION", ""))
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            where = f" of {cls.name!r}" if getattr(cls, "VARIANT", False) else (f" under {prefix!r}" if prefix else "")
            raise ConfigError(f"unknown config key {key!r}; known keys{where}: {', '.join(sorted(names))}")
        kwargs[k] = _coerce(v, hints[k], key)
    try:
        return cls(**kwargs)
    except FieldError as e:
        raise (e.under(prefix) if prefix else e) from None


def to_dict(cfg: Any) -> Any:
    """A plain nested dict (tuples become lists) ready for YAML or JSON."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{"train.steps": 100000, ...}`` (dotted keys to leaves)."""
    if not isinstance(d, Mapping):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, Mapping) else {key: v})
    return out


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
        return to_dict(from_dict(cls, upgrade_legacy(cls, data)))
    except (ConfigError, UnknownNameError, TypeError):
        return data


def upgrade_legacy(cls: type, data: Any) -> Any:
    """Saved settings of an older version, in today's form (for reading run folders only).

    A tagged-union section saved flat, with every variant's keys (vaerobust 0.1.0 kept one
    objective class with all objectives' settings), keeps only the keys of its variant: the
    others (listed in the base's ``LEGACY_KEYS``) had no effect on that run.
    """
    if not isinstance(data, Mapping) or not dataclasses.is_dataclass(cls):
        return data
    if "VARIANTS" in vars(cls):
        name = data.get("name", cls.DEFAULT)
        if name not in cls.VARIANTS:
            return data
        own = {f.name for f in dataclasses.fields(cls.VARIANTS.get(name))}
        legacy = getattr(cls, "LEGACY_KEYS", frozenset())
        return {k: v for k, v in data.items() if k in own or k not in legacy}
    hints = typing.get_type_hints(cls)
    out = dict(data)
    for f in dataclasses.fields(cls):
        tp = hints.get(f.name)
        if f.name in out and dataclasses.is_dataclass(tp):
            out[f.name] = upgrade_legacy(tp, out[f.name])
    return out


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
    """Return a copy of ``cfg`` with dotted-key overrides applied and type-checked.

    Setting the ``name`` of a tagged-union section (``objective.name``) to another variant
    first resets that section to the variant's defaults; the other overrides then apply.
    """
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    data = to_dict(cfg)
    ordered = sorted(overrides.items(), key=lambda kv: not kv[0].endswith(".name"))  # names first
    for dotted, value in ordered:
        parts = dotted.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
                raise ConfigError(f"unknown config key {dotted!r}: {'.'.join(parts[: i + 1])!r} is not a section")
            node = node[part]
        leaf = parts[-1]
        union = _union_base(cfg, parts[:-1])
        if union is not None:
            if leaf == "name":
                if node.get("name") != value:
                    node.clear()  # another variant: start from its defaults
            else:
                known = [f.name for f in dataclasses.fields(variant_of(union, node, ".".join(parts[:-1])))]
                if leaf not in known:
                    raise ConfigError(f"unknown config key {dotted!r}; known keys of {node.get('name')!r}: "
                                      f"{', '.join(sorted(known))}")
        elif leaf not in node and not _is_free_dict(cfg, parts[:-1]):
            known_here = ", ".join(sorted(node)) if isinstance(node, dict) else ""
            raise ConfigError(f"unknown config key {dotted!r}; known keys here: {known_here}")
        node[leaf] = value
    return from_dict(type(cfg), data)


def _section(cfg: Any, path: list[str]) -> Any:
    node = cfg
    for part in path:
        if dataclasses.is_dataclass(node):
            node = getattr(node, part, None)
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def _union_base(cfg: Any, path: list[str]) -> type | None:
    """The tagged-union base class of the section at ``path``, or None if it is not one."""
    if not path:
        return None
    parent = _section(cfg, path[:-1])
    if not dataclasses.is_dataclass(parent):
        return None
    tp = typing.get_type_hints(type(parent)).get(path[-1])
    return tp if dataclasses.is_dataclass(tp) and getattr(tp, "VARIANTS", None) is not None else None


def _is_free_dict(cfg: Any, path: list[str]) -> bool:
    """True where ``path`` names a ``dict[str, Any]`` field (any key is allowed there)."""
    node = cfg
    for part in path:
        if not dataclasses.is_dataclass(node):
            return isinstance(node, dict)
        node = getattr(node, part, None)
    return isinstance(node, dict)


__all__ = ["Checked", "FieldError", "Range", "apply_overrides", "diff_keys", "field_error", "flatten", "from_dict",
           "normalized", "parse_overrides", "setting", "to_dict", "upgrade_legacy", "validate"]
