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
~4.5). The headline radius is 2, the same for every model. It was first 4; on the first model
measured (elbo, seed 0, before any correlation was computed) every sampled reconstruction of every
image fell within 4 of the clean one, so the margin at 4 and 8 read the sample count's cap on p(x),
not the radius, while at 2 it did not (median p 0.94; at 1 most images were not r-robust at all).
Every radius's figures are in the record.
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
IMAGES, SAMPLES, RADII, HEADLINE = 500, 64, (1.0, 2.0, 4.0, 8.0), 2.0
FORMULA = ("R(x) = max(0, min_i sigma_i(x) * Phi^-1(p(x))) / ||J_mu(x)||, p(x) = P(||g(z) - g(mu(x))||_2 <= r), "
           "z ~ q(z|x): Camuto et al. 2021, first order (higher-order terms dropped)")


def check_settings(images: int, samples: int, radii: Sequence[float], headline: float) -> list[float]:
    """The radii, sorted; a bad setting is one line naming it."""
    if images < 1:
        raise ConfigError(f"--images {images}: expected an integer >= 1")
    if samples < 2:
        raise ConfigError(f"--samples {samples}: expected an integer >= 2")
    rs = sorted({float(r) for r in radii})
    bad = [r for r in rs if not (math.isfinite(r) and r > 0)]
    if not rs or bad:
        raise ConfigError(f"--radius {bad or list(radii)}: expected finite numbers > 0")
    if float(headline) not in rs:
        raise ConfigError(f"--headline {headline}: expected one of the radii {rs}")
    return rs


def _weights_sha256(run_dir: Path) -> str:
    from vaerobust.pipelines.job import weights_sha256

    return weights_sha256(run_dir)


def margin_run(run_dir: Path | str, images: int = IMAGES, samples: int = SAMPLES, radii: Sequence[float] = RADII,
               headline: float = HEADLINE, seed: int = 0, device: str = "auto", batch_size: int = 32) -> Path:
    """Measure the margin of the finished VAE in ``run_dir``; returns the path of ``metrics/margin.json``."""
    rs = check_settings(images, samples, radii, headline)
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    vae = load_vae(run_dir, dev, require_finished=True)
    settings = {"images": int(images), "samples": int(samples), "radii": rs, "headline_radius": float(headline),
                "seed": int(seed), "split": "test"}
    sha = _weights_sha256(run_dir)
    out = run_dir / MARGIN
    if out.is_file():
        old = read_saved(out)
        def measured(st: Any) -> Any:  # the headline radius only picks which figure to read
            return {k: v for k, v in st.items() if k != "headline_radius"} if isinstance(st, dict) else st
        if isinstance(old, dict) and old.get("weights_sha256") == sha:
            if measured(old.get("settings")) != measured(settings):
                raise ConfigError(f"{out} was measured with other settings ({old.get('settings')}); delete it to "
                                  f"measure again with {settings}")
            if old["settings"] != settings:
                with folder_lock(out.parent):
                    files.write_json(out, {**old, "settings": settings})
            return out
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
            "radii": {f"{r:g}": summarise(r, d_all, s_all, f_all, sp_all).to_json() for r in rs},
            "seconds": time.perf_counter() - t0,
        })
    with folder_lock(out.parent):
        files.write_json(out, record)
    return out


def headline_of(record: dict[str, Any] | None) -> dict[str, float | None]:
    """A margin record's columns for a results table: ``margin`` (median margin at the headline radius),
    ``margin_spectral`` and ``margin_robust_share`` (all None where the margin does not apply)."""
    empty: dict[str, float | None] = {"margin": None, "margin_spectral": None, "margin_robust_share": None}
    if not isinstance(record, dict) or "radii" not in record:
        return empty
    s = (record.get("radii") or {}).get(f"{float((record.get('settings') or {}).get('headline_radius', HEADLINE)):g}")
    if not isinstance(s, dict):
        return empty
    return {"margin": s.get("median"), "margin_spectral": s.get("median_spectral"),
            "margin_robust_share": s.get("robust_share")}


def study_margin(out: Path | str, images: int = IMAGES, samples: int = SAMPLES, radii: Sequence[float] = RADII,
                 headline: float = HEADLINE, seed: int = 0, device: str = "auto",
                 echo: Callable[[str], Any] = print) -> dict[str, int]:
    """Measure every finished model job of the study in ``out`` that still has its checkpoint; returns counts
    (measured, unchanged, not applicable, no checkpoint, unfinished, failed)."""
    from vaerobust.pipelines.job import RESULT
    from vaerobust.pipelines.study import load

    check_settings(images, samples, radii, headline)
    out = Path(out)
    _, _, models = load(out)
    counts = dict.fromkeys(("measured", "unchanged", "not applicable", "no checkpoint", "unfinished", "failed"), 0)
    for job in models:
        folder = out / job.folder
        if not (folder / RESULT).is_file():
            counts["unfinished"] += 1
            continue
        if not (folder / "model" / "model.safetensors").is_file():
            counts["no checkpoint"] += 1
            continue
        before = (folder / "model" / MARGIN).read_bytes() if (folder / "model" / MARGIN).is_file() else None
        try:
            path = margin_run(folder / "model", images, samples, radii, headline, seed, device)
        except UserError as e:
            counts["failed"] += 1
            echo(f"{job.id}: failed: {e}")
            continue
        data = path.read_bytes()
        if not (folder / JOB_MARGIN).is_file() or (folder / JOB_MARGIN).read_bytes() != data:
            files.write_bytes(folder / JOB_MARGIN, data)
        rec = read_saved(path)
        which = "not applicable" if "not_applicable" in rec else ("unchanged" if before == data else "measured")
        counts[which] += 1
        h = headline_of(rec)
        said = (f"not applicable ({rec['not_applicable']})" if which == "not applicable" else
                f"median margin {h['margin']:.4g} at r = {headline:g}, {100 * (h['margin_robust_share'] or 0):.0f}% "
                f"r-robust at the clean input ({rec.get('seconds', 0):.0f} s)")
        echo(f"{job.id}: {which if which != 'not applicable' else 'skipped'}: {said}")
    return counts


__all__ = ["FORMULA", "HEADLINE", "IMAGES", "JOB_MARGIN", "MARGIN", "RADII", "SAMPLES", "check_settings",
           "headline_of", "margin_run", "study_margin"]
