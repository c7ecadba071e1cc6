"""The run-folder contract: what a run folder holds, and the one way to read and write it.

A run folder (DESIGN.md, "Run directories")::

    config.yaml        the resolved settings + ``meta`` (kind, version, data hash, study)
    model.json         what rebuilds the network            model.safetensors  its weights
    train_state.pt     optimiser, RNG states and step (exact resume; weights_only loading)
    metrics.jsonl      one line per logging step (rewritten atomically, never torn)
    complete.json      written last: the folder's outputs are final
    .lock              held (flock) while a process writes the folder
    attacks/<id>/      summary.json (:class:`AttackSummary`), examples.csv, samples.npz,
                       curve.json (:class:`CurveRecord`) for strength sweeps

Everything here reads or writes through :mod:`vaerobust.files` (atomic, normal file modes,
one-line errors). :func:`ensure_same_settings` is the one guard that refuses to reuse a
folder made with other settings; :func:`read_config` the one reader of ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
import yaml
from safetensors.torch import load_file
from safetensors.torch import save as st_save
from torch import nn

from vaerobust import __version__, files
from vaerobust.config import diff_keys, dump_yaml, from_dict, normalized, to_dict, upgrade_legacy
from vaerobust.devices import resolve_device
from vaerobust.errors import ConfigError, RunDirError, UserError
from vaerobust.files import folder_lock, read_json, write_json, write_text

C = TypeVar("C")

COMPLETE = "complete.json"
CONFIG = "config.yaml"

__all__ = [
    "COMPLETE", "CONFIG", "AttackSummary", "CurveRecord", "RunDirError", "already_done", "claim", "ensure_same_settings",
    "folder_lock",
    "is_complete", "load_classifier", "load_train_state", "load_vae", "load_weights",
    "mark_complete", "read_config", "read_curve", "read_meta", "read_model_json", "read_summary",
    "require_complete", "resolve_device", "save_weights", "torch_save", "write_config", "JudgeEval", "read_judge_eval",
    "read_run_config", "read_saved",
]


# --------------------------------------------------------------------------- completion


def is_complete(folder: Path | str) -> bool:
    return (Path(folder) / COMPLETE).is_file()


def mark_complete(folder: Path | str, **info: Any) -> None:
    """Write ``complete.json`` (last): the folder's outputs are final."""
    write_json(Path(folder) / COMPLETE, {"version": __version__, **info})


def require_complete(folder: Path | str, what: str, hint: str) -> None:
    """A one-line RunDirError unless ``folder`` holds a finished ``what``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RunDirError(f"{folder} does not exist: expected a {what} folder")
    if not is_complete(folder):
        raise RunDirError(f"{folder} holds an unfinished {what} (no {COMPLETE}); {hint}")


# --------------------------------------------------------------------------- config.yaml


def write_config(folder: Path | str, cfg: Any, kind: str, **meta: Any) -> Path:
    """``config.yaml``: the resolved settings and a ``meta`` section (kind, version, ``meta``)."""
    return write_text(Path(folder) / CONFIG, dump_yaml(cfg, {"meta": {"kind": kind, "version": __version__, **meta}}))


def read_saved(path: Path | str) -> Any:
    """A saved YAML or JSON file as plain data ({} if absent); unreadable is a one-line RunDirError."""
    path = Path(path)
    return _load_saved(path) if path.is_file() else {}


def _load_saved(path: Path) -> Any:
    try:
        text = path.read_text()
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError):
        raise RunDirError(f"{path} is corrupt; delete {path.parent} to start over") from None
    except OSError as exc:
        raise files.os_error(path, exc, "read") from None


def read_meta(folder: Path | str) -> dict[str, Any]:
    """The ``meta`` section of a folder's ``config.yaml`` ({} if absent)."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        return {}
    data = _load_saved(path)
    meta = data.get("meta") if isinstance(data, dict) else None
    return meta if isinstance(meta, dict) else {}  # a malformed meta section is no provenance


