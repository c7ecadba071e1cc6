"""The thesis's reference numbers, as data (PROTOCOL §7).

Source: A. Sootla (2018), "Investigating the robustness of disentangled variational
autoencoders to adversarial examples", UCL MSc thesis (draft), Tables 5.1-5.3
("Disentangled / Entangled / Entangled weight decay marginals"). The attack is the latent
attack of PROTOCOL §5 over the 90 ordered pairs (s, t) of MNIST digit classes.

**Unit: every number in this module is a percent, as printed in the thesis** (36.59 means
36.59 %). The toolkit's own summaries hold fractions in [0, 1]; multiply those by 100
before comparing (or use :func:`reference_overall` / :func:`reference_marginal` with
``unit="fraction"``).

- ``source_marginal[which]``: AS of source class s = mean over the 9 targets t != s of the
  pair rates, for s = 0..9 (Tables 5.1-5.3, transcribed from the draft's text);
- ``overall[which]``: the mean over the 90 pairs. It equals the mean of the ten source
  marginals (every pair counted once), which the tests check to within rounding;
- ``overall_later_draft[which]``: the same means from a later public draft of the thesis,
  from another run (36.86 / 12.54, 29.83 / 9.49, 26.88 / 7.85): their distance from the
  first draft's figures hints at the run-to-run spread of the thesis's own numbers.

``which`` is ``"ignore"`` (AS ignore-target: the adversarial reconstruction is classified
anything but s) or ``"target"`` (AS target: classified t).
"""

from __future__ import annotations

from typing import Any, Literal

SOURCE = (
    "Sootla (2018), 'Investigating the robustness of disentangled variational autoencoders to "
    "adversarial examples', UCL MSc thesis draft, Tables 5.1-5.3 (source marginals; overall = "
    "mean over the 90 ordered pairs); later public draft for the second set of means"
)
UNIT = "percent"

#: The thesis's claim about the ordering of the three models (most to least attackable).
THESIS_ORDER: tuple[str, ...] = ("disentangled", "entangled", "entangled_wd")

#: Model name (a run directory's name in the sootla2018 preset) -> the thesis's numbers.
REFERENCES: dict[str, dict[str, Any]] = {
    "disentangled": {
        "description": "JointVAE with controlled capacity (Gaussian + categorical latents)",
        "table": "Table 5.1",
        "overall": {"ignore": 36.59, "target": 12.51},
        "overall_later_draft": {"ignore": 36.86, "target": 12.54},
        "source_marginal": {
            "ignore": [8.80, 82.58, 20.46, 16.52, 32.74, 43.58, 38.25, 40.10, 18.68, 64.22],
            "target": [3.25, 34.05, 5.59, 6.15, 12.26, 10.88, 13.21, 11.85, 8.52, 19.30],
        },
    },
    "entangled": {
        "description": "the same network trained on the plain ELBO",
        "table": "Table 5.2",
        "overall": {"ignore": 29.70, "target": 9.18},
        "overall_later_draft": {"ignore": 29.83, "target": 9.49},
        "source_marginal": {
            "ignore": [5.87, 63.87, 11.49, 12.52, 64.10, 36.82, 26.99, 39.75, 16.21, 19.36],
            "target": [1.88, 28.19, 3.24, 4.33, 13.48, 10.19, 8.81, 7.71, 5.71, 8.22],
        },
    },
    "entangled_wd": {
        "description": "the entangled model with weight decay",
        "table": "Table 5.3",
        "overall": {"ignore": 27.03, "target": 7.98},
        "overall_later_draft": {"ignore": 26.88, "target": 7.85},
        "source_marginal": {
            "ignore": [3.21, 60.25, 7.43, 10.57, 53.79, 35.07, 25.06, 18.52, 23.28, 33.15],
            "target": [0.86, 23.52, 1.46, 2.88, 10.88, 9.28, 6.34, 4.24, 8.24, 12.08],
        },
    },
}

#: The digit classes the marginals are listed for, in order.
CLASSES: tuple[int, ...] = tuple(range(10))

Which = Literal["ignore", "target"]
Unit = Literal["percent", "fraction"]


def reference_for(model: str) -> dict[str, Any] | None:
    """The thesis's numbers for a model name, or None where the thesis has none."""
    return REFERENCES.get(model)


def _scale(unit: Unit) -> float:
    if unit not in ("percent", "fraction"):
        raise ValueError(f"unit {unit!r}: expected 'percent' or 'fraction'")
    return 1.0 if unit == "percent" else 0.01


def reference_overall(model: str, which: Which, unit: Unit = "percent", later_draft: bool = False) -> float | None:
    """The thesis's mean over the 90 pairs (first draft, or the later one), or None."""
    ref = reference_for(model)
    if ref is None:
        return None
    key = "overall_later_draft" if later_draft else "overall"
    return ref[key][which] * _scale(unit)


def reference_marginal(model: str, which: Which, unit: Unit = "percent") -> list[float] | None:
    """The thesis's ten source marginals (classes 0..9), or None."""
    ref = reference_for(model)
    if ref is None:
        return None
    return [v * _scale(unit) for v in ref["source_marginal"][which]]
