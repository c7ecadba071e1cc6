"""``vaerobust report``: the report of every run folder under a root (:func:`~vaerobust.report.build.build_report`)."""

from __future__ import annotations

from pathlib import Path

from vaerobust.report.build import build_report


def run(root: Path, out: Path, study: str | None = None, html: bool = True) -> Path:
    """The ``vaerobust report`` command: returns the path of ``report.md``."""
    return build_report(root, out, html=html, study=study)


__all__ = ["build_report", "run"]
