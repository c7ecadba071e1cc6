"""Figures (matplotlib, Agg backend): image grids, latent traversals, heatmaps, examples.

Every function writes PNG files and returns their paths; nothing is shown on screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaerobust import files
from vaerobust.errors import RunDirError


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Save a matplotlib figure atomically and close it."""
    import io as _bytes_io

    buf = _bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    files.write_bytes(Path(path), buf.getvalue())
    return Path(path)


def image_grid(images: np.ndarray, nrow: int, pad: int = 1) -> np.ndarray:
    """Tile [N, H, W] (or [N, 1, H, W]) grey images in [0, 1] into one [rows*H, nrow*W] array;
    colour images [N, 3, H, W] into one [rows*H, nrow*W, 3] array."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    n, h, w = images.shape[:3]
    rows = int(np.ceil(n / nrow))
    grid = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad) + images.shape[3:], dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = images[i]
    return grid


def show_image(ax, img) -> None:  # type: ignore[no-untyped-def]
    """Draw one image [H, W], [1, H, W] (grey) or [3, H, W] (colour) with values in [0, 1]."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] == 3:
        ax.imshow(np.clip(a.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    else:
        ax.imshow(a.reshape(a.shape[-2], a.shape[-1]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def grid_png(images: np.ndarray, nrow: int, path: Path, title: str | None = None,
             row_labels: list[str] | None = None) -> Path:
    plt = _plt()
    g = image_grid(images, nrow)
    fig, ax = plt.subplots(figsize=(max(2.0, g.shape[1] / 28), max(2.0, g.shape[0] / 28)))
    ax.imshow(np.clip(g, 0, 1), cmap="gray" if g.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        n_rows = len(row_labels)
        step = g.shape[0] / n_rows
        ax.set_yticks([step * (i + 0.5) for i in range(n_rows)], row_labels, fontsize=7)
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return save_png(fig, path)


@torch.no_grad()
def vae_figures(model, x: torch.Tensor, folder: Path, seed: int = 0, n_steps: int = 9) -> list[Path]:  # type: ignore[no-untyped-def]
    """Reconstructions, prior samples and latent traversals of a VAE.

    - ``reconstructions.png``: rows of inputs above their deterministic reconstructions;
    - ``samples.png``: decodes of z ~ N(0, I) with uniformly drawn one-hot categorical codes;
    - ``traversal_gaussian.png``: row d varies Gaussian dim d over [-2.5, 2.5] (others at the
      posterior mean of the first test image, categorical at its argmax);
    - ``traversal_categorical_j.png``: one column per class of categorical j, each row a
      different Gaussian code (prior samples).
    """
    folder = Path(folder)
    model.eval()
    spec = model.spec
    out = []
    n = min(16, x.shape[0])
    rec = model.reconstruct(x[:n])
    both = torch.cat([x[:n], rec]).cpu().numpy()
    out.append(grid_png(both, n, folder / "reconstructions.png", "inputs (top) and reconstructions (bottom)"))

    g = torch.Generator().manual_seed(seed)
    m = 64
    parts = [torch.randn(m, spec.gaussian, generator=g)] if spec.gaussian else []
    for k in spec.categorical:
        parts.append(torch.nn.functional.one_hot(torch.randint(k, (m,), generator=g), k).float())
    dev = next(model.parameters()).device
    samples = model.decode(torch.cat(parts, 1).to(dev)).cpu().numpy()
    out.append(grid_png(samples, 8, folder / "samples.png", "samples from the prior"))

    base = model.encode(x[:1]).mode()  # [1, code_size]
    if spec.gaussian:
        vals = torch.linspace(-2.5, 2.5, n_steps, device=dev)
        codes = base.repeat(spec.gaussian * n_steps, 1)
        for d in range(spec.gaussian):
            codes[d * n_steps : (d + 1) * n_steps, d] = vals
        imgs = model.decode(codes).cpu().numpy()
        out.append(grid_png(imgs, n_steps, folder / "traversal_gaussian.png",
                            "Gaussian traversals: row d sweeps z_d over [-2.5, 2.5]",
                            [f"z{d}" for d in range(spec.gaussian)]))
    start = spec.gaussian
    for j, k in enumerate(spec.categorical):
        rows = 6
        z = torch.randn(rows, spec.gaussian, generator=g).to(dev) if spec.gaussian else None
        codes = base.repeat(rows * k, 1)
        for r in range(rows):
            blk = codes[r * k : (r + 1) * k]
            if z is not None:
                blk[:, : spec.gaussian] = z[r]
            blk[:, start : start + k] = torch.eye(k, device=dev)
        imgs = model.decode(codes).cpu().numpy()
        out.append(grid_png(imgs, k, folder / f"traversal_categorical_{j}.png",
                            f"categorical code {j}: column = class, row = a Gaussian sample"))
        start += k
    return out


# --------------------------------------------------------------------------- attack results


def _rate_array(rate_matrix) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A [k, k] float array from nested lists with None (a summary's ``rate``) or an array."""
    rows = [[np.nan if v is None else float(v) for v in row] for row in np.asarray(rate_matrix, dtype=object).tolist()]
    a = np.asarray(rows, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"rate_matrix: expected a square [classes, classes] matrix, got shape {a.shape}")
    return a


def heatmap_png(rate_matrix, path: Path, title: str, classes: list | None = None) -> Path:  # type: ignore[no-untyped-def]
    """A heatmap of a pair-rate matrix ``rate[source][target]`` (fractions), drawn in percent.

    Rows are source classes (y), columns target classes (x); each cell is annotated with its
    percent. The colour range is fixed to 0-100 % so heatmaps of different models compare
    by eye. The diagonal (no attack) and empty cells (no kept source) are grey.
    """
    plt = _plt()
    a = 100 * _rate_array(rate_matrix)
    k = a.shape[0]
    classes = list(range(k)) if classes is None else list(classes)
    cmap = plt.get_cmap("viridis").with_extremes(bad="#d0d0d0")
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    im = ax.imshow(np.ma.masked_invalid(a), cmap=cmap, vmin=0, vmax=100, interpolation="nearest")
    for s in range(k):
        for t in range(k):
            if s == t:
                ax.text(t, s, "\u2013", ha="center", va="center", fontsize=9, color="#707070")
                continue
            v = a[s, t]
            text = "n/a" if np.isnan(v) else f"{v:.0f}"
            colour = "black" if (not np.isnan(v) and v > 60) or np.isnan(v) else "white"
            ax.text(t, s, text, ha="center", va="center", fontsize=7, color=colour)
    names = [str(c) for c in classes]  # class numbers or names (Fashion-MNIST's garments)
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right" if
                  max(map(len, names)) > 2 else "center", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("target class t")
    ax.set_ylabel("source class s")
    ax.set_title(title, fontsize=10)
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("attack success (%)")
    return save_png(fig, path)


def _name(c: int, names: Sequence[str] | None) -> str:
    return names[c] if names is not None and 0 <= c < len(names) else str(c)


def adversarial_examples_png(samples_npz_path: Path, path: Path, title: str,
                             examples_csv: Path | None = None, class_names: Sequence[str] | None = None) -> Path:
    """Attack examples from a sweep's ``samples.npz``: one row per source class, five columns.

    Columns: the source x_s, the target x_t, the adversarial input x_adv, the reconstruction
    of the source and the reconstruction of x_adv. Each row is labelled "s -> t" with the
    judge's label of the adversarial reconstruction, read from ``examples.csv`` (by default
    the one beside the npz file; rows of the npz index its rows). Without that file every
    sample row is drawn, unlabelled.
    """
    import pandas as pd

    plt = _plt()
    samples_npz_path = Path(samples_npz_path)
    with np.load(samples_npz_path) as z:
        data = {k: z[k] for k in z.files}
    needed = ("row", "x_src", "x_tgt", "x_adv", "recon_src", "recon_adv")
    missing = [k for k in needed if k not in data]
    if missing:
        raise RunDirError(f"{samples_npz_path} lacks arrays {missing}: was it written by attack_sweep?")
    csv = Path(examples_csv) if examples_csv is not None else samples_npz_path.with_name("examples.csv")
    labels: list[str] = []
    picks = list(range(len(data["row"])))
    if csv.is_file():
        df = pd.read_csv(csv)
        info = df.iloc[data["row"]]
        seen: set[int] = set()
        picks = []
        for i, (s, t, a) in enumerate(zip(info.source, info.target, info.adv_pred)):
            if int(s) not in seen:  # the first sample of each source class
                seen.add(int(s))
                picks.append(i)
                labels.append(f"{_name(int(s), class_names)} \u2192 {_name(int(t), class_names)}\n"
                              f"judged {_name(int(a), class_names)}")
    cols = [("x_src", "source"), ("x_tgt", "target"), ("x_adv", "adversarial input"),
            ("recon_src", "recon. of source"), ("recon_adv", "recon. of adversarial")]
    n = max(1, len(picks))
    fig, axes = plt.subplots(n, len(cols), figsize=(len(cols) * 1.25 + 0.6, n * 1.25 + 0.5), squeeze=False)
    for r in range(n):
        for c, (key, name) in enumerate(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if picks:
                show_image(ax, data[key][picks[r]])
            if r == 0:
                ax.set_title(name, fontsize=7)
            if c == 0 and labels:
                ax.set_ylabel(labels[r], fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    return save_png(fig, path)


def marginals_png(summaries: dict, path: Path, which: str = "ignore", title: str | None = None,
                  reference_names: dict | None = None, study: Any = None) -> Path:
    """Grouped bars of each model's source marginals (percent), reference values as markers.

    ``summaries``: model name -> attack summary (or its ``results``). ``which``: "ignore"
    (AS ignore-target, the default) or "target". The ``study``'s reference marginals (the
    thesis's Tables 5.1-5.3 for sootla2018) are drawn as black markers over the bars of the
    models it has numbers for (looked up by ``reference_names[name]``, default the name itself).
    """
    from vaerobust.report import tables

    if which not in ("ignore", "target"):
        raise ValueError(f"which {which!r}: expected 'ignore' or 'target'")
    plt = _plt()
    names = list(summaries)
    if not names:
        raise ValueError("marginals_png: no summaries to draw")
    res = {n: tables.results_of(summaries[n]) for n in names}
    classes = list(res[names[0]]["classes"])
    x = np.arange(len(classes))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(classes)), 3.8))
    marked = False
    for i, n in enumerate(names):
        vals = [np.nan if v is None else 100 * v for v in res[n][which]["source_marginal"]]
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, vals, width, label=n, color=plt.get_cmap("tab10")(i % 10))
        ref = None if study is None else study.reference_marginal((reference_names or {}).get(n, n), which)
        if ref is not None:
            refv = [ref[c] if isinstance(c, int) and 0 <= c < len(ref) else np.nan for c in res[n]["classes"]]
            ax.scatter(pos, refv, marker="_", s=120, linewidths=2, color="black", zorder=3,
                       label=None if marked else study.reference_label)
            marked = True
    labels = tables.class_labels(summaries[names[0]])
    ax.set_xticks(x, labels, rotation=30 if max(map(len, labels)) > 2 else 0, fontsize=8)
    ax.set_xlabel("source class s")
    ax.set_ylabel(f"{'AS ignore-target' if which == 'ignore' else 'AS target'} (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title or f"source marginals ({'AS ignore-target' if which == 'ignore' else 'AS target'})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_png(fig, path)


def dd_curves_png(curves: dict, path: Path, title: str = "distortion-distortion curves") -> Path:
    """Overlaid normalised distortion-distortion curves (Gondim-Ribeiro et al. 2018), one per model.

    ``curves``: label -> a strength sweep's ``curve.json`` dict. x = input distortion over
    ||x_t - x_s||, y = normalised output distance to the target (1: no attack, 0: as close as
    the target's own reconstruction); each curve starts at the no-attack point (0, 1). The
    legend carries each curve's AUDDC. Left: pixel space; right: latent space.
    """
    from vaerobust.metrics.auddc import dd_curve

    plt = _plt()
    if not curves:
        raise ValueError("dd_curves_png: no curves to draw")
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.8))
    for ax, ykey, akey, name in ((axes[0], "dd_y", "auddc", "output"), (axes[1], "dd_y_latent", "auddc_latent", "latent")):
        for i, (label, c) in enumerate(curves.items()):
            pts = c["points"]
            x, y = dd_curve([p["dd_x"] for p in pts], [p[ykey] for p in pts])
            a = c.get(akey)
            ax.plot(x, y, marker="o", ms=3, color=plt.get_cmap("tab10")(i % 10),
                    label=f"{label} (AUDDC {a:.3f})" if a is not None else label)
        ax.set_xlabel("input distortion / ||x_t - x_s||")
        ax.set_ylabel(f"normalised {name} distance to target")
        ax.set_xlim(left=0)
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=7, frameon=False)
        ax.set_title(f"{name} space", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save_png(fig, path)


def success_curves_png(curves: dict, path: Path, title: str = "attack success vs strength") -> Path:
    """AS ignore-target and AS target (percent, 95% bands) against the swept value, one line per model."""
    plt = _plt()
    if not curves:
        raise ValueError("success_curves_png: no curves to draw")
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6), sharey=True)
    for ax, which, name in ((axes[0], "ignore", "AS ignore-target"), (axes[1], "target", "AS target")):
        for i, (label, c) in enumerate(curves.items()):
            pts = c["points"]
            v = np.array([p["value"] for p in pts], dtype=float)
            m = np.array([np.nan if p[which]["mean"] is None else 100 * p[which]["mean"] for p in pts], dtype=float)
            lo = np.array([np.nan if p[which]["ci_low"] is None else 100 * p[which]["ci_low"] for p in pts], dtype=float)
            hi = np.array([np.nan if p[which]["ci_high"] is None else 100 * p[which]["ci_high"] for p in pts], dtype=float)
            color = plt.get_cmap("tab10")(i % 10)
            ok = np.isfinite(m) & (v > 0 if c.get("log_x") else np.isfinite(v))  # no attacked example: no point
            ax.plot(v[ok], m[ok], marker="o", ms=3, color=color, label=label)
            ax.fill_between(v[ok], lo[ok], hi[ok], color=color, alpha=0.2, lw=0)
        vals = [p["value"] for c in curves.values() for p in c["points"]]
        if any(c.get("log_x") for c in curves.values()) and vals and min(vals) > 0:
            ax.set_xscale("log")
            ax.set_xlim(min(vals) / 1.5, max(vals) * 1.5)
        ax.set_xlabel(next(iter(curves.values()))["key"])
        ax.set_ylabel(f"{name} (%)")
        ax.set_ylim(0, 100)
        ax.set_title(name, fontsize=9)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    return save_png(fig, path)
