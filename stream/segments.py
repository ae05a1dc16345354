"""``dfstream run IN OUT --workers N``: one long film in segments on Ray workers, joined by stream copy.

The film is cut near equal lengths: at the scene cut nearest to each equal
split within a quarter of a segment (at most ``WINDOW`` seconds either side),
found by decoding only those frames with the run's own detector; where there
is none, at a keyframe within a tenth of a segment (from the packets alone);
else at the split itself. Workers are Ray actors, one per GPU where the
cluster has GPUs, else one per CPU: each builds the stages once (networks
loaded once, compiled engines from the shared cache) and takes segment after
segment. A segment that starts at a scene cut starts afresh, as the stateful
stages do there in one process; any other is decoded from ``WARMUP`` frames
before its first frame: the stateful stages run over them (a scene cut among
them resets them, as in one process) and only the segment's own frames are encoded,
with the input's timestamps, into a video-only Matroska file. The join copies
the encoded packets into the target and copies audio and subtitles once from
the input, as a single run does. Finished segments wait in a folder beside the
target until the join, so a re-run of the same command resumes; the folder
goes once the target is written.
"""

from __future__ import annotations

import glob
import heapq
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields, replace
from itertools import pairwise
from pathlib import Path

import av

from .errors import DfstreamError, UsageError
from .mapping import Selection

WARMUP = 25  # frames run through the stages before a segment's first frame
LOOKAHEAD = 32  # packets read ahead to restore the decode times Matroska does not store
WINDOW = 5.0  # seconds either side of an equal split searched for a scene cut
MARGIN = 4 / 255  # a cut counts for a split only this far over the threshold, so that the run's own
# detector, on the decoded plane rather than an 8-bit grey, is sure to see it (no warm-up there)


@dataclass(frozen=True)
class Segment:
    index: int
    warm: int  # pts of the first frame decoded: the warm-up starts here
    first: int  # pts of the first frame written
    end: int | None  # pts of the next segment's first frame; None: to the end
    original: Segment | None = None  # the same frames in the --original's timestamps


def frame_times(name: str, input_format: str | None = None, options: dict | None = None, select=Selection()):
    """Presentation times of the video's frames (sorted) and of its keyframes, from packets alone."""
    from .source import demuxed, open_input

    container = open_input(name, input_format, options, None)
    try:
        if not container.streams.video:
            raise DfstreamError(f"'{name}' has no video stream", "give a file with video")
        times, keys = [], set()
        for packet in demuxed(container, select.video(select.streams(container, name), name)[0]):
            t = packet.pts if packet.pts is not None else packet.dts
            if t is not None and packet.size:
                times.append(t)
                if packet.is_keyframe:
                    keys.add(t)
    finally:
        container.close()
    return sorted(times), keys


