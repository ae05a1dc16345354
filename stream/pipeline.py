"""The pipeline: a decode thread, the compute stage chain and an encode thread.

They are joined by bounded queues, so memory stays flat however long the
input is and the slowest part sets the pace (backpressure). Audio and
subtitle packets ride the same queues behind the video frames they came with.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import av
import numpy as np
import torch

from dfstream.engines import EngineOptions, Stage, StageContext, build_chain, parse_stages

from .colour import Colour, luma, to_rgb
from .device import resolve_device
from .errors import DfstreamError
from .geometry import crop, pad_to_multiple, resize, work_size
from .planes import frame_to_rgb, frames_from_rgb, stack_planes
from .progress import Progress
from .scenes import SceneCuts
from .sink import EncoderSettings, Sink, check_target, output_layout
from .source import Source, VideoItem

END = object()
MAX_PACKETS = 256  # pass-through packets held before they are sent on without video


class Stopped(Exception):
    """A queue wait was abandoned because the run is stopping."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C."""


@dataclass
class Options:
    """Everything that shapes a run; the CLI and the Python API fill it alike."""

    stages: str | list = "none"  # 'colorize,stabilize', 'none', or a list of names / Stage objects
    engines: dict[str, str] = field(default_factory=dict)  # stage -> engine 'NAME[:VARIANT]'
    references: list[str] = field(default_factory=list)  # colour stills for the reference colorizer
    strength: float = 0.8  # stabilizer strength
    original: str | None = None  # the unprocessed input, read in step (de-flicker another tool)
    batch: int = 8
    max_height: int | None = None
    device: str = "auto"
    input_format: str | None = None
    input_options: dict[str, str] = field(default_factory=dict)
    start: float | None = None
    duration: float | None = None
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    format: str | None = None
    overwrite: bool = False
    scene_threshold: float = 0.12
    progress: str = "none"
    queue_batches: int = 3


@dataclass
class Summary:
    """What a run did, for the final report and for API callers."""

    frames: int = 0
    seconds: float = 0.0
    output: str | None = None
    interrupted: str | None = None  # 'SIGINT' or 'SIGTERM'
    partial: str | None = None
    pipe_closed: bool = False
    stage_seconds: dict[str, float] = field(default_factory=dict)
    decode_seconds: float = 0.0
    encode_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        per_frame = [(name, s) for name, s in self.stage_seconds.items()]
        parts = [f"decode {self.decode_seconds:.1f}s"]
        parts += [f"{name} {1000 * s / max(1, self.frames):.1f} ms/frame" for name, s in per_frame]
        parts.append(f"encode {self.encode_seconds:.1f}s")
        return [f"{self.frames} frames in {self.seconds:.1f}s ({self.fps:.1f} fps): {', '.join(parts)}"]


@dataclass
class OutputFrame:
    """A processed frame from ``frames()``: time in seconds, pts in the stream's time base, RGB."""

    time: float
    pts: int
    image: np.ndarray


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            pass
    raise Stopped


