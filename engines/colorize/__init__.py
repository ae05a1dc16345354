"""Colorizers: colour from black-and-white frames (networks first: preferred when installed)."""

from . import deoldify, reference  # noqa: F401  (registers the engines)
