"""Training objectives; every one registered in :data:`OBJECTIVES` and architecture-agnostic."""

from vaerobust.config import ObjectiveConfig
from vaerobust.errors import ConfigError

# importing each module registers its objectives
from vaerobust.objectives import beta_tcvae as _beta_tcvae  # noqa: F401
from vaerobust.objectives import beta_vae as _beta_vae  # noqa: F401
from vaerobust.objectives import capacity as _capacity  # noqa: F401
from vaerobust.objectives import dip_vae as _dip_vae  # noqa: F401
from vaerobust.objectives import elbo as _elbo  # noqa: F401
from vaerobust.objectives import factor_vae as _factor_vae  # noqa: F401
from vaerobust.objectives.base import OBJECTIVES, LossOutput, Objective


def build_objective(cfg: ObjectiveConfig, total_steps: int | None = None) -> Objective:
    """The registered objective ``cfg.name`` with its settings ``cfg`` (a class of :func:`objective_config`).

    ``total_steps``: the training's length (``train.steps``), which a schedule set to null
    (``capacity_steps: null``, "the whole training") needs."""
    import dataclasses

    if hasattr(cfg, "capacity_steps") and cfg.capacity_steps is None:  # type: ignore[attr-defined]
        if total_steps is None:
            raise ConfigError("objective.capacity_steps = null means the whole training, but no training length "
                              "is known here: give it in steps")
        cfg = dataclasses.replace(cfg, capacity_steps=int(total_steps))  # type: ignore[call-arg]
    return OBJECTIVES.get(cfg.name)(cfg)


__all__ = ["OBJECTIVES", "LossOutput", "Objective", "build_objective"]
