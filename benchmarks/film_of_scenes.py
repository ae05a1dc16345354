"""The ``reference`` colorizer on a film of several real scenes, with a still of each (``--reference``
given once per scene): is each scene coloured as well as with its own still alone?

The scenes: every colorizer set of ``real_footage.py`` (the DAVIS sequences, walkers' first 80 frames,
bike-packing), made grey at 854x480 and played one after the other, a scene cut at each start
(as a run finds them). Runs: each scene alone with its own first frame as the still; the film with
every scene's first frame as the stills; and the film with one scene's still left out, for each
scene (a scene that none of the stills shows). PSNR to the true colours per scene, mean over its
frames after the first and at its last frame, in 8 bits as written. And keyframes of one shot:
each scene alone with its first and last frames as the stills, against its first alone (the mean
over the frames between them).

    python benchmarks/film_of_scenes.py
"""

from __future__ import annotations

import torch
from davis import mean, save
from machine import no_options
from real_footage import colorizer_sets, eight_bit

from dfstream.colour import luma
from dfstream.engines import StageContext
from dfstream.engines.colorize.reference import ReferenceColorizer
from dfstream.engines.metrics import psnr
from dfstream.geometry import area

SIZE = (480, 854)


def coloured(stills: list[torch.Tensor], scenes: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Each scene coloured in turn by one colorizer given ``stills``, a cut at each scene's start."""
    stage, out = ReferenceColorizer(stills), []
    for truth in scenes:
        greys = [luma(f, "bt601") for f in truth]
        out.append(eight_bit([stage.process(y.expand(-1, 3, -1, -1), StageContext(y.expand(-1, 3, -1, -1), y, [i == 0]))
                              for i, y in enumerate(greys)]))
    return out


def scores(video: list[torch.Tensor], truth: list[torch.Tensor]) -> dict:
    values = [psnr(v, t) for v, t in zip(video, truth)]
    return {"psnr_mean": round(mean(values[1:]), 2), "psnr_last": round(values[-1], 2)}


def between(video: list[torch.Tensor], truth: list[torch.Tensor]) -> float:
    """The mean PSNR over the frames between the first and the last."""
    return mean(psnr(v, t) for v, t in zip(video[1:-1], truth[1:-1]))


def main() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    names, scenes = [], []
    for name, truth in colorizer_sets():
        names.append(name)
        scenes.append([area(f, SIZE) for f in truth])
    stills = [truth[0] for truth in scenes]
    together = coloured(stills, scenes)
    rows = []
    for k, (name, truth) in enumerate(zip(names, scenes)):
        alone = coloured([truth[0]], [truth])[0]
        missing = coloured(stills[:k] + stills[k + 1 :], scenes)[k]
        both = coloured([truth[0], truth[-1]], [truth])[0]
        rows.append(row := {"scene": name, "frames": len(truth), "own_still_alone": scores(alone, truth),
                            "every_still": scores(together[k], truth), "own_still_left_out": scores(missing, truth),
                            "keyframes_first": round(between(alone, truth), 2),
                            "keyframes_first_and_last": round(between(both, truth), 2)})
        print(row, flush=True)
    print(save("film_of_scenes", {"size": f"{SIZE[1]}x{SIZE[0]}", "scenes": names, "rows": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
