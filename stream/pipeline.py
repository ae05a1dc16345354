"""The pipeline: decode threads (``decoding``), the compute stage chain (here) and an encode
thread (``encoding``).

They are joined by bounded queues (``runstate``), so memory stays flat however
long the input is and the slowest part sets the pace (backpressure). Audio and
subtitle packets ride the same queues behind the video frames they came with.
What a run produces is in ``summary``.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Callable, Iterator

import av
import cv2
import torch

from dfstream.engines import EngineOptions, Stage, StageContext, build_chain, check_chain, parse_stages
from dfstream.engines.registry import STRENGTH

from .colour import TITLES, from_rgb, merge_chroma, ycbcr
from .decoding import Decoders
from .deinterlace import CHAINS
from .device import keep_host_memory, resolve_device
from .device_frames import DeviceFrames, output_colour
from .encoding import Encoder
from .errors import DfstreamError, UsageError
from .geometry import bilinear, resize, work_size
from .mapping import Selection
from .planes import converted, frame_to_rgb, frames_from_arrays, plane_lists
from .preview import Preview, check_display
from .progress import STANDARD_OUTPUT, Progress, open_report
from .realtime import Realtime
from .runstate import END, RunState, Stopped, get, put
from .scenes import SceneCuts
from .signals import stop_on_signals
from .sink import EncoderSettings, Sink, check_target, container_name, output_layout, readable_colour, still_frames
from .source import Source, VideoItem
from .summary import Batch, OutputFrame, Summary, counted
from .threads import SharedCores
from .transfer import Download, Transfers

LENGTHS = 0.1  # share by which an --original's length may differ from the input's before the run (exact: during)
MAX_PACKETS = 256  # pass-through packets held before they are sent on without video
CPU_SLICE_BYTES = 16 << 20  # float RGB frames per CPU slice: below glibc's mmap threshold


@dataclass
class Options:
    """Everything that shapes a run; the CLI and the Python API fill it alike."""

    stages: str | list = "none"  # 'colorize,stabilize', 'none', or a list of names / Stage objects
    engines: dict[str, str] = field(default_factory=dict)  # stage -> engine 'NAME[:VARIANT]'
    references: list[str] = field(default_factory=list)  # colour stills for the reference colorizer
    strength: float = STRENGTH  # stabilizer strength
    original: str | None = None  # the unprocessed input, read in step (de-flicker another tool)
    realtime: bool = False  # keep up with the source's clock: lower the work size, then drop frames
    readrate: float | None = None  # ffmpeg's -re (1) and -readrate: frames read at that many times their pace
    latency: str = "normal"  # 'low': no buffering on input, zero-latency encoder, packets flushed
    preview: str | None = None  # 'output' or 'split': show the frames in a window
    batch: int = 8
    max_height: int | None = None
    precision: str = "auto"  # networks: auto (fp32 on CPU, fp16 on CUDA), fp32, fp16, bf16
    render_factor: int | None = None  # DeOldify's network input side / 16 (default per model)
    backend: str = "auto"  # networks: auto, torch, compile, onnxruntime, tensorrt
    device: str = "auto"
    threads: int | None = None  # ffmpeg's -threads: the decoder's, the encoder's, torch's and OpenCV's (process-wide)
    input_format: str | None = None
    hwaccel: str | None = None  # decode on a device: 'cuda' (NVDEC); frames come back to the host
    deinterlace: str = "auto"  # 'auto': idet, bwdif on interlaced frames; 'off': as decoded; 'ivtc': pulldown undone
    input_options: dict[str, str] = field(default_factory=dict)
    start: float | None = None
    from_end: float | None = None  # ffmpeg's -sseof: the start, in seconds (0 or less) from the input's end
    duration: float | None = None
    frames: int | None = None  # ffmpeg's -frames:v: at most this many frames
    rate: Fraction | None = None  # ffmpeg's -r: frames written at this constant rate, dropped or repeated
    size: tuple[int, int] | None = None  # ffmpeg's -s: (width, height) written and processed, its shape kept
    aspect: Fraction | None = None  # ffmpeg's -aspect: the picture's shape as shown, width over height
    audio_delay: float = 0.0  # seconds the audio is moved later (negative: earlier), to put it back in sync
    subtitle_delay: float = 0.0  # the same for the subtitles
    maps: tuple[str, ...] = ()  # ffmpeg's -map stream specifiers: the streams kept, in order (none: all)
    audio: bool = True  # False: ffmpeg's -an, no audio stream kept
    subtitles: bool = True  # False: ffmpeg's -sn
    metadata: dict[str, str] = field(default_factory=dict)  # the file's tags, as ffmpeg's -metadata ('': removed)
    stream_metadata: tuple = ()  # (output stream specifier 'a:0', key, value): ffmpeg's -metadata:s:a:0 key=value
    dispositions: tuple = ()  # (output stream specifier 'a:1', flags 'default'): ffmpeg's -disposition:a:1 default
    size_limit: int | None = None  # bytes after which nothing more is written, as ffmpeg's -fs
    input_tags: bool = True  # False: ffmpeg's -map_metadata -1, none of the input's tags copied
    chapters: bool = True  # False: ffmpeg's -map_chapters -1, no chapters
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    format: str | None = None
    overwrite: bool = False
    scene_threshold: float = 0.12
    progress: str = "none"
    progress_url: str | None = None  # ffmpeg's -progress: key=value blocks to pipe:1, pipe:2 or a file
    queue_batches: int = 3
    segment: object | None = None  # a segments.Segment: that part of the input only (a worker's share)

    @property
    def delays(self) -> dict[str, float]:
        """Seconds each type of pass-through stream is moved by."""
        return {"audio": self.audio_delay, "subtitle": self.subtitle_delay}

    @property
    def select(self) -> Selection:
        """The input's streams kept: -map, -an, -sn."""
        return Selection(tuple(self.maps), self.audio, self.subtitles)


