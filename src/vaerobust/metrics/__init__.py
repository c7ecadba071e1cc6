"""Metrics as pure functions of arrays: attack success, robustness curves, disentanglement."""

from vaerobust.metrics.disentanglement import DISENTANGLEMENT, METRICS, evaluate_all
from vaerobust.metrics.robustness import SuccessTable, success_table, wilson_interval

__all__ = ["DISENTANGLEMENT", "METRICS", "SuccessTable", "evaluate_all", "success_table", "wilson_interval"]
