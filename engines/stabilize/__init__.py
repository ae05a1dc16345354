"""Stabilizers: remove temporal flicker from per-frame processed video."""

from . import flow  # noqa: F401  (registers the engine)
