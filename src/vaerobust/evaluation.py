"""The attack sweep of the study (PROTOCOL §6): pairs, clean filter, attack, judge, record.

``attack_sweep(vae_dir, judge_dir, out, ...)`` writes to ``out``:
- ``examples.csv``: one row per formed (source image, target image) pair: classes, test-set
  indices, the judge's label of the clean reconstruction, ``kept``, the judge's label of the
  adversarial reconstruction (-1 where not attacked), L2 / L-inf distortion, the latent
  distance phi(x_adv) - phi(x_t) and the clean one phi(x_s) - phi(x_t), the output distance
  ||recon(x_adv) - x_t||, its no-attack value, its floor ||recon(x_t) - x_t|| and ||x_t - x_s||;
- ``summary.json``: settings, provenance, success matrices with Wilson intervals, marginals,
  overall means (recomputable from ``examples.csv`` alone);
- ``samples.npz``: a few sources, targets, adversarial inputs and their reconstructions.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from vaerobust import __version__, io
from vaerobust.attacks import build_attack
from vaerobust.attacks.base import l2
from vaerobust.config import AttackConfig, ConfigError, DataConfig, RunConfig, SweepConfig, diff_keys, from_dict, normalized, load_yaml, to_dict
from vaerobust.data import fingerprint, load_dataset
from vaerobust.metrics.robustness import success_table
from vaerobust.models import VAE
from vaerobust.training import COMPLETE, _progress, is_complete, load_classifier, load_vae, predict, resolve_device

log = logging.getLogger(__name__)


def parse_pairs(spec: str, classes: tuple[int, ...]) -> list[tuple[int, int]]:
    """``"all"`` -> every ordered pair s != t of ``classes``; ``"1-7,3-8"`` -> those pairs."""
    if spec.strip() == "all":
        return [(s, t) for s in classes for t in classes if s != t]
    out = []
    for item in spec.split(","):
        try:
            s, t = (int(v) for v in item.strip().split("-"))
        except ValueError:
            raise ValueError(f"pair {item.strip()!r} in {spec!r}: expected 'all' or SOURCE-TARGET items like '1-7,3-8'") from None
        if s == t or s not in classes or t not in classes:
            raise ValueError(f"pair {item.strip()!r}: expected two different classes out of {list(classes)}")
        out.append((s, t))
    return out


def make_pairs(
    labels: np.ndarray, classes: tuple[int, ...], per_pair: int | None, seed: int, pairs: str = "all"
) -> pd.DataFrame:
    """Every ordered pair (s, t), s != t: shuffle the images of s and of t, pair them 1:1.

    n = min(#s, #t), capped at ``per_pair``. Each pair's shuffles use their own seeded
    generator, so a pair's rows do not depend on which other pairs are asked for.
    Returns columns source, target, src_index, tgt_index.
    """
    labels = np.asarray(labels)
    present = set(np.unique(labels).tolist())
    missing = [c for c in classes if c not in present]
    if missing:
        raise ValueError(f"classes {missing} have no test images; labels present: {sorted(present)}")
    frames = []
    for s, t in parse_pairs(pairs, tuple(classes)):
        rng = np.random.default_rng([seed, s, t])
        src = rng.permutation(np.flatnonzero(labels == s))
        tgt = rng.permutation(np.flatnonzero(labels == t))
        n = min(len(src), len(tgt), per_pair if per_pair is not None else len(src))
        frames.append(pd.DataFrame({"source": s, "target": t, "src_index": src[:n], "tgt_index": tgt[:n]}))
    return pd.concat(frames, ignore_index=True)


@torch.no_grad()
def reconstruct(vae: VAE, x: Tensor, batch_size: int = 2048) -> Tensor:
    return torch.cat([vae.reconstruct(x[i : i + batch_size]) for i in range(0, max(x.shape[0], 1), batch_size)])


@torch.no_grad()
def features(vae: VAE, x: Tensor, batch_size: int = 2048) -> Tensor:
    return torch.cat([vae.encode(x[i : i + batch_size]).features() for i in range(0, max(x.shape[0], 1), batch_size)])


def run_config_of(run_dir: Path) -> RunConfig:
    data = load_yaml(Path(run_dir) / "config.yaml")
    data.pop("meta", None)
    return from_dict(RunConfig, data)


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
    """Attack every kept (source, target) pair of the test split; see the module docstring."""
    out = Path(out)
    data = data or run_config_of(Path(vae_dir)).data
    requested = {"attack": to_dict(attack), "sweep": to_dict(sweep), "data": to_dict(data)}
    for saved_file in (out / "summary.json", out / "partial" / "settings.json"):
        if not saved_file.is_file():
            continue
        saved = io.read_json(saved_file)
        old = {k: normalized(cls, saved.get(k)) for k, cls in
               (("attack", AttackConfig), ("sweep", SweepConfig), ("data", DataConfig))}
        if old != requested:
            raise ConfigError(
                f"{out} holds an attack sweep made with other settings ({', '.join(diff_keys(old, requested)[:5])}); "
                "use another --out or delete that folder"
            )
    if is_complete(out):
        return out
    dev = resolve_device(device)
    vae = load_vae(vae_dir, dev)
    judge = load_classifier(judge_dir, dev)
    x, y = load_dataset(data, "test")
    data_hash = fingerprint(x, y)
    x = x.to(dev)
    t0 = time.perf_counter()

    clean_pred = predict(judge, reconstruct(vae, x)).cpu().numpy()
    pairs = make_pairs(y.numpy(), tuple(sweep.classes), sweep.per_pair, sweep.seed, sweep.pairs)
    pairs["clean_pred"] = clean_pred[pairs.src_index.to_numpy()]
    pairs["kept"] = pairs.clean_pred == pairs.source
    for col in RESULT_COLUMNS:
        pairs[col] = -1 if col == "adv_pred" else np.nan
    rows = np.flatnonzero(pairs.kept.to_numpy())

    atk = build_attack(vae, attack, judge=judge)
    keep_samples = _sample_rows(pairs, rows)
    samples: dict[str, list] = {k: [] for k in SAMPLE_KEYS}
    # Each finished batch is saved under partial/, so an interrupted sweep resumes where it
    # stopped; per-row start noise makes the resumed results identical to an uninterrupted run.
    part = out / "partial"
    io.write_json(part / "settings.json", requested)
    bar = _progress(len(rows), 0, f"attack {Path(vae_dir).name}", progress)
    evaluations = 0
    for start in range(0, len(rows), sweep.batch_size):
        r = rows[start : start + sweep.batch_size]
        batch_file = part / f"batch-{start:08d}.npz"
        res = _read_batch(batch_file, r)
        if res is None:
            res = _attack_batch(atk, vae, judge, x, pairs, r, np.isin(r, keep_samples), sweep.seed)
            io.write_npz(batch_file, res)
        for col in RESULT_COLUMNS:
            pairs.loc[r, col] = res[col]
        evaluations += int(res["evaluations"])
        if res["row"].size:
            for k in SAMPLE_KEYS:
                samples[k].append(res[k])
        bar.update(len(r))
    bar.close()
    seconds = time.perf_counter() - t0

    pairs["adv_pred"] = pairs.adv_pred.astype(int)
    table = success_table(pairs.source, pairs.target, pairs.kept, pairs.adv_pred, list(sweep.classes))
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(out / "examples.csv", pairs.to_csv(index=False))
    if samples["row"]:
        io.write_npz(out / "samples.npz", {k: np.concatenate(v) for k, v in samples.items()})
    summary = {
        "vae": str(vae_dir),
        "judge": str(judge_dir),
        "attack": to_dict(attack),
        "sweep": to_dict(sweep),
        "data": to_dict(data),
        "data_sha256": data_hash,
        "device": str(dev),
        "version": __version__,
        "seconds": seconds,
        "n_pairs_formed": int(len(pairs)),
        "n_attacked": int(len(rows)),
        "clean_recon_accuracy": float((clean_pred == y.numpy()).mean()),
        "image_steps": int(len(rows)) * attack.steps * attack.restarts,  # the fixed-step budget
        "encoder_evaluations": evaluations,  # per-example encoder passes actually spent (early stopping saves some)
        "results": table.to_json(),
        # means over the attacked examples (NaN-free: every attacked row has them)
        "distances": {c: _mean(pairs.loc[rows, c]) for c in RESULT_COLUMNS if c != "adv_pred"},
    }
    io.write_json(out / "summary.json", summary)
    io.write_json(out / COMPLETE, {"version": __version__})
    shutil.rmtree(part, ignore_errors=True)
    return out


# Per attacked example: the judge's class of recon(x_adv); ||x_adv - x_s||_2 and _inf; the
# latent feature distance to the target after and before the attack; the output distance
# ||recon(x_adv) - x_t||_2, its no-attack value ||recon(x_s) - x_t||_2 and its floor
# ||recon(x_t) - x_t||_2; and ||x_t - x_s||_2 (the distortion-distortion curve's scales).
RESULT_COLUMNS = ("adv_pred", "l2", "linf", "latent_dist", "latent_dist_clean",
                  "out_dist", "out_dist_clean", "out_floor", "src_tgt_dist")
SAMPLE_KEYS = ("row", "x_src", "x_tgt", "x_adv", "recon_adv", "recon_src")


def _attack_batch(atk, vae: VAE, judge, x: Tensor, pairs: pd.DataFrame, r: np.ndarray,  # type: ignore[no-untyped-def]
                  keep: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Attack rows ``r`` of ``pairs``; per-row results, plus pictures of the rows where ``keep``."""
    dev = x.device
    xs = x[torch.as_tensor(pairs.src_index.to_numpy()[r], device=dev)]
    xt = x[torch.as_tensor(pairs.tgt_index.to_numpy()[r], device=dev)]
    x_adv = atk(xs, xt, noise=row_noise(pairs, r, tuple(xs.shape[1:]), seed))
    evaluations = atk.evaluations  # encoder passes (per example) the attack spent on this batch
    with torch.no_grad():
        rec = reconstruct(vae, x_adv)
        rec_src, rec_tgt = reconstruct(vae, xs), reconstruct(vae, xt)
        f_adv, f_src, f_tgt = features(vae, x_adv), features(vae, xs), features(vae, xt)
        out = {
            "adv_pred": predict(judge, rec).cpu().numpy(),
            "l2": l2(x_adv - xs).cpu().numpy(),
            "linf": (x_adv - xs).abs().flatten(1).amax(1).cpu().numpy(),
            "latent_dist": l2(f_adv - f_tgt).cpu().numpy(),
            "latent_dist_clean": l2(f_src - f_tgt).cpu().numpy(),
            "out_dist": l2(rec - xt).cpu().numpy(),
            "out_dist_clean": l2(rec_src - xt).cpu().numpy(),
            "out_floor": l2(rec_tgt - xt).cpu().numpy(),
            "src_tgt_dist": l2(xt - xs).cpu().numpy(),
            "rows": r,
            "evaluations": np.array(evaluations, dtype=np.int64),
        }
        sel = torch.as_tensor(np.flatnonzero(keep), device=dev)
        pics = {"x_src": xs, "x_tgt": xt, "x_adv": x_adv, "recon_adv": rec}
        out.update({k: v[sel].cpu().numpy() for k, v in pics.items()})
        out["recon_src"] = rec_src[sel].cpu().numpy()
        out["row"] = r[keep]
    return out


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


def row_noise(pairs: pd.DataFrame, rows: np.ndarray, shape: tuple[int, ...], seed: int) -> Tensor:
    """Standard-normal start noise [len(rows), *shape], each row's drawn from its own generator
    seeded by (seed, source index, target index): results do not depend on batching."""
    src = pairs.src_index.to_numpy()[rows]
    tgt = pairs.tgt_index.to_numpy()[rows]
    out = np.stack([np.random.default_rng([seed, int(s), int(t)]).standard_normal(shape) for s, t in zip(src, tgt)])
    return torch.from_numpy(out.astype(np.float32))


def _sample_rows(pairs: pd.DataFrame, rows: np.ndarray, per_source: int = 2) -> np.ndarray:
    """Rows kept for pictures: the first ``per_source`` attacked rows of each source class."""
    kept = pairs.iloc[rows]
    picks = kept.groupby("source", sort=True).head(per_source).index.to_numpy()
    return picks


def table_from_examples(path: str | Path, classes: list[int] | None = None):  # type: ignore[no-untyped-def]
    """Recompute the success table from a sweep's ``examples.csv`` (no re-attacking)."""
    df = pd.read_csv(path)
    return success_table(df.source, df.target, df.kept, df.adv_pred, classes)
