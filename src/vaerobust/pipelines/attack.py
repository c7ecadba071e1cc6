"""``vaerobust attack``: the attack sweep of the study (PROTOCOL §6) on one trained VAE.

Recipe (:func:`attack_sweep`), top to bottom:

1. refuse a folder made with other settings (``summary.json`` or ``partial/settings.json``);
   a finished sweep is left untouched;
2. load the VAE and the judge (both must have finished training; the judge must read the
   VAE's image size and every class of the sweep); lock the output folder;
3. reconstruct every test image, let the judge label the reconstructions, form the pairs
   (:func:`~vaerobust.attacks.pairs.make_pairs`) and keep the sources whose clean
   reconstruction the judge labels correctly (if none is kept, the summary says so in
   ``warnings`` and every rate is undefined, never a number);
4. attack the kept pairs batch by batch; each finished batch is saved under ``partial/``, so
   an interrupted sweep resumes where it stopped with identical results (per-row noise);
5. write ``examples.csv``, ``samples.npz``, ``summary.json`` (:class:`~vaerobust.rundir.AttackSummary`)
   and, last, ``complete.json``.

``examples.csv`` holds one row per formed (source image, target image) pair: classes, test-set
indices, the judge's label of the clean reconstruction, ``kept``, the judge's label of the
adversarial reconstruction (-1 where not attacked), the distances of
:data:`~vaerobust.metrics.auddc.DISTANCE_COLUMNS` and, for colour images (CelebA), the MS-SSIM of
:data:`SSIM_COLUMNS`. ``summary.json`` is recomputable from it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from vaerobust import __version__, files
from vaerobust.attacks import build_attack
from vaerobust.attacks.base import l2
from vaerobust.attacks.pairs import make_pairs, parse_pairs, row_noise, sample_rows
from vaerobust.config import (
    AttackConfig,
    DataConfig,
    SweepConfig,
    apply_overrides,
    load_study,
    parse_overrides,
    to_dict,
)
from vaerobust.data import dataset_info, fingerprint, load_dataset
from vaerobust.devices import resolve_device
from vaerobust.errors import ConfigError, NothingToMeasure, RunDirError
from vaerobust.interrupts import interruptible
from vaerobust.metrics.auddc import DISTANCE_COLUMNS
from vaerobust.metrics.robustness import success_table
from vaerobust.models.classifier import FactorView
from vaerobust.models.encoding import features, predict, reconstruct
from vaerobust.progress import progress_bar
from vaerobust.rundir import (
    AttackSummary,
    already_done,
    claim,
    load_classifier,
    load_vae,
    mark_complete,
    read_summary,
)
from vaerobust.rundir import read_run_config as run_config_of  # the VAE run's settings

#: MS-SSIM (1 = identical) between the target image and the adversarial / the source's clean
#: reconstruction: the label-free closeness measure the CelebA literature uses; colour images only.
SSIM_COLUMNS = ("ms_ssim", "ms_ssim_clean")
RESULT_COLUMNS = ("adv_pred", *DISTANCE_COLUMNS, *SSIM_COLUMNS)
SAMPLE_KEYS = ("row", "x_src", "x_tgt", "x_adv", "recon_adv", "recon_src")


def check_judge_fits(vae: Any, judge: Any, judge_dir: Path, vae_dir: Path, classes: Sequence[int]) -> None:
    """The judge must read the VAE's images and have an output for every class of the sweep."""
    v_shape, j_shape = getattr(vae, "image_shape", None), getattr(judge, "image_shape", None)
    if v_shape is not None and j_shape is not None and tuple(v_shape) != tuple(j_shape):
        raise RunDirError(f"the judge at {judge_dir} reads images {list(j_shape)} but the VAE at {vae_dir} makes "
                          f"{list(v_shape)}: train a judge on the VAE's data")
    n = getattr(judge, "n_classes", None)
    if n is not None and any(c >= n for c in classes):
        raise ConfigError(f"sweep.classes {list(classes)}: the judge at {judge_dir} knows classes 0..{n - 1}")


