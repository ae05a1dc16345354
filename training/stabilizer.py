"""Training Lai et al.'s ConvLSTM stabilizer (MODELS.md, section 2).

Each iteration unrolls the network over a batch of clips: O_0 = P_0, then for
t = 1..T-1 one step from (P_t, O_{t-1}, I_t, I_{t-1}, h, c) with O_{t-1} and the
state detached, and loss = lp * perceptual(O_t, P_t) + lst * short-term(t, t-1)
+ llt * long-term(t, 0) (from t = 2), flow and masks from the input frames.
Adam, the learning rate halved every ``halve_every`` epochs. Each epoch ends
with a checkpoint in the published layout ``{'model', 'optimizer', ...}``
(``dfstream models import convlstm`` reads it) and the warping error of the
network's output on held-out clips, next to that of the processed frames.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from dfstream.colour import luma
from dfstream.engines.flow import DISFlow, FlowEstimator
from dfstream.engines.metrics import Mean, frame_warping_error, psnr
from dfstream.engines.stabilize.convlstm import ConvLSTMStep, TransformNet

from . import loop
from .configs import StabilizerConfig
from .datasets import VideoClips
from .losses import Perceptual, agreement_mask, temporal_loss


class StabilizerTrainer:
    def __init__(self, data: VideoClips, evaluation: VideoClips | None, out: str | Path,
                 config: StabilizerConfig, perceptual: Perceptual, device: str = "cpu",
                 flow: FlowEstimator | None = None, say=None):
        if config.clip_length < 3:
            raise ValueError("clips need at least 3 frames (the long-term term starts at t = 2)")
        self.data, self.config, self.device = data, config, torch.device(device)
        self.out = Path(out)
        torch.manual_seed(config.seed)
        self.net = TransformNet().to(self.device)
        self.step_net = ConvLSTMStep(self.net)
        self.perceptual = perceptual.to(self.device)
        self.flow = flow or DISFlow("medium")
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.iteration = 0
        self.log = loop.Log(self.out / "log.jsonl", say)
        self.held_out = (evaluation or data).held_out(config.eval_clips)

    # --- one iteration ------------------------------------------------------------

    def _flow(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flow from frames ``a`` to ``b`` ([N,3,H,W] RGB), taken on their luma."""
        return self.flow(luma(a, "bt601"), luma(b, "bt601")).to(self.device)

    def _unroll(self, i: torch.Tensor, p: torch.Tensor):
        """(t, O_t) for t = 1..T-1 of clips I, P [B,T,3,H,W]: O_0 = P_0 and a zero state, with
        O_{t-1} and the state detached at each step (the reference's truncation)."""
        o = p[:, 0]
        h = c = p.new_zeros(p.shape[0], self.net.hidden, p.shape[-2] // 4, p.shape[-1] // 4)
        for k in range(1, p.shape[1]):
            o, h, c = self.step_net(p[:, k], o.detach(), i[:, k], i[:, k - 1], h.detach(), c.detach())
            yield k, o

    def losses(self, inputs: torch.Tensor, processed: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unrolled clip's loss terms (each summed over t) for I, P [B,T,3,H,W]."""
        cfg = self.config
        i, p = inputs.to(self.device), processed.to(self.device)
        o_prev = p[:, 0]
        terms = {"perceptual": 0.0, "short_term": 0.0, "long_term": 0.0}
        for k, o in self._unroll(i, p):
            terms["perceptual"] = terms["perceptual"] + self.perceptual(o, p[:, k])
            back = self._flow(i[:, k], i[:, k - 1])
            terms["short_term"] = terms["short_term"] + temporal_loss(
                o, o_prev, back, agreement_mask(i[:, k], i[:, k - 1], back))
            if k >= 2:
                first = self._flow(i[:, k], i[:, 0])
                terms["long_term"] = terms["long_term"] + temporal_loss(
                    o, p[:, 0], first, agreement_mask(i[:, k], i[:, 0], first))
            o_prev = o
        terms["total"] = (cfg.perceptual * terms["perceptual"] + cfg.short_term * terms["short_term"]
                          + cfg.long_term * terms["long_term"])
        return terms

    def lr(self) -> float:
        epoch = self.iteration // self.config.iterations
        return self.config.lr * 0.5 ** (epoch // self.config.halve_every)

    def train_step(self) -> dict[str, float]:
        self.net.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()
        inputs, processed = self.data.sample(self.config.batch, loop.generator(self.config.seed, self.iteration))
        terms = self.losses(inputs, processed)
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.optimizer.step()
        self.iteration += 1
        values = {k: v.item() for k, v in terms.items()}
        self.log.write(iteration=self.iteration, lr=self.lr(), **values)
        return values

    # --- epochs, evaluation, checkpoints ----------------------------------------------

    def train(self, stop_after: int | None = None) -> None:
        """Run to the configured number of epochs (or ``stop_after`` more iterations)."""
        cfg = self.config
        loop.run(self, cfg.epochs * cfg.iterations, cfg.iterations,
                 lambda epoch: self.log.write(iteration=self.iteration, epoch=epoch, **self.evaluate()), stop_after)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Warping error (Lai et al.) of the network's output and of the processed frames on the
        held-out clips, and the output's PSNR to the processed frames."""
        self.net.eval()
        ours, theirs, fidelity = Mean(), Mean(), Mean()
        for inputs, processed in self.held_out:
            i, p = inputs.to(self.device), processed.to(self.device)
            out = torch.stack([p[:, 0]] + [o for _, o in self._unroll(i, p)], 1)[0].clamp(0, 1)
            i, p = i[0], p[0]
            for k in range(len(i) - 1):
                forward, backward = self._flow(i[k:k + 1], i[k + 1:k + 2]), self._flow(i[k + 1:k + 2], i[k:k + 1])
                ours.add(frame_warping_error(out[k:k + 1], out[k + 1:k + 2], forward, backward))
                theirs.add(frame_warping_error(p[k:k + 1], p[k + 1:k + 2], forward, backward))
            fidelity.add(psnr(out, p))
        return {"warping_error": ours.value, "processed_warping_error": theirs.value, "psnr_to_processed": fidelity.value}

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pth"

    def save(self) -> None:
        """The published layout {'model', 'optimizer'} plus where training stands."""
        loop.save(self.checkpoint_path, {"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                                         "iteration": self.iteration, "config": asdict(self.config)})

    def resume(self, path: str | Path | None = None) -> None:
        state = loop.load(Path(path) if path else self.checkpoint_path)
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = state["iteration"]
        self.log.truncate_after(self.iteration)