def splits(n: int, workers: int) -> list[int]:
    """The equal splits of ``n`` frames for ``workers`` (segments shorter than their warm-up are not made)."""
    count = max(1, min(workers, n // WARMUP))
    return [round(k * n / count) for k in range(1, count)]


def plan(times: list[int], keys: set[int], workers: int, cuts: dict[int, int] | None = None) -> list[Segment]:
    """Segments of near equal length: each starts at the scene cut found near its split (``cuts``:
    split -> frame index; no warm-up there), else at a keyframe within a tenth of a segment, else
    at the split."""
    n = len(times)
    ideals = splits(n, workers)
    length = n / (len(ideals) + 1)
    keyframes = [i for i, t in enumerate(times) if t in keys]
    starts = [0]
    for ideal in ideals:
        near = [i for i in keyframes if abs(i - ideal) <= length / 10 and i > starts[-1]]
        cut = (cuts or {}).get(ideal)
        starts.append(cut if cut is not None and cut > starts[-1] else
                      min(near, key=lambda i: abs(i - ideal)) if near else ideal)
    bounds, at_cuts = starts + [n], set((cuts or {}).values())
    return [Segment(k, times[a if a in at_cuts else max(0, a - WARMUP)], times[a], times[b] if b < n else None)
            for k, (a, b) in enumerate(pairwise(bounds))]


class SegmentWorker:
    """A Ray actor: the stages built once, then segments one after another (the first frame of each
    is a scene cut to the stages, so no state crosses from one segment to the next)."""

    def __init__(self, options):
        from .device import resolve_device
        from .pipeline import Pipeline

        self.options, self.error = options, None
        try:
            self.options = replace(options, stages=Pipeline.build_stages(options, resolve_device(options.device))[0])
        except DfstreamError as err:  # reported with each segment it was given
            self.error = str(err)

    def run(self, source: str, target: str, segment: Segment) -> tuple[int, int, str | None]:
        """(segment index, frames written, one-line error or None)."""
        from .batch import run_one

        if self.error:
            return segment.index, 0, self.error
        part = replace(self.options, segment=segment, metadata={}, stream_metadata=(),  # the join tags the film
                       dispositions=())
        return (segment.index, *run_one(source, target, part))


def cuts_near(name: str, options, times: list[int], ideals: list[int]) -> dict[int, int]:
    """For each split, the scene cut nearest to it within a quarter of a segment and ``WINDOW``
    seconds, from decoding only the frames around it, with the run's detector and thumbnails (its
    threshold raised by ``MARGIN``)."""
    import torch

    from .scenes import SceneCuts, subsample
    from .source import open_input, seek

    found: dict[int, int] = {}
    index = {t: i for i, t in enumerate(times)}
    container = open_input(name, options.input_format, dict(options.input_options), None)
    try:
        select = options.select
        video = select.video(select.streams(container, name), name)[0]
        video.thread_type = "AUTO"
        seconds = float((times[-1] - times[0]) * video.time_base) / max(1, len(times) - 1)
        reach = max(1, min(round(len(times) / (len(ideals) + 1) / 4), round(WINDOW / max(seconds, 1e-6))))
        for ideal in ideals:
            lo, hi = times[max(0, ideal - reach - 1)], times[min(len(times) - 1, ideal + reach)]
            seek(container, video, lo)
            thumbs, stamps = [], []
            for frame in container.decode(video):
                if frame.pts is None or frame.pts < lo:
                    continue
                if frame.pts > hi:
                    break
                grey = torch.from_numpy(frame.to_ndarray(format="gray"))[None]
                thumbs.append(subsample(grey).float() / 255)
                stamps.append(frame.pts)
            if len(stamps) < 2:
                continue
            flags = SceneCuts(options.scene_threshold + MARGIN).detect(torch.stack(thumbs), stamps, video.time_base)
            candidates = [index[t] for t, cut in zip(stamps[1:], flags[1:]) if cut and t in index]
            if candidates:
                found[ideal] = min(candidates, key=lambda i: abs(i - ideal))
    finally:
        container.close()
    return found


def segments_of(source: str, options, times: list[int], keys: set[int], wanted: int) -> list[Segment]:
    """The plan of a run in ``wanted`` segments: at scene cuts near the equal splits, else keyframes.
    With an ``--original``, its cuts count (the run detects them there) and each segment carries the
    same frames, by their place, in the original's timestamps."""
    ideals = splits(len(times), wanted)
    if not options.original:
        return plan(times, keys, wanted, cuts_near(source, options, times, ideals))
    ours = frame_times(options.original)[0]
    if len(ours) != len(times):
        raise DfstreamError(f"'{options.original}' has {len(ours)} frames and '{source}' {len(times)}",
                            "give the original that the processed video was made from")
    guide = replace(options, input_format=None, input_options={}, maps=())
    place = {t: i for i, t in enumerate(times)}
    return [replace(s, original=Segment(s.index, *(None if t is None else ours[place[t]]
                                                   for t in (s.warm, s.first, s.end))))
            for s in plan(times, keys, wanted, cuts_near(options.original, guide, ours, ideals))]


def check(source: str, target: str | None, options) -> None:
    """What a segmented run cannot do, refused before any work."""
    from .source import NUMBERED, is_url

    for name in filter(None, (source, options.original)):
        if name == "-" or is_url(name) or not (os.path.exists(name) or NUMBERED.search(name)):
            raise UsageError(f"--workers needs {'an input' if name == source else 'an --original'} file or "
                             "frames (segments seek in them)", "drop --workers for pipes and URLs")
    if target is None or target == "-" or is_url(target):
        raise UsageError("--workers needs an output file", "name an output .mkv file")
    if (options.format or os.path.splitext(target)[1].lstrip(".").lower()) not in ("mkv", "matroska"):
        raise UsageError("--workers writes Matroska (the segments are joined in it)", "name the output .mkv")
    if options.start is not None or options.from_end is not None or options.duration is not None or options.frames:
        raise UsageError("--workers cannot be combined with -ss/-sseof/-t/-to/-frames:v", "trim first, or drop --workers")
    if options.realtime or options.preview or options.progress_url or options.readrate or options.size_limit:
        raise UsageError("--workers cannot be combined with --realtime, -re, --preview, -progress or -fs",
                         "drop --workers")
    if options.deinterlace == "ivtc" or options.rate:
        what = "undo a 3:2 pulldown" if options.deinterlace == "ivtc" else "change the frame rate (-r)"
        raise UsageError(f"--workers cannot {what}: segments are planned on the input's frames",
                         f"drop --workers, or {'undo the pulldown' if options.rate is None else 'change the rate'} first")


def fingerprint(source: str, segments: list[Segment], options) -> str:
    """What the segments on disk were made from: they are reused only for the same run."""
    shaped = {f.name: getattr(options, f.name) for f in fields(options)
              if f.name not in ("progress", "overwrite", "preview", "segment", "queue_batches")}
    if isinstance(shaped["stages"], list):
        shaped["stages"] = [s if isinstance(s, str) else type(s).__qualname__ for s in shaped["stages"]]
    files = {}
    for name in filter(None, (source, options.original)):
        stat = os.stat(name if os.path.exists(name) else os.path.dirname(name) or ".")  # frame%05d: its folder
        files[os.path.abspath(name)] = stat.st_size, stat.st_mtime_ns
    return json.dumps({"files": files, "segments": [asdict(s) for s in segments], "options": shaped},
                      default=str, sort_keys=True)


def folder_of(target: str) -> str:
    """Where the finished segments of ``target`` wait for the join."""
    head, name = os.path.split(os.path.abspath(target))
    return os.path.join(head, f".{os.path.splitext(name)[0]}.dfstream-segments")


def run_segments(source: str, target: str, options, workers: int | None = None, address: str | None = None,
                 say=print, count: int | None = None) -> int:
    """Process ``source`` in segments (default: one per worker) on Ray and join them into ``target``;
    returns the frames written. A failed segment fails the run once the others are done (kept)."""
    from .batch import connected, refuse_early
    from .sink import check_target, temporary_name

    check(source, target, options)
    check_target(target, source, options.overwrite, options.original)
    refuse_early(address, options)
    options = replace(options, encoder=options.encoder.for_target(target, options.format))
    times, keys = frame_times(source, options.input_format, dict(options.input_options), options.select)
    if not times:
        raise DfstreamError(f"no video frame could be decoded from '{source}'",
                            "check that the input is complete and not damaged (ffprobe shows it)")
    segments = segments_of(source, options, times, keys, count or workers or os.cpu_count() or 1)
    folder, stamp = folder_of(target), fingerprint(source, segments, options)
    plan_file = os.path.join(folder, "plan.json")
    if os.path.isdir(folder) and (not os.path.isfile(plan_file) or Path(plan_file).read_text() != stamp):
        shutil.rmtree(folder)  # made by another run: not joinable with this one
    parts = [os.path.join(folder, f"{s.index:04d}.mkv") for s in segments]
    todo = [s for s, part in zip(segments, parts) if not os.path.exists(part)]
    if len(todo) < len(segments):
        say(f"{len(segments) - len(todo)} of {len(segments)} segments already done, resumed")
    done = frames = 0
    failed: list[str] = []
    if todo:
        shared = replace(options, format="matroska", overwrite=True, progress="none", preview=None,
                         encoder=options.encoder.even_keyframes())
        try:
            with connected(address, workers) as ray:
                from ray.util import ActorPool

                os.makedirs(folder, exist_ok=True)
                Path(plan_file).write_text(stamp)
                gpus = 0 if options.device == "cpu" else int(ray.cluster_resources().get("GPU", 0))
                size = min(len(todo), workers or gpus or int(ray.cluster_resources().get("CPU", 1)))
                actor = ray.remote(max_restarts=2, max_task_retries=2,
                                   **({"num_gpus": 1} if gpus else {"num_cpus": 1}))(SegmentWorker)
                pool = ActorPool([actor.remote(shared) for _ in range(min(size, gpus) if gpus else size)])
                for index, n, error in pool.map_unordered(
                        lambda a, s: a.run.remote(source, parts[s.index], s), todo):
                    done, frames = done + 1, frames + n
                    if error:
                        failed.append(f"segment {index + 1} of {len(segments)} failed: {error}")
                    say(f"segments {done}/{len(todo)}, frames {frames}" + (f": {failed[-1]}" if error else ""))
        except KeyboardInterrupt:
            say(f"interrupted: {done - len(failed)} of {len(todo)} segments finished and kept in {folder}: "
                "run the same command again to resume")
            raise
        finally:
            for part in parts:  # what workers that died or were stopped began
                for stale in glob.glob(temporary_name(part, "*")):
                    os.remove(stale)
        if failed:
            raise DfstreamError(failed[0] + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
                                "fix the cause and run the same command again: finished segments are kept")
    notes: list[str] = []
    started = time.perf_counter()
    written = join(source, parts, target, options, notes)
    for note in notes:
        say(f"note: {note}")
    say(f"joined {len(parts)} segments by stream copy in {time.perf_counter() - started:.2f}s")
    shutil.rmtree(folder)
    return written


def join(source_name: str, parts: list[str], target: str, options, notes: list[str]) -> int:
    """The segments' video packets and the input's audio and subtitles, copied into ``target``."""
    from .sink import Sink
    from .source import Source

    source = Source(source_name, options.input_format, dict(options.input_options), select=options.select,
                    delays=options.delays)
    notes += source.opening_notes()
    inputs = [av.open(p) for p in parts]
    try:
        sink = Sink(target, source, options.encoder, None, None, options.format, options.overwrite, notes,
                    copy_video=inputs[0].streams.video[0], metadata=options.metadata,
                    stream_metadata=options.stream_metadata, dispositions=options.dispositions,
                    input_tags=options.input_tags, chapters=options.chapters)
        try:
            video = (p for c in inputs for p in _with_decode_times(c.demux(c.streams.video[0])))
            other = source.copied() if source.passthrough else ()
            frames = 0
            for packet in heapq.merge(video, other, key=_seconds):
                if packet.stream.type == "video":
                    sink.write_video_packet(packet)
                    frames += 1
                else:
                    sink.write_packet(packet)
            sink.finish()
        except BaseException:
            sink.abort()
            raise
    finally:
        for c in inputs:
            c.close()
        source.close()
    return frames


def _seconds(packet: av.Packet) -> float:
    t = packet.dts if packet.dts is not None else packet.pts
    return float((t or 0) * packet.time_base)


def _with_decode_times(packets):
    """Packets with their decode times: Matroska stores none, and the demuxer leaves them out for
    the frames that a B-frame delay decodes before the first presentation time. Restored as the
    encoder made them: the sorted presentation times, shifted by the delay."""
    packets = (p for p in packets if p.size)
    head = []
    for packet in packets:
        head.append(packet)
        if len(head) >= LOOKAHEAD:
            break
    known = next((i for i, p in enumerate(head) if p.dts is not None), None)
    order = sorted(p.pts for p in head)
    delay = order[known] - head[known].dts if known is not None else 0
    for i, packet in enumerate(head[: known if known is not None else len(head)]):
        packet.dts = order[i] - delay
    yield from head
    yield from packets