def attack_sweep(
    vae_dir: str | Path,
    judge_dir: str | Path,
    out: str | Path,
    attack: AttackConfig = AttackConfig(),
    sweep: SweepConfig = SweepConfig(),
    device: str = "auto",
    progress: bool = True,
    data: DataConfig | None = None,
) -> Path:
    """Attack every kept (source, target) pair of the test split (module docstring); returns ``out``."""
    out, vae_dir, judge_dir = Path(out), Path(vae_dir), Path(judge_dir)
    data = data or run_config_of(vae_dir).data
    check_sweep_fits_data(data, sweep)
    sweep = sweep.resolved(sweep_classes(data, sweep))
    requested = {"attack": attack, "sweep": sweep, "data": data}
    saved = (out / "summary.json", out / "partial" / "settings.json")
    if already_done(out, saved, requested, "attack sweep"):
        return out
    attack.check_sweepable()
    parse_pairs(sweep.pairs, tuple(sweep.classes))
    dev = resolve_device(device)
    vae = load_vae(vae_dir, dev, require_finished=True)
    judge = load_classifier(judge_dir, dev, require_finished=True)
    judge, attr_index, unreliable = attribute_judge(judge, judge_dir, data, sweep)
    check_judge_fits(vae, judge, judge_dir, vae_dir, sweep.classes)
    with claim(out, saved, requested, "attack sweep") as todo:
        if todo:
            _sweep(vae, judge, vae_dir, judge_dir, out, attack, sweep, data, dev, progress, attr_index, unreliable)
    return out


def sweep_classes(data: DataConfig, sweep: SweepConfig) -> int:
    """How many classes the sweep's pairs are drawn over: the data's classes, an attribute's two
    values, or the number of values of ``sweep.factor``."""
    info = dataset_info(data)
    if sweep.factor is not None and info.factor_names and sweep.factor in info.factor_names:
        return int(info.factor_sizes[info.factor_names.index(sweep.factor)])  # type: ignore[index]
    return 2 if sweep.attribute is not None else info.classes


def check_sweep_fits_data(data: DataConfig, sweep: SweepConfig) -> str | None:
    """The sweep's attribute, checked against the data (None for data labelled by classes):
    attributes data needs one of its attributes, class data none; ``sweep.factor`` needs data
    with ground-truth factors and one of their names."""
    info = dataset_info(data)
    if sweep.factor is not None:
        if not info.factor_names:
            raise ConfigError(f"sweep.factor = {sweep.factor}: {data.name} has no ground-truth factors "
                              "(datasets with factors: dsprites)")
        if sweep.factor not in info.factor_names:
            raise ConfigError(f"sweep.factor = {sweep.factor}: expected one of {data.name}'s factors "
                              f"({', '.join(info.factor_names)})")
    if info.labels != "attributes":
        if sweep.attribute is not None:
            raise ConfigError(f"sweep.attribute = {sweep.attribute}: {data.name} is labelled by classes, not "
                              "attributes (expected null)")
        return None
    names = list(info.class_names or ())
    if sweep.attribute is None:
        raise ConfigError(f"sweep.attribute = null: {data.name} is labelled by attributes; expected one of them, "
                          f"e.g. sweep.attribute=Smiling")
    if sweep.attribute not in names:
        raise ConfigError(f"sweep.attribute = {sweep.attribute}: expected one of {data.name}'s attributes "
                          f"({', '.join(names[:6])}, ...)")
    return sweep.attribute


def attribute_judge(judge: Any, judge_dir: Path, data: DataConfig, sweep: SweepConfig) -> tuple[Any, int | None, str | None]:
    """(judge, attribute index, why not used) for the sweep's data: on data labelled by
    attributes (CelebA) the multi-label judge read through ``sweep.attribute`` alone
    (:class:`~vaerobust.models.classifier.AttributeView`) and, if its balanced accuracy on that
    attribute is below ``sweep.min_judge_accuracy``, the reason the attribute is not used;
    on data labelled by classes the judge as it is."""
    from vaerobust.models.classifier import AttributeView
    from vaerobust.rundir import read_judge_eval

    if check_sweep_fits_data(data, sweep) is None:
        return factor_judge(judge, judge_dir, data, sweep)
    names = list(dataset_info(data).class_names or ())
    if not getattr(judge, "multilabel", False):
        raise ConfigError(f"the judge at {judge_dir} reads one class per image; {data.name}'s attributes need a "
                          "multi-label judge (judge.classifier.arch = attr64)")
    index = names.index(sweep.attribute)
    bal = ((read_judge_eval(judge_dir).attributes or {}).get(sweep.attribute) or {}).get("balanced_accuracy")
    why = _unreliable(judge_dir, sweep, "attribute", sweep.attribute, bal, "at a balanced accuracy of", "clean test images")
    return AttributeView(judge, index, sweep.attribute), index, why


