"""The README's table of recorded results, and the fps-against-resolution plot, from the files in
benchmarks/results/ (never typed by hand).

    python benchmarks/report.py            # print the table
    python benchmarks/report.py --write    # put it in README.md and draw results/fps_by_resolution.png
    python benchmarks/report.py --check    # exit 1 if README.md differs from the recorded files
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _fps(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in d["fps"].items())


def _frame_dump(d: dict) -> str:
    return (f"{d['encoder']}: dfstream {d['dfstream']['fps']} fps, frame dump {d['frame_dump']['fps']} fps, "
            f"ratio {d['throughput_ratio']}; temporary disk {d['frame_dump']['temporary_bytes'] / 1e6:.0f} MB "
            f"against 0; timestamps kept {d['dfstream']['timestamps_kept']} / {d['frame_dump']['timestamps_kept']}")


def _backends(d: dict) -> str:
    parts = [f"{r['network']} {r['backend']} " + (f"{r['fps']} fps" if "fps" in r else "fails") for r in d["rows"]]
    return "; ".join(parts) + f"; fastest {d['fastest']}"


def _scaling(d: dict) -> str:
    return "; ".join(f"{r['engine']} {r['backend']} {r['size']} {r['fps']} fps" for r in d["rows"])


def _stabilizer(d: dict) -> str:
    return "; ".join(f"{r['sequence']} {r['process']}: {r['excess_removed'] * 100:.1f}% removed, "
                     f"{r['psnr_to_processed']:.1f} dB, colourfulness {r['colourfulness_kept'] * 100:.1f}%"
                     for r in d["rows"])


def _reference(d: dict) -> str:
    def each(r: dict, prefix: str, text) -> str:
        """``text`` of (what follows ``prefix`` in the key, the value) for each of row r's ``prefix`` keys."""
        return "".join(text(k[len(prefix):], v) for k, v in r.items() if k.startswith(prefix))

    return "; ".join(f"{r['sequence']} {r['reference_colorizer']['psnr_mean']:.2f} dB against "
                     f"{r['plain_propagation']['psnr_mean']:.2f} (plain propagation), a 4:3 still "
                     f"{r['still_4_3_placed']['psnr_mean']:.2f} (stretched {r['still_4_3_stretched']['psnr_mean']:.2f})"
                     + ", the middle frame as the still: " + ", ".join(
                         f"{k[13:].replace('_', ' ') or 'as it is'} {v['psnr_mean']:.2f}"
                         for k, v in r.items() if k.startswith("still_middle"))
                     + each(r, "fade_in_", lambda n, v: f", faded in from black over {n} frames {v['psnr_mean']:.2f} "
                            f"after the fade (without it {v['without_fade']['psnr_mean']:.2f})")
                     + each(r, "fade_out_", lambda n, v: f", fading out over {n} frames {v['psnr_mean']:.2f} "
                            f"(faded after {v['without_fade']['psnr_mean']:.2f})")
                     + each(r, "soft_", lambda n, v: f", a film softened by {n} px {v['sharp_still']['psnr_mean']:.2f} "
                            f"from the sharp still (as soft {v['still_as_soft']['psnr_mean']:.2f})")
                     + each(r, "drift_to_", lambda n, v: f", exposure drifting to {n}: {v['drifting']['psnr_mean']:.2f} / "
                            f"{v['drifting']['psnr_last']:.2f} (coloured, then drifted "
                            f"{v['coloured_then_drifted']['psnr_mean']:.2f} / {v['coloured_then_drifted']['psnr_last']:.2f})")
                     for r in d["rows"])


def _film_of_scenes(d: dict) -> str:
    def joined(r):
        if "dip_to_black" not in r:
            return ""
        dip, mix = r["dip_to_black"], r["cross_dissolve"]
        return (f"; joined by a dip to black, cuts found {dip['cuts_found']:.2f} against given {dip['cuts_given']:.2f} dB"
                f", by a cross-dissolve {mix['cuts_found']:.2f} against hard cuts {mix['hard_cuts']:.2f} dB")

    return "; ".join(
        f"{r['scene']}: " + ", ".join(f"{k.replace('_', ' ')} {v['psnr_mean']:.2f} / {v['psnr_last']:.2f} dB"
                                      for k, v in r.items() if isinstance(v, dict) and "psnr_mean" in v)
        + (f"; keyframes of the shot: first {r['keyframes_first']:.2f}, first and last "
           f"{r['keyframes_first_and_last']:.2f} dB" if "keyframes_first" in r else "") + joined(r) for r in d["rows"])


def _colour_over_time(d: dict) -> str:
    return "; ".join(f"{r['sequence']} ({r['frames']} frames) PSNR per pass "
                     + " / ".join(f"{p['psnr_mean']:.2f}" for p in r["passes"]) + " dB, at the far end "
                     + " / ".join(f"{e['psnr']:.2f} dB {100 * e['colour_kept']:.0f}%" for e in r["far_end"])
                     for r in d["rows"])


def _decibels(value) -> str:
    return value if isinstance(value, str) else f"{value:.2f}"


