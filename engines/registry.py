"""The stage registry: stage names on the command line -> engines that implement them.

A stage (``colorize``, ``stabilize``, ``cartoonize``, ``gray``) has one or more
engines; ``--colorizer NAME`` and friends pick one, ``auto`` the first registered.
"""

from __future__ import annotations

from typing import Callable

from dfstream.errors import UsageError

from .stage import Stage

STAGES = ("colorize", "stabilize", "cartoonize", "gray")
_ENGINES: dict[str, dict[str, Callable[..., Stage]]] = {stage: {} for stage in STAGES}


def register(stage: str, engine: str):
    """Class decorator: make ``engine`` available for ``stage``."""

    def add(factory):
        _ENGINES[stage][engine] = factory
        return factory

    return add


def engines(stage: str) -> list[str]:
    return list(_ENGINES[stage])


def parse_stages(spec: str | list[str]) -> list[str]:
    """'colorize,stabilize' -> ['colorize', 'stabilize']; 'none' -> []."""
    names = spec if isinstance(spec, list) else [s.strip() for s in spec.split(",") if s.strip()]
    if names in (["none"], []):
        return []
    for name in names:
        if name not in STAGES:
            raise UsageError(f"unknown stage '{name}'", f"choose from {', '.join(STAGES)} or none")
    if len(set(names)) != len(names):
        raise UsageError(f"a stage is listed twice in '{','.join(names)}'", "list each stage once")
    return names


def build(stage: str, engine: str = "auto", **options) -> Stage:
    """Instantiate the chosen engine of a stage."""
    available = _ENGINES[stage]
    if not available:
        raise UsageError(f"stage '{stage}' has no engine installed",
                         "choose other --stages (see 'dfstream info')")
    if engine == "auto":
        engine = next(iter(available))
    if engine not in available:
        raise UsageError(f"unknown {stage} engine '{engine}'", f"choose from {', '.join(available)}")
    return available[engine](**options)
