"""The command line answers help, argument errors and the model list without loading torch (start-up time)."""

import subprocess
import sys

PROBE = """
import sys
from dfstream.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as done:  # argparse ends --help with it
    code = done.code
print("torch" in sys.modules, code)
"""


def probe(*args: str) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    return done.stdout.split()[-2:], done.stderr


def test_help_and_argument_errors_do_not_load_torch():
    assert probe("--help")[0] == ["False", "0"]
    (loaded, code), err = probe("run", "in.mp4", "--bogus")
    assert (loaded, code) == ("False", "2") and "unrecognized arguments: --bogus" in err
    assert probe("in.mp4", "out.mp4", "--strength", "2")[0] == ["False", "2"]


def test_the_model_list_does_not_load_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("DFSTREAM_HOME", str(tmp_path))  # an empty store, as on a fresh machine
    done = subprocess.run([sys.executable, "-c", PROBE, "models", "list"], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split()[-2:] == ["False", "0"]
    assert "deoldify-video" in done.stdout and "not installed" in done.stdout and "animegan2-paprika" in done.stdout


def test_run_help_still_lists_the_engines():
    done = subprocess.run([sys.executable, "-m", "dfstream", "run", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert "reference" in done.stdout and "flow" in done.stdout and "classic" in done.stdout