def read_config(path: Path | str, cls: type[C]) -> C:
    """The settings saved in a ``config.yaml`` (a file or its folder), as ``cls``; meta dropped.

    Settings saved by an older version are upgraded first (:func:`~vaerobust.config.upgrade_legacy`).
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        if path.exists() and not path.is_dir():
            raise RunDirError(f"{path} is a file: expected a run folder")
        if not path.is_dir():
            raise RunDirError(f"run directory {str(path)!r} does not exist")
        path = path / CONFIG
    if not path.is_file():
        raise RunDirError(f"{path} is missing: expected the settings of a vaerobust run")
    data = _load_saved(path)
    if not isinstance(data, dict):
        raise RunDirError(f"{path} is corrupt: expected a mapping of settings")
    data = {k: v for k, v in data.items() if k != "meta"}
    try:
        return from_dict(cls, upgrade_legacy(cls, data))
    except UserError as e:
        raise RunDirError(f"{path} does not hold valid settings ({e})") from None


def read_run_config(run_dir: Path | str) -> Any:
    """The settings a VAE run folder was trained with (its ``config.yaml`` as a RunConfig)."""
    from vaerobust.config import RunConfig

    return read_config(Path(run_dir), RunConfig)


# --------------------------------------------------------------------------- the settings guard


def _plain(v: Any) -> Any:
    return json.loads(files.dumps_json(to_dict(v)))


def ensure_same_settings(saved: Path | str, requested: Any, what: str, ignore: tuple[str, ...] = ("meta",)) -> None:
    """Refuse to reuse a folder whose saved settings differ from the requested ones.

    ``saved``: a YAML or JSON file (absent: nothing to compare). ``requested``: a settings
    dataclass (the whole file) or a mapping of sections, each a settings dataclass or a plain
    JSON value. Saved sections are rebuilt through their classes first, so a setting added
    since the folder was written compares at its default. Keys in ``ignore`` are not compared.
    Nothing is written; the error names the differing keys.
    """
    saved = Path(saved)
    files.check_folder_path(saved.parent)  # an output "folder" that is a file fails here, before any work
    if not saved.is_file():
        return
    old = _load_saved(saved)
    if not isinstance(old, dict):
        raise RunDirError(f"{saved} is corrupt; delete {saved.parent} to start over")
    if dataclasses.is_dataclass(requested) and not isinstance(requested, type):
        sections: Mapping[str, Any] = {"": requested}
        old = {"": {k: v for k, v in old.items() if k not in ignore}}
        keys = set(sections) | set(old)
    else:
        sections = requested
        keys = set(sections)  # a file holding more (a summary's results) is compared on these sections
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    for key in sorted(keys):
        if key in ignore:
            continue
        want = sections.get(key)
        have = old.get(key)
        if dataclasses.is_dataclass(want):
            a[key] = {k: v for k, v in _plain(normalized(type(want), have)).items() if k not in ignore} \
                if isinstance(have, dict) else _plain(have)
            b[key] = {k: v for k, v in _plain(want).items() if k not in ignore}
        else:
            a[key], b[key] = _plain(have), _plain(want)
    diff = diff_keys(a, b)
    if diff:
        shown = ", ".join(d.lstrip(".") or "(all)" for d in diff[:5]) + (" ..." if len(diff) > 5 else "")
        article = "an" if what[:1].lower() in "aeiou" else "a"
        raise ConfigError(f"{saved.parent} holds {article} {what} made with other settings ({shown}); "
                          "use another output folder or delete that one")


# --------------------------------------------------------------------------- the recipes' prologue


def already_done(out: Path | str, saved: Path | str | tuple[Path, ...], requested: Any, what: str,
                 ignore: tuple[str, ...] = ("meta",)) -> bool:
    """Refuse a folder whose saved settings (``saved``: one file or several) differ from ``requested``;
    True if its outputs are already final (the recipe has nothing to do). Writes nothing."""
    for f in (saved if isinstance(saved, tuple) else (saved,)):
        ensure_same_settings(f, requested, what, ignore)
    return is_complete(out)


@contextmanager
def claim(out: Path | str, saved: Path | str | tuple[Path, ...], requested: Any, what: str,
          ignore: tuple[str, ...] = ("meta",)) -> Iterator[bool]:
    """Hold ``out``'s lock for the block and yield whether there is work to do: the settings are
    checked again under the lock, and a folder another process finished meanwhile yields False."""
    with folder_lock(out):
        yield not already_done(out, saved, requested, what, ignore)


# --------------------------------------------------------------------------- typed records


def _need(path: Path, obj: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(obj, dict):
        raise RunDirError(f"{path} is corrupt: {where or 'the file'} is not a JSON object")
    for k in keys:
        if k not in obj:
            raise RunDirError(f"{path} is corrupt: it lacks '{where + '.' if where else ''}{k}' "
                              "(expected the summary written by vaerobust's attack sweep)")


def _numbers(path: Path, values: list[Any], where: str) -> None:
    if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        raise RunDirError(f"{path} is corrupt: {where} holds something other than numbers and nulls")


def _square(path: Path, m: Any, k: int, where: str) -> None:
    if not (isinstance(m, list) and len(m) == k and all(isinstance(r, list) and len(r) == k for r in m)):
        raise RunDirError(f"{path} is corrupt: {where} is not a {k}x{k} matrix")


@dataclass(frozen=True)
class AttackSummary:
    """``summary.json`` of one attack sweep: its settings, provenance, counts and success tables.

    ``results`` is :meth:`vaerobust.metrics.robustness.SuccessTable.to_json`: ``classes``,
    ``n_pairs_total``, ``n_kept`` and, per measure ``ignore`` / ``target``, the matrices
    ``hits``, ``rate``, ``ci_low``, ``ci_high`` [source][target], the marginals and ``overall``.
    Rates are fractions; empty cells are null.
    """

    results: dict[str, Any]
    n_pairs_formed: int | None = None
    n_attacked: int | None = None
    clean_recon_accuracy: float | None = None
    attack: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    data_sha256: str | None = None
    vae: str | None = None
    judge: str | None = None
    device: str | None = None
    version: str | None = None
    seconds: float | None = None
    image_steps: int | None = None
    encoder_evaluations: int | None = None
    distances: dict[str, float | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. no source survived the clean filter
    # data with ground-truth factors and a factor judge: per factor, the fraction of attacked
    # examples whose adversarial reconstruction the judge reads with another value of that factor
    # than the source's clean reconstruction (the attacked factor included); {} otherwise
    factors_moved: dict[str, float | None] = field(default_factory=dict)

    @property
    def classes(self) -> list[int]:
        return list(self.results["classes"])

    def overall(self, which: str) -> dict[str, Any]:
        """``{"mean", "ci_low", "ci_high", "pairs", ...}`` of AS ``which`` (ignore / target) over pairs."""
        return self.results[which]["overall"]

    def to_json(self) -> dict[str, Any]:
        return files.jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: Any, path: Path | str = "summary.json") -> AttackSummary:
        """Check the structure (one-line RunDirError naming the first defect) and build the record."""
        path = Path(path)
        _need(path, data, ("results",), "")
        res = data["results"]
        _need(path, res, ("classes", "n_kept", "n_pairs_total", "ignore", "target"), "results")
        k = len(res["classes"]) if isinstance(res["classes"], list) else -1
        for which in ("ignore", "target"):
            part = res[which]
            _need(path, part, ("hits", "rate", "ci_low", "ci_high", "source_marginal", "target_marginal", "overall"),
                  f"results.{which}")
            _need(path, part["overall"], ("mean", "ci_low", "ci_high", "pairs"), f"results.{which}.overall")
            for key in ("hits", "rate", "ci_low", "ci_high"):
                _square(path, part[key], k, f"results.{which}.{key}")
                _numbers(path, [v for row in part[key] for v in row], f"results.{which}.{key}")
            _numbers(path, [part["overall"][k2] for k2 in ("mean", "ci_low", "ci_high")], f"results.{which}.overall")
            for key in ("source_marginal", "target_marginal"):
                if not isinstance(part[key], list) or len(part[key]) != k:
                    raise RunDirError(f"{path} is corrupt: results.{which}.{key} is not a list of {k} numbers")
                _numbers(path, part[key], f"results.{which}.{key}")
        for key in ("n_kept", "n_pairs_total"):
            _square(path, res[key], k, f"results.{key}")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names and v is not None}
        return cls(**kwargs)


def read_summary(path: Path | str) -> AttackSummary:
    """An attack sweep's ``summary.json`` (a file or its folder); a corrupt one is a one-line RunDirError."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    return AttackSummary.from_json(read_json(path), path)


