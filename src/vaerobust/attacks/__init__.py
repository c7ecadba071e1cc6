"""Attacks on VAEs, registered in :data:`ATTACKS`."""

from vaerobust.attacks import latent as _latent  # noqa: F401  (registers "latent")
from vaerobust.attacks.base import ATTACKS, Attack, project_box
from vaerobust.config import AttackConfig


def build_attack(model, cfg: AttackConfig) -> Attack:  # type: ignore[no-untyped-def]
    return ATTACKS.get(cfg.name)(model, cfg)


__all__ = ["ATTACKS", "Attack", "AttackConfig", "build_attack", "project_box"]
