"""Training objectives; every one registered in :data:`OBJECTIVES` and architecture-agnostic."""

from vaerobust.config import ObjectiveConfig

# importing each module registers its objectives
from vaerobust.objectives import beta_tcvae as _beta_tcvae  # noqa: F401
from vaerobust.objectives import beta_vae as _beta_vae  # noqa: F401
from vaerobust.objectives import capacity as _capacity  # noqa: F401
from vaerobust.objectives import dip_vae as _dip_vae  # noqa: F401
from vaerobust.objectives import elbo as _elbo  # noqa: F401
from vaerobust.objectives import factor_vae as _factor_vae  # noqa: F401
from vaerobust.objectives.base import OBJECTIVES, LossOutput, Objective


def build_objective(cfg: ObjectiveConfig) -> Objective:
    """The registered objective ``cfg.name`` with its settings ``cfg`` (a class of :func:`objective_config`)."""
    return OBJECTIVES.get(cfg.name)(cfg)


__all__ = ["OBJECTIVES", "LossOutput", "Objective", "build_objective"]