@dataclass(frozen=True)
class JudgeEval:
    """``eval.json`` of a judge run: its accuracy on the test split and its training steps."""

    test_accuracy: float
    n_test: int | None = None
    steps: int | None = None
    #: a multi-label judge's figures per attribute: {name: {accuracy, balanced_accuracy, positive_rate}}
    attributes: dict[str, dict[str, float]] | None = None
    #: a factor judge's test accuracy per factor: {name: {accuracy, chance}}
    factors: dict[str, dict[str, float]] | None = None


def read_judge_eval(folder: Path | str) -> JudgeEval:
    """A judge run's ``eval.json``; missing or malformed is a one-line RunDirError."""
    path = Path(folder) / "eval.json"
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("test_accuracy"), (int, float)):
        raise RunDirError(f"{path} is corrupt: expected the test_accuracy of a judge run")
    attrs = data.get("attributes")
    facs = data.get("factors")
    return JudgeEval(float(data["test_accuracy"]), data.get("n_test"), data.get("steps"),
                     attrs if isinstance(attrs, dict) else None, facs if isinstance(facs, dict) else None)


CURVE_POINT_KEYS = ("value", "n_attacked", "l2", "linf", "out_dist", "latent_dist", "dd_x", "dd_y", "dd_y_latent")


@dataclass(frozen=True)
class CurveRecord:
    """``curve.json`` of a strength sweep: one point per grid value and the curve's areas.

    Each point: ``value``, ``n_attacked``, the mean distortions ``l2``, ``linf``, ``out_dist``,
    ``latent_dist``, the normalised distortion-distortion point ``dd_x``, ``dd_y``,
    ``dd_y_latent`` and ``ignore`` / ``target``: ``{"mean", "ci_low", "ci_high"}``.
    """

    key: str
    values: list[float]
    points: list[dict[str, Any]]
    attack: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
    vae: str | None = None
    judge: str | None = None
    version: str | None = None
    log_x: bool = False
    auddc: float | None = None
    auddc_latent: float | None = None
    as_ignore_area: float | None = None
    as_ignore_mean: float | None = None
    as_target_area: float | None = None
    as_target_mean: float | None = None

    def to_json(self) -> dict[str, Any]:
        return files.jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: Any, path: Path | str = "curve.json") -> CurveRecord:
        path = Path(path)
        if not isinstance(data, dict) or not all(k in data for k in ("key", "values", "points")):
            raise RunDirError(f"{path} is corrupt: expected the curve of a strength sweep (key, values, points)")
        if not isinstance(data["points"], list) or not all(isinstance(p, dict) for p in data["points"]):
            raise RunDirError(f"{path} is corrupt: points is not a list of objects")
        for i, p in enumerate(data["points"]):
            missing = [k for k in CURVE_POINT_KEYS if k not in p]
            missing += [f"{w}.mean" for w in ("ignore", "target") if not isinstance(p.get(w), dict) or "mean" not in p[w]]
            if missing:
                raise RunDirError(f"{path} is corrupt: point {i} lacks {', '.join(missing)}")
        if not isinstance(data.get("attack", {}), dict) or "name" not in data.get("attack", {}):
            raise RunDirError(f"{path} is corrupt: it lacks attack.name")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names and v is not None})


