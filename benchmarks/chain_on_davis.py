"""The weights-free chain (``reference`` colorizer, then ``flow`` stabilizer on chroma) on DAVIS.

Grey in (BT.601 luma), frame 0 in colour as the reference. Reported per sequence:
PSNR to the true colours (mean over frames 1..) and warping error (flow on the
grey input) of the colorizer's output and of the chain's: as ``dfstream`` runs a file
(chroma filtered at the colorizer's size along the colorizer's flow, one frame
ahead), causal as a live run has it (``chain_causal``), with the
stabilizer measuring its own flow (DIS medium) at that size, and at full size.

    python benchmarks/chain_on_davis.py
"""

from __future__ import annotations

import torch
from davis import load, mean, save
from machine import no_options

import dfstream.engines.stabilize.flow as flow_stabilizer
from dfstream.colour import luma
from dfstream.engines import StageContext
from dfstream.engines.colorize.reference import ReferenceColorizer
from dfstream.engines.flow import DISFlow
from dfstream.engines.metrics import frame_warping_error, psnr

SEQUENCES = ("bus", "giant-slalom")


def stabilized(coloured, contexts, shared: bool, lookahead: bool = True) -> list[torch.Tensor]:
    """The stabilizer on chroma after the colorizer, in the colorizer's contexts (its flow) or fresh
    ones; one frame ahead as a file run has it, or causal as a live run."""
    stage = flow_stabilizer.FlowStabilizer(chroma_only=True, lookahead=lookahead)
    contexts = [ctx if shared else StageContext(ctx.source, ctx.luma, ctx.cuts) for ctx in contexts]
    return stage.clip(coloured, contexts)


def main() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    estimator, rows = DISFlow("medium"), []
    for sequence in SEQUENCES:
        truth = load(sequence)
        greys = [luma(f, "bt601") for f in truth]
        pairs = [(estimator(greys[t], greys[t + 1]), estimator(greys[t + 1], greys[t])) for t in range(len(greys) - 1)]
        warping = lambda v: mean(frame_warping_error(v[t], v[t + 1], *pairs[t]) for t in range(len(pairs)))  # noqa: E731
        scores = lambda v: {"psnr_mean": mean(psnr(a, b) for a, b in zip(v[1:], truth[1:])),  # noqa: E731
                            "warping_error": warping(v)}
        contexts = [StageContext(y.expand(-1, 3, -1, -1), y, [i == 0]) for i, y in enumerate(greys)]
        colorizer = ReferenceColorizer([truth[0]])
        coloured = [colorizer.process(ctx.source, ctx) for ctx in contexts]
        row = {"sequence": sequence, "colorized": scores(coloured), "truth_warping_error": warping(truth)}
        row["chain"] = scores(stabilized(coloured, contexts, shared=True))
        row["chain_causal"] = scores(stabilized(coloured, contexts, shared=True, lookahead=False))
        row["chain_own_flow"] = scores(stabilized(coloured, contexts, shared=False))
        default, flow_stabilizer.chroma_size = flow_stabilizer.chroma_size, lambda h, w, scale=1.0: (h, w)
        row["chain_full_size_chroma"] = scores(stabilized(coloured, contexts, shared=False))
        flow_stabilizer.chroma_size = default
        rows.append(row)
        print(sequence, {k: row[k] for k in row if k != "sequence"}, flush=True)
    print(save("chain_on_davis", {"rows": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
