"""Scatter grid of disentanglement against robustness (matplotlib, Agg backend).

One panel per (figure, metric): rows are robustness figures, columns disentanglement metrics, one
point per row of the study table, coloured by a column (by default the objective). Each panel's title
gives Spearman's rho (:func:`vaerobust.metrics.correlation.spearman`, rank correlation over the
panel's finite pairs) and n, the number of points drawn; rows with a NaN in the panel's two columns are
left out of that panel only. The PNG is written atomically (:func:`vaerobust.report.figures.save_png`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vaerobust.metrics.correlation import spearman
from vaerobust.report.figures import _plt, save_png


def _missing_label(value: object) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def scatter_grid_png(df: pd.DataFrame, metrics: Sequence[str], figures: Sequence[str], path: Path | str,
                     color: str | None = "objective", title: str = "") -> Path:
    """Write a grid of scatter plots (rows: ``figures``, columns: ``metrics``) to ``path`` and return it.

    Points are coloured by the values of column ``color`` (None: one colour), with one legend for the
    whole grid. Raises ValueError for an empty table, no metrics or figures, or a missing column.
    """
    metrics, figures = list(metrics), list(figures)
    if df is None or len(df) == 0:
        raise ValueError("scatter grid: the table has no rows")
    if not metrics or not figures:
        raise ValueError("scatter grid: give at least one metric and one figure")
    wanted = metrics + figures + ([color] if color is not None else [])
    missing = [c for c in dict.fromkeys(wanted) if c not in df.columns]
    if missing:
        raise ValueError(f"scatter grid: column(s) {', '.join(map(repr, missing))} not in the table; "
                         f"columns available: {', '.join(map(str, df.columns))}")
    plt = _plt()
    labels = df[color].map(_missing_label) if color is not None else pd.Series("all", index=df.index)
    groups = sorted(labels.unique(), key=str)
    cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    colours = {g: cmap(i % cmap.N) for i, g in enumerate(groups)}

    nrows, ncols = len(figures), len(metrics)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.9 * nrows), squeeze=False)
    for i, figure in enumerate(figures):
        y_all = pd.to_numeric(df[figure], errors="coerce").to_numpy(dtype=float)
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            x_all = pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float)
            keep = np.isfinite(x_all) & np.isfinite(y_all)
            x, y, lab = x_all[keep], y_all[keep], labels.to_numpy()[keep]
            for g in groups:
                mine = lab == g
                if mine.any():
                    ax.scatter(x[mine], y[mine], s=18, color=colours[g], alpha=0.85, edgecolors="none")
            rho = spearman(x, y)
            head = f"rho = {rho:+.2f}" if np.isfinite(rho) else "rho undefined"
            ax.set_title(f"{head}, n = {int(keep.sum())}", fontsize=9)
            if not keep.any():
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, fontsize=8, color="grey")
            ax.set_xlabel(metric, fontsize=8)
            ax.set_ylabel(figure, fontsize=8)
            ax.tick_params(labelsize=7)
    if color is not None:
        handles = [plt.Line2D([], [], marker="o", linestyle="", color=colours[g], label=g) for g in groups]
        fig.legend(handles=handles, title=color, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title_fontsize=8,
                   frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_png(fig, Path(path))