def _unreliable(judge_dir: Path, sweep: SweepConfig, kind: str, name: str, figure: Any, how: str, where: str) -> str | None:
    """Why the judge's reading of an attribute or factor is not used (None: it is): no test figure,
    or one below ``sweep.min_judge_accuracy``."""
    if not isinstance(figure, (int, float)):
        return f"the judge at {judge_dir} has no test figures for the {kind} {name} (eval.json)"
    if figure < sweep.min_judge_accuracy:
        return (f"the judge reads {name} {how} {figure:.1%} on {where}, below sweep.min_judge_accuracy = "
                f"{sweep.min_judge_accuracy:g}: the {kind} is not used for attack success")
    return None


def factor_judge(judge: Any, judge_dir: Path, data: DataConfig, sweep: SweepConfig) -> tuple[Any, int | None, str | None]:
    """On data with ground-truth factors and a factor judge (``factors64``): the judge read through
    ``sweep.factor`` (null: the first factor, dSprites' shape, the data's own label) with its
    index into the factors and, if its held-out accuracy on that factor is below
    ``sweep.min_judge_accuracy``, why the factor is not used. Otherwise the judge as it is."""
    from vaerobust.rundir import read_judge_eval

    info = dataset_info(data)
    if not getattr(judge, "multihead", False):
        if sweep.factor is not None:
            raise ConfigError(f"sweep.factor = {sweep.factor}: the judge at {judge_dir} does not read factors "
                              "(judge.classifier.arch = factors64)")
        return judge, None, None
    names = list(info.factor_names or ())
    name = sweep.factor or names[0]
    index = names.index(name)
    acc = ((read_judge_eval(judge_dir).factors or {}).get(name) or {}).get("accuracy")
    why = _unreliable(judge_dir, sweep, "factor", name, acc, "at", "held-out images")
    return FactorView(judge, index, name), index, why


class _Gathered:
    """The test images a sweep uses, gathered from a lazy container onto the device, indexed by
    their test-set indices (CelebA's test split never sits in memory whole)."""

    def __init__(self, images: Tensor, used: np.ndarray, n: int) -> None:
        self.tensor = images
        self.device = images.device
        self._pos = torch.full((n,), -1, dtype=torch.long, device=images.device)
        self._pos[torch.as_tensor(used, device=images.device)] = torch.arange(len(used), device=images.device)

    def __getitem__(self, idx: Tensor) -> Tensor:
        return self.tensor[self._pos[idx]]


