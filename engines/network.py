"""Stages backed by a network from the model store: which weights, which device, which precision."""

from __future__ import annotations

from torch import nn

from dfstream.errors import UsageError

from . import store
from .backends import make_runner
from .placed import Placed
from .stage import Stage

def runner(module: nn.Module, options=None) -> Placed:
    """The module behind the backend that ``options.backend`` names (auto: the best one here)."""
    return make_runner(module, getattr(options, "backend", "auto"), getattr(options, "precision", "auto"),
                       getattr(options, "device", None))


class NetworkStage(Stage):
    """An engine whose weights come from the model store. ``variants``: variant -> store name,
    the first one the default; ``auto`` takes the first installed."""

    variants: dict[str, str] = {}

    @classmethod
    def model(cls, variant: str | None) -> str:
        if variant is None:
            names = list(cls.variants.values())
            return next((n for n in names if store.installed(n)), names[0])
        if variant not in cls.variants:
            raise UsageError(f"unknown variant '{variant}' of {cls.__name__}",
                             f"choose {', '.join(cls.variants)}")
        return cls.variants[variant]

    @classmethod
    def missing(cls, variant, options):
        name = cls.model(variant)
        return None if store.installed(name) else "weights not installed"

    @classmethod
    def remedy(cls, variant):
        return store.get_command(cls.model(variant))

    @classmethod
    def create(cls, variant, options):
        return cls(store.load(cls.model(variant)), options)
