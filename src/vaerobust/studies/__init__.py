"""Studies: each one's preset, reference numbers, budgets and protocol checks (``studies/<name>/``).

:func:`get_study` returns the registered :class:`Study` of a name, or a plain one (no
references, no protocol) for a study this package does not know, such as a user's YAML file.
"""

from __future__ import annotations

from vaerobust.studies import dsprites as _dsprites  # noqa: F401  (registers "dsprites")
from vaerobust.studies import sootla2018 as _sootla2018  # noqa: F401  (registers "sootla2018")
from vaerobust.studies.base import STUDIES, AttackFacts, RunFacts, Study


def get_study(name: str | None) -> Study:
    """The study registered as ``name``; an unknown or missing name gives a study without references."""
    if name and name in STUDIES:
        return STUDIES.get(name)
    return Study(name=name or "study")


__all__ = ["STUDIES", "AttackFacts", "RunFacts", "Study", "get_study"]