def _sweep(vae: Any, judge: Any, vae_dir: Path, judge_dir: Path, out: Path, attack: AttackConfig,
           sweep: SweepConfig, data: DataConfig, dev: torch.device, progress: bool,
           attr_index: int | None = None, unreliable: str | None = None) -> None:
    from vaerobust.data import is_lazy

    x, y = load_dataset(data, "test")
    data_hash = fingerprint(x, y)
    if attr_index is not None and y.ndim == 2:
        y = y[:, attr_index]  # the attribute's value, 0 or 1, is each image's class
    elif attr_index is not None:  # a factor's value is each image's class
        y = torch.from_numpy(np.asarray(x.factors[:, attr_index], dtype=np.int64))
    t0 = time.perf_counter()

    pairs = make_pairs(y.numpy(), tuple(sweep.classes), sweep.per_pair, sweep.seed, sweep.pairs)
    if is_lazy(x):  # judge and attack only the images the pairs use
        used = np.unique(np.concatenate([pairs.src_index.to_numpy(), pairs.tgt_index.to_numpy()]))
        x = _Gathered(x[used].to(dev), used, len(x))
        clean_pred = np.full(len(y), -1, dtype=np.int64)
        clean_pred[used] = judged(vae, judge, x.tensor, sweep, sweep.seed).cpu().numpy()
        judged_rows = used
    else:
        x = x.to(dev)
        clean_pred = judged(vae, judge, x, sweep, sweep.seed).cpu().numpy()
        judged_rows = np.arange(len(y))
    pairs["clean_pred"] = clean_pred[pairs.src_index.to_numpy()]
    pairs["kept"] = (pairs.clean_pred == pairs.source) & (unreliable is None)
    for col in RESULT_COLUMNS:
        pairs[col] = -1 if col == "adv_pred" else np.nan
    factor_names = list(dataset_info(data).factor_names or ()) if isinstance(judge, FactorView) else []
    moved_cols = [f"moved_{n}" for n in factor_names]
    for col in moved_cols:
        pairs[col] = -1
    rows = np.flatnonzero(pairs.kept.to_numpy())
    accuracy = float((clean_pred[judged_rows] == y.numpy()[judged_rows]).mean())
    warnings = [unreliable] if unreliable is not None else [] if rows.size else [
        f"no source was attacked: the judge labels none of the {len(pairs)} sources' clean reconstructions "
        f"correctly (its accuracy on all clean test reconstructions is {accuracy:.1%}); attack success is undefined"]

    atk = build_attack(vae, attack, judge=judge)
    keep_samples = sample_rows(pairs, rows)
    samples: dict[str, list] = {k: [] for k in SAMPLE_KEYS}
    # Each finished batch is saved under partial/, so an interrupted sweep resumes where it
    # stopped; per-row start noise makes the resumed results identical to an uninterrupted run.
    part = out / "partial"
    files.write_json(part / "settings.json", {"attack": attack, "sweep": sweep, "data": data})
    bar = progress_bar(len(rows), 0, f"attack {vae_dir.name}", progress)
    evaluations, done = 0, 0
    n_batches = -(-len(rows) // sweep.batch_size)

    def where() -> str:
        return (f"attack sweep {out} interrupted after {done} of {n_batches} batches (saved in {part}); "
                "run the same command to resume")

    with interruptible(where):
        for start in range(0, len(rows), sweep.batch_size):
            r = rows[start : start + sweep.batch_size]
            batch_file = part / f"batch-{start:08d}.npz"
            res = _read_batch(batch_file, r)
            if res is not None and moved_cols and "moved" not in res:
                res = None  # saved before factors were tracked: attack it again
            if res is None:
                res = _attack_batch(atk, vae, judge, x, pairs, r, np.isin(r, keep_samples), sweep)
                _check_finite(res, out)
                files.write_bytes(batch_file, _npz_bytes(res))
            for col in RESULT_COLUMNS:
                pairs.loc[r, col] = res[col]
            if moved_cols:
                pairs.loc[r, moved_cols] = res["moved"]
            evaluations += int(res["evaluations"])
            if res["row"].size:
                for k in SAMPLE_KEYS:
                    samples[k].append(res[k])
            done += 1
            bar.update(len(r))
    bar.close()
    seconds = time.perf_counter() - t0

    pairs["adv_pred"] = pairs.adv_pred.astype(int)
    table = success_table(pairs.source, pairs.target, pairs.kept, pairs.adv_pred, list(sweep.classes),
                          cluster=pairs.src_index.to_numpy())
    unmeasured = [c for c in SSIM_COLUMNS if pairs[c].isna().all()]  # grey images: no MS-SSIM columns
    files.write_text(out / "examples.csv", pairs.drop(columns=unmeasured).to_csv(index=False))
    if samples["row"]:
        files.write_bytes(out / "samples.npz", _npz_bytes({k: np.concatenate(v) for k, v in samples.items()}))
    summary = AttackSummary(
        vae=str(vae_dir), judge=str(judge_dir), attack=to_dict(attack), sweep=to_dict(sweep), data=to_dict(data),
        data_sha256=data_hash, device=str(dev), version=__version__, seconds=seconds,
        n_pairs_formed=int(len(pairs)), n_attacked=int(len(rows)), clean_recon_accuracy=accuracy,
        image_steps=int(len(rows)) * attack.steps * attack.restarts,  # the fixed-step budget
        encoder_evaluations=evaluations,  # per-example encoder passes actually spent (early stopping saves some)
        results=table.to_json(),
        # means over the attacked examples (every attacked row has them)
        distances={c: _mean(pairs.loc[rows, c]) for c in (*DISTANCE_COLUMNS, *SSIM_COLUMNS)
                   if c in DISTANCE_COLUMNS or pairs.loc[rows, c].notna().any()},
        warnings=warnings,
        factors_moved={n: _mean(pairs.loc[rows, c]) for n, c in zip(factor_names, moved_cols)},
    )
    files.write_json(out / "summary.json", summary.to_json())
    mark_complete(out)
    shutil.rmtree(part, ignore_errors=True)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _check_finite(res: dict[str, np.ndarray], out: Path) -> None:
    bad = [c for c in DISTANCE_COLUMNS if not np.isfinite(res[c]).all()]
    if bad or not np.isfinite(res["x_adv"]).all():
        raise NothingToMeasure(f"attack sweep {out}: the attack produced non-finite values ({', '.join(bad) or 'x_adv'}); "
                               "the batch was not saved (check attack.lr and attack.lam)")


def judged(vae: Any, judge: Any, x: Tensor, sweep: SweepConfig, seed: int) -> Tensor:
    """The judge's labels [N] of the reconstructions of ``x``: deterministic reconstructions judged
    in evaluation mode (PROTOCOL §6), or, as the thesis author's code did (§9), with a sampled
    categorical code (``sweep.sample_categorical``) and/or the judge's dropout active
    (``sweep.judge_dropout``), their randomness drawn from generators seeded by ``seed``."""
    rec = reconstruct(vae, x, sample_categorical=sweep.sample_categorical, seed=seed)
    return predict(judge, rec, dropout=sweep.judge_dropout, seed=seed ^ 0x5BD1E995)  # another stream than the draws


def _batch_seed(sweep: SweepConfig, first_row: int) -> int:
    """The seed of a batch's random verdicts: fixed by the sweep's seed and the batch's first row,
    so a resumed sweep draws what the uninterrupted one drew."""
    return (sweep.seed * 1_000_003 + int(first_row) + 1) % (2**63 - 1)


def _attack_batch(atk: Any, vae: Any, judge: Any, x: Tensor, pairs: pd.DataFrame, r: np.ndarray,
                  keep: np.ndarray, sweep: SweepConfig) -> dict[str, np.ndarray]:
    """Attack rows ``r`` of ``pairs``; per-row results, plus pictures of the rows where ``keep``."""
    dev = x.device
    xs = x[torch.as_tensor(pairs.src_index.to_numpy()[r], device=dev)]
    xt = x[torch.as_tensor(pairs.tgt_index.to_numpy()[r], device=dev)]
    x_adv = atk(xs, xt, noise=row_noise(pairs, r, tuple(xs.shape[1:]), sweep.seed))
    evaluations = atk.evaluations  # encoder passes (per example) the attack spent on this batch
    with torch.no_grad():
        rec = reconstruct(vae, x_adv)
        rec_src, rec_tgt = reconstruct(vae, xs), reconstruct(vae, xt)
        f_adv, f_src, f_tgt = features(vae, x_adv), features(vae, xs), features(vae, xt)
        out = {
            "adv_pred": judged(vae, judge, x_adv, sweep, _batch_seed(sweep, r[0]) if len(r) else 0).cpu().numpy(),
            "l2": l2(x_adv - xs).cpu().numpy(),
            "linf": (x_adv - xs).abs().flatten(1).amax(1).cpu().numpy(),
            "latent_dist": l2(f_adv - f_tgt).cpu().numpy(),
            "latent_dist_clean": l2(f_src - f_tgt).cpu().numpy(),
            "out_dist": l2(rec - xt).cpu().numpy(),
            "out_dist_clean": l2(rec_src - xt).cpu().numpy(),
            "out_floor": l2(rec_tgt - xt).cpu().numpy(),
            "src_tgt_dist": l2(xt - xs).cpu().numpy(),
            "ms_ssim": ms_ssim_rows(rec, xt),  # colour images only (NaN otherwise): the adversarial reconstruction to the target
            "ms_ssim_clean": ms_ssim_rows(rec_src, xt),
            "rows": r,
            "evaluations": np.array(evaluations, dtype=np.int64),
        }
        if isinstance(judge, FactorView):  # which factors the attack moved, as the judge reads them
            out["moved"] = factors_moved(judge.judge, rec, rec_src)
        sel = torch.as_tensor(np.flatnonzero(keep), device=dev)
        pics = {"x_src": xs, "x_tgt": xt, "x_adv": x_adv, "recon_adv": rec}
        out.update({k: v[sel].cpu().numpy() for k, v in pics.items()})
        out["recon_src"] = rec_src[sel].cpu().numpy()
        out["row"] = r[keep]
    return out


def factors_moved(judge: Any, rec_adv: Tensor, rec_src: Tensor) -> np.ndarray:
    """[B, F] int8: 1 where the factor judge reads factor f of the adversarial reconstruction with
    another value than of the source's clean reconstruction (evaluation mode, argmax per head)."""
    adv, src = judge.split(judge(rec_adv)), judge.split(judge(rec_src))
    return torch.stack([a.argmax(1) != s.argmax(1) for a, s in zip(adv, src)], dim=1).to(torch.int8).cpu().numpy()


def ms_ssim_rows(a: Tensor, b: Tensor) -> np.ndarray:
    """MS-SSIM per row of colour images [B, 3, H, W] in [0, 1] (pytorch-msssim): Wang et al.'s five
    scales and weights, with the largest odd Gaussian window the library allows at that size (its
    four halvings need side > 16 (win - 1): 3 at 64x64, 11 from 161 pixels). NaN for grey images,
    where the MNIST protocol has labels and the literature reports no MS-SSIM, and below 33 pixels."""
    if a.shape[1] != 3 or a.shape[0] == 0:
        return np.full(a.shape[0], np.nan)
    from pytorch_msssim import ms_ssim

    side = min(a.shape[-2:])
    win = next((w for w in (11, 9, 7, 5, 3) if (w - 1) * 16 < side), None)
    if win is None:
        return np.full(a.shape[0], np.nan)
    return ms_ssim(a.float(), b.float(), data_range=1.0, size_average=False, win_size=win).cpu().numpy()


def _mean(col: pd.Series) -> float | None:
    v = col.to_numpy(dtype=float)
    return float(v.mean()) if v.size else None


def _read_batch(path: Path, rows: np.ndarray) -> dict[str, np.ndarray] | None:
    """A saved batch's results if the file is readable and holds exactly ``rows``; else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            res = {k: f[k] for k in f.files}
    except Exception:  # a file cut by a kill: attack that batch again
        return None
    if "rows" not in res or not np.array_equal(res["rows"], rows) or any(c not in res for c in RESULT_COLUMNS):
        return None
    return res


def resolve_attack(preset: str, pairs: str | None = None, per_pair: int | None = None, attack_name: str | None = None,
                   overrides: Sequence[str] = ()) -> tuple[AttackConfig, SweepConfig]:
    """The settings of ``vaerobust attack``: the study's attack and sweep, then the options given (None: the study's)."""
    study = load_study(preset)
    ov = parse_overrides(overrides)
    bad = [k for k in ov if not k.startswith(("attack.", "sweep."))]
    if bad:
        raise ConfigError(f"override {bad[0]!r}: expected a key under attack. or sweep. (e.g. attack.steps=200)")
    options = {f"sweep.{k}": v for k, v in (("pairs", pairs), ("per_pair", per_pair)) if v is not None}
    if attack_name is not None:
        options["attack.name"] = attack_name
    study = apply_overrides(study, {**options, **ov} if attack_name is None else {**ov, **options})
    return study.attack, study.sweep


def run(vae_dir: Path, judge_dir: Path, out: Path | None = None, preset: str = "sootla2018", pairs: str | None = None,
        per_pair: int | None = None, attack_name: str | None = None, overrides: Sequence[str] = (),
        device: str = "auto", progress: bool = True) -> tuple[Path, AttackSummary]:
    """The ``vaerobust attack`` command (without ``--sweep``): returns the folder and its summary."""
    acfg, sweep = resolve_attack(preset, pairs, per_pair, attack_name, overrides)
    out = out or Path(vae_dir) / "attacks" / acfg.name
    attack_sweep(vae_dir, judge_dir, out, acfg, sweep, device=device, progress=progress)
    return out, read_summary(out)


__all__ = ["RESULT_COLUMNS", "SAMPLE_KEYS", "SSIM_COLUMNS", "attack_sweep", "attribute_judge", "check_judge_fits",
           "check_sweep_fits_data", "factor_judge", "ms_ssim_rows", "resolve_attack", "run", "run_config_of",
           "sweep_classes"]
