"""``vaerobust margin`` and ``vaerobust study margin``: the attack-free robustness figure of
:mod:`vaerobust.metrics.margin` (the first-order r-robustness margin of Camuto et al. 2021) on
trained VAEs.

Recipe (:func:`margin_run`): load a finished VAE; draw ``images`` held-out test images (seeded);
per image, the Jacobian of the encoder's mean (its Frobenius and spectral norms), the smallest
posterior standard deviation and the distances of ``samples`` sampled reconstructions from the
maximum-likelihood one; per radius, the margins' median and spread and the share of images that
are r-robust at the clean input. Writes ``<run>/metrics/margin.json`` (with the weights' sha256: a
second run with the same settings on the same weights reads it instead). A VAE with categorical
latents gets a record that says why the margin does not apply.

A study (:func:`study_margin`) measures every finished model job whose checkpoint is in its folder
and copies the record to ``jobs/<id>/margin.json`` beside ``result.json``: ``study collect`` reads it
(column ``margin``: the median margin at the headline radius, higher = more robust) and ``study
export`` publishes it. A job whose checkpoint is gone (a study continued from published records)
cannot be measured, and is counted as such; a failing job never stops the others.

[assumption] The radii are L2 distances between reconstructions, pixels in [0, 1] (on 64 x 64
dSprites, moving a sprite of scale 0.5 by one of its 32 positions changes about 20 pixels fully: L2
~4.5). The headline radius is 4 ("the reconstruction stays within about one position step"), the
same for every model, and every radius is in the record and correlated by ``study collect``. How it
was chosen, from the margins alone and before any correlation with them was computed: 4 first; 2
after a first trial on one model (elbo, seed 0; 100 images, 32 samples), where the median image had
every sample within 4, so the figure read the sample count's cap on p(x) rather than the radius; 4
again after 12 models, where
at 2 a beta-VAE (beta 8) was r-robust at only 38% of its images (median margin 0, tied with any such
model) while at 4 every model's margin was positive and ordered them by sigma_min / ||J|| at the
cap (``capped_share`` in the record says how many images are there).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaerobust import __version__, files
from vaerobust.data import load_dataset
from vaerobust.devices import resolve_device
from vaerobust.errors import ConfigError, NothingToMeasure, UserError
from vaerobust.metrics.margin import summarise
from vaerobust.models.sensitivity import mean_jacobians, reconstruction_spread
from vaerobust.rundir import folder_lock, load_vae, read_run_config, read_saved

MARGIN = "metrics/margin.json"
#: the copy beside a study job's result record
JOB_MARGIN = "margin.json"
IMAGES, SAMPLES, RADII, HEADLINE = 500, 64, (1.0, 2.0, 4.0, 8.0), 4.0
FORMULA = ("R(x) = max(0, min_i sigma_i(x) * Phi^-1(p(x))) / ||J_mu(x)||, p(x) = P(||g(z) - g(mu(x))||_2 <= r), "
           "z ~ q(z|x): Camuto et al. 2021, first order (higher-order terms dropped; sigma taken as unmoved)")


def radius_key(r: float) -> str:
    """How a radius names its figures in a record (``4``, ``0.5``) and in a table (``margin_r4``)."""
    return f"{float(r):g}"


def check_settings(images: int, samples: int, radii: Sequence[float], headline: float | None = None
                   ) -> tuple[list[float], float]:
    """(the radii sorted, the headline radius); a bad setting is one line naming it. Without ``headline``:
    4 if it is a radius, else the only radius."""
    if images < 1:
        raise ConfigError(f"--images {images}: expected an integer >= 1")
    if samples < 2:
        raise ConfigError(f"--samples {samples}: expected an integer >= 2")
    rs = sorted({float(r) for r in radii})
    bad = [r for r in rs if not (math.isfinite(r) and r > 0)]
    if not rs or bad:
        raise ConfigError(f"--radius {bad or list(radii)}: expected finite numbers > 0")
    if len({radius_key(r) for r in rs}) < len(rs):
        raise ConfigError(f"--radius {rs}: radii that print alike ({', '.join(radius_key(r) for r in rs)}); "
                          "expected radii that differ in their first 6 digits")
    if headline is None:
        if HEADLINE not in rs and len(rs) > 1:
            raise ConfigError(f"--radius {rs}: give --headline, one of them (the default {HEADLINE:g} is not one)")
        headline = HEADLINE if HEADLINE in rs else rs[0]
    if float(headline) not in rs:
        raise ConfigError(f"--headline {headline}: expected one of the radii {rs}")
    return rs, float(headline)


def _weights_sha256(run_dir: Path) -> str:
    from vaerobust.pipelines.job import weights_sha256

    return weights_sha256(run_dir)


def _readable(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or None when it is missing or unreadable (then it is measured again)."""
    if not path.is_file():
        return None
    try:
        rec = read_saved(path)
    except UserError:
        return None
    return rec if isinstance(rec, dict) else None


#: what every radius of a record of this version holds (an earlier record without them is measured again)
RADIUS_FIELDS = ("median", "median_spectral", "robust_share", "capped_share", "unbounded_share")


