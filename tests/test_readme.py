"""The README's examples, so that the documentation cannot drift from the program.

Every ``dfstream`` command in its shell blocks must parse; those that can run here
(no camera, network, display, GPU or weights; inputs generated) run and must succeed.
The Python example runs as written; `dfstream demo` runs in test_defaults.py, at a smaller size.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from dfstream.cli import parse
from tests.conftest import make_clip, pattern

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
PROGRAMS = {"dfstream", "cat", "ffplay", "mpv", "pip", "python", "python3"}
OFFLINE = re.compile(r"/dev/|://|--preview|models (download|import)|\bdemo\b|\btrain\b|\bdata\b|\bbench\b|"
                     r"\bexport\b|\bbatch\b|--workers|--ray|deoldify|cartoongan|convlstm|animegan")


def commands() -> list[str]:
    """Each ``dfstream`` command of the shell blocks (pipes split, comments and synopses left out)."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", TEXT, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            parts = [p.strip() for p in re.split(r"\|(?!\|)|&&", line) if p.strip()]
            if any(p.split()[0] not in PROGRAMS for p in parts):
                continue  # a synopsis such as 'dfstream bench | export | eval'
            found += [re.sub(r"\s*\[[^]]*\]", "", p) for p in parts if p.startswith("dfstream ")]
    return found


def test_the_readme_has_the_examples():
    assert len(commands()) > 25


@pytest.mark.parametrize("command", commands())
def test_every_readme_command_parses(command):
    words = shlex.split(command)[1:]
    try:
        parse(words)
    except SystemExit as done:  # --help
        assert done.code == 0


def runnable(command: str) -> bool:
    words = shlex.split(command)
    needs_colour = "run" in words[:2] or words[1] not in ("info", "models", "eval")
    return not OFFLINE.search(command) and (not needs_colour or "--stages" in words or "--reference" in words)


@pytest.fixture
def workdir(tmp_path):
    for name in ("film.avi", "film.mkv", "film.mp4", "in.mkv", "STABILIZED.mp4", "INPUT.mp4", "PROCESSED.mp4"):
        make_clip(tmp_path / name, width=160, height=96, frames=12, audio="aac" if name != "film.avi" else None)
    cv2.imwrite(str(tmp_path / "still.png"), pattern(0, 96, 160)[..., ::-1])
    (tmp_path / "restored").mkdir()  # for a sequence of images written
    for folder, gain in (("INPUT", 1.0), ("PROCESSED", 0.9), ("frames", 1.0), ("TRUTH", 1.0)):  # as images
        (tmp_path / folder).mkdir()
        for i in range(12):
            image = (pattern(i, 96, 160)[..., ::-1] * gain).astype("uint8")
            cv2.imwrite(str(tmp_path / folder / f"{i:05d}.png"), image)
    return tmp_path


def test_readme_commands_that_can_run_here_do(workdir):
    ran = []
    for command in filter(runnable, commands()):
        stdin = None
        line = next(line for line in TEXT.splitlines() if command in line)
        if line.strip().startswith("cat "):
            stdin = (workdir / shlex.split(line)[1]).read_bytes()
        done = subprocess.run([sys.executable, "-m", "dfstream", *shlex.split(command)[1:]], cwd=workdir,
                              input=stdin, capture_output=True, timeout=300)
        assert done.returncode == 0, (command, done.stderr.decode()[-2000:])
        ran.append(command)
    assert any("lavfi" in c for c in ran) and any(c.startswith("dfstream - -") for c in ran), ran


def test_the_python_example_runs(workdir, monkeypatch, capsys):
    code = re.search(r"### Python\n.*?```python\n(.*?)```", TEXT, re.S)[1]
    monkeypatch.chdir(workdir)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("10 ") and "no colorizer can run" in out  # 0.4 s at 25 fps
    assert (workdir / "out.mp4").exists()
