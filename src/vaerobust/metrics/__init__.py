"""Metrics as pure functions of arrays."""

from vaerobust.metrics.robustness import SuccessTable, success_table, wilson_interval

__all__ = ["SuccessTable", "success_table", "wilson_interval"]