def current(record: dict[str, Any]) -> bool:
    """Whether a record holds every figure this version writes (a not-applicable record always does)."""
    if record.get("not_applicable"):
        return True
    radii = record.get("radii")
    return isinstance(radii, dict) and bool(radii) and all(
        isinstance(v, dict) and all(k in v for k in RADIUS_FIELDS) for v in radii.values())


def margin_run(run_dir: Path | str, images: int = IMAGES, samples: int = SAMPLES, radii: Sequence[float] = RADII,
               headline: float | None = None, seed: int = 0, device: str = "auto", batch_size: int = 32) -> Path:
    """Measure the margin of the finished VAE in ``run_dir``; returns the path of ``metrics/margin.json``.

    A record of the same weights and settings is kept (one that differs only in its headline radius gets
    the new headline, nothing measured); other settings on the same weights are refused; a record of other
    weights, or an unreadable one, is removed and measured again."""
    rs, headline = check_settings(images, samples, radii, headline)
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    vae = load_vae(run_dir, dev, require_finished=True)
    settings = {"images": int(images), "samples": int(samples), "radii": rs, "headline_radius": headline,
                "seed": int(seed), "split": "test"}
    sha = _weights_sha256(run_dir)
    out = run_dir / MARGIN
    old = _readable(out)
    if old is not None and not current(old):
        old = None  # an earlier version's record (fewer figures): measured again below
    if old is not None and old.get("weights_sha256") == sha:
        def measured(st: Any) -> Any:  # the headline radius only picks which figure to read
            return {k: v for k, v in st.items() if k != "headline_radius"} if isinstance(st, dict) else st
        if measured(old.get("settings")) != measured(settings):
            raise ConfigError(f"{out} was measured with other settings ({old.get('settings')}); delete it to "
                              f"measure again with {settings}")
        if old["settings"] != settings:
            with folder_lock(out.parent):
                files.write_json(out, {**old, "settings": settings})
        return out
    if out.exists():  # another checkpoint's, or unreadable: never left beside these weights
        with folder_lock(out.parent):
            out.unlink()
    record: dict[str, Any] = {"run": str(run_dir), "settings": settings, "weights_sha256": sha, "version": __version__,
                              "device": str(dev), "formula": FORMULA}
    if vae.spec.categorical or vae.spec.gaussian < 1:
        record["not_applicable"] = ("the model has categorical latents: the margin's theorem is for a "
                                    "diagonal-Gaussian encoder" if vae.spec.categorical else "no Gaussian latent")
    else:
        t0 = time.perf_counter()
        x, _ = load_dataset(read_run_config(run_dir).data, "test")
        n = min(int(images), int(x.shape[0]))
        idx = np.sort(np.random.default_rng(seed).choice(int(x.shape[0]), size=n, replace=False))
        gen = torch.Generator(device=dev).manual_seed(seed)
        dist, smin, fro, spec = [], [], [], []
        for i in range(0, n, batch_size):
            xb = x[idx[i : i + batch_size]].to(dev)
            jac = mean_jacobians(vae, xb, batch_size=batch_size)
            fro.append(torch.linalg.matrix_norm(jac, ord="fro"))
            spec.append(torch.linalg.matrix_norm(jac, ord=2))
            d, s = reconstruction_spread(vae, xb, samples, gen, batch_size=batch_size)
            dist.append(d)
            smin.append(s)
        arrays = [torch.cat(a).double().cpu().numpy() for a in (dist, smin, fro, spec)]
        for name, a in zip(("distances", "sigma_min", "jacobian norms", "jacobian norms"), arrays):
            if not np.isfinite(a).all():
                raise NothingToMeasure(f"{run_dir}: the model gives non-finite {name} on the test images; "
                                       "nothing was saved")
        d_all, s_all, f_all, sp_all = arrays
        record.update({
            "n_images": n,
            "median_sigma_min": float(np.median(s_all)),
            "median_jacobian_frobenius": float(np.median(f_all)),
            "median_jacobian_spectral": float(np.median(sp_all)),
            "radii": {radius_key(r): summarise(r, d_all, s_all, f_all, sp_all).to_json() for r in rs},
            "seconds": time.perf_counter() - t0,
        })
    with folder_lock(out.parent):
        files.write_json(out, record)
    return out


