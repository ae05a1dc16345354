"""Stabilizers: remove temporal flicker from per-frame processed video (networks first)."""

from . import convlstm, flow  # noqa: F401  (registers the engines)
