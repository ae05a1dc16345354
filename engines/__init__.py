"""Everything that transforms frames: the Stage protocol, the registry and the engines."""

from . import cartoonize, colorize, gray, stabilize  # noqa: F401  (register the engines)
from .registry import EngineOptions, build, build_chain, engines, parse_stages
from .stage import BatchStage, RecurrentStage, Stage, StageContext

__all__ = ["BatchStage", "EngineOptions", "RecurrentStage", "Stage", "StageContext", "build",
           "build_chain", "engines", "parse_stages"]
