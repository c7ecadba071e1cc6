"""One job of a study: the function every backend runs, in any process, from its folder alone.

A job folder holds ``job.json`` (written by :mod:`vaerobust.pipelines.study` before the job
runs: the job's resolved settings) and, as it runs, the run folders of its steps. Two kinds:

- a **judge job** (``judges/<id>/``): trains the judge classifier into ``judge/``;
- a **model job** (``jobs/<id>/``): ``train`` the VAE into ``model/``, ``evaluate`` its latent
  codes, ``attack`` it with each named sweep into ``model/attacks/<name>/``; then writes the
  job's **result record** ``result.json`` (settings, robustness with counts, disentanglement,
  reconstruction quality, timings, provenance) from which ``vaerobust study collect``
  rebuilds every table without any checkpoint.

:func:`run_job` never raises for a failing job: the error goes to ``error.json`` (one line)
and ``traceback.txt``, and the result says ``failed``. Every step resumes (training from its
last checkpoint, an attack sweep from its saved batches), so running a job again continues it;
a finished job (``result.json``) is not run again.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from vaerobust import __version__, files
from vaerobust.config import AttackConfig, JudgeConfig, RunConfig, SweepConfig, from_dict
from vaerobust.data import load_dataset
from vaerobust.errors import FolderBusy, UserError
from vaerobust.rundir import COMPLETE, read_judge_eval, read_meta, read_summary

JOB = "job.json"
RESULT = "result.json"
#: a judge's earlier record, set aside when its weights were missing and it trained again
PREVIOUS = "result.previous.json"
ERROR = "error.json"
#: each step's wall time summed over every run of the job (a resumed job's record counts the time before it resumed)
TIMINGS = "timings.json"
TRACEBACK = "traceback.txt"


def run_job(job_dir: str) -> dict[str, Any]:
    """Run the job in ``job_dir`` (judge or model); returns ``{"job", "state", "seconds", "error"}``."""
    folder = Path(job_dir)
    t0 = time.perf_counter()
    spec: dict[str, Any] = {}
    try:
        spec = files.read_json(folder / JOB)
        if (folder / RESULT).is_file() and (spec["kind"] != "judge" or has_weights(folder / "judge")):
            return {"job": spec.get("id", folder.name), "state": "done", "seconds": 0.0, "skipped": True}
        with files.folder_lock(folder):  # the whole job: `study status` reads it as running
            (_judge_job if spec["kind"] == "judge" else _model_job)(folder, spec)
    except KeyboardInterrupt:
        return {"job": spec.get("id", folder.name), "state": "interrupted", "seconds": time.perf_counter() - t0}
    except FolderBusy as e:  # another process runs this job now: not this job's failure, so not recorded as one
        return {"job": spec.get("id", folder.name), "state": "failed", "seconds": time.perf_counter() - t0,
                "error": f"{e} (not recorded as failed: a later `study run` runs it if it has not finished)"}
    except BaseException as e:  # a failing job must never stop the study: keep its error, report it
        line = " ".join(str(e).split()) or type(e).__name__
        kind = "user error" if isinstance(e, UserError) else "bug or environment"
        try:
            files.write_json(folder / ERROR, {"type": type(e).__name__, "kind": kind, "message": line,
                                              "when": _now()})
            files.write_text(folder / TRACEBACK, traceback.format_exc())
        except Exception:  # noqa: BLE001 - the error is still returned to the study below
            pass
        return {"job": spec.get("id", folder.name), "state": "failed", "seconds": time.perf_counter() - t0,
                "error": f"{type(e).__name__}: {line}"}
    (folder / ERROR).unlink(missing_ok=True)
    return {"job": spec["id"], "state": "done", "seconds": time.perf_counter() - t0}


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _device(spec: dict[str, Any]) -> str:
    from vaerobust.devices import resolve_device

    return str(resolve_device(str(spec.get("device", "auto"))))


class _Clock:
    """Each step's wall time, summed over every run of a job in ``timings.json`` (written as a step
    ends, by an error or Ctrl-C too). ``untracked`` when the job had run before it kept timings."""

    def __init__(self, folder: Path, run: Path, fresh: bool = False) -> None:
        self.path = folder / TIMINGS
        saved = files.read_json(self.path) if self.path.is_file() and not fresh else None
        self.untracked = bool(saved["untracked_earlier_runs"]) if saved else run.exists()
        self.seconds: dict[str, float] = dict(saved["seconds"]) if saved else {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
            try:
                files.write_json(self.path, {"seconds": self.seconds, "untracked_earlier_runs": self.untracked})
            except Exception:  # noqa: BLE001 - the step's own outcome (its error, a Ctrl-C) matters more than its clock
                pass

    def cover(self) -> str:
        return "this run only: earlier runs of this job kept no timings" if self.untracked else "every run of the job"


def _judge_job(folder: Path, spec: dict[str, Any]) -> None:
    from vaerobust.pipelines.train_classifier import train_classifier

    cfg = from_dict(JudgeConfig, spec["judge"], prefix="judge")
    again = (folder / RESULT).is_file()  # a record without weights (run_job checked): train it again
    replaced = files.read_json(folder / RESULT) if again else None  # the record this retrain replaces
    if again:
        if not (folder / PREVIOUS).is_file():  # the first record stays, whatever happens next
            files.write_bytes(folder / PREVIOUS, (folder / RESULT).read_bytes())
        complete = folder / "judge" / COMPLETE
        if complete.is_file():  # finished, but its weights are gone: not finished any more
            complete.replace(complete.with_name("complete.previous.json"))
    clock = _Clock(folder, folder / "judge", fresh=again)
    with clock.step("train"):
        train_classifier(cfg, folder / "judge", device=_device(spec), progress=False)
    ev = read_judge_eval(folder / "judge")
    rec = {"id": spec["id"], "kind": "judge", "judge": spec["judge"], "test_accuracy": ev.test_accuracy,
           "n_test": ev.n_test, "steps": ev.steps, **({"attributes": ev.attributes} if ev.attributes else {}),
           **({"factors": ev.factors} if ev.factors else {}), "weights_sha256": weights_sha256(folder / "judge"),
           "seconds": clock.seconds["train"], "timings_cover": clock.cover(), "provenance": _provenance(spec)}
    if replaced is not None:  # trained again because the weights were missing: say how it compares
        rec["retrained"] = compare_judges(replaced, rec)
        earlier = [*replaced.get("retrained_earlier", []), *([replaced["retrained"]] if "retrained" in replaced else [])]
        if earlier:  # how each earlier retrain compared with the record before it, oldest first
            rec["retrained_earlier"] = earlier
    files.write_json(folder / RESULT, rec)


def has_weights(run: Path) -> bool:
    """Whether a finished run folder still holds its weights (``complete.json`` and ``model.safetensors``)."""
    return (Path(run) / "model.safetensors").is_file() and (Path(run) / COMPLETE).is_file()


def weights_sha256(run_dir: Path) -> str:
    """The sha256 of a run's ``model.safetensors``."""
    import hashlib

    return hashlib.sha256((Path(run_dir) / "model.safetensors").read_bytes()).hexdigest()


