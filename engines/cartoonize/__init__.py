"""Cartoonizers: a drawn look."""

from . import classic  # noqa: F401  (registers the engine)
