"""Training objectives; every one registered in :data:`OBJECTIVES` and architecture-agnostic."""

from vaerobust.config import ObjectiveConfig
from vaerobust.objectives import elbo as _elbo  # noqa: F401  (registers the ELBO family)
from vaerobust.objectives.base import OBJECTIVES, LossOutput, Objective


def build_objective(cfg: ObjectiveConfig) -> Objective:
    return OBJECTIVES.get(cfg.name)(cfg)


__all__ = ["OBJECTIVES", "LossOutput", "Objective", "build_objective"]
