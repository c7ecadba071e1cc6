"""The optimisation loops of a VAE and of a judge classifier: pure computation, no files.

Batches are drawn from a per-epoch permutation that depends only on (seed, epoch)
(:func:`batch_indices`), and the noise generator's state is part of :meth:`VAETrainer.state_dict`,
so a run resumed from any step sees the same batches and draws as an uninterrupted one.
The run-folder side (checkpoints, resume, logs, completion) is :mod:`vaerobust.pipelines.train`.

A non-finite loss is caught without a host sync per step: the first bad step is recorded on
the device and :meth:`VAETrainer.check_finite` (called at every log and checkpoint step)
raises :class:`~vaerobust.errors.TrainingDiverged` naming it and the settings to suspect.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaerobust.config import ClassifierConfig, ObjectiveConfig, TrainConfig, to_dict
from vaerobust.errors import TrainingDiverged
from vaerobust.models import VAE, VAEOutput
from vaerobust.objectives import Objective

AUX_SEED_OFFSET = 10_007  # seeds the batch schedule of an objective's second batch (FactorVAE)


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> Tensor:
    """Indices of the batch at ``step``: epochs are permutations seeded by (seed, epoch).

    The last partial batch of an epoch is dropped, so every batch has ``batch_size`` items.
    """
    per_epoch = max(n // batch_size, 1)
    epoch, pos = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g)
    return perm[pos * batch_size : (pos + 1) * batch_size]


def _suspects(tc: TrainConfig, objective: ObjectiveConfig) -> str:
    obj = ", ".join(f"objective.{k} = {v}" for k, v in to_dict(objective).items() if k != "name")
    return f"train.lr = {tc.lr:g}, train.batch_size = {tc.batch_size}" + (f", {obj}" if obj else "")


class VAETrainer:
    """One VAE, its objective and their optimisers, stepped over images ``x`` [N, C, H, W].

    ``x`` is an image tensor (moved to ``device``) or a lazy container (kept on the CPU; each
    batch is decoded and moved). Call :meth:`step` once per step; it returns the step's loss
    terms as tensors (read them at log steps only) and the objective's own scalars.
    """

    STATE_KEYS = ("model", "optimizer", "noise_rng", "step")

    def __init__(self, model: VAE, objective: Objective, objective_cfg: ObjectiveConfig, x: Any, tc: TrainConfig,
                 device: torch.device) -> None:
        self.model, self.objective, self.objective_cfg, self.tc, self.device = model, objective, objective_cfg, tc, device
        self.lazy = not isinstance(x, Tensor)
        self.x = x if self.lazy else x.to(device)
        self.n = int(x.shape[0])
        model.to(device)
        objective.setup(model.spec, dataset_size=self.n, device=device)  # its own networks, if any
        self.opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        self.noise = torch.Generator(device=device).manual_seed(tc.seed + 1)
        self.step_count = 0
        self._first_bad = torch.full((), -1, dtype=torch.long, device=device)  # first step with a non-finite loss

    def _batch(self, idx: Tensor) -> Tensor:
        return self.x[idx].to(self.device) if self.lazy else self.x[idx.to(self.device)]

    def step(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """One optimisation step; returns (the loss and its terms, the objective's own scalars)."""
        tc, step = self.tc, self.step_count
        xb = self._batch(batch_indices(step, self.n, tc.batch_size, tc.seed))
        post = self.model.encode(xb)
        code = post.sample(tc.temperature, generator=self.noise)
        res = self.objective(VAEOutput(post, code, self.model.decoder(code)), xb, step)
        self.opt.zero_grad(set_to_none=True)
        res.loss.backward()
        code_aux = None
        if self.objective.needs_aux_batch:  # the code of a second, independent batch (FactorVAE)
            xa = self._batch(batch_indices(step, self.n, tc.batch_size, tc.seed + AUX_SEED_OFFSET))
            with torch.no_grad():
                code_aux = self.model.encode(xa).sample(tc.temperature, generator=self.noise)
        # the objective's own step, while the VAE still has the parameters its loss used
        aux = self.objective.aux_step(code.detach(), code_aux, step, self.noise)
        self.opt.step()
        bad = ~torch.isfinite(res.loss.detach())
        self._first_bad = torch.where(bad & (self._first_bad < 0), torch.full_like(self._first_bad, step + 1),
                                      self._first_bad)
        self.step_count += 1
        return {"loss": res.loss.detach(), **{k: v.detach() for k, v in res.terms.items()}}, aux

    def check_finite(self, terms: dict[str, Tensor] | None = None) -> None:
        """Raise TrainingDiverged if any step so far had a non-finite loss (one host sync)."""
        first = int(self._first_bad)
        if first < 0:
            return
        shown = ""
        if terms:
            shown = " (" + ", ".join(f"{k} {float(v):.4g}" for k, v in terms.items()) + ")"
        raise TrainingDiverged(f"training diverged: the loss was not finite at step {first}{shown}; suspect "
                               f"{_suspects(self.tc, self.objective_cfg)}")

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "noise_rng": self.noise.get_state(), "step": self.step_count, "objective": self.objective.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` (raises KeyError / RuntimeError / ValueError on a mismatch)."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.noise.set_state(state["noise_rng"])
        self.objective.load_state_dict(state.get("objective", {}))
        self.step_count = int(state["step"])


def finite_scalars(terms: dict[str, Any]) -> dict[str, float]:
    """Floats of logged terms; raises TrainingDiverged on a non-finite one (never logged as a result)."""
    out = {k: float(v) for k, v in terms.items()}
    bad = [k for k, v in out.items() if not math.isfinite(v)]
    if bad:
        raise TrainingDiverged(f"training diverged: {', '.join(bad)} not finite")
    return out


def classifier_step(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, step: int,
                    c: ClassifierConfig) -> Tensor:
    """One SGD step of the judge on the batch of ``step``; returns the loss (a tensor)."""
    idx = batch_indices(step, x.shape[0], c.batch_size, c.seed).to(x.device)
    loss = F.cross_entropy(model(x[idx]), y[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


__all__ = ["AUX_SEED_OFFSET", "VAETrainer", "batch_indices", "classifier_step", "finite_scalars"]
