"""Training CartoonGAN (Chen et al. 2018) on photos and frames of films in an artist's style.

Phase 1 (``init_epochs``): the generator alone learns to reconstruct photos under
the content loss (10 * L1 of VGG19 conv4_4 features, or the substitute without
VGG weights). Phase 2: the edge-promoting adversarial game. The discriminator
learns real cartoon -> 1, edge-smoothed cartoon -> 0, generated -> 0 (LSGAN or
BCE); the generator learns to be called a cartoon, under the same content loss.
The generator keeps CartoonGAN's conventions (BGR in [-1, 1]), so
``generator.pth`` is a plain state dict in the published layout
(``dfstream models import cartoongan-STYLE generator.pth`` reads it).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfstream.engines.cartoonize.cartoongan import CartoonGAN

from . import loop
from .configs import CartoonGANConfig
from .data import write_image
from .datasets import Images
from .losses import Perceptual


class Discriminator(nn.Module):
    """CartoonGAN's patch discriminator: 3x3 convs, LeakyReLU(0.2), instance norm; one logit per
    patch at 1/4 of the input's resolution."""

    def __init__(self, nf: int = 32):
        super().__init__()
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        norm = lambda c: nn.InstanceNorm2d(c, affine=True)  # noqa: E731
        self.net = nn.Sequential(
            nn.Conv2d(3, nf, 3, 1, 1), act(),
            nn.Conv2d(nf, nf * 2, 3, 2, 1), act(), nn.Conv2d(nf * 2, nf * 4, 3, 1, 1), norm(nf * 4), act(),
            nn.Conv2d(nf * 4, nf * 4, 3, 2, 1), act(), nn.Conv2d(nf * 4, nf * 8, 3, 1, 1), norm(nf * 8), act(),
            nn.Conv2d(nf * 8, nf * 8, 3, 1, 1), norm(nf * 8), act(),
            nn.Conv2d(nf * 8, 1, 3, 1, 1))

    def forward(self, x):
        return self.net(x)


def to_net(rgb: torch.Tensor) -> torch.Tensor:
    """RGB [0,1] -> the generator's BGR [-1,1]."""
    return rgb.flip(1) * 2 - 1


def from_net(bgr: torch.Tensor) -> torch.Tensor:
    return (bgr.flip(1) + 1) / 2


def adversarial(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    target = torch.full_like(logits, 1.0 if real else 0.0)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target)


class CartoonGANTrainer:
    def __init__(self, photos: Images, cartoons: Images, out: str | Path, config: CartoonGANConfig,
                 perceptual: Perceptual, device: str = "cpu", say=None):
        if config.gan not in ("lsgan", "bce"):
            raise ValueError(f"unknown GAN loss {config.gan}")
        self.photos, self.cartoons, self.config = photos, cartoons, config
        self.out, self.device = Path(out), torch.device(device)
        torch.manual_seed(config.seed)
        self.generator = CartoonGAN().to(self.device)
        self.discriminator = Discriminator().to(self.device)
        self.content = perceptual.to(self.device)
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.init_lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas)
        self.iteration = 0
        self.log = loop.Log(self.out / "log.jsonl", say)
        self.fixed = photos.sample(config.samples, torch.Generator().manual_seed(777))[0]

    @property
    def initialising(self) -> bool:
        return self.iteration < self.config.init_epochs * self.config.iterations

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        gen = loop.generator(cfg.seed, self.iteration)
        photo = self.photos.sample(cfg.batch, gen)[0].to(self.device)
        self.generator.train()
        phase = "init" if self.initialising else "gan"
        values = {}
        if phase == "init":
            fake = from_net(self.generator(to_net(photo)))
            loss = cfg.content * self.content(fake, photo)
            self._step(self.opt_g, loss, cfg.init_lr)
            values["content"] = loss.item()
        else:
            cartoon, smoothed = (t.to(self.device) for t in self.cartoons.sample(cfg.batch, gen))
            fake = from_net(self.generator(to_net(photo)))
            d = self.discriminator
            d_loss = (adversarial(d(to_net(cartoon)), True, cfg.gan)
                      + adversarial(d(to_net(smoothed)), False, cfg.gan)
                      + adversarial(d(to_net(fake.detach())), False, cfg.gan))
            self._step(self.opt_d, d_loss, cfg.lr)
            content = cfg.content * self.content(fake, photo)
            g_adv = adversarial(d(to_net(fake)), True, cfg.gan)
            self._step(self.opt_g, g_adv + content, cfg.lr)
            values.update(discriminator=d_loss.item(), adversarial=g_adv.item(), content=content.item())
        self.iteration += 1
        self.log.write(iteration=self.iteration, phase=phase, **values)
        return values

    @staticmethod
    def _step(optimizer, loss, lr) -> None:
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def train(self, stop_after: int | None = None) -> None:
        """Both phases to the configured epochs (or ``stop_after`` more iterations)."""
        cfg = self.config
        loop.run(self, (cfg.init_epochs + cfg.epochs) * cfg.iterations, cfg.iterations, self.write_samples, stop_after)

    @torch.no_grad()
    def write_samples(self, epoch: int) -> Path:
        """A grid: each fixed photo beside what the generator makes of it."""
        self.generator.eval()
        fake = from_net(self.generator(to_net(self.fixed.to(self.device)))).clamp(0, 1).cpu()
        rows = torch.cat((self.fixed, fake), -1)  # [S,3,H,2W]
        grid = (rows.permute(0, 2, 3, 1).reshape(-1, rows.shape[-1], 3) * 255).round().to(torch.uint8).numpy()
        path = self.out / "samples" / f"epoch-{epoch:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, np.ascontiguousarray(grid))
        return path

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pth"

    def save(self) -> None:
        loop.save(self.checkpoint_path, {
            "generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "iteration": self.iteration, "config": asdict(self.config)})
        loop.save(self.out / "generator.pth", self.generator.state_dict())

    def resume(self, path: str | Path | None = None) -> None:
        state = loop.load(Path(path) if path else self.checkpoint_path)
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.iteration = state["iteration"]
        self.log.truncate_after(self.iteration)