def compare_judges(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """How a judge trained again compares with the record it replaces: the same weights (None where
    that record has no hash), and the earlier and the new test accuracy. The first record stays in
    ``result.previous.json``; the comparisons of earlier retrains, each with the record before it,
    in the new record's ``retrained_earlier``."""
    old = before.get("weights_sha256")
    return {"same_weights": None if old is None else old == after["weights_sha256"],
            "previous_weights_sha256": old, "previous_test_accuracy": before.get("test_accuracy"),
            "test_accuracy": after["test_accuracy"]}


def _model_job(folder: Path, spec: dict[str, Any]) -> None:
    from vaerobust.pipelines.attack import attack_sweep
    from vaerobust.pipelines.evaluate import evaluate_run
    from vaerobust.pipelines.train import train_vae

    t_job = time.perf_counter()
    run_cfg = from_dict(RunConfig, spec["run"], prefix="run")
    model_dir, judge_dir = folder / "model", (folder / spec["judge_dir"]).resolve()
    clock = _Clock(folder, model_dir)
    steps = spec["steps"]
    if "train" in steps:
        with clock.step("train"):
            train_vae(run_cfg, model_dir, device=_device(spec), progress=False,
                      meta={"study": spec.get("study"), "model": spec["model"], "job": spec["id"]})
    codes: dict[str, Any] = {}
    if "evaluate" in steps:
        with clock.step("evaluate"):
            ev = spec.get("evaluate") or {}
            sizes = {k: ev[k] for k in ("num_train", "num_test") if ev.get(k) is not None}
            path = model_dir / "metrics" / "disentanglement.json"
            if not path.is_file():
                from vaerobust.pipelines.evaluate import dci_options

                evaluate_run(model_dir, ev.get("metrics", "all"), device=_device(spec), sizes=sizes or None,
                             options=dci_options(ev.get("dci_predictor")))
            codes = files.read_json(path)
    robustness: dict[str, Any] = {}
    if "attack" in steps:
        for name in spec["attacks"]:
            with clock.step(f"attack:{name}"):
                acfg = from_dict(AttackConfig, spec[f"attack:{name}"], prefix=f"attack:{name}")
                scfg = from_dict(SweepConfig, spec[f"sweep:{name}"], prefix=f"sweep:{name}")
                out = model_dir / "attacks" / name
                attack_sweep(model_dir, judge_dir, out, acfg, scfg, device=_device(spec), progress=False,
                             data=run_cfg.data)
                robustness[name] = _robustness(read_summary(out))
                write_outcomes(folder / f"outcomes-{name}.csv.gz", out / "examples.csv")
    record = {
        "id": spec["id"], "kind": "model", "study": spec.get("study"), "model": spec["model"], "grid": spec["grid"],
        "settings": {"run": spec["run"], "judge": spec["judge_id"],
                     "attacks": {n: {"attack": spec[f"attack:{n}"], "sweep": spec[f"sweep:{n}"]} for n in spec["attacks"]}},
        "judge": {"id": spec["judge_id"], "test_accuracy": read_judge_eval(judge_dir).test_accuracy},
        "robustness": robustness,
        "disentanglement": codes.get("metrics", {}),
        "not_applicable": codes.get("not_applicable", {}),
        "reconstruction": _reconstruction(model_dir, run_cfg, _device(spec)),
        "timings": {k: v for k, v in clock.seconds.items() if k in _step_names(spec)},
        "timings_cover": clock.cover(),
        "seconds": time.perf_counter() - t_job,  # this run of the job (a resumed job: since it resumed)
        "provenance": {**_provenance(spec), "train_data_sha256": read_meta(model_dir).get("data_sha256"),
                       "test_data_sha256": next((r["test_data_sha256"] for r in robustness.values()), None)},
    }
    files.write_json(folder / RESULT, record)


def _step_names(spec: dict[str, Any]) -> set[str]:
    return {*(s for s in ("train", "evaluate") if s in spec["steps"]),
            *(f"attack:{n}" for n in spec["attacks"] if "attack" in spec["steps"])}


def write_outcomes(path: Path, examples_csv: Path) -> None:
    """The attacked examples of a sweep, compactly (gzip CSV: src_index, source, target, ignore, target_hit),
    beside the record: what the source-clustered and the seeds' bootstrap need, with no checkpoint."""
    import gzip

    import pandas as pd

    ex = pd.read_csv(examples_csv)
    ex = ex[ex.kept.astype(bool)]
    out = pd.DataFrame({"src_index": ex.src_index, "source": ex.source, "target": ex.target,
                        "ignore": (ex.adv_pred != ex.source).astype(int), "target_hit": (ex.adv_pred == ex.target).astype(int)})
    files.write_bytes(path, gzip.compress(out.to_csv(index=False).encode(), mtime=0))


def _robustness(s: Any) -> dict[str, Any]:
    """What a record keeps of an attack sweep: per measure the overall mean with its interval and the
    per-pair hits and counts (so that tables and intervals can be rebuilt without examples.csv)."""
    res = s.results
    return {
        "ignore": s.overall("ignore"), "target": s.overall("target"),
        "n_pairs_formed": s.n_pairs_formed, "n_attacked": s.n_attacked, "clean_recon_accuracy": s.clean_recon_accuracy,
        "classes": res["classes"], "n_kept": res["n_kept"], "n_pairs_total": res["n_pairs_total"],
        "hits_ignore": res["ignore"]["hits"], "hits_target": res["target"]["hits"],
        "seconds": s.seconds, "encoder_evaluations": s.encoder_evaluations, "image_steps": s.image_steps,
        "warnings": s.warnings, "test_data_sha256": s.data_sha256, "device": s.device,
        "factors_moved": s.factors_moved,  # per factor: attacked examples whose judged value moved (factor judges)
        "distances": s.distances,  # means over the attacked examples (L2, L-inf, output and latent distances, MS-SSIM)
    }


@torch.no_grad()
def _reconstruction(model_dir: Path, cfg: RunConfig, device: str) -> dict[str, float]:
    """Reconstruction quality on the test split: Bernoulli NLL per image (nats) and MSE per pixel."""
    from vaerobust.devices import resolve_device
    from vaerobust.rundir import load_vae

    dev = resolve_device(device)
    vae = load_vae(model_dir, dev)
    x, _ = load_dataset(cfg.data, "test")
    nll, se, n, pixels = 0.0, 0.0, 0, 0
    for i in range(0, x.shape[0], 1024):
        xb = x[i : i + 1024].to(dev)
        logits = vae.decoder(vae.encode(xb).mode())
        nll += float(torch.nn.functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum"))
        se += float((torch.sigmoid(logits) - xb).pow(2).sum())
        n += xb.shape[0]
        pixels += xb.numel()
    return {"test_nll_per_image": nll / n, "test_mse_per_pixel": se / pixels, "n_test": n}


def _provenance(spec: dict[str, Any]) -> dict[str, Any]:
    return {"version": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "host": platform.node(), "device": _device(spec), "threads": torch.get_num_threads(),  # can change the floats
            "finished": _now()}


__all__ = ["ERROR", "JOB", "PREVIOUS", "RESULT", "TIMINGS", "TRACEBACK", "compare_judges", "has_weights", "run_job",
           "weights_sha256"]
