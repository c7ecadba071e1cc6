"""Attacks on VAEs, registered in :data:`ATTACKS`; each module registers one."""

from torch import nn

from vaerobust.attacks import classifier as _classifier  # noqa: F401  (registers "classifier")
from vaerobust.attacks import kl as _kl  # noqa: F401  (registers "kl")
from vaerobust.attacks import latent as _latent  # noqa: F401  (registers "latent")
from vaerobust.attacks import output as _output  # noqa: F401  (registers "output")
from vaerobust.attacks import unsupervised as _unsupervised  # noqa: F401  (registers "unsupervised")
from vaerobust.attacks.base import ATTACKS, Attack, project, project_box, project_l2
from vaerobust.config import AttackConfig


def build_attack(model: nn.Module, cfg: AttackConfig, judge: nn.Module | None = None) -> Attack:
    """The registered attack ``cfg.name`` on ``model``; ``judge`` for attacks aimed at a classifier."""
    return ATTACKS.get(cfg.name)(model, cfg, judge=judge)


__all__ = ["ATTACKS", "Attack", "AttackConfig", "build_attack", "project", "project_box", "project_l2"]