def _written_fidelity(d: dict) -> str:
    goat = "; ".join(f"{label} {_decibels(r['psnr_processed'])} dB, {100 * r['excess_warping_error_removed']:.1f}% removed"
                     for label, r in d["stabilizer_goat"].items())
    bus = "; ".join(f"{label} {r['psnr_ground_truth']:.2f} / {r['mean_frame_psnr_ground_truth']:.2f} dB "
                    f"({r['mean_psnr_frames_1_on']:.2f} over frames 1..)" for label, r in d["colorizer_bus"].items())
    return f"goat de-flickered: {goat}; bus coloured, PSNR of the mean square error / mean of frames: {bus}"


def _rgb_reading(d: dict) -> str:
    return "; ".join(f"{r['size']} {r['format']}: " + ", ".join(
        f"{way} {r[way]['ms_per_frame']:.2f} ms/frame, luma back {r[way]['luma_rms_codes']:.3f} codes RMS"
        for way in ("default", "dfstream")) for r in d["rows"])


def _real_footage(d: dict) -> str:
    stabilized = "; ".join(f"{r['set']} {r['excess_removed'] * 100:.1f}% / {r['psnr_to_processed']:.1f} dB / "
                           + ("no colour" if r["colourfulness_kept"] is None else f"{r['colourfulness_kept'] * 100:.1f}%")
                           for r in d["stabilizer"]
                           if r["flickers"] and not r["control"])
    coloured = "; ".join(f"{r['set']} {r['reference_colorizer']['psnr_mean']:.2f} / "
                         f"{r['reference_colorizer']['psnr_last']:.2f} dB against {r['plain_propagation']['psnr_mean']:.2f}"
                         f" / {r['plain_propagation']['psnr_last']:.2f}" for r in d["colorizer"])
    return (f"stabilizer, excess warping error removed / PSNR to processed / colourfulness kept: {stabilized}. "
            f"Colorizer, PSNR to the truth mean / last against plain propagation: {coloured}")


def _low_frame_rate(d: dict) -> str:
    coloured = "; ".join(f"{r['set']} every {r['every']}: {r['reference_colorizer']['psnr_mean']:.2f} / "
                         f"{r['reference_colorizer']['psnr_last']:.2f} dB against {r['plain_propagation']['psnr_mean']:.2f}"
                         f" / {r['plain_propagation']['psnr_last']:.2f}" for r in d["colorizer"])
    stabilized = "; ".join(f"{r['set']} every {r['every']}: {r['flicker']:.2f}x, {r['excess_removed'] * 100:.1f}% / "
                           f"{r['psnr_to_processed']:.1f} dB / {r['colourfulness_kept'] * 100:.1f}%"
                           for r in d["stabilizer"])
    return (f"colorizer, PSNR to the truth mean / last against plain propagation: {coloured}. Stabilizer, flicker, "
            f"excess warping error removed / PSNR to processed / colourfulness kept: {stabilized}")


def _untuned_tools(d: dict) -> str:
    return "excess warping error removed / PSNR to processed / colourfulness kept: " + "; ".join(
        f"{r['set']} {r['flicker']:.2f}x" + ("" if r["flicker"] < d["flickers_from"] else
        f", {r['excess_removed'] * 100:.1f}% / {r['psnr_to_processed']:.1f} dB / {r['colourfulness_kept'] * 100:.1f}%")
        + (f", any video {100 * r['bound_at_36_db']['excess_removed']:.1f}% at "
           f"{r['bound_at_36_db']['psnr_to_processed']:.2f} dB" if "bound_at_36_db" in r else "")
        for r in d["rows"])


def _gpu(d: dict) -> str:
    rows = [r for r in d["throughput"] if r.get("stage") in ("chain", "end-to-end") and "fps" in r]
    ratios = "; ".join(f"end-to-end / chain {k} {v}" for k, v in d.get("end_to_end_over_chain", {}).items())
    return "; ".join(f"{r['stage']} {r['backend']} {r['size']} {r['fps']:.1f} fps" for r in rows) + \
        f"; {ratios}; fp16 matmul {d['matmul_fp16_tflops']} TFLOPS"


def _default_stabilizer(d: dict) -> str:
    return "; ".join(f"{r['process']}: warping error convlstm {r['warping_error']['convlstm']:.5f}, flow "
                     f"{r['warping_error']['flow']:.5f}, PSNR {r['psnr_to_processed']['convlstm']:.1f} / "
                     f"{r['psnr_to_processed']['flow']:.1f} dB" for r in d["rows"]) + f"; beats flow {d['beats_flow']}"


def _side_by_side_live(d: dict) -> str:
    return f"live {d['size']}: " + "; ".join(
        f"{r['revision']} latency {r['latency_ms_median']} ms, {100 * r['dropped_share']:.0f}% dropped, colorizer "
        f"{r['colorize_ms_per_frame']} ms/frame" for r in d["revisions"])


def _side_by_side(d: dict) -> str:
    return "; ".join(f"{r['revision']} {r['fps_median']} fps, CPU {r['cpu_ms_per_frame']} ms/frame, "
                     f"colorizer {r['colorize_ms_per_frame']} ms/frame" for r in d["revisions"])


