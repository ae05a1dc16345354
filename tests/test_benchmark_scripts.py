"""Every benchmark script answers ``--help`` with what it measures, and runs nothing: no script runs
for minutes and overwrites its recorded results when asked what it does, nor leaves files behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

ASK_EACH = """
import contextlib, io, runpy, sys
sys.path.insert(0, sys.argv[1])
for script in sys.argv[2:]:
    sys.argv, out = [script, "--help"], io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_path(script, run_name="__main__")
            code = "ran"
        except SystemExit as stop:
            code = stop.code
    print(script, code, out.getvalue().startswith("usage:"), flush=True)
"""


def test_every_benchmark_script_answers_help_without_running(tmp_path):
    scripts = sorted(str(p) for p in BENCHMARKS.glob("*.py") if '__name__ == "__main__"' in p.read_text())
    results = BENCHMARKS / "results"
    before = {p: p.stat().st_mtime_ns for p in results.rglob("*")}
    done = subprocess.run([sys.executable, "-c", ASK_EACH, str(BENCHMARKS), *scripts],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    answers = [line.split() for line in done.stdout.splitlines()]
    assert [a[0] for a in answers] == scripts and len(scripts) > 20
    assert all(a[1:] == ["0", "True"] for a in answers), [a for a in answers if a[1:] != ["0", "True"]]
    assert {p: p.stat().st_mtime_ns for p in results.rglob("*")} == before
    assert not list(tmp_path.iterdir())  # no scratch folder made at import and left there


def test_a_benchmarks_scratch_store_holds_its_weights_and_goes_when_it_ends(tmp_path, monkeypatch):
    sys.path.insert(0, str(BENCHMARKS))
    from weights import scratch_home

    from dfstream.engines import store

    monkeypatch.setenv("DFSTREAM_HOME", str(tmp_path / "mine"))
    with scratch_home(("convlstm",)):
        scratch = store.root()
        assert scratch.parent != tmp_path / "mine" and store.weights_path("convlstm").is_file()
    assert os.environ["DFSTREAM_HOME"] == str(tmp_path / "mine")  # the user's store is back, untouched
    assert not scratch.parent.exists() and not (tmp_path / "mine").exists()
