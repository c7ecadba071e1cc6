"""What a study knows that generic code must not: its reference numbers, budgets and protocol.

A :class:`Study` is registered under its preset's name (``sootla2018``, ``dsprites``). The
report asks the study of the runs it reads (from ``study.yaml`` or a run's ``meta.study``)
for its title, the numbers to print beside ours, and how the runs differ from its protocol;
a study without references (a user's YAML file) gets none of those sections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vaerobust.registry import Registry


@dataclass(frozen=True)
class AttackFacts:
    """One attack sweep as the protocol checks see it."""

    label: str
    attack: dict[str, Any]
    sweep: dict[str, Any]
    judge_name: str | None = None  # where the judge lies, for the text
    judge_classifier: dict[str, Any] | None = None  # the judge's classifier settings


@dataclass(frozen=True)
class RunFacts:
    """One VAE run as the protocol checks see it: its name, settings and attack sweeps."""

    label: str
    name: str
    config: dict[str, Any]
    attacks: list[AttackFacts] = field(default_factory=list)


ProtocolCheck = Callable[[Sequence[RunFacts]], tuple[list[str], list[str]]]


@dataclass(frozen=True)
class Study:
    """A study's knowledge. ``references``: model name -> reference numbers (percent):
    ``{"overall": {which: v}, "overall_later_draft": {...}, "source_marginal": {which: [per class]}}``.
    ``protocol_check``: runs -> (reduced budgets, other differing settings), each a list of lines.
    """

    name: str
    title: str = "vaerobust report"
    citation: str = ""
    reference_label: str = "reference"  # how the report calls the reference numbers ("thesis")
    reference_header: str = "reference"  # the column title of the reference means
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference_order: tuple[str, ...] = ()  # the reference's claim: most to least attackable
    reference_source: str = ""
    reference_unit: str = "percent"
    full_budget_text: str = ""
    protocol_check: ProtocolCheck | None = None

    def reference_for(self, model: str | None) -> dict[str, Any] | None:
        return self.references.get(model) if model else None

    def reference_overall(self, model: str | None, which: str, later_draft: bool = False) -> float | None:
        ref = self.reference_for(model)
        if ref is None:
            return None
        part = ref.get("overall_later_draft" if later_draft else "overall") or {}
        return part.get(which)

    def reference_marginal(self, model: str | None, which: str) -> list[float] | None:
        ref = self.reference_for(model)
        return None if ref is None else list(ref["source_marginal"][which])

    def differences(self, runs: Sequence[RunFacts]) -> tuple[list[str], list[str]]:
        """(reduced, other): how the runs differ from the study's protocol; empty without a check."""
        return self.protocol_check(runs) if self.protocol_check is not None else ([], [])


STUDIES: Registry[Study] = Registry("study")

__all__ = ["STUDIES", "AttackFacts", "RunFacts", "Study"]
