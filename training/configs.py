"""The trainers' settings: one command-line option per field (``dfstream train ... --help``).
Kept apart from the trainers, which need torch, so that the command line does not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StabilizerConfig:
    clip_length: int = 11
    crop: int = 192
    batch: int = 4
    lr: float = 1e-4
    halve_every: int = 20  # epochs
    iterations: int = 1000  # per epoch
    epochs: int = 100
    perceptual: float = 10.0  # lambda_p
    short_term: float = 100.0  # lambda_st
    long_term: float = 100.0  # lambda_lt
    eval_clips: int = 8  # held-out clips for the warping error each epoch
    seed: int = 0


@dataclass
class CartoonGANConfig:
    size: int = 256
    batch: int = 8
    init_epochs: int = 10
    init_lr: float = 2e-4
    epochs: int = 100  # adversarial epochs after the initialisation
    lr: float = 1e-5
    iterations: int = 1000  # per epoch
    content: float = 10.0
    gan: str = "lsgan"  # or bce
    samples: int = 4  # photos shown in each epoch's grid
    seed: int = 0
