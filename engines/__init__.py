"""Everything that transforms frames: the Stage protocol, the registry and the engines.

The names below are loaded on first use: the engines need torch, the command line's
parsing and help do not.
"""

import importlib

_HOMES = {"EngineOptions": "registry", "build": "registry", "build_chain": "registry", "check_chain": "registry",
          "engines": "registry",
          "parse_stages": "registry", "BatchStage": "stage", "RecurrentStage": "stage", "Stage": "stage",
          "StageContext": "stage"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