def read_curve(path: Path | str) -> CurveRecord:
    path = Path(path)
    if path.is_dir():
        path = path / "curve.json"
    return CurveRecord.from_json(read_json(path), path)


# --------------------------------------------------------------------------- weights and state


def save_weights(path: Path | str, module: nn.Module) -> None:
    """Weights as safetensors (never a pickled module); a non-finite weight is refused."""
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        from vaerobust.errors import TrainingDiverged

        raise TrainingDiverged(f"refusing to save {path}: weights {bad[:3]} are not finite")
    files.write_bytes(path, st_save(state))


def load_weights(path: Path | str, module: nn.Module) -> nn.Module:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing: the run has no saved weights (was it trained to the end?)")
    try:
        state = load_file(str(path))
    except Exception as e:  # safetensors raises several types for a corrupt header
        raise RunDirError(f"{path} is corrupt or not a safetensors file ({str(e).splitlines()[0][:120]})") from None
    missing = set(module.state_dict()) - set(state)
    if missing:
        raise RunDirError(f"{path} lacks weights {sorted(missing)[:3]}: does it belong to another network?")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise RunDirError(f"{path} holds non-finite weights ({', '.join(sorted(bad)[:3])}): the run is corrupt; "
                          "train it again into another folder")
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise RunDirError(f"{path} does not fit the network of model.json: {_torch_reason(e)}") from None
    return module


