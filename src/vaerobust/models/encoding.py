"""Running trained networks over many images, in batches, without gradients.

- :func:`reconstruct`, :func:`features`, :func:`predict`: batched wrappers of a VAE's
  deterministic reconstruction, its posterior features and a classifier's labels;
- :func:`encode_all`: posterior means, log-variances and logits of a whole data set;
- :class:`GridCodes`: the deterministic codes of a factor grid's images, each encoded at most
  once and cached (the representation the disentanglement metrics read).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaerobust.models.checks import check_images
from vaerobust.models.layout import channels_last


@torch.no_grad()
def reconstruct(vae: Any, x: Tensor, batch_size: int = 2048, sample_categorical: bool = False,
                seed: int = 0) -> Tensor:
    """Reconstructions [N, C, H, W] in batches: deterministic (``vae.reconstruct``), or with
    ``sample_categorical`` the categorical code drawn per image (:meth:`Posterior.sampled_mode`,
    from a generator seeded by ``seed``: the same call gives the same draws)."""
    if not sample_categorical or not getattr(vae.spec, "categorical", ()):
        return torch.cat([vae.reconstruct(x[i : i + batch_size]) for i in range(0, max(x.shape[0], 1), batch_size)])
    check_images(x, tuple(vae.image_shape), "reconstruct")
    gen = torch.Generator(device=x.device).manual_seed(seed)
    return torch.cat([vae.decode(vae.encode(x[i : i + batch_size]).sampled_mode(gen))
                      for i in range(0, max(x.shape[0], 1), batch_size)])


@torch.no_grad()
def features(vae: Any, x: Tensor, batch_size: int = 2048) -> Tensor:
    """phi(x) = concat(Gaussian means, categorical logits) [N, D + sum K_j], in batches."""
    return torch.cat([vae.encode(x[i : i + batch_size]).features() for i in range(0, max(x.shape[0], 1), batch_size)])


@torch.no_grad()
def predict(model: Any, x: Tensor, batch_size: int = 4096, dropout: bool = False, seed: int = 0) -> Tensor:
    """Argmax labels [N] of a classifier, in batches; images are checked (shape, range, finite).

    ``dropout``: with the classifier's dropout layers active (the thesis author's attack script
    never put its judge in evaluation mode, PROTOCOL §9), their masks drawn from a generator
    seeded by ``seed`` (the same call gives the same verdicts); every other layer stays as it is."""
    shape = getattr(model, "image_shape", None)
    if shape is not None:
        check_images(x, tuple(shape), "predict")
    if not dropout:
        return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])
    drops = [m for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
    was = [m.training for m in drops]
    # torch.manual_seed seeds every CUDA device too: save and restore them all, not only x's
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for m in drops:
                m.train()
            return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])
    finally:
        for m, w in zip(drops, was):
            m.train(w)


@torch.inference_mode()
def encode_all(vae: Any, x: Any, batch_size: int = 4096,
               device: torch.device | str | None = None) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Posterior means [N, D], log-variances [N, D] and a list of logits [N, K_j], in large batches.

    ``x``: images [N, C, H, W] or a lazy container; with ``device`` each batch is moved there.
    """
    means, logvars, logits = [], [], [[] for _ in vae.spec.categorical]
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        post = vae.encode(xb if device is None else xb.to(device))
        means.append(post.mean.cpu())
        logvars.append(post.logvar.cpu())
        for j, lg in enumerate(post.logits):
            logits[j].append(lg.cpu())
    return torch.cat(means), torch.cat(logvars), [torch.cat(lg) for lg in logits]


class GridCodes:
    """A representation for the factor metrics: flat grid indices int [n] -> codes float32 [n, d].

    The code of grid image i is ``vae.encode(image_i).mode()`` (Gaussian means and argmax
    one-hots: deterministic), computed under ``torch.inference_mode`` with channels-last
    weights (:mod:`vaerobust.models.layout`) in batches of ``batch_size`` the first time i is
    asked for and cached in a table [N_grid, d] (737,280 x d float32: 29 MB for d = 10).
    """

    def __init__(self, vae: Any, grid: Any, device: torch.device | str = "cpu", batch_size: int = 1024) -> None:
        self.vae, self.grid, self.device, self.batch_size = vae, grid, torch.device(device), batch_size
        self.table: np.ndarray | None = None  # codes [N_grid, d], allocated on first use
        self.done = np.zeros(len(grid), dtype=bool)
        self.n_encoded = 0  # images encoded so far (each grid image at most once)

    @torch.inference_mode()
    def _encode(self, index: np.ndarray) -> None:
        with channels_last(self.vae):
            for s in range(0, len(index), self.batch_size):
                chunk = index[s : s + self.batch_size]
                z = self.vae.encode(self.grid[chunk].to(self.device)).mode().float().cpu().numpy()  # [b, d]
                if self.table is None:
                    self.table = np.zeros((len(self.grid), z.shape[1]), dtype=np.float32)
                self.table[chunk] = z
                self.done[chunk] = True
                self.n_encoded += len(chunk)

    def encode_all(self) -> None:
        """Encode every grid image not yet encoded (in index order: sequential reads of the cache)."""
        self._encode(np.flatnonzero(~self.done))

    def __call__(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        todo = np.unique(index[~self.done[index]])  # sorted, each missing image once
        if len(todo):
            self._encode(todo)
        if self.table is None:
            raise ValueError("GridCodes called with no indices")
        return self.table[index]


__all__ = ["GridCodes", "encode_all", "features", "predict", "reconstruct"]
