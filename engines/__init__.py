"""Everything that transforms frames: the Stage protocol, the registry and the engines."""

from . import gray  # noqa: F401  (registers the engine)
from .registry import build, engines, parse_stages
from .stage import BatchStage, RecurrentStage, Stage, StageContext

__all__ = ["BatchStage", "RecurrentStage", "Stage", "StageContext", "build", "engines", "parse_stages"]
