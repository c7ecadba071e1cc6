"""The scatter grid of disentanglement metrics against robustness figures (report/scatter.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vaerobust.report.scatter import scatter_grid_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def small_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 18
    df = pd.DataFrame({
        "objective": np.repeat(["beta_vae", "factor_vae", "elbo"], n // 3),
        "mig.mig": rng.uniform(0, 0.5, n),
        "sap.sap": rng.uniform(0, 0.2, n),
        "as_ignore": rng.uniform(0, 1, n),
        "as_target": rng.uniform(0, 1, n),
    })
    df.loc[2, "mig.mig"] = np.nan
    df.loc[5, "as_target"] = np.nan
    return df


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def test_scatter_grid_writes_a_png(tmp_path: Path) -> None:
    out = scatter_grid_png(small_table(), ["mig.mig", "sap.sap"], ["as_ignore", "as_target"], tmp_path / "sub" / "grid.png",
                           title="disentanglement vs attack success")
    assert out == tmp_path / "sub" / "grid.png" and out.is_file()
    width, height = png_size(out)
    assert width > 400 and height > 300
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_scatter_grid_without_colour_and_an_all_nan_panel(tmp_path: Path) -> None:
    df = small_table()
    df["sap.sap"] = np.nan
    out = scatter_grid_png(df, ["mig.mig", "sap.sap"], ["as_ignore"], tmp_path / "grid.png", color=None)
    assert png_size(out)[0] > 300


def test_scatter_grid_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'dci.disentanglement'.*columns available"):
        scatter_grid_png(small_table(), ["dci.disentanglement"], ["as_ignore"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="'model'"):
        scatter_grid_png(small_table(), ["mig.mig"], ["as_ignore"], tmp_path / "x.png", color="model")
    with pytest.raises(ValueError, match="no rows"):
        scatter_grid_png(small_table().iloc[:0], ["mig.mig"], ["as_ignore"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
