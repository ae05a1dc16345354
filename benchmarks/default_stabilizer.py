"""The default ConvLSTM stabilizer: train it on the real footage, then compare it with ``flow``.

Training (one command, meant for an NVIDIA GPU): ``dfstream train stabilizer`` on
walkers (720p) and DAVIS bus, processed on the fly by colour jitter and the
classic cartoonizer, short side 288, 192x192 crops, the reference schedule
(batch 4, 11-frame clips, 1000 iterations per epoch). DAVIS giant-slalom is
never trained on: it is the held-out footage. Comparison: on giant-slalom
through the flicker processes of ``stabilizer_flicker.py``, the warping error
(flow on the input) and the PSNR to the processed frames of the trained
ConvLSTM and of ``flow``. The weights are worth committing only if ConvLSTM has
the lower warping error at a PSNR no more than 0.5 dB below flow's.

    python benchmarks/default_stabilizer.py [--epochs 30] [--vgg vgg16-397923af.pth]
    python benchmarks/default_stabilizer.py --compare-only RUN/checkpoint.pth
    python benchmarks/default_stabilizer.py --stop-after 2 --device cpu   # smoke check of the recipe
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from davis import DAVIS, load, save
from stabilizer_flicker import exposure, gain, warping_errors

from dfstream.cli import main as dfstream
from dfstream.colour import luma
from dfstream.engines import StageContext
from dfstream.engines.metrics import psnr
from dfstream.engines.stabilize.convlstm import ConvLSTMStabilizer, TransformNet
from dfstream.engines.stabilize.flow import FlowStabilizer
from dfstream.training import loop

HERE = Path(__file__).resolve().parent
WALKERS = DAVIS.parent / "walkers_720p_aac.avi"
HELD_OUT = "giant-slalom"


def train(run: Path, epochs: int, vgg: str | None, device: str, stop_after: int | None) -> Path:
    args = ["train", "stabilizer", str(WALKERS), str(DAVIS / "bus"), "--process", "jitter", "classic:comic",
            "classic:soft", "--short-side", "288", "--held-out", str(DAVIS / HELD_OUT), "--epochs", str(epochs),
            "--device", device, "-o", str(run)]
    if vgg:
        args += ["--vgg", vgg]
    if (run / "checkpoint.pth").is_file():
        args.append("--resume")
    if stop_after:
        args += ["--stop-after", str(stop_after)]
    if dfstream(args) != 0:
        raise SystemExit("training failed")
    return run / "checkpoint.pth"


def stabilize(stage, processed, frames):
    return [stage.process(p, StageContext(f, luma(f, "bt601"), [i == 0]))
            for i, (p, f) in enumerate(zip(processed, frames))]


@torch.inference_mode()
def compare(checkpoint: Path) -> dict:
    net = TransformNet()
    net.load_state_dict(loop.load(checkpoint)["model"])
    frames = load(HELD_OUT, (480, 272))  # multiple of 4, the aspect kept
    rows = []
    for process in (exposure, gain):
        processed = process(frames)
        ours = stabilize(ConvLSTMStabilizer(net.eval()), processed, frames)
        theirs = stabilize(FlowStabilizer(0.8), processed, frames)
        e_p, e_ours, e_flow = warping_errors([processed, ours, theirs], frames)
        fidelity = [psnr(torch.cat(v), torch.cat(processed)) for v in (ours, theirs)]
        rows.append({"process": process.__name__, "warping_error": {"processed": e_p, "convlstm": e_ours, "flow": e_flow},
                     "psnr_to_processed": {"convlstm": fidelity[0], "flow": fidelity[1]}})
        print(f"{process.__name__:9} warping error processed {e_p:.5f}  convlstm {e_ours:.5f}  flow {e_flow:.5f}; "
              f"PSNR convlstm {fidelity[0]:.2f} dB, flow {fidelity[1]:.2f} dB")
    beats = all(r["warping_error"]["convlstm"] < r["warping_error"]["flow"]
                and r["psnr_to_processed"]["convlstm"] >= r["psnr_to_processed"]["flow"] - 0.5 for r in rows)
    return {"held_out": HELD_OUT, "checkpoint": str(checkpoint), "rows": rows, "beats_flow": beats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(HERE.parent / "runs" / "default-stabilizer"), help="training run folder")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--vgg", help="torchvision's vgg16 weights for the perceptual loss")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compare-only", metavar="CHECKPOINT", help="skip training; compare this checkpoint")
    parser.add_argument("--stop-after", type=int, help="train this many more iterations only (a smoke check)")
    args = parser.parse_args()
    checkpoint = Path(args.compare_only) if args.compare_only else train(Path(args.run), args.epochs, args.vgg, args.device,
                                                                          args.stop_after)
    result = compare(checkpoint)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(save(f"default_stabilizer_{device.replace(' ', '_')}", result))
    print("beats flow: commit the weights" if result["beats_flow"] else "does not beat flow: do not commit the weights")


if __name__ == "__main__":
    main()