def headline_of(record: dict[str, Any] | None) -> dict[str, Any]:
    """A margin record's columns for a results table: ``margin`` (the median margin at the headline radius),
    ``margin_spectral``, ``margin_robust_share``, ``margin_capped_share``; per radius ``margin_r<r>``; and the
    settings that make two records comparable (``margin_samples``, ``margin_images``, ``margin_radii``).
    Only ``margin_not_applicable`` (the reason) where the margin does not apply; empty where there is no usable
    record; None where a median is infinite (see the record's ``unbounded_share``)."""
    if isinstance(record, dict) and record.get("not_applicable"):
        return {"margin_not_applicable": str(record["not_applicable"])}
    if not isinstance(record, dict) or not isinstance(record.get("radii"), dict):
        return {}
    st = record.get("settings") or {}
    radii = record["radii"]
    s = radii.get(radius_key(st.get("headline_radius", HEADLINE))) or {}
    return {"margin": s.get("median"), "margin_spectral": s.get("median_spectral"),
            "margin_robust_share": s.get("robust_share"), "margin_capped_share": s.get("capped_share"),
            "margin_unbounded_share": s.get("unbounded_share"),
            **{f"margin_r{k}": v.get("median") for k, v in radii.items() if isinstance(v, dict)},
            "margin_samples": st.get("samples"), "margin_images": st.get("images"),
            "margin_radii": ",".join(radii), "margin_headline": radius_key(st.get("headline_radius", HEADLINE))}


def usable(job_folder: Path, record: Any) -> str | None:
    """Why a job's margin record cannot be used (None: it can): unreadable, or measured on other weights
    than the checkpoint beside it (a job run again after it was measured)."""
    if not isinstance(record, dict) or "settings" not in record:
        return "unreadable"
    if not current(record):
        return "written by an earlier version (without every figure): run `vaerobust study margin` again"
    weights = job_folder / "model" / "model.safetensors"
    if weights.is_file() and record.get("weights_sha256") != _weights_sha256(job_folder / "model"):
        return "measured on other weights than the job's checkpoint"
    return None


def job_margin(job_folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A study job's margin copy (``jobs/<id>/margin.json``) if it can be used, and why not otherwise
    (``(None, None)``: the job has no copy)."""
    path = job_folder / JOB_MARGIN
    if not path.is_file():
        return None, None
    record = _readable(path)
    why = usable(job_folder, record)
    return (record if why is None else None), why


def _said(rec: dict[str, Any], headline: float) -> str:
    if "not_applicable" in rec:
        return f"not applicable ({rec['not_applicable']})"
    s = (rec.get("radii") or {}).get(radius_key(headline)) or {}

    def pct(k: str) -> str:
        v = s.get(k)
        return f"{100 * v:.0f}%" if isinstance(v, (int, float)) else "n/a"
    median = "unbounded (the mean ignores the input)" if s.get("median") is None else f"{s['median']:.4g}"
    return (f"median margin {median} at r = {headline:g}, {pct('robust_share')} r-robust at the clean input, "
            f"{pct('capped_share')} at the sample cap ({rec.get('seconds', 0):.0f} s)")


def study_margin(out: Path | str, images: int = IMAGES, samples: int = SAMPLES, radii: Sequence[float] = RADII,
                 headline: float | None = None, seed: int = 0, device: str = "auto",
                 echo: Callable[[str], Any] = print) -> dict[str, int]:
    """Measure every finished model job of the study in ``out`` that still has its checkpoint; returns counts
    (measured, updated: a new headline only, unchanged, not applicable, no checkpoint, unfinished, failed).
    A failing job is counted and the others go on; its copy is removed unless it still matches the weights."""
    from vaerobust.pipelines.job import RESULT
    from vaerobust.pipelines.study import load

    _, headline = check_settings(images, samples, radii, headline)
    out = Path(out)
    _, _, models = load(out)
    counts = dict.fromkeys(("measured", "updated", "unchanged", "not applicable", "no checkpoint", "unfinished",
                            "failed"), 0)
    for job in models:
        folder = out / job.folder
        if not (folder / RESULT).is_file():
            counts["unfinished"] += 1
            continue
        if not (folder / "model" / "model.safetensors").is_file():
            counts["no checkpoint"] += 1
            continue
        before = _readable(folder / "model" / MARGIN)
        try:
            path = margin_run(folder / "model", images, samples, radii, headline, seed, device)
            rec = read_saved(path)
            data = path.read_bytes()
            if not (folder / JOB_MARGIN).is_file() or (folder / JOB_MARGIN).read_bytes() != data:
                files.write_bytes(folder / JOB_MARGIN, data)
            if "not_applicable" in rec:
                which = "not applicable"
            elif before is None or before.get("weights_sha256") != rec.get("weights_sha256") or \
                    before.get("radii") != rec.get("radii"):
                which = "measured"
            else:
                which = "unchanged" if before == rec else "updated"
            said = _said(rec, headline)
        except Exception as e:  # noqa: BLE001 - one job's failure (a bug, memory) never stops the others
            counts["failed"] += 1
            echo(f"{job.id}: failed: {type(e).__name__}: {' '.join(str(e).split())}")
            if job_margin(folder)[1] is not None:  # a copy that no longer matches: never left behind
                (folder / JOB_MARGIN).unlink()
            continue
        counts[which] += 1
        echo(f"{job.id}: {said}" if which == "not applicable" else f"{job.id}: {which}: {said}")
    return counts


__all__ = ["FORMULA", "HEADLINE", "IMAGES", "JOB_MARGIN", "MARGIN", "RADII", "RADIUS_FIELDS", "SAMPLES", "check_settings",
           "current", "headline_of", "job_margin", "margin_run", "radius_key", "study_margin", "usable"]