def _get(q: queue.Queue, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            pass
    raise Stopped


class Pipeline:
    """One input streamed through a chain of stages."""

    def __init__(self, source_name: str, options: Options | None = None):
        self.options = options = options or Options()
        if options.batch < 1:
            raise DfstreamError(f"batch size {options.batch} is too small", "pass --batch 1 or more")
        self.device = resolve_device(options.device)
        self.source = Source(source_name, options.input_format, options.input_options,
                             options.start, options.duration)
        self.original = None
        try:
            self.stages, self.choices = self._build_stages(options)  # fail before any decoding
            self.original = self._open_original(options) if options.original else None
        except BaseException:
            self.source.close()
            raise
        ctx = self.source.video.codec_context
        self.layout = self.source.layout
        self.colour = Colour.of_frame(ctx.colorspace, ctx.color_range, self.layout, self.source.height)
        self.summary = Summary(stage_seconds={s.name: 0.0 for s in self.stages})
        self.out_layout = output_layout(options.encoder, self.layout, bool(self.stages),
                                        (self.source.height, self.source.width), self.summary.notes)
        self.out_colour = Colour(self.colour.matrix, self.out_layout.full_range or self.colour.full_range)
        self.scenes = SceneCuts(options.scene_threshold)
        self.halt = threading.Event()  # stop decoding (interrupt, failure, early end)
        self.failed = threading.Event()  # stop everything now
        self.errors: list[BaseException] = []
        self._decoders: list[threading.Thread] = []

    @staticmethod
    def _build_stages(options: Options) -> tuple[list[Stage], list[str]]:
        if isinstance(options.stages, list) and any(isinstance(s, Stage) for s in options.stages):
            return list(options.stages), [s.name for s in options.stages]
        engine_options = EngineOptions(options.references, options.strength)
        return build_chain(parse_stages(options.stages), options.engines, engine_options)

    def _open_original(self, options: Options) -> Source:
        """The unprocessed video the input was made from, read frame for frame in step."""
        original = Source(options.original, None, None, options.start, options.duration)
        original.passthrough = []
        if (original.width, original.height) != (self.source.width, self.source.height):
            raise DfstreamError(
                f"'{options.original}' is {original.width}x{original.height} but '{self.source.name}' "
                f"is {self.source.width}x{self.source.height}",
                "give the original that the processed video was made from")
        return original

    # --- decode thread -------------------------------------------------------------

    def _decode(self, source: Source, q: queue.Queue) -> None:
        started = time.perf_counter()
        waited = 0.0
        try:
            for item in source.items():
                t = time.perf_counter()
                _put(q, item, self.halt)
                waited += time.perf_counter() - t
            _put(q, END, self.halt)
        except Stopped:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            self._fail(err)
        finally:
            self.summary.decode_seconds += time.perf_counter() - started - waited

    def _fail(self, err: BaseException) -> None:
        self.errors.append(err)
        self.halt.set()
        self.failed.set()

    # --- compute ----------------------------------------------------------------------

    def batches(self) -> Iterator[tuple[list[av.VideoFrame], list[av.Packet]]]:
        """Processed frames and the pass-through packets that came with them, in order."""
        size = self.options.batch
        q = self._start_decoding(self.source)
        originals = self._start_decoding(self.original) if self.original else None
        done = False
        while not done:
            items: list[VideoItem] = []
            packets: list[av.Packet] = []
            while len(items) < size and len(packets) < MAX_PACKETS:
                item = _get(q, self.failed)
                if item is END:
                    done = True
                    break
                (items if isinstance(item, VideoItem) else packets).append(item)
            if items or packets:
                source = self._take_originals(originals, len(items)) if originals else None
                yield (self._compute(items, source) if items else []), packets
        if originals and _get(originals, self.failed) is not END:
            raise DfstreamError(f"'{self.original.name}' has more frames than '{self.source.name}'",
                                "give the original that the processed video was made from")

    def _start_decoding(self, source: Source) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=self.options.batch * self.options.queue_batches)
        thread = threading.Thread(target=self._decode, args=(source, q), name="decode", daemon=True)
        thread.start()
        self._decoders.append(thread)
        return q

    def _take_originals(self, q: queue.Queue, count: int) -> list[VideoItem]:
        items = []
        while len(items) < count and (item := _get(q, self.failed)) is not END:
            items.append(item)
        if len(items) < count:
            raise DfstreamError(f"'{self.original.name}' has fewer frames than '{self.source.name}'",
                                "give the original that the processed video was made from")
        return items

    @torch.inference_mode()
    def _compute(self, items: list[VideoItem], originals: list[VideoItem] | None) -> list[av.VideoFrame]:
        frames = [item.frame for item in items]
        pts = [item.pts for item in items]
        if not self.stages:
            name = self.out_layout.name
            out = [f if f.format.name == name else f.reformat(format=name) for f in frames]
        else:
            source = None
            if originals:
                layout = self.original.layout
                colour = Colour.of_frame(self.original.video.codec_context.colorspace,
                                         self.original.video.codec_context.color_range,
                                         layout, self.original.height)
                planes = stack_planes([o.frame for o in originals], layout, self.device)
                source = to_rgb(planes, layout, colour)
            rgb = self._run_stages(frames, pts, source)
            out = frames_from_rgb(rgb, self.out_layout, self.out_colour)
        for frame, p in zip(out, pts):
            frame.pts = p
            frame.time_base = self.source.time_base
        return out

    def _run_stages(self, frames: list[av.VideoFrame], pts: list[int],
                    source: torch.Tensor | None) -> torch.Tensor:
        """Stages on R'G'B' at the work size; ``source``: the --original frames, if any."""
        rgb = to_rgb(stack_planes(frames, self.layout, self.device), self.layout, self.colour)
        source = rgb if source is None else source
        y = luma(source, "bt601")
        cuts = self.scenes.detect(y, pts, self.source.time_base)
        height, width = rgb.shape[-2:]
        size = work_size(height, width, self.options.max_height)
        x = resize(rgb, size)
        ctx = StageContext(resize(source, size), resize(y, size), cuts)
        for stage in self.stages:
            started = time.perf_counter()
            m = stage.multiple
            padded = stage.process(pad_to_multiple(x, m), ctx.map(lambda t: pad_to_multiple(t, m)))
            x = crop(padded, *size)
            if x.is_cuda:
                torch.cuda.current_stream(x.device).synchronize()
            self.summary.stage_seconds[stage.name] += time.perf_counter() - started
        return resize(x, (height, width))

    # --- encode thread -------------------------------------------------------------

    def _encode(self, q: queue.Queue, sink: Sink, progress: Progress) -> None:
        tb = float(self.source.time_base)
        try:
            while (item := _get(q, self.failed)) is not END:
                frames, packets = item
                started = time.perf_counter()
                for frame in frames:
                    sink.write_frame(frame)
                for packet in packets:
                    sink.write_packet(packet)
                self.summary.encode_seconds += time.perf_counter() - started
                if frames:
                    progress.update(sink.frames, frames[-1].pts * tb)
        except Stopped:
            pass
        except (BrokenPipeError, av.error.BrokenPipeError):
            self.summary.pipe_closed = True
            self.halt.set()
            self.failed.set()
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            self._fail(err)

    # --- runs -------------------------------------------------------------------------

    def run(self, target: str) -> Summary:
        """Stream the whole input to ``target`` (a file, '-' or a URL)."""
        opts = self.options
        check_target(target, self.source.name, opts.overwrite)
        sink = Sink(target, self.source, opts.encoder, self.out_layout,
                    self.out_colour, opts.format, opts.overwrite, self.summary.notes)
        progress = Progress(opts.progress, self.source.expected_frames())
        q: queue.Queue = queue.Queue(maxsize=opts.queue_batches)
        encoder = threading.Thread(target=self._encode, args=(q, sink, progress), name="encode",
                                   daemon=True)
        started = time.perf_counter()
        encoder.start()
        try:
            try:
                for batch in self.batches():
                    _put(q, batch, self.failed)
                _put(q, END, self.failed)
                encoder.join()
            except Stopped:
                encoder.join()
            if self.summary.pipe_closed:
                sink.abort()
            elif self.errors:
                raise self.errors[0]
            else:
                sink.finish()
                self.summary.output = target
        except KeyboardInterrupt as err:
            self.halt.set()
            self.source.stop.set()
            self.summary.interrupted = "SIGTERM" if isinstance(err, Interrupted) else "SIGINT"
            try:
                _put(q, END, self.failed)
            except Stopped:
                pass
            encoder.join()
            self.summary.partial = sink.finish_partial()
        except BaseException:
            self.failed.set()
            encoder.join()
            sink.abort()
            raise
        finally:
            self.close()
            progress.close()
            self.summary.frames = sink.frames
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    def frames(self) -> Iterator[OutputFrame]:
        """Processed frames as RGB arrays, for use in other programs."""
        tb = self.source.time_base
        try:
            for frames, _packets in self.batches():
                for frame in frames:
                    yield OutputFrame(float(frame.pts * tb), frame.pts, frame_to_rgb(frame))
        except Stopped:
            pass
        finally:
            self.close()
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        self.halt.set()
        self.failed.set()
        for thread in self._decoders:
            thread.join()
        self.source.close()
        if self.original:
            self.original.close()


def process(source: str, target: str, stages: str | list = "none", **options) -> Summary:
    """Stream ``source`` through ``stages`` into ``target``; options as in ``Options``."""
    return Pipeline(source, Options(stages=stages, **options)).run(target)


def frames(source: str, stages: str | list = "none", **options) -> Iterator[OutputFrame]:
    """Iterate over the processed frames of ``source`` (RGB uint8 [H, W, 3])."""
    return Pipeline(source, Options(stages=stages, **options)).frames()


__all__ = ["Options", "OutputFrame", "Pipeline", "Summary", "frames", "process"]