@dataclass
class InFlight:
    """Frames on their way through the stages: their decoded items, R'G'B' and luma in full size,
    the stage input at the work size (``start``), the stages' context and the latest output."""

    items: list[VideoItem]
    rgb: torch.Tensor
    luma: torch.Tensor
    start: torch.Tensor
    ctx: StageContext
    out: torch.Tensor

    def split(self, count: int) -> tuple[InFlight, InFlight | None]:
        """The first ``count`` frames (their output is ``out`` in full) and the rest (None if none)."""
        first, rest = slice(0, count), slice(count, None)
        done = InFlight(self.items[first], self.rgb[first], self.luma[first], self.start[first],
                        self.ctx.part(first), self.out)
        if count == len(self.items):
            return done, None
        return done, InFlight(self.items[rest], self.rgb[rest], self.luma[rest], self.start[rest],
                              self.ctx.part(rest), self.out[:0])

    def then(self, later: InFlight) -> InFlight:
        """These frames followed by ``later``'s, with ``later``'s output."""
        return InFlight(self.items + later.items, torch.cat([self.rgb, later.rgb]), torch.cat([self.luma, later.luma]),
                        torch.cat([self.start, later.start]), self.ctx.joined(later.ctx), later.out)


class Pipeline:
    """One input streamed through a chain of stages."""

    def __init__(self, source_name: str, options: Options | None = None):
        options = options or Options()
        if not options.encoder.codec:  # no target known yet: H.264 (``process`` asks the container)
            options = replace(options, encoder=options.encoder.for_target(None))
        self.options = options
        if options.batch < 1:
            raise DfstreamError(f"batch size {options.batch} is too small", "pass --batch 1 or more")
        if options.deinterlace != "off" and options.deinterlace not in CHAINS:
            raise DfstreamError(f"unknown --deinterlace '{options.deinterlace}'", "give auto, off or ivtc")
        if options.deinterlace == "ivtc" and options.original:
            raise DfstreamError("--deinterlace ivtc cannot pair a video with its --original frame for frame "
                                "(each would keep its own four of five)", "undo the pulldown of both first")
        self.device = resolve_device(options.device)
        self.transfers = Transfers(self.device)
        if self.device.type == "cpu":
            keep_host_memory()
        live = options.realtime or options.latency == "low"
        input_options = dict(options.input_options)
        if options.latency == "low":
            input_options.setdefault("fflags", "nobuffer")
        self.source = Source(source_name, options.input_format, input_options,
                             options.start, options.duration, window=0 if live else 8, frames=options.frames,
                             hwaccel=options.hwaccel,
                             segment=options.segment, deinterlace=options.deinterlace, select=options.select,
                             delays=options.delays, rate=options.rate, threads=options.threads,
                             readrate=options.readrate, from_end=options.from_end)
        if options.size:
            self.source.scaled_to(*options.size)
        if options.aspect:
            self.source.shown_as(options.aspect)
        self.original = None
        self.realtime = Realtime() if options.realtime else None
        try:
            self.stages, self.choices = self.build_stages(options, self.device)  # fail before decoding
            self.original = self._open_original(options) if options.original else None
        except BaseException:
            self.source.close()
            raise
        self.summary = Summary(stage_seconds={s.name: 0.0 for s in self.stages})
        source = self.source
        if not options.segment:  # a film in segments: the join says it
            self.summary.notes += source.opening_notes()
        self.out_layout = output_layout(options.encoder, source.layout, bool(self.stages),
                                        (source.height, source.width), self.summary.notes)
        enc = options.encoder
        if enc.color_range == "limited" and self.out_layout.full_range:
            raise UsageError(f"-color_range tv: {enc.codec} writes {self.out_layout.name}, full range alone",
                             "leave -color_range out, or pass another -c:v")
        self.out_colour, self.out_tags = output_colour(source, self.out_layout, bool(self.stages),
                                                       None if enc.color_range is None else enc.color_range == "full",
                                                       enc.colorspace)
        # the stages read R'G'B' (so does a realtime passthrough of a format without a Y' plane),
        # unless the first reads only the luma and the decoded Y' plane is it
        luma_only = (source.luma_layout is not None and source.colour.matrix == self.out_colour.matrix
                     and bool(self.stages) and not self.stages[0].reads_colour)
        source.rgb = (bool(self.stages) and not luma_only) or (self.realtime is not None and source.luma_layout is None)
        self.scenes = SceneCuts(options.scene_threshold)
        self.latencies: deque[float] = deque(maxlen=100_000)
        self.state = RunState()
        self.decoders = Decoders(self.state, self.summary, options.batch * options.queue_batches)
        self.held: InFlight | None = None  # frames a stage that looks ahead holds back
        self.source.beyond = max((s.delay for s in self.stages), default=0)  # a segment's end too
        if self.original:
            self.original.beyond = self.source.beyond
        self.threads_before = (torch.get_num_threads(), cv2.getNumThreads())
        if options.threads:  # as the user set, not fitted to the cores left free
            torch.set_num_threads(options.threads)
            cv2.setNumThreads(options.threads)
        self.cores = SharedCores() if self.device.type == "cpu" and self.stages and not options.threads else None

    @staticmethod
    def build_stages(options: Options, device: torch.device) -> tuple[list[Stage], list[str]]:
        if Pipeline._built(options):
            return list(options.stages), [s.name for s in options.stages]
        engine_options = Pipeline._engine_options(options, device)
        return build_chain(parse_stages(options.stages), options.engines, engine_options)

    @staticmethod
    def check_stages(options: Options) -> None:
        """What ``build_stages`` would refuse here (no --reference for the only colorizer that could
        run, an engine that cannot), without building anything: for runs that build them elsewhere."""
        if not Pipeline._built(options):
            check_chain(parse_stages(options.stages), options.engines,
                        Pipeline._engine_options(options, resolve_device(options.device)))

    @staticmethod
    def _built(options: Options) -> bool:
        """Whether the stages were given built (Stage objects), not named."""
        return isinstance(options.stages, list) and any(isinstance(s, Stage) for s in options.stages)

    @staticmethod
    def _engine_options(options: Options, device: torch.device) -> EngineOptions:
        return EngineOptions(options.references, options.strength, precision=options.precision,
                             render_factor=options.render_factor, backend=options.backend, device=str(device),
                             lookahead=not (options.realtime or options.latency == "low"))

    def _open_original(self, options: Options) -> Source:
        """The unprocessed video the input was made from, read frame for frame in step."""
        original = Source(options.original, None, None, options.start, options.duration, frames=options.frames,
                          segment=options.segment and options.segment.original, deinterlace=options.deinterlace,
                          rate=options.rate, threads=options.threads, from_end=options.from_end)
        original.passthrough = []
        original.rgb = True
        original.width, original.height = original.coded = self.source.width, self.source.height  # scaled, noted
        ours, theirs = self.source.expected_frames(), original.expected_frames()
        known = ours and theirs and self.source.own_length and original.own_length  # not a file's longer audio
        if known and abs(ours - theirs) > max(2, LENGTHS * ours):  # another film: say so before any work
            original.close()
            raise DfstreamError(f"'{original.name}' has {'fewer' if theirs < ours else 'more'} frames than "
                                f"'{self.source.name}' ({theirs} against {ours}, by their headers)",
                                "give the original that the processed video was made from")
        return original

    # --- compute ----------------------------------------------------------------------

    def batches(self) -> Iterator[tuple[Batch, list[av.Packet]]]:
        """Processed frames and the pass-through packets that came with them, in order."""
        size = self.options.batch
        q = self.decoders.start(self.source)
        originals = self.decoders.start(self.original) if self.original else None
        done = False
        while not done:
            items: list[VideoItem] = []
            packets: list[av.Packet] = []
            while len(items) < size and len(packets) < MAX_PACKETS:
                if self.realtime and items and q.empty():
                    break  # live: process what has arrived, do not wait for a full batch
                item = get(q, self.state.failed)
                if item is END:
                    done = True
                    break
                (items if isinstance(item, VideoItem) else packets).append(item)
            if items or packets:
                if self.cores:
                    self.cores.check()
                source = self._take_originals(originals, len(items)) if originals else None
                yield (self._compute(items, source) if items else Batch()), packets
        if self.held:
            yield self._flushed(), []
        if originals and get(originals, self.state.failed) is not END:
            raise DfstreamError(f"'{self.original.name}' has more frames than '{self.source.name}'",
                                "give the original that the processed video was made from")

    def _take_originals(self, q: queue.Queue, count: int) -> list[VideoItem]:
        items = []
        while len(items) < count and (item := get(q, self.state.failed)) is not END:
            items.append(item)
        if len(items) < count:
            raise DfstreamError(f"'{self.original.name}' has fewer frames than '{self.source.name}'",
                                "give the original that the processed video was made from")
        return items

    @torch.inference_mode()
    def _compute(self, items: list[VideoItem], originals: list[VideoItem] | None) -> Batch:
        """Scene cuts, realtime drops, then the stages (or a format change for a passthrough).
        On a GPU the work is queued on the streams and the batch leaves with its downloads pending."""
        source, guide = self.source, self.original if originals else self.source
        if self.stages or self.realtime:
            frames = self._upload(items, source)
            guide_frames = self._upload(originals, guide) if originals else frames
            with self.transfers.upload_context():  # waits for this batch's upload, not for the compute
                cuts = self.scenes.detect(guide_frames.thumbnail_luma(), [i.pts for i in items], source.time_base)
        if self.realtime:
            keep = self.realtime.plan([time.perf_counter() - i.arrival for i in items], cuts)
            items = [i for i, kept in zip(items, keep) if kept]
            if not items:
                return Batch()
            with self.transfers.compute():
                index = torch.tensor([k for k, kept in enumerate(keep) if kept], dtype=torch.long, device=self.device)
                frames = frames.select(index)
                guide_frames = guide_frames.select(index) if originals else frames
            cuts = [c for c, kept in zip(cuts, keep) if kept]
        if not self.stages:
            batch = self._batch(items)
            batch.outputs = [converted(i.frame, source.colour, self.out_layout, self.out_colour, self.out_tags)
                             for i in items]
            return batch
        done, pending = [], []
        with self.transfers.compute():
            for part in self._slices(len(items), (source.height, source.width)):
                source_part = frames.part(part)
                guide_part = guide_frames.part(part) if originals else source_part
                rgb = source_part.rgb()
                guide_rgb = guide_part.rgb() if originals else rgb
                flight = self._run_stages(rgb, guide_rgb, guide_part.luma(guide_rgb), cuts[part], items[part])
                if flight.items:
                    done += flight.items
                    pending.append(self._download(flight.out))
        batch = self._batch(done)
        batch.pending = pending
        return batch

    @torch.inference_mode()
    def _flushed(self) -> Batch:
        """The frames a stage that looks ahead still holds at the end of the input."""
        flight, self.held = self.held, None
        delaying = next(k for k, stage in enumerate(self.stages) if stage.delay)
        with self.transfers.compute():
            with self.transfers.timed(self.stages[delaying].name):
                flight.out = self.stages[delaying].flush()
            flight = self._stages_from(delaying + 1, flight)
            batch = self._batch(flight.items)
            batch.pending.append(self._download(self._full_size(flight)))
        return batch

    def _batch(self, items: list[VideoItem]) -> Batch:
        return Batch(inputs=[i.frame for i in items], arrivals=[i.arrival for i in items],
                     pts=[i.pts for i in items], time_base=self.source.time_base,
                     skip=sum(i.warmup for i in items), beyond=sum(i.beyond for i in items))

    def _download(self, rgb: torch.Tensor) -> Callable[[], list[av.VideoFrame]]:
        return self._frames_when_down(self.transfers.download(from_rgb(rgb, self.out_layout, self.out_colour)))

    def _upload(self, items: list[VideoItem], source: Source) -> DeviceFrames:
        """The frames' R'G'B' (when converted) and Y' plane (when the format has one) on the device."""
        arrays = [[i.rgb for i in items]] if items[0].rgb is not None else []
        if source.luma_layout:
            arrays += plane_lists([i.frame for i in items], source.luma_layout, 1)
        tensors = self.transfers.upload(arrays)
        packed = tensors.pop(0) if items[0].rgb is not None else None
        return DeviceFrames(packed, tensors[0] if tensors else None, source.luma_layout, source.colour,
                            self.out_colour.matrix)

    def _frames_when_down(self, download: Download) -> Callable[[], list[av.VideoFrame]]:
        def make() -> list[av.VideoFrame]:
            frames = frames_from_arrays(download.arrays(), self.out_layout, self.out_tags)
            download.release()
            return frames

        return make

    def _slices(self, count: int, size: tuple[int, int]) -> list[slice]:
        """The whole batch on a GPU; on the CPU, runs of frames whose float tensors stay small
        enough to be reused from the heap and the cache instead of fresh pages each time."""
        if self.device.type != "cpu":
            return [slice(0, count)]
        step = max(1, CPU_SLICE_BYTES // (12 * size[0] * size[1]))
        return [slice(i, i + step) for i in range(0, count, step)]

    def _run_stages(self, rgb: torch.Tensor, source: torch.Tensor, source_luma: torch.Tensor,
                    cuts: list[bool], items: list[VideoItem]) -> InFlight:
        """Stages on R'G'B' at the work size; ``source``: the input (or --original) frames. What
        comes out: the frames finished (fewer than came in, or more, after a stage that looks ahead)
        with their output in full size."""
        height, width = rgb.shape[-2:]
        max_height = self.options.max_height or height
        scale = self.realtime.scale if self.realtime else 1.0
        size = work_size(height, width, max(2, int(max_height * scale)))
        start = resize(rgb, size)
        ctx = StageContext(resize(source, size), resize(source_luma, size), cuts, self.out_colour.matrix,
                           untouched=self.original is None, scale=scale, aspect=self.source.aspect)
        flight = self._stages_from(0, InFlight(items, rgb, source_luma, start, ctx, start))
        if flight.items:
            flight.out = self._full_size(flight)
        return flight

    def _stages_from(self, first: int, flight: InFlight) -> InFlight:
        """``flight.out`` through the stages from ``first`` on; a stage that looks ahead holds
        frames back (``held``) and sends on those it finishes: the frames that come out."""
        for stage in self.stages[first:]:
            with self.transfers.timed(stage.name):
                flight.out = stage.apply(flight.out, flight.ctx)
            flight.ctx.untouched = False
            if stage.delay:
                waiting = self.held.then(flight) if self.held else flight
                flight, self.held = waiting.split(flight.out.shape[0])
                if not flight.items:
                    break
        return flight

    def _full_size(self, flight: InFlight) -> torch.Tensor:
        """The stages' output at the frames' own size."""
        x, height, width = flight.out, *flight.rgb.shape[-2:]
        lowered = x.shape[-2:] != (height, width)
        if lowered and self.stages[-1].keeps_luma:  # the source's luma in full
            return merge_chroma(flight.luma, ycbcr(x, flight.ctx.matrix)[1], flight.ctx.matrix)
        if lowered and all(s.adds_change for s in self.stages):  # the input in full, only the change scaled
            return (flight.rgb + bilinear(x - flight.start, (height, width))).clamp_(0, 1)
        return resize(x, (height, width))

    def stop_reading(self, signal_name: str | None = None) -> None:
        """End the input here; what was read is still processed and written (Ctrl-C, quit key)."""
        if signal_name:
            self.summary.interrupted = signal_name
        self.source.stop.set()
        if self.original:
            self.original.stop.set()

    # --- runs -------------------------------------------------------------------------

    def _fit_colour(self, target: str) -> None:
        """Write in the range and matrix the output reads back as (``readable_colour``), with a note:
        full range goes out in video range where it would be read so, as ffmpeg converts it for
        ProRes or MPEG-2, and a matrix the output cannot record in the one players take there.
        Asked for (-color_range pc, -colorspace) where it does not read back, it is refused."""
        source, opts, colour = self.source, self.options, self.out_colour
        container = container_name(target, opts.format)
        readable = readable_colour(opts.encoder, self.out_layout, container, (source.height, source.width), colour)
        if readable == colour:
            return
        lost = f"does not read back from {opts.encoder.codec} in {container}"
        if readable.full_range != colour.full_range:
            if opts.encoder.color_range == "full":
                raise UsageError(f"-color_range pc: full range {lost}", "leave -color_range out (video range "
                                                                        "is written there), or pass another -c:v")
            self.summary.notes.append(f"writing video range (16-235): full range {lost}")
        if readable.matrix != colour.matrix:
            if opts.encoder.colorspace:
                raise UsageError(f"-colorspace: the matrix {lost}", "leave -colorspace out, or write .mkv")
            self.summary.notes.append(f"writing the {TITLES[readable.matrix]} matrix: {TITLES[colour.matrix]} {lost}, "
                                      f"and players take {TITLES[readable.matrix]} at {source.height} lines")
        self.out_colour, self.out_tags = output_colour(source, self.out_layout, bool(self.stages),
                                                       readable.full_range, readable.matrix)

    def run(self, target: str | None, opened: Callable[[], None] | None = None) -> Summary:
        """Stream the whole input to ``target`` (a file, '-' or a URL; None: preview only);
        ``opened`` is called once the output is set up, before any frame (what it refuses is said first).

        Ctrl-C or SIGTERM stops the reading; frames already read are finished and the
        output is kept as a playable NAME.partial.EXT. A second signal stops at once.
        """
        opts = self.options
        if target is None and not opts.preview:
            raise DfstreamError("no output given", "name an output file, '-' or a URL, or pass --preview")
        if opts.preview:
            check_display()
        if opts.progress_url in STANDARD_OUTPUT and target == "-":
            raise UsageError("-progress pipe:1 and the output - both write to standard output",
                             "give -progress pipe:2 or a file")
        sink = None
        if target is not None:
            check_target(target, self.source.name, opts.overwrite, opts.original, opts.encoder.start_number)
            self._fit_colour(target)
            sink = Sink(target, self.source, opts.encoder, self.out_layout, self.out_tags, opts.format,
                        opts.overwrite, self.summary.notes, low_latency=opts.latency == "low", metadata=opts.metadata,
                        stream_metadata=opts.stream_metadata, dispositions=opts.dispositions,
                        input_tags=opts.input_tags, chapters=opts.chapters,
                        threads=opts.threads, size_limit=opts.size_limit)
        try:
            report = open_report(opts.progress_url) if opts.progress_url else None
        except DfstreamError:
            if sink:
                sink.abort()
            raise
        if opened:
            opened()
        progress = Progress(opts.progress, self.source.expected_frames(), report=report)
        preview = Preview(opts.preview, self.source.aspect) if opts.preview else None
        q: queue.Queue = queue.Queue(maxsize=opts.queue_batches)
        encoder = Encoder(q, sink, progress, self.summary, self.state, self.source.time_base, self.latencies,
                          full=self.stop_reading)
        started = time.perf_counter()
        with stop_on_signals(self.stop_reading):
            encoder.start()
            try:
                try:
                    for batch, packets in self.batches():  # compute runs here, in the main thread
                        if preview and batch.ready().outputs and not preview.show(batch.inputs, batch.outputs):
                            self.stop_reading()  # the viewer asked to quit: end as at the end of input
                        put(q, (batch, packets), self.state.failed)
                    put(q, END, self.state.failed)
                except Stopped:
                    pass
                encoder.join()
                if self.summary.pipe_closed:
                    sink.abort()
                elif self.state.errors:
                    raise self.state.errors[0]
                elif sink and self.summary.interrupted:
                    self.summary.partial = sink.finish_partial()
                elif self.summary.frames == 0:
                    raise self._nothing_decoded()
                elif sink:
                    sink.finish()
                    self.summary.output = target
                    if self.summary.size_limited:  # counted once written: an encoder's delayed frames are not
                        self.summary.notes.append(f"stopped at -fs {opts.size_limit} bytes: the output holds the "
                                                  f"first {counted(sink.pictures, 'frame')}")
            except KeyboardInterrupt:  # a second signal: stop now, keep what is written
                self.state.failed.set()
                self.summary.interrupted = self.summary.interrupted or "SIGINT"
                encoder.join()
                self.summary.partial = sink.finish_partial() if sink else None
            except BaseException:
                self.state.failed.set()
                encoder.join()
                if sink:
                    sink.abort()
                raise
            finally:
                if preview:
                    preview.close()
                self.close()
                progress.close()
                self.summary.seconds = time.perf_counter() - started
                self._finish_summary()
        return self.summary

    def _nothing_decoded(self) -> DfstreamError:
        if self.options.start is not None or self.options.from_end is not None or self.options.duration is not None:
            length = f" ({self.source.declared[1]:.2f} s long)" if self.source.declared else ""
            return DfstreamError(f"no video frame of '{self.source.name}'{length} lies in the -ss/-t window",
                                 "choose -ss within the input's duration")
        return DfstreamError(f"no video frame could be decoded from '{self.source.name}'",
                             "check that the input is complete and not damaged (ffprobe shows it)")

    def _finish_summary(self) -> None:
        timings = self.transfers.timings
        timings.collect()
        for name in self.summary.stage_seconds:
            self.summary.stage_seconds[name] = timings.seconds.get(name, 0.0)
        self.summary.upload_seconds = timings.seconds.get("upload", 0.0)
        self.summary.download_seconds = timings.seconds.get("download", 0.0)
        if self.latencies:
            ordered = sorted(self.latencies)
            self.summary.latency = (1000 * ordered[len(ordered) // 2], 1000 * ordered[int(0.95 * (len(ordered) - 1))])
        if self.realtime:
            self.summary.notes.append(self.realtime.report())
        if retimer := self.source.retimer:
            self.summary.notes.append(f"-r {self.source.rate}: {counted(retimer.repeated, 'frame')} repeated, "
                                      f"{retimer.dropped} dropped, as ffmpeg's dup and drop")
        if self.source.corrupt_packets:
            self.summary.notes.append(f"skipped {self.source.corrupt_packets} damaged video packets")
        if cut := self.source.cut_short():
            self.summary.notes.append(cut)
        for source in filter(None, (self.source, self.original)):
            if source.deinterlacer:
                self.summary.notes += source.deinterlacer.notes(source.name, source.fields, source.rate)
        if self.source.resized:
            self.summary.notes.append(f"scaled {self.source.resized} frames of another size to the first's, "
                                      f"{self.source.width}x{self.source.height}")
        if self.original and self.original.resized:
            self.summary.notes.append(f"scaled {self.original.resized} frames of '{self.original.name}' to "
                                      f"{self.source.width}x{self.source.height} for its flow")

    def frames(self) -> Iterator[OutputFrame]:
        """Processed frames as RGB arrays, for use in other programs."""
        tb = self.source.time_base
        count = 0
        try:
            for batch, _packets in self.batches():
                for frame in batch.ready().outputs:
                    count += 1
                    yield OutputFrame(float(frame.pts * tb), frame.pts, frame_to_rgb(frame))
        except Stopped:
            pass
        finally:
            self.close()
        if self.state.errors:
            raise self.state.errors[0]
        if not count:
            raise self._nothing_decoded()

    def close(self) -> None:
        self.state.halt.set()
        self.state.failed.set()
        self.decoders.join()
        self.source.close()
        if self.original:
            self.original.close()
        if self.cores:
            self.cores.restore()
        if self.options.threads:
            torch.set_num_threads(self.threads_before[0])
            cv2.setNumThreads(self.threads_before[1])


def process(source: str, target: str, stages: str | list = "none", **options) -> Summary:
    """Stream ``source`` through ``stages`` into ``target``; options as in ``Options``. An ``encoder``
    that names no codec gets the command line's: libx264, or the container's own where it holds
    no H.264."""
    options["encoder"] = options.get("encoder", EncoderSettings()).for_target(target, options.get("format"))
    options["frames"] = still_frames(target, options.get("frames"))
    return Pipeline(source, Options(stages=stages, **options)).run(target)


def frames(source: str, stages: str | list = "none", **options) -> Iterator[OutputFrame]:
    """Iterate over the processed frames of ``source`` (RGB uint8 [H, W, 3])."""
    return Pipeline(source, Options(stages=stages, **options)).frames()


__all__ = ["Options", "OutputFrame", "Pipeline", "Summary", "frames", "process"]
