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

Scenes joined without a hard cut, every still given, the cuts found as a run finds them
(``SceneCuts``): by a dip to black (each scene fading in over its first FADE frames and out over its
last FADE, 8-bit luma), against the same film with a cut given at each scene's start; and by
cross-dissolves (FADE frames of each scene's end mixed with the next one's start), against the film
with hard cuts. The mean PSNR over each scene's frames outside its fades or dissolves.

    python benchmarks/film_of_scenes.py
"""

from __future__ import annotations

from fractions import Fraction

import torch
from davis import mean, save
from machine import no_options
from real_footage import colorizer_sets, eight_bit

from dfstream.colour import luma
from dfstream.engines import StageContext
from dfstream.engines.colorize.reference import ReferenceColorizer
from dfstream.engines.metrics import psnr
from dfstream.geometry import area
from dfstream.scenes import SceneCuts

SIZE = (480, 854)
FADE = 10  # frames of each fade and dissolve


def coloured(stills: list[torch.Tensor], scenes: list[list[torch.Tensor]], found: bool = False
             ) -> list[list[torch.Tensor]]:
    """Each scene (true colours, or grey frames [1,1,H,W]) coloured in turn by one colorizer given
    ``stills``: a cut given at each scene's start, or ``found`` by the run's scene-cut detector."""
    stage, cuts, out = ReferenceColorizer(stills), SceneCuts(), []
    for scene in scenes:
        greys = [f if f.shape[1] == 1 else luma(f, "bt601") for f in scene]
        flags = [cuts.detect(y, [0], Fraction(1, 25))[0] if found else i == 0 for i, y in enumerate(greys)]
        out.append(eight_bit([stage.process(y.expand(-1, 3, -1, -1), StageContext(y.expand(-1, 3, -1, -1), y, [cut]))
                              for y, cut in zip(greys, flags)]))
    return out


def dipped(scene: list[torch.Tensor]) -> list[torch.Tensor]:
    """A scene grey, faded in from black over its first FADE frames and out over its last FADE."""
    n = len(scene)
    return [(luma(f, "bt601") * min(1.0, (t + 1) / FADE, (n - t) / FADE) * 255).round() / 255
            for t, f in enumerate(scene)]


def dissolved(scenes: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """The scenes grey, each one's last FADE frames mixed with the next one's first FADE (which it
    then starts after), the share of the next rising by 1/(FADE+1) a frame."""
    greys = [[luma(f, "bt601") for f in scene] for scene in scenes]
    out = []
    for k, scene in enumerate(greys):
        own = scene[FADE:] if k else scene
        if k + 1 < len(greys):
            pairs = zip(own[-FADE:], greys[k + 1][:FADE])
            mixed = [y + (t + 1) / (FADE + 1) * (z - y) for t, (y, z) in enumerate(pairs)]
            own = own[:-FADE] + [(m * 255).round() / 255 for m in mixed]
        out.append(own)
    return out


def middle(video: list[torch.Tensor], truth: list[torch.Tensor], start: int, end: int) -> float:
    """The mean PSNR over frames start..end-1."""
    return round(mean(psnr(v, t) for v, t in zip(video[start:end], truth[start:end])), 2)


def scores(video: list[torch.Tensor], truth: list[torch.Tensor]) -> dict:
    values = [psnr(v, t) for v, t in zip(video, truth)]
    return {"psnr_mean": round(mean(values[1:]), 2), "psnr_last": round(values[-1], 2)}


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
                            "keyframes_first": middle(alone, truth, 1, -1),  # the frames between the two
                            "keyframes_first_and_last": middle(both, truth, 1, -1)})
        print(row, flush=True)
    faded = [dipped(t) for t in scenes]
    dips, cut_dips = coloured(stills, faded, True), coloured(stills, faded)
    mixes = coloured(stills, dissolved(scenes), True)
    for k, (row, truth) in enumerate(zip(rows, scenes)):
        row["dip_to_black"] = {"cuts_found": middle(dips[k], truth, FADE, -FADE),
                               "cuts_given": middle(cut_dips[k], truth, FADE, -FADE)}
        first, last = (FADE if k else 0), (len(truth) - FADE if k + 1 < len(scenes) else len(truth))
        mix = [None] * (FADE if k else 0) + mixes[k]  # the scene's own frame numbers (its first FADE are mixed before)
        row["cross_dissolve"] = {"cuts_found": middle(mix, truth, first, last),
                                 "hard_cuts": middle(together[k], truth, first, last)}
        print(row["scene"], "dip to black", row["dip_to_black"], "cross-dissolve", row["cross_dissolve"], flush=True)
    print(save("film_of_scenes", {"size": f"{SIZE[1]}x{SIZE[0]}", "scenes": names, "rows": rows}))


if __name__ == "__main__":
    no_options(__doc__)
    main()