def _torch_reason(e: BaseException) -> str:
    """The informative part of a torch state_dict error (its first line only says "Error(s) in loading")."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    detail = [ln for ln in lines if not ln.startswith("Error(s) in loading")]
    return " ".join(detail or lines)[:300]


def torch_save(path: Path | str, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    files.write_bytes(path, buf.getvalue())


def load_train_state(path: Path | str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A training checkpoint (``weights_only`` loading); missing keys are a one-line RunDirError."""
    path = Path(path)
    import pickle
    import zipfile

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError) as e:
        raise RunDirError(f"{path} is corrupt or not a checkpoint ({e.__class__.__name__}): delete it to start "
                          "over") from None
    except OSError as exc:
        raise files.os_error(path, exc, "read") from None
    if not isinstance(state, dict):
        raise RunDirError(f"{path} is corrupt: expected a checkpoint dictionary; delete it to start over")
    missing = [k for k in required if k not in state]
    if missing:
        raise RunDirError(f"{path} lacks {', '.join(missing)}: not a checkpoint of this trainer; delete it to start over")
    return state


# --------------------------------------------------------------------------- networks

MODEL_KEYS = {"vae": ("arch", "hidden", "gaussian", "categorical"), "classifier": ()}


def read_model_json(folder: Path | str, kind: str) -> dict[str, Any]:
    """A run's ``model.json``, checked to describe a network of ``kind`` with every key it needs."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunDirError(f"{folder} is a file: expected a run folder")
    if not folder.is_dir():
        raise RunDirError(f"run directory {str(folder)!r} does not exist")
    desc = read_json(folder / "model.json")
    if not isinstance(desc, dict):
        raise RunDirError(f"{folder / 'model.json'} is corrupt: expected a JSON object")
    if desc.get("kind") != kind:
        expected = {"vae": "a VAE run", "classifier": "a classifier run"}.get(kind, f"a {kind} run")
        raise RunDirError(f"{folder} holds a {desc.get('kind')!r} model, expected {expected}")
    missing = [k for k in MODEL_KEYS.get(kind, ()) if k not in desc]
    if missing:
        raise RunDirError(f"{folder / 'model.json'} lacks {', '.join(missing)}: expected the description "
                          f"written by vaerobust for {kind} networks")
    return desc


def _build(folder: Path, desc: dict[str, Any], build: Callable[[dict], nn.Module]) -> nn.Module:
    try:
        return build(desc)
    except (UserError, ValueError, TypeError, KeyError) as e:
        raise RunDirError(f"{folder / 'model.json'} does not describe a buildable network ({e})") from None


def _load_network(run_dir: Path | str, kind: str, device: str | torch.device, require_finished: bool,
                  resume_hint: str) -> Any:
    from vaerobust.models import build_classifier, build_vae

    run_dir = Path(run_dir)
    desc = read_model_json(run_dir, kind)
    if require_finished:
        what = "VAE training run" if kind == "vae" else "judge training run"
        require_complete(run_dir, what, f"its training never finished: {resume_hint}")
    model = _build(run_dir, desc, build_vae if kind == "vae" else build_classifier)
    load_weights(run_dir / "model.safetensors", model)
    return model.to(resolve_device(device)).eval()


def load_vae(run_dir: Path | str, device: str | torch.device = "cpu", require_finished: bool = False) -> Any:
    """Rebuild a trained VAE from its run folder, in eval mode.

    ``require_finished``: refuse a run whose training has not finished (no ``complete.json``).
    """
    return _load_network(run_dir, "vae", device, require_finished, "run `vaerobust train` on it again to resume it")


def load_classifier(run_dir: Path | str, device: str | torch.device = "cpu", require_finished: bool = False) -> Any:
    """Rebuild the trained judge from its run folder, in eval mode."""
    return _load_network(run_dir, "classifier", device, require_finished,
                         "run `vaerobust train-classifier` on it again")
