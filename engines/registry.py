"""The stage registry: stage names on the command line -> engines that implement them.

A stage (``colorize``, ``stabilize``, ``cartoonize``, ``gray``) has engines in
order of preference; ``--colorizer NAME[:VARIANT]`` and friends pick one, and
``auto`` takes the first whose needs are met here (weights installed, a
reference given), saying why.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from dfstream.errors import DfstreamError, UsageError

if TYPE_CHECKING:
    from .stage import Stage

STAGES = ("colorize", "stabilize", "cartoonize", "gray")
BACKENDS = ("auto", "torch", "compile", "onnxruntime", "tensorrt")
STRENGTH = 0.7  # the flow stabilizer's default weight of the past
_ENGINES: dict[str, dict[str, type]] = {stage: {} for stage in STAGES}


def load_engines() -> dict[str, dict[str, type]]:
    """The engines, their modules imported on first use (they need torch; the command line does not)."""
    for package in ("colorize", "stabilize", "cartoonize", "gray"):
        importlib.import_module(f"dfstream.engines.{package}")
    return _ENGINES


@dataclass
class EngineOptions:
    """Settings an engine may read; each takes what it needs in ``create``."""

    references: list[str] = field(default_factory=list)  # colour stills for the reference colorizer
    strength: float = STRENGTH  # flow stabilizer: weight of the previous output where the flow is trusted
    chroma_only: bool = False  # set when a stabilizer follows a colorizer
    lookahead: bool = False  # flow stabilizer: finish each frame when the next has come (not in live runs)
    precision: str = "auto"  # networks: auto (fp32 on CPU, fp16 on CUDA), fp32, fp16, bf16
    render_factor: int | None = None  # DeOldify: network input side = 16 * render factor
    backend: str = "auto"  # networks: auto, torch, compile, onnxruntime, tensorrt
    device: str | None = None  # where the networks will run (None: CUDA if there is one)


def register(stage: str, engine: str):
    """Class decorator: offer ``engine`` for ``stage`` (earlier registrations are preferred)."""

    def add(cls):
        _ENGINES[stage][engine] = cls
        return cls

    return add


def engines(stage: str) -> list[str]:
    return list(load_engines()[stage])


def engine_name(stage: Stage) -> str:
    """The command-line name of a built stage's engine."""
    for engines in load_engines().values():
        for name, cls in engines.items():
            if type(stage) is cls:
                return name
    return type(stage).__name__


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


def build(stage: str, spec: str, options: EngineOptions) -> tuple[Stage, str]:
    """The engine for a stage and a few words on why it was chosen."""
    name, cls, variant, because = choose(stage, spec, options)
    built = cls.create(variant, options)
    return built, f"{stage}={name}{_backend(built)}{because}"


def choose(stage: str, spec: str, options: EngineOptions) -> tuple[str, type, str | None, str]:
    """The engine that ``build`` builds for a stage, without building it (its name, class, variant
    and why the ones before it cannot run); the error with the fix where none can."""
    available = load_engines()[stage]
    if spec == "auto":
        reasons: dict[str, list[str]] = {}  # reason -> engines it rules out
        for name, cls in available.items():
            why = cls.missing(None, options)
            if why is None:
                return name, cls, None, f" ({_grouped(reasons)})" if reasons else ""
            reasons.setdefault(why, []).append(name)
        if stage == "colorize":
            raise DfstreamError("no colorizer can run: " + _grouped(reasons),
                                "pass --reference IMAGE (a colour still of the scene), install network "
                                "weights, or choose other --stages (e.g. --stages stabilize)")
        raise UsageError(f"no {stage} engine can run here: " + _grouped(reasons),
                         "choose other --stages")
    name, _, variant = spec.partition(":")
    if name not in available:
        raise UsageError(f"unknown {stage} engine '{name}'", f"choose from {', '.join(available)}")
    why = available[name].missing(variant or None, options)
    if why is not None:
        raise DfstreamError(f"the {name} {stage} engine cannot run ({why})",
                            available[name].remedy(variant or None))
    return name, available[name], variant or None, ""


def backend_of(stage: Stage) -> str | None:
    """The backend a network stage runs on; None for a stage without a network."""
    return getattr(getattr(stage, "net", None), "backend", None)


def _backend(stage: Stage) -> str:
    return f" [{backend_of(stage)}]" if backend_of(stage) else ""


def _grouped(reasons: dict[str, list[str]]) -> str:
    return "; ".join(f"{', '.join(names)}: {why}" for why, names in reasons.items())


def check_chain(names: list[str], choices: dict[str, str], options: EngineOptions) -> None:
    """What ``build_chain`` would refuse, without building anything (no weights loaded)."""
    for stage in names:
        choose(stage, choices.get(stage, "auto"), options)


def build_chain(names: list[str], choices: dict[str, str], options: EngineOptions
                ) -> tuple[list[Stage], list[str]]:
    """Stages in order; a stabilizer after a colorizer works on chroma only."""
    stages, why = [], []
    for i, stage in enumerate(names):
        opts = options
        if stage == "stabilize" and "colorize" in names[:i]:
            opts = replace(options, chroma_only=True)
        built, reason = build(stage, choices.get(stage, "auto"), opts)
        stages.append(built)
        why.append(reason)
    return stages, why
