"""Figures (matplotlib, Agg backend): image grids, latent traversals, heatmaps, examples.

Every function writes PNG files and returns their paths; nothing is shown on screen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaerobust import io


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
    io.write_bytes(Path(path), buf.getvalue())
    return Path(path)


def image_grid(images: np.ndarray, nrow: int, pad: int = 1) -> np.ndarray:
    """Tile [N, H, W] (or [N, 1, H, W]) grey images in [0, 1] into one [rows*H, nrow*W] array."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    n, h, w = images.shape
    rows = int(np.ceil(n / nrow))
    grid = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = images[i]
    return grid


def grid_png(images: np.ndarray, nrow: int, path: Path, title: str | None = None,
             row_labels: list[str] | None = None) -> Path:
    plt = _plt()
    g = image_grid(images, nrow)
    fig, ax = plt.subplots(figsize=(max(2.0, g.shape[1] / 28), max(2.0, g.shape[0] / 28)))
    ax.imshow(g, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
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
