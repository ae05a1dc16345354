"""Everything that transforms frames: the Stage protocol, the registry and the engines."""

from . import colorize, stabilize, cartoonize, gray  # noqa: F401, I001  (register the engines and their models)
from .registry import EngineOptions, build, build_chain, engines, parse_stages
from .stage import BatchStage, RecurrentStage, Stage, StageContext

__all__ = ["BatchStage", "EngineOptions", "RecurrentStage", "Stage", "StageContext", "build",
           "build_chain", "engines", "parse_stages"]
