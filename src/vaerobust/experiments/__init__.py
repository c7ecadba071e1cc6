"""Experiment presets and the study runner."""