def _bound(d: dict) -> str:
    return "; ".join(f"{r['set']} stabilizer {100 * r['stabilizer']['excess_removed']:.1f}%, any video "
                     f"{100 * r['bound']['excess_removed']:.1f}% at {r['bound']['psnr_to_processed']:.2f} dB"
                     for r in d["rows"])


PREFIXES = {"flicker_bound_at_": _bound, "flicker_bound_lag_": _bound,  # one file per PSNR or lag
            "gpu_": _gpu, "default_stabilizer_": _default_stabilizer,  # one file per device
            "side_by_side_live_": _side_by_side_live,  # one file per size
            "real_footage_": _real_footage,  # one file per choice of sets (--sets)
            "side_by_side_": _side_by_side}  # one file per named comparison

HEADLINES = {
    "passthrough_overhead": lambda d: (f"dfstream {d['fps_median']['dfstream']} fps, plain PyAV "
                                       f"{d['fps_median']['bare_pyav']} fps (threaded decoding and encoding)"),
    "engine_speed": _fps,
    "damaged_inputs": lambda d: "; ".join(
        f"{r['input']} ({r['runs']} runs): " + ", ".join(
            f"{k} {sum(c.get(k, 0) for c in r['by_output'].values())}"
            for k in ("decodes", "one-line error", "bare error", "unreadable output")) for r in d["rows"]),
    "frame_dump_baseline": _frame_dump,
    "frame_dump_baseline_medium": _frame_dump,
    "backends_cpu": _backends,
    "backend_scaling": _scaling,
    "live_latency": lambda d: (f"median {d['latency_ms']['median']} ms, p95 {d['latency_ms']['p95']} ms, "
                               f"{d['frames_dropped']} of {d['frames_in']} frames dropped"),
    "reference_colorizer": _reference,
    "colour_over_time": _colour_over_time,
    "film_of_scenes": _film_of_scenes,
    "written_fidelity": _written_fidelity,
    "rgb_reading": _rgb_reading,
    "stabilizer_flicker": _stabilizer,
    "real_footage": _real_footage,
    "low_frame_rate": _low_frame_rate,
    "untuned_tools": _untuned_tools,
    "flicker_bound": _bound,
    "side_by_side": _side_by_side,
    "shared_cores": lambda d: "; ".join(f"{machine}: " + ", ".join(f"{k} {r['fps']} fps" for k, r in rows.items())
                                        for machine, rows in d["results"].items()),
    "startup": lambda d: "; ".join(f"{k} {v:.2f} s" for k, v in d["seconds"].items()),
    "segments_speedup": lambda d: (f"one process {d['single_process']['fps']} fps; " + "; ".join(
        f"{r['workers']} workers {r['fps']} fps ({r['speed_up']}x)" for r in d["segments"])
        + f"; Ray start and stop {d['ray_start_and_stop_seconds']} s"
        + (f"; seams at crf 18: {d['seams_crf18']['seam_over_mean_of_other_pairs']} of the other pairs' mean "
           f"warping error, {d['seams_crf18']['seam_over_single_run_same_pair']} of the single run's there"
           if "seams_crf18" in d else "")),
}


def table() -> str:
    lines = ["| result | machine | command | numbers |", "| --- | --- | --- | --- |"]
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        headline = HEADLINES.get(path.stem) or next((f for p, f in PREFIXES.items() if path.stem.startswith(p)), None)
        if headline is None:
            continue
        m = data["machine"]
        machine = f"{m['cpu']}, {m['cores']} cores" + (f", {m['gpu']}" if m.get("gpu") else "")
        lines.append(f"| [{path.stem}](benchmarks/results/{path.name}) | {machine} | `{m['command']}` | "
                     f"{headline(data)} |")
    return "\n".join(lines)


def plot(path: Path) -> None:
    """fps against resolution, one line per engine and backend (from backend_scaling.json)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = json.loads((RESULTS / "backend_scaling.json").read_text())["rows"]
    heights = {"360p": 360, "480p": 480, "720p": 720, "1080p": 1080}
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in sorted({(r["engine"], r["backend"]) for r in rows}):
        points = sorted((heights[r["size"]], r["fps"]) for r in rows if (r["engine"], r["backend"]) == key)
        ax.plot(*zip(*points), marker="o", label=f"{key[0]} ({key[1]})")
    ax.set_xlabel("frame height (16:9)")
    ax.set_ylabel("frames per second")
    ax.set_yscale("log")
    ax.set_title("Networks on the CPU by backend")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def readme_block() -> str:
    text = README.read_text()
    return text[text.index(START) + len(START): text.index(END)].strip("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    generated = table()
    if args.check:
        if readme_block() != generated:
            print("README.md's results table differs from benchmarks/results: run "
                  "'python benchmarks/report.py --write'", file=sys.stderr)
            return 1
        return 0
    if args.write:
        text = README.read_text()
        README.write_text(text[: text.index(START) + len(START)] + "\n" + generated + "\n" + text[text.index(END):])
        plot(RESULTS / "fps_by_resolution.png")
    else:
        print(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
