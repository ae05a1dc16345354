"""Colorizers: colour from black-and-white frames."""

from . import reference  # noqa: F401  (registers the engine)
